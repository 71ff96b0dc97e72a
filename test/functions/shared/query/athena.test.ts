import {
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  type StartQueryExecutionCommandInput,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { describe, expect, it } from 'vitest';
import {
  type AthenaSender,
  AthenaTelemetryReader,
} from '../../../../functions/shared/query/athena-reader.js';
import {
  athenaLogHistogramSql,
  athenaLogSearchSql,
  athenaMetricBucketsSql,
  athenaMetricHistogramsSql,
  athenaMetricNamesSql,
  athenaServiceEdgesSql,
  athenaServiceSeriesSql,
  athenaServicesSql,
  athenaTraceSearchSql,
  athenaTraceSpansSql,
  glueTables,
} from '../../../../functions/shared/query/athena-sql.js';
import { QueryEngineError, QueryTimeoutError } from '../../../../functions/shared/query/errors.js';

const ns = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;
const range = { fromNs: ns('2026-11-01T22:15:00Z'), toNs: ns('2026-11-02T03:00:00Z') };
const tables = glueTables('otel_lake');
const scope = { tenant: 'acme', range };

describe('Athena SQL (golden)', () => {
  const statements = {
    trace: athenaTraceSpansSql(
      { ...scope, traceId: '0af7651916cd43dd8448eb211c80319c', limit: 10_000 },
      tables,
    ),
    'trace-search': athenaTraceSearchSql(
      {
        ...scope,
        service: 'checkout',
        operation: 'GET /cart',
        minDurationNs: 100_000_000n,
        status: 'error',
        limit: 101,
        after: { startNs: ns('2026-11-02T01:00:00Z'), traceId: 'abc' },
      },
      tables,
    ),
    logs: athenaLogSearchSql(
      { ...scope, service: 'checkout', minSeverity: 17, text: 'payment failed', traceId: 'abc', limit: 101 },
      tables,
    ),
    metrics: athenaMetricBucketsSql(
      { ...scope, name: 'cpu.usage', service: 'checkout', attributes: [['host', 'a']], stepMs: 60_000 },
      tables,
    ),
    services: athenaServicesSql(scope, tables, 1000),
    operations: athenaServicesSql({ ...scope, service: 'checkout', byOperation: true }, tables, 1000),
    'service-series': athenaServiceSeriesSql({ ...scope, service: 'checkout', stepMs: 300_000 }, tables),
    'service-map': athenaServiceEdgesSql(scope, tables, 10_000),
    'log-histogram': athenaLogHistogramSql(
      { ...scope, service: 'checkout', minSeverity: 13, text: 'failed', traceId: 'abc', stepMs: 60_000 },
      tables,
    ),
    'metric-names': athenaMetricNamesSql({ ...scope, text: 'http' }, tables),
    'metric-percentiles': athenaMetricHistogramsSql(
      {
        ...scope,
        name: 'http.server.duration',
        service: 'checkout',
        attributes: [['region', 'eu']],
        groupByAttribute: 'host',
        stepMs: 300_000,
      },
      tables,
    ),
    'metrics-by-attribute': athenaMetricBucketsSql(
      { ...scope, name: 'cpu.usage', attributes: [], stepMs: 60_000, groupByAttribute: 'host' },
      tables,
    ),
  };

  it.each(Object.entries(statements))('%s matches its golden file', async (name, stmt) => {
    await expect(`${stmt.sql}\n-- parameters: ${JSON.stringify(stmt.params)}\n`).toMatchFileSnapshot(
      `./golden/athena-${name}.sql`,
    );
  });

  it.each(Object.entries(statements))('%s: tenant and partition predicates are always present', (_, stmt) => {
    expect(stmt.sql).toMatch(/tenant = \?/);
    expect(stmt.sql).toMatch(/dt BETWEEN \? AND \?/);
    expect(stmt.sql).toMatch(/OR hour >= \?/);
    expect(stmt.sql).toMatch(/OR hour <= \?/);
    // Placeholders and parameters line up one to one.
    expect(stmt.sql.split('?').length - 1).toBe(stmt.params.length);
    // The tenant value is a parameter, never statement text.
    expect(stmt.sql).not.toContain('acme');
    expect(stmt.params).toContain("'acme'");
    expect(stmt.params).toEqual(expect.arrayContaining(["'2026-11-01'", "'2026-11-02'", '22', '2']));
  });

  it('quotes an injection attempt into one string literal', () => {
    const stmt = athenaLogSearchSql({ ...scope, text: "x') OR tenant <> 'acme' --", limit: 10 }, tables);
    expect(stmt.sql).not.toContain('OR tenant <>');
    expect(stmt.params).toContain("'x'') OR tenant <> ''acme'' --'");
  });
});

/** A mocked Athena client: scripted answers per command, every command recorded. */
function mockedAthena(script: {
  states: string[];
  pages: string[][][];
  bytes?: number;
  failOnStart?: boolean;
}) {
  const sent: unknown[] = [];
  let poll = 0;
  let page = 0;
  const client = {
    send: async (command: unknown) => {
      sent.push(command);
      if (command instanceof StartQueryExecutionCommand) {
        if (script.failOnStart) throw new Error('AccessDenied');
        return { QueryExecutionId: 'q-1' };
      }
      if (command instanceof GetQueryExecutionCommand) {
        const state = script.states[Math.min(poll++, script.states.length - 1)];
        return {
          QueryExecution: {
            Status: { State: state, StateChangeReason: state === 'FAILED' ? 'SYNTAX_ERROR' : undefined },
            Statistics: { DataScannedInBytes: script.bytes ?? 0 },
          },
        };
      }
      if (command instanceof GetQueryResultsCommand) {
        const rows = script.pages[page] ?? [];
        const header = page === 0 ? [rows[0]!] : [];
        const data = page === 0 ? rows.slice(1) : rows;
        page++;
        return {
          ResultSet: {
            ResultSetMetadata: {
              ColumnInfo: (script.pages[0]?.[0] ?? []).map((n) => ({ Name: n, Type: 'varchar' })),
            },
            Rows: [...header, ...data].map((r) => ({ Data: r.map((v) => ({ VarCharValue: v })) })),
          },
          NextToken: page < script.pages.length ? `t${page}` : undefined,
        };
      }
      if (command instanceof StopQueryExecutionCommand) return {};
      throw new Error('unexpected command');
    },
  };
  return { client: client as unknown as AthenaSender, sent };
}

const LOG_COLUMNS = [
  'time_ms',
  'servicename',
  'severitytext',
  'severitynumber',
  'body',
  'traceid',
  'spanid',
  'log_attributes',
  'resource_attributes',
];

describe('AthenaTelemetryReader (mocked Athena)', () => {
  const options = { workgroup: 'otel-wg', database: 'otel_lake', sleep: async () => {}, pollMs: 1 };
  const budget = { deadlineMs: Date.now() + 60_000 };

  it('runs in the workgroup with execution parameters, reads every page and reports bytes scanned', async () => {
    const { client, sent } = mockedAthena({
      states: ['QUEUED', 'RUNNING', 'SUCCEEDED'],
      bytes: 123_456,
      pages: [
        [
          LOG_COLUMNS,
          ['1762041600000', 'checkout', 'ERROR', '17', 'payment failed', '', '', '{"a":"1"}', '{}'],
        ],
        [['1762041500000', 'checkout', 'INFO', '9', 'ok', 't', 's', '{}', '{"service.name":"checkout"}']],
      ],
    });
    const reader = new AthenaTelemetryReader(client, options);
    const result = await reader.searchLogs({ ...scope, text: 'payment', limit: 10 }, budget);
    const start = sent[0] as StartQueryExecutionCommand;
    const input: StartQueryExecutionCommandInput = start.input;
    expect(input.WorkGroup).toBe('otel-wg');
    expect(input.QueryExecutionContext).toEqual({ Database: 'otel_lake' });
    expect(input.ExecutionParameters?.[0]).toBe("'acme'");
    expect(input.ExecutionParameters).toContain("'payment'");
    expect(result.rows).toEqual([
      expect.objectContaining({
        timeUnixNano: '1762041600000000000',
        body: 'payment failed',
        severityNumber: 17,
        attributes: { a: '1' },
      }),
      expect.objectContaining({
        body: 'ok',
        traceId: 't',
        resourceAttributes: { 'service.name': 'checkout' },
      }),
    ]);
    expect(result.stats).toMatchObject({ tier: 'cold', engine: 'athena', bytesScanned: 123_456 });
  });

  it('parses spans with events and links from the JSON-cast arrays (mocked Athena)', async () => {
    const cols = [
      'traceid',
      'spanid',
      'parentspanid',
      'tracestate',
      'spanname',
      'spankind',
      'servicename',
      'start_ms',
      'duration',
      'statuscode',
      'statusmessage',
      'span_attributes',
      'resource_attributes',
      'scopename',
      'scopeversion',
      'events',
      'links',
    ];
    const { client } = mockedAthena({
      states: ['SUCCEEDED'],
      pages: [
        [
          cols,
          [
            't1',
            's1',
            '',
            '',
            'GET /',
            'SPAN_KIND_SERVER',
            'checkout',
            '1762041600000',
            '5000000',
            'STATUS_CODE_OK',
            '',
            '{"k":"v"}',
            '{}',
            'sc',
            '1',
            '[{"time_ms":1762041600001,"name":"ev","attributes":{"x":"y"}}]',
            '[["t2","s2","",{}]]',
          ],
        ],
      ],
    });
    const result = await new AthenaTelemetryReader(client, options).trace(
      { ...scope, traceId: 't1', limit: 10 },
      budget,
    );
    expect(result.rows[0]).toMatchObject({
      spanId: 's1',
      durationNanos: '5000000',
      attributes: { k: 'v' },
      events: [{ timeUnixNano: '1762041600001000000', name: 'ev', attributes: { x: 'y' } }],
      links: [{ traceId: 't2', spanId: 's2', traceState: '', attributes: {} }],
    });
  });

  it('stops the query and reports a timeout when the deadline passes (mocked Athena)', async () => {
    const { client, sent } = mockedAthena({ states: ['RUNNING'], pages: [] });
    let now = 0;
    const reader = new AthenaTelemetryReader(client, {
      ...options,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
    await expect(reader.services(scope, { deadlineMs: 5_000 })).rejects.toBeInstanceOf(QueryTimeoutError);
    expect(sent.some((c) => c instanceof StopQueryExecutionCommand)).toBe(true);
  });

  it('reports a failed query with its reason (mocked Athena)', async () => {
    const { client } = mockedAthena({ states: ['FAILED'], pages: [] });
    await expect(new AthenaTelemetryReader(client, options).services(scope, budget)).rejects.toThrow(
      QueryEngineError,
    );
    await expect(new AthenaTelemetryReader(client, options).services(scope, budget)).rejects.toThrow(
      /SYNTAX_ERROR/,
    );
  });
});
