-- The shop funnel per minute, from the events table.
-- Topic ${TOPIC_PREFIX}.analytics.funnel_per_minute, key window_start.
--
-- A session belongs to the minute of its first event (MIN(created_at) over its events). Per minute:
--   sessions         sessions that started in the minute
--   product_views    'product' events of those sessions
--   carts            sessions that reached 'cart'
--   purchases        sessions with a 'purchase'
--   abandoned_carts  sessions of registered users (user_id not null) that reached 'cart' without
--                    a 'purchase'
--   ghost_sessions   anonymous sessions (user_id null)
--   conversion_rate  purchases / sessions
-- A visit is written in one transaction, so a session is complete when its events arrive; a
-- session looks abandoned for the moment between its cart and purchase events, then is corrected.
-- Deleted events (closed accounts) leave the funnel, as they leave the database.
CREATE TEMPORARY TABLE funnel_per_minute (
  window_start TIMESTAMP_LTZ(3),
  window_end TIMESTAMP_LTZ(3),
  sessions BIGINT,
  product_views BIGINT,
  carts BIGINT,
  purchases BIGINT,
  abandoned_carts BIGINT,
  ghost_sessions BIGINT,
  conversion_rate DOUBLE,
  PRIMARY KEY (window_start) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = '${TOPIC_PREFIX}.analytics.funnel_per_minute',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'key.format' = 'json',
  'key.json.timestamp-format.standard' = 'ISO-8601',
  'value.format' = 'json',
  'value.json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TEMPORARY VIEW shop_sessions AS
SELECT
  session_id,
  MIN(created_at) AS started_at,
  MAX(user_id) AS user_id,
  SUM(CASE WHEN event_type = 'product' THEN 1 ELSE 0 END) AS product_views,
  MAX(CASE WHEN event_type = 'cart' THEN 1 ELSE 0 END) AS reached_cart,
  MAX(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchased
FROM events
GROUP BY session_id;

INSERT INTO funnel_per_minute
SELECT
  CAST(bucket AS TIMESTAMP_LTZ(3)),
  CAST(bucket + INTERVAL '1' MINUTE AS TIMESTAMP_LTZ(3)),
  COUNT(*),
  CAST(SUM(product_views) AS BIGINT),
  CAST(SUM(reached_cart) AS BIGINT),
  CAST(SUM(purchased) AS BIGINT),
  CAST(SUM(CASE WHEN user_id IS NOT NULL AND reached_cart = 1 AND purchased = 0 THEN 1 ELSE 0 END) AS BIGINT),
  CAST(SUM(CASE WHEN user_id IS NULL THEN 1 ELSE 0 END) AS BIGINT),
  CAST(SUM(purchased) AS DOUBLE) / COUNT(*)
FROM (SELECT FLOOR(started_at TO MINUTE) AS bucket, * FROM shop_sessions)
GROUP BY bucket;
