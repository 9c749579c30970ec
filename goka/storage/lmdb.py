"""LMDB table storage: one LMDB environment per topic-partition at ``<path>/<topic>.<partition>/``.

Layout.  Two named sub-databases: ``values`` holds the table, keyed by the key
bytes; ``meta`` holds the table offset (ASCII decimal under ``b"offset"``) and the
value of the empty key.  LMDB cannot store a zero-length key, while goka keys may
be ``""``; that one key lives in ``meta`` under ``b"empty-key"`` (a truthiness test
per call; keys on disk stay the key bytes and may use LMDB's full key size).
Nothing in ``meta`` is visible to ``items()``.

Durability (``sync=False``, the default).  LMDB opens with ``sync=False,
metasync=False``: a commit is a write into the OS page cache, no fsync.  A process
crash (exception, SIGKILL) loses nothing committed.  An OS crash or power loss can
lose the last commits and, on a filesystem that reorders writes, leave the
environment corrupt; ``close()`` fsyncs.  That is the right trade for a cache of a
Kafka changelog: values and the table offset are committed in one transaction, so
whatever survives is consistent, and recovery replays the changelog from the stored
offset + 1.  A store an OS crash left corrupt is mostly caught when it is opened (see
"Damaged files"); otherwise delete its directory and the table is rebuilt from Kafka.
``sync=True`` (``metasync`` stays off) fsyncs
each commit: consistent after power loss, where at most the last commit is undone.

Map growth.  The map starts at ``map_size`` (64 MiB) and doubles whenever a write
transaction reports :class:`lmdb.MapFullError`; the whole transaction is then
retried, so writes never fail on a full map.  LMDB forbids resizing while any
transaction of this process is open, so every read transaction holds a lock that
the resize takes too (readers wait a moment, they never fail).  Reads are thus
serialised among themselves, which under the GIL costs little (~0.2 us a call).

Damaged files.  LMDB maps ``data.mdb`` and trusts it: a truncated file kills the
process with SIGBUS when a missing page is read, overwritten meta pages make the open
fail.  Before opening, the data file is checked against its own meta pages with plain
reads (:mod:`goka.storage.lmdb_check`: both meta pages valid, page size sane, the file
holding every page the newer meta page's trees reference).  A store that fails the
check, or that LMDB then refuses as invalid, corrupted or of another format version, is
discarded -- ``data.mdb`` and ``lock.mdb`` removed, a WARNING on ``goka.storage`` naming
the path and the reason -- and opened empty, so its table is rebuilt from the topic (as
after deleting the directory).  A zero-length ``data.mdb`` counts as damaged too.  A
damaged ``lock.mdb`` is harmless (LMDB rebuilds it when it is the only user).  Where the
store cannot be rebuilt -- the path is not a directory, a damaged file cannot be
removed, LMDB refuses for another reason (permissions, out of readers, no memory for the
map) -- opening raises :class:`goka.StorageError` naming the path and keeps the files.

What the check cannot see: bytes changed inside pages the file does hold.  LMDB may
report them on open (handled as above) or on a later read or write: then the call raises
:class:`goka.StorageError` naming the path, and the store is marked (a file
``goka-damaged`` holding the reason) so that the next open discards and rebuilds it.  But
LMDB trusts its pages: garbage may also read as wrong data, or abort the process in an
LMDB assertion (seen when a cursor walks over a zeroed leaf page).  A file truncated or
overwritten while it is open is the same (a read of a page beyond the new end is a
SIGBUS; nothing in Python can catch that -- ``python -X faulthandler`` at least prints
the stack).  Only goka should write under the storage path; remove a store's directory
to have it rebuilt.

Threads.  Reads open a short read transaction per call (``items()`` one per chunk
of entries), so any number of threads may read while one writes; writes are
serialised by a lock.  Keys longer than LMDB's maximum key size (511 bytes) cannot
be stored: writing one raises :class:`ValueError`; looking one up finds nothing.
"""
from __future__ import annotations

import bisect
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from operator import itemgetter

