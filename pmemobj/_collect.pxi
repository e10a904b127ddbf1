# The incremental collector: garbage found from what changed, not from the heap.
#
# Reference counts free acyclic garbage at once.  What is left for a collector
# is (a) objects at count 0 that a proxy kept alive (a new object never linked,
# a popped value), and (b) cycles.  The pool keeps two records in its root,
# exact after every commit:
#   - orphans: every object at count 0 (as filesystems keep orphan inodes);
#   - candidates: every container whose count changed to a non-zero value, the
#     possible roots of a garbage cycle (Bacon and Rajan's synchronous cycle
#     collection, which CPython's gc resembles).
# A transaction notes such objects in volatile sets; just before its commit,
# _reconcile writes the difference into the records, inside the transaction:
# a crash leaves records that match the committed state.  close() and the
# recovery of a crashed pool free the orphans and run trial deletion on the
# subgraphs reachable from the candidates: their cost follows what changed.
# The full mark-and-sweep (_gc.pxi) stays for damaged pools, for pools whose
# flags ask for it, and as the check of this one.
# (included by _core.pyx)


DEF REC_ORPHANS = 1
DEF REC_CANDIDATES = 2
DEF REC_MIN = 32                # entries of a new record
DEF REC_BULK = 32               # removals beyond which a transaction leaves the records stale
DEF REC_MAX = 2046              # entries of the largest record block (16 KiB, the largest class
                                # of _heap.pxi: what a fragmented heap still serves)


cdef inline bint _may_hold_refs(uint64_t tid) noexcept:
    return tid >= PYP_T_FIRST_CLASS or tid == PYP_T_TUPLE or tid == PYP_T_FROZENSET or tid == PYP_T_BOX


# ---------------------------------------------------------------------------
# Notes, taken on the paths that change counts (cheap: a set add at most)

cdef inline int _note_zero(MemoryManager mm, uint64_t off) except -1:
    """The object at `off` is at count 0 and allocated (new, or kept by a proxy)."""
    if mm.tx_zero is None:
        mm.tx_zero = set()
    mm.tx_zero.add(off)
    return 0


cdef inline int _note_root(MemoryManager mm, uint64_t off, uint64_t tid) except -1:
    """The count of the object at `off` changed to a non-zero value."""
    if mm.collecting or not _may_hold_refs(tid):
        return 0
    if mm.rec_candidates and off in mm.rec_candidates and \
            (mm.tx_unrecord is None or off not in mm.tx_unrecord):
        return 0                    # (an offset freed in this transaction names a new object now)
    if mm.tx_roots is None:
        mm.tx_roots = set()
    mm.tx_roots.add(off)
    return 0


cdef inline int _note_linked(MemoryManager mm, uint64_t off, uint64_t tid) except -1:
    """The count of the object at `off` rose from 0 (or it is a new tuple holding
    containers): if what holds it is new too, they may form a cycle nothing
    else holds (checked at the commit, _unheld_linked)."""
    if mm.collecting or not _may_hold_refs(tid):
        return 0
    if mm.tx_linked is None:
        mm.tx_linked = set()
    mm.tx_linked.add(off)
    return 0


cdef int _note_new_seq(MemoryManager mm, uint64_t off) except -1:
    """A new tuple or frozenset: one that holds a container may close a cycle with it."""
    cdef pyp_seq_t *s = <pyp_seq_t *>(mm.base + off)
    cdef uint64_t i
    for i in range(s.size):
        if s.items[i].tag == PYP_TAG_REF and \
                _may_hold_refs((<pyp_header_t *>mm.obj(s.items[i].payload, HEADER)).type_id):
            return _note_linked(mm, off, s.h.type_id)
    return 0


