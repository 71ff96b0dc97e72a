/**
 * Rule files <-> the alerts API: `npm run alerts -- export|import` (see HELP). GitOps both ways:
 * export what was made through the API as a rule file to commit; import a rule file into the API
 * store (channels first, then rules; an existing id is updated, a new one created).
 * Exit codes: 0 done, 1 the API refused something, 2 usage error.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { parseRuleFile } from '../functions/shared/alerts/rules.js';

const HELP = `Usage: npm run alerts -- <command> [options]

Commands:
  export --tenant <id> [--out <file>]   the rules and channels made through the API, as a rule file
                                        (channel secrets become env:ALERT_SECRET_<CHANNEL> placeholders:
                                        the API never returns a secret)
  import --file <file> [--dry-run]      create or update the file's channels and rules through the API;
                                        a channel secret is sent only from an env:NAME the CLI can read
                                        (an ARN is a reference the API does not take: a tenant could
                                        point it at another's secret)

Options:
  --url <url>    the API base URL (default: the running local mode's, from .data/local.json, else
                 http://127.0.0.1:4318)
  --key <key>    an API key with the admin scope (import) or query scope (export); default env ALERTS_API_KEY
  -h, --help     show this help

Precedence: a rule file deployed with the stacks wins over an API rule with the same id (see
docs/alerting.md); import refuses ids a deployed file defines.`;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface ApiTarget {
  readonly url: string;
  readonly key: string;
  readonly fetch?: typeof fetch;
}

async function api(target: ApiTarget, method: string, path: string, body?: unknown) {
  const res = await (target.fetch ?? fetch)(`${target.url.replace(/\/+$/, '')}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${target.key}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json: json as { data?: unknown; error?: { code: string; message: string } } };
}

const META_FIELDS = ['source', 'version', 'updatedAt', 'updatedBy', 'shadowedBy'];
const secretEnv = (channel: string) => `ALERT_SECRET_${channel.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

/** The API-made rules and channels of the key's tenant as the text of a rule file (YAML). */
export async function exportRules(
  target: ApiTarget,
  tenant: string,
): Promise<{ text: string; notes: string[] }> {
  const [rules, channels] = await Promise.all([
    api(target, 'GET', '/v1/alerts/rules'),
    api(target, 'GET', '/v1/alerts/channels'),
  ]);
  for (const r of [rules, channels]) {
    if (r.status !== 200) throw new Error(`the API answered ${r.status}: ${r.json?.error?.message ?? ''}`);
  }
  type Item = Record<string, unknown> & { id: string; source: string };
  const apiRules = (rules.json.data as Item[]).filter(
    (r) => r.source === 'api' && r.shadowedBy === undefined,
  );
  const apiChannels = (channels.json.data as Item[]).filter(
    (c) => c.source === 'api' && c.shadowedBy === undefined,
  );
  const notes: string[] = [];
  const fileChannels: Record<string, unknown> = {};
  for (const c of apiChannels) {
    fileChannels[c.id] =
      c.type === 'email'
        ? { type: 'email', topicArn: c.topicArn }
        : { type: c.type, secret: `env:${secretEnv(c.id)}` };
    if (c.type !== 'email')
      notes.push(
        `channel ${c.id}: its secret is env:${secretEnv(c.id)}; put the value there (or an ARN) before deploying`,
      );
  }
  const out = apiRules.map((r) =>
    Object.fromEntries(Object.entries(r).filter(([k]) => !META_FIELDS.includes(k))),
  );
  for (const r of out) {
    for (const c of (r.channels as string[] | undefined) ?? []) {
      if (!(c in fileChannels))
        notes.push(`rule ${String(r.id)} uses channel ${c} of the tenant's rule file: merge into that file`);
    }
  }
  const file = { tenant, channels: fileChannels, rules: out };
  const text = `# Exported from the alerts API (npm run alerts -- export) on ${new Date().toISOString()}\n${stringifyYaml(file)}`;
  return { text, notes };
}

export interface ImportResult {
  readonly done: string[];
  readonly failed: string[];
}

