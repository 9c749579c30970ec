"""``LMDBStorage.write_puts`` (a table reader's batch without tombstones or empty keys,
written as it is) against ``write_batch``, the general form it must equal; and which of the
two a ``PartitionTable`` uses for a batch."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

import goka
from goka.runtime.table import PartitionTable
from goka.storage.lmdb import LMDB, LMDBStorage
from goka.storage.memory import MemoryStorage

from .test_lmdb_damage import _zero_leaf_holding, make_store


def _state(s: Any) -> tuple[dict[bytes, bytes], int | None]:
    return dict(s.items()), s.get_offset()


def _batches(seed: int, n: int = 30) -> list[list[tuple[bytes, bytes]]]:
    rng = random.Random(seed)
    return [[(b"k%d" % rng.randrange(300), b"v%d-%d" % (i, j)) for j in range(rng.randrange(0, 200))]
            for i in range(n)]


@pytest.mark.parametrize("seed", range(4))
def test_write_puts_equals_write_batch(tmp_path: Path, seed: int) -> None:
    """Puts with repeated keys (the last one wins), in order, with the offset; an empty batch
    stores the offset alone."""
    a, b = LMDB(tmp_path / "a").open("t", 0), LMDB(tmp_path / "b").open("t", 0)
    try:
        for i, batch in enumerate(_batches(seed)):
            a.write_puts(batch, offset=i)
            b.write_batch(batch, offset=i)
            assert _state(a) == _state(b)
        a.write_puts([(b"k1", b"x"), (b"k1", b"y"), (b"k1", b"z")])  # no offset: kept
        assert a.get(b"k1") == b"z" and a.get_offset() == 29
    finally:
        a.close()
        b.close()


def test_write_puts_given_tombstones_or_an_empty_key_takes_the_general_path(tmp_path: Path) -> None:
    a, b = LMDB(tmp_path / "a").open("t", 0), LMDB(tmp_path / "b").open("t", 0)
    try:
        first = [(b"x", b"1"), (b"y", b"2"), (b"", b"e")]
        later: list[Any] = [(b"x", None), (b"z", b"3"), (b"", None), (b"y", b"4"), (b"y", None)]
        for batch, offset in ((first, 1), (later, 2)):
            a.write_puts(batch, offset=offset)
            b.write_batch(batch, offset=offset)
            assert _state(a) == _state(b)
        assert _state(a) == ({b"z": b"3"}, 2)
    finally:
        a.close()
        b.close()


def test_write_puts_of_a_key_too_long_writes_nothing(tmp_path: Path) -> None:
    s = LMDB(tmp_path).open("clicks-table", 5)
    try:
        s.write_puts([(b"a", b"1")], offset=0)
        with pytest.raises(ValueError, match=r"512 bytes.*511.*'clicks-table'.*partition=5"):
            s.write_puts([(b"b", b"2"), (b"k" * 512, b"v")], offset=1)
        with pytest.raises(TypeError):
            s.write_puts([(b"c", "not bytes")], offset=1)  # type: ignore[list-item]
        assert _state(s) == ({b"a": b"1"}, 0)
    finally:
        s.close()


def test_write_puts_grows_the_map(tmp_path: Path) -> None:
    s = LMDB(tmp_path, map_size=64 << 10).open("t", 0)
    try:
        value = b"x" * 1000
        for n in range(20):  # 500 KB a batch, far beyond the initial map
            s.write_puts([(b"b%02d-%04d" % (n, i), value) for i in range(500)], offset=n)
        assert s.map_size > 10 << 20 and s.get_offset() == 19
        assert sum(1 for _ in s.items()) == 20 * 500 and s.get(b"b13-0321") == value
    finally:
        s.close()


def test_write_puts_on_a_damaged_page_is_a_storage_error(tmp_path: Path) -> None:
    store = make_store(tmp_path / "t.1", n=3000, big=0)
    _zero_leaf_holding(store, b"k1500")
    s = LMDB(tmp_path).open("t", 1)
    try:
        with pytest.raises(goka.StorageError) as info:
            s.write_puts([(b"k1500", b"new")], offset=9)
        assert info.value.path == str(store) and "rebuilt" in str(info.value)
    finally:
        s.close()
    assert (store / "goka-damaged").exists()  # the next open discards and rebuilds it


class _Filtering(LMDBStorage):
    """A subclass that changes write_batch: write_puts must not bypass it."""

    def write_batch(self, writes: Any, offset: int | None = None) -> None:
        super().write_batch([(k, v) for k, v in writes if k.startswith(b"keep")], offset)


def test_partition_table_uses_write_puts_for_plain_batches_only(tmp_path: Path, monkeypatch: Any) -> None:
    calls: list[tuple[str, int]] = []
    write_puts, write_batch = LMDBStorage.write_puts, LMDBStorage.write_batch

    def spy_puts(self: LMDBStorage, puts: Any, offset: int | None = None) -> None:
        calls.append(("puts", len(puts)))
        write_puts(self, puts, offset)

    def spy_batch(self: LMDBStorage, writes: Any, offset: int | None = None) -> None:
        calls.append(("batch", offset or 0))
        write_batch(self, writes, offset)

    monkeypatch.setattr(LMDBStorage, "write_puts", spy_puts)
    monkeypatch.setattr(LMDBStorage, "write_batch", spy_batch)
    s = LMDB(tmp_path / "a").open("t", 0)
    table = PartitionTable("t", 0, s)
    try:
        table.apply_pairs([(b"a", b"1"), (b"a", b"2")], 1, True)
        table.apply_pairs([(b"a", None), (b"b", b"3")], 3, False)
        table.apply_pairs([(b"c", b"4")], 4)  # plain unknown: the general form
        assert calls == [("puts", 2), ("batch", 3), ("batch", 4)]
        assert _state(s) == ({b"b": b"3", b"c": b"4"}, 4) and table.records == 5
        # storage replaced: looked up again
        memory = table.storage = MemoryStorage()
        table.apply_pairs([(b"m", b"1")], 5, True)
        assert _state(memory) == ({b"m": b"1"}, 5)
    finally:
        s.close()
    filtering = _Filtering(tmp_path / "f", topic="t", partition=0)
    try:
        PartitionTable("t", 0, filtering).apply_pairs([(b"keep1", b"1"), (b"drop", b"2")], 7, True)
        assert _state(filtering) == ({b"keep1": b"1"}, 7)
    finally:
        filtering.close()
