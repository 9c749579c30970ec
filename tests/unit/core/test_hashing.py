"""Hashers of ``goka._core.hashing``, both twins: published vectors, oracles, differential."""
from __future__ import annotations

import zlib
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goka._core import _hashing_py

try:
    import confluent_kafka as _ck
except ImportError:  # pragma: no cover - confluent-kafka is a dependency
    _ck = None

INT32_MAX = (1 << 31) - 1
partition_counts = st.integers(min_value=1, max_value=INT32_MAX)
keys = st.binary(max_size=80)


def int32(h: int) -> int:
    """Reinterpret an unsigned 32-bit value as int32."""
    return h - (1 << 32) if h & 0x80000000 else h


def go_hash_partition(h: int, n: int) -> int:
    """sarama's hash partitioner, spelled as Go computes it (truncating %, then negate)."""
    s = int32(h)
    q = -((-s) // n) if s < 0 else s // n  # Go's / truncates toward zero
    p = s - q * n
    return -p if p < 0 else p


# --- Go Goka: GOKA.md §2.2 table and DESIGN.md §3 ------------------------------------

GOKA_TABLE = [
    # key, FNV-1a, as int32, N=10, N=2, N=8
    (b"", 0x811C9DC5, -2128831035, 5, 1, 3),
    (b"a", 0xE40C292C, -468965076, 6, 0, 4),
    (b"key1", 0x374A6A67, 927623783, 3, 1, 7),
    (b"key2", 0x384A6BFA, 944401402, 2, 0, 2),
    (b"some-key", 0x51936373, 1368613747, 7, 1, 3),
    (b"user-0", 0xF6537B07, -162301177, 7, 1, 1),
    (b"0", 0x350CA8AF, 890022063, 3, 1, 7),
    (b"02", 0x1FED6F27, 535654183, 3, 1, 7),
]


@pytest.mark.parametrize(("key", "fnv", "signed", "n10", "n2", "n8"), GOKA_TABLE)
def test_goka_table(
    hashing: ModuleType, key: bytes, fnv: int, signed: int, n10: int, n2: int, n8: int
) -> None:
    assert hashing.fnv1a32(key) == fnv
    assert int32(fnv) == signed
    assert [hashing.goka(key, n) for n in (10, 2, 8)] == [n10, n2, n8]
    assert [hashing.goka(key.decode(), n) for n in (10, 2, 8)] == [n10, n2, n8]


@pytest.mark.parametrize(
    ("key", "n", "partition"),
    [(b"some-key", 10, 7), ("some-key", 10, 7), ("user-1", 10, 6), (b"", 10, 5), (b"\xff", 10, 6)],
)
def test_goka_design_vectors(
    hashing: ModuleType, key: bytes | str, n: int, partition: int
) -> None:
    assert hashing.goka(key, n) == partition


def test_goka_str_is_hashed_as_utf8(hashing: ModuleType) -> None:
    # the str "\xff" is two UTF-8 bytes, not the byte 0xff
    assert hashing.goka("\xff", 10) == hashing.goka(b"\xc3\xbf", 10) == 1


def test_goka_systemtest_assumptions(hashing: ModuleType) -> None:
    assert hashing.goka("key1", 2) != hashing.goka("key2", 2)
    assert hashing.goka("0", 10) == hashing.goka("02", 10)


# FNV-1a of this key is 0x80000000: int32 is INT32_MIN, whose negation overflows in Go.
INT32_MIN_KEY = b"ksfiIY"


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 10, 16, 1000, INT32_MAX])
def test_goka_int32_min(hashing: ModuleType, n: int) -> None:
    assert hashing.fnv1a32(INT32_MIN_KEY) == 0x80000000
    assert hashing.goka(INT32_MIN_KEY, n) == go_hash_partition(0x80000000, n) == (1 << 31) % n


def test_goka_int32_min_known(hashing: ModuleType) -> None:
    assert [hashing.goka(INT32_MIN_KEY, n) for n in (10, 2, 8, 3, 7)] == [8, 0, 0, 2, 2]


# --- librdkafka: src/rdfnv1a.c, src/rdmurmur2.c, tests/0048-partitioner.c ------------

