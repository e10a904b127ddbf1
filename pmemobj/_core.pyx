# cython: boundscheck=False, wraparound=False, cdivision=True
"""The pmemobj core: pool files, transactions, the allocator, reference counts,
values in slots, the type table and gc.

Only this module talks to libpmemobj.  Every rule of DESIGN.md's "Transactions"
section is enforced here, so that no Python-level misuse reaches one of
libpmemobj's abort() calls.
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

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int *) except? -1
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *) except NULL

cdef extern from *:
    """
    #define XXH_INLINE_ALL
    #include <xxhash.h>
    /* The pool whose transaction is open in this OS thread (libpmemobj's
     * transactions are per thread; a second pool's would abort the first). */
    static __thread void *pyp_tx_pool = NULL;
    static inline void *pyp_get_tx_pool(void) { return pyp_tx_pool; }
    static inline void pyp_set_tx_pool(void *p) { pyp_tx_pool = p; }
    static inline PMEMoid pyp_oid(uint64_t uuid, uint64_t off) { PMEMoid o; o.pool_uuid_lo = uuid; o.off = off; return o; }
    static inline uint64_t pyp_double_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
    static inline double pyp_bits_double(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
    typedef struct { uint64_t off; uint64_t type_num; } pyp_alloc_t;
    static int pyp_alloc_cmp(const void *a, const void *b) {
        uint64_t x = ((const pyp_alloc_t *)a)->off, y = ((const pyp_alloc_t *)b)->off;
        return x < y ? -1 : x > y;
    }
    """
    uint64_t XXH3_64bits(const void *data, size_t n) nogil
    void *pyp_get_tx_pool() nogil
    void pyp_set_tx_pool(void *p) nogil
    PMEMoid pyp_oid(uint64_t uuid, uint64_t off) nogil
    uint64_t pyp_double_bits(double d) nogil
    double pyp_bits_double(uint64_t u) nogil
    ctypedef struct pyp_alloc_t:
        uint64_t off
        uint64_t type_num
    int pyp_alloc_cmp(const void *a, const void *b) nogil

cdef extern from *:
    """
    #include <libpmemobj.h>
    #include <stdlib.h>
    /* The heap walk of gc, run in a thread of its own: on some damaged heaps
     * pmemobj_next() never returns, and the caller must be able to give up. */
    typedef struct {
        PMEMobjpool *pop;
        pyp_alloc_t *allocs;
        size_t n, cap;
        volatile uint64_t steps;
        volatile int done;          /* 1 finished, -1 out of memory */
    } pyp_walk_t;
    static void pyp_walk_heap(pyp_walk_t *w) {
        PMEMoid oid = pmemobj_first(w->pop);
        while (oid.off) {
            if (w->n == w->cap) {
                size_t c = w->cap ? w->cap * 2 : 1024;
                pyp_alloc_t *p = realloc(w->allocs, c * sizeof(*p));
                if (!p) { w->done = -1; return; }
                w->allocs = p;
                w->cap = c;
            }
            w->allocs[w->n].off = oid.off;
            w->allocs[w->n].type_num = pmemobj_type_num(oid);
            w->n++;
            w->steps++;
            oid = pmemobj_next(oid);
        }
        w->done = 1;
    }
    static uint64_t pyp_walk_steps(pyp_walk_t *w) { return w->steps; }
    /* pmemobj_open / pmemobj_check run in a thread of their own: on some damage
     * to a pool's lanes or heap they never return. */
    typedef struct {
        char *path;
        int check;                  /* 0: pmemobj_open, 1: pmemobj_check */
        PMEMobjpool *pop;
        int rc, err;
        char msg[256];
        volatile int done;
    } pyp_call_t;
    static void pyp_call(pyp_call_t *c) {
        const char *m;
        if (c->check)
            c->rc = pmemobj_check(c->path, PYP_LAYOUT_NAME);
        else
            c->pop = pmemobj_open(c->path, PYP_LAYOUT_NAME);
        c->err = errno;
        m = pmemobj_errormsg();
        snprintf(c->msg, sizeof(c->msg), "%s", m ? m : "");
        c->done = 1;
    }
    static int pyp_call_done(pyp_call_t *c) { return c->done; }
    static int pyp_walk_done(pyp_walk_t *w) { return w->done; }
    """
    ctypedef struct pyp_walk_t:
        PMEMobjpool *pop
        pyp_alloc_t *allocs
        size_t n
        size_t cap
    void pyp_walk_heap(pyp_walk_t *w) nogil
    uint64_t pyp_walk_steps(pyp_walk_t *w) nogil
    ctypedef struct pyp_call_t:
        char *path
        int check
        PMEMobjpool *pop
        int rc
        int err
        char msg[256]
    void pyp_call(pyp_call_t *c) nogil
    int pyp_call_done(pyp_call_t *c) nogil
    int pyp_walk_done(pyp_walk_t *w) nogil

cdef extern from "pyp_layout.h":
    const char *PYP_LAYOUT_NAME
    uint64_t PYP_MAGIC
    uint64_t PYP_LAYOUT_VERSION
    ctypedef struct pyp_box_t:
        pyp_header_t h
        pyp_slot_t value
    ctypedef struct pyp_complex_t:
        pyp_header_t h
        double real
        double imag
    ctypedef struct pyp_typetable_t:
        uint64_t count
        uint64_t capacity
        uint64_t names[1]

MIN_POOL_SIZE = PMEMOBJ_MIN_POOL
POBJECT_TYPE_NUM = PYP_TYPE_NUM_OBJECT
RAW_TYPE_NUM = PYP_TYPE_NUM_RAW
OID_NULL = (0, 0)
LAYOUT_NAME = PYP_LAYOUT_NAME.decode()
LAYOUT_VERSION = PYP_LAYOUT_VERSION


# hash mixing constants (C integers, not Python ones)
cdef uint64_t K_27d4eb2f165667c5 = 0x27d4eb2f165667c5ULL
cdef uint64_t K_9e3779b97f4a7c15 = 0x9e3779b97f4a7c15ULL
cdef uint64_t K_165667b19e3779f9 = 0x165667b19e3779f9ULL
cdef uint64_t K_c2b2ae3d27d4eb4f = 0xc2b2ae3d27d4eb4fULL
cdef uint64_t K_ff51afd7ed558ccd = 0xff51afd7ed558ccdULL
cdef uint64_t K_c4ceb9fe1a85ec53 = 0xc4ceb9fe1a85ec53ULL
cdef uint64_t K_5bd1e995 = 0x5bd1e995ULL

DEF HEADER = 16          # sizeof(pyp_header_t)
DEF SLOT = 16            # sizeof(pyp_slot_t)
DEF POOL_HDR = 8192      # libpmemobj's pool header + descriptor precede the heap
DEF FREE_BATCH = 4096    # gc frees in transactions of this many objects


# ---------------------------------------------------------------------------
# Errors users see (DESIGN.md)

class PoolFullError(MemoryError):
    """The pool has no room left; the transaction was rolled back."""


class TransactionError(RuntimeError):
    """A transaction was misused: a write outside one, after an abort, on two pools at once."""


class InvalidPoolError(OSError):
    """The file is not a pool of this layout, or its content is damaged."""


class PoolInUseError(OSError):
    """The pool file is already open (in this process or another)."""


class UnknownClassError(TypeError):
    """The pool holds objects of a class this process cannot import (not damage)."""

    def __init__(self, class_name, reason):
        super().__init__(f"class {class_name} is not importable ({reason}); add the directory of its "
                         f"module to PYTHONPATH")
        self.class_name = class_name


cdef str _name_of(type t):
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__


# ---------------------------------------------------------------------------
# Fault injection for tests: make the Nth next allocation, snapshot or free fail
# the way libpmemobj fails on a full pool (the transaction is aborted).

cdef enum:
    FAULT_ALLOC = 0
    FAULT_SNAPSHOT = 1
    FAULT_FREE = 2

cdef long long _fault_countdown[3]
cdef unsigned long long _fault_ops[3]
_fault_countdown[:] = [-1, -1, -1]
_fault_ops[:] = [0, 0, 0]
_FAULT_KINDS = {"alloc": FAULT_ALLOC, "snapshot": FAULT_SNAPSHOT, "free": FAULT_FREE}

cdef inline bint _fault(int kind) noexcept:
    _fault_ops[kind] += 1
    if _fault_countdown[kind] < 0:
        return False
    if _fault_countdown[kind] == 0:
        _fault_countdown[kind] = -1
        return True
    _fault_countdown[kind] -= 1
    return False

def _fault_inject(kind, long long n):
    """Make the n-th (0-based) next operation of *kind* ('alloc', 'snapshot', 'free') fail."""
    _fault_countdown[_FAULT_KINDS[kind]] = n

def _fault_reset():
    """Cancel pending faults and zero the operation counts."""
    _fault_countdown[:] = [-1, -1, -1]
    _fault_ops[:] = [0, 0, 0]

def _fault_counts():
    """How many allocations, snapshots and frees ran since the last reset."""
    return {k: _fault_ops[v] for k, v in _FAULT_KINDS.items()}


# ---------------------------------------------------------------------------
# Frees deferred past a full log.  Every free in a transaction needs an entry in
# its redo log, which grows by allocating from the heap; in a full pool it
# cannot, and a transaction that frees many objects (clearing a big collection)
# would fail.  A free refused for that reason is deferred instead: once the
# transaction commits the block is garbage (nothing references it), and it is
# freed right after the commit in transactions of its own, small enough for
# the log, each giving space back.  If the process dies first, the block is
# unreachable garbage for the gc that the next open runs.  An abort forgets the
# transaction's deferred frees: their objects are alive again.

cdef bint _deferring = False        # some pool has deferred frees: the only test on the normal path
# By the pool's MemoryManager (its address: a pool is forgotten when it closes or dies):
cdef dict _tx_deferred = {}         # offsets its open transaction could not free
cdef dict _committed_deferred = {}  # offsets of committed garbage still to free
cdef dict _draining = {}            # ident of the thread freeing that garbage (or -1: held, for tests)
DEF DEFERRED_BATCH = 32     # frees that fit the log a transaction has before it grows


cdef inline size_t _key(MemoryManager mm) noexcept:
    return <size_t><void *>mm


cdef bint _defer_free(MemoryManager mm, uint64_t off) except -1:
    """Record a free the full log refused; False inside the transactions that free such records."""
    global _deferring
    if _draining.get(_key(mm)) == mm.owner:
        return False
    lst = _tx_deferred.get(_key(mm))
    if lst is None:
        lst = _tx_deferred[_key(mm)] = []
    lst.append(off)
    _deferring = True
    return True


cdef _update_deferring():
    global _deferring
    _deferring = len(_tx_deferred) != 0 or len(_committed_deferred) != 0 or len(_draining) != 0


cdef _settle_deferred(MemoryManager mm, bint committed):
    """At the end of the outermost transaction, still under the pool's lock (the
    next transaction's deferred frees are its own): keep its deferred frees as
    garbage to free if it committed, forget them if it rolled back."""
    done = _tx_deferred.pop(_key(mm), None)
    if done and committed:
        pending = _committed_deferred.get(_key(mm))
        if pending is None:
            _committed_deferred[_key(mm)] = done
        else:
            pending.extend(done)
    _update_deferring()


cdef _forget_deferred(size_t key):
    _tx_deferred.pop(key, None)
    _committed_deferred.pop(key, None)
    _draining.pop(key, None)
    _update_deferring()


cdef _free_deferred(MemoryManager mm):
    """Free the committed garbage of `mm` in transactions that fit its log
    (starting small and growing while they commit); what does not fit stays
    queued for the next commit, close (which then leaves the pool to the
    recovery gc) or gc.  Commits of other threads meanwhile add to the list
    this loop empties (list and dict operations do not let other threads in)."""
    cdef size_t batch = DEFERRED_BATCH, k
    cdef size_t key = _key(mm)
    pending = _committed_deferred.get(key)
    if pending is None or key in _draining or mm.closed:
        return
    _draining[key] = <long>PyThread_get_thread_ident()    # as mm.owner holds it
    try:
        # (gc takes the list over: the blocks are unreachable, its sweep frees them)
        while pending and _committed_deferred.get(key) is pending and not mm.closed:
            mm.begin()
            k = min(batch, <size_t>len(pending))
            chunk = pending[len(pending) - k:]
            del pending[len(pending) - k:]
            try:
                try:
                    for off in chunk:
                        mm.free(off)
                except BaseException:
                    mm.end(False)
                    raise
                mm.end(True)                # the commit too may find the pool full
            except BaseException as e:
                pending.extend(chunk)
                if not isinstance(e, PoolFullError):
                    raise
                if batch == 1:
                    break
                batch //= 2
                continue
            batch = min(2 * batch, <size_t>FREE_BATCH)
    finally:
        _draining.pop(key, None)
        if not pending and _committed_deferred.get(key) is pending:
            del _committed_deferred[key]
        _update_deferring()


def _hold_deferred_frees(MemoryManager mm, bint hold):
    """Tests: keep the deferred frees of `mm` queued (as if another thread were doing them)."""
    if hold:
        _draining[_key(mm)] = -1
    else:
        _draining.pop(_key(mm), None)
    _update_deferring()


# ---------------------------------------------------------------------------
# Traverse functions of compiled persistent types, by class

cdef dict _traverse_registry = {}      # class -> address of its traverse_fn

cdef int register_traverse(type cls, traverse_fn fn) except -1:
    _traverse_registry[cls] = <uintptr_t>fn
    return 0

cdef size_t _traverse_of(type cls):
    for base in cls.__mro__:
        addr = _traverse_registry.get(base)
        if addr is not None:
            return addr
    return 0

cdef int visit_slots(const pyp_slot_t *slots, size_t n, visit_fn visit, void *ctx) except -1:
    cdef size_t i
    for i in range(n):
        if slots[i].tag == PYP_TAG_REF:
            visit(ctx, slots[i].payload, VISIT_REF)
    return 0


# Files open in this process, by (st_dev, st_ino): libpmemobj allows one open per file.
cdef dict _open_files = {}          # -> weakref to the MemoryManager
_open_managers = weakref.WeakSet()


cdef _forget_dead_files():
    """Forget the files of managers that died without close() (their weakrefs are dead)."""
    for key in [k for k, ref in _open_files.items() if ref() is None]:
        del _open_files[key]


def _forget_pools_in_child():
    # A forked child shares the parent's mappings: it must neither write to the
    # parent's pools nor close them (close runs gc, which does not know the
    # parent's proxies).  In the child they behave as closed.
    cdef MemoryManager mm
    for m in list(_open_managers):
        mm = <MemoryManager>m
        mm.pop = NULL           # not pmemobj_close: the parent still uses the pool
        mm.closed = True
        mm.filename = f"{mm.filename} (opened by the parent process)"
        mm.owner = 0
        mm.depth = 0
        mm.lock = PyThread_allocate_lock()    # the parent's may be held by a thread that is gone
        pyp_set_tx_pool(NULL)
    _open_managers.clear()
    _open_files.clear()

os.register_at_fork(after_in_child=_forget_pools_in_child)


@atexit.register
def _close_at_exit():
    for mm in list(_open_managers):
        try:
            if mm.pool is not None:
                mm.pool.close()
            else:
                mm.close()
        except BaseException:
            pass


# ---------------------------------------------------------------------------
# A growable C stack of offsets for decref and gc (no recursion on deep graphs)

cdef int stack_push(OffStack *s, uint64_t off) except -1:
    cdef uint64_t *p
    if s.n == s.cap:
        s.cap = s.cap * 2 if s.cap else 64
        p = <uint64_t *>realloc(s.items, s.cap * sizeof(uint64_t))
        if p == NULL:
            raise MemoryError()
        s.items = p
    s.items[s.n] = off
    s.n += 1
    return 0


# ---------------------------------------------------------------------------

cdef class Transaction:
    """One (flatly nested) transaction on a pool: a context manager, or begun
    and ended by hand with begin() and commit() or abort() as pynvm allows.

    The pool hands out one Transaction object for every block: its only state
    is which open levels were begun by hand (their depths), so that commit()
    cannot end a level a ``with`` block opened, nor a ``with`` block end with
    a level begun inside it still open."""
    cdef MemoryManager mm
    cdef list manual           # depths of the open levels begun with begin(), innermost last

    def __cinit__(self, MemoryManager mm):
        self.mm = mm
        self.manual = []

    def __enter__(self):
        self.mm.begin()
        return self

    def __exit__(self, t, v, tb):
        if self._manual_innermost() and self.mm.in_transaction:
            # a level begun by hand inside this block is still open: roll everything back
            while self._manual_innermost():
                self.manual.pop()
                self.mm.end(False)
            self.mm.end(False)
            self._settle()
            if t is None:
                raise RuntimeError("a transaction begun with begin() inside this block was neither "
                                   "committed nor aborted; the whole transaction was rolled back")
            return False
        try:
            self.mm.end(t is None)
        finally:
            if self.manual:
                self._settle()
        return False

    cdef bint _manual_innermost(self):
        """The innermost open level was begun with begin() (this module indexes without wraparound)."""
        cdef Py_ssize_t n = len(self.manual)
        return n > 0 and self.manual[n - 1] == self.mm.depth

    cdef _settle(self):
        if self.mm.depth == 0 or not self.mm.in_transaction:
            self.manual.clear()

    def begin(self):
        """Begin a (flatly nested) transaction level without a ``with`` block;
        end it with commit() or abort()."""
        self.mm.begin()
        self.manual.append(self.mm.depth)

    def commit(self):
        """End the level begun by the last begin(); the outermost level commits.
        If the transaction was rolled back meanwhile, the outermost commit()
        raises TransactionError: nothing of it was committed."""
        self._check_manual("commit")
        self.manual.pop()
        try:
            self.mm.end(True)
        finally:
            self._settle()

    def abort(self, int errno=ECANCELED):
        """Roll back the whole transaction (nesting is flat) and raise
        ``OSError(errno)``.  Inside a level begun by begin(), that level ends;
        inside a ``with`` block, the block ends by the exception."""
        if not self.mm.in_transaction:
            raise RuntimeError("abort called outside of a transaction")
        if errno == 0:
            errno = ECANCELED
        self.mm.doom(errno)
        if self._manual_innermost():
            self.manual.pop()
            try:
                self.mm.end(False)
            finally:
                self._settle()
        raise OSError(errno, f"transaction aborted: {os.strerror(errno)}")

    cdef _check_manual(self, str what):
        if not self.mm.in_transaction:
            raise RuntimeError(f"{what} called outside of a transaction")
        if not self._manual_innermost():
            raise RuntimeError(f"{what}() cannot end a transaction level opened by a `with` block "
                               f"(the block commits when it ends); it ends levels begun with begin()")

    def __repr__(self):
        state = f"depth {self.mm.depth}" if self.mm.in_transaction else "not in a transaction"
        return f"<Transaction of {self.mm.filename!r} ({state})>"


_umask_lock = threading.Lock()

cdef int _process_umask() except -1:
    """The process's file mode creation mask, left as it is (Linux shows it in
    /proc; elsewhere it is read by setting it, under a lock, and back)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _check_picklable_type(t):
    """Refuse a type for persist_via_pickle whose objects can change in place: a
    change to one that is stored would be lost (the pool keeps its pickle)."""
    import dataclasses
    name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    if issubclass(t, PersistentBase) or hasattr(t, "_p_new"):
        raise TypeError(f"persist_via_pickle() takes immutable types: {name} is persistent, its objects "
                        f"are stored as themselves")
    if t.__hash__ is None:
        why = "are unhashable, the mark of a mutable type"
    elif dataclasses.is_dataclass(t) and not t.__dataclass_params__.frozen:
        why = "belong to a dataclass that is not frozen"
    else:
        return
    raise TypeError(f"persist_via_pickle() takes immutable types: {name} objects {why}, and a change to one "
                    f"stored in a pool would be lost (the pool keeps the pickle of the value stored).  Store "
                    f"mutable objects as a PersistentObject subclass (pool.new(cls, ...)) or in the persistent "
                    f"collections")


