# The hash table shared by PersistentDict, PersistentSet, PersistentFrozenSet and
# PersistentObject's attributes (layout: include/pyp_hashtable.h).  Typed C
# helpers, inlined into each module that cimports them.
#
# Conventions.  An HT describes one table: its header inside the owner object
# and the two arrays, as pointers checked against the pool.  Pointers into a
# pool go stale whenever Python code may have run (a user __eq__, pickling, a
# resurrection hook can mutate the table or close the pool), so every helper
# that runs such code re-derives them from the owner proxy before reading on.
# Writes happen inside the caller's transaction: a snapshot of exactly what
# changes (an index slot, an entry, the two counters), or fresh allocations.
from libc.stdint cimport uint32_t, uint64_t, int64_t
from libc.string cimport memcpy, memset, memcmp
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from pmemobj._core cimport (MemoryManager, PersistentBase, pyp_slot_t, pyp_header_t, pyp_bytes_t, PYP_TAG_EMPTY,
                            PYP_TAG_REF, PYP_TYPE_NUM_RAW, PYP_T_STR, PYP_T_BYTES, VISIT_RAW, visit_fn,
                            visit_slots)

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *) except NULL

cdef enum:
    TEXT_HEAD = 32      # offsetof(pyp_bytes_t, data)

cdef extern from "pyp_hashtable.h":
    uint32_t PYP_HT_IX_DUMMY32
    uint64_t PYP_HT_IX_DUMMY64
    uint64_t PYP_HT_LOG2_WIDE
    uint64_t PYP_HT_LOG2_MIN
    uint64_t PYP_HT_LOG2_MAX
    uint64_t PYP_HT_USABLE(uint64_t log2)

    ctypedef struct pyp_ht_t:
        uint64_t used
        uint64_t nentries
        uint64_t fill
        uint64_t log2_size
        uint64_t capacity
        uint64_t index
        uint64_t entries

    ctypedef struct pyp_ht_entry_t:
        uint64_t hash
        pyp_slot_t key
        pyp_slot_t value

    ctypedef struct pyp_ht_key_t:
        uint64_t hash
        pyp_slot_t key

    ctypedef struct pyp_dict_t:
        pyp_header_t h
        pyp_ht_t ht

    ctypedef struct pyp_set_t:
        pyp_header_t h
        pyp_ht_t ht
        uint64_t frozen
        uint64_t reserved

    ctypedef struct pyp_object_t:
        pyp_header_t h
        pyp_ht_t attrs


cdef struct HT:
    pyp_ht_t *h         # the table header, inside the owner object
    char *index         # NULL while the table owns no arrays
    char *entries
    uint64_t mask       # index slots - 1
    size_t objsize      # bytes of the owner object (header included)
    size_t stride       # bytes per entry: sizeof(pyp_ht_entry_t) or sizeof(pyp_ht_key_t)
    bint wide           # 64-bit index slots


cdef inline int ht_damaged(MemoryManager mm, str what) except -1:
    from pmemobj._core import InvalidPoolError
    raise InvalidPoolError(22, f"damaged pool: {what}", mm.filename)


cdef inline void ht_init(HT *t, size_t objsize, size_t stride) noexcept:
    t.objsize = objsize
    t.stride = stride
    t.h = NULL
    t.index = t.entries = NULL


cdef inline bint ht_has_values(const HT *t) noexcept:
    return t.stride == sizeof(pyp_ht_entry_t)


