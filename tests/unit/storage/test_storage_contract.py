"""The storage contract, run against every builder (Memory, LMDB), plus LMDB specifics:
persistence, map growth, key size limit, concurrent readers, a model-based check."""
from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import lmdb
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import goka
from goka.storage import Storage, StorageBuilder
from goka.storage.lmdb import LMDB, LMDBStorage
from goka.storage.memory import Memory, MemoryStorage

BUILDERS: dict[str, Callable[[Path], StorageBuilder]] = {
    "memory": lambda path: Memory(),
    "lmdb": lambda path: LMDB(path / "tables"),
}


@pytest.fixture(params=sorted(BUILDERS))
def builder(request: pytest.FixtureRequest, tmp_path: Path) -> StorageBuilder:
    return BUILDERS[request.param](tmp_path)


@pytest.fixture
def store(builder: StorageBuilder) -> Iterator[Storage]:
    s = builder.open("clicks-table", 3)
    yield s
    s.close()


def fill(store: Storage, keys: list[bytes]) -> None:
    store.write_batch((k, b"v:" + k) for k in keys)


# -- contract ------------------------------------------------------------------


def test_is_a_storage(store: Storage) -> None:
    assert isinstance(store, Storage)


def test_absent_key(store: Storage) -> None:
    assert store.get(b"nope") is None
    assert not store.has(b"nope")
    store.delete(b"nope")  # no error
    assert list(store.items()) == []


def test_set_get_has_overwrite_delete(store: Storage) -> None:
    store.set(b"k", b"1")
    assert store.get(b"k") == b"1" and store.has(b"k")
    store.set(b"k", b"2")
    assert store.get(b"k") == b"2"
    store.set(b"k", b"")  # an empty value is a value, not a delete
    assert store.get(b"k") == b"" and store.has(b"k")
    store.delete(b"k")
    assert store.get(b"k") is None and not store.has(b"k")


def test_set_none_is_rejected(store: Storage) -> None:
    with pytest.raises(TypeError):
        store.set(b"k", None)  # type: ignore[arg-type]


def test_values_are_bytes(store: Storage) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB, binary
    store.set(b"big", big)
    value = store.get(b"big")
    assert type(value) is bytes and value == big


def test_empty_key(store: Storage) -> None:
    assert store.get(b"") is None and not store.has(b"")
    store.set(b"", b"e")
    assert store.get(b"") == b"e" and store.has(b"")
    store.set(b"a", b"1")
    assert list(store.items()) == [(b"", b"e"), (b"a", b"1")]
    store.delete(b"")
    assert store.get(b"") is None and list(store.items()) == [(b"a", b"1")]
    store.write_batch([(b"", b"x"), (b"", b"y")])
    assert store.get(b"") == b"y"
    store.write_batch([(b"", None)])
    assert not store.has(b"")


def test_write_batch_applies_in_order(store: Storage) -> None:
    store.set(b"old", b"0")
    store.write_batch(
        [
            (b"a", b"1"),
            (b"b", b"2"),
            (b"a", None),  # delete after set
            (b"b", b"3"),  # set after set
            (b"old", None),
            (b"c", None),  # delete of an absent key
            (b"d", None),
            (b"d", b"4"),  # set after delete
        ],
        offset=17,
    )
    assert dict(store.items()) == {b"b": b"3", b"d": b"4"}
    assert store.get_offset() == 17


def test_write_batch_accepts_generator_and_empty(store: Storage) -> None:
    store.write_batch(((b"k%d" % i, b"%d" % i) for i in range(10)), offset=5)
    assert len(list(store.items())) == 10
    store.write_batch([], offset=6)
    assert store.get_offset() == 6
    store.write_batch([(b"k0", None)])  # no offset: the offset stays
    assert store.get_offset() == 6 and not store.has(b"k0")


def test_offset(store: Storage) -> None:
    assert store.get_offset() is None
    store.set_offset(0)
    assert store.get_offset() == 0
    store.set_offset(2**62)
    assert store.get_offset() == 2**62
    store.set(b"k", b"v")
    assert list(store.items()) == [(b"k", b"v")]  # the offset is not a key
    assert store.get(b"offset") is None and store.get(b"__offset") is None


