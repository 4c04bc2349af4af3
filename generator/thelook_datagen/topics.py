"""Creates the Kafka topics Debezium will write to. Never produces anything itself."""
from .errors import UserError
from .kafka_client import quiet_logger, reason as _kafka_reason
from .tables import CAPTURED_TABLES, topic_name



def topic_names(prefix, schema):
    return [topic_name(prefix, schema, table) for table in CAPTURED_TABLES]


def ensure_topics(bootstrap_servers, names, partitions=1, replication_factor=None, topic_config=None,
                  client_config=None, timeout=30.0):
    """Creates the missing topics among `names`; existing ones are left alone.

    Returns (created, existing). Waits at most about `timeout` seconds for the broker, then raises
    UserError naming the servers tried."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    conf = {"bootstrap.servers": bootstrap_servers, "client.id": "thelook-datagen",
            "socket.connection.setup.timeout.ms": int(max(1.0, min(timeout, 30.0)) * 1000)}
    conf.update(client_config or {})
    try:
        admin = AdminClient(conf, logger=quiet_logger())
    except (KafkaException, ValueError, TypeError) as e:
        raise UserError(f"invalid Kafka client settings: {_kafka_reason(e)}") from None
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as e:
        raise UserError(f"cannot reach Kafka at {bootstrap_servers} within {timeout:g} s "
                        f"({_kafka_reason(e)})", "start the broker, fix {opt:bootstrap_servers}, or pass "
                        "{opt:no_create_topic}") from None
    existing = [n for n in names if n in metadata.topics]
    missing = [n for n in names if n not in metadata.topics]
    created = []
    if missing:
        # None: the broker's default.replication.factor (the cluster mode's 3, with its min.insync.replicas)
        new = [NewTopic(n, num_partitions=partitions, replication_factor=replication_factor or -1,
                        config=dict(topic_config or {})) for n in missing]
        futures = admin.create_topics(new, request_timeout=timeout, operation_timeout=timeout)
        for name, future in futures.items():
            try:
                future.result(timeout=timeout + 5)
                created.append(name)
            except KafkaException as e:
                err = e.args[0] if e.args else None
                if getattr(err, "name", lambda: "")() == "TOPIC_ALREADY_EXISTS":
                    existing.append(name)
                    continue
                raise UserError(f"cannot create Kafka topic {name} on {bootstrap_servers}: "
                                f"{_kafka_reason(e)}") from None
            except Exception as e:  # noqa: BLE001 - a timeout of the future, reported as one line
                raise UserError(f"cannot create Kafka topic {name} on {bootstrap_servers}: {e}") from None
    return created, existing
