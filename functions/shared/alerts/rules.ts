import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import { LOG_SEVERITIES, type LogSeverity } from '../otlp/severity.js';
import { TENANT_ID_PATTERN } from '../tenants/keys.js';
import { duration } from './duration.js';
import { DEFAULT_MAX_SERIES } from './series-cap.js';
import type { FormattedKind } from './value-format.js';

/**
 * Alert rules as files (YAML or JSON), one file per tenant: the tenant, its notification channels
 * and its rules. Validated here with zod; durations (`5m`) become milliseconds. See docs/alerting.md.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Longest window a rule may read: the hot tier keeps 7 days by default. */
export const MAX_WINDOW_MS = 7 * DAY;

export const SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const OPERATORS = ['>', '>=', '<', '<='] as const;
export type Operator = (typeof OPERATORS)[number];

export { LOG_SEVERITIES, type LogSeverity };

/** `env:NAME` (local mode: the variable holds the value) or a Secrets Manager secret ARN. */
const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+)$/;
const secretRef = z
  .string()
  .regex(SECRET_REF, 'expected a Secrets Manager secret ARN or env:NAME (local mode)');

export const ID = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const LABEL_KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/**
 * Where notifications go. Secrets hold what must not sit in the repository: Slack and Teams
 * `{"webhookUrl"}` (or the bare URL), webhook `{"url", "hmacKey"}`, PagerDuty `{"routingKey"}` (and
 * optionally `url`), Opsgenie `{"apiKey"}` (or the bare key; `url` for the EU instance).
 */
export const ChannelSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('slack'), secret: secretRef }),
  z.strictObject({ type: z.literal('webhook'), secret: secretRef }),
  z.strictObject({ type: z.literal('pagerduty'), secret: secretRef }),
  z.strictObject({ type: z.literal('teams'), secret: secretRef }),
  z.strictObject({ type: z.literal('opsgenie'), secret: secretRef }),
  z.strictObject({
    type: z.literal('email'),
    topicArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'an SNS topic ARN'),
  }),
]);
export type Channel = z.infer<typeof ChannelSchema>;
export type ChannelType = Channel['type'];
/**
 * Every channel type, one key each: a type added to ChannelSchema does not compile until it is
 * listed here, and the stacks deploy one notifier per entry (an unlisted type would get no notifier
 * and its events would go nowhere).
 */
const CHANNEL_TYPE_SET: Readonly<Record<ChannelType, true>> = {
  slack: true,
  webhook: true,
  pagerduty: true,
  email: true,
  teams: true,
  opsgenie: true,
};
export const CHANNEL_TYPES: readonly ChannelType[] = Object.keys(CHANNEL_TYPE_SET) as ChannelType[];

const window = duration('window', { min: MINUTE, max: MAX_WINDOW_MS });
const name = z.string().min(1).max(256);

const common = {
  id: z.string().regex(ID, 'lower-case letters, digits, ".", "_" or "-" (up to 128)'),
  name: z.string().min(1).max(200),
  description: z.string().max(2000).optional(),
  severity: z.enum(SEVERITIES),
  labels: z
    .record(z.string().regex(LABEL_KEY, 'label names: letters, digits, "_", ".", "-"'), z.string().max(256))
    .default({}),
  /** How long the condition must hold before the alert fires (pending until then). */
  for: duration('for', { max: DAY }).default(0),
  /** How long a firing alert stays firing after the condition clears (damps flapping). */
  keepFiringFor: duration('keepFiringFor', { max: DAY }).default(0),
  channels: z.array(z.string().regex(ID)).default([]),
  runbook: z.url(),
  /**
   * Most series (groupBy values) one evaluation tracks; the rest are cut and one overflow alert
   * says so (series-cap.ts).
   */
  maxSeries: z.number().int().min(1).max(10_000).default(DEFAULT_MAX_SERIES),
};

/** Grouping of trace-based kinds: one alert per service, or per service and operation. */
const traceGroupBy = z.array(z.enum(['service', 'operation']));

export const MetricThresholdSchema = z.strictObject({
  ...common,
  kind: z.literal('metric_threshold'),
  metric: name,
  /** Which metric table: gauge and sum points have a Value; histograms a Sum and Count. */
  metricType: z.enum(['gauge', 'sum', 'histogram']).default('gauge'),
  aggregate: z.enum(['avg', 'min', 'max', 'sum', 'count', 'last']).default('avg'),
  service: name.optional(),
  /** Only points whose attributes have these values. */
  attributes: z.record(z.string().min(1).max(256), z.string().max(256)).default({}),
  groupBy: z.array(z.enum(['service'])).default([]),
  window,
  op: z.enum(OPERATORS).default('>'),
  threshold: z.number(),
});

