import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { silenceTime } from '../../../../functions/shared/alerts/alerts-api.js';

/**
 * A silence's startsAt/endsAt now go through the query API's parseTime (one parser of time
 * expressions). Every form the alerts API took before must give the same instant: checked against
 * values computed here with Date.UTC, and over generated inputs against the previous parser, kept
 * below as the reference (with the differences it had, listed).
 */

const NOW = Date.UTC(2026, 11, 7, 10, 30, 0);
const UTC = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0) =>
  Date.UTC(y, mo - 1, d, h, mi, s, ms);

/** The alerts API's own parser before it used parseTime (the reference for "unchanged"). */
function previousParser(v: string | number, now: number): number {
  if (typeof v === 'number') return v;
  const unit: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const rel = /^now(?:([+-])(\d{1,6})([smhd]))?$/.exec(v);
  if (rel) return rel[1] ? now + (rel[1] === '-' ? -1 : 1) * Number(rel[2]) * unit[rel[3]!]! : now;
  if (/^\d{1,16}$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new Error('not a time');
  return t;
}

const outcome = (f: () => number): number | 'refused' => {
  try {
    return f();
  } catch {
    return 'refused';
  }
};

describe('silence times (startsAt, endsAt)', () => {
  it.each<[string | number, number]>([
    ['now', NOW],
    ['now+2h', NOW + 7_200_000],
    ['now-30m', NOW - 1_800_000],
    ['now+90s', NOW + 90_000],
    ['now+3d', NOW + 3 * 86_400_000],
    ['1795417200000', 1_795_417_200_000],
    ['0', 0],
    ['007', 7],
    [1_795_417_200_000, 1_795_417_200_000],
    ['2026-11-23T07:00:00Z', UTC(2026, 11, 23, 7)],
    ['2026-11-23t07:00:00z', UTC(2026, 11, 23, 7)],
    ['2026-11-23 07:00:00Z', UTC(2026, 11, 23, 7)],
    ['2026-11-23T09:00:00+02:00', UTC(2026, 11, 23, 7)],
    ['2026-11-23T02:00:00-05:00', UTC(2026, 11, 23, 7)],
    ['2026-11-23T07:00:00.123456789Z', UTC(2026, 11, 23, 7, 0, 0, 123)],
    ['2026-11-23T07:00:00.5Z', UTC(2026, 11, 23, 7, 0, 0, 500)],
    ['1969-12-31T23:59:59.0005Z', -1000],
    // ISO-8601 forms RFC 3339 leaves out, read as before (Date.parse).
    ['2026-11-23', UTC(2026, 11, 23)],
    ['2026-11-23T09:00:00+0200', UTC(2026, 11, 23, 7)],
  ])('%s', (input, expected) => {
    expect(silenceTime(input, NOW, 'startsAt')).toBe(expected);
    expect(previousParser(input, NOW)).toBe(expected);
  });

  it.each(['yesterday', 'now-1y', 'now+', "now'; DROP", '', 'soon', '-1795417200000'])(
    'refuses %j with a 400 naming the field',
    (input) => {
      expect(() => silenceTime(input, NOW, 'endsAt')).toThrow(
        expect.objectContaining({
          status: 400,
          field: 'endsAt',
          message: "invalid field 'endsAt': not a time",
        }),
      );
    },
  );

  it('gives what the previous parser gave for every input it took, and refuses what it refused', () => {
    const two = (n: number) => String(n).padStart(2, '0');
    const relative = fc
      .tuple(
        fc.constantFrom('+', '-'),
        fc.integer({ min: 0, max: 999_999 }),
        fc.constantFrom('s', 'm', 'h', 'd'),
      )
      .map(([sign, n, unit]) => `now${sign}${n}${unit}`);
    const epoch = fc
      .tuple(fc.integer({ min: 0, max: 2 ** 52 }), fc.integer({ min: 0, max: 3 }))
      .map(([n, zeros]) => `${'0'.repeat(zeros)}${n}`.slice(-15));
    const dateTime = fc
      .record({
        y: fc.integer({ min: 1000, max: 9999 }),
        mo: fc.integer({ min: 1, max: 12 }),
        d: fc.integer({ min: 1, max: 31 }),
        h: fc.integer({ min: 0, max: 23 }),
        mi: fc.integer({ min: 0, max: 59 }),
        s: fc.integer({ min: 0, max: 59 }),
        frac: fc.stringMatching(/^(\.\d{1,9})?$/),
        sep: fc.constantFrom('T', 't', ' '),
        zone: fc.constantFrom('Z', 'z', '+02:00', '-11:30', '+00:00', '+0530', ''),
        dateOnly: fc.boolean(),
      })
      .map((p) => {
        const date = `${p.y}-${two(p.mo)}-${two(p.d)}`;
        return p.dateOnly ? date : `${date}${p.sep}${two(p.h)}:${two(p.mi)}:${two(p.s)}${p.frac}${p.zone}`;
      });
    const anything = fc.string({ maxLength: 30 }).filter((v) => v === v.trim());
    fc.assert(
      fc.property(fc.oneof(relative, epoch, dateTime, anything), (input) => {
        expect(outcome(() => silenceTime(input, NOW, 'startsAt'))).toBe(
          outcome(() => previousParser(input, NOW)),
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('differs from the previous parser only where the query API’s syntax is wider or bounded', () => {
    // Weeks, as the query API takes them (refused before).
    expect(silenceTime('now+2w', NOW, 'endsAt')).toBe(NOW + 2 * 604_800_000);
    expect(outcome(() => previousParser('now+2w', NOW))).toBe('refused');
    // Sixteen-digit epoch milliseconds (past the year 33658) are out of the query API's range.
    expect(outcome(() => silenceTime('1234567890123456', NOW, 'endsAt'))).toBe('refused');
    expect(previousParser('1234567890123456', NOW)).toBe(1_234_567_890_123_456);
  });
});
