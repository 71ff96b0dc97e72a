/**
 * Errors of the query API, each mapped to one HTTP status by the handler. A bad parameter names
 * the parameter, so a client can tell which one to fix without reading server logs.
 */

/** A request parameter (query string, path or cursor) is invalid: 400. */
export class QueryParameterError extends Error {
  override readonly name = 'QueryParameterError';
  constructor(
    readonly parameter: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`invalid parameter '${parameter}': ${message}`, options);
  }
}

/** A query ran past its time budget (ClickHouse max_execution_time, Athena polling deadline): 504. */
export class QueryTimeoutError extends Error {
  override readonly name = 'QueryTimeoutError';
  constructor(
    readonly tier: 'hot' | 'cold',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A tier failed for another reason (engine error, Athena FAILED): 502. */
export class QueryEngineError extends Error {
  override readonly name = 'QueryEngineError';
  constructor(
    readonly tier: 'hot' | 'cold',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A query would read more than the per-query caps allow (ClickHouse `max_rows_to_read` /
 * `max_bytes_to_read`): 422 asking to narrow the range. The caps bound what one request can take
 * from the engine that every tenant shares.
 */
export class QueryTooLargeError extends Error {
  override readonly name = 'QueryTooLargeError';
  constructor(
    readonly tier: 'hot' | 'cold',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The answer would not fit one response (Lambda returns at most 6 MB) and cannot be paged: 422. */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
}
