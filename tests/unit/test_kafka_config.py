"""goka.Kafka, the one function every client's configuration starts from
(goka._kafka.clients.base_config), .properties parsing, the CLI's connection options, and
hasher validation. Clients are recorded, not connected (see tests/integration/
test_kafka_config.py for clients talking to brokers)."""
from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Any

import pytest

import goka
from goka import codec
from goka._kafka import admin, clients
from goka.cli import build_parser, main
from goka.cli._common import brokers_from_args
from goka.errors import GroupError
from goka.kafka import MASK, Kafka, is_secret, parse_properties, redacted

SECRETS = {
    "sasl.password": "pw-sasl-1",
    "ssl.key.password": "pw-key-2",
    "ssl.key.pem": "-----BEGIN PRIVATE KEY-----pem-3",
    "sasl.oauthbearer.client.secret": "oauth-secret-4",
    "ssl.keystore.password": "pw-keystore-5",
}
PLAIN = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice",
         "client.id": "app-1"}


def test_repr_masks_every_secret_and_shows_the_rest() -> None:
    k = Kafka(["h1:9092", "h2:9092"], {**PLAIN, **SECRETS})
    for text in (repr(k), str(k), f"{k}", repr([k]), repr(redacted(k.config))):
        for secret in SECRETS.values():
            assert secret not in text
        assert text.count(MASK) == len(SECRETS)
        for key, value in PLAIN.items():
            assert key in text and value in text
    assert "h1:9092,h2:9092" in repr(k)
    assert dict(k.config) == {**PLAIN, **SECRETS}  # the clients get the real values


@pytest.mark.parametrize("key", [*SECRETS, "sasl.oauthbearer.config", "sasl.jaas.config", "ssl_key",
                                 "SASL.PASSWORD", "sasl.oauthbearer.assertion.private.key.passphrase"])
def test_is_secret(key: str) -> None:
    assert is_secret(key)


@pytest.mark.parametrize("key", ["sasl.username", "security.protocol", "ssl.ca.location", "client.id",
                                 "ssl.certificate.location", "sasl.mechanism"])
def test_is_not_secret(key: str) -> None:
    assert not is_secret(key)


def test_kafka_is_immutable_comparable_and_picklable() -> None:
    k = Kafka("a:1, b:2", {"sasl.password": "x"})
    assert k.bootstrap == k.brokers == "a:1,b:2"
    with pytest.raises(TypeError):
        k.config["client.id"] = "y"  # type: ignore[index]
    again = pickle.loads(pickle.dumps(k))
    assert again == k and dict(again.config) == {"sasl.password": "x"}
    assert k.with_config(**{"client.id": "c"}).config == {"sasl.password": "x", "client.id": "c"}


