"""Reads change topics from the beginning, with assign() and no committed offsets.

Stops at a cut:
- 'snapshot': once `passed()` says the connector's slot has confirmed the database's cut LSN
  (so Kafka holds every transaction the database read saw), up to the end offsets fetched
  after that moment. (A change at or past the LSN read from one topic is not enough: the
  producer does not keep order across partitions, so earlier changes may still be in flight.)
- 'end': at the end offsets, once no new record has arrived for `idle` seconds.

A topic trimmed by retention (cleanup.policy delete: its oldest segments deleted) starts at an offset
above 0: the reader notes the first offset it read per partition (`trimmed()`), so that verify can say
which rows it cannot check rather than call them missing. A compacted topic keeps only the newest
event per key once cleaned (`topic_policies()` asks the broker which topics are).
"""
from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition, OFFSET_BEGINNING

from ..errors import UserError
from ..kafka_client import quiet_logger, reason
from .database import int_to_lsn


class KafkaError(UserError):
    """A Kafka problem explained in one line."""


class CatchUpTimeout(KafkaError):
    pass


def make_consumer(bootstrap, extra):
    """A consumer without a committed group; `extra` is the user's client settings (dict)."""
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": f"thelook-verify-{uuid.uuid4().hex[:12]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "socket.connection.setup.timeout.ms": 10000,
        "fetch.wait.max.ms": 100,
        "logger": quiet_logger(),   # our one-line error says it; librdkafka's own lines stay off stderr
    }
    conf.update(extra)
    try:
        return Consumer(conf)
    except KafkaException as err:
        raise KafkaError(f"bad Kafka client setting: {reason(err)}") from None


def topic_partitions(consumer, topics, bootstrap, timeout=15):
    """{topic: [partition ids]} for the topics that exist; raises if the broker cannot be reached."""
    try:
        meta = consumer.list_topics(timeout=timeout)
    except KafkaException as err:
        raise KafkaError(f"cannot reach Kafka at {bootstrap} within {timeout:.0f} s: {reason(err)}",
                         "start the broker or fix {opt:bootstrap_servers}") from None
    found = {}
    for topic in topics:
        tm = meta.topics.get(topic)
        if tm is not None and tm.error is None and tm.partitions:
            found[topic] = sorted(tm.partitions)
    return found


def topic_policies(bootstrap, extra, topics, timeout=15):
    """{topic: cleanup.policy} as the broker reports it; {} when it cannot be asked (e.g. no DescribeConfigs
    permission): then a compacted topic goes unnoticed, as before."""
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap, "logger": quiet_logger(), **extra})
        futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, t) for t in topics],
                                         request_timeout=timeout)
        out = {}
        for res, fut in futures.items():
            entry = fut.result(timeout=timeout).get("cleanup.policy")
            if entry is not None and entry.value:
                out[res.name] = entry.value
        return out
    except Exception:  # noqa: BLE001 - optional information; verify works without it
        return {}


class TopicReader:
    def __init__(self, consumer, partitions, progress=None):
        self.consumer = consumer
        self.tps = [TopicPartition(t, p, OFFSET_BEGINNING) for t, ps in partitions.items() for p in ps]
        self.position = {(tp.topic, tp.partition): 0 for tp in self.tps}
        self.first = {}     # (topic, partition) -> (offset, timestamp ms or None) of the first record read
        self.high = {}
        self.records = 0
        self.progress = progress
        consumer.assign(self.tps)

    def refresh_high(self):
        for tp in self.tps:
            try:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
            except KafkaException as err:
                raise KafkaError(f"cannot read end offsets of {tp.topic}: {err}") from None
            self.high[(tp.topic, tp.partition)] = high

    def at_high(self):
        return all(self.position[k] >= h for k, h in self.high.items())

    def poll(self, handle, timeout=0.5):
        """Consumes one batch; handle(msg) is called per record. Returns the number of records."""
        msgs = self.consumer.consume(num_messages=2000, timeout=timeout)
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.fatal() or not err.retriable():
                    raise KafkaError(f"consuming {msg.topic()}: {err.str()}")
                continue
            where = (msg.topic(), msg.partition())
            self.position[where] = msg.offset() + 1
            if where not in self.first:
                ts_type, ts = msg.timestamp()
                self.first[where] = (msg.offset(), ts if ts_type else None)
            handle(msg)
        self.records += len(msgs)
        return len(msgs)

    def trimmed(self):
        """{(topic, partition): (first offset, its record's timestamp ms or None)} of the partitions that did
        not start at offset 0: retention deleted their oldest records (or, all of them: then the first
        offset is the end offset and no timestamp is known)."""
        out = {}
        for where, high in self.high.items():
            first = self.first.get(where, (high, None))
            if first[0] > 0:
                out[where] = first
        return out

    def read(self, handle, cut, target_lsn, timeout, idle, passed, describe_last):
        """Reads until the cut; `passed()` says whether the connector has confirmed target_lsn."""
        start = time.monotonic()
        deadline = start + timeout
        self.refresh_high()
        marker_done = False
        last_growth = time.monotonic()
        last_refresh = time.monotonic()
        last_note = time.monotonic()
        while True:
            got = self.poll(handle)
            now = time.monotonic()
            if got:
                last_growth = now
            if cut == "snapshot" and not marker_done and passed():
                # Records sent before the marker are in the log by now: read up to today's end.
                self.refresh_high()
                marker_done = True
            if self.at_high():
                if cut == "snapshot" and marker_done:
                    return time.monotonic() - start
                if now - last_refresh >= 1:
                    before = dict(self.high)
                    self.refresh_high()
                    last_refresh = now
                    if self.high != before:
                        last_growth = now
                if cut == "end" and self.at_high() and now - last_growth >= idle:
                    return time.monotonic() - start
            if self.progress and now - last_note >= 5:
                last_note = now
                self.progress(f"Kafka: {self.records} records read"
                              + ("" if cut == "end" else f", waiting for the connector to confirm LSN {int_to_lsn(target_lsn)} ({describe_last()})"))
            if now >= deadline:
                if cut == "snapshot":
                    raise CatchUpTimeout(
                        f"the connector did not confirm PostgreSQL's LSN {int_to_lsn(target_lsn)} within "
                        f"{timeout:.0f} s ({describe_last()}); is the connector RUNNING, with a heartbeat or "
                        f"writers keeping the stream moving?", "with writers stopped and no heartbeat, use {opt:cut} end")
                raise CatchUpTimeout(f"topics kept growing for {timeout:.0f} s", "stop the writers or use {opt:cut} snapshot")