cdef str _version_message(uint64_t version):
    if 0 < version < PYP_LAYOUT_VERSION:
        return (f"the pool has layout version {version}, written by an older pmemobj-python; this one reads "
                f"version {PYP_LAYOUT_VERSION}: open it with the release that wrote it and copy the data "
                f"into a new pool")
    return f"pool layout version {version} is not supported (this library reads version {PYP_LAYOUT_VERSION})"


cdef class MemoryManager:
    """The pool's memory: allocation, transactions, reference counts, values.

    Created by PersistentObjectPool; reach it as ``pool.mm``.  Oids are
    ``(pool_uuid_lo, offset)`` tuples."""

    def __cinit__(self):
        self.lock = PyThread_allocate_lock()
        if self.lock == NULL:
            raise MemoryError()
        self.closed = True
        self.proxies = {}
        self.tx_new = []
        self.tx_freed = []
        self.orphans = set()
        self.type_names = []
        self.type_classes = []
        self.type_traverse = []
        self.class_ids = {}
        self.pickle_types = set()

    def __dealloc__(self):
        # Not closed by the user (the pool object and every proxy were dropped):
        # release the mapping and the file without marking the pool clean, so
        # that the next open, in this process or another, runs gc.
        if self.pop != NULL and _open_files:
            try:
                _forget_dead_files()
            except Exception:       # interpreter shutdown
                pass
        if _deferring:
            _forget_deferred(_key(self))
        if self.pop != NULL:
            if pyp_get_tx_pool() == <void *>self:
                pmemobj_tx_abort(ECANCELED)
                pmemobj_tx_end()
                pyp_set_tx_pool(NULL)
            pmemobj_close(self.pop)
            self.pop = NULL
        if self.lock != NULL:
            PyThread_free_lock(self.lock)

    # -- opening and closing ------------------------------------------------

    def _open(self, filename, flag='w', size_t pool_size=PMEMOBJ_MIN_POOL, int mode=0o666):
        """Open or create the pool file (called by PersistentObjectPool)."""
        if not self.closed:
            raise ValueError("memory manager already open")
        filename = os.fspath(filename)
        if flag not in ('w', 'x', 'c'):
            raise ValueError(f"flag must be 'w', 'x' or 'c', not {flag!r}")
        exists = os.path.lexists(filename)
        if flag == 'x' and exists:
            raise FileExistsError(_errno.EEXIST, "pool file already exists", filename)
        if flag == 'w' and not exists:
            raise FileNotFoundError(_errno.ENOENT, "pool file does not exist", filename)
        create = not exists
        if create and pool_size < PMEMOBJ_MIN_POOL:
            raise ValueError(f"pool size {pool_size} smaller than {PMEMOBJ_MIN_POOL} (MIN_POOL_SIZE, the minimum)")
        cdef bytes path = os.fsencode(filename)
        cdef PMEMobjpool *pop
        cdef pyp_call_t *call
        cdef const char *cpath = path
        if create:
            mode &= ~_process_umask()       # libpmemobj sets the mode as given: filtered as open() does
            with nogil:
                pop = pmemobj_create(cpath, PYP_LAYOUT_NAME, pool_size, mode)
            if pop == NULL:
                err = errno
                if err == _errno.EEXIST:
                    raise FileExistsError(err, "pool file already exists", filename)
                raise OSError(err, f"cannot create pool: {_errmsg()}", filename)
        else:
            _precheck(filename)
            key = _file_key(filename)
            ref = _open_files.get(key)
            if ref is not None and ref() is not None:
                raise PoolInUseError(_errno.EBUSY, "pool file is already open in this process", filename)
            _free_log_extensions(filename)
            call = _call_library(filename, False)
            pop = call.pop
            err = call.err
            msg = call.msg.decode('utf-8', 'replace')
            c_free(call.path)
            c_free(call)
            if pop == NULL:
                if err in (_errno.EAGAIN, _errno.EWOULDBLOCK, _errno.EBUSY):
                    raise PoolInUseError(err, "pool file is already open by another process", filename)
                if err == _errno.ENOENT:
                    raise FileNotFoundError(err, "pool file does not exist", filename)
                if err in (_errno.EACCES, _errno.EPERM, _errno.EROFS):
                    raise PermissionError(err, msg, filename)
                raise InvalidPoolError(err, f"not a usable pmemobj-python pool: {msg}", filename)
        try:
            _register_classes(pop, filename)
        except BaseException:
            pmemobj_close(pop)
            raise
        self.pop = pop
        self.closed = False
        self.filename = filename
        try:
            self._attach(create)
        except BaseException:
            pmemobj_close(self.pop)
            self.pop = NULL
            self.closed = True
            raise
        self.file_key = _file_key(filename)
        _open_files[self.file_key] = weakref.ref(self)
        _open_managers.add(self)

    cdef _attach(self, bint create):
        cdef PMEMoid root = pmemobj_root(self.pop, sizeof(pyp_root_t))
        if root.off == 0:
            raise InvalidPoolError(EINVAL, f"cannot get the root object: {_errmsg()}", self.filename)
        self.uuid_lo = root.pool_uuid_lo
        self.uuid_obj = self.uuid_lo
        self.tx_cm = Transaction(self)
        self.base = <char *>pmemobj_direct(root) - root.off
        self.pool_size = os.stat(self.filename).st_size
        self.is_pmem = pmem_is_pmem(self.base, self.pool_size)
        self.rootp = <pyp_root_t *>self.ptr(root.off, sizeof(pyp_root_t))
        cdef bint fresh = self.rootp.magic == 0 and self.rootp.version == 0
        if not create and not fresh:
            if self.rootp.magic != PYP_MAGIC:
                raise InvalidPoolError(EINVAL, "not a pmemobj-python pool (bad magic in the root object)", self.filename)
            if self.rootp.version != PYP_LAYOUT_VERSION:
                raise InvalidPoolError(EINVAL, _version_message(self.rootp.version), self.filename)
        self.unclean = not fresh and self.rootp.clean == 0
        self.begin()
        try:
            self.snapshot(self.rootp, sizeof(pyp_root_t))
            if fresh:
                self.rootp.magic = PYP_MAGIC
                self.rootp.version = PYP_LAYOUT_VERSION
                self.rootp.root.tag = PYP_TAG_NONE
                self.rootp.type_table = self.alloc(PYP_TYPETABLE_NAMES + 8 * 16, PYP_TYPE_NUM_RAW, True)
                (<pyp_typetable_t *>self.ptr(self.rootp.type_table, 16)).capacity = 16
            self.rootp.clean = 0
            self.rootp.opens += 1
        except BaseException:
            self.end(False)
            raise
        self.end(True)
        self.dirty = False
        self._load_type_table()

    def close(self):
        """Mark the pool clean and close the file (idempotent).  gc is the pool's job."""
        if self.closed:
            return
        if self.owner != 0:
            raise TransactionError("cannot close the pool inside a transaction")
        if _deferring:
            _free_deferred(self)
        self.begin()
        try:
            self.snapshot(&self.rootp.clean, 8)
            # garbage whose free is still deferred is left to the gc of the next open
            self.rootp.clean = 0 if _deferring and _committed_deferred.get(_key(self)) else 1
        except BaseException:
            self.end(False)
            raise
        self.end(True)
        self._release()

    cdef _abandon(self):
        """Stop using a pool libpmemobj can no longer be trusted with (not even to close it)."""
        self._forget_mapping()
        self.orphans.clear()

    cdef _release(self):
        pmemobj_close(self.pop)
        if self.file_key is not None:
            _open_files.pop(self.file_key, None)
        self._forget_mapping()

    cdef _forget_mapping(self):
        """The pool is closed (or given up): drop what points into its mapping;
        its proxies raise from now on."""
        if _deferring:
            _forget_deferred(_key(self))
        self.tx_cm = None
        self.pop = NULL
        self.base = NULL
        self.rootp = NULL
        self.closed = True
        _open_managers.discard(self)
        for ref in self.proxies.values():
            p = ref()
            if isinstance(p, PersistentBase):
                (<PersistentBase>p).off = 0
        self.proxies.clear()

    # -- checks and raw access ----------------------------------------------

    cdef int check(self) except -1:
        if self.closed:
            raise ValueError(f"pool {self.filename!r} is closed")
        return 0

    cdef char *ptr(self, uint64_t off, uint64_t n) except NULL:
        if self.closed:
            raise ValueError(f"pool {self.filename!r} is closed")
        if off < POOL_HDR or off > self.pool_size or n > self.pool_size - off:
            raise InvalidPoolError(EINVAL, f"damaged pool: reference 0x{off:x} (+{n}) lies outside the pool",
                                   self.filename)
        return self.base + off

    cdef uint64_t usable_size(self, uint64_t off) except? 0:
        self.ptr(off, 1)
        _check_block(self, off)
        return pmemobj_alloc_usable_size(pyp_oid(self.uuid_lo, off))

    cdef char *obj(self, uint64_t off, uint64_t n) except NULL:
        cdef char *p = self.ptr(off, n)
        _check_block(self, off)
        if pmemobj_alloc_usable_size(pyp_oid(self.uuid_lo, off)) < n:
            raise InvalidPoolError(EINVAL, f"damaged pool: object at 0x{off:x} is smaller than {n} bytes",
                                   self.filename)
        return p

    # -- transactions ---------------------------------------------------------

    cdef int begin(self) except -1:
        cdef long me = PyThread_get_thread_ident()
        if self.owner == me:
            if self.doomed:
                raise TransactionError("the transaction was aborted by an earlier exception; "
                                       "leave the outermost transaction block first")
            self.depth += 1
            return 0
        if self.orphans:
            # Objects whose last proxy died at count 0 are freed first, in a
            # transaction of their own: when that fails (a full pool) they stay
            # queued and the caller's transaction is not touched.
            self._begin_outermost(me)
            try:
                self._free_orphans()
            except PoolFullError:
                self.end(False)             # the rollback queues them again
            except BaseException:
                self.end(False)
                raise
            else:
                try:
                    self.end(True)
                except PoolFullError:
                    pass
        return self._begin_outermost(me)

    cdef int _begin_outermost(self, long me) except -1:
        cdef int rc
        if self.closed:
            raise ValueError(f"pool {self.filename!r} is closed")
        cdef void *other = pyp_get_tx_pool()
        if other != NULL:
            raise TransactionError(f"a transaction on pool {(<MemoryManager>other).filename!r} is open in this "
                                   f"thread; a transaction on {self.filename!r} cannot start inside it")
        if not PyThread_acquire_lock(self.lock, NOWAIT_LOCK):
            with nogil:
                PyThread_acquire_lock(self.lock, WAIT_LOCK)
        if self.closed:
            PyThread_release_lock(self.lock)
            raise ValueError(f"pool {self.filename!r} is closed")
        rc = pmemobj_tx_begin(self.pop, NULL, TX_PARAM_NONE)
        if rc != 0:
            pmemobj_tx_end()
            PyThread_release_lock(self.lock)
            raise OSError(rc, f"cannot begin a transaction: {_errmsg()}")
        pmemobj_tx_set_failure_behavior(POBJ_TX_FAILURE_RETURN)
        pyp_set_tx_pool(<void *>self)
        self.owner = me
        self.depth = 1
        self.tx_serial += 1
        self.doomed = False
        return 0

    cdef int _free_orphans(self) except -1:
        """Free the objects nothing references whose last proxy has died since."""
        cdef OffStack st
        cdef pyp_header_t *h
        orphans = self.orphans
        self.orphans = set()
        self.tx_orphans = orphans           # back into self.orphans if this transaction aborts
        st.items = NULL
        st.n = st.cap = 0
        try:
            for off in orphans:
                ref = self.proxies.get(off)
                if ref is not None and ref() is not None:
                    continue            # resurrected again meanwhile
                h = <pyp_header_t *>self.obj(off, HEADER)
                if h.refcount == 0 and h.type_id >= PYP_T_FIRST_CLASS:
                    stack_push(&st, off)
            while st.n:
                st.n -= 1
                self._deallocate(st.items[st.n], &st)
        finally:
            c_free(st.items)
        return 0

    cdef int end(self, bint ok) except -1:
        """Leave one level; the outermost commits, or aborts if anything failed."""
        cdef int rc
        if self.owner != PyThread_get_thread_ident() or self.depth <= 0:
            raise TransactionError("no transaction of this thread to end")
        if not ok and not self.doomed:
            pmemobj_tx_abort(ECANCELED)
            self.doomed = True
            self._rollback_volatile()
        self.depth -= 1
        if self.depth > 0:
            return 0
        doomed = self.doomed
        if self.is_pmem:                # cache flushes: quick, keep the GIL
            if not doomed:
                pmemobj_tx_commit()
            rc = pmemobj_tx_end()
        else:                           # msync: let other threads run meanwhile
            with nogil:
                if not doomed:
                    pmemobj_tx_commit()
                rc = pmemobj_tx_end()
        if _deferring:
            _settle_deferred(self, not doomed and rc == 0)
        pyp_set_tx_pool(NULL)
        self.owner = 0
        self.doomed = False
        PyThread_release_lock(self.lock)
        if doomed:
            if ok:
                raise TransactionError("the transaction was aborted by an exception in a nested block "
                                       "that was caught; nothing of it was committed")
            return 0
        if rc != 0:
            self._rollback_volatile()
            if rc == ENOMEM:
                raise PoolFullError(_full_message(self, "the commit"))
            raise OSError(rc, f"transaction failed to commit: {_errmsg()}")
        self.tx_new.clear()
        self.tx_freed.clear()
        self.tx_orphans = None
        self.tx_released = None
        if _deferring:
            _free_deferred(self)
        return 0

    cdef _rollback_volatile(self):
        # What proxies show after an abort must be what the pool holds.  Freed
        # objects come back first, then everything this transaction created goes:
        # an object created and freed in it is in both lists, and its offset may
        # even have been handed out again to a later new object.
        for p, off in self.tx_freed:
            if isinstance(p, PersistentBase):
                (<PersistentBase>p).off = off
            self.proxies[off] = weakref.ref(p)
        for ref, off in self.tx_new:
            p = ref()
            self.orphans.discard(off)
            self.proxies.pop(off, None)
            if isinstance(p, PersistentBase):
                (<PersistentBase>p).off = 0
        self.tx_new.clear()
        self.tx_freed.clear()
        self.tx_released = None
        if self.tx_orphans:
            self.orphans.update(self.tx_orphans)
            self.tx_orphans = None
        del self.type_names[self._persistent_type_count():]
        del self.type_classes[len(self.type_names):]
        del self.type_traverse[len(self.type_names):]
        self.class_ids = {c: i + PYP_T_FIRST_CLASS for i, c in enumerate(self.type_classes) if c is not None}

    cdef int writable(self) except -1:
        if self.owner != PyThread_get_thread_ident():
            if self.closed:
                raise ValueError(f"pool {self.filename!r} is closed")
            raise TransactionError("writes to a pool must happen inside a transaction of this thread "
                                   "(use `with pool.transaction():`)")
        if self.doomed:
            raise TransactionError("the transaction was aborted by an earlier exception; no further "
                                   "writes are possible until the outermost transaction block ends")
        self.dirty = True
        return 0

    cdef int doom(self, int err) except -1:
        """Roll the transaction back now; its levels stay open until their blocks end."""
        if self.owner != PyThread_get_thread_ident() or self.depth <= 0:
            raise TransactionError("no transaction of this thread to abort")
        if not self.doomed:
            pmemobj_tx_abort(err if err else ECANCELED)
            self.doomed = True
            self._rollback_volatile()
        return 0

    cdef int fail(self, int err, str what) except -1:
        """Doom the transaction after a failed libpmemobj call and raise."""
        msg = _errmsg()
        if not self.doomed:
            pmemobj_tx_abort(err if err else ECANCELED)
            self.doomed = True
            self._rollback_volatile()
        if err == ENOMEM:
            raise PoolFullError(_full_message(self, what))
        raise OSError(err, f"{what} failed: {msg}; the transaction was rolled back")

    cdef int snapshot(self, const void *p, size_t n) except -1:
        self.writable()
        if <const char *>p < self.base + POOL_HDR or <const char *>p + n > self.base + self.pool_size:
            raise ValueError("snapshot range lies outside the pool")
        if _fault(FAULT_SNAPSHOT):
            self.fail(ENOMEM, "snapshot (injected fault)")
        if pmemobj_tx_xadd_range_direct(p, n, POBJ_XADD_NO_ABORT) != 0:
            self.fail(errno, f"a snapshot of {n:,} bytes")
        return 0

    cdef int add_fresh(self, const void *p, size_t n) except -1:
        """Add to the transaction a range whose old bytes nothing will read if it
        aborts (e.g. past the end of a table's live part): flushed at commit like
        a snapshot, but not copied to the undo log."""
        self.writable()
        if <const char *>p < self.base + POOL_HDR or <const char *>p + n > self.base + self.pool_size:
            raise ValueError("range lies outside the pool")
        if _fault(FAULT_SNAPSHOT):
            self.fail(ENOMEM, "snapshot (injected fault)")
        if pmemobj_tx_xadd_range_direct(p, n, POBJ_XADD_NO_SNAPSHOT | POBJ_XADD_NO_ABORT) != 0:
            self.fail(errno, f"a snapshot of {n:,} bytes")
        return 0

    cdef uint64_t alloc(self, size_t n, uint64_t type_num, bint zero) except 0:
        self.writable()
        if n == 0 or n > PMEMOBJ_MAX_ALLOC_SIZE:
            raise ValueError(f"cannot allocate {n} bytes (1 to {PMEMOBJ_MAX_ALLOC_SIZE})")
        if _fault(FAULT_ALLOC):
            self.fail(ENOMEM, f"allocation of {n} bytes (injected fault)")
        cdef uint64_t flags = (POBJ_XALLOC_ZERO if zero else 0) | POBJ_XALLOC_NO_ABORT
        cdef PMEMoid oid = pmemobj_tx_xalloc(n, type_num, flags | _class_flags(n))
        cdef int err
        if oid.off == 0:
            err = errno or ENOMEM
            if err == ENOMEM:
                oid = _alloc_in_larger_class(n, type_num, flags)
                if oid.off == 0:
                    oid = _alloc_in_any_class(self, n, type_num, flags)
            if oid.off == 0:
                self.fail(err, f"an allocation of {n:,} bytes")
        if self.tx_released is not None:
            # libpmemobj hands a block allocated and freed in this transaction out
            # again at once: the offset now names a new object, not a freed one
            self.tx_released.discard(oid.off)
        return oid.off

    cdef int free(self, uint64_t off) except -1:
        cdef int rc
        self.writable()
        self.ptr(off, 1)
        if _fault(FAULT_FREE):
            self.fail(ENOMEM, "free (injected fault)")
        rc = pmemobj_tx_xfree(pyp_oid(self.uuid_lo, off), POBJ_XFREE_NO_ABORT)
        if rc != 0:
            if rc == ENOMEM and _defer_free(self, off):
                return 0
            self.fail(rc, "free")
        return 0

    cdef uint64_t realloc_raw(self, uint64_t off, size_t n, uint64_t type_num, bint zero) except 0:
        # pmemobj_tx_realloc ignores POBJ_TX_FAILURE_RETURN: alloc + copy + free instead.
        # The new block is zeroed either way: what lies past the bytes asked for
        # before (a block may be larger) must not show another object's old bytes.
        cdef uint64_t old_size = self.usable_size(off) if off else 0
        cdef uint64_t new = self.alloc(n, type_num, True)
        if off:
            memcpy(self.base + new, self.base + off, min(old_size, n))
            self.free(off)
        return new

    # -- reference counts -----------------------------------------------------

    cdef int incref(self, uint64_t off) except -1:
        cdef pyp_header_t *h = <pyp_header_t *>self.obj(off, HEADER)
        self.snapshot(&h.refcount, 8)
        h.refcount += 1
        return 0

    cdef int decref(self, uint64_t off) except -1:
        cdef OffStack st
        cdef pyp_header_t *h = <pyp_header_t *>self.obj(off, HEADER)
        if h.refcount == 0:
            raise InvalidPoolError(EINVAL, f"damaged pool: reference count underflow at 0x{off:x}", self.filename)
        if h.refcount != 1:
            self.snapshot(&h.refcount, 8)
            h.refcount -= 1
            return 0
        # The last reference: the object is freed in this transaction, so its
        # count is neither snapshotted nor written (half the log a free needs);
        # an abort undoes the free and finds the object as it was.  _deallocate
        # writes the 0 when a live proxy keeps the object.
        self.writable()
        st.items = NULL
        st.n = st.cap = 0
        try:
            stack_push(&st, off)
            while st.n:
                st.n -= 1
                self._deallocate(st.items[st.n], &st)
        finally:
            c_free(st.items)
        return 0

    cdef int _deallocate(self, uint64_t off, OffStack *st) except -1:
        """Free an object whose count reached 0; children whose count reaches 0 go on `st`."""
        cdef pyp_header_t *h = <pyp_header_t *>self.obj(off, HEADER)
        cdef uint64_t tid = h.type_id
        cdef DeallocCtx ctx
        ctx.mm = <void *>self
        ctx.stack = st
        ctx.off = off
        if tid >= PYP_T_FIRST_CLASS:
            ref = self.proxies.get(off)
            if ref is not None and ref() is not None:
                # Python still holds it (e.g. the value lst.pop() returns): it lives on
                # with count 0, like a new object, until gc finds it unreferenced.
                if h.refcount != 0:         # left at 1 by the decref that released it
                    self.snapshot(&h.refcount, 8)
                    h.refcount = 0
                return 0
        # The count of a freed object stays 1 (see decref): a damaged count that is
        # too low would free it again in this transaction, which libpmemobj does not refuse.
        if self.tx_released is None:
            self.tx_released = set()
        elif off in self.tx_released:
            raise InvalidPoolError(EINVAL, f"damaged pool: reference count too low at 0x{off:x} "
                                   f"(freed twice)", self.filename)
        self.tx_released.add(off)
        if tid >= PYP_T_FIRST_CLASS:
            fn = self._traverse_fn(tid)
            if fn:
                (<traverse_fn>fn)(self, off, _dealloc_visit, &ctx)
            else:
                self.resurrect_off(off)._p_deallocate()
        elif tid == PYP_T_TUPLE or tid == PYP_T_FROZENSET or tid == PYP_T_BOX:
            self._traverse_value(off, tid, _dealloc_visit, &ctx)
        self._invalidate_proxy(off)
        self.free(off)
        return 0

    cdef _invalidate_proxy(self, uint64_t off):
        self.orphans.discard(off)
        ref = self.proxies.pop(off, None)
        if ref is None:
            return
        p = ref()
        if p is None:
            return
        if isinstance(p, PersistentBase):
            (<PersistentBase>p).off = 0
        self.tx_freed.append((p, off))

    # -- values in slots ------------------------------------------------------

    cdef int init_slot(self, pyp_slot_t *dst, object v) except -1:
        """Write `v` into a slot of memory allocated in this transaction."""
        cdef int overflow = 0
        cdef long long i
        cdef type t = type(v)
        if v is None:
            dst.tag = PYP_TAG_NONE
            dst.payload = 0
        elif t is int:
            i = PyLong_AsLongLongAndOverflow(v, &overflow)
            if overflow:
                dst.payload = self._new_bigint(v)
                dst.tag = PYP_TAG_REF
            else:
                dst.tag = PYP_TAG_INT
                dst.payload = <uint64_t>i
        elif t is float:
            dst.tag = PYP_TAG_FLOAT
            dst.payload = pyp_double_bits(v)
        elif t is bool:
            dst.tag = PYP_TAG_TRUE if v else PYP_TAG_FALSE
            dst.payload = 0
        else:
            dst.payload = self._persist_ref(v)
            dst.tag = PYP_TAG_REF
        return 0

    cdef int store(self, pyp_slot_t *dst, object v) except -1:
        """Replace the value in a slot: the old value's reference is released."""
        cdef pyp_slot_t new, old
        self.init_slot(&new, v)
        try:
            self.snapshot(dst, SLOT)
        except BaseException:
            if not self.doomed:
                self.release_slot(new)
            raise
        old = dst[0]
        dst[0] = new
        self.release_slot(old)
        return 0

    cdef int clear_slot(self, pyp_slot_t *dst) except -1:
        cdef pyp_slot_t old = dst[0]
        self.snapshot(dst, SLOT)
        dst.tag = PYP_TAG_EMPTY
        dst.payload = 0
        self.release_slot(old)
        return 0

    cdef int release_slot(self, pyp_slot_t s) except -1:
        if s.tag == PYP_TAG_REF:
            self.decref(s.payload)
        return 0

    cdef object load(self, const pyp_slot_t *s):
        cdef uint64_t tag = s.tag
        if tag == PYP_TAG_INT:
            return PyLong_FromLongLong(<long long>s.payload)
        if tag == PYP_TAG_REF:
            return self.resurrect_off(s.payload)
        if tag == PYP_TAG_NONE or tag == PYP_TAG_EMPTY:
            return None
        if tag == PYP_TAG_FLOAT:
            return pyp_bits_double(s.payload)
        if tag == PYP_TAG_TRUE:
            return True
        if tag == PYP_TAG_FALSE:
            return False
        raise InvalidPoolError(EINVAL, f"damaged pool: value slot with unknown tag {tag}", self.filename)

    cdef uint64_t _persist_ref(self, object v) except 0:
        """An object for `v` holding one new reference: allocated, or an existing persistent one."""
        cdef type t = type(v)
        cdef uint64_t off
        if t is str:
            return self._new_bytes(PYP_T_STR, (<str>v).encode('utf-8', 'surrogatepass'))
        if t is bytes:
            return self._new_bytes(PYP_T_BYTES, v)
        if t is tuple or t is frozenset:
            return self._new_seq(PYP_T_TUPLE if t is tuple else PYP_T_FROZENSET, v)
        if t is complex:
            off = self.alloc(sizeof(pyp_complex_t), PYP_TYPE_NUM_OBJECT, False)
            (<pyp_complex_t *>(self.base + off)).h.refcount = 1
            (<pyp_complex_t *>(self.base + off)).h.type_id = PYP_T_COMPLEX
            (<pyp_complex_t *>(self.base + off)).real = v.real
            (<pyp_complex_t *>(self.base + off)).imag = v.imag
            return off
        if isinstance(v, PersistentBase):
            off = (<PersistentBase>v).off
            if off == 0:
                raise ValueError(f"cannot store {t.__name__} object: it was freed or its transaction aborted")
            if (<PersistentBase>v).mm is not self:
                raise TypeError(f"cannot store a {t.__name__} of pool {(<PersistentBase>v).mm.filename!r} "
                                f"in pool {self.filename!r}")
            self.incref(off)
            return off
        if t in self.pickle_types:
            return self._new_bytes(PYP_T_PICKLE, pickle.dumps(v, pickle.HIGHEST_PROTOCOL))
        oid = getattr(v, '_p_oid', None)
        if oid is not None and getattr(v, '_p_mm', None) is not None:
            if v._p_mm is not self:
                raise TypeError(f"cannot store a {t.__name__} of another pool in pool {self.filename!r}")
            off = self._off_of(oid)
            if off == 0:
                raise ValueError(f"cannot store {t.__name__} object: it has no persistent memory")
            self.incref(off)
            return off
        raise TypeError(f"don't know how to persist object of type {_name_of(t)}: not a supported value type, "
                        f"not Persistent, and not nominated with persist_via_pickle()")

    cdef uint64_t _new_bytes(self, uint64_t tid, bytes data) except 0:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef uint64_t off = self.alloc(PYP_BYTES_DATA + n, PYP_TYPE_NUM_OBJECT, False)
        cdef pyp_bytes_t *b = <pyp_bytes_t *>(self.base + off)
        b.h.refcount = 1
        b.h.type_id = tid
        b.size = n
        memcpy(b.data, PyBytes_AS_STRING(data), n)
        return off

    cdef uint64_t _new_bigint(self, object v) except 0:
        nbytes = (v.bit_length() + 8) // 8
        return self._new_bytes(PYP_T_BIGINT, v.to_bytes(nbytes, 'little', signed=True))

    cdef uint64_t _new_seq(self, uint64_t tid, object items) except 0:
        items = tuple(items)
        cdef Py_ssize_t n = len(items), i
        cdef uint64_t off = self.alloc(PYP_SEQ_ITEMS + n * SLOT,
                                       PYP_TYPE_NUM_OBJECT, True)
        cdef pyp_seq_t *s = <pyp_seq_t *>(self.base + off)
        s.h.refcount = 1
        s.h.type_id = tid
        for i in range(n):
            self.init_slot(&(<pyp_seq_t *>(self.base + off)).items[i], items[i])
            (<pyp_seq_t *>(self.base + off)).size = i + 1
        return off

    cdef uint64_t _off_of(self, object oid) except? 0:
        cdef uint64_t uuid, off
        if type(oid) is not tuple or len(<tuple>oid) != 2:
            raise TypeError(f"an oid is a (pool_uuid_lo, offset) tuple, not {oid!r}")
        try:
            uuid = (<tuple>oid)[0]
            off = (<tuple>oid)[1]
        except (OverflowError, TypeError):
            raise ValueError(f"{oid!r} is not an oid of this pool") from None
        if off == 0:
            return 0
        if uuid != self.uuid_lo:
            raise ValueError(f"oid {oid!r} belongs to another pool")
        self.ptr(off, 1)
        return off

    cdef object oid_of(self, uint64_t off):
        return (self.uuid_obj, off) if off else OID_NULL

    cdef object resurrect_off(self, uint64_t off):
        # Reads are checked against the mapping only (a damaged size reads garbage,
        # never outside the pool): the allocator's size look-up costs more than the read.
        cdef pyp_header_t *h = <pyp_header_t *>self.ptr(off, HEADER)
        cdef uint64_t tid = h.type_id
        cdef pyp_bytes_t *b
        cdef pyp_seq_t *s
        cdef uint64_t n, i, usable
        if tid >= PYP_T_FIRST_CLASS:
            ref = self.proxies.get(off)
            if ref is not None:
                p = ref()
                if p is not None:
                    return p
            return self._resurrect_class(off, tid)
        if tid == PYP_T_STR or tid == PYP_T_BYTES or tid == PYP_T_BIGINT or tid == PYP_T_PICKLE:
            b = <pyp_bytes_t *>self.ptr(off, PYP_BYTES_DATA)
            if b.size > self.pool_size:
                raise InvalidPoolError(EINVAL, f"damaged pool: value at 0x{off:x} has a bad size",
                                       self.filename)
            self.ptr(off, PYP_BYTES_DATA + b.size)
            if tid == PYP_T_STR:
                return PyUnicode_DecodeUTF8(b.data, b.size, "surrogatepass")
            data = PyBytes_FromStringAndSize(b.data, b.size)
            if tid == PYP_T_BYTES:
                return data
            if tid == PYP_T_BIGINT:
                return int.from_bytes(data, 'little', signed=True)
            return pickle.loads(data)
        if tid == PYP_T_TUPLE or tid == PYP_T_FROZENSET:
            s = <pyp_seq_t *>self.ptr(off, PYP_SEQ_ITEMS)
            n = s.size
            if n > self.pool_size // SLOT:
                raise InvalidPoolError(EINVAL, f"damaged pool: tuple at 0x{off:x} has a bad size",
                                       self.filename)
            self.ptr(off, PYP_SEQ_ITEMS + n * SLOT)
            items = tuple([self.load(&(<pyp_seq_t *>self.ptr(off, HEADER)).items[i]) for i in range(n)])
            return items if tid == PYP_T_TUPLE else frozenset(items)
        if tid == PYP_T_COMPLEX:
            self.ptr(off, sizeof(pyp_complex_t))
            return complex((<pyp_complex_t *>h).real, (<pyp_complex_t *>h).imag)
        if tid == PYP_T_BOX:
            self.ptr(off, sizeof(pyp_box_t))
            return self.load(&(<pyp_box_t *>h).value)
        raise InvalidPoolError(EINVAL, f"damaged pool: object at 0x{off:x} has unknown type id {tid}",
                               self.filename)

    cdef object _resurrect_class(self, uint64_t off, uint64_t tid):
        cls = self.class_of(tid)
        p = cls.__new__(cls)
        if isinstance(p, PersistentBase):
            (<PersistentBase>p).mm = self
            (<PersistentBase>p).off = off
            self.proxies[off] = weakref.ref(p)
            (<PersistentBase>p).on_resurrect()
        else:
            p._p_resurrect(self, self.oid_of(off))
            self.proxies[off] = weakref.ref(p)
        return p

    # -- stable hashing and comparison ----------------------------------------

    cdef int64_t hash_of(self, object v) except? -1:
        """A hash stable across processes that follows Python equality."""
        cdef type t = type(v)
        cdef int64_t h
        cdef uint64_t acc
        if t is str:
            h = <int64_t>_str_hash(v)
        elif t is bytes:
            h = <int64_t>_bytes_hash(v)
        elif t is int or t is float or t is bool or t is complex:
            return PyObject_Hash(v)
        elif v is None:
            return 0x6e6f6e65       # "none"
        elif t is tuple:
            acc = K_27d4eb2f165667c5
            for item in <tuple>v:
                acc = (acc ^ <uint64_t>self.hash_of(item)) * K_9e3779b97f4a7c15
                acc ^= acc >> 29
            h = <int64_t>(acc + <uint64_t>len(<tuple>v))
        elif t is frozenset:
            acc = K_165667b19e3779f9
            for item in <frozenset>v:
                h = self.hash_of(item)
                acc += (<uint64_t>h ^ (<uint64_t>h << 16) ^ K_5bd1e995) * K_c2b2ae3d27d4eb4f
            h = <int64_t>(acc ^ <uint64_t>len(<frozenset>v))
        elif isinstance(v, PersistentBase):
            return (<PersistentBase>v).stable_hash()
        else:
            oid = getattr(v, '_p_oid', None) if not isinstance(v, type) else None
            if type(oid) is tuple and len(oid) == 2:
                h = <int64_t>_mix(<uint64_t>oid[1])
            else:
                return PyObject_Hash(v)
        return -2 if h == -1 else h

    cdef int slot_eq(self, const pyp_slot_t *s, object v) except -1:
        cdef type t = type(v)
        cdef pyp_bytes_t *b
        cdef const char *data
        cdef Py_ssize_t n
        cdef long long i
        cdef int overflow = 0
        if s.tag == PYP_TAG_INT and t is int:
            i = PyLong_AsLongLongAndOverflow(v, &overflow)
            return not overflow and i == <long long>s.payload
        if s.tag == PYP_TAG_REF and (t is str or t is bytes):
            b = <pyp_bytes_t *>self.ptr(s.payload, PYP_BYTES_DATA)
            if b.h.type_id != (PYP_T_STR if t is str else PYP_T_BYTES):
                return PyObject_RichCompareBool(self.load(s), v, Py_EQ)
            if t is str:
                try:
                    data = PyUnicode_AsUTF8AndSize(v, &n)
                except UnicodeEncodeError:
                    return PyObject_RichCompareBool(self.load(s), v, Py_EQ)
            else:
                data = PyBytes_AS_STRING(v)
                n = PyBytes_GET_SIZE(v)
            if <uint64_t>n != b.size:
                return 0
            self.ptr(s.payload, PYP_BYTES_DATA + n)
            return memcmp(b.data, data, n) == 0
        if s.tag == PYP_TAG_EMPTY:
            return 0
        return PyObject_RichCompareBool(self.load(s), v, Py_EQ)

    # -- the type table ------------------------------------------------------

    cdef Py_ssize_t _persistent_type_count(self):
        if self.rootp == NULL:
            return 0
        return (<pyp_typetable_t *>self.ptr(self.rootp.type_table, 16)).count

    cdef _load_type_table(self):
        cdef pyp_typetable_t *tt = <pyp_typetable_t *>self.obj(self.rootp.type_table, 16)
        cdef uint64_t i, n = tt.count
        if n > tt.capacity or 16 + 8 * tt.capacity > self.usable_size(self.rootp.type_table):
            raise InvalidPoolError(EINVAL, "damaged pool: type table overruns its allocation", self.filename)
        self.type_names = []
        for i in range(n):
            name = self.resurrect_off((<pyp_typetable_t *>self.ptr(self.rootp.type_table, 16)).names[i])
            if type(name) is not str:
                raise InvalidPoolError(EINVAL, "damaged pool: type table entry is not a name", self.filename)
            self.type_names.append(name)
        self.type_classes = [None] * n
        self.type_traverse = [None] * n
        self.class_ids = {}

    cdef uint64_t type_id_of(self, type cls) except 0:
        tid = self.class_ids.get(cls)
        if tid is not None:
            return tid
        name = f"{cls.__module__}:{cls.__qualname__}"
        if '<locals>' in name:
            raise TypeError(f"persistent class {name} must be defined at module level to be stored")
        try:
            idx = self.type_names.index(name)
        except ValueError:
            idx = self._add_type_name(name)
        self.type_classes[idx] = cls
        self.type_traverse[idx] = None
        self.class_ids[cls] = idx + PYP_T_FIRST_CLASS
        return idx + PYP_T_FIRST_CLASS

    cdef Py_ssize_t _add_type_name(self, str name) except -1:
        cdef pyp_typetable_t *tt = <pyp_typetable_t *>self.obj(self.rootp.type_table, 16)
        cdef uint64_t n = tt.count, cap = tt.capacity
        if n == cap:
            self.snapshot(&self.rootp.type_table, 8)
            self.rootp.type_table = self.realloc_raw(self.rootp.type_table, 16 + 8 * cap * 2, PYP_TYPE_NUM_RAW, True)
            tt = <pyp_typetable_t *>self.obj(self.rootp.type_table, 16 + 8 * cap * 2)
            tt.capacity = cap * 2
        cdef uint64_t name_off = self._persist_ref(name)
        self.snapshot(tt, 16 + 8 * (n + 1))
        tt.names[n] = name_off
        tt.count = n + 1
        self.type_names.append(name)
        self.type_classes.append(None)
        self.type_traverse.append(None)
        return n

    cdef object class_of(self, uint64_t tid):
        if tid < PYP_T_FIRST_CLASS or tid - PYP_T_FIRST_CLASS >= <uint64_t>len(self.type_names):
            raise InvalidPoolError(EINVAL, f"damaged pool: unknown type id {tid}", self.filename)
        cdef Py_ssize_t idx = tid - PYP_T_FIRST_CLASS
        cls = self.type_classes[idx]
        if cls is None:
            name = self.type_names[idx]
            modname, _, qualname = name.partition(':')
            try:
                cls = importlib.import_module(modname)
                for part in qualname.split('.'):
                    cls = getattr(cls, part)
            except (ImportError, AttributeError) as e:
                raise UnknownClassError(name, str(e)) from None
            if not isinstance(cls, type):
                raise UnknownClassError(name, "not a class")
            self.type_classes[idx] = cls
            self.class_ids[cls] = tid
        return cls

    cdef size_t _traverse_fn(self, uint64_t tid) except? 0:
        cls = self.class_of(tid)            # checks tid
        cdef Py_ssize_t idx = tid - PYP_T_FIRST_CLASS
        fn = self.type_traverse[idx]
        if fn is None:
            fn = self.type_traverse[idx] = _traverse_of(cls)
        return fn

    # -- persistent objects ----------------------------------------------------

    cdef uint64_t new_object(self, type cls, size_t n) except 0:
        """Allocate a zeroed object of class `cls` (n bytes, header included), refcount 0."""
        cdef uint64_t tid = self.type_id_of(cls)
        cdef uint64_t off = self.alloc(max(n, <size_t>HEADER), PYP_TYPE_NUM_OBJECT, True)
        (<pyp_header_t *>(self.base + off)).type_id = tid
        return off

    cdef int adopt(self, object proxy, uint64_t off) except -1:
        """Make `proxy` the live proxy of the new object at `off`."""
        if isinstance(proxy, PersistentBase):
            (<PersistentBase>proxy).mm = self
            (<PersistentBase>proxy).off = off
        ref = weakref.ref(proxy)
        self.proxies[off] = ref
        if self.owner != 0:
            self.tx_new.append((ref, off))
        return 0

    # -- traversal (gc, deallocation, the Persistent protocol) ----------------

    cdef int _traverse_value(self, uint64_t off, uint64_t tid, visit_fn visit, void *ctx) except -1:
        cdef pyp_seq_t *s
        cdef uint64_t n
        if tid == PYP_T_TUPLE or tid == PYP_T_FROZENSET:
            s = <pyp_seq_t *>self.obj(off, PYP_SEQ_ITEMS)
            n = s.size
            if n > (self.usable_size(off) - PYP_SEQ_ITEMS) // SLOT:
                raise InvalidPoolError(EINVAL, f"damaged pool: tuple at 0x{off:x} overruns its allocation",
                                       self.filename)
            visit_slots(s.items, n, visit, ctx)
        elif tid == PYP_T_BOX:
            visit_slots(&(<pyp_box_t *>self.obj(off, sizeof(pyp_box_t))).value, 1, visit, ctx)
        return 0

    cdef int traverse(self, uint64_t off, visit_fn visit, void *ctx) except -1:
        """Report what the object at `off` references (any type)."""
        cdef pyp_header_t *h = <pyp_header_t *>self.obj(off, HEADER)
        cdef uint64_t tid = h.type_id
        if tid < PYP_T_FIRST_CLASS:
            return self._traverse_value(off, tid, visit, ctx)
        fn = self._traverse_fn(tid)
        if fn:
            return (<traverse_fn>fn)(self, off, visit, ctx)
        p = self.resurrect_off(off)
        for oid in p._p_traverse():
            o = self._off_of(self._as_oid(oid))
            if o:
                visit(ctx, o, VISIT_REF)
        for oid in p._p_substructures():
            o = self._off_of(self._as_oid(oid))
            if o:
                visit(ctx, o, VISIT_RAW)
        return 0

    cdef object _as_oid(self, object oid):
        if isinstance(oid, int):
            return (self.uuid_lo, oid)
        return tuple(oid)

    # -- gc --------------------------------------------------------------------

    def _gc(self, bint dry_run=False, bint proxy_roots=True):
        """Mark from the root (and live proxies), fix reference counts, free the rest.

        With dry_run, only count: what is reachable, what would be freed, and
        how many reference counts are wrong (a structural check of the pool).
        A dry run goes past objects of classes it cannot import: it counts them
        by class name in "unknown_classes", and what only they reference is then
        counted as unreachable.

        Without proxy_roots (at close, when every proxy is about to go), what
        only Python still holds is garbage too: nothing may outlive a clean close
        that the root does not reach."""
        self.check()
        if self.owner != 0:
            raise TransactionError("gc cannot run inside a transaction")
        cdef GcState g
        memset(&g, 0, sizeof(GcState))
        orphans_freed = {}
        if self.orphans and not dry_run:    # free them the ordinary way first (begin does it)
            queued = self._queued_orphan_types()
            self.begin()
            self.end(True)
            for off, name in queued.items():
                if off not in self.orphans:     # a full pool queues them again
                    orphans_freed[name] = orphans_freed.get(name, 0) + 1
        if _deferring and not dry_run:
            _free_deferred(self)
            _committed_deferred.pop(_key(self), None)  # what is left is unreachable: the sweep frees it
            _update_deferring()
        g.mm = <void *>self
        unknown = {} if dry_run else None
        try:
            _gc_enumerate(self, &g)
            _gc_mark(self, &g, proxy_roots, unknown)
            result = _gc_sweep(self, &g, dry_run)
            result["orphans_freed"] = orphans_freed
            if dry_run:
                result["unknown_classes"] = unknown
            return result
        finally:
            c_free(g.allocs)
            c_free(g.marks)
            c_free(g.counts)
            c_free(g.stack.items)

    def _queued_orphan_types(self):
        """{offset: type name} of the queued orphans the next begin() frees (as _free_orphans picks them)."""
        cdef pyp_header_t *h
        found = {}
        for off in self.orphans:
            ref = self.proxies.get(off)
            if ref is not None and ref() is not None:
                continue
            h = <pyp_header_t *>self.obj(off, HEADER)
            if h.refcount == 0 and h.type_id >= PYP_T_FIRST_CLASS:
                found[off] = self._type_name(h.type_id)
        return found

    cdef str _type_name(self, uint64_t tid):
        if tid >= PYP_T_FIRST_CLASS:
            if tid - PYP_T_FIRST_CLASS < <uint64_t>len(self.type_names):
                return self.type_names[tid - PYP_T_FIRST_CLASS].replace(':', '.')
            return '<unknown type>'
        return _VALUE_TYPE_NAMES.get(tid, '<unknown type>')

    # -- the Python-level MemoryManager API (seeds/003) -----------------------

    def transaction(self):
        """A context manager: commit on normal exit, roll back on an exception."""
        self.check()
        return self.tx_cm           # stateless (the state is here): one serves every block

    @property
    def in_transaction(self):
        """True while the current thread has a transaction open on this pool."""
        return self.owner == PyThread_get_thread_ident()

    def otuple(self, oid):
        """Return *oid* as a (pool_uuid_lo, offset) tuple."""
        if isinstance(oid, int):
            return self.oid_of(oid)
        return (int(oid[0]), int(oid[1]))

    def _py_alloc(self, size_t size, uint64_t type_num=PYP_TYPE_NUM_OBJECT):
        """Allocate *size* bytes inside the current transaction; return the oid."""
        self.check()
        return self.oid_of(self.alloc(size, type_num, False))

    def zalloc(self, size_t size, uint64_t type_num=PYP_TYPE_NUM_OBJECT):
        """Allocate *size* zeroed bytes inside the current transaction; return the oid."""
        self.check()
        return self.oid_of(self.alloc(size, type_num, True))

    def _py_free(self, oid):
        """Free the memory at *oid* (inside the current transaction)."""
        self.check()
        cdef uint64_t off = self._off_of(oid)
        if off == 0:
            raise ValueError("cannot free OID_NULL")
        self.free(off)

    def realloc(self, oid, size_t size, type_num=None):
        """Move *oid*'s memory to a new allocation of *size* bytes; return the new oid."""
        return self._realloc(oid, size, type_num, False)

    def zrealloc(self, oid, size_t size, type_num=None):
        """Like realloc(); bytes past the old size are zeroed."""
        return self._realloc(oid, size, type_num, True)

    def _realloc(self, oid, size_t size, type_num, bint zero):
        self.check()
        cdef uint64_t off = self._off_of(oid)
        cdef uint64_t tn
        if off == 0:
            return self.oid_of(self.alloc(size, PYP_TYPE_NUM_OBJECT if type_num is None else type_num, zero))
        tn = pmemobj_type_num(pyp_oid(self.uuid_lo, off))
        if type_num is not None and type_num != tn:
            raise TypeError(f"type_num {type_num} does not match the type number {tn} of oid {oid!r}")
        return self.oid_of(self.realloc_raw(off, size, tn, zero))

    def _py_incref(self, oid):
        """Increment the reference count of the object at *oid*."""
        self.check()
        cdef uint64_t off = self._off_of(oid)
        if off == 0:
            raise ValueError("cannot incref OID_NULL")
        self._auto(0, off)

    def _py_decref(self, oid):
        """Decrement the reference count at *oid*; free the object when it reaches 0."""
        self.check()
        cdef uint64_t off = self._off_of(oid)
        if off == 0:
            raise ValueError("cannot decref OID_NULL")
        self._auto(1, off)

    def xdecref(self, oid):
        """decref() unless *oid* is OID_NULL."""
        self.check()
        cdef uint64_t off = self._off_of(oid)
        if off:
            self._auto(1, off)

    cdef _auto(self, int op, uint64_t off):
        self.begin()
        try:
            if op == 0:
                self.incref(off)
            else:
                self.decref(off)
        except BaseException:
            self.end(False)
            raise
        self.end(True)

    def persist(self, obj):
        """Return an oid of *obj*'s representation in the pool, creating it if needed.

        The returned oid holds no reference: store it (and incref) or it is collected."""
        self.check()
        cdef pyp_slot_t s
        cdef uint64_t off
        self.begin()
        try:
            self.init_slot(&s, obj)
            if s.tag == PYP_TAG_REF:
                off = s.payload
                # the reference init_slot took becomes the caller's to keep or drop
                h = <pyp_header_t *>self.obj(off, HEADER)
                self.snapshot(&h.refcount, 8)
                h.refcount -= 1
            else:
                off = self.alloc(sizeof(pyp_box_t), PYP_TYPE_NUM_OBJECT, False)
                (<pyp_box_t *>(self.base + off)).h.refcount = 0
                (<pyp_box_t *>(self.base + off)).h.type_id = PYP_T_BOX
                (<pyp_box_t *>(self.base + off)).value = s
        except BaseException:
            self.end(False)
            raise
        self.end(True)
        return self.oid_of(off)

    def resurrect(self, oid):
        """Return the Python object for the persistent object at *oid*."""
        self.check()
        cdef uint64_t off = self._off_of(oid)
        if off == 0:
            return None
        return self.resurrect_off(off)

    def direct(self, oid):
        """Return the memory address of *oid* (an int)."""
        self.check()
        cdef uint64_t off = self._off_of(oid)
        if off == 0:
            return 0
        return <uintptr_t>(self.base + off)

    def snapshot_range(self, uintptr_t address, size_t size):
        """Snapshot *size* bytes at *address* so the transaction can roll them back."""
        self.check()
        self.snapshot(<void *>address, size)

    def _py_usable_size(self, oid):
        """The number of usable bytes of the allocation at *oid*."""
        self.check()
        return self.usable_size(self._off_of(oid))

    def type_num(self, oid):
        """The libpmemobj type number of the allocation at *oid*."""
        self.check()
        return pmemobj_type_num(pyp_oid(self.uuid_lo, self._off_of(oid)))

    def set_type(self, oid, cls):
        """Stamp the header of the object at *oid* with the type id of *cls*."""
        self.check()
        cdef uint64_t off = self._off_of(oid)
        cdef pyp_header_t *h = <pyp_header_t *>self.obj(off, HEADER)
        cdef uint64_t tid
        self.begin()
        try:
            tid = self.type_id_of(cls)
            self.snapshot(&h.type_id, 8)
            h.type_id = tid
        except BaseException:
            self.end(False)
            raise
        self.end(True)

    def refcount(self, oid):
        """The persistent reference count of the object at *oid*."""
        self.check()
        return (<pyp_header_t *>self.obj(self._off_of(oid), HEADER)).refcount

    def new(self, typ, /, *args, **kw):
        """Create an instance of the Persistent type *typ* in this pool."""
        self.check()
        if not isinstance(typ, type) or not (issubclass(typ, PersistentBase) or hasattr(typ, '_p_new')):
            what = _name_of(typ) if isinstance(typ, type) else repr(typ)
            raise TypeError(f"pool.new() needs a Persistent type (PersistentList, PersistentDict, a "
                            f"PersistentObject subclass, or a class with the Persistent protocol), not "
                            f"{what}; values such as ints, str and tuples are stored as they are "
                            f"(pool.root = value)")
        self.begin()
        try:
            obj = typ.__new__(typ)
            if isinstance(obj, PersistentBase):
                (<PersistentBase>obj).p_new(self)
            else:
                obj._p_new(self)
                off = self._off_of(obj._p_oid)
                if off == 0:
                    raise TypeError(f"{_name_of(typ)}._p_new() did not set _p_oid")
                h = <pyp_header_t *>self.obj(off, HEADER)
                self.snapshot(&h.type_id, 8)
                h.type_id = self.type_id_of(typ)
                self.adopt(obj, off)
            obj.__init__(*args, **kw)
        except BaseException:
            self.end(False)
            raise
        self.end(True)
        return obj

    def get_root(self):
        self.check()
        return self.load(&self.rootp.root)

    def set_root(self, value):
        self.check()
        self.begin()
        try:
            self.store(&self.rootp.root, value)
        except BaseException:
            self.end(False)
            raise
        self.end(True)

    def persist_via_pickle(self, *types):
        for t in types:
            if not isinstance(t, type):
                raise TypeError(f"persist_via_pickle() takes classes, not {t!r}")
            _check_picklable_type(t)
        self.pickle_types.update(types)

    @property
    def class_names(self):
        """The "module:qualname" of every class the pool's type table names
        (classes whose objects the pool holds or held)."""
        return tuple(self.type_names)

    def stats(self):
        """Counts of this session (live proxies, open transaction depth) and, while
        the pool is open, its space (see pool.stats())."""
        out = {"proxies": len(self.proxies), "depth": self.depth, "dirty": self.dirty,
               "opens": self.rootp.opens if self.rootp != NULL else None}
        if not self.closed:
            out["pool_size"] = self.pool_size
            out.update(_heap_stats(self))
        return out

    @property
    def dirty_since_open(self):
        """True when something was written to the pool since it was opened."""
        return self.dirty

    @property
    def deferred_frees(self):
        """Blocks of committed transactions not freed yet: frees a full pool's log
        refused, done after the commit in transactions of their own (0 unless
        that too failed; close() then leaves them to the gc of the next open)."""
        return len(_committed_deferred.get(_key(self), ())) if _deferring else 0

    @property
    def root_clean(self):
        """The clean-shutdown flag as stored in the pool (0 while open)."""
        self.check()
        return self.rootp.clean

    def __repr__(self):
        state = "closed" if self.closed else "open"
        return f"<MemoryManager of {self.filename!r} ({state})>"


