"""A consistent read of the captured tables in PostgreSQL, and the cut it defines.

All tables are read in one REPEATABLE READ transaction, so they show exactly the transactions
committed before its snapshot. The snapshot (pg_current_snapshot) says which transaction ids are
visible; the WAL insert position read in the same statement is an LSN past every visible commit.
Once the connector has delivered a change at or past that LSN, every visible transaction is in
Kafka, and replaying only the visible ones reproduces this read exactly, while writers go on.
"""
from __future__ import annotations

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from ..errors import UserError
from .values import Column


class DatabaseError(UserError):
    """A database problem explained in one line."""


class Table:
    def __init__(self, schema, name, columns, key, replica_identity):
        self.schema, self.name, self.columns, self.key = schema, name, columns, key
        self.replica_identity = replica_identity  # 'f' full, 'd' default (primary key), 'n' nothing, 'i' index
        self.by_name = {c.name: c for c in columns}
        self.key_columns = [self.by_name[k] for k in key]
        self.defaulted = frozenset()  # columns with a DEFAULT (see defaulted_columns)

    @property
    def qualified(self):
        return f"{self.schema}.{self.name}"


class Snapshot:
    """Which transactions a snapshot sees: xmin:xmax:xip as 64-bit transaction ids."""

    def __init__(self, text):
        xmin, xmax, xip = text.split(":")
        self.text = text
        self.xmin, self.xmax = int(xmin), int(xmax)
        self.xip = {int(x) for x in xip.split(",") if x}

    def visible(self, xid32):
        """Whether a committed transaction, known by Debezium's 32-bit txId, is in this snapshot."""
        xid = (self.xmax & ~0xFFFFFFFF) | (xid32 & 0xFFFFFFFF)
        if xid > self.xmax + (1 << 31):  # the id belongs to the previous epoch
            xid -= 1 << 32
        if xid < self.xmin:
            return True
        return xid < self.xmax and xid not in self.xip


def lsn_to_int(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def int_to_lsn(value):
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def connect(params):
    """params: psycopg2.connect keyword arguments (host, port, user, password, dbname, ...)."""
    try:
        conn = psycopg2.connect(**params)
    except psycopg2.OperationalError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "connection failed"
        raise DatabaseError(f"cannot connect to PostgreSQL: {first}") from None
    return conn


def describe(conn, schema, names):
    """Column types, primary key and replica identity of each table; fails clearly if one is missing."""
    tables = []
    with conn.cursor() as cur:
        for name in names:
            cur.execute("SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')", (schema, name))
            row = cur.fetchone()
            if row is None:
                raise DatabaseError(f"table {schema}.{name} does not exist in database {conn.info.dbname}")
            oid, ident = row
            cur.execute("SELECT a.attname, t.typname, "
                        "  CASE WHEN t.typname IN ('timestamp', 'timestamptz', 'time', 'timetz') "
                        "       THEN NULLIF(a.atttypmod, -1) END, "
                        "  CASE WHEN t.typname = 'numeric' AND a.atttypmod > 0 "
                        "       THEN (a.atttypmod - 4) & 65535 END "
                        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                        "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (oid,))
            columns = [Column(n, t, 6 if p is None and t.startswith(("time",)) else p, s)
                       for n, t, p, s in cur.fetchall()]
            cur.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                        "  ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                        "WHERE i.indrelid = %s AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)", (oid,))
            key = [r[0] for r in cur.fetchall()]
            if not key:
                raise DatabaseError(f"table {schema}.{name} has no primary key; verify replays rows by primary key")
            tables.append(Table(schema, name, columns, key, ident))
    return tables


def defaulted_columns(conn, tables):
    """Sets each table's `defaulted`: its columns with a DEFAULT or a value PostgreSQL fills in for rows
    written before the column existed (atthasmissing). A column added with a default gets its value in
    existing rows without any WAL, so change events older than the column cannot carry it (replay.LateColumns)."""
    with conn.cursor() as cur:
        for t in tables:
            cur.execute("SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
                        "AND (a.atthasdef OR a.atthasmissing)", (t.schema, t.name))
            t.defaulted = frozenset(r[0] for r in cur.fetchall())
    conn.commit()


def existing_tables(conn, schema, names):
    with conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')", (schema,))
        present = {r[0] for r in cur.fetchall()}
    return [n for n in names if n in present]


def read_consistent(conn, tables, progress=None):
    """Reads every row of the tables in one snapshot. Returns (Snapshot, cut LSN, {table: {key: row}})."""
    conn.rollback()  # end the catalogue reads: the snapshot must start with this transaction
    conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
    try:
        with conn.cursor() as cur:
            # One statement: the snapshot is taken first, then the WAL position is read.
            cur.execute("SELECT pg_current_snapshot()::text, pg_current_wal_insert_lsn()::text")
            snap_text, lsn_text = cur.fetchone()
        rows = {t.name: read_table(conn, t, progress) for t in tables}
        conn.commit()
    except psycopg2.Error as err:
        conn.rollback()
        raise DatabaseError(f"reading PostgreSQL failed: {str(err).strip().splitlines()[0]}") from None
    return Snapshot(snap_text), lsn_to_int(lsn_text), rows


def read_table(conn, table, progress=None):
    query = sql.SQL("SELECT {} FROM {}.{}").format(
        sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns),
        sql.Identifier(table.schema), sql.Identifier(table.name))
    key_idx = [i for i, c in enumerate(table.columns) if c.name in table.key]
    key_idx.sort(key=lambda i: table.key.index(table.columns[i].name))
    convs = [c.from_pg for c in table.columns]
    out = {}
    with conn.cursor(name=f"verify_{table.name}") as cur:
        cur.itersize = 20000
        cur.execute(query)
        for raw in cur:
            row = tuple(f(v) for f, v in zip(convs, raw))
            out[tuple(row[i] for i in key_idx)] = row
    if progress:
        progress(f"PostgreSQL {table.qualified}: {len(out)} rows")
    return out


def slot_confirmed_lsn(conn, slot):
    with conn.cursor() as cur:
        cur.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        row = cur.fetchone()
    conn.commit()
    return lsn_to_int(row[0]) if row and row[0] else None


def slot_status(conn, slot):
    """(wal_status, invalidation_reason) of a slot, or None when it does not exist. invalidation_reason exists
    from PostgreSQL 17 on: read through to_jsonb so that older servers answer too."""
    with conn.cursor() as cur:
        cur.execute("SELECT wal_status, to_jsonb(s) ->> 'invalidation_reason' FROM pg_replication_slots s "
                    "WHERE slot_name = %s", (slot,))
        row = cur.fetchone()
    conn.commit()
    return tuple(row) if row else None


def only_slot(conn):
    """The database's only logical replication slot (the connector's), or a clear error."""
    with conn.cursor() as cur:
        cur.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'logical' "
                    "AND database = current_database() ORDER BY slot_name")
        names = [r[0] for r in cur.fetchall()]
    conn.commit()
    if len(names) == 1:
        return names[0]
    if not names:
        raise DatabaseError("no logical replication slot in this database: is the Debezium connector registered?")
    raise DatabaseError(f"several replication slots ({', '.join(names)})", "name the connector's with {opt:slot}")
