SELECT metric_type, metricname, unit, description, services
FROM (
  SELECT 'gauge' AS metric_type, metricname, arbitrary(metricunit) AS unit,
    arbitrary(metricdescription) AS description, json_format(CAST(slice(array_sort(array_agg(DISTINCT servicename)), 1, 100) AS JSON)) AS services
  FROM "otel_lake"."otel_metrics_gauge"
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND timeunix >= from_iso8601_timestamp(?)
    AND strpos(lower(metricname), lower(?)) > 0
  GROUP BY metricname
  UNION ALL
  SELECT 'sum' AS metric_type, metricname, arbitrary(metricunit) AS unit,
    arbitrary(metricdescription) AS description, json_format(CAST(slice(array_sort(array_agg(DISTINCT servicename)), 1, 100) AS JSON)) AS services
  FROM "otel_lake"."otel_metrics_sum"
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND timeunix >= from_iso8601_timestamp(?)
    AND strpos(lower(metricname), lower(?)) > 0
  GROUP BY metricname
  UNION ALL
  SELECT 'histogram' AS metric_type, metricname, arbitrary(metricunit) AS unit,
    arbitrary(metricdescription) AS description, json_format(CAST(slice(array_sort(array_agg(DISTINCT servicename)), 1, 100) AS JSON)) AS services
  FROM "otel_lake"."otel_metrics_histogram"
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND timeunix >= from_iso8601_timestamp(?)
    AND strpos(lower(metricname), lower(?)) > 0
  GROUP BY metricname
  UNION ALL
  SELECT 'exponential_histogram' AS metric_type, metricname, arbitrary(metricunit) AS unit,
    arbitrary(metricdescription) AS description, json_format(CAST(slice(array_sort(array_agg(DISTINCT servicename)), 1, 100) AS JSON)) AS services
  FROM "otel_lake"."otel_metrics_exponential_histogram"
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND timeunix >= from_iso8601_timestamp(?)
    AND strpos(lower(metricname), lower(?)) > 0
  GROUP BY metricname
  UNION ALL
  SELECT 'summary' AS metric_type, metricname, arbitrary(metricunit) AS unit,
    arbitrary(metricdescription) AS description, json_format(CAST(slice(array_sort(array_agg(DISTINCT servicename)), 1, 100) AS JSON)) AS services
  FROM "otel_lake"."otel_metrics_summary"
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND timeunix >= from_iso8601_timestamp(?)
    AND strpos(lower(metricname), lower(?)) > 0
  GROUP BY metricname
)
ORDER BY metricname, metric_type
LIMIT 1000
-- parameters: ["'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'http'","'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'http'","'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'http'","'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'http'","'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'http'"]
