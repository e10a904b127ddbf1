# Included by list.pyx: where a PersistentList's slots live (layout:
# include/pyp_list.h): packed slot groups in one small array or in blocks
# listed by a directory.  A Slots is a view of them, checked against the pool
# for one operation (or cached by the proxy while the header is unchanged):
# reads check a block's offset against the mapping, a block is checked as an
# allocation before it is written.

cdef extern from "pyp_list.h":
    ctypedef struct pyp_list_t:
        pyp_header_t h
        uint64_t size
        uint64_t capacity
        uint64_t items

cdef enum:
    GROUP_BYTES = 72            # uint8_t tags[8]; uint64_t payloads[8]
    BLOCK = 1816                # slots per block (227 groups)
    BLOCK_BYTES = 16384         # the allocation of a block, and of the largest small array
    HEADER_FIELDS = 24          # size, capacity, items: adjacent, one snapshot
    NSMALL = 8
    POOL_HDR = 8192             # libpmemobj's pool header: no block starts below

# The capacities of a small list, and the bytes of their arrays.
cdef uint64_t SMALL_CAP[NSMALL]
cdef uint64_t SMALL_BYTES[NSMALL]
for _k in range(NSMALL):
    SMALL_BYTES[_k] = 128 << _k
    SMALL_CAP[_k] = (128 << _k) // GROUP_BYTES * 8

# What _reserve returns: no new storage, or all of it is new (a new array or first block).
cdef uint64_t NONE_FRESH = <uint64_t>-1
cdef uint64_t FRESH_ALL = 0

# Capacities beyond this cannot be a byte count of a real allocation (damage).
cdef uint64_t MAX_CAPACITY = (<uint64_t>1) << 56


cdef struct Slots:
    char *flat                  # a small list's array (NULL otherwise)
    const uint64_t *dir         # a large list's block directory (NULL otherwise)
    char *base                  # the pool's mapping
    uint64_t pool_size
    uint64_t capacity
    PyObject *mm                # the MemoryManager (borrowed: the list proxy holds it)
    uint64_t wblock             # 1 + the block last checked for writing (0: none)
    char *wptr


cdef inline int _small_index(uint64_t cap) noexcept:
    """The index of a small capacity in SMALL_CAP, or -1."""
    cdef int k
    for k in range(NSMALL):
        if SMALL_CAP[k] == cap:
            return k
    return -1


cdef inline uint64_t _pow2_at_least(uint64_t n) noexcept:
    cdef uint64_t p = 1
    while p < n:
        p <<= 1
    return p


cdef int _damaged(MemoryManager mm, str what) except -1:
    raise InvalidPoolError(EINVAL, f"damaged pool: {what}", mm.filename)


cdef int _check_header(MemoryManager mm, uint64_t off, const pyp_list_t *h) except -1:
    if (h.size > h.capacity or h.capacity > MAX_CAPACITY or (h.items == 0) != (h.capacity == 0)
            or (h.capacity <= BLOCK and h.capacity and _small_index(h.capacity) < 0)
            or (h.capacity > BLOCK and h.capacity % BLOCK)):
        raise InvalidPoolError(EINVAL, f"damaged pool: PersistentList at 0x{off:x} has size {h.size}, "
                               f"capacity {h.capacity}, items at 0x{h.items:x}", mm.filename)
    return 0


