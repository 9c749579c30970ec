# cython: language_level=3, embedsignature=True, binding=True
"""Table records taken off per-partition queues in librdkafka; compiled twin of
``_tablequeue_py`` (read it for the contract).

The consumer's ``rd_kafka_t`` is reached as ``_produce_c.DirectProducer`` reaches the
producer's (first field after the object header of confluent-kafka's ``Handle``), with
the entry points of the librdkafka confluent-kafka has loaded
(``goka._kafka.clients.librdkafka_functions``) and a check of the client's name.

Semantics relied on (librdkafka ``rdkafka.h`` / ``rdkafka_queue.c``):
- ``rd_kafka_queue_get_partition`` creates the partition's fetch queue if the partition
  is not known yet, so the split happens before ``incremental_assign``: no record of the
  partition reaches the consumer queue first (which would reorder it);
- ``rd_kafka_queue_forward(q, NULL)`` marks the fetch queue application-forwarded:
  a later fetch start (assignment) does not forward it to the consumer queue again,
  and a fetch stop (unassignment) only clears forwarding;
- records of an outdated assignment (a partition removed and added again) are dropped
  by ``rd_kafka_consume_batch_queue`` (version barrier), as by the consumer queue;
- end-of-partition and partition errors are enqueued on the fetch queue, so they come
  from :meth:`drain`; client-wide errors (``error_cb``) stay on the consumer queue;
- ``rd_kafka_queue_io_event_enable`` writes one byte to a non-blocking pipe when an
  empty queue gets an op (re-armed by each read), which :meth:`wait` sleeps on.
"""
import os
import select

from libc.stdint cimport int64_t, uintptr_t
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.ref cimport PyObject
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF

cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void *obj)

__all__ = ["TableQueues"]

from goka._core._rdkafka cimport (
    goka_rdk_message_t, goka_rdk_handle_head, goka_rdk_consumer_api, goka_rdk_bind_consumer,
)

DEF CHUNK = 1024
cdef int PARTITION_EOF = -191
cdef const char *WAKE = b"w"


cdef class TableQueues:
    """Per-partition queues of ``consumer`` read in C (see the twin)."""

    cdef readonly object consumer
    cdef void *rk
    cdef dict queues          # (topic, partition) -> address of its rd_kafka_queue_t
    cdef int rfd, wfd
    cdef object poller        # select.poll on rfd (select() is limited to fds < 1024)
    cdef Py_ssize_t turn
    cdef goka_rdk_consumer_api api

    def __cinit__(self):
        self.rfd = -1
        self.wfd = -1
        self.queues = {}

    def __init__(self, consumer, functions=None):
        if not functions:
            raise ValueError("the compiled TableQueues needs librdkafka's entry points")
        self.consumer = consumer
        goka_rdk_bind_consumer(&self.api, consumer, functions)
        self.rk = self.api.rk
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.poller = select.poll()
        self.poller.register(self.rfd, select.POLLIN)

    def __len__(self):
        return len(self.queues)

    def add(self, str topic, int partition):
        cdef void *q
        slot = (topic, partition)
        if slot in self.queues or self.wfd < 0:
            return slot in self.queues
        q = self.api.get_partition(self.rk, topic.encode("utf-8"), partition)
        if q is NULL:
            return False
        self.api.forward(q, NULL)
        self.api.io_event(q, self.wfd, WAKE, 1)
        self.queues[slot] = <uintptr_t>q
        return True

    def remove(self, str topic, int partition):
        address = self.queues.pop((topic, partition), None)
        if address is not None:
            self._release(<void*><uintptr_t>address)

    cdef void _release(self, void *q):
        self.api.io_event(q, -1, NULL, 0)
        self.api.queue_destroy(q)

    def drain(self, Py_ssize_t max_records):
        cdef goka_rdk_message_t *buf[CHUNK]
        cdef goka_rdk_message_t *m
        cdef void *q
        cdef Py_ssize_t n, i, total = 0
        cdef list batches = [], events = [], pairs
        cdef int64_t last
        cdef bint plain
        cdef list order = list(self.queues.items())
        self._clear_wake()
        if order:
            # start one partition further each time: a partition that always has a full
            # batch waiting must not starve the others
            self.turn = (self.turn + 1) % len(order)
            order = order[self.turn:] + order[:self.turn]
        for slot, address in order:
            if total >= max_records:
                break
            q = <void*><uintptr_t>address
            pairs = []
            last = -1
            plain = True
            topic, partition = slot
            while total < max_records:
                n = self.api.consume_batch(q, 0, buf, CHUNK if max_records - total > CHUNK else max_records - total)
                if n < 0:
                    raise RuntimeError(f"reading {topic}/{partition}: rd_kafka_consume_batch_queue failed")
                try:
                    for i in range(n):
                        m = buf[i]
                        if m.err != 0:
                            if pairs:  # records before the event stay before it
                                batches.append((topic, partition, pairs, last, plain))
                                pairs = []
                                plain = True
                            text = self.api.err2str(m.err)
                            events.append((topic, partition, m.err, m.offset,
                                           (<bytes>text).decode("utf-8", "replace")))
                            continue
                        if m.key is not NULL and m.key_len > 0:
                            key = PyBytes_FromStringAndSize(<char*>m.key, m.key_len)
                        else:
                            key = b""
                            plain = False
                        if m.payload is not NULL:
                            value = PyBytes_FromStringAndSize(<char*>m.payload, m.len)
                        else:
                            value = None
                            plain = False
                        pair = PyTuple_New(2)
                        Py_INCREF(key)
                        PyTuple_SET_ITEM(pair, 0, key)
                        Py_INCREF(value)
                        PyTuple_SET_ITEM(pair, 1, value)
                        # a pair of bytes can't be in a reference cycle: keep it out of the
                        # cyclic GC (a million tracked tuples trigger collections)
                        PyObject_GC_UnTrack(<void*>pair)
                        pairs.append(pair)
                        last = m.offset
                        total += 1
                finally:
                    for i in range(n):
                        self.api.message_destroy(buf[i])
                if n < CHUNK:
                    break
            if pairs:
                batches.append((topic, partition, pairs, last, plain))
        return batches, events

    cdef _clear_wake(self):
        if self.rfd < 0:
            return
        try:
            while os.read(self.rfd, 4096):
                pass
        except BlockingIOError:
            pass

    def wait(self, double timeout):
        if self.rfd >= 0:
            self.poller.poll(int(timeout * 1000 + 0.999))

    def close(self):
        queues, self.queues = self.queues, {}
        for address in queues.values():
            self._release(<void*><uintptr_t>address)
        if self.rfd >= 0:
            os.close(self.rfd)
            os.close(self.wfd)
            self.rfd = self.wfd = -1

    def __dealloc__(self):
        # close() is the way out. A dropped object releases its queues only while the
        # consumer's client still exists (confluent-kafka clears the pointer on close)
        cdef void *rk = NULL
        if self.queues and self.consumer is not None:
            rk = (<goka_rdk_handle_head*><PyObject*>self.consumer).rk
        if rk is not NULL and rk == self.rk:
            for address in self.queues.values():
                self._release(<void*><uintptr_t>address)
        self.queues = {}
        if self.rfd >= 0:
            os.close(self.rfd)
            os.close(self.wfd)
