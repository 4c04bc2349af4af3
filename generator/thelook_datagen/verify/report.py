"""The verify report: a table per captured table, latency percentiles, a one-line verdict."""
from __future__ import annotations

import json
import math


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    idx = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[idx]


def latency_summary(values):
    values = sorted(values)
    if not values:
        return {"events": 0}
    return {"events": len(values), "p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95),
            "p99_ms": percentile(values, 99), "max_ms": values[-1], "min_ms": values[0]}


def fmt_key(key):
    return ",".join(str(k) for k in key) if len(key) != 1 else str(key[0])


def not_captured_lines(tables):
    """One line per column whose replayed value is Debezium's unavailable-value placeholder: the change events
    do not hold the value (an unchanged TOASTed column under a replica identity that does not log it), so it
    was not compared. Not data loss, and not a difference: a limit of what the topic can carry."""
    lines = []
    for t in tables:
        ident = str(t.get("replica_identity", "")).upper()
        for col, rows in sorted((t.get("not_captured") or {}).items()):
            lines.append(f"{t['table']}.{col}: value not captured (TOAST, replica identity {ident}) in {rows} "
                         f"row{'s' if rows != 1 else ''}")
    return lines


def render(result, out):
    w = out.write
    w(f"verify: {result['source']}\n")
    w(f"  cut: {result['cut_description']}\n\n")
    header = (f"{'table':<22}{'events':>9}{'r':>8}{'c':>8}{'u':>8}{'d':>7}{'tomb':>7}{'dup':>6}{'late':>7}"
              f" |{'pg rows':>9}{'matched':>9}{'missing':>8}{'extra':>7}{'diff':>6}\n")
    w(header)
    w("-" * (len(header) - 1) + "\n")
    for t in result["tables"]:
        ops = t["ops"]
        w(f"{t['table']:<22}{t['events']:>9}{ops.get('r', 0):>8}{ops.get('c', 0):>8}{ops.get('u', 0):>8}"
          f"{ops.get('d', 0):>7}{t['tombstones']:>7}{t['duplicates']:>6}{t['after_cut']:>7}"
          f" |{t['rows_postgres']:>9}{t['matched']:>9}{t['missing']:>8}{t['extra']:>7}{t['different']:>6}\n")
    w("  (events: change events in the cut; tomb: tombstones; dup: redelivered events (at-least-once, harmless);\n"
      "   late: events of transactions after the cut, not compared; missing: in PostgreSQL, not in the replay;\n"
      "   extra: in the replay, not in PostgreSQL; diff: same key, different column values)\n")
    problems = []
    for t in result["tables"]:
        name = t["table"]
        if t.get("topic_missing"):
            problems.append(f"{name}: topic {t['topic']} does not exist")
        for key in t["missing_examples"]:
            problems.append(f"{name}: missing in Kafka: key {fmt_key(key)}")
        for key in t["extra_examples"]:
            problems.append(f"{name}: extra in Kafka (deleted or never in PostgreSQL): key {fmt_key(key)}")
        for key, cols in t["different_examples"]:
            detail = "; ".join(f"{c}: kafka {k} != postgres {p}" for c, k, p in cols[:4])
            problems.append(f"{name}: different: key {fmt_key(key)}: {detail}")
        for key, cols in t["before_mismatch_examples"]:
            detail = "; ".join(f"{c}: before-image {k} != previous state {p}" for c, k, p in cols[:4])
            problems.append(f"{name}: change history gap at key {fmt_key(key)}: {detail}")
        for note in t["undecodable"]:
            problems.append(f"{name}: {note}")
    if problems:
        w("\nexamples:\n")
        for p in problems[:60]:
            w(f"  {p}\n")
    resnap = {t["table"]: t["snapshots"] for t in result["tables"] if t.get("snapshots", 0) > 1}
    if resnap:
        w("\nnote: the topics hold more than one snapshot (" + ", ".join(f"{k}: {v}" for k, v in resnap.items())
          + "): the connector snapshotted again, e.g. after failing before its first snapshot was committed.\n"
          "  A snapshot carries no DELETE for rows removed since the last event the topics hold, so such rows\n"
          "  stay in every consumer's state and show up here as 'extra'.\n")
    incremental = {t["table"]: t["incremental_reads"] for t in result["tables"] if t.get("incremental_reads")}
    if incremental:
        w("\nnote: the r events include reads of incremental snapshots (execute-snapshot signals): "
          + ", ".join(f"{k}: {v}" for k, v in incremental.items()) + ".\n"
          "  Each is the row's value when its chunk was read, replayed as an upsert in topic order.\n")
    not_captured = not_captured_lines(result["tables"])
    if not_captured:
        w("\nnot compared: the replayed value is Debezium's unavailable-value placeholder (an UPDATE left a TOASTed\n"
          "value unchanged and the replica identity does not log it; REPLICA IDENTITY FULL does):\n")
        for line in not_captured:
            w(f"  {line}\n")
    render_late_columns(result, w)
    render_trimmed_and_compacted(result, w)
    b = result["before_images"]
    w(f"\nbefore-images: {b['checked']} UPDATE/DELETE events; {b['missing']} without a full before-image; "
      f"{b['mismatch']} not equal to the replayed previous state\n")
    idents = {t["table"]: t["replica_identity"] for t in result["tables"] if t["replica_identity"] != "full"}
    if idents:
        w("  replica identity not FULL (UPDATE/DELETE events lack full before-images): "
          + ", ".join(f"{k}={v}" for k, v in idents.items()) + "\n")
    lat = result["latency"]
    if lat["events"]:
        w(f"latency commit -> Kafka ({lat['events']} streamed changes, source.ts_ms to the record's "
          f"{result['timestamp_type']} timestamp): p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, "
          f"p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms\n"
          "  (over every streamed change in the topics, including any that waited for the connector's initial\n"
          "   snapshot or a restart; bench/cdc_latency.py measures steady-state latency at given rates)\n")
    else:
        w("latency commit -> Kafka: no streamed changes (only snapshot reads)\n")
    w(f"\nRESULT: {result['verdict']}\n")


