import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { applyMigrations } from '../../functions/shared/clickhouse/migrations.js';
import { ClickHouseTelemetryWriter } from '../../functions/shared/clickhouse/writer.js';
import { decodeOtlp } from '../../functions/shared/otlp/decode.js';
import type { ColumnBatch } from '../../functions/shared/rows/batch.js';
import { flatten } from '../../functions/shared/rows/flatten.js';
import { createEmbeddedClickHouse } from '../../local/clickhouse-embedded.js';
import { seededRandom } from '../../local/demo/random.js';
import { runDemo } from '../../local/demo/run-demo.js';
import { expandGrafanaSql, type GrafanaQueryContext } from './macros.js';

/**
 * Every panel and variable query of grafana/dashboards, with the ClickHouse plugin's macros and
 * Grafana's template variables expanded as they would be (./macros.ts), runs on the embedded
 * engine over data from `npm run demo` (the demo's OTel SDKs -> our decoder, flattener and hot
 * writer) and returns rows of the shape its panel format needs.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DASHBOARDS = join(ROOT, 'grafana/dashboards');
const PROVISIONING = join(ROOT, 'grafana/provisioning');
const TENANT = 'acme';

interface Target {
  readonly refId: string;
  readonly datasource: { readonly type: string; readonly uid: string };
  readonly queryType: 'timeseries' | 'table' | 'logs' | 'traces';
  readonly format: number;
  readonly rawSql: string;
}
interface Panel {
  readonly id: number;
  readonly title: string;
  readonly type: string;
  readonly targets: Target[];
}
interface Variable {
  readonly name: string;
  readonly type: 'query' | 'textbox' | 'custom';
  readonly multi?: boolean;
  readonly includeAll?: boolean;
  readonly query: string | { readonly rawSql: string };
  readonly current?: { readonly value: string };
}
interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly panels: Panel[];
  readonly templating: { readonly list: Variable[] };
}

const dashboards: [string, Dashboard][] = readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => [f, JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as Dashboard]);

let client: ClickHouseClient;
let receiver: Server;
let traceWithError = '';

async function run(sql: string): Promise<{ meta: { name: string; type: string }[]; data: unknown[][] }> {
  const rs = await client.query({ query: sql, format: 'JSONCompact' });
  const json = await rs.json<unknown[]>();
  return { meta: json.meta ?? [], data: json.data as unknown[][] };
}

beforeAll(async () => {
  client = createEmbeddedClickHouse({ path: mkdtempSync(join(tmpdir(), 'ch-grafana-')) });
  await applyMigrations(client, { hotRetentionDays: 7 });
  const writer = new ClickHouseTelemetryWriter(client);
  let seq = 0;
  const pending: Promise<unknown>[] = [];
  // An OTLP/HTTP receiver doing what ingest + hot writer do, minus the stream.
  receiver = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const signal = req.url?.replace(/^\/v1\//, '');
      if (signal !== 'traces' && signal !== 'logs' && signal !== 'metrics') {
        res.writeHead(404).end();
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const otlp = decodeOtlp(signal, body, 'protobuf');
      const { batches } = flatten({
        tenant: TENANT,
        otlp,
        receivedAtNs: (BigInt(Date.now()) * 1_000_000n).toString(),
      });
      const batchList: ColumnBatch[] = batches;
      if (batchList.length > 0) {
        const position = { stream: 'demo', shardId: 'shard-0', sequenceNumber: String(++seq) };
        pending.push(writer.write([{ position, tenant: TENANT, batches: batchList }]));
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const { port } = receiver.address() as AddressInfo;
  // Errors are a few percent of the demo's traces, mostly on its less frequent routes: run it in
  // rounds (one random sequence throughout) until a request (a Server span, what service RED
  // counts) has failed.
  const random = seededRandom(7);
  for (let round = 0; round < 12 && traceWithError === ''; round++) {
    await runDemo({
      endpoint: `http://127.0.0.1:${port}`,
      apiKey: 'demo',
      rate: 100,
      durationMs: 2500,
      exportDelayMs: 200,
      metricIntervalMs: 500,
      progressIntervalMs: 10_000,
      random,
    });
    await Promise.all(pending);
    const [row] = (
      await run(`SELECT any(TraceId) FROM otel_traces WHERE StatusCode = 'Error' AND SpanKind = 'Server'`)
    ).data;
    traceWithError = String(row?.[0] ?? '');
  }
}, 240_000);

afterAll(async () => {
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
  await client?.close();
});

/** Grafana's state for a dashboard: time range, interval, and every variable resolved in order. */
async function contextFor(d: Dashboard): Promise<GrafanaQueryContext> {
  const nowMs = Date.now();
  const ctx: GrafanaQueryContext = {
    fromMs: nowMs - 3_600_000,
    toMs: nowMs + 60_000,
    // Grafana derives it from range / max data points; 10 s is what a 1 h range gets on a wide panel.
    intervalMs: 10_000,
    variables: {},
  };
  for (const v of d.templating.list) {
    if (v.type === 'query') {
      const sql = typeof v.query === 'string' ? v.query : v.query.rawSql;
      const options = (await run(expandGrafanaSql(sql, ctx))).data.map((r) => String(r[0]));
      expect(options, `variable ${v.name}`).not.toHaveLength(0);
      // "All" (the default where offered) sends every option; a single-value variable its first.
      ctx.variables[v.name] = v.includeAll ? options : [options[0]!];
    } else if (v.name === 'trace_id') {
      ctx.variables[v.name] = [traceWithError]; // what "Open trace" on a row sets
    } else {
      ctx.variables[v.name] = [v.current?.value ?? (typeof v.query === 'string' ? v.query : '')];
    }
  }
  return ctx;
}

