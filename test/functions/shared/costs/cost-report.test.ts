import type { GetMetricDataCommand, GetMetricDataCommandOutput } from '@aws-sdk/client-cloudwatch';
import type {
  GetCostAndUsageCommand,
  GetCostAndUsageCommandOutput,
  Group,
} from '@aws-sdk/client-cost-explorer';
import { describe, expect, it } from 'vitest';
import { CloudWatchItemCountSource } from '../../../../functions/shared/costs/cloudwatch-item-count-source.js';
import { CostExplorerCostSource } from '../../../../functions/shared/costs/cost-explorer-cost-source.js';
import {
  buildCostReport,
  type CostQuery,
  CostReportError,
  formatCostReport,
  summarize,
  UNTAGGED,
  validateQuery,
} from '../../../../functions/shared/costs/cost-report.js';

// Cost Explorer and CloudWatch have no local emulator: these clients are mocked, and say so.
class MockedCostExplorer {
  readonly requests: GetCostAndUsageCommand['input'][] = [];
  constructor(private readonly pages: GetCostAndUsageCommandOutput[]) {}
  async send(command: GetCostAndUsageCommand): Promise<GetCostAndUsageCommandOutput> {
    this.requests.push(command.input);
    const page = this.pages[this.requests.length - 1];
    if (page === undefined) throw new Error('mocked Cost Explorer: no more pages');
    return page;
  }
}

class MockedCloudWatch {
  readonly requests: GetMetricDataCommand['input'][] = [];
  /** Daily sums per `signal` dimension value ('' for the series without one). */
  constructor(private readonly bySignal: Record<string, number[]>) {}
  async send(command: GetMetricDataCommand): Promise<GetMetricDataCommandOutput> {
    this.requests.push(command.input);
    return {
      $metadata: {},
      MetricDataResults: (command.input.MetricDataQueries ?? []).map((q) => {
        const signal = q.MetricStat?.Metric?.Dimensions?.find((d) => d.Name === 'signal')?.Value ?? '';
        return { Id: q.Id, Values: this.bySignal[signal] ?? [] };
      }),
    };
  }
}

const group = (component: string, amount: string): Group => ({
  Keys: [`component$${component}`],
  Metrics: { UnblendedCost: { Amount: amount, Unit: 'USD' } },
});
const page = (groups: Group[][], next?: string, estimated = false): GetCostAndUsageCommandOutput => ({
  $metadata: {},
  NextPageToken: next,
  ResultsByTime: groups.map((g, i) => ({
    TimePeriod: { Start: `2026-0${i + 1}-01`, End: `2026-0${i + 2}-01` },
    Groups: g,
    Estimated: estimated,
  })),
});

const query: CostQuery = {
  from: '2026-01-01',
  to: '2026-02-28',
  project: 'otlp-pipeline',
  environment: 'prod',
};

