"""The Flink result topics folded into what the page draws (pure: no Kafka here).

Each result topic is an upsert topic (flink/README.md): a message's key identifies a result row, its
value is the row's newest version, and a tombstone (no value) removes the row. `ResultStore.apply`
keeps the last value per key, exactly as a consumer of an upsert topic must; `view()` turns the rows
into the shapes of SNAPSHOT.md ("analytics").

Why per-minute indexes: revenue_per_minute and funnel_per_minute grow by a key per minute (and per
department and category) for as long as the shop runs: about 37,000 keys a day. The page shows only
the 30 minutes ending with the newest one, so rows are kept by minute and a view reads 30 minutes,
not the whole day, every second.

A message that cannot be decoded (not JSON, a key or value of the wrong shape) is counted in
`malformed` and skipped: the server never fails on one.
"""
import json
from datetime import datetime, timezone

TOPICS = ("revenue_per_minute", "status_counts", "funnel_per_minute", "top_products_last_hour", "stock_per_dc")
WINDOW_MINUTES = 30
TOP_CATEGORIES = 20
FUNNEL_FIELDS = ("sessions", "product_views", "carts", "purchases", "abandoned_carts", "ghost_sessions",
                 "conversion_rate")
ENTITIES = ("orders", "order_items")


class Malformed(ValueError):
    """A result message this module cannot use."""


