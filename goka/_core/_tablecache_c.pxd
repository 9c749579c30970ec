# cython: language_level=3
"""The compiled table cache's types, for the compiled twins that call it directly
(``_partition_c``, ``_dispatch_c``): see ``_tablecache_c.pyx``."""
cimport cython


@cython.final
cdef class Generation:
    cdef public dict writes
    cdef public Py_ssize_t pending
    cdef public long long offset


@cython.final
cdef class TableCache:
    cdef public object storage
    cdef public Generation current
    cdef public object sealed
    cdef public dict values
    cdef public Py_ssize_t max_cached
    cdef public list undo
    cdef Py_ssize_t presize  # entries the next generation's dict is sized for

    cdef object get_c(self, object key)
    cdef int set_c(self, object key, object value) except -1
