# cython: language_level=3, embedsignature=True, binding=True
"""Helpers over a consumed batch of confluent-kafka messages; compiled twin of
``_messages_py`` (read it for what each function does and why)."""

from cpython.dict cimport PyDict_GetItemWithError
from cpython.list cimport PyList_Append
from cpython.ref cimport PyObject

cdef extern from "Python.h":
    int PyObject_IS_GC(object obj)
    void PyObject_GC_UnTrack(void* obj)

__all__ = ["untrack", "key_values", "by_partition"]


def untrack(list msgs):
    """Take the messages out of the cyclic garbage collector's care (see the twin)."""
    for msg in msgs:
        if PyObject_IS_GC(msg):
            PyObject_GC_UnTrack(<void*>msg)


def key_values(list msgs):
    """``(key, value)`` of each message, in order; a missing key is ``b""``."""
    cdef list out = []
    for m in msgs:
        key = m.key()
        out.append((key if key is not None else b"", m.value()))
    return out


def by_partition(list msgs):
    """Split a consumed batch by ``(topic, partition)``, errors apart (see the twin)."""
    cdef dict records = {}
    cdef list events = []
    cdef PyObject* found
    for msg in msgs:
        if msg.error() is not None:
            events.append(msg)
            continue
        slot = (msg.topic(), msg.partition())
        found = PyDict_GetItemWithError(records, slot)
        if found is NULL:
            records[slot] = [msg]
        else:
            PyList_Append(<object>found, msg)
    return records, events
