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

INSERT INTO status_counts
SELECT 'orders', status, COUNT(*) FROM orders GROUP BY status
UNION ALL
SELECT 'order_items', status, COUNT(*) FROM order_items GROUP BY status;
