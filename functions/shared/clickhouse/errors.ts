/**
 * Is a ClickHouse failure about the data (retrying the same rows fails the same way: isolate and
 * dead-letter them) or an outage (the same rows will go in later: retry, never drop)?
 *
 * Decided by the ClickHouse exception code, which arrives the same way over HTTP and through the
 * embedded chdb connection: `@clickhouse/client` parses `Code: N. DB::Exception: … (TYPE)` into a
 * `ClickHouseError` with `code` (a digit string) for both; chdb's own session throws a `ChdbError`
 * with `clickhouseCode` (a number). Anything else (socket errors, timeouts, a proxy's 503 page, an
 * unknown code) is an outage: a wrong "data" verdict would drop good rows, a wrong "outage" verdict
 * only delays them.
 */

export type ClickHouseFailureKind = 'data' | 'outage';

export interface ClickHouseFailure {
  readonly kind: ClickHouseFailureKind;
  /** The ClickHouse exception code, when the failure came from the server. */
  readonly code?: number;
  /** Short reason class for metrics and dead letters, e.g. `CANNOT_PARSE_DATETIME` or `ECONNREFUSED`. */
  readonly reasonClass: string;
  /** The error's own message. */
  readonly message: string;
}

/**
 * Codes about the values of the rows, each provoked against the engine in
 * test/functions/shared/clickhouse/errors.test.ts (over HTTP and embedded). Schema or query
 * mistakes (unknown table or column, syntax) are left out on purpose: they fail every row alike,
 * so they are a deployment problem to retry until fixed, not a reason to dead-letter everything.
 */
export const DATA_ERROR_CODES: ReadonlyMap<number, string> = new Map([
  [6, 'CANNOT_PARSE_TEXT'],
  // A JSON escape of half a surrogate pair (`"\ud800"`): the receiver never writes one, a foreign
  // envelope may (found by test/functions/shared/clickhouse/map-json.test.ts).
  [25, 'CANNOT_PARSE_ESCAPE_SEQUENCE'],
  [26, 'CANNOT_PARSE_QUOTED_STRING'],
  [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED'],
  [32, 'ATTEMPT_TO_READ_AFTER_EOF'],
  [38, 'CANNOT_PARSE_DATE'],
  [41, 'CANNOT_PARSE_DATETIME'],
  [53, 'TYPE_MISMATCH'],
  [69, 'ARGUMENT_OUT_OF_BOUND'],
  [70, 'CANNOT_CONVERT_TYPE'],
  [72, 'CANNOT_PARSE_NUMBER'],
  [117, 'INCORRECT_DATA'],
  [130, 'CANNOT_READ_ARRAY_FROM_TEXT'],
  [131, 'TOO_LARGE_STRING_SIZE'],
  [190, 'SIZES_OF_ARRAYS_DONT_MATCH'],
  [376, 'CANNOT_PARSE_UUID'],
  [407, 'DECIMAL_OVERFLOW'],
  [467, 'CANNOT_PARSE_BOOL'],
  [675, 'CANNOT_PARSE_IPV4'],
  [691, 'UNKNOWN_ELEMENT_OF_ENUM'],
  // A CHECK constraint on the table refused the row (checked before anything is written).
  [469, 'VIOLATED_CONSTRAINT'],
]);

/**
 * Outage codes worth naming (documentation and reason classes; any code not in DATA_ERROR_CODES is
 * an outage anyway): the server is overloaded, out of memory, read-only, or the network failed.
 */
export const OUTAGE_CODES: ReadonlyMap<number, string> = new Map([
  [159, 'TIMEOUT_EXCEEDED'],
  [164, 'READONLY'],
  [202, 'TOO_MANY_SIMULTANEOUS_QUERIES'],
  [209, 'SOCKET_TIMEOUT'],
  [210, 'NETWORK_ERROR'],
  [241, 'MEMORY_LIMIT_EXCEEDED'],
  [242, 'TABLE_IS_READ_ONLY'],
  [252, 'TOO_MANY_PARTS'],
  [319, 'UNKNOWN_STATUS_OF_INSERT'],
  [425, 'SYSTEM_ERROR'],
  [516, 'AUTHENTICATION_FAILED'],
  [999, 'KEEPER_EXCEPTION'],
]);

const CODE_IN_TEXT = /\bCode: (\d+)\. DB::Exception/;
const TYPE_IN_TEXT = /\(([A-Z][A-Z0-9_]{2,})\)/;

interface Coded {
  readonly code: number;
  readonly message: string;
}

/** The first error in `err`'s cause chain that carries a ClickHouse exception code. */
function findCode(err: unknown): Coded | undefined {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 8; depth++) {
    const o = e as { code?: unknown; clickhouseCode?: unknown; message?: unknown; cause?: unknown };
    const message = typeof o.message === 'string' ? o.message : '';
    if (typeof o.clickhouseCode === 'number') return { code: o.clickhouseCode, message };
    if (typeof o.code === 'string' && /^\d+$/.test(o.code)) return { code: Number(o.code), message };
    const m = CODE_IN_TEXT.exec(message);
    if (m) return { code: Number(m[1]), message };
    e = o.cause;
  }
  return undefined;
}

/** The ClickHouse exception code carried by `err` or its causes, if any. */
export const clickHouseCode = (err: unknown): number | undefined => findCode(err)?.code;

/** The first error code a socket or the runtime set (ECONNREFUSED, ETIMEDOUT, …) on `err` or its causes. */
function systemCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 8; depth++) {
    const o = e as { code?: unknown; cause?: unknown };
    if (typeof o.code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(o.code)) return o.code;
    e = o.cause;
  }
  return undefined;
}

export function classifyClickHouseError(err: unknown): ClickHouseFailure {
  const coded = findCode(err);
  if (coded) {
    const { code, message } = coded;
    const data = DATA_ERROR_CODES.get(code);
    const name = data ?? OUTAGE_CODES.get(code) ?? TYPE_IN_TEXT.exec(message)?.[1] ?? `CODE_${code}`;
    return { kind: data ? 'data' : 'outage', code, reasonClass: name, message };
  }
  const message = err instanceof Error ? err.message : String(err);
  const sys = systemCode(err);
  const timeout = /timeout/i.test(message);
  return {
    kind: 'outage',
    reasonClass: sys ?? (timeout ? 'TIMEOUT' : 'UNKNOWN'),
    message,
  };
}

export const isDataError = (err: unknown): boolean => classifyClickHouseError(err).kind === 'data';
