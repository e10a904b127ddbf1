# cython: boundscheck=False, wraparound=False, cdivision=True
"""Skip lists: persistent collections kept in the order of a sort key
(ptypes.pcollections.SkipList; the layout is pt_skiplist_t and pt_skipnode_t
in include/ptypes_layout.h).

Each item is a node linked at a random number of levels (a quarter of the
nodes of a level reach the next one), so that a search walks O(log n) nodes.
A node keeps the sort key taken from its item when it was inserted: the order
never depends on code or on fields changed later, and comparisons read the
pool directly (Int and Float key parts inline, ByteString parts by
reference).  Items with equal keys keep the order they were inserted in.
"""
import os

from libc.stdint cimport uint64_t, int64_t
from libc.string cimport memcmp, memset
from libc.math cimport floor
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE

from pmemobj._core cimport (MemoryManager, register_traverse, visit_fn, visit_slots, pyp_slot_t,
                            PYP_TAG_EMPTY, PYP_TAG_NONE, PYP_TAG_INT, PYP_TAG_FLOAT, PYP_TAG_REF,
                            PYP_TYPE_NUM_RAW, VISIT_RAW)
from ptypes._layout cimport (pt_skiplist_t, pt_skipnode_t, pt_bytes_t, pt_bits_double, pt_double_bits,
                             PT_SKIP_MAXLEVEL, SLOT)
from ptypes._objects cimport (Field, TypeInfo, Session, PtObject, PtValue, PtByteString, K_INT, K_FLOAT, K_BYTES,
                              K_STRUCT, K_NODE, K_SKIPLIST, make_slot, load_key, load_ref, damaged,
                              bytes_at, alloc_object, found_name, release_unless_doomed)

from ptypes import _objects

cdef enum:
    NODE_KEYS = 32               # offset of pt_skipnode_t.keys
    MAX_PARTS = 16               # parts of a sort key
    MIN_NODE_OFF = 4096          # no allocation lies in the pool's first page


# -- the sort key ---------------------------------------------------------------

cdef class SortKey:
    """How the sort key of a skip list's items is taken and compared: the item
    itself (an Int, Float or ByteString), or fields reached from it by paths
    of field names (a node's contents is its field `contents`)."""
    cdef readonly list paths          # [[name, ...], ...]; [] when the item is its key
    cdef readonly int nparts          # 0 when the item is its key
    cdef int kinds[MAX_PARTS]         # of each part (or of the item): K_INT, K_FLOAT, K_BYTES, or 0
    cdef TypeInfo item

    cdef int kind(self, int i):
        return self.kinds[i]


def build_type(TypeInfo ti, dict desc):
    """Compile the sort key of a skip list type from its description (the
    schema lists it as paths of field names)."""
    paths = desc.get("key", [])
    if not isinstance(paths, list) or len(paths) > MAX_PARTS or not all(
            isinstance(p, list) and p and all(isinstance(n, str) for n in p) for p in paths):
        raise TypeError(f"the sort key of {ti.name} must be paths of field names, not {paths!r}")
    cdef SortKey k = SortKey.__new__(SortKey)
    k.item = ti.item
    k.paths = [list(p) for p in paths]
    k.nparts = len(paths)
    if not paths:
        k.kinds[0] = ti.item.kind if ti.item.kind in (K_INT, K_FLOAT, K_BYTES) else 0
    for i, path in enumerate(paths):
        part = ti.item
        for name in path:
            if part.kind == K_STRUCT and name in part.fields:
                part = part.fields[name].ti
            elif part.kind == K_NODE and name == "contents":
                part = part.value
            else:
                raise TypeError(f"the sort key {'.'.join(path)!r} of {ti.name}: {part.cls!r} has no "
                                f"field {name!r}")
        if part.kind not in (K_INT, K_FLOAT, K_BYTES):
            raise TypeError(f"the sort key {'.'.join(path)!r} of {ti.name} is a {part.cls!r}, which "
                            f"has no sort order (Int, Float and ByteString have one)")
        k.kinds[i] = part.kind
    ti.sortkey = k


