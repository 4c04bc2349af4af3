-- Stock per distribution centre: units in stock, sold and written off.
-- Topic ${TOPIC_PREFIX}.analytics.stock_per_dc, key dc_id.
--
--   in_stock     inventory items of the centre not sold (sold_at null) and not deleted
--   sold         inventory items of the centre with sold_at set
--   written_off  unsold inventory items the shop deleted (stock write-offs)
-- in_stock and sold follow the inventory_items changelog. A deleted row is gone from both the
-- database and the changelog table, so written_off counts the DELETE events themselves, read
-- from the same topic as plain JSON (inventory_items_changes); a DELETE delivered twice after a
-- crash is counted once (deduplicated on the item id).
--
-- State (flink/README.md, "State"): the one state here that grows with the shop's history rather
-- than with its live rows is the set of item ids already counted as written off. It only has to
-- catch a DELETE delivered again, which Debezium does seconds after the first copy, so it keeps an
-- id for a day (STATE_TTL) and then forgets it; the count itself never expires.
CREATE TEMPORARY TABLE stock_per_dc (
  dc_id INT,
  dc_name STRING,
  in_stock BIGINT,
  sold BIGINT,
  written_off BIGINT,
  PRIMARY KEY (dc_id) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = '${TOPIC_PREFIX}.analytics.stock_per_dc',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'key.format' = 'json',
  'value.format' = 'json'
);

-- One aggregation per centre over two inputs: the inventory changelog (rows counted while they
-- exist) and the write-off events (each counted once for good). Its key is the topic's key, so a
-- change is written as one new value; joins of the three counts would write a tombstone first.
-- One row per written-off item, however often its DELETE arrives. A GROUP BY rather than a
-- ROW_NUMBER deduplication: Flink's STATE_TTL hint applies to aggregations and joins only. A repeated
-- DELETE updates the row with the same value, which the sum below takes back and adds again.
CREATE TEMPORARY VIEW write_offs AS
SELECT /*+ STATE_TTL('inventory_items_changes' = '1 d') */
       `before`.id AS item_id, MAX(`before`.product_distribution_center_id) AS dc_id
FROM inventory_items_changes
WHERE `op` = 'd' AND `before`.sold_at IS NULL
GROUP BY `before`.id;

CREATE TEMPORARY VIEW stock AS
SELECT dc_id, SUM(in_stock) AS in_stock, SUM(sold) AS sold, SUM(written_off) AS written_off
FROM (
  SELECT product_distribution_center_id AS dc_id,
         CASE WHEN sold_at IS NULL THEN 1 ELSE 0 END AS in_stock,
         CASE WHEN sold_at IS NULL THEN 0 ELSE 1 END AS sold,
         0 AS written_off
  FROM inventory_items
  UNION ALL
  SELECT dc_id, 0, 0, 1 FROM write_offs
)
GROUP BY dc_id;

INSERT INTO stock_per_dc
SELECT dc.id, dc.name, CAST(s.in_stock AS BIGINT), CAST(s.sold AS BIGINT), CAST(s.written_off AS BIGINT)
FROM stock AS s
JOIN distribution_centers AS dc ON dc.id = s.dc_id;
