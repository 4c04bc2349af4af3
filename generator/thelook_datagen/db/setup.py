"""Prepares the schema according to the if_exists setting, then loads reference data if the shop is empty."""
import psycopg2

from ..errors import UserError
from ..tables import SIGNAL, TABLES
from .ddl import COLUMNS, create_table_sql, ident, index_sql, signal_table_sql
from .reference_load import load_reference

_TYPE_NAMES = {"integer": "integer", "bigint": "bigint", "text": "text",
               "double precision": "double precision", "timestamp with time zone": "timestamptz"}


def existing_tables(cursor, schema):
    cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                   "AND table_name = ANY(%s)", (schema, list(TABLES)))
    found = {r[0] for r in cursor.fetchall()}
    return [t for t in TABLES if t in found]


def column_problems(cursor, schema, table):
    cursor.execute("SELECT column_name, data_type FROM information_schema.columns "
                   "WHERE table_schema = %s AND table_name = %s", (schema, table))
    have = {name: _TYPE_NAMES.get(typ, typ) for name, typ in cursor.fetchall()}
    problems = []
    for name, typ in COLUMNS[table]:
        if name not in have:
            problems.append(f"missing column {name}")
        elif have[name] != typ:
            problems.append(f"column {name} is {have[name]}, expected {typ}")
    return problems


def prepare_schema(conn, schema, if_exists, now, stock_age, log):
    """Returns a dict of what was done. Runs in one transaction under an advisory lock, so several
    generators starting together against one database don't trip over each other."""
    done = {"created": [], "dropped": [], "loaded": {}}
    old_autocommit = conn.autocommit
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("thelook-datagen:" + schema,))
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
            present = existing_tables(cur, schema)
            if present and if_exists == "fail":
                raise UserError(
                    "{opt:if_exists} fail: table(s) " + ", ".join(schema + "." + t for t in present) +
                    " already exist", "use {opt:if_exists} append to keep them or {opt:if_exists} replace to recreate them")
            if present and if_exists == "replace":
                for table in reversed(TABLES):
                    if table in present:
                        cur.execute(f"DROP TABLE {ident(schema)}.{table} CASCADE")
                        done["dropped"].append(table)
                present = []
                log.info(f"if_exists replace: dropped {', '.join(done['dropped'])}")
            for table in present:
                problems = column_problems(cur, schema, table)
                if problems:
                    raise UserError(f"table {schema}.{table} does not match the expected layout "
                                    f"({'; '.join(problems)})", "use another {opt:schema}, or recreate the "
                                    "tables with {opt:if_exists} replace")
            for table in TABLES:
                if table not in present:
                    cur.execute(create_table_sql(schema, table))
                    done["created"].append(table)
            # Debezium's signalling table: created with the schema, before the connector registers, because
            # its filtered publication takes only the tables that exist when it starts
            cur.execute("SELECT to_regclass(%s) IS NULL", (f"{ident(schema)}.{SIGNAL}",))
            if cur.fetchone()[0]:
                cur.execute(signal_table_sql(schema))
                done["created"].append(SIGNAL)
            if done["created"]:
                log.info(f"created {', '.join(done['created'])} in schema {schema}")
            for statements in index_sql(schema).values():
                for statement in statements:
                    cur.execute(statement)
            cur.execute(f"SELECT EXISTS (SELECT 1 FROM {ident(schema)}.products)")
            if not cur.fetchone()[0]:
                log.info(f"loading reference data into schema {schema} (COPY)")
                done["loaded"] = load_reference(cur, schema, now, stock_age)
                cur.execute(f"ANALYZE {ident(schema)}.products")
                cur.execute(f"ANALYZE {ident(schema)}.inventory_items")
        conn.commit()
    except psycopg2.errors.InsufficientPrivilege as e:
        conn.rollback()
        raise UserError(f"missing privilege in database: {first_line(e)}") from None
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.autocommit = old_autocommit
    return done


def first_line(exc):
    text = (getattr(exc, "pgerror", None) or str(exc) or exc.__class__.__name__).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # libpq puts the useful part after "connection to server ... failed:" on the same line
    return " ".join(lines[:1]).replace("ERROR:  ", "").replace("FATAL:  ", "")
