import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mergeRuleFiles, parseRuleFile, type RuleFile } from './rules.js';

/** Where the evaluator gets every tenant's rules from. */
export interface RuleSource {
  load(): Promise<readonly RuleFile[]>;
}

/** Rules already in memory (tests, or rules built by code). */
export class StaticRuleSource implements RuleSource {
  constructor(private readonly files: readonly RuleFile[]) {}
  async load(): Promise<readonly RuleFile[]> {
    return this.files;
  }
}

const RULE_FILE = /\.(ya?ml|json)$/;

/**
 * Every `*.yaml|*.yml|*.json` file of a directory (not recursive), e.g. the `alerts/` folder
 * shipped with the function bundle. Read once and kept: rules change with a deployment, which
 * starts new containers. One invalid file fails the load, so a broken deploy is loud, not partial.
 */
export class FileRuleSource implements RuleSource {
  private cached: Promise<readonly RuleFile[]> | undefined;

  constructor(private readonly dir: string) {}

  load(): Promise<readonly RuleFile[]> {
    this.cached ??= this.read().catch((err: unknown) => {
      this.cached = undefined;
      throw err;
    });
    return this.cached;
  }

  private async read(): Promise<readonly RuleFile[]> {
    const names = (await readdir(this.dir)).filter((n) => RULE_FILE.test(n)).sort();
    const files = await Promise.all(
      names.map(async (n) => ({
        file: n,
        rules: parseRuleFile(await readFile(join(this.dir, n), 'utf8'), n),
      })),
    );
    return mergeRuleFiles(files);
  }
}
