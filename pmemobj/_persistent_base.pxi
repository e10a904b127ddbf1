# PersistentBase: the base of the compiled persistent types (a proxy for one object).
# (included by _core.pyx)


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
        ref = mm.proxies.get(off)
        if ref is not None:
            p = ref()
            if p is not None and p is not self:
                # another proxy of the same object is the one the pool keeps (a
                # ptypes byte string hands out a new proxy per read): it stays
                # registered, so close() refuses and gc keeps the object
                return
            del mm.proxies[off]
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
