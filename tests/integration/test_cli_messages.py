"""What the ``goka`` command prints when things go wrong: the user's traceback for a
failing callback, one clean line for setup errors, each error once, and librdkafka's
connection complaints throttled while a broker is away.

Commands run as subprocesses against an EmbeddedCluster held by the test.
"""
from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import goka
from goka import codec
from goka.cluster import EmbeddedCluster

pytestmark = pytest.mark.twin_neutral  # no core twin involved: the compiled pass covers it

TIMEOUT = 60.0
FAST_GROUP = ["-C", "session.timeout.ms=3000", "-C", "heartbeat.interval.ms=1000"]

APP = textwrap.dedent('''
    import goka
    from goka import codec

    def check(msg):
        if msg == "boom":
            raise ValueError(f"cannot handle {msg!r}")  # the line the traceback must show

    def collect(ctx, msg):
        check(msg)
        ctx.set_value(msg)

    group = goka.define_group("ids", goka.Input("events", codec.String(), collect), goka.Persist(codec.String()))
    missing_input = goka.define_group("ids2", goka.Input("nosuch-input", codec.String(), collect),
                                      goka.Persist(codec.String()))
    missing_lookup = goka.define_group("ids3", goka.Input("events", codec.String(), collect),
                                       goka.Lookup("nosuch-table", codec.String()), goka.Persist(codec.String()))
''')


@pytest.fixture
def cluster(embedded_cluster: EmbeddedCluster) -> EmbeddedCluster:
    for topic in ("events", "ids-table", "ids2-table", "ids3-table"):  # tables: no CreateTopics on the mock
        embedded_cluster.create_topic(topic, 4)
    return embedded_cluster


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def goka_run(app: Path, cluster: EmbeddedCluster, target: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "goka", "run", f"app:{target}", "--brokers", cluster.brokers,
         "--path", str(app / "state"), *FAST_GROUP, *args],
        cwd=app, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def test_a_failing_callback_shows_the_users_traceback_once(cluster: EmbeddedCluster, app: Path) -> None:
    with goka.Emitter(cluster, "events", codec.String()) as emitter:
        emitter.emit("k1", "boom")
    result = goka_run(app, cluster, "group")
    err = result.stderr
    assert result.returncode == 1, err
    assert "Traceback of the callback (most recent call last):" in err, err
    assert re.search(r'File ".*app\.py", line 7, in check\n\s+raise ValueError', err), err
    assert re.search(r'File ".*app\.py", line 10, in collect', err), err
    # goka's own frames are not part of it
    assert "_dispatch" not in err and "goka/runtime" not in err, err
    # the worker reports the error once, the supervisor once, then one summary line
    assert err.count("processor ids failed: ProcessingError") == 1, err
    assert err.count("worker 0 (pid") and len(re.findall(r"worker 0 \(pid \d+\) failed:", err)) == 1, err
    last = err.rstrip().splitlines()[-1]
    assert re.search(r"goka run: 1 of 1 workers failed: worker 0 \(pid \d+\): processor ids: ProcessingError: .*"
                     r"ValueError: cannot handle 'boom'$", last), err


def test_a_setup_error_is_one_line_and_stops_every_worker(cluster: EmbeddedCluster, app: Path) -> None:
    result = goka_run(app, cluster, "missing_input", "--workers", "2")
    err = result.stderr
    assert result.returncode == 1, err
    assert "Traceback" not in err, err
    assert "group 'ids2': Input topic 'nosuch-input' was not found (create it before starting the processor)" in err
    assert "keep running and take over" not in err, err
    # the first to fail stops the other (which may fail the same way before the signal lands)
    assert 1 <= len(re.findall(r"worker \d \(pid \d+\) failed to start", err)) <= 2, err
    assert "failed while stopping" not in err, err
    debug = goka_run(app, cluster, "missing_input", "--log-level", "DEBUG")
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr, debug.stderr


def test_a_missing_lookup_table_names_group_edge_and_topic(cluster: EmbeddedCluster, app: Path) -> None:
    result = goka_run(app, cluster, "missing_lookup", "--workers", "2")
    err = result.stderr
    assert result.returncode == 1, err
    assert "group 'ids3': Lookup table 'nosuch-table' was not found" in err, err
    assert "run that group's processor first" in err, err
    assert "keep running and take over" not in err, err
    assert "Traceback" not in err, err


def test_a_busy_web_port_is_named_in_one_line(cluster: EmbeddedCluster, app: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = goka_run(app, cluster, "group", "--web", str(port))
    err = result.stderr
    assert result.returncode == 1, err
    assert f"cannot serve the web pages on 127.0.0.1:{port}: OSError" in err, err
    assert "Traceback" not in err, err


def test_an_unreachable_broker_is_reported_without_a_flood(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run([sys.executable, "-m", "goka", "emit", "t", "k", "v", "--brokers", f"127.0.0.1:{port}"],
                            capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert lines[-1].startswith(f"goka emit: metadata request to 127.0.0.1:{port} failed"), result.stderr
    assert len(lines) <= 3, result.stderr  # was ~190 librdkafka lines before the clean error


def test_a_broker_outage_under_goka_run_is_throttled(cluster: EmbeddedCluster, app: Path) -> None:
    log = app / "run.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "goka", "run", "app:group", "--brokers", cluster.brokers,
             "--path", str(app / "state"), *FAST_GROUP], cwd=app, stdout=subprocess.DEVNULL, stderr=err,
            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT
        while "holding partitions [0, 1, 2, 3]" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        before = len(log.read_text().splitlines())
        cluster.set_broker_down(1)
        while "Connection refused" not in log.read_text():  # the clients noticed
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        # the outage itself: librdkafka retries ~20 times a second per client meanwhile (~70 lines
        # in 3 s unthrottled); the repeat period (30 s) is covered by tests/unit/test_logs.py
        time.sleep(3.0)
        during = log.read_text().splitlines()[before:]
        cluster.set_broker_up(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    rdkafka = [line for line in during if "goka.kafka.rdkafka" in line]
    # one line per client, broker thread and kind of failure (was ~140 in 6 s, ~70 in 3 s)
    assert 1 <= len(rdkafka) <= 12, "\n".join(during)
    refused = [line for line in rdkafka if "Connection refused" in line]
    sources = {re.search(r"\[(goka-[^\]]+)\] \[thrd:([^\]]+)\]", line).groups() for line in refused}  # type: ignore[union-attr]
    assert len(refused) == len(sources), "\n".join(refused)  # each source once


def test_emit_help_lists_one_example_a_line() -> None:
    out = subprocess.run([sys.executable, "-m", "goka", "emit", "--help"], capture_output=True, text=True,
                         timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert out.returncode == 0
    assert "examples:\n  goka emit user-clicks user-3 click\n  goka emit settings user-3" in out.stdout, out.stdout
