"""Check an LMDB data file against its own meta pages before LMDB maps it.

LMDB maps ``data.mdb`` into memory and trusts it: a page the file does not hold (the
file was truncated) is read through the map and the process dies with SIGBUS, and
LMDB's open does not compare the file's size with what its meta pages claim.
:func:`check_data_file` reads the two meta pages with plain reads -- no map -- and
reports why the file cannot be opened safely, or ``None`` when it can.

The LMDB 0.9 file format (``MDB_page``/``MDB_meta``/``MDB_db``/``MDB_node`` in
``mdb.c``), in the machine's byte order and C layout (``pgno_t`` and ``size_t`` are
pointer-sized):

- every page starts with a header: page number, pad (u16), flags (u16), then two u16
  bounds of the free space (``lower``/``upper``) or, on an overflow page, a u32 count
  of pages; the node offsets (u16 each) follow the header;
- pages 0 and 1 are meta pages (flag ``P_META``); after the header: magic
  ``0xBEEFC0DE`` (u32), format version 1 (u32), fixed map address, map size, two
  ``MDB_db`` records (the free-page tree and the main tree; the first one's pad field is
  the page size), the last used page number and the id of the transaction that wrote
  it.  LMDB needs both to be valid and uses the one with the higher transaction id;
- an ``MDB_db`` record: pad (u32), flags (u16), depth (u16), branch/leaf/overflow page
  counts, entries, root page (``P_INVALID``, all ones, when empty);
- a node: two u16 halves of the data size (on a branch page: of the child page number,
  whose top bits are in the flags field), flags (u16), key size (u16), key, data.  A
  leaf node's data is an overflow page number (``F_BIGDATA``) or, for a named
  database, its ``MDB_db`` record (``F_SUBDATA``).

Each meta page is checked for: the meta flag, magic and version; a power-of-two page size
(equal in both); flags of the two trees that a goka store can have (LMDB asserts -- aborts
the process -- on a main tree flagged for duplicates); tree roots among the used pages;
the last used page within the map size it records (LMDB never allocates beyond the map);
a transaction id of its own parity (transaction N writes meta page N % 2).  Of the two,
the newer may not have fewer pages than the older (the file only grows).

The file normally holds every page up to the meta's last used page.  It may be shorter
when the last pages were allocated and freed within the transaction that wrote the
meta (LMDB never writes such "loose" pages).  A file shorter than the meta says is
therefore not condemned at once: its trees are walked (plain reads again) and the file
is damaged only if a reachable page lies beyond its end.

What no check before the map can catch is listed in ``goka/storage/lmdb.py``.
"""
from __future__ import annotations

import os
import struct
from typing import NamedTuple

__all__ = ["check_data_file", "DATA_FILE", "LOCK_FILE"]

DATA_FILE = "data.mdb"
LOCK_FILE = "lock.mdb"

MAGIC = 0xBEEFC0DE
DATA_VERSION = 1
P_BRANCH, P_LEAF, P_OVERFLOW, P_META, P_LEAF2 = 0x01, 0x02, 0x04, 0x08, 0x20
F_BIGDATA, F_SUBDATA, F_DUPDATA = 0x01, 0x02, 0x04
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 256, 0x10000
MDB_INTEGERKEY = 0x08
#: flags the free-page tree's record may hold: its own INTEGERKEY plus the persistent
#: environment flags (MDB_FIXEDMAP, MDB_NOSUBDIR)
_FREE_FLAGS = MDB_INTEGERKEY | 0x01 | 0x4000

# C layouts, native byte order and alignment ("N" = size_t = pgno_t, "P" = void *).
_HEADER = struct.Struct("@NHHHH")  # pgno, pad, flags, lower, upper
_HEADER_SIZE = _HEADER.size  # PAGEHDRSZ
_DB = "IHHNNNNN"  # pad, flags, depth, branch, leaf, overflow, entries, root
_DB_STRUCT = struct.Struct("@" + _DB)
_META = struct.Struct("@IIPN" + _DB + _DB + "NN")  # magic .. mapsize, 2 dbs, last_pg, txnid
_NODE = struct.Struct("@HHHH")  # lo, hi, flags, ksize
_U16 = struct.Struct("@H")
_U32 = struct.Struct("@I")
_PGNO = struct.Struct("@N")
_PGNO_BITS = _PGNO.size * 8
P_INVALID = (1 << _PGNO_BITS) - 1


