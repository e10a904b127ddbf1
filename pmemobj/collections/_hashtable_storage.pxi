# Included by _hashtable.pxd: what changes a table (inserting, unlinking,
# rebuilding, growing a larger table by a segment or a bigger index,
# clearing) and the traversal that reports what a table references and the
# blocks it owns.  Layout: include/pyp_hashtable.h.


cdef inline uint64_t ht_log2_for(uint64_t minused) except 0:
    """The smallest index whose usable part holds `minused` entries."""
    cdef uint64_t log2 = PYP_HT_LOG2_MIN
    while PYP_HT_USABLE(log2) < minused:
        log2 += 1
        if log2 > PYP_HT_LOG2_MAX:
            raise MemoryError("hash table too large")
    return log2


cdef inline uint64_t ht_new_index(MemoryManager mm, HT *n, uint64_t log2) except 0:
    """A zeroed index of 2**log2 slots for n (n's pointers set: fresh memory, written raw)."""
    cdef uint64_t nsegs, s, off
    cdef uint64_t *dir
    ht_geometry(n, log2)
    if log2 <= PYP_HT_IX_SEG_SHIFT:
        off = mm.alloc(ix_bytes(log2), PYP_TYPE_NUM_RAW, True)
        n.index = mm.base + off
        n.ixdir = NULL
        return off
    nsegs = (n.mask + 1) >> PYP_HT_IX_SEG_SHIFT
    off = mm.alloc(nsegs * 8, PYP_TYPE_NUM_RAW, False)
    dir = <uint64_t *>(mm.base + off)
    for s in range(nsegs):
        dir[s] = mm.alloc(ix_bytes(log2), PYP_TYPE_NUM_RAW, True)
    n.index = NULL
    n.ixdir = dir
    return off


cdef inline uint64_t ht_new_entries(MemoryManager mm, HT *n, uint64_t log2, uint64_t used,
                                    uint64_t *capacity) except 0:
    """Zeroed entries for n: a small table's array, or a directory and segments
    with room for `used` entries and one more; *capacity receives their number."""
    cdef uint64_t nsegs, s, off
    cdef uint64_t *dir
    if ht_flat(log2):
        capacity[0] = PYP_HT_USABLE(log2)
        off = mm.alloc(capacity[0] * n.stride, PYP_TYPE_NUM_RAW, True)
        n.entries = mm.base + off
        n.endir = NULL
        return off
    nsegs = used // PYP_HT_SEG_ENTRIES + 1
    off = mm.alloc(pow2_at_least(nsegs) * 8, PYP_TYPE_NUM_RAW, True)
    dir = <uint64_t *>(mm.base + off)
    for s in range(nsegs):
        dir[s] = mm.alloc(PYP_HT_SEG_ENTRIES * n.stride, PYP_TYPE_NUM_RAW, True)
    capacity[0] = nsegs * PYP_HT_SEG_ENTRIES
    n.entries = NULL
    n.endir = dir
    return off


cdef inline int ht_free_block(MemoryManager mm, uint64_t off, uint64_t n) except -1:
    mm.obj(off, n)              # libpmemobj must never be asked to free what is not a block
    mm.free(off)
    return 0


cdef inline int ht_free_index(MemoryManager mm, uint64_t log2, uint64_t index) except -1:
    """Free an index (with its segments) of 2**log2 slots."""
    cdef const uint64_t *dir
    cdef uint64_t s, nsegs
    if log2 <= PYP_HT_IX_SEG_SHIFT:
        return ht_free_block(mm, index, ix_bytes(log2))
    nsegs = ((<uint64_t>1) << log2) >> PYP_HT_IX_SEG_SHIFT
    dir = <const uint64_t *>mm.obj(index, nsegs * 8)
    for s in range(nsegs):
        ht_free_block(mm, dir[s], ix_bytes(log2))
    return ht_free_block(mm, index, nsegs * 8)


cdef inline int ht_free_storage(MemoryManager mm, const pyp_ht_t *h, size_t stride) except -1:
    """Free the index and the entries (with their segments) of a table whose
    header is (or was) *h: every block is read before it is freed."""
    cdef const uint64_t *dir
    cdef uint64_t s, nsegs
    ht_free_index(mm, h.log2_size, h.index)
    if ht_flat(h.log2_size):
        return ht_free_block(mm, h.entries, h.capacity * stride)
    nsegs = h.capacity >> PYP_HT_SEG_SHIFT
    dir = <const uint64_t *>mm.obj(h.entries, nsegs * 8)
    for s in range(nsegs):
        ht_free_block(mm, dir[s], PYP_HT_SEG_ENTRIES * stride)
    return ht_free_block(mm, h.entries, nsegs * 8)


