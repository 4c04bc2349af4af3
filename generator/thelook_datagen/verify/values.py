"""Comparable values for one PostgreSQL column, from either side.

Debezium's JSON converter (with or without embedded schemas) encodes PostgreSQL types in its own
ways: timestamptz as ISO-8601 strings in UTC, timestamp as epoch micro- or milliseconds, date as
days since the epoch, numeric as a string (decimal.handling.mode=string), a double or a
{scale, value} struct, bytea as base64. psycopg2 returns Python objects. Both sides are turned
into the same canonical form: integers of microseconds for instants, Decimal for numeric, the
float32 value for real, and so on, so that equality means the same value.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
import struct
from decimal import Decimal, InvalidOperation

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
EPOCH_NAIVE = dt.datetime(1970, 1, 1)
EPOCH_DATE = dt.date(1970, 1, 1)
ONE_US = dt.timedelta(microseconds=1)
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?$")


# Debezium's `unavailable.value.placeholder` (its default; connectors/thelook-postgres.json keeps it): what an
# UPDATE event carries for an unchanged TOASTed column that the table's replica identity does not log (REPLICA
# IDENTITY DEFAULT). The column's value is then simply not in the event: verify marks it NOT_CAPTURED instead of
# decoding the placeholder as data, and neither compares nor guesses it (a consumer that keeps the previous value
# could carry it forward; the topic itself does not hold it).
UNAVAILABLE_PLACEHOLDER = "__debezium_unavailable_value"
_UNAVAILABLE_B64 = base64.b64encode(UNAVAILABLE_PLACEHOLDER.encode()).decode()


class _NotCaptured:
    """The value of a column whose change event carried Debezium's unavailable-value placeholder."""
    __slots__ = ()

    def __repr__(self):
        return "<not captured>"


NOT_CAPTURED = _NotCaptured()


def is_placeholder(value):
    """Whether a raw JSON value is the placeholder (as text; bytea columns get it base64-encoded)."""
    return isinstance(value, str) and value in (UNAVAILABLE_PLACEHOLDER, _UNAVAILABLE_B64)


class Column:
    """One column: name, PostgreSQL type name (pg_type.typname), precision or scale where it matters."""

    __slots__ = ("name", "typname", "precision", "scale", "from_kafka", "from_pg")

    def __init__(self, name, typname, precision=None, scale=None):
        self.name, self.typname, self.precision, self.scale = name, typname, precision, scale
        self.from_kafka, self.from_pg = _converters(self)

    def __repr__(self):
        return f"Column({self.name!r}, {self.typname!r})"


def parse_iso_instant(text):
    """ISO-8601 timestamp with offset (Debezium's ZonedTimestamp) -> microseconds since the epoch."""
    m = _ISO.match(text.strip())
    if not m:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    day, hh, mm, ss, frac, zone = m.groups()
    frac = (frac or "0")[:6].ljust(6, "0")
    base = dt.datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss}").replace(microsecond=int(frac))
    if zone in (None, "Z"):
        offset = dt.timedelta(0)
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return (base - EPOCH_NAIVE - offset) // ONE_US


def _float32(value):
    return struct.unpack("f", struct.pack("f", float(value)))[0]


def _instant_from_pg(value):
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return (value - EPOCH) // ONE_US
    return value


def _naive_from_pg(value):
    return (value - EPOCH_NAIVE) // ONE_US if isinstance(value, dt.datetime) else value


def _epoch_to_micros(precision):
    # time.precision.mode=adaptive: precision <= 3 is sent in milliseconds, else microseconds.
    factor = 1000 if precision is not None and precision <= 3 else 1

    def convert(value):
        if isinstance(value, str):
            return _naive_iso(value)
        return int(value) * factor
    return convert


def _naive_iso(text):
    return parse_iso_instant(text.rstrip("Z"))


def _time_from_pg(value):
    if isinstance(value, dt.time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    if isinstance(value, dt.timedelta):  # time '24:00:00'
        return value // ONE_US
    return value


def _decimal_from_kafka(scale):
    def convert(value):
        if isinstance(value, dict):  # variable scale numeric: {"scale": s, "value": base64}
            return _unscaled(value.get("value"), int(value.get("scale", 0)))
        if isinstance(value, (int, float)):
            return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        try:
            return Decimal(value)
        except InvalidOperation:
            return _unscaled(value, scale or 0)  # precise mode without schema: base64 of the unscaled value
    return convert


def _unscaled(b64, scale):
    raw = base64.b64decode(b64)
    return Decimal(int.from_bytes(raw, "big", signed=True)).scaleb(-scale)


def _json_value(value):
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _bytes_from_kafka(value):
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return bytes.fromhex(value[2:] if value.startswith("\\x") else value)
    return value


def _bytes_from_pg(value):
    return bytes(value) if isinstance(value, (memoryview, bytearray)) else value


def _same(value):
    return value


def _nullable(fn):
    def convert(value):
        return None if value is None else fn(value)
    return convert


def _converters(col):
    t = col.typname
    if t in ("int2", "int4", "int8", "oid", "xid"):
        k, p = int, int
    elif t == "float8":
        k, p = float, float
    elif t == "float4":
        k, p = _float32, _float32
    elif t == "numeric":
        k, p = _decimal_from_kafka(col.scale), Decimal
    elif t == "bool":
        k, p = bool, bool
    elif t == "timestamptz":
        k, p = parse_iso_instant, _instant_from_pg
    elif t == "timestamp":
        k, p = _epoch_to_micros(col.precision), _naive_from_pg
    elif t == "date":
        k, p = int, lambda v: (v - EPOCH_DATE).days if isinstance(v, dt.date) else v
    elif t == "time":
        k, p = _epoch_to_micros(col.precision), _time_from_pg
    elif t in ("json", "jsonb"):
        k, p = _json_value, _json_value
    elif t == "bytea":
        k, p = _bytes_from_kafka, _bytes_from_pg
    elif t == "uuid":
        k, p = str, str
    else:
        k, p = _same, _same
    return _nullable(k), _nullable(p)


def show(col, value):
    """A canonical value written back in a form a person recognises (for difference examples)."""
    if value is None:
        return "NULL"
    if value is NOT_CAPTURED:
        return "not captured"
    if col.typname == "timestamptz" and isinstance(value, int):
        return (EPOCH + value * ONE_US).isoformat().replace("+00:00", "Z")
    if col.typname == "timestamp" and isinstance(value, int):
        return (EPOCH_NAIVE + value * ONE_US).isoformat()
    text = repr(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
