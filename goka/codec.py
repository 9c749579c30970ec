"""Codecs: turn message and table values into bytes and back.

A codec is any object with ``encode(value) -> bytes`` and ``decode(data) -> value``
(the :class:`Codec` protocol). ``decode(None)`` is how a null value (tombstone) is
passed when a processor decodes nils (``NilHandling.DECODE``).

Built in, wire-compatible with Go Goka's ``codec`` package where it has one:

- :class:`Bytes` — raw bytes, passed through (``None`` stays ``None``);
- :class:`String` — UTF-8 text (``None`` decodes to ``""``);
- :class:`Int64` — a signed 64-bit integer as ASCII decimal text (``42`` ⇄ ``b"42"``);
- :class:`Json` and :class:`MsgPack` — msgspec-encoded values, optionally decoded
  into and validated against a type (a ``msgspec.Struct``, a dataclass, ``list[int]``...).

Every failure raises :class:`goka.errors.CodecError` naming the codec, with the
original exception as ``__cause__``. Codecs compare equal when they are of the same
class and decode to the same type.
"""
from __future__ import annotations

import math
from typing import Any, Generic, Protocol, TypeVar, overload, runtime_checkable

import msgspec

from goka.errors import CodecError

__all__ = ["Codec", "Bytes", "String", "Int64", "Json", "MsgPack"]

T = TypeVar("T")

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_SIGNS = (ord("-"), ord("+"))


@runtime_checkable
class Codec(Protocol[T]):
    """What goka needs from a codec."""

    def encode(self, value: T) -> bytes:
        """Serialize ``value``; raise ``CodecError`` if it cannot be encoded.

        Parameters
        ----------
        value : any
            The value to encode (of the codec's type).
        """
        ...

    def decode(self, data: bytes | None) -> T:
        """Deserialize ``data`` (``None`` for a null value); raise ``CodecError`` on bad input.

        Parameters
        ----------
        data : bytes or None
            The encoded value; ``None`` for a null value (a tombstone).
        """
        ...


class _Base:
    """Equality, hashing, repr and pickling by class (and decode type, if any)."""

    __slots__ = ()

    def _key(self) -> Any:
        return None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Base) or type(other) is not type(self):
            return NotImplemented
        return bool(self._key() == other._key())

    def __hash__(self) -> int:
        return hash((type(self), self._key()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), ())


def _not_int64(data: object) -> str:
    return f"not an int64 in decimal text: {data!r:.40}"


def _type_name(t: object) -> str:
    return t.__qualname__ if isinstance(t, type) else repr(t)


class Bytes(_Base):
    """Raw bytes, as Go Goka's ``codec.Bytes``.

    Encode accepts ``bytes``, ``bytearray`` or ``memoryview``; decode returns ``data``
    unchanged (``None`` stays ``None``).
    """

    __slots__ = ()

    def encode(self, value: bytes | bytearray | memoryview) -> bytes:
        """``value`` as ``bytes``; ``CodecError`` for other types.

        Parameters
        ----------
        value : bytes, bytearray or memoryview
            The value.
        """
        if type(value) is bytes:
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise CodecError(f"cannot encode {type(value).__name__}, want bytes", codec=self)

    def decode(self, data: bytes | None) -> bytes | None:
        """``data`` unchanged.

        Parameters
        ----------
        data : bytes or None
            The encoded value (``None`` for a null value).
        """
        return data


class String(_Base):
    """UTF-8 text. Encode requires ``str``; ``decode(None)`` is ``""``."""

    __slots__ = ()

    def encode(self, value: str) -> bytes:
        """``value`` as UTF-8; ``CodecError`` if it is not a ``str``.

        Parameters
        ----------
        value : str
            The text.
        """
        if isinstance(value, str):
            try:
                return value.encode()
            except UnicodeEncodeError as exc:
                raise CodecError(f"cannot encode str as UTF-8: {exc}", codec=self) from exc
        raise CodecError(f"cannot encode {type(value).__name__}, want str", codec=self)

    def decode(self, data: bytes | None) -> str:
        """``data`` as UTF-8 text (``None``: ``""``); ``CodecError`` if invalid.

        Parameters
        ----------
        data : bytes or None
            The encoded value (``None`` for a null value).
        """
        try:
            return data.decode()  # type: ignore[union-attr]
        except AttributeError as exc:
            if data is None:
                return ""
            reason = f"cannot decode {type(data).__name__}, want bytes"
            raise CodecError(reason, codec=self) from exc
        except UnicodeDecodeError as exc:
            raise CodecError(f"invalid UTF-8: {exc}", codec=self) from exc


