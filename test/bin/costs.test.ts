import type { GetMetricDataCommand, GetMetricDataCommandOutput } from '@aws-sdk/client-cloudwatch';
import type { GetCostAndUsageCommand, GetCostAndUsageCommandOutput } from '@aws-sdk/client-cost-explorer';
import { describe, expect, it } from 'vitest';
import { runCostsCli } from '../../bin/costs.js';

// No local Cost Explorer or CloudWatch exists: both clients are mocked.
function mockedCostExplorer(result: GetCostAndUsageCommandOutput | Error) {
  const requests: GetCostAndUsageCommand['input'][] = [];
  return {
    requests,
    async send(command: GetCostAndUsageCommand): Promise<GetCostAndUsageCommandOutput> {
      requests.push(command.input);
      if (result instanceof Error) throw result;
      return result;
    },
  };
}
const mockedCloudWatch = (values: number[]) => ({
  async send(_command: GetMetricDataCommand): Promise<GetMetricDataCommandOutput> {
    return { $metadata: {}, MetricDataResults: [{ Id: 'items', Values: values }] };
  },
});

async function run(argv: string[], ce = mockedCostExplorer({ $metadata: {} }), items: number[] = []) {
  let out = '';
  let err = '';
  const regions: (string | undefined)[] = [];
  const code = await runCostsCli(argv, {
    costExplorer: ce,
    cloudWatch: (region) => {
      regions.push(region);
      return mockedCloudWatch(items);
    },
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  return { code, out, err, regions };
}

describe('npm run costs (mocked Cost Explorer)', () => {
  it('prints the component table for a date range and environment', async () => {
    const ce = mockedCostExplorer({
      $metadata: {},
      ResultsByTime: [
        {
          Groups: [
            { Keys: ['component$hot-tier'], Metrics: { AmortizedCost: { Amount: '12.5', Unit: 'USD' } } },
            { Keys: ['component$query'], Metrics: { AmortizedCost: { Amount: '2.5', Unit: 'USD' } } },
          ],
        },
      ],
    });
    const r = await run(
      [
        '--from',
        '2026-11-01',
        '--to',
        '2026-11-30',
        '--environment',
        'prod',
        '--metric',
        'AmortizedCost',
        '--region',
        'eu-west-1',
      ],
      ce,
      [3_000_000],
    );
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.regions).toEqual(['eu-west-1']);
    expect(ce.requests[0]?.Metrics).toEqual(['AmortizedCost']);
    expect(ce.requests[0]?.TimePeriod).toEqual({ Start: '2026-11-01', End: '2026-12-01' });
    expect(r.out).toMatch(/^hot-tier\s+12\.50\s+83\.3 %\s+4\.1667$/m);
    expect(r.out).toMatch(/^total\s+15\.00\s+100\.0 %\s+5\.0000$/m);
  });

  it('covers all environments of the project when --environment is left out', async () => {
    const ce = mockedCostExplorer({ $metadata: {}, ResultsByTime: [] });
    const r = await run(['--from', '2026-11-01', '--to', '2026-11-02', '--project', 'telemetry'], ce);
    expect(r.code).toBe(0);
    expect(ce.requests[0]?.Filter).toEqual({
      Tags: { Key: 'project', Values: ['telemetry'], MatchOptions: ['EQUALS'] },
    });
    expect(r.out).toContain('project=telemetry, all environments');
  });

  it('exits 2 with the usage on missing or bad arguments, without calling AWS', async () => {
    const ce = mockedCostExplorer({ $metadata: {} });
    for (const argv of [
      ['--from', '2026-11-01'],
      ['--from', '2026-11-01', '--to', '2026-11-31'],
      ['--from', '2026-11-01', '--to', '2026-11-02', '--metric', 'Usage'],
      ['--from', '2026-11-01', '--to', '2026-11-02', '--bogus'],
    ]) {
      const r = await run(argv, ce);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toContain('Usage: npm run costs');
    }
    expect(ce.requests).toHaveLength(0);
  });

  it('exits 1 with the service error when Cost Explorer refuses', async () => {
    const denied = Object.assign(new Error('User is not authorized to perform: ce:GetCostAndUsage'), {
      name: 'AccessDeniedException',
    });
    const r = await run(['--from', '2026-11-01', '--to', '2026-11-02'], mockedCostExplorer(denied));
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      'costs: AccessDeniedException: User is not authorized to perform: ce:GetCostAndUsage\n',
    );
  });

  it('prints its help with --help', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('--from YYYY-MM-DD');
  });

  it('--by-tenant shares ingest and stream by items, hot tier and lake by bytes stored, the rest stays shared (usage source in memory)', async () => {
    const ce = mockedCostExplorer({
      $metadata: {},
      ResultsByTime: [
        {
          Groups: [
            { Keys: ['component$ingest'], Metrics: { UnblendedCost: { Amount: '30', Unit: 'USD' } } },
            { Keys: ['component$stream'], Metrics: { UnblendedCost: { Amount: '10', Unit: 'USD' } } },
            { Keys: ['component$hot-tier'], Metrics: { UnblendedCost: { Amount: '100', Unit: 'USD' } } },
            { Keys: ['component$query'], Metrics: { UnblendedCost: { Amount: '7', Unit: 'USD' } } },
          ],
        },
      ],
    });
    const asked: string[][] = [];
    let out = '';
    const code = await runCostsCli(['--from', '2026-11-01', '--to', '2026-11-30', '--by-tenant'], {
      costExplorer: ce,
      cloudWatch: () => undefined,
      usage: () => ({
        totals: async (from, to) => {
          asked.push([from, to]);
          return [
            { tenant: 'acme', itemsAccepted: 3_000_000, storedBytes: 100_000_000 },
            { tenant: 'beta', itemsAccepted: 1_000_000, storedBytes: 300_000_000 },
          ];
        },
      }),
      out: (t) => {
        out += t;
      },
      err: () => {},
    });
    expect(code).toBe(0);
    expect(asked).toEqual([['2026-11-01', '2026-11-30']]);
    const row = (tenant: string) =>
      out
        .split('\n')
        .find((l) => l.startsWith(tenant))
        ?.trim()
        .split(/\s{2,}/);
    // acme: 3/4 of items (ingest 22.50, stream 7.50), 1/4 of bytes (hot tier 25.00): 55.00.
    expect(row('acme')).toEqual([
      'acme',
      '3,000,000',
      '100,000,000',
      '22.50',
      '7.50',
      '25.00',
      '0.00',
      '55.00',
    ]);
    expect(row('beta')).toEqual([
      'beta',
      '1,000,000',
      '300,000,000',
      '7.50',
      '2.50',
      '75.00',
      '0.00',
      '85.00',
    ]);
    expect(out).toContain('Shared (not attributed): 7.00 USD');
  });

  it('--by-tenant without a ClickHouse to read usage from says so', async () => {
    let err = '';
    const code = await runCostsCli(['--from', '2026-11-01', '--to', '2026-11-30', '--by-tenant'], {
      costExplorer: mockedCostExplorer({ $metadata: {} }),
      cloudWatch: () => undefined,
      usage: () => undefined,
      out: () => {},
      err: (t) => {
        err += t;
      },
    });
    expect(code).toBe(2);
    expect(err).toContain('--by-tenant needs CLICKHOUSE_URL');
  });
});
