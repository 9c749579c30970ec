"""The ``goka`` command end to end: subprocesses against an EmbeddedCluster held here.

Commands run as ``python -m goka ...`` with the cluster's bootstrap string; topics are
created by the test (a process holding only the bootstrap string cannot create topics
on the embedded cluster). ``goka run`` targets are small modules written to tmp_path.
"""
from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import goka
from goka import codec
from goka.cluster import EmbeddedCluster
from goka.runtime.progress import RecoveryProgress

TIMEOUT = 30.0
FAST_GROUP = ["-C", "session.timeout.ms=3000", "-C", "heartbeat.interval.ms=1000"]

APP = '''
import goka
from goka import codec

def collect(ctx, msg):
    if msg == "boom":
        raise ValueError("boom message")
    ctx.set_value(sorted({*(ctx.value() or []), msg}))   # idempotent: replays change nothing

group = goka.define_group("ids", goka.Input("events", codec.String(), collect), goka.Persist(codec.Json()))

def build(brokers, path, consumer_config):
    return [goka.Processor(brokers, group, path=path + "/p", consumer_config=consumer_config),
            goka.View(brokers, "ids-table", codec.Json(), path=path + "/v")]
'''


def goka_cmd(*args: str, cwd: Path | None = None, timeout: float = TIMEOUT,
             **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "goka", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)


