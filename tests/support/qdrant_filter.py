"""Qdrant's payload filters and payload selectors, evaluated as Qdrant 1.19 evaluates them without
payload indexes (lib/segment/src/payload_storage/query_checker.rs and condition_checker.rs,
lib/segment/src/json_path/get.rs, lib/segment/src/common/utils.rs), for the Qdrant test double.

Semantics, from those files:
  - A key is a JSON path: `a.b` walks objects only; `a[]` walks every element of array a, `a[2]` one
    of them. An array in the middle without `[]` ends the walk (no value). The values it reaches
    are checked; a condition holds when any of them satisfies it, and a value that is an array is
    flattened one level (`[1, [2]]`: 1 is checked, [2] is not).
  - No value at the key: a field condition does not hold (match, range, except alike); with the
    field flags, `is_empty: true` holds and `is_null: true` does not.
  - match.value: a string matches an equal string, a bool an equal bool, an integer an integer
    payload value (1 does not match 1.0: serde_json's as_i64 of a float is None).
  - match.any: string in the list / integer in the list (same integer rule).
  - match.except: a string not in a string list, an integer not in an integer list; a value of
    another type (bool, object, float, string vs integer list, ...) satisfies it; null does not.
  - range: numbers only (ints and floats, never bools); gt/gte/lt/lte as f64. Strings with a
    datetime range are compared as RFC 3339 times.
  - is_empty {key}: every value reached is null or [] (so a missing key is empty); is_null {key}:
    some value reached is null ([null] is not null).
  - must: all; should: any (an empty should list holds for no point); must_not: none; min_should:
    at least min_count of its conditions. A condition may be a nested filter.
  - has_id: the point's id is in the list (UUIDs compared in canonical form).
  - nested {key, filter}: some object of array `key` satisfies the filter on its own.
Geo conditions are not implemented: Unsupported is raised.

Thread safety: pure functions over the values they are given.
"""
import copy
import datetime
import re


class Unsupported(Exception):
    """A filter the double does not implement."""


def _raw_char(c):
    return c.isalnum() or c in "_-"


def parse_path(key):
    """A payload key as a list of steps: ("key", name), ("all",), ("index", n). The grammar of
    Qdrant's json_path/parse.rs: a first key, then .key, [n] and [] steps, where a key is a run of
    alphanumerics, '_' and '-', or any text but '"' between double quotes."""
    steps, i = [], 0

    def key_at(i):
        if i < len(key) and key[i] == '"':
            end = key.find('"', i + 1)
            if end < 0:
                raise Unsupported(f"payload key {key!r}: an unclosed quote")
            return key[i + 1:end], end + 1
        end = i
        while end < len(key) and _raw_char(key[end]):
            end += 1
        if end == i:
            raise Unsupported(f"payload key {key!r} is not a path the double understands")
        return key[i:end], end

    name, i = key_at(0)
    steps.append(("key", name))
    while i < len(key):
        if key[i] == ".":
            name, i = key_at(i + 1)
            steps.append(("key", name))
        elif key.startswith("[]", i):
            steps.append(("all",))
            i += 2
        else:
            m = re.match(r"\[(\d+)\]", key[i:])
            if not m:
                raise Unsupported(f"payload key {key!r} is not a path the double understands")
            steps.append(("index", int(m.group(1))))
            i += m.end()
    return steps


def values_at(payload, key):
    """The values path `key` reaches in payload (a dict), as Qdrant's get_value_from_json_map."""
    out = []

    def walk(value, steps):
        if not steps:
            out.append(value)
            return
        step, rest = steps[0], steps[1:]
        if step[0] == "key":
            if isinstance(value, dict) and step[1] in value:
                walk(value[step[1]], rest)
        elif isinstance(value, list):
            if step[0] == "all":
                for item in value:
                    walk(item, rest)
            elif step[1] < len(value):
                walk(value[step[1]], rest)

    walk(payload or {}, parse_path(key))
    return out


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _as_i64(value):
    """serde_json's as_i64: an integer within i64, else None."""
    return value if _is_int(value) and -2 ** 63 <= value < 2 ** 63 else None


def _match_one(match, value):
    if "value" in match:
        want = match["value"]
        if isinstance(want, bool):
            return isinstance(value, bool) and value == want
        if isinstance(want, str):
            return isinstance(value, str) and value == want
        return _as_i64(value) is not None and value == want
    if "text" in match or "phrase" in match:
        text = match.get("text", match.get("phrase"))
        return isinstance(value, str) and text in value
    if "text_any" in match:
        return isinstance(value, str) and any(t in value for t in match["text_any"].split())
    if "prefix" in match:
        return isinstance(value, str) and value.startswith(match["prefix"])
    if "any" in match:
        wanted = match["any"]
        if isinstance(value, str):
            return any(isinstance(w, str) and w == value for w in wanted)
        number = _as_i64(value)
        return number is not None and any(_is_int(w) and w == number for w in wanted)
    if "except" in match:
        excluded = match["except"]
        strings = all(isinstance(w, str) for w in excluded)
        integers = all(_is_int(w) for w in excluded)
        if value is None:
            return False
        if isinstance(value, str) and strings:
            return value not in excluded
        if _is_number(value) and integers and not isinstance(value, float):
            number = _as_i64(value)
            return True if number is None else number not in excluded
        return True
    raise Unsupported(f"match {match!r} is not one the double implements")


