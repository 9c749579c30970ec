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
"""
from libc.stdint cimport int32_t, int64_t, uintptr_t
from libc.stdlib cimport calloc, free
from libc.string cimport strstr
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.ref cimport PyObject

from goka._core._rdkafka cimport goka_rdk_handle_head, goka_rdk_message_t

__all__ = ["DirectProducer"]

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
        cdef dict record
        cdef list keep = []  # values converted to bytes, alive until librdkafka copied them
        if n == 0:
            return 0
        msgs = <goka_rdk_message_t*>calloc(n, sizeof(goka_rdk_message_t))
        if msgs is NULL:
            raise MemoryError()
        try:
            for i in range(n):
                record = <dict?>records[i]
                key = _as_bytes(record["key"], keep)
                value = _as_bytes(record["value"], keep)
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
                        (<dict>records[i])["_error"] = msgs[i].err
            return queued
        finally:
            free(msgs)


cdef inline object _as_bytes(object data, list keep):
    if data is None or type(data) is bytes:
        return data
    data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    keep.append(data)
    return data