class _Damaged(Exception):
    """Internal: the reason a file cannot be opened safely."""


def check_data_file(path: str | os.PathLike[str]) -> str | None:
    """Why the LMDB data file at ``path`` is unsafe to map, or ``None`` if it looks sound
    (or does not exist: LMDB creates it).

    Reasons: shorter than its two meta pages, a meta page without LMDB's magic or of
    another format version, an impossible page size, or a file that lacks pages its
    trees reference.  An empty file is reported too (LMDB would start afresh, silently).
    Errors reading the file (other than its absence) propagate as :class:`OSError`.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return "the data file is empty"
        try:
            _check(fd, size)
        except _Damaged as exc:
            return str(exc)
        return None
    finally:
        os.close(fd)


def _read(fd: int, offset: int, length: int) -> bytes:
    data = os.pread(fd, length, offset)
    if len(data) < length:
        raise _Damaged(f"the data file ends within {length} bytes at offset {offset}")
    return data


class _Meta(NamedTuple):
    page_size: int
    map_size: int
    last_pg: int
    roots: tuple[int, int]  # of the free-page tree and the main tree
    txnid: int


def _meta(fd: int, index: int, offset: int) -> _Meta:
    """The fields of meta page ``index`` (at ``offset``) that the check uses."""
    raw = _read(fd, offset, _HEADER_SIZE + _META.size)
    _, _, flags, _, _ = _HEADER.unpack_from(raw)
    if not flags & P_META:
        raise _Damaged(f"page {index} is not a meta page (flags {flags:#x})")
    fields = _META.unpack_from(raw, _HEADER_SIZE)
    magic, version = fields[0], fields[1]
    if magic != MAGIC:
        raise _Damaged(f"meta page {index} has no LMDB magic ({magic:#x})")
    if version != DATA_VERSION:
        raise _Damaged(f"meta page {index} has format version {version}, expected {DATA_VERSION}")
    free_db, main_db = fields[4:12], fields[12:20]
    page_size, last_pg, txnid = free_db[0], fields[20], fields[21]
    if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE or page_size & (page_size - 1):
        raise _Damaged(f"meta page {index} has an impossible page size {page_size}")
    if last_pg < 1:
        raise _Damaged(f"meta page {index} has an impossible last page {last_pg}")
    # LMDB never allocates a page beyond its map, and transaction N writes meta page N % 2
    # (both hold transaction 0 in a new file).
    if (last_pg + 1) * page_size > fields[3]:
        raise _Damaged(f"meta page {index}'s last page {last_pg} lies beyond its map size {fields[3]}")
    if txnid % 2 != index and txnid != 0:
        raise _Damaged(f"meta page {index} holds transaction {txnid}, of the other meta page")
    free_flags, main_flags = free_db[1], main_db[1]
    if not free_flags & MDB_INTEGERKEY or free_flags & ~_FREE_FLAGS:
        raise _Damaged(f"meta page {index} has impossible free-page tree flags {free_flags:#x}")
    if main_flags:  # goka's stores hold named databases: the main tree has no flags
        raise _Damaged(f"meta page {index} has main tree flags {main_flags:#x}, a goka store has none")
    for root in (free_db[7], main_db[7]):
        if root != P_INVALID and not 2 <= root <= last_pg:
            raise _Damaged(f"meta page {index} has a tree root {root} outside pages 2-{last_pg}")
    return _Meta(page_size, fields[3], last_pg, (free_db[7], main_db[7]), txnid)


def _check(fd: int, size: int) -> None:
    meta0 = _meta(fd, 0, 0)
    meta1 = _meta(fd, 1, meta0.page_size)
    if meta1.page_size != meta0.page_size:
        raise _Damaged(f"the meta pages disagree on the page size ({meta0.page_size} and {meta1.page_size})")
    meta, older = (meta1, meta0) if meta1.txnid > meta0.txnid else (meta0, meta1)
    if older.last_pg > meta.last_pg:  # the file only grows
        raise _Damaged(f"the older meta page's last page {older.last_pg} is beyond the newer one's "
                       f"{meta.last_pg}")
    need = (meta.last_pg + 1) * meta.page_size
    if size >= need:
        return
    # Shorter than the meta says: only damaged if a reachable page is missing.
    _Walker(fd, size, meta.page_size, meta.last_pg, need).walk(meta.roots)


class _Walker:
    """Visits every page reachable from the meta's two trees (and named databases)."""

    def __init__(self, fd: int, size: int, page_size: int, last_pg: int, need: int) -> None:
        self.fd = fd
        self.pages = size // page_size
        self.page_size = page_size
        self.last_pg = last_pg
        self.need = need
        self.size = size
        self.seen: set[int] = set()

    def _missing(self, pgno: int, what: str) -> _Damaged:
        return _Damaged(f"the data file has {self.size} bytes but its meta page needs {self.need} "
                        f"(pages 0-{self.last_pg} of {self.page_size} bytes); {what} {pgno} is missing")

    def walk(self, roots: tuple[int, int]) -> None:
        stack = [r for r in roots if r != P_INVALID]
        while stack:
            pgno = stack.pop()
            if pgno in self.seen:
                raise _Damaged(f"page {pgno} is referenced twice")
            self.seen.add(pgno)
            if pgno < 2 or pgno > self.last_pg:
                raise _Damaged(f"a tree references page {pgno}, outside pages 2-{self.last_pg}")
            if pgno >= self.pages:
                raise self._missing(pgno, "page")
            stack.extend(self._children(pgno))

    def _children(self, pgno: int) -> list[int]:
        ps = self.page_size
        page = _read(self.fd, pgno * ps, ps)
        _, _, flags, lower, upper = _HEADER.unpack_from(page)
        if flags & P_LEAF2:
            return []
        if not flags & (P_BRANCH | P_LEAF) or not _HEADER_SIZE <= lower <= upper <= ps:
            raise _Damaged(f"page {pgno} is not a tree page (flags {flags:#x})")
        children = []
        for i in range((lower - _HEADER_SIZE) >> 1):
            (ptr,) = _U16.unpack_from(page, _HEADER_SIZE + 2 * i)
            if not upper <= ptr <= ps - _NODE.size:
                raise _Damaged(f"page {pgno} has a node outside its bounds")
            lo, hi, nflags, ksize = _NODE.unpack_from(page, ptr)
            if flags & P_BRANCH:
                child = lo | hi << 16
                if _PGNO_BITS > 32:
                    child |= nflags << 32
                children.append(child)
                continue
            data = ptr + _NODE.size + ksize
            if nflags & F_BIGDATA:
                if data + _PGNO.size > ps:
                    raise _Damaged(f"page {pgno} has a node outside its bounds")
                (first,) = _PGNO.unpack_from(page, data)
                self._overflow(first)
            elif nflags & F_SUBDATA:
                if data + _DB_STRUCT.size > ps:
                    raise _Damaged(f"page {pgno} has a node outside its bounds")
                root = _DB_STRUCT.unpack_from(page, data)[7]
                if root != P_INVALID:
                    children.append(root)
        return children

    def _overflow(self, first: int) -> None:
        if first < 2 or first > self.last_pg:
            raise _Damaged(f"a node references overflow page {first}, outside pages 2-{self.last_pg}")
        if first >= self.pages:
            raise self._missing(first, "overflow page")
        ps = self.page_size
        header = _read(self.fd, first * ps, _HEADER_SIZE)
        _, _, flags, _, _ = _HEADER.unpack_from(header)
        (count,) = _U32.unpack_from(header, _HEADER_SIZE - 4)
        if not flags & P_OVERFLOW or count < 1:
            raise _Damaged(f"page {first} is not an overflow page (flags {flags:#x})")
        last = first + count - 1
        if last >= self.pages:
            raise self._missing(last, "overflow page")
        self.seen.add(first)
