import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { QueryParameterError } from '../query/errors.js';
import { NS_PER_MS, parseTime, resolveRange } from '../query/time.js';
import { admit } from '../tenants/admission.js';
import type { TenantDirectory } from '../tenants/directory.js';
import type { RateLimiter } from '../tenants/rate-limiter.js';
import { ALERTS_ROUTES, type AlertsOperation, type AlertsRoute, matchAlertsPath } from './alerts-routes.js';
import type { ChannelSecretStore } from './channel-secrets.js';
import {
  type AlertConfigStore,
  type AlertHistoryStore,
  ConfigConflictError,
  type ConfigKind,
  type ConfigVersion,
  externalState,
  HistoryCursorError,
  type Silence,
} from './config-store.js';
import { formatDuration } from './duration.js';
import { OpsgenieSecret, PagerDutySecret, SlackSecret, TeamsSecret, WebhookSecret } from './notifier.js';
import type { RuleSource } from './rule-source.js';
import { type AlertRule, AlertRuleSchema, type Channel, ID, type RuleFile } from './rules.js';
import type { AlertStateStore } from './state-store.js';

/**
 * The alerts API's use-case (/v1/alerts/...): rules and channels (create, read, update, delete,
 * list, versions), silences, the current state and the history, per tenant. A request (method,
 * path, headers, query, body) in, a status and JSON out; no AWS SDK here (ports). Reads need a key
 * with the `query` scope, writes one with `admin`. Answers are `{ data, meta }`; errors
 * `{ error: { code, message, field? } }` (the console contract).
 */

export interface AlertsApiDeps {
  readonly tenants: TenantDirectory;
  readonly store: AlertConfigStore;
  readonly history: AlertHistoryStore;
  readonly state: AlertStateStore;
  /** The rule files (read only here: they change with a deploy). */
  readonly files: RuleSource;
  readonly secrets: ChannelSecretStore;
  /** Shared with the query API: the same bucket (`query:<tenant>`). @default none */
  readonly rateLimiter?: RateLimiter;
  /**
   * Accept `http:` URLs in channel secrets (local mode, tests). Off in AWS: a channel must not make
   * the notifier call plain-text or internal endpoints. @default false
   */
  readonly allowHttpUrls?: boolean;
  /** Largest request body. @default 64 KiB */
  readonly maxBodyBytes?: number;
  /** History kept (and the longest range asked). @default 30 days */
  readonly historyDays?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface AlertsApiRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** The body as text (the handler decodes base64). */
  readonly body?: string;
}

export interface AlertsApiResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
  readonly log: { readonly operation?: AlertsOperation; readonly tenant?: string };
}

export const DEFAULT_ALERTS_MAX_BODY_BYTES = 64 * 1024;

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };

/** An error answer; `field` names the offending body field or parameter. */
class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

const fieldOf = (path: readonly PropertyKey[]) => path.map(String).join('.');

function invalid(error: z.ZodError, prefix = ''): ApiError {
  const issue = error.issues[0];
  const path = issue ? [...(prefix ? [prefix] : []), ...issue.path.map(String)] : [];
  const field = fieldOf(path) || undefined;
  let message = issue?.message ?? 'invalid';
  if (issue?.code === 'unrecognized_keys') {
    const key = String(issue.keys[0]);
    return new ApiError(
      400,
      'bad_request',
      `unknown field '${fieldOf([...path, key])}'`,
      fieldOf([...path, key]),
    );
  }
  if (issue?.code === 'invalid_union' && path.at(-1) === 'kind') message = 'unknown kind';
  return new ApiError(400, 'bad_request', field ? `invalid field '${field}': ${message}` : message, field);
}

const DURATION_FIELDS = ['for', 'keepFiringFor', 'window', 'after', 'lookback', 'budgetPeriod'] as const;