_SHORT = b"1234"
_UNALIGNED = b"PreAmbleWillBeRemoved,ThePrePartThatIs"
RDKAFKA_KEYS = [
    b"kafka",
    b"giberish123456789",
    _SHORT,
    _SHORT[1:],
    _SHORT[2:],
    _SHORT[3:],
    _UNALIGNED,
    _UNALIGNED[1:],
    _UNALIGNED[2:],
    _UNALIGNED[3:],
    b"",
]
# |int32(FNV-1a)|, computed by librdkafka's authors with Go's hash/fnv
RDKAFKA_FNV1A = [
    0x0D33C4E1, 0x77A58295, 0x023BDD03, 0x2DEA3CD2, 0x740FA83E, 0x310CA263,
    0x65CBD69C, 0x6E49C79A, 0x69EED356, 0x6ABCC023, 0x7EE3623B,
]  # fmt: skip
# Java's Utils.murmur2, as int32 bit patterns
RDKAFKA_MURMUR2 = [
    0xD067CF64, 0x8F552B0C, 0x9FC97B14, 0xE7C009CA, 0x873930DA, 0x5A4B5CA1,
    0x78424F1C, 0x4A62B377, 0xE0E4E09E, 0x62B8B43F, 0x106E08D9,
]  # fmt: skip


@pytest.mark.parametrize(("key", "expected"), list(zip(RDKAFKA_KEYS, RDKAFKA_FNV1A)))
def test_librdkafka_fnv1a(hashing: ModuleType, key: bytes, expected: int) -> None:
    assert abs(int32(hashing.fnv1a32(key))) == expected
    for n in (1, 2, 7, 10, 17, 1 << 20):
        assert hashing.goka(key, n) == expected % n


@pytest.mark.parametrize(("key", "expected"), list(zip(RDKAFKA_KEYS, RDKAFKA_MURMUR2)))
def test_librdkafka_murmur2(hashing: ModuleType, key: bytes, expected: int) -> None:
    assert hashing.murmur2_32(key) == int32(expected)
    for n in (1, 2, 7, 10, 17):
        assert hashing.murmur2(key, n) == (expected & 0x7FFFFFFF) % n


# tests/0048-partitioner.c: key -> (consistent, murmur2, fnv1a) hash, partition = hash % cnt
RDKAFKA_PARTITIONER_TEST = [
    (b"", 0x0, 0x106E08D9, 0x7EE3623B),
    (b"23456", 0xB1B451D7, 0x058D780F, 0x27E6F469),
    (
        b"this is another string with more length to it perhaps",
        0xB0150DF7,
        0x4F7703DA,
        0x155E3E5F,
    ),
    (b"hejsan", 0xD077037E, 0x5EC19395, 0x17B1E27A),
]


@pytest.mark.parametrize(("key", "crc", "murmur", "fnv"), RDKAFKA_PARTITIONER_TEST)
@pytest.mark.parametrize("n", [7, 17])
def test_librdkafka_partitioners(
    hashing: ModuleType, key: bytes, crc: int, murmur: int, fnv: int, n: int
) -> None:
    assert hashing.crc32(key, n) == crc % n
    assert hashing.murmur2(key, n) == murmur % n
    assert hashing.goka(key, n) == fnv % n


# --- Apache Kafka: clients/.../common/utils/UtilsTest.java testMurmur2 ----------------

KAFKA_MURMUR2 = [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
]


@pytest.mark.parametrize(("key", "expected"), KAFKA_MURMUR2)
def test_kafka_murmur2(hashing: ModuleType, key: bytes, expected: int) -> None:
    assert hashing.murmur2_32(key) == expected
    assert hashing.murmur2(key, 12) == (expected & 0x7FFFFFFF) % 12


# --- ranges, key types, errors --------------------------------------------------------


@given(key=keys, n=partition_counts)
def test_ranges(hashing: ModuleType, key: bytes, n: int) -> None:
    assert 0 <= hashing.fnv1a32(key) < 1 << 32
    assert -(1 << 31) <= hashing.murmur2_32(key) <= INT32_MAX
    for hasher in (hashing.goka, hashing.murmur2, hashing.crc32):
        assert 0 <= hasher(key, n) < n


@given(key=keys, n=partition_counts)
def test_goka_is_sarama_rule(hashing: ModuleType, key: bytes, n: int) -> None:
    assert hashing.goka(key, n) == go_hash_partition(hashing.fnv1a32(key), n)


@given(key=keys, n=partition_counts)
def test_crc32_is_zlib(hashing: ModuleType, key: bytes, n: int) -> None:
    assert hashing.crc32(key, n) == zlib.crc32(key) % n


@given(text=st.text(max_size=40), n=partition_counts)
def test_str_is_its_utf8(hashing: ModuleType, text: str, n: int) -> None:
    data = text.encode()
    assert hashing.fnv1a32(text) == hashing.fnv1a32(data)
    assert hashing.murmur2_32(text) == hashing.murmur2_32(data)
    for hasher in (hashing.goka, hashing.murmur2, hashing.crc32):
        assert hasher(text, n) == hasher(data, n)


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_buffer_keys(hashing: ModuleType, wrap: type) -> None:
    key = b"some-key"
    assert hashing.fnv1a32(wrap(key)) == hashing.fnv1a32(key)
    assert hashing.murmur2_32(wrap(key)) == hashing.murmur2_32(key)
    for hasher in (hashing.goka, hashing.murmur2, hashing.crc32):
        assert hasher(wrap(key), 10) == hasher(key, 10)


