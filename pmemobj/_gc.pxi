# The full collector: walk the heap (in a thread that may be given up), mark
# from the root, the type table and live proxies, repair counts, free the rest
# in batches.  Also the structural check of a pool (a dry run).
# (included by _core.pyx)


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

cdef _gc_drain(MemoryManager mm, GcState *g, dict unknown):
    cdef uint64_t off
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


cdef _gc_mark(MemoryManager mm, GcState *g, bint proxy_roots, dict unknown, list held):
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
    idx = _find(g, mm.rootp.journal) if mm.rootp.journal else -1
    if idx >= 0:
        g.marks[idx] = 2            # the journal (_journal.pxi)
    for off in (mm.rootp.orphans, mm.rootp.candidates):
        idx = _find(g, off) if off else -1
        if idx >= 0:
            g.marks[idx] = 3        # the collector's records (a damaged field: rebuilt afterwards)
    _gc_drain(mm, g, unknown)
    # what only Python holds (the collector's records name it afterwards)
    for off, ref in (list(mm.proxies.items()) if proxy_roots else ()):
        if ref() is not None:
            idx = _find(g, off)
            if idx >= 0 and not g.marks[idx]:
                g.marks[idx] = 1
                held.append(off)
                stack_push(&g.stack, off)
    _gc_drain(mm, g, unknown)
    if g.dangling:
        raise InvalidPoolError(EINVAL, f"damaged pool: {g.dangling} reference(s) to memory that is not "
                               f"allocated; gc refused to free anything", mm.filename)

cdef dict _gc_sweep(MemoryManager mm, GcState *g, bint dry_run, list zero):
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
            if g.marks[i] == 3:
                continue        # the collector's records: kept, and not counted
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
                if h != NULL and g.counts[i] == 0 and g.marks[i] == 1:
                    zero.append(g.allocs[i].off)
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
                if stop < n_todo:
                    # a crash between these transactions leaves garbage no record names
                    _set_flags(mm, mm.rootp.flags | PYP_FLAG_SWEEPING)
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


cdef _mm_gc(MemoryManager self, bint dry_run=False, bint proxy_roots=True):
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
    held = []
    zero = []
    try:
        _gc_enumerate(self, &g)
        _gc_mark(self, &g, proxy_roots, unknown, held)
        result = _gc_sweep(self, &g, dry_run, zero)
        if not dry_run:
            try:
                _rebuild_records(self, zero, held)
            except PoolFullError:
                pass        # the sweep's transactions kept them exact; only the rebuild's tidying is lost
        result["orphans_freed"] = orphans_freed
        result["full"] = True
        if dry_run:
            result["unknown_classes"] = unknown
        return result
    finally:
        c_free(g.allocs)
        c_free(g.marks)
        c_free(g.counts)
        c_free(g.stack.items)


cdef _mm_queued_orphan_types(MemoryManager self):
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
