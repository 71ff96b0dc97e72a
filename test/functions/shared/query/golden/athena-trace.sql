SELECT traceid, spanid, parentspanid, tracestate, spanname, spankind, servicename,
  CAST(round(to_unixtime("timestamp") * 1000) AS bigint) AS start_ms, duration, statuscode, statusmessage,
  json_format(CAST(spanattributes AS JSON)) AS span_attributes, json_format(CAST(resourceattributes AS JSON)) AS resource_attributes,
  scopename, scopeversion,
  json_format(CAST(transform(events, e -> CAST(ROW(CAST(round(to_unixtime(e."timestamp") * 1000) AS bigint), e.name, e.attributes) AS ROW(time_ms bigint, name varchar, attributes map(varchar, varchar)))) AS JSON)) AS events,
  json_format(CAST(transform(links, l -> CAST(ROW(l.traceid, l.spanid, l.tracestate, l.attributes) AS ROW(trace_id varchar, span_id varchar, trace_state varchar, attributes map(varchar, varchar)))) AS JSON)) AS links
FROM "otel_lake"."otel_traces"
WHERE tenant = ?
  AND dt BETWEEN ? AND ?
  AND (dt > ? OR hour >= ?)
  AND (dt < ? OR hour <= ?)
  AND "timestamp" >= from_iso8601_timestamp(?)
  AND traceid = ?
ORDER BY "timestamp", spanid
LIMIT 10000
-- parameters: ["'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'0af7651916cd43dd8448eb211c80319c'"]
