"""Keys given to ``ctx.emit`` / ``ctx.loopback`` / ``ctx.lookup`` are ``str`` or bytes; any
other type is a ``TypeError`` naming it (issue 11, defect 4), in both twins alike."""
from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import goka
from goka import codec
from goka.errors import ProcessingError


class Sink:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes | None, Any]] = []

    def emit(self, topic: str, key: bytes, value: bytes | None, headers: Any) -> None:
        self.records.append((topic, key, value, headers))

    def defer(self) -> Callable[..., None]:
        return lambda exc=None: None


class Table:
    def get(self, key: bytes) -> bytes | None:
        return None

    def set(self, key: bytes, value: bytes | None) -> None:
        pass


class StrBytes(bytes):
    """A bytes subclass: accepted, passed on as plain bytes."""


class StrStr(str):
    """A str subclass: accepted, encoded as UTF-8."""


BAD_KEYS = [5, True, None, 1.5, ["k"], ("k",), {"k": 1}, object()]


def _dispatcher(dispatch: ModuleType, action: Callable[[Any], Any]) -> tuple[Any, Sink, list[Any]]:
    asked: list[Any] = []

    def lookup(key: Any) -> Any:
        asked.append(key)
        return None

    graph = goka.define_group(
        "g", goka.Input("in", codec.String(), lambda ctx, msg: action(ctx)),
        goka.Output("out", codec.String()), goka.Loop(codec.String(), lambda ctx, msg: None),
        goka.Lookup("devices", codec.String()))
    sink = Sink()
    return dispatch.Dispatcher(graph, 0, sink, table=Table(), lookups={"devices": lookup}), sink, asked


ACTIONS: dict[str, Callable[[Any, Any], Any]] = {
    "emit": lambda ctx, key: ctx.emit("out", key, "v"),
    "loopback": lambda ctx, key: ctx.loopback(key, "v"),
    "lookup": lambda ctx, key: ctx.lookup("devices", key),
}


@pytest.mark.parametrize("method", sorted(ACTIONS))
@pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: type(k).__name__)
def test_non_string_keys_are_type_errors(dispatch: ModuleType, method: str, key: Any) -> None:
    d, sink, asked = _dispatcher(dispatch, lambda ctx: ACTIONS[method](ctx, key))
    with pytest.raises(ProcessingError) as info:
        d.process("in", 3, b"k", b"m")
    cause = info.value.__cause__
    assert type(cause) is TypeError
    assert f"must be str or bytes, got {type(key).__name__}" in str(cause)
    assert sink.records == [] and asked == []  # nothing mangled reached the sink or the table
    assert "offset=3" in str(info.value)


@pytest.mark.parametrize("method", sorted(ACTIONS))
def test_str_and_bytes_keys_and_their_subclasses(dispatch: ModuleType, method: str) -> None:
    keys = ["plain", StrStr("sub-str"), b"raw", StrBytes(b"sub-bytes")]

    def action(ctx: Any) -> None:
        for key in keys:
            ACTIONS[method](ctx, key)

    d, sink, asked = _dispatcher(dispatch, action)
    d.process("in", 0, b"k", b"m")
    if method == "lookup":
        assert asked == keys  # handed to the table's getter (a View), which encodes it
    else:
        got = [key for _, key, _, _ in sink.records]
        assert got == [b"plain", b"sub-str", b"raw", b"sub-bytes"]
        assert all(type(k) is bytes for k in got)


def test_twins_raise_the_same_message(dispatch_c: ModuleType) -> None:
    from goka._core import _dispatch_py

    messages = []
    for module in (_dispatch_py, dispatch_c):
        for method in sorted(ACTIONS):
            d, _, _ = _dispatcher(module, lambda ctx, m=method: ACTIONS[m](ctx, 7))
            with pytest.raises(ProcessingError) as info:
                d.process("in", 0, b"k", b"m")
            messages.append(str(info.value.__cause__))
    assert messages[:3] == messages[3:]
