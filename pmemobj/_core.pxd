# The cdef API of the pmemobj core.  Collections, ptypes and sharedbuffers cimport
# this and never call libpmemobj themselves: every alloc, free, snapshot, reference
# count and type id in the project goes through MemoryManager.
cimport cython
from libc.stdint cimport uint64_t, int64_t
from cpython.pythread cimport PyThread_type_lock
from pmemobj._libpmemobj cimport PMEMobjpool

cdef extern from "pyp_layout.h":
    enum:
        PYP_TYPE_NUM_OBJECT
        PYP_TYPE_NUM_RAW
        PYP_TAG_EMPTY
        PYP_TAG_NONE
        PYP_TAG_FALSE
        PYP_TAG_TRUE
        PYP_TAG_INT
        PYP_TAG_FLOAT
        PYP_TAG_REF
        PYP_T_BOX
        PYP_T_BIGINT
        PYP_T_COMPLEX
        PYP_T_STR
        PYP_T_BYTES
        PYP_T_TUPLE
        PYP_T_FROZENSET
        PYP_T_PICKLE
        PYP_T_FIRST_CLASS

    # sizes of the fixed parts of the variable-size layouts (use these, not sizeof)
    size_t PYP_BYTES_DATA
    size_t PYP_SEQ_ITEMS
    size_t PYP_TYPETABLE_NAMES

    ctypedef struct pyp_header_t:
        uint64_t refcount
        uint64_t type_id

    ctypedef struct pyp_slot_t:
        uint64_t tag
        uint64_t payload

    ctypedef struct pyp_bytes_t:
        pyp_header_t h
        uint64_t size
        char data[1]

    ctypedef struct pyp_seq_t:
        pyp_header_t h
        uint64_t size
        pyp_slot_t items[1]

    ctypedef struct pyp_root_t:
        uint64_t magic
        uint64_t version
        uint64_t clean
        uint64_t type_table
        uint64_t opens
        uint64_t orphans
        uint64_t candidates
        uint64_t flags
        uint64_t journal
        uint64_t unsynced
        pyp_slot_t root

# What a traverse function reports for each thing an object points to.
cdef enum:
    VISIT_REF = 0   # an object the traversed object holds one reference to
    VISIT_RAW = 1   # a substructure (raw allocation) the object owns

# A growable C stack of offsets (decref and gc walk graphs without recursion).
cdef struct OffStack:
    uint64_t *items
    size_t n
    size_t cap

