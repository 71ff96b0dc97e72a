import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/lambda-bundling.js';

const RULES = join(REPO_ROOT, 'functions/shared/alerts/rules.ts');

/** Every place that handles a channel type or a rule kind (they import rules.ts, directly or not). */
const HANDLERS = [
  'functions/shared/alerts/notifier.ts',
  'functions/shared/alerts/alerts-api.ts',
  'functions/shared/alerts/events.ts',
  'functions/shared/alerts/queries.ts',
  'functions/shared/alerts/evaluation-path.ts',
  'functions/shared/alerts/stream-partials.ts',
  'functions/notifiers/handler.ts',
  'lib/constructs/alert-notifiers.ts',
];

/**
 * Type-checks the handlers with rules.ts changed by `edit` (in memory; nothing is written) and
 * returns the files with errors: where the compiler makes the next person finish the change.
 */
let previous: ts.Program | undefined;

function filesFailingWith(edit: (source: string) => string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(REPO_ROOT, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (config === undefined) throw new Error('no tsconfig.json');
  const edited = edit(readFileSync(RULES, 'utf8'));
  const host = ts.createCompilerHost(config.options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, language, onError, create) =>
    file === RULES
      ? ts.createSourceFile(file, edited, language)
      : getSourceFile(file, language, onError, create);
  const program = ts.createProgram({
    rootNames: HANDLERS.map((f) => join(REPO_ROOT, f)),
    options: config.options,
    host,
    // The unchanged files are reused, parsed once for the three checks.
    oldProgram: previous,
  });
  previous = program;
  // Only these files are checked (the checker resolves what they use lazily): much faster than all.
  const failing = [RULES, ...HANDLERS.map((f) => join(REPO_ROOT, f))].filter((file) => {
    const source = program.getSourceFile(file);
    if (source === undefined) throw new Error(`${file} is not in the program`);
    return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].some(
      (d) => d.category === ts.DiagnosticCategory.Error,
    );
  });
  return failing.map((f) => relative(REPO_ROOT, f)).sort();
}

/** Inserts `text` after the first occurrence of `anchor`, which must exist. */
const insertAfter = (anchor: string, text: string) => (source: string) => {
  const at = source.indexOf(anchor);
  if (at < 0) throw new Error(`rules.ts no longer contains ${anchor}: update this test`);
  return source.slice(0, at + anchor.length) + text + source.slice(at + anchor.length);
};

// Each expectation lists exactly the failing files, so a file that failed before the edit (which
// `npm run lint` would also report) makes both fail: no separate check of the unedited code is needed.
describe('completeness by the compiler (docs/extending.md)', () => {
  it('a new channel type fails to compile until its secret, delivery, notifier access and type list handle it', () => {
    const failing = filesFailingWith(
      insertAfter(
        "z.strictObject({ type: z.literal('opsgenie'), secret: secretRef }),",
        "\n  z.strictObject({ type: z.literal('discord'), secret: secretRef }),",
      ),
    );
    expect(failing).toEqual([
      'functions/shared/alerts/alerts-api.ts',
      'functions/shared/alerts/notifier.ts',
      'functions/shared/alerts/rules.ts',
      'lib/constructs/alert-notifiers.ts',
    ]);
  }, 120_000);

  it('a new rule kind fails to compile until its evaluation path, query, event link and value format handle it', () => {
    const failing = filesFailingWith((s) =>
      insertAfter(
        "export const AlertRuleSchema = z.discriminatedUnion('kind', [",
        "\n  z.strictObject({ ...common, kind: z.literal('span_count'), window, threshold: z.number() }),",
      )(s),
    );
    expect(failing).toEqual([
      'functions/shared/alerts/evaluation-path.ts',
      'functions/shared/alerts/events.ts',
      'functions/shared/alerts/queries.ts',
      // The value format (value-format.ts) is checked here: that file imports nothing.
      'functions/shared/alerts/rules.ts',
    ]);
  }, 120_000);
});
