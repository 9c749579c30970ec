"""Table stores, LMDB (``goka.storage.lmdb``, default ``sync=False``) and memory for comparison.

Each store holds the 10,000 keys with 100-byte values. Per round: ``write_batch`` of
1,000 of them with new values plus the table offset (one transaction; successive rounds
take the next 1,000 keys), ``get`` of 1,000 keys, or a full ``items()`` scan.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count, cycle
from pathlib import Path
from typing import Any

import pytest

from goka.storage import Storage
from goka.storage.lmdb import LMDB
from goka.storage.memory import Memory

BATCH = 1_000
VALUE = b"v" * 100


@pytest.fixture(params=["lmdb", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path, keys: list[bytes]) -> Iterator[Storage]:
    """A store of each kind, holding every key of ``keys``."""
    builder = LMDB(tmp_path) if request.param == "lmdb" else Memory()
    storage = builder.open("clicks-table", 0)
    storage.write_batch([(k, VALUE) for k in keys], offset=0)
    yield storage
    storage.close()


def test_write_batch(bench: Callable[..., Any], store: Storage, keys: list[bytes]) -> None:
    """One round: ``write_batch`` of 1,000 keys (new values) and the offset."""
    batches = cycle([[(k, b"w" * 100) for k in keys[i : i + BATCH]] for i in range(0, len(keys), BATCH)])
    offsets = count(1)
    bench("storage write_batch", BATCH, lambda: store.write_batch(next(batches), next(offsets)))
    assert store.get_offset() == next(offsets) - 1


def test_get(bench: Callable[..., Any], store: Storage, keys: list[bytes]) -> None:
    """One round: ``get`` of 1,000 present keys."""
    sample = keys[::len(keys) // BATCH]
    values = bench("storage get", len(sample), lambda: list(map(store.get, sample)))
    assert values == [VALUE] * len(sample)


def test_items(bench: Callable[..., Any], store: Storage, keys: list[bytes]) -> None:
    """One round: ``items()`` over all 10,000 keys."""
    items = bench("storage items", len(keys), lambda: list(store.items()))
    assert len(items) == len(keys)
