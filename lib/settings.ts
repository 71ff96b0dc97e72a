import { z } from 'zod';
import { commaList } from '../functions/shared/config/environment.js';
import { CORS_ORIGIN, CORS_ORIGIN_MESSAGE } from '../functions/shared/http/cors.js';
import { redactionConfigSchema } from '../functions/shared/rows/redact.js';
import { NO_RETENTION_OVERRIDES, RetentionSettingsSchema } from '../functions/shared/tenants/retention.js';

/**
 * Deploy-time settings, read from CDK context (`cdk.json` "context", or `-c key=value` on the
 * command line, where every value arrives as a string). Each has a documented default, so a bare
 * `npx cdk deploy --all` gives a working pipeline; docs/deploy.md lists them all.
 */

/** `-c a=1` gives the string '1'; cdk.json gives a number. Accept both, reject everything else. */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const list = commaList(z.email());

const bool = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

const tagValue = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u, 'allowed in a tag value: letters, digits, spaces and _.:/=+-@');

/** A complete secret ARN (with the 6-character suffix): grants then name exactly that secret. */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;
const SECRET_ARN_MESSAGE = 'the complete ARN of a Secrets Manager secret (ending in the 6-character suffix)';

export const settingsSchema = z
  .object({
    /** Deployment name: prefixes stack names and becomes the `environment` tag. @default 'dev' */
    environment: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,19}$/, 'lower-case letters, digits and -, starting with a letter, ≤20 chars')
      .default('dev'),
    /** The `project` cost-allocation tag. @default 'otlp-pipeline' */
    project: tagValue.default('otlp-pipeline'),
    /** Optional `cost-center` tag on every taggable resource. */
    costCenter: tagValue.optional(),
    /**
     * Kinesis capacity mode. Provisioned is what `npm run estimate` recommends at every volume: an
     * on-demand stream's hours alone ($0.04/h) cost as much as 2.7 shards ($0.015/h), and one shard
     * carries about 8e9 spans a month at 4x the average rate (docs/scaling.md). On-demand buys
     * scaling without resharding. @default 'provisioned'
     */
    streamMode: z.enum(['on-demand', 'provisioned']).default('provisioned'),
    /**
     * Shards when `streamMode` is 'provisioned' (1 MiB/s or 1000 records/s in, 2 MiB/s out per shard):
     * `npm run estimate -- --spans-per-month N` prints what your volume needs. @default 1
     */
    shardCount: int(1, 10_000).default(1),
    /** Stream retention: how long a failed batch can still be replayed from the stream. @default 24 */
    streamRetentionHours: int(24, 8760).default(24),
    /**
     * X-Ray on the data path (ingest, hot writer, lake writer): 'active' lets Lambda sample 1
     * invocation a second plus 5% of the rest (Lambda's fixed rate), which at 1e9 spans a month is
     * nearly every invocation, about $0.012-0.020 per million spans; 'pass-through' records only
     * invocations whose caller sent a sampled trace header (none of these three has such a caller),
     * so their latency is read from the dashboard's metrics instead. The low-volume functions (query,
     * alerting, compactor, migrations) always trace. @default 'pass-through'
     */
    dataPathTracing: z.enum(['active', 'pass-through']).default('pass-through'),
    /** ClickHouse TTL of the hot tier. @default 7 */
    hotRetentionDays: int(1, 3650).default(7),
    /**
     * The hot writer's event-source batching window (s): longer means larger, fewer invocations
     * (~96 spans/s per shard at 1B spans a month on 4 shards: 5 s ≈ 480 spans per invocation) and
     * later hot data and alerts (the scheduled alerts' 70 s worst case assumes 5 s). @default 5
     */
    hotBatchingWindowSeconds: int(0, 300).default(5),
    /** Lake objects move from S3 Standard to Glacier Instant Retrieval after this many days. @default 30 */
    glacierAfterDays: int(1, 3650).default(30),
    /** Lake objects expire after this many days. @default 365 */
    lakeRetentionDays: int(2, 36500).default(365),
    /** Dead letters (poison records, failed batches) expire after this many days. @default 90 */
    deadLetterRetentionDays: int(1, 3650).default(90),
    /** Athena query results expire after this many days. @default 7 */
    athenaResultsRetentionDays: int(1, 365).default(7),
    /** Per-query cutoff on bytes scanned (Athena's minimum is 10 MB). @default 10 GB */
    athenaBytesScannedCutoff: int(10_000_000, Number.MAX_SAFE_INTEGER).default(10_000_000_000),
    /**
     * ARN of an existing Secrets Manager secret holding the ClickHouse connection as JSON
     * `{"url","username","password","database"}`. @default - the stack creates an empty secret to fill in
     */
    clickhouseSecretArn: z.string().regex(SECRET_ARN, SECRET_ARN_MESSAGE).optional(),
    /**
     * Apply the ClickHouse migrations on deploy, again when the migrate function's code or the hot
     * retention changes (needs the secret filled in). @default true
     */
    migrateOnDeploy: bool.default(true),
    /** Largest OTLP body accepted as received (API Gateway hands Lambda base64: 6 MB / 4 * 3). @default 4 MiB */
    maxBodyBytes: int(1024, 4_500_000).default(4 * 1024 * 1024),
    /** Largest OTLP body after decompression. @default 16 MiB */
    maxDecompressedBytes: int(1024, 256 * 1024 * 1024).default(16 * 1024 * 1024),
    /**
     * Redaction rules for ingest, as JSON of functions/shared/rows/redact.ts `redactionConfigSchema`
     * (`dropKeys`, `patterns`, `hashSalt`), checked here with the schema the ingest function parses
     * it with: a rule set it would refuse fails the deploy, not every request. @default - none
     */
    redactionRules: z
      .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())])
      .transform((v, ctx) => {
        let value: unknown = v;
        if (typeof v === 'string') {
          try {
            value = JSON.parse(v);
          } catch {
            ctx.addIssue({ code: 'custom', message: 'must be JSON' });
            return z.NEVER;
          }
        }
        const rules = redactionConfigSchema.safeParse(value);
        if (!rules.success) {
          ctx.addIssue({ code: 'custom', message: `not redaction rules: ${z.prettifyError(rules.error)}` });
          return z.NEVER;
        }
        return typeof v === 'string' ? v : JSON.stringify(v);
      })
      .optional(),
    /**
     * Limits for tenants without their own (functions/shared/tenants/rate-limiter.ts
     * DEFAULT_TENANT_LIMITS; daily quotas: functions/shared/tenants/quotas.ts).
     * @default 10000 items/s, burst 100000, 50000000000 bytes a day, no item quota
     */
    defaultItemsPerSecond: z.coerce.number().positive().optional(),
    defaultBurst: z.coerce.number().positive().optional(),
    defaultBytesPerDay: z.coerce.number().positive().optional(),
    defaultItemsPerDay: z.coerce.number().positive().optional(),
    /**
     * Origins whose pages may call the API from a browser (the OpenTelemetry web SDK's OTLP/HTTP
     * exporters; see functions/shared/http/cors.ts). @default [] - no cross-origin access
     */
    corsAllowedOrigins: commaList(z.string().regex(CORS_ORIGIN, CORS_ORIGIN_MESSAGE)).default([]),
    /** API stage steady-state rate, requests per second. @default 1000 */
    apiThrottleRate: int(1, 1_000_000).default(1000),
    /** API stage burst, requests. @default 2000 */
    apiThrottleBurst: int(1, 1_000_000).default(2000),
    /** Time budget of one query API request across tiers (the function stops at 29 s, API Gateway at 30 s). @default 25000 */
    queryTimeoutMs: int(1_000, 28_000).default(25_000),
    /**
     * Folder of alert rule files (`*.yaml|yml|json`, one file per tenant, see docs/alerting.md),
     * relative to the repository root; copied into the alert evaluator's bundle. @default 'alerts'
     */
    alertRulesDir: z
      .string()
      .regex(
        /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/,
        'a folder relative to the repository root, e.g. alerts or config/alerts',
      )
      .refine((v) => !v.split('/').includes('..'), 'must stay inside the repository (no ..)')
      .default('alerts'),
    /**
     * Tenants' own hot and lake retention per signal (functions/shared/tenants/retention.ts), as
     * `npm run tenants -- set-retention` writes it to tenant-retention.json, which the app reads
     * when this is not given; `-c tenantRetention='{"tenants":{...}}'` as JSON text. @default none
     */
    tenantRetention: z
      .preprocess((v) => {
        if (typeof v !== 'string') return v;
        try {
          return JSON.parse(v) as unknown;
        } catch {
          return v;
        }
      }, RetentionSettingsSchema)
      .default(NO_RETENTION_OVERRIDES),
    /** Alert rules evaluated at once by the evaluator. @default 4 */
    alertConcurrency: int(1, 32).default(4),
    /**
     * Notifiers may read Secrets Manager secrets whose name starts with this prefix (Slack, webhook,
     * PagerDuty channel secrets named in the rule files). @default 'otlp-pipeline/<environment>/alerts/'
     */
    alertSecretPrefix: z
      .string()
      .regex(/^[A-Za-z0-9/_+=.@-]{1,256}$/, 'a secret name prefix: letters, digits and /_+=.@-')
      .optional(),
    /** Further channel secrets (complete ARNs) the notifiers may read, e.g. secrets shared with other systems. @default [] */
    alertSecretArns: commaList(z.string().regex(SECRET_ARN, SECRET_ARN_MESSAGE)).default([]),
    /** E-mail addresses subscribed to the alert e-mail topic (each confirms once). @default - none */
    alertEmails: list.default([]),
    /** Monthly budget in USD on this deployment's tags. @default 100 */
    budgetMonthlyUsd: z.coerce.number().positive().default(100),
    /** E-mail addresses for budget notifications. @default - none (the alarm topic still receives them) */
    budgetEmails: list.default([]),
    /** An e-mail address subscribed to the alarm topic. @default - none */
    alarmEmail: z.email().optional(),
    /** Cost Anomaly Detection alerts on anomalies with at least this total impact in USD. @default 20 */
    anomalyThresholdUsd: z.coerce.number().positive().default(20),
    /** Activate the cost-allocation tags through Cost Explorer on deploy (payer account only). @default true */
    activateCostTags: bool.default(true),
    /** Bump to re-run the cost-allocation tag activation (tags appear in billing up to 24 h late). @default 1 */
    costTagActivationRun: int(1, 1_000_000).default(1),
  })
  .superRefine((s, ctx) => {
    if (s.glacierAfterDays >= s.lakeRetentionDays) {
      ctx.addIssue({
        code: 'custom',
        path: ['glacierAfterDays'],
        message: `\`glacierAfterDays\` must be less than \`lakeRetentionDays\`, got: ${s.glacierAfterDays} >= ${s.lakeRetentionDays}`,
      });
    }
    if (s.maxDecompressedBytes < s.maxBodyBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxDecompressedBytes'],
        message: `\`maxDecompressedBytes\` must be at least \`maxBodyBytes\`, got: ${s.maxDecompressedBytes} < ${s.maxBodyBytes}`,
      });
    }
    if (s.apiThrottleBurst < s.apiThrottleRate) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiThrottleBurst'],
        message: `\`apiThrottleBurst\` must be at least \`apiThrottleRate\`, got: ${s.apiThrottleBurst} < ${s.apiThrottleRate}`,
      });
    }
  });

export type Settings = z.output<typeof settingsSchema>;
export type SettingsInput = z.input<typeof settingsSchema>;
export const SETTING_KEYS = Object.keys(settingsSchema.shape) as (keyof Settings)[];

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

/**
 * Reads the settings through a context getter (`(key) => app.node.tryGetContext(key)`), so the same
 * code serves the CDK app and tests. Unknown keys are ignored: CDK keeps its own flags in context.
 */
export function readSettings(getContext: (key: string) => unknown): Settings {
  const raw: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const value = getContext(key);
    if (value !== undefined) raw[key] = value;
  }
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  -c ${i.path.join('.') || '(settings)'}: ${i.message}`);
    throw new SettingsError(`invalid deploy settings:\n${lines.join('\n')}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** The name prefix of alert channel secrets the notifiers may read (`alertSecretPrefix`, or the default). */
export function alertSecretPrefix(s: Pick<Settings, 'alertSecretPrefix' | 'environment'>): string {
  return s.alertSecretPrefix ?? `otlp-pipeline/${s.environment}/alerts/`;
}
