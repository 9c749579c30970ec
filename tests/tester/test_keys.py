"""Keys at the tester's and faces' public entry points are ``str`` or bytes; anything else is
a ``TypeError`` naming the type, never a mangled key (issue 11, defect 4: ``bytes(5)`` is
five zero bytes)."""
from __future__ import annotations

from typing import Any

import pytest

import goka
from goka import codec
from goka.tester import Tester

BAD_KEYS = [5, 0, True, None, 2.5, ["k"]]
ids = [f"{type(k).__name__}-{k!r}" for k in BAD_KEYS]


class BytesKey(bytes):
    pass


def counting_group() -> goka.GroupGraph:
    def count(ctx: Any, msg: Any) -> None:
        ctx.set_value((ctx.value() or 0) + 1)
        ctx.emit("out", ctx.key, msg)

    return goka.define_group("g", goka.Input("in", codec.Int64(), count), goka.Output("out", codec.Int64()),
                             goka.Persist(codec.Int64()))


@pytest.mark.parametrize("key", BAD_KEYS, ids=ids)
def test_emitter_refuses_non_string_keys(key: Any) -> None:
    tt = Tester()
    goka.Processor(tt, counting_group())
    out = tt.queue_tracker("out")
    with goka.Emitter(tt, "in", codec.Int64()) as emitter:
        with pytest.raises(TypeError, match=f"emit key must be str or bytes, got {type(key).__name__}"):
            emitter.emit(key, 1)
        with pytest.raises(TypeError, match=type(key).__name__):
            emitter.emit_sync(key, 1)
    assert tt.get_table_keys("g-table") == [] and out.hwm() == 0  # nothing was written


@pytest.mark.parametrize("key", BAD_KEYS, ids=ids)
def test_tester_refuses_non_string_keys(key: Any) -> None:
    tt = Tester()
    proc = goka.Processor(tt, counting_group())
    view = goka.View(tt, "g-table", codec.Int64())
    name = type(key).__name__
    for call in (lambda: tt.consume("in", key, 1), lambda: tt.consume_raw("in", key, b"1"),
                 lambda: tt.table_value("g-table", key), lambda: tt.set_table_value("g-table", key, 1),
                 lambda: proc.get(key), lambda: view.get(key), lambda: view.has(key)):
        with pytest.raises(TypeError, match=f"must be str or bytes, got {name}"):
            call()
    assert tt.get_table_keys("g-table") == []


def test_str_and_bytes_keys_address_the_same_record() -> None:
    tt = Tester()
    proc = goka.Processor(tt, counting_group())
    view = goka.View(tt, "g-table", codec.Int64())
    with goka.Emitter(tt, "in", codec.Int64()) as emitter:
        emitter.emit("user", 1)
        emitter.emit(b"user", 1)
        emitter.emit(BytesKey(b"user"), 1)
        emitter.emit(bytearray(b"user"), 1)
    tt.consume("in", b"user", 1)
    assert proc.get("user") == proc.get(b"user") == view.get(BytesKey(b"user")) == 5
    assert tt.table_value("g-table", b"user") == 5 and view.has(b"user")
    assert tt.get_table_keys("g-table") == ["user"]


def test_lookup_with_a_non_string_key_fails_the_processor() -> None:
    tt = Tester()
    tt_view_codec = codec.String()

    def enrich(ctx: Any, msg: Any) -> None:
        ctx.emit("out", ctx.key, str(ctx.lookup("devices", msg)))

    goka.Processor(tt, goka.define_group("g", goka.Input("in", codec.Int64(), enrich),
                                         goka.Lookup("devices", tt_view_codec),
                                         goka.Output("out", codec.String())))
    tt.set_table_value("devices", "5", "phone")
    with pytest.raises(goka.ProcessingError) as info:
        tt.consume("in", "k", 5)  # msg is the int 5: ctx.lookup("devices", 5)
    assert type(info.value.__cause__) is TypeError and "got int" in str(info.value.__cause__)
