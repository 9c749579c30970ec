# cython: language_level=3, embedsignature=True, binding=True
"""A processor's consumed records off per-partition queues in librdkafka; compiled twin
of ``_consume_py`` (read it for the contract).

The consumer's ``rd_kafka_t`` is reached as ``_tablequeue_c.TableQueues`` reaches a table
reader's (``goka._core._rdkafka``: the librdkafka confluent-kafka has loaded, the
client's name checked). Semantics relied on (librdkafka ``rdkafka.h`` /
``rdkafka_queue.c`` / ``rdkafka_partition.c``):

- :meth:`PartitionQueues.add` runs inside the assignment callback, before the partition
  is assigned (confluent-kafka assigns when the callback returns): no fetch has started,
  so no record of the partition was ever put on the consumer queue.
  ``rd_kafka_queue_forward(q, NULL)`` marks the fetch queue application-forwarded: the
  fetch start of the assignment does not forward it to the consumer queue;
- a fetch stop (revocation), a pause or a seek bumps the partition's version barrier:
  ``rd_kafka_consume_batch_queue`` drops the records fetched before it, as the consumer
  queue does; it also advances the application position (what a pause resumes from) as
  ``consume`` does;
- end-of-partition events and partition errors are enqueued on the fetch queue: they
  come out of :meth:`PartitionQueues.consume` as error records in their place;
  rebalance, client-wide errors, commit results and logs stay on the consumer queue,
  served through confluent-kafka's ``consume`` first in every call;
- a released partition queue (revocation, :meth:`PartitionQueues.close`) is forwarded back
  to the consumer queue: state as if it had never been split;
- ``rd_kafka_queue_io_event_enable`` writes one byte to a non-blocking pipe when an
  empty queue gets an op (re-armed by each read): enabled on the consumer queue and on
  every split queue, it is what :meth:`PartitionQueues.consume` sleeps on.
"""
cimport cython
from libc.stdint cimport int32_t, int64_t, uintptr_t
from cpython.bytes cimport PyBytes_FromStringAndSize

from goka._core._rdkafka cimport goka_rdk_message_t, goka_rdk_header_get_all_f, goka_rdk_headers_destroy_f
from goka._core._splitqueue_c cimport SplitQueues

__all__ = ["PartitionQueues", "Record"]

DEF CHUNK = 1024

# set by the first PartitionQueues (the same library for every client of the process)
cdef goka_rdk_header_get_all_f _header_get_all = NULL
cdef goka_rdk_headers_destroy_f _headers_destroy = NULL


cdef list _headers_list(void *hdrs):
    cdef size_t idx = 0
    cdef const char *name
    cdef const void *value
    cdef size_t size
    cdef list out = []
    while _header_get_all(hdrs, idx, &name, &value, &size) == 0:
        out.append(((<bytes>name).decode("utf-8"),
                    PyBytes_FromStringAndSize(<const char*>value, size) if value is not NULL else None))
        idx += 1
    return out


@cython.final
@cython.no_gc  # holds only str, bytes, ints, a KafkaError and a list of (str, bytes) pairs
@cython.freelist(1024)
cdef class Record:
    """One consumed record with the methods of confluent-kafka's ``Message`` that goka
    reads, with the same values; its headers stay in librdkafka's form until asked for.
    Its fields are declared in ``_consume_c.pxd`` (the compiled partition processor reads
    them directly)."""

    def __dealloc__(self):
        if self._c_headers is not NULL:
            _headers_destroy(self._c_headers)
            self._c_headers = NULL

    def topic(self):
        return self._topic

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def key(self):
        return self._key

    def value(self):
        return self._value

    def error(self):
        return self._error

    def timestamp(self):
        return (self._tstype, self._timestamp)

    def headers(self):
        if self._c_headers is not NULL:
            self._headers = _headers_list(self._c_headers)
            _headers_destroy(self._c_headers)
            self._c_headers = NULL
        return self._headers

    def __repr__(self):
        return f"<Record {self._topic}/{self._partition}@{self._offset}>"


cdef class PartitionQueues(SplitQueues):
    """Per-partition queues of a group consumer read in C (see the twin); the queues, the
    wake-up pipe and the consumer queue's wake-ups are ``SplitQueues``'."""

    cdef object make_error

    def __init__(self, consumer, functions=None, make_error=None):
        global _header_get_all, _headers_destroy
        if not functions or make_error is None:
            raise ValueError("the compiled PartitionQueues needs librdkafka's entry points and make_error")
        self.make_error = make_error
        self.discard_removed = True
        self._open(consumer, functions, True)
        _header_get_all = self.api.header_get_all
        _headers_destroy = self.api.headers_destroy

    def consume(self, Py_ssize_t max_records, double timeout):
        cdef list msgs, records
        consumer = self.consumer
        if self.wfd < 0:  # closed: the consumer queue only, as the pure twin
            msgs = consumer.consume(max_records, 0)
            if msgs or timeout <= 0:
                return msgs
            first = consumer.poll(timeout)
            return [] if first is None else [first, *consumer.consume(max_records - 1, 0)]
        self._clear_wake()
        # the consumer queue first: its callbacks (a revocation) run before the records
        # taken off the partition queues below are processed
        msgs = consumer.consume(max_records, 0)
        records = self._drain(max_records - len(msgs))
        if msgs or records or timeout <= 0:
            return msgs + records if msgs else records
        if self.api.queue_length(self.main) == 0:
            self.poller.poll(int(timeout * 1000 + 0.999))
            self._clear_wake()
        msgs = consumer.consume(max_records, 0)
        records = self._drain(max_records - len(msgs))
        return msgs + records if msgs else records

    cdef list _drain(self, Py_ssize_t budget):
        cdef goka_rdk_message_t *buf[CHUNK]
        cdef goka_rdk_message_t *m
        cdef void *q
        cdef Py_ssize_t n, i, want, total = 0
        cdef list out = []
        cdef list order
        cdef Record r
        cdef void *hdrs
        cdef int tstype
        if budget <= 0 or not self.queues:
            return out
        order = list(self.queues.values())
        # start one partition further each time: a partition that always has a full
        # batch waiting must not starve the others
        self.turn = (self.turn + 1) % len(order)
        order = order[self.turn:] + order[:self.turn]
        for address, topic in order:
            if total >= budget:
                break
            q = <void*><uintptr_t>address
            while total < budget:
                want = CHUNK if budget - total > CHUNK else budget - total
                n = self.api.consume_batch(q, 0, buf, want)
                if n < 0:
                    raise RuntimeError(f"reading {topic}: rd_kafka_consume_batch_queue failed")
                try:
                    for i in range(n):
                        m = buf[i]
                        r = Record.__new__(Record)
                        r._topic = topic
                        r._partition = m.partition
                        r._offset = m.offset
                        r._key = PyBytes_FromStringAndSize(<char*>m.key, m.key_len) \
                            if m.key is not NULL else None
                        r._value = PyBytes_FromStringAndSize(<char*>m.payload, m.len) \
                            if m.payload is not NULL else None
                        tstype = 0
                        r._timestamp = self.api.timestamp(m, &tstype)
                        r._tstype = tstype
                        if m.err != 0:
                            text = self.api.errstr(m)
                            r._error = self.make_error(m.err, (<bytes>text).decode("utf-8", "replace")
                                                       if text is not NULL else "")
                        else:
                            hdrs = NULL
                            if self.api.detach_headers(m, &hdrs) == 0:
                                r._c_headers = hdrs
                        out.append(r)
                        total += 1
                finally:
                    for i in range(n):
                        self.api.message_destroy(buf[i])
                if n < want:
                    break
        return out