class Int64(_Base):
    """A signed 64-bit integer as ASCII decimal text, as Go Goka's ``codec.Int64``.

    ``42`` ⇄ ``b"42"``, ``-7`` ⇄ ``b"-7"``. Decoding accepts what Go's
    ``strconv.ParseInt(s, 10, 64)`` accepts (an optional sign, then digits); empty,
    ``None``, non-decimal or out-of-range data raises ``CodecError``.
    """

    __slots__ = ()

    def encode(self, value: int) -> bytes:
        """``value`` as decimal text; ``CodecError`` if not an int in int64 range.

        Parameters
        ----------
        value : int
            The number.
        """
        if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
            return b"%d" % value
        if isinstance(value, bool) or not isinstance(value, int):
            raise CodecError(f"cannot encode {type(value).__name__}, want int", codec=self)
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise CodecError(f"{int(value)} is out of int64 range", codec=self)
        return b"%d" % int(value)

    def decode(self, data: bytes | None) -> int:
        """The int of decimal text ``data``; ``CodecError`` if it is not one.

        Parameters
        ----------
        data : bytes or None
            The encoded value (``None`` raises ``CodecError``).
        """
        if data is not None:
            try:
                # digits after an optional sign; int() alone would also take spaces and "_"
                if data.isdigit() or (data[1:].isdigit() and data[0] in _SIGNS):
                    value = int(data)
                    if _INT64_MIN <= value <= _INT64_MAX:
                        return value
            except (AttributeError, TypeError, ValueError) as exc:  # not bytes; > 4300 digits
                raise CodecError(_not_int64(data), codec=self) from exc
        raise CodecError(_not_int64(data), codec=self)


class _Msgspec(_Base, Generic[T]):
    """Shared body of the msgspec codecs: a cached encoder and decoder per instance."""

    __slots__ = ("_type", "_encoder", "_decoder")
    _format = ""

    _type: Any
    _encoder: Any
    _decoder: Any

    def _key(self) -> Any:
        return self._type

    @property
    def type(self) -> Any:
        """The type decoded values are validated against (``None``: any value)."""
        return self._type

    def __repr__(self) -> str:
        if self._type is None:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(type={_type_name(self._type)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._type,))

    def encode(self, value: T) -> bytes:
        try:
            return self._encoder.encode(value)  # type: ignore[no-any-return]
        except (TypeError, ValueError, OverflowError) as exc:
            raise self._encode_error(value, exc) from exc

    def _encode_error(self, value: object, exc: Exception) -> CodecError:
        return CodecError(f"cannot encode {type(value).__name__} as {self._format}: {exc}", codec=self)

    def decode(self, data: bytes | None) -> T:
        try:
            return self._decoder.decode(data)  # type: ignore[no-any-return]
        except (TypeError, ValueError) as exc:
            if data is None:
                reason = f"cannot decode a null value as {self._format}"
            else:
                reason = f"cannot decode {self._format}: {exc}"
            raise CodecError(reason, codec=self) from exc