def test_offset_named_keys_do_not_collide(store: Storage) -> None:
    store.write_batch([(b"offset", b"user"), (b"__offset", b"user"), (b"empty-key", b"u")], offset=9)
    assert store.get_offset() == 9 and store.get(b"offset") == b"user"
    assert store.get(b"") is None
    assert [k for k, _ in store.items()] == [b"__offset", b"empty-key", b"offset"]


KEYS = [
    b"",
    b"\x00",
    b"a",
    b"a\x00",
    b"ab",
    b"ab\x00",
    b"abc",
    b"ab\xff",
    b"ab\xff\xff",
    b"ac",
    b"b",
    "é".encode(),
    "日本".encode(),
    b"\xff",
    b"\xff\xff",
    b"Z",
    b"10",
    b"9",
]


def test_items_in_key_byte_order(store: Storage) -> None:
    fill(store, KEYS)
    got = list(store.items())
    assert [k for k, _ in got] == sorted(KEYS)
    assert all(v == b"v:" + k for k, v in got)


@pytest.mark.parametrize(
    "prefix", [b"", b"a", b"ab", b"ab\xff", b"\xff", b"\xff\xff", b"\xff\xff\xff", b"x", "日".encode()]
)
def test_items_prefix(store: Storage, prefix: bytes) -> None:
    fill(store, KEYS)
    expected = sorted(k for k in KEYS if k.startswith(prefix))
    assert [k for k, _ in store.items(prefix=prefix)] == expected


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, None),
        (b"", None),
        (b"a", None),
        (None, b"b"),
        (b"ab", b"ac"),
        (b"ab\x00", b"ab\xff"),
        (b"b", b"b"),  # empty range
        (b"c", b"a"),  # inverted: empty
        (None, b""),  # nothing is below the empty key
        (b"\xff", None),
        (b"aa", b"zz"),
    ],
)
def test_items_range(store: Storage, start: bytes | None, end: bytes | None) -> None:
    fill(store, KEYS)
    expected = sorted(
        k for k in KEYS if (start is None or k >= start) and (end is None or k < end)
    )
    assert [k for k, _ in store.items(start=start, end=end)] == expected


def test_items_prefix_and_range_combine(store: Storage) -> None:
    fill(store, KEYS)
    got = [k for k, _ in store.items(prefix=b"ab", start=b"ab\x01", end=b"ab\xff\x00")]
    assert got == [b"abc", b"ab\xff"]


def test_items_many_keys_in_order(store: Storage) -> None:
    keys = [b"%05d" % i for i in range(5000)]
    fill(store, keys[::-1])
    assert [k for k, _ in store.items()] == keys
    assert [k for k, _ in store.items(start=b"01000", end=b"03500")] == keys[1000:3500]
    assert [k for k, _ in store.items(prefix=b"02")] == keys[2000:3000]


def test_write_while_iterating(store: Storage) -> None:
    """Writes between iteration steps neither block nor break the iteration:
    untouched keys come exactly once and in order."""
    keys = [b"%05d" % i for i in range(3000)]
    fill(store, keys)
    seen = []
    for i, (k, _) in enumerate(store.items()):
        seen.append(k)
        if i % 100 == 0:
            store.write_batch([(b"%05dx" % i, b"new"), (b"zzz", b"new")], offset=i)
    untouched = [k for k in seen if k in set(keys)]
    assert untouched == keys
    assert seen == sorted(set(seen))


def test_clear(store: Storage) -> None:
    fill(store, KEYS)
    store.set_offset(42)
    store.clear()
    assert list(store.items()) == [] and store.get_offset() is None
    assert store.get(b"") is None and store.get(b"a") is None
    store.set(b"a", b"again")  # usable after clear
    assert list(store.items()) == [(b"a", b"again")]


def test_close_is_idempotent(builder: StorageBuilder) -> None:
    s = builder.open("t", 0)
    s.set(b"k", b"v")
    s.close()
    s.close()


def test_partitions_are_separate(builder: StorageBuilder) -> None:
    stores = [builder.open("t", 0), builder.open("t", 1), builder.open("u", 0)]
    for i, s in enumerate(stores):
        s.write_batch([(b"k", b"%d" % i)], offset=i)
    assert [(s.get(b"k"), s.get_offset()) for s in stores] == [(b"0", 0), (b"1", 1), (b"2", 2)]
    for s in stores:
        s.close()


