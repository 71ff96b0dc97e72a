import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ASSUMED,
  alternatives,
  breakEven,
  type Estimate,
  EstimateError,
  type EstimateInput,
  estimate,
  type MeasuredFigures,
  provisionedShards,
  recommendStreamMode,
  type StreamMode,
} from '../functions/shared/costs/cost-model.js';
import { PRICES, type PriceTable } from '../functions/shared/costs/prices.js';

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_FIGURES_FILE = join(here, '..', 'bench', 'results', 'per-item.json');

const HELP = `Usage: npm run estimate -- --spans-per-month 1e9 [options]

What the pipeline costs a month at your volume, per component and per million items, from the
project's measured per-item figures (npm run bench -- per-item, bench/results/per-item.json) and
a dated us-east-1 price table (functions/shared/costs/prices.ts, sources listed with --sources).

Options:
  --spans-per-month N          spans a month (1e9, 1000000000)                      (default 0)
  --logs-per-month N           log records a month                                  (default 0)
  --metric-points-per-month N  metric data points a month                           (default 0)
  --stream MODE                on-demand | provisioned | auto: the cheaper one      (default auto)
  --shards N                   provisioned shards (default: sized for 4x the average rate)
  --clickhouse TIER            basic | scale | none                                 (default basic)
  --xray-sampling F            fraction of pipeline invocations X-Ray traces, 0..1  (default 0, as deployed)
  --figures FILE               measured figures (default bench/results/per-item.json)
  --prices FILE                a price table as JSON, same shape as prices.ts
  --json                       the estimate as JSON
  --sources                    the price table's sources and date
  -h, --help                   this text`;

export interface EstimateCliDeps {
  readonly readFile: (path: string) => string;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

function count(name: string, raw: string | undefined): number {
  if (raw === undefined) return 0;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isFinite(n) || n < 0)
    throw new EstimateError(`\`--${name}\` must be a number >= 0, got: ${raw}`);
  return n;
}

const usd = (x: number) =>
  x >= 1000 ? `$${Math.round(x).toLocaleString('en-US')}` : x >= 1 ? `$${x.toFixed(2)}` : `$${x.toFixed(4)}`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r, ri) => {
      const line = r.map((c, i) =>
        i === 0 || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!),
      );
      return ri === 0
        ? `${line.join('  ')}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`
        : line.join('  ');
    })
    .join('\n')
    .replace(/ +$/gm, '');
}

export function formatEstimate(
  e: Estimate,
  input: EstimateInput,
  measured: MeasuredFigures,
  prices: PriceTable,
): string {
  const perM = (x: number) => (e.items > 0 ? usd(x / (e.items / 1e6)) : '-');
  const rows = [['component', 'USD/month', 'per M items', 'detail']];
  for (const l of e.lines) rows.push([l.component, usd(l.usd), perM(l.usd), l.detail]);
  rows.push(['AWS part', usd(e.awsUsd), perM(e.awsUsd), '']);
  rows.push(['ClickHouse Cloud part', usd(e.clickhouseUsd), perM(e.clickhouseUsd), '']);
  rows.push(['total', usd(e.totalUsd), perM(e.totalUsd), '']);
  const v = input.itemsPerMonth;
  return [
    `Estimate for ${v.traces.toExponential(2)} spans, ${v.logs.toExponential(2)} log records, ${v.metrics.toExponential(2)} metric points a month`,
    `stream ${input.streamMode}${input.streamMode === 'provisioned' ? ` (${e.shards} shards)` : ''}, ClickHouse ${input.clickhouseTier}, X-Ray ${input.xraySampling * 100}% of invocations`,
    `prices: ${prices.region}, as of ${prices.asOf}; measured figures: ${measured.date}, ${measured.machine}`,
    '',
    table(rows),
  ].join('\n');
}

