# cython: language_level=3, embedsignature=True, binding=True
"""Per-partition queues split off a consumer's queue in librdkafka: the set-up both
compiled queue readers share; compiled twin of ``_splitqueue_py`` (read it for the
contract).

``SplitQueues`` binds the consumer's entry points (``goka._core._rdkafka``), owns the
wake-up pipe and its ``select.poll``, splits a partition's queue off (:meth:`add`),
releases it (:meth:`remove`, :meth:`close`) and cleans up when dropped. The subclasses
``_consume_c.PartitionQueues`` (a processor's records) and ``_tablequeue_c.TableQueues``
(a table reader's pairs) add the drain, which differs in what it makes of a record, and
read the fields declared in ``_splitqueue_c.pxd`` as C fields.

Semantics relied on (librdkafka ``rdkafka.h`` / ``rdkafka_queue.c``):

- ``rd_kafka_queue_get_partition`` creates the partition's fetch queue if the partition
  is not known yet, so the split happens before the assignment: no record of the
  partition reaches the consumer queue first (which would reorder it);
- ``rd_kafka_queue_forward(q, NULL)`` marks the fetch queue application-forwarded: a later
  fetch start (assignment) does not forward it to the consumer queue again;
- ``rd_kafka_queue_io_event_enable`` writes one byte to a non-blocking pipe when an
  empty queue gets an op (re-armed by each read): enabled on every split queue (and on
  the consumer queue when it is watched), it is what the readers sleep on;
- a released queue is forwarded back to the consumer queue when that is watched
  (a split partition is never forwarded again by librdkafka itself).
"""
import os
import select

from libc.stdint cimport uintptr_t
from cpython.ref cimport PyObject

from goka._core._rdkafka cimport goka_rdk_message_t, goka_rdk_handle_head, goka_rdk_bind_consumer

__all__ = ["SplitQueues"]

DEF CHUNK = 1024
cdef const char *WAKE = b"w"


cdef class SplitQueues:
    """Per-partition queues of a consumer, split off its queue (see the twin). Subclasses
    call :meth:`_open` from their ``__init__``."""

    def __cinit__(self):
        self.rfd = -1
        self.wfd = -1
        self.queues = {}

    cdef int _open(self, object consumer, object functions, bint watch_main) except -1:
        """Bind ``consumer``'s entry points and open the wake-up pipe; with ``watch_main``
        the consumer queue wakes the pipe too (ValueError if the consumer has none)."""
        self.consumer = consumer
        goka_rdk_bind_consumer(&self.api, consumer, functions)
        self.rk = self.api.rk
        if watch_main:
            self.main = self.api.get_consumer(self.rk)
            if self.main is NULL:
                raise ValueError("the consumer is not a group consumer")
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.poller = select.poll()
        self.poller.register(self.rfd, select.POLLIN)
        if self.main is not NULL:
            self.api.io_event(self.main, self.wfd, WAKE, 1)
        return 0

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
        self.queues[slot] = (<uintptr_t>q, topic)
        return True

    def remove(self, str topic, int partition):
        entry = self.queues.pop((topic, partition), None)
        if entry is not None:
            self._release(<void*><uintptr_t>entry[0], self.discard_removed)

    cdef void _release(self, void *q, bint discard):
        cdef goka_rdk_message_t *buf[CHUNK]
        cdef Py_ssize_t n = CHUNK, i
        # what the queue still holds belongs to the revoked assignment: dropped, as the
        # consumer queue drops it (the version barrier of the revocation)
        while discard and n == CHUNK:
            n = self.api.consume_batch(q, 0, buf, CHUNK)
            for i in range(n):
                self.api.message_destroy(buf[i])
        self.api.io_event(q, -1, NULL, 0)
        # forwarded back to the consumer queue: a split partition is never forwarded again
        # by librdkafka itself, so whatever reads the partition next (an assignment without
        # add(), the consumer after close()) finds its records on the consumer queue
        if self.main is not NULL:
            self.api.forward(q, self.main)
        self.api.queue_destroy(q)

    cdef _clear_wake(self):
        if self.rfd < 0:
            return
        try:
            while os.read(self.rfd, 4096):
                pass
        except BlockingIOError:
            pass

    cdef int _drop_queues(self) except -1:
        """Release every split queue and the consumer queue's wake-ups (the consumer's
        client must still exist)."""
        queues, self.queues = self.queues, {}
        for address, _ in queues.values():
            self._release(<void*><uintptr_t>address, False)
        if self.main is not NULL:
            self.api.io_event(self.main, -1, NULL, 0)
            self.api.queue_destroy(self.main)  # before the consumer closes (rdkafka.h)
            self.main = NULL
        return 0

    cdef int _close_pipe(self) except -1:
        if self.rfd >= 0:
            os.close(self.rfd)
            os.close(self.wfd)
            self.rfd = self.wfd = -1
        return 0

    def close(self):
        self._drop_queues()
        self._close_pipe()

    def __dealloc__(self):
        # close() is the way out. A dropped object releases its queues only while the
        # consumer's client still exists (confluent-kafka clears the pointer on close)
        cdef void *rk = NULL
        if (self.queues or self.main is not NULL) and self.consumer is not None:
            rk = (<goka_rdk_handle_head*><PyObject*>self.consumer).rk
        if rk is not NULL and rk == self.rk:
            self._drop_queues()
        self.queues = {}
        self.main = NULL
        self._close_pipe()