def goka_start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "goka", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{proc.args} did not finish: {err[-2000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


class GokaRun:
    """A ``goka run`` supervisor process; its log goes to a file the test polls."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        (tmp_path / "app.py").write_text(APP)
        self.log = tmp_path / "run.log"
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "goka", "run", *args, "--path", str(tmp_path / "state"), *FAST_GROUP],
                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)

    def text(self) -> str:
        return self.log.read_text()

    def holding(self) -> dict[int, set[int]]:
        """Each worker's partitions as last logged."""
        held: dict[int, set[int]] = {}
        for w, parts in re.findall(r"\[worker-(\d+)\] goka.run: group ids running: holding partitions \[([\d, ]*)\]",
                                   self.text()):
            held[int(w)] = {int(p) for p in parts.split(",") if p.strip()}
        return held

    def pid(self, worker: int) -> int:
        found = re.search(rf"worker {worker} \(pid (\d+)\) started", self.text())
        assert found, self.text()
        return int(found.group(1))

    def wait(self, timeout: float = TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"goka run did not exit:\n{self.text()[-3000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def cluster(embedded_cluster: EmbeddedCluster) -> EmbeddedCluster:
    for topic in ("events", "ids-table"):
        embedded_cluster.create_topic(topic, 4)
    return embedded_cluster


def emit_events(cluster: EmbeddedCluster, ids: range, keys: int = 8) -> dict[str, list[str]]:
    expected: dict[str, list[str]] = {}
    with goka.Emitter(cluster, "events", codec.String()) as emitter:
        for i in ids:
            key, value = f"k{i % keys}", f"e{i:04d}"
            emitter.emit(key, value)
            expected.setdefault(key, []).append(value)
    return expected


def table_of(cluster: EmbeddedCluster, path: Path, expected: dict[str, list[str]], wait_for: Any) -> None:
    with goka.View(cluster, "ids-table", codec.Json(), path=str(path)) as view:
        assert view.wait_recovered(TIMEOUT)
        want = {k: sorted(v) for k, v in expected.items()}
        wait_for(lambda: dict(view.items()) == want, TIMEOUT, f"table to become {want}")


def test_help_lists_commands() -> None:
    out = goka_cmd("--help")
    assert out.returncode == 0
    for command in ("demo", "run", "get", "emit", "tail", "topics"):
        assert re.search(rf"^\s+{command}\s", out.stdout, re.M), out.stdout
    assert "MODULE:ATTR" in goka_cmd("run", "--help").stdout
    topics_help = goka_cmd("topics", "create", "--help").stdout
    assert "--partitions N" in topics_help and "--table" in topics_help and "-X KEY=VALUE" in topics_help
    assert "\n  goka topics describe clicks-table\n" in topics_help  # one example a line
    assert goka_cmd("nosuch").returncode == 2
    from importlib.metadata import entry_points

    from goka.cli import main

    (script,) = entry_points(group="console_scripts", name="goka")
    assert script.load() is main


def test_demo_batch_and_streaming() -> None:
    out = goka_cmd("demo", "--clicks", "300")
    assert out.returncode == 0, out.stderr
    assert "all 300 clicks counted" in out.stdout
    out = goka_cmd("demo", "--duration", "1.5", "--rate", "100", "--web", "0")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"monitor: http://127\.0\.0\.1:\d+/", out.stdout)
    assert re.search(r"all \d+ clicks counted", out.stdout)


def test_emit_get_tail(cluster: EmbeddedCluster) -> None:
    boot = ["--brokers", cluster.brokers]
    cluster.create_topic("scores-table", 4)
    for batch in ((("alice", "3"), ("bob", "5")), (("alice", "7"),)):  # alice's 7 after her 3
        emits = [goka_start("emit", "scores-table", key, value, "--codec", "int64", *boot) for key, value in batch]
        for out in map(finish, emits):
            assert out.returncode == 0, out.stderr
            assert re.fullmatch(r"scores-table partition \d offset \d+\n", out.stdout)

    # independent reads run concurrently
    master, slave = pty.openpty()  # on a terminal, recovery progress goes to stderr
    try:
        on_tty = subprocess.Popen([sys.executable, "-m", "goka", "get", "scores-table", "alice", "-c", "int64",
                                   *boot], stdout=subprocess.PIPE, stderr=slave, text=True)
        os.close(slave)
        bad, got, missing, no_table, tail, js = map(finish, [
            goka_start("emit", "scores-table", "x", "notanumber", "--codec", "int64", *boot),
            goka_start("get", "scores-table", "alice", "--codec", "int64", *boot),
            goka_start("get", "scores-table", "carol", "--codec", "int64", *boot),
            goka_start("get", "no-such-table", "k", *boot),
            goka_start("tail", "scores-table", "--from", "oldest", "--exit-at-end", "--codec", "int64", *boot),
            goka_start("tail", "scores-table", "--from", "oldest", "-n", "3", "--json", "--codec", "int64", *boot),
        ])
        stdout, _ = on_tty.communicate(timeout=TIMEOUT)
        screen = b""
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the other side is closed
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(master)
    assert bad.returncode == 2 and "not a valid int64 value" in bad.stderr
    assert (got.returncode, got.stdout) == (0, "7\n"), got.stderr
    assert missing.returncode == 1 and "key 'carol' not found in scores-table" in missing.stderr
    assert no_table.returncode == 1 and "no-such-table" in no_table.stderr
    assert tail.returncode == 0, tail.stderr
    assert sorted(line.split(" ", 1)[1] for line in tail.stdout.splitlines()) == ["alice: 3", "alice: 7", "bob: 5"]
    records = [json.loads(line) for line in js.stdout.splitlines()]
    assert sorted((r["key"], r["value"]) for r in records) == [("alice", 3), ("alice", 7), ("bob", 5)]
    assert stdout == "7\n"
    assert re.search(rb"recovered scores-table \(reader\): partitions \d, \d+ records", screen), screen


def test_run_two_workers_share_partitions_and_take_over(cluster: EmbeddedCluster, tmp_path: Path,
                                                        wait_for: Any) -> None:
    expected = emit_events(cluster, range(0, 40))
    run = GokaRun(tmp_path, "app:group", "--brokers", cluster.brokers, "--workers", "2")
    try:
        def split() -> bool:
            held = run.holding()
            return len(held) == 2 and all(held.values()) and held[0] | held[1] == {0, 1, 2, 3}

        wait_for(split, TIMEOUT, "both workers to hold partitions")
        assert not run.holding()[0] & run.holding()[1]
        victim = run.pid(1)
        os.kill(victim, signal.SIGKILL)
        more = emit_events(cluster, range(40, 80))
        wait_for(lambda: run.holding().get(0) == {0, 1, 2, 3}, TIMEOUT, "worker 0 to take every partition over")
        for key, values in more.items():
            expected.setdefault(key, []).extend(values)
        table_of(cluster, tmp_path / "view", expected, wait_for)
        assert f"worker 1 (pid {victim}) failed: killed by SIGKILL; not restarted" in run.text()
        run.proc.send_signal(signal.SIGINT)
        assert run.wait() == 1
        assert f"goka run: 1 of 2 workers failed: worker 1 (pid {victim}): killed by SIGKILL" in run.text()
        assert re.search(r"worker 0 \(pid \d+\) stopped", run.text())
    finally:
        run.kill()


def test_run_failure_names_worker_and_error(cluster: EmbeddedCluster, tmp_path: Path) -> None:
    emit_events(cluster, range(3))
    with goka.Emitter(cluster, "events", codec.String()) as emitter:
        emitter.emit("k1", "boom")
    run = GokaRun(tmp_path, "app:group", "--brokers", cluster.brokers)
    try:
        assert run.wait() == 1
        text = run.text()
        assert re.search(r"goka run: 1 of 1 workers failed: worker 0 \(pid \d+\): processor ids: ProcessingError: .*"
                         r"events.*boom message", text), text
    finally:
        run.kill()
    for target, error in (("nosuchmodule:group", "No module named 'nosuchmodule'"),
                          ("app:nothing", "has no attribute 'nothing'"), ("app", "MODULE:ATTR")):
        out = goka_cmd("run", target, "--brokers", cluster.brokers, cwd=tmp_path)
        assert out.returncode == 2 and error in out.stderr, out.stderr


def test_run_factory_web_metrics_and_sigterm(cluster: EmbeddedCluster, tmp_path: Path, wait_for: Any) -> None:
    expected = emit_events(cluster, range(24))
    run = GokaRun(tmp_path, "app:build", "--brokers", cluster.brokers, "--web", "0")
    try:
        wait_for(lambda: "web monitor at" in run.text(), TIMEOUT, "the web monitor")
        url = re.search(r"web monitor at (http://\S+)", run.text()).group(1)  # type: ignore[union-attr]

        def get(path: str) -> str:
            with urllib.request.urlopen(url + path, timeout=5) as resp:
                return resp.read().decode()

        def answered() -> bool:
            found = json.loads(get("api/query?source=ids-table&key=k3"))
            return bool(found["found"]) and json.loads(found["value"]) == sorted(expected["k3"])

        wait_for(answered, TIMEOUT, "the view to serve k3")
        def consumed() -> int:
            stats = json.loads(get("api/stats"))
            return sum(p["totals"]["consumed"] for p in stats["processors"])

        wait_for(lambda: consumed() == 24, TIMEOUT, "stats to count the input")
        families = {f.name: f for f in text_string_to_metric_families(get("metrics"))}
        consumed = families["goka_consumed_messages"].samples
        assert {s.labels["partition"] for s in consumed} == {"0", "1", "2", "3"}
        assert sum(s.value for s in consumed) == 24
        progress = [s for s in families["goka_table_recovery_progress"].samples if s.labels["owner"] == "view"]
        assert len(progress) == 4 and all(s.value == 1.0 for s in progress)
        run.proc.send_signal(signal.SIGTERM)
        assert run.wait() == 0, run.text()[-3000:]
        assert "goka run: all 1 workers stopped" in run.text()
    finally:
        run.kill()


class FakeProcessor:
    """stats() of a processor recovering two partitions of clicks-table."""

    def __init__(self) -> None:
        self.tables = {0: (-1, 200, 0, "recovering"), 1: (-1, 100, 0, "recovering")}

    def stats(self) -> dict[str, Any]:
        return {"group": "clicks", "tables": {
            f"clicks-table/{p}": {"state": state, "offset": None if off < 0 else off, "hwm": hwm,
                                  "start_offset": 0, "records": off + 1}
            for p, (off, hwm, _, state) in self.tables.items()}}


def test_progress_bar_on_a_terminal_and_log_lines_otherwise(caplog: pytest.LogCaptureFixture) -> None:
    screen = io.StringIO()
    proc = FakeProcessor()
    bar = RecoveryProgress([proc], stream=screen, tty=True)
    plain = RecoveryProgress([proc], stream=io.StringIO(), tty=False, interval=1.0)
    caplog.set_level(logging.INFO, logger="goka.progress")
    bar.poll(now=0.0)
    plain.poll(now=0.0)
    proc.tables = {0: (99, 200, 0, "recovering"), 1: (99, 100, 0, "running")}
    bar.poll(now=1.0)
    plain.poll(now=1.0)
    proc.tables = {0: (199, 200, 0, "running"), 1: (99, 100, 0, "running")}
    bar.poll(now=2.0)
    plain.poll(now=2.0)
    text = screen.getvalue()
    assert "recovering clicks-table (processor clicks)" in text and "█" in text
    assert "200/300 records  1/2 partitions" in text and "\x1b[" in text  # redrawn in place
    assert text.endswith("recovered clicks-table (processor clicks): partitions 0,1, 300 records in 2.0 s\n")
    logged = [r.getMessage() for r in caplog.records if r.name == "goka.progress"]
    assert logged == [
        "recovering clicks-table (processor clicks): 0/2 partitions, 0/300 records (0%); p0 -/200, p1 -/100",
        "recovering clicks-table (processor clicks): 1/2 partitions, 200/300 records (67%); p0 99/200",
        "recovered clicks-table (processor clicks): partitions 0,1, 300 records in 2.0 s",
    ]


def test_query_page_names_the_worker_holding_the_key(cluster: EmbeddedCluster, tmp_path: Path,
                                                      wait_for: Any) -> None:
    """``goka run --web``: a worker's query page, asked for a key of a partition another
    worker holds, links to that worker's page, which answers."""
    expected = emit_events(cluster, range(40))
    run = GokaRun(tmp_path, "app:group", "--brokers", cluster.brokers, "--workers", "2", "--web", "0")
    try:
        def split() -> bool:
            held = run.holding()
            return len(held) == 2 and all(held.values()) and held[0] | held[1] == {0, 1, 2, 3}

        wait_for(split, TIMEOUT, "both workers to hold partitions")
        assert len(re.findall(r"\[worker-\d\] goka\.processor: group ids: joining, waiting for partitions of events",
                              run.text())) == 2, run.text()  # not silent while the join waits
        urls = {int(w): u for w, u in re.findall(r"\[worker-(\d+)\] goka\.\S+: web monitor at (http://\S+)",
                                                    run.text())}
        assert set(urls) == {0, 1}, run.text()
        held = run.holding()
        key = next(k for k in expected if goka.hash.goka(k, 4) in held[1])

        def ask(url: str, path: str) -> str:
            with urllib.request.urlopen(url.rstrip("/") + path, timeout=5) as resp:
                return resp.read().decode()

        def pointed() -> bool:
            return json.loads(ask(urls[0], f"/api/query?source=ids&key={key}"))["held_by"] is not None

        wait_for(pointed, TIMEOUT, "worker 0 to know who holds the key")
        found = json.loads(ask(urls[0], f"/api/query?source=ids&key={key}"))
        assert found["found"] is False
        assert found["error"].startswith(f"PartitionNotHeldError: group 'ids': key '{key}' is in partition "
                                         f"{goka.hash.goka(key, 4)}, which this instance does not hold")
        assert found["error"].endswith(f"; it is held by {urls[1]}")
        assert found["held_by"] == f"{urls[1].rstrip('/')}/query?source=ids&key={key}"
        page = ask(urls[0], f"/query?source=ids&key={key}")
        assert 'id="held-by"' in page and urls[1].rstrip("/") in page
        answer = json.loads(ask(urls[1], f"/api/query?source=ids&key={key}"))
        assert answer["found"] and json.loads(answer["value"]) == sorted(expected[key])
        own = next(k for k in expected if goka.hash.goka(k, 4) in held[0])
        mine = json.loads(ask(urls[0], f"/api/query?source=ids&key={own}"))
        assert mine["found"] and mine["held_by"] is None
        run.proc.send_signal(signal.SIGTERM)
        assert run.wait() == 0, run.text()[-3000:]
        assert not list((tmp_path / "state" / ".web").glob("*.json"))  # removed at stop
    finally:
        run.kill()