# -- Memory only ---------------------------------------------------------------------


def test_memory_open_returns_a_new_store() -> None:
    b = Memory()
    s = b.open("t", 0)
    s.write_batch([(b"k", b"v")], offset=1)
    s.close()
    again = b.open("t", 0)
    assert isinstance(again, MemoryStorage) and again is not s
    assert again.get(b"k") is None and again.get_offset() is None


def test_memory_items_is_a_snapshot() -> None:
    s = Memory().open("t", 0)
    fill(s, [b"a", b"b"])
    it = s.items()
    s.set(b"c", b"new")
    s.delete(b"a")
    assert [k for k, _ in it] == [b"a", b"b"]


# -- LMDB only -----------------------------------------------------------------------


def test_lmdb_layout_and_persistence(tmp_path: Path) -> None:
    b = LMDB(tmp_path)
    s = b.open("clicks-table", 7)
    assert isinstance(s, LMDBStorage)
    s.write_batch([(b"a", b"1"), (b"", b"e"), ("é".encode(), b"2")], offset=1234)
    s.set(b"b", b"3")
    s.close()
    assert (tmp_path / "clicks-table.7" / "data.mdb").is_file()
    s = b.open("clicks-table", 7)
    try:
        assert s.get_offset() == 1234
        assert list(s.items()) == [(b"", b"e"), (b"a", b"1"), (b"b", b"3"), ("é".encode(), b"2")]
    finally:
        s.close()


def test_lmdb_sync_mode_persists(tmp_path: Path) -> None:
    s = LMDB(tmp_path, sync=True).open("t", 0)
    s.write_batch([(b"k", b"v")], offset=3)
    s.close()
    s = LMDB(tmp_path).open("t", 0)
    assert s.get(b"k") == b"v" and s.get_offset() == 3
    s.close()


def test_lmdb_cannot_open_a_partition_twice(tmp_path: Path) -> None:
    b = LMDB(tmp_path)
    s = b.open("t", 0)
    with pytest.raises(goka.StorageError, match=str(tmp_path / "t.0")) as info:
        b.open("t", 0)
    assert isinstance(info.value.__cause__, lmdb.Error)
    assert s.get_offset() is None  # the open store is left alone
    s.close()
    b.open("t", 0).close()  # fine once closed


def test_lmdb_use_after_close_raises(tmp_path: Path) -> None:
    s = LMDB(tmp_path).open("t", 0)
    s.close()
    with pytest.raises(lmdb.Error):
        s.get(b"k")
    with pytest.raises(lmdb.Error):
        s.set(b"k", b"v")


def test_lmdb_map_grows(tmp_path: Path) -> None:
    b = LMDB(tmp_path, map_size=64 << 10)
    s = b.open("t", 0)
    value = b"x" * 1000
    for n in range(20):  # 20 batches of 500 KB, each far beyond the initial map
        s.write_batch(((b"b%02d-%04d" % (n, i), value) for i in range(500)), offset=n)
    s.set(b"huge", b"y" * (8 << 20))  # one value far beyond the map so far
    assert s.map_size > 10 << 20
    assert s.get_offset() == 19 and s.get(b"huge") == b"y" * (8 << 20)
    assert sum(1 for _ in s.items()) == 20 * 500 + 1
    assert s.get(b"b07-0123") == value
    s.close()
    s = b.open("t", 0)  # the grown map is kept
    assert s.map_size > 10 << 20 and s.get(b"b19-0499") == value
    s.close()


def test_lmdb_key_size_limit(tmp_path: Path) -> None:
    s = LMDB(tmp_path).open("clicks-table", 5)
    ok, long = b"k" * 511, b"k" * 512
    s.set(ok, b"v")
    assert s.get(ok) == b"v"
    message = r"512 bytes.*511.*'clicks-table'.*partition=5"
    with pytest.raises(ValueError, match=message):
        s.set(long, b"v")
    with pytest.raises(ValueError, match=message):
        s.write_batch([(b"a", b"1"), (long, b"v")], offset=1)
    assert s.get(b"a") is None and s.get_offset() is None  # the failed batch left nothing
    assert s.get(long) is None and not s.has(long)  # lookups of unstorable keys find nothing
    s.delete(long)
    s.write_batch([(long, None)])  # deleting one is a no-op
    assert [k for k, _ in s.items(start=b"k" * 600)] == []
    assert [k for k, _ in s.items(start=b"k" * 510 + b"j" * 90)] == [ok]
    s.close()


