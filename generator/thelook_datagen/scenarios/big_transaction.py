"""big-transaction: one transaction of --changes row changes plus a catalogue-wide price UPDATE, committed
while the shop keeps writing; Connect's heap, the time until the transaction's last event is in Kafka, and
the latency of the visits committed meanwhile.

PostgreSQL's logical decoding hands a transaction to the output plugin only at its COMMIT (pgoutput without
streaming of in-progress transactions, which Debezium does not ask for); the reorder buffer spills it to
disk beyond logical_decoding_work_mem. Debezium then turns it into events at its own pace: its queue holds
at most max.queue.size events (16384 here; max.queue.size.in.bytes bounds it in bytes when set) and each poll
hands Kafka Connect at most max.batch.size (4096), so Connect's heap should stay bounded whatever the
transaction's size. Every change of a transaction carries the same commit time (source.ts_ms), and the
changes of later transactions (the visits) wait behind it in the one replication stream: they are the ones
whose latency grows. provide.transaction.metadata=true (not set by the stack) would add BEGIN/END events with
each transaction's event count per table on a transaction topic, which is how a consumer can tell that it
has seen all of a transaction; here the scenario knows the count itself.

1. The target connector (RUNNING); the scenario's own seeded generator (unless --no-generator).
2. A table of the scenario, scenario_big_tx (id bigint primary key, n integer, note text; REPLICA IDENTITY
   FULL like the stack's tables), joins the connector's publication and table.include.list
   (scenario_table.py). The Flink jobs do not read it, so the TaskManager's state does not grow with it.
3. Connect's heap (jvm_memory_used_bytes{job="connect",area="heap"} from Prometheus, which scrapes Connect's
   JMX exporter every 5 s) is sampled every second from before the transaction until its last event is in
   Kafka; the peak is reported beside the value before and the heap's maximum. The heap is the whole Connect
   worker's: every connector on it counts (on a shared stack, others' too). Without --prometheus-url: not
   reported, and said so.
4. ONE transaction: INSERT INTO scenario_big_tx SELECT ... FROM generate_series(1, --changes) (--changes row
   changes) and UPDATE products SET retail_price = round(retail_price * --price-factor, 2) for every product
   (a price campaign: it changes the catalogue, is not reverted, and verify checks it like any change).
5. Timed from the COMMIT (its source.ts_ms, PostgreSQL's commit time): the scenario table's first and last
   event in Kafka (their Kafka record timestamps; the topic holds only this transaction's events, so its end
   offset counts them without consuming them), and the last product's price change.
6. The visits committed between the COMMIT and the transaction's last event in Kafka: their commit->Kafka
   latency read back from theLook's change topics (the transaction's own product changes left out by their
   commit time), p50 and peak, beside the same before the transaction.
7. The generator stops; verify (the scenario table included, --extra-tables) must be OK. The table is
   dropped, its topic deleted and the connector's config restored, whatever happens.
"""
import threading
import time

import psycopg2

from . import ScenarioError
from .common import ChangeTail, Generator, Postgres, child_env, finish, mib, prometheus_value, target_connector
from .connector_outage import percentile
from .scenario_table import ScenarioTables, TopicEnds
from ..tables import topic_name

NAME = "big-transaction"
TABLE = "scenario_big_tx"
COLUMNS = "id bigint PRIMARY KEY, n integer NOT NULL, note text NOT NULL"
GENERATOR_WARMUP_S = 3.0
BASELINE_S = 3.0
HEAP_QUERY = 'jvm_memory_used_bytes{job="connect",area="heap"}'
HEAP_MAX_QUERY = 'jvm_memory_max_bytes{job="connect",area="heap"}'


class HeapSampler:
    """Connect's heap from Prometheus every second, in a thread; peak and samples."""

    def __init__(self, url):
        self.url = url
        self.samples = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="scenario-heap", daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            value = prometheus_value(self.url, HEAP_QUERY)
            if value is not None:
                self.samples.append((time.monotonic(), value))
            self._stop.wait(1.0)

    def stop(self):
        self._stop.set()
        self.thread.join(5)

    def peak(self):
        return max((v for _, v in self.samples), default=None)


