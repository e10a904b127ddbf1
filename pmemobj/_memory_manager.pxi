# The MemoryManager class: the pool's state and the cdef API other modules
# cimport (each method is one line here; the work is in the file named for
# its responsibility), and the Python-level API of seeds/003.
# (included by _core.pyx)


cdef class MemoryManager:
    """The pool's memory: allocation, transactions, reference counts, values.

    Created by PersistentObjectPool; reach it as ``pool.mm``.  Oids are
    ``(pool_uuid_lo, offset)`` tuples."""

    def __cinit__(self):
        self.lock = PyThread_allocate_lock()
        if self.lock == NULL:
            raise MemoryError()
        self.closed = True
        self.dur_slot = self.jslot = -1
        self.proxies = {}
        self.tx_new = []
        self.tx_freed = []
        self.orphans = set()
        self.rec_orphans = {}
        self.rec_candidates = {}
        self.gc_threshold = AUTO_GC_CANDIDATES
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
            pyp_dur_detach(self.pop)
            pmemobj_close(self.pop)
            self.pop = NULL
        if self.lock != NULL:
            PyThread_free_lock(self.lock)

    # -- opening and closing: _pool_file.pxi -------------------------------------

    def _open(self, filename, flag='w', size_t pool_size=PMEMOBJ_MIN_POOL, int mode=0o666,
              uint64_t max_size=0, uint64_t grow_by=0, durability="power", accept_unsynced=False):
        """Open or create the pool file (called by PersistentObjectPool); with
        *max_size*, create a growing pool (_growth.pxi); *durability* as
        PersistentObjectPool says (_durability.pxi)."""
        if durability not in DURABILITY_LEVELS:
            raise ValueError(f"durability must be 'power' or 'process', not {durability!r}")
        if flag != 'x':
            _replay_journal(filename)       # what a crash left in the journal, before anything reads the file
        if not accept_unsynced and os.path.lexists(filename) and flag != 'x':
            _refuse_unsynced(filename)
        self.durability = durability
        return _mm_open(self, filename, flag, pool_size, mode, max_size, grow_by)

    cdef _attach(self, bint create):
        return _mm_attach(self, create)

    def close(self):
        """Mark the pool clean and close the file (idempotent).  gc is the pool's job."""
        return _mm_close(self)

    def _close_unclean(self):
        """Close the file without marking the pool clean (its gc failed)."""
        if not self.closed and self.owner == 0:
            self._release()

    cdef _abandon(self):
        return _mm_abandon(self)

    cdef _release(self):
        return _mm_release(self)

    cdef _forget_mapping(self):
        return _mm_forget_mapping(self)

    # -- durability levels: _durability.pxi ---------------------------------

    cdef int _set_durability(self, str durability) except -1:
        return _mm_set_durability(self, durability)

    cdef int _mark_unsynced(self) except -1:
        return _mm_mark_unsynced(self)

    cdef int _sync_all(self) except -1:
        return _mm_sync_all(self)

    cdef int _durability_detach(self, bint sync) except -1:
        return _mm_durability_detach(self, sync)

    def sync(self):
        """Make everything committed so far durable (at durability "power" it
        already is; at "process" this is what makes it so)."""
        return _mm_sync(self)

    @property
    def journal(self):
        """None, or what the pool's journal holds and has done in this
        process (_journal.pxi): offset, capacity, used, records,
        checkpoints, spills, syncs."""
        return _mm_journal_info(self)

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

    # -- transactions: _transactions.pxi -----------------------------------------

    cdef int begin(self) except -1:
        return _mm_begin(self)

    cdef int _begin_outermost(self, long me) except -1:
        return _mm_begin_outermost(self, me)

    cdef int _free_orphans(self) except -1:
        return _mm_free_orphans(self)

    cdef int end(self, bint ok) except -1:
        return _mm_end(self, ok)

    cdef _rollback_volatile(self):
        return _mm_rollback_volatile(self)

    cdef int writable(self) except -1:
        return _mm_writable(self)

    cdef int doom(self, int err) except -1:
        return _mm_doom(self, err)

    cdef int fail(self, int err, str what) except -1:
        return _mm_fail(self, err, what)

    cdef int snapshot(self, const void *p, size_t n) except -1:
        return _mm_snapshot(self, p, n)

    cdef int add_fresh(self, const void *p, size_t n) except -1:
        return _mm_add_fresh(self, p, n)

    cdef uint64_t alloc(self, size_t n, uint64_t type_num, bint zero) except 0:
        return _mm_alloc(self, n, type_num, zero)

    cdef int free(self, uint64_t off) except -1:
        return _mm_free(self, off)

    cdef uint64_t realloc_raw(self, uint64_t off, size_t n, uint64_t type_num, bint zero) except 0:
        return _mm_realloc_raw(self, off, n, type_num, zero)

    # -- reference counts: _refcounts.pxi ----------------------------------------

    cdef int incref(self, uint64_t off) except -1:
        return _mm_incref(self, off)

    cdef int decref(self, uint64_t off) except -1:
        return _mm_decref(self, off)

    cdef int _deallocate(self, uint64_t off, OffStack *st) except -1:
        return _mm_deallocate(self, off, st)

    cdef _invalidate_proxy(self, uint64_t off):
        return _mm_invalidate_proxy(self, off)

    # -- values in slots: _values.pxi --------------------------------------------

    cdef int init_slot(self, pyp_slot_t *dst, object v) except -1:
        return _mm_init_slot(self, dst, v)

    cdef int store(self, pyp_slot_t *dst, object v) except -1:
        return _mm_store(self, dst, v)

    cdef int clear_slot(self, pyp_slot_t *dst) except -1:
        return _mm_clear_slot(self, dst)

    cdef int release_slot(self, pyp_slot_t s) except -1:
        return _mm_release_slot(self, s)

    cdef object load(self, const pyp_slot_t *s):
        return _mm_load(self, s)

    cdef uint64_t _persist_ref(self, object v) except 0:
        return _mm_persist_ref(self, v)

    cdef uint64_t _new_bytes(self, uint64_t tid, bytes data) except 0:
        return _mm_new_bytes(self, tid, data)

    cdef uint64_t _new_bigint(self, object v) except 0:
        return _mm_new_bigint(self, v)

    cdef uint64_t _new_seq(self, uint64_t tid, object items) except 0:
        return _mm_new_seq(self, tid, items)

    cdef uint64_t _off_of(self, object oid) except? 0:
        return _mm_off_of(self, oid)

    cdef object oid_of(self, uint64_t off):
        return _mm_oid_of(self, off)

    cdef object resurrect_off(self, uint64_t off):
        return _mm_resurrect_off(self, off)

    cdef object _resurrect_class(self, uint64_t off, uint64_t tid):
        return _mm_resurrect_class(self, off, tid)

    # -- stable hashing and comparison: _values.pxi ------------------------------

    cdef int64_t hash_of(self, object v) except? -1:
        return _mm_hash_of(self, v)

    cdef int slot_eq(self, const pyp_slot_t *s, object v) except -1:
        return _mm_slot_eq(self, s, v)

    # -- the type table: _types.pxi ----------------------------------------------

    cdef Py_ssize_t _persistent_type_count(self):
        return _mm_persistent_type_count(self)

    cdef _load_type_table(self):
        return _mm_load_type_table(self)

    cdef uint64_t type_id_of(self, type cls) except 0:
        return _mm_type_id_of(self, cls)

    cdef Py_ssize_t _add_type_name(self, str name) except -1:
        return _mm_add_type_name(self, name)

    cdef object class_of(self, uint64_t tid):
        return _mm_class_of(self, tid)

    cdef size_t _traverse_fn(self, uint64_t tid) except? 0:
        return _mm_traverse_fn(self, tid)

    # -- persistent objects: _types.pxi ------------------------------------------

    cdef uint64_t new_object(self, type cls, size_t n) except 0:
        return _mm_new_object(self, cls, n)

    cdef int adopt(self, object proxy, uint64_t off) except -1:
        return _mm_adopt(self, proxy, off)

    # -- traversal (gc, deallocation, the Persistent protocol): _types.pxi -------

    cdef int _traverse_value(self, uint64_t off, uint64_t tid, visit_fn visit, void *ctx) except -1:
        return _mm_traverse_value(self, off, tid, visit, ctx)

    cdef int traverse(self, uint64_t off, visit_fn visit, void *ctx) except -1:
        return _mm_traverse(self, off, visit, ctx)

    cdef object _as_oid(self, object oid):
        return _mm_as_oid(self, oid)

    # -- gc: _gc.pxi -------------------------------------------------------------

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
        return _mm_gc(self, dry_run, proxy_roots)

    # -- the incremental collector: _collect.pxi ---------------------------------

    def _collect(self, bint closing=False):
        """Free the recorded orphans and the garbage cycles reachable from the
        recorded candidates (trial deletion): a cost that follows what changed,
        not the heap.  With closing, proxies keep nothing alive."""
        return _mm_collect(self, closing)

    def _recover(self):
        """After an unclean close: the incremental collection, or the full one
        where the pool's flags or a damaged record ask for it."""
        return _mm_recover(self)

    def _records(self):
        """The collector's records as the pool holds them: (orphans, candidates, flags)."""
        self.check()
        return (sorted(_replay(self, self.rootp.orphans)), sorted(_replay(self, self.rootp.candidates)),
                self.rootp.flags)

    def _mirrors(self):
        """The records as this process keeps them (tests compare them with _records())."""
        return sorted(self.rec_orphans), sorted(self.rec_candidates), self.rec_stale

    def _record_blocks(self):
        """Offsets of the two record blocks (0: none yet), for tests."""
        self.check()
        return self.rootp.orphans, self.rootp.candidates

    @property
    def needs_full_gc(self):
        """The records cannot be trusted (damaged), or a flag asks for the full collector."""
        self.check()
        return bool(self.records_bad or self.rootp.flags or
                    (_deferring and _committed_deferred.get(_key(self))))

    def _queued_orphan_types(self):
        """{offset: type name} of the queued orphans the next begin() frees (as _free_orphans picks them)."""
        return _mm_queued_orphan_types(self)

    cdef str _type_name(self, uint64_t tid):
        return _mm_type_name(self, tid)

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
        return self.oid_of(_by_hand(self, self.alloc(size, type_num, False)))

    def zalloc(self, size_t size, uint64_t type_num=PYP_TYPE_NUM_OBJECT):
        """Allocate *size* zeroed bytes inside the current transaction; return the oid."""
        self.check()
        return self.oid_of(_by_hand(self, self.alloc(size, type_num, True)))

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
            return self.oid_of(_by_hand(self, self.alloc(size, PYP_TYPE_NUM_OBJECT if type_num is None
                                                         else type_num, zero)))
        tn = pmemobj_type_num(pyp_oid(self.uuid_lo, off))
        if type_num is not None and type_num != tn:
            raise TypeError(f"type_num {type_num} does not match the type number {tn} of oid {oid!r}")
        return self.oid_of(_by_hand(self, self.realloc_raw(off, size, tn, zero)))

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
                if h.refcount == 0:
                    _note_zero(self, off)
            else:
                off = self.alloc(sizeof(pyp_box_t), PYP_TYPE_NUM_OBJECT, False)
                (<pyp_box_t *>(self.base + off)).h.refcount = 0
                (<pyp_box_t *>(self.base + off)).h.type_id = PYP_T_BOX
                (<pyp_box_t *>(self.base + off)).value = s
                _note_zero(self, off)
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