export const ErrorRatioSchema = z.strictObject({
  ...common,
  kind: z.literal('error_ratio'),
  service: name.optional(),
  operation: name.optional(),
  groupBy: traceGroupBy.default(['service']),
  window,
  op: z.enum(OPERATORS).default('>'),
  /** A ratio, 0..1 (0.05 = 5 % of entry spans in error). */
  threshold: z.number().min(0).max(1),
  /** Fewer requests than this in the window never breach (one failed request of two is not 50 %). */
  minRequests: z.number().int().min(1).default(1),
});

export const LatencyPercentileSchema = z.strictObject({
  ...common,
  kind: z.literal('latency_percentile'),
  service: name.optional(),
  operation: name.optional(),
  groupBy: traceGroupBy.default(['service']),
  /** 0 < p < 1, e.g. 0.99. */
  percentile: z.number().gt(0).lt(1),
  window,
  op: z.enum(OPERATORS).default('>'),
  thresholdMs: z.number().min(0),
  minRequests: z.number().int().min(1).default(1),
});

export const LogCountSchema = z
  .strictObject({
    ...common,
    kind: z.literal('log_count'),
    service: name.optional(),
    /** Records at this severity or above. */
    minSeverity: z.enum(LOG_SEVERITIES).optional(),
    /** Case-insensitive text the body must contain. */
    bodyContains: z.string().min(1).max(256).optional(),
    groupBy: z.array(z.enum(['service'])).default([]),
    window,
    op: z.enum(OPERATORS).default('>'),
    threshold: z.number().min(0),
  })
  .refine((r) => r.minSeverity !== undefined || r.bodyContains !== undefined, {
    message: 'log_count needs minSeverity and/or bodyContains',
  });

export const AbsenceSchema = z
  .strictObject({
    ...common,
    kind: z.literal('absence'),
    signal: z.enum(['traces', 'logs', 'metrics']),
    service: name.optional(),
    /** Metrics only: this metric. */
    metric: name.optional(),
    /** Fires when the newest datum is at least this old. */
    after: duration('after', { min: MINUTE, max: DAY }),
    /**
     * How far back to look for the newest datum; with groupBy service, a service silent for longer
     * than this is forgotten (it is taken to be retired, not absent).
     */
    lookback: duration('lookback', { min: 2 * MINUTE, max: MAX_WINDOW_MS }).default(DAY),
    groupBy: z.array(z.enum(['service'])).default([]),
  })
  .refine((r) => r.after < r.lookback, { message: 'after must be shorter than lookback' })
  .refine((r) => r.metric === undefined || r.signal === 'metrics', {
    message: 'metric needs signal: metrics',
  });

/** One multiwindow pair of the SRE workbook: fires when both windows burn at least `factor`. */
export const BurnWindowSchema = z
  .strictObject({
    long: duration('long', { min: MINUTE, max: MAX_WINDOW_MS }),
    short: duration('short', { min: MINUTE, max: MAX_WINDOW_MS }),
    factor: z.number().positive(),
  })
  .refine((w) => w.short < w.long, { message: 'short must be shorter than long' });

/** The workbook's paging pairs for a 30-day budget: 2 % of it in 1 h, 5 % in 6 h. */
export const DEFAULT_BURN_WINDOWS = [
  { long: HOUR, short: 5 * MINUTE, factor: 14.4 },
  { long: 6 * HOUR, short: 30 * MINUTE, factor: 6 },
] as const;

export const SloBurnRateSchema = z.strictObject({
  ...common,
  kind: z.literal('slo_burn_rate'),
  service: name.optional(),
  operation: name.optional(),
  groupBy: traceGroupBy.default(['service']),
  /** The availability objective, e.g. 0.999: the error budget is 1 - objective. */
  objective: z.number().gt(0).lt(1),
  windows: z
    .array(BurnWindowSchema)
    .min(1)
    .max(4)
    .default([...DEFAULT_BURN_WINDOWS]),
  /** The budget period reported as "budget left"; capped by what the hot tier keeps. */
  budgetPeriod: duration('budgetPeriod', { min: HOUR, max: MAX_WINDOW_MS }).default(MAX_WINDOW_MS),
  minRequests: z.number().int().min(1).default(1),
});

