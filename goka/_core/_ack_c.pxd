# cython: language_level=3
"""The compiled acknowledgement types (see ``_ack_c.pyx``), for the compiled partition
processor that creates them and reads their counters as C fields."""
cimport cython

from goka._core._tablecache_c cimport Generation


@cython.final
cdef class Ticket:
    cdef public object pp  # the PartitionProcessor (object: _partition_c cimports this module)
    cdef public object topic
    cdef public long long offset
    cdef public Py_ssize_t pending
    cdef public Py_ssize_t count  # messages processed, not yet added to pp.consumed (see _fold)


@cython.final
cdef class _Done:
    cdef Ticket ticket
    cdef bint called


@cython.final
cdef class BatchAck:
    cdef public object pp
    cdef public list tickets
    cdef public Generation gen
    cdef public Py_ssize_t remaining
    cdef public dict outbox
    cdef public dict own
    cdef object _table_topic  # pp.table_topic, read once
