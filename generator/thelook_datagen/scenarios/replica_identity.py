"""replica-identity: a TOASTed column that an UPDATE does not touch, under REPLICA IDENTITY DEFAULT and FULL;
what Debezium emits for it, and what verify makes of it.

PostgreSQL stores a value of more than about 2 kB out of line, in the table's TOAST relation. An UPDATE that
does not change such a value writes no new copy of it, and the WAL record of the new row only points at the
old one. Logical decoding cannot follow that pointer, so pgoutput sends the column as "unchanged TOAST" and
Debezium fills the event's after image with its `unavailable.value.placeholder` (default
`__debezium_unavailable_value`): the value is not in the change event at all. Under REPLICA IDENTITY FULL the
old row is logged in full (detoasted), so Debezium has the value and puts it in the event.

1. The target connector (RUNNING); the scenario's own seeded generator on its schema (unless --no-generator),
   so that this happens beside the shop's ordinary traffic.
2. Two tables of the scenario, identical but for their replica identity: scenario_toast_default (REPLICA
   IDENTITY DEFAULT) and scenario_toast_full (FULL, the stack's default for theLook's tables); each with a
   primary key, a small integer column and a large text column (--toast-kib KiB of random hex, stored
   EXTERNAL: out of line and uncompressed, as incompressible data would be). They join the connector's
   publication and table.include.list (scenario_table.py).
3. --toast-rows rows are inserted into each; then one UPDATE of only the small column of every row of each.
4. Both topics are read back: the UPDATE events of the DEFAULT table carry the placeholder for the large
   column (expected: every one), those of the FULL table the value itself (expected: none with the
   placeholder).
5. The generator stops; `thelook-datagen verify --extra-tables scenario_toast_default,scenario_toast_full`
   must be OK and report, for scenario_toast_default.big only, "value not captured (TOAST, replica identity
   DEFAULT)" in --toast-rows rows. What verify knows there: the topic does not hold the value, so the replayed
   value is unknown; it is not compared (not a difference) and reported per column (not data loss: the row
   exists, its other columns are equal). A consumer that keeps each row's state could carry the previous
   value forward; one that does not (a sink writing the after image) would write the placeholder.
The tables are dropped, their topics deleted and the connector's config restored, whatever happens.
"""
import time

from .common import Generator, Postgres, child_env, finish, target_connector
from .scenario_table import ScenarioTables, read_events
from ..verify.values import UNAVAILABLE_PLACEHOLDER

NAME = "replica-identity"
TABLES = (("scenario_toast_default", "DEFAULT"), ("scenario_toast_full", "FULL"))
COLUMNS = "id bigint PRIMARY KEY, n integer NOT NULL, big text NOT NULL"
GENERATOR_WARMUP_S = 2.0
EVENTS_TIMEOUT_S = 60.0


def count_placeholders(events, column="big"):
    """(updates, updates whose after image holds the placeholder for `column`, before images seen: 'none',
    'key only' or 'full')."""
    updates = [e for e in events if isinstance(e, dict) and e.get("op") == "u"]
    with_placeholder = sum(1 for e in updates if (e.get("after") or {}).get(column) == UNAVAILABLE_PLACEHOLDER)
    kinds = set()
    for e in updates:
        before = e.get("before")
        kinds.add("none" if not before else "full" if column in before else "key only")
    return len(updates), with_placeholder, "/".join(sorted(kinds)) or "-"


def expected_outcome(rows, counts, not_captured):
    """Whether what was seen is the expected outcome: every UPDATE of the DEFAULT table with the placeholder,
    none of the FULL table's, and verify reporting exactly the DEFAULT table's large column in every row."""
    default, full = counts["scenario_toast_default"], counts["scenario_toast_full"]
    return (default == (rows, rows) and full == (rows, 0)
            and not_captured == {"scenario_toast_default": {"big": rows}})


