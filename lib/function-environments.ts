import type * as z from 'zod';
import { alertEvaluatorConfigSchema } from '../functions/alert-evaluator/config.js';
import { alertsApiConfigSchema } from '../functions/alerts-api/config.js';
import { hotWriterConfigSchema } from '../functions/hot-writer/config.js';
import { ingestConfigSchema } from '../functions/ingest/config.js';
import { lakeConfigSchema } from '../functions/lake-writer/config.js';
import { notifierConfigSchema } from '../functions/notifiers/config.js';
import { queryConfigSchema } from '../functions/query/config.js';
import { clickHouseEnvSchema } from '../functions/shared/clickhouse/secrets-manager-client.js';
import { streamAlertEvaluatorConfigSchema } from '../functions/stream-alert-evaluator/config.js';

/**
 * Each function folder's environment schema: the one definition of its variable names. The Lambda
 * parses `process.env` with it (functions/<name>/config.ts); the stacks write the variables through
 * `FunctionEnvironment<name>`, so a misspelt, renamed or removed name fails `tsc`, and a synth test
 * parses every function's synthesized environment with its schema. lib/ is not bundled, so
 * importing the schemas here costs the Lambdas nothing.
 */
export const FUNCTION_ENV_SCHEMAS = {
  ingest: ingestConfigSchema,
  'hot-writer': hotWriterConfigSchema,
  'lake-writer': lakeConfigSchema,
  // The compactor shares the lake writer's schema (functions/compactor/config.ts).
  compactor: lakeConfigSchema,
  // Only the ClickHouse connection: the retention arrives as a custom resource property.
  migrate: clickHouseEnvSchema,
  query: queryConfigSchema,
  // Static files only: it reads no variable.
  console: null,
  'alert-evaluator': alertEvaluatorConfigSchema,
  'alerts-api': alertsApiConfigSchema,
  'stream-alert-evaluator': streamAlertEvaluatorConfigSchema,
  notifiers: notifierConfigSchema,
} as const;

/** A folder under functions/ that deploys as a PipelineFunction. */
export type FunctionName = keyof typeof FUNCTION_ENV_SCHEMAS;

/** Variables a PipelineFunction gets from the construct itself (Powertools; Node's options). */
export const CONSTRUCT_ENV_NAMES = [
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'NODE_OPTIONS',
] as const;

type SchemaOf<N extends FunctionName> = (typeof FUNCTION_ENV_SCHEMAS)[N];
type InputOf<S> = S extends z.core.$ZodType ? z.input<S> : Record<never, never>;
type KeysOf<T> = T extends unknown ? keyof T : never;

/** The variable names `functions/<N>/config.ts` reads (inputs of its schema), construct-set ones aside. */
export type EnvName<N extends FunctionName> = Exclude<
  KeysOf<InputOf<SchemaOf<N>>>,
  (typeof CONSTRUCT_ENV_NAMES)[number]
> &
  string;

/**
 * The variables a stack may set on function `N`: only names its schema reads, each a string (a
 * token or a literal). Which are required is the schema's business (refinements such as "an ARN or
 * a URL" are not types), and the synth test checks the whole environment parses.
 */
export type FunctionEnvironment<N extends FunctionName> = { readonly [K in EnvName<N>]?: string | undefined };

/**
 * The names an environment schema reads, walked from its definition (objects, their intersections
 * and pipes; refinements keep their object): for the synth test, which checks that no synthesized
 * variable is outside the schema (zod strips unknown keys, so parsing alone would not notice).
 */
export function schemaEnvNames(schema: z.core.$ZodType | null): Set<string> {
  const names = new Set<string>();
  const walk = (s: z.core.$ZodType): void => {
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    if (def.type === 'object') for (const k of Object.keys(def.shape as object)) names.add(k);
    else if (def.type === 'intersection') {
      walk(def.left as z.core.$ZodType);
      walk(def.right as z.core.$ZodType);
    } else if (def.type === 'pipe') walk(def.in as z.core.$ZodType);
    else throw new Error(`schemaEnvNames: unsupported schema type ${def.type}`);
  };
  if (schema !== null) walk(schema);
  return names;
}