cdef inline int ht_rebuild(MemoryManager mm, HT *t, uint64_t minused) except -1:
    """Rebuild the table with room for `minused` entries: the live entries move,
    in insertion order, to new storage; the free list goes."""
    cdef uint64_t log2 = ht_log2_for(minused), cap = 0, i = 0, j, s, new_ix, new_en, nxt
    cdef HT n = t[0]
    cdef pyp_ht_entry_t *e
    cdef pyp_ht_entry_t *d
    new_ix = ht_new_index(mm, &n, log2)
    new_en = ht_new_entries(mm, &n, log2, t.h.used, &cap)      # zeroed: see ht_insert
    if t.h.used > cap:
        ht_damaged(mm, "hash table counts more entries than it can hold")
    if t.h.used:
        i = t.h.first - 1
    for j in range(t.h.used):
        e = ht_entry(t, i)
        if not ht_live(e):
            ht_damaged(mm, "hash table order links lead to a free entry")
        d = ht_entry(&n, j)
        memcpy(d, e, t.stride)
        ht_order(&n, d)[0] = 0          # in order, one after the other: every link is implicit
        ht_free_slot(mm, &n, e.meta, &s)
        ix_put(&n, s, ix_value(&n, e.meta, j))
        nxt = ht_after(t, i)
        if (nxt == 0) != (j + 1 == t.h.used) or nxt > t.h.nentries:
            ht_damaged(mm, "hash table order links do not reach every entry")
        i = nxt - 1
    if t.h.index:
        ht_free_storage(mm, t.h, t.stride)
    mm.snapshot(t.h, sizeof(pyp_ht_t))
    t.h.nentries = t.h.used
    t.h.free = 0
    t.h.log2_size = log2
    t.h.capacity = cap
    t.h.index = new_ix
    t.h.entries = new_en
    t.h.first = 1 if t.h.used else 0
    t.h.last = t.h.used
    t[0] = n
    return 0


cdef inline int ht_grow_index(MemoryManager mm, HT *t, uint64_t minused) except -1:
    """A larger table's new index for `minused` entries, rebuilt from the stored
    hashes; the entries stay where they are."""
    cdef uint64_t log2 = ht_log2_for(minused), i, s, new_ix
    cdef HT n = t[0]
    cdef pyp_ht_entry_t *e
    if ht_flat(log2):
        return ht_rebuild(mm, t, minused)
    new_ix = ht_new_index(mm, &n, log2)
    for i in range(t.h.nentries):
        e = ht_entry(t, i)
        if ht_live(e):
            ht_free_slot(mm, &n, e.meta, &s)
            ix_put(&n, s, ix_value(&n, e.meta, i))
    ht_free_index(mm, t.h.log2_size, t.h.index)
    mm.snapshot(&t.h.log2_size, 3 * sizeof(uint64_t))     # log2_size, capacity, index
    t.h.log2_size = log2
    t.h.index = new_ix
    t.index = n.index
    t.ixdir = n.ixdir
    ht_geometry(t, log2)
    return 0


cdef inline int ht_add_segment(MemoryManager mm, HT *t) except -1:
    """Room for PYP_HT_SEG_ENTRIES more entries in a larger table: a new segment,
    and a directory twice as large when the old one is full."""
    cdef uint64_t nsegs, dircap, seg, newdir
    cdef uint64_t *dir
    if t.h.capacity >= PYP_HT_MAX_ENTRIES:
        raise MemoryError("hash table too large: it holds at most 4,294,967,294 entries")
    while t.h.capacity + PYP_HT_SEG_ENTRIES >= t.emask:     # entry numbers need a larger index
        ht_grow_index(mm, t, PYP_HT_USABLE(t.h.log2_size + 1))
    nsegs = t.h.capacity >> PYP_HT_SEG_SHIFT
    dircap = pow2_at_least(nsegs)
    seg = mm.alloc(PYP_HT_SEG_ENTRIES * t.stride, PYP_TYPE_NUM_RAW, True)      # zeroed: see ht_insert
    if nsegs == dircap:
        newdir = mm.alloc(2 * dircap * 8, PYP_TYPE_NUM_RAW, True)
        dir = <uint64_t *>(mm.base + newdir)
        memcpy(dir, t.endir, nsegs * 8)
        dir[nsegs] = seg
        ht_free_block(mm, t.h.entries, nsegs * 8)
        mm.snapshot(&t.h.capacity, 3 * sizeof(uint64_t))   # capacity, index, entries
        t.h.entries = newdir
    else:
        dir = <uint64_t *>mm.obj(t.h.entries, dircap * 8)
        mm.add_fresh(&dir[nsegs], 8)        # past the directory's used part: nobody reads it after an abort
        dir[nsegs] = seg
        mm.snapshot(&t.h.capacity, sizeof(uint64_t))
    t.h.capacity += PYP_HT_SEG_ENTRIES
    t.endir = dir
    return 0