cdef inline int _note_free(MemoryManager mm, uint64_t off) except -1:
    """The block at `off` is freed: nothing noted of it stands any more."""
    if mm.tx_zero is not None:
        mm.tx_zero.discard(off)
    if mm.tx_roots is not None:
        mm.tx_roots.discard(off)
    if mm.tx_linked is not None:
        mm.tx_linked.discard(off)
    if (mm.rec_orphans and off in mm.rec_orphans) or (mm.rec_candidates and off in mm.rec_candidates):
        if mm.tx_unrecord is None:
            mm.tx_unrecord = set()
            _rec_prepare(mm)
        mm.tx_unrecord.add(off)
    return 0


cdef inline bint _has_notes(MemoryManager mm) noexcept:
    return (mm.tx_zero is not None or mm.tx_roots is not None or mm.tx_unrecord is not None
            or mm.tx_linked is not None)


cdef inline void _drop_notes(MemoryManager mm) noexcept:
    mm.tx_zero = None
    mm.tx_roots = None
    mm.tx_unrecord = None
    mm.tx_linked = None


# ---------------------------------------------------------------------------
# The records: pyp_offsets_t blocks named by the root, mirrored by dicts

cdef inline uint64_t *_rec_field(MemoryManager mm, int which) noexcept:
    return &mm.rootp.orphans if which == REC_ORPHANS else &mm.rootp.candidates


cdef inline dict _rec_mirror(MemoryManager mm, int which):
    return mm.rec_orphans if which == REC_ORPHANS else mm.rec_candidates


cdef pyp_offsets_t *_rec_block(MemoryManager mm, uint64_t off) except NULL:
    cdef pyp_offsets_t *r = <pyp_offsets_t *>mm.obj(off, PYP_OFFSETS_OFFS)
    if r.count > r.capacity or PYP_OFFSETS_OFFS + 8 * r.capacity > mm.usable_size(off):
        raise InvalidPoolError(EINVAL, f"damaged pool: the collector's record at 0x{off:x} overruns "
                               f"its block", mm.filename)
    return r


cdef int _rec_prepare(MemoryManager mm) except -1:
    """Snapshot the records' headers and the flags once in this transaction,
    early (at the first free of a recorded object): in a full pool the log may
    have no room left by the commit, and after this nothing the records need
    takes more log (appends are fresh bytes past the count)."""
    cdef uint64_t off
    if mm.rec_prepared:
        return 0
    mm.rec_prepared = True
    mm.rec_dirty = True
    mm.snapshot(&mm.rootp.flags, 8)
    for off in (mm.rootp.orphans, mm.rootp.candidates):
        if off:
            mm.snapshot(_rec_block(mm, off), PYP_OFFSETS_OFFS)
    return 0


cdef bint _rec_append(MemoryManager mm, int which, uint64_t word) except -1:
    """Append +off (an entry) or off|1 (it goes) to a record; False when its
    block is full (the caller writes the record anew, or leaves it stale)."""
    cdef uint64_t off = _rec_field(mm, which)[0]
    cdef pyp_offsets_t *r
    if off == 0:
        return False
    r = _rec_block(mm, off)
    if r.count >= r.capacity:
        return False
    _rec_prepare(mm)
    mm.add_fresh(&r.offs[r.count], 8)
    r.offs[r.count] = word
    r.count += 1
    return True


cdef bint _rec_rewrite(MemoryManager mm, int which) except -1:
    """Write a record anew from its mirror, in a fresh block (no undo log but
    for the root's field); the old block is freed.  False when the mirror
    holds more than a block can (the records then stay stale)."""
    cdef uint64_t *field = _rec_field(mm, which)
    cdef uint64_t new, cap, i = 0
    cdef pyp_offsets_t *r
    mirror = _rec_mirror(mm, which)
    if len(mirror) > REC_MAX:
        return False
    mm.rec_dirty = True
    if not mirror:                  # empty: no block at all (nothing to allocate in a full pool)
        if field[0]:
            _rec_drop_block(mm, field)
        return True
    cap = min(max(<uint64_t>REC_MIN, 2 * <uint64_t>len(mirror)), <uint64_t>REC_MAX)
    new = mm.alloc(PYP_OFFSETS_OFFS + 8 * cap, PYP_TYPE_NUM_RAW, False)
    r = <pyp_offsets_t *>(mm.base + new)
    mm.add_fresh(r, PYP_OFFSETS_OFFS + 8 * len(mirror))
    r.capacity = cap
    r.count = len(mirror)
    for off in mirror:
        r.offs[i] = off
        i += 1
    if field[0]:
        _rec_drop_block(mm, field)
    mm.snapshot(field, 8)
    field[0] = new
    return True


