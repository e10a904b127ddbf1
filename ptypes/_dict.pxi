# Included by _objects.pyx: dicts and sets (pt_dict_t), open-addressing hash
# tables of pt_entry_t.

cdef class PtDict(PtObject):
    """A persistent hash table; without a value type it is a set."""

    cdef pt_dict_t *dp(self) except NULL:
        cdef pt_dict_t *d = <pt_dict_t *>self.at(sizeof(pt_dict_t))
        cdef uint64_t cap = d.mask + 1
        if cap < MIN_TABLE or cap & d.mask or d.used > d.fill or d.fill >= cap:
            raise damaged(self.mm, f"hash table at 0x{self.off:x} has inconsistent sizes")
        return d

    cdef pt_entry_t *table(self, pt_dict_t *d) except NULL:
        """The table `d` points to, checked once per table and proxy."""
        if d.table != self.valid_table or d.mask != self.valid_mask or self.valid_tab == NULL:
            self.valid_tab = <pt_entry_t *>self.mm.obj(d.table, (d.mask + 1) * ENTRY)
            self.valid_table = d.table
            self.valid_mask = d.mask
        return self.valid_tab

    cdef object prepare(self, object key, LookupKey *lk):
        """Fill `lk` for looking `key` up; returns what must stay alive meanwhile."""
        cdef TypeInfo kti = self.ti.item
        cdef pt_bytes_t *b
        lk.kind = kti.kind
        lk.off = 0
        if kti.kind == K_BYTES:
            if isinstance(key, PtByteString):
                if (<PtByteString>key).session is not self.session:
                    key = (<PtByteString>key).contents
                else:
                    b = (<PtByteString>key).bp()
                    lk.off = (<PtByteString>key).off
                    lk.data = b.data
                    lk.size = b.size
                    lk.hash = b.hash
                    return key
            if isinstance(key, (bytearray, memoryview)):
                key = bytes(key)
            elif not isinstance(key, bytes):
                raise TypeError(f"Expected {kti.cls!r}, found {found_name(key)}")
            lk.data = PyBytes_AS_STRING(key)
            lk.size = PyBytes_GET_SIZE(key)
            lk.hash = XXH3_64bits(lk.data, lk.size)
            return key
        if isinstance(key, PtValue):
            key = (<PtValue>key).get_contents()
        if kti.kind == K_INT:
            if not isinstance(key, int):
                raise TypeError(f"Expected {kti.cls!r}, found {found_name(key)}")
            if not (INT64_MIN <= key <= INT64_MAX):
                raise OverflowError(f"{kti.cls!r} holds 64-bit signed integers; {key} is out of range")
            lk.ival = key
            lk.hash = <uint64_t>PyObject_Hash(key)
            return key
        if kti.kind == K_FLOAT:
            if not isinstance(key, (int, float)):
                raise TypeError(f"Expected {kti.cls!r}, found {found_name(key)}")
            lk.fval = key
            lk.hash = <uint64_t>PyObject_Hash(float(key))
            return key
        # other persistent objects are keys by identity
        if not isinstance(key, PtObject) or (<PtObject>key).session is not self.session:
            raise TypeError(f"Expected {kti.cls!r}, found {found_name(key)}")
        if kti.ptid not in (<PtObject>key).ti.ancestors:
            raise TypeError(f"Expected {kti.cls!r}, found {(<PtObject>key).ti.cls!r}")
        (<PtObject>key).at(SLOT)
        lk.off = (<PtObject>key).off
        lk.hash = pt_mix(lk.off)
        return key

    cdef int key_eq(self, LookupKey *lk, pt_entry_t *e) except -1:
        cdef pt_bytes_t *b
        if e.hash != lk.hash:
            return 0
        if lk.kind == K_BYTES:
            if e.key.tag != PYP_TAG_REF:
                return 0
            if e.key.payload == lk.off:
                return 1
            b = bytes_at(self.mm, e.key.payload)
            return b.size == lk.size and memcmp(b.data, lk.data, lk.size) == 0
        if lk.kind == K_INT:
            return <int64_t>e.key.payload == lk.ival
        if lk.kind == K_FLOAT:
            return pt_bits_double(e.key.payload) == lk.fval
        return e.key.payload == lk.off

    cdef Py_ssize_t find(self, LookupKey *lk, Py_ssize_t *free_at, pt_entry_t **tab_out=NULL) except -2:
        """Index of the entry holding the key, or -1; `free_at` gets where it
        would go, `tab_out` the table."""
        cdef pt_dict_t *d = self.dp()
        cdef pt_entry_t *tab = self.table(d)
        if tab_out != NULL:
            tab_out[0] = tab
        cdef uint64_t mask = d.mask, i = lk.hash & mask, perturb = lk.hash, n
        cdef pt_entry_t *e
        free_at[0] = -1
        for n in range(mask + 1 + 64):
            e = &tab[i]
            if e.key.tag == PYP_TAG_EMPTY:
                if free_at[0] < 0:
                    free_at[0] = i
                return -1
            if e.key.tag == PT_TAG_DELETED:
                if free_at[0] < 0:
                    free_at[0] = i
            elif self.key_eq(lk, e):
                return i
            perturb >>= 5
            i = (i * 5 + perturb + 1) & mask
        raise damaged(self.mm, f"hash table at 0x{self.off:x} has no free entry")

    cdef pyp_slot_t *value_slot(self, PtValue v) except NULL:
        """The value slot of the entry `v` was read from: where it was, or
        found again by the key's hash and payload (the stored key object of an
        entry never changes while the entry lives)."""
        cdef pt_dict_t *d = self.dp()
        cdef pt_entry_t *tab = self.table(d)
        cdef uint64_t mask = d.mask, i = v.khash & mask, perturb = v.khash, n
        cdef pt_entry_t *e
        if v.hint == d.table and v.index <= mask:
            e = &tab[v.index]
            if e.hash == v.khash and e.key.payload == v.bits and e.key.tag != PYP_TAG_EMPTY \
                    and e.key.tag != PT_TAG_DELETED:
                return &e.value
        for n in range(mask + 1):
            e = &tab[i]
            if e.key.tag == PYP_TAG_EMPTY:
                break
            if e.hash == v.khash and e.key.payload == v.bits and e.key.tag != PT_TAG_DELETED:
                v.hint = d.table
                v.index = i
                return &e.value
            perturb >>= 5
            i = (i * 5 + perturb + 1) & mask
        raise KeyError("the entry of this value was removed from the dict")

    cdef object entry_value(self, pt_entry_t *tab, uint64_t i):
        """The value of entry i: a live PtValue (found again by its key) for
        by-value types, else a proxy or None."""
        cdef TypeInfo ti = self.ti.value
        cdef PtValue v
        if ti.kind != K_INT and ti.kind != K_FLOAT:
            return load_value(self, ti, &tab[i].value, 0)
        v = PtValue.__new__(PtValue)
        v.container = self
        v.ti = ti
        v.index = i
        v.hint = self.valid_table
        v.bits = tab[i].key.payload
        v.khash = tab[i].hash
        return v

    cdef int resize(self, pt_dict_t *d, uint64_t minused) except -1:
        """Move the live entries to a new table with room for `minused` (inside a transaction)."""
        cdef uint64_t cap = MIN_TABLE, newtab, i, j, perturb, oldcap = d.mask + 1
        cdef pt_entry_t *old
        cdef pt_entry_t *new
        while cap * 2 <= minused * 3:
            cap *= 2
        newtab = self.mm.alloc(cap * ENTRY, PYP_TYPE_NUM_RAW, True)
        new = <pt_entry_t *>self.mm.obj(newtab, cap * ENTRY)
        old = self.table(d)
        for i in range(oldcap):
            if old[i].key.tag == PYP_TAG_EMPTY or old[i].key.tag == PT_TAG_DELETED:
                continue
            j = old[i].hash & (cap - 1)
            perturb = old[i].hash
            while new[j].key.tag != PYP_TAG_EMPTY:
                perturb >>= 5
                j = (j * 5 + perturb + 1) & (cap - 1)
            new[j] = old[i]
        self.mm.free(d.table)
        self.mm.snapshot(&d.fill, 24)
        d.fill = d.used
        d.mask = cap - 1
        d.table = newtab
        return 0

    cdef object store(self, object key, object value, bint has_value):
        """Insert or replace (inside a transaction) and return the stored key
        (a proxy for persistent keys).  For sets (no value) an existing equal
        key is kept."""
        cdef LookupKey lk
        cdef Py_ssize_t i, free_at
        cdef pt_dict_t *d
        cdef pt_entry_t *e
        cdef pyp_slot_t k, v
        keep = self.prepare(key, &lk)
        i = self.find(&lk, &free_at)
        if i >= 0:
            e = &self.table(self.dp())[i]
            if has_value:
                store_slot(self.session, self.ti.value, &e.value, value)
                e = &self.table(self.dp())[i]
            return load_key(self, self.ti.item, &e.key)
        d = self.dp()
        if (d.fill + 1) * 3 >= (d.mask + 1) * 2:
            self.resize(d, d.used + 1)
            self.find(&lk, &free_at)
        make_slot(self.session, self.ti.item, key, &k)
        v.tag = PYP_TAG_EMPTY
        v.payload = 0
        try:
            if has_value:
                make_slot(self.session, self.ti.value, value, &v)
            e = &self.table(d)[free_at]
            self.mm.snapshot(e, ENTRY)
            self.mm.snapshot(&d.used, 16)
        except BaseException:
            release_unless_doomed(self.mm, k)
            release_unless_doomed(self.mm, v)
            raise
        if e.key.tag == PYP_TAG_EMPTY:
            d.fill += 1
        d.used += 1
        e.hash = lk.hash
        e.key = k
        e.value = v
        return load_key(self, self.ti.item, &e.key)

    cdef object remove(self, object key, bint popping):
        """Delete the entry of `key` (inside a transaction; KeyError if absent).
        When popping, return the value (sets: the key)."""
        cdef LookupKey lk
        cdef Py_ssize_t i, free_at
        cdef pt_dict_t *d
        cdef pt_entry_t *e
        cdef pt_entry_t old
        keep = self.prepare(key, &lk)
        i = self.find(&lk, &free_at)
        if i < 0:
            raise KeyError(key)
        d = self.dp()
        e = &self.table(d)[i]
        result = None
        if popping:
            if self.ti.value is None:
                result = plain_value(self.session, self.ti.item, &e.key)
            else:
                result = plain_value(self.session, self.ti.value, &e.value)
        old = e[0]
        self.mm.snapshot(e, ENTRY)
        self.mm.snapshot(&d.used, 8)
        e.key.tag = PT_TAG_DELETED
        e.key.payload = 0
        e.value.tag = PYP_TAG_EMPTY
        e.value.payload = 0
        d.used -= 1
        self.mm.release_slot(old.key)       # `result` (a proxy) keeps a popped object alive
        self.mm.release_slot(old.value)
        return result

    cdef int need_values(self, str what) except -1:
        if self.ti.value is None:
            raise TypeError(f"Cannot {what}: no value class is defined. (Is this not a Set?)")
        return 0

    # -- the mapping / set interface

    def __len__(self):
        return self.dp().used

    def __contains__(self, key):
        cdef LookupKey lk
        cdef Py_ssize_t free_at
        try:
            keep = self.prepare(key, &lk)
        except TypeError:
            return False
        return self.find(&lk, &free_at) >= 0

    def __getitem__(self, key):
        cdef LookupKey lk
        cdef Py_ssize_t i, free_at
        cdef pt_entry_t *tab
        self.need_values("look up values")
        keep = self.prepare(key, &lk)
        i = self.find(&lk, &free_at, &tab)
        if i < 0:
            raise KeyError(key)
        return self.entry_value(tab, i)

    def __setitem__(self, key, value):
        self.need_values("store values")
        self.begin()
        try:
            self.store(key, value, True)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def __delitem__(self, key):
        if key not in self:     # before begin(): a missing key must not doom the caller's transaction
            raise KeyError(key)
        self.begin()
        try:
            self.remove(key, False)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def get(self, key, default=None):
        """Dicts: the value of `key`, or `default`.  Sets: the persistent
        member equal to `key`, added first if missing (interning)."""
        if self.ti.value is not None:
            try:
                return self[key]
            except KeyError:
                return default
        self.begin()
        try:
            found = self.store(key, None, False)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)
        return found

    def add(self, key):
        """Sets: add `key` (an equal member is kept)."""
        if self.ti.value is not None:
            raise TypeError(f"{self.ti.cls!r} is a Dict: assign d[key] = value instead of add()")
        self.get(key)

    def discard(self, key):
        if key in self:
            del self[key]

    def pop(self, key, *default):
        """Remove `key` and return its value (dicts) or the member (sets)."""
        if len(default) > 1:
            raise TypeError(f"pop expected at most 2 arguments, got {1 + len(default)}")
        if key not in self:     # before begin(): a missing key must not doom the caller's transaction
            if default:
                return default[0]
            raise KeyError(key)
        self.begin()
        try:
            value = self.remove(key, True)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)
        return value

    def clear(self):
        cdef pt_dict_t *d
        cdef pt_entry_t *tab
        cdef uint64_t i, cap
        cdef uint64_t newtab
        self.begin()
        try:
            d = self.dp()
            tab = self.table(d)
            cap = d.mask + 1
            newtab = self.mm.alloc(MIN_TABLE * ENTRY, PYP_TYPE_NUM_RAW, True)
            for i in range(cap):
                if tab[i].key.tag != PYP_TAG_EMPTY and tab[i].key.tag != PT_TAG_DELETED:
                    self.mm.release_slot(tab[i].key)
                    self.mm.release_slot(tab[i].value)
            self.mm.free(d.table)
            self.mm.snapshot(&d.used, 32)
            d.used = d.fill = 0
            d.mask = MIN_TABLE - 1
            d.table = newtab
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def update(self, other=(), **kw):
        if kw:
            raise TypeError("persistent dicts take no keyword arguments in update()")
        items = other.items() if hasattr(other, 'items') else other
        self.begin()
        try:
            for k, v in items:
                self.need_values("store values")
                self.store(k, v, True)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    # Keys come back as proxies (a frozen PtValue for Int and Float keys),
    # values as live proxies, like the items of lists and fields of structures.

    def iterkeys(self):
        return PtDictIterator(self, ITER_KEYS)

    def itervalues(self):
        self.need_values("iterate over the values")
        return PtDictIterator(self, ITER_VALUES)

    def iteritems(self):
        self.need_values("iterate over the items")
        return PtDictIterator(self, ITER_ITEMS)

    def __iter__(self):
        return PtDictIterator(self, ITER_KEYS)

    def keys(self):
        return list(PtDictIterator(self, ITER_KEYS))

    def values(self):
        self.need_values("iterate over the values")
        return list(PtDictIterator(self, ITER_VALUES))

    def items(self):
        self.need_values("iterate over the items")
        return list(PtDictIterator(self, ITER_ITEMS))


