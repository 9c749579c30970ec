"""``goka.Kafka``: where the cluster is and how to connect to it, for every client goka builds.

``brokers`` everywhere in goka (:class:`goka.Processor`, :class:`goka.View`,
:class:`goka.Emitter`, :class:`goka.TopicManager`, the ``goka`` command) accepts a list of
``host:port``, a comma-separated string, a :class:`goka.EmbeddedCluster`, or a
:class:`Kafka`, which adds librdkafka settings (``security.protocol``, ``sasl.*``,
``ssl.*``, ``client.id``, ...) given to *every* client goka creates: the admin client of
the topic manager, consumers, producers, and the lookup views and table readers inside a
processor. A component's own ``consumer_config`` / ``producer_config`` still win for its
consumers / producers.

Secret settings (:func:`is_secret`: passwords, keys, client secrets) are masked by
``repr()`` and by :func:`redacted`; goka never logs a configuration unmasked.

This module is part of the contract layer: it does not import confluent_kafka.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["Kafka", "is_secret", "redacted", "parse_properties", "MASK"]

log = logging.getLogger("goka.kafka")

#: what a secret value is replaced with in reprs, logs and messages
MASK = "********"

_SECRET_PARTS = ("password", "secret", "passphrase", "private.key", "key.pem", "oauthbearer.config",
                 "jaas.config", "keytab", "credentials", "user.info", "token")
_SECRET_KEYS = frozenset({"ssl_key"})

#: settings goka sets per client; a shared configuration must not override them
_PER_CLIENT = frozenset({"bootstrap.servers", "metadata.broker.list", "group.id"})

#: keys of Java client ``.properties`` files that librdkafka does not know (skipped)
_JAVA_ONLY = frozenset({
    "key.serializer", "value.serializer", "key.deserializer", "value.deserializer",
    "sasl.jaas.config", "sasl.login.callback.handler.class", "sasl.client.callback.handler.class",
    "client.dns.lookup", "ssl.truststore.type", "ssl.keystore.type",
})
_JAVA_ONLY_PREFIXES = ("schema.registry.", "basic.auth.", "bearer.auth.")


def is_secret(key: str) -> bool:
    """Whether the setting ``key`` holds a secret (its value is never shown).

    Parameters
    ----------
    key : str
        A librdkafka setting name, e.g. ``"sasl.password"``.
    """
    k = key.lower()
    return k in _SECRET_KEYS or any(part in k for part in _SECRET_PARTS)


def redacted(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with every secret value replaced by :data:`MASK`.

    Parameters
    ----------
    config : mapping of str to any
        librdkafka settings.
    """
    return {k: (MASK if is_secret(str(k)) else v) for k, v in config.items()}