cdef int _rec_drop_block(MemoryManager mm, uint64_t *field) except -1:
    try:
        mm.usable_size(field[0])    # checks the block first: a damaged field is left alone
    except InvalidPoolError:
        pass
    else:
        mm.free(field[0])
    mm.snapshot(field, 8)
    field[0] = 0
    return 0


cdef int _rec_add(MemoryManager mm, int which, uint64_t off) except -1:
    _rec_mirror(mm, which)[off] = None
    if not mm.rec_stale and not _rec_append(mm, which, off) and not _rec_rewrite(mm, which):
        _go_stale(mm)               # more than a block holds: close() and the next open walk the heap
    return 0


cdef int _rec_remove(MemoryManager mm, int which, uint64_t off) except -1:
    _rec_mirror(mm, which).pop(off)
    if not mm.rec_stale and not _rec_append(mm, which, off | 1):
        _go_stale(mm)
    return 0


cdef int _go_stale(MemoryManager mm) except -1:
    """The records stop following this transaction (a block is full, and a
    full pool may have no room for a new one): a flag says so, and they are
    written anew from the mirrors right after the commit (_compact_records); a
    crash before that leaves the flag, and the next open runs the full collector."""
    _rec_prepare(mm)
    mm.rootp.flags |= PYP_FLAG_STALE
    mm.rec_stale = True
    return 0


cdef _compact_records(MemoryManager mm):
    """After a commit that left the records stale, or whose tombstones make them
    long: write them anew from the mirrors, in a transaction of their own."""
    if len(mm.rec_orphans) > REC_MAX or len(mm.rec_candidates) > REC_MAX:
        return                      # still more than a block holds: stale they stay
    mm.begin()
    try:
        _rec_rewrite(mm, REC_ORPHANS)
        _rec_rewrite(mm, REC_CANDIDATES)
        _set_flags(mm, mm.rootp.flags & ~PYP_FLAG_STALE)
        _drop_notes(mm)
    except BaseException:
        mm.end(False)
        raise
    mm.rec_stale = False
    mm.end(True)


cdef int _rec_clear(MemoryManager mm, int which) except -1:
    """Empty a record: a new block, not a count set to 0, because the slots past
    the count are written without undo log (appends) and must never hold what the
    transaction started with."""
    _rec_mirror(mm, which).clear()
    if _rec_field(mm, which)[0]:
        _rec_rewrite(mm, which)
    return 0


cdef dict _replay(MemoryManager mm, uint64_t off):
    """The offsets a record names: its entries, less those a later tombstone removes."""
    cdef pyp_offsets_t *r
    cdef uint64_t i, word
    mirror = {}
    if off == 0:
        return mirror
    r = _rec_block(mm, off)
    for i in range(r.count):
        word = r.offs[i]
        mm.ptr(word & ~(<uint64_t>1), HEADER)
        if word & 1:
            mirror.pop(word & ~(<uint64_t>1), None)
        else:
            mirror[word] = None
    return mirror