/** A parsed rule (durations in ms) back in the form a file or the API takes (`5m`). */
export function ruleInput(rule: AlertRule): Record<string, unknown> {
  const out: Record<string, unknown> = { ...rule };
  for (const f of DURATION_FIELDS) {
    const v = out[f];
    if (typeof v === 'number') out[f] = v === 0 ? '0' : formatDuration(v);
  }
  if (rule.kind === 'slo_burn_rate') {
    out.windows = rule.windows.map((w) => ({
      ...w,
      long: formatDuration(w.long),
      short: formatDuration(w.short),
    }));
  }
  return out;
}

const SECRET_SCHEMAS = {
  slack: SlackSecret,
  teams: TeamsSecret,
  webhook: WebhookSecret,
  pagerduty: PagerDutySecret,
  opsgenie: OpsgenieSecret,
} as const;

export const ChannelBodySchema = z.discriminatedUnion('type', [
  ...(['slack', 'teams', 'webhook', 'pagerduty', 'opsgenie'] as const).map((type) =>
    z.strictObject({
      id: z.string().regex(ID, 'lower-case letters, digits, ".", "_" or "-" (up to 128)').optional(),
      type: z.literal(type),
      /** The secret's value: written once, never returned. Omitted on update: the stored one stays. */
      secret: z.union([z.string().min(1).max(4096), z.record(z.string(), z.unknown())]).optional(),
      description: z.string().max(500).optional(),
    }),
  ),
  z.strictObject({
    id: z.string().regex(ID).optional(),
    type: z.literal('email'),
    topicArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'an SNS topic ARN'),
    description: z.string().max(500).optional(),
  }),
] as unknown as [z.ZodObject, z.ZodObject]);

type ChannelBody = {
  id?: string;
  type: Channel['type'];
  secret?: string | Record<string, unknown>;
  topicArn?: string;
  description?: string;
};

const TIME = z.union([z.number().int().nonnegative(), z.string().min(1)]);

export const SilenceBodySchema = z
  .strictObject({
    ruleId: z.string().regex(ID).optional(),
    matchers: z.record(z.string().min(1).max(64), z.string().max(256)).default({}),
    /** ISO-8601, epoch ms, or `now`, `now+2h` style. @default now */
    startsAt: TIME.optional(),
    endsAt: TIME.optional(),
    /** Instead of endsAt: `2h`, `30m`, `1d`. */
    duration: z.string().optional(),
    reason: z.string().min(1).max(1000),
    /** Who asked; @default the API key's id. */
    author: z.string().min(1).max(200).optional(),
  })
  .refine((b) => b.ruleId !== undefined || Object.keys(b.matchers).length > 0, {
    message: 'a silence needs ruleId and/or matchers',
    path: ['matchers'],
  })
  .refine((b) => (b.endsAt === undefined) !== (b.duration === undefined), {
    message: 'give endsAt or duration (one of them)',
    path: ['endsAt'],
  });

const MAX_SILENCE_MS = 90 * 86_400_000;
const UNIT: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A silence's `startsAt`/`endsAt`: epoch ms as a JSON number, or a string in the query API's time
 * syntax (parseTime: `now`, `now+2h`, epoch ms, RFC 3339); the other ISO-8601 forms this API has
 * always taken (a date alone, no offset) as Date.parse reads them.
 */
export function silenceTime(v: string | number, nowMs: number, field: string): number {
  if (typeof v === 'number') return v;
  let ns: bigint;
  try {
    ns = parseTime(v, nowMs, field);
  } catch (err) {
    if (!(err instanceof QueryParameterError)) throw err;
    const t = Date.parse(v);
    if (Number.isNaN(t))
      throw new ApiError(400, 'bad_request', `invalid field '${field}': not a time`, field);
    return t;
  }
  // Floored to the millisecond, as Date.parse drops the digits past it (also before 1970).
  const ms = ns / NS_PER_MS;
  return Number(ns % NS_PER_MS < 0n ? ms - 1n : ms);
}

export const HistoryParamsSchema = z.strictObject({
  from: z.string().optional(),
  to: z.string().optional(),
  ruleId: z.string().regex(ID).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(600).optional(),
});

