# cython: boundscheck=False, wraparound=False, cdivision=True
"""The compiled side of ptypes: proxies of the objects a storage holds.

One compiled class per kind of object (structure, byte string, list, dict,
buffer, the storage root) is registered with the pmemobj core, each with a
traverse function, so reference counts and gc work without the schema.  Each
object stores the index of its schema type (`ptid`) right after the core
header; a proxy looks its TypeInfo up in the Session of the storage that has
the pool open.  The on-media layouts are in include/ptypes_layout.h.

Nothing here caches pool contents: every read goes to the pool, so what a
proxy shows after an aborted transaction is what the pool holds.

This file only composes the module: its parts are the included .pxi files,
one per kind of object (one module, so that the hot paths between them,
values in slots and the proxies that hold them, are direct C calls).  The
cdef API other ptypes modules cimport is declared in _objects.pxd.
"""
cimport cython
import errno as _errno

from pmemobj._core import InvalidPoolError

from libc.stdint cimport uint64_t, int64_t, INT64_MAX, INT64_MIN
from libc.string cimport memcpy, memcmp, memmove
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.buffer cimport (PyObject_CheckBuffer, PyObject_GetBuffer, PyBuffer_Release,
                             PyBuffer_ToContiguous, PyBUF_FULL_RO, PyBUF_WRITABLE, PyBUF_FORMAT,
                             PyBUF_ND, PyBUF_STRIDES)
from cpython.object cimport PyObject_GenericGetAttr, PyObject_Hash
from cpython.pythread cimport PyThread_get_thread_ident
from cpython.object cimport PyObject

from pmemobj._core cimport (MemoryManager, PersistentBase, register_traverse, visit_slots, visit_fn,
                            pyp_slot_t, pyp_header_t, PYP_TAG_EMPTY, PYP_TAG_NONE, PYP_TAG_INT,
                            PYP_TAG_FLOAT, PYP_TAG_REF, PYP_TYPE_NUM_RAW, VISIT_REF, VISIT_RAW)
from ptypes._layout cimport *


cdef object damaged(MemoryManager mm, str what):
    return InvalidPoolError(_errno.EINVAL, f"damaged ptypes storage: {what}", mm.filename)


include "_session.pxi"
include "_slots.pxi"
include "_proxy.pxi"
include "_structure.pxi"
include "_bytestring.pxi"
include "_list.pxi"
include "_dict.pxi"
include "_buffer.pxi"
include "_storage_root.pxi"


for _kind, _cls in ((K_STRUCT, PtStructure), (K_BYTES, PtByteString), (K_LIST, PtList),
                    (K_DICT, PtDict), (K_BUFFER, PtBuffer)):
    register_kind(_kind, _cls)
register_traverse(PtStructure, traverse_structure)
register_traverse(PtList, traverse_list)
register_traverse(PtDict, traverse_dict)
register_traverse(PtStorageRoot, traverse_storage_root)
register_traverse(PtByteString, traverse_leaf)
register_traverse(PtBuffer, traverse_leaf)
