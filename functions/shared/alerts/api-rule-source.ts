import type { ConfigVersion } from './config-store.js';
import type { RuleSource } from './rule-source.js';
import { type AlertRule, AlertRuleSchema, CHANNEL_TYPES, type Channel, type RuleFile } from './rules.js';

/**
 * Rule files and rules made through the API, merged per tenant.
 *
 * Precedence: **the file wins** on the same id (rule or channel) in the same tenant. Files are the
 * reviewed, deployed configuration (GitOps); a rule in Git must not be silently replaced by an API
 * call, and rolling back a deploy must roll back the rule. The API refuses to create or change an
 * id a file defines (409), so a shadowed API rule only exists when a file adopts an id later (e.g.
 * after `npm run alerts -- export`): it is then listed as `shadowedBy: file` and not evaluated.
 */

export interface MergeReport {
  readonly files: RuleFile[];
  /** `tenant/kind/id` of API entries a file overrides. */
  readonly shadowed: string[];
  /** API entries that no longer validate (a schema change): skipped, with the reason. */
  readonly invalid: { readonly key: string; readonly reason: string }[];
}

/** An API-stored channel body as the evaluator routes it (the secret is a reference). */
export function channelOf(body: Readonly<Record<string, unknown>>): Channel | undefined {
  const type = body.type;
  if (typeof type !== 'string' || !(CHANNEL_TYPES as readonly string[]).includes(type)) return undefined;
  if (type === 'email') {
    return typeof body.topicArn === 'string' ? { type, topicArn: body.topicArn } : undefined;
  }
  return typeof body.secret === 'string' ? ({ type, secret: body.secret } as Channel) : undefined;
}

export function mergeRules(files: readonly RuleFile[], api: readonly ConfigVersion[]): MergeReport {
  const byTenant = new Map<string, { rules: AlertRule[]; channels: Record<string, Channel> }>();
  const fileIds = new Map<string, { rules: Set<string>; channels: Set<string> }>();
  for (const f of files) {
    byTenant.set(f.tenant, { rules: [...f.rules], channels: { ...f.channels } });
    fileIds.set(f.tenant, {
      rules: new Set(f.rules.map((r) => r.id)),
      channels: new Set(Object.keys(f.channels)),
    });
  }
  const shadowed: string[] = [];
  const invalid: { key: string; reason: string }[] = [];
  const sorted = [...api].filter((v) => !v.deleted).sort((a, b) => a.id.localeCompare(b.id));
  for (const v of sorted) {
    const key = `${v.tenant}/${v.kind}/${v.id}`;
    const owned = fileIds.get(v.tenant);
    if (v.kind === 'rule' ? owned?.rules.has(v.id) : owned?.channels.has(v.id)) {
      shadowed.push(key);
      continue;
    }
    let tenant = byTenant.get(v.tenant);
    if (!tenant) {
      tenant = { rules: [], channels: {} };
      byTenant.set(v.tenant, tenant);
    }
    if (v.kind === 'channel') {
      const channel = channelOf(v.body);
      if (channel) tenant.channels[v.id] = channel;
      else invalid.push({ key, reason: 'not a channel' });
      continue;
    }
    const parsed = AlertRuleSchema.safeParse(v.body);
    if (parsed.success) tenant.rules.push(parsed.data);
    else invalid.push({ key, reason: parsed.error.issues[0]?.message ?? 'invalid' });
  }
  return {
    files: [...byTenant.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([tenant, t]) => ({ tenant, channels: t.channels, rules: t.rules })),
    shadowed,
    invalid,
  };
}

export interface MergedRuleSourceOptions {
  /** How long one read of the API store serves evaluations. @default 30_000 */
  readonly ttlMs?: number;
  readonly clock?: () => number;
  /** Told about API entries skipped (shadowed by a file, or no longer valid). */
  readonly onSkipped?: (report: MergeReport) => void;
}

/**
 * The evaluator's rules: the files (read once per container) and the API store (scanned at most
 * once per `ttlMs`, so a change through the API is evaluated within a round or two). A failed read
 * of the store fails the load: evaluating without the API rules would resolve their alerts.
 */
export class MergedRuleSource implements RuleSource {
  private cached: { at: number; files: Promise<readonly RuleFile[]> } | undefined;
  private readonly ttlMs: number;
  private readonly clock: () => number;

  constructor(
    private readonly files: RuleSource,
    private readonly store: { listAll(): Promise<ConfigVersion[]> },
    private readonly options: MergedRuleSourceOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.clock = options.clock ?? Date.now;
  }

  load(): Promise<readonly RuleFile[]> {
    const now = this.clock();
    if (this.cached && now - this.cached.at < this.ttlMs) return this.cached.files;
    const files = (async () => {
      const [fromFiles, fromApi] = await Promise.all([this.files.load(), this.store.listAll()]);
      const report = mergeRules(fromFiles, fromApi);
      if (report.shadowed.length > 0 || report.invalid.length > 0) this.options.onSkipped?.(report);
      return report.files;
    })();
    const entry = { at: now, files };
    this.cached = entry;
    files.catch(() => {
      if (this.cached === entry) this.cached = undefined;
    });
    return files;
  }
}
