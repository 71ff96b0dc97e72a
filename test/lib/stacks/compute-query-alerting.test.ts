import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAlertEvaluatorConfig } from '../../../functions/alert-evaluator/config.js';
import { parseAlertsApiConfig } from '../../../functions/alerts-api/config.js';
import { parseNotifierConfig } from '../../../functions/notifiers/config.js';
import { parseQueryConfig } from '../../../functions/query/config.js';
import { queryRoutes } from '../../../functions/query/handler.js';
import { ALERTS_ROUTES } from '../../../functions/shared/alerts/alerts-routes.js';
import { CHANNEL_TYPES } from '../../../functions/shared/alerts/rules.js';
import { CONSOLE_ROUTES } from '../../../functions/shared/console/static-site.js';
import { TABLE_NAMES } from '../../../functions/shared/schema/columns.js';
import type { PipelineFunction } from '../../../lib/constructs/pipeline-function.js';
import type { ComputeStack } from '../../../lib/stacks/compute-stack.js';
import { testApp } from '../support/app.js';

const SHARED_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shared/pagerduty-AbCdEf';

let stack: ComputeStack;
let template: Template;

beforeAll(() => {
  stack = testApp({ environment: 'prod', queryTimeoutMs: '20000', alertSecretArns: SHARED_SECRET }).compute;
  template = Template.fromStack(stack);
});

type Resource = { Type: string; Properties: Record<string, unknown> };
const resources = () => template.toJSON().Resources as Record<string, Resource>;
const ofType = (type: string) => Object.entries(resources()).filter(([, r]) => r.Type === type);
const logicalId = (fn: PipelineFunction) => stack.getLogicalId(fn.function.node.defaultChild as never);
const propsOf = (fn: PipelineFunction) => resources()[logicalId(fn)]?.Properties ?? {};
const envOf = (fn: PipelineFunction) =>
  (propsOf(fn).Environment as { Variables: Record<string, unknown> }).Variables;
/** The statements of the policies attached to a function's role. */
const statementsOf = (fn: PipelineFunction) => {
  const role = stack.getLogicalId(fn.function.role?.node.defaultChild as never);
  return ofType('AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(`"${role}"`))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement);
};
const actionsOf = (fn: PipelineFunction) =>
  statementsOf(fn).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])) as string[];

