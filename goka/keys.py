"""Message keys: ``str`` (encoded as UTF-8) or bytes, nothing else.

Every public entry point that takes a key (``Emitter.emit``, ``Processor.get``,
``View.get``/``has``/``items``, the tester, ``ctx.lookup``) turns it into bytes here, so
that a wrong type is a ``TypeError`` naming it instead of a silently mangled key (``bytes(5)``
is five zero bytes). Callers keep the ``str`` case inline (``type(key) is str``) and come
here for everything else.
"""
from __future__ import annotations

__all__ = ["key_bytes"]


def key_bytes(key: str | bytes, what: str = "key") -> bytes:
    """``key`` as bytes: a ``str`` (subclasses too) encoded as UTF-8 (lone surrogates kept),
    ``bytes``, ``bytearray`` or ``memoryview`` copied as plain ``bytes``.

    Parameters
    ----------
    key : str, bytes, bytearray or memoryview
        The key.
    what : str
        How the error message names the argument (e.g. ``"View.get key"``).

    Raises
    ------
    TypeError
        For any other type, including ``int`` and ``bool``.
    """
    if isinstance(key, str):
        return key.encode("utf-8", "surrogateescape")
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    raise TypeError(f"{what} must be str or bytes, got {type(key).__name__} ({key!r:.40})")
