# cython: language_level=3, embedsignature=True, binding=True
"""One emit, from the caller's key and value to librdkafka; compiled twin of ``_emit_py``
(read it for the contract).

The common record (no headers) is queued by ``rd_kafka_producev`` on the ``rd_kafka_t``
inside the confluent-kafka ``Producer`` (reached as ``_produce_c.DirectProducer`` does,
same checks), on a topic handle kept for the emitter's life, with
``RD_KAFKA_MSG_F_COPY``. Its per-message opaque is confluent-kafka's own per-message state
(``struct Producer_msgstate {Handle *self; PyObject *dr_cb;}`` in ``Producer.c``, the same
since 1.x, allocated with ``calloc`` and released by confluent-kafka with ``free``), so
confluent-kafka's ``poll``/``flush``/``purge`` serve the delivery report exactly as for
its own ``produce``: the callback is a small compiled object that resolves the future
with the offset without running Python code (errors go to the future's ``delivered``).
Everything unusual takes confluent-kafka's ``produce``, as the pure twin does: headers,
a hasher result that is not an int, and any error other than a full queue (the record
is offered again to ``produce``, which raises exactly what the pure twin raises).

Built-in codecs and the default hasher are inlined: ``codec.String`` of a ``str``
(strict UTF-8; a failure goes through the codec), ``codec.Bytes`` of ``bytes``, and
``goka.hash.goka`` (FNV-1a as in ``_hashing_c``).
"""
import time
from concurrent.futures._base import FINISHED

from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free
from libc.string cimport strstr
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF
cimport cython
from goka._core._rdkafka cimport goka_rdk_handle_head

from goka import codec as _codecs
from goka._core import _emit_py
from goka._core._emit_py import encode_value, merge_headers, timestamp_ms
from goka.errors import EmitterClosedError
from goka.keys import key_bytes

__all__ = ["EmitPath"]

cdef extern from *:
    """
    typedef struct { void *self; PyObject *dr_cb; } goka_msgstate_t;   /* Producer_msgstate */
    typedef int (*goka_producev_f)(void *rk, ...);
    typedef void *(*goka_emit_topic_new_f)(void *rk, const char *topic, void *conf);
    typedef void (*goka_emit_topic_destroy_f)(void *rkt);
    typedef const char *(*goka_emit_name_f)(void *rk);
    /* rd_kafka_vtype_t (rdkafka.h) */
    enum { GOKA_VT_END = 0, GOKA_VT_RKT = 2, GOKA_VT_PARTITION = 3, GOKA_VT_VALUE = 4,
           GOKA_VT_KEY = 5, GOKA_VT_OPAQUE = 6, GOKA_VT_MSGFLAGS = 7, GOKA_VT_TIMESTAMP = 8 };
    static int goka_producev(goka_producev_f producev, void *rk, void *rkt, int32_t partition,
                             const char *value, size_t value_len, const char *key,
                             size_t key_len, void *opaque, int64_t timestamp) {
        return producev(rk, (int)GOKA_VT_RKT, rkt, (int)GOKA_VT_PARTITION, partition,
                        (int)GOKA_VT_MSGFLAGS, 0x2 /* RD_KAFKA_MSG_F_COPY */,
                        (int)GOKA_VT_VALUE, (void *)value, value_len,
                        (int)GOKA_VT_KEY, (const void *)key, key_len,
                        (int)GOKA_VT_OPAQUE, opaque,
                        (int)GOKA_VT_TIMESTAMP, timestamp, (int)GOKA_VT_END);
    }
    """
    ctypedef struct goka_msgstate_t:
        void *self
        PyObject *dr_cb
    ctypedef int (*goka_producev_f)(void *rk, ...)
    ctypedef void *(*goka_emit_topic_new_f)(void *rk, const char *topic, void *conf)
    ctypedef void (*goka_emit_topic_destroy_f)(void *rkt)
    ctypedef const char *(*goka_emit_name_f)(void *rk)
    int goka_producev(goka_producev_f producev, void *rk, void *rkt, int32_t partition,
                      const char *value, size_t value_len, const char *key, size_t key_len,
                      void *opaque, int64_t timestamp)

cdef int QUEUE_FULL = -184  # RD_KAFKA_RESP_ERR__QUEUE_FULL

cdef object _String = _codecs.String
cdef object _Bytes = _codecs.Bytes
cdef object _FINISHED = FINISHED
cdef object _monotonic = time.monotonic


cdef object _goka_hasher():
    try:
        from goka._core import _hashing_c
    except ImportError:
        return None
    return _hashing_c.goka


