"""The Flink jobs' result topics, created compacted before the jobs write to them.

The jobs write upsert topics (a key's newest value; a tombstone removes it). Left to the broker's
auto-creation they would get the broker's default `cleanup.policy=delete`: every superseded value is
kept for the retention time, and a consumer started late in the day (the dashboard) replays millions
of them. Compacted, the log keeps about one value per live key: the cleaner rewrites closed segments,
so segments are closed every 10 minutes (`segment.ms`) instead of the default 7 days; tombstones stay
a day (`delete.retention.ms`, the default) for consumers that were behind.

A topic that already exists with another policy (created by an older version of this project, or by
the broker's auto-creation) is switched to compact in place (incremental config change).
"""
from . import OpsError, quiet

RESULT_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": "600000",
    "min.cleanable.dirty.ratio": "0.5",
}


def ensure(bootstrap_servers, topics, kafka_config=None, timeout=30.0, say=quiet):
    """Creates each of `topics` that is missing with RESULT_TOPIC_CONFIG (broker's partitions and
    replication), and switches existing ones to it. Raises OpsError when Kafka does not answer."""
    try:
        import confluent_kafka  # noqa: F401  (the package's dependency; missing when run outside its environment)
    except ModuleNotFoundError:
        raise OpsError("Python module confluent_kafka is missing", "on the host run it with the project's "
                       "environment: source scripts/bootstrap") from None
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic,
                                       ResourceType)

    from ..kafka_client import quiet_logger, reason
    conf = {"bootstrap.servers": bootstrap_servers, "logger": quiet_logger()}
    conf.update(kafka_config or {})
    admin = AdminClient(conf)
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as e:
        raise OpsError(f"Kafka is not reachable at {bootstrap_servers}: {reason(e)}",
                       "check {opt:bootstrap_servers}") from None
    missing = [t for t in topics if t not in existing]
    if missing:
        futures = admin.create_topics([NewTopic(t, num_partitions=-1, replication_factor=-1,
                                                config=RESULT_TOPIC_CONFIG) for t in missing],
                                      request_timeout=timeout)
        for topic, fut in futures.items():
            try:
                fut.result()
                say(f"{topic}: created (compacted)")
            except KafkaException as e:
                if e.args[0].code() != e.args[0].TOPIC_ALREADY_EXISTS:
                    raise OpsError(f"cannot create result topic {topic}: {reason(e)}") from None
    present = [t for t in topics if t in existing]
    if present:
        resources = [ConfigResource(ResourceType.TOPIC, t) for t in present]
        described = admin.describe_configs(resources, request_timeout=timeout)
        to_alter = []
        for res, fut in described.items():
            try:
                configs = fut.result()
            except KafkaException as e:
                raise OpsError(f"cannot read the config of {res.name}: {reason(e)}") from None
            if any(configs[k].value != v for k, v in RESULT_TOPIC_CONFIG.items() if k in configs):
                to_alter.append(ConfigResource(ResourceType.TOPIC, res.name, incremental_configs=[
                    ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                    for k, v in RESULT_TOPIC_CONFIG.items()]))
        if to_alter:
            for res, fut in admin.incremental_alter_configs(to_alter, request_timeout=timeout).items():
                try:
                    fut.result()
                    say(f"{res.name}: switched to cleanup.policy=compact")
                except KafkaException as e:
                    raise OpsError(f"cannot make {res.name} compacted: {reason(e)}") from None
