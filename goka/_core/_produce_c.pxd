# cython: language_level=3
"""The compiled outbox record (see ``_produce_c.pyx``), for the compiled partition
processor that builds it."""
cimport cython


@cython.final
cdef class Record:
    cdef object key
    cdef object value
    cdef object offset
    cdef object topic     # these three: _ABSENT when the record has no such entry
    cdef object headers
    cdef object error     # "_error"

    cdef object _get(self, name)
    cdef int _set(self, name, value) except -1
    cdef dict as_dict(self)


cdef Record new_record(object key, object value, object offset)
cdef object absent()