cdef _load_records(MemoryManager mm):
    """Replay the records into their mirrors (at open, and after a rollback that
    undid what a transaction wrote).  A record that cannot be read, or one the
    flags call stale, is not trusted: the pool needs the full collector."""
    cdef pyp_offsets_t *r
    cdef uint64_t i, off, word
    mm.rec_orphans = {}
    mm.rec_candidates = {}
    mm.records_bad = False
    mm.rec_stale = False
    if mm.rootp.flags & PYP_FLAG_STALE:
        mm.records_bad = True       # they name freed blocks: the full collector rebuilds them
        return
    try:
        mm.rec_orphans = _replay(mm, mm.rootp.orphans)
        mm.rec_candidates = _replay(mm, mm.rootp.candidates)
    except InvalidPoolError:
        mm.rec_orphans = {}
        mm.rec_candidates = {}
        mm.records_bad = True


cdef int _reconcile(MemoryManager mm) except -1:
    """Just before the commit, inside the transaction: make the records say what
    the transaction leaves (recorded objects freed go; objects at count 0 join the
    orphans; containers that may be the root of a garbage cycle join the candidates)."""
    cdef pyp_header_t *h
    unrecord, zero, roots, linked = mm.tx_unrecord, mm.tx_zero, mm.tx_roots, mm.tx_linked
    _drop_notes(mm)
    if mm.records_bad:
        return 0                # the next open runs the full collector, which rebuilds them
    if linked:
        unheld = _unheld_linked(mm, linked)
        if unheld:
            if roots is None:
                roots = set()
            roots.update(unheld)
    if unrecord:
        if len(unrecord) > REC_BULK:
            _go_stale(mm)       # a big structure freed: one rewrite after the commit
        for off in unrecord:
            if off in mm.rec_orphans:
                _rec_remove(mm, REC_ORPHANS, off)
            if off in mm.rec_candidates:
                _rec_remove(mm, REC_CANDIDATES, off)
    if zero:
        for off in zero:
            h = <pyp_header_t *>mm.obj(off, HEADER)
            if h.refcount == 0:
                if off not in mm.rec_orphans:
                    _rec_add(mm, REC_ORPHANS, off)
            elif off in mm.rec_orphans:
                _rec_remove(mm, REC_ORPHANS, off)
    if roots:
        for off in roots:
            h = <pyp_header_t *>mm.obj(off, HEADER)
            if h.refcount == 0:
                continue            # at 0 again: noted as such (or freed)
            if off in mm.rec_orphans:
                _rec_remove(mm, REC_ORPHANS, off)
            if off not in mm.rec_candidates:
                _rec_add(mm, REC_CANDIDATES, off)
    # anything these writes noted (a record's old block freed) is not the user's
    _drop_notes(mm)
    return 0


cdef int _count_inner(void *ctx, uint64_t off, int kind) except -1:
    cdef _Scan s = <_Scan>ctx
    if kind == VISIT_REF:
        i = s.index.get(off)
        if i is not None:
            s.inner[i] += 1
    return 0


cdef struct SelfRefs:
    uint64_t off
    uint64_t n


cdef int _count_self(void *ctx, uint64_t off, int kind) except -1:
    cdef SelfRefs *c = <SelfRefs *>ctx
    if kind == VISIT_REF and off == c.off:
        c.n += 1
    return 0


cdef list _unheld_linked(MemoryManager mm, set linked):
    """Of the containers this transaction linked from count 0, those no object
    outside them holds (directly or through the others): a cycle of new objects
    that only Python may hold.  They become candidates; the rest, held by
    something that was there before, do not (trial deletion on this small set)."""
    cdef _Scan s
    cdef pyp_header_t *h
    cdef Py_ssize_t i, n
    cdef SelfRefs one
    if len(linked) == 1:            # the common case (one new container stored): no scan object
        for off in linked:
            one.off = off
            one.n = 0
        h = <pyp_header_t *>mm.obj(one.off, HEADER)
        if h.refcount == 0:
            return []
        mm.traverse(one.off, _count_self, &one)
        return [] if h.refcount > one.n else [one.off]
    s = _Scan(mm)
    for off in linked:
        h = <pyp_header_t *>mm.obj(off, HEADER)
        if h.refcount:
            s.index[off] = len(s.offs)
            s.offs.append(off)
            s.inner.append(0)
    n = len(s.offs)
    if n == 0:
        return []
    for off in s.offs:
        mm.traverse(off, _count_inner, <void *>s)
    s.live = bytearray(n)
    for i in range(n):
        if (<pyp_header_t *>(mm.base + <uint64_t>s.offs[i])).refcount > <uint64_t>s.inner[i]:
            s.live[i] = 1
            s.stack.append(s.offs[i])
    while s.stack:
        mm.traverse(s.stack.pop(), _live_visit, <void *>s)
    return [s.offs[i] for i in range(n) if not s.live[i]]