export function createAlertsApi(deps: AlertsApiDeps) {
  const now = deps.now ?? Date.now;
  const maxBody = deps.maxBodyBytes ?? DEFAULT_ALERTS_MAX_BODY_BYTES;
  const historyMs = (deps.historyDays ?? 30) * 86_400_000;

  const meta = (extra: { nextCursor?: string | null; from?: number; to?: number } = {}) => {
    const t = now();
    return {
      from: new Date(extra.from ?? t).toISOString(),
      to: new Date(extra.to ?? t).toISOString(),
      tiers: [],
      nextCursor: extra.nextCursor ?? null,
    };
  };

  function parseBody(req: AlertsApiRequest): Record<string, unknown> {
    const text = req.body ?? '';
    if (Buffer.byteLength(text) > maxBody) {
      throw new ApiError(413, 'payload_too_large', `the body may be at most ${maxBody} bytes`);
    }
    const type = Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '';
    if (!/^application\/json\b/i.test(type)) {
      throw new ApiError(415, 'unsupported_media_type', 'send the body as application/json');
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError(400, 'bad_request', 'the body is not valid JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ApiError(400, 'bad_request', 'the body must be a JSON object');
    }
    return value as Record<string, unknown>;
  }

  async function fileOf(tenant: string): Promise<RuleFile | undefined> {
    return (await deps.files.load()).find((f) => f.tenant === tenant);
  }

  // --- rules -------------------------------------------------------------------------------------

  function ruleOut(v: ConfigVersion, shadowed = false) {
    return {
      ...v.body,
      source: 'api' as const,
      version: v.version,
      updatedAt: v.updatedAt,
      updatedBy: v.updatedBy,
      ...(shadowed && { shadowedBy: 'file' }),
    };
  }

  const fileRuleOut = (rule: AlertRule) => ({ ...ruleInput(rule), source: 'file' as const, version: 0 });

  async function validateRule(
    tenant: string,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const parsed = AlertRuleSchema.safeParse(body);
    if (!parsed.success) throw invalid(parsed.error);
    const [file, apiChannels] = await Promise.all([fileOf(tenant), deps.store.list(tenant, 'channel')]);
    const known = new Set([...Object.keys(file?.channels ?? {}), ...apiChannels.map((c) => c.id)]);
    parsed.data.channels.forEach((c, i) => {
      if (!known.has(c)) {
        throw new ApiError(
          400,
          'bad_request',
          `invalid field 'channels.${i}': unknown channel ${c}`,
          `channels.${i}`,
        );
      }
    });
    return body;
  }

  async function ensureNotFileOwned(tenant: string, kind: ConfigKind, id: string) {
    const file = await fileOf(tenant);
    const owned = kind === 'rule' ? file?.rules.some((r) => r.id === id) : file && id in file.channels;
    if (owned) {
      throw new ApiError(
        409,
        'file_owned',
        `${kind} ${id} is defined in the tenant's rule file, which takes precedence: change it there`,
      );
    }
  }

  function expectedVersion(req: AlertsApiRequest, current: number): number {
    const header = Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'if-match')?.[1];
    if (header === undefined) return current;
    const v = Number(header.replace(/"/g, ''));
    if (!Number.isInteger(v) || v < 1)
      throw new ApiError(400, 'bad_request', 'If-Match must be a version number');
    if (v !== current) throw new ApiError(409, 'conflict', `the current version is ${current}, not ${v}`);
    return v;
  }

  async function write(
    tenant: string,
    kind: ConfigKind,
    id: string,
    expected: number,
    body: Record<string, unknown>,
    by: string,
    deleted = false,
  ) {
    try {
      return await deps.store.put({
        tenant,
        kind,
        id,
        expectedVersion: expected,
        body,
        deleted,
        updatedAt: now(),
        updatedBy: by,
      });
    } catch (err) {
      if (err instanceof ConfigConflictError) throw new ApiError(409, 'conflict', err.message);
      throw err;
    }
  }

  async function current(tenant: string, kind: ConfigKind, id: string): Promise<ConfigVersion> {
    const v = await deps.store.get(tenant, kind, id);
    if (!v || v.deleted) throw new ApiError(404, 'not_found', `no ${kind} ${id}`);
    return v;
  }

  // --- channels ----------------------------------------------------------------------------------

  function channelOut(v: ConfigVersion) {
    const { secret, ...rest } = v.body;
    return {
      id: v.id,
      ...rest,
      ...(secret !== undefined && { secret: 'set' }),
      source: 'api' as const,
      version: v.version,
      updatedAt: v.updatedAt,
      updatedBy: v.updatedBy,
    };
  }

  const fileChannelOut = (id: string, c: Channel) => ({
    id,
    type: c.type,
    ...('topicArn' in c ? { topicArn: c.topicArn } : { secret: 'set' }),
    source: 'file' as const,
    version: 0,
  });

  /** Checks the secret's shape (and that its URLs are HTTPS) before it is stored: a typo fails now, not at 3 am. */
  function secretText(
    type: Exclude<Channel['type'], 'email'>,
    secret: string | Record<string, unknown>,
  ): string {
    const parsed = SECRET_SCHEMAS[type].safeParse(secret);
    if (!parsed.success) throw invalid(parsed.error, 'secret');
    if (!deps.allowHttpUrls) {
      for (const [k, v] of Object.entries(parsed.data as Record<string, unknown>)) {
        if ((k === 'url' || k === 'webhookUrl') && typeof v === 'string' && !v.startsWith('https://')) {
          const field = typeof secret === 'string' ? 'secret' : `secret.${k}`;
          throw new ApiError(400, 'bad_request', `invalid field '${field}': must be an https:// URL`, field);
        }
      }
    }
    return typeof secret === 'string' ? secret : JSON.stringify(secret);
  }

  async function saveChannel(
    tenant: string,
    id: string,
    body: Record<string, unknown>,
    previous: ConfigVersion | undefined,
    by: string,
    expected: number,
  ) {
    const parsed = ChannelBodySchema.safeParse(body);
    if (!parsed.success) throw invalid(parsed.error);
    const c = parsed.data as ChannelBody;
    if (c.id !== undefined && c.id !== id) {
      throw new ApiError(400, 'bad_request', `invalid field 'id': the path says ${id}`, 'id');
    }
    const stored: Record<string, unknown> = {
      type: c.type,
      ...(c.description && { description: c.description }),
    };
    if (c.type === 'email') {
      stored.topicArn = c.topicArn;
    } else if (c.secret !== undefined) {
      stored.secret = await deps.secrets.put(tenant, id, secretText(c.type, c.secret));
    } else if (previous && !previous.deleted && previous.body.type === c.type && previous.body.secret) {
      stored.secret = previous.body.secret; // written once: an update without a secret keeps it
    } else {
      throw new ApiError(
        400,
        'bad_request',
        `invalid field 'secret': a ${c.type} channel needs its secret`,
        'secret',
      );
    }
    return write(tenant, 'channel', id, expected, stored, by);
  }

  // --- silences ----------------------------------------------------------------------------------

  const silenceOut = (s: Silence, t: number) => {
    const { tenant: _t, ...rest } = s;
    return { ...rest, status: t < s.startsAt ? 'pending' : t < s.endsAt ? 'active' : 'expired' };
  };

  // --- dispatch ----------------------------------------------------------------------------------

  async function run(
    route: AlertsRoute,
    req: AlertsApiRequest,
    params: Record<string, string>,
    tenant: string,
    by: string,
  ): Promise<{ status: number; body: unknown }> {
    const id = params.id ?? '';
    const ok = (data: unknown, status = 200, m = meta()) => ({ status, body: { data, meta: m } });
    switch (route.operationId) {
      case 'listRules': {
        const [file, api] = await Promise.all([fileOf(tenant), deps.store.list(tenant, 'rule')]);
        const fileIds = new Set(file?.rules.map((r) => r.id));
        return ok([
          ...(file?.rules ?? []).map(fileRuleOut),
          ...api.map((v) => ruleOut(v, fileIds.has(v.id))),
        ]);
      }
      case 'getRule': {
        const fileRule = (await fileOf(tenant))?.rules.find((r) => r.id === id);
        if (fileRule) return ok(fileRuleOut(fileRule));
        return ok(ruleOut(await current(tenant, 'rule', id)));
      }
      case 'createRule': {
        const body = parseBody(req);
        const parsedId = typeof body.id === 'string' ? body.id : '';
        const rule = await validateRule(tenant, body);
        await ensureNotFileOwned(tenant, 'rule', parsedId);
        const prev = await deps.store.get(tenant, 'rule', parsedId);
        if (prev && !prev.deleted)
          throw new ApiError(409, 'exists', `rule ${parsedId} exists: PUT it to change it`);
        return ok(ruleOut(await write(tenant, 'rule', parsedId, prev?.version ?? 0, rule, by)), 201);
      }
      case 'updateRule': {
        const body = parseBody(req);
        if (body.id === undefined) body.id = id;
        if (body.id !== id)
          throw new ApiError(400, 'bad_request', `invalid field 'id': the path says ${id}`, 'id');
        await ensureNotFileOwned(tenant, 'rule', id);
        const prev = await current(tenant, 'rule', id);
        const expected = expectedVersion(req, prev.version);
        const rule = await validateRule(tenant, body);
        return ok(ruleOut(await write(tenant, 'rule', id, expected, rule, by)));
      }
      case 'deleteRule': {
        await ensureNotFileOwned(tenant, 'rule', id);
        const prev = await current(tenant, 'rule', id);
        const v = await write(tenant, 'rule', id, expectedVersion(req, prev.version), prev.body, by, true);
        return ok({ id, version: v.version, deleted: true });
      }
      case 'ruleVersions':
      case 'channelVersions': {
        const kind = route.operationId === 'ruleVersions' ? 'rule' : 'channel';
        const versions = await deps.store.versions(tenant, kind, id);
        if (versions.length === 0)
          throw new ApiError(404, 'not_found', `no ${kind} ${id} made through the API`);
        return ok(
          versions.map((v) => ({
            ...(kind === 'rule' ? ruleOut(v) : channelOut(v)),
            deleted: v.deleted,
          })),
        );
      }
      case 'listChannels': {
        const [file, api] = await Promise.all([fileOf(tenant), deps.store.list(tenant, 'channel')]);
        const fileChannels = Object.entries(file?.channels ?? {});
        const fileIds = new Set(fileChannels.map(([k]) => k));
        return ok([
          ...fileChannels.map(([k, c]) => fileChannelOut(k, c)),
          ...api.map((v) => ({ ...channelOut(v), ...(fileIds.has(v.id) && { shadowedBy: 'file' }) })),
        ]);
      }
      case 'getChannel': {
        const fileChannel = (await fileOf(tenant))?.channels[id];
        if (fileChannel) return ok(fileChannelOut(id, fileChannel));
        return ok(channelOut(await current(tenant, 'channel', id)));
      }
      case 'createChannel': {
        const body = parseBody(req);
        const newId = typeof body.id === 'string' ? body.id : '';
        if (!ID.test(newId)) {
          throw new ApiError(
            400,
            'bad_request',
            `invalid field 'id': lower-case letters, digits, ".", "_" or "-" (up to 128)`,
            'id',
          );
        }
        await ensureNotFileOwned(tenant, 'channel', newId);
        const prev = await deps.store.get(tenant, 'channel', newId);
        if (prev && !prev.deleted)
          throw new ApiError(409, 'exists', `channel ${newId} exists: PUT it to change it`);
        return ok(channelOut(await saveChannel(tenant, newId, body, undefined, by, prev?.version ?? 0)), 201);
      }
      case 'updateChannel': {
        const body = parseBody(req);
        await ensureNotFileOwned(tenant, 'channel', id);
        const prev = await current(tenant, 'channel', id);
        return ok(
          channelOut(await saveChannel(tenant, id, body, prev, by, expectedVersion(req, prev.version))),
        );
      }
      case 'deleteChannel': {
        await ensureNotFileOwned(tenant, 'channel', id);
        const prev = await current(tenant, 'channel', id);
        const users = (await deps.store.list(tenant, 'rule')).filter((r) =>
          Array.isArray(r.body.channels) ? (r.body.channels as unknown[]).includes(id) : false,
        );
        if (users.length > 0) {
          throw new ApiError(
            409,
            'in_use',
            `channel ${id} is used by rule(s) ${users.map((u) => u.id).join(', ')}`,
          );
        }
        const v = await write(tenant, 'channel', id, expectedVersion(req, prev.version), prev.body, by, true);
        return ok({ id, version: v.version, deleted: true });
      }
      case 'listSilences': {
        const all = req.query.all === 'true';
        const t = now();
        const silences = await deps.store.listSilences(tenant, all ? undefined : t);
        return ok(silences.map((s) => silenceOut(s, t)));
      }
      case 'getSilence': {
        const s = await deps.store.getSilence(tenant, id);
        if (!s) throw new ApiError(404, 'not_found', `no silence ${id}`);
        return ok(silenceOut(s, now()));
      }
      case 'createSilence': {
        const parsed = SilenceBodySchema.safeParse(parseBody(req));
        if (!parsed.success) throw invalid(parsed.error);
        const b = parsed.data;
        const t = now();
        const startsAt = b.startsAt === undefined ? t : silenceTime(b.startsAt, t, 'startsAt');
        let endsAt: number;
        if (b.duration !== undefined) {
          const m = /^(\d{1,6})([smhd])$/.exec(b.duration);
          if (!m)
            throw new ApiError(400, 'bad_request', `invalid field 'duration': e.g. 30m, 2h, 1d`, 'duration');
          endsAt = startsAt + Number(m[1]) * UNIT[m[2]!]!;
        } else endsAt = silenceTime(b.endsAt!, t, 'endsAt');
        if (endsAt <= Math.max(startsAt, t)) {
          throw new ApiError(
            400,
            'bad_request',
            `invalid field 'endsAt': must be after startsAt and now`,
            'endsAt',
          );
        }
        if (endsAt - startsAt > MAX_SILENCE_MS) {
          throw new ApiError(
            400,
            'bad_request',
            `invalid field 'endsAt': a silence lasts at most 90 days`,
            'endsAt',
          );
        }
        const silence: Silence = {
          tenant,
          id: randomUUID(),
          ...(b.ruleId !== undefined && { ruleId: b.ruleId }),
          matchers: b.matchers,
          startsAt,
          endsAt,
          reason: b.reason,
          author: b.author ?? by,
          createdAt: t,
          createdBy: by,
        };
        await deps.store.putSilence(silence);
        return ok(silenceOut(silence, t), 201);
      }
      case 'expireSilence': {
        const s = await deps.store.getSilence(tenant, id);
        if (!s) throw new ApiError(404, 'not_found', `no silence ${id}`);
        const t = now();
        if (s.endsAt <= t) return ok(silenceOut(s, t));
        const expired: Silence = { ...s, endsAt: Math.max(s.startsAt, t), expiredAt: t };
        await deps.store.putSilence(expired);
        return ok(silenceOut(expired, t));
      }
      case 'alertState': {
        const [file, api] = await Promise.all([fileOf(tenant), deps.store.list(tenant, 'rule')]);
        const fileIds = new Set(file?.rules.map((r) => r.id));
        const rules: { id: string; name: string; labels: Record<string, string> }[] = [
          ...(file?.rules ?? []).map((r) => ({ id: r.id, name: r.name, labels: r.labels })),
          ...api
            .filter((v) => !fileIds.has(v.id))
            .map((v) => ({
              id: v.id,
              name: String(v.body.name ?? v.id),
              labels: (v.body.labels ?? {}) as Record<string, string>,
            })),
        ];
        const rows = await Promise.all(
          rules.map(async (rule) =>
            (await deps.state.load(tenant, rule.id)).map((s) => ({
              ruleId: rule.id,
              ruleName: rule.name,
              labels: { ...rule.labels, ...s.series },
              state: externalState(s.status),
              value: s.value ?? null,
              threshold: s.last?.threshold ?? null,
              since:
                s.status === 'firing'
                  ? (s.firingSince ?? s.evaluatedAt)
                  : s.status === 'pending'
                    ? (s.activeSince ?? s.evaluatedAt)
                    : (s.resolvedAt ?? s.evaluatedAt),
              ...(s.muted && { silenced: true }),
            })),
          ),
        );
        return ok(rows.flat());
      }
      case 'alertHistory': {
        const parsed = HistoryParamsSchema.safeParse(req.query);
        if (!parsed.success) throw invalid(parsed.error);
        const p = parsed.data;
        let range: { fromNs: bigint; toNs: bigint };
        try {
          range = resolveRange(p.from, p.to, now(), {
            defaultLookbackMs: 86_400_000,
            maxRangeMs: historyMs,
          });
        } catch (err) {
          if (err instanceof QueryParameterError)
            throw new ApiError(400, 'bad_request', err.message, err.parameter);
          throw err;
        }
        const fromMs = Number(range.fromNs / 1_000_000n);
        const toMs = Number(range.toNs / 1_000_000n);
        let page: Awaited<ReturnType<AlertHistoryStore['query']>>;
        try {
          page = await deps.history.query({
            tenant,
            fromMs,
            toMs,
            limit: p.limit,
            ...(p.ruleId !== undefined && { ruleId: p.ruleId }),
            ...(p.cursor !== undefined && { cursor: p.cursor }),
          });
        } catch (err) {
          if (err instanceof HistoryCursorError)
            throw new ApiError(400, 'bad_request', `invalid parameter 'cursor'`, 'cursor');
          throw err;
        }
        return ok(
          page.entries.map((e) => ({
            at: e.at,
            ruleId: e.ruleId,
            ruleName: e.ruleName,
            labels: e.labels,
            from: e.from,
            to: e.to,
            value: e.value,
            threshold: e.threshold,
            windowMs: e.windowMs,
            ...(e.link && { link: e.link }),
            ...(e.silenced && { silenced: true }),
          })),
          200,
          meta({ from: fromMs, to: toMs, nextCursor: page.nextCursor }),
        );
      }
    }
  }

  const error = (status: number, code: string, message: string, field?: string) => ({
    status,
    headers: JSON_HEADERS,
    body: { error: { code, message, ...(field !== undefined && { field }) } },
  });

  return async function handle(req: AlertsApiRequest): Promise<AlertsApiResponse> {
    const { routes, pathParameters } = matchAlertsPath(req.path);
    if (routes.length === 0) return { ...error(404, 'not_found', 'Not Found'), log: {} };
    const method = req.method.toUpperCase();
    const route = routes.find((r) => r.method === method);
    if (!route) {
      const allow = routes.map((r) => r.method).join(', ');
      return {
        ...error(405, 'method_not_allowed', 'Method Not Allowed'),
        headers: { ...JSON_HEADERS, allow },
        log: {},
      };
    }
    const operation = route.operationId;
    const admission = await admit(deps, req.headers, {
      scope: route.scope,
      deniedAction: route.scope === 'admin' ? 'change alerting' : 'read alerting',
      limitName: 'request rate limit',
    });
    if (!admission.ok) {
      return {
        ...error(admission.status, admission.code, admission.message),
        headers: { ...JSON_HEADERS, ...admission.headers },
        log: { operation, ...(admission.tenant !== undefined && { tenant: admission.tenant }) },
      };
    }
    const { info } = admission;
    const tenant = info.tenantId;
    try {
      const r = await run(route, req, pathParameters, tenant, info.keyId);
      return { status: r.status, headers: JSON_HEADERS, body: r.body, log: { operation, tenant } };
    } catch (err) {
      if (err instanceof ApiError)
        return { ...error(err.status, err.code, err.message, err.field), log: { operation, tenant } };
      throw err;
    }
  };
}

export type AlertsApi = ReturnType<typeof createAlertsApi>;

/** Method and path of every route, for API Gateway and local mode. */
export const alertsRoutes = ALERTS_ROUTES.map((r) => ({ method: r.method, path: r.path }));