# A key being searched for, in the form node keys are compared with.
cdef struct Probe:
    int64_t ival
    double fval
    bint is_float              # numeric parts: which of ival/fval holds the number
    const char *data
    uint64_t size


cdef int cmp_int_double(int64_t a, double b) noexcept:
    """Exact comparison of an int64 and a (non-NaN) double: -1, 0 or 1."""
    cdef double fb
    cdef int64_t ib
    if b >= 9223372036854775808.0:
        return -1
    if b < -9223372036854775808.0:
        return 1
    fb = floor(b)
    ib = <int64_t>fb
    if a < ib:
        return -1
    if a > ib:
        return 1
    return -1 if b > fb else 0


cdef int cmp_slot(MemoryManager mm, int kind, const pyp_slot_t *s, Probe *p) except -2:
    """Compare a stored key part with a probe part: -1, 0 or 1."""
    cdef int64_t a
    cdef double x
    cdef pt_bytes_t *b
    cdef int c
    if kind == K_INT:
        if s.tag != PYP_TAG_INT:
            raise damaged(mm, f"skip list key with tag {s.tag} where an Int belongs")
        a = <int64_t>s.payload
        if p.is_float:
            return cmp_int_double(a, p.fval)
        return (a > p.ival) - (a < p.ival)
    if kind == K_FLOAT:
        if s.tag != PYP_TAG_FLOAT:
            raise damaged(mm, f"skip list key with tag {s.tag} where a Float belongs")
        x = pt_bits_double(s.payload)
        if not p.is_float:
            return -cmp_int_double(p.ival, x)
        return (x > p.fval) - (x < p.fval)
    if s.tag != PYP_TAG_REF:
        raise damaged(mm, f"skip list key with tag {s.tag} where a ByteString belongs")
    b = bytes_at(mm, s.payload)
    c = memcmp(b.data, p.data, b.size if b.size < p.size else p.size)
    if c:
        return 1 if c > 0 else -1
    return (b.size > p.size) - (b.size < p.size)


cdef object probe_part(int kind, object v, Probe *p, str what):
    """Fill `p` from the Python value `v` of a key part; returns what must stay
    alive while `p` is used."""
    if isinstance(v, PtValue):
        v = v.contents
    if kind == K_BYTES:
        if isinstance(v, PtByteString):
            v = v.contents
        elif isinstance(v, (bytearray, memoryview)):
            v = bytes(v)
        elif not isinstance(v, bytes):
            raise TypeError(f"{what} is a ByteString: expected bytes, found {found_name(v)}")
        p.data = PyBytes_AS_STRING(v)
        p.size = PyBytes_GET_SIZE(v)
        return v
    if not isinstance(v, (int, float)):
        raise TypeError(f"{what} is a number: expected an int or a float, found {found_name(v)}")
    if isinstance(v, int) and -2**63 <= v < 2**63:
        p.ival = v
        return v
    p.is_float = True
    p.fval = v           # OverflowError for an int too large for a double
    if p.fval != p.fval:
        raise ValueError(f"{what}: NaN has no place in a sorted collection")
    return v


cdef int probe_slot(MemoryManager mm, int kind, const pyp_slot_t *s, Probe *p) except -1:
    """Fill `p` from a stored key part."""
    cdef pt_bytes_t *b
    if kind == K_BYTES:
        if s.tag != PYP_TAG_REF:
            raise TypeError("a ByteString sort key is not set (None)")
        b = bytes_at(mm, s.payload)
        p.data = b.data
        p.size = b.size
    elif kind == K_FLOAT:
        p.is_float = True
        p.fval = pt_bits_double(s.payload)
        if p.fval != p.fval:
            raise ValueError("NaN has no place in a sorted collection")
    else:
        p.ival = <int64_t>s.payload
    return 0


# -- the proxy ----------------------------------------------------------------------

cdef uint64_t _rng = int.from_bytes(os.urandom(8), "little") | 1


cdef uint64_t random_level() noexcept:
    """1 + the number of times a 1-in-4 chance came up (xorshift64*; levels
    are volatile choices: any sequence keeps the list correct)."""
    global _rng
    cdef uint64_t level = 1, r
    _rng ^= _rng >> 12
    _rng ^= _rng << 25
    _rng ^= _rng >> 27
    r = _rng * 0x2545F4914F6CDD1DULL
    while r & 3 == 0 and level < PT_SKIP_MAXLEVEL:
        level += 1
        r >>= 2
    return level