def latency_figures(events, exclude_source_ms=None):
    """(count, p50 ms, peak ms) of commit->Kafka latencies [(source_ts_ms, kafka_ts_ms)], leaving out the
    changes committed at `exclude_source_ms` (the big transaction's own)."""
    lat = [k - s for s, k in events if s != exclude_source_ms]
    return len(lat), percentile(lat, 50), (max(lat) if lat else None)


def run(settings, connect, timeline):
    target = target_connector(connect, settings.connector, settings.schema, settings.topic_prefix)
    pg = Postgres(settings.conn_kw)
    n = settings.changes
    gen = tail = heap = ends = products = None
    scen = ScenarioTables(settings, connect, target, pg, timeline)
    result = {"scenario": NAME, "connector": target.name, "schema": target.schema,
              "topic_prefix": target.topic_prefix, "changes": n, "price_factor": settings.price_factor,
              "rate": None if settings.no_generator else settings.rate, "seed": settings.seed,
              "connector_settings": {k: target.config.get(k) for k in (
                  "max.batch.size", "max.queue.size", "max.queue.size.in.bytes", "provide.transaction.metadata")}}
    try:
        n_products = int(pg.one(f'SELECT count(*) FROM "{target.schema}".products')[0])
        if not n_products:
            raise ScenarioError(f"schema {target.schema} has no products",
                                "create the shop first: thelook-datagen --schema ... --max_iter 0")
        env = child_env(settings)
        if not settings.no_generator:
            gen = Generator(settings, target, env)
            timeline.note(f"generator started: {settings.rate:g} visits/s, seed {settings.seed} (pid {gen.proc.pid})")
        scen.create(TABLE, COLUMNS, "FULL")
        took = scen.capture()
        timeline.note(f"table {TABLE} created and captured (publication {scen.publication}, table.include.list; "
                      f"task restarted in {took:.1f} s); connector settings: " + ", ".join(
                          f"{k}={v if v is not None else 'default'}" for k, v in result["connector_settings"].items()))
        if gen:
            time.sleep(max(0.0, GENERATOR_WARMUP_S - took))
            gen.check()
        tail = ChangeTail(settings, target)
        ends = TopicEnds(settings, scen.topic(TABLE))
        products = TopicEnds(settings, topic_name(target.topic_prefix, target.schema, "products"))
        products_since = products.ends()
        if settings.prometheus_url and prometheus_value(settings.prometheus_url, HEAP_QUERY) is not None:
            heap = HeapSampler(settings.prometheus_url)
        else:
            timeline.note(f"Connect's heap: not reported ({'no --prometheus-url' if not settings.prometheus_url else 'Prometheus at ' + settings.prometheus_url + ' has no ' + HEAP_QUERY})")
        baseline_start_ms = int(time.time() * 1000)
        time.sleep(BASELINE_S)
        heap_before = heap.peak() if heap else None
        # ---- the transaction
        timeline.note(f"BEGIN; INSERT {n} rows into {TABLE}; UPDATE products SET retail_price = round(retail_price * "
                      f"{settings.price_factor:g}, 2) ({n_products} products); COMMIT")
        t_begin = time.monotonic()
        with pg.conn.cursor() as cur:
            cur.execute("BEGIN")
            try:
                cur.execute(f'INSERT INTO "{target.schema}"."{TABLE}" (id, n, note) '
                            "SELECT g, g %% 1000, 'change ' || g FROM generate_series(1, %s) g", (n,))
                cur.execute(f'UPDATE "{target.schema}".products SET retail_price = round((retail_price * %s)::numeric, 2)',
                            (settings.price_factor,))
                updated = cur.rowcount
                cur.execute("COMMIT")
            except psycopg2.Error as err:
                cur.execute("ROLLBACK")
                raise ScenarioError(f"the big transaction failed: {str(err).strip().splitlines()[0]}") from None
        t_commit = time.monotonic()
        timeline.note(f"COMMIT after {t_commit - t_begin:.1f} s: {n} inserts + {updated} product updates in one "
                      "transaction")
        # ---- until its last event is in Kafka
        deadline = t_commit + settings.big_timeout
        seen = 0
        next_report = t_commit + 5
        while time.monotonic() < deadline:
            seen = ends.count()
            if seen >= n and sum(products.ends().values()) - sum(products_since.values()) >= updated:
                break
            if time.monotonic() >= next_report:
                next_report += 5
                now_heap = heap.samples[-1][1] if heap and heap.samples else None
                timeline.note(f"+{time.monotonic() - t_commit:.0f} s after COMMIT: {seen} of {n} events in Kafka"
                              + ("" if now_heap is None else f"; Connect heap {mib(now_heap)}"), events=seen)
            if gen:
                gen.check()
            time.sleep(0.2)
        complete = seen >= n
        first, last = ends.first_last()
        _, last_product = products.first_last(products_since)
        if heap:
            heap.stop()
        # PostgreSQL's commit time, the same in every event of the transaction
        commit_ms = int(last[1]["source"]["ts_ms"]) if last else None
        first_s = (first[0] - commit_ms) / 1000 if first and commit_ms else None
        last_s = (last[0] - commit_ms) / 1000 if last and commit_ms else None
        product_s = (last_product[0] - commit_ms) / 1000 if last_product and commit_ms else None
        timeline.note(f"{'all' if complete else 'NOT all'} {n} events of {TABLE} in Kafka: the first "
                      f"{'-' if first_s is None else f'{first_s:.1f} s'}, the last "
                      f"{'-' if last_s is None else f'{last_s:.1f} s'} after the COMMIT; the last product change "
                      f"{'-' if product_s is None else f'{product_s:.1f} s'} after it",
                      first_event_s=first_s, last_event_s=last_s)
        # ---- the visits committed meanwhile
        tail.read_up_to_now()
        window_end_ms = last[0] if last else int(time.time() * 1000)
        before = latency_figures(tail.between(baseline_start_ms, commit_ms - 1)) if commit_ms else (0, None, None)
        during = latency_figures(tail.between(commit_ms, window_end_ms), commit_ms) if commit_ms else (0, None, None)
        timeline.note(f"visits' changes committed while the transaction went to Kafka: {during[0]}, commit->Kafka p50 "
                      f"{_ms(during[1])}, peak {_ms(during[2])} (before it: {before[0]} changes, p50 {_ms(before[1])}, "
                      f"peak {_ms(before[2])})")
        heap_peak = heap.peak() if heap else None
        heap_max = prometheus_value(settings.prometheus_url, HEAP_MAX_QUERY) if heap else None
        if heap:
            timeline.note(f"Connect's heap (the whole worker): {mib(heap_before)} before, peak {mib(heap_peak)} while "
                          f"the transaction went through, of {mib(heap_max) if heap_max else 'an unknown'} maximum "
                          f"({len(heap.samples)} samples, Prometheus scrapes every 5 s)")
        result.update(
            products=updated, commit_seconds=round(t_commit - t_begin, 1), events_in_kafka=seen, complete=complete,
            first_event_s=_r(first_s), last_event_s=_r(last_s), last_product_event_s=_r(product_s),
            heap_before_bytes=heap_before, heap_peak_bytes=heap_peak, heap_max_bytes=heap_max,
            heap_reported=heap is not None,
            visits_during={"changes": during[0], "p50_ms": during[1], "peak_ms": during[2]},
            visits_before={"changes": before[0], "p50_ms": before[1], "peak_ms": before[2]})
        if gen:
            summary = gen.stop()
            result["generator"] = ({k: summary.get(k) for k in ("visits", "visits_per_s", "rows", "errors")}
                                   if summary else None)
            timeline.note("generator stopped" + (f": {summary['visits']} visits, {summary['rows']} rows" if summary else ""))
        env["THELOOK_VERIFY_EXTRA_TABLES"] = TABLE
        timeline.note(f"verify includes {TABLE} (THELOOK_VERIFY_EXTRA_TABLES={TABLE})")
        finished = finish(settings, target, env, timeline, result)
        result["ok"] = bool(complete and finished)
        return result
    finally:
        if heap:
            heap.stop()
        if gen:
            gen.cleanup(timeline)
        for client in (tail, ends, products):
            if client:
                client.close()
        scen.remove()
        pg.close()


def _ms(x):
    return "-" if x is None else f"{x / 1000:.1f} s"


def _r(x):
    return None if x is None else round(x, 1)
