# cython: language_level=3
"""The part of librdkafka's ABI (``rdkafka.h``) goka's compiled clients share: the message
struct and the client handle, used by ``_tablequeue_c`` (table readers), ``_consume_c``
(processors) and ``_produce_c`` (a processor's record runs); the consumer entry points,
bound for both consumers' queue readers in one place (:func:`goka_rdk_bind_consumer`).

Nothing here is linked: the functions are called through pointers taken from the library
confluent-kafka has already loaded (``goka._kafka.clients.librdkafka_functions``), and
the consumer's ``rd_kafka_t`` is the first field after the object header of
confluent-kafka's ``Handle`` (checked by the client's name, ``rd_kafka_name``).
``rd_kafka_message_t`` is a public struct of librdkafka's stable ABI; every other type
is opaque (``void *``).
"""
from libc.stdint cimport int32_t, int64_t, uintptr_t
from libc.string cimport strstr
from cpython.ref cimport PyObject

cdef extern from *:
    """
    typedef struct {            /* rd_kafka_message_t (rdkafka.h), a stable ABI */
        int err;
        void *rkt;
        int32_t partition;
        void *payload;
        size_t len;
        void *key;
        size_t key_len;
        int64_t offset;
        void *_private;
    } goka_rdk_message_t;
    typedef struct { PyObject_HEAD void *rk; } goka_rdk_handle_head;
    typedef void *(*goka_rdk_get_partition_f)(void *rk, const char *topic, int32_t partition);
    typedef void *(*goka_rdk_get_consumer_f)(void *rk);
    typedef void (*goka_rdk_forward_f)(void *src, void *dst);
    typedef void (*goka_rdk_destroy_f)(void *rkqu);
    typedef size_t (*goka_rdk_length_f)(void *rkqu);
    typedef Py_ssize_t (*goka_rdk_consume_batch_f)(void *rkqu, int timeout_ms,
                                                   goka_rdk_message_t **msgs, size_t size);
    typedef void (*goka_rdk_message_destroy_f)(goka_rdk_message_t *msg);
    typedef void (*goka_rdk_io_event_f)(void *rkqu, int fd, const void *payload, size_t size);
    typedef const char *(*goka_rdk_err2str_f)(int err);
    typedef const char *(*goka_rdk_name_f)(void *rk);
    typedef int64_t (*goka_rdk_timestamp_f)(const goka_rdk_message_t *msg, int *tstype);
    typedef int (*goka_rdk_detach_headers_f)(goka_rdk_message_t *msg, void **hdrsp);
    typedef int (*goka_rdk_header_get_all_f)(const void *hdrs, size_t idx, const char **namep,
                                             const void **valuep, size_t *sizep);
    typedef void (*goka_rdk_headers_destroy_f)(void *hdrs);
    typedef const char *(*goka_rdk_errstr_f)(const goka_rdk_message_t *msg);
    """
    ctypedef struct goka_rdk_message_t:
        int err
        void *rkt
        int32_t partition
        void *payload
        size_t len
        void *key
        size_t key_len
        int64_t offset
        void *_private
    ctypedef struct goka_rdk_handle_head:
        void *rk
    ctypedef void *(*goka_rdk_get_partition_f)(void *rk, const char *topic, int32_t partition)
    ctypedef void *(*goka_rdk_get_consumer_f)(void *rk)
    ctypedef void (*goka_rdk_forward_f)(void *src, void *dst)
    ctypedef void (*goka_rdk_destroy_f)(void *rkqu)
    ctypedef size_t (*goka_rdk_length_f)(void *rkqu)
    ctypedef Py_ssize_t (*goka_rdk_consume_batch_f)(void *rkqu, int timeout_ms,
                                                    goka_rdk_message_t **msgs, size_t size) nogil
    ctypedef void (*goka_rdk_message_destroy_f)(goka_rdk_message_t *msg)
    ctypedef void (*goka_rdk_io_event_f)(void *rkqu, int fd, const void *payload, size_t size)
    ctypedef const char *(*goka_rdk_err2str_f)(int err)
    ctypedef const char *(*goka_rdk_name_f)(void *rk)
    ctypedef int64_t (*goka_rdk_timestamp_f)(const goka_rdk_message_t *msg, int *tstype)
    ctypedef int (*goka_rdk_detach_headers_f)(goka_rdk_message_t *msg, void **hdrsp)
    ctypedef int (*goka_rdk_header_get_all_f)(const void *hdrs, size_t idx, const char **namep,
                                              const void **valuep, size_t *sizep)
    ctypedef void (*goka_rdk_headers_destroy_f)(void *hdrs)
    ctypedef const char *(*goka_rdk_errstr_f)(const goka_rdk_message_t *msg)



