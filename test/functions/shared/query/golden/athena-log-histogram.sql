SELECT CAST(floor(to_unixtime("timestamp") * 1000 / 60000) AS bigint) * 60000 AS bucket_ms, severitynumber,
  IF(severitynumber = 0, upper(severitytext), '') AS severity, count(*) AS count
FROM "otel_lake"."otel_logs"
WHERE tenant = ?
  AND dt BETWEEN ? AND ?
  AND (dt > ? OR hour >= ?)
  AND (dt < ? OR hour <= ?)
  AND "timestamp" >= from_iso8601_timestamp(?)
  AND servicename = ?
  AND severitynumber >= ?
  AND strpos(lower(body), lower(?)) > 0
  AND traceid = ?
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
LIMIT 100000
-- parameters: ["'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'checkout'","13","'failed'","'abc'"]
