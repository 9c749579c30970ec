"""Damaged local table files on restart (issue 11, defect 2), on the embedded cluster.

A processor or view restarted over a damaged LMDB store discards it with a WARNING naming
its path and rebuilds the exact table from the table topic; where the store cannot be
rebuilt, it fails with ``goka.StorageError`` naming the path.

On code without the check, a truncated ``data.mdb`` kills the process with SIGBUS: those
restarts run in a subprocess (against the cluster's bootstrap address), so the test fails
on the return code instead of taking pytest down.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import goka
from goka import codec

ROOT = Path(__file__).resolve().parents[2]
GROUP_CONFIG = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 1000}
KEYS = [f"user-{i}" for i in range(40)]
TIMEOUT = 60


def counting_group(group: str, topic: str) -> goka.GroupGraph:
    def count(ctx: goka.Context, msg: Any) -> None:
        ctx.set_value((ctx.value() or 0) + msg)

    return goka.define_group(group, goka.Input(topic, codec.Int64(), count), goka.Persist(codec.Int64()))


def emit_ones(cluster: goka.EmbeddedCluster, topic: str, rounds: int) -> None:
    with goka.Emitter(cluster, topic, codec.Int64()) as emitter:
        futures = [emitter.emit(k, 1) for _ in range(rounds) for k in KEYS]
    for f in futures:
        f.result(10)


def run_counter(cluster: goka.EmbeddedCluster, group: str, topic: str, path: Path, expect: int,
                wait_for: Any) -> None:
    """Run the counting processor until every key counts ``expect``, then stop it."""
    with goka.Processor(cluster, counting_group(group, topic), path=str(path),
                        consumer_config=GROUP_CONFIG) as proc:
        assert proc.wait_recovered(TIMEOUT)
        wait_for(lambda: all(proc.get(k) == expect for k in KEYS), TIMEOUT, f"every count to reach {expect}")


def table_dirs(path: Path, table: str) -> list[Path]:
    return [path / f"{table}.{p}" for p in range(4)]


_RESTART = textwrap.dedent("""
    import json, logging, sys, time
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    import goka
    from goka import codec
    brokers, kind, name, topic, path, expect = sys.argv[1:7]
    keys = json.loads(sys.argv[7])
    config = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 1000}

    def count(ctx, msg):
        ctx.set_value((ctx.value() or 0) + msg)

    def settle(read):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            values = {k: read(k) for k in keys}
            if all(v == int(expect) for v in values.values()):
                break
            time.sleep(0.05)
        print(json.dumps(values))

    if kind == "processor":
        graph = goka.define_group(name, goka.Input(topic, codec.Int64(), count), goka.Persist(codec.Int64()))
        with goka.Processor(brokers, graph, path=path, consumer_config=config) as proc:
            assert proc.wait_recovered(60)
            settle(proc.get)
    else:
        with goka.View(brokers, name, codec.Int64(), path=path, consumer_config=config) as view:
            assert view.wait_recovered(60)
            settle(view.get)
