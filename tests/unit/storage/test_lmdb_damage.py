"""Damaged LMDB store files (issue 11, defect 2): the check of ``data.mdb`` against its meta
pages, and what ``LMDBStorage`` does with a store that fails it.

Opening a truncated store on code without the check dies with SIGBUS, so every open of a
truncated store runs in a subprocess (the test then fails on its return code instead of
taking pytest down).
"""
from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import goka
from goka.storage import lmdb_check
from goka.storage.lmdb import LMDB, LMDBStorage
from goka.storage.lmdb_check import check_data_file

ROOT = Path(__file__).resolve().parents[3]


def make_store(path: Path, n: int = 400, big: int = 3, clear_first: bool = False) -> Path:
    """A closed store with ``n`` small values, ``big`` values on overflow pages, offset n."""
    store = LMDBStorage(path)
    if clear_first:
        store.write_batch([(b"x", b"y")], offset=0)
        store.clear()
    store.write_batch([(b"k%04d" % i, b"v%d" % i) for i in range(n)], offset=n)
    store.write_batch([(b"big%d" % i, bytes([i]) * 20000) for i in range(big)])
    store.close()
    return path


def open_in_subprocess(path: Path) -> subprocess.CompletedProcess[str]:
    """Open the store at ``path`` in a fresh interpreter; stdout: offset and entry count."""
    code = textwrap.dedent(f"""
        import json, logging, sys
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        from goka.storage.lmdb import LMDBStorage
        store = LMDBStorage({str(path)!r}, topic="t", partition=0)
        print(json.dumps({{"offset": store.get_offset(), "entries": len(list(store.items()))}}))
        store.write_batch([(b"after", b"1")], offset=7)
        store.close()
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=env, cwd=ROOT)


# -- the check ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [dict(n=0, big=0), dict(n=1, big=0), dict(n=3000, big=0),
                                   dict(n=400, big=5), dict(n=50, big=1, clear_first=True)])
def test_sound_stores_pass(tmp_path: Path, shape: dict[str, Any]) -> None:
    store = make_store(tmp_path / "s", **shape)
    assert check_data_file(store / "data.mdb") is None


def test_missing_file_passes(tmp_path: Path) -> None:
    assert check_data_file(tmp_path / "nothing" / "data.mdb") is None


DAMAGE = {
    "truncated to half": (lambda f, s: f.truncate(s), "missing"),
    "one page short of the last page": (lambda f, s: f.truncate_below_last_page(s), "missing"),
    "meta page 0 overwritten": (lambda f, s: f.corrupt_meta(s, (0,)), "meta page 0"),
    "meta page 1 overwritten": (lambda f, s: f.corrupt_meta(s, (1,)), "meta page 1"),
    "both meta pages overwritten": (lambda f, s: f.corrupt_meta(s), "meta page 0"),
    "meta pages zeroed": (lambda f, s: f.corrupt_meta(s, fill=b"\0"), "not a meta page"),
    "garbage file": (lambda f, s: f.fill_garbage(s), "meta page 0"),
    "empty file": (lambda f, s: f.empty(s), "empty"),
    "shorter than one page": (lambda f, s: os.truncate(f.data_file(s), 100), "ends within"),
    "shorter than two pages": (lambda f, s: os.truncate(f.data_file(s), 4096 + 100), "ends within"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_is_detected(tmp_path: Path, faults: ModuleType, damage: str) -> None:
    store = make_store(tmp_path / "s")
    apply, words = DAMAGE[damage]
    apply(faults, store)
    reason = check_data_file(store / "data.mdb")
    assert reason is not None and words in reason, reason


def _patch_meta(data: Path, page: int, field_offset: int, fmt: str, value: int) -> None:
    with open(data, "r+b") as fh:
        fh.seek(page * 4096 + 16 + field_offset)
        fh.write(struct.pack(fmt, value))


def _newer_meta(store: Path) -> int:
    raw = (store / "data.mdb").read_bytes()
    txn = [struct.unpack_from("<Q", raw, p * 4096 + 16 + 128)[0] for p in (0, 1)]
    return 0 if txn[0] > txn[1] else 1


@pytest.mark.parametrize("field,fmt,value,words", [
    (4, "<I", 2, "format version 2"),               # mm_version
    (24, "<I", 3000, "impossible page size"),        # mm_psize (free db pad)
    (120, "<Q", 1 << 40, "beyond its map size"),     # mm_last_pg far beyond the map
])
def test_implausible_meta_fields_are_damage(tmp_path: Path, field: int, fmt: str, value: int,
                                            words: str) -> None:
    store = make_store(tmp_path / "s")
    _patch_meta(store / "data.mdb", _newer_meta(store), field, fmt, value)
    reason = check_data_file(store / "data.mdb")
    assert reason is not None and words in reason, reason


def test_short_file_whose_trees_are_all_present_passes(tmp_path: Path, faults: ModuleType,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """LMDB never writes pages freed in the transaction that allocated them, so the file may
    end before the meta's last page: not damage while every reachable page is there."""
    store = make_store(tmp_path / "s")
    meta = faults.meta_of(store)
    assert meta["size"] == (meta["last_pg"] + 1) * meta["page_size"]
    _patch_meta(store / "data.mdb", _newer_meta(store), 120, "<Q", meta["last_pg"] + 5)
    assert check_data_file(store / "data.mdb") is None
    with caplog.at_level(logging.WARNING, logger="goka.storage"):
        s = LMDBStorage(store)
        try:
            assert s.get_offset() == 400 and s.get(b"k0399") == b"v399"
            s.write_batch([(b"more%d" % i, b"x" * 3000) for i in range(20)])
            assert s.get(b"more19") == b"x" * 3000
        finally:
            s.close()
    assert not caplog.records


def _short_by_loose_pages(path: Path, pattern: str) -> Path:
    """A sound store whose last transaction allocated pages and freed them again (LMDB
    writes none of them, so the file ends before the meta's last page)."""
    import lmdb

    env = lmdb.open(str(path), max_dbs=2, map_size=1 << 26)
    values, meta = env.open_db(b"values"), env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"keep", b"1", db=values)
        txn.put(b"offset", b"41", db=meta)
    with env.begin(write=True) as txn:
        if pattern == "big value put and deleted":
            txn.put(b"big", b"x" * 50000, db=values)
            txn.delete(b"big", db=values)
        else:  # keys put and deleted in reverse
            for i in range(3000):
                txn.put(b"k%05d" % i, b"x" * 100, db=values)
            for i in reversed(range(3000)):
                txn.delete(b"k%05d" % i, db=values)
    env.close()
    return path


