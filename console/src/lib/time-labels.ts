/** Time-axis labels: UTC, 24-hour; seconds on a short axis, the date on one that spans days. */

/** What a label shows on an axis `spanS` seconds long. */
export type TimeLabelKind = 'seconds' | 'minutes' | 'date';

export function timeLabelKind(spanS: number): TimeLabelKind {
  return spanS > 2 * 86_400 ? 'date' : spanS < 600 ? 'seconds' : 'minutes';
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The label of `tS` (seconds) on an axis `spanS` seconds long: "HH:MM:SS", "HH:MM" or "MM-DD HH:MM". */
export function timeLabel(tS: number, spanS: number): string {
  const d = new Date(tS * 1000);
  const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  const kind = timeLabelKind(spanS);
  if (kind === 'date') return `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${hm}`;
  return kind === 'seconds' ? `${hm}:${pad(d.getUTCSeconds())}` : hm;
}

/** Characters in a label of each kind (all digits and separators). */
const LABEL_CHARS: Record<TimeLabelKind, number> = { seconds: 8, minutes: 5, date: 11 };
/** Widest digit of the axis font (uPlot's 12px system-ui) in CSS pixels, rounded up. */
const CHAR_PX = 7;
/** Space between two labels. */
const GAP_PX = 16;

/**
 * Least pixels between ticks for an axis `spanS` seconds long: its labels' width plus a gap, so
 * labels never run into each other (uPlot's default of 50 px did with "HH:MM:SS").
 */
export function timeTickSpace(spanS: number): number {
  return LABEL_CHARS[timeLabelKind(spanS)] * CHAR_PX + GAP_PX;
}