cdef inline int ht_attach(MemoryManager mm, HT *t, bint strict=True) except -1:
    """Check the header t.h and point t at its arrays.

    strict: check the arrays against their allocations (before writing);
    otherwise only against the mapping (enough for reads never to fault)."""
    cdef pyp_ht_t *h = t.h
    cdef uint64_t log2 = h.log2_size
    if h.index == 0:
        if h.entries or h.used or h.nentries or h.fill or h.capacity or log2:
            ht_damaged(mm, "hash table header without an index")
        t.index = t.entries = NULL
        t.mask = 0
        t.wide = False
        return 0
    if (log2 < PYP_HT_LOG2_MIN or log2 > PYP_HT_LOG2_MAX or h.capacity > PYP_HT_USABLE(log2)
            or h.nentries > h.capacity or h.fill > h.capacity or h.used > h.nentries or h.used > h.fill
            or h.entries == 0):
        ht_damaged(mm, "inconsistent hash table header")
    t.wide = log2 >= PYP_HT_LOG2_WIDE
    t.mask = ((<uint64_t>1) << log2) - 1
    if strict:
        t.index = mm.obj(h.index, (t.mask + 1) * (8 if t.wide else 4))
        t.entries = mm.obj(h.entries, h.capacity * t.stride)
    else:
        t.index = mm.ptr(h.index, (t.mask + 1) * (8 if t.wide else 4))
        t.entries = mm.ptr(h.entries, h.capacity * t.stride)
    return 0


cdef inline char *ht_owner(PersistentBase o, size_t n) except NULL:
    """The owner's memory: checked like addr() but, on the hot path, only against the mapping."""
    if o.off == 0 or o.mm is None:
        return o.addr(n)            # raises the right error
    return o.mm.ptr(o.off, n)


cdef inline int ht_open(PersistentBase o, HT *t, bint strict=True) except -1:
    """Point t at the table of the owner `o` (raises if its pool is closed).
    strict=False for reads (see ht_attach)."""
    if strict:
        t.h = <pyp_ht_t *>(o.addr(t.objsize) + sizeof(pyp_header_t))
    else:
        t.h = <pyp_ht_t *>(ht_owner(o, t.objsize) + sizeof(pyp_header_t))
    return ht_attach(o.mm, t, strict)


cdef inline pyp_ht_entry_t *ht_entry(const HT *t, uint64_t i) noexcept:
    # for sets only the hash and key fields exist
    return <pyp_ht_entry_t *>(t.entries + i * t.stride)


cdef inline uint64_t ix_get(const HT *t, uint64_t i) noexcept:
    cdef uint32_t v
    if t.wide:
        return (<uint64_t *>t.index)[i]
    v = (<uint32_t *>t.index)[i]
    return PYP_HT_IX_DUMMY64 if v == PYP_HT_IX_DUMMY32 else v


cdef inline void ix_put(HT *t, uint64_t i, uint64_t v) noexcept:
    if t.wide:
        (<uint64_t *>t.index)[i] = v
    else:
        (<uint32_t *>t.index)[i] = PYP_HT_IX_DUMMY32 if v == PYP_HT_IX_DUMMY64 else <uint32_t>v


cdef inline int ix_store(MemoryManager mm, HT *t, uint64_t i, uint64_t v) except -1:
    if t.wide:
        mm.snapshot(&(<uint64_t *>t.index)[i], 8)
    else:
        mm.snapshot(&(<uint32_t *>t.index)[i], 4)
    ix_put(t, i, v)
    return 0


cdef inline bint ht_plain(object key) noexcept:
    """Keys whose comparison with an inline slot runs no Python code."""
    cdef type kt = type(key)
    return kt is int or kt is str or kt is bytes or kt is float or kt is bool or key is None


cdef inline int ht_text_eq(MemoryManager mm, const pyp_slot_t *k, uint64_t tid, const char *data,
                           Py_ssize_t n) except -1:
    """Compare a REF slot to UTF-8 (tid PYP_T_STR) or raw (PYP_T_BYTES) data without
    going through the allocator's size lookup: 1 equal, 0 not, 2 not such an object."""
    cdef pyp_bytes_t *b = <pyp_bytes_t *>mm.ptr(k.payload, TEXT_HEAD)
    if b.h.type_id != tid:
        return 2
    if b.size != <uint64_t>n:
        return 0
    mm.ptr(k.payload, TEXT_HEAD + <uint64_t>n)
    return memcmp(b.data, data, n) == 0


