SELECT traceid, start_ms, service_name, operation, max_duration, spans, errors
FROM (
  SELECT traceid, min("timestamp") AS first_seen, CAST(round(to_unixtime(min("timestamp")) * 1000) AS bigint) AS start_ms,
    min_by(servicename, "timestamp") AS service_name, min_by(spanname, "timestamp") AS operation,
    max(duration) AS max_duration, count(*) AS spans, count_if(statuscode IN ('Error', 'STATUS_CODE_ERROR')) AS errors
  FROM "otel_lake"."otel_traces"
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND "timestamp" >= from_iso8601_timestamp(?)
    AND servicename = ?
    AND spanname = ?
    AND duration >= ?
    AND statuscode IN (?, ?)
  GROUP BY traceid
)
WHERE first_seen < from_iso8601_timestamp(?)
  OR (first_seen = from_iso8601_timestamp(?) AND traceid < ?)
ORDER BY first_seen DESC, traceid DESC
LIMIT 101
-- parameters: ["'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'checkout'","'GET /cart'","100000000","'Error'","'STATUS_CODE_ERROR'","'2026-11-02T01:00:00.000Z'","'2026-11-02T01:00:00.000Z'","'abc'"]
