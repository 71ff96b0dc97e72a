import uPlot from 'uplot';
import { timeLabel, timeTickSpace } from '../lib/time-labels.js';
import type { ResolvedRange } from '../lib/time-range.js';
import { colorFor, fmtMs, fmtNumber, fmtPct } from './format.js';

/** uPlot's own bar path builder (histograms). */
const barsPath = uPlot.paths.bars!({ size: [0.8, 40] });

/** Aligns per-name point lists on one time axis (seconds, as uPlot wants), null where a name has no point. */
export function align(
  lines: readonly {
    readonly name: string;
    readonly points: readonly { readonly t: number; readonly v: number | null }[];
  }[],
): uPlot.AlignedData {
  const ts = [...new Set(lines.flatMap((l) => l.points.map((p) => p.t)))].sort((a, b) => a - b);
  const index = new Map(ts.map((t, i) => [t, i]));
  const out: (number | null)[][] = lines.map(() => ts.map(() => null));
  lines.forEach((l, li) => {
    for (const p of l.points) out[li]![index.get(p.t)!] = p.v;
  });
  return [ts.map((t) => t / 1000), ...out] as uPlot.AlignedData;
}

export type Unit = 'rate' | 'ratio' | 'ms' | 'count' | 'value';

const fmtUnit = (unit: Unit) => (v: number | null) =>
  v === null
    ? '–'
    : unit === 'ratio'
      ? fmtPct(v)
      : unit === 'ms'
        ? fmtMs(v)
        : unit === 'rate'
          ? `${fmtNumber(v)}/s`
          : fmtNumber(v);

/** Time-axis labels in UTC, 24-hour, with the date when the axis spans days, spaced to not touch. */
export const timeAxis: uPlot.Axis = {
  values: (u, splits) => {
    const span = (u.scales.x?.max ?? 0) - (u.scales.x?.min ?? 0);
    return splits.map((s) => timeLabel(s, span));
  },
  space: (_u, _axis, min, max) => timeTickSpace(max - min),
};

/** The cursor's legend reads UTC too. */
export const utcTimeAxis: { tzDate: (ts: number) => Date } = {
  tzDate: (ts) => {
    const d = new Date(ts * 1000);
    return new Date(d.getTime() + d.getTimezoneOffset() * 60_000);
  },
};

/** Line-chart options for named series over time (UTC axis). */
export function lineOptions(
  names: readonly string[],
  unit: Unit,
  opts: { bars?: boolean; colors?: Record<string, string>; range?: ResolvedRange } = {},
): Omit<uPlot.Options, 'width' | 'height'> {
  const { range } = opts;
  const f = fmtUnit(unit);
  return {
    ...utcTimeAxis,
    legend: { show: true, live: true },
    cursor: { drag: { x: true, y: false } },
    scales: {
      // The x axis is the range asked for: a few points do not stretch it to years.
      ...(range && {
        x: { time: true, range: (): uPlot.Range.MinMax => [range.fromMs / 1000, range.toMs / 1000] },
      }),
      y: {
        range: (_u, min, max) => [
          Math.min(0, min ?? 0),
          Math.max(max ?? 1, unit === 'ratio' ? 0.01 : 1e-9) * 1.1,
        ],
      },
    },
    axes: [timeAxis, { values: (_u, vals) => vals.map((v) => f(v)), size: 70 }],
    series: [
      {},
      ...names.map((name) => {
        const color = opts.colors?.[name] ?? colorFor(name);
        return {
          label: name,
          stroke: color,
          width: 1.5,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => f(v),
          ...(opts.bars && { fill: color, paths: barsPath }),
        };
      }),
    ],
  };
}
