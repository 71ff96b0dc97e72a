import { describe, expect, it } from 'vitest';
import { packEnvelopes } from '../../../../functions/shared/envelope/envelope.js';
import { flatten } from '../../../../functions/shared/rows/flatten.js';
import { logRecord, logs, metric, metrics, numberPoint, RECV, span, traces } from './model-builders.js';

/**
 * flatten counts the rows it gave the receive time (`timesFilled`); the receiver tells packing
 * when there are none, so packing skips looking for the receive time in every time column.
 */

const TENANT = 'acme';

describe('timesFilled', () => {
  it('counts the spans, log records and data points that got the receive time, and only those', () => {
    const t = flatten({
      tenant: TENANT,
      otlp: traces([span(), span({ startTimeUnixNano: '0' }), span({ startTimeUnixNano: '0' })]),
      receivedAtNs: RECV,
    });
    expect(t.timesFilled).toBe(2);
    expect(t.batches[0]!.columns.Timestamp!.filter((x) => x === RECV)).toHaveLength(2);

    // A log record without a time takes its observed time, and the receive time only without both.
    const l = flatten({
      tenant: TENANT,
      otlp: logs([
        logRecord(),
        logRecord({ timeUnixNano: '0' }),
        logRecord({ timeUnixNano: '0', observedTimeUnixNano: '0' }),
      ]),
      receivedAtNs: RECV,
    });
    expect(l.timesFilled).toBe(1);

    const m = flatten({
      tenant: TENANT,
      otlp: metrics([
        metric('g', { type: 'gauge', dataPoints: [numberPoint(), numberPoint({ timeUnixNano: '0' })] }),
      ]),
      receivedAtNs: RECV,
    });
    expect(m.timesFilled).toBe(1);

    const none = flatten({ tenant: TENANT, otlp: traces([span(), span()]), receivedAtNs: RECV });
    expect(none.timesFilled).toBe(0);
  });

  it('packs the same envelopes whether or not packing is told that no row carries the receive time', () => {
    const spans = Array.from({ length: 300 }, (_, i) => span({ name: `op ${i % 7}` }));
    const flat = flatten({ tenant: TENANT, otlp: traces(spans), receivedAtNs: RECV });
    expect(flat.timesFilled).toBe(0);
    const identity = { request: 'cd'.repeat(16), firstOrdinal: 0, receivedAtNs: RECV };
    for (const maxBytes of [undefined, 4096]) {
      const looked = packEnvelopes(TENANT, 'traces', flat.batches, { maxBytes }, identity);
      const told = packEnvelopes(
        TENANT,
        'traces',
        flat.batches,
        { maxBytes },
        { ...identity, timesFilled: false },
      );
      expect(told.length).toBe(looked.length);
      expect(told.map((e) => Buffer.from(e.data).toString('base64'))).toEqual(
        looked.map((e) => Buffer.from(e.data).toString('base64')),
      );
    }
  });
});