""")


def restart_in_subprocess(cluster: goka.EmbeddedCluster, kind: str, name: str, topic: str, path: Path,
                          expect: int) -> tuple[dict[str, Any], str]:
    """Run a processor (or view) in a fresh interpreter until every key reads ``expect``;
    returns what it read and its stderr. Fails the test on a crash."""
    run = subprocess.run(
        [sys.executable, "-c", _RESTART, cluster.brokers, kind, name, topic, str(path), str(expect),
         json.dumps(KEYS)],
        capture_output=True, text=True, timeout=TIMEOUT + 30, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, f"{kind} restart exited with {run.returncode}: {run.stderr[-3000:]}"
    return json.loads(run.stdout.strip().splitlines()[-1]), run.stderr


def warned_paths(records: list[logging.LogRecord]) -> str:
    return "\n".join(r.getMessage() for r in records
                     if r.levelno == logging.WARNING and r.name == "goka.storage")


def test_processor_rebuilds_truncated_store(embedded_cluster: goka.EmbeddedCluster, tmp_path: Path,
                                            faults: ModuleType, wait_for: Any) -> None:
    """The issue's reproduction: half of one partition's data.mdb cut off, another one short
    of its last page; the restarted processor (a subprocess) rebuilds both and counts on
    exactly -- no message lost or counted twice."""
    cluster, topic, group = embedded_cluster, "clicks", "counter"
    cluster.create_topic(topic, 4)
    emit_ones(cluster, topic, 3)
    path = tmp_path / "proc"
    run_counter(cluster, group, topic, path, 3, wait_for)
    stores = table_dirs(path, goka.group_table(group))
    faults.truncate(stores[0])
    faults.truncate_below_last_page(stores[3])
    emit_ones(cluster, topic, 1)
    values, stderr = restart_in_subprocess(cluster, "processor", group, topic, path, 4)
    assert values == {k: 4 for k in KEYS}
    for damaged in (stores[0], stores[3]):
        assert f"LMDB store {damaged} " in stderr and "is damaged" in stderr, stderr[-3000:]
    assert f"LMDB store {stores[1]} " not in stderr


def test_processor_rebuilds_store_with_damaged_meta(embedded_cluster: goka.EmbeddedCluster,
                                                    tmp_path: Path, faults: ModuleType, wait_for: Any,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Meta pages overwritten (LMDB: MDB_INVALID), a file of random bytes, an empty file:
    each discarded with a WARNING naming its path; the table is exact again."""
    cluster, topic, group = embedded_cluster, "clicks", "counter"
    cluster.create_topic(topic, 4)
    emit_ones(cluster, topic, 2)
    path = tmp_path / "proc"
    run_counter(cluster, group, topic, path, 2, wait_for)
    stores = table_dirs(path, goka.group_table(group))
    faults.corrupt_meta(stores[0])
    faults.fill_garbage(stores[1])
    faults.empty(stores[2])
    emit_ones(cluster, topic, 1)
    with caplog.at_level(logging.WARNING, logger="goka.storage"):
        run_counter(cluster, group, topic, path, 3, wait_for)
    warnings = warned_paths(caplog.records)
    for damaged in stores[:3]:
        assert f"LMDB store {damaged} " in warnings
    assert f"LMDB store {stores[3]} " not in warnings
    # the rebuilt stores are sound: a further restart warns about nothing
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="goka.storage"):
        run_counter(cluster, group, topic, path, 3, wait_for)
    assert not warned_paths(caplog.records)


def _fill_table(cluster: goka.EmbeddedCluster, table: str, value: int) -> None:
    with goka.Emitter(cluster, table, codec.Int64()) as emitter:
        futures = [emitter.emit(k, value) for k in KEYS]
    for f in futures:
        f.result(10)


def test_view_rebuilds_damaged_stores(embedded_cluster: goka.EmbeddedCluster, tmp_path: Path,
                                      faults: ModuleType, wait_for: Any,
                                      caplog: pytest.LogCaptureFixture) -> None:
    cluster, table = embedded_cluster, "scores-table"
    cluster.create_topic(table, 4, {"cleanup.policy": "compact"})
    _fill_table(cluster, table, 5)
    path = tmp_path / "view"
    with goka.View(cluster, table, codec.Int64(), path=str(path), consumer_config=GROUP_CONFIG) as view:
        assert view.wait_recovered(TIMEOUT)
        assert dict(view.items()) == {k: 5 for k in KEYS}
    stores = table_dirs(path, table)
    # meta damage, in this process
    faults.corrupt_meta(stores[2], (1,))
    _fill_table(cluster, table, 6)
    with caplog.at_level(logging.WARNING, logger="goka.storage"):
        with goka.View(cluster, table, codec.Int64(), path=str(path), consumer_config=GROUP_CONFIG) as view:
            assert view.wait_recovered(TIMEOUT)
            wait_for(lambda: dict(view.items()) == {k: 6 for k in KEYS}, TIMEOUT, "the view to show 6s")
    assert f"LMDB store {stores[2]} " in warned_paths(caplog.records)
    # truncation, in a subprocess
    faults.truncate(stores[1])
    _fill_table(cluster, table, 7)
    values, stderr = restart_in_subprocess(cluster, "view", table, table, path, 7)
    assert values == {k: 7 for k in KEYS}
    assert f"LMDB store {stores[1]} " in stderr and "is damaged" in stderr


def test_processor_fails_with_storage_error_when_store_cannot_be_rebuilt(
        embedded_cluster: goka.EmbeddedCluster, tmp_path: Path) -> None:
    """The store's directory is a file: nothing to discard, nowhere to rebuild -- the
    processor stops with StorageError naming the path (no crash, no silent empty table)."""
    cluster, topic, group = embedded_cluster, "clicks", "counter"
    cluster.create_topic(topic, 4)
    emit_ones(cluster, topic, 1)
    path = tmp_path / "proc"
    blocker = path / f"{goka.group_table(group)}.2"
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"in the way")
    proc = goka.Processor(cluster, counting_group(group, topic), path=str(path), consumer_config=GROUP_CONFIG)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            proc.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    if thread.is_alive():
        proc.stop()
        pytest.fail("the processor kept running over a store it cannot open")
    [err] = errors
    assert isinstance(err, goka.StorageError), repr(err)
    assert err.path == str(blocker) and err.partition == 2 and str(blocker) in str(err)


