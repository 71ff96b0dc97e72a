import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  IngestConfigError,
  parseIngestConfig,
} from '../../../functions/ingest/config.js';

const required = { STREAM_NAME: 'telemetry', TENANTS_TABLE: 'tenants' };

describe('ingest config', () => {
  it('applies the documented defaults', () => {
    const config = parseIngestConfig(required);

    expect(config).toMatchObject({
      MAX_BODY_BYTES: DEFAULT_MAX_BODY_BYTES,
      MAX_DECOMPRESSED_BYTES: DEFAULT_MAX_DECOMPRESSED_BYTES,
      HOT_RETENTION_DAYS: 7,
      DEADLINE_MARGIN_MS: 1000,
    });
    expect(config.REDACTION_RULES).toBeUndefined();
    // 4 MiB base64-encoded still fits Lambda's 6 MB synchronous payload.
    expect(Math.ceil(DEFAULT_MAX_BODY_BYTES / 3) * 4).toBeLessThan(6 * 1024 * 1024);
  });

  it('reads numbers and JSON redaction rules from strings', () => {
    const config = parseIngestConfig({
      ...required,
      MAX_BODY_BYTES: '1048576',
      HOT_RETENTION_DAYS: '3',
      REDACTION_RULES: '{"dropKeys":["x-secret"],"patterns":[]}',
    });

    expect(config.MAX_BODY_BYTES).toBe(1_048_576);
    expect(config.HOT_RETENTION_DAYS).toBe(3);
    expect(config.REDACTION_RULES?.dropKeys).toEqual(['x-secret']);
  });

  it('names every missing or malformed variable', () => {
    const parse = () => parseIngestConfig({ MAX_BODY_BYTES: '-1', REDACTION_RULES: '{not json' });

    expect(parse).toThrow(IngestConfigError);
    expect(parse).toThrow(/STREAM_NAME/);
    expect(parse).toThrow(/TENANTS_TABLE/);
    expect(parse).toThrow(/MAX_BODY_BYTES/);
    expect(parse).toThrow(/REDACTION_RULES/);
  });

  it('can be imported with the handler without any AWS environment', async () => {
    const { handler } = await import('../../../functions/ingest/handler.js');
    expect(typeof handler).toBe('function');
  });
});

describe('tenant limit defaults', () => {
  it('are on, the same in Lambda and local mode, and overridable per dimension', async () => {
    const { defaultLimitsFromConfig } = await import('../../../functions/ingest/handler.js');
    const { loadLocalConfig } = await import('../../../local/config.js');
    const { DEFAULT_TENANT_LIMITS } = await import('../../../functions/shared/tenants/rate-limiter.js');
    const { DEFAULT_REQUEST_CAPS } = await import('../../../functions/ingest/config.js');

    const lambda = defaultLimitsFromConfig(parseIngestConfig(required));
    expect(lambda).toEqual(DEFAULT_TENANT_LIMITS);
    expect(defaultLimitsFromConfig(loadLocalConfig({}))).toEqual(lambda);
    // The default burst holds the largest request the caps allow: a default tenant never gets 413.
    expect(DEFAULT_TENANT_LIMITS.burst).toBeGreaterThanOrEqual(DEFAULT_REQUEST_CAPS.maxItems);
    expect(
      defaultLimitsFromConfig(
        parseIngestConfig({ ...required, DEFAULT_ITEMS_PER_SECOND: '50', DEFAULT_BYTES_PER_DAY: '1000' }),
      ),
    ).toEqual({ itemsPerSecond: 50, bytesPerDay: 1000 });
    expect(parseIngestConfig({ ...required, MAX_ITEMS_PER_REQUEST: '10' }).MAX_ITEMS_PER_REQUEST).toBe(10);
  });
});