cdef int _view(MemoryManager mm, const pyp_list_t *h, Slots *s, bint strict) except -1:
    """Point s at the slots of a list whose header was checked.  strict: a small
    array is checked as an allocation (before writing)."""
    cdef uint64_t nb
    s.base = mm.base
    s.pool_size = mm.pool_size
    s.capacity = h.capacity
    s.mm = <PyObject *>mm
    s.wblock = 0
    s.flat = NULL
    s.dir = NULL
    if h.capacity == 0:
        return 0
    if h.capacity <= BLOCK:
        nb = SMALL_BYTES[_small_index(h.capacity)]
        s.flat = mm.obj(h.items, nb) if strict else mm.ptr(h.items, nb)
    else:
        s.dir = <const uint64_t *>mm.ptr(h.items, h.capacity // BLOCK * 8)
    return 0


cdef inline char *_block(Slots *s, uint64_t b) except NULL:
    """Block b, for reading."""
    cdef uint64_t off = s.dir[b]
    if off < POOL_HDR or off > s.pool_size or BLOCK_BYTES > s.pool_size - off:
        _damaged(<MemoryManager>s.mm, f"list block at 0x{off:x} lies outside the pool")
    return s.base + off


cdef inline char *_group(Slots *s, uint64_t i) except NULL:
    """The group of slot i, for reading."""
    cdef uint64_t b
    if s.flat != NULL:
        return s.flat + (i >> 3) * GROUP_BYTES
    b = i // BLOCK
    return _block(s, b) + ((i - b * BLOCK) >> 3) * GROUP_BYTES


cdef inline char *_group_w(MemoryManager mm, Slots *s, uint64_t i) except NULL:
    """The group of slot i, for writing: its block is checked as an allocation
    (once per view)."""
    cdef uint64_t b
    if s.flat != NULL:
        return s.flat + (i >> 3) * GROUP_BYTES
    b = i // BLOCK
    if s.wblock != b + 1:
        s.wptr = mm.obj(s.dir[b], BLOCK_BYTES)
        s.wblock = b + 1
    return s.wptr + ((i - b * BLOCK) >> 3) * GROUP_BYTES


cdef inline pyp_slot_t _get(const char *g, uint64_t i) noexcept:
    cdef pyp_slot_t v
    v.tag = (<const uint8_t *>g)[i & 7]
    v.payload = (<const uint64_t *>(g + 8))[i & 7]
    return v


cdef inline void _put(char *g, uint64_t i, pyp_slot_t v) noexcept:
    (<uint8_t *>g)[i & 7] = <uint8_t>v.tag
    (<uint64_t *>(g + 8))[i & 7] = v.payload


cdef inline int _read(Slots *s, uint64_t i, pyp_slot_t *out) except -1:
    out[0] = _get(_group(s, i), i)
    return 0


cdef int _read_range(Slots *s, uint64_t a, uint64_t b, pyp_slot_t *out) except -1:
    """Slots [a, b) into out."""
    cdef uint64_t i
    cdef char *g = NULL
    for i in range(a, b):
        if g == NULL or i & 7 == 0:
            g = _group(s, i)
        out[i - a] = _get(g, i)
    return 0


cdef int _touch(MemoryManager mm, Slots *s, uint64_t a, uint64_t b, bint fresh) except -1:
    """Add slots [a, b) to the transaction, a block at a time: snapshotted, or
    (fresh: unused slots nobody reads after an abort) only flushed at commit."""
    cdef uint64_t e, end
    cdef char *g
    while a < b:
        end = s.capacity if s.flat != NULL else (a // BLOCK + 1) * BLOCK
        e = min(b, end)
        g = _group_w(mm, s, a)
        if fresh:
            mm.add_fresh(g, (((e - 1) >> 3) - (a >> 3) + 1) * GROUP_BYTES)
        else:
            mm.snapshot(g, (((e - 1) >> 3) - (a >> 3) + 1) * GROUP_BYTES)
        a = e
    return 0


cdef int _write_range(MemoryManager mm, Slots *s, uint64_t a, uint64_t b, const pyp_slot_t *src,
                      uint64_t fresh) except -1:
    """Slots [a, b) = src[0:b - a], in the transaction: slots below `fresh` are
    snapshotted first; from `fresh` on (a multiple of 8: storage this operation
    allocated, see _reserve) they are only flushed at commit."""
    cdef uint64_t i
    cdef char *g = NULL
    if a >= b:
        return 0
    _touch(mm, s, a, min(b, max(a, fresh)), False)
    _touch(mm, s, max(a, fresh), b, True)
    for i in range(a, b):
        if g == NULL or i & 7 == 0:
            g = _group_w(mm, s, i)
        _put(g, i, src[i - a])
    return 0


cdef int _set_header(MemoryManager mm, pyp_list_t *h, uint64_t capacity, uint64_t items) except -1:
    mm.snapshot(&h.size, HEADER_FIELDS)
    h.capacity = capacity
    h.items = items
    return 0


cdef int _copy_small(MemoryManager mm, Slots *s, char *dst, uint64_t n) except -1:
    """The first n slots of a view into a fresh array or block (raw copy of whole groups)."""
    cdef uint64_t g, ngroups = (n + 7) >> 3
    for g in range(ngroups):
        memcpy(dst + g * GROUP_BYTES, _group(s, g << 3), GROUP_BYTES)
    return 0


cdef uint64_t _reserve(MemoryManager mm, pyp_list_t *h, Slots *s, uint64_t need) except? 0:
    """Room for `need` slots: the next small array, or more blocks (and the
    directory they need).  Updates the header and the view.  Returns the first
    slot of the storage allocated here (NONE_FRESH if none): nothing there was
    in use when the transaction began."""
    cdef uint64_t cap = h.capacity, new, nb, old_nb, dircap, k, fresh
    cdef uint64_t *dir
    cdef int j
    if need <= cap:
        return NONE_FRESH
    if need > MAX_CAPACITY or need * GROUP_BYTES // 8 > mm.pool_size:
        raise PoolFullError(f"a list of {need:,} items does not fit in pool {mm.filename!r}")
    if need <= BLOCK:
        j = 0
        while SMALL_CAP[j] < need or SMALL_CAP[j] <= cap:
            j += 1
        new = mm.alloc(SMALL_BYTES[j], PYP_TYPE_NUM_RAW, False)
        if cap:
            _copy_small(mm, s, mm.base + new, h.size)
            mm.free(h.items)
        _set_header(mm, h, SMALL_CAP[j], new)
        _view(mm, h, s, True)
        return FRESH_ALL
    nb = (need + BLOCK - 1) // BLOCK
    if cap <= BLOCK:                                # a small list becomes a large one
        new = mm.alloc(_pow2_at_least(nb) * 8, PYP_TYPE_NUM_RAW, True)
        dir = <uint64_t *>(mm.base + new)
        if cap == BLOCK:
            dir[0] = h.items                        # the last small array is a block
            fresh = BLOCK
        else:
            dir[0] = mm.alloc(BLOCK_BYTES, PYP_TYPE_NUM_RAW, False)
            if cap:
                _copy_small(mm, s, mm.base + dir[0], h.size)
                mm.free(h.items)
            fresh = FRESH_ALL
        old_nb = 1
    else:
        old_nb = cap // BLOCK
        fresh = old_nb * BLOCK
        dircap = _pow2_at_least(old_nb)
        if nb > dircap:
            new = mm.alloc(_pow2_at_least(nb) * 8, PYP_TYPE_NUM_RAW, True)
            dir = <uint64_t *>(mm.base + new)
            memcpy(dir, mm.obj(h.items, old_nb * 8), old_nb * 8)
            mm.free(h.items)
        else:
            new = h.items
            dir = <uint64_t *>mm.obj(h.items, nb * 8)
            # (snapshotted: _shrink may have dropped these blocks earlier in the transaction)
            mm.snapshot(&dir[old_nb], (nb - old_nb) * 8)
    for k in range(old_nb, nb):
        dir[k] = mm.alloc(BLOCK_BYTES, PYP_TYPE_NUM_RAW, False)
    _set_header(mm, h, nb * BLOCK, new)
    _view(mm, h, s, True)
    return fresh


cdef int _shrink(MemoryManager mm, pyp_list_t *h, Slots *s, uint64_t n) except -1:
    """Give back what a list of n items (its new size) does not need: a smaller
    small array when a quarter is used, the blocks past the one after the
    last used one, the directory when a block is enough."""
    cdef uint64_t cap = h.capacity, new, nb, keep, k
    cdef const uint64_t *dir
    cdef int j
    if cap == 0:
        return 0
    if n == 0:
        if cap > BLOCK:
            dir = <const uint64_t *>mm.obj(h.items, cap // BLOCK * 8)
            for k in range(cap // BLOCK):
                mm.obj(dir[k], BLOCK_BYTES)
                mm.free(dir[k])
        mm.free(h.items)
        _set_header(mm, h, 0, 0)
        return _view(mm, h, s, True)
    if cap <= BLOCK:
        if cap > SMALL_CAP[0] and n * 4 < cap:
            j = 0
            while SMALL_CAP[j] < 2 * n:
                j += 1
            new = mm.alloc(SMALL_BYTES[j], PYP_TYPE_NUM_RAW, False)
            _copy_small(mm, s, mm.base + new, n)
            mm.free(h.items)
            _set_header(mm, h, SMALL_CAP[j], new)
            _view(mm, h, s, True)
        return 0
    nb = cap // BLOCK
    dir = <const uint64_t *>mm.obj(h.items, nb * 8)
    if n <= BLOCK // 2:                             # back to a small list: its first block is the array
        for k in range(1, nb):
            mm.obj(dir[k], BLOCK_BYTES)
            mm.free(dir[k])
        new = dir[0]
        mm.obj(new, BLOCK_BYTES)
        mm.free(h.items)
        _set_header(mm, h, BLOCK, new)
        return _view(mm, h, s, True)
    keep = (n + BLOCK - 1) // BLOCK + 1             # a spare block: no churn at a block's edge
    if nb > keep:
        for k in range(keep, nb):
            mm.obj(dir[k], BLOCK_BYTES)
            mm.free(dir[k])
        _set_header(mm, h, keep * BLOCK, h.items)
        _view(mm, h, s, True)
    return 0


cdef int _list_traverse(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    """Report the list's references (its REF slots) and the blocks it owns."""
    cdef pyp_list_t *h = <pyp_list_t *>mm.obj(off, sizeof(pyp_list_t))
    cdef Slots s
    cdef uint64_t i, k
    cdef char *g = NULL
    cdef pyp_slot_t v
    _check_header(mm, off, h)
    _view(mm, h, &s, True)
    for i in range(h.size):
        if g == NULL or i & 7 == 0:
            g = _group(&s, i)
        v = _get(g, i)
        if v.tag == PYP_TAG_REF:
            visit(ctx, v.payload, VISIT_REF)
    if s.dir != NULL:
        mm.obj(h.items, h.capacity // BLOCK * 8)        # a visitor may free what it is shown
        for k in range(h.capacity // BLOCK):
            mm.obj(s.dir[k], BLOCK_BYTES)
            visit(ctx, s.dir[k], VISIT_RAW)
    if h.items:
        visit(ctx, h.items, VISIT_RAW)
    return 0
