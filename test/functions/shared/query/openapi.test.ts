import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ALERTS_ROUTES } from '../../../../functions/shared/alerts/alerts-routes.js';
import { openApiDocument, openApiJson } from '../../../../functions/shared/query/openapi.js';
import { QUERY_ROUTES } from '../../../../functions/shared/query/routes.js';

const DOC_PATH = join(dirname(fileURLToPath(import.meta.url)), '../../../../docs/openapi.json');

type Json = Record<string, unknown>;

/** Every `$ref` in the document points at something that exists. */
function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const x of node) refs(x, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

describe('OpenAPI description', () => {
  it('docs/openapi.json is current (regenerate: UPDATE_OPENAPI=1 npx vitest run test/functions/shared/query)', () => {
    if (process.env.UPDATE_OPENAPI === '1') writeFileSync(DOC_PATH, openApiJson());
    // Compared as data: the file is formatted by Biome like the rest of the repository.
    expect(JSON.parse(readFileSync(DOC_PATH, 'utf8'))).toEqual(openApiDocument());
  });

  it('is a well-formed OpenAPI 3.1 document covering every route', () => {
    const doc = openApiDocument() as Json & { paths: Record<string, { get: Json }>; components: Json };
    expect(doc.openapi).toBe('3.1.0');
    expect(
      Object.keys(doc.paths)
        .filter((p) => p.startsWith('/v1/query/') || p === '/v1/usage')
        .sort(),
    ).toEqual(QUERY_ROUTES.map((r) => r.path).sort());
    // The alerts API's routes, every method of each.
    for (const r of ALERTS_ROUTES) {
      const op = (doc.paths[r.path] as Record<string, Json> | undefined)?.[r.method.toLowerCase()];
      expect(op?.operationId, `${r.method} ${r.path}`).toBe(r.operationId);
    }
    for (const route of QUERY_ROUTES) {
      const op = doc.paths[route.path]!.get as Json & {
        parameters?: { name: string; in: string; required: boolean; schema: Json }[];
        responses: Record<string, Json>;
      };
      expect(op.operationId).toBe(route.operationId);
      expect(op.responses['200']).toBeDefined();
      for (const p of op.parameters ?? []) {
        expect(['path', 'query']).toContain(p.in);
        expect(typeof p.schema).toBe('object');
        if (p.in === 'path') expect(p.required).toBe(true);
      }
      // Path templates and path parameters agree.
      const templated = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect((op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name)).toEqual(templated);
    }
    const components = doc.components as { schemas: Json };
    for (const ref of refs(doc)) {
      expect(ref.startsWith('#/components/schemas/')).toBe(true);
      expect(components.schemas[ref.slice('#/components/schemas/'.length)]).toBeDefined();
    }
    const search = doc.paths['/v1/query/logs']!.get as {
      parameters: { name: string; required: boolean; schema: Json }[];
    };
    const limit = search.parameters.find((p) => p.name === 'limit')!;
    expect(limit).toMatchObject({ required: false, schema: { default: 100, maximum: 1000 } });
  });
});