cdef int _set_flags(MemoryManager mm, uint64_t flags) except -1:
    """Inside a transaction: set the pool's collector flags to `flags`."""
    if mm.rootp.flags != flags:
        mm.snapshot(&mm.rootp.flags, 8)
        mm.rootp.flags = flags
    return 0


cdef _flag_in_own_tx(MemoryManager mm, uint64_t flag, bint on):
    mm.begin()
    try:
        _set_flags(mm, (mm.rootp.flags | flag) if on else (mm.rootp.flags & ~flag))
    except BaseException:
        mm.end(False)
        raise
    mm.end(True)


cdef uint64_t _by_hand(MemoryManager mm, uint64_t off) except 0:
    """A block allocated through the Python API: no count says whether anything
    holds it, so this pool's next collection is the full walk."""
    if not (mm.rootp.flags & PYP_FLAG_BY_HAND):
        _set_flags(mm, mm.rootp.flags | PYP_FLAG_BY_HAND)
    return off


# ---------------------------------------------------------------------------
# Trial deletion over the subgraphs reachable from the candidates

cdef class _Scan:
    """The subgraph a collection looks at: containers by offset, with how many
    references each gets from inside it."""
    cdef MemoryManager mm
    cdef dict index             # off -> position
    cdef list offs
    cdef list inner             # references from inside the subgraph
    cdef list stack
    cdef bytearray live         # 1: reachable from outside the subgraph
    cdef set garbage

    def __cinit__(self, MemoryManager mm):
        self.mm = mm
        self.index = {}
        self.offs = []
        self.inner = []
        self.stack = []


cdef int _scan_visit(void *ctx, uint64_t off, int kind) except -1:
    cdef _Scan s = <_Scan>ctx
    cdef pyp_header_t *h
    if kind != VISIT_REF:
        return 0
    h = <pyp_header_t *>s.mm.obj(off, HEADER)
    if not _may_hold_refs(h.type_id):
        return 0                    # a leaf: never part of a cycle
    i = s.index.get(off)
    if i is None:
        s.index[off] = len(s.offs)
        s.offs.append(off)
        s.inner.append(1)
        s.stack.append(off)
    else:
        s.inner[i] += 1
    return 0


cdef int _live_visit(void *ctx, uint64_t off, int kind) except -1:
    cdef _Scan s = <_Scan>ctx
    if kind != VISIT_REF:
        return 0
    i = s.index.get(off)
    if i is not None and not s.live[i]:
        s.live[i] = 1
        s.stack.append(off)
    return 0


cdef int _garbage_visit(void *ctx, uint64_t off, int kind) except -1:
    """Freeing a garbage container: what it owns goes, what it references outside the garbage loses a reference."""
    cdef _Scan s = <_Scan>ctx
    if kind == VISIT_RAW:
        _log_freed(s.mm, off, '<raw>')
        s.mm.free(off)
    elif off not in s.garbage:
        s.mm.decref(off)
    return 0