@pytest.mark.parametrize("pattern", ["big value put and deleted", "keys put and deleted"])
def test_sound_short_store_passes_and_opens(tmp_path: Path, faults: ModuleType, pattern: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """A size check alone would condemn these sound stores: the trees are walked instead."""
    store = _short_by_loose_pages(tmp_path / "s", pattern)
    meta = faults.meta_of(store)
    assert meta["size"] < (meta["last_pg"] + 1) * meta["page_size"]
    assert check_data_file(store / "data.mdb") is None
    with caplog.at_level(logging.WARNING, logger="goka.storage"):
        s = LMDBStorage(store)
        try:
            assert s.get_offset() == 41 and list(s.items()) == [(b"keep", b"1")]
            s.write_batch([(b"k%d" % i, b"y" * 5000) for i in range(100)], offset=42)
            assert s.get(b"k99") == b"y" * 5000
        finally:
            s.close()
    assert not caplog.records
    assert check_data_file(store / "data.mdb") is None


def test_reference_beyond_the_end_is_found_by_the_walk(tmp_path: Path, faults: ModuleType) -> None:
    """Cutting exactly the pages of an overflow value (file still longer than the trees'
    other pages) is found by walking the trees."""
    store = make_store(tmp_path / "s", n=5, big=1)
    faults.truncate_below_last_page(store)
    reason = check_data_file(store / "data.mdb")
    assert reason is not None and "is missing" in reason, reason


_TRUNCATIONS = textwrap.dedent("""
    import json, os, random, shutil, sys
    from goka.storage.lmdb import LMDBStorage
    from goka.storage.lmdb_check import check_data_file

    root, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    outcome = {"sound": 0, "damaged": 0}
    for case in range(120):
        path = os.path.join(root, str(case))
        store = LMDBStorage(path)
        for step in range(rng.randint(1, 6)):
            store.write_batch([(b"k%d" % rng.randrange(2000), None if rng.random() < 0.2 else
                                b"v" * rng.choice([10, 300, 6000, 20000])) for _ in range(rng.randint(1, 300))],
                              offset=step)
        store.close()
        data = os.path.join(path, "data.mdb")
        size = os.path.getsize(data)
        os.truncate(data, rng.choice([rng.randrange(size), rng.randrange(size) // 4096 * 4096,
                                      size - 4096 * rng.randint(1, 3)]))
        sound = check_data_file(data) is None
        outcome["sound" if sound else "damaged"] += 1
        store = LMDBStorage(path)  # a damaged one is discarded here
        n = sum(1 for _ in store.items())  # reads every page a sound one references
        assert sound or (n == 0 and store.get_offset() is None)
        store.write_batch([(b"k%d" % i, b"w" * 3000) for i in range(50)], offset=99)
        store.close()
        shutil.rmtree(path)
    print(json.dumps(outcome))
""")


def test_random_truncations_never_crash(tmp_path: Path) -> None:
    """120 random stores cut at random lengths (in a subprocess: a wrong verdict is a
    SIGBUS): whatever passes the check is read completely and written without a crash;
    whatever fails it is discarded."""
    run = subprocess.run([sys.executable, "-c", _TRUNCATIONS, str(tmp_path), "11"], capture_output=True,
                         text=True, timeout=100, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert run.returncode == 0, f"rc {run.returncode}: {run.stderr[-2000:]}"
    outcome = json.loads(run.stdout)
    assert outcome["damaged"] > 0 and outcome["sound"] + outcome["damaged"] == 120, outcome


_META_FLIPS = textwrap.dedent("""
    import json, os, random, shutil, sys
    import goka
    from goka.storage.lmdb import LMDBStorage
    from goka.storage.lmdb_check import check_data_file

    root, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    outcome = {"sound": 0, "damaged": 0, "found_later": 0}
    for case in range(200):
        path = os.path.join(root, str(case))
        store = LMDBStorage(path)
        for step in range(rng.randint(1, 4)):
            store.write_batch([(b"k%d" % rng.randrange(500), b"v" * rng.choice([10, 300, 6000]))
                               for _ in range(rng.randint(1, 200))], offset=step)
        store.close()
        data = os.path.join(path, "data.mdb")
        with open(data, "r+b") as fh:
            for _ in range(rng.randint(1, 3)):  # header and meta record of page 0 or 1
                fh.seek(rng.randrange(2) * 4096 + rng.randrange(152))
                fh.write(bytes([rng.randrange(256)]))
        outcome["sound" if check_data_file(data) is None else "damaged"] += 1
        store = LMDBStorage(path)
        try:
            sum(1 for _ in store.items())
            store.write_batch([(b"w%d" % i, b"w" * 3000) for i in range(30)], offset=99)
        except goka.StorageError:
            outcome["found_later"] += 1
        store.close()
        shutil.rmtree(path)
    print(json.dumps(outcome))
""")


def test_random_meta_page_damage_never_crashes(tmp_path: Path) -> None:
    """200 stores with 1-3 random bytes written into a meta page (in a subprocess): none
    crashes the process, and LMDB's own refusals after the check are StorageErrors."""
    run = subprocess.run([sys.executable, "-c", _META_FLIPS, str(tmp_path), "5"], capture_output=True,
                         text=True, timeout=100, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert run.returncode == 0, f"rc {run.returncode}: {run.stderr[-2000:]}"
    outcome = json.loads(run.stdout)
    assert outcome["damaged"] > 50 and outcome["sound"] > 50, outcome


# -- LMDBStorage on a damaged store ----------------------------------------------------------


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_store_is_discarded_with_a_warning(tmp_path: Path, faults: ModuleType,
                                                   damage: str) -> None:
    store = make_store(tmp_path / "s")
    DAMAGE[damage][0](faults, store)
    run = open_in_subprocess(store)
    assert run.returncode == 0, f"rc {run.returncode}: {run.stderr[-2000:]}"
    assert json.loads(run.stdout) == {"offset": None, "entries": 0}
    assert "WARNING" in run.stderr and f"LMDB store {store} " in run.stderr and "damaged" in run.stderr
    reopened = LMDBStorage(store)
    try:
        assert reopened.get_offset() == 7 and list(reopened.items()) == [(b"after", b"1")]
    finally:
        reopened.close()


def test_sound_store_opens_without_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = make_store(tmp_path / "s")
    with caplog.at_level(logging.WARNING, logger="goka.storage"):
        s = LMDBStorage(store)
        assert s.get_offset() == 400 and len(list(s.items())) == 403
        s.close()
    assert not caplog.records


def test_damage_lmdb_itself_reports_is_discarded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Damage inside the file that the check does not look at (the main tree's root page
    zeroed): LMDB reports it on open (MDB_CORRUPTED); the store is discarded the same way."""
    store = make_store(tmp_path / "s")
    with open(store / "data.mdb", "rb") as fh:
        metas = [lmdb_check._meta(fh.fileno(), i, i * 4096) for i in (0, 1)]
    main_root = max(metas, key=lambda m: m.txnid).roots[1]
    with open(store / "data.mdb", "r+b") as fh:
        fh.seek(main_root * 4096)
        fh.write(bytes(4096))
    assert check_data_file(store / "data.mdb") is None  # not the check's business
    with caplog.at_level(logging.WARNING, logger="goka.storage"):
        s = LMDBStorage(store, topic="t", partition=2)
    try:
        assert s.get_offset() is None and list(s.items()) == []
    finally:
        s.close()
    [record] = caplog.records
    assert str(store) in record.getMessage() and "Corrupted" in record.getMessage()
    assert "topic='t', partition=2" in record.getMessage()


@pytest.mark.parametrize("how", ["garbage", "truncate", "remove"])
def test_damaged_lock_file_is_harmless(tmp_path: Path, faults: ModuleType, how: str,
                                       caplog: pytest.LogCaptureFixture) -> None:
    """LMDB rebuilds the lock file when it is the only user; the data stays."""
    store = make_store(tmp_path / "s")
    faults.damage_lock(store, how)
    with caplog.at_level(logging.WARNING, logger="goka.storage"):
        s = LMDBStorage(store)
        try:
            assert s.get_offset() == 400 and s.get(b"k0007") == b"v7"
        finally:
            s.close()
    assert not caplog.records


# -- where rebuilding is impossible: goka.StorageError naming the path -------------------------


def test_store_path_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "t.0").write_bytes(b"not a directory")
    with pytest.raises(goka.StorageError) as info:
        LMDB(tmp_path).open("t", 0)
    err = info.value
    assert err.path == str(tmp_path / "t.0") and err.topic == "t" and err.partition == 0
    assert str(tmp_path / "t.0") in str(err) and "topic='t', partition=0" in str(err)


def test_data_file_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "t.1" / "data.mdb").mkdir(parents=True)
    with pytest.raises(goka.StorageError, match=str(tmp_path / "t.1")):
        LMDB(tmp_path).open("t", 1)


def test_damaged_file_that_cannot_be_removed(tmp_path: Path, faults: ModuleType,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(tmp_path / "t.0")
    faults.corrupt_meta(store)
    real_remove = os.remove

    def refuse(path: Any, *args: Any, **kw: Any) -> None:
        if str(path).endswith("data.mdb"):
            raise PermissionError(13, "Permission denied", str(path))
        real_remove(path, *args, **kw)

    monkeypatch.setattr(os, "remove", refuse)
    with pytest.raises(goka.StorageError) as info:
        LMDB(tmp_path).open("t", 0)
    text = str(info.value)
    assert str(store) in text and "damaged" in text and "cannot be removed" in text
    assert isinstance(info.value.__cause__, PermissionError)


def test_lmdb_refusing_a_sound_store_is_a_storage_error(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """An LMDB error that is no sign of damage (here: out of readers) is not a reason to
    discard the store: StorageError, data kept."""
    import lmdb

    store = make_store(tmp_path / "t.0")

    def readers_full(*args: Any, **kw: Any) -> Any:
        raise lmdb.ReadersFullError("mdb_env_open: MDB_READERS_FULL")

    monkeypatch.setattr(lmdb, "open", readers_full)
    with pytest.raises(goka.StorageError, match="READERS_FULL"):
        LMDB(tmp_path).open("t", 0)
    monkeypatch.undo()
    assert check_data_file(store / "data.mdb") is None
    s = LMDB(tmp_path).open("t", 0)
    try:
        assert s.get_offset() == 400
    finally:
        s.close()


# -- damage LMDB finds after the open ----------------------------------------------------------


def _zero_leaf_holding(store: Path, key: bytes) -> None:
    """Zero the leaf page that holds ``key`` (LMDB then reports MDB_CORRUPTED reaching it)."""
    data = store / "data.mdb"
    raw = data.read_bytes()
    for page in range(2, len(raw) // 4096):
        body = raw[page * 4096:(page + 1) * 4096]
        if struct.unpack_from("<H", body, 10)[0] == 0x02 and key in body:
            with open(data, "r+b") as fh:
                fh.seek(page * 4096)
                fh.write(bytes(4096))
            return
    raise AssertionError(f"no leaf holds {key!r}")


def test_damage_found_after_open_is_a_storage_error_and_rebuilt_next_time(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = make_store(tmp_path / "t.1", n=3000, big=0)
    _zero_leaf_holding(store, b"k1500")
    assert check_data_file(store / "data.mdb") is None  # inside the file: not visible before
    s = LMDB(tmp_path).open("t", 1)
    assert s.get(b"k0000") is not None or s.get(b"k2999") is not None  # other leaves still read
    with pytest.raises(goka.StorageError) as info:
        s.get(b"k1500")
    err = info.value
    assert err.path == str(store) and (err.topic, err.partition) == ("t", 1)
    assert "Corrupted" in str(err) and "rebuilt" in str(err)
    s.close()  # (iterating over the zeroed page instead aborts in an LMDB assertion: see lmdb.py)
    with caplog.at_level(logging.WARNING, logger="goka.storage"):
        s = LMDB(tmp_path).open("t", 1)
    try:
        assert s.get_offset() is None and list(s.items()) == []
    finally:
        s.close()
    assert any(str(store) in r.getMessage() and "found damaged while in use" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)
    # rebuilt and sound: the marker is gone, no further warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="goka.storage"):
        LMDB(tmp_path).open("t", 1).close()
    assert not caplog.records