# ---------------------------------------------------------------------------
# Visitors

cdef struct DeallocCtx:
    void *mm
    OffStack *stack
    uint64_t off

cdef int _dealloc_visit(void *ctx, uint64_t off, int kind) except -1:
    cdef DeallocCtx *c = <DeallocCtx *>ctx
    cdef MemoryManager mm = <MemoryManager>c.mm
    cdef pyp_header_t *h
    if kind == VISIT_RAW:
        mm.free(off)
        return 0
    h = <pyp_header_t *>mm.obj(off, HEADER)
    if h.refcount == 0:
        raise InvalidPoolError(EINVAL, f"damaged pool: reference count underflow at 0x{off:x}", mm.filename)
    if h.refcount == 1:
        stack_push(c.stack, off)    # freed in this transaction: its count is left as it is (see decref)
        return 0
    mm.snapshot(&h.refcount, 8)
    h.refcount -= 1
    return 0


cdef struct GcState:
    void *mm
    pyp_alloc_t *allocs
    size_t n
    uint8_t *marks
    uint64_t *counts
    OffStack stack
    size_t dangling

cdef Py_ssize_t _find(GcState *g, uint64_t off) noexcept:
    cdef Py_ssize_t lo = 0, hi = <Py_ssize_t>g.n - 1, mid
    while lo <= hi:
        mid = (lo + hi) >> 1
        if g.allocs[mid].off == off:
            return mid
        if g.allocs[mid].off < off:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1

