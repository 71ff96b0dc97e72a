import * as z from 'zod';
import { alertsOpenApi } from '../alerts/alerts-openapi.js';
import { QUERY_ROUTES } from './routes.js';
import { ErrorResponseSchema } from './schemas.js';

/**
 * The OpenAPI 3.1 description, generated from the zod schemas (zod's JSON Schema output is draft
 * 2020-12, which OpenAPI 3.1 uses as is). Served at GET /v1/query/openapi.json and written to
 * docs/openapi.json (a test fails when that file is stale).
 */

type JsonSchema = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  delete out.$schema;
  return out;
}

function parameters(object: z.ZodObject | undefined, location: 'path' | 'query'): JsonSchema[] {
  if (!object) return [];
  const json = schemaOf(object, 'input');
  const props = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(props).map(([name, schema]) => {
    const { description, ...rest } = schema;
    return {
      name,
      in: location,
      required: location === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

export function openApiDocument(): JsonSchema {
  const paths: Record<string, JsonSchema> = {};
  for (const route of QUERY_ROUTES) {
    const params = [...parameters(route.path_params, 'path'), ...parameters(route.params, 'query')];
    if (route.operationId === 'queryMetrics') {
      params.push({
        name: 'attr.*',
        in: 'query',
        required: false,
        description:
          'Attribute filters: attr.<key>=<value> keeps data points whose attribute <key> equals <value> (at most 10).',
        schema: { type: 'string', maxLength: 1024 },
      });
    }
    paths[route.path] = {
      get: {
        operationId: route.operationId,
        summary: route.summary,
        ...(route.authenticated ? {} : { security: [] }),
        ...(params.length > 0 ? { parameters: params } : {}),
        responses: {
          '200': {
            description: 'OK',
            content: {
              'application/json': {
                schema: route.response ? schemaOf(route.response, 'output') : { type: 'object' },
              },
            },
          },
          ...(route.authenticated
            ? {
                '400': errorResponse('A parameter is invalid; `parameter` names it.'),
                '401': errorResponse('No API key, or an unknown one.'),
                ...(route.operationId === 'getTrace'
                  ? { '404': errorResponse('No such trace in the range.') }
                  : {}),
                '502': errorResponse('A storage tier failed.'),
                '503': errorResponse('The tenant directory is unavailable.'),
                '504': errorResponse('The query ran out of time; narrow the range or the filters.'),
              }
            : {}),
        },
      },
    };
  }
  const alerts = alertsOpenApi();
  Object.assign(paths, alerts.paths);
  return {
    openapi: '3.1.0',
    info: {
      title: 'OTLP pipeline query API',
      version: '1.0.0',
      description:
        'Traces, logs, metrics and service health over the hot tier (ClickHouse) and the cold tier (Parquet lake, Athena). ' +
        'Every request is scoped to the tenant of its API key. Ranges: `from`/`to` as RFC 3339 or relative (`now-1h`); ' +
        'default the last hour; at most 31 days by default. See docs/query-api.md.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { apiKey: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'The tenant API key.' },
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
      },
      schemas: { Error: schemaOf(ErrorResponseSchema, 'output'), ...alerts.schemas },
    },
  };
}

/** The document as written to docs/openapi.json (stable formatting, trailing newline). */
export function openApiJson(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}
