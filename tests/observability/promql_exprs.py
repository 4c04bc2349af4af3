"""The PromQL of the repository's Grafana dashboards and Prometheus rules, as the tests execute it.

Loaded by tests/observability/conftest.py (fixture `exprs`); no service needed here.

- dashboard_queries(): every panel target's `expr` with Grafana's built-in variables ($__rate_interval and
  the like) replaced by a concrete range, labelled "<dashboard> / <panel>".
- rule_checks(): for every rule of observability/prometheus/alerts.yml, the expressions whose series must
  exist in a healthy stack: the alert's expression with its condition taken away (series_checks).

series_checks(expr) splits an expression at its lowest-precedence binary operator outside any bracket or
string (PromQL precedence: `or` < `and`, `unless` < comparisons < arithmetic; all left-associative), checks
each side separately and drops a side that is a number (`> 0.9`, `== 1`, `> 5 * 60`). So `a > 300` checks
`a`, `a and b > 1` checks `a` and `b`, `a unless b` checks `a` and `b`, `a > on(x) group_left b` checks `a`
and `b`. `absent(x)` checks `x`, `absent_over_time(x[5m])` checks `last_over_time(x[5m])`, parentheses are
taken off, and a comparison with a number inside a function or aggregation goes too (`count(up == 0) > 0`
checks `count(up)`). Strings ("a>b" in a label matcher) and `# comments` are never split.
"""
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "observability"
RULES_FILE = OBSERVABILITY / "prometheus" / "alerts.yml"
SCRAPE_CONFIG = OBSERVABILITY / "prometheus" / "prometheus.yml"
GRAFANA = OBSERVABILITY / "grafana"
DASHBOARDS_DIR = GRAFANA / "dashboards"
DATASOURCES_FILE = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS_FILE = GRAFANA / "provisioning" / "dashboards" / "dashboards.yml"
DASHBOARD_FILE = DASHBOARDS_DIR / "cdc-pipeline.json"

# Grafana's built-in interval variables and the range the tests put in their place: one minute holds twelve
# scrapes at the 5 s interval (Grafana's $__rate_interval is at least four scrape intervals).
GRAFANA_VARIABLES = {"__rate_interval": "1m", "__interval": "1m", "__range": "1m", "__range_s": "60",
                     "__interval_ms": "60000"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")

COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
SET_OPERATORS = ("and", "or", "unless")
# lowest precedence first
LEVELS = (("or",), ("and", "unless"), COMPARISONS)
# what may follow a binary operator before its right operand
_MODIFIERS = re.compile(r"\s*(?:bool\b)?\s*(?:(?:on|ignoring)\s*\([^()]*\))?\s*"
                        r"(?:(?:group_left|group_right)\b\s*(?:\([^()]*\))?)?", re.I)
_NUMBER = r"(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[iI][nN][fF]|[nN][aA][nN])"
_LITERAL = re.compile(rf"[-+]?{_NUMBER}(?:(?:[-+*/%^]|\batan2\b)[-+]?{_NUMBER})*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_:]*")


# ------------------------------------------------------------------ the files

def load_json(path):
    return json.loads(Path(path).read_text())


def dashboard_files():
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def panels(dashboard):
    """Every panel, those inside collapsed rows too."""
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []) or [])
    return out


def substitute(expr):
    """expr with Grafana's interval variables replaced; ValueError on any other variable."""
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in GRAFANA_VARIABLES:
            raise ValueError(f"variable ${name} has no value in the tests (the dashboards use none but "
                             f"{', '.join('$' + v for v in GRAFANA_VARIABLES)})")
        return GRAFANA_VARIABLES[name]
    return _VARIABLE.sub(repl, expr)


def dashboard_queries(files=None):
    """[(label, expr)] for every target of every dashboard file, variables replaced."""
    queries = []
    for path in files or dashboard_files():
        dashboard = load_json(path)
        for panel in panels(dashboard):
            for target in panel.get("targets", []) or []:
                label = f"dashboard {dashboard.get('title', path.name)!r} / panel {panel.get('title')!r} / " \
                        f"target {target.get('refId')}"
                queries.append((label, substitute(target.get("expr", ""))))
    return queries


