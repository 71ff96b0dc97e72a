import { describe, expect, it } from 'vitest';
import { LambdaContextError, lambdaContext } from '../../local/lambda-context.js';

describe('the one Lambda context of local mode and the tests', () => {
  it('names the function as Lambda does: ARN, log group, request id', () => {
    const c = lambdaContext({ functionName: 'hot-writer', requestId: 'req-1', account: '123456789012' });
    expect(c).toMatchObject({
      functionName: 'hot-writer',
      awsRequestId: 'req-1',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:hot-writer',
      logGroupName: '/aws/lambda/hot-writer',
      memoryLimitInMB: '1024',
    });
  });

  it('counts the remaining time down from its creation on the clock it is given, never below 0', () => {
    let now = 1_000;
    const c = lambdaContext({ remaining: { timeoutMs: 500 }, now: () => now });
    expect(c.getRemainingTimeInMillis()).toBe(500);
    now += 200;
    expect(c.getRemainingTimeInMillis()).toBe(300);
    now += 10_000;
    expect(c.getRemainingTimeInMillis()).toBe(0);
  });

  it('answers a constant remaining time when asked to, whatever the clock', async () => {
    const c = lambdaContext({ remaining: { constantMs: 60_000 }, now: () => Date.now() });
    await new Promise((r) => setImmediate(r));
    expect(c.getRemainingTimeInMillis()).toBe(60_000);
  });

  it('refuses the callback-style methods (our handlers are async)', () => {
    expect(() => lambdaContext().done()).toThrow(LambdaContextError);
  });
});
