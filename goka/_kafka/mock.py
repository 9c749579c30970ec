"""ctypes binding to librdkafka's mock cluster (``rdkafka_mock.h``).

librdkafka contains an in-process Kafka cluster, used by its own test suite, that speaks
the real Kafka protocol on 127.0.0.1 TCP ports. confluent-kafka does not expose it in
Python, but the librdkafka shared library bundled in the confluent-kafka wheel exports
the mock API, so it is reached here through :mod:`ctypes`.

Only :class:`goka.cluster.EmbeddedCluster` should use this module; it is the supported
public face. Facts about the mock that shape that class (read from librdkafka's
``rdkafka_mock.c``):

- brokers listen on ``127.0.0.1`` with kernel-chosen ports, broker ids ``1..n``;
- the mock does not implement CreateTopics/DeleteTopics/DescribeConfigs (admin requests
  fail); topics are created with :meth:`MockCluster.create_topic`;
- a Metadata request naming an unknown topic (``allow.auto.create.topics``) or a
  produce to one auto-creates it with 4 partitions (hard-coded, not configurable);
- there are no topic configs: compaction and retention do not exist;
- each partition keeps at most 5 MiB / 100,000 message batches; older batches are
  dropped silently (the log start offset moves up).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import logging
import os
import threading
from collections.abc import Sequence

import confluent_kafka

__all__ = ["MockCluster", "MockClusterError", "library_path", "ApiKey"]

log = logging.getLogger("goka.kafka")

_RD_KAFKA_PRODUCER = 0
_RD_KAFKA_CONF_OK = 0
_ERRSTR_SIZE = 512


class ApiKey:
    """Kafka protocol ApiKeys most useful for :meth:`MockCluster.push_request_errors`."""

    PRODUCE = 0
    FETCH = 1
    LIST_OFFSETS = 2
    METADATA = 3
    OFFSET_COMMIT = 8
    OFFSET_FETCH = 9
    FIND_COORDINATOR = 10
    JOIN_GROUP = 11
    HEARTBEAT = 12
    LEAVE_GROUP = 13
    SYNC_GROUP = 14
    INIT_PRODUCER_ID = 22


class MockClusterError(RuntimeError):
    """A mock-cluster call failed; ``code`` is the librdkafka error code."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


def library_path() -> str:
    """Path of the librdkafka shared library that confluent-kafka uses.

    Wheels bundle it next to the package (``confluent_kafka.libs/librdkafka-*.so*`` on
    Linux, ``confluent_kafka/.dylibs/librdkafka*.dylib`` on macOS); otherwise the
    system library found by :func:`ctypes.util.find_library` is used.
    """
    pkg_dir = os.path.dirname(os.path.abspath(confluent_kafka.__file__))
    site_dir = os.path.dirname(pkg_dir)
    patterns = [
        os.path.join(site_dir, "confluent_kafka.libs", "librdkafka*.so*"),
        os.path.join(pkg_dir, ".dylibs", "librdkafka*.dylib"),
        os.path.join(site_dir, "confluent_kafka.libs", "librdkafka*.dll"),
        os.path.join(pkg_dir, "librdkafka*.dll"),
    ]
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    system = ctypes.util.find_library("rdkafka")
    if system is None:
        raise MockClusterError(
            "librdkafka not found: neither bundled with confluent-kafka nor installed system-wide"
        )
    return system


_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


