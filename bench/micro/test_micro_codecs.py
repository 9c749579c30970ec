"""``goka.codec`` codecs: encode then decode 1,000 values per round.

The codecs are plain Python (``Json``/``MsgPack`` call msgspec), so there are no twins:
one variant each, in one group. ``Json``/``MsgPack`` carry a typed ``msgspec.Struct``,
decoded and validated against its type, as a typical goka value codec does.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from goka import codec

N = 1_000


class Click(msgspec.Struct):
    """A typical event value."""

    user: str
    page: str
    timestamp: int


def _values(name: str) -> list[Any]:
    rnd = random.Random(42)
    if name == "String":
        return [f"/products/{rnd.randrange(10**6)}?ref=home" for _ in range(N)]
    if name == "Int64":
        return [rnd.randrange(10**6) for _ in range(N)]
    return [Click(f"user-{rnd.randrange(10**7)}", f"/products/{rnd.randrange(10**6)}",
                  1_700_000_000_000 + i) for i in range(N)]


CODECS: dict[str, Any] = {
    "String": codec.String(),
    "Int64": codec.Int64(),
    "Json": codec.Json(type=Click),
    "MsgPack": codec.MsgPack(type=Click),
}


@pytest.mark.parametrize("name", list(CODECS))
def test_codec(bench: Callable[..., Any], name: str) -> None:
    """One round: ``decode(encode(value))`` for each of 1,000 values."""
    c, values = CODECS[name], _values(name)
    out = bench("codec encode+decode", N, lambda: list(map(c.decode, map(c.encode, values))))
    assert out == values
