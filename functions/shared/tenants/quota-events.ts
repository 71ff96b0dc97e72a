import type { PutEventsCommand, PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import type { QuotaWarningDetail } from './quota-event-schema.js';
import { QUOTA_WARNING_FRACTION, type QuotaWarning, quotaResetAt } from './quotas.js';

/**
 * The warning event a tenant's daily quota sends at QUOTA_WARNING_FRACTION, on the alert bus
 * (EventBridge in AWS, local/event-bus.ts locally): source `otlp.quotas`, detail-type
 * `QuotaWarning`. A bus rule matching them routes them to a notifier or an operator's inbox.
 */
export const QUOTA_EVENT_SOURCE = 'otlp.quotas';
export const QUOTA_WARNING = 'QuotaWarning';

export type { QuotaWarningDetail };

export function quotaWarningDetail(tenant: string, w: QuotaWarning, nowMs: number): QuotaWarningDetail {
  const pct = Math.round(QUOTA_WARNING_FRACTION * 100);
  return {
    schemaVersion: 1,
    tenant,
    quota: w.quota,
    limit: w.limit,
    used: w.used,
    fraction: QUOTA_WARNING_FRACTION,
    day: w.day,
    resetsAt: quotaResetAt(nowMs),
    summary: `tenant ${tenant} has used ${w.used} of its daily ${w.quota === 'items' ? 'item' : 'byte'} quota of ${w.limit} (over ${pct}%) on ${w.day}`,
  };
}

/** Where quota warnings go. */
export interface QuotaEventSink {
  warn(detail: QuotaWarningDetail): Promise<void>;
}

/** The part of the EventBridge client the sink uses. */
export interface PutEventsClient {
  send(command: PutEventsCommand): Promise<PutEventsCommandOutput>;
}

/**
 * Quota warnings onto an EventBridge bus (the alert bus). The client comes from a factory called on
 * the first warning: the ingest imports the SDK client lazily (from the Lambda runtime), so a path
 * taken once per tenant and day adds nothing to its bundle or its cold start.
 */
export class EventBridgeQuotaEventSink implements QuotaEventSink {
  private client: Promise<PutEventsClient> | undefined;

  constructor(
    private readonly clientFactory: () => Promise<PutEventsClient>,
    private readonly busName: string,
  ) {}

  async warn(detail: QuotaWarningDetail): Promise<void> {
    this.client ??= this.clientFactory().catch((err: unknown) => {
      this.client = undefined;
      throw err;
    });
    const { PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
    const out = await (await this.client).send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.busName,
            Source: QUOTA_EVENT_SOURCE,
            DetailType: QUOTA_WARNING,
            Detail: JSON.stringify(detail),
          },
        ],
      }),
    );
    if (out.FailedEntryCount) {
      const e = out.Entries?.[0];
      throw new Error(
        `quota warning not accepted by the bus: ${e?.ErrorCode ?? ''} ${e?.ErrorMessage ?? ''}`,
      );
    }
  }
}

/**
 * At most one warning per (tenant, quota, day) from this process, whatever the limiter says: the
 * in-process limiter warns per instance, and a refused request's give-back can make the DynamoDB
 * counter cross the threshold twice. Bounded: forgets the oldest past `maxEntries`.
 */
export class OncePerDayQuotaEventSink implements QuotaEventSink {
  private readonly sent = new Set<string>();
  constructor(
    private readonly inner: QuotaEventSink,
    private readonly maxEntries = 10_000,
  ) {}

  async warn(detail: QuotaWarningDetail): Promise<void> {
    const key = `${detail.tenant}#${detail.quota}#${detail.day}`;
    if (this.sent.has(key)) return;
    this.sent.add(key);
    if (this.sent.size > this.maxEntries) {
      const oldest = this.sent.values().next();
      if (!oldest.done) this.sent.delete(oldest.value);
    }
    try {
      await this.inner.warn(detail);
    } catch (err) {
      this.sent.delete(key); // the next request crossing (none, usually) may try again
      throw err;
    }
  }
}
