SELECT p.servicename AS parent, c.servicename AS child, count(*) AS calls,
  count_if(c.statuscode IN ('Error', 'STATUS_CODE_ERROR')) AS errors,
  json_format(CAST(approx_percentile(c.duration, ARRAY[0.5, 0.95, 0.99]) AS JSON)) AS quantiles
FROM (
  SELECT traceid, parentspanid, servicename, duration, statuscode, date_trunc('hour', "timestamp") AS child_hour
  FROM "otel_lake"."otel_traces"
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND "timestamp" >= from_iso8601_timestamp(?)
    AND parentspanid <> ''
) c
JOIN (
  SELECT traceid, spanid, servicename, "timestamp" AS started
  FROM "otel_lake"."otel_traces"
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND "timestamp" >= from_iso8601_timestamp(?)
    AND "timestamp" < from_iso8601_timestamp(?)
) p ON c.traceid = p.traceid AND c.parentspanid = p.spanid
WHERE p.servicename <> c.servicename
  AND p.started >= c.child_hour - INTERVAL '5' MINUTE
  AND p.started < c.child_hour + INTERVAL '61' MINUTE
GROUP BY 1, 2
ORDER BY 1, 2
LIMIT 10000
-- parameters: ["'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","21","'2026-11-02'","3","'2026-11-01T21:55:00.000Z'","'2026-11-02T03:01:00.000Z'"]
