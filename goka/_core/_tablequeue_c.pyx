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
from libc.stdint cimport int64_t, uintptr_t
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF

cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void *obj)

__all__ = ["TableQueues"]

from goka._core._rdkafka cimport goka_rdk_message_t
from goka._core._splitqueue_c cimport SplitQueues

DEF CHUNK = 1024
cdef int PARTITION_EOF = -191


cdef class TableQueues(SplitQueues):
    """Per-partition queues of ``consumer`` read in C (see the twin); the queues and the
    wake-up pipe are ``SplitQueues``'."""

    def __init__(self, consumer, functions=None):
        if not functions:
            raise ValueError("the compiled TableQueues needs librdkafka's entry points")
        self._open(consumer, functions, False)

    def drain(self, Py_ssize_t max_records):
        cdef goka_rdk_message_t *buf[CHUNK]
        cdef goka_rdk_message_t *m
        cdef void *q
        cdef Py_ssize_t n, i, total = 0
        cdef list batches = [], events = [], pairs
        cdef int64_t last
        cdef bint plain
        cdef list order = list(self.queues.items())  # (topic, partition) -> (address, topic)
        self._clear_wake()
        if order:
            # start one partition further each time: a partition that always has a full
            # batch waiting must not starve the others
            self.turn = (self.turn + 1) % len(order)
            order = order[self.turn:] + order[:self.turn]
        for slot, (address, _) in order:
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

    def wait(self, double timeout):
        if self.rfd >= 0:
            self.poller.poll(int(timeout * 1000 + 0.999))
