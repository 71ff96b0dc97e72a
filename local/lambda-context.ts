import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/**
 * The one Lambda context of local mode and the tests: what Powertools and our handlers read from
 * it (names, ARN, request id, remaining time). Callback-style methods throw: our handlers are async.
 */
export interface LambdaContextOptions {
  /** @default 'local' */
  readonly functionName?: string;
  /** @default a random UUID */
  readonly requestId?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly account?: string;
  /** @default 1024 */
  readonly memoryMb?: number;
  /**
   * The remaining time: `{ timeoutMs }` counts down from the context's creation as Lambda's does;
   * `{ constantMs }` always answers the same (for tests whose assertions must not depend on the clock).
   * @default { timeoutMs: 300_000 }
   */
  readonly remaining?: { readonly timeoutMs: number } | { readonly constantMs: number };
  /** The clock behind a countdown. @default Date.now */
  readonly now?: () => number;
}

export class LambdaContextError extends Error {
  override readonly name = 'LambdaContextError';
}

export function lambdaContext(options: LambdaContextOptions = {}): Context {
  const functionName = options.functionName ?? 'local';
  const region = options.region ?? 'us-east-1';
  const account = options.account ?? '000000000000';
  const requestId = options.requestId ?? randomUUID();
  const now = options.now ?? Date.now;
  const remaining = options.remaining ?? { timeoutMs: 300_000 };
  let getRemainingTimeInMillis: () => number;
  if ('constantMs' in remaining) {
    getRemainingTimeInMillis = () => remaining.constantMs;
  } else {
    const deadline = now() + remaining.timeoutMs;
    getRemainingTimeInMillis = () => Math.max(0, deadline - now());
  }
  const unsupported = () => {
    throw new LambdaContextError('callback-style Lambda context methods are not supported');
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${functionName}`,
    memoryLimitInMB: String(options.memoryMb ?? 1024),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/[$LATEST]${requestId.replaceAll('-', '')}`,
    getRemainingTimeInMillis,
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
