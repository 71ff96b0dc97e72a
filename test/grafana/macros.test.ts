import { describe, expect, it } from 'vitest';
import { expandGrafanaSql, expandMacros, interpolateVariables } from './macros.js';

// The examples of the plugin's macro documentation (from 1415792726 s to 1447328726 s).
const ctx = { fromMs: 1_415_792_726_000, toMs: 1_447_328_726_123, intervalMs: 20_000, variables: {} };

describe('Grafana ClickHouse macro expansion (test support)', () => {
  it('expands the time macros as the plugin documents them', () => {
    expect(expandMacros('WHERE $__timeFilter(time)', ctx)).toBe(
      'WHERE time >= toDateTime(1415792726) AND time <= toDateTime(1447328726)',
    );
    expect(expandMacros('$__timeFilter_ms(time)', ctx)).toBe(
      'time >= fromUnixTimestamp64Milli(1415792726000) AND time <= fromUnixTimestamp64Milli(1447328726123)',
    );
    expect(expandMacros('$__dateFilter(date)', ctx)).toBe(
      "date >= toDate('2014-11-12') AND date <= toDate('2015-11-12')",
    );
    expect(expandMacros('$__fromTime, $__toTime', ctx)).toBe(
      'toDateTime(1415792726), toDateTime(1447328726)',
    );
    expect(expandMacros('$__timeInterval(ts) / $__interval_s', ctx)).toBe(
      'toStartOfInterval(toDateTime(ts), INTERVAL 20 second) / 20',
    );
    expect(expandMacros('$__interval_s', { ...ctx, intervalMs: 200 })).toBe('1');
    expect(() => expandMacros('$__timeFilter(a, b)', ctx)).toThrow(/1 argument/);
    expect(() => expandMacros('$__conditionalAll(x)', ctx)).toThrow(/not modelled/);
  });

  it('interpolates variables before macros, leaving $__ names alone', () => {
    const v = { ...ctx, variables: { service: ['a', "o'b"], id: ['42'] } };
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not JS
    expect(interpolateVariables("x IN (${service:singlequote}) AND y = '$id' AND $__timeFilter(t)", v)).toBe(
      "x IN ('a','o\\'b') AND y = '42' AND $__timeFilter(t)",
    );
    expect(() => interpolateVariables('$nope', v)).toThrow(/unknown template variable/);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not JS
    expect(expandGrafanaSql('${id} $__interval_s', v)).toBe('42 20');
  });
});
