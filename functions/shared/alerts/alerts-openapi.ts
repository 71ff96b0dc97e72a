import * as z from 'zod';
import { ChannelBodySchema, HistoryParamsSchema, SilenceBodySchema } from './alerts-api.js';
import { ALERTS_ROUTES, type AlertsOperation } from './alerts-routes.js';
import { AlertRuleSchema } from './rules.js';

/**
 * The alerts API's part of the OpenAPI document (functions/shared/query/openapi.ts merges it):
 * paths, bodies (the same zod schemas the API validates with) and the answers' shapes.
 */

type JsonSchema = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  delete out.$schema;
  return out;
}

const ERROR = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: {
          type: 'string',
          description:
            "bad_request, unauthorized, forbidden (a key without the scope: admin for writes, query for reads), not_found, conflict (If-Match or a concurrent change), exists, file_owned (the id is a rule file's, which takes precedence), in_use, payload_too_large, unsupported_media_type, rate_limited, unavailable, internal",
        },
        message: { type: 'string' },
        field: {
          type: 'string',
          description:
            'The offending body field or parameter (400), e.g. `threshold`, `channels.0`, `secret.url`.',
        },
      },
    },
  },
};

const META = {
  type: 'object',
  properties: {
    from: { type: 'string' },
    to: { type: 'string' },
    tiers: { type: 'array', items: {} },
    nextCursor: { type: ['string', 'null'] },
  },
};

const STATE = { type: 'string', enum: ['ok', 'pending', 'firing'] };
const LABELS = { type: 'object', additionalProperties: { type: 'string' } };
const VERSIONED = {
  source: { type: 'string', enum: ['file', 'api'] },
  version: { type: 'integer', description: '0 for a file rule or channel; 1, 2, … per API change.' },
  updatedAt: { type: 'integer', description: 'Epoch ms (API only).' },
  updatedBy: { type: 'string', description: 'The key id that made the change (API only).' },
  shadowedBy: { type: 'string', enum: ['file'], description: 'An API entry a rule file overrides.' },
};

const DATA: Partial<Record<AlertsOperation, JsonSchema>> = {
  alertState: {
    type: 'array',
    items: {
      type: 'object',
      required: ['ruleId', 'ruleName', 'labels', 'state', 'value', 'threshold', 'since'],
      properties: {
        ruleId: { type: 'string' },
        ruleName: { type: 'string' },
        labels: LABELS,
        state: STATE,
        value: { type: ['number', 'null'] },
        threshold: { type: ['number', 'null'] },
        since: { type: 'integer', description: 'Epoch ms: firing since, pending since, or ok since.' },
        silenced: { type: 'boolean', description: 'Firing, its notification held back by a silence.' },
      },
    },
  },
  alertHistory: {
    type: 'array',
    description: 'Newest first.',
    items: {
      type: 'object',
      required: ['at', 'ruleId', 'ruleName', 'labels', 'from', 'to', 'value', 'threshold', 'windowMs'],
      properties: {
        at: { type: 'integer', description: 'Epoch ms of the evaluation that saw the change.' },
        ruleId: { type: 'string' },
        ruleName: { type: 'string' },
        labels: LABELS,
        from: STATE,
        to: STATE,
        value: { type: ['number', 'null'] },
        threshold: { type: ['number', 'null'] },
        windowMs: { type: ['integer', 'null'] },
        link: {
          type: 'string',
          description: 'The console page (`<consoleBase>/#/...`) or query API request of the data.',
        },
        silenced: { type: 'boolean' },
      },
    },
  },
};

function dataSchema(op: AlertsOperation): JsonSchema {
  const known = DATA[op];
  if (known) return known;
  if (op.endsWith('Rules') || op === 'ruleVersions') {
    return { type: 'array', items: { type: 'object', properties: VERSIONED, additionalProperties: true } };
  }
  if (op.endsWith('Rule')) return { type: 'object', properties: VERSIONED, additionalProperties: true };
  if (op.endsWith('Channels') || op === 'channelVersions') {
    return {
      type: 'array',
      items: {
        type: 'object',
        properties: { secret: { const: 'set' }, ...VERSIONED },
        additionalProperties: true,
      },
    };
  }
  if (op.endsWith('Channel')) {
    return {
      type: 'object',
      properties: { secret: { const: 'set' }, ...VERSIONED },
      additionalProperties: true,
    };
  }
  return op === 'listSilences' ? { type: 'array', items: { type: 'object' } } : { type: 'object' };
}

/** Request bodies by component name (each written once in the document); a function, not a
 * constant, so the module can be loaded in any order relative to alerts-api.ts. */
const bodySchemas = () =>
  ({
    AlertRuleInput: AlertRuleSchema,
    AlertChannelInput: ChannelBodySchema,
    AlertSilenceInput: SilenceBodySchema,
  }) as const;

const BODIES: Partial<Record<AlertsOperation, keyof ReturnType<typeof bodySchemas>>> = {
  createRule: 'AlertRuleInput',
  updateRule: 'AlertRuleInput',
  createChannel: 'AlertChannelInput',
  updateChannel: 'AlertChannelInput',
  createSilence: 'AlertSilenceInput',
};

const err = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/AlertsError' } } },
});

/** `paths` entries of the alerts routes, and the component schemas they refer to. */
export function alertsOpenApi(): { paths: Record<string, JsonSchema>; schemas: Record<string, JsonSchema> } {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of ALERTS_ROUTES) {
    const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const queryParams =
      route.operationId === 'alertHistory'
        ? Object.entries(
            (schemaOf(HistoryParamsSchema, 'input').properties ?? {}) as Record<string, JsonSchema>,
          ).map(([name, schema]) => ({ name, in: 'query', required: false, schema }))
        : route.operationId === 'listSilences'
          ? [
              {
                name: 'all',
                in: 'query',
                required: false,
                schema: { type: 'string', enum: ['true', 'false'] },
              },
            ]
          : [];
    const params = [
      ...pathParams,
      ...queryParams,
      ...(route.method === 'PUT' || route.method === 'DELETE'
        ? [
            {
              name: 'If-Match',
              in: 'header',
              required: false,
              description: 'The version the change replaces (409 when it is not current).',
              schema: { type: 'string' },
            },
          ]
        : []),
    ];
    const body = BODIES[route.operationId];
    const created = route.method === 'POST';
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      description: `Needs an API key with the \`${route.scope}\` scope.`,
      tags: ['alerts'],
      ...(params.length > 0 && { parameters: params }),
      ...(body && {
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${body}` } } },
        },
      }),
      responses: {
        [created ? '201' : '200']: {
          description: created ? 'Created' : 'OK',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['data', 'meta'],
                properties: { data: dataSchema(route.operationId), meta: META },
              },
            },
          },
        },
        '400': err('Invalid body or parameter; `error.field` names it.'),
        '401': err('No API key, or an unknown one.'),
        '403': err(`The key lacks the ${route.scope} scope.`),
        ...(route.path.includes('{id}') ? { '404': err('No such id in the tenant.') } : {}),
        ...(route.method !== 'GET'
          ? { '409': err('A conflict: version, existing id, file-owned id, or in use.') }
          : {}),
        ...(body ? { '413': err('Body over 64 KiB.'), '415': err('Body not application/json.') } : {}),
        '429': err("Over the tenant's request rate (Retry-After)."),
      },
    };
  }
  const bodies = Object.fromEntries(
    Object.entries(bodySchemas()).map(([name, schema]) => [name, schemaOf(schema, 'input')]),
  );
  return { paths, schemas: { AlertsError: ERROR, ...bodies } };
}
