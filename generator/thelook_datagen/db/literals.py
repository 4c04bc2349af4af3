"""SQL literals for our own generated values, much cheaper than generic client-side adaptation.

Valid only with standard_conforming_strings = on (the writer sets it): then doubling single quotes
is the complete escaping of a string literal. Values are str, int, float, bool, None or lists.
"""


def lit(v):
    t = type(v)
    if t is str:
        return "'" + v.replace("'", "''") + "'"
    if v is None:
        return "NULL"
    if t is float:
        return repr(v)
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is list or t is tuple:
        if not v:
            return "'{}'"
        return "ARRAY[" + ",".join(map(lit, v)) + "]"
    raise TypeError(f"no SQL literal for {t.__name__}")


def str_array(values):
    return "ARRAY[" + ",".join(["'" + s.replace("'", "''") + "'" for s in values]) + "]" if values else "'{}'"


def float_array(values):
    return "ARRAY[" + ",".join(map(repr, values)) + "]" if values else "'{}'"


def int_array(values):
    return "ARRAY[" + ",".join(map(str, values)) + "]" if values else "'{}'"


def call(name, params):
    """`EXECUTE name(lit, lit, ...)` for a prepared statement."""
    return "EXECUTE " + name + "(" + ",".join(map(lit, params)) + ")"
