SELECT metric_type, servicename, CAST(floor(to_unixtime(timeunix) * 1000 / 60000) AS bigint) * 60000 AS bucket_ms, sum(s) AS sum, sum(c) AS count, min(mn) AS min, max(mx) AS max
FROM (
  SELECT 'gauge' AS metric_type, group_attr.v AS servicename, timeunix, CAST(value AS double) AS s, 1e0 AS c, CAST(value AS double) AS mn, CAST(value AS double) AS mx
  FROM "otel_lake"."otel_metrics_gauge"
  CROSS JOIN UNNEST(attributes) AS group_attr(k, v)
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND timeunix >= from_iso8601_timestamp(?)
    AND metricname = ?
    AND group_attr.k = ?
  UNION ALL
  SELECT 'sum' AS metric_type, group_attr.v AS servicename, timeunix, CAST(value AS double) AS s, 1e0 AS c, CAST(value AS double) AS mn, CAST(value AS double) AS mx
  FROM "otel_lake"."otel_metrics_sum"
  CROSS JOIN UNNEST(attributes) AS group_attr(k, v)
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND timeunix >= from_iso8601_timestamp(?)
    AND metricname = ?
    AND group_attr.k = ?
  UNION ALL
  SELECT 'histogram' AS metric_type, group_attr.v AS servicename, timeunix, CAST(sum AS double) AS s, CAST(count AS double) AS c, CAST(min AS double) AS mn, CAST(max AS double) AS mx
  FROM "otel_lake"."otel_metrics_histogram"
  CROSS JOIN UNNEST(attributes) AS group_attr(k, v)
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND timeunix >= from_iso8601_timestamp(?)
    AND metricname = ?
    AND group_attr.k = ?
  UNION ALL
  SELECT 'exponential_histogram' AS metric_type, group_attr.v AS servicename, timeunix, CAST(sum AS double) AS s, CAST(count AS double) AS c, CAST(min AS double) AS mn, CAST(max AS double) AS mx
  FROM "otel_lake"."otel_metrics_exponential_histogram"
  CROSS JOIN UNNEST(attributes) AS group_attr(k, v)
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND timeunix >= from_iso8601_timestamp(?)
    AND metricname = ?
    AND group_attr.k = ?
  UNION ALL
  SELECT 'summary' AS metric_type, group_attr.v AS servicename, timeunix, CAST(sum AS double) AS s, CAST(count AS double) AS c, CAST(NULL AS double) AS mn, CAST(NULL AS double) AS mx
  FROM "otel_lake"."otel_metrics_summary"
  CROSS JOIN UNNEST(attributes) AS group_attr(k, v)
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND timeunix >= from_iso8601_timestamp(?)
    AND metricname = ?
    AND group_attr.k = ?
)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
LIMIT 100000
-- parameters: ["'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'cpu.usage'","'host'","'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'cpu.usage'","'host'","'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'cpu.usage'","'host'","'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'cpu.usage'","'host'","'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'cpu.usage'","'host'"]