/** An environment as the function would see it: CloudFormation references become placeholders. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  const v = value as Record<string, unknown>;
  if (Array.isArray(v['Fn::Join'])) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(sep);
  }
  // An HTTP API's endpoint attribute, as API Gateway fills it in.
  const getAtt = v['Fn::GetAtt'];
  if (Array.isArray(getAtt) && getAtt[1] === 'ApiEndpoint')
    return 'https://api-id.execute-api.region.amazonaws.com';
  return 'resolved';
}
const renderedEnv = (fn: PipelineFunction) =>
  Object.fromEntries(Object.entries(envOf(fn)).map(([k, v]) => [k, render(v)]));

describe('compute stack: console', () => {
  it("serves the console from its own function on the query API's origin, with nothing but GET routes", () => {
    const queryApiRef = JSON.stringify({
      Ref: stack.getLogicalId(stack.queryApi.node.defaultChild as never),
    });
    const consoleIntegration = ofType('AWS::ApiGatewayV2::Integration').find(([, i]) =>
      JSON.stringify(i.Properties.IntegrationUri).includes(logicalId(stack.console)),
    );
    expect(consoleIntegration).toBeDefined();
    const integrationRef = `integrations/${consoleIntegration![0]}`;
    const routes = ofType('AWS::ApiGatewayV2::Route').filter(([, r]) =>
      JSON.stringify(r.Properties.Target).includes(consoleIntegration![0]),
    );
    expect(routes.map(([, r]) => r.Properties.RouteKey).sort()).toEqual(
      CONSOLE_ROUTES.map((p) => `GET ${p}`).sort(),
    );
    for (const [, r] of routes) {
      expect(JSON.stringify(r.Properties.ApiId)).toBe(queryApiRef);
      expect(JSON.stringify(r.Properties.Target)).toContain(integrationRef.split('/')[1]);
    }
    // The query API stays without CORS: the console is on the same origin.
    const queryApi = resources()[stack.getLogicalId(stack.queryApi.node.defaultChild as never)];
    expect(queryApi?.Properties.CorsConfiguration).toBeUndefined();
    expect(propsOf(stack.console)).toMatchObject({ MemorySize: 256, Timeout: 10, Architectures: ['arm64'] });
    // A static file server gets no permission to data.
    expect(actionsOf(stack.console).filter((a) => !a.startsWith('xray:') && !a.startsWith('logs:'))).toEqual(
      [],
    );
    const output = template.findOutputs('ConsoleUrl').ConsoleUrl;
    expect(render(output?.Value)).toBe('https://api-id.execute-api.region.amazonaws.com/');
  });
});

describe('compute stack: query API', () => {
  it('routes every query route of the handler to the query function on its own HTTP API', () => {
    const routeKeys = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey);
    expect(queryRoutes.length).toBeGreaterThanOrEqual(5);
    for (const r of queryRoutes) expect(routeKeys).toContain(`${r.method} ${r.path}`);
    expect(routeKeys).toContain('GET /v1/query/traces/{traceId}');
    // Two APIs: browser CORS (a whole-API setting) may open ingest, never the query routes.
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 2);
    const queryRouteApis = new Set(
      ofType('AWS::ApiGatewayV2::Route')
        .filter(([, r]) => String(r.Properties.RouteKey).startsWith('GET /v1/query/'))
        .map(([, r]) => JSON.stringify(r.Properties.ApiId)),
    );
    expect([...queryRouteApis]).toEqual([
      JSON.stringify({ Ref: stack.getLogicalId(stack.queryApi.node.defaultChild as never) }),
    ]);
    const queryIntegration = ofType('AWS::ApiGatewayV2::Integration').find(([, i]) =>
      JSON.stringify(i.Properties.IntegrationUri).includes(logicalId(stack.query)),
    );
    expect(queryIntegration?.[1].Properties).toMatchObject({
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
    const output = template.findOutputs('QueryApiUrl').QueryApiUrl;
    expect(render(output?.Value)).toBe('https://api-id.execute-api.region.amazonaws.com/v1/query');
  });

  it('stops the query function before API Gateway gives up, and gives it the environment its config.ts reads', () => {
    expect(propsOf(stack.query)).toMatchObject({ Timeout: 29, MemorySize: 1024 });
    const config = parseQueryConfig(renderedEnv(stack.query));
    expect(config).toMatchObject({
      QUERY_TIMEOUT_MS: 20_000,
      HOT_RETENTION_DAYS: 7,
      ATHENA_WORKGROUP: 'otlp-prod',
    });
    expect(config.QUERY_TIMEOUT_MS).toBeLessThan(29_000);
    expect(Object.keys(envOf(stack.query))).toEqual(
      expect.arrayContaining([
        'TENANTS_TABLE',
        'GLUE_DATABASE',
        'LAKE_BUCKET',
        'CURSOR_SECRET_ARN',
        'CLICKHOUSE_SECRET_ARN',
      ]),
    );
    expect(JSON.stringify(envOf(stack.query).CURSOR_SECRET_ARN)).toContain('QueryCursorSecret');
  });

  it('lets the query function run Athena in its workgroup, read the catalog and the lake, never write it', () => {
    const statements = statementsOf(stack.query);
    const actions = actionsOf(stack.query);
    expect(actions).toEqual(
      expect.arrayContaining([
        'athena:StartQueryExecution',
        'athena:GetQueryExecution',
        'athena:GetQueryResults',
        'athena:StopQueryExecution',
        'glue:GetTable',
        'dynamodb:GetItem',
        'secretsmanager:GetSecretValue',
      ]),
    );
    const athena = statements.find((s) => JSON.stringify(s.Action).includes('athena:StartQueryExecution'));
    expect(JSON.stringify(athena?.Resource)).toContain(':workgroup/otlp-prod');
    // Exactly the lake tables in the catalog, no table wildcard.
    const glue = JSON.stringify(statements.find((s) => JSON.stringify(s.Action).includes('glue:GetTable')));
    for (const table of TABLE_NAMES) expect(glue).toContain(`:table/otlp_prod/${table}`);
    expect(glue).not.toContain('/*');
    // Lake: read-only, per table prefix; results bucket: read and write.
    const lakeStatements = statements.filter((s) => JSON.stringify(s.Resource).includes('LakeBucket'));
    expect(lakeStatements.flatMap((s) => [s.Action].flat())).not.toContain('s3:PutObject');
    expect(JSON.stringify(lakeStatements)).toContain('/otel_traces/*');
    const results = statements.find((s) => JSON.stringify(s.Resource).includes('/results/*'));
    expect(results?.Action).toEqual(expect.arrayContaining(['s3:GetObject', 's3:PutObject']));
    expect(actions).not.toContain('s3:DeleteObject');
    expect(actions.some((a) => a.endsWith(':*'))).toBe(false);
  });
});

describe('compute stack: alerting', () => {
  it('runs the alert evaluator every minute, one at a time, with a retry policy and a dead-letter queue', () => {
    expect(propsOf(stack.alertEvaluator)).toMatchObject({
      ReservedConcurrentExecutions: 1,
      DeadLetterConfig: { TargetArn: expect.anything() },
    });
    expect(propsOf(stack.alertEvaluator).Timeout).toBeLessThan(60);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 minute)',
      Target: {
        Arn: { 'Fn::GetAtt': [logicalId(stack.alertEvaluator), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 120 },
        DeadLetterConfig: { Arn: Match.anyValue() },
      },
    });
    // A throttled or failed round is dropped (to the DLQ), not queued up behind the next ones.
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(stack.alertEvaluator) },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 120,
    });
  });

  it('gives the evaluator its environment: rules shipped in the bundle, state table, bus, query API URL', () => {
    const config = parseAlertEvaluatorConfig(renderedEnv(stack.alertEvaluator));
    expect(config).toMatchObject({ ALERT_RULES_DIR: 'alerts', ALERT_CONCURRENCY: 4 });
    expect(config.QUERY_API_URL).toBe('https://api-id.execute-api.region.amazonaws.com');
    const env = JSON.stringify(envOf(stack.alertEvaluator));
    expect(env).toContain('AlertStateTable');
    expect(env).toContain('AlertBus');
  });

  it('lets the evaluator put events on the bus, read/write its state, read the API rules and append history, nothing broader', () => {
    const statements = statementsOf(stack.alertEvaluator);
    const put = statements.find((s) => s.Action === 'events:PutEvents');
    expect(JSON.stringify(put?.Resource)).toContain('AlertBus');
    const dynamo = statements.filter((s) => JSON.stringify(s.Action).includes('dynamodb:'));
    const on = (table: string) =>
      dynamo
        .filter((s) => JSON.stringify(s.Resource).includes(table))
        .flatMap((s) => [s.Action].flat())
        .sort();
    expect(on('AlertStateTable')).toEqual(['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
    // The API's rules and silences are read; the history is only appended to.
    expect(on('AlertConfigTable')).toEqual(['dynamodb:Query', 'dynamodb:Scan']);
    expect(on('AlertHistoryTable')).toEqual(['dynamodb:PutItem']);
    expect(dynamo.flatMap((s) => [s.Action].flat())).toHaveLength(6);
    expect(actionsOf(stack.alertEvaluator)).toContain('secretsmanager:GetSecretValue');
    expect(actionsOf(stack.alertEvaluator)).not.toContain('dynamodb:DeleteItem');
  });

  it('deploys one notifier per channel type, each subscribed to its channel type with retries and a DLQ alarm', () => {
    expect([...stack.notifiers.keys()].sort()).toEqual([
      'email',
      'opsgenie',
      'pagerduty',
      'slack',
      'teams',
      'webhook',
    ]);
    const rules = ofType('AWS::Events::Rule').map(([, r]) => r.Properties);
    for (const [channel, fn] of stack.notifiers) {
      expect(parseNotifierConfig(renderedEnv(fn)).NOTIFIER_CHANNEL).toBe(channel);
      expect(envOf(fn).POWERTOOLS_SERVICE_NAME).toBe(`notifier-${channel}`);
      const rule = rules.find((r) => JSON.stringify(r.Targets).includes(`"${logicalId(fn)}"`));
      expect(rule, channel).toMatchObject({
        EventBusName: { Ref: expect.stringMatching(/^AlertBus/) },
        EventPattern: {
          source: ['otlp.alerts'],
          'detail-type': ['AlertFiring', 'AlertResolved'],
          detail: { channels: { type: [channel] } },
        },
        Targets: [
          expect.objectContaining({
            RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 },
            DeadLetterConfig: { Arn: expect.anything() },
          }),
        ],
      });
      expect(propsOf(fn).DeadLetterConfig).toEqual({ TargetArn: expect.anything() });
    }
    const dlqAlarms = ofType('AWS::CloudWatch::Alarm').filter(([, a]) =>
      String(a.Properties.AlarmDescription).startsWith('Events for notifier-'),
    );
    expect(dlqAlarms).toHaveLength(CHANNEL_TYPES.length);
  });

  it('lets only the e-mail notifier publish to the alert topic, and the others read only channel secrets', () => {
    const email = stack.notifiers.get('email');
    const slack = stack.notifiers.get('slack');
    if (email === undefined || slack === undefined) throw new Error('missing notifiers');
    expect(actionsOf(email)).toContain('sns:Publish');
    expect(JSON.stringify(statementsOf(email))).toContain('AlertEmailTopic');
    expect(actionsOf(email)).not.toContain('secretsmanager:GetSecretValue');
    for (const channel of ['slack', 'webhook', 'pagerduty', 'teams', 'opsgenie'] as const) {
      const fn = stack.notifiers.get(channel);
      if (fn === undefined) throw new Error(channel);
      expect(actionsOf(fn), channel).not.toContain('sns:Publish');
      const secrets = JSON.stringify(
        statementsOf(fn).filter((s) => s.Action === 'secretsmanager:GetSecretValue'),
      );
      expect(secrets, channel).toContain(':secret:otlp-pipeline/prod/alerts/*');
      expect(secrets, channel).toContain(SHARED_SECRET);
      // Not the ClickHouse secret: a notifier never talks to the database.
      expect(secrets, channel).not.toContain('ClickHouseSecret');
    }
    expect(JSON.stringify(envOf(email))).not.toContain('CLICKHOUSE');
  });

  it('mounts every alerts API route on the query HTTP API (no CORS), with write-only access to its channel secrets', () => {
    const routeKeys = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey);
    for (const r of ALERTS_ROUTES) expect(routeKeys).toContain(`${r.method} ${r.path}`);
    const alertRouteApis = new Set(
      ofType('AWS::ApiGatewayV2::Route')
        .filter(([, r]) => String(r.Properties.RouteKey).includes(' /v1/alerts/'))
        .map(([, r]) => JSON.stringify(r.Properties.ApiId)),
    );
    expect([...alertRouteApis]).toEqual([
      JSON.stringify({ Ref: stack.getLogicalId(stack.queryApi.node.defaultChild as never) }),
    ]);
    const integration = ofType('AWS::ApiGatewayV2::Integration').find(([, i]) =>
      JSON.stringify(i.Properties.IntegrationUri).includes(logicalId(stack.alertsApi)),
    );
    expect(integration?.[1].Properties).toMatchObject({
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
    const env = renderedEnv(stack.alertsApi);
    expect(parseAlertsApiConfig(env)).toMatchObject({ ALERT_SECRET_PREFIX: 'otlp-pipeline/prod/alerts/' });
    const secrets = statementsOf(stack.alertsApi).filter((st) =>
      JSON.stringify(st.Action).includes('secretsmanager:'),
    );
    // It writes secrets, under the prefix only, and never reads one back.
    expect(JSON.stringify(secrets)).toContain(':secret:otlp-pipeline/prod/alerts/*');
    expect(actionsOf(stack.alertsApi)).not.toContain('secretsmanager:GetSecretValue');
    expect(actionsOf(stack.alertsApi)).toContain('secretsmanager:CreateSecret');
    // The evaluator reads the API's rules and silences and records the history.
    const evaluatorEnv = renderedEnv(stack.alertEvaluator);
    expect(evaluatorEnv.ALERT_CONFIG_TABLE).toBeTruthy();
    expect(evaluatorEnv.ALERT_HISTORY_TABLE).toBeTruthy();
    expect(actionsOf(stack.alertEvaluator)).toContain('dynamodb:Scan');
  });

  it('shows the query and alerting functions on the dashboard', () => {
    const [, dashboard] = ofType('AWS::CloudWatch::Dashboard')[0] ?? [];
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const fn of [stack.query, stack.alertEvaluator, ...stack.notifiers.values()]) {
      expect(body).toContain(logicalId(fn));
    }
  });
});