/** Creates or updates the file's channels, then its rules, through the API. */
export async function importRules(
  target: ApiTarget,
  text: string,
  fileName: string,
  options: { env?: Record<string, string | undefined>; dryRun?: boolean } = {},
): Promise<ImportResult> {
  parseRuleFile(text, fileName); // the file's own validation first: one bad rule stops the import
  const raw = (fileName.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as {
    channels?: Record<string, { type: string; secret?: string; topicArn?: string }>;
    rules: Record<string, unknown>[];
  };
  const env = options.env ?? process.env;
  const done: string[] = [];
  const failed: string[] = [];
  const upsert = async (kind: 'rules' | 'channels', id: string, body: Record<string, unknown>) => {
    if (options.dryRun) {
      done.push(`${kind} ${id}: would be created or updated`);
      return;
    }
    let r = await api(target, 'POST', `/v1/alerts/${kind}`, { ...body, id });
    if (r.status === 409 && r.json?.error?.code === 'exists') {
      r = await api(target, 'PUT', `/v1/alerts/${kind}/${encodeURIComponent(id)}`, { ...body, id });
    }
    if (r.status === 200 || r.status === 201)
      done.push(`${kind} ${id}: ${r.status === 201 ? 'created' : 'updated'}`);
    else failed.push(`${kind} ${id}: ${r.status} ${r.json?.error?.message ?? ''}`);
  };
  for (const [id, c] of Object.entries(raw.channels ?? {})) {
    if (c.type === 'email') {
      await upsert('channels', id, { type: c.type, topicArn: c.topicArn });
      continue;
    }
    const name = c.secret?.startsWith('env:') ? c.secret.slice(4) : undefined;
    const value = name ? env[name] : undefined;
    if (value === undefined || value === '') {
      failed.push(
        `channels ${id}: secret ${c.secret} is not readable here (set ${name ?? 'an env: variable'}); create the channel with its secret through the API`,
      );
      continue;
    }
    let secret: unknown = value;
    if (value.trimStart().startsWith('{')) secret = JSON.parse(value);
    await upsert('channels', id, { type: c.type, secret });
  }
  for (const rule of raw.rules) await upsert('rules', String(rule.id), rule);
  return { done, failed };
}

async function defaultUrl(): Promise<string> {
  try {
    const local = JSON.parse(await readFile('.data/local.json', 'utf8')) as { url?: string };
    if (local.url) return local.url;
  } catch {
    // no local mode running here
  }
  return 'http://127.0.0.1:4318';
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        tenant: { type: 'string' },
        out: { type: 'string' },
        file: { type: 'string' },
        url: { type: 'string' },
        key: { type: 'string' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  }
  try {
    parsed = parse();
    const { values, positionals } = parsed;
    const command = positionals[0];
    if (values.help || command === undefined) {
      console.log(HELP);
      return command === undefined && !values.help ? 2 : 0;
    }
    const key = values.key ?? process.env.ALERTS_API_KEY;
    if (!key) throw new UsageError('--key (or env ALERTS_API_KEY) is required');
    const target = { url: values.url ?? (await defaultUrl()), key };
    if (command === 'export') {
      if (!values.tenant) throw new UsageError('export needs --tenant <id> (the file names its tenant)');
      const { text, notes } = await exportRules(target, values.tenant);
      for (const n of notes) console.error(`note: ${n}`);
      if (values.out) {
        await writeFile(resolve(values.out), text);
        console.error(`wrote ${values.out}`);
      } else process.stdout.write(text);
      return 0;
    }
    if (command === 'import') {
      if (!values.file) throw new UsageError('import needs --file <rule file>');
      const text = await readFile(resolve(values.file), 'utf8');
      const result = await importRules(target, text, values.file, { dryRun: values['dry-run'] ?? false });
      for (const d of result.done) console.log(d);
      for (const f of result.failed) console.error(`failed: ${f}`);
      return result.failed.length > 0 ? 1 : 0;
    }
    throw new UsageError(`unknown command ${command}`);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`${(err as Error).message}\n\n${HELP}`);
      return 2;
    }
    console.error(err instanceof Error ? err.message : String(err));
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