cdef _scan(MemoryManager mm, list candidates, bint closing):
    """The subgraph reachable from `candidates`; its live part marked."""
    cdef _Scan s = _Scan(mm)
    cdef pyp_header_t *h
    cdef Py_ssize_t i, n
    for off in candidates:
        h = <pyp_header_t *>mm.obj(off, HEADER)
        if h.refcount and _may_hold_refs(h.type_id) and off not in s.index:
            s.index[off] = len(s.offs)
            s.offs.append(off)
            s.inner.append(0)
            s.stack.append(off)
    unknown = set()
    while s.stack:
        off = s.stack.pop()
        try:
            mm.traverse(off, _scan_visit, <void *>s)
        except UnknownClassError:
            unknown.add(off)        # its references cannot be read: kept, and what it holds with it
    n = len(s.offs)
    s.live = bytearray(n)
    for i in range(n):
        off = s.offs[i]
        h = <pyp_header_t *>(mm.base + <uint64_t>off)
        if h.refcount < <uint64_t>s.inner[i]:
            raise InvalidPoolError(EINVAL, f"damaged pool: reference count too low at 0x{off:x} "
                                   f"({h.refcount} for {s.inner[i]} references)", mm.filename)
        if h.refcount > <uint64_t>s.inner[i] or off in unknown:
            s.live[i] = 1
            s.stack.append(off)
    held = []                       # live only because Python holds them: still candidates
    if not closing:
        for i in range(n):
            if not s.live[i]:
                ref = mm.proxies.get(s.offs[i])
                if ref is not None and ref() is not None:
                    held.append(s.offs[i])
    while s.stack:
        mm.traverse(s.stack.pop(), _live_visit, <void *>s)
    if held:
        for off in held:
            i = s.index[off]
            if not s.live[i]:
                s.live[i] = 1
                s.stack.append(off)
        while s.stack:
            mm.traverse(s.stack.pop(), _live_visit, <void *>s)
    s.garbage = {s.offs[i] for i in range(n) if not s.live[i]}
    return s, held


cdef int _log_freed(MemoryManager mm, uint64_t off, str name) except -1:
    """During a collection: count what freeing its garbage frees in turn."""
    entry = mm.freed_log.get(name)
    if entry is None:
        entry = mm.freed_log[name] = [0, 0]
    entry[0] += 1
    entry[1] += mm.usable_size(off)
    return 0


cdef dict _mm_collect(MemoryManager mm, bint closing):
    mm.freed_log = {}
    try:
        return _collect(mm, closing)
    finally:
        mm.freed_log = None