def minute_of(text):
    """An ISO-8601 timestamp of a result row -> its minute as epoch seconds (an int)."""
    if not isinstance(text, str):
        raise Malformed(f"not a timestamp: {text!r}")
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Malformed(f"not a timestamp: {text!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp()) // 60 * 60


def iso_minute(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:00Z")


def _num(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise Malformed(f"{what} is not a number: {value!r}")
    return value


def _int(value, what):
    n = _num(value, what)
    return int(n)


def _obj(raw, what):
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Malformed(f"{what} is not JSON") from None
    if not isinstance(doc, dict):
        raise Malformed(f"{what} is not a JSON object")
    return doc


class Topic:
    """One result topic's rows: the last value per key."""

    def __init__(self):
        self.rows = {}            # canonical key text -> value (dict)
        self.updated = None       # Kafka timestamp (epoch s) of the newest message applied
        self.messages = 0
        self.malformed = 0
        self.last_error = None
        self.version = 0          # bumped on every change, so views are rebuilt only when needed

    def key_text(self, key):
        return json.dumps(key, sort_keys=True, separators=(",", ":"))

    def put(self, key, value):
        self.rows[self.key_text(key)] = value

    def delete(self, key):
        self.rows.pop(self.key_text(key), None)


class MinuteTopic(Topic):
    """A topic keyed by window_start (and more): rows also indexed by minute."""

    def __init__(self):
        super().__init__()
        self.by_minute = {}       # minute (epoch s) -> {key text: value}

    def put(self, key, value):
        minute = minute_of(key.get("window_start"))
        text = self.key_text(key)
        self.rows[text] = value
        self.by_minute.setdefault(minute, {})[text] = value

    def delete(self, key):
        minute = minute_of(key.get("window_start"))
        text = self.key_text(key)
        self.rows.pop(text, None)
        bucket = self.by_minute.get(minute)
        if bucket is not None:
            bucket.pop(text, None)
            if not bucket:
                del self.by_minute[minute]

    def window(self, minutes=WINDOW_MINUTES):
        """The `minutes` minutes ending with the newest one that has rows ([] when none)."""
        if not self.by_minute:
            return []
        newest = max(self.by_minute)
        return [newest - 60 * i for i in range(minutes - 1, -1, -1)]


def _check_value(name, value):
    """Raises Malformed when a value lacks what its view needs (checked before it is stored)."""
    if name == "revenue_per_minute":
        for f in ("department", "category"):
            if not isinstance(value.get(f), str):
                raise Malformed(f"{f} missing")
        for f in ("revenue", "items", "orders"):
            _num(value.get(f), f)
    elif name == "status_counts":
        if value.get("entity") not in ENTITIES or not isinstance(value.get("status"), str):
            raise Malformed("entity or status missing")
        _int(value.get("cnt"), "cnt")
    elif name == "funnel_per_minute":
        for f in FUNNEL_FIELDS[:-1]:
            _int(value.get(f), f)
    elif name == "top_products_last_hour":
        _int(value.get("rank"), "rank")
        _int(value.get("product_id"), "product_id")
        _num(value.get("revenue"), "revenue")
    elif name == "stock_per_dc":
        _int(value.get("dc_id"), "dc_id")
        for f in ("in_stock", "sold", "written_off"):
            _int(value.get(f), f)


class ResultStore:
    """The five result topics. `apply()` takes a message (as bytes), `view()` the page's analytics."""

    def __init__(self, centres=None):
        self.topics = {name: (MinuteTopic() if name.endswith("per_minute") else Topic()) for name in TOPICS}
        # distribution centre id -> (latitude, longitude): the result topic has names, not places
        self.centres = centres or {}
        self._views = {}

    def apply(self, name, key_raw, value_raw, timestamp=None):
        """One message of result topic `name` (job name). Returns False when it was malformed."""
        topic = self.topics.get(name)
        if topic is None:
            return False
        topic.messages += 1
        try:
            key = _obj(key_raw, "key")
            if key is None:
                raise Malformed("message without a key")
            value = _obj(value_raw, "value")
            if value is None:
                topic.delete(key)
            else:
                _check_value(name, value)
                topic.put(key, value)
        except Malformed as e:
            topic.malformed += 1
            topic.last_error = str(e)
            topic.version += 1        # the view shows the count
            return False
        if timestamp is not None and (topic.updated is None or timestamp > topic.updated):
            topic.updated = timestamp
        topic.version += 1
        return True

    def view(self):
        """{job name: its panel's data} (SNAPSHOT.md, "analytics"); cached per topic version."""
        out = {}
        for name, topic in self.topics.items():
            cached = self._views.get(name)
            if cached is None or cached[0] != topic.version:
                body = getattr(self, "_" + name)(topic)
                body.update(updated=topic.updated, keys=len(topic.rows), malformed=topic.malformed)
                cached = (topic.version, body)
                self._views[name] = cached
            out[name] = cached[1]
        return out

    # ---------------------------------------------------------------- one view per topic

    def _revenue_per_minute(self, topic):
        minutes = topic.window()
        index = {m: i for i, m in enumerate(minutes)}
        series, cats = {}, {}
        for m in minutes:
            for row in topic.by_minute.get(m, {}).values():
                dept, cat = row["department"], row["category"]
                s = series.setdefault(dept, {"department": dept, "revenue": [0.0] * len(minutes),
                                             "items": [0] * len(minutes)})
                s["revenue"][index[m]] += float(_num(row["revenue"], "revenue"))
                s["items"][index[m]] += _int(row["items"], "items")
                c = cats.setdefault((dept, cat), {"department": dept, "category": cat, "revenue": 0.0,
                                                  "items": 0, "orders": 0})
                c["revenue"] += float(_num(row["revenue"], "revenue"))
                c["items"] += _int(row["items"], "items")
                c["orders"] += _int(row["orders"], "orders")
        for s in series.values():
            s["revenue"] = [round(v, 2) for v in s["revenue"]]
        categories = sorted(cats.values(), key=lambda c: (-c["revenue"], c["department"], c["category"]))
        for c in categories:
            c["revenue"] = round(c["revenue"], 2)
        return {"minutes": [iso_minute(m) for m in minutes],
                "series": [series[d] for d in sorted(series)],
                "categories": categories[:TOP_CATEGORIES]}

    def _status_counts(self, topic):
        out = {e: {} for e in ENTITIES}
        for row in topic.rows.values():
            out[row["entity"]][row["status"]] = _int(row["cnt"], "cnt")
        return {e: dict(sorted(v.items())) for e, v in out.items()}

    def _funnel_per_minute(self, topic):
        minutes = topic.window()
        body = {"minutes": [iso_minute(m) for m in minutes]}
        by_minute = {}
        for m in minutes:
            rows = list(topic.by_minute.get(m, {}).values())
            by_minute[m] = rows[0] if rows else None
        for f in FUNNEL_FIELDS:
            values = []
            for m in minutes:
                row = by_minute[m]
                if row is None:
                    values.append(None if f == "conversion_rate" else 0)
                elif f == "conversion_rate":
                    v = row.get(f)
                    values.append(round(float(v), 4) if isinstance(v, (int, float)) else None)
                else:
                    values.append(_int(row.get(f), f))
            body[f] = values
        return body

    def _top_products_last_hour(self, topic):
        rows = sorted(topic.rows.values(), key=lambda r: _int(r["rank"], "rank"))[:10]
        first = rows[0] if rows else {}
        return {
            "window_start_iso": first.get("window_start"), "window_end_iso": first.get("window_end"),
            "rows": [{"rank": _int(r["rank"], "rank"), "product_id": _int(r["product_id"], "product_id"),
                      "product_name": r.get("product_name"), "brand": r.get("brand"),
                      "department": r.get("department"), "category": r.get("category"),
                      "revenue": round(float(_num(r["revenue"], "revenue")), 2),
                      "items": _int(r.get("items", 0), "items")} for r in rows],
        }

    def _stock_per_dc(self, topic):
        rows = []
        for r in sorted(topic.rows.values(), key=lambda r: _int(r["dc_id"], "dc_id")):
            dc = _int(r["dc_id"], "dc_id")
            lat, lon = self.centres.get(dc, (None, None))
            rows.append({"dc_id": dc, "dc_name": r.get("dc_name") or f"centre {dc}", "latitude": lat,
                         "longitude": lon, "in_stock": _int(r["in_stock"], "in_stock"),
                         "sold": _int(r["sold"], "sold"), "written_off": _int(r["written_off"], "written_off")})
        return {"rows": rows}


def default_centres():
    """The shop's distribution centres' coordinates, from the generator's catalogue."""
    from thelook_datagen.reference.catalog import DISTRIBUTION_CENTERS
    return {dc.id: (dc.latitude, dc.longitude) for dc in DISTRIBUTION_CENTERS}
