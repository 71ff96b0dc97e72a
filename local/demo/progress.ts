/** Where the demo stands: what it generated and what the exporters managed to send. */
export interface DemoStats {
  readonly elapsedMs: number;
  readonly traces: number;
  /** Traces with at least one span in status ERROR. */
  readonly errorTraces: number;
  readonly spans: number;
  readonly logs: number;
  readonly spansExported: number;
  readonly logsExported: number;
  readonly metricExports: number;
  readonly exportErrors: number;
  readonly lastError: string | undefined;
}

export function formatProgress(s: DemoStats): string {
  const seconds = s.elapsedMs / 1000;
  const rate = seconds > 0 ? Math.round(s.spans / seconds) : 0;
  const parts = [
    `${formatElapsed(s.elapsedMs)}`,
    `traces ${s.traces}`,
    `spans ${s.spans} (${rate}/s, ${s.spansExported} sent)`,
    `logs ${s.logs} (${s.logsExported} sent)`,
    `metric exports ${s.metricExports}`,
    `export errors ${s.exportErrors}`,
  ];
  if (s.exportErrors > 0 && s.lastError) parts.push(`last: ${s.lastError}`);
  return parts.join(' | ');
}

function formatElapsed(ms: number): string {
  const total = Math.floor(ms / 1000);
  const m = Math.floor(total / 60);
  const sec = total % 60;
  return `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

export interface ProgressWriter {
  update(stats: DemoStats): void;
  /** Ends the in-place line so the next output starts on a fresh one. */
  done(): void;
}

/**
 * On a terminal the line is rewritten in place every update; elsewhere (a pipe, CI logs) a line
 * is printed every `plainEveryMs`, so logs stay readable.
 */
export function progressWriter(
  out: { write(chunk: string): unknown; isTTY?: boolean; columns?: number },
  plainEveryMs = 5000,
): ProgressWriter {
  let lastPlain = Number.NEGATIVE_INFINITY;
  let drawn = false;
  return {
    update(stats) {
      const line = formatProgress(stats);
      if (out.isTTY) {
        const width = out.columns && out.columns > 20 ? out.columns - 1 : line.length;
        out.write(`\r\x1b[2K${line.slice(0, width)}`);
        drawn = true;
      } else if (stats.elapsedMs - lastPlain >= plainEveryMs) {
        lastPlain = stats.elapsedMs;
        out.write(`${line}\n`);
      }
    },
    done() {
      if (drawn) out.write('\n');
      drawn = false;
    },
  };
}

/** The closing summary: totals, then copy-paste queries to see the data in the pipeline. */
export function formatSummary(s: DemoStats, endpoint: string, apiKey: string): string {
  const auth = `-H "Authorization: Bearer ${apiKey}"`;
  const lines = [
    '',
    `Ran ${(s.elapsedMs / 1000).toFixed(1)} s against ${endpoint} (sent of generated):`,
    `  traces          ${s.traces} (${s.errorTraces} with errors)`,
    `  spans           ${s.spansExported} of ${s.spans}`,
    `  logs            ${s.logsExported} of ${s.logs}`,
    `  metric exports  ${s.metricExports}`,
    `  export errors   ${s.exportErrors}${s.lastError && s.exportErrors > 0 ? ` (last: ${s.lastError})` : ''}`,
    '',
    'Look at it (the pipeline writes in batches: allow a few seconds):',
    `  curl ${auth} "${endpoint}/v1/query/services?from=now-15m"`,
    `  curl ${auth} "${endpoint}/v1/query/traces?service=checkout&from=now-15m"`,
    `  curl ${auth} "${endpoint}/v1/query/traces?service=payments&status=error&from=now-15m"`,
    `  curl ${auth} "${endpoint}/v1/query/logs?service=inventory&severity=WARN&from=now-15m"`,
    `  curl ${auth} "${endpoint}/v1/query/metrics?name=http.server.request.duration&service=frontend&from=now-15m"`,
    '',
  ];
  return lines.join('\n');
}
