import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBridgeEventPublisher } from '../../../../functions/shared/alerts/eventbridge-event-publisher.js';
import { type AlertEvent, EventPublishError } from '../../../../functions/shared/alerts/events.js';
import { FAKE_AWS, type FakeAwsEndpoint, startFakeAwsEndpoint } from '../../../support/fake-aws-endpoint.js';

const event = (i: number): AlertEvent =>
  ({
    source: 'otlp.alerts',
    detailType: 'AlertFiring',
    time: '2026-12-07T10:00:00.000Z',
    detail: { transitionId: `t${i}` },
  }) as unknown as AlertEvent;

interface Entry {
  readonly Detail: string;
  readonly EventBusName: string;
  readonly DetailType: string;
}

let endpoint: FakeAwsEndpoint | undefined;
afterEach(async () => {
  await endpoint?.close();
  endpoint = undefined;
});

/** A mocked EventBridge: `fail(attempt, entry)` names the entries it rejects on each PutEvents. */
async function bus(fail: (call: number, transitionId: string) => string | undefined) {
  let call = 0;
  endpoint = await startFakeAwsEndpoint(({ body }) => {
    call++;
    const entries = (JSON.parse(body) as { Entries: Entry[] }).Entries;
    const results = entries.map((e) => {
      const code = fail(call, (JSON.parse(e.Detail) as { transitionId: string }).transitionId);
      return code ? { ErrorCode: code, ErrorMessage: 'try again' } : { EventId: `id-${call}` };
    });
    return {
      body: JSON.stringify({
        FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length,
        Entries: results,
      }),
    };
  });
  const client = new EventBridgeClient({ ...FAKE_AWS, endpoint: endpoint.url, maxAttempts: 1 });
  const sent = () =>
    endpoint!.requests.map((r) =>
      (JSON.parse(r.body) as { Entries: Entry[] }).Entries.map(
        (e) => (JSON.parse(e.Detail) as { transitionId: string }).transitionId,
      ),
    );
  return { publisher: new EventBridgeEventPublisher(client, 'alerts-bus', { retryDelayMs: 1 }), sent };
}

describe('EventBridge publisher (mocked EventBridge behind the real SDK client)', () => {
  it('sends at most 10 entries per PutEvents, to the named bus, in order', async () => {
    const b = await bus(() => undefined);
    await b.publisher.publish(Array.from({ length: 23 }, (_, i) => event(i)));
    expect(b.sent().map((c) => c.length)).toEqual([10, 10, 3]);
    expect(b.sent().flat()).toEqual(Array.from({ length: 23 }, (_, i) => `t${i}`));
    const first = JSON.parse(endpoint!.requests[0]!.body) as { Entries: Entry[] };
    expect(first.Entries[0]).toMatchObject({ EventBusName: 'alerts-bus', DetailType: 'AlertFiring' });
    expect(endpoint!.requests[0]!.headers['x-amz-target']).toBe('AWSEvents.PutEvents');
  });

  it('retries only the entries the bus rejected, until they are accepted', async () => {
    // t1 is throttled twice, t3 once; the others are accepted at once.
    const b = await bus((call, id) =>
      (id === 't1' && call <= 2) || (id === 't3' && call === 1) ? 'ThrottlingException' : undefined,
    );
    await b.publisher.publish([0, 1, 2, 3].map(event));
    expect(b.sent()).toEqual([['t0', 't1', 't2', 't3'], ['t1', 't3'], ['t1']]);
  });

  it('throws EventPublishError naming the last error after its attempts, so the caller keeps the outbox', async () => {
    const b = await bus((_, id) => (id === 't2' ? 'InternalFailure' : undefined));
    const publishing = b.publisher.publish([1, 2].map(event));
    await expect(publishing).rejects.toBeInstanceOf(EventPublishError);
    await expect(publishing).rejects.toThrow(
      /1 alert event\(s\) not accepted by the bus \(InternalFailure: try again\)/,
    );
    // The default 4 attempts: the first with both entries, three retries of the rejected one.
    expect(b.sent()).toEqual([['t1', 't2'], ['t2'], ['t2'], ['t2']]);
  });
});
