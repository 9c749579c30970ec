"""goka.codec: exact bytes, round trips, errors, equality."""
from __future__ import annotations

import enum
import pickle
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from goka import codec
from goka.codec import Bytes, Codec, Int64, Json, MsgPack, String
from goka.errors import CodecError

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


class User(msgspec.Struct):
    name: str
    age: int


def raises_codec_error(c: object, match: str | None = None) -> Any:
    """``pytest.raises(CodecError)`` whose message starts with the codec's class name."""
    return pytest.raises(CodecError, match=rf"(?s)^{type(c).__name__}: .*" + (match or ""))


# --- Bytes -----------------------------------------------------------------------------


def test_bytes_exact() -> None:
    c = Bytes()
    value = b"\x00\xffabc"
    assert c.encode(value) is value
    assert c.decode(value) is value
    assert c.decode(b"") == b""
    assert c.decode(None) is None


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_bytes_encode_buffers(wrap: type) -> None:
    out = Bytes().encode(wrap(b"xyz"))
    assert type(out) is bytes and out == b"xyz"


@pytest.mark.parametrize("value", ["text", 1, None, [1]])
def test_bytes_encode_rejects(value: object) -> None:
    c = Bytes()
    with raises_codec_error(c, "cannot encode") as info:
        c.encode(value)  # type: ignore[arg-type]
    assert info.value.codec is c


@given(st.binary())
def test_bytes_round_trip(value: bytes) -> None:
    assert Bytes().decode(Bytes().encode(value)) == value


# --- String ----------------------------------------------------------------------------


def test_string_exact() -> None:
    c = String()
    assert c.encode("héllo") == b"h\xc3\xa9llo"
    assert c.encode("") == b""
    assert c.decode(b"h\xc3\xa9llo") == "héllo"
    assert c.decode(b"") == ""
    assert c.decode(None) == ""


@pytest.mark.parametrize("value", [b"bytes", 1, None])
def test_string_encode_rejects(value: object) -> None:
    c = String()
    with raises_codec_error(c, "cannot encode"):
        c.encode(value)  # type: ignore[arg-type]


def test_string_encode_surrogate() -> None:
    c = String()
    with raises_codec_error(c) as info:
        c.encode("\ud800")
    assert isinstance(info.value.__cause__, UnicodeEncodeError)


def test_string_decode_invalid_utf8() -> None:
    c = String()
    with raises_codec_error(c, "invalid UTF-8") as info:
        c.decode(b"\xff")
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


def test_string_decode_non_bytes() -> None:
    c = String()
    with raises_codec_error(c, "cannot decode int"):
        c.decode(5)  # type: ignore[arg-type]


@given(st.text())
def test_string_round_trip(value: str) -> None:
    c = String()
    assert c.decode(c.encode(value)) == value


# --- Int64 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "data"),
    [
        (42, b"42"),
        (-7, b"-7"),
        (0, b"0"),
        (INT64_MAX, b"9223372036854775807"),
        (INT64_MIN, b"-9223372036854775808"),
    ],
)
def test_int64_exact(value: int, data: bytes) -> None:
    assert Int64().encode(value) == data
    assert Int64().decode(data) == value


def test_int64_int_subclass() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    assert Int64().encode(Level.HIGH) == b"3"


@pytest.mark.parametrize(("data", "value"), [(b"+5", 5), (b"007", 7), (b"-0", 0)])
def test_int64_decode_like_go_parseint(data: bytes, value: int) -> None:
    assert Int64().decode(data) == value


@pytest.mark.parametrize("value", [True, False, 1.0, "1", b"1", None])
def test_int64_encode_rejects_type(value: object) -> None:
    c = Int64()
    with raises_codec_error(c, "cannot encode"):
        c.encode(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [INT64_MAX + 1, INT64_MIN - 1, 1 << 100])
def test_int64_encode_rejects_range(value: int) -> None:
    c = Int64()
    with raises_codec_error(c, "out of int64 range"):
        c.encode(value)


@pytest.mark.parametrize(
    "data",
    [
        None,
        b"",
        b" 1",
        b"1 ",
        b"\n1",
        b"1_000",
        b"0x10",
        b"1.5",
        b"1e3",
        b"abc",
        b"+",
        b"-",
        b"9223372036854775808",
        b"-9223372036854775809",
        b"9" * 5000,
    ],
)
def test_int64_decode_rejects(data: bytes | None) -> None:
    c = Int64()
    with raises_codec_error(c, "not an int64"):
        c.decode(data)


@given(st.integers(min_value=INT64_MIN, max_value=INT64_MAX))
def test_int64_round_trip(value: int) -> None:
    c = Int64()
    data = c.encode(value)
    assert data == str(value).encode("ascii")
    assert c.decode(data) == value