/** Items a month (in this mix of signals) that one provisioned shard carries at the assumed peak factor. */
function shardCapacity(input: EstimateInput, measured: MeasuredFigures): number {
  const v = input.itemsPerMonth;
  const total = v.traces + v.logs + v.metrics;
  let records = 0;
  let bytes = 0;
  for (const s of ['traces', 'logs', 'metrics'] as const) {
    const f = measured.signals[s];
    records += (v[s] / total / f.requestItems) * f.recordsPerRequest;
    bytes += (v[s] / total) * f.streamBytesPerItem;
  }
  let lo = 1;
  let hi = 1e15;
  while (hi / lo > 1.001) {
    const mid = Math.sqrt(lo * hi);
    if (provisionedShards(records * mid, bytes * mid) <= 1) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Runs the CLI; returns the exit code (0 ok, 2 usage or input error). */
export function runEstimateCli(argv: readonly string[], deps: EstimateCliDeps): number {
  try {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'spans-per-month': { type: 'string' },
        'logs-per-month': { type: 'string' },
        'metric-points-per-month': { type: 'string' },
        stream: { type: 'string', default: 'auto' },
        shards: { type: 'string' },
        clickhouse: { type: 'string', default: 'basic' },
        'xray-sampling': { type: 'string', default: '0' },
        figures: { type: 'string' },
        prices: { type: 'string' },
        json: { type: 'boolean' },
        sources: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      deps.out(`${HELP}\n`);
      return 0;
    }
    const prices: PriceTable = values.prices ? JSON.parse(deps.readFile(values.prices)) : PRICES;
    if (values.sources) {
      deps.out(
        `Prices (${prices.region}, list, as of ${prices.asOf}):\n${Object.entries(prices.sources)
          .map(([k, url]) => `  ${k.padEnd(11)} ${url}`)
          .join('\n')}\n`,
      );
      return 0;
    }
    const measured = JSON.parse(deps.readFile(values.figures ?? DEFAULT_FIGURES_FILE)) as MeasuredFigures;
    const itemsPerMonth = {
      traces: count('spans-per-month', values['spans-per-month']),
      logs: count('logs-per-month', values['logs-per-month']),
      metrics: count('metric-points-per-month', values['metric-points-per-month']),
    };
    if (itemsPerMonth.traces + itemsPerMonth.logs + itemsPerMonth.metrics === 0) {
      throw new EstimateError(
        'give at least one of --spans-per-month, --logs-per-month, --metric-points-per-month',
      );
    }
    const xraySampling = Number(values['xray-sampling']);
    const shards = values.shards === undefined ? undefined : count('shards', values.shards);
    if (shards !== undefined && (!Number.isInteger(shards) || shards < 1)) {
      throw new EstimateError(`\`--shards\` must be a whole number >= 1, got: ${values.shards}`);
    }
    const base = {
      itemsPerMonth,
      clickhouseTier: values.clickhouse,
      xraySampling,
      ...(shards !== undefined && { shards }),
    };
    const modes = ['on-demand', 'provisioned', 'auto'];
    if (!modes.includes(values.stream)) {
      throw new EstimateError(`\`--stream\` must be one of ${modes.join(', ')}, got: ${values.stream}`);
    }
    const recommended = recommendStreamMode(base, measured, prices);
    const streamMode = values.stream === 'auto' ? recommended : (values.stream as StreamMode);
    const input: EstimateInput = { ...base, streamMode };
    const result = estimate(input, measured, prices);
    const streamBreakEven = breakEven(
      input,
      { streamMode: 'provisioned' },
      { streamMode: 'on-demand' },
      measured,
      prices,
    );
    if (values.json) {
      deps.out(
        `${JSON.stringify({ input, recommendedStream: recommended, streamBreakEven, ...result }, null, 2)}\n`,
      );
      return 0;
    }
    const lines = [formatEstimate(result, input, measured, prices), ''];
    lines.push(
      `Recommended stream mode at this volume: ${recommended} (deploy with -c streamMode=${recommended}).`,
    );
    if (streamBreakEven !== undefined) {
      lines.push(
        `Break-even: the two stream modes cost the same at ${streamBreakEven.toExponential(2)} spans a month (this mix of signals).`,
      );
    } else {
      const od = estimate({ ...input, streamMode: 'on-demand' }, measured, prices);
      const pr = estimate({ ...input, streamMode: 'provisioned' }, measured, prices);
      const cheaper = od.awsUsd < pr.awsUsd ? 'on-demand' : 'provisioned';
      lines.push(
        `Break-even: none between 1e6 and 1e13 spans a month: ${cheaper} is cheaper throughout (here by ${usd(Math.abs(od.awsUsd - pr.awsUsd))} a month; on-demand's stream-hours alone cost ${(prices.kinesis.onDemandStreamHour / prices.kinesis.shardHour).toFixed(1)} shards). On-demand buys scaling without resharding.`,
      );
    }
    lines.push(
      `One provisioned shard carries up to ${shardCapacity(input, measured).toExponential(2)} items a month of this mix (sized for ${ASSUMED.peakFactor}x the average rate).`,
    );
    const xrayAll = estimate({ ...input, xraySampling: 1 }, measured, prices);
    lines.push(
      `X-Ray on every invocation would add ${usd(xrayAll.awsUsd - estimate({ ...input, xraySampling: 0 }, measured, prices).awsUsd)} a month.`,
    );
    if (itemsPerMonth.traces > 0) {
      lines.push(
        '',
        `Hosted alternatives for ${itemsPerMonth.traces.toExponential(2)} spans a month (list prices, per item only):`,
      );
      for (const a of alternatives(itemsPerMonth.traces, measured.signals.traces, prices)) {
        lines.push(`  ${a.name.padEnd(48)} ${usd(a.usd).padStart(10)}`);
      }
    }
    lines.push(
      '',
      `Assumed, not measured: ${Object.entries(ASSUMED)
        .map(([k, x]) => `${k}=${x}`)
        .join(', ')}.`,
    );
    deps.out(`${lines.join('\n')}\n`);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    deps.err(`${message}\n\n${HELP}\n`);
    return 2;
  }
}

const invokedDirectly =
  process.argv[1] !== undefined &&
  realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invokedDirectly) {
  process.exitCode = runEstimateCli(process.argv.slice(2), {
    readFile: (p) => readFileSync(p, 'utf8'),
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  });
}
