# cython: language_level=3, embedsignature=True, binding=True
"""Key-to-partition hashers, compiled twin of ``_hashing_py`` (same interface).

The hash loops are typed C over the key's bytes: the buffer of a ``bytes`` key, or
the UTF-8 buffer CPython caches on a ``str`` (no copy for ASCII strings).
``bytearray``/``memoryview`` keys are copied to ``bytes`` first. See ``_hashing_py``
for the rules; ``tests/unit/core/test_hashing.py`` checks both twins agree.
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_Check
from libc.stdint cimport int32_t, uint32_t, uint64_t

__all__ = ["fnv1a32", "goka", "murmur2_32", "murmur2", "crc32"]


cdef uint32_t _CRC_TABLE[256]


cdef void _init_crc_table() noexcept:
    # reflected CRC-32 (poly 0x04C11DB7 reversed), as zlib and librdkafka's rd_crc32
    cdef uint32_t c
    cdef int i, j
    for i in range(256):
        c = <uint32_t>i
        for j in range(8):
            if c & 1:
                c = <uint32_t>0xEDB88320 ^ (c >> 1)
            else:
                c = c >> 1
        _CRC_TABLE[i] = c


_init_crc_table()


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline uint32_t _fnv1a(const unsigned char* p, Py_ssize_t length) noexcept nogil:
    cdef uint32_t h = <uint32_t>0x811C9DC5
    cdef uint32_t prime = <uint32_t>0x01000193
    cdef Py_ssize_t i
    for i in range(length):
        h = (h ^ p[i]) * prime
    return h


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline int32_t _murmur2(const unsigned char* p, Py_ssize_t length) noexcept nogil:
    cdef uint32_t m = <uint32_t>0x5BD1E995
    cdef uint32_t h = <uint32_t>0x9747B28C ^ <uint32_t>length
    cdef uint32_t k
    cdef Py_ssize_t i
    cdef Py_ssize_t tail = length & ~(<Py_ssize_t>3)
    cdef Py_ssize_t rest = length & 3
    for i in range(0, tail, 4):
        k = (<uint32_t>p[i]
             | (<uint32_t>p[i + 1] << 8)
             | (<uint32_t>p[i + 2] << 16)
             | (<uint32_t>p[i + 3] << 24))
        k *= m
        k ^= k >> 24
        k *= m
        h *= m
        h ^= k
    if rest:
        if rest == 3:
            h ^= <uint32_t>p[tail + 2] << 16
        if rest >= 2:
            h ^= <uint32_t>p[tail + 1] << 8
        h ^= <uint32_t>p[tail]
        h *= m
    h ^= h >> 13
    h *= m
    h ^= h >> 15
    return <int32_t>h


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline uint32_t _crc32(const unsigned char* p, Py_ssize_t length) noexcept nogil:
    cdef uint32_t c = <uint32_t>0xFFFFFFFF
    cdef Py_ssize_t i
    for i in range(length):
        c = _CRC_TABLE[(c ^ p[i]) & 0xFF] ^ (c >> 8)
    return c ^ <uint32_t>0xFFFFFFFF


cdef object _coerce(object key):
    if isinstance(key, (bytearray, memoryview)):
        return bytes(key)
    raise TypeError(f"key must be bytes or str, not {type(key).__name__}")


cdef inline const unsigned char* _buffer(object key, Py_ssize_t* length) except NULL:
    # key is bytes or str here; the pointer borrows from key, which the caller holds
    if PyBytes_Check(key):
        length[0] = PyBytes_GET_SIZE(key)
        return <const unsigned char*>PyBytes_AS_STRING(key)
    return <const unsigned char*>PyUnicode_AsUTF8AndSize(key, length)


cdef inline int _check_count(Py_ssize_t n) except -1:
    if n < 1:
        raise ValueError(f"partition count must be >= 1, got {n}")
    return 0


def fnv1a32(key):
    """32-bit FNV-1a of the key bytes, as an unsigned int (0 .. 2**32-1).

    Parameters
    ----------
    key : bytes or str
        The key (a ``str`` is hashed as UTF-8).
    """
    cdef Py_ssize_t length
    if not (PyBytes_Check(key) or PyUnicode_Check(key)):
        key = _coerce(key)
    return _fnv1a(_buffer(key, &length), length)


@cython.cdivision(True)
def goka(key, Py_ssize_t n):
    """Partition of ``key`` among ``n`` partitions by Go Goka's default hasher.

    Parameters
    ----------
    key : bytes or str
        The key (a ``str`` is hashed as UTF-8).
    n : int
        The partition count (>= 1, else ``ValueError``).
    """
    cdef Py_ssize_t length
    cdef uint32_t h
    _check_count(n)
    if not (PyBytes_Check(key) or PyUnicode_Check(key)):
        key = _coerce(key)
    h = _fnv1a(_buffer(key, &length), length)
    if h & <uint32_t>0x80000000:
        h = ~h + 1  # |int32(h)| as uint32; INT32_MIN gives 2**31
    return <uint64_t>h % <uint64_t>n


def murmur2_32(key):
    """Kafka's murmur2 of the key bytes, as a signed int32 (like Java's ``Utils.murmur2``).

    Parameters
    ----------
    key : bytes or str
        The key (a ``str`` is hashed as UTF-8).
    """
    cdef Py_ssize_t length
    if not (PyBytes_Check(key) or PyUnicode_Check(key)):
        key = _coerce(key)
    return _murmur2(_buffer(key, &length), length)


@cython.cdivision(True)
def murmur2(key, Py_ssize_t n):
    """Partition of ``key`` among ``n`` partitions by the Java client's default partitioner.

    Parameters
    ----------
    key : bytes or str
        The key (a ``str`` is hashed as UTF-8).
    n : int
        The partition count (>= 1, else ``ValueError``).
    """
    cdef Py_ssize_t length
    cdef uint32_t h
    _check_count(n)
    if not (PyBytes_Check(key) or PyUnicode_Check(key)):
        key = _coerce(key)
    h = <uint32_t>_murmur2(_buffer(key, &length), length) & <uint32_t>0x7FFFFFFF
    return <uint64_t>h % <uint64_t>n


@cython.cdivision(True)
def crc32(key, Py_ssize_t n):
    """Partition of ``key`` among ``n`` partitions by librdkafka's ``consistent`` partitioner.

    Parameters
    ----------
    key : bytes or str
        The key (a ``str`` is hashed as UTF-8).
    n : int
        The partition count (>= 1, else ``ValueError``).
    """
    cdef Py_ssize_t length
    cdef uint32_t h
    _check_count(n)
    if not (PyBytes_Check(key) or PyUnicode_Check(key)):
        key = _coerce(key)
    h = _crc32(_buffer(key, &length), length)
    return <uint64_t>h % <uint64_t>n
