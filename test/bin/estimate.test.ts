import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_FIGURES_FILE, runEstimateCli } from '../../bin/estimate.js';
import type { MeasuredFigures } from '../../functions/shared/costs/cost-model.js';
import { PRICES } from '../../functions/shared/costs/prices.js';

function run(argv: string[], files: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const code = runEstimateCli(argv, {
    readFile: (p) => files[p] ?? readFileSync(p, 'utf8'),
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}

describe('npm run estimate', () => {
  it('prints every component with USD a month and per million items, the AWS and ClickHouse parts and the total', () => {
    const { code, out } = run(['--spans-per-month', '1e9', '--stream', 'on-demand', '--xray-sampling', '1']);
    expect(code).toBe(0);
    for (const component of [
      'API Gateway HTTP API',
      'Lambda ingest',
      'Kinesis stream-hours',
      'Kinesis data in/out',
      'Lambda hot writer',
      'Lambda lake writer + compactor',
      'S3 requests',
      'S3 storage',
      'CloudWatch logs + metrics',
      'X-Ray',
      'ClickHouse Cloud compute',
      'AWS part',
      'ClickHouse Cloud part',
      'total',
    ]) {
      expect(out).toMatch(
        new RegExp(`^${component.replace(/[+()]/g, '\\$&')}.*\\$[\\d,.]+ +\\$[\\d.]+`, 'm'),
      );
    }
    expect(out).toContain(`as of ${PRICES.asOf}`);
    expect(out).toMatch(/Recommended stream mode at this volume: (on-demand|provisioned)/);
    expect(out).toMatch(/Break-even/);
    expect(out).toMatch(/Datadog APM.*\$[\d,]+/);
    expect(out).toMatch(/Assumed, not measured: ingestWaitMs=/);
  });

  it('defaults to the recommended stream mode and shows provisioned lines then', () => {
    const { out } = run(['--spans-per-month', '1e9']);
    const recommended = /Recommended stream mode at this volume: (\S+) /.exec(out)![1]!;
    expect(out).toContain(`stream ${recommended}`);
    if (recommended === 'provisioned') expect(out).toMatch(/^Kinesis shard-hours/m);
  });

  it('--json gives the numbers the table prints', () => {
    const { code, out } = run(['--spans-per-month', '1e8', '--logs-per-month', '1e8', '--json']);
    expect(code).toBe(0);
    const parsed = JSON.parse(out) as { totalUsd: number; lines: { usd: number }[]; items: number };
    expect(parsed.items).toBe(2e8);
    expect(parsed.totalUsd).toBeCloseTo(
      parsed.lines.reduce((s, l) => s + l.usd, 0),
      6,
    );
  });

  it('reads the measured figures from the committed benchmark file, or from --figures', () => {
    const committed = JSON.parse(readFileSync(DEFAULT_FIGURES_FILE, 'utf8')) as MeasuredFigures;
    expect(committed.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(committed.signals.traces.ingestCpuUsPerItem).toBeGreaterThan(0);
    const doubled: MeasuredFigures = {
      ...committed,
      signals: {
        ...committed.signals,
        traces: {
          ...committed.signals.traces,
          parquetBytesPerItem: committed.signals.traces.parquetBytesPerItem * 2,
        },
      },
    };
    const s3 = (out: string) =>
      Number(/^S3 storage \(steady state\) +\$([\d.,]+)/m.exec(out)![1]!.replace(/,/g, ''));
    const a = run(['--spans-per-month', '1e10', '--stream', 'on-demand']);
    const b = run(['--spans-per-month', '1e10', '--stream', 'on-demand', '--figures', 'x.json'], {
      'x.json': JSON.stringify(doubled),
    });
    expect(s3(b.out) / s3(a.out)).toBeCloseTo(2, 1);
  });

  it('answers a usage error with exit code 2 and the help text', () => {
    for (const argv of [
      [],
      ['--spans-per-month', 'lots'],
      ['--spans-per-month', '1e9', '--stream', 'serverless'],
      ['--spans-per-month', '1e9', '--clickhouse', 'huge'],
      ['--spans-per-month', '1e9', '--xray-sampling', '2'],
      ['--spans-per-month', '1e9', '--shards', '0'],
      ['--bogus'],
    ]) {
      const { code, err } = run(argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(err).toContain('Usage: npm run estimate');
    }
    expect(run(['--help']).code).toBe(0);
    expect(run(['--sources']).out).toContain('https://aws.amazon.com/kinesis/data-streams/pricing/');
  });
});