cdef int _gc_visit(void *ctx, uint64_t off, int kind) except -1:
    cdef GcState *g = <GcState *>ctx
    cdef Py_ssize_t idx = _find(g, off)
    if idx < 0:
        g.dangling += 1
        return 0
    if kind == VISIT_REF:
        if g.allocs[idx].type_num != PYP_TYPE_NUM_OBJECT:
            g.dangling += 1
            return 0
        g.counts[idx] += 1
        if not g.marks[idx]:
            g.marks[idx] = 1
            stack_push(&g.stack, off)
    else:
        g.marks[idx] = 1
    return 0


# libpmemobj 1.12's heap layout, read only to check it before pmemobj_first/next walk it:
# a damaged chunk header makes that walk loop forever inside the library.
DEF HEAP_HEADER = 1024
DEF ZONE_HEADER = 64
DEF MAX_CHUNK = 65528
DEF CHUNKSIZE = 262144
DEF CHUNK_TYPE_FREE = 2
DEF CHUNK_TYPE_USED = 3
DEF CHUNK_TYPE_RUN = 4

cdef struct chunk_header_t:
    uint16_t type
    uint16_t flags
    uint32_t size_idx

DEF CHUNK_TYPE_RUN_DATA = 5
# The chunk flags of this library's pools (libpmemobj's default allocation
# classes): a run or a used chunk without a compact header would be read with
# a 64-byte header it does not have.
DEF CHUNK_FLAG_COMPACT_HEADER = 1
DEF CHUNK_FLAG_FLEX_BITMAP = 8
DEF RUN_HEADER = 16


