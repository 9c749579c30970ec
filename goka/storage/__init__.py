"""Local table storage: one store per (topic, partition).

A *builder* opens stores: ``builder.open(topic, partition) -> Storage``.
Keys and values are bytes (keys are the UTF-8 of goka's string keys); the table
offset (offset of the last applied table record) is kept outside the keyspace.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

__all__ = ["Storage", "StorageBuilder", "default_path", "puts_writer"]


def puts_writer(storage: Any) -> Callable[..., None] | None:
    """``storage.write_puts`` where it is the puts-only form of the same class's
    ``write_batch`` (``LMDBStorage``), else None: a storage without it, or a subclass that
    changes ``write_batch`` (its ``write_batch`` must see every write), takes
    ``write_batch``. ``write_puts(pairs, offset=None)`` applies ``(key, value)`` pairs of
    non-empty keys and non-``None`` values in order, as ``write_batch`` would.

    Parameters
    ----------
    storage : Storage
        The store a table's writes go to.
    """
    cls = type(storage)
    owner = {name: next((c for c in cls.__mro__ if name in vars(c)), None)
             for name in ("write_puts", "write_batch")}
    if owner["write_puts"] is None or owner["write_puts"] is not owner["write_batch"]:
        return None
    return storage.write_puts  # type: ignore[no-any-return]


def default_path(kind: str, name: str) -> str:
    """Default local storage directory: ``<tmp>/goka-state/<kind>/<name>`` (Go Goka uses
    ``/tmp/goka/...``; a directory named ``goka`` in the temp dir would shadow the package
    for programs started there).

    Parameters
    ----------
    kind : str
        ``"processor"`` or ``"view"``.
    name : str
        The group (processor) or table (view).
    """
    return os.path.join(tempfile.gettempdir(), "goka-state", kind, name)


@runtime_checkable
class Storage(Protocol):
    """One topic-partition of a table. Safe for many reader threads and one writer."""

    def get(self, key: bytes) -> bytes | None:
        """The value stored for ``key``, or ``None``.

        Parameters
        ----------
        key : bytes
            The key.
        """

    def has(self, key: bytes) -> bool:
        """Whether ``key`` is stored.

        Parameters
        ----------
        key : bytes
            The key.
        """

    def set(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key`` (``None`` raises ``TypeError``: use ``delete``).

        Parameters
        ----------
        key : bytes
            The key.
        value : bytes
            The value.
        """

    def delete(self, key: bytes) -> None:
        """Remove ``key`` (no error if absent).

        Parameters
        ----------
        key : bytes
            The key.
        """

    def write_batch(
        self, writes: Iterable[tuple[bytes, bytes | None]], offset: int | None = None
    ) -> None:
        """Apply ``writes`` in order (``None`` value = delete) and, if given, store
        ``offset`` as the table offset -- all in one transaction.

        Parameters
        ----------
        writes : iterable of (bytes, bytes or None)
            ``(key, value)`` pairs; a ``None`` value deletes the key.
        offset : int, optional
            The table offset to store with them.
        """

    def get_offset(self) -> int | None:
        """The stored table offset, or ``None`` if never set."""

    def set_offset(self, offset: int) -> None:
        """Store the table offset.

        Parameters
        ----------
        offset : int
            The offset of the last table record applied.
        """

    def items(
        self,
        prefix: bytes | None = None,
        start: bytes | None = None,
        end: bytes | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Key-value pairs in ascending key-byte order: all, those starting with
        ``prefix``, or those in ``[start, end)`` (either bound may be omitted;
        ``prefix`` and bounds combine).

        Iterating never blocks writers, and the store may be written (from any
        thread) between steps.  Each key is yielded at most once, in order; whether
        writes made during the iteration are seen depends on the store (memory: a
        snapshot taken at the call; LMDB: read in chunks, later chunks see them).

        Parameters
        ----------
        prefix : bytes, optional
            Only keys starting with it.
        start : bytes, optional
            Only keys ``>= start``.
        end : bytes, optional
            Only keys ``< end``.
        """

    def clear(self) -> None:
        """Drop every value and the table offset."""

    def close(self) -> None:
        """Release resources (idempotent); the store must not be used afterwards."""


class StorageBuilder(Protocol):
    """Opens the store of one topic-partition."""

    def open(self, topic: str, partition: int) -> Storage:
        """The store of ``topic``/``partition``, with what a previous run left there (if
        the builder keeps anything).

        Parameters
        ----------
        topic : str
            The table topic.
        partition : int
            The partition.
        """
        ...