cdef object _GOKA_HASH = _goka_hasher()


@cython.final
@cython.no_gc
@cython.freelist(256)
cdef class _Delivered:
    """The delivery callback of one emit: resolves its future with the record's offset
    (the condition-free path of ``AckFuture.resolve`` when nobody touched the future yet;
    the future's own ``delivered`` otherwise and for every failed delivery)."""

    cdef object fut

    def __call__(self, err, msg):
        cdef object fut = self.fut
        cdef dict d
        self.fut = None
        if err is None:
            offset = msg.offset()
            d = fut.__dict__
            if "_cond" not in d:  # no waiter or callback can exist; the GIL is held throughout
                d["_result"] = offset
                d["_state"] = _FINISHED
            else:
                fut.resolve(offset)
        else:
            fut.delivered(err, msg)


cdef class EmitPath:
    """Emits to ``topic`` on ``producer`` through librdkafka directly (see the twin)."""

    cdef readonly object producer
    cdef readonly str topic
    cdef readonly object codec
    cdef readonly object hasher
    cdef readonly int partitions
    cdef readonly dict default_headers
    cdef readonly object future
    cdef public bint closed
    cdef public Py_ssize_t emitted
    cdef public double last_emit
    #: ``refused(exc, key, partition)``: the error to raise for a record the producer refuses
    #: (None: raise ``exc`` as it is); set by ``goka._kafka.emitting``
    cdef public object refused
    cdef object encode
    cdef int codec_kind  # 1: String, 2: Bytes, 0: any other codec
    cdef bint goka_hash
    cdef void *rkt
    cdef goka_producev_f producev
    cdef goka_emit_topic_destroy_f topic_destroy

    def __init__(self, producer, str topic, codec, hasher, int partitions, default_headers, future,
                 functions=None):
        cdef goka_emit_name_f name
        cdef goka_emit_topic_new_f topic_new
        cdef const char *text
        cdef void *rk
        if not functions:
            raise ValueError("the compiled EmitPath needs librdkafka's entry points")
        if partitions < 1:
            raise ValueError(f"topic {topic!r} has no partitions")
        rk = (<goka_rdk_handle_head*><PyObject*>producer).rk
        if rk is NULL:
            raise ValueError("the producer has no librdkafka client")
        name = <goka_emit_name_f><uintptr_t>functions["rd_kafka_name"]
        text = name(rk)
        if text is NULL or strstr(text, "#producer-") is NULL:
            raise ValueError("the object is not a confluent-kafka Producer with a known layout")
        self.producev = <goka_producev_f><uintptr_t>functions["rd_kafka_producev"]
        topic_new = <goka_emit_topic_new_f><uintptr_t>functions["rd_kafka_topic_new"]
        self.topic_destroy = <goka_emit_topic_destroy_f><uintptr_t>functions["rd_kafka_topic_destroy"]
        self.rkt = topic_new(rk, topic.encode("utf-8"), NULL)
        if self.rkt is NULL:
            raise ValueError(f"librdkafka refused a handle for topic {topic!r}")
        self.producer = producer
        self.topic = topic
        self.codec = codec
        self.encode = codec.encode
        self.codec_kind = 1 if type(codec) is _String else 2 if type(codec) is _Bytes else 0
        self.hasher = hasher
        self.goka_hash = _GOKA_HASH is not None and hasher is _GOKA_HASH
        self.partitions = partitions
        self.default_headers = dict(default_headers)
        self.future = future
        self.closed = False
        self.refused = None
        self.emitted = 0
        self.last_emit = 0.0

    def __dealloc__(self):
        if self.rkt is not NULL:
            self.topic_destroy(self.rkt)
            self.rkt = NULL

    def release(self):
        """Close for good and drop the producer (no emit runs at the same time)."""
        self.closed = True
        if self.rkt is not NULL:
            self.topic_destroy(self.rkt)  # while the client is alive: we hold it
            self.rkt = NULL
        self.producer = None

    def emit(self, key, value, headers=None, timestamp=None):
        """Queue one record; its future (see the twin)."""
        cdef object kbytes, data, merged, fut, part
        cdef int64_t ts = 0
        cdef int32_t partition
        cdef _Delivered report
        if self.closed:
            raise EmitterClosedError(f"emitter of topic {self.topic!r} is finished; create a new one")
        if type(key) is str:
            kbytes = (<str>key).encode("utf-8", "surrogateescape")
        elif type(key) is bytes:
            kbytes = key
        else:
            kbytes = key_bytes(key, "emit key")
        if value is None:
            data = None
        elif self.codec_kind == 1 and type(value) is str:
            try:
                data = (<str>value).encode("utf-8")
            except UnicodeEncodeError:
                data = encode_value(self.codec, self.topic, key, value)  # raises its CodecError
        elif self.codec_kind == 2 and type(value) is bytes:
            data = value
        else:
            data = encode_value(self.codec, self.topic, key, value)
        if headers or self.default_headers:
            merged = merge_headers(self.default_headers, headers)
        else:
            merged = None
        if timestamp is not None:
            ts = timestamp_ms(timestamp, self.topic)
        fut = self.future()
        if self.goka_hash:
            partition = _fnv_partition(kbytes, self.partitions)
        else:
            part = self.hasher(kbytes, self.partitions)
            if type(part) is not int or not -0x80000000 <= part <= 0x7fffffff:
                merged = merged if merged is not None else {}  # confluent-kafka's produce judges it
                partition = 0
            else:
                partition = part
        report = _Delivered.__new__(_Delivered)
        report.fut = fut
        if merged is None:
            self._produce(kbytes, data, partition, ts, report)
        else:
            self._produce_slow(kbytes, data, part if not self.goka_hash else partition, ts, report,
                               merged or None)
        self.emitted += 1
        if not self.emitted & 255:
            self.producer.poll(0)
            self.last_emit = _monotonic()
        return fut

    cdef _produce(self, bytes kbytes, data, int32_t partition, int64_t ts, _Delivered report):
        cdef goka_msgstate_t *state
        cdef const char *vptr = NULL
        cdef size_t vlen = 0
        cdef int err
        cdef void *rk
        if data is not None:
            if type(data) is not bytes:
                self._produce_slow(kbytes, data, partition, ts, report, None)
                return
            vptr = PyBytes_AS_STRING(data)
            vlen = <size_t>PyBytes_GET_SIZE(data)
        while True:
            producer = self.producer  # released by another thread while this one polled?
            if producer is None or self.rkt is NULL:
                raise EmitterClosedError(f"emitter of topic {self.topic!r} is finished; create a new one")
            rk = (<goka_rdk_handle_head*><PyObject*>producer).rk
            if rk is NULL:  # closed underneath: let confluent-kafka say so
                self._produce_slow(kbytes, data, partition, ts, report, None)
                return
            state = <goka_msgstate_t*>calloc(1, sizeof(goka_msgstate_t))
            if state is NULL:
                raise MemoryError()
            state.self = <void*><PyObject*>producer
            state.dr_cb = <PyObject*>report
            Py_INCREF(report)
            err = goka_producev(self.producev, rk, self.rkt, partition, vptr, vlen,
                                PyBytes_AS_STRING(kbytes), <size_t>PyBytes_GET_SIZE(kbytes),
                                <void*>state, ts)
            if err == 0:
                return
            Py_DECREF(report)
            free(state)
            if err != QUEUE_FULL:
                # refused (too large, unknown partition, ...): confluent-kafka's produce
                # raises what the pure twin raises (or queues it, if it was transient)
                self._produce_slow(kbytes, data, partition, ts, report, None)
                return
            self.producer.poll(0.05)

    cdef _produce_slow(self, kbytes, data, partition, int64_t ts, _Delivered report, merged):
        producer = self.producer
        if producer is None:
            raise EmitterClosedError(f"emitter of topic {self.topic!r} is finished; create a new one")
        while True:
            try:
                if merged is None and not ts:
                    producer.produce(self.topic, data, kbytes, partition, report)
                else:
                    producer.produce(self.topic, data, kbytes, partition, report, timestamp=ts,
                                     headers=merged)
                return
            except BufferError:
                producer.poll(0.05)
            except Exception as exc:
                err = None if self.refused is None else self.refused(exc, kbytes, partition)
                if err is None:
                    raise
                raise err from exc


cdef inline int32_t _fnv_partition(bytes key, int n):
    """``goka.hash.goka(key, n)`` (see ``_hashing_c``)."""
    cdef const unsigned char *p = <const unsigned char*>PyBytes_AS_STRING(key)
    cdef Py_ssize_t length = PyBytes_GET_SIZE(key), i
    cdef uint32_t h = <uint32_t>0x811C9DC5
    for i in range(length):
        h ^= p[i]
        h *= <uint32_t>0x01000193
    if h & <uint32_t>0x80000000:
        h = ~h + 1
    return <int32_t>(<uint64_t>h % <uint64_t>n)
