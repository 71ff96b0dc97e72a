import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoWindowRateLimiter,
  ensureRateLimitTable,
} from '../../../../functions/shared/tenants/dynamo-rate-limiter.js';
import {
  DEFAULT_TENANT_LIMITS,
  type RateDecision,
  TokenBucketRateLimiter,
} from '../../../../functions/shared/tenants/rate-limiter.js';
import { localDynamoClient } from '../../../../local/aws-clients.js';
import { type Emulators, startEmulators } from '../../../../local/emulators.js';

class FakeClock {
  // Five seconds into a 10-second window, so window arithmetic is visible.
  ms = Date.UTC(2026, 0, 1, 0, 0, 5);
  readonly now = () => this.ms;
  advance(seconds: number) {
    this.ms += seconds * 1000;
  }
}

/** `n` items of 100 bytes each. */
const items = (n: number) => ({ items: n, bytes: n * 100 });
const verdict = (d: RateDecision) =>
  d.allowed ? 'allowed' : d.tooLarge ? 'too large' : `429 after ${d.retryAfterSeconds}s`;

describe('TokenBucketRateLimiter', () => {
  it('limits a tenant without limits at the defaults: the burst, then 429 naming the limit', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({ now: clock.now });
    const { burst, itemsPerSecond } = DEFAULT_TENANT_LIMITS;
    expect(verdict(await limiter.take('acme', items(burst / 2)))).toBe('allowed');
    expect(verdict(await limiter.take('acme', items(burst / 2)))).toBe('allowed');
    const refused = await limiter.take('acme', items(itemsPerSecond * 3));
    expect(refused).toMatchObject({ allowed: false, retryAfterSeconds: 3 });
    expect(!refused.allowed && refused.reason).toContain(`rate limit of ${itemsPerSecond} items/s`);
  });

  it('lets a tenant marked unlimited through, and none at all with defaultLimits {}', async () => {
    const limiter = new TokenBucketRateLimiter();
    const off = new TokenBucketRateLimiter({ defaultLimits: {} });
    for (let i = 0; i < 20; i++) {
      expect(await limiter.take('acme', items(1_000_000), { unlimited: true })).toEqual({ allowed: true });
      expect(await off.take('acme', items(1_000_000))).toEqual({ allowed: true });
    }
  });

  it('allows up to the burst, then answers 429 with the seconds until enough tokens refill', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({ now: clock.now });
    const limits = { itemsPerSecond: 100, burst: 1000 };

    for (let i = 0; i < 10; i++) expect((await limiter.take('acme', items(100), limits)).allowed).toBe(true);
    expect(verdict(await limiter.take('acme', items(100), limits))).toBe('429 after 1s');
    expect(verdict(await limiter.take('acme', items(450), limits))).toBe('429 after 5s');

    // Retry-After is honest: after waiting that long the request goes through.
    clock.advance(5);
    expect((await limiter.take('acme', items(450), limits)).allowed).toBe(true);
  });

  it('defaults the burst to 10 seconds of the tenant’s own rate', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({ now: clock.now });
    expect((await limiter.take('acme', items(500), { itemsPerSecond: 50 })).allowed).toBe(true);
    expect(verdict(await limiter.take('acme', items(1), { itemsPerSecond: 50 }))).toBe('429 after 1s');
  });

  it('keeps tenants apart', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({ now: clock.now });
    const limits = { itemsPerSecond: 10, burst: 10 };
    expect((await limiter.take('acme', items(10), limits)).allowed).toBe(true);
    expect((await limiter.take('acme', items(1), limits)).allowed).toBe(false);
    expect((await limiter.take('beta', items(10), limits)).allowed).toBe(true);
  });

  it('refuses a request larger than the whole burst as too large, and one larger than what is left with 429', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({ now: clock.now });
    const limits = { itemsPerSecond: 100, burst: 200 };
    const big = await limiter.take('acme', items(201), limits);
    expect(verdict(big)).toBe('too large');
    expect(!big.allowed && big.reason).toContain('burst of 200 items');
    expect((await limiter.take('acme', items(150), limits)).allowed).toBe(true);
    // 50 left: 120 does not pass whole; 70 more tokens take 1 s.
    expect(verdict(await limiter.take('acme', items(120), limits))).toBe('429 after 1s');
    clock.advance(1);
    expect((await limiter.take('acme', items(120), limits)).allowed).toBe(true);
  });

  it('counts bytes per UTC day: 429 until midnight, a request over the whole quota too large', async () => {
    const clock = new FakeClock(); // 00:00:05 UTC
    const limiter = new TokenBucketRateLimiter({ now: clock.now });
    const limits = { bytesPerDay: 1000 };
    expect(verdict(await limiter.take('acme', { items: 1, bytes: 1001 }, limits))).toBe('too large');
    expect((await limiter.take('acme', { items: 1, bytes: 600 }, limits)).allowed).toBe(true);
    const over = await limiter.take('acme', { items: 1, bytes: 500 }, limits);
    expect(over).toMatchObject({ allowed: false, retryAfterSeconds: 86_400 - 5 });
    expect(!over.allowed && over.reason).toContain('daily byte quota of 1000 exceeded');
    clock.advance(86_400 - 5);
    expect((await limiter.take('acme', { items: 1, bytes: 500 }, limits)).allowed).toBe(true);
  });

  it('counts items per UTC day: 429 naming the quota until midnight, a warning once when 80% is crossed', async () => {
    const clock = new FakeClock(); // 00:00:05 UTC
    const limiter = new TokenBucketRateLimiter({ now: clock.now });
    const limits = { itemsPerDay: 1000 };
    expect(verdict(await limiter.take('acme', items(1001), limits))).toBe('too large');
    expect(await limiter.take('acme', items(799), limits)).toEqual({ allowed: true });
    expect(await limiter.take('acme', items(1), limits)).toEqual({
      allowed: true,
      warnings: [{ quota: 'items', limit: 1000, used: 800, day: '2026-01-01' }],
    });
    expect(await limiter.take('acme', items(200), limits)).toEqual({ allowed: true });
    const over = await limiter.take('acme', items(1), limits);
    expect(over).toMatchObject({ allowed: false, retryAfterSeconds: 86_400 - 5 });
    expect(!over.allowed && over.reason).toBe(
      'daily item quota of 1000 exceeded for tenant acme; resets at 2026-01-02T00:00:00.000Z',
    );
    expect((await limiter.take('beta', items(1000), limits)).allowed).toBe(true);
    clock.advance(86_400 - 5);
    expect((await limiter.take('acme', items(1000), limits)).allowed).toBe(true);
  });

  it('applies the operator default to tenants without limits, and a tenant’s own limits over it', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({
      now: clock.now,
      defaultLimits: { itemsPerSecond: 1, burst: 5 },
    });
    expect((await limiter.take('acme', items(5))).allowed).toBe(true);
    expect((await limiter.take('acme', items(1))).allowed).toBe(false);
    expect((await limiter.take('beta', items(50), { itemsPerSecond: 10 })).allowed).toBe(true);
  });

  it('blocks a tenant whose limit is zero', async () => {
    const limiter = new TokenBucketRateLimiter();
    expect(await limiter.take('acme', items(1), { itemsPerSecond: 0 })).toMatchObject({
      allowed: false,
      retryAfterSeconds: 60,
    });
  });

  it('enforces its share of the rate and daily bytes, but the whole burst, when standing in for a shared limiter', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({ now: clock.now, share: 1 / 4 });
    const limits = { itemsPerSecond: 100, burst: 400, bytesPerDay: 4000 };
    expect((await limiter.take('acme', { items: 400, bytes: 0 }, limits)).allowed).toBe(true);
    // Refill at 25/s, not 100/s.
    expect(verdict(await limiter.take('acme', { items: 50, bytes: 0 }, limits))).toBe('429 after 2s');
    clock.advance(2);
    expect((await limiter.take('acme', { items: 50, bytes: 1000 }, limits)).allowed).toBe(true);
    clock.advance(10);
    expect(verdict(await limiter.take('acme', { items: 1, bytes: 1 }, limits))).toMatch(/^429/);
  });

  it('forgets the least recently seen tenants beyond maxTenants (their bucket starts full again)', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({ now: clock.now, maxTenants: 2 });
    const limits = { itemsPerSecond: 1, burst: 1 };
    expect((await limiter.take('a', items(1), limits)).allowed).toBe(true);
    expect((await limiter.take('a', items(1), limits)).allowed).toBe(false);
    await limiter.take('b', items(1), limits);
    await limiter.take('c', items(1), limits);
    expect((await limiter.take('a', items(1), limits)).allowed).toBe(true);
  });
});

