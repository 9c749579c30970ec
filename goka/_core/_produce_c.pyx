# cython: language_level=3, embedsignature=True, binding=True
"""Handing a run of records to a processor's producer; compiled twin of ``_produce_py``
(read it for the contract).

The records go straight to librdkafka's ``rd_kafka_produce_batch`` on the client inside
the confluent-kafka ``Producer``: its ``rd_kafka_t`` is the first field after the object
header of confluent-kafka's client objects (``Handle`` in ``confluent_kafka.h``, the same
since 1.x), and the entry points come from the librdkafka that confluent-kafka itself has
loaded (``goka._kafka.clients.librdkafka_functions`` checks that). Messages carry no
``_private`` state, which confluent-kafka's delivery-report handler skips: no Python call
per record. ``RD_KAFKA_MSG_F_COPY``: librdkafka copies key and value before returning.

:class:`Record` is the compiled partition processor's outbox record (a table write's
changelog record, an emit, a loopback): the same entries as the twin's record dict
(``key``, ``value``, ``offset``, and ``topic``, ``headers``, ``_error`` when set), read
and written through the same mapping operations, but a small fixed object (allocated from
a free list) whose key and value ``produce`` reads as C fields. ``dict(record)`` gives the
twin's dict. A record carrying a delivery ``callback`` is a dict (the partition processor
converts the one record per partition and batch that carries it): a Record refers to no
object that could refer back to it, so it stays out of the cyclic GC (tens of thousands
are alive at once; the GC would otherwise walk them on every collection).
"""
from libc.stdint cimport int32_t, int64_t, uintptr_t
from libc.stdlib cimport calloc, free
from libc.string cimport strstr
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.ref cimport PyObject
cimport cython

from goka._core._rdkafka cimport goka_rdk_handle_head, goka_rdk_message_t

__all__ = ["DirectProducer", "Record", "headerless"]

cdef extern from *:
    """
    typedef void *(*goka_topic_new_f)(void *rk, const char *topic, void *conf);
    typedef void (*goka_topic_destroy_f)(void *rkt);
    typedef int (*goka_produce_batch_f)(void *rkt, int32_t partition, int msgflags,
                                        goka_rdk_message_t *rkmessages, int message_cnt);
    typedef const char *(*goka_name_f)(void *rk);
    """
    ctypedef void *(*goka_topic_new_f)(void *rk, const char *topic, void *conf)
    ctypedef void (*goka_topic_destroy_f)(void *rkt)
    ctypedef int (*goka_produce_batch_f)(void *rkt, int32_t partition, int msgflags,
                                        goka_rdk_message_t *rkmessages, int message_cnt)
    ctypedef const char *(*goka_name_f)(void *rk)

cdef int RD_KAFKA_MSG_F_COPY = 0x2


cdef class DirectProducer:
    """Queues record runs on ``producer`` through librdkafka directly (see the twin)."""

    cdef readonly object producer
    cdef void *rk
    cdef goka_topic_new_f topic_new
    cdef goka_topic_destroy_f topic_destroy
    cdef goka_produce_batch_f produce_batch

    def __init__(self, producer, functions=None):
        cdef goka_name_f name
        cdef const char *text
        if not functions:
            raise ValueError("the compiled DirectProducer needs librdkafka's entry points")
        self.producer = producer
        self.rk = (<goka_rdk_handle_head*><PyObject*>producer).rk
        self.topic_new = <goka_topic_new_f><uintptr_t>functions["rd_kafka_topic_new"]
        self.topic_destroy = <goka_topic_destroy_f><uintptr_t>functions["rd_kafka_topic_destroy"]
        self.produce_batch = <goka_produce_batch_f><uintptr_t>functions["rd_kafka_produce_batch"]
        name = <goka_name_f><uintptr_t>functions["rd_kafka_name"]
        if self.rk is NULL:
            raise ValueError("the producer has no librdkafka client")
        text = name(self.rk)
        if text is NULL or strstr(text, "#producer-") is NULL:
            raise ValueError("the object is not a confluent-kafka Producer with a known layout")

    def produce(self, topic, int partition, list records):
        cdef Py_ssize_t n = len(records), i
        cdef goka_rdk_message_t *msgs
        cdef void *rkt
        cdef int queued
        cdef Record rec
        cdef list keep = []  # values converted to bytes, alive until librdkafka copied them
        if n == 0:
            return 0
        msgs = <goka_rdk_message_t*>calloc(n, sizeof(goka_rdk_message_t))
        if msgs is NULL:
            raise MemoryError()
        try:
            for i in range(n):
                record = records[i]
                if type(record) is Record:
                    rec = <Record>record
                    key = _as_bytes(rec.key, keep)
                    value = _as_bytes(rec.value, keep)
                else:
                    key = _as_bytes((<dict?>record)["key"], keep)
                    value = _as_bytes((<dict>record)["value"], keep)
                if key is not None:
                    msgs[i].key = PyBytes_AS_STRING(key)
                    msgs[i].key_len = PyBytes_GET_SIZE(key)
                if value is not None:
                    msgs[i].payload = PyBytes_AS_STRING(value)
                    msgs[i].len = PyBytes_GET_SIZE(value)
                msgs[i].partition = partition
            name = topic.encode("utf-8")
            rkt = self.topic_new(self.rk, name, NULL)
            if rkt is NULL:
                raise ValueError(f"librdkafka refused a handle for topic {topic!r}")
            queued = self.produce_batch(rkt, partition, RD_KAFKA_MSG_F_COPY, msgs, <int>n)
            self.topic_destroy(rkt)
            if queued != n:
                for i in range(n):
                    if msgs[i].err != 0:
                        records[i]["_error"] = msgs[i].err
            return queued
        finally:
            free(msgs)


