# Reference counts: incref, decref and the deallocation of an object whose
# count reaches 0 (without recursion: a C stack of offsets).
# (included by _core.pyx)


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
        if mm.freed_log is not None:
            _log_freed(mm, off, '<raw>')
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
    _note_root(mm, off, h.type_id)
    return 0


cdef int _mm_incref(MemoryManager self, uint64_t off) except -1:
    cdef pyp_header_t *h = <pyp_header_t *>self.obj(off, HEADER)
    self.snapshot(&h.refcount, 8)
    if h.refcount == 0:
        _note_linked(self, off, h.type_id)    # linked: possibly into a cycle nothing else holds
        if self.rec_orphans and off in self.rec_orphans:
            # an orphan of an earlier transaction, linked: it may close a cycle
            # with what it holds (which its record covered until now)
            _note_zero(self, off)             # (reconciled: no longer at 0, no longer an orphan)
            _note_root(self, off, h.type_id)
    h.refcount += 1
    return 0


cdef int _mm_decref(MemoryManager self, uint64_t off) except -1:
    cdef OffStack st
    cdef pyp_header_t *h = <pyp_header_t *>self.obj(off, HEADER)
    if h.refcount == 0:
        raise InvalidPoolError(EINVAL, f"damaged pool: reference count underflow at 0x{off:x}", self.filename)
    if h.refcount != 1:
        self.snapshot(&h.refcount, 8)
        h.refcount -= 1
        _note_root(self, off, h.type_id)
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


cdef int _mm_deallocate(MemoryManager self, uint64_t off, OffStack *st) except -1:
    """Free an object whose count reached 0; children whose count reaches 0 go on `st`."""
    cdef pyp_header_t *h = <pyp_header_t *>self.obj(off, HEADER)
    cdef uint64_t tid = h.type_id
    cdef DeallocCtx ctx
    ctx.mm = <void *>self
    ctx.stack = st
    ctx.off = off
    if tid >= PYP_T_FIRST_CLASS and not self.closing:
        ref = self.proxies.get(off)
        if ref is not None and ref() is not None:
            # Python still holds it (e.g. the value lst.pop() returns): it lives on
            # with count 0, like a new object, recorded as an orphan.
            if h.refcount != 0:         # left at 1 by the decref that released it
                self.snapshot(&h.refcount, 8)
                h.refcount = 0
            _note_zero(self, off)
            return 0
    # The count of a freed object stays 1 (see decref): a damaged count that is
    # too low would free it again in this transaction, which libpmemobj does not refuse.
    if self.tx_released is None:
        self.tx_released = set()
    elif off in self.tx_released:
        raise InvalidPoolError(EINVAL, f"damaged pool: reference count too low at 0x{off:x} "
                               f"(freed twice)", self.filename)
    self.tx_released.add(off)
    if self.freed_log is not None:
        _log_freed(self, off, self._type_name(tid))
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


cdef _mm_invalidate_proxy(MemoryManager self, uint64_t off):
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