def test_lmdb_concurrent_readers_while_writing(tmp_path: Path) -> None:
    """Readers in other threads see no errors while the main thread writes batches
    and the map grows several times under them."""
    s = LMDB(tmp_path, map_size=64 << 10).open("t", 0)
    s.write_batch([(b"stable", b"1")], offset=0)
    stop = threading.Event()
    errors: list[BaseException] = []
    counts = [0, 0]

    def reader(idx: int) -> None:
        try:
            while not stop.is_set():
                assert s.get(b"stable") == b"1" and s.has(b"stable")
                keys = [k for k, _ in s.items(prefix=b"k")]
                assert keys == sorted(keys)
                assert (s.get_offset() or 0) >= 0
                counts[idx] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    try:
        for n in range(60):
            s.write_batch(((b"k%03d-%03d" % (n, i), b"v" * 500) for i in range(200)), offset=n)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not errors, errors
    assert all(counts), counts
    assert s.map_size > 64 << 10 and s.get_offset() == 59
    s.close()


# -- model-based: random operation sequences against a dict --------------------------

_keys = st.sampled_from([b"", b"a", b"ab", b"b", b"\xff", "é".encode(), b"a\x00"]) | st.binary(
    max_size=6
)
_values = st.binary(max_size=50)


class _StoreVsDict(RuleBasedStateMachine):
    def make_builder(self, path: Path) -> StorageBuilder:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="goka-storage-"))
        self.builder = self.make_builder(self.dir)
        self.store = self.builder.open("t", 0)
        self.model: dict[bytes, bytes] = {}
        self.offset: int | None = None

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(key=_keys, value=_values)
    def set(self, key: bytes, value: bytes) -> None:
        self.store.set(key, value)
        self.model[key] = value

    @rule(key=_keys)
    def delete(self, key: bytes) -> None:
        self.store.delete(key)
        self.model.pop(key, None)

    @rule(writes=st.lists(st.tuples(_keys, st.none() | _values), max_size=20),
          offset=st.none() | st.integers(0, 2**63 - 1))
    def write_batch(self, writes: list[tuple[bytes, bytes | None]], offset: int | None) -> None:
        self.store.write_batch(writes, offset)
        for k, v in writes:
            if v is None:
                self.model.pop(k, None)
            else:
                self.model[k] = v
        if offset is not None:
            self.offset = offset

    @rule()
    def clear(self) -> None:
        self.store.clear()
        self.model.clear()
        self.offset = None

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = self.builder.open("t", 0)
        if isinstance(self.builder, Memory):
            self.model.clear()
            self.offset = None

    @rule(prefix=st.none() | _keys, start=st.none() | _keys, end=st.none() | _keys)
    def items(self, prefix: bytes | None, start: bytes | None, end: bytes | None) -> None:
        expected = sorted(
            (k, v)
            for k, v in self.model.items()
            if (prefix is None or k.startswith(prefix))
            and (start is None or k >= start)
            and (end is None or k < end)
        )
        assert list(self.store.items(prefix=prefix, start=start, end=end)) == expected

    @rule(key=_keys)
    def get(self, key: bytes) -> None:
        assert self.store.get(key) == self.model.get(key)
        assert self.store.has(key) == (key in self.model)

    @invariant()
    def same_offset(self) -> None:
        assert self.store.get_offset() == self.offset


class _LMDBVsDict(_StoreVsDict):
    def make_builder(self, path: Path) -> StorageBuilder:
        return LMDB(path, map_size=256 << 10)


class _MemoryVsDict(_StoreVsDict):
    def make_builder(self, path: Path) -> StorageBuilder:
        return Memory()


_fast = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestLMDBAgainstDict = _LMDBVsDict.TestCase
TestLMDBAgainstDict.settings = _fast
TestMemoryAgainstDict = _MemoryVsDict.TestCase
TestMemoryAgainstDict.settings = _fast
