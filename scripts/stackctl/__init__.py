"""scripts/stack: the local CDC stack (PostgreSQL, Kafka, Kafka Connect + Debezium, Flink) as supervised processes."""
