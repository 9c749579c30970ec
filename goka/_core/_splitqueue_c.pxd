# cython: language_level=3
"""The compiled split-queue base (see ``_splitqueue_c.pyx``), for the compiled queue
readers that extend it (``_consume_c.PartitionQueues``, ``_tablequeue_c.TableQueues``)
and read its fields in their drains."""
from goka._core._rdkafka cimport goka_rdk_consumer_api


cdef class SplitQueues:
    cdef readonly object consumer
    cdef void *rk
    cdef void *main           # the consumer queue, watched for wake-ups (NULL: not watched)
    cdef dict queues          # (topic, partition) -> (address of its rd_kafka_queue_t, topic)
    cdef int rfd, wfd
    cdef object poller        # select.poll on rfd (select() is limited to fds < 1024)
    cdef Py_ssize_t turn      # where the next drain starts (round robin over the queues)
    cdef bint discard_removed  # remove() drops what the queue still holds
    cdef goka_rdk_consumer_api api

    cdef int _open(self, object consumer, object functions, bint watch_main) except -1
    cdef void _release(self, void *q, bint discard)
    cdef _clear_wake(self)
    cdef int _drop_queues(self) except -1
    cdef int _close_pipe(self) except -1
