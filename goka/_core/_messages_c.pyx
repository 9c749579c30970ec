# cython: language_level=3, embedsignature=True, binding=True
"""Helpers over a consumed batch of confluent-kafka messages; compiled twin of
``_messages_py`` (read it for what each function does and why)."""

cdef extern from "Python.h":
    int PyObject_IS_GC(object obj)
    void PyObject_GC_UnTrack(void* obj)

__all__ = ["untrack", "key_values"]


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