def headerless(list records):
    """True when no record of ``records`` has a ``headers`` entry (see the twin): a
    ``Record``'s field read in C, a dict probed."""
    cdef Py_ssize_t i
    for i in range(len(records)):
        record = records[i]
        if type(record) is Record:
            if (<Record>record).headers is not _ABSENT:
                return False
        elif "headers" in record:
            return False
    return True


cdef inline object _as_bytes(object data, list keep):
    if data is None or type(data) is bytes:
        return data
    data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    keep.append(data)
    return data


cdef object _ABSENT = object()
cdef tuple _NAMES = ("key", "value", "offset", "topic", "headers", "_error")


cdef object absent():
    return _ABSENT


cdef inline void _fill(Record r, object key, object value, object offset):
    r.key = key
    r.value = value
    r.offset = offset
    r.topic = _ABSENT
    r.headers = _ABSENT
    r.error = _ABSENT


cdef Record new_record(object key, object value, object offset):
    cdef Record r = Record.__new__(Record)
    _fill(r, key, value, offset)
    return r


@cython.final
@cython.no_gc  # (see the module docstring: no callback, nothing refers back to a record)
@cython.freelist(1024)
cdef class Record:
    """An outbox record: a mapping with the entries of the twin's record dict (see the
    module docstring). Entries other than those are refused (``KeyError``)."""

    def __init__(self, key=None, value=None, offset=-1):
        _fill(self, key, value, offset)

    cdef dict as_dict(self):
        entries = {"key": self.key, "value": self.value, "offset": self.offset}
        if self.topic is not _ABSENT:
            entries["topic"] = self.topic
        if self.headers is not _ABSENT:
            entries["headers"] = self.headers
        if self.error is not _ABSENT:
            entries["_error"] = self.error
        return entries

    cdef object _get(self, name):
        if name == "key":
            return self.key
        if name == "value":
            return self.value
        if name == "offset":
            return self.offset
        if name == "topic":
            return self.topic
        if name == "headers":
            return self.headers
        if name == "_error":
            return self.error
        return _ABSENT

    cdef int _set(self, name, value) except -1:
        if name == "key":
            self.key = value
        elif name == "value":
            self.value = value
        elif name == "offset":
            self.offset = value
        elif name == "topic":
            self.topic = value
        elif name == "headers":
            self.headers = value
        elif name == "_error":
            self.error = value
        else:
            raise KeyError(f"an outbox record has no entry {name!r}")
        return 0

    def __getitem__(self, name):
        value = self._get(name)
        if value is _ABSENT:
            raise KeyError(name)
        return value

    def __setitem__(self, name, value):
        self._set(name, value)

    def __delitem__(self, name):
        self.pop(name)

    def __contains__(self, name):
        return self._get(name) is not _ABSENT

    def get(self, name, default=None):
        value = self._get(name)
        return default if value is _ABSENT else value

    def pop(self, name, *default):
        if name == "key" or name == "value" or name == "offset":
            raise KeyError(f"an outbox record always has {name!r}")
        value = self._get(name)
        if value is _ABSENT:
            if default:
                return default[0]
            raise KeyError(name)
        self._set(name, _ABSENT)
        return value

    def keys(self):
        return [n for n in _NAMES if self._get(n) is not _ABSENT]

    def values(self):
        return [v for v in (self._get(n) for n in _NAMES) if v is not _ABSENT]

    def items(self):
        return list(self.as_dict().items())

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def __eq__(self, other):
        if isinstance(other, (Record, dict)):
            return self.as_dict() == dict(other.items())
        return NotImplemented

    def __ne__(self, other):
        if isinstance(other, (Record, dict)):
            return self.as_dict() != dict(other.items())
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return repr(self.as_dict())