cdef int _check_run(MemoryManager mm, chunk_header_t *h, uint64_t *run, str where) except -1:
    """The header flags and block size of a run (`run` points at its first chunk)."""
    if h.flags & ~(CHUNK_FLAG_COMPACT_HEADER | CHUNK_FLAG_FLEX_BITMAP) or \
            not h.flags & CHUNK_FLAG_COMPACT_HEADER:
        raise InvalidPoolError(EINVAL, f"damaged pool: run flags 0x{h.flags:x} {where}", mm.filename)
    if run[0] < 16 or run[0] > <uint64_t>CHUNKSIZE * h.size_idx - RUN_HEADER:
        raise InvalidPoolError(EINVAL, f"damaged pool: run block size {run[0]} {where}", mm.filename)
    return 0


cdef int _check_block(MemoryManager mm, uint64_t off) except -1:
    """Check the chunk header (and a run's block size) libpmemobj reads to size the
    allocation at `off`: damaged, they make it read out of bounds or divide by zero."""
    cdef uint64_t heap = (<uint64_t *>(mm.base + 5136))[0]      # pmemobjpool.heap_offset
    cdef uint64_t zone_size = ZONE_HEADER + <uint64_t>MAX_CHUNK * (8 + CHUNKSIZE)
    cdef uint64_t zone, data, chunk
    cdef chunk_header_t *h
    if heap < POOL_HDR or off < heap + HEAP_HEADER or heap > mm.pool_size:
        raise InvalidPoolError(EINVAL, f"damaged pool: 0x{off:x} is not in the heap", mm.filename)
    zone = heap + HEAP_HEADER + (off - heap - HEAP_HEADER) // zone_size * zone_size
    data = zone + ZONE_HEADER + 8 * <uint64_t>MAX_CHUNK
    if off <= data or data > mm.pool_size:
        raise InvalidPoolError(EINVAL, f"damaged pool: 0x{off:x} is not an allocation", mm.filename)
    chunk = (off - data) // CHUNKSIZE
    h = <chunk_header_t *>(mm.base + zone + ZONE_HEADER + 8 * chunk)
    if h.type == CHUNK_TYPE_RUN_DATA:
        if h.size_idx > chunk:
            raise InvalidPoolError(EINVAL, f"damaged pool: chunk header of 0x{off:x}", mm.filename)
        chunk -= h.size_idx
        h = <chunk_header_t *>(mm.base + zone + ZONE_HEADER + 8 * chunk)
        if h.type != CHUNK_TYPE_RUN:
            raise InvalidPoolError(EINVAL, f"damaged pool: 0x{off:x} is in run data outside a run", mm.filename)
    if h.type == CHUNK_TYPE_RUN:
        _check_run(mm, h, <uint64_t *>(mm.base + data + chunk * CHUNKSIZE), f"of 0x{off:x}")
    elif h.type == CHUNK_TYPE_USED:
        if h.flags != CHUNK_FLAG_COMPACT_HEADER:
            raise InvalidPoolError(EINVAL, f"damaged pool: chunk flags 0x{h.flags:x} of 0x{off:x}", mm.filename)
    elif h.type != CHUNK_TYPE_FREE:                 # FREE: allocated in this transaction
        raise InvalidPoolError(EINVAL, f"damaged pool: 0x{off:x} is not an allocation", mm.filename)
    return 0


