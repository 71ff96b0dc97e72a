import { describe, expect, it } from 'vitest';
import { LocalConfigError, loadLocalConfig } from '../../local/config.js';
import { parseFaultPlan } from '../../local/fault-hooks.js';

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

  it('bounds a graceful stop by STOP_TIMEOUT_MS (30 s unless set)', () => {
    expect(loadLocalConfig({}).STOP_TIMEOUT_MS).toBe(30_000);
    expect(loadLocalConfig({ STOP_TIMEOUT_MS: '500' }).STOP_TIMEOUT_MS).toBe(500);
    expect(() => loadLocalConfig({ STOP_TIMEOUT_MS: '-1' })).toThrow(/STOP_TIMEOUT_MS/);
  });

  it('arms no fault hook unless LOCAL_FAULT names a point and an occurrence', () => {
    expect(parseFaultPlan(loadLocalConfig({}).LOCAL_FAULT)).toBeUndefined();
    expect(parseFaultPlan(loadLocalConfig({ LOCAL_FAULT: 'hot-insert:3' }).LOCAL_FAULT)).toEqual({
      point: 'hot-insert',
      nth: 3,
    });
    expect(() => loadLocalConfig({ LOCAL_FAULT: 'hot-insert' })).toThrow(/LOCAL_FAULT/);
    expect(() => loadLocalConfig({ LOCAL_FAULT: 'disk:1' })).toThrow(/LOCAL_FAULT/);
    expect(() => loadLocalConfig({ LOCAL_FAULT: 'lake-put:0' })).toThrow(/LOCAL_FAULT/);
  });

  it('serves ClickHouse over HTTP on 8123 by default; CLICKHOUSE_HTTP_PORT takes a port, 0 or off', () => {
    expect(loadLocalConfig({})).toMatchObject({
      CLICKHOUSE_HTTP_PORT: 8123,
      CLICKHOUSE_HTTP_USER: 'default',
    });
    expect(loadLocalConfig({ CLICKHOUSE_HTTP_PORT: '9000' }).CLICKHOUSE_HTTP_PORT).toBe(9000);
    expect(loadLocalConfig({ CLICKHOUSE_HTTP_PORT: '0' }).CLICKHOUSE_HTTP_PORT).toBe(0);
    expect(loadLocalConfig({ CLICKHOUSE_HTTP_PORT: 'off' }).CLICKHOUSE_HTTP_PORT).toBe('off');
    expect(() => loadLocalConfig({ CLICKHOUSE_HTTP_PORT: 'on' })).toThrow(/CLICKHOUSE_HTTP_PORT/);
    expect(() => loadLocalConfig({ CLICKHOUSE_HTTP_PORT: '70000' })).toThrow(/CLICKHOUSE_HTTP_PORT/);
  });
});