class Kafka:
    """A Kafka cluster and the librdkafka settings every goka client uses to reach it.

    Parameters
    ----------
    bootstrap : str, list of str or goka.EmbeddedCluster
        the bootstrap servers: ``"host:port[,host:port...]"``, a list of
        ``host:port``, or a :class:`goka.EmbeddedCluster` (kept, so that goka can create
        topics through it).
    config : mapping of str to any, optional
        librdkafka settings for every client (admin, consumers, producers),
        e.g. ``{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
        "sasl.username": ..., "sasl.password": ...}``. Keys are librdkafka property names;
        ``bootstrap.servers`` and ``group.id`` are not accepted here (the first is
        ``bootstrap``, the second is set per client by goka).

    ``repr()`` masks secret values. Instances are immutable and picklable (``goka run``
    sends them to its worker processes).

    >>> Kafka("kafka:9092", {"sasl.password": "hunter2", "client.id": "app"})
    Kafka('kafka:9092', config={'sasl.password': '********', 'client.id': 'app'})
    """

    __slots__ = ("_bootstrap", "_config", "_cluster")

    def __init__(self, bootstrap: str | Iterable[str] | Any, config: Mapping[str, Any] | None = None) -> None:
        cluster = None
        inner = getattr(bootstrap, "brokers", None)
        if isinstance(inner, str):  # an EmbeddedCluster, or anything exposing its bootstrap string
            if callable(getattr(bootstrap, "create_topic", None)):
                cluster = bootstrap
            bootstrap = inner
        if isinstance(bootstrap, str):
            servers = ",".join(s.strip() for s in bootstrap.split(",") if s.strip())
        elif isinstance(bootstrap, Iterable) and not isinstance(bootstrap, (bytes, Mapping)):
            items = list(bootstrap)
            bad = [b for b in items if not isinstance(b, str) or not b.strip()]
            if bad:
                raise TypeError(f"Kafka: bootstrap servers must be 'host:port' strings, got {bad[0]!r}")
            servers = ",".join(s.strip() for s in items)
        else:
            raise TypeError("Kafka: bootstrap must be 'host:port[,...]', a list of 'host:port' or an "
                            f"EmbeddedCluster, got {type(bootstrap).__name__}")
        if not servers:
            raise ValueError("Kafka: no bootstrap servers given")
        if config is None:
            config = {}
        if not isinstance(config, Mapping):
            raise TypeError(f"Kafka: config must be a mapping of librdkafka settings, got {type(config).__name__}")
        settings: dict[str, Any] = {}
        for key, value in config.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"Kafka: config keys must be non-empty strings, got {key!r}")
            if key in _PER_CLIENT:
                what = "pass the servers as bootstrap" if key != "group.id" else "goka sets it per client"
                raise ValueError(f"Kafka: {key!r} is not accepted in config ({what})")
            if value is None:
                raise ValueError(f"Kafka: config setting {key!r} has no value")
            settings[key] = value
        self._bootstrap = servers
        self._config: Mapping[str, Any] = MappingProxyType(settings)
        self._cluster = cluster

    @classmethod
    def from_properties(cls, path: str, bootstrap: str | Iterable[str] | None = None,
                        overrides: Mapping[str, Any] | None = None) -> Kafka:
        """A :class:`Kafka` from a Java-style ``.properties`` file (as the Kafka tools and
        Confluent Cloud's ``client.properties`` use).

        Parameters
        ----------
        path : str or os.PathLike
            the file; ``bootstrap.servers`` in it is the bootstrap unless
            ``bootstrap`` is given.
        bootstrap : str, optional
            bootstrap servers that win over the file's.
        overrides : mapping of str to any, optional
            settings that win over the file's (e.g. ``-X`` on the command line).

        ``sasl.jaas.config`` with a ``PlainLoginModule`` / ``ScramLoginModule`` becomes
        ``sasl.username`` / ``sasl.password``; other Java-only settings (serializers,
        ``schema.registry.*``, ...) are skipped with a warning naming them.
        """
        with open(path, encoding="utf-8") as f:
            props = parse_properties(f.read())
        props.update(overrides or {})
        servers = props.pop("bootstrap.servers", None)
        props.pop("metadata.broker.list", None)
        if bootstrap is None:
            if not servers:
                raise ValueError(f"{path}: no bootstrap.servers (and no bootstrap given)")
            bootstrap = servers
        return cls(bootstrap, librdkafka_settings(props, source=path))

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers, comma-separated."""
        return self._bootstrap

    #: the same as :attr:`bootstrap` (goka reads ``.brokers`` of whatever it is given)
    brokers = bootstrap

    @property
    def config(self) -> Mapping[str, Any]:
        """The shared librdkafka settings (read-only; secrets unmasked: don't log it, use
        :func:`redacted`)."""
        return self._config

    @property
    def cluster(self) -> Any:
        """The :class:`goka.EmbeddedCluster` given as bootstrap, else ``None``."""
        return self._cluster

    def with_config(self, **settings: Any) -> Kafka:
        """A copy with more settings; use ``**{"sasl.password": ...}`` for dotted names.

        Parameters
        ----------
        **settings : any
            librdkafka settings added over this one's.
        """
        return Kafka(self._cluster if self._cluster is not None else self._bootstrap, {**self._config, **settings})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Kafka):
            return NotImplemented
        return self._bootstrap == other._bootstrap and dict(self._config) == dict(other._config)

    def __hash__(self) -> int:
        return hash(self._bootstrap)

    def __getstate__(self) -> tuple[str, dict[str, Any]]:
        return self._bootstrap, dict(self._config)  # an embedded cluster stays in its process

    def __setstate__(self, state: tuple[str, dict[str, Any]]) -> None:
        self._bootstrap, config = state
        self._config = MappingProxyType(config)
        self._cluster = None

    def __repr__(self) -> str:
        if not self._config:
            return f"Kafka({self._bootstrap!r})"
        return f"Kafka({self._bootstrap!r}, config={redacted(self._config)!r})"

    __str__ = __repr__


_JAAS = re.compile(r"""(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^\s;]+))""")


def librdkafka_settings(props: Mapping[str, Any], source: str = "properties") -> dict[str, Any]:
    """Java client settings -> librdkafka settings: ``sasl.jaas.config`` becomes
    ``sasl.username``/``sasl.password``; Java-only keys are dropped (logged by name)."""
    out = dict(props)
    jaas = out.pop("sasl.jaas.config", None)
    if jaas:
        fields = {m.group(1): next(g for g in m.groups()[1:] if g is not None) for m in _JAAS.finditer(str(jaas))}
        if "username" in fields:
            out.setdefault("sasl.username", fields["username"])
        if "password" in fields:
            out.setdefault("sasl.password", fields["password"])
        if "username" not in fields:
            log.warning("%s: sasl.jaas.config has no username=...; ignored", source)
    skipped = sorted(k for k in out if k in _JAVA_ONLY or k.startswith(_JAVA_ONLY_PREFIXES))
    for key in skipped:
        del out[key]
    if skipped:
        log.warning("%s: skipped Java-only settings librdkafka does not know: %s", source, ", ".join(skipped))
    return out


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2:i + 6]):
                out.append(chr(int(text[i + 2:i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_properties(text: str) -> dict[str, str]:
    """The settings of a Java ``.properties`` text: ``key=value``, ``key: value`` or
    ``key value`` lines, ``#``/``!`` comments, backslash continuations and escapes.

    Parameters
    ----------
    text : str
        The file's content.
    """
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip()
            i += 1
        if _continues(line):
            line = line[:-1]
        m = re.match(r"((?:[^\s=:\\]|\\.)+)\s*[=:\s]?\s*(.*)$", line)
        if m is None:
            continue
        out[_unescape(m.group(1))] = _unescape(m.group(2))
    return out


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1