cdef int _check_heap(MemoryManager mm) except -1:
    """Walk the zones' chunk headers as the library will; raise on what would trap it."""
    mm.check()
    cdef uint64_t heap = (<uint64_t *>(mm.base + 5136))[0]     # pmemobjpool.heap_offset
    cdef uint64_t zone_size = ZONE_HEADER + <uint64_t>MAX_CHUNK * (8 + CHUNKSIZE)
    cdef uint64_t zone, i, j, n, chunks
    cdef chunk_header_t *h
    cdef chunk_header_t *d
    cdef uint64_t *run
    if heap < POOL_HDR or heap + HEAP_HEADER > mm.pool_size or \
            memcmp(mm.base + heap, b"MEMORY_HEAP_HDR", 15) != 0:
        raise InvalidPoolError(EINVAL, "damaged pool: heap header", mm.filename)
    zone = heap + HEAP_HEADER
    while zone + ZONE_HEADER + 8 * MAX_CHUNK <= mm.pool_size:
        if (<uint32_t *>(mm.base + zone))[0] != 0xC3F0A2D2:          # zone magic: zone not in use
            break
        n = (<uint32_t *>(mm.base + zone))[1]
        chunks = (mm.pool_size - zone - ZONE_HEADER - 8 * MAX_CHUNK) // CHUNKSIZE
        if n > MAX_CHUNK or n > chunks:
            raise InvalidPoolError(EINVAL, "damaged pool: zone size", mm.filename)
        i = 0
        while i < n:
            h = <chunk_header_t *>(mm.base + zone + ZONE_HEADER + 8 * i)
            if h.size_idx == 0 or h.size_idx > n - i or \
                    (h.type != CHUNK_TYPE_FREE and h.type != CHUNK_TYPE_USED and h.type != CHUNK_TYPE_RUN):
                raise InvalidPoolError(EINVAL, f"damaged pool: chunk header {i} of zone at 0x{zone:x}",
                                       mm.filename)
            if h.type == CHUNK_TYPE_RUN:
                run = <uint64_t *>(mm.base + zone + ZONE_HEADER + 8 * MAX_CHUNK + CHUNKSIZE * i)
                _check_run(mm, h, run, f"in chunk {i}")
                # the chunks a run spans: libpmemobj's walk aborts or loops on a damaged one
                for j in range(1, h.size_idx):
                    d = h + j
                    if d.type != CHUNK_TYPE_RUN_DATA or d.size_idx != j:
                        raise InvalidPoolError(EINVAL, f"damaged pool: chunk header {i + j} in the run at "
                                               f"chunk {i}", mm.filename)
            elif h.type == CHUNK_TYPE_USED and h.flags != CHUNK_FLAG_COMPACT_HEADER:
                raise InvalidPoolError(EINVAL, f"damaged pool: chunk flags 0x{h.flags:x} in chunk {i}",
                                       mm.filename)
            i += h.size_idx
        if zone_size > mm.pool_size - zone:
            break
        zone += zone_size
    return 0