def run(settings, connect, timeline):
    target = target_connector(connect, settings.connector, settings.schema, settings.topic_prefix)
    pg = Postgres(settings.conn_kw)
    rows, kib = settings.toast_rows, settings.toast_kib
    gen = None
    scen = ScenarioTables(settings, connect, target, pg, timeline)
    result = {"scenario": NAME, "connector": target.name, "schema": target.schema,
              "topic_prefix": target.topic_prefix, "rows": rows, "toast_kib": kib,
              "rate": None if settings.no_generator else settings.rate, "seed": settings.seed}
    try:
        env = child_env(settings)
        if not settings.no_generator:
            gen = Generator(settings, target, env)
            timeline.note(f"generator started: {settings.rate:g} visits/s, seed {settings.seed} (pid {gen.proc.pid})")
            time.sleep(GENERATOR_WARMUP_S)
            gen.check()
        for table, ident in TABLES:
            scen.create(table, COLUMNS, ident)
            # EXTERNAL: out of line without compression once the row passes ~2 kB (the TOAST threshold)
            pg.one(f'ALTER TABLE "{target.schema}"."{table}" ALTER COLUMN big SET STORAGE EXTERNAL; SELECT 1')
        took = scen.capture()
        timeline.note(f"tables {', '.join(f'{t} (REPLICA IDENTITY {i})' for t, i in TABLES)} created and captured: "
                      f"publication {scen.publication}, table.include.list, task restarted ({took:.1f} s)")
        # random hex (incompressible for pglz beyond its 4 bits a character), the same in both tables
        pg.one("SELECT setseed(%s)", (((settings.seed % 1000) / 1000.0),))
        pg.one(f'INSERT INTO "{target.schema}".scenario_toast_default (id, n, big) '
               "SELECT g, 0, (SELECT string_agg(md5(random()::text || g::text || i::text), '') "
               "FROM generate_series(1, %s) i) FROM generate_series(1, %s) g; SELECT 1",
               (max(1, kib * 1024 // 32), rows))
        pg.one(f'INSERT INTO "{target.schema}".scenario_toast_full SELECT * FROM "{target.schema}".scenario_toast_default; '
               "SELECT 1")
        toast = {t: int(pg.one("SELECT coalesce(pg_relation_size(reltoastrelid), 0) FROM pg_class WHERE oid = %s::regclass",
                               (f'"{target.schema}"."{t}"',))[0]) for t, _ in TABLES}
        size = int(pg.one(f'SELECT max(octet_length(big)) FROM "{target.schema}".scenario_toast_default')[0])
        timeline.note(f"{rows} rows inserted into each, their big column {size} bytes of random hex; TOAST relations "
                      + ", ".join(f"{t} {v // 1024} KiB" for t, v in toast.items()), toast_bytes=toast)
        for table, _ in TABLES:
            pg.one(f'UPDATE "{target.schema}"."{table}" SET n = n + 1; SELECT 1')
        timeline.note("UPDATE ... SET n = n + 1 of every row of both tables (big untouched)")
        counts, before_kinds = {}, {}
        for table, ident in TABLES:
            events = read_events(settings, scen.topic(table), 2 * rows, EVENTS_TIMEOUT_S)
            updates, placeholders, kinds = count_placeholders(events)
            counts[table] = (updates, placeholders)
            before_kinds[table] = kinds
            timeline.note(f"{scen.topic(table)}: {len(events)} events; of {updates} UPDATE events {placeholders} carry "
                          f"{UNAVAILABLE_PLACEHOLDER} for big (REPLICA IDENTITY {ident}; before image: {kinds})",
                          updates=updates, placeholders=placeholders)
        result.update(update_events={t: c[0] for t, c in counts.items()},
                      placeholder_events={t: c[1] for t, c in counts.items()}, before_images=before_kinds,
                      toast_bytes=toast, value_bytes=size)
        if gen:
            summary = gen.stop()
            result["generator"] = ({k: summary.get(k) for k in ("visits", "visits_per_s", "rows", "errors")}
                                   if summary else None)
            timeline.note("generator stopped" + (f": {summary['visits']} visits, {summary['rows']} rows" if summary else ""))
        env["THELOOK_VERIFY_EXTRA_TABLES"] = ",".join(t for t, _ in TABLES)
        timeline.note("verify includes the scenario's tables (THELOOK_VERIFY_EXTRA_TABLES="
                      f"{env['THELOOK_VERIFY_EXTRA_TABLES']})")
        finished = finish(settings, target, env, timeline, result)
        not_captured = result["verify"].get("not_captured") or {}
        result["not_captured"] = not_captured
        timeline.note("verify reports: " + ("; ".join(f"{t}.{c}: value not captured in {n} rows" for t, cols in
                                                      not_captured.items() for c, n in cols.items()) or "nothing not captured"))
        expected = expected_outcome(rows, counts, not_captured)
        timeline.note(f"summary: REPLICA IDENTITY DEFAULT: {counts['scenario_toast_default'][1]} of "
                      f"{counts['scenario_toast_default'][0]} UPDATE events without the value; FULL: "
                      f"{counts['scenario_toast_full'][1]} of {counts['scenario_toast_full'][0]}"
                      + ("" if expected else " (NOT as expected)"))
        result["ok"] = bool(finished and expected)
        return result
    finally:
        if gen:
            gen.cleanup(timeline)
        scen.remove()
        pg.close()
