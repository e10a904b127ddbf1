# cython: boundscheck=False, wraparound=False, cdivision=True
"""The pmemobj core: pool files, transactions, the allocator, reference counts,
values in slots, the type table and gc.

Only this module talks to libpmemobj.  It is one extension module (calls
between its parts stay plain C calls on the hot paths) composed of included
files, each named for what it holds; the list below is the map.  Every
rule of DESIGN.md's "Transactions" section is enforced here, so that no
Python-level misuse reaches one of libpmemobj's abort() calls.
"""
import errno as _errno

cimport cython
import os
import pickle
import threading
import sys
import warnings
import weakref
import atexit
import importlib

from pmemobj import _metadata_check

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from cpython.long cimport PyLong_FromLongLong
from cpython.object cimport PyObject_Hash, PyObject_RichCompareBool, Py_EQ
from cpython.pythread cimport (PyThread_allocate_lock, PyThread_free_lock, PyThread_acquire_lock,
                               PyThread_release_lock, PyThread_get_thread_ident, WAIT_LOCK, NOWAIT_LOCK)
from libc.stdint cimport uint64_t, int64_t, uint8_t, uint16_t, uint32_t, uintptr_t
from libc.string cimport memcpy, memcmp, memset
from libc.stdlib cimport malloc, calloc, realloc, free as c_free, qsort
from libc.errno cimport errno, ENOMEM, EINVAL

cdef extern from "<errno.h>":
    enum: ECANCELED

from pmemobj._libpmemobj cimport *

include "_declarations.pxi"
include "_errors.pxi"
include "_faults.pxi"
include "_registry.pxi"
include "_deferred.pxi"
include "_collect.pxi"
include "_refcounts.pxi"
include "_transactions.pxi"
include "_values.pxi"
include "_types.pxi"
include "_pool_file.pxi"
include "_growth.pxi"
include "_backup.pxi"
include "_durability.pxi"
include "_journal.pxi"
include "_heap_check.pxi"
include "_gc.pxi"
include "_memory_manager.pxi"
include "_persistent_base.pxi"
include "_heap.pxi"
