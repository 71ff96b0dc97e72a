import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../../functions/shared/alerts/duration.js';
import { FileRuleSource } from '../../../../functions/shared/alerts/rule-source.js';
import { parseRuleFile, RuleFileError } from '../../../../functions/shared/alerts/rules.js';

const ALERTS = join(import.meta.dirname, '../../../../alerts');

describe('shipped rule files', () => {
  it('every file under alerts/ validates, and together they cover every rule kind', async () => {
    const files = [
      ...(await readdir(ALERTS)).filter((f) => /\.(ya?ml|json)$/.test(f)),
      ...(await readdir(join(ALERTS, 'examples'))).map((f) => join('examples', f)),
    ];
    expect(files.length).toBeGreaterThanOrEqual(2);
    const kinds = new Set<string>();
    for (const f of files) {
      const parsed = parseRuleFile(await readFile(join(ALERTS, f), 'utf8'), f);
      for (const r of parsed.rules) kinds.add(r.kind);
    }
    expect([...kinds].sort()).toEqual([
      'absence',
      'anomaly',
      'error_ratio',
      'latency_percentile',
      'log_count',
      'metric_threshold',
      'slo_burn_rate',
    ]);
  });

  it('the deployed directory loads as the evaluator reads it', async () => {
    const files = await new FileRuleSource(ALERTS).load();
    expect(files.map((f) => f.tenant)).toEqual(['local']);
    const slo = files[0]!.rules.find((r) => r.kind === 'slo_burn_rate');
    // Defaults: the SRE workbook pairs.
    expect(slo?.kind === 'slo_burn_rate' && slo.windows).toEqual([
      { long: 3_600_000, short: 300_000, factor: 14.4 },
      { long: 21_600_000, short: 1_800_000, factor: 6 },
    ]);
  });
});

const rule = (extra: string) => `
tenant: acme
channels:
  ops: { type: slack, secret: env:SLACK }
rules:
  - id: r1
    name: test
    severity: warning
    runbook: https://runbooks.example.com/r1
    channels: [ops]
${extra
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;

describe('rule validation', () => {
  it('accepts JSON as well as YAML', () => {
    const json = JSON.stringify({
      tenant: 'acme',
      rules: [
        {
          id: 'j',
          name: 'j',
          severity: 'info',
          runbook: 'https://x.example.com',
          kind: 'error_ratio',
          window: '10m',
          threshold: 0.2,
        },
      ],
    });
    const parsed = parseRuleFile(json, 'acme.json');
    expect(parsed.rules[0]).toMatchObject({ window: 600_000, for: 0, groupBy: ['service'], op: '>' });
  });

  it.each([
    ['an unknown kind', 'kind: cpu\nwindow: 5m', 'kind'],
    ['a bad duration', 'kind: error_ratio\nwindow: 5 minutes\nthreshold: 0.1', 'window: expected a duration'],
    ['a ratio above 1', 'kind: error_ratio\nwindow: 5m\nthreshold: 5', 'threshold'],
    [
      'a log rule matching everything',
      'kind: log_count\nwindow: 5m\nthreshold: 1',
      'minSeverity and/or bodyContains',
    ],
    [
      'absence longer than its lookback',
      'kind: absence\nsignal: logs\nafter: 2h\nlookback: 1h',
      'after must be shorter',
    ],
    [
      'a burn pair with short >= long',
      'kind: slo_burn_rate\nobjective: 0.99\nwindows: [{ long: 5m, short: 1h, factor: 2 }]',
      'short must be shorter',
    ],
    ['a window past the hot tier', 'kind: error_ratio\nwindow: 30d\nthreshold: 0.1', 'at most 7d'],
  ])('rejects %s, naming the problem', (_what, extra, message) => {
    expect(() => parseRuleFile(rule(extra), 'acme.yaml')).toThrow(message);
  });

  it('rejects a rule routed to an undeclared channel and duplicate ids', () => {
    const text = `
tenant: acme
rules:
  - { id: a, name: a, severity: info, runbook: 'https://x.example.com', channels: [pager], kind: error_ratio, window: 5m, threshold: 0.1 }
  - { id: a, name: b, severity: info, runbook: 'https://x.example.com', kind: error_ratio, window: 5m, threshold: 0.1 }
`;
    let error: unknown;
    try {
      parseRuleFile(text, 'acme.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RuleFileError);
    expect(String(error)).toContain('unknown channel pager');
    expect(String(error)).toContain('duplicate rule id a');
  });

  it('rejects a secret that is neither a Secrets Manager ARN nor env:NAME', () => {
    const text = rule('kind: error_ratio\nwindow: 5m\nthreshold: 0.1').replace(
      'env:SLACK',
      'https://hooks.slack.com/x',
    );
    expect(() => parseRuleFile(text, 'acme.yaml')).toThrow('Secrets Manager secret ARN');
  });
});

describe('durations', () => {
  it('parses and prints the units rule files use', () => {
    expect([
      parseDuration('30s'),
      parseDuration('5m'),
      parseDuration('6h'),
      parseDuration('7d'),
      parseDuration('0'),
    ]).toEqual([30_000, 300_000, 21_600_000, 604_800_000, 0]);
    expect(parseDuration('5 m')).toBeUndefined();
    expect([formatDuration(300_000), formatDuration(5_400_000), formatDuration(86_400_000)]).toEqual([
      '5m',
      '90m',
      '1d',
    ]);
  });
});
