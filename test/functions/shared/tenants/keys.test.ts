import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  apiKeyFromHeaders,
  assertTenantId,
  generateApiKey,
  hashApiKey,
  isValidTenantId,
  keyIdFor,
  TenantError,
} from '../../../../functions/shared/tenants/keys.js';

describe('generateApiKey', () => {
  it('makes recognisable keys: otlp_ and 32 base62 characters, all different', () => {
    const keys = Array.from({ length: 2000 }, generateApiKey);
    for (const key of keys) expect(key).toMatch(/^otlp_[0-9A-Za-z]{32}$/);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('uses the whole alphabet roughly evenly (no modulo bias towards the first characters)', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      for (const ch of generateApiKey().slice(5)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(counts.size).toBe(62);
    // 64,000 characters over 62 symbols: ~1032 each; a biased generator skews the first ones by ~25 %.
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(850);
      expect(n).toBeLessThan(1220);
    }
  });
});

describe('hashApiKey and keyIdFor', () => {
  it('hashes with SHA-256 hex', () => {
    expect(hashApiKey('local-dev-key')).toBe(createHash('sha256').update('local-dev-key').digest('hex'));
  });

  it('takes the key id of a generated key from the 8 characters after the prefix', () => {
    expect(keyIdFor('otlp_AbCd1234efghijklmnopqrstuvwxyz01')).toBe('AbCd1234');
  });

  it('derives the key id of a foreign key from its hash, revealing none of the key', () => {
    const id = keyIdFor('local-dev-key');
    expect(id).toBe(`h${hashApiKey('local-dev-key').slice(0, 7)}`);
    expect('local-dev-key').not.toContain(id.slice(1));
  });
});

describe('tenant ids', () => {
  it.each(['acme', 'a', 'team-42', '0abc', 'a'.repeat(63)])('accepts %j', (id) => {
    expect(isValidTenantId(id)).toBe(true);
  });

  it.each(['', '-acme', 'Acme', 'acme_1', 'a/b', "a'; DROP TABLE x", 'a'.repeat(64), 'acme ', 'tenant=x'])(
    'rejects %j',
    (id) => {
      expect(isValidTenantId(id)).toBe(false);
      expect(() => assertTenantId(id)).toThrow(TenantError);
    },
  );
});

describe('apiKeyFromHeaders', () => {
  const key = 'otlp_AbCd1234efghijklmnopqrstuvwxyz01';

  it('reads a Bearer token from authorization', () => {
    expect(apiKeyFromHeaders({ authorization: `Bearer ${key}` })).toBe(key);
  });

  it('accepts any casing of the scheme and of the header name', () => {
    expect(apiKeyFromHeaders({ authorization: `bearer ${key}` })).toBe(key);
    expect(apiKeyFromHeaders({ Authorization: `BEARER ${key}` })).toBe(key);
    expect(apiKeyFromHeaders({ 'X-Api-Key': key })).toBe(key);
  });

  it('reads x-api-key, trimming surrounding spaces', () => {
    expect(apiKeyFromHeaders({ 'x-api-key': `  ${key} ` })).toBe(key);
  });

  it('prefers authorization over x-api-key', () => {
    expect(apiKeyFromHeaders({ authorization: 'Bearer local-dev-key', 'x-api-key': key })).toBe(
      'local-dev-key',
    );
  });

  it('falls back to x-api-key when authorization is not a Bearer token', () => {
    expect(apiKeyFromHeaders({ authorization: 'Basic dXNlcjpwYXNz', 'x-api-key': key })).toBe(key);
  });

  it('finds no key when none is sent', () => {
    expect(apiKeyFromHeaders({})).toBeUndefined();
    expect(
      apiKeyFromHeaders({ 'content-type': 'application/x-protobuf', authorization: undefined }),
    ).toBeUndefined();
  });

  it.each([
    ['Bearer', 'scheme only'],
    ['Bearer ', 'empty token'],
    [`Token ${key}`, 'other scheme'],
    [`Bearer ${key} extra`, 'two tokens'],
    [`Bearer ${key},Bearer ${key}`, 'header sent twice (API Gateway joins with a comma)'],
    [key, 'no scheme'],
    ['Bearer kéy-with-accent', 'non-ASCII'],
  ])('rejects a malformed authorization %j (%s)', (value) => {
    expect(apiKeyFromHeaders({ authorization: value })).toBeUndefined();
  });

  it('rejects a malformed x-api-key', () => {
    expect(apiKeyFromHeaders({ 'x-api-key': '' })).toBeUndefined();
    expect(apiKeyFromHeaders({ 'x-api-key': 'a b' })).toBeUndefined();
    expect(apiKeyFromHeaders({ 'x-api-key': `${key}, ${key}` })).toBeUndefined();
  });
});
