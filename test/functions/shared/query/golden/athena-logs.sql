SELECT CAST(round(to_unixtime("timestamp") * 1000) AS bigint) AS time_ms, servicename, severitytext, severitynumber, body, traceid, spanid,
  json_format(CAST(logattributes AS JSON)) AS log_attributes, json_format(CAST(resourceattributes AS JSON)) AS resource_attributes
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
ORDER BY "timestamp" DESC, servicename, traceid, spanid, body
LIMIT 101
-- parameters: ["'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'checkout'","17","'payment failed'","'abc'"]