def _parse_time(text):
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def _range_one(bounds, value):
    if any(isinstance(bounds.get(k), str) for k in ("gt", "gte", "lt", "lte")):
        if not isinstance(value, str):
            return False
        value = _parse_time(value)
        if value is None:
            return False
        bounds = {k: _parse_time(v) for k, v in bounds.items() if v is not None}
    elif not _is_number(value):
        return False
    checks = (("gt", lambda b: value > b), ("gte", lambda b: value >= b),
              ("lt", lambda b: value < b), ("lte", lambda b: value <= b))
    return all(test(bounds[k]) for k, test in checks if bounds.get(k) is not None)


def _count_one(bounds, value):
    count = len(value) if isinstance(value, list) else 1
    return _range_one(bounds, count)


def _flag_empty(is_empty, value):
    empty = value is None or (isinstance(value, list) and not value)
    return empty == is_empty


def _flag_null(is_null, value):
    null = value is None or (isinstance(value, list) and any(x is None for x in value))
    return null == is_null


def _field_condition(condition, payload):
    if any(condition.get(k) is not None for k in ("geo_bounding_box", "geo_radius", "geo_polygon")):
        raise Unsupported("geo conditions are not implemented by the double")
    values = values_at(payload, condition["key"])
    if not values:
        if condition.get("is_empty") is not None:
            return condition["is_empty"]
        if condition.get("is_null") is not None:
            return not condition["is_null"]
        return False
    match, bounds = condition.get("match"), condition.get("range")
    count = condition.get("values_count")

    def check(value):
        if count is not None:
            return _count_one(count, value)
        if condition.get("is_empty") is not None:
            return _flag_empty(condition["is_empty"], value)
        if condition.get("is_null") is not None:
            return _flag_null(condition["is_null"], value)
        items = value if isinstance(value, list) else [value]
        return any((match is not None and _match_one(match, x))
                   or (bounds is not None and _range_one(bounds, x)) for x in items)

    return any(check(v) for v in values)


def _as_list(conditions):
    if conditions is None:
        return None
    return conditions if isinstance(conditions, list) else [conditions]


def check_filter(flt, point_id, payload):
    """Whether the point (its id in canonical form, its payload dict) satisfies filter flt."""
    if flt is None:
        return True
    should = _as_list(flt.get("should"))
    if should is not None and not any(check_condition(c, point_id, payload) for c in should):
        return False
    must = _as_list(flt.get("must"))
    if must is not None and not all(check_condition(c, point_id, payload) for c in must):
        return False
    must_not = _as_list(flt.get("must_not"))
    if must_not is not None and any(check_condition(c, point_id, payload) for c in must_not):
        return False
    min_should = flt.get("min_should")
    if min_should is not None:
        hits = sum(1 for c in min_should["conditions"] if check_condition(c, point_id, payload))
        if hits < min_should["min_count"]:
            return False
    return True


def check_condition(condition, point_id, payload):
    if "key" in condition:
        return _field_condition(condition, payload)
    if "is_empty" in condition:
        return all(v is None or (isinstance(v, list) and not v)
                   for v in values_at(payload, condition["is_empty"]["key"]))
    if "is_null" in condition:
        return any(v is None for v in values_at(payload, condition["is_null"]["key"]))
    if "has_id" in condition:
        return point_id in condition["has_id"]
    if "has_vector" in condition:
        return condition["has_vector"] == ""
    if "nested" in condition:
        nested = condition["nested"]
        return any(isinstance(obj, dict) and check_filter(nested["filter"], point_id, obj)
                   for obj in values_at(payload, nested["key"] + "[]"))
    if "slice" in condition:
        raise Unsupported("slice conditions are not implemented by the double")
    return check_filter(condition, point_id, payload)


def map_ids(flt, canonical):
    """A copy of filter flt whose has_id lists hold canonical ids (canonical(id) gives one), as sets,
    so that check_filter compares them with the stored ids."""
    if isinstance(flt, list):
        return [map_ids(x, canonical) for x in flt]
    if not isinstance(flt, dict):
        return flt
    out = {}
    for k, v in flt.items():
        if k == "has_id" and isinstance(v, list):
            out[k] = {canonical(x) for x in v}
        elif k in ("must", "should", "must_not", "filter", "nested", "min_should", "conditions"):
            out[k] = map_ids(v, canonical)
        else:
            out[k] = v
    return out


# --- payload selectors (with_payload) ------------------------------------------------------------

def _select(payload, key):
    """{path: value} restricted to one object path (arrays are taken whole)."""
    steps = [s[1] for s in parse_path(key) if s[0] == "key"]
    value = payload
    for step in steps:
        if not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    out = value
    for step in reversed(steps):
        out = {step: out}
    return out


def _merge(dest, src):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dest.get(k), dict):
            _merge(dest[k], v)
        else:
            dest[k] = v


def _drop(payload, key):
    steps = [s[1] for s in parse_path(key) if s[0] == "key"]
    value = payload
    for step in steps[:-1]:
        if not isinstance(value, dict) or step not in value:
            return
        value = value[step]
    if isinstance(value, dict):
        value.pop(steps[-1], None)


def select_payload(payload, with_payload):
    """The payload a read returns under with_payload (bool, list of keys, {include} or {exclude});
    None when none is returned."""
    if with_payload is None or with_payload is True:
        return payload
    if with_payload is False:
        return None
    if isinstance(with_payload, dict) and "exclude" in with_payload:
        out = copy.deepcopy(payload)
        for key in with_payload["exclude"]:
            _drop(out, key)
        return out
    keys = with_payload["include"] if isinstance(with_payload, dict) else with_payload
    out = {}
    for key in keys:
        part = _select(payload, key)
        if part is not None:
            _merge(out, part)
    return out
