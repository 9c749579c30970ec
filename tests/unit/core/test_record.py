"""The outbox record of ``goka._core.produce``, both twins: a dict in the pure twin, a
small mapping with the same entries (``Record``) in the compiled one. Whatever reads an
outbox record (the processor's producer, ProduceError, dead letters, the tests' fake
producers) sees the same entries through the same operations."""
from __future__ import annotations

from types import ModuleType

import pytest

from goka.runtime.processor import _as_dict


def test_entries_as_a_dict(produce: ModuleType) -> None:
    r = produce.Record(key=b"k", value=b"v", offset=7)
    assert r["key"] == b"k" and r["value"] == b"v" and r["offset"] == 7
    assert "headers" not in r and "callback" not in r and "key" in r
    assert r.get("topic") is None and r.get("topic", "t") == "t"
    with pytest.raises(KeyError):
        r["headers"]
    r["topic"] = None  # present, and None
    assert "topic" in r and r.get("topic", "t") is None
    r["headers"] = [("h", b"1")]
    r["_error"] = -184
    assert dict(r) == {"key": b"k", "value": b"v", "offset": 7, "topic": None, "headers": [("h", b"1")],
                       "_error": -184}
    assert sorted(r.items()) == sorted(dict(r).items()) and len(r) == 6 and set(r) == set(dict(r))
    assert r.pop("_error") == -184 and r.pop("_error", None) is None
    del r["topic"]
    assert r == {"key": b"k", "value": b"v", "offset": 7, "headers": [("h", b"1")]}
    assert {"key": b"k", "value": b"v", "offset": 7, "headers": [("h", b"1")]} == r
    assert r != {"key": b"k", "value": b"v", "offset": 7}
    assert eval(repr(r)) == dict(r)  # noqa: S307 (a dict's repr)
    out = _as_dict(r)
    assert type(out) is dict and out == dict(r)
    assert _as_dict(None) is None


def test_compiled_record_refuses_other_entries(produce: ModuleType) -> None:
    r = produce.Record(key=b"k", value=None, offset=-1)
    if produce.Record is dict:
        return  # the twin's dict takes anything: nothing to refuse
    with pytest.raises(KeyError, match="no entry 'other'"):
        r["other"] = 1
    with pytest.raises(KeyError, match="no entry 'callback'"):
        r["callback"] = print  # a record with a delivery callback is a dict (Records stay out of the GC)
    with pytest.raises(KeyError, match="always has 'key'"):
        r.pop("key", None)
    assert r.get("other") is None and "other" not in r
    with pytest.raises(TypeError):
        hash(r)


def test_headerless(produce: ModuleType) -> None:
    """``headerless(records)``: no record of the list has a ``headers`` entry (even None),
    for the twin's records and for dicts alike; the processor then hands the list over as
    one run."""
    plain = [produce.Record(key=b"k%d" % i, value=b"v", offset=i) for i in range(3)]
    assert produce.headerless([]) and produce.headerless(plain)
    assert produce.headerless(plain + [{"key": b"d", "value": None, "offset": -1, "callback": print}])
    assert not produce.headerless(plain + [{"key": b"d", "value": b"v", "offset": -1, "headers": None}])
    with_headers = produce.Record(key=b"h", value=b"v", offset=9)
    with_headers["headers"] = []  # present, even empty
    assert not produce.headerless([with_headers] + plain)
    assert not produce.headerless(plain[:1] + [with_headers] + plain[1:])
    del with_headers["headers"]
    assert produce.headerless([with_headers] + plain)