def write_json(result, path):
    def default(o):
        return repr(o)
    with open(path, "w") as f:
        json.dump(result, f, indent=2, default=default)


def render_late_columns(result, w):
    """Notes on columns added while the tables were captured (replay.LateColumns): neither is a difference."""
    for t in result["tables"]:
        for col, info in (t.get("not_in_stream") or {}).items():
            w(f"\nnote: {t['table']}.{col}: not in the change stream for rows written before "
              f"{info['before'] or 'the column was added'} ({info['rows']} rows): the column was added with a "
              "DEFAULT,\n  which PostgreSQL shows in existing rows without writing WAL for them, so no change "
              "event of those rows\n  carries it; not compared, not counted as a difference\n")
        for col, n in (t.get("absent_as_null") or {}).items():
            w(f"\nnote: {t['table']}.{col}: {n} rows whose last change event predates the column (no field) "
              "compared as NULL\n")


def late_columns_verdict(tables):
    """The verdict's addendum when some rows hold a column value that was never in the change stream."""
    n = sum(i["rows"] for t in tables for i in (t.get("not_in_stream") or {}).values())
    return f" ({n} rows hold a column value that is not in the change stream: see the note)" if n else ""


def _iso(ms):
    from .replay import iso_ms
    return iso_ms(ms)


def trimmed_summary(trimmed):
    """{partition: (first offset, ts ms)} of a trimmed topic -> its JSON summary ({} when not trimmed). `since`:
    the newest of the partitions' first-record timestamps: a row whose last change is older may be gone."""
    if not trimmed:
        return {}
    stamps = [ts for _, ts in trimmed.values() if ts is not None]
    since = max(stamps) if stamps else None
    return {"first_offsets": {str(p): off for p, (off, _) in sorted(trimmed.items())},
            "since_ms": since, "since": _iso(since)}


def trimmed_line(t):
    """One line: what verify cannot prove on a topic that retention trimmed."""
    info = t["trimmed"]
    offsets = info["first_offsets"]
    where = (f"its first offset is {next(iter(offsets.values()))}" if len(offsets) == 1 else
             "its first offsets are " + ", ".join(f"{o} (partition {p})" for p, o in offsets.items()))
    oldest = f", its oldest event is from {info['since']}" if info.get("since") else ", it holds no event any more"
    return (f"topic {t['topic']} was trimmed by retention: {where}{oldest}; rows whose last change is older cannot "
            f"be checked: {t['not_checkable']} rows of {t['table']} are not in the replay (not counted as missing), "
            "and its op counts cover only the events it still holds")


def compacted_line(t):
    gaps = t.get("before_mismatch_on_compacted", 0)
    return (f"topic {t['topic']} is compacted: it keeps each key's newest event, so its rows are checked, but its op "
            "counts are not the changes made (a DELETE is gone once its tombstone follows it) and "
            f"{gaps} before-images that differ from the event held before them are gaps the cleaner left, not "
            "counted as differences")


def render_trimmed_and_compacted(result, w):
    for t in result["tables"]:
        if t.get("trimmed"):
            w(f"\nnote: {trimmed_line(t)}\n")
        if t.get("compacted"):
            w(f"\nnote: {compacted_line(t)}\n")


def trimmed_verdict(tables):
    """The verdict's addendum when retention trimmed some topics."""
    trimmed = [t for t in tables if t.get("trimmed")]
    if not trimmed:
        return ""
    n = sum(t["not_checkable"] for t in trimmed)
    return (f" ({n} rows not checkable: their changes were trimmed from "
            + ", ".join(t["topic"] for t in trimmed) + " by retention; see the notes)")
