import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoWindowRateLimiter,
  ensureRateLimitTable,
} from '../../../../functions/shared/tenants/dynamo-rate-limiter.js';
import { TokenBucketRateLimiter } from '../../../../functions/shared/tenants/rate-limiter.js';
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

describe('TokenBucketRateLimiter', () => {
  it('lets a tenant without limits through, however much it sends', async () => {
    const limiter = new TokenBucketRateLimiter();
    for (let i = 0; i < 100; i++) expect(await limiter.take('acme', 1_000_000)).toEqual({ allowed: true });
  });

  it('allows up to the burst, then answers 429 with the seconds until enough tokens refill', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({ now: clock.now });
    const limits = { itemsPerSecond: 100, burst: 1000 };

    for (let i = 0; i < 10; i++) expect((await limiter.take('acme', 100, limits)).allowed).toBe(true);
    expect(await limiter.take('acme', 100, limits)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(await limiter.take('acme', 450, limits)).toEqual({ allowed: false, retryAfterSeconds: 5 });

    // Retry-After is honest: after waiting that long the request goes through.
    clock.advance(5);
    expect((await limiter.take('acme', 450, limits)).allowed).toBe(true);
  });

  it('defaults the burst to 10 seconds of the rate', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({ now: clock.now });
    expect((await limiter.take('acme', 500, { itemsPerSecond: 50 })).allowed).toBe(true);
    expect(await limiter.take('acme', 1, { itemsPerSecond: 50 })).toEqual({
      allowed: false,
      retryAfterSeconds: 1,
    });
  });

  it('keeps tenants apart', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({ now: clock.now });
    const limits = { itemsPerSecond: 10, burst: 10 };
    expect((await limiter.take('acme', 10, limits)).allowed).toBe(true);
    expect((await limiter.take('acme', 1, limits)).allowed).toBe(false);
    expect((await limiter.take('beta', 10, limits)).allowed).toBe(true);
  });

  it('admits a batch larger than the burst once the bucket is full, then holds the tenant back', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({ now: clock.now });
    const limits = { itemsPerSecond: 100, burst: 200 };
    expect((await limiter.take('acme', 1000, limits)).allowed).toBe(true);
    // 800 items of debt plus 1 needed: 801 / 100 per second.
    expect(await limiter.take('acme', 1, limits)).toEqual({ allowed: false, retryAfterSeconds: 9 });
    clock.advance(9);
    expect((await limiter.take('acme', 1, limits)).allowed).toBe(true);
  });

  it('applies the operator default to tenants without limits, and a tenant’s own limits over it', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({
      now: clock.now,
      defaultLimits: { itemsPerSecond: 1, burst: 5 },
    });
    expect((await limiter.take('acme', 5)).allowed).toBe(true);
    expect((await limiter.take('acme', 1)).allowed).toBe(false);
    expect((await limiter.take('big', 500, { itemsPerSecond: 100 })).allowed).toBe(true);
  });

  it('blocks a tenant whose limit is zero', async () => {
    const limiter = new TokenBucketRateLimiter();
    expect(await limiter.take('acme', 1, { itemsPerSecond: 0 })).toEqual({
      allowed: false,
      retryAfterSeconds: 60,
    });
  });

  it('forgets the least recently seen tenants beyond maxTenants (their bucket starts full again)', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter({ now: clock.now, maxTenants: 2 });
    const limits = { itemsPerSecond: 1, burst: 1 };
    expect((await limiter.take('a', 1, limits)).allowed).toBe(true);
    expect((await limiter.take('a', 1, limits)).allowed).toBe(false);
    await limiter.take('b', 1, limits);
    await limiter.take('c', 1, limits); // evicts a
    expect((await limiter.take('a', 1, limits)).allowed).toBe(true);
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

    for (let i = 0; i < 4; i++) expect((await rl.take('acme', 250, limits)).allowed).toBe(true);
    expect(await rl.take('acme', 1, limits)).toEqual({ allowed: false, retryAfterSeconds: 5 });
    clock.advance(4.2);
    expect(await rl.take('acme', 1, limits)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    clock.advance(1);
    expect((await rl.take('acme', 1000, limits)).allowed).toBe(true);
  });

  it('shares the count between instances using the same table', async () => {
    const clock = new FakeClock();
    const a = await limiter(clock);
    const b = new DynamoWindowRateLimiter({ client, tableName: `rate-limits-${tableSeq}`, now: clock.now });
    const limits = { itemsPerSecond: 10 }; // 100 per window

    expect((await a.take('acme', 60, limits)).allowed).toBe(true);
    expect((await b.take('acme', 60, limits)).allowed).toBe(false);
    expect((await b.take('acme', 40, limits)).allowed).toBe(true);
    expect((await a.take('acme', 1, limits)).allowed).toBe(false);
  });

  it('does not count a refused request, keeps tenants apart and skips tenants without limits', async () => {
    const clock = new FakeClock();
    const rl = await limiter(clock);
    const limits = { itemsPerSecond: 10 };
    expect((await rl.take('acme', 90, limits)).allowed).toBe(true);
    expect((await rl.take('acme', 20, limits)).allowed).toBe(false);
    expect((await rl.take('acme', 10, limits)).allowed).toBe(true);
    expect((await rl.take('beta', 100, limits)).allowed).toBe(true);
    expect((await rl.take('free', 1_000_000)).allowed).toBe(true);
  });

  it('admits a request larger than the allowance only into an empty window', async () => {
    const clock = new FakeClock();
    const rl = await limiter(clock);
    const limits = { itemsPerSecond: 10 };
    expect((await rl.take('acme', 1, limits)).allowed).toBe(true);
    expect((await rl.take('acme', 500, limits)).allowed).toBe(false);
    clock.advance(5);
    expect((await rl.take('acme', 500, limits)).allowed).toBe(true);
    expect((await rl.take('acme', 1, limits)).allowed).toBe(false);
  });

  it('fails open when DynamoDB is unreachable, reporting the error', async () => {
    const dead = localDynamoClient('http://127.0.0.1:9');
    const errors: unknown[] = [];
    try {
      const rl = new DynamoWindowRateLimiter({
        client: dead,
        tableName: 'x',
        onError: (e) => errors.push(e),
      });
      expect(await rl.take('acme', 1, { itemsPerSecond: 1 })).toEqual({ allowed: true });
      expect(errors).toHaveLength(1);
    } finally {
      dead.destroy();
    }
  });
});
