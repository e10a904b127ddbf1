# Transactions: the Transaction object users hold, and the memory manager's
# begin/end (flat nesting, the pool lock, the owner thread), snapshots,
# allocation and free inside them.  Every rule of DESIGN.md's "Transactions"
# section is kept here, so that no misuse reaches one of libpmemobj's abort()s.
# (included by _core.pyx)


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


cdef int _mm_begin(MemoryManager self) except -1:
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


cdef int _mm_begin_outermost(MemoryManager self, long me) except -1:
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
    if self.process_level and not self.marked:
        try:
            self._mark_unsynced()
        except BaseException:
            PyThread_release_lock(self.lock)
            raise
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
    self.rec_prepared = False
    return 0


cdef int _mm_free_orphans(MemoryManager self) except -1:
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


cdef int _mm_end(MemoryManager self, bint ok) except -1:
    """Leave one level; the outermost commits, or aborts if anything failed."""
    cdef int rc
    if self.owner != PyThread_get_thread_ident() or self.depth <= 0:
        raise TransactionError("no transaction of this thread to end")
    if not ok and not self.doomed:
        pmemobj_tx_abort(ECANCELED)
        self.doomed = True
        self._rollback_volatile()
    if self.depth == 1 and not self.doomed and _has_notes(self):
        try:
            _reconcile(self)            # the collector's records, in this transaction
        except BaseException:
            self.end(False)
            raise
    self.depth -= 1
    if self.depth > 0:
        return 0
    doomed = self.doomed
    if self.is_pmem:                # cache flushes: quick, keep the GIL
        if not doomed:
            pmemobj_tx_commit()
        rc = pmemobj_tx_end()
    else:                           # msync or the journal: let other threads run meanwhile
        with nogil:
            if not doomed:
                pmemobj_tx_commit()
            rc = pmemobj_tx_end()
            if not doomed:
                pyp_jrnl_commit(self.jslot)     # (an abort's record goes with the next commit)
    if self.recycle_due:
        _recycle_runs(self)             # outside the transaction, the pool lock still held
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
    self.rec_dirty = False
    if _deferring:
        _free_deferred(self)
    if self.rec_stale:
        try:
            _compact_records(self)
        except PoolFullError:
            pass                        # stale until a later commit, close() or the next open
    if len(self.rec_candidates) > self.gc_threshold and self.freed_log is None:
        _auto_collect(self)
    return 0


cdef _mm_rollback_volatile(MemoryManager self):
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
    _drop_notes(self)
    if self.rec_dirty:
        self.rec_dirty = False
        _load_records(self)         # the rollback undid what _reconcile wrote
    if self.tx_orphans:
        self.orphans.update(self.tx_orphans)
        self.tx_orphans = None
    del self.type_names[self._persistent_type_count():]
    del self.type_classes[len(self.type_names):]
    del self.type_traverse[len(self.type_names):]
    self.class_ids = {c: i + PYP_T_FIRST_CLASS for i, c in enumerate(self.type_classes) if c is not None}


cdef int _mm_writable(MemoryManager self) except -1:
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


cdef int _mm_doom(MemoryManager self, int err) except -1:
    """Roll the transaction back now; its levels stay open until their blocks end."""
    if self.owner != PyThread_get_thread_ident() or self.depth <= 0:
        raise TransactionError("no transaction of this thread to abort")
    if not self.doomed:
        pmemobj_tx_abort(err if err else ECANCELED)
        self.doomed = True
        self._rollback_volatile()
    return 0


cdef int _mm_fail(MemoryManager self, int err, str what) except -1:
    """Doom the transaction after a failed libpmemobj call and raise."""
    msg = _errmsg()
    if not self.doomed:
        pmemobj_tx_abort(err if err else ECANCELED)
        self.doomed = True
        self._rollback_volatile()
    if err == ENOMEM:
        raise PoolFullError(_full_message(self, what))
    raise OSError(err, f"{what} failed: {msg}; the transaction was rolled back")


cdef int _mm_snapshot(MemoryManager self, const void *p, size_t n) except -1:
    self.writable()
    if <const char *>p < self.base + POOL_HDR or <const char *>p + n > self.base + self.pool_size:
        raise ValueError("snapshot range lies outside the pool")
    if _fault(FAULT_SNAPSHOT):
        self.fail(ENOMEM, "snapshot (injected fault)")
    if pmemobj_tx_xadd_range_direct(p, n, POBJ_XADD_NO_ABORT) != 0:
        self.fail(errno, f"a snapshot of {n:,} bytes")
    return 0


cdef int _mm_add_fresh(MemoryManager self, const void *p, size_t n) except -1:
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


cdef uint64_t _mm_alloc(MemoryManager self, size_t n, uint64_t type_num, bint zero) except 0:
    self.writable()
    if n == 0 or n > PMEMOBJ_MAX_ALLOC_SIZE:
        raise ValueError(f"cannot allocate {n} bytes (1 to {PMEMOBJ_MAX_ALLOC_SIZE})")
    if _fault(FAULT_ALLOC):
        self.fail(ENOMEM, f"allocation of {n} bytes (injected fault)")
    cdef uint64_t flags = (POBJ_XALLOC_ZERO if zero else 0) | POBJ_XALLOC_NO_ABORT
    cdef PMEMoid oid = pmemobj_tx_xalloc(_request_size(n), type_num, flags | _class_flags(n))
    cdef int err
    if oid.off == 0:
        err = errno or ENOMEM
        if err == ENOMEM:
            self.recycle_due = True     # the heap is tight: _recycle_runs when the transaction ends
            oid = _alloc_in_larger_class(n, type_num, flags)
            if oid.off == 0:
                oid = _alloc_in_any_class(self, n, type_num, flags)
        if oid.off == 0:
            self.fail(err, f"an allocation of {n:,} bytes")
    self.runs_held = True
    if oid.off + n > self.pool_size:
        _mm_grown(self)                 # libpmemobj grew the heap (_growth.pxi)
    if self.tx_released is not None:
        # libpmemobj hands a block allocated and freed in this transaction out
        # again at once: the offset now names a new object, not a freed one
        self.tx_released.discard(oid.off)
    return oid.off


cdef int _mm_free(MemoryManager self, uint64_t off) except -1:
    cdef int rc
    self.writable()
    self.ptr(off, 1)
    if _fault(FAULT_FREE):
        self.fail(ENOMEM, "free (injected fault)")
    _note_free(self, off)
    rc = pmemobj_tx_xfree(pyp_oid(self.uuid_lo, off), POBJ_XFREE_NO_ABORT)
    if rc != 0:
        if rc == ENOMEM and _defer_free(self, off):
            return 0
        self.fail(rc, "free")
    return 0


cdef uint64_t _mm_realloc_raw(MemoryManager self, uint64_t off, size_t n, uint64_t type_num, bint zero) except 0:
    # pmemobj_tx_realloc ignores POBJ_TX_FAILURE_RETURN: alloc + copy + free instead.
    # The new block is zeroed either way: what lies past the bytes asked for
    # before (a block may be larger) must not show another object's old bytes.
    cdef uint64_t old_size = self.usable_size(off) if off else 0
    cdef uint64_t new = self.alloc(n, type_num, True)
    if off:
        memcpy(self.base + new, self.base + off, min(old_size, n))
        self.free(off)
    return new
