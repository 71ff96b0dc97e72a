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