const REQUIRED_COLUMNS: Record<Target['queryType'], string[]> = {
  timeseries: [],
  table: [],
  logs: ['timestamp', 'body', 'level', 'traceID'],
  traces: [
    'traceID',
    'spanID',
    'parentSpanID',
    'serviceName',
    'operationName',
    'startTime',
    'duration',
    'tags',
    'serviceTags',
  ],
};

describe('Grafana dashboards on the embedded engine, over demo data', () => {
  it('the demo produced errors to find', () => {
    expect(traceWithError).toMatch(/^[0-9a-f]{32}$/);
  });

  it.each(dashboards)('%s: every panel returns rows of its format', async (_, d) => {
    const ctx = await contextFor(d);
    expect(d.panels.length).toBeGreaterThan(0);
    for (const panel of d.panels) {
      for (const t of panel.targets) {
        const label = `${d.uid} / ${panel.title}`;
        expect(t.datasource.type, label).toBe('grafana-clickhouse-datasource');
        const sql = expandGrafanaSql(t.rawSql, ctx);
        expect(sql, label).not.toMatch(/\$/); // nothing left unexpanded
        const result = await run(sql);
        expect(result.data.length, label).toBeGreaterThan(0);
        const names = result.meta.map((m) => m.name);
        expect(names, label).toEqual(expect.arrayContaining(REQUIRED_COLUMNS[t.queryType]));
        if (t.queryType === 'timeseries') {
          expect(result.meta[0]?.type, `${label}: time first`).toMatch(/^DateTime/);
        }
      }
    }
  });

  it('service RED counts the demo errors under the exporter spellings', async () => {
    const d = dashboards.find(([, x]) => x.uid === 'otel-service-red')![1];
    const ctx = await contextFor(d);
    const ratio = d.panels.find((p) => p.title === 'Error ratio')!.targets[0]!;
    const rows = (await run(expandGrafanaSql(ratio.rawSql, ctx))).data;
    expect(rows.some((r) => Number(r[2]) > 0)).toBe(true);
  });

  it('the trace panel draws the whole trace picked from the error list', async () => {
    const d = dashboards.find(([, x]) => x.uid === 'otel-trace-explorer')![1];
    const ctx = await contextFor(d);
    const waterfall = d.panels.find((p) => p.targets[0]?.queryType === 'traces')!.targets[0]!;
    const spans = (await run(expandGrafanaSql(waterfall.rawSql, ctx))).data;
    const [all] = (await run(`SELECT count() FROM otel_traces WHERE TraceId = '${traceWithError}'`)).data;
    expect(spans.length).toBe(Number(all?.[0]));
    expect(spans.length).toBeGreaterThan(1);
  });
});

describe('Grafana provisioning', () => {
  const datasources = parseYaml(readFileSync(join(PROVISIONING, 'datasources/otel.yaml'), 'utf8')) as {
    datasources: { uid: string; type: string; jsonData: Record<string, unknown> }[];
  };

  it('provisions the ClickHouse data source the dashboards name, and the Athena one for the lake', () => {
    const types = Object.fromEntries(datasources.datasources.map((d) => [d.type, d]));
    const uids = new Set(
      dashboards.flatMap(([, d]) => d.panels.flatMap((p) => p.targets.map((t) => t.datasource.uid))),
    );
    expect([...uids]).toEqual([types['grafana-clickhouse-datasource']?.uid]);
    expect(types['grafana-athena-datasource']?.jsonData).toMatchObject({ catalog: 'AwsDataCatalog' });
  });

  it('loads the dashboards folder', () => {
    const providers = parseYaml(readFileSync(join(PROVISIONING, 'dashboards/otel.yaml'), 'utf8')) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(providers.providers[0]).toMatchObject({ type: 'file' });
  });
});