def rules(path=RULES_FILE):
    """[(label, expr)] of every alerting and recording rule of a Prometheus rules file."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    out = []
    for group in doc.get("groups") or []:
        for rule in group.get("rules") or []:
            kind, name = ("alert", rule["alert"]) if "alert" in rule else ("record", rule.get("record"))
            out.append((f"group {group.get('name')!r} / {kind} {name!r}", str(rule["expr"])))
    return out


def rule_checks(path=RULES_FILE):
    """[(label, full expr, [expressions whose series must exist])] for every rule."""
    return [(label, expr, series_checks(expr)) for label, expr in rules(path)]


# ------------------------------------------------------------------ PromQL, as far as splitting needs it

def strip_comments(expr):
    out, i, n = [], 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            j = _string_end(expr, i)
            out.append(expr[i:j])
            i = j
        elif c == "#":
            while i < n and expr[i] != "\n":
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _string_end(expr, i):
    """Index after the string literal that starts at i."""
    quote, j, n = expr[i], i + 1, len(expr)
    while j < n and expr[j] != quote:
        j += 2 if quote != "`" and expr[j] == "\\" else 1
    return j + 1


def _chars(expr):
    """(index, char, depth) of every character outside string literals; depth counts the brackets ( { [
    open around it (a bracket itself has the depth of the text around it)."""
    depth, i, n = 0, 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            i = _string_end(expr, i)
            continue
        if c in ")}]":
            depth -= 1
        yield i, c, depth
        if c in "({[":
            depth += 1
        i += 1


def top_level_operators(expr):
    """[(start, end, operator)] of the comparison and set operators outside any bracket."""
    ops, skip = [], -1
    for i, c, depth in _chars(expr):
        if i < skip or depth:
            continue
        two = expr[i:i + 2]
        if two in ("==", "!=", ">=", "<="):
            ops.append((i, i + 2, two))
            skip = i + 2
        elif c in "<>":
            ops.append((i, i + 1, c))
        elif (c.isalpha() or c == "_") and (i == 0 or not re.match(r"[A-Za-z0-9_:.]", expr[i - 1])):
            word = _IDENT.match(expr, i).group(0)
            if word.lower() in SET_OPERATORS:
                ops.append((i, i + len(word), word.lower()))
            skip = i + len(word)
    return ops


def _matching(expr, open_index):
    """Index of the bracket closing the one at open_index."""
    level = _depth_at(expr, open_index)
    for i, c, depth in _chars(expr):
        if i > open_index and c in ")}]" and depth == level:
            return i
    raise ValueError(f"unbalanced brackets in {expr!r}")


def _depth_at(expr, index):
    for i, c, depth in _chars(expr):
        if i == index:
            return depth
    raise ValueError(f"index {index} is inside a string in {expr!r}")


def _unwrap(expr):
    """The inside of expr if it is one parenthesised expression, else None."""
    s = expr.strip()
    if s.startswith("(") and _matching(s, 0) == len(s) - 1:
        return s[1:-1]
    return None


def is_number(expr):
    """True for a number or arithmetic of numbers (no series in it): `0.9`, `5 * 60`, `(1e3)`, `-Inf`."""
    s = re.sub(r"[\s()]", "", expr)
    return bool(s) and _LITERAL.fullmatch(s) is not None


def _split(expr, levels):
    """(left, operator, right) at the last top-level operator of the lowest level present, or None."""
    ops = top_level_operators(expr)
    for level in levels:
        found = [op for op in ops if op[2] in level]
        if found:
            start, end, op = found[-1]
            right = expr[end:]
            right = right[_MODIFIERS.match(right).end():]
            return expr[:start].strip(), op, right.strip()
    return None


def series_checks(expr):
    """The expressions that must each return at least one series when the rule's subject is healthy."""
    expr = strip_comments(expr).strip()
    if not expr:
        raise ValueError("empty expression")
    split = _split(expr, LEVELS)
    if split:
        left, _, right = split
        sides = [side for side in (left, right) if not is_number(side)]
        if not sides:
            raise ValueError(f"{expr!r} compares numbers only")
        return [check for side in sides for check in series_checks(side)]
    inner = _unwrap(expr)
    if inner is not None:
        return series_checks(inner)
    m = re.match(r"(absent|absent_over_time)\s*\(", expr)
    if m and _matching(expr, m.end() - 1) == len(expr) - 1:
        argument = expr[m.end():-1].strip()
        return series_checks(argument) if m.group(1) == "absent" else [f"last_over_time({argument})"]
    return [_strip_nested(expr)]


def _strip_nested(expr):
    """expr with comparisons against a number taken out of every bracketed argument list."""
    out, last = [], 0
    for i, c, depth in _chars(expr):
        if c == "(" and depth == 0 and i >= last:
            close = _matching(expr, i)
            out.append(expr[last:i + 1])
            out.append(",".join(_keep_spacing(arg, _strip_argument(arg))
                                for arg in _top_level_commas(expr[i + 1:close])))
            last = close
    out.append(expr[last:])
    return "".join(out)


def _top_level_commas(text):
    parts, start = [], 0
    for i, c, depth in _chars(text):
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _keep_spacing(original, stripped):
    lead = original[:len(original) - len(original.lstrip())]
    trail = original[len(original.rstrip()):]
    return lead + stripped.strip() + trail


def _strip_argument(arg):
    if any(op in SET_OPERATORS for _, _, op in top_level_operators(arg)):
        return _strip_nested(arg)
    split = _split(arg, (COMPARISONS,))
    if split:
        left, _, right = split
        if is_number(right) and not is_number(left):
            return _strip_argument(left)
        if is_number(left) and not is_number(right):
            return _strip_argument(right)
        return _strip_nested(arg)
    inner = _unwrap(arg)
    if inner is not None:
        return f"({_strip_argument(inner).strip()})"
    return _strip_nested(arg)