cdef class PtSkipList(PtObject):
    """A persistent skip list: its items in ascending order of their sort key."""
    cdef SortKey key
    cdef uint64_t mutations      # volatile: iterators refuse to go on after a change

    cdef SortKey sk(self):
        if self.key is None:
            self.key = <SortKey>self.ti.sortkey
        return self.key

    cdef pt_skiplist_t *lp(self) except NULL:
        cdef pt_skiplist_t *l = <pt_skiplist_t *>self.at(sizeof(pt_skiplist_t))
        if l.levels > PT_SKIP_MAXLEVEL or (l.levels == 0) != (l.size == 0):
            raise damaged(self.mm, f"skip list at 0x{self.off:x} has {l.levels} levels and {l.size} items")
        return l

    cdef pt_skipnode_t *node(self, uint64_t off) except NULL:
        """The node at `off`, checked against the mapping and its own sizes."""
        cdef pt_skipnode_t *n = <pt_skipnode_t *>self.mm.ptr(off, NODE_KEYS)
        if n.level == 0 or n.level > PT_SKIP_MAXLEVEL or n.nkeys != <uint64_t>self.sk().nparts:
            raise damaged(self.mm, f"skip list node at 0x{off:x} has a bad header")
        self.mm.ptr(off, NODE_KEYS + n.nkeys * SLOT + n.level * 8)
        return n

    cdef int cmp_node(self, pt_skipnode_t *n, Probe *probe) except -2:
        """Compare the key of node `n` with a probe key: -1, 0 or 1."""
        cdef SortKey k = self.sk()
        cdef int i, c
        if k.nparts == 0:
            return cmp_slot(self.mm, k.kinds[0], &n.value, probe)
        for i in range(k.nparts):
            c = cmp_slot(self.mm, k.kinds[i], &n.keys[i], &probe[i])
            if c:
                return c
        return 0

    cdef object prepare(self, object key, Probe *probe):
        """Fill `probe` from a key (a tuple for keys of several parts)."""
        cdef SortKey k = self.sk()
        cdef int i
        memset(probe, 0, (k.nparts or 1) * sizeof(Probe))
        if k.nparts == 0:
            if k.kinds[0] == 0:
                raise TypeError(f"{k.item.cls!r} does not define a sort order!")
            return probe_part(k.kinds[0], key, probe, f"the key of {self.ti.cls!r}")
        if k.nparts == 1:
            return probe_part(k.kinds[0], key, probe, f"the key {'.'.join(k.paths[0])!r}")
        if not isinstance(key, tuple) or len(key) != k.nparts:
            raise TypeError(f"the key of {self.ti.cls!r} is a tuple of {k.nparts} values "
                            f"({', '.join('.'.join(p) for p in k.paths)})")
        keep = []
        for i in range(k.nparts):
            keep.append(probe_part(k.kinds[i], key[i], &probe[i], f"the key {'.'.join(k.paths[i])!r}"))
        return keep

    cdef uint64_t *next_of(self, pt_skiplist_t *l, uint64_t off, uint64_t level) except NULL:
        """Where the next offset at `level` after node `off` (0: the head) is kept."""
        cdef pt_skipnode_t *n
        if off == 0:
            return &l.head[level]
        n = self.node(off)
        if level >= n.level:
            raise damaged(self.mm, f"skip list node at 0x{off:x} is linked above its level")
        return <uint64_t *>(<char *>n + NODE_KEYS + n.nkeys * SLOT) + level

    cdef int search(self, pt_skiplist_t *l, Probe *probe, bint after_equals, uint64_t *update) except -1:
        """Fill update[i] with the last node (0: the head) at level i whose key
        is below the probe (or not above it, when `after_equals`).

        The hot loop of every operation: nodes are checked inline against the
        mapping and their own sizes (as node() does), and Int keys compared
        inline."""
        cdef SortKey k = self.sk()
        cdef char *base = self.mm.base
        cdef uint64_t psize = self.mm.pool_size, nkeys = k.nparts, fixed = NODE_KEYS + nkeys * SLOT
        cdef uint64_t x = 0, nxt, steps = 0, limit = (l.size + 1) * (l.levels + 1), xlevel = PT_SKIP_MAXLEVEL
        cdef uint64_t *nexts = l.head
        cdef bint int_key = nkeys == 0 and k.kinds[0] == K_INT and not probe.is_float
        cdef int level = <int>l.levels - 1, c
        cdef int64_t a
        cdef pt_skipnode_t *n
        while level >= 0:
            if <uint64_t>level >= xlevel:
                raise damaged(self.mm, f"skip list node at 0x{x:x} is linked above its level")
            while True:
                nxt = nexts[level]
                if nxt == 0:
                    break
                if nxt < MIN_NODE_OFF or nxt > psize - fixed:
                    raise damaged(self.mm, f"skip list node at 0x{nxt:x} lies outside the pool")
                n = <pt_skipnode_t *>(base + nxt)
                if n.level == 0 or n.level > PT_SKIP_MAXLEVEL or n.nkeys != nkeys or \
                        nxt + fixed + n.level * 8 > psize:
                    raise damaged(self.mm, f"skip list node at 0x{nxt:x} has a bad header")
                if int_key and n.value.tag == PYP_TAG_INT:
                    a = <int64_t>n.value.payload
                    c = (a > probe.ival) - (a < probe.ival)
                else:
                    c = self.cmp_node(n, probe)
                if c > 0 or (c == 0 and not after_equals):
                    break
                x = nxt
                xlevel = n.level
                nexts = <uint64_t *>(<char *>n + fixed)
                steps += 1
                if steps > limit:
                    raise damaged(self.mm, f"skip list at 0x{self.off:x} has a cycle")
            update[level] = x
            level -= 1
        return 0

    cdef uint64_t find(self, object key) except? 0:
        """The first node whose key equals `key`, or 0."""
        cdef Probe probe[MAX_PARTS]
        cdef uint64_t update[PT_SKIP_MAXLEVEL]
        cdef pt_skiplist_t *l = self.lp()
        cdef uint64_t nxt
        keep = self.prepare(key, probe)
        if l.size == 0:
            return 0
        self.search(l, probe, False, update)
        nxt = self.next_of(l, update[0], 0)[0]
        if nxt and self.cmp_node(self.node(nxt), probe) == 0:
            return nxt
        return 0

    cdef int key_slots(self, object item, pyp_slot_t *keys) except -1:
        """Take the key parts of `item` (a proxy of the item type) into `keys`,
        each holding a new reference (inside a transaction)."""
        cdef SortKey k = self.sk()
        cdef pyp_slot_t *s
        cdef int i, n
        cdef PtObject p
        for i in range(k.nparts):
            keys[i].tag = PYP_TAG_EMPTY
        for i in range(k.nparts):
            p = <PtObject>item
            path = k.paths[i]
            for n in range(len(path)):
                # by name: a structure derived from the item type may place a field elsewhere
                s = p.slot_at(0 if p.ti.kind == K_NODE else (<Field>p.ti.fields[path[n]]).index)
                if n == len(path) - 1:
                    break
                if s.tag != PYP_TAG_REF:
                    raise TypeError(f"the sort key {'.'.join(path)!r} of {item!r} is not set (None)")
                p = <PtObject>load_ref(self.session, s.payload)
            if k.kinds[i] == K_BYTES:
                if s.tag != PYP_TAG_REF:
                    raise TypeError(f"the sort key {'.'.join(k.paths[i])!r} of {item!r} is not set (None)")
                self.mm.incref(s.payload)
            elif k.kinds[i] == K_FLOAT and pt_bits_double(s.payload) != pt_bits_double(s.payload):
                raise ValueError(f"the sort key {'.'.join(k.paths[i])!r} of {item!r} is NaN, "
                                 f"which has no place in a sorted collection")
            keys[i] = s[0]
        return 0

    cdef int unlink(self, pt_skiplist_t *l, uint64_t off, uint64_t *update) except -1:
        """Remove node `off`, whose predecessors are update[] (inside a transaction)."""
        cdef pt_skipnode_t *n = self.node(off)
        cdef uint64_t i, level = n.level
        cdef uint64_t *link
        cdef pyp_slot_t value = n.value
        cdef uint64_t *nexts = <uint64_t *>(<char *>n + NODE_KEYS + n.nkeys * SLOT)
        for i in range(level):
            link = self.next_of(l, update[i], i)
            if link[0] != off:
                raise damaged(self.mm, f"skip list at 0x{self.off:x} lost a link at level {i}")
            self.mm.snapshot(link, 8)
            link[0] = nexts[i]
        self.mm.snapshot(&l.size, 16)
        l.size -= 1
        while l.levels and l.head[l.levels - 1] == 0:
            l.levels -= 1
        for i in range(n.nkeys):
            self.mm.release_slot(n.keys[i])
        self.mm.free(off)
        self.mm.release_slot(value)       # last: a proxy of the item keeps it alive meanwhile
        return 0

    # -- the Python interface

    cdef int probe_node(self, const pyp_slot_t *value, const pyp_slot_t *keys, Probe *probe) except -1:
        """Fill `probe` with the key stored with an item (its value slot and key slots)."""
        cdef SortKey k = self.sk()
        cdef int i
        memset(probe, 0, (k.nparts or 1) * sizeof(Probe))
        if k.nparts == 0:
            return probe_slot(self.mm, k.kinds[0], value, probe)
        for i in range(k.nparts):
            probe_slot(self.mm, k.kinds[i], &keys[i], &probe[i])
        return 0

    def insert(self, value):
        """Add `value` (an item of the list's type) at its place in the order
        (after the items with an equal key)."""
        cdef Probe probe[MAX_PARTS]
        cdef uint64_t update[PT_SKIP_MAXLEVEL]
        cdef pyp_slot_t keys[MAX_PARTS]
        cdef pyp_slot_t vslot
        cdef pt_skiplist_t *l
        cdef pt_skipnode_t *n
        cdef SortKey k = self.sk()
        cdef uint64_t level, off, i, size
        cdef uint64_t *nexts
        cdef uint64_t *link
        cdef int j
        if k.nparts == 0 and k.kinds[0] == 0:
            raise TypeError(f"{k.item.cls!r} does not define a sort order!")
        if value is None:
            raise TypeError(f"cannot insert None into {self.ti.cls!r}")
        self.begin()
        try:
            make_slot(self.session, self.ti.item, value, &vslot)
            try:
                if k.nparts:
                    self.key_slots(load_ref(self.session, vslot.payload), keys)
                try:
                    self.probe_node(&vslot, keys, probe)
                except BaseException:
                    for j in range(k.nparts):
                        release_unless_doomed(self.mm, keys[j])
                    raise
            except BaseException:
                release_unless_doomed(self.mm, vslot)
                raise
            l = self.lp()
            for i in range(PT_SKIP_MAXLEVEL):
                update[i] = 0
            if l.size:
                self.search(l, probe, True, update)
            level = random_level()
            size = NODE_KEYS + k.nparts * SLOT + level * 8
            off = self.mm.alloc(size, PYP_TYPE_NUM_RAW, False)
            n = <pt_skipnode_t *>self.mm.ptr(off, size)
            n.level = level
            n.nkeys = k.nparts
            n.value = vslot
            for j in range(k.nparts):
                n.keys[j] = keys[j]
            nexts = <uint64_t *>(<char *>n + NODE_KEYS + k.nparts * SLOT)
            self.mm.snapshot(&l.size, 16)
            for i in range(level):
                link = self.next_of(l, update[i], i)
                nexts[i] = link[0]
                self.mm.snapshot(link, 8)
                link[0] = off
            l.size += 1
            if level > l.levels:
                l.levels = level
            self.mutations += 1
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def __getitem__(self, key):
        """The first item whose sort key equals `key` (KeyError if none)."""
        cdef uint64_t off = self.find(key)
        if off == 0:
            raise KeyError(key)
        return load_key(self, self.ti.item, &self.node(off).value)

    def __contains__(self, key):
        try:
            return self.find(key) != 0
        except (TypeError, ValueError, OverflowError):
            return False

    def __delitem__(self, key):
        """Remove the first item whose sort key equals `key` (KeyError if none)."""
        cdef Probe probe[MAX_PARTS]
        cdef uint64_t update[PT_SKIP_MAXLEVEL]
        cdef pt_skiplist_t *l
        cdef uint64_t off
        if self.find(key) == 0:        # before begin(): a missing key must not doom the caller's transaction
            raise KeyError(key)
        self.begin()
        try:
            l = self.lp()
            keep = self.prepare(key, probe)
            self.search(l, probe, False, update)
            off = self.next_of(l, update[0], 0)[0]
            self.unlink(l, off, update)
            self.mutations += 1
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def remove(self, item):
        """Remove `item`: the very object for structures and nodes, an equal
        number or byte string otherwise (ValueError if it is not there)."""
        cdef Probe probe[MAX_PARTS]
        cdef uint64_t update[PT_SKIP_MAXLEVEL]
        cdef pt_skiplist_t *l
        cdef pt_skipnode_t *n
        cdef SortKey k = self.sk()
        cdef uint64_t target = 0, nxt, steps
        cdef int level
        if k.nparts == 0:
            try:
                target = self.find(item)
            except (TypeError, ValueError, OverflowError):
                pass
        elif isinstance(item, PtObject) and (<PtObject>item).session is self.session \
                and (<PtObject>item).off != 0:
            target = self.find_item(<PtObject>item)
        if target == 0:
            raise ValueError(f"{item!r} is not in {self!r}")
        self.begin()
        try:
            l = self.lp()
            n = self.node(target)
            self.probe_node(&n.value, n.keys, probe)
            self.search(l, probe, False, update)
            # the target's predecessors among the items of an equal key before it
            for level in range(<int>n.level - 1, -1, -1):
                nxt = self.next_of(l, update[level], level)[0]
                steps = 0
                while nxt and nxt != target and steps <= l.size:
                    update[level] = nxt
                    nxt = self.next_of(l, nxt, level)[0]
                    steps += 1
            self.unlink(l, target, update)
            self.mutations += 1
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    cdef uint64_t find_item(self, PtObject item) except? 0:
        """The node holding `item` (0: none): searched by the key the item has
        now, else (its key fields changed since it was inserted) walked to."""
        cdef Probe probe[MAX_PARTS]
        cdef pt_skiplist_t *l = self.lp()
        cdef uint64_t off, steps = 0
        try:
            key = self.key_from(item)
            keep = self.prepare(key, probe)
            off = self.find(key)
        except (AttributeError, TypeError, ValueError, OverflowError):
            off = 0
        while off and self.cmp_node(self.node(off), probe) == 0:
            if self.node(off).value.payload == item.off:
                return off
            off = self.next_of(l, off, 0)[0]
        off = l.head[0] if l.levels else 0
        while off and self.node(off).value.payload != item.off:
            off = self.next_of(l, off, 0)[0]
            steps += 1
            if steps > l.size:
                raise damaged(self.mm, f"skip list at 0x{self.off:x} has a cycle")
        return off

    cdef object key_from(self, object item):
        """The sort key an item has now (a tuple for keys of several parts)."""
        cdef SortKey k = self.sk()
        parts = []
        for path in k.paths:
            v = item
            for name in path:
                v = getattr(v, name)
                if v is None:
                    raise ValueError(f"{item!r} has no sort key")
            parts.append(v.contents)
        return parts[0] if k.nparts == 1 else tuple(parts)

    def clear(self):
        """Remove every item."""
        cdef pt_skiplist_t *l
        cdef uint64_t off, nxt, i
        cdef pt_skipnode_t *n
        self.begin()
        try:
            l = self.lp()
            off = l.head[0] if l.levels else 0
            self.mm.snapshot(l, sizeof(pt_skiplist_t))
            while off:
                n = self.node(off)
                nxt = (<uint64_t *>(<char *>n + NODE_KEYS + n.nkeys * SLOT))[0]
                for i in range(n.nkeys):
                    self.mm.release_slot(n.keys[i])
                self.mm.release_slot(n.value)
                self.mm.free(off)
                off = nxt
            for i in range(PT_SKIP_MAXLEVEL):
                l.head[i] = 0
            l.size = l.levels = 0
            self.mutations += 1
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def __len__(self):
        return self.lp().size

    def __iter__(self):
        return self.range(None, None)

    def range(self, fro=None, to=None):
        """The items whose key k is fro <= k < to, in order (None: no bound)."""
        cdef Probe probe[MAX_PARTS]
        cdef uint64_t update[PT_SKIP_MAXLEVEL]
        cdef pt_skiplist_t *l = self.lp()
        cdef uint64_t first
        cdef SkipListIterator it = SkipListIterator.__new__(SkipListIterator)
        it.sl = self
        it.mutations = self.mutations
        if fro is not None:
            keep = self.prepare(fro, probe)
        if to is not None:
            it.keep = self.prepare(to, it.stop)
            it.bounded = True
        if l.size == 0:
            first = 0
        elif fro is None:
            first = l.head[0]
        else:
            self.search(l, probe, False, update)
            first = self.next_of(l, update[0], 0)[0]
        it.off = first
        it.left = l.size + 1
        return it

    def __repr__(self):
        if self.ti is None or self.off == 0:
            return PtObject.__repr__(self)
        return f"<persistent {self.ti.name} object @offset 0x{self.off:x}>"


