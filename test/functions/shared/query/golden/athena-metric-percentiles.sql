SELECT grp, bucket_ms, json_format(CAST(bounds AS JSON)) AS bounds, json_format(CAST(array_agg(c ORDER BY i) AS JSON)) AS counts,
  min(mn) AS min, max(mx) AS max
FROM (
  SELECT group_attr.v AS grp, CAST(floor(to_unixtime(timeunix) * 1000 / 300000) AS bigint) * 300000 AS bucket_ms, explicitbounds AS bounds,
    bucket.i, sum(bucket.c) AS c, min(min) AS mn, max(max) AS mx
  FROM "otel_lake"."otel_metrics_histogram"
  CROSS JOIN UNNEST(attributes) AS group_attr(k, v)
  CROSS JOIN UNNEST(bucketcounts) WITH ORDINALITY AS bucket(c, i)
  WHERE tenant = ?
    AND dt BETWEEN ? AND ?
    AND (dt > ? OR hour >= ?)
    AND (dt < ? OR hour <= ?)
    AND timeunix >= from_iso8601_timestamp(?)
    AND metricname = ?
    AND servicename = ?
    AND element_at(attributes, ?) = ?
    AND group_attr.k = ?
    AND cardinality(bucketcounts) = cardinality(explicitbounds) + 1
  GROUP BY 1, 2, 3, 4
)
GROUP BY 1, 2, 3
ORDER BY 1, 2
LIMIT 100000
-- parameters: ["'acme'","'2026-11-01'","'2026-11-02'","'2026-11-01'","22","'2026-11-02'","2","'2026-11-01T22:15:00.000Z'","'http.server.duration'","'checkout'","'region'","'eu'","'host'"]
