-- Revenue, orders and items per minute of order time, by department and category.
-- Topic ${TOPIC_PREFIX}.analytics.revenue_per_minute, key (window_start, department, category).
--
-- A one-minute tumbling window on order_items.created_at, written as GROUP BY on the minute bucket
-- of the changelog rather than as a TUMBLE window TVF: a window TVF fires once when the watermark
-- passes the window end and drops later changes as late, but order items change status (cancelled,
-- returned) long after their minute, and the Debezium snapshot arrives in table order, not time
-- order. The GROUP BY follows every INSERT, UPDATE and DELETE, so each minute always equals the
-- same query on the database; a minute is final once no order item of it changes any more.
--
--   items         order items created in the minute (any status)
--   orders        distinct orders among them
--   gross_revenue sum of sale_price of those items
--   revenue       the same without items now Cancelled or Returned (what the shop keeps)
CREATE TEMPORARY TABLE revenue_per_minute (
  window_start TIMESTAMP_LTZ(3),
  window_end TIMESTAMP_LTZ(3),
  department STRING,
  category STRING,
  revenue DOUBLE,
  gross_revenue DOUBLE,
  orders BIGINT,
  items BIGINT,
  PRIMARY KEY (window_start, department, category) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = '${TOPIC_PREFIX}.analytics.revenue_per_minute',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'key.format' = 'json',
  'key.json.timestamp-format.standard' = 'ISO-8601',
  'value.format' = 'json',
  'value.json.timestamp-format.standard' = 'ISO-8601'
);

INSERT INTO revenue_per_minute
SELECT
  CAST(w.bucket AS TIMESTAMP_LTZ(3)),
  CAST(w.bucket + INTERVAL '1' MINUTE AS TIMESTAMP_LTZ(3)),
  w.department,
  w.category,
  SUM(CASE WHEN w.status IN ('Cancelled', 'Returned') THEN 0 ELSE w.sale_price END),
  SUM(w.sale_price),
  COUNT(DISTINCT w.order_id),
  COUNT(*)
FROM (
  SELECT FLOOR(oi.created_at TO MINUTE) AS bucket, p.department, p.category,
         oi.status, oi.sale_price, oi.order_id
  FROM order_items AS oi
  JOIN products AS p ON oi.product_id = p.id
) AS w
GROUP BY w.bucket, w.department, w.category;