cdef class SkipListIterator:
    """The items of a skip list from a node on, below an optional bound."""
    cdef PtSkipList sl
    cdef uint64_t off, mutations, left
    cdef Probe stop[MAX_PARTS]
    cdef bint bounded
    cdef object keep

    def __iter__(self):
        return self

    def __next__(self):
        cdef PtSkipList sl = self.sl
        cdef pt_skipnode_t *n
        if sl is None or self.off == 0:
            self.sl = None
            raise StopIteration
        if sl.mutations != self.mutations:
            self.sl = None
            raise RuntimeError("skip list changed during iteration")
        sl.lp()
        n = sl.node(self.off)
        if self.bounded and sl.cmp_node(n, self.stop) >= 0:
            self.sl = None
            raise StopIteration
        if self.left == 0:
            raise damaged(sl.mm, f"skip list at 0x{sl.off:x} has a cycle")
        self.left -= 1
        self.off = (<uint64_t *>(<char *>n + NODE_KEYS + n.nkeys * SLOT))[0]
        return load_key(sl, sl.ti.item, &n.value)


def new_skiplist(Session s, TypeInfo ti, tuple args, dict kw):
    """SkipListType([items]): a new skip list (inside the caller's transaction)."""
    if kw or len(args) > 1:
        raise TypeError(f"{ti.cls!r} takes at most one argument (an iterable of items)")
    cdef PtSkipList p = <PtSkipList>alloc_object(s, PtSkipList, ti, sizeof(pt_skiplist_t))
    if args:
        for v in args[0]:
            p.insert(v)
    return p


cdef int traverse_skiplist(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    cdef pt_skiplist_t *l = <pt_skiplist_t *>mm.obj(off, sizeof(pt_skiplist_t))
    cdef uint64_t node = l.head[0] if l.levels else 0, seen = 0
    cdef pt_skipnode_t *n
    while node:
        n = <pt_skipnode_t *>mm.obj(node, NODE_KEYS)
        if n.level == 0 or n.level > PT_SKIP_MAXLEVEL or n.nkeys > MAX_PARTS or seen >= l.size:
            raise damaged(mm, f"skip list at 0x{off:x} has a bad node at 0x{node:x}")
        mm.obj(node, NODE_KEYS + n.nkeys * SLOT + n.level * 8)
        visit_slots(&n.value, 1 + n.nkeys, visit, ctx)
        visit(ctx, node, VISIT_RAW)
        seen += 1
        node = (<uint64_t *>(<char *>n + NODE_KEYS + n.nkeys * SLOT))[0]
    if seen != l.size:
        raise damaged(mm, f"skip list at 0x{off:x} holds {seen} items, not {l.size}")
    return 0


register_traverse(PtSkipList, traverse_skiplist)
_objects.register_kind(K_SKIPLIST, PtSkipList, new_skiplist)
