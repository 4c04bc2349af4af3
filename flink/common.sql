-- Shared by every analytics job: session settings and the CDC source tables.
-- scripts/submit-flink-jobs runs this file, then one file of flink/jobs/, in a fresh SQL Gateway
-- session per job, after replacing ${TOPIC_PREFIX}, ${SCHEMA}, ${KAFKA_BOOTSTRAP_SERVERS} and
-- ${JOB_NAME}. The same files serve the local stack and compose.

-- Minute buckets are UTC minutes, like date_trunc('minute', ts) in a UTC PostgreSQL session.
SET 'table.local-time-zone' = 'UTC';
-- Debezium delivers at least once: after a crash a change can arrive twice. With this setting Flink
-- keeps the last row per primary key (ChangelogNormalize) and drops a repeated change, so nothing
-- is counted twice.
SET 'table.exec.source.cdc-events-duplicate' = 'true';
-- Results are upserts: group half a second of changes to send fewer intermediate values.
SET 'table.exec.mini-batch.enabled' = 'true';
SET 'table.exec.mini-batch.allow-latency' = '500 ms';
SET 'table.exec.mini-batch.size' = '5000';
SET 'parallelism.default' = '1';
SET 'execution.checkpointing.interval' = '10 s';
-- Source topics may not exist yet when the job starts (compose starts everything at once): retry.
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '2147483647';
SET 'restart-strategy.fixed-delay.delay' = '10 s';

-- Only the columns the jobs use are declared: the JSON format ignores the others, and Flink keeps
-- every row of a CDC source in state, so fewer columns means less memory.
-- Debezium JSON without schemas (value.converter.schemas.enable=false); timestamptz arrives as
-- an ISO-8601 UTC string (io.debezium.time.ZonedTimestamp), e.g. 2026-11-27T15:38:40.123456Z.

CREATE TEMPORARY TABLE distribution_centers (
  id INT,
  name STRING,
  PRIMARY KEY (id) NOT ENFORCED
) WITH (
  'connector' = 'kafka',
  'topic' = '${TOPIC_PREFIX}.${SCHEMA}.distribution_centers',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'properties.group.id' = '${JOB_NAME}',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'debezium-json',
  'debezium-json.schema-include' = 'false',
  'debezium-json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TEMPORARY TABLE products (
  id INT,
  name STRING,
  brand STRING,
  category STRING,
  department STRING,
  PRIMARY KEY (id) NOT ENFORCED
) WITH (
  'connector' = 'kafka',
  'topic' = '${TOPIC_PREFIX}.${SCHEMA}.products',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'properties.group.id' = '${JOB_NAME}',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'debezium-json',
  'debezium-json.schema-include' = 'false',
  'debezium-json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TEMPORARY TABLE orders (
  order_id BIGINT,
  status STRING,
  created_at TIMESTAMP_LTZ(6),
  PRIMARY KEY (order_id) NOT ENFORCED
) WITH (
  'connector' = 'kafka',
  'topic' = '${TOPIC_PREFIX}.${SCHEMA}.orders',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'properties.group.id' = '${JOB_NAME}',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'debezium-json',
  'debezium-json.schema-include' = 'false',
  'debezium-json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TEMPORARY TABLE order_items (
  id BIGINT,
  order_id BIGINT,
  product_id INT,
  status STRING,
  created_at TIMESTAMP_LTZ(6),
  sale_price DOUBLE,
  PRIMARY KEY (id) NOT ENFORCED
) WITH (
  'connector' = 'kafka',
  'topic' = '${TOPIC_PREFIX}.${SCHEMA}.order_items',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'properties.group.id' = '${JOB_NAME}',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'debezium-json',
  'debezium-json.schema-include' = 'false',
  'debezium-json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TEMPORARY TABLE inventory_items (
  id BIGINT,
  sold_at TIMESTAMP_LTZ(6),
  product_distribution_center_id INT,
  PRIMARY KEY (id) NOT ENFORCED
) WITH (
  'connector' = 'kafka',
  'topic' = '${TOPIC_PREFIX}.${SCHEMA}.inventory_items',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'properties.group.id' = '${JOB_NAME}',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'debezium-json',
  'debezium-json.schema-include' = 'false',
  'debezium-json.timestamp-format.standard' = 'ISO-8601'
);

-- The same inventory_items topic read as plain JSON: one append-only row per change event with
-- Debezium's envelope (op, before, after). A changelog table hides deleted rows; this one keeps the
-- DELETE events themselves, which is what "written off" counts. Tombstones (null values) are skipped.
CREATE TEMPORARY TABLE inventory_items_changes (
  `op` STRING,
  `before` ROW<id BIGINT, sold_at STRING, product_distribution_center_id INT>
) WITH (
  'connector' = 'kafka',
  'topic' = '${TOPIC_PREFIX}.${SCHEMA}.inventory_items',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'properties.group.id' = '${JOB_NAME}',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'json'
);

CREATE TEMPORARY TABLE events (
  id BIGINT,
  user_id BIGINT,
  session_id STRING,
  created_at TIMESTAMP_LTZ(6),
  event_type STRING,
  PRIMARY KEY (id) NOT ENFORCED
) WITH (
  'connector' = 'kafka',
  'topic' = '${TOPIC_PREFIX}.${SCHEMA}.events',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'properties.group.id' = '${JOB_NAME}',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'debezium-json',
  'debezium-json.schema-include' = 'false',
  'debezium-json.timestamp-format.standard' = 'ISO-8601'
);