describe('cost report with a mocked Cost Explorer', () => {
  it('asks for the range with an exclusive end, grouped by the component tag and filtered on project and environment', async () => {
    const ce = new MockedCostExplorer([page([[group('ingest', '1')]])]);
    await new CostExplorerCostSource(ce).costByComponent(query);
    expect(ce.requests).toEqual([
      expect.objectContaining({
        TimePeriod: { Start: '2026-01-01', End: '2026-03-01' },
        Granularity: 'MONTHLY',
        Metrics: ['UnblendedCost'],
        GroupBy: [{ Type: 'TAG', Key: 'component' }],
        Filter: {
          And: [
            { Tags: { Key: 'project', Values: ['otlp-pipeline'], MatchOptions: ['EQUALS'] } },
            { Tags: { Key: 'environment', Values: ['prod'], MatchOptions: ['EQUALS'] } },
          ],
        },
      }),
    ]);
  });

  it('follows every page and adds up the months of each component', async () => {
    const ce = new MockedCostExplorer([
      page([[group('ingest', '10.50'), group('stream', '4.25')]], 'token-2'),
      page([[group('ingest', '9.50'), group('', '1.00')]]),
    ]);
    const report = await buildCostReport(query, { costs: new CostExplorerCostSource(ce) });
    expect(ce.requests.map((r) => r.NextPageToken)).toEqual([undefined, 'token-2']);
    expect(report.lines).toEqual([
      { component: 'ingest', amount: 20, share: 20 / 25.25, perMillionItems: undefined },
      { component: 'stream', amount: 4.25, share: 4.25 / 25.25, perMillionItems: undefined },
      { component: UNTAGGED, amount: 1, share: 1 / 25.25, perMillionItems: undefined },
    ]);
    expect(report.total).toBeCloseTo(25.25, 10);
  });

  it('prints a table with totals and the cost per million items from the mocked CloudWatch metric', async () => {
    const ce = new MockedCostExplorer([
      page([[group('ingest', '30'), group('lake', '10')]], undefined, true),
    ]);
    const cw = new MockedCloudWatch({
      traces: [100_000_000, 50_000_000],
      logs: [40_000_000],
      metrics: [10_000_000],
    });
    const report = await buildCostReport(query, {
      costs: new CostExplorerCostSource(ce),
      items: new CloudWatchItemCountSource(cw),
    });
    // One series per signal (ingest tags items with it) plus the signal-less one, summed.
    expect(cw.requests[0]?.MetricDataQueries?.map((q) => q.MetricStat)).toEqual(
      ['', 'traces', 'logs', 'metrics'].map((signal) => ({
        Metric: {
          Namespace: 'OtlpPipeline/prod',
          MetricName: 'ItemsAccepted',
          Dimensions: [
            { Name: 'service', Value: 'ingest' },
            ...(signal === '' ? [] : [{ Name: 'signal', Value: signal }]),
          ],
        },
        Period: 86_400,
        Stat: 'Sum',
      })),
    );
    const text = formatCostReport(report);
    const lines = text.split('\n');
    expect(lines[0]).toBe(
      'Cost by component, 2026-01-01 .. 2026-02-28 (project=otlp-pipeline, environment=prod), UnblendedCost',
    );
    expect(lines.find((l) => l.startsWith('ingest'))).toMatch(/^ingest\s+30\.00\s+75\.0 %\s+0\.1500$/);
    expect(lines.find((l) => l.startsWith('lake'))).toMatch(/^lake\s+10\.00\s+25\.0 %\s+0\.0500$/);
    expect(lines.find((l) => l.startsWith('total'))).toMatch(/^total\s+40\.00\s+100\.0 %\s+0\.2000$/);
    expect(text).toContain('Ingested items: 200,000,000');
    expect(text).toContain('still estimated');
  });

  it('says n/a for cost per million items when the pipeline has no metrics for the range', async () => {
    const ce = new MockedCostExplorer([page([[group('ingest', '5')]])]);
    const report = await buildCostReport(query, {
      costs: new CostExplorerCostSource(ce),
      items: new CloudWatchItemCountSource(new MockedCloudWatch({})),
    });
    expect(report.totalPerMillionItems).toBeUndefined();
    expect(formatCostReport(report)).toMatch(/total\s+5\.00\s+100\.0 %\s+n\/a/);
  });

  it('points at tag activation when nothing is tagged yet', () => {
    const text = formatCostReport(summarize(query, []));
    expect(text).toContain('are the cost-allocation tags active?');
    expect(text).toMatch(/total\s+0\.00\s+0\.0 %\s+n\/a/);
  });

  it('rejects impossible dates and reversed ranges before calling AWS', async () => {
    const ce = new MockedCostExplorer([]);
    for (const [from, to] of [
      ['2026-02-30', '2026-03-01'],
      ['2026-3-1', '2026-03-02'],
      ['2026-03-02', '2026-03-01'],
    ] as const) {
      await expect(
        buildCostReport({ ...query, from, to }, { costs: new CostExplorerCostSource(ce) }),
      ).rejects.toThrow(CostReportError);
    }
    expect(ce.requests).toHaveLength(0);
    expect(validateQuery({ ...query, from: '2026-12-31', to: '2026-12-31' })).toEqual({
      startInclusive: '2026-12-31',
      endExclusive: '2027-01-01',
    });
  });
});
