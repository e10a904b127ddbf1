# Included by _hashtable.pxd: what the methods of PersistentDict, PersistentSet,
# PersistentFrozenSet and PersistentObject's attributes share on top of the
# table: the owner's hash of a key, each change as one transaction (its own, or
# a part of the enclosing one, rolled back as a whole on error), and the
# insertion-order cursor of their iterators.
from cpython.mem cimport PyMem_Malloc, PyMem_Free


cdef inline uint64_t ht_owner_hash(PersistentBase o, object key) except? 0xFFFFFFFFFFFFFFFF:
    """The stable hash of key in o's pool (raises if o was not created by pool.new())."""
    if o.mm is None:
        o.addr(0)
    return ht_hash(o.mm, key)


cdef inline int ht_set_tx(PersistentBase o, HT *t, object key, uint64_t h, object value,
                          bint overwrite) except -1:
    """ht_set as one transaction; returns 1 when the key was new."""
    cdef MemoryManager mm = o.mm
    cdef int inserted
    o.begin()
    try:
        inserted = ht_set(o, t, key, h, value, overwrite)
    except BaseException:
        mm.end(False)
        raise
    mm.end(True)
    return inserted


cdef inline int ht_set_many_tx(PersistentBase o, HT *t, list items, bint pairs) except -1:
    """Set every item in one transaction, every key hashed first: (key, value) tuples
    that replace existing values (pairs), or a set's members."""
    cdef Py_ssize_t n = len(items), i
    cdef uint64_t *hs
    cdef MemoryManager mm
    if n == 0:
        o.addr(0)       # still raises on a closed pool or a dead object
        return 0
    hs = <uint64_t *>PyMem_Malloc(n * sizeof(uint64_t))
    if hs == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            hs[i] = ht_owner_hash(o, (<tuple>items[i])[0] if pairs else items[i])
        mm = o.mm
        o.begin()
        try:
            for i in range(n):
                if pairs:
                    ht_set(o, t, (<tuple>items[i])[0], hs[i], (<tuple>items[i])[1], True)
                else:
                    ht_set(o, t, items[i], hs[i], None, False)
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)
    finally:
        PyMem_Free(hs)
    return 0


cdef enum:
    # what ht_remove_tx returns of the entry it removes
    HT_FOUND = 0                # True
    HT_KEY = 1
    HT_VALUE = 2
    HT_ITEM = 3                 # (key, value)


cdef inline object ht_remove_tx(PersistentBase o, HT *t, object key, uint64_t h, bint last, int what,
                                object missing):
    """Remove key (last: the entry inserted last) as one transaction; return `what`
    of it, loaded before its references are released, or `missing` if there was none."""
    cdef MemoryManager mm = o.mm
    cdef pyp_slot_t old[2]       # ht_release reads old[1] only for mappings
    cdef int found
    out = missing
    o.begin()
    try:
        found = ht_take_last(o, t, old) if last else ht_take(o, t, key, h, old)
        if found:
            if what == HT_KEY:
                out = mm.load(&old[0])
            elif what == HT_VALUE:
                out = mm.load(&old[1])
            elif what == HT_ITEM:
                out = (mm.load(&old[0]), mm.load(&old[1]))
            else:
                out = True
            ht_release(mm, t, old)
    except BaseException:
        mm.end(False)
        raise
    mm.end(True)
    return out


cdef inline int ht_clear_tx(PersistentBase o, HT *t) except -1:
    """ht_clear as one transaction."""
    cdef MemoryManager mm = o.mm
    o.begin()
    try:
        ht_clear(o, t)
    except BaseException:
        mm.end(False)
        raise
    mm.end(True)
    return 0


# -- iteration in insertion order: every step reads the pool, so iterators see
#    what the pool holds, and fail as the builtins do when it changes under them

cdef struct HTCursor:
    uint64_t pos                # 1 + the entry to return next, 0 at the end
    int64_t used                # the length at creation, -1 after a change of size
    Py_ssize_t remaining
    bint reverse

cdef enum:
    # ht_cursor_next's results that are no entry
    HT_END = -1
    HT_RESIZED = -2             # the table changed size: the cursor stays broken
    HT_REPLACED = -3            # the entries were replaced by others of the same number


cdef inline void ht_cursor_start(HTCursor *c, const HT *t, bint reverse) noexcept:
    c.reverse = reverse
    c.used = <int64_t>t.h.used
    c.remaining = <Py_ssize_t>t.h.used
    c.pos = t.h.last if reverse else t.h.first


cdef inline Py_ssize_t ht_cursor_hint(const HTCursor *c, const HT *t) noexcept:
    return c.remaining if c.used == <int64_t>t.h.used else 0


cdef inline int64_t ht_cursor_next(HTCursor *c, const HT *t, pyp_ht_entry_t **entry) except -4:
    """The next entry of the open table t (*entry receives it), or HT_END, HT_RESIZED, HT_REPLACED."""
    cdef uint64_t i
    cdef pyp_ht_entry_t *e
    if c.used != <int64_t>t.h.used:
        c.used = -1
        return HT_RESIZED
    i = c.pos
    if i == 0 and c.remaining == 0:
        return HT_END
    if i == 0 or c.remaining == 0 or i > t.h.nentries:
        return HT_REPLACED
    e = ht_entry(t, i - 1)
    if not ht_live(e):
        return HT_REPLACED
    i -= 1
    c.pos = ht_before(t, i) if c.reverse else ht_after(t, i)
    c.remaining -= 1
    entry[0] = e
    return <int64_t>i


cdef inline int ht_cursor_fail(int64_t r, str resized, str replaced) except -1:
    """Raise what an iterator raises for a result of ht_cursor_next that is no entry."""
    if r == HT_END:
        raise StopIteration
    raise RuntimeError(resized if r == HT_RESIZED else replaced)