# Seconds libpmemobj may take to open or check a pool before it is taken for
# stuck on a damaged file (PMEMOBJ_OPEN_TIMEOUT in the environment).
OPEN_TIMEOUT = float(os.environ.get("PMEMOBJ_OPEN_TIMEOUT", "60"))


def _call_thread(size_t addr):
    with nogil:
        pyp_call(<pyp_call_t *>addr)


cdef pyp_call_t *_call_library(filename, bint check) except NULL:
    """pmemobj_open or pmemobj_check of `filename` in a thread; the caller frees the result."""
    cdef bytes path = os.fsencode(filename)
    cdef pyp_call_t *c = <pyp_call_t *>calloc(1, sizeof(pyp_call_t))
    if c == NULL:
        raise MemoryError()
    c.path = <char *>malloc(len(path) + 1)
    if c.path == NULL:
        c_free(c)
        raise MemoryError()
    memcpy(c.path, <const char *>path, len(path) + 1)
    c.check = check
    t = threading.Thread(target=_call_thread, args=(<size_t>c,), daemon=True, name="pmemobj open")
    try:
        t.start()
        t.join(OPEN_TIMEOUT)
    except RuntimeError:        # no new threads at interpreter shutdown: call here
        with nogil:
            pyp_call(c)
    if not pyp_call_done(c):
        # stuck inside libpmemobj: `c` stays allocated, the thread still uses it
        raise InvalidPoolError(EINVAL, f"libpmemobj did not finish {'checking' if check else 'opening'} "
                               f"the pool in {OPEN_TIMEOUT:g} s (damaged lanes or heap?)", filename)
    return c


def _walk_thread(size_t addr):
    with nogil:
        pyp_walk_heap(<pyp_walk_t *>addr)


DEF WALK_STALL_SECONDS = 5      # one pmemobj_next() call takes microseconds

cdef _gc_enumerate(MemoryManager mm, GcState *g):
    _check_heap(mm)
    cdef pyp_walk_t *w = <pyp_walk_t *>calloc(1, sizeof(pyp_walk_t))
    cdef uint64_t last
    if w == NULL:
        raise MemoryError()
    w.pop = mm.pop
    walker = threading.Thread(target=_walk_thread, args=(<size_t>w,), daemon=True,
                              name="pmemobj heap walk")
    try:
        walker.start()
    except RuntimeError:        # no new threads at interpreter shutdown: walk here
        with nogil:
            pyp_walk_heap(w)
    stalled = 0
    while not pyp_walk_done(w):
        last = pyp_walk_steps(w)
        walker.join(1.0)
        if not pyp_walk_done(w) and pyp_walk_steps(w) == last:
            stalled += 1
            if stalled >= WALK_STALL_SECONDS:
                # The walker is stuck inside libpmemobj and may hold its locks:
                # give the pool up without another call into the library.  `w`
                # stays allocated: the stuck thread still writes to it.
                mm._abandon()
                raise InvalidPoolError(EINVAL, "damaged pool: libpmemobj's walk of the heap does not "
                                       "finish (damaged allocation metadata); the pool was closed "
                                       "without writing to it", mm.filename)
        else:
            stalled = 0
    g.allocs = w.allocs
    g.n = w.n
    failed = pyp_walk_done(w) < 0
    c_free(w)
    if failed:
        raise MemoryError()
    qsort(g.allocs, g.n, sizeof(pyp_alloc_t), pyp_alloc_cmp)
    g.marks = <uint8_t *>malloc(g.n + 1)
    g.counts = <uint64_t *>malloc((g.n + 1) * sizeof(uint64_t))
    if g.marks == NULL or g.counts == NULL:
        raise MemoryError()
    memset(g.marks, 0, g.n + 1)
    memset(g.counts, 0, (g.n + 1) * sizeof(uint64_t))

cdef _gc_mark(MemoryManager mm, GcState *g, bint proxy_roots, dict unknown):
    cdef pyp_typetable_t *tt
    cdef uint64_t i, off
    cdef Py_ssize_t idx
    # roots: the root object itself, the root value, the type table, live proxies
    idx = _find(g, <uint64_t>(<char *>mm.rootp - mm.base))
    if idx >= 0:
        g.marks[idx] = 1
    if mm.rootp.root.tag == PYP_TAG_REF:
        _gc_visit(g, mm.rootp.root.payload, VISIT_REF)
    _gc_visit(g, mm.rootp.type_table, VISIT_RAW)
    tt = <pyp_typetable_t *>mm.obj(mm.rootp.type_table, 16)
    for i in range(tt.count):
        off = (<pyp_typetable_t *>mm.ptr(mm.rootp.type_table, 16)).names[i]
        _gc_visit(g, off, VISIT_REF)
        idx = _find(g, off)
        if idx >= 0:
            g.marks[idx] = 2        # the pool's own bookkeeping, reported apart
    idx = _find(g, mm.rootp.type_table)
    if idx >= 0:
        g.marks[idx] = 2
    for off, ref in (list(mm.proxies.items()) if proxy_roots else ()):
        if ref() is not None:
            idx = _find(g, off)
            if idx >= 0 and not g.marks[idx]:
                g.marks[idx] = 1
                stack_push(&g.stack, off)
    while g.stack.n:
        g.stack.n -= 1
        off = g.stack.items[g.stack.n]
        if unknown is None:
            mm.traverse(off, _gc_visit, g)
            continue
        try:
            mm.traverse(off, _gc_visit, g)
        except UnknownClassError as e:
            unknown[e.class_name] = unknown.get(e.class_name, 0) + 1
    if g.dangling:
        raise InvalidPoolError(EINVAL, f"damaged pool: {g.dangling} reference(s) to memory that is not "
                               f"allocated; gc refused to free anything", mm.filename)