describe('DynamoWindowRateLimiter (dynalite)', () => {
  let dir: string;
  let emulators: Emulators;
  let client: DynamoDBClient;
  let tableSeq = 0;

  async function limiter(clock: FakeClock, windowSeconds?: number) {
    const tableName = `rate-limits-${++tableSeq}`;
    await ensureRateLimitTable(client, tableName);
    return new DynamoWindowRateLimiter({
      client,
      tableName,
      now: clock.now,
      ...(windowSeconds !== undefined && { windowSeconds }),
    });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tenants-rate-'));
    emulators = await startEmulators({ dataDir: dir });
    client = localDynamoClient(emulators.dynamoEndpoint);
  });

  afterAll(async () => {
    client?.destroy();
    await emulators?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('allows rate × window items per window, then answers the seconds left in the window', async () => {
    const clock = new FakeClock();
    const rl = await limiter(clock);
    const limits = { itemsPerSecond: 100 }; // 1000 per 10-second window

    for (let i = 0; i < 4; i++) expect((await rl.take('acme', items(250), limits)).allowed).toBe(true);
    expect(verdict(await rl.take('acme', items(1), limits))).toBe('429 after 5s');
    clock.advance(4.2);
    expect(verdict(await rl.take('acme', items(1), limits))).toBe('429 after 1s');
    clock.advance(1);
    expect((await rl.take('acme', items(1000), limits)).allowed).toBe(true);
  });

  it('shares the count between instances using the same table', async () => {
    const clock = new FakeClock();
    const a = await limiter(clock);
    const b = new DynamoWindowRateLimiter({ client, tableName: `rate-limits-${tableSeq}`, now: clock.now });
    const limits = { itemsPerSecond: 10 }; // 100 per window

    expect((await a.take('acme', items(60), limits)).allowed).toBe(true);
    expect((await b.take('acme', items(60), limits)).allowed).toBe(false);
    expect((await b.take('acme', items(40), limits)).allowed).toBe(true);
    expect((await a.take('acme', items(1), limits)).allowed).toBe(false);
  });

  it('does not count a refused request, keeps tenants apart, and lets unlimited tenants through', async () => {
    const clock = new FakeClock();
    const rl = await limiter(clock);
    const limits = { itemsPerSecond: 10 };
    expect((await rl.take('acme', items(90), limits)).allowed).toBe(true);
    expect((await rl.take('acme', items(20), limits)).allowed).toBe(false);
    expect((await rl.take('acme', items(10), limits)).allowed).toBe(true);
    expect((await rl.take('beta', items(100), limits)).allowed).toBe(true);
    expect((await rl.take('free', items(1_000_000), { unlimited: true })).allowed).toBe(true);
  });

  it('refuses a request larger than the window allowance as too large, even into an empty window', async () => {
    const clock = new FakeClock();
    const rl = await limiter(clock);
    const limits = { itemsPerSecond: 10 };
    expect(verdict(await rl.take('acme', items(101), limits))).toBe('too large');
    expect((await rl.take('acme', items(100), limits)).allowed).toBe(true);
  });

  it('counts bytes per UTC day across instances, and gives back the items of a request the bytes refuse', async () => {
    const clock = new FakeClock();
    const a = await limiter(clock);
    const b = new DynamoWindowRateLimiter({ client, tableName: `rate-limits-${tableSeq}`, now: clock.now });
    const limits = { itemsPerSecond: 10, bytesPerDay: 1000 };
    expect(verdict(await a.take('acme', { items: 1, bytes: 1001 }, limits))).toBe('too large');
    expect((await a.take('acme', { items: 10, bytes: 700 }, limits)).allowed).toBe(true);
    const over = await b.take('acme', { items: 10, bytes: 400 }, limits);
    expect(over).toMatchObject({ allowed: false, retryAfterSeconds: 86_400 - 5 });
    // The refused request's 10 items were given back: 90 still fit the window.
    expect((await b.take('acme', { items: 90, bytes: 300 }, limits)).allowed).toBe(true);
    clock.advance(86_400);
    expect((await a.take('acme', { items: 1, bytes: 1000 }, limits)).allowed).toBe(true);
  });

  it('counts the daily item quota across instances and warns exactly once at 80%, whichever instance crosses it', async () => {
    const clock = new FakeClock();
    const a = await limiter(clock);
    const b = new DynamoWindowRateLimiter({ client, tableName: `rate-limits-${tableSeq}`, now: clock.now });
    const limits = { itemsPerDay: 100 };
    const decisions: RateDecision[] = [];
    for (let i = 0; i < 10; i++) decisions.push(await (i % 2 ? a : b).take('acme', items(9), limits));
    expect(decisions.filter((d) => !d.allowed)).toEqual([]);
    const warned = decisions.flatMap((d) => (d.allowed ? (d.warnings ?? []) : []));
    expect(warned).toEqual([{ quota: 'items', limit: 100, used: 81, day: '2026-01-01' }]);
    const over = await a.take('acme', items(11), limits);
    expect(over).toMatchObject({ allowed: false, retryAfterSeconds: 86_400 - 5 });
    expect(!over.allowed && over.reason).toContain(
      'daily item quota of 100 exceeded for tenant acme; resets at',
    );
    expect((await b.take('acme', items(10), limits)).allowed).toBe(true);
    clock.advance(86_400);
    expect((await a.take('acme', items(100), limits)).allowed).toBe(true);
  });

  it('falls back to an in-process bucket at the limit divided by the assumed instances when DynamoDB is unreachable', async () => {
    const dead = localDynamoClient('http://127.0.0.1:9');
    const errors: unknown[] = [];
    const clock = new FakeClock();
    try {
      const rl = new DynamoWindowRateLimiter({
        client: dead,
        tableName: 'x',
        fallbackInstances: 4,
        now: clock.now,
        onError: (e) => errors.push(e),
      });
      const limits = { itemsPerSecond: 100, burst: 400 };
      expect((await rl.take('acme', items(400), limits)).allowed).toBe(true);
      expect(errors).toHaveLength(1);
      // Never unlimited: the bucket is empty and refills at 100 / 4 per second.
      expect(verdict(await rl.take('acme', items(100), limits))).toBe('429 after 4s');
      clock.advance(4);
      expect((await rl.take('acme', items(100), limits)).allowed).toBe(true);
      // While in fallback, DynamoDB is not asked again (no request waits on a dead table).
      expect(errors).toHaveLength(1);
    } finally {
      dead.destroy();
    }
  });
});
