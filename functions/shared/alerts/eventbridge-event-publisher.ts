import { PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { PutEventsClient } from '../tenants/quota-events.js';
import { type AlertEvent, EventPublishError, type EventPublisher } from './events.js';

/** PutEvents takes at most 10 entries per call. */
const MAX_ENTRIES = 10;

export interface EventBridgeEventPublisherOptions {
  /** Attempts for entries PutEvents reports as failed (throttling, internal errors). @default 4 */
  readonly attempts?: number;
  /** Delay before the 2nd attempt, doubled after. @default 100 */
  readonly retryDelayMs?: number;
}

/** Alert events onto a custom EventBridge bus; entries the bus rejects are retried, then thrown. */
export class EventBridgeEventPublisher implements EventPublisher {
  private readonly attempts: number;
  private readonly retryDelayMs: number;

  constructor(
    /** EventBridge's client, or local mode's in-process bus speaking the same PutEvents. */
    private readonly client: PutEventsClient,
    private readonly busName: string,
    options: EventBridgeEventPublisherOptions = {},
  ) {
    this.attempts = Math.max(1, options.attempts ?? 4);
    this.retryDelayMs = options.retryDelayMs ?? 100;
  }

  async publish(events: readonly AlertEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += MAX_ENTRIES) {
      await this.putBatch(events.slice(i, i + MAX_ENTRIES).map((e) => this.entry(e)));
    }
  }

  private entry(event: AlertEvent): PutEventsRequestEntry {
    return {
      EventBusName: this.busName,
      Source: event.source,
      DetailType: event.detailType,
      Time: new Date(event.time),
      Detail: JSON.stringify(event.detail),
    };
  }

  private async putBatch(entries: PutEventsRequestEntry[]): Promise<void> {
    let pending = entries;
    let lastError = '';
    for (let attempt = 0; attempt < this.attempts && pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.retryDelayMs * 2 ** (attempt - 1)));
      const out = await this.client.send(new PutEventsCommand({ Entries: pending }));
      if (!out.FailedEntryCount) return;
      // Results line up with the request's entries; failed ones carry an ErrorCode.
      const failed: PutEventsRequestEntry[] = [];
      (out.Entries ?? []).forEach((result, i) => {
        if (result.ErrorCode && pending[i]) {
          failed.push(pending[i]);
          lastError = `${result.ErrorCode}: ${result.ErrorMessage ?? ''}`;
        }
      });
      pending = failed;
    }
    if (pending.length > 0) {
      throw new EventPublishError(`${pending.length} alert event(s) not accepted by the bus (${lastError})`);
    }
  }
}