cdef inline bint ht_entry_unused(const pyp_ht_entry_t *e, size_t stride) noexcept:
    """All the entry's bytes are zero: no live entry looks so (its key has a tag)."""
    cdef const uint64_t *w = <const uint64_t *>e
    cdef size_t i
    for i in range(stride // 8):
        if w[i]:
            return False
    return True


cdef inline int ht_link(MemoryManager mm, HT *t, uint64_t a, uint64_t b) except -1:
    """Make entry b follow entry a in insertion order (a's next link, b's previous);
    an entry is written only if its link changes (never when b is appended after a)."""
    cdef uint64_t *w = ht_order(t, ht_entry(t, a))
    cdef uint64_t link = 0 if b == a + 1 else b + 1
    if w[0] >> 32 != link:
        w = ht_order(t, ht_entry_w(mm, t, a))
        mm.snapshot(w, 8)
        w[0] = (w[0] & LINK_MASK) | (link << 32)
    w = ht_order(t, ht_entry(t, b))
    link = 0 if a + 1 == b else a + 1
    if w[0] & LINK_MASK != link:
        w = ht_order(t, ht_entry_w(mm, t, b))
        mm.snapshot(w, 8)
        w[0] = (w[0] & ~(<uint64_t>LINK_MASK)) | link
    return 0


cdef inline int ht_insert(MemoryManager mm, HT *t, uint64_t h, const pyp_slot_t *kv) except -1:
    """Add an entry for a key known to be absent, last in insertion order; kv (key,
    then value for mappings) is moved in.  Takes a free entry first; grows the
    table when it has none left or its index is full."""
    cdef uint64_t n, s, free, last
    cdef pyp_ht_entry_t *e
    if t.h.index == 0:
        ht_rebuild(mm, t, 1)
    elif t.h.used + 1 > PYP_HT_USABLE(t.h.log2_size):
        if ht_flat(t.h.log2_size):
            ht_rebuild(mm, t, t.h.used * 2)
        else:
            ht_grow_index(mm, t, t.h.used * 2)
    if t.h.free == 0 and t.h.nentries >= t.h.capacity:
        if ht_flat(t.h.log2_size):
            ht_rebuild(mm, t, t.h.used * 2 if t.h.used else 1)
        else:
            ht_add_segment(mm, t)
    free = t.h.free
    if free:
        n = free - 1
        e = ht_entry_w(mm, t, n)
        free = ht_order(t, e)[0]
        if ht_live(e) or free > t.h.nentries:
            ht_damaged(mm, "hash table free list holds a live entry")
        mm.snapshot(e, t.stride)
    else:
        n = t.h.nentries
        e = ht_entry_w(mm, t, n)
        if ht_entry_unused(e, t.stride):
            # Never written since its array or segment was allocated (zeroed):
            # past nentries, nobody reads it if the transaction aborts.
            mm.add_fresh(e, t.stride)
        else:
            mm.snapshot(e, t.stride)
    ht_free_slot(mm, t, h, &s)
    ix_store(mm, t, s, ix_value(t, h, n))
    e.meta = (h & PYP_HT_HASH_MASK) | (kv[0].tag << PYP_HT_KEY_TAG_SHIFT)
    e.key = kv[0].payload
    if ht_has_values(t):
        e.meta |= kv[1].tag << PYP_HT_VALUE_TAG_SHIFT
        e.value = kv[1].payload
    ht_order(t, e)[0] = 0
    last = t.h.last
    if last:
        ht_link(mm, t, last - 1, n)
    mm.snapshot(t.h, sizeof(pyp_ht_t))
    t.h.used += 1
    if n == t.h.nentries:
        t.h.nentries = n + 1
    t.h.free = free
    if t.h.first == 0:
        t.h.first = n + 1
    t.h.last = n + 1
    return 0


cdef inline int ht_set(PersistentBase o, HT *t, object key, uint64_t h, object value,
                       bint overwrite) except -1:
    """t[key] = value (sets: add key; value is ignored).  Returns 1 when the key
    was new; an existing key's value is replaced only if `overwrite`.

    In a transaction; t need not be open."""
    cdef MemoryManager mm = o.mm
    cdef pyp_slot_t kv[2]
    cdef pyp_slot_t old
    cdef uint64_t s
    cdef int64_t ix
    cdef pyp_ht_entry_t *e
    cdef bint values = ht_has_values(t)
    if values:
        mm.init_slot(&kv[1], value)     # may run Python code (pickling): before the table is read
    ht_open(o, t)
    ix = ht_find(o, t, key, h, &s)
    if ix < 0:
        mm.init_slot(&kv[0], key)
        if not ht_plain(key):           # persisting the key may have run Python code
            ht_open(o, t)
            ix = ht_find(o, t, key, h, &s)
            if ix >= 0:
                mm.release_slot(kv[0])
        if ix < 0:
            ht_insert(mm, t, h, kv)
            return 1
    if values and not overwrite:
        mm.release_slot(kv[1])
    elif values:
        e = ht_entry_w(mm, t, <uint64_t>ix)
        mm.snapshot(e, 3 * sizeof(uint64_t))           # meta (the value's tag), key, value
        old = ht_value(e)
        e.meta = (e.meta & ~((<uint64_t>0xFF) << PYP_HT_VALUE_TAG_SHIFT)) | (kv[1].tag << PYP_HT_VALUE_TAG_SHIFT)
        e.value = kv[1].payload
        mm.release_slot(old)
    return 0


cdef inline int ht_ix_remove(MemoryManager mm, HT *t, uint64_t i) except -1:
    """Empty index slot i; the slots after it in its cluster move back where
    their probe reaches them (linear probing's deletion: no dummies)."""
    cdef uint64_t j = i, v, k, probes = 0
    while True:
        j = (j + 1) & t.mask
        v = ix_get(t, j)
        if v == 0:
            break
        if v > SLOT_MASK or (v & t.emask) == 0 or (v & t.emask) > t.h.nentries:
            ht_damaged(mm, "hash table index refers past its entries")
        k = ht_home(t, ht_entry(t, (v & t.emask) - 1).meta)
        if (i < j and (k <= i or k > j)) or (i > j and k <= i and k > j):
            ix_store(mm, t, i, v)           # its probe passes i before it reaches j
            i = j
        probes += 1
        if probes > t.mask:
            ht_damaged(mm, "hash table index has no free slot")
    return ix_store(mm, t, i, 0)


cdef inline int ht_unlink(MemoryManager mm, HT *t, uint64_t s, uint64_t n, pyp_slot_t *old) except -1:
    """Remove entry n (index slot s); its key (and value) slots move to `old`,
    the entry to the free list."""
    cdef pyp_ht_entry_t *e = ht_entry_w(mm, t, n)
    cdef uint64_t before = ht_before(t, n), after = ht_after(t, n)
    if before > t.h.nentries or after > t.h.nentries:
        ht_damaged(mm, "hash table order links lead outside its entries")
    ht_ix_remove(mm, t, s)
    if before and after:
        ht_link(mm, t, before - 1, after - 1)
    mm.snapshot(e, t.stride)
    old[0] = ht_key(e)
    if ht_has_values(t):
        old[1] = ht_value(e)
        e.value = 0
    e.meta &= PYP_HT_HASH_MASK
    e.key = 0
    ht_order(t, e)[0] = t.h.free
    mm.snapshot(t.h, sizeof(pyp_ht_t))
    t.h.used -= 1
    t.h.free = n + 1
    if before == 0:
        t.h.first = after
    if after == 0:
        t.h.last = before
    return 0


cdef inline int ht_maybe_shrink(MemoryManager mm, HT *t) except -1:
    if t.h.index != 0 and t.h.log2_size > PYP_HT_LOG2_MIN and t.h.used * 8 < t.h.capacity:
        ht_rebuild(mm, t, t.h.used * 2)
    return 0


cdef inline int ht_take(PersistentBase o, HT *t, object key, uint64_t h, pyp_slot_t *old) except -1:
    """Remove `key`: 1 if it was there (its slots are in `old`, still holding
    their references: load, then ht_release them), else 0.  In a transaction."""
    cdef uint64_t s
    cdef int64_t ix
    ht_open(o, t)
    ix = ht_find(o, t, key, h, &s)
    if ix < 0:
        return 0
    ht_unlink(o.mm, t, s, <uint64_t>ix, old)
    ht_maybe_shrink(o.mm, t)
    return 1


cdef inline int ht_take_last(PersistentBase o, HT *t, pyp_slot_t *old) except -1:
    """Remove the most recently inserted entry (LIFO), like ht_take; 0 if empty."""
    cdef MemoryManager mm = o.mm
    cdef uint64_t n, s
    cdef pyp_ht_entry_t *e
    ht_open(o, t)
    if t.h.used == 0:
        return 0
    n = t.h.last - 1
    e = ht_entry(t, n)
    if not ht_live(e):
        ht_damaged(mm, "hash table's last entry is free")
    ht_slot_of(mm, t, e.meta, n, &s)
    ht_unlink(mm, t, s, n, old)
    ht_maybe_shrink(mm, t)
    return 1


cdef inline int ht_release(MemoryManager mm, const HT *t, pyp_slot_t *old) except -1:
    mm.release_slot(old[0])
    if ht_has_values(t):
        mm.release_slot(old[1])
    return 0


cdef inline int ht_clear(PersistentBase o, HT *t) except -1:
    """Empty the table: detach its storage, release every reference, free the storage."""
    cdef MemoryManager mm = o.mm
    cdef pyp_ht_t was
    cdef uint64_t i
    cdef pyp_ht_entry_t *e
    cdef HT old
    cdef bint values = ht_has_values(t)
    ht_open(o, t)
    if t.h.index == 0:
        return 0
    was = t.h[0]
    old = t[0]
    old.h = &was                # the storage stays allocated (and unchanged) until it is freed below
    mm.snapshot(t.h, sizeof(pyp_ht_t))
    memset(t.h, 0, sizeof(pyp_ht_t))
    ht_attach(mm, t)
    for i in range(was.nentries):
        e = ht_entry(&old, i)
        if ht_live(e):
            mm.release_slot(ht_key(e))
            if values:
                mm.release_slot(ht_value(e))
    ht_free_storage(mm, &was, t.stride)
    return 0


cdef inline int ht_traverse(MemoryManager mm, uint64_t off, size_t objsize, size_t stride,
                            visit_fn visit, void *ctx) except -1:
    """Report the references of every entry, then the blocks the table owns."""
    cdef HT t
    cdef uint64_t i, nsegs
    cdef pyp_ht_entry_t *e
    cdef bint values = stride == sizeof(pyp_ht_entry_t)
    ht_init(&t, objsize, stride)
    t.h = <pyp_ht_t *>(mm.obj(off, objsize) + sizeof(pyp_header_t))
    ht_attach(mm, &t)
    if t.h.index == 0:
        return 0
    for i in range(t.h.nentries):
        e = ht_entry(&t, i)
        if (e.meta >> PYP_HT_KEY_TAG_SHIFT) & 0xFF == PYP_TAG_REF:
            visit(ctx, e.key, VISIT_REF)
        if values and e.meta >> PYP_HT_VALUE_TAG_SHIFT == PYP_TAG_REF:
            visit(ctx, e.value, VISIT_REF)
    # every block is checked as an allocation first: a visitor may free it
    if t.ixdir != NULL:
        nsegs = (t.mask + 1) >> PYP_HT_IX_SEG_SHIFT
        mm.obj(t.h.index, nsegs * 8)
        for i in range(nsegs):
            mm.obj(t.ixdir[i], ix_bytes(t.h.log2_size))
            visit(ctx, t.ixdir[i], VISIT_RAW)
    visit(ctx, t.h.index, VISIT_RAW)
    if t.endir != NULL:
        nsegs = t.h.capacity >> PYP_HT_SEG_SHIFT
        mm.obj(t.h.entries, nsegs * 8)
        for i in range(nsegs):
            mm.obj(t.endir[i], PYP_HT_SEG_ENTRIES * stride)
            visit(ctx, t.endir[i], VISIT_RAW)
    visit(ctx, t.h.entries, VISIT_RAW)
    return 0