ctypedef int (*visit_fn)(void *ctx, uint64_t off, int kind) except -1
# Reports every reference and substructure of the object at `off` (type ids >= PYP_T_FIRST_CLASS).
ctypedef int (*traverse_fn)(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1

cdef class MemoryManager:
    cdef PMEMobjpool *pop
    cdef char *base
    cdef readonly uint64_t pool_size
    cdef readonly uint64_t max_size   # a growing pool's maximum (0: a pool file of fixed size)
    cdef readonly uint64_t grow_by    # a growing pool's step
    cdef readonly uint64_t uuid_lo
    cdef object uuid_obj              # uuid_lo as a Python int, for oid tuples
    cdef object tx_cm                 # the Transaction context manager (stateless)
    cdef readonly bint closed
    cdef readonly int depth            # flat nesting depth of the open transaction
    cdef readonly object filename
    cdef readonly bint is_pmem
    cdef pyp_root_t *rootp
    cdef object __weakref__
    cdef public object pool            # the PersistentObjectPool (Python side)
    # transaction state (see begin/end)
    cdef PyThread_type_lock lock
    cdef long owner                   # thread ident holding the pool lock, 0 if none
    cdef bint doomed                  # aborted, waiting for the outermost block to end
    cdef bint dirty                   # something was written since open
    cdef readonly uint64_t tx_serial  # outermost transactions begun: names the current one
    cdef list tx_new                  # proxies created in this transaction
    cdef list tx_freed                # (proxy, off) invalidated by frees in this transaction
    cdef public set orphans           # objects whose last proxy died at refcount 0: freed at the next begin
    cdef set tx_orphans               # the orphans this transaction frees (restored if it aborts)
    cdef set tx_released              # objects this transaction frees (None: none yet)
    cdef bint runs_held               # an allocation since open or the last recycle: classes hold runs
    cdef bint recycle_due             # an allocation found its class full: recycle the runs after this transaction
    # volatile mirrors
    cdef dict proxies                 # off -> weakref to the live proxy
    cdef list type_names              # type id - FIRST_CLASS -> "module:qualname"
    cdef list type_classes            # ... -> class or None (not imported yet)
    cdef list type_traverse           # ... -> address of a traverse_fn or 0
    cdef dict class_ids               # class -> type id
    cdef readonly set pickle_types
    cdef object file_key
    cdef public bint unclean          # the last session did not close the pool
    # the collector's notes (pmemobj/_collect.pxi): None until a transaction makes one
    cdef set tx_zero                  # objects at count 0 in this transaction (possible orphans)
    cdef set tx_roots                 # containers whose count dropped to non-zero (possible cycle roots)
    cdef set tx_linked                # containers whose count rose from 0, and new tuples holding containers
    cdef set tx_unrecord              # recorded objects this transaction frees
    cdef dict rec_orphans             # the offsets the pool's orphan record names (its mirror; values unused)
    cdef dict rec_candidates          # the same for the candidate record
    cdef bint collecting              # freeing cycles proven garbage: no new candidates
    cdef bint closing                 # proxies no longer keep objects at count 0
    cdef bint rec_dirty               # this transaction wrote the records (reload them if it rolls back)
    cdef public bint records_bad      # a record could not be read: the full collector must run
    cdef dict freed_log               # during a collection: {type name: [objects, bytes]} it frees
    cdef public Py_ssize_t gc_threshold   # candidates that make a commit run the incremental collector
    cdef bint rec_stale               # the records name freed blocks: rewrite them from the mirrors
    cdef bint rec_prepared            # this transaction snapshotted the records' headers
    # durability level (_durability.pxi)
    cdef readonly str durability      # "power" or "process"
    cdef readonly object unsynced_at_open  # None, "this boot" or "an earlier boot": a "process" session's unsynced writes
    cdef bint process_level           # durability == "process"
    cdef bint marked                  # at "process": the unsynced word is set on the disk
    cdef int dur_slot                 # the core's flush functions' slot for the pool, or -1
    cdef int jslot                    # the slot of the pool's journal (_journal.pxi), or -1

    # memory access (bounds-checked against the mapping and the allocation)
    cdef int check(self) except -1
    cdef char *ptr(self, uint64_t off, uint64_t n) except NULL
    cdef char *obj(self, uint64_t off, uint64_t n) except NULL
    cdef uint64_t usable_size(self, uint64_t off) except? 0

    # transactions: begin/commit/abort nest flatly; writes need the current thread's transaction
    cdef int begin(self) except -1
    cdef int end(self, bint ok) except -1
    cdef int writable(self) except -1
    cdef int snapshot(self, const void *p, size_t n) except -1
    cdef int add_fresh(self, const void *p, size_t n) except -1
    cdef uint64_t alloc(self, size_t n, uint64_t type_num, bint zero) except 0
    cdef int free(self, uint64_t off) except -1
    cdef uint64_t realloc_raw(self, uint64_t off, size_t n, uint64_t type_num, bint zero) except 0
    cdef int fail(self, int err, str what) except -1
    cdef int doom(self, int err) except -1

    # reference counts
    cdef int incref(self, uint64_t off) except -1
    cdef int decref(self, uint64_t off) except -1

    # values in slots
    cdef int init_slot(self, pyp_slot_t *dst, object v) except -1
    cdef int store(self, pyp_slot_t *dst, object v) except -1
    cdef int clear_slot(self, pyp_slot_t *dst) except -1
    cdef int release_slot(self, pyp_slot_t s) except -1
    cdef object load(self, const pyp_slot_t *s)
    cdef int64_t hash_of(self, object v) except? -1
    cdef int slot_eq(self, const pyp_slot_t *s, object v) except -1

    # persistent objects
    cdef uint64_t type_id_of(self, type cls) except 0
    cdef object class_of(self, uint64_t tid)
    cdef uint64_t new_object(self, type cls, size_t n) except 0
    cdef object resurrect_off(self, uint64_t off)
    cdef int adopt(self, object proxy, uint64_t off) except -1
    cdef int traverse(self, uint64_t off, visit_fn visit, void *ctx) except -1
    cdef object oid_of(self, uint64_t off)

    # internals
    cdef _attach(self, bint create)
    cdef _release(self)
    cdef _abandon(self)
    cdef _forget_mapping(self)
    cdef int _set_durability(self, str durability) except -1
    cdef int _mark_unsynced(self) except -1
    cdef int _sync_all(self) except -1
    cdef int _durability_detach(self, bint sync) except -1
    cdef _rollback_volatile(self)
    cdef int _free_orphans(self) except -1
    cdef int _begin_outermost(self, long me) except -1
    cdef int _deallocate(self, uint64_t off, OffStack *st) except -1
    cdef _invalidate_proxy(self, uint64_t off)
    cdef uint64_t _persist_ref(self, object v) except 0
    cdef uint64_t _new_bytes(self, uint64_t tid, bytes data) except 0
    cdef uint64_t _new_bigint(self, object v) except 0
    cdef uint64_t _new_seq(self, uint64_t tid, object items) except 0
    cdef uint64_t _off_of(self, object oid) except? 0
    cdef object _resurrect_class(self, uint64_t off, uint64_t tid)
    cdef Py_ssize_t _persistent_type_count(self)
    cdef _load_type_table(self)
    cdef Py_ssize_t _add_type_name(self, str name) except -1
    cdef size_t _traverse_fn(self, uint64_t tid) except? 0
    cdef int _traverse_value(self, uint64_t off, uint64_t tid, visit_fn visit, void *ctx) except -1
    cdef object _as_oid(self, object oid)
    cdef str _type_name(self, uint64_t tid)
    cdef _auto(self, int op, uint64_t off)


@cython.no_gc_clear
cdef class PersistentBase:
    """Base of the compiled persistent types: a proxy for one object in a pool."""
    cdef MemoryManager mm
    cdef uint64_t off
    cdef object __weakref__
    cdef char *addr(self, uint64_t n) except NULL
    cdef int begin(self) except -1
    cdef int p_new(self, MemoryManager mm) except -1
    cdef int on_resurrect(self) except -1
    cdef int64_t stable_hash(self) except? -1
    cdef list _children(self)


cdef int register_traverse(type cls, traverse_fn fn) except -1
cdef int visit_slots(const pyp_slot_t *slots, size_t n, visit_fn visit, void *ctx) except -1