def test_view_fails_with_storage_error_when_store_cannot_be_rebuilt(
        embedded_cluster: goka.EmbeddedCluster, tmp_path: Path) -> None:
    cluster, table = embedded_cluster, "scores-table"
    cluster.create_topic(table, 4, {"cleanup.policy": "compact"})
    path = tmp_path / "view"
    (path / f"{table}.0" / "data.mdb").mkdir(parents=True)
    with pytest.raises(goka.StorageError) as info:
        goka.View(cluster, table, codec.Int64(), path=str(path)).start()
    assert info.value.path == str(path / f"{table}.0") and info.value.topic == table


def _zero_leaf_holding(store: Path, key: bytes) -> int:
    """Zero every leaf page of the file that holds ``key``: LMDB writes copy-on-write, so
    besides the live leaf the file may hold stale copies of it in freed pages, and zeroing
    only the first one found (by file order) could leave the live leaf intact (the
    processor would then never meet the damage). Returns how many pages were zeroed."""
    data = store / "data.mdb"
    raw = data.read_bytes()
    zeroed = 0
    with open(data, "r+b") as fh:
        for page in range(2, len(raw) // 4096):
            body = raw[page * 4096:(page + 1) * 4096]
            if int.from_bytes(body[10:12], "little") == 0x02 and key in body:  # a leaf page
                fh.seek(page * 4096)
                fh.write(bytes(4096))
                zeroed += 1
    if not zeroed:
        raise AssertionError(f"no leaf page holds {key!r}")
    return zeroed


def test_damage_found_while_processing_stops_then_rebuilds(
        embedded_cluster: goka.EmbeddedCluster, tmp_path: Path, wait_for: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    """A page zeroed inside the file (invisible to the check at open): the callback's read
    of it stops the processor with StorageError naming the path; the next start discards
    the store with a WARNING and rebuilds the exact table."""
    cluster, topic, group = embedded_cluster, "clicks", "counter"
    cluster.create_topic(topic, 1)
    keys = [f"user-{i:04d}" for i in range(2000)]
    with goka.Emitter(cluster, topic, codec.Int64()) as emitter:
        futures = [emitter.emit(k, 1) for k in keys]
    for f in futures:
        f.result(10)
    path = tmp_path / "proc"
    graph = counting_group(group, topic)
    with goka.Processor(cluster, graph, path=str(path), consumer_config=GROUP_CONFIG) as proc:
        assert proc.wait_recovered(TIMEOUT)
        wait_for(lambda: proc.get(keys[-1]) == 1 and proc.get(keys[0]) == 1, TIMEOUT, "all keys counted")
    store = path / f"{goka.group_table(group)}.0"
    _zero_leaf_holding(store, b"user-1500")
    with goka.Emitter(cluster, topic, codec.Int64()) as emitter:
        emitter.emit_sync("user-1500", 1)
    errors: list[BaseException] = []
    proc = goka.Processor(cluster, graph, path=str(path), consumer_config=GROUP_CONFIG)
    thread = threading.Thread(target=lambda: _run_into(proc, errors), daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    if thread.is_alive():
        proc.stop()
        pytest.fail("the processor kept running over a damaged page")
    [err] = errors
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, goka.StorageError):
        cause = cause.__cause__
    assert isinstance(cause, goka.StorageError), repr(err)
    assert cause.path == str(store) and str(store) in str(err)
    with caplog.at_level(logging.WARNING, logger="goka.storage"):
        with goka.Processor(cluster, graph, path=str(path), consumer_config=GROUP_CONFIG) as proc:
            assert proc.wait_recovered(TIMEOUT)
            wait_for(lambda: proc.get("user-1500") == 2, TIMEOUT, "the retried message to count")
            assert {k: proc.get(k) for k in keys} == {k: 2 if k == "user-1500" else 1 for k in keys}
    assert f"LMDB store {store} " in warned_paths(caplog.records)


def _run_into(proc: goka.Processor, errors: list[BaseException]) -> None:
    try:
        proc.run()
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        errors.append(exc)
