/**
 * Tenant key administration: `npm run tenants -- <command> [options]` (see HELP below).
 * Exit codes: 0 done, 1 the operation failed (unknown key, conflict, DynamoDB error), 2 usage error.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { createRemoteClickHouse } from '../functions/shared/clickhouse/connect.js';
import { tenantAccessStatements } from '../functions/shared/clickhouse/tenant-access.js';
import { setSamplingStatement } from '../functions/shared/sampling/clickhouse-trace-sampler.js';
import { oneInFromRate, type SamplingRule, validateRule } from '../functions/shared/sampling/sampling.js';
import type { Signal } from '../functions/shared/schema/columns.js';
import {
  formatScopes,
  type KeyScope,
  parseScopes,
  type TenantLimits,
  type TenantQueryLimits,
} from '../functions/shared/tenants/directory.js';
import {
  createKey,
  ensureTenantsTable,
  type KeyRecord,
  listKeys,
  revokeKey,
  setKeyScopes,
  setTenantLimits,
  setTenantQueryLimits,
} from '../functions/shared/tenants/dynamo-tenant-directory.js';
import { isValidTenantId, TenantError } from '../functions/shared/tenants/keys.js';
import {
  DEFAULT_RETENTION_FILE,
  RETENTION_SIGNALS,
  type RetentionSettings,
  RetentionSettingsError,
  readRetentionFile,
  withRetention,
  writeRetentionFile,
} from '../functions/shared/tenants/retention.js';

const LOCAL_STATE_FILE = '.data/local.json';

const HELP = `Usage: npm run tenants -- <command> [options]

Commands:
  create --tenant <id> [--label <text>] [--scope <scope>]
                                             create an API key; it is printed once and cannot be shown again.
                                             --scope: ingest (send telemetry only: the one for browsers),
                                             query (read only), admin (change alert rules, channels and
                                             silences; add it: query+admin), or ingest+query (the default)
  set-scope --key-id <id> --scope <scope>    change what a key may do (takes effect within 60 s)
  revoke --key-id <id>                       revoke a key (running ingest instances may accept it for up to 60 s)
  list [--tenant <id>]                       list keys (ids, tenants, labels, scopes, status, limits; never the keys)
  set-limit --tenant <id> [--items-per-second <n>] [--burst <n>] [--bytes-per-day <n>]
                                             set a tenant's ingest limits (items = spans, log records, data
                                             points; bytes = decompressed request bytes per UTC day); a limit
                                             not given keeps the deployment default (10000/s, burst 100000,
                                             50000000000 bytes a day unless the operator changed them)
  set-limit --tenant <id> --unlimited        no limit at all for the tenant
  set-limit --tenant <id> --default          back to the deployment defaults
  set-quota --tenant <id> [--items-per-day <n>] [--bytes-per-day <n>]
                                             a tenant's daily quotas (UTC day): over one, ingest answers 429
                                             with Retry-After until midnight UTC; at 80% a QuotaWarning event
                                             goes on the alert bus. Keeps the tenant's rate limit; a quota not
                                             given keeps its current value (default: no item quota,
                                             50000000000 bytes)
  set-quota --tenant <id> --default          both quotas back to the deployment defaults
  set-retention --tenant <id> --signal <traces|logs|metrics> [--hot-days <n>] [--lake-days <n>] [--default]
                                             a tenant's own retention for one signal, written to
                                             --file (default ${DEFAULT_RETENTION_FILE}); applied by the next deploy
                                             (hot: ClickHouse TTL through the migrations; lake: S3 lifecycle rules,
                                             only shorter than the lake's retention) or local mode's next start.
                                             --default returns the signal to the deployment defaults
  show-retention [--tenant <id>]             print the retention file (JSON)
  clickhouse-user --tenant <id> [--print]    create (or re-create, rotating its password) a read-only
                                             ClickHouse user that sees only this tenant's rows, for
                                             Grafana, HyperDX or DBeaver; the password is printed once.
                                             Runs on CLICKHOUSE_URL as CLICKHOUSE_USER/CLICKHOUSE_PASSWORD
                                             (an admin), in CLICKHOUSE_DATABASE (default: default);
                                             --print prints the SQL instead, to run in a SQL console
  set-query-limit --tenant <id> --requests-per-second <n> [--burst <n>]
                                             a tenant's query API rate (default 20/s, burst 100)
  set-query-limit --tenant <id> --default    back to the deployment's default query rate
  set-sampling --tenant <id> --rate <0..1> [--keep-errors] [--slow-ms <n>] [--print]
                                             hot-tier sampling (ADR 0009): ClickHouse keeps whole traces
                                             at this rate (as 1 in round(1/rate)), and every trace with an
                                             error span (--keep-errors) or a span of at least --slow-ms;
                                             the lake keeps every span. --rate 1 turns it off. Runs on
                                             CLICKHOUSE_URL like clickhouse-user (locally
                                             http://127.0.0.1:8123); writers pick it up within a minute

Options:
  --table <name>     the tenants DynamoDB table (default: env TENANTS_TABLE)
  --file <path>      the retention settings file (set-retention, show-retention; default ${DEFAULT_RETENTION_FILE})
  --region <region>  AWS region (default: the SDK's, e.g. env AWS_REGION)
  --endpoint <url>   a local DynamoDB, e.g. http://127.0.0.1:8000 (the table is created if missing)
  --local            use the running local mode (npm start): reads its DynamoDB endpoint and table
                     from ${LOCAL_STATE_FILE} in the current directory, written by local mode as
                     { "dynamoEndpoint": "http://127.0.0.1:PORT", "tenantsTable": "tenants" }
  --json             print JSON instead of text (create, list)
  -h, --help         show this help

Tenant ids: lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters.`;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

const LocalStateSchema = z.object({
  dynamoEndpoint: z.string().url(),
  tenantsTable: z.string().min(1),
});

const OPTIONS = {
  tenant: { type: 'string' },
  label: { type: 'string' },
  'key-id': { type: 'string' },
  'items-per-second': { type: 'string' },
  'requests-per-second': { type: 'string' },
  scope: { type: 'string' },
  default: { type: 'boolean' },
  burst: { type: 'string' },
  'bytes-per-day': { type: 'string' },
  'items-per-day': { type: 'string' },
  signal: { type: 'string' },
  'hot-days': { type: 'string' },
  'lake-days': { type: 'string' },
  file: { type: 'string' },
  unlimited: { type: 'boolean' },
  table: { type: 'string' },
  region: { type: 'string' },
  endpoint: { type: 'string' },
  local: { type: 'boolean' },
  json: { type: 'boolean' },
  print: { type: 'boolean' },
  rate: { type: 'string' },
  'keep-errors': { type: 'boolean' },
  'slow-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function required(
  values: Values,
  name: 'tenant' | 'key-id' | 'items-per-second' | 'requests-per-second' | 'scope',
  command: string,
): string {
  const value = values[name];
  if (value === undefined || value === '') throw new UsageError(`${command} needs --${name}`);
  return value;
}

function positiveNumber(text: string, option: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`--${option} must be a positive number, got: ${JSON.stringify(text)}`);
  }
  return n;
}

interface Target {
  readonly client: DynamoDBClient;
  readonly table: string;
  /** Local DynamoDB: we may create the table. */
  readonly local: boolean;
}