cdef inline int64_t ht_find(PersistentBase o, HT *t, object key, uint64_t h, uint64_t *slot) except -2:
    """The entry number of `key` (stable hash h), or -1; *slot receives its index slot.

    t must be open; it is reopened (and the search restarted if the table
    changed) after any comparison that could have run Python code."""
    cdef MemoryManager mm = o.mm
    cdef uint64_t i, perturb, ix, probes, limit, idx_off, ent_off, nent
    cdef pyp_ht_entry_t *e
    cdef pyp_slot_t k
    cdef bint plain = ht_plain(key)
    cdef int eq
    cdef type kt = type(key)
    cdef const char *text = NULL        # str keys: UTF-8 (once a hash matches), bytes keys: the data
    cdef Py_ssize_t textlen = 0
    cdef uint64_t text_tid = 0
    if kt is bytes:
        text = PyBytes_AS_STRING(key)
        textlen = PyBytes_GET_SIZE(key)
        text_tid = PYP_T_BYTES
    while True:
        if t.index == NULL:
            return -1
        i = h & t.mask
        perturb = h
        probes = 0
        limit = t.mask + 16     # the probe sequence visits every slot within this many steps
        while True:
            ix = ix_get(t, i)
            if ix == 0:
                return -1
            if ix != PYP_HT_IX_DUMMY64:
                if ix > t.h.nentries:
                    ht_damaged(mm, "hash table index refers past its entries")
                e = ht_entry(t, ix - 1)
                if e.hash == h and e.key.tag != PYP_TAG_EMPTY:
                    k = e.key
                    eq = 2
                    if kt is str and text_tid == 0 and k.tag == PYP_TAG_REF:
                        try:
                            text = PyUnicode_AsUTF8AndSize(key, &textlen)
                            text_tid = PYP_T_STR
                        except UnicodeEncodeError:      # lone surrogates: slot_eq knows them
                            text_tid = 1
                    if text != NULL and k.tag == PYP_TAG_REF:
                        eq = ht_text_eq(mm, &k, text_tid, text, textlen)
                    if eq != 2:
                        pass
                    elif plain and k.tag != PYP_TAG_REF:
                        eq = mm.slot_eq(&k, key)
                    else:
                        idx_off = t.h.index
                        ent_off = t.h.entries
                        nent = t.h.nentries
                        eq = mm.slot_eq(&k, key)
                        t.h = <pyp_ht_t *>(ht_owner(o, t.objsize) + sizeof(pyp_header_t))
                        if (t.h.index != idx_off or t.h.entries != ent_off or t.h.nentries != nent
                                or ht_entry(t, ix - 1).key.tag != k.tag
                                or ht_entry(t, ix - 1).key.payload != k.payload):
                            ht_attach(mm, t)
                            break       # the table changed under the comparison: search again
                    if eq:
                        slot[0] = i
                        return <int64_t>(ix - 1)
            probes += 1
            if probes > limit:
                ht_damaged(mm, "hash table index has no free slot")
            perturb >>= 5
            i = (i * 5 + perturb + 1) & t.mask


cdef inline int ht_free_slot(MemoryManager mm, const HT *t, uint64_t h, uint64_t *slot) except -1:
    """The first empty or dummy index slot on h's probe sequence."""
    cdef uint64_t i = h & t.mask, perturb = h, ix, probes = 0
    while True:
        ix = ix_get(t, i)
        if ix == 0 or ix == PYP_HT_IX_DUMMY64:
            slot[0] = i
            return 0
        probes += 1
        if probes > t.mask + 16:
            ht_damaged(mm, "hash table index has no free slot")
        perturb >>= 5
        i = (i * 5 + perturb + 1) & t.mask


cdef inline int ht_slot_of(MemoryManager mm, const HT *t, uint64_t h, uint64_t n, uint64_t *slot) except -1:
    """The index slot that refers to entry n (whose hash is h)."""
    cdef uint64_t i = h & t.mask, perturb = h, ix, probes = 0
    while True:
        ix = ix_get(t, i)
        if ix == n + 1:
            slot[0] = i
            return 0
        probes += 1
        if ix == 0 or probes > t.mask + 16:
            ht_damaged(mm, "hash table entry missing from its index")
        perturb >>= 5
        i = (i * 5 + perturb + 1) & t.mask


