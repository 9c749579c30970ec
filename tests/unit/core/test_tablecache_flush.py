"""``TableCache.flush``, both twins: an acknowledged generation of puts only goes to the
storage's ``write_puts`` (the pairs as they are), one with a tombstone or an empty key,
or a storage without ``write_puts``, to ``write_batch``; LMDB ends up the same either way."""
from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from goka.storage.lmdb import LMDB

from tests.conftest import import_twin


@pytest.fixture(params=["py", pytest.param("c", marks=pytest.mark.c_extension)])
def tablecache(request: pytest.FixtureRequest) -> ModuleType:
    return import_twin("tablecache", request.param)


class BatchRecorder:
    """A storage that records how it was written, without ``write_puts``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[bytes, Any]], Any]] = []

    def get(self, key: bytes) -> None:
        return None

    def write_batch(self, writes: Any, offset: Any = None) -> None:
        self.calls.append(("batch", list(writes), offset))


class Recorder(BatchRecorder):
    """... with ``write_puts`` as the puts-only form of its own ``write_batch``."""

    def write_batch(self, writes: Any, offset: Any = None) -> None:
        super().write_batch(writes, offset)

    def write_puts(self, pairs: Any, offset: Any = None) -> None:
        self.calls.append(("puts", list(pairs), offset))


def _flush_one(tablecache: ModuleType, storage: Any, writes: list[tuple[bytes, bytes | None]],
               offset: int) -> Any:
    cache = tablecache.TableCache(storage)
    for key, value in writes:
        cache.set(key, value)
    gen = cache.current
    cache.seal()
    gen.offset = offset
    assert cache.flush() == len(dict(writes))
    return cache


def test_puts_only_go_to_write_puts(tablecache: ModuleType) -> None:
    storage = Recorder()
    _flush_one(tablecache, storage, [(b"a", b"1"), (b"b", b"2"), (b"a", b"3")], 7)
    assert storage.calls == [("puts", [(b"a", b"3"), (b"b", b"2")], 7)]
    storage = Recorder()
    _flush_one(tablecache, storage, [(b"a", b"1")], -1)  # no changelog offset
    assert storage.calls == [("puts", [(b"a", b"1")], None)]


@pytest.mark.parametrize("writes", [[(b"a", b"1"), (b"b", None)], [(b"a", b"1"), (b"", b"e")],
                                    [(b"", None)]])
def test_tombstones_and_empty_keys_go_to_write_batch(tablecache: ModuleType, writes: Any) -> None:
    storage = Recorder()
    _flush_one(tablecache, storage, writes, 3)
    assert storage.calls == [("batch", list(dict(writes).items()), 3)]


def test_storage_without_write_puts(tablecache: ModuleType) -> None:
    storage = BatchRecorder()
    _flush_one(tablecache, storage, [(b"a", b"1")], 2)
    assert storage.calls == [("batch", [(b"a", b"1")], 2)]


def test_subclass_changing_write_batch_sees_every_write(tablecache: ModuleType, tmp_path: Path) -> None:
    """An LMDB store subclass that overrides ``write_batch`` (auditing, say) is not
    bypassed by the puts-only path: its ``write_batch`` gets the generation."""
    from goka.storage.lmdb import LMDBStorage

    seen: list[list[tuple[bytes, Any]]] = []

    class Audited(LMDBStorage):
        def write_batch(self, writes: Any, offset: int | None = None) -> None:
            writes = list(writes)
            seen.append(writes)
            super().write_batch(writes, offset)

    storage = Audited(tmp_path / "t.0", topic="t", partition=0)
    try:
        _flush_one(tablecache, storage, [(b"a", b"1"), (b"b", b"2")], 5)
        assert seen == [[(b"a", b"1"), (b"b", b"2")]]
        assert dict(storage.items()) == {b"a": b"1", b"b": b"2"} and storage.get_offset() == 5
    finally:
        storage.close()


def test_lmdb_same_contents(tablecache: ModuleType, tmp_path: Path) -> None:
    storage = LMDB(str(tmp_path)).open("t", 0)
    try:
        storage.write_batch([(b"gone", b"x"), (b"", b"old")], offset=1)
        _flush_one(tablecache, storage, [(b"a", b"1"), (b"b", b"2"), (b"a", b"3")], 10)
        assert dict(storage.items()) == {b"a": b"3", b"b": b"2", b"gone": b"x", b"": b"old"}
        assert storage.get_offset() == 10
        _flush_one(tablecache, storage, [(b"gone", None), (b"", b"new"), (b"c", b"4")], 11)
        assert dict(storage.items()) == {b"a": b"3", b"b": b"2", b"c": b"4", b"": b"new"}
        assert storage.get_offset() == 11
    finally:
        storage.close()


def test_next_generation_holds_only_its_writes(tablecache: ModuleType) -> None:
    """A generation after a large one (the compiled twin sizes its dict like the last
    sealed one) holds exactly its own writes; a rolled-back first write leaves none."""
    storage = Recorder()
    cache = tablecache.TableCache(storage)
    for i in range(5000):
        cache.set(b"k%d" % i, b"v")
    cache.seal()
    cache.set(b"x", b"1")
    cache.rollback()
    assert cache.current is None and cache.get(b"x") is None
    cache.set(b"y", b"2")
    assert cache.current.writes == {b"y": b"2"} and len(cache.sealed[0].writes) == 5000
    cache.seal()
    for gen in cache.sealed:
        gen.offset = 1
    assert cache.flush() == 5001
    assert [(kind, len(pairs)) for kind, pairs, _ in storage.calls] == [("puts", 5000), ("puts", 1)]
