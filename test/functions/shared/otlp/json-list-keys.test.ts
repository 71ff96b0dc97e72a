import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeOtlp } from '../../../../functions/shared/otlp/decode.js';
import type { Signal } from '../../../../functions/shared/schema/columns.js';

/**
 * The duplicated-list-key check of the JSON decoder (checkLists in decode-json.ts) over its domain:
 * every list key of every signal, at its own level, in both spellings (camelCase and snake_case),
 * written plainly or with `\u` escapes (which JSON.parse reads as the same key), with blanks on
 * either side of the colon, next to strings that hold quotes, brackets, escapes and list keys. A
 * key given twice in one object is refused, naming it; without a duplicate, the body decodes to the
 * same request as its plain JSON.stringify text.
 */

/** Strings that look like list keys and lists from inside a value. */
const TRICKY = '"spans":["x"], "sp\\u0061ns" : [ \\"events\\":[ [ \u00e9 ]';

const TEMPLATES: Record<Signal, unknown> = {
  traces: {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'k', value: { stringValue: TRICKY } }] },
        scopeSpans: [
          {
            scope: { name: 's' },
            spans: [{ name: TRICKY, events: [{ name: 'e' }], links: [{ traceState: TRICKY }] }],
          },
        ],
      },
    ],
  },
  logs: {
    resourceLogs: [
      { scopeLogs: [{ scope: { name: TRICKY }, logRecords: [{ body: { stringValue: TRICKY } }] }] },
    ],
  },
  metrics: {
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: [
              { name: TRICKY, gauge: { dataPoints: [{ asDouble: 1, exemplars: [{ asDouble: 2 }] }] } },
            ],
          },
        ],
      },
    ],
  },
};

const SNAKE: Record<string, string> = {
  resourceSpans: 'resource_spans',
  scopeSpans: 'scope_spans',
  resourceLogs: 'resource_logs',
  scopeLogs: 'scope_logs',
  logRecords: 'log_records',
  resourceMetrics: 'resource_metrics',
  scopeMetrics: 'scope_metrics',
  dataPoints: 'data_points',
};
const LIST_KEYS = new Set([...Object.keys(SNAKE), 'spans', 'events', 'links', 'metrics', 'exemplars']);

interface Shape {
  readonly snake: boolean;
  /** The list key occurrence (in document order) written twice, or -1 for none. */
  readonly target: number;
  /** What the second occurrence holds. */
  readonly dup: '[]' | 'null' | 'same';
  /** Per occurrence and copy: escape the character at this position (-1: written plainly). */
  readonly escapes: readonly number[];
  readonly upper: boolean;
  readonly before: string;
  readonly after: string;
}

function spell(key: string, at: number, upper: boolean): string {
  if (at < 0) return JSON.stringify(key);
  const i = at % key.length;
  const code = key.charCodeAt(i).toString(16).padStart(4, '0');
  return `"${key.slice(0, i)}\\u${upper ? code.toUpperCase() : code}${key.slice(i + 1)}"`;
}

/** The template as text, list keys written as `shape` says. */
function write(signal: Signal, shape: Shape): { text: string; lists: number } {
  let occurrence = 0;
  const escapeAt = () => shape.escapes[occurrence++ % shape.escapes.length] ?? -1;
  const listIndex = { n: 0 };
  const go = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(go).join(',')}]`;
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v)) {
      if (!LIST_KEYS.has(k)) {
        parts.push(`${JSON.stringify(k)}:${go(x)}`);
        continue;
      }
      const key = shape.snake ? (SNAKE[k] ?? k) : k;
      const n = listIndex.n++;
      parts.push(`${spell(key, escapeAt(), shape.upper)}${shape.before}:${shape.after}${go(x)}`);
      if (n === shape.target) {
        const second = shape.dup === 'same' ? JSON.stringify(x) : shape.dup;
        parts.push(`${spell(key, escapeAt(), shape.upper)}${shape.before}:${shape.after}${second}`);
      }
    }
    return `{${parts.join(',')}}`;
  };
  const text = go(TEMPLATES[signal]);
  return { text, lists: listIndex.n };
}

const decode = (signal: Signal, text: string) => decodeOtlp(signal, new TextEncoder().encode(text), 'json');

const shapes = fc.record({
  snake: fc.boolean(),
  target: fc.integer({ min: -1, max: 5 }),
  dup: fc.constantFrom('[]' as const, 'null' as const, 'same' as const),
  escapes: fc.array(fc.integer({ min: -3, max: 20 }), { minLength: 1, maxLength: 12 }),
  upper: fc.boolean(),
  before: fc.constantFrom('', ' ', '\n\t '),
  after: fc.constantFrom('', ' ', '\r\n'),
});

describe('JSON decoder: list keys over their domain', () => {
  it.each(['traces', 'logs', 'metrics'] as const)(
    '%s: a list key twice in one object is refused, naming it; otherwise the body decodes as its plain text',
    (signal) => {
      const plain = decode(signal, JSON.stringify(TEMPLATES[signal]));
      fc.assert(
        fc.property(shapes, (shape) => {
          const { text, lists } = write(signal, shape);
          if (shape.target >= 0 && shape.target < lists) {
            expect(() => decode(signal, text)).toThrow(/duplicate key "[a-zA-Z]+" in one JSON object/);
          } else {
            expect(decode(signal, text)).toEqual(plain);
          }
        }),
        { numRuns: 300 },
      );
    },
  );

  it('names the duplicated key, whichever copy is escaped', () => {
    const text = (first: string, second: string) =>
      `{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a"}],${first}:[{"name":"b"}]}]}],${second}:[]}`;
    expect(() => decode('traces', text('"x"', '"x"'))).not.toThrow();
    expect(() => decode('traces', text('"sp\\u0061ns"', '"x"'))).toThrow(/duplicate key "spans"/);
    expect(() => decode('traces', text('"x"', '"resource\\u0053pans"'))).toThrow(
      /duplicate key "resourceSpans"/,
    );
    expect(() => decode('traces', text('"x"', '"resource_spans"'))).toThrow(
      /both "resourceSpans" and "resource_spans"/,
    );
  });
});
