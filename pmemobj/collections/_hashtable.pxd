# The hash table shared by PersistentDict, PersistentSet, PersistentFrozenSet and
# PersistentObject's attributes (layout: include/pyp_hashtable.h).  Typed C
# helpers, inlined into each module that cimports them.
#
# Conventions.  An HT describes one table: its header inside the owner object
# and its arrays (small tables) or directories (larger ones), as pointers
# checked against the pool.  Pointers into a pool go stale whenever Python
# code may have run (a user __eq__, pickling, a resurrection hook can mutate
# the table or close the pool), so every helper that runs such code re-derives
# them from the owner proxy before reading on.  Reads check a segment's
# offset against the mapping; a block is checked as an allocation before it
# is written.  Writes happen inside the caller's transaction: a snapshot of
# exactly what changes (an index slot, an entry, the counters), or fresh
# allocations.
from cpython.ref cimport PyObject
from libc.stdint cimport uint32_t, uint64_t, int64_t
from libc.string cimport memcpy, memset, memcmp
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from pmemobj._core cimport (MemoryManager, PersistentBase, pyp_slot_t, pyp_header_t, pyp_bytes_t, PYP_TAG_EMPTY,
                            PYP_TAG_REF, PYP_TAG_INT, PYP_TYPE_NUM_RAW, PYP_T_STR, PYP_T_BYTES, PYP_BYTES_DATA, VISIT_REF,
                            VISIT_RAW, visit_fn)

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *) except NULL
    long long PyLong_AsLongLongAndOverflow(object, int *) except? -1
    object PyLong_FromLongLong(long long)
    Py_ssize_t PyObject_Hash(object) except -1

cdef extern from "pyp_hashtable.h":
    uint64_t PYP_HT_LOG2_MIN
    uint64_t PYP_HT_LOG2_MAX
    uint64_t PYP_HT_FLAT_LOG2
    uint64_t PYP_HT_SEG_SHIFT
    uint64_t PYP_HT_SEG_ENTRIES
    uint64_t PYP_HT_IX_SEG_SHIFT
    uint64_t PYP_HT_IX_SEG_SLOTS
    uint64_t PYP_HT_MAX_ENTRIES
    uint64_t PYP_HT_USABLE(uint64_t log2)
    uint64_t PYP_HT_HOME(uint64_t hash48, uint64_t log2)
    uint64_t PYP_HT_ENTRY_MASK(uint64_t log2)
    uint64_t PYP_HT_FINGERPRINT(uint64_t hash48)
    uint64_t PYP_HT_HASH_MASK
    uint64_t PYP_HT_KEY_TAG_SHIFT
    uint64_t PYP_HT_VALUE_TAG_SHIFT

    ctypedef struct pyp_ht_t:
        uint64_t used
        uint64_t nentries
        uint64_t free
        uint64_t log2_size
        uint64_t capacity
        uint64_t index
        uint64_t entries
        uint64_t first
        uint64_t last

    ctypedef struct pyp_ht_entry_t:
        uint64_t meta
        uint64_t key
        uint64_t value
        uint64_t order

    ctypedef struct pyp_ht_key_t:
        uint64_t meta
        uint64_t key
        uint64_t order

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

cdef enum:
    POOL_HDR = 8192             # libpmemobj's pool header: no segment starts below
    LINK_MASK = 0xFFFFFFFF
    SLOT_MASK = 0xFFFFFFFF

cdef extern from *:
    """
    /* ix_get of a slot in a segment outside the pool: no 32-bit slot value (damage) */
    #define PYP_HT_IX_BAD (((uint64_t)1) << 40)
    """
    uint64_t IX_BAD "PYP_HT_IX_BAD"


cdef struct HT:
    pyp_ht_t *h                 # the table header, inside the owner object
    char *index                 # a small index (NULL when segmented, or no table)
    const uint64_t *ixdir       # the index directory of a larger table (else NULL)
    char *entries               # a small table's entries (NULL when segmented, or no table)
    const uint64_t *endir       # the entry directory of a larger table (else NULL)
    char *base                  # the pool's mapping: segment offsets are relative to it
    uint64_t pool_size
    PyObject *mm                # the MemoryManager (borrowed: the owner proxy holds it)
    uint64_t mask               # index slots - 1
    uint64_t shift              # 64 - log2_size: PYP_HT_HOME without the multiplication's constant
    uint64_t emask              # the entry bits of an index slot; the fingerprint bits are above
    size_t objsize              # bytes of the owner object (header included)
    size_t stride               # bytes per entry: sizeof(pyp_ht_entry_t) or sizeof(pyp_ht_key_t)
    bint strict                 # small arrays checked as allocations (see ht_attach)


