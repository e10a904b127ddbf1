# cython: boundscheck=False, wraparound=False, cdivision=True
"""Typed structs packed into buffers and read in place through proxies.

A `Schema` lays out the slots of a struct (include/sharedbuffers_format.h
gives the bytes); `Schema.pack` writes a record, `Schema.unpack_from`
returns a proxy whose attributes read the record where it lies.  The value
types (mapped_*, proxied_*) pack and read the payloads of slots and of
`object` values.  One compiled module, composed of the included files:

    _sb_pack.pxi      Packer: values and records into a growable buffer
    _sb_read.pxi      reading values back (typecodes, sequences, dates, ...)
    _sb_hash.pxi      the stable hash (proxied dicts, object id mappers)
    _sb_types.pxi     the value type classes and the RTTI registry (mapped_object)
    _sb_proxied.pxi   collections read in place (proxied_list, _dict, ...)
    _sb_schema.pxi    slot descriptors, proxies and Schema
"""
import struct as _struct
import sys
import datetime as _dt
import decimal as _decimal
import functools

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.object cimport PyObject, PyTypeObject
from cpython.datetime cimport import_datetime, datetime_new, date_new
from libc.stdint cimport int8_t, int16_t, int32_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memset, memcmp

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *) except NULL
    object PyUnicode_DecodeUTF8(const char *, Py_ssize_t, const char *)
    long long PyLong_AsLongLongAndOverflow(object, int *) except? -1
    unsigned long long PyLong_AsUnsignedLongLongMask(object) except? <unsigned long long>-1
    object PyByteArray_FromStringAndSize(const char *, Py_ssize_t)
    double PyFloat_AsDouble(object) except? -1.0
    object PyNumber_Index(object)
    object PyMemoryView_FromObject(object)

cdef extern from *:
    """
    #define XXH_INLINE_ALL
    #include <xxhash.h>
    """
    uint64_t XXH64(const void *data, size_t length, uint64_t seed) nogil

cdef extern from "sharedbuffers_format.h":
    enum:
        SB_TC_NONE
        SB_TC_BIGINT
        SB_TC_DATETIME_TZ
        SB_TC_BOOL
        SB_TC_U8
        SB_TC_I8
        SB_TC_U16
        SB_TC_I16
        SB_TC_U32
        SB_TC_I32
        SB_TC_U64
        SB_TC_INT
        SB_TC_FLOAT
        SB_TC_FLOAT32
        SB_TC_BYTES
        SB_TC_STR
        SB_TC_TUPLE
        SB_TC_LIST
        SB_TC_FROZENSET
        SB_TC_DICT
        SB_TC_DATETIME
        SB_TC_DATE
        SB_TC_DECIMAL
        SB_TC_NDARRAY
        SB_TC_BUFFER
        SB_TC_PTUPLE
        SB_TC_PLIST
        SB_TC_PDICT
        SB_TC_PFROZENSET
        SB_TC_OBJECT
        SB_SEQ_INT
        SB_SEQ_U8
        SB_SEQ_I8
        SB_SEQ_U16
        SB_SEQ_I16
        SB_SEQ_U32
        SB_SEQ_I32
        SB_SEQ_FLOAT
        SB_SEQ_OBJECT

# Nesting limit for packing and reading: keeps recursion off the C stack's end
# (and stops reference cycles in Python objects or in corrupted buffers).
cdef enum:
    MAX_DEPTH = 100

import_datetime()

if sys.byteorder != "little":
    # the format is little-endian and read with native loads
    raise ImportError("sharedbuffers supports little-endian machines only")

# typecodes of the builtin value types (a registered struct type needs another)
RESERVED_TYPECODES = frozenset(bytes([c]) for c in b"\x00\x01\x02TBbHhIiQqdfstueZmvVFnrWEMzo")


class CorruptedBufferError(ValueError, IndexError):
    """The bytes read are not a valid packed structure (truncated or damaged).

    An IndexError too: reading past the end of a buffer is what upstream
    sharedbuffers reports that way."""


# ---------------------------------------------------------------- buffers

cdef class BufferRef:
    """An exported buffer: the bytes stay valid while this object lives."""

    def __dealloc__(self):
        if self.has_view:
            PyBuffer_Release(&self.view)
            self.has_view = False

    cdef int refresh(self) except -1:
        return 0

    @property
    def obj(self):
        return self.owner


cdef BufferRef buffer_ref(object obj):
    if isinstance(obj, BufferRef):
        return <BufferRef>obj
    cdef BufferRef b = BufferRef.__new__(BufferRef)
    if type(obj) is not bytes:
        # writable when it can be (bytearray, writable mmap): proxies may then
        # assign numeric slots in place
        try:
            PyObject_GetBuffer(obj, &b.view, PyBUF_WRITABLE)
            b.writable = True
        except (BufferError, TypeError):
            PyObject_GetBuffer(obj, &b.view, PyBUF_SIMPLE)
    else:
        PyObject_GetBuffer(obj, &b.view, PyBUF_SIMPLE)
    b.has_view = True
    b.owner = obj
    b.base = <const char *>b.view.buf
    b.size = b.view.len
    return b


cdef int raise_bounds(BufferRef b, Py_ssize_t pos, Py_ssize_t n) except -1:
    raise CorruptedBufferError(
        f"truncated or corrupted buffer: {n} bytes at position {pos} "
        f"are outside the buffer of {b.size} bytes")


cdef Py_ssize_t read_size(BufferRef b, Py_ssize_t *pos) except -1:
    cdef const char *p = at(b, pos[0], 1)
    cdef uint8_t c = <uint8_t>p[0]
    cdef uint16_t v2
    cdef uint32_t v4
    cdef uint64_t v8
    if c < SB_SIZE_U16:
        pos[0] += 1
        return c
    if c == SB_SIZE_U16:
        memcpy(&v2, at(b, pos[0] + 1, 2), 2)
        pos[0] += 3
        return v2
    if c == SB_SIZE_U32:
        memcpy(&v4, at(b, pos[0] + 1, 4), 4)
        pos[0] += 5
        return v4
    memcpy(&v8, at(b, pos[0] + 1, 8), 8)
    if v8 > <uint64_t>b.size:
        raise CorruptedBufferError(f"corrupted buffer: size {v8} at position {pos[0]}")
    pos[0] += 9
    return <Py_ssize_t>v8


cdef inline char *writable_at(BufferRef b, Py_ssize_t pos, Py_ssize_t n) except NULL:
    if not b.writable or b.dynamic:
        raise AttributeError("this proxy reads a read-only buffer")
    return <char *>at(b, pos, n)


include "_sb_pack.pxi"
include "_sb_read.pxi"
include "_sb_hash.pxi"
include "_sb_types.pxi"
include "_sb_proxied.pxi"
include "_sb_schema.pxi"
