import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CostExplorerClient } from '@aws-sdk/client-cost-explorer';
import { createRemoteClickHouse } from '../functions/shared/clickhouse/connect.js';
import {
  type CloudWatchApi,
  CloudWatchItemCountSource,
} from '../functions/shared/costs/cloudwatch-item-count-source.js';
import {
  type CostExplorerApi,
  CostExplorerCostSource,
} from '../functions/shared/costs/cost-explorer-cost-source.js';
import {
  buildCostReport,
  type CostMetric,
  type CostQuery,
  CostReportError,
  formatCostReport,
  validateQuery,
} from '../functions/shared/costs/cost-report.js';
import {
  attributeToTenants,
  ClickHouseTenantUsageSource,
  formatTenantAttribution,
  type TenantUsageSource,
} from '../functions/shared/costs/tenant-attribution.js';

const HELP = `Usage: npm run costs -- --from YYYY-MM-DD --to YYYY-MM-DD [options]

Spend of the pipeline per component (the \`component\` cost-allocation tag), from Cost Explorer,
with totals and the cost per million ingested items (from the pipeline's own CloudWatch metrics).

Options:
  --from YYYY-MM-DD     first day counted (UTC)                                   (required)
  --to YYYY-MM-DD       last day counted (UTC), inclusive                         (required)
  --environment NAME    only this deployment (the \`environment\` tag); needed for items per million
  --project NAME        value of the \`project\` tag                  (default: otlp-pipeline)
  --metric NAME         UnblendedCost | AmortizedCost | NetUnblendedCost | BlendedCost
                                                                     (default: UnblendedCost)
  --region REGION       region of the pipeline's CloudWatch metrics (default: AWS_REGION)
  --by-tenant           also share each component's cost out to tenants from the usage table in
                        ClickHouse (CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD,
                        CLICKHOUSE_DATABASE): ingest and stream by items, hot tier and lake by
                        bytes stored; the other components stay shared
  -h, --help            this text

Cost Explorer only groups by tags activated as cost-allocation tags (docs/deploy.md); spend
appears there about a day late. Credentials come from the usual AWS chain (AWS_PROFILE, ...).
Each run makes one or more GetCostAndUsage requests, which Cost Explorer bills (USD 0.01 each).`;

const METRICS: readonly CostMetric[] = ['UnblendedCost', 'AmortizedCost', 'NetUnblendedCost', 'BlendedCost'];

export interface CostsCliDeps {
  readonly costExplorer: CostExplorerApi;
  /** CloudWatch in the given region (`--region`, else the default); undefined skips the items lookup. */
  readonly cloudWatch: (region: string | undefined) => CloudWatchApi | undefined;
  /** The usage table (`--by-tenant`); undefined when no ClickHouse is configured. */
  readonly usage?: () => TenantUsageSource | undefined;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** Runs the CLI; returns the exit code (0 ok, 1 AWS or data error, 2 usage error). */
export async function runCostsCli(argv: readonly string[], deps: CostsCliDeps): Promise<number> {
  let query: CostQuery;
  let region: string | undefined;
  let byTenant = false;
  try {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        environment: { type: 'string' },
        project: { type: 'string', default: 'otlp-pipeline' },
        metric: { type: 'string', default: 'UnblendedCost' },
        region: { type: 'string' },
        'by-tenant': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      deps.out(`${HELP}\n`);
      return 0;
    }
    if (values.from === undefined || values.to === undefined)
      throw new CostReportError('`--from` and `--to` are required');
    const metric = METRICS.find((m) => m === values.metric);
    if (metric === undefined) {
      throw new CostReportError(`\`--metric\` must be one of ${METRICS.join(', ')}, got: ${values.metric}`);
    }
    query = {
      from: values.from,
      to: values.to,
      project: values.project,
      environment: values.environment,
      metric,
    };
    validateQuery(query);
    region = values.region;
    byTenant = values['by-tenant'] === true;
  } catch (error) {
    deps.err(`${error instanceof Error ? error.message : String(error)}\n\n${HELP}\n`);
    return 2;
  }

  try {
    const cloudWatch = deps.cloudWatch(region);
    const report = await buildCostReport(query, {
      costs: new CostExplorerCostSource(deps.costExplorer),
      items: cloudWatch === undefined ? undefined : new CloudWatchItemCountSource(cloudWatch),
    });
    deps.out(formatCostReport(report));
    if (byTenant) {
      const usage = deps.usage?.();
      if (usage === undefined)
        throw new CostReportError('--by-tenant needs CLICKHOUSE_URL (the usage table)');
      deps.out(formatTenantAttribution(attributeToTenants(report, await usage.totals(query.from, query.to))));
    }
    return 0;
  } catch (error) {
    if (error instanceof CostReportError) {
      deps.err(`${error.message}\n`);
      return 2;
    }
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    deps.err(`costs: ${name}: ${message}\n`);
    if (name === 'DataUnavailableException' || name === 'BillingViewHealthStatusException') {
      deps.err('Cost Explorer has no data for this range yet (new accounts take up to 24 h).\n');
    }
    return 1;
  }
}

const invokedDirectly =
  process.argv[1] !== undefined &&
  realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invokedDirectly) {
  let usageClient: { close(): Promise<void> } | undefined;
  const code = await runCostsCli(process.argv.slice(2), {
    // Cost Explorer answers in us-east-1 only; CloudWatch metrics live where the pipeline runs.
    costExplorer: new CostExplorerClient({ region: 'us-east-1' }),
    cloudWatch: (region) => {
      // `||`, not `??`: an exported-but-empty AWS_REGION means no region.
      const r = region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
      return r ? new CloudWatchClient({ region: r }) : undefined;
    },
    usage: () => {
      const url = process.env.CLICKHOUSE_URL;
      if (!url) return undefined;
      const database = process.env.CLICKHOUSE_DATABASE || 'default';
      const client = createRemoteClickHouse({
        url,
        username: process.env.CLICKHOUSE_USER || 'default',
        password: process.env.CLICKHOUSE_PASSWORD ?? '',
        database,
      });
      usageClient = client;
      return new ClickHouseTenantUsageSource(client, database);
    },
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  });
  await usageClient?.close(); // its keep-alive sockets would hold the process open
  process.exitCode = code;
}