cdef inline int ht_damaged(MemoryManager mm, str what) except -1:
    from pmemobj._core import InvalidPoolError
    raise InvalidPoolError(22, f"damaged pool: {what}", mm.filename)


cdef inline void ht_init(HT *t, size_t objsize, size_t stride) noexcept:
    t.objsize = objsize
    t.stride = stride
    t.h = NULL
    t.index = t.entries = NULL
    t.ixdir = t.endir = NULL


cdef inline bint ht_has_values(const HT *t) noexcept:
    return t.stride == sizeof(pyp_ht_entry_t)


# -- the packed entries -------------------------------------------------------

cdef inline bint ht_live(const pyp_ht_entry_t *e) noexcept:
    return (e.meta >> PYP_HT_KEY_TAG_SHIFT) & 0xFF != PYP_TAG_EMPTY


cdef inline pyp_slot_t ht_key(const pyp_ht_entry_t *e) noexcept:
    cdef pyp_slot_t s
    s.tag = (e.meta >> PYP_HT_KEY_TAG_SHIFT) & 0xFF
    s.payload = e.key
    return s


cdef inline pyp_slot_t ht_value(const pyp_ht_entry_t *e) noexcept:
    """The value slot of a mapping's entry."""
    cdef pyp_slot_t s
    s.tag = e.meta >> PYP_HT_VALUE_TAG_SHIFT
    s.payload = e.value
    return s


cdef inline uint64_t *ht_order(const HT *t, pyp_ht_entry_t *e) noexcept:
    """The entry's last word: its links (see include/pyp_hashtable.h)."""
    return <uint64_t *>(<char *>e + t.stride - sizeof(uint64_t))


# -- geometry -------------------------------------------------------------------

cdef inline bint ht_flat(uint64_t log2) noexcept:
    """Small tables keep their entries in one array."""
    return log2 <= PYP_HT_FLAT_LOG2


cdef inline uint64_t ix_bytes(uint64_t log2) noexcept:
    """Bytes of a small index, or of one segment of a larger one."""
    return ((<uint64_t>1) << min(log2, PYP_HT_IX_SEG_SHIFT)) * 4


cdef inline uint64_t pow2_at_least(uint64_t n) noexcept:
    cdef uint64_t p = 1
    while p < n:
        p <<= 1
    return p


cdef inline bint seg_ok(const HT *t, uint64_t off, uint64_t n) noexcept:
    """A segment offset from a directory lies in the pool (a read there cannot fault)."""
    return off >= POOL_HDR and off <= t.pool_size and n <= t.pool_size - off


cdef inline uint64_t ht_home(const HT *t, uint64_t meta) noexcept:
    """The index slot where the probe for a hash (or an entry's meta word) starts."""
    return ((meta & PYP_HT_HASH_MASK) * 0x9E3779B97F4A7C15ULL) >> t.shift


cdef inline void ht_geometry(HT *t, uint64_t log2) noexcept:
    t.mask = ((<uint64_t>1) << log2) - 1
    t.shift = 64 - log2
    t.emask = PYP_HT_ENTRY_MASK(log2)


cdef inline uint64_t ix_tag(const HT *t, uint64_t meta) noexcept:
    """The fingerprint bits of an index slot for a hash (or an entry's meta word)."""
    return PYP_HT_FINGERPRINT(meta & PYP_HT_HASH_MASK) & ~t.emask & SLOT_MASK


cdef inline uint64_t ix_value(const HT *t, uint64_t meta, uint64_t n) noexcept:
    """The index slot value for entry n with this hash."""
    return (n + 1) | ix_tag(t, meta)


cdef inline char *ht_ptr(MemoryManager mm, uint64_t off, uint64_t n) except NULL:
    """mm.ptr(off, n) inlined for the hot paths (mm.ptr raises the errors)."""
    if mm.closed or off < POOL_HDR or off > mm.pool_size or n > mm.pool_size - off:
        return mm.ptr(off, n)
    return mm.base + off


