"""The server's one Kafka consumer: reads the five result topics from their beginning into a
ResultStore, then follows them, for as long as the server runs (one consumer whatever the number of
open pages).

It subscribes to the topics by a regular expression, so topics created after the dashboard started
(jobs submitted later) are picked up at the next metadata refresh (5 s). Its group id is new at every
start and nothing is committed: each start reads the topics from the beginning. The result topics
are compacted (flink_jobs.ensure_result_topics), so a start late in the day reads about one message
per live key rather than every superseded value.
"""
import re
import threading
import time
import uuid

from .analytics import TOPICS


class ResultReader:
    def __init__(self, settings, store, lock):
        self.s = settings
        self.store = store
        self.lock = lock                 # guards `store` (the snapshot builder reads it)
        self.prefix = f"{settings.topic_prefix}.analytics."
        self.stopping = threading.Event()
        self.messages = 0
        self.thread = threading.Thread(target=self._loop, name="results", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)

    def _consumer(self):
        from confluent_kafka import Consumer

        from thelook_datagen.kafka_client import quiet_logger
        conf = {"bootstrap.servers": self.s.bootstrap_servers, "logger": quiet_logger(),
                "group.id": f"thelook-dashboard-{uuid.uuid4().hex[:12]}", "enable.auto.commit": False,
                "auto.offset.reset": "earliest", "topic.metadata.refresh.interval.ms": 5000,
                "enable.partition.eof": False, "fetch.wait.max.ms": 200}
        conf.update(self.s.kafka_config or {})
        return Consumer(conf)

    def _loop(self):
        pattern = "^" + re.escape(self.prefix) + "(" + "|".join(TOPICS) + ")$"
        while not self.stopping.is_set():
            try:
                consumer = self._consumer()
            except Exception:
                time.sleep(2)
                continue
            try:
                consumer.subscribe([pattern])
                while not self.stopping.is_set():
                    batch = consumer.consume(num_messages=2000, timeout=0.5)
                    if not batch:
                        continue
                    with self.lock:
                        for msg in batch:
                            if msg.error():
                                continue
                            name = msg.topic()[len(self.prefix):]
                            ts_type, ts = msg.timestamp()
                            self.store.apply(name, msg.key(), msg.value(), ts / 1000 if ts_type else None)
                            self.messages += 1
            except Exception:
                # a broken consumer (e.g. the broker was replaced): start over after a pause
                time.sleep(2)
            finally:
                try:
                    consumer.close()
                except Exception:
                    pass
