-- The live number of orders and of order items in each status.
-- Topic ${TOPIC_PREFIX}.analytics.status_counts, key (entity, status); entity is 'orders' or
-- 'order_items'. Every UPDATE moves one row from the old status to the new one (Debezium's
-- before-image retracts it); a status that no row has any more is removed (tombstone).
CREATE TEMPORARY TABLE status_counts (
  entity STRING,
  status STRING,
  cnt BIGINT,
  PRIMARY KEY (entity, status) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = '${TOPIC_PREFIX}.analytics.status_counts',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'key.format' = 'json',
  'value.format' = 'json'
);

-- One aggregation over both tables (not a UNION of two aggregations): its key (entity, status) is
-- the topic's key, so an update is written as one new value, never as a tombstone and a value.
INSERT INTO status_counts
SELECT entity, status, COUNT(*)
FROM (
  SELECT 'orders' AS entity, status FROM orders
  UNION ALL
  SELECT 'order_items' AS entity, status FROM order_items
)
GROUP BY entity, status;
