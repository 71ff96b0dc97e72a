/**
 * OpenTelemetry log severity ranges: each name covers four SeverityNumbers, starting at
 * TRACE = 1 (TRACE..TRACE4 = 1..4, DEBUG = 5..8, … FATAL = 21..24).
 */
export const LOG_SEVERITIES = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;

export type LogSeverity = (typeof LOG_SEVERITIES)[number];

/** Lowest SeverityNumber of each range. */
export const LOG_SEVERITY_NUMBERS = Object.freeze(
  Object.fromEntries(LOG_SEVERITIES.map((name, i) => [name, i * 4 + 1])),
) as Readonly<Record<LogSeverity, number>>;
