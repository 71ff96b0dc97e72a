import { describe, expect, it } from 'vitest';
import { MergedRuleSource, mergeRules } from '../../../../functions/shared/alerts/api-rule-source.js';
import type { ConfigVersion } from '../../../../functions/shared/alerts/config-store.js';
import { StaticRuleSource } from '../../../../functions/shared/alerts/rule-source.js';
import { RuleFileSchema } from '../../../../functions/shared/alerts/rules.js';

const file = RuleFileSchema.parse({
  tenant: 'acme',
  channels: { pager: { type: 'pagerduty', secret: 'env:PD' } },
  rules: [
    {
      id: 'from-file',
      name: 'File',
      severity: 'info',
      runbook: 'https://r.example.com',
      kind: 'log_count',
      minSeverity: 'ERROR',
      window: '5m',
      threshold: 1,
      channels: ['pager'],
    },
  ],
});

const version = (
  over: Partial<ConfigVersion> & Pick<ConfigVersion, 'id' | 'kind' | 'body'>,
): ConfigVersion => ({
  tenant: 'acme',
  version: 1,
  deleted: false,
  updatedAt: 0,
  updatedBy: 'k',
  ...over,
});

const apiRule = (id: string, extra: Record<string, unknown> = {}) =>
  version({
    id,
    kind: 'rule',
    body: {
      id,
      name: id,
      severity: 'warning',
      runbook: 'https://r.example.com',
      kind: 'error_ratio',
      window: '10m',
      threshold: 0.2,
      ...extra,
    },
  });

describe('merging rule files and API rules', () => {
  it('adds API rules and channels to the file’s tenant and makes tenants of their own', () => {
    const merged = mergeRules(
      [file],
      [
        apiRule('from-api', { channels: ['pager', 'hook'] }),
        version({ id: 'hook', kind: 'channel', body: { type: 'webhook', secret: 'local-secret:acme/hook' } }),
        { ...apiRule('elsewhere'), tenant: 'globex' },
        { ...apiRule('gone'), deleted: true },
      ],
    );
    const acme = merged.files.find((f) => f.tenant === 'acme')!;
    expect(acme.rules.map((r) => r.id)).toEqual(['from-file', 'from-api']);
    // Durations parsed as in files: the evaluator sees one shape.
    expect(acme.rules[1]).toMatchObject({ window: 600_000, for: 0, channels: ['pager', 'hook'] });
    expect(acme.channels).toEqual({
      pager: { type: 'pagerduty', secret: 'env:PD' },
      hook: { type: 'webhook', secret: 'local-secret:acme/hook' },
    });
    expect(merged.files.find((f) => f.tenant === 'globex')?.rules.map((r) => r.id)).toEqual(['elsewhere']);
  });

  it('the file wins on the same id; a stored rule that no longer validates is skipped with its reason', () => {
    const merged = mergeRules(
      [file],
      [
        apiRule('from-file', { threshold: 0.9 }),
        version({ id: 'pager', kind: 'channel', body: { type: 'slack', secret: 'local-secret:acme/pager' } }),
        apiRule('broken', { window: 'forever' }),
      ],
    );
    const acme = merged.files.find((f) => f.tenant === 'acme')!;
    expect(acme.rules).toHaveLength(1);
    expect(acme.rules[0]).toMatchObject({ kind: 'log_count', threshold: 1 });
    expect(acme.channels.pager?.type).toBe('pagerduty');
    expect(merged.shadowed).toEqual(['acme/rule/from-file', 'acme/channel/pager']);
    expect(merged.invalid).toEqual([{ key: 'acme/rule/broken', reason: expect.stringContaining('window') }]);
  });

  it('reads the API store at most once per TTL, and retries a failed read at once', async () => {
    let reads = 0;
    let fail = false;
    let now = 0;
    const store = {
      async listAll() {
        reads++;
        if (fail) throw new Error('DynamoDB unreachable');
        return [apiRule(`r${reads}`)];
      },
    };
    const source = new MergedRuleSource(new StaticRuleSource([file]), store, {
      ttlMs: 30_000,
      clock: () => now,
    });
    const first = await source.load();
    now = 29_000;
    expect(await source.load()).toBe(first);
    expect(reads).toBe(1);
    now = 30_000;
    fail = true;
    await expect(source.load()).rejects.toThrow('unreachable');
    fail = false;
    const after = await source.load();
    expect(reads).toBe(3);
    expect(after.find((f) => f.tenant === 'acme')?.rules.map((r) => r.id)).toEqual(['from-file', 'r3']);
  });
});
