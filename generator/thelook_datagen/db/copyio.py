"""Rows to PostgreSQL COPY text format (used for the reference data, reusable for bulk loads)."""
import io
from datetime import datetime, timezone

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _needs_escape(text):
    return "\\" in text or "\t" in text or "\n" in text or "\r" in text


def row_text(row):
    """One COPY line (without the newline)."""
    return "\t".join(map(field, row))


def ts_text(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def field(value):
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES) if _needs_escape(value) else value
    if isinstance(value, float):
        return repr(value)
    return str(value)


def copy_text(rows):
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join(map(field, row)))
        buf.write("\n")
    buf.seek(0)
    return buf


def copy_rows(cursor, qualified_table, columns, rows):
    cursor.copy_expert(f"COPY {qualified_table} ({', '.join(columns)}) FROM STDIN", copy_text(rows))
