SELECT servicename, spanname, count(*) AS requests, count_if(statuscode IN ('Error', 'STATUS_CODE_ERROR')) AS errors,
  json_format(CAST(approx_percentile(duration, ARRAY[0.5, 0.95, 0.99]) AS JSON)) AS quantiles
FROM "otel_lake"."otel_traces"
WHERE tenant = ?
  AND dt BETWEEN ? AND ?
  AND (dt > ? OR hour >= ?)
  AND (dt < ? OR hour <= ?)
  AND "timestamp" >= from_iso8601_timestamp(?)
  AND (spankind IN (?, ?, ?, ?) OR parentspanid = '')
  AND servicename = ?
GROUP BY servicename, spanname
ORDER BY servicename, spanname
LIMIT 1000
-- parameters: ["'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'Server'","'Consumer'","'SPAN_KIND_SERVER'","'SPAN_KIND_CONSUMER'","'checkout'"]