cdef enum:
    ITER_KEYS = 0
    ITER_VALUES = 1
    ITER_ITEMS = 2


cdef class PtDictIterator:
    """Iterator over the keys, values or items of a PtDict, in table order."""
    cdef PtDict d
    cdef int what
    cdef uint64_t i
    cdef uint64_t table

    def __cinit__(self, PtDict d, int what):
        self.d = d
        self.what = what
        self.table = d.dp().table

    def __iter__(self):
        return self

    def __next__(self):
        cdef PtDict d = self.d
        cdef pt_dict_t *dp
        cdef pt_entry_t *tab
        cdef pt_entry_t *e
        if d is None:
            raise StopIteration
        dp = d.dp()
        if dp.table != self.table:
            self.d = None
            raise RuntimeError("persistent dict changed size during iteration")
        tab = d.table(dp)
        while self.i <= dp.mask:
            e = &tab[self.i]
            self.i += 1
            if e.key.tag == PYP_TAG_EMPTY or e.key.tag == PT_TAG_DELETED:
                continue
            if self.what == ITER_KEYS:
                return load_key(d, d.ti.item, &e.key)
            if self.what == ITER_VALUES:
                return d.entry_value(tab, self.i - 1)
            return load_key(d, d.ti.item, &e.key), d.entry_value(tab, self.i - 1)
        self.d = None
        raise StopIteration