import lmdb

from goka.errors import StorageError

from .lmdb_check import DATA_FILE, LOCK_FILE, check_data_file
from .memory import key_range

__all__ = ["LMDB", "LMDBStorage", "DEFAULT_MAP_SIZE"]

log = logging.getLogger("goka.storage")

DEFAULT_MAP_SIZE = 64 << 20
"""Initial map size of a new environment (64 MiB); it grows on demand."""

_VALUES_DB = b"values"
_META_DB = b"meta"
_OFFSET_KEY = b"offset"
_EMPTY_KEY = b"empty-key"
_CHUNK = 1024  # entries copied per read transaction in items()
_first = itemgetter(0)


#: LMDB errors that mean the files are not a (readable) LMDB store of this format
_DAMAGE_ERRORS = (lmdb.InvalidError, lmdb.CorruptedError, lmdb.PageNotFoundError,
                  lmdb.VersionMismatchError, lmdb.IncompatibleError, lmdb.PanicError)

#: ... of them, those LMDB may report on a read or write of a damaged store
_READ_DAMAGE = (lmdb.CorruptedError, lmdb.PageNotFoundError, lmdb.InvalidError)
#: file a store found damaged after its open is marked with (holds the reason)
DAMAGED_MARKER = "goka-damaged"

_Opened = tuple["lmdb.Environment", "lmdb._Database", "lmdb._Database"]


def _open_env(path: str, map_size: int, sync: bool) -> _Opened:
    env = lmdb.open(path, map_size=map_size, subdir=True, max_dbs=2, sync=sync,
                    metasync=False, lock=True, max_spare_txns=1)
    try:
        return env, env.open_db(_VALUES_DB), env.open_db(_META_DB)
    except BaseException:
        env.close()
        raise


def _open_checked(path: str, topic: str | None, partition: int | None, *, map_size: int,
                  sync: bool) -> _Opened:
    """Open the environment at ``path`` after checking its data file (see "Damaged files"
    in the module docstring); a damaged store is discarded and opened empty."""
    where = f"topic={topic!r}, partition={partition}"

    def error(message: str) -> StorageError:
        return StorageError(message, path=path, topic=topic, partition=partition)

    marker = os.path.join(path, DAMAGED_MARKER)
    try:
        os.makedirs(path, exist_ok=True)
        reason = check_data_file(os.path.join(path, DATA_FILE))
        if reason is None and os.path.exists(marker):
            with open(marker, encoding="utf-8", errors="replace") as f:
                reason = f"found damaged while in use ({f.read(500)})"
    except OSError as exc:
        raise error(f"cannot read the store: {exc}") from exc
    if reason is not None:
        _discard(path, reason, where, error)
    try:
        return _open_env(path, map_size, sync)
    except _DAMAGE_ERRORS as exc:
        if reason is not None:  # already a fresh store
            raise error(f"LMDB cannot open the store: {exc}") from exc
        _discard(path, f"LMDB cannot open it ({type(exc).__name__}: {exc})", where, error)
        try:
            return _open_env(path, map_size, sync)
        except lmdb.Error as exc2:
            raise error(f"LMDB cannot open the store: {exc2}") from exc2
    except lmdb.Error as exc:
        raise error(f"LMDB cannot open the store: {exc}") from exc


def _discard(path: str, reason: str, where: str, error: Callable[[str], StorageError]) -> None:
    log.warning("LMDB store %s (%s) is damaged: %s; discarding it, the table is rebuilt from "
                "its topic", path, where, reason)
    for name in (DAMAGED_MARKER, DATA_FILE, LOCK_FILE):
        try:
            os.remove(os.path.join(path, name))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise error(f"the store is damaged ({reason}) and cannot be removed: {exc}") from exc