cdef dict _gc_sweep(MemoryManager mm, GcState *g, bint dry_run):
    cdef size_t i, k, n_todo = 0, done = 0, batch = FREE_BATCH, stop
    cdef pyp_header_t *h
    cdef uint64_t kept_bytes = 0, freed_bytes = 0, size
    cdef size_t *todo = <size_t *>malloc((g.n + 1) * sizeof(size_t))
    if todo == NULL:
        raise MemoryError()
    kept = {}
    freed = {}
    freed_count0 = {}       # the part of `freed` that nothing referenced (count 0)
    fixed = 0
    try:
        for i in range(g.n):
            if g.allocs[i].type_num != PYP_TYPE_NUM_OBJECT and g.allocs[i].type_num != PYP_TYPE_NUM_RAW:
                continue        # not ours: leave it alone
            if g.allocs[i].type_num == PYP_TYPE_NUM_OBJECT:
                h = <pyp_header_t *>mm.obj(g.allocs[i].off, HEADER)
                name = mm._type_name(h.type_id) if g.marks[i] != 2 else '<type table>'
            else:
                h = NULL
                name = '<raw>' if g.marks[i] != 2 else '<type table>'
            size = pmemobj_alloc_usable_size(pyp_oid(mm.uuid_lo, g.allocs[i].off))
            if g.marks[i]:
                kept[name] = kept.get(name, 0) + 1
                kept_bytes += size
                if h == NULL or h.refcount == g.counts[i]:
                    continue
                fixed += 1
            else:
                freed[name] = freed.get(name, 0) + 1
                freed_bytes += size
                if h != NULL and h.refcount == 0:
                    freed_count0[name] = freed_count0.get(name, 0) + 1
            todo[n_todo] = i
            n_todo += 1
        # Free and repair in transactions of `batch` objects; on a nearly full
        # pool the transaction's log may not fit: retry with smaller batches.
        while not dry_run and done < n_todo:
            stop = min(done + batch, n_todo)
            mm.begin()
            try:
                for k in range(done, stop):
                    i = todo[k]
                    if g.marks[i]:
                        h = <pyp_header_t *>mm.obj(g.allocs[i].off, HEADER)
                        mm.snapshot(&h.refcount, 8)
                        h.refcount = g.counts[i]
                    else:
                        mm._invalidate_proxy(g.allocs[i].off)
                        mm.free(g.allocs[i].off)
            except PoolFullError:
                mm.end(False)
                if batch == 1:
                    raise
                batch = max(batch // 8, 1)
                continue
            except BaseException:
                mm.end(False)
                raise
            try:
                mm.end(True)
            except PoolFullError:
                if batch == 1:
                    raise
                batch = max(batch // 8, 1)
                continue
            done = stop
    finally:
        c_free(todo)
    return {"kept": kept, "freed": freed, "freed_count0": freed_count0,
            "kept_total": sum(kept.values()), "freed_total": sum(freed.values()),
            "kept_bytes": kept_bytes, "freed_bytes": freed_bytes,
            ("refcounts_wrong" if dry_run else "refcounts_fixed"): fixed}


_VALUE_TYPE_NAMES = {PYP_T_BOX: 'box', PYP_T_BIGINT: 'int', PYP_T_COMPLEX: 'complex', PYP_T_STR: 'str',
                     PYP_T_BYTES: 'bytes', PYP_T_TUPLE: 'tuple', PYP_T_FROZENSET: 'frozenset',
                     PYP_T_PICKLE: 'pickle'}


# ---------------------------------------------------------------------------
# Hashes

cdef inline uint64_t _mix(uint64_t x) noexcept:
    x ^= x >> 33
    x *= K_ff51afd7ed558ccd
    x ^= x >> 33
    x *= K_c4ceb9fe1a85ec53
    x ^= x >> 33
    return x

cdef uint64_t _str_hash(str s) except? 0:
    cdef Py_ssize_t n
    cdef const char *p
    try:
        p = PyUnicode_AsUTF8AndSize(s, &n)
    except UnicodeEncodeError:      # lone surrogates
        data = s.encode('utf-8', 'surrogatepass')
        return XXH3_64bits(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    return XXH3_64bits(p, n)

cdef uint64_t _bytes_hash(bytes b) noexcept:
    return XXH3_64bits(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

def stable_hash(value, MemoryManager mm=None):
    """The process-stable hash the pool uses for *value* (str/bytes: XXH3-64 of the UTF-8/raw bytes)."""
    if type(value) is str:
        return <int64_t>_str_hash(value)
    if type(value) is bytes:
        return <int64_t>_bytes_hash(value)
    if mm is None:
        mm = MemoryManager.__new__(MemoryManager)
    return mm.hash_of(value)


# ---------------------------------------------------------------------------
# Checking a file before libpmemobj maps it (it dies by SIGBUS on empty or
# truncated files)

cdef _file_key(filename):
    st = os.stat(filename)
    return (st.st_dev, st.st_ino)

cdef str _errmsg():
    cdef const char *m = pmemobj_errormsg()
    return m.decode('utf-8', 'replace') if m != NULL else ''

def check_file(filename):
    """Run libpmemobj's consistency check on a pool file that is not open.

    Returns True if consistent, False if not; raises on a file it cannot read."""
    filename = os.fspath(filename)
    _precheck(filename)
    if _file_key(filename) in _open_files:
        raise PoolInUseError(_errno.EBUSY, "pool file is open in this process; close it first", filename)
    cdef pyp_call_t *call = _call_library(filename, True)
    rc, err, msg = call.rc, call.err, call.msg.decode('utf-8', 'replace')
    c_free(call.path)
    c_free(call)
    if rc < 0:
        raise InvalidPoolError(err, f"cannot check the pool: {msg}", filename)
    return rc == 1


cdef extern from *:
    """
    #ifndef PYP_LIBPMEMOBJ_VERSION
    #define PYP_LIBPMEMOBJ_VERSION "unknown"
    #endif
    """
    const char *PYP_LIBPMEMOBJ_VERSION

# The libpmemobj release the core was built against (pkg-config's version).
LIBPMEMOBJ_VERSION = PYP_LIBPMEMOBJ_VERSION.decode()


def _precheck(filename):
    """Refuse, before libpmemobj sees it, a file it would fail on badly."""
    import stat as _stat
    st = os.stat(filename)
    if _stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(_errno.EISDIR, "pool path is a directory", filename)
    if not _stat.S_ISREG(st.st_mode):
        raise InvalidPoolError(EINVAL, "pool path is not a regular file", filename)
    with open(filename, 'rb') as f:      # PermissionError here is clear enough
        head = f.read(8192)
    if not os.access(filename, os.W_OK):
        raise PermissionError(_errno.EACCES, "pool file is not writable", filename)
    if st.st_size < PMEMOBJ_MIN_POOL:
        raise InvalidPoolError(EINVAL, f"file is too small to be a pool ({st.st_size} bytes; "
                               f"empty or truncated)", filename)
    if head[:8] != b"PMEMOBJ\0":
        raise InvalidPoolError(EINVAL, "not a pmemobj pool (no PMEMOBJ signature)", filename)
    layout = head[4096:4096 + 1024].split(b"\0", 1)[0]
    if layout != PYP_LAYOUT_NAME:
        raise InvalidPoolError(EINVAL, f"pool has layout {layout.decode('ascii', 'replace')!r}, "
                               f"not {PYP_LAYOUT_NAME.decode()!r}", filename)
    _check_size(filename, head, st.st_size)
    try:
        _metadata_check.check(filename, LIBPMEMOBJ_VERSION)
    except ValueError as e:
        raise InvalidPoolError(EINVAL, str(e), filename) from None

cdef _check_size(filename, bytes head, uint64_t size):
    # The heap descriptor records the heap size; a shorter file is truncated.
    import struct
    # struct pmemobjpool: pool_hdr (4096) + layout (1024) + lanes_offset, nlanes, heap_offset,
    # unused3, unused (1982 bytes), checksum, root_offset, run_id, root_size, conversion_flags,
    # heap_size (at byte offsets derived from libpmemobj 1.12's obj.h)
    heap_offset, = struct.unpack_from("<Q", head, 4096 + 1024 + 16)
    if heap_offset >= size or heap_offset < 4096:
        raise InvalidPoolError(EINVAL, "damaged pool: heap offset outside the file (truncated?)", filename)


# ---------------------------------------------------------------------------

@cython.no_gc_clear        # __dealloc__ needs `mm` to queue the object when the proxy dies in a cycle
cdef class PersistentBase:
    """Base of the compiled persistent types: a proxy for one object in a pool."""

    def __dealloc__(self):
        # The last proxy of an object nothing references: free it at the next
        # transaction (no transaction can run here).
        cdef MemoryManager mm = self.mm
        cdef uint64_t off = self.off
        if mm is None or off == 0 or mm.closed:
            return
        mm.proxies.pop(off, None)
        if off >= POOL_HDR and off + HEADER <= mm.pool_size and \
                (<pyp_header_t *>(mm.base + off)).refcount == 0:
            mm.orphans.add(off)

    cdef char *addr(self, uint64_t n) except NULL:
        if self.mm is None:
            raise TypeError(f"{type(self).__name__} objects are created with pool.new({type(self).__name__}, ...)")
        if self.off == 0:
            self.mm.check()
            raise ValueError(f"this {type(self).__name__} no longer exists in the pool "
                             f"(it was freed, or created in a transaction that was rolled back)")
        return self.mm.obj(self.off, n)

    cdef int begin(self) except -1:
        self.addr(HEADER)
        return self.mm.begin()

    cdef int p_new(self, MemoryManager mm) except -1:
        mm.adopt(self, mm.new_object(type(self), HEADER))
        return 0

    cdef int on_resurrect(self) except -1:
        return 0

    cdef int64_t stable_hash(self) except? -1:
        cdef int64_t h = <int64_t>_mix(self.off ^ self.mm.uuid_lo)
        return -2 if h == -1 else h

    # the Persistent protocol
    @property
    def _p_mm(self):
        return self.mm

    @property
    def _p_oid(self):
        if self.mm is None or self.off == 0:
            return OID_NULL
        return (self.mm.uuid_lo, self.off)

    def _p_new(self, MemoryManager mm):
        self.p_new(mm)

    def _p_resurrect(self, MemoryManager mm, oid):
        self.mm = mm
        self.off = mm._off_of(oid)
        self.on_resurrect()

    def _p_traverse(self):
        return [self.mm.oid_of(o) for o, k in self._children() if k == VISIT_REF]

    def _p_substructures(self):
        return [self.mm.oid_of(o) for o, k in self._children() if k == VISIT_RAW]

    cdef list _children(self):
        self.addr(HEADER)
        out = []
        self.mm.traverse(self.off, _collect_visit, <void *>out)
        return out

    def _p_deallocate(self):
        """Release every reference and substructure; only the object's own memory remains."""
        cdef MemoryManager mm = self.mm
        cdef OffStack st
        cdef DeallocCtx ctx
        self.begin()
        st.items = NULL
        st.n = st.cap = 0
        ctx.mm = <void *>mm
        ctx.stack = &st
        ctx.off = self.off
        try:
            fn = _traverse_of(type(self))
            if fn:
                (<traverse_fn>fn)(mm, self.off, _dealloc_visit, &ctx)
            while st.n:
                st.n -= 1
                mm._deallocate(st.items[st.n], &st)
        except BaseException:
            c_free(st.items)
            mm.end(False)
            raise
        c_free(st.items)
        mm.end(True)

    def __reduce__(self):
        raise TypeError(f"cannot pickle a persistent {type(self).__name__}: it lives in its pool "
                        f"(pmemobj.to_builtin() copies it into plain Python objects)")

cdef int _collect_visit(void *ctx, uint64_t off, int kind) except -1:
    (<list>ctx).append((off, kind))
    return 0


include "_heap.pxi"
