import { Duration, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { PipelineFunction } from '../../../lib/constructs/pipeline-function.js';
import {
  CONSTRUCT_ENV_NAMES,
  FUNCTION_ENV_SCHEMAS,
  type FunctionName,
  schemaEnvNames,
} from '../../../lib/function-environments.js';
import type { ComputeStack } from '../../../lib/stacks/compute-stack.js';
import { testApp } from '../support/app.js';

type Resource = { Type: string; Properties: Record<string, unknown> };

/**
 * Stands in for what CloudFormation resolves at deploy time (a table name, an ARN, an API URL):
 * a URL is a non-empty string too, so one value satisfies every kind of reference.
 */
const TOKEN_PLACEHOLDER = 'https://resolved-at-deploy.example/token';

/** Each PipelineFunction of the stack with the environment CloudFormation would give it. */
function synthesizedEnvironments(stack: ComputeStack) {
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, Resource>;
  return stack.node
    .findAll()
    .filter((c): c is PipelineFunction => c instanceof PipelineFunction)
    .map((fn) => {
      const id = stack.getLogicalId(fn.function.node.defaultChild as never);
      const vars =
        (resources[id]?.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)
          ?.Variables ?? {};
      const env = Object.fromEntries(
        Object.entries(vars).map(([k, v]) => [k, typeof v === 'string' ? v : TOKEN_PLACEHOLDER]),
      );
      return { fn, env };
    });
}

// Every optional variable the settings can set, so those names are checked too.
const EVERY_OPTION = {
  environment: 'prod',
  redactionRules: '{"dropKeys":["password"],"hashSalt":"s"}',
  defaultItemsPerSecond: 100,
  defaultBurst: 1000,
  defaultBytesPerDay: 1e9,
  defaultItemsPerDay: 1e6,
};

describe('function environments (one definition: functions/<name>/config.ts)', () => {
  for (const [label, context] of [
    ['default settings', { environment: 'prod' }],
    ['every optional setting', EVERY_OPTION],
  ] as const) {
    it(`gives every function an environment its own schema parses, and nothing it does not read (${label})`, () => {
      const fns = synthesizedEnvironments(testApp(context).compute);
      // Every function folder is deployed, so every schema is exercised here.
      expect(new Set(fns.map(({ fn }) => fn.folder))).toEqual(
        new Set(Object.keys(FUNCTION_ENV_SCHEMAS) as FunctionName[]),
      );
      for (const { fn, env } of fns) {
        const schema = FUNCTION_ENV_SCHEMAS[fn.folder];
        const known = new Set([...schemaEnvNames(schema), ...CONSTRUCT_ENV_NAMES]);
        // zod drops unknown keys, so a variable nobody reads would pass the parse: check names first.
        expect(
          Object.keys(env).filter((k) => !known.has(k)),
          fn.name,
        ).toEqual([]);
        if (schema !== null) {
          const parsed = schema.safeParse(env);
          expect(parsed.success ? 'parses' : parsed.error.message, fn.name).toBe('parses');
        }
      }
    });
  }

  it('sets the optional ingest variables only when their setting is given', () => {
    const env = (context: Record<string, unknown>) =>
      synthesizedEnvironments(testApp(context).compute).find(({ fn }) => fn.folder === 'ingest')?.env ?? {};
    const optional = [
      'REDACTION_RULES',
      'DEFAULT_ITEMS_PER_SECOND',
      'DEFAULT_BURST',
      'DEFAULT_BYTES_PER_DAY',
      'DEFAULT_ITEMS_PER_DAY',
    ];
    expect(Object.keys(env({ environment: 'prod' })).filter((k) => optional.includes(k))).toEqual([]);
    expect(env(EVERY_OPTION)).toMatchObject({
      REDACTION_RULES: EVERY_OPTION.redactionRules,
      DEFAULT_ITEMS_PER_SECOND: '100',
      DEFAULT_BURST: '1000',
      DEFAULT_BYTES_PER_DAY: '1000000000',
      DEFAULT_ITEMS_PER_DAY: '1000000',
    });
  });

  it('schemaEnvNames reads the names of objects, intersections and refined schemas', () => {
    expect([...schemaEnvNames(FUNCTION_ENV_SCHEMAS.query)]).toEqual(
      expect.arrayContaining([
        'TENANTS_TABLE',
        'CURSOR_SECRET_ARN',
        'CLICKHOUSE_SECRET_ARN',
        'CLICKHOUSE_URL',
      ]),
    );
    expect([...schemaEnvNames(FUNCTION_ENV_SCHEMAS.ingest)]).toContain('STREAM_NAME');
    expect(schemaEnvNames(FUNCTION_ENV_SCHEMAS.console).size).toBe(0);
  });
});

/**
 * Compile-time checks: `tsc` (npm run lint) fails if a `@ts-expect-error` below stops being an
 * error, i.e. if the stacks could set a name the function's schema does not read. Type-checked, never run.
 */
function compileTimeChecks(stack: Stack): void {
  const common = {
    component: 'ingest',
    memorySize: 128,
    timeout: Duration.seconds(1),
    invocation: 'synchronous',
    metricsNamespace: 'x',
  } as const;
  // A misspelt name.
  // @ts-expect-error STREAM_NAM is not in functions/ingest/config.ts
  new PipelineFunction(stack, 'A', { ...common, name: 'ingest', environment: { STREAM_NAM: 'x' } });
  // Another function's name.
  // @ts-expect-error LAKE_BUCKET is the lake writer's, not the ingest's
  new PipelineFunction(stack, 'B', { ...common, name: 'ingest', environment: { LAKE_BUCKET: 'x' } });
  // A name added after construction.
  const ingest = new PipelineFunction(stack, 'C', { ...common, name: 'ingest' });
  ingest.addEnvironment('QUOTA_EVENT_BUS', 'bus');
  // @ts-expect-error NOTIFIER_CHANNEL is the notifiers'
  ingest.addEnvironment('NOTIFIER_CHANNEL', 'slack');
  new PipelineFunction(stack, 'D', {
    ...common,
    name: 'ingest',
    environment: {
      // @ts-expect-error POWERTOOLS_SERVICE_NAME comes from the construct itself
      POWERTOOLS_SERVICE_NAME: 'x',
    },
  });
}
void compileTimeChecks;