cdef inline int ht_resize(MemoryManager mm, HT *t, uint64_t minused) except -1:
    """Rebuild the table with room for `minused` entries: holes and dummies go."""
    cdef uint64_t log2 = PYP_HT_LOG2_MIN, cap, i, j = 0, s, old_ix, old_en, new_ix, new_en
    cdef HT n
    cdef pyp_ht_entry_t *e
    while PYP_HT_USABLE(log2) < minused:
        log2 += 1
        if log2 > PYP_HT_LOG2_MAX:
            raise MemoryError("hash table too large")
    cap = PYP_HT_USABLE(log2)
    n = t[0]
    n.wide = log2 >= PYP_HT_LOG2_WIDE
    n.mask = ((<uint64_t>1) << log2) - 1
    new_ix = mm.alloc((n.mask + 1) * (8 if n.wide else 4), PYP_TYPE_NUM_RAW, True)
    new_en = mm.alloc(cap * t.stride, PYP_TYPE_NUM_RAW, True)       # zeroed: see ht_insert
    n.index = mm.obj(new_ix, (n.mask + 1) * (8 if n.wide else 4))
    n.entries = mm.obj(new_en, cap * t.stride)
    if t.index != NULL:
        for i in range(t.h.nentries):
            e = ht_entry(t, i)
            if e.key.tag == PYP_TAG_EMPTY:
                continue
            if j == cap:
                ht_damaged(mm, "hash table holds more entries than it counts")
            memcpy(n.entries + j * t.stride, e, t.stride)
            ht_free_slot(mm, &n, e.hash, &s)
            ix_put(&n, s, j + 1)
            j += 1
    if j != t.h.used:
        ht_damaged(mm, "hash table holds fewer entries than it counts")
    old_ix = t.h.index
    old_en = t.h.entries
    mm.snapshot(t.h, sizeof(pyp_ht_t))
    t.h.nentries = j
    t.h.fill = j
    t.h.log2_size = log2
    t.h.capacity = cap
    t.h.index = new_ix
    t.h.entries = new_en
    t.index = n.index
    t.entries = n.entries
    t.mask = n.mask
    t.wide = n.wide
    if old_ix:
        mm.free(old_ix)
    if old_en:
        mm.free(old_en)
    return 0