class LMDBStorage:
    """One topic-partition of a table in an LMDB environment at ``path`` (a directory).

    ``topic``/``partition`` only name the store in errors and logs.  See the module
    docstring for layout, durability, map growth and threading.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        topic: str | None = None,
        partition: int | None = None,
        map_size: int = DEFAULT_MAP_SIZE,
        sync: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self.topic = topic
        self.partition = partition
        self._env, self._values, self._meta = _open_checked(
            self.path, topic, partition, map_size=map_size, sync=sync)
        self._max_key = self._env.max_key_size()
        self._write_lock = threading.Lock()
        # Held by every read transaction and by set_mapsize (see module docstring).
        self._map_lock = threading.Lock()
        self._closed = False
        log.debug("opened %r (offset %s)", self, self.get_offset())

    def __repr__(self) -> str:
        return f"<LMDBStorage {self._where()} path={self.path!r}>"

    @property
    def map_size(self) -> int:
        """The current size of the memory map in bytes."""
        return self._env.info()["map_size"]

    # -- reads ------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        """The value stored for ``key``, or ``None``."""
        if not key:
            return self._get_meta(_EMPTY_KEY)
        with self._map_lock:
            txn = self._env.begin(db=self._values)
            try:
                return txn.get(key)
            except _READ_DAMAGE as exc:
                raise self._damaged(exc) from exc
            finally:
                txn.abort()

    def has(self, key: bytes) -> bool:
        """Whether ``key`` is stored."""
        if not key:
            return self._get_meta(_EMPTY_KEY) is not None
        with self._map_lock:
            txn = self._env.begin(db=self._values, parent=None, write=False, buffers=True)
            try:
                return txn.get(key) is not None
            except _READ_DAMAGE as exc:
                raise self._damaged(exc) from exc
            finally:
                txn.abort()

    def get_offset(self) -> int | None:
        """The stored table offset, or ``None`` if never set."""
        raw = self._get_meta(_OFFSET_KEY)
        return None if raw is None else int(raw)

    def items(
        self,
        prefix: bytes | None = None,
        start: bytes | None = None,
        end: bytes | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Key-value pairs in ascending key-byte order: all, those starting with
        ``prefix``, or those in ``[start, end)``.

        Entries are read in chunks, each chunk in its own read transaction, so no
        transaction stays open while the caller works and writes may go on (from
        any thread).  Every key is yielded at most once, in order; a write made
        during the iteration is seen if it lands after the current chunk.
        """
        lo, hi = key_range(prefix, start, end)
        return self._iterate(lo, hi)

    def _iterate(self, lo: bytes | None, hi: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        want_empty = not lo and (hi is None or hi != b"")
        seek = None if not lo else lo[: self._max_key]
        after: bytes | None = None  # last key yielded
        while True:
            empty: bytes | None = None
            with self._map_lock:
                txn = self._env.begin(db=self._values)
                try:
                    if want_empty:
                        empty = txn.get(_EMPTY_KEY, db=self._meta)
                    cursor = txn.cursor()
                    positioned = cursor.first() if seek is None else cursor.set_range(seek)
                    chunk = list(islice(cursor.iternext(), _CHUNK)) if positioned else []
                except _READ_DAMAGE as exc:
                    raise self._damaged(exc) from exc
                finally:
                    txn.abort()
            if empty is not None:
                yield b"", empty
            want_empty = False
            if after is not None:
                i = bisect.bisect_right(chunk, after, key=_first)
            elif lo is not None and len(lo) > self._max_key:
                i = bisect.bisect_left(chunk, lo, key=_first)
            else:
                i = 0
            j = len(chunk) if hi is None else bisect.bisect_left(chunk, hi, i, key=_first)
            yield from islice(chunk, i, j)
            if len(chunk) < _CHUNK or j < len(chunk):
                return
            after = seek = chunk[-1][0]

    def _get_meta(self, key: bytes) -> bytes | None:
        with self._map_lock:
            txn = self._env.begin(db=self._meta)
            try:
                return txn.get(key)
            except _READ_DAMAGE as exc:
                raise self._damaged(exc) from exc
            finally:
                txn.abort()

    # -- writes -----------------------------------------------------------

    def set(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key`` (``None`` is rejected: use :meth:`delete`)."""
        if value is None:
            raise TypeError(f"cannot store None under key {key!r}; use delete()")
        if len(key) > self._max_key:
            raise self._key_error(key)
        if key:
            self._write(lambda txn: txn.put(key, value, db=self._values))
        else:
            self._write(lambda txn: txn.put(_EMPTY_KEY, value, db=self._meta))

    def delete(self, key: bytes) -> None:
        """Remove ``key`` (no error if absent)."""
        if key:
            if len(key) <= self._max_key:
                self._write(lambda txn: txn.delete(key, db=self._values))
        else:
            self._write(lambda txn: txn.delete(_EMPTY_KEY, db=self._meta))

    def set_offset(self, offset: int) -> None:
        """Store the table offset."""
        raw = b"%d" % offset
        self._write(lambda txn: txn.put(_OFFSET_KEY, raw, db=self._meta))

    def write_batch(
        self, writes: Iterable[tuple[bytes, bytes | None]], offset: int | None = None
    ) -> None:
        """Apply ``writes`` in order (``None`` value = delete) and, if given, store
        ``offset`` as the table offset -- all in one write transaction.

        Only each key's last write matters within one transaction, so the batch is
        reduced to one put or delete per key and the puts go in one ``putmulti``.
        """
        final = dict(writes)
        touches_empty = b"" in final
        empty = final.pop(b"", None)
        puts = [(k, v) for k, v in final.items() if v is not None]
        dels = [k for k, v in final.items() if v is None]
        raw_offset = None if offset is None else b"%d" % offset
        values, meta = self._values, self._meta

        def apply(txn: lmdb.Transaction[bytes]) -> None:
            if puts:
                txn.cursor(db=values).putmulti(puts, dupdata=False)
            for k in dels:
                txn.delete(k, db=values)
            if touches_empty:
                if empty is None:
                    txn.delete(_EMPTY_KEY, db=meta)
                else:
                    txn.put(_EMPTY_KEY, empty, db=meta)
            if raw_offset is not None:
                txn.put(_OFFSET_KEY, raw_offset, db=meta)

        try:
            self._write(apply)
        except lmdb.BadValsizeError:
            too_long = next((k for k, _ in puts if len(k) > self._max_key), None)
            if too_long is None:
                raise
            raise self._key_error(too_long) from None

    def write_puts(self, puts: list[tuple[bytes, bytes]], offset: int | None = None) -> None:
        """:meth:`write_batch` for a batch of puts of non-empty keys (no ``None`` value, no
        ``b""`` key), such as a table reader's batch without tombstones: the pairs go to
        one ``putmulti`` as they are, in order (a later put of a key overwrites an earlier
        one), without first reducing the batch to one write per key.

        Parameters
        ----------
        puts : list of (bytes, bytes)
            ``(key, value)`` pairs in write order. A batch that holds a tombstone or an
            empty key after all is applied by :meth:`write_batch` (same result).
        offset : int, optional
            The table offset to store with them, in the same transaction.
        """
        raw_offset = None if offset is None else b"%d" % offset
        values, meta = self._values, self._meta

        def apply(txn: lmdb.Transaction[bytes]) -> None:
            if puts:
                txn.cursor(db=values).putmulti(puts, dupdata=False)
            if raw_offset is not None:
                txn.put(_OFFSET_KEY, raw_offset, db=meta)

        try:
            self._write(apply)
        except (lmdb.BadValsizeError, TypeError):
            # nothing was committed: a batch that is not all puts of non-empty keys
            # takes the general path; else a key too long (or a value of a wrong type)
            if any(v is None or not k for k, v in puts):
                self.write_batch(puts, offset)
                return
            too_long = next((k for k, _ in puts if len(k) > self._max_key), None)
            if too_long is None:
                raise
            raise self._key_error(too_long) from None

    def clear(self) -> None:
        """Drop every value and the table offset (one transaction)."""

        def apply(txn: lmdb.Transaction[bytes]) -> None:
            txn.drop(self._values, delete=False)
            txn.drop(self._meta, delete=False)

        self._write(apply)

    def _write(self, apply: Callable[[lmdb.Transaction[bytes]], object]) -> None:
        """Run ``apply`` in a write transaction and commit; on a full map, grow the
        map and run the whole transaction again."""
        with self._write_lock:
            while True:
                try:
                    with self._env.begin(write=True) as txn:
                        apply(txn)
                    return
                except lmdb.MapFullError:
                    self._grow()
                except _READ_DAMAGE as exc:
                    raise self._damaged(exc) from exc

    def _grow(self) -> None:
        """Double the map.  Caller holds the write lock (no write transaction is
        open); taking the map lock waits out the open read transactions."""
        with self._map_lock:
            old = self._env.info()["map_size"]
            self._env.set_mapsize(old * 2)
            new = self._env.info()["map_size"]
        if new <= old:  # never loop forever on a map that cannot grow
            raise lmdb.MapFullError(f"cannot grow the LMDB map of {self._where()} beyond {old} bytes")
        log.info("grew LMDB map of %s from %d to %d MiB", self._where(), old >> 20, new >> 20)

    # -- lifecycle --------------------------------------------------------

    def close(self) -> None:
        """Wait for running reads and writes, fsync, close.  Idempotent; the store
        must not be used afterwards (calls raise :class:`lmdb.Error`)."""
        with self._write_lock, self._map_lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._env.sync(True)
            finally:
                self._env.close()
        log.debug("closed %r", self)

    def _damaged(self, exc: lmdb.Error) -> StorageError:
        """LMDB found damage after the open: mark the store so that the next open discards
        it (and the table is rebuilt), and say so."""
        reason = f"{type(exc).__name__}: {exc}"
        try:
            with open(os.path.join(self.path, DAMAGED_MARKER), "w", encoding="utf-8") as f:
                f.write(reason)
            then = "it is discarded and rebuilt from its topic when next opened"
        except OSError as marker_exc:
            then = f"remove the directory to have it rebuilt (cannot mark it: {marker_exc})"
        log.error("LMDB store %s (%s) is damaged: %s; %s", self.path, self._where(), reason, then)
        return StorageError(f"the store is damaged ({reason}); {then}", path=self.path,
                            topic=self.topic, partition=self.partition)

    def _where(self) -> str:
        return f"topic={self.topic!r}, partition={self.partition}"

    def _key_error(self, key: bytes) -> ValueError:
        return ValueError(
            f"key of {len(key)} bytes exceeds LMDB's maximum key size of "
            f"{self._max_key} bytes ({self._where()}, key starts {key[:32]!r})"
        )


class LMDB:
    """Builder of :class:`LMDBStorage`: ``open(topic, partition)`` opens (creating
    if needed) the environment at ``<path>/<topic>.<partition>/``, with the data
    and offset a previous run left there.

    A topic-partition may be open only once at a time in a process (LMDB's rule);
    close the store before opening it again.

    Parameters
    ----------
    path : str or os.PathLike
        The directory of the environments (created if missing).
    map_size : int
        Initial LMDB map size in bytes (64 MiB); the map doubles when full.
    sync : bool
        ``True`` fsyncs each commit (durable against power loss, slower); ``False``
        (default) leaves writes in the page cache (safe against a killed process; after
        an OS crash the store may be discarded and recovered from Kafka).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        map_size: int = DEFAULT_MAP_SIZE,
        sync: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self.map_size = map_size
        self.sync = sync

    def __repr__(self) -> str:
        return f"LMDB({self.path!r}, map_size={self.map_size}, sync={self.sync})"

    def open(self, topic: str, partition: int) -> LMDBStorage:
        """The store of ``topic``/``partition`` under this builder's path.

        Parameters
        ----------
        topic : str
            The table topic.
        partition : int
            The partition.
        """
        return LMDBStorage(
            os.path.join(self.path, f"{topic}.{partition}"),
            topic=topic,
            partition=partition,
            map_size=self.map_size,
            sync=self.sync,
        )