@pytest.mark.parametrize("bootstrap, config, error", [
    ("", None, ValueError),
    ([], None, ValueError),
    (["a:1", 2], None, TypeError),
    (42, None, TypeError),
    ("a:1", {"bootstrap.servers": "b:2"}, ValueError),
    ("a:1", {"group.id": "g"}, ValueError),
    ("a:1", {1: "x"}, TypeError),
    ("a:1", {"client.id": None}, ValueError),
    ("a:1", [("client.id", "x")], TypeError),
])
def test_kafka_rejects_bad_input(bootstrap: Any, config: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        Kafka(bootstrap, config)


def test_error_on_a_bad_setting_names_the_key_not_a_secret() -> None:
    with pytest.raises(ValueError) as info:
        Kafka("a:1", {"sasl.password": "s3cret", "group.id": "g"})
    assert "group.id" in str(info.value) and "s3cret" not in str(info.value)


class _Cluster:
    brokers = "127.0.0.1:1"

    def create_topic(self, name: str, partitions: int | None = None, config: Any = None) -> None:
        pass


@pytest.mark.parametrize("brokers, servers", [
    (["a:1", "b:2"], "a:1,b:2"),
    (("a:1",), "a:1"),
    ("a:1,b:2", "a:1,b:2"),
    (_Cluster(), "127.0.0.1:1"),
    (Kafka("a:1"), "a:1"),
    (Kafka(_Cluster()), "127.0.0.1:1"),
])
def test_base_config_accepts_every_form_of_brokers(brokers: Any, servers: str) -> None:
    assert clients.base_config(brokers) == {"bootstrap.servers": servers}
    assert clients.bootstrap_servers(brokers) == servers


def test_base_config_carries_the_settings_and_the_cluster() -> None:
    cluster = _Cluster()
    k = Kafka(cluster, {"client.id": "x", "sasl.password": "p"})
    assert clients.base_config(k) == {"bootstrap.servers": "127.0.0.1:1", "client.id": "x", "sasl.password": "p"}
    assert clients.cluster_of(k) is cluster and clients.cluster_of(cluster) is cluster
    assert clients.cluster_of("a:1") is None and clients.cluster_of(Kafka("a:1")) is None
    assert pickle.loads(pickle.dumps(k)).cluster is None  # a cluster stays in its process


@pytest.mark.parametrize("brokers", [42, b"a:1", {"a": 1}, ["a:1", None], ""])
def test_base_config_rejects_other_things(brokers: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        clients.base_config(brokers)


class Recorder:
    """Stands in for confluent_kafka's client classes: records each configuration."""

    def __init__(self) -> None:
        self.configs: list[tuple[str, dict[str, Any]]] = []

    def factory(self, kind: str) -> Any:
        recorder = self

        class Client:
            def __init__(self, config: dict[str, Any]) -> None:
                recorder.configs.append((kind, dict(config)))

        return Client


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(clients, "Consumer", rec.factory("consumer"))
    monkeypatch.setattr(clients, "Producer", rec.factory("producer"))
    monkeypatch.setattr(admin, "AdminClient", rec.factory("admin"))
    return rec


def test_every_builder_layers_defaults_shared_settings_and_overrides(recorder: Recorder,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    k = Kafka("a:1", {"client.id": "shared", "linger.ms": 50, "session.timeout.ms": 7000,
                      "security.protocol": "SASL_SSL", "sasl.password": "pw-9"})
    clients.group_consumer(k, "g", client_id="goka-g", auto_offset_reset="earliest",
                           overrides={"session.timeout.ms": 6000})
    clients.reader_consumer(k, client_id="goka-r")
    clients.producer(k, client_id="goka-p", overrides={"linger.ms": 1}, ordered=True)
    clients.producer(k, client_id="goka-e")
    admin.TopicManager.for_brokers(k)
    kinds = [kind for kind, _ in recorder.configs]
    assert kinds == ["consumer", "consumer", "producer", "producer", "admin"]
    for _, config in recorder.configs:
        assert config["bootstrap.servers"] == "a:1"
        assert config["security.protocol"] == "SASL_SSL" and config["sasl.password"] == "pw-9"
        assert config["client.id"] == "shared"  # the shared setting wins over goka's default
    group, reader, ordered, plain, adm = (c for _, c in recorder.configs)
    assert group["group.id"] == "g" and group["session.timeout.ms"] == 6000  # consumer_config wins
    assert reader["session.timeout.ms"] == 7000 and reader["group.id"] == "goka-r"
    assert ordered["linger.ms"] == 1 and plain["linger.ms"] == 50  # producer_config wins, for its client
    assert "sasl.password" not in caplog.text


def test_shared_settings_do_not_override_what_goka_relies_on(recorder: Recorder,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    k = Kafka("a:1", {"enable.auto.offset.store": True, "enable.partition.eof": False,
                      "partition.assignment.strategy": "roundrobin", "message.timeout.ms": 1000,
                      "enable.idempotence": False, "acks": 1})
    with caplog.at_level("WARNING", logger="goka.kafka"):
        clients.group_consumer(k, "g", client_id="goka-g", auto_offset_reset="latest")
        clients.reader_consumer(k, client_id="goka-r")
        clients.producer(k, client_id="goka-p", ordered=True)
        clients.producer(k, client_id="goka-p2", ordered=True, overrides={"message.timeout.ms": 5})
    group, reader, ordered, overridden = (c for _, c in recorder.configs)
    assert group["enable.auto.offset.store"] is False and group["partition.assignment.strategy"] == "range"
    assert group["auto.offset.reset"] == "latest"
    assert reader["enable.partition.eof"] is True and reader["enable.auto.offset.store"] is False
    assert ordered["message.timeout.ms"] == 0 and ordered["enable.idempotence"] is True
    assert ordered["acks"] == "all"
    assert overridden["message.timeout.ms"] == 5  # producer_config may change anything
    assert clients.delivers_in_order({}) and not clients.delivers_in_order({"message.timeout.ms": 5})
    assert "consumer of group g: goka sets enable.auto.offset.store, partition.assignment.strategy itself" \
        in caplog.text
    assert "table reader goka-r: goka sets enable.auto.offset.store, enable.partition.eof itself" in caplog.text


def test_topic_manager_on_an_embedded_cluster_object_inside_kafka_uses_its_settings(recorder: Recorder) -> None:
    cluster = _Cluster()
    tm = admin.TopicManager.for_brokers(Kafka(cluster, {"client.id": "tm"}))
    assert isinstance(tm._backend, admin._MockBackend)
    assert recorder.configs == [("admin", {**recorder.configs[0][1], "client.id": "tm",
                                           "bootstrap.servers": "127.0.0.1:1"})]


def test_consumers_of_an_embedded_cluster_wait_briefly_for_data(recorder: Recorder) -> None:
    """The mock cluster answers an empty fetch only after fetch.wait.max.ms (500 ms by
    default) even when records arrive meanwhile: goka's consumers of an EmbeddedCluster
    (the object, or a goka.Kafka built from it) wait 50 ms; a broker address keeps
    librdkafka's default; what the user configures wins."""
    cluster = _Cluster()
    for brokers in (cluster, Kafka(cluster, {"client.id": "x"})):
        clients.group_consumer(brokers, "g", client_id="goka-g", auto_offset_reset="earliest")
        clients.reader_consumer(brokers, client_id="goka-r")
    clients.producer(cluster, client_id="goka-p")
    clients.group_consumer("127.0.0.1:1", "g", client_id="goka-g", auto_offset_reset="earliest")
    clients.reader_consumer(Kafka("127.0.0.1:1"), client_id="goka-r")
    clients.group_consumer(cluster, "g", client_id="goka-g", auto_offset_reset="earliest",
                           overrides={"fetch.wait.max.ms": 300})
    clients.reader_consumer(Kafka(cluster, {"fetch.wait.max.ms": 200}), client_id="goka-r")
    waits = [(kind, config.get("fetch.wait.max.ms")) for kind, config in recorder.configs]
    assert waits == [("consumer", 50)] * 4 + [("producer", None), ("consumer", None), ("consumer", None),
                                                ("consumer", 300), ("consumer", 200)]


def test_parse_properties() -> None:
    text = (
        "# comment\n"
        "! another\n"
        "bootstrap.servers=b1:9092,b2:9092\n"
        "  security.protocol : SASL_SSL\n"
        "sasl.mechanism PLAIN\n"
        "client.id=a\\\n"
        "    pp\n"
        "escaped\\=key=tab\\there\\u0041\n"
        "empty=\n"
    )
    assert parse_properties(text) == {
        "bootstrap.servers": "b1:9092,b2:9092", "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
        "client.id": "app", "escaped=key": "tab\thereA", "empty": "",
    }


def test_from_properties_translates_a_confluent_cloud_client_file(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "client.properties"
    path.write_text(
        "bootstrap.servers=pkc-1.cloud:9092\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanisms=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        "username='KEY1' password='very-secret-2';\n"
        "key.serializer=org.apache.kafka.common.serialization.StringSerializer\n"
        "schema.registry.url=https://sr\n"
        "basic.auth.user.info=sr-key:sr-secret-3\n")
    with caplog.at_level("WARNING", logger="goka.kafka"):
        k = Kafka.from_properties(str(path), overrides={"client.id": "cli"})
    assert k.bootstrap == "pkc-1.cloud:9092"
    assert dict(k.config) == {"security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN", "sasl.username": "KEY1",
                              "sasl.password": "very-secret-2", "client.id": "cli"}
    assert "key.serializer" in caplog.text and "basic.auth.user.info" in caplog.text
    assert "very-secret-2" not in caplog.text and "sr-secret-3" not in caplog.text
    assert Kafka.from_properties(str(path), bootstrap="other:1").bootstrap == "other:1"


def _args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def test_cli_connection_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOKA_BROKERS", raising=False)
    assert brokers_from_args(_args(["get", "t", "k"])) == "localhost:9092"
    monkeypatch.setenv("GOKA_BROKERS", "env:1")
    assert brokers_from_args(_args(["tail", "t"])) == "env:1"
    assert brokers_from_args(_args(["emit", "t", "k", "v", "-b", "flag:1"])) == "flag:1"
    props = tmp_path / "c.properties"
    props.write_text("bootstrap.servers=file:1\nsecurity.protocol=SASL_PLAINTEXT\nsasl.password=from-file\n")
    k = brokers_from_args(_args(["run", "m:g", "--config", str(props), "-X", "sasl.password=from-x",
                                 "-X", "client.id=c=1"]))
    assert isinstance(k, Kafka)
    assert k.bootstrap == "file:1"  # --config wins over $GOKA_BROKERS
    assert dict(k.config) == {"security.protocol": "SASL_PLAINTEXT", "sasl.password": "from-x", "client.id": "c=1"}
    k = brokers_from_args(_args(["get", "t", "k", "-b", "flag:1", "--config", str(props)]))
    assert k.bootstrap == "flag:1"


def test_cli_errors_never_echo_a_value(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        brokers_from_args(_args(["get", "t", "k", "-X", "sasl.password:hunter2"]))
    assert "hunter2" not in str(info.value) and "item 1" in str(info.value)
    with pytest.raises(SystemExit) as info:
        brokers_from_args(_args(["get", "t", "k", "-X", "group.id=g", "-X", "sasl.password=hunter2"]))
    assert "group.id" in str(info.value) and "hunter2" not in str(info.value)
    with pytest.raises(SystemExit) as info:
        brokers_from_args(_args(["get", "t", "k", "--config", str(tmp_path / "missing.properties")]))
    assert "missing.properties" in str(info.value)


@pytest.mark.parametrize("command", ["get", "emit", "tail", "run"])
def test_help_shows_no_secret(command: str, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOKA_BROKERS", "env:9092")
    with pytest.raises(SystemExit):
        main([command, "-X", "sasl.password=hunter2", "--help"])
    out = capsys.readouterr().out
    assert "-X KEY=VALUE" in out and "--config FILE" in out and "hunter2" not in out


def test_hashers_are_validated() -> None:
    from goka.tester import Tester

    tt = Tester()
    group = goka.define_group("g", goka.Input("in", codec.String(), lambda ctx, msg: None),
                              goka.Persist(codec.String()))
    with pytest.raises(TypeError, match="hasher"):
        goka.View(tt, "t", codec.String(), hasher="murmur2")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="hasher"):
        goka.Processor(tt, group, hasher=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="hasher"):
        goka.Emitter(tt, "in", codec.String(), hasher=None)  # type: ignore[arg-type]
    with pytest.raises(GroupError, match="hasher"):
        goka.Lookup("t", codec.String(), hasher="murmur2")  # type: ignore[arg-type]
    assert goka.Lookup("t", codec.String()).hasher is goka.hash.goka
    assert goka.Lookup("t", codec.String(), hasher=goka.hash.murmur2).hasher is goka.hash.murmur2