cdef inline bint ht_entry_unused(const pyp_ht_entry_t *e, size_t stride) noexcept:
    """All the entry's bytes are zero: no live entry looks so (its key has a tag)."""
    cdef const uint64_t *w = <const uint64_t *>e
    cdef size_t i
    for i in range(stride // 8):
        if w[i]:
            return False
    return True


cdef inline int ht_insert(MemoryManager mm, HT *t, uint64_t h, const pyp_slot_t *kv) except -1:
    """Append an entry for a key known to be absent; kv (key, then value for
    mappings) is moved in.  Grows the table when its entries are used up."""
    cdef uint64_t n, s
    cdef bint fresh_slot
    cdef pyp_ht_entry_t *e
    if t.index == NULL or t.h.nentries >= t.h.capacity or t.h.fill >= t.h.capacity:
        ht_resize(mm, t, t.h.used * 2 if t.h.used else 1)
    n = t.h.nentries
    ht_free_slot(mm, t, h, &s)
    fresh_slot = ix_get(t, s) == 0          # else a dummy is reused
    ix_store(mm, t, s, n + 1)
    e = ht_entry(t, n)
    if ht_entry_unused(e, t.stride):
        # Never written since the table was allocated (zeroed): not live when
        # the transaction began (a removed entry keeps its hash), so an abort
        # needs nothing back; past nentries nobody reads it.
        mm.add_fresh(e, t.stride)
    else:
        mm.snapshot(e, t.stride)
    e.hash = h
    memcpy(&e.key, kv, t.stride - sizeof(uint64_t))
    mm.snapshot(t.h, 3 * sizeof(uint64_t))      # used, nentries, fill
    t.h.used += 1
    t.h.nentries = n + 1
    if fresh_slot:
        t.h.fill += 1
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
        e = ht_entry(t, <uint64_t>ix)
        mm.snapshot(&e.value, sizeof(pyp_slot_t))
        old = e.value
        e.value = kv[1]
        mm.release_slot(old)
    return 0


cdef inline int ht_unlink(MemoryManager mm, HT *t, uint64_t s, uint64_t n, pyp_slot_t *old, bint truncate) except -1:
    """Remove entry n (index slot s); its key (and value) slots move to `old`.
    truncate: n is the last live entry, drop it and the holes after it."""
    cdef pyp_ht_entry_t *e = ht_entry(t, n)
    cdef size_t width = t.stride - sizeof(uint64_t)
    ix_store(mm, t, s, PYP_HT_IX_DUMMY64)
    mm.snapshot(&e.key, width)
    memcpy(old, &e.key, width)
    memset(&e.key, 0, width)
    mm.snapshot(t.h, 2 * sizeof(uint64_t))     # used, nentries (the dummy keeps its place in fill)
    t.h.used -= 1
    if truncate:
        t.h.nentries = n
    return 0


cdef inline int ht_maybe_shrink(MemoryManager mm, HT *t) except -1:
    if t.index != NULL and t.h.log2_size > PYP_HT_LOG2_MIN and t.h.used * 8 < t.h.capacity:
        ht_resize(mm, t, t.h.used * 2)
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
    ht_unlink(o.mm, t, s, <uint64_t>ix, old, False)
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
    n = t.h.nentries
    while True:
        if n == 0:
            ht_damaged(mm, "hash table counts entries it does not hold")
        n -= 1
        e = ht_entry(t, n)
        if e.key.tag != PYP_TAG_EMPTY:
            break
    ht_slot_of(mm, t, e.hash, n, &s)
    ht_unlink(mm, t, s, n, old, True)
    ht_maybe_shrink(mm, t)
    return 1


cdef inline int ht_release(MemoryManager mm, const HT *t, pyp_slot_t *old) except -1:
    mm.release_slot(old[0])
    if ht_has_values(t):
        mm.release_slot(old[1])
    return 0


cdef inline int ht_clear(PersistentBase o, HT *t) except -1:
    """Empty the table: detach the arrays, release every reference, free them."""
    cdef MemoryManager mm = o.mm
    cdef uint64_t old_ix, old_en, n, i
    cdef char *ents
    cdef pyp_ht_entry_t *e
    cdef bint values = ht_has_values(t)
    ht_open(o, t)
    if t.index == NULL:
        return 0
    old_ix = t.h.index
    old_en = t.h.entries
    n = t.h.nentries
    ents = t.entries
    mm.snapshot(t.h, sizeof(pyp_ht_t))
    memset(t.h, 0, sizeof(pyp_ht_t))
    t.index = t.entries = NULL
    t.mask = 0
    for i in range(n):
        e = <pyp_ht_entry_t *>(ents + i * t.stride)
        mm.release_slot(e.key)
        if values:
            mm.release_slot(e.value)
    mm.free(old_ix)
    mm.free(old_en)
    return 0


cdef inline uint64_t ht_next_live(const HT *t, uint64_t i) noexcept:
    """The first live entry at or after i, or nentries."""
    cdef uint64_t n = t.h.nentries
    while i < n and ht_entry(t, i).key.tag == PYP_TAG_EMPTY:
        i += 1
    return i


cdef inline int ht_traverse(MemoryManager mm, uint64_t off, size_t objsize, size_t stride,
                            visit_fn visit, void *ctx) except -1:
    """Report the references of every entry, then the two arrays."""
    cdef HT t
    cdef uint64_t i
    cdef size_t nslots = (stride - sizeof(uint64_t)) // sizeof(pyp_slot_t)
    ht_init(&t, objsize, stride)
    t.h = <pyp_ht_t *>(mm.obj(off, objsize) + sizeof(pyp_header_t))
    ht_attach(mm, &t)
    if t.index == NULL:
        return 0
    for i in range(t.h.nentries):
        visit_slots(&ht_entry(&t, i).key, nslots, visit, ctx)
    visit(ctx, t.h.index, VISIT_RAW)
    visit(ctx, t.h.entries, VISIT_RAW)
    return 0
