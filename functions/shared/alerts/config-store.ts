import type { SeriesLabels } from './queries.js';

/**
 * Alert configuration written through the API (/v1/alerts/...): rules, channels and silences per
 * tenant, and the transition history. Ports only; the DynamoDB adapters are in
 * dynamo-alert-config-store.ts. Rule files (rule-source.ts) stay the other source; see
 * api-rule-source.ts for how both merge.
 */

export type ConfigKind = 'rule' | 'channel';

/** One stored version of a rule or channel. `body` is what the caller sent (validated), secrets excluded. */
export interface ConfigVersion {
  readonly tenant: string;
  readonly kind: ConfigKind;
  readonly id: string;
  /** 1 for the creation, then +1 per change (a deletion is a version too). */
  readonly version: number;
  /** The rule (input form: durations as written, `5m`) or the channel (type, secret reference, topicArn). */
  readonly body: Readonly<Record<string, unknown>>;
  readonly deleted: boolean;
  /** Epoch ms. */
  readonly updatedAt: number;
  /** The API key id (or name given) that made the change. */
  readonly updatedBy: string;
}

export interface ConfigWrite {
  readonly tenant: string;
  readonly kind: ConfigKind;
  readonly id: string;
  /** The version this write replaces (0 to create): a concurrent change makes the write fail. */
  readonly expectedVersion: number;
  readonly body: Readonly<Record<string, unknown>>;
  readonly deleted?: boolean;
  readonly updatedAt: number;
  readonly updatedBy: string;
}

export interface Silence {
  readonly tenant: string;
  readonly id: string;
  /** Mutes this rule's series (with `matchers`: those of them that match). */
  readonly ruleId?: string;
  /** Exact label matches against the alert's labels (rule labels and series labels). */
  readonly matchers: Readonly<Record<string, string>>;
  /** Epoch ms. */
  readonly startsAt: number;
  readonly endsAt: number;
  readonly reason: string;
  /** Who asked: a name given, else the API key id. */
  readonly author: string;
  readonly createdAt: number;
  /** The key id that created it. */
  readonly createdBy: string;
  /** Set when expired early through the API. */
  readonly expiredAt?: number;
}

export type ExternalState = 'ok' | 'pending' | 'firing';

/** One state change of one series, as the history keeps it. */
export interface HistoryEntry {
  readonly tenant: string;
  /** Epoch ms of the evaluation that made the change. */
  readonly at: number;
  readonly ruleId: string;
  readonly ruleName: string;
  readonly series: SeriesLabels;
  /** The rule's labels and the series', merged (as in events). */
  readonly labels: Readonly<Record<string, string>>;
  readonly from: ExternalState;
  readonly to: ExternalState;
  readonly value: number | null;
  readonly threshold: number | null;
  readonly windowMs: number | null;
  /** The console (or query API) page of the data behind the value. */
  readonly link?: string;
  /** A silence muted the notification of this change. */
  readonly silenced?: boolean;
}

export interface HistoryQuery {
  readonly tenant: string;
  readonly fromMs: number;
  readonly toMs: number;
  readonly ruleId?: string;
  readonly limit: number;
  /** Opaque position returned by the previous page. */
  readonly cursor?: string;
}

export interface HistoryPage {
  /** Newest first. */
  readonly entries: HistoryEntry[];
  readonly nextCursor: string | null;
}

/** A write lost to a concurrent change (or the entity does not exist at that version): 409. */
export class ConfigConflictError extends Error {
  override readonly name = 'ConfigConflictError';
}

/** The history cursor is not one this store made. */
export class HistoryCursorError extends Error {
  override readonly name = 'HistoryCursorError';
}

export interface AlertConfigStore {
  /** The current version of one rule or channel, deleted ones included; undefined if never written. */
  get(tenant: string, kind: ConfigKind, id: string): Promise<ConfigVersion | undefined>;
  /** Current, not deleted, rules or channels of a tenant, by id. */
  list(tenant: string, kind: ConfigKind): Promise<ConfigVersion[]>;
  /** Every tenant's current, not deleted, rules and channels (the evaluator's read). */
  listAll(): Promise<ConfigVersion[]>;
  /** Every version of one rule or channel, newest first. */
  versions(tenant: string, kind: ConfigKind, id: string): Promise<ConfigVersion[]>;
  /** Writes the next version; throws ConfigConflictError when `expectedVersion` is not the latest. */
  put(write: ConfigWrite): Promise<ConfigVersion>;

  putSilence(silence: Silence): Promise<void>;
  getSilence(tenant: string, id: string): Promise<Silence | undefined>;
  /** A tenant's silences, those ended before `endedAfter` (epoch ms) left out when given. */
  listSilences(tenant: string, endedAfter?: number): Promise<Silence[]>;
}

/** Silences in force for a tenant at a time: what the evaluator asks once per tenant and round. */
export interface SilenceSource {
  active(tenant: string, now: number): Promise<readonly Silence[]>;
}

/**
 * One evaluation's view of the silences: each tenant's active ones at `now`, read at most once
 * however many of its rules the evaluation decides (both evaluators, per round or window).
 */
export function silencesAt(
  source: SilenceSource | undefined,
  now: number,
): (tenant: string) => Promise<readonly Silence[]> {
  const read = new Map<string, Promise<readonly Silence[]>>();
  return (tenant) => {
    if (!source) return Promise.resolve([]);
    let p = read.get(tenant);
    if (!p) {
      p = source.active(tenant, now);
      read.set(tenant, p);
    }
    return p;
  };
}

export interface AlertHistoryStore {
  record(entries: readonly HistoryEntry[]): Promise<void>;
  query(q: HistoryQuery): Promise<HistoryPage>;
}

/** Whether a silence mutes an alert of `ruleId` with `labels` at `now`. */
export function silenceMatches(
  silence: Silence,
  ruleId: string,
  labels: Readonly<Record<string, string>>,
  now: number,
): boolean {
  if (now < silence.startsAt || now >= silence.endsAt) return false;
  if (silence.ruleId !== undefined && silence.ruleId !== ruleId) return false;
  return Object.entries(silence.matchers).every(([k, v]) => labels[k] === v);
}

/** The console's three states: `resolved` is a moment of `ok`. */
export function externalState(status: 'ok' | 'pending' | 'firing' | 'resolved'): ExternalState {
  return status === 'resolved' ? 'ok' : status;
}
