# cython: language_level=3, embedsignature=True, binding=True
"""The group table's cache, compiled twin of ``_tablecache_py`` (same interface).

``_tablecache_py`` is the specification. This twin declares its types in
``_tablecache_c.pxd`` so that the compiled partition processor and dispatcher call
``get_c``/``set_c`` directly (a C call, no bound method): ``get`` is a dict probe in the
common case, ``set`` a journal append and two dict stores. A new generation's dict is
sized like the last sealed one's (up to ``PRESIZE_MAX`` entries), so a batch's writes do
not regrow it step by step.
"""
cimport cython
from cpython.dict cimport PyDict_GetItemWithError, PyDict_Next
from cpython.list cimport PyList_Append, PyList_Clear
from cpython.ref cimport PyObject

from collections import deque

from goka.storage import puts_writer

__all__ = ["Generation", "TableCache"]

cdef extern from *:
    """
    /* a dict with room for n entries: _PyDict_NewPresized (CPython 3.10-3.12, which Cython
       itself uses for dict displays); elsewhere an ordinary empty dict */
    #if !defined(PYPY_VERSION) && PY_VERSION_HEX >= 0x030A0000 && PY_VERSION_HEX < 0x030D0000
    #define goka_dict_presized(n) _PyDict_NewPresized(n)
    #else
    #define goka_dict_presized(n) PyDict_New()
    #endif
    """
    dict goka_dict_presized(Py_ssize_t n)

cdef object _MISSING = object()
DEF PRESIZE_MAX = 65536  # entries a new generation's dict is sized for at most
cdef object _deque = deque


cdef inline void _remember(dict values, Py_ssize_t max_cached, object key, object value) except *:
    if len(values) >= max_cached:
        values.clear()
    values[key] = value


cdef list _puts(dict writes):
    """The ``(key, value)`` pairs of ``writes``, or None if one is a tombstone or has an
    empty key."""
    cdef list puts = []
    cdef Py_ssize_t pos = 0
    cdef PyObject *k
    cdef PyObject *v
    while PyDict_Next(writes, &pos, &k, &v):
        if <object>v is None or not <object>k:
            return None
        PyList_Append(puts, (<object>k, <object>v))
    return puts


@cython.final
cdef class Generation:
    """Table writes of one batch, waiting for their changelog acknowledgements."""

    def __init__(self):
        self.writes = {}
        self.pending = 0
        self.offset = -1


@cython.final
cdef class TableCache:
    """The dispatcher's view of the group table: a cache of recent values (read or
    written) over the unacknowledged generations over storage.

    The processor is the table partition's only writer, so cached values stay exact.
    The cache holds at most ``max_cached`` keys and is simply emptied when full.
    """

    def __init__(self, storage, Py_ssize_t max_cached=200_000):
        self.storage = storage
        self.current = None
        self.sealed = _deque()
        self.values = {}
        self.max_cached = max_cached
        self.undo = []
        self.presize = 0

    def get(self, key):
        return self.get_c(key)

    cdef object get_c(self, object key):
        cdef PyObject* found = PyDict_GetItemWithError(self.values, key)
        if found is not NULL:
            return <object>found
        value = self._lookup(key)
        _remember(self.values, self.max_cached, key, value)
        return value

    def peek(self, key):
        """A read from another thread: the cached value or storage, without touching the
        cache or the generations (which only the processing thread may)."""
        value = self.values.get(key, _MISSING)
        if value is not _MISSING:
            return value
        return self.storage.get(key)

    def _lookup(self, key):
        cdef Generation gen
        cdef PyObject* found
        if self.current is not None:
            found = PyDict_GetItemWithError(self.current.writes, key)
            if found is not NULL:
                return <object>found
        for gen in reversed(self.sealed):
            found = PyDict_GetItemWithError(gen.writes, key)
            if found is not NULL:
                return <object>found
        return self.storage.get(key)

    def set(self, key, value):
        self.set_c(key, value)

    cdef int set_c(self, object key, object value) except -1:
        cdef Generation current = self.current
        cdef PyObject* found
        if current is None:
            current = self.current = Generation()
            # sized like the last sealed generation: a batch's writes do not grow the dict
            # step by step (each growth rehashes every entry)
            if self.presize > 0:
                current.writes = goka_dict_presized(self.presize)
        cdef dict writes = current.writes
        found = PyDict_GetItemWithError(writes, key)
        PyList_Append(self.undo, key)
        PyList_Append(self.undo, <object>found if found is not NULL else _MISSING)
        writes[key] = value
        _remember(self.values, self.max_cached, key, value)
        return 0

    def rollback(self):
        """Undo the writes journaled since the current message began."""
        cdef list undo = self.undo
        cdef Generation current = self.current
        cdef Py_ssize_t i
        cdef dict writes
        if undo and current is not None:
            writes = current.writes
            values = self.values
            for i in range(len(undo) - 2, -1, -2):
                key = undo[i]
                old = undo[i + 1]
                values.pop(key, None)
                if old is _MISSING:
                    writes.pop(key, None)
                else:
                    writes[key] = old
            if not writes:
                self.current = None
        PyList_Clear(undo)

    def seal(self):
        """Close the batch's generation; later writes start a new one."""
        PyList_Clear(self.undo)
        if self.current is not None:
            self.presize = min(len(self.current.writes), PRESIZE_MAX)
            self.sealed.append(self.current)
            self.current = None

    def flush(self):
        """Write every leading generation whose changelog is fully acknowledged (a
        generation of puts only through the storage's ``write_puts``, see the twin)."""
        cdef Py_ssize_t written = 0
        cdef Generation gen
        sealed = self.sealed
        while sealed and (<Generation>sealed[0]).pending == 0:
            gen = sealed.popleft()
            offset = gen.offset if gen.offset >= 0 else None
            write_puts = puts_writer(self.storage)
            puts = _puts(gen.writes) if write_puts is not None else None
            if puts is not None:
                write_puts(puts, offset=offset)
            else:
                self.storage.write_batch(gen.writes.items(), offset=offset)
            written += len(gen.writes)
        return written

    @property
    def unflushed(self):
        return len(self.sealed) + (self.current is not None)