# --- Json / MsgPack --------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=INT64_MIN, max_value=INT64_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=INT64_MIN, max_value=INT64_MAX)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def test_json_exact() -> None:
    c = Json()
    assert c.encode({"a": [1, "x", None, True]}) == b'{"a":[1,"x",null,true]}'
    assert c.decode(b'{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    assert Json(type=User).encode(User("ann", 3)) == b'{"name":"ann","age":3}'


def test_msgpack_exact() -> None:
    c = MsgPack()
    assert c.encode({"a": 1}) == b"\x81\xa1a\x01"
    assert c.decode(b"\x81\xa1a\x01") == {"a": 1}
    assert MsgPack(type=User).encode(User("a", 1)) == b"\x82\xa4name\xa1a\xa3age\x01"


@given(json_values)
def test_json_round_trip(value: Any) -> None:
    c = Json()
    assert c.decode(c.encode(value)) == value


@given(msgpack_values)
def test_msgpack_round_trip(value: Any) -> None:
    c = MsgPack()
    assert c.decode(c.encode(value)) == value


@pytest.mark.parametrize("cls", [Json, MsgPack])
@given(name=st.text(), age=st.integers(min_value=INT64_MIN, max_value=INT64_MAX))
def test_struct_round_trip(cls: type, name: str, age: int) -> None:
    c = cls(type=User)
    assert c.decode(c.encode(User(name, age))) == User(name, age)


@pytest.mark.parametrize(
    ("cls", "dump"), [(Json, msgspec.json.encode), (MsgPack, msgspec.msgpack.encode)]
)
@pytest.mark.parametrize("bad", [{"name": "a"}, {"name": "a", "age": "x"}, [1, 2], "user"])
def test_struct_validation(cls: type, dump: Any, bad: object) -> None:
    c = cls(type=User)
    with raises_codec_error(c, "cannot decode") as info:
        c.decode(dump(bad))
    assert isinstance(info.value.__cause__, msgspec.ValidationError)


def test_typed_decode_converts() -> None:
    assert Json(type=list[int]).decode(b"[1,2]") == [1, 2]
    with raises_codec_error(Json(type=list[int])):
        Json(type=list[int]).decode(b'[1,"2"]')


@pytest.mark.parametrize("c", [Json(), MsgPack(), Json(type=User), MsgPack(type=User)])
@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x92\x01", b"\xff\xfe"])
def test_msgspec_decode_malformed(c: Codec[Any], data: bytes) -> None:
    with raises_codec_error(c, "cannot decode") as info:
        c.decode(data)
    assert isinstance(info.value.__cause__, msgspec.DecodeError)


@pytest.mark.parametrize("c", [Json(), MsgPack(), Json(type=User), MsgPack(type=User)])
def test_msgspec_decode_none(c: Codec[Any]) -> None:
    with raises_codec_error(c, "cannot decode a null value"):
        c.decode(None)


@pytest.mark.parametrize("c", [Json(), MsgPack()])
@pytest.mark.parametrize("value", [object(), 1j, {object(): 1}])
def test_msgspec_encode_rejects(c: Codec[Any], value: object) -> None:
    with raises_codec_error(c, "cannot encode") as info:
        c.encode(value)
    assert isinstance(info.value.__cause__, TypeError)


def test_msgpack_encode_overflow() -> None:
    c = MsgPack()
    with raises_codec_error(c, "cannot encode int") as info:
        c.encode(1 << 70)
    assert isinstance(info.value.__cause__, OverflowError)


# --- errors, equality, protocol --------------------------------------------------------


def test_error_is_locatable() -> None:
    c = Int64()
    with pytest.raises(CodecError) as info:
        c.decode(b"x")
    located = info.value.located(topic="t", partition=1, offset=2, key="k", group="g")
    assert located.codec is c
    assert located.__cause__ is info.value.__cause__
    assert str(located).startswith("Int64: not an int64")
    assert "topic='t'" in str(located) and "offset=2" in str(located)


def test_equality() -> None:
    assert String() == String() and hash(String()) == hash(String())
    assert Bytes() != String()
    assert Int64() != Bytes()
    assert Json() == Json()
    assert Json(type=User) == Json(type=User)
    assert hash(Json(type=User)) == hash(Json(type=User))
    assert Json(type=list[int]) == Json(type=list[int])
    assert Json() != Json(type=User)
    assert Json() != MsgPack()
    assert MsgPack(type=User) != Json(type=User)
    assert String() != "String()"
    assert len({String(), String(), Json(), Json(), Json(type=User), MsgPack()}) == 4


def test_repr() -> None:
    assert repr(String()) == "String()"
    assert repr(Int64()) == "Int64()"
    assert repr(Json()) == "Json()"
    assert repr(Json(type=User)) == "Json(type=User)"
    assert repr(MsgPack(type=list[int])) == "MsgPack(type=list[int])"


def test_type_property() -> None:
    assert Json().type is None
    assert MsgPack(type=User).type is User


@pytest.mark.parametrize(
    ("c", "sample"),
    [
        (Bytes(), b"x"),
        (String(), "x"),
        (Int64(), 1),
        (Json(), [1]),
        (Json(type=list[int]), [1]),
        (MsgPack(type=dict), {"a": 1}),
    ],
)
def test_pickle(c: Codec[Any], sample: Any) -> None:
    clone = pickle.loads(pickle.dumps(c))
    assert clone == c
    assert clone.decode(clone.encode(sample)) == sample


def test_protocol() -> None:
    class Custom:
        def encode(self, value: int) -> bytes:
            return bytes([value])

        def decode(self, data: bytes | None) -> int:
            return data[0] if data else 0

    for c in (Bytes(), String(), Int64(), Json(), MsgPack(), Custom()):
        assert isinstance(c, Codec)
    assert not isinstance(object(), Codec)


def test_module_exports() -> None:
    assert sorted(codec.__all__) == ["Bytes", "Codec", "Int64", "Json", "MsgPack", "String"]


# -- NaN and infinity (issue 11, defect 8) -------------------------------------------------

NON_FINITE = [float("nan"), float("inf"), float("-inf")]


class Reading(msgspec.Struct):
    sensor: str
    values: list[float]
    extra: dict[str, float] | None = None


@pytest.mark.parametrize("bad", NON_FINITE, ids=repr)
@pytest.mark.parametrize(
    ("make", "where"),
    [
        (lambda x: x, "value is"),
        (lambda x: [1.0, None, x], r"value\[2\] is"),
        (lambda x: {"a": {"b": [x]}}, r"value\['a'\]\['b'\]\[0\] is"),
        (lambda x: ("t", x), r"value\[1\] is"),
        (lambda x: Reading("s", [0.5, x]), r"value\['values'\]\[1\] is"),
        (lambda x: Reading("s", [], {"k": x}), r"value\['extra'\]\['k'\] is"),
    ],
    ids=["top", "list", "nested-dict", "tuple", "struct", "struct-dict"],
)
def test_json_refuses_non_finite_floats(bad: float, make: Any, where: str) -> None:
    c = Json()
    with raises_codec_error(c, where + " NaN or infinite, which JSON cannot represent"):
        c.encode(make(bad))
    typed = Json(Reading)
    if isinstance(make(bad), Reading):
        with raises_codec_error(typed, where):
            typed.encode(make(bad))


def test_json_null_and_the_text_null_still_encode() -> None:
    c = Json()
    value = {"a": None, "b": "null", "c": [1.5, None], "nullable": 2.0}
    assert c.encode(value) == b'{"a":null,"b":"null","c":[1.5,null],"nullable":2.0}'
    assert c.decode(c.encode(value)) == value
    assert c.encode(Reading("s", [1e308, -0.0])) == b'{"sensor":"s","values":[1e308,-0.0],"extra":null}'


def test_json_allow_nan_writes_null() -> None:
    c = Json(allow_nan=True)
    assert c.allow_nan and not Json().allow_nan
    assert c.encode([float("nan"), float("inf"), -float("inf"), 1.0]) == b"[null,null,null,1.0]"
    assert c.decode(c.encode({"x": float("nan")})) == {"x": None}
    typed = Json(Reading, allow_nan=True)
    data = typed.encode(Reading("s", [float("nan")]))
    assert data == b'{"sensor":"s","values":[null],"extra":null}'
    with raises_codec_error(typed, "Expected `float`, got `null`"):
        typed.decode(data)  # a float field cannot hold null: documented


def test_json_allow_nan_equality_repr_pickle() -> None:
    assert Json(allow_nan=True) == Json(allow_nan=True) != Json()
    assert hash(Json(Reading, allow_nan=True)) == hash(Json(Reading, allow_nan=True))
    assert repr(Json(allow_nan=True)) == "Json(allow_nan=True)"
    assert repr(Json(Reading, allow_nan=True)) == "Json(type=Reading, allow_nan=True)"
    assert repr(Json(Reading)) == "Json(type=Reading)"
    for c in (Json(allow_nan=True), Json(Reading, allow_nan=True), Json()):
        copy = pickle.loads(pickle.dumps(c))
        assert copy == c and copy.allow_nan == c.allow_nan


def test_msgpack_keeps_non_finite_floats() -> None:
    c = MsgPack()
    out = c.decode(c.encode([float("nan"), float("inf"), float("-inf")]))
    assert out[0] != out[0] and out[1:] == [float("inf"), float("-inf")]
    typed = MsgPack(Reading)
    back = typed.decode(typed.encode(Reading("s", [float("inf")], {"k": float("-inf")})))
    assert back == Reading("s", [float("inf")], {"k": float("-inf")})