/**
 * A value unusual for this time of the week (or day), where no fixed threshold fits: see anomaly.ts.
 * `requests` is entry spans per second, `latency` a percentile in ms (one the RED rollup keeps),
 * `metric` a gauge or sum aggregated over the window.
 */
export const AnomalySchema = z
  .strictObject({
    ...common,
    kind: z.literal('anomaly'),
    signal: z.enum(['requests', 'error_ratio', 'latency', 'metric']),
    service: name.optional(),
    groupBy: z.array(z.enum(['service'])).default([]),
    metric: name.optional(),
    metricType: z.enum(['gauge', 'sum']).default('gauge'),
    aggregate: z.enum(['avg', 'min', 'max', 'sum']).default('avg'),
    percentile: z.union([z.literal(0.5), z.literal(0.95), z.literal(0.99)]).default(0.95),
    /** The current value's window, compared with the same time on previous weeks (or days). */
    window: duration('window', { min: 5 * MINUTE, max: HOUR }).default(10 * MINUTE),
    sensitivity: z.enum(['low', 'medium', 'high']).default('medium'),
    direction: z.enum(['up', 'down', 'both']).default('both'),
    seasonality: z.enum(['weekly', 'daily']).default('weekly'),
    /** History needed before it can fire. @default two periods (14d weekly, 2d daily) */
    minHistory: duration('minHistory', { min: DAY, max: 35 * DAY }).optional(),
    /** Trace signals: fewer entry spans than this in the window never breach. */
    minRequests: z.number().int().min(1).default(1),
  })
  .refine((r) => (r.signal === 'metric') === (r.metric !== undefined), {
    message: 'metric is needed with signal: metric, and only then',
  });

export const AlertRuleSchema = z.discriminatedUnion('kind', [
  MetricThresholdSchema,
  ErrorRatioSchema,
  LatencyPercentileSchema,
  LogCountSchema,
  AbsenceSchema,
  SloBurnRateSchema,
  AnomalySchema,
]);

export type AlertRule = z.infer<typeof AlertRuleSchema>;
export type AlertRuleInput = z.input<typeof AlertRuleSchema>;
export type RuleKind = AlertRule['kind'];
/** Every kind says how its value reads for people (value-format.ts): a new kind fails here until it does. */
const _everyKindFormatted = (kind: RuleKind): FormattedKind => kind;
export type RuleOf<K extends RuleKind> = Extract<AlertRule, { kind: K }>;

export const RuleFileSchema = z
  .strictObject({
    tenant: z.string().regex(TENANT_ID_PATTERN, 'lower-case letters, digits and dashes'),
    channels: z.record(z.string().regex(ID), ChannelSchema).default({}),
    rules: z.array(AlertRuleSchema),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.rules.forEach((rule, i) => {
      if (seen.has(rule.id)) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id ${rule.id}` });
      }
      seen.add(rule.id);
      rule.channels.forEach((c, j) => {
        if (!(c in file.channels)) {
          ctx.addIssue({
            code: 'custom',
            path: ['rules', i, 'channels', j],
            message: `unknown channel ${c} (declare it under channels)`,
          });
        }
      });
    });
  });

export type RuleFile = z.infer<typeof RuleFileSchema>;
export type RuleFileInput = z.input<typeof RuleFileSchema>;

export class RuleFileError extends Error {
  override readonly name = 'RuleFileError';
  constructor(
    message: string,
    readonly file: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Parses and validates one rule file; `file` names it in errors and picks YAML or JSON by extension. */
export function parseRuleFile(text: string, file: string): RuleFile {
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (cause) {
    throw new RuleFileError(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}`, file, {
      cause,
    });
  }
  const parsed = RuleFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new RuleFileError(`${file}: invalid rules\n${z.prettifyError(parsed.error)}`, file, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** Checks a set of files: a tenant declared twice would evaluate its rules twice. */
export function mergeRuleFiles(files: readonly { file: string; rules: RuleFile }[]): RuleFile[] {
  const byTenant = new Map<string, string>();
  for (const { file, rules } of files) {
    const other = byTenant.get(rules.tenant);
    if (other)
      throw new RuleFileError(`${file}: tenant ${rules.tenant} is already declared in ${other}`, file);
    byTenant.set(rules.tenant, file);
  }
  return files.map((f) => f.rules);
}
