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
CREATE TEMPORARY VIEW write_offs AS
SELECT item_id, dc_id
FROM (
  SELECT `before`.id AS item_id, `before`.product_distribution_center_id AS dc_id,
         ROW_NUMBER() OVER (PARTITION BY `before`.id ORDER BY proc_time ASC) AS rn
  FROM inventory_items_changes
  WHERE `op` = 'd' AND `before`.sold_at IS NULL
)
WHERE rn = 1;

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
