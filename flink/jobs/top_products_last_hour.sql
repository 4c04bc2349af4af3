-- The top 10 products by revenue over the last hour, updated with every order item.
-- Topic ${TOPIC_PREFIX}.analytics.top_products_last_hour, key rank (1..10).
--
-- "The last hour" is measured in order time, not wall-clock time, so that it is exact and can be
-- checked: the shop's current minute is the minute of the newest order item
-- (MAX(FLOOR(order_items.created_at TO MINUTE))), and the window is the
-- ${TOP_PRODUCTS_WINDOW_MINUTES} one-minute buckets ending with it:
--   window_start = current minute - (${TOP_PRODUCTS_WINDOW_MINUTES} - 1) minutes,
--   window_end   = current minute + 1 minute,  items with window_start <= created_at < window_end.
-- Revenue is the sum of sale_price of the product's items in the window that are not Cancelled or
-- Returned (a cancellation or return moves a product down at once); ties are broken by the lower
-- product id. When the clock moves to a new minute the oldest minute leaves the window. When the
-- shop is idle the window stays where the last order was.
CREATE TEMPORARY TABLE top_products_last_hour (
  `rank` BIGINT,
  product_id INT,
  product_name STRING,
  brand STRING,
  department STRING,
  category STRING,
  revenue DECIMAL(14, 2),
  items BIGINT,
  window_start TIMESTAMP_LTZ(3),
  window_end TIMESTAMP_LTZ(3),
  PRIMARY KEY (`rank`) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = '${TOPIC_PREFIX}.analytics.top_products_last_hour',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'key.format' = 'json',
  'value.format' = 'json',
  'value.json.timestamp-format.standard' = 'ISO-8601'
);

-- Net revenue per product and minute: small state (one row per product sold in a minute).
CREATE TEMPORARY VIEW product_minutes AS
SELECT product_id, FLOOR(created_at TO MINUTE) AS bucket,
       SUM(CAST(sale_price AS DECIMAL(12, 2))) AS revenue, COUNT(*) AS items
FROM order_items
WHERE status NOT IN ('Cancelled', 'Returned')
GROUP BY product_id, FLOOR(created_at TO MINUTE);

-- One row: the shop's current minute. Order items are never deleted, so it only moves forward.
CREATE TEMPORARY VIEW shop_clock AS
SELECT MAX(FLOOR(created_at TO MINUTE)) AS current_minute FROM order_items;

-- Grouped by product only (the window is carried as a value), so that when the clock moves a
-- product's row is updated rather than deleted and inserted again.
CREATE TEMPORARY VIEW product_last_hour AS
SELECT pm.product_id, MAX(c.current_minute) AS current_minute,
       SUM(pm.revenue) AS revenue, SUM(pm.items) AS items
FROM product_minutes AS pm
JOIN shop_clock AS c
  ON pm.bucket > c.current_minute - INTERVAL '${TOP_PRODUCTS_WINDOW_MINUTES}' MINUTE
 AND pm.bucket <= c.current_minute
GROUP BY pm.product_id;

-- Product details are joined before ranking: the rank is then the last step and its key (rank)
-- is the topic's key, so a new leader is written as one new value per rank, not a tombstone first.
CREATE TEMPORARY VIEW product_details AS
SELECT l.product_id, p.name, p.brand, p.department, p.category, l.revenue, l.items, l.current_minute
FROM product_last_hour AS l
JOIN products AS p ON l.product_id = p.id;

-- The ranking in two steps, with the result of one: the 10 best products of each of 64 groups (by
-- product id), then the 10 best of those 640 (the overall 10 best are among them; ties go to the lower
-- product id in both steps). Why: a ranking over updates keeps its whole sort order as one state value
-- and, with RocksDB, reads and writes it for every change; over thousands of products in the window one
-- step took about 12 ms per change and could not keep up with 100 visits/s. A group's order is 64 times
-- smaller, and the final step only sees changes of some group's 10 best.
CREATE TEMPORARY VIEW group_leaders AS
SELECT product_id, name, brand, department, category, revenue, items, current_minute
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY MOD(product_id, 64) ORDER BY revenue DESC, product_id ASC) AS group_rank
  FROM product_details
)
WHERE group_rank <= 10;

INSERT INTO top_products_last_hour
SELECT rn, product_id, name, brand, department, category, CAST(revenue AS DECIMAL(14, 2)), items,
       CAST(current_minute - INTERVAL '${TOP_PRODUCTS_WINDOW_MINUTES}' MINUTE + INTERVAL '1' MINUTE AS TIMESTAMP_LTZ(3)),
       CAST(current_minute + INTERVAL '1' MINUTE AS TIMESTAMP_LTZ(3))
FROM (
  SELECT product_id, name, brand, department, category, revenue, items, current_minute,
         ROW_NUMBER() OVER (ORDER BY revenue DESC, product_id ASC) AS rn
  FROM group_leaders
)
WHERE rn <= 10;