def test_large_partition_count(hashing: ModuleType) -> None:
    n = 1 << 40
    assert hashing.goka(b"", n) == 2128831035
    assert hashing.goka(INT32_MIN_KEY, n) == 1 << 31
    assert hashing.crc32(b"hejsan", n) == 0xD077037E


@pytest.mark.parametrize("name", ["goka", "murmur2", "crc32"])
@pytest.mark.parametrize("n", [0, -1, -10])
def test_bad_partition_count(hashing: ModuleType, name: str, n: int) -> None:
    with pytest.raises(ValueError, match="partition count"):
        getattr(hashing, name)(b"key", n)


@pytest.mark.parametrize("name", ["goka", "murmur2", "crc32"])
def test_partition_count_must_be_int(hashing: ModuleType, name: str) -> None:
    with pytest.raises(TypeError):
        getattr(hashing, name)(b"key", 10.0)


@pytest.mark.parametrize("key", [None, 42, 1.5, ["a"]])
def test_bad_key_type(hashing: ModuleType, key: object) -> None:
    with pytest.raises(TypeError, match="key must be bytes or str"):
        hashing.fnv1a32(key)
    with pytest.raises(TypeError, match="key must be bytes or str"):
        hashing.murmur2_32(key)
    for hasher in (hashing.goka, hashing.murmur2, hashing.crc32):
        with pytest.raises(TypeError, match="key must be bytes or str"):
            hasher(key, 10)


def test_unencodable_str(hashing: ModuleType) -> None:
    with pytest.raises(UnicodeEncodeError):
        hashing.goka("\ud800", 10)


def test_interface(hashing: ModuleType) -> None:
    assert sorted(hashing.__all__) == sorted(_hashing_py.__all__)
    assert sorted(_hashing_py.__all__) == ["crc32", "fnv1a32", "goka", "murmur2", "murmur2_32"]


# --- differential: compiled twin == pure twin ----------------------------------------


@given(key=st.binary(max_size=300), n=partition_counts)
def test_differential_bytes(hashing_c: ModuleType, key: bytes, n: int) -> None:
    py = _hashing_py
    assert hashing_c.fnv1a32(key) == py.fnv1a32(key)
    assert hashing_c.murmur2_32(key) == py.murmur2_32(key)
    assert hashing_c.goka(key, n) == py.goka(key, n)
    assert hashing_c.murmur2(key, n) == py.murmur2(key, n)
    assert hashing_c.crc32(key, n) == py.crc32(key, n)


@given(key=st.text(max_size=100), n=partition_counts)
def test_differential_str(hashing_c: ModuleType, key: str, n: int) -> None:
    py = _hashing_py
    assert hashing_c.fnv1a32(key) == py.fnv1a32(key)
    assert hashing_c.murmur2_32(key) == py.murmur2_32(key)
    assert hashing_c.goka(key, n) == py.goka(key, n)
    assert hashing_c.murmur2(key, n) == py.murmur2(key, n)
    assert hashing_c.crc32(key, n) == py.crc32(key, n)


# --- oracle: librdkafka's own partitioners, as exposed by confluent-kafka ------------

_needs_oracle = pytest.mark.skipif(
    _ck is None or not all(hasattr(_ck, f) for f in ("fnv1a", "murmur2", "consistent")),
    reason="confluent_kafka does not expose fnv1a/murmur2/consistent",
)


@_needs_oracle
@given(key=keys, n=partition_counts)
def test_oracle_confluent_kafka(hashing: ModuleType, key: bytes, n: int) -> None:
    assert hashing.goka(key, n) == _ck.fnv1a(key, n)
    assert hashing.murmur2(key, n) == _ck.murmur2(key, n)
    assert hashing.crc32(key, n) == _ck.consistent(key, n)


@_needs_oracle
@pytest.mark.parametrize("key", [k for k, *_ in GOKA_TABLE] + [INT32_MIN_KEY, b"\xff"])
def test_oracle_vectors(hashing: ModuleType, key: bytes) -> None:
    for n in (1, 2, 3, 8, 10, INT32_MAX):
        assert hashing.goka(key, n) == _ck.fnv1a(key, n)
        assert hashing.murmur2(key, n) == _ck.murmur2(key, n)
        assert hashing.crc32(key, n) == _ck.consistent(key, n)