cdef PtDict new_dict(Session s, TypeInfo ti, object size):
    cdef uint64_t cap = MIN_TABLE, want
    if size is None:
        size = 0
    if not isinstance(size, int) or size < 0:
        raise TypeError(f"the size of {ti.cls!r} must be a non-negative int, not {size!r}")
    want = size
    while cap * 2 <= want * 3:
        cap *= 2
    cdef PtDict p = <PtDict>alloc_object(s, PtDict, ti, sizeof(pt_dict_t))
    cdef pt_dict_t *d = <pt_dict_t *>p.addr(sizeof(pt_dict_t))
    d.table = s.mm.alloc(cap * ENTRY, PYP_TYPE_NUM_RAW, True)
    d.mask = cap - 1
    return p


cdef int traverse_dict(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    cdef pt_dict_t *d = <pt_dict_t *>mm.obj(off, sizeof(pt_dict_t))
    cdef uint64_t i, cap = d.mask + 1
    cdef pt_entry_t *tab
    if d.table == 0:
        return 0
    if cap < MIN_TABLE or cap & d.mask:
        raise damaged(mm, f"hash table at 0x{off:x} has inconsistent sizes")
    tab = <pt_entry_t *>mm.obj(d.table, cap * ENTRY)
    for i in range(cap):
        if tab[i].key.tag == PYP_TAG_REF:
            visit(ctx, tab[i].key.payload, VISIT_REF)
        if tab[i].value.tag == PYP_TAG_REF:
            visit(ctx, tab[i].value.payload, VISIT_REF)
    visit(ctx, d.table, VISIT_RAW)
    return 0