def _non_finite(value: Any, path: str = "value") -> str | None:
    """Where in ``value`` (builtins only, as ``msgspec.to_builtins`` returns) a NaN or
    infinite float is, e.g. ``value['a'][2]``; ``None`` if nowhere."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        for k, v in value.items():
            found = _non_finite(v, f"{path}[{k!r}]")
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _non_finite(v, f"{path}[{i}]")
            if found is not None:
                return found
    return None


class Json(_Msgspec[T]):
    """JSON via msgspec; ``type`` (optional) validates and converts decoded values.

    ``Json()`` decodes to plain ``dict``/``list``/``str``/``int``/...;
    ``Json(type=User)`` decodes to ``User`` (a ``msgspec.Struct``, dataclass, ...)
    and raises ``CodecError`` when the data does not match.

    JSON has no NaN or infinity: encoding a value holding one (at any depth, in lists,
    dicts, Structs, dataclasses...) raises ``CodecError``, as Go's ``encoding/json``
    does. ``Json(allow_nan=True)`` writes them as ``null`` instead (msgspec's behaviour;
    they decode as ``None``, so a typed ``float`` field then fails to decode).

    Parameters
    ----------
    type : type, optional
        What decoded values are validated against and converted to (a
        ``msgspec.Struct``, dataclass, ``TypedDict``, ``int``, ``list[str]``, ...);
        ``None`` (default): any JSON value, as dicts, lists, str, int, float, bool, None.
    allow_nan : bool
        Write NaN and ±infinity as ``null`` instead of raising ``CodecError``.
    """

    __slots__ = ("_allow_nan",)
    _format = "JSON"

    _allow_nan: bool

    @overload
    def __init__(self: Json[Any], type: None = None, *, allow_nan: bool = False) -> None: ...
    @overload
    def __init__(self: Json[T], type: type[T], *, allow_nan: bool = False) -> None: ...
    @overload
    def __init__(self: Json[Any], type: Any, *, allow_nan: bool = False) -> None: ...

    def __init__(self, type: Any = None, *, allow_nan: bool = False) -> None:
        self._type = type
        self._allow_nan = bool(allow_nan)
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder() if type is None else msgspec.json.Decoder(type)

    @property
    def allow_nan(self) -> bool:
        """Whether NaN and ±infinity are written as ``null`` (else refused)."""
        return self._allow_nan

    def encode(self, value: T) -> bytes:
        """``value`` as JSON; ``CodecError`` if it cannot be encoded (or holds NaN or
        infinity, unless ``allow_nan``).

        Parameters
        ----------
        value : any
            The value to encode.
        """
        try:
            data: bytes = self._encoder.encode(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise self._encode_error(value, exc) from exc
        # msgspec writes a non-finite float as null: only output holding "null" can hide one
        # (108 is "l": a memchr, cheaper than the substring search it mostly spares)
        if not self._allow_nan and 108 in data and data.find(b"null") >= 0:
            self._check_finite(value)
        return data

    def _check_finite(self, value: Any) -> None:
        try:
            where = _non_finite(msgspec.to_builtins(value))
        except (TypeError, ValueError) as exc:  # encoded above, so not expected
            raise CodecError(f"cannot check {type(value).__name__} for NaN: {exc}", codec=self) from exc
        if where is not None:
            raise CodecError(f"cannot encode {type(value).__name__} as JSON: {where} is NaN or infinite, "
                             "which JSON cannot represent (Json(allow_nan=True) writes null)", codec=self)

    def _key(self) -> Any:
        return (self._type, self._allow_nan)

    def __repr__(self) -> str:
        text = super().__repr__()
        return text[:-1] + (", " if self._type is not None else "") + "allow_nan=True)" if self._allow_nan else text

    def __reduce__(self) -> tuple[Any, ...]:
        return (_json, (self._type, self._allow_nan))


def _json(type: Any, allow_nan: bool) -> Json[Any]:
    """Unpickles a :class:`Json` (``__reduce__`` cannot pass keyword arguments)."""
    return Json(type, allow_nan=allow_nan)


class MsgPack(_Msgspec[T]):
    """MessagePack via msgspec; ``type`` (optional) validates and converts decoded values.

    Parameters
    ----------
    type : type, optional
        What decoded values are validated against and converted to (a
        ``msgspec.Struct``, dataclass, ``TypedDict``, ``int``, ...); ``None`` (default):
        any MessagePack value.
    """

    __slots__ = ()
    _format = "MessagePack"

    @overload
    def __init__(self: MsgPack[Any], type: None = None) -> None: ...
    @overload
    def __init__(self: MsgPack[T], type: type[T]) -> None: ...
    @overload
    def __init__(self: MsgPack[Any], type: Any) -> None: ...

    def __init__(self, type: Any = None) -> None:
        self._type = type
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = (
            msgspec.msgpack.Decoder() if type is None else msgspec.msgpack.Decoder(type)
        )
