import { describe, expect, it } from 'vitest';
import { logsRequest, metricsRequest, rng, traceRequest } from '../../../../bench/workload.js';
import { decodeOtlp, OtlpDecodeError, type OtlpFormat } from '../../../../functions/shared/otlp/decode.js';
import type { Signal } from '../../../../functions/shared/schema/columns.js';
import { fixture, fixtureNames } from '../../../support/fixtures.js';
import { signalOf } from './support.js';

/** One seeded mutation: flip bits, truncate, insert random bytes, splice in a slice of itself. */
function mutate(src: Uint8Array, next: () => number): Uint8Array {
  const at = (n: number) => Math.floor(next() * n);
  const b = Uint8Array.from(src);
  switch (at(5)) {
    case 0: {
      for (let k = 1 + at(4); k > 0; k--) {
        const i = at(b.length);
        b[i] = b[i]! ^ (1 << at(8));
      }
      return b;
    }
    case 1:
      return b.subarray(0, at(b.length));
    case 2: {
      const i = at(b.length + 1);
      const junk = Uint8Array.from({ length: 1 + at(8) }, () => at(256));
      return Uint8Array.from([...b.subarray(0, i), ...junk, ...b.subarray(i)]);
    }
    case 3: {
      const from = at(b.length);
      const len = at(Math.min(64, b.length - from) + 1);
      const to = at(b.length);
      return Uint8Array.from([...b.subarray(0, to), ...b.subarray(from, from + len), ...b.subarray(to)]);
    }
    default: {
      // overwrite one byte with a value that often makes a huge length or a bad wire type
      const i = at(b.length);
      b[i] = [0xff, 0x80, 0x00, 0x07, 0x0f, 0x7f][at(6)]!;
      return b;
    }
  }
}

describe('fuzz: mutated requests either decode or throw OtlpDecodeError, nothing else', () => {
  const small = traceRequest({ items: 8, seed: 3 });
  const smallLogs = logsRequest({ items: 8, seed: 3 });
  const corpus: [Signal, OtlpFormat, Uint8Array][] = [
    ['traces', 'protobuf', small.protobuf],
    ['traces', 'json', small.json],
    ['logs', 'protobuf', smallLogs.protobuf],
    ['logs', 'json', smallLogs.json],
  ];
  for (const dir of ['otlp', 'otlp2parquet']) {
    for (const f of fixtureNames(dir).filter((n) => n.endsWith('.pb') || n.endsWith('.json'))) {
      corpus.push([signalOf(f), f.endsWith('.pb') ? 'protobuf' : 'json', fixture(`${dir}/${f}`)]);
    }
  }

  it('over the fixtures and a small workload, 4,000 seeded cases', async () => {
    const m = await metricsRequest({ seed: 3 });
    corpus.push(['metrics', 'protobuf', m.protobuf.subarray(0, 20_000)]);
    const next = rng(424242);
    const outcomes = { decoded: 0, rejected: 0, invalidItems: 0 };
    for (let n = 0; n < 4000; n++) {
      const [signal, format, src] = corpus[n % corpus.length]!;
      const body = mutate(src, next);
      try {
        const r = decodeOtlp(signal, body, format);
        outcomes.decoded++;
        if (JSON.stringify(r, (_k, v) => (v instanceof Uint8Array ? v.length : v)).includes('"invalid"')) {
          outcomes.invalidItems++;
        }
      } catch (err) {
        if (!(err instanceof OtlpDecodeError)) throw new Error(`case ${n}: ${String(err)}`, { cause: err });
        // The catch-all in decodeOtlp would hide a decoder bug (a TypeError…): none may reach it.
        expect(err.message).not.toBe('the request could not be decoded');
        outcomes.rejected++;
      }
    }
    // The mutations exercise all three outcomes, not only the error path.
    expect(outcomes.decoded).toBeGreaterThan(200);
    expect(outcomes.rejected).toBeGreaterThan(200);
    expect(outcomes.invalidItems).toBeGreaterThan(10);
  });

  it('with the wrong signal or format for the bytes, still only OtlpDecodeError', () => {
    for (const [signal, format, body] of corpus) {
      for (const s of ['traces', 'logs', 'metrics'] as const) {
        for (const f of ['protobuf', 'json'] as const) {
          if (s === signal && f === format) continue;
          try {
            decodeOtlp(s, body, f);
          } catch (err) {
            expect(err).toBeInstanceOf(OtlpDecodeError);
            expect((err as Error).message).not.toBe('the request could not be decoded');
          }
        }
      }
    }
  });
});
