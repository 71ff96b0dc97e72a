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