cdef inline int ht_attach(MemoryManager mm, HT *t, bint strict=True) except -1:
    """Check the header t.h and point t at its arrays or directories.

    strict: check a small table's arrays against their allocations (before
    writing); otherwise only against the mapping (enough for reads never to
    fault).  Directories are only read here: the segments and directories a
    change writes are checked as allocations when it writes them."""
    cdef pyp_ht_t *h = t.h
    cdef uint64_t log2 = h.log2_size
    t.base = mm.base
    t.pool_size = mm.pool_size
    t.mm = <PyObject *>mm
    t.strict = strict
    t.index = t.entries = NULL
    t.ixdir = t.endir = NULL
    if h.index == 0:
        if h.entries or h.used or h.nentries or h.free or h.capacity or log2 or h.first or h.last:
            ht_damaged(mm, "hash table header without an index")
        ht_geometry(t, 1)
        return 0
    if (log2 < PYP_HT_LOG2_MIN or log2 > PYP_HT_LOG2_MAX or h.used > PYP_HT_USABLE(log2)
            or h.nentries > h.capacity or h.used > h.nentries or h.entries == 0 or h.free > h.nentries
            or h.first > h.nentries or h.last > h.nentries or (h.used == 0) != (h.first == 0)
            or (h.used == 0) != (h.last == 0)
            or (ht_flat(log2) and h.capacity > PYP_HT_USABLE(log2))
            or h.capacity >= PYP_HT_ENTRY_MASK(log2)
            or (not ht_flat(log2) and (h.capacity == 0 or h.capacity % PYP_HT_SEG_ENTRIES
                                       or h.capacity > mm.pool_size // t.stride))):
        ht_damaged(mm, "inconsistent hash table header")
    ht_geometry(t, log2)
    if log2 <= PYP_HT_IX_SEG_SHIFT:
        t.index = mm.obj(h.index, ix_bytes(log2)) if strict else ht_ptr(mm, h.index, ix_bytes(log2))
    else:
        t.ixdir = <const uint64_t *>ht_ptr(mm, h.index, ((t.mask + 1) >> PYP_HT_IX_SEG_SHIFT) * 8)
    if ht_flat(log2):
        t.entries = mm.obj(h.entries, h.capacity * t.stride) if strict else ht_ptr(mm, h.entries, h.capacity * t.stride)
    else:
        t.endir = <const uint64_t *>ht_ptr(mm, h.entries, (h.capacity >> PYP_HT_SEG_SHIFT) * 8)
    return 0


cdef inline char *ht_owner(PersistentBase o, size_t n) except NULL:
    """The owner's memory: checked like addr() but, on the hot path, only against the mapping."""
    if o.off == 0 or o.mm is None:
        return o.addr(n)            # raises the right error
    return ht_ptr(o.mm, o.off, n)


cdef inline int ht_open(PersistentBase o, HT *t, bint strict=True) except -1:
    """Point t at the table of the owner `o` (raises if its pool is closed).
    strict=False for reads (see ht_attach)."""
    if strict:
        t.h = <pyp_ht_t *>(o.addr(t.objsize) + sizeof(pyp_header_t))
    else:
        t.h = <pyp_ht_t *>(ht_owner(o, t.objsize) + sizeof(pyp_header_t))
    return ht_attach(o.mm, t, strict)


cdef inline pyp_ht_entry_t *ht_bad_segment(const HT *t, uint64_t seg) except NULL:
    ht_damaged(<MemoryManager>t.mm, f"hash table segment at 0x{seg:x} lies outside the pool")


cdef inline pyp_ht_entry_t *ht_entry(const HT *t, uint64_t i) except NULL:
    """Entry i, for reading (of a set's entries only meta, key and order exist)."""
    cdef uint64_t seg
    if t.entries != NULL:
        return <pyp_ht_entry_t *>(t.entries + i * t.stride)
    seg = t.endir[i >> PYP_HT_SEG_SHIFT]
    if not seg_ok(t, seg, PYP_HT_SEG_ENTRIES * t.stride):
        return ht_bad_segment(t, seg)
    return <pyp_ht_entry_t *>(t.base + seg + (i & (PYP_HT_SEG_ENTRIES - 1)) * t.stride)


cdef inline pyp_ht_entry_t *ht_entry_w(MemoryManager mm, const HT *t, uint64_t i) except NULL:
    """Entry i, for writing: its segment is checked as an allocation."""
    if t.entries != NULL:
        return <pyp_ht_entry_t *>(t.entries + i * t.stride)
    return <pyp_ht_entry_t *>(mm.obj(t.endir[i >> PYP_HT_SEG_SHIFT], PYP_HT_SEG_ENTRIES * t.stride)
                              + (i & (PYP_HT_SEG_ENTRIES - 1)) * t.stride)


cdef inline uint64_t ix_get(const HT *t, uint64_t i) noexcept:
    """Index slot i (IX_BAD if its segment lies outside the pool)."""
    cdef const char *seg = t.index
    cdef uint64_t off
    if seg == NULL:
        off = t.ixdir[i >> PYP_HT_IX_SEG_SHIFT]
        if not seg_ok(t, off, PYP_HT_IX_SEG_SLOTS * 4):
            return IX_BAD           # the callers find it past the entries: damage
        seg = t.base + off
        i &= PYP_HT_IX_SEG_SLOTS - 1
    return (<const uint32_t *>seg)[i]


cdef inline void ix_put(HT *t, uint64_t i, uint64_t v) noexcept:
    """Write an index slot of an index allocated in this transaction (its segments are not checked)."""
    cdef char *seg = t.index
    if seg == NULL:
        seg = t.base + t.ixdir[i >> PYP_HT_IX_SEG_SHIFT]
        i &= PYP_HT_IX_SEG_SLOTS - 1
    (<uint32_t *>seg)[i] = <uint32_t>v


cdef inline int ix_store(MemoryManager mm, HT *t, uint64_t i, uint64_t v) except -1:
    """Write an index slot of the table's index: snapshotted, its segment checked."""
    cdef char *seg = t.index
    if seg == NULL:
        seg = mm.obj(t.ixdir[i >> PYP_HT_IX_SEG_SHIFT], PYP_HT_IX_SEG_SLOTS * 4)
        i &= PYP_HT_IX_SEG_SLOTS - 1
    mm.snapshot(&(<uint32_t *>seg)[i], 4)
    (<uint32_t *>seg)[i] = <uint32_t>v
    return 0


# -- the insertion order ----------------------------------------------------------

cdef inline uint64_t ht_after(const HT *t, uint64_t i) except? 0xFFFFFFFFFFFFFFFF:
    """1 + the live entry after entry i in insertion order, 0 if i is the last."""
    cdef uint64_t link
    if i + 1 == t.h.last:
        return 0
    link = ht_order(t, ht_entry(t, i))[0] >> 32
    return link if link else i + 2


cdef inline uint64_t ht_before(const HT *t, uint64_t i) except? 0xFFFFFFFFFFFFFFFF:
    """1 + the live entry before entry i in insertion order, 0 if i is the first."""
    cdef uint64_t link
    if i + 1 == t.h.first:
        return 0
    link = ht_order(t, ht_entry(t, i))[0] & LINK_MASK
    return link if link else i


# -- lookups ---------------------------------------------------------------------

cdef inline uint64_t ht_hash(MemoryManager mm, object key) except? 0xFFFFFFFFFFFFFFFF:
    """mm.hash_of(key), with the int case inlined."""
    if type(key) is int:
        return <uint64_t>PyObject_Hash(key)
    return <uint64_t>mm.hash_of(key)


cdef inline object ht_load(MemoryManager mm, const pyp_slot_t *s):
    """mm.load(s), with the int case inlined."""
    if s.tag == PYP_TAG_INT:
        return PyLong_FromLongLong(<long long>s.payload)
    return mm.load(s)


cdef inline bint ht_plain(object key) noexcept:
    """Keys whose comparison with an inline slot runs no Python code."""
    cdef type kt = type(key)
    return kt is int or kt is str or kt is bytes or kt is float or kt is bool or key is None


cdef inline int ht_text_eq(MemoryManager mm, const pyp_slot_t *k, uint64_t tid, const char *data,
                           Py_ssize_t n) except -1:
    """Compare a REF slot to UTF-8 (tid PYP_T_STR) or raw (PYP_T_BYTES) data without
    going through the allocator's size lookup: 1 equal, 0 not, 2 not such an object."""
    cdef pyp_bytes_t *b = <pyp_bytes_t *>ht_ptr(mm, k.payload, PYP_BYTES_DATA)
    if b.h.type_id != tid:
        return 2
    if b.size != <uint64_t>n:
        return 0
    ht_ptr(mm, k.payload, PYP_BYTES_DATA + <uint64_t>n)
    return memcmp(b.data, data, n) == 0


cdef inline int64_t ht_find(PersistentBase o, HT *t, object key, uint64_t h, uint64_t *slot) except -2:
    """The entry number of `key` (stable hash h), or -1; *slot receives its index
    slot, or the empty slot where it would go.

    t must be open; it is reopened (and the search restarted if the table
    changed) after any comparison that could have run Python code."""
    cdef MemoryManager mm = o.mm
    cdef uint64_t i, ix, probes, idx_off, ent_off, nent, tag
    cdef pyp_ht_entry_t *e
    cdef pyp_slot_t k
    cdef bint plain = ht_plain(key)
    cdef int eq, overflow = 0
    cdef type kt = type(key)
    cdef const char *text = NULL        # str keys: UTF-8 (once a hash matches), bytes keys: the data
    cdef Py_ssize_t textlen = 0
    cdef uint64_t text_tid = 0
    if kt is bytes:
        text = PyBytes_AS_STRING(key)
        textlen = PyBytes_GET_SIZE(key)
        text_tid = PYP_T_BYTES
    h &= PYP_HT_HASH_MASK
    while True:
        if t.h.index == 0:
            return -1
        i = ht_home(t, h)
        tag = ix_tag(t, h)
        probes = 0
        while True:
            ix = ix_get(t, i)
            if ix == 0:
                slot[0] = i
                return -1
            if ix > SLOT_MASK or (ix & t.emask) == 0 or (ix & t.emask) > t.h.nentries:
                ht_damaged(mm, "hash table index refers past its entries")
            e = NULL
            if (ix & ~t.emask) == tag:          # else another key's fingerprint: its entry is not read
                e = ht_entry(t, (ix & t.emask) - 1)
                if (e.meta & PYP_HT_HASH_MASK) != h or not ht_live(e):
                    e = NULL
            if e != NULL:
                ix &= t.emask
                k = ht_key(e)
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
                elif kt is int and k.tag == PYP_TAG_INT:     # mm.slot_eq's first case, inlined
                    eq = PyLong_AsLongLongAndOverflow(key, &overflow) == <long long>k.payload and not overflow
                elif plain and k.tag != PYP_TAG_REF:
                    eq = mm.slot_eq(&k, key)
                else:
                    idx_off = t.h.index
                    ent_off = t.h.entries
                    nent = t.h.nentries
                    eq = mm.slot_eq(&k, key)
                    t.h = <pyp_ht_t *>(ht_owner(o, t.objsize) + sizeof(pyp_header_t))
                    ht_attach(mm, t, t.strict)
                    if (t.h.index != idx_off or t.h.entries != ent_off or t.h.nentries != nent
                            or ht_key(ht_entry(t, ix - 1)).tag != k.tag or ht_entry(t, ix - 1).key != k.payload):
                        break       # the table changed under the comparison: search again
                if eq:
                    slot[0] = i
                    return <int64_t>(ix - 1)
            probes += 1
            if probes > t.mask:
                ht_damaged(mm, "hash table index has no free slot")
            i = (i + 1) & t.mask


cdef inline int ht_free_slot(MemoryManager mm, const HT *t, uint64_t h, uint64_t *slot) except -1:
    """The first empty index slot from h's home on."""
    cdef uint64_t i = ht_home(t, h), probes = 0
    while ix_get(t, i) != 0:
        probes += 1
        if probes > t.mask:
            ht_damaged(mm, "hash table index has no free slot")
        i = (i + 1) & t.mask
    slot[0] = i
    return 0


cdef inline int ht_slot_of(MemoryManager mm, const HT *t, uint64_t h, uint64_t n, uint64_t *slot) except -1:
    """The index slot that refers to entry n (whose hash is h)."""
    cdef uint64_t i = ht_home(t, h), ix, probes = 0
    while True:
        ix = ix_get(t, i)
        if ix <= SLOT_MASK and (ix & t.emask) == n + 1:
            slot[0] = i
            return 0
        probes += 1
        if ix == 0 or probes > t.mask:
            ht_damaged(mm, "hash table entry missing from its index")
        i = (i + 1) & t.mask


include "_hashtable_storage.pxi"
include "_hashtable_calls.pxi"