ctypedef struct goka_rdk_consumer_api:
    # a consumer's rd_kafka_t and the entry points its partition-queue readers call
    void *rk
    goka_rdk_get_partition_f get_partition
    goka_rdk_get_consumer_f get_consumer
    goka_rdk_forward_f forward
    goka_rdk_destroy_f queue_destroy
    goka_rdk_length_f queue_length
    goka_rdk_consume_batch_f consume_batch
    goka_rdk_message_destroy_f message_destroy
    goka_rdk_io_event_f io_event
    goka_rdk_err2str_f err2str
    goka_rdk_errstr_f errstr
    goka_rdk_name_f name
    goka_rdk_timestamp_f timestamp
    goka_rdk_detach_headers_f detach_headers
    goka_rdk_header_get_all_f header_get_all
    goka_rdk_headers_destroy_f headers_destroy


cdef inline int goka_rdk_bind_consumer(goka_rdk_consumer_api *api, object consumer,
                                       object functions) except -1:
    """Fill ``api`` for ``consumer`` (a confluent-kafka ``Consumer``) from ``functions``
    (``goka._kafka.clients.librdkafka_functions``: name -> address); ValueError when the
    object has no librdkafka client or its client is not a consumer."""
    cdef const char *text
    api.rk = (<goka_rdk_handle_head*><PyObject*>consumer).rk
    api.get_partition = <goka_rdk_get_partition_f><uintptr_t>functions["rd_kafka_queue_get_partition"]
    api.get_consumer = <goka_rdk_get_consumer_f><uintptr_t>functions["rd_kafka_queue_get_consumer"]
    api.forward = <goka_rdk_forward_f><uintptr_t>functions["rd_kafka_queue_forward"]
    api.queue_destroy = <goka_rdk_destroy_f><uintptr_t>functions["rd_kafka_queue_destroy"]
    api.queue_length = <goka_rdk_length_f><uintptr_t>functions["rd_kafka_queue_length"]
    api.consume_batch = <goka_rdk_consume_batch_f><uintptr_t>functions["rd_kafka_consume_batch_queue"]
    api.message_destroy = <goka_rdk_message_destroy_f><uintptr_t>functions["rd_kafka_message_destroy"]
    api.io_event = <goka_rdk_io_event_f><uintptr_t>functions["rd_kafka_queue_io_event_enable"]
    api.err2str = <goka_rdk_err2str_f><uintptr_t>functions["rd_kafka_err2str"]
    api.errstr = <goka_rdk_errstr_f><uintptr_t>functions["rd_kafka_message_errstr"]
    api.name = <goka_rdk_name_f><uintptr_t>functions["rd_kafka_name"]
    api.timestamp = <goka_rdk_timestamp_f><uintptr_t>functions["rd_kafka_message_timestamp"]
    api.detach_headers = <goka_rdk_detach_headers_f><uintptr_t>functions["rd_kafka_message_detach_headers"]
    api.header_get_all = <goka_rdk_header_get_all_f><uintptr_t>functions["rd_kafka_header_get_all"]
    api.headers_destroy = <goka_rdk_headers_destroy_f><uintptr_t>functions["rd_kafka_headers_destroy"]
    if api.rk is NULL:
        raise ValueError("the consumer has no librdkafka client")
    text = api.name(api.rk)
    if text is NULL or strstr(text, "#consumer-") is NULL:
        raise ValueError("the object is not a confluent-kafka Consumer with a known layout")
    return 0
