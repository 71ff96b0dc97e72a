import { describe, expect, it } from 'vitest';
import { LocalConfigError, loadLocalConfig } from '../../local/config.js';

describe('local-mode settings', () => {
  it('needs none: loopback on the OTLP/HTTP port, embedded ClickHouse, no cross-origin access', () => {
    const c = loadLocalConfig({});
    expect(c).toMatchObject({ HOST: '127.0.0.1', PORT: 4318, LOCAL_API_KEY: 'local-dev-key' });
    expect(c.CLICKHOUSE_URL).toBeUndefined();
    expect(c.CORS_ALLOWED_ORIGINS).toEqual([]);
  });

  it('reads CORS_ALLOWED_ORIGINS as a comma-separated list and names the variable when an entry is wrong', () => {
    expect(
      loadLocalConfig({ CORS_ALLOWED_ORIGINS: 'http://localhost:3000, https://*' }).CORS_ALLOWED_ORIGINS,
    ).toEqual(['http://localhost:3000', 'https://*']);
    expect(() => loadLocalConfig({ CORS_ALLOWED_ORIGINS: 'localhost:3000' })).toThrow(LocalConfigError);
    expect(() => loadLocalConfig({ CORS_ALLOWED_ORIGINS: 'localhost:3000' })).toThrow(
      /CORS_ALLOWED_ORIGINS\.0: an origin such as/,
    );
  });
});