async function target(values: Values): Promise<Target> {
  let endpoint = values.endpoint;
  let table = values.table;
  if (values.local) {
    const path = resolve(LOCAL_STATE_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      throw new UsageError(`--local: cannot read ${path}; is local mode running (npm start)?`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new UsageError(`--local: ${path} is not JSON`);
    }
    const state = LocalStateSchema.safeParse(json);
    if (!state.success) throw new UsageError(`--local: ${path} lacks dynamoEndpoint or tenantsTable`);
    endpoint ??= state.data.dynamoEndpoint;
    table ??= state.data.tenantsTable;
  }
  table ??= process.env.TENANTS_TABLE;
  if (table === undefined || table === '') {
    throw new UsageError('no table: pass --table <name>, set TENANTS_TABLE, or use --local');
  }
  const config: DynamoDBClientConfig = {};
  if (values.region !== undefined) config.region = values.region;
  if (endpoint !== undefined) {
    try {
      new URL(endpoint);
    } catch {
      throw new UsageError(`--endpoint must be a URL, got: ${JSON.stringify(endpoint)}`);
    }
    config.endpoint = endpoint;
    config.region ??= process.env.AWS_REGION ?? 'us-east-1';
    // Local emulators check no credentials; don't make the user configure any.
    if (process.env.AWS_ACCESS_KEY_ID === undefined && process.env.AWS_PROFILE === undefined) {
      config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    }
  }
  return { client: new DynamoDBClient(config), table, local: endpoint !== undefined };
}

function limitText(limits: TenantLimits | undefined): string {
  if (limits?.unlimited) return 'unlimited';
  const parts = [
    ...(limits?.itemsPerSecond === undefined ? [] : [`${limits.itemsPerSecond}/s`]),
    ...(limits?.burst === undefined ? [] : [`burst ${limits.burst}`]),
    ...(limits?.bytesPerDay === undefined ? [] : [`${limits.bytesPerDay} B/day`]),
    ...(limits?.itemsPerDay === undefined ? [] : [`${limits.itemsPerDay} items/day`]),
  ];
  return parts.length === 0 ? 'default' : parts.join(' ');
}

function queryLimitText(limits: TenantQueryLimits | undefined): string {
  if (limits?.requestsPerSecond === undefined) return 'default';
  return `${limits.requestsPerSecond}/s${limits.burst === undefined ? '' : ` burst ${limits.burst}`}`;
}

function scopeOption(text: string): KeyScope[] {
  const scopes = parseScopes(text);
  if (scopes === undefined) {
    throw new UsageError(
      `--scope must be ingest, query, admin or a + list of them (e.g. query+admin), got: ${JSON.stringify(text)}`,
    );
  }
  return scopes;
}

function printTable(keys: readonly KeyRecord[]): void {
  const rows = [
    ['KEY ID', 'TENANT', 'LABEL', 'SCOPE', 'CREATED', 'STATUS', 'LIMIT', 'QUERY LIMIT'],
    ...keys.map((k) => [
      k.keyId,
      k.tenantId,
      k.label,
      formatScopes(k.scopes),
      k.createdAt,
      k.revokedAt === undefined ? 'active' : `revoked ${k.revokedAt}`,
      limitText(k.limits),
      queryLimitText(k.queryLimits),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const row of rows) {
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  }
}

async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  const [command, ...extra] = positionals;
  if (values.help || command === undefined || command === 'help') {
    console.log(HELP);
    if (command === undefined && !values.help) throw new UsageError('no command given');
    return;
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra[0]}`);
  const commands = [
    'create',
    'revoke',
    'list',
    'set-limit',
    'set-quota',
    'set-retention',
    'show-retention',
    'set-scope',
    'set-query-limit',
    'clickhouse-user',
    'set-sampling',
  ];
  if (!commands.includes(command))
    throw new UsageError(`unknown command: ${command} (one of ${commands.join(', ')})`);

  // Validate the command's own options before touching DynamoDB.
  let limits: TenantLimits | undefined;
  let queryLimits: TenantQueryLimits | undefined;
  let scopes: KeyScope[] | undefined;
  if (command === 'create') {
    required(values, 'tenant', command);
    if (values.scope !== undefined) scopes = scopeOption(values.scope);
  }
  if (command === 'set-scope') {
    required(values, 'key-id', command);
    scopes = scopeOption(required(values, 'scope', command));
  }
  if (command === 'set-query-limit') {
    required(values, 'tenant', command);
    if (values.default) {
      if (values['requests-per-second'] !== undefined || values.burst !== undefined) {
        throw new UsageError('--default excludes --requests-per-second and --burst');
      }
    } else {
      queryLimits = {
        requestsPerSecond: positiveNumber(
          required(values, 'requests-per-second', command),
          'requests-per-second',
        ),
        ...(values.burst !== undefined && { burst: positiveNumber(values.burst, 'burst') }),
      };
    }
  }
  if (command === 'revoke') required(values, 'key-id', command);
  if (command === 'set-limit') {
    required(values, 'tenant', command);
    const given = ['items-per-second', 'burst', 'bytes-per-day'] as const;
    const any = given.some((o) => values[o] !== undefined);
    if (values.unlimited || values.default) {
      if (any || (values.unlimited && values.default)) {
        throw new UsageError('--unlimited and --default exclude each other and the limit options');
      }
      limits = values.unlimited ? { unlimited: true } : undefined;
    } else {
      if (!any) {
        throw new UsageError(
          'set-limit needs --items-per-second, --burst or --bytes-per-day (or --unlimited, --default)',
        );
      }
      const rate = values['items-per-second'];
      const bytes = values['bytes-per-day'];
      limits = {
        ...(rate !== undefined && { itemsPerSecond: positiveNumber(rate, 'items-per-second') }),
        ...(values.burst !== undefined && { burst: positiveNumber(values.burst, 'burst') }),
        ...(bytes !== undefined && { bytesPerDay: positiveNumber(bytes, 'bytes-per-day') }),
      };
    }
  }

  let quotas: Pick<TenantLimits, 'itemsPerDay' | 'bytesPerDay'> | undefined;
  if (command === 'set-quota') {
    required(values, 'tenant', command);
    const items = values['items-per-day'];
    const bytes = values['bytes-per-day'];
    if (values.default) {
      if (items !== undefined || bytes !== undefined) {
        throw new UsageError('--default excludes --items-per-day and --bytes-per-day');
      }
    } else {
      if (items === undefined && bytes === undefined) {
        throw new UsageError('set-quota needs --items-per-day or --bytes-per-day (or --default)');
      }
      quotas = {
        ...(items !== undefined && { itemsPerDay: positiveNumber(items, 'items-per-day') }),
        ...(bytes !== undefined && { bytesPerDay: positiveNumber(bytes, 'bytes-per-day') }),
      };
    }
  }

  if (command === 'set-retention' || command === 'show-retention') return retention(command, values);

  if (command === 'clickhouse-user') return clickHouseUser(required(values, 'tenant', command), values);
  if (command === 'set-sampling') return setSampling(required(values, 'tenant', command), values);

  const { client, table, local } = await target(values);
  try {
    if (local) await ensureTenantsTable(client, table);
    switch (command) {
      case 'create': {
        const created = await createKey(client, table, {
          tenantId: values.tenant!,
          ...(values.label !== undefined && { label: values.label }),
          ...(scopes !== undefined && { scopes }),
        });
        const warning =
          'This key is shown only once and cannot be shown again: only its SHA-256 hash is stored.';
        if (values.json) {
          console.log(JSON.stringify(created));
          console.error(warning);
        } else {
          console.log(
            `Created an API key for tenant ${created.tenantId} (key id ${created.keyId}, scope ${formatScopes(created.scopes)}):\n`,
          );
          console.log(`    ${created.key}\n`);
          console.log(warning);
          console.log('Send it as "Authorization: Bearer <key>" or "x-api-key: <key>".');
        }
        break;
      }
      case 'revoke': {
        const revoked = await revokeKey(client, table, values['key-id']!);
        console.log(
          `Revoked key ${revoked.keyId} of tenant ${revoked.tenantId} (at ${revoked.revokedAt}). ` +
            'Ingest instances that cached it may accept it for up to 60 s more.',
        );
        break;
      }
      case 'list': {
        const keys = await listKeys(client, table, values.tenant);
        if (values.json) console.log(JSON.stringify(keys));
        else if (keys.length === 0) console.log('No keys.');
        else printTable(keys);
        break;
      }
      case 'set-scope': {
        const changed = await setKeyScopes(client, table, values['key-id']!, scopes!);
        console.log(
          `Key ${changed.keyId} of tenant ${changed.tenantId}: scope ${formatScopes(changed.scopes)}; ` +
            'takes effect within 60 s (the key cache).',
        );
        break;
      }
      case 'set-query-limit': {
        const count = await setTenantQueryLimits(client, table, values.tenant!, queryLimits);
        console.log(
          `Tenant ${values.tenant}: query limit ${queryLimitText(queryLimits)} on ${count} key(s); ` +
            'takes effect within 60 s (the key cache).',
        );
        break;
      }
      case 'set-quota': {
        // Quotas and rate limits share the keys' `limits`: keep what set-limit set.
        const current = (await listKeys(client, table, values.tenant)).find((k) => k.limits)?.limits;
        const { itemsPerDay: _i, bytesPerDay: _b, ...rest } = current ?? {};
        const merged: TenantLimits = values.default ? rest : { ...current, ...quotas };
        const next = Object.keys(merged).length === 0 ? undefined : merged;
        const count = await setTenantLimits(client, table, values.tenant!, next);
        console.log(
          `Tenant ${values.tenant}: limits ${limitText(next)} on ${count} key(s); ` +
            'takes effect within 60 s (the ingest cache).',
        );
        break;
      }
      case 'set-limit': {
        // set-limit sets the rate and the byte quota; an item quota (set-quota) stays.
        const current = (await listKeys(client, table, values.tenant)).find((k) => k.limits)?.limits;
        if (limits !== undefined && !limits.unlimited && current?.itemsPerDay !== undefined) {
          limits = { ...limits, itemsPerDay: current.itemsPerDay };
        }
        const count = await setTenantLimits(client, table, values.tenant!, limits);
        console.log(
          `Tenant ${values.tenant}: limit ${limitText(limits)} on ${count} key(s); ` +
            'takes effect within 60 s (the ingest cache).',
        );
        break;
      }
    }
  } finally {
    client.destroy();
  }
}

function wholeDays(text: string, option: string): number {
  const n = positiveNumber(text, option);
  if (!Number.isInteger(n)) throw new UsageError(`--${option} must be a whole number of days, got: ${text}`);
  return n;
}

/** `set-retention` / `show-retention`: the retention file (functions/shared/tenants/retention.ts). */
async function retention(command: 'set-retention' | 'show-retention', values: Values): Promise<void> {
  const file = resolve(values.file ?? DEFAULT_RETENTION_FILE);
  const current = await readRetentionFile(file);
  if (command === 'show-retention') {
    const tenants =
      values.tenant === undefined
        ? current.tenants
        : { [values.tenant]: current.tenants[values.tenant] ?? {} };
    console.log(JSON.stringify({ tenants }, null, 2));
    return;
  }
  const tenant = required(values, 'tenant', command);
  if (!isValidTenantId(tenant)) throw new UsageError(`invalid tenant id: ${JSON.stringify(tenant)}`);
  const signal = values.signal;
  if (!(RETENTION_SIGNALS as readonly string[]).includes(signal ?? '')) {
    throw new UsageError(`${command} needs --signal traces, logs or metrics`);
  }
  const hot = values['hot-days'];
  const lake = values['lake-days'];
  if (values.default && (hot !== undefined || lake !== undefined)) {
    throw new UsageError('--default excludes --hot-days and --lake-days');
  }
  if (!values.default && hot === undefined && lake === undefined) {
    throw new UsageError(`${command} needs --hot-days or --lake-days (or --default)`);
  }
  let next: RetentionSettings;
  try {
    next = withRetention(current, tenant, signal as Signal, {
      ...(values.default ? { hotDays: null, lakeDays: null } : {}),
      ...(hot !== undefined && { hotDays: wholeDays(hot, 'hot-days') }),
      ...(lake !== undefined && { lakeDays: wholeDays(lake, 'lake-days') }),
    });
  } catch (err) {
    if (err instanceof RetentionSettingsError) throw new UsageError(err.message);
    throw err;
  }
  await writeRetentionFile(file, next);
  const own = next.tenants[tenant]?.[signal as Signal];
  console.log(
    `Tenant ${tenant} ${signal}: hot ${own?.hotDays ?? 'default'} days, lake ${own?.lakeDays ?? 'default'} days, written to ${file}. ` +
      'Applied by the next deploy (npx cdk deploy --all) or the next start of local mode.',
  );
}

/** `clickhouse-user`: a tenant's read-only ClickHouse login (functions/shared/clickhouse/tenant-access.ts). */
async function clickHouseUser(tenant: string, values: Values): Promise<void> {
  const database = process.env.CLICKHOUSE_DATABASE || 'default';
  const password = randomBytes(24).toString('base64url');
  let access: ReturnType<typeof tenantAccessStatements>;
  try {
    access = tenantAccessStatements({ tenant, password, database });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const once = `The password is shown only once: ClickHouse keeps its SHA-256 only. Running this again replaces the user and its password.`;
  const login = { user: access.user, password, database };
  if (values.print) {
    console.log(`${access.statements.join(';\n')};\n`);
  } else {
    const url = process.env.CLICKHOUSE_URL;
    if (!url)
      throw new UsageError('clickhouse-user needs CLICKHOUSE_URL (an admin login), or --print for the SQL');
    const ch = createRemoteClickHouse({
      url,
      username: process.env.CLICKHOUSE_USER || 'default',
      password: process.env.CLICKHOUSE_PASSWORD ?? '',
      database,
    });
    try {
      for (const query of access.statements) await ch.command({ query });
    } catch (err) {
      throw new ClickHouseCliError(err);
    } finally {
      await ch.close();
    }
  }
  if (values.json) {
    console.log(JSON.stringify(login));
    console.error(once);
  } else {
    console.log(`ClickHouse user for tenant ${tenant} (read-only, this tenant's rows only):\n`);
    console.log(`    user:     ${login.user}\n    password: ${password}\n    database: ${database}\n`);
    console.log(once);
  }
}

/** `set-sampling`: a tenant's hot-tier sampling rule, a row in otel_sampling_rules (functions/shared/sampling). */
async function setSampling(tenant: string, values: Values): Promise<void> {
  if (values.rate === undefined) throw new UsageError('set-sampling needs --rate (1 turns sampling off)');
  let rule: SamplingRule;
  try {
    rule = validateRule({
      oneIn: oneInFromRate(Number(values.rate)),
      keepErrors: values['keep-errors'] === true,
      slowMs: values['slow-ms'] === undefined ? 0 : Number(values['slow-ms']),
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const database = process.env.CLICKHOUSE_DATABASE || 'default';
  const params = { tenant, oneIn: rule.oneIn, keepErrors: rule.keepErrors, slowMs: rule.slowMs };
  const what =
    rule.oneIn === 1
      ? `tenant ${tenant}: no hot-tier sampling (every span kept)`
      : `tenant ${tenant}: hot tier keeps 1 trace in ${rule.oneIn}${rule.keepErrors ? ', every trace with an error' : ''}${rule.slowMs > 0 ? `, every trace with a span of ${rule.slowMs} ms or more` : ''}; the lake keeps every span`;
  if (values.print) {
    const sql = setSamplingStatement(database)
      .replace('{tenant:String}', `'${tenant.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`)
      .replace('{oneIn:UInt32}', String(rule.oneIn))
      .replace('{keepErrors:Bool}', String(rule.keepErrors))
      .replace('{slowMs:UInt64}', String(rule.slowMs));
    console.log(`${sql};`);
    console.error(what);
    return;
  }
  const url = process.env.CLICKHOUSE_URL;
  if (!url)
    throw new UsageError('set-sampling needs CLICKHOUSE_URL (an admin login), or --print for the SQL');
  const ch = createRemoteClickHouse({
    url,
    username: process.env.CLICKHOUSE_USER || 'default',
    password: process.env.CLICKHOUSE_PASSWORD ?? '',
    database,
  });
  try {
    await ch.command({ query: setSamplingStatement(database), query_params: params });
  } catch (err) {
    throw new ClickHouseCliError(err);
  } finally {
    await ch.close();
  }
  console.log(what);
}

class ClickHouseCliError extends Error {
  override readonly name = 'ClickHouseCliError';
  constructor(cause: unknown) {
    super(`ClickHouse: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

try {
  await run(process.argv.slice(2));
} catch (err) {
  // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for unknown or malformed options.
  const code = err instanceof TypeError ? (err as { code?: unknown }).code : undefined;
  const usage =
    err instanceof UsageError ||
    (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) ||
    (err instanceof TenantError && err.kind === 'invalid');
  // Our own errors read as sentences; anything else (an SDK error) keeps its name for searching.
  const own = usage || err instanceof TenantError || err instanceof ClickHouseCliError;
  const text =
    err instanceof Error ? (own ? err.message : `DynamoDB: ${err.name}: ${err.message}`) : String(err);
  console.error(`tenants: ${text}`);
  if (usage) console.error('Run with --help for usage.');
  process.exitCode = usage ? 2 : 1;
}