def _declare(lib: ctypes.CDLL) -> None:
    """Set the C signatures (from rdkafka.h / rdkafka_mock.h) on the library handle."""
    vp, cp, i32, i16 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_int16
    sigs: dict[str, tuple[object, list[object]]] = {
        "rd_kafka_conf_new": (vp, []),
        "rd_kafka_conf_destroy": (None, [vp]),
        "rd_kafka_conf_set": (ctypes.c_int, [vp, cp, cp, cp, ctypes.c_size_t]),
        "rd_kafka_new": (vp, [ctypes.c_int, vp, cp, ctypes.c_size_t]),
        "rd_kafka_destroy": (None, [vp]),
        "rd_kafka_err2name": (cp, [ctypes.c_int]),
        "rd_kafka_err2str": (cp, [ctypes.c_int]),
        "rd_kafka_mock_cluster_new": (vp, [vp, ctypes.c_int]),
        "rd_kafka_mock_cluster_destroy": (None, [vp]),
        "rd_kafka_mock_cluster_bootstraps": (cp, [vp]),
        "rd_kafka_mock_topic_create": (ctypes.c_int, [vp, cp, ctypes.c_int, ctypes.c_int]),
        "rd_kafka_mock_topic_delete": (ctypes.c_int, [vp, cp]),
        "rd_kafka_mock_group_initial_rebalance_delay_ms": (None, [vp, i32]),
        "rd_kafka_mock_broker_set_down": (ctypes.c_int, [vp, i32]),
        "rd_kafka_mock_broker_set_up": (ctypes.c_int, [vp, i32]),
        "rd_kafka_mock_clear_request_errors": (None, [vp, i16]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    # Non-variadic twin of rd_kafka_mock_push_request_errors (librdkafka >= 1.7).
    if hasattr(lib, "rd_kafka_mock_push_request_errors_array"):
        fn = lib.rd_kafka_mock_push_request_errors_array
        fn.restype = None
        fn.argtypes = [vp, i16, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)]
    # The variadic original: argtypes must stay unset (ctypes passes the extra int
    # arguments as C ints, correct for the x86-64 and aarch64 Linux calling conventions).
    lib.rd_kafka_mock_push_request_errors.restype = None


def _library() -> ctypes.CDLL:
    global _lib
    with _lib_lock:
        if _lib is None:
            path = library_path()
            lib = ctypes.CDLL(path)
            try:
                _declare(lib)
            except AttributeError as exc:
                raise MockClusterError(f"{path} does not export the librdkafka mock API: {exc}") from exc
            log.debug("loaded librdkafka mock API from %s", path)
            _lib = lib
        return _lib


def _err_text(lib: ctypes.CDLL, code: int) -> str:
    name = lib.rd_kafka_err2name(code)
    text = lib.rd_kafka_err2str(code)
    return f"{name.decode() if name else code}: {text.decode() if text else ''}"


class MockCluster:
    """One librdkafka mock cluster, owned by a private producer handle.

    Every method is thread-safe: librdkafka serialises mock commands through the
    cluster's op queue. :meth:`destroy` must be called exactly once (it is idempotent
    here); the object must not be used afterwards.
    """

    def __init__(self, broker_count: int = 1) -> None:
        if broker_count < 1:
            raise ValueError(f"broker_count must be >= 1, got {broker_count}")
        self._lib = lib = _library()
        self._lock = threading.Lock()
        self.broker_count = broker_count
        errstr = ctypes.create_string_buffer(_ERRSTR_SIZE)
        conf = lib.rd_kafka_conf_new()
        settings = {
            "client.id": "goka-embedded-cluster",
            # The handle only owns the cluster; it never connects anywhere. Keep its
            # own chatter (e.g. "no bootstrap.servers") out of stderr.
            "log_level": "3",
        }
        for key, value in settings.items():
            if lib.rd_kafka_conf_set(conf, key.encode(), value.encode(), errstr, _ERRSTR_SIZE) != _RD_KAFKA_CONF_OK:
                lib.rd_kafka_conf_destroy(conf)
                raise MockClusterError(f"rd_kafka_conf_set({key}): {errstr.value.decode()}")
        rk = lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errstr, _ERRSTR_SIZE)
        if not rk:
            lib.rd_kafka_conf_destroy(conf)
            raise MockClusterError(f"rd_kafka_new: {errstr.value.decode()}")
        mc = lib.rd_kafka_mock_cluster_new(rk, broker_count)
        if not mc:
            lib.rd_kafka_destroy(rk)
            raise MockClusterError("rd_kafka_mock_cluster_new failed (see librdkafka log)")
        self._rk: int | None = rk
        self._mc: int | None = mc
        self.bootstraps: str = lib.rd_kafka_mock_cluster_bootstraps(mc).decode()

    def _handle(self) -> int:
        mc = self._mc
        if mc is None:
            raise MockClusterError("mock cluster is destroyed")
        return mc

    def _check(self, what: str, code: int) -> None:
        if code != 0:
            raise MockClusterError(f"{what}: {_err_text(self._lib, code)}", code)

    def create_topic(self, topic: str, partitions: int, replication_factor: int = 1) -> int:
        """Create ``topic``; returns 0 or the librdkafka error code (36 = TOPIC_ALREADY_EXISTS).

        The replication factor is clamped by the mock to the number of brokers.
        """
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        code: int = self._lib.rd_kafka_mock_topic_create(
            self._handle(), topic.encode(), partitions, max(1, replication_factor)
        )
        return code

    def delete_topic(self, topic: str) -> None:
        """Delete ``topic`` and its data (raises MockClusterError if it does not exist)."""
        self._check(f"delete topic {topic!r}", self._lib.rd_kafka_mock_topic_delete(self._handle(), topic.encode()))

    def set_group_initial_rebalance_delay_ms(self, delay_ms: int) -> None:
        """Broker setting ``group.initial.rebalance.delay.ms`` (mock default 3000)."""
        self._lib.rd_kafka_mock_group_initial_rebalance_delay_ms(self._handle(), delay_ms)

    def broker_set_down(self, broker_id: int) -> None:
        """Close the broker's connections and listener (-1: every broker)."""
        self._check(f"set broker {broker_id} down", self._lib.rd_kafka_mock_broker_set_down(self._handle(), broker_id))

    def broker_set_up(self, broker_id: int) -> None:
        """Let the broker accept connections again (-1: every broker)."""
        self._check(f"set broker {broker_id} up", self._lib.rd_kafka_mock_broker_set_up(self._handle(), broker_id))

    def push_request_errors(self, api_key: int, errors: Sequence[int]) -> None:
        """Make the next ``len(errors)`` requests with ``api_key`` fail with these codes, in order."""
        if not errors:
            return
        mc = self._handle()
        if hasattr(self._lib, "rd_kafka_mock_push_request_errors_array"):
            arr = (ctypes.c_int * len(errors))(*errors)
            self._lib.rd_kafka_mock_push_request_errors_array(mc, api_key, len(errors), arr)
        else:
            self._lib.rd_kafka_mock_push_request_errors(
                ctypes.c_void_p(mc), ctypes.c_int16(api_key), ctypes.c_size_t(len(errors)),
                *(ctypes.c_int(e) for e in errors),
            )

    def clear_request_errors(self, api_key: int) -> None:
        """Drop errors pushed for ``api_key`` that were not consumed yet."""
        self._lib.rd_kafka_mock_clear_request_errors(self._handle(), api_key)

    def destroy(self) -> None:
        """Close every broker socket and free the cluster and its owner handle."""
        with self._lock:
            mc, rk = self._mc, self._rk
            self._mc = self._rk = None
        if mc is not None:
            self._lib.rd_kafka_mock_cluster_destroy(mc)
        if rk is not None:
            self._lib.rd_kafka_destroy(rk)

    @property
    def destroyed(self) -> bool:
        """True once :meth:`destroy` ran."""
        return self._mc is None
