# cython: language_level=3
"""The compiled consumed record (see ``_consume_c.pyx``), for the compiled partition
processor, which reads its fields as C fields instead of calling its methods."""
cimport cython
from libc.stdint cimport int32_t, int64_t


@cython.final
cdef class Record:
    cdef object _topic
    cdef object _key
    cdef object _value
    cdef object _error
    cdef object _headers
    cdef void *_c_headers
    cdef int64_t _offset
    cdef int64_t _timestamp
    cdef int32_t _partition
    cdef int _tstype