cdef dict _collect(MemoryManager mm, bint closing):
    """Free the recorded orphans and the garbage cycles among the candidates'
    subgraphs.  `closing`: proxies keep nothing alive (they die with the pool)."""
    cdef OffStack st
    cdef pyp_header_t *h
    cdef _Scan s
    mm.check()
    if mm.owner != 0:
        raise TransactionError("gc cannot run inside a transaction")
    report = {"kept": {}, "freed": {}, "freed_count0": {}, "orphans_freed": {}, "kept_bytes": 0,
              "freed_bytes": 0, "refcounts_fixed": 0, "full": False}
    if mm.records_bad or mm.rootp.flags:
        raise InvalidPoolError(EINVAL, "the collector's records cannot be trusted here", mm.filename)
    if mm.orphans:                  # whose proxies died: freed the ordinary way (begin does it)
        queued = mm._queued_orphan_types()
        mm.begin()
        mm.end(True)
        for off, name in queued.items():
            if off not in mm.orphans:
                report["orphans_freed"][name] = report["orphans_freed"].get(name, 0) + 1
        mm.freed_log = {}           # reported apart, as the full collector does
    if _deferring:
        _free_deferred(mm)
    # the orphans (objects at count 0)
    todo = []
    for off in mm.rec_orphans:
        if not closing:
            ref = mm.proxies.get(off)
            if ref is not None and ref() is not None:
                continue
        todo.append(off)
    if todo:
        mm.begin()
        mm.closing = closing
        st.items = NULL
        st.n = st.cap = 0
        try:
            for off in todo:
                h = <pyp_header_t *>mm.obj(off, HEADER)
                if h.refcount != 0 or (mm.tx_released is not None and off in mm.tx_released):
                    continue
                name = mm._type_name(h.type_id)
                report["freed_count0"][name] = report["freed_count0"].get(name, 0) + 1
                stack_push(&st, off)
                while st.n:
                    st.n -= 1
                    mm._deallocate(st.items[st.n], &st)
        except BaseException:
            mm.closing = False
            mm.end(False)
            raise
        finally:
            c_free(st.items)
        mm.closing = False
        mm.end(True)
    # the cycles
    candidates = list(mm.rec_candidates)
    report["candidates"] = len(candidates)
    report["scanned"] = 0
    if candidates:
        s, held = _scan(mm, candidates, closing)
        report["scanned"] = len(s.offs)
        for i in range(len(s.offs)):
            off = s.offs[i]
            part = "kept" if s.live[i] else "freed"
            name = mm._type_name((<pyp_header_t *>(mm.base + <uint64_t>off)).type_id)
            report[part][name] = report[part].get(name, 0) + 1
            report[part + "_bytes"] += mm.usable_size(off)
        mm.begin()
        mm.collecting = True
        try:
            _rec_clear(mm, REC_CANDIDATES)
            for off in s.garbage:
                mm.traverse(off, _garbage_visit, <void *>s)
            for off in s.garbage:
                if mm.tx_released is None:
                    mm.tx_released = set()
                mm.tx_released.add(off)
                mm._invalidate_proxy(off)
                mm.free(off)
            mm.collecting = False
            for off in held:            # Python may still drop them into a cycle's garbage
                _note_root(mm, off, (<pyp_header_t *>(mm.base + <uint64_t>off)).type_id)
        except BaseException:
            mm.collecting = False
            mm.end(False)
            raise
        mm.end(True)
    for name, (k, size) in mm.freed_log.items():       # what freeing them freed in turn
        report["freed"][name] = report["freed"].get(name, 0) + k
        report["freed_bytes"] += size
    report["kept_total"] = sum(report["kept"].values())
    report["freed_total"] = sum(report["freed"].values())
    return report


DEF AUTO_GC_CANDIDATES = 1500       # three quarters of a record block


cdef _auto_collect(MemoryManager mm):
    """After a commit that left many candidates: collect, so that neither the
    record nor its mirror grows without bound in a long-running process.  When
    most stay (Python holds them), wait for twice as many next time."""
    try:
        _mm_collect(mm, False)
    except PoolFullError:
        pass                        # close() or the next open collects
    if len(mm.rec_candidates) > mm.gc_threshold // 2:
        mm.gc_threshold *= 2


cdef dict _mm_recover(MemoryManager mm):
    """After a crash: free what the records name, unless the pool's own state
    asks for the full collector (its flags, or a record that cannot be read)."""
    if mm.records_bad or mm.rootp.flags:
        report = mm._gc(False, False)
        report["full"] = True
        return report
    try:
        return _mm_collect(mm, True)
    except (PoolFullError, InvalidPoolError):
        # a full pool, or counts the trial deletion found wrong: the full walk
        # repairs counts (and refuses real damage itself)
        report = mm._gc(False, False)
        report["full"] = True
        return report


cdef int _rebuild_records(MemoryManager mm, list zero, list held) except -1:
    """After a full collection, in one transaction: the orphans are the objects
    at count 0 it kept (for proxies), the candidates what proxies alone kept;
    no flag stands any more."""
    mm.begin()
    try:
        mm.rec_orphans = dict.fromkeys(zero)
        mm.rec_candidates = {off: None for off in held if off not in mm.rec_orphans and
                             _may_hold_refs((<pyp_header_t *>mm.obj(off, HEADER)).type_id)}
        fits = _rec_rewrite(mm, REC_ORPHANS) and _rec_rewrite(mm, REC_CANDIDATES)
        _set_flags(mm, 0 if fits else PYP_FLAG_STALE)
        _drop_notes(mm)
    except BaseException:
        mm.end(False)
        raise
    mm.records_bad = False
    mm.rec_stale = not fits
    mm.end(True)
    return 0
