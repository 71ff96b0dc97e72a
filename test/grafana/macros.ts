/**
 * What Grafana does to a ClickHouse panel's SQL before the server sees it, for tests:
 * 1. the frontend interpolates template variables (`$var`, `${var}`, `${var:singlequote}`; a
 *    multi-value variable joins its values with ',', singlequote quotes each as 'v');
 * 2. the plugin's backend expands its macros, as its documentation states:
 *    `$__timeFilter(c)`  -> `c >= toDateTime(<from s>) AND c <= toDateTime(<to s>)`
 *    `$__timeFilter_ms(c)` -> the same with `fromUnixTimestamp64Milli(<ms>)`
 *    `$__dateFilter(c)`  -> `c >= toDate('<from>') AND c <= toDate('<to>')`
 *    `$__fromTime` / `$__toTime` -> `toDateTime(<s>)`; `_ms` variants -> `fromUnixTimestamp64Milli(<ms>)`
 *    `$__timeInterval(c)` -> `toStartOfInterval(toDateTime(c), INTERVAL <interval s> second)`
 *    `$__timeInterval_ms(c)` -> `toStartOfInterval(toDateTime64(c, 3), INTERVAL <interval ms> millisecond)`
 *    `$__interval_s` -> the interval in whole seconds (at least 1)
 * Grafana's own `$__…` names are not template variables, so step 1 leaves them to step 2.
 */

export interface GrafanaQueryContext {
  readonly fromMs: number;
  readonly toMs: number;
  readonly intervalMs: number;
  readonly variables: Record<string, string[]>;
}

const VARIABLE = /\$\{(\w+)(?::(\w+))?\}|\$(\w+)/g;

export function interpolateVariables(sql: string, ctx: GrafanaQueryContext): string {
  return sql.replace(
    VARIABLE,
    (whole, braced: string | undefined, format: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare)!;
      if (name.startsWith('__')) return whole;
      const values = ctx.variables[name];
      if (values === undefined) throw new Error(`unknown template variable ${name}`);
      if (format === 'singlequote') return values.map((v) => `'${v.replace(/'/g, "\\'")}'`).join(',');
      if (format !== undefined) throw new Error(`format ${format} not modelled`);
      return values.join(',');
    },
  );
}

const MACRO = /\$__(\w+?)(?:\(([^()]*)\))?(?=\W|$)/g;

export function expandMacros(sql: string, ctx: GrafanaQueryContext): string {
  const fromS = Math.floor(ctx.fromMs / 1000);
  const toS = Math.floor(ctx.toMs / 1000);
  const intervalS = Math.max(Math.floor(ctx.intervalMs / 1000), 1);
  const date = (ms: number) => `toDate('${new Date(ms).toISOString().slice(0, 10)}')`;
  const oneArg = (name: string, args: string | undefined): string => {
    const list = (args ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '');
    if (list.length !== 1) throw new Error(`$__${name} expects 1 argument, got ${list.length}`);
    return list[0]!;
  };
  return sql.replace(MACRO, (_, name: string, args: string | undefined) => {
    switch (name) {
      case 'timeFilter': {
        const c = oneArg(name, args);
        return `${c} >= toDateTime(${fromS}) AND ${c} <= toDateTime(${toS})`;
      }
      case 'timeFilter_ms': {
        const c = oneArg(name, args);
        return `${c} >= fromUnixTimestamp64Milli(${ctx.fromMs}) AND ${c} <= fromUnixTimestamp64Milli(${ctx.toMs})`;
      }
      case 'dateFilter': {
        const c = oneArg(name, args);
        return `${c} >= ${date(ctx.fromMs)} AND ${c} <= ${date(ctx.toMs)}`;
      }
      case 'fromTime':
        return `toDateTime(${fromS})`;
      case 'toTime':
        return `toDateTime(${toS})`;
      case 'fromTime_ms':
        return `fromUnixTimestamp64Milli(${ctx.fromMs})`;
      case 'toTime_ms':
        return `fromUnixTimestamp64Milli(${ctx.toMs})`;
      case 'timeInterval':
        return `toStartOfInterval(toDateTime(${oneArg(name, args)}), INTERVAL ${intervalS} second)`;
      case 'timeInterval_ms':
        return `toStartOfInterval(toDateTime64(${oneArg(name, args)}, 3), INTERVAL ${Math.max(ctx.intervalMs, 1)} millisecond)`;
      case 'interval_s':
        return String(intervalS);
      default:
        throw new Error(`macro $__${name} not modelled`);
    }
  });
}

export function expandGrafanaSql(sql: string, ctx: GrafanaQueryContext): string {
  return expandMacros(interpolateVariables(sql, ctx), ctx);
}
