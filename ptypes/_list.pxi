# Included by _objects.pyx: lists (pt_list_t), a growable array of slots.

# The fast paths of PtList.lp() and PtList.items(), inlined where items are
# read one at a time (iteration, item proxies): the header and array a proxy
# has already checked.

cdef inline pt_list_t *list_head(PtList lst) except NULL:
    cdef pt_list_t *l
    if lst.off == lst.valid_off and lst.off != 0 and lst.valid_size >= sizeof(pt_list_t):
        l = <pt_list_t *>(lst.mm.base + lst.off)
        if l.size <= l.capacity:
            return l
    return lst.lp()


cdef inline pyp_slot_t *list_slots(PtList lst, pt_list_t *l) except? NULL:
    if l.items == lst.valid_items and l.capacity == lst.valid_capacity:
        return lst.valid_slots
    return lst.items(l)


cdef class PtList(PtObject):
    """A persistent list of values of one schema type."""

    cdef pt_list_t *lp(self) except NULL:
        cdef pt_list_t *l = <pt_list_t *>self.at(sizeof(pt_list_t))
        if l.size > l.capacity or (l.capacity and l.items == 0):
            raise damaged(self.mm, f"list at 0x{self.off:x} has size {l.size} > capacity {l.capacity}")
        return l

    cdef pyp_slot_t *items(self, pt_list_t *l) except? NULL:
        """The items array `l` points to (NULL when the capacity is 0), checked
        once per array and proxy."""
        if l.items == self.valid_items and l.capacity == self.valid_capacity:
            return self.valid_slots
        self.valid_slots = NULL
        if l.capacity:
            self.valid_slots = <pyp_slot_t *>self.mm.obj(l.items, l.capacity * SLOT)
        self.valid_items = l.items
        self.valid_capacity = l.capacity
        return self.valid_slots

    cdef uint64_t norm(self, index, uint64_t size, bint clamp) except? 0xffffffffffffffff:
        cdef Py_ssize_t i = index
        if i < 0:
            i += size
        if clamp:
            return 0 if i < 0 else (size if <uint64_t>i > size else <uint64_t>i)
        if i < 0 or <uint64_t>i >= size:
            raise IndexError("list index out of range")
        return <uint64_t>i

    cdef pyp_slot_t *value_slot(self, PtValue v) except NULL:
        cdef pt_list_t *l = list_head(self)
        if v.index >= l.size:
            raise IndexError("list index out of range (the item was removed)")
        return &list_slots(self, l)[v.index]

    cdef int reserve(self, pt_list_t *l, uint64_t n) except -1:
        """Make room for `n` items (inside a transaction)."""
        cdef uint64_t cap = l.capacity, newcap
        if n <= cap:
            return 0
        newcap = cap * 2 if cap >= 8 else 8
        while newcap < n:
            newcap *= 2
        new = self.mm.realloc_raw(l.items, newcap * SLOT, PYP_TYPE_NUM_RAW, False)
        self.mm.snapshot(&l.capacity, 16)
        l.capacity = newcap
        l.items = new
        return 0

    cdef int append_one(self, v) except -1:
        cdef pt_list_t *l = self.lp()
        cdef pyp_slot_t new
        cdef uint64_t i = l.size, c0, c1
        make_slot(self.session, self.ti.item, v, &new)
        try:
            self.reserve(l, i + 1)
            # slots past `size` hold nothing, but their bytes must be in the undo
            # log before they change: snapshot a whole aligned chunk at once so
            # that appends in one transaction add few ranges
            c0 = i - i % LIST_CHUNK
            c1 = min(c0 + LIST_CHUNK, l.capacity)
            self.mm.snapshot(&self.items(l)[c0], (c1 - c0) * SLOT)
            self.mm.snapshot(&l.size, 8)
        except BaseException:
            release_unless_doomed(self.mm, new)
            raise
        self.items(l)[i] = new
        l.size = i + 1
        return 0

    def append(self, v):
        self.begin()
        try:
            self.append_one(v)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def extend(self, iterable):
        self.begin()
        try:
            for v in iterable:
                self.append_one(v)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def insert(self, index, v):
        cdef pt_list_t *l
        cdef pyp_slot_t new
        cdef pyp_slot_t *it
        cdef uint64_t i, n
        self.begin()
        try:
            l = self.lp()
            n = l.size
            i = self.norm(index, n, True)
            make_slot(self.session, self.ti.item, v, &new)
            try:
                self.reserve(l, n + 1)
                it = self.items(l)
                self.mm.snapshot(&it[i], (n + 1 - i) * SLOT)
                self.mm.snapshot(&l.size, 8)
            except BaseException:
                release_unless_doomed(self.mm, new)
                raise
            memmove(&it[i + 1], &it[i], (n - i) * SLOT)
            it[i] = new
            l.size = n + 1
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    cdef int remove_at(self, uint64_t i) except -1:
        """Remove item i (inside a transaction), releasing its reference.  The
        core keeps an object alive while a proxy of it exists (pop returns one)."""
        cdef pt_list_t *l = self.lp()
        cdef uint64_t n = l.size
        cdef pyp_slot_t *it = self.items(l)
        cdef pyp_slot_t old = it[i]
        self.mm.snapshot(&it[i], (n - i) * SLOT)
        self.mm.snapshot(&l.size, 8)
        memmove(&it[i], &it[i + 1], (n - i - 1) * SLOT)
        it[n - 1].tag = PYP_TAG_EMPTY
        it[n - 1].payload = 0
        l.size = n - 1
        self.mm.release_slot(old)
        return 0

    def pop(self, index=-1):
        """Remove and return an item (Int/Float items come back as numbers)."""
        cdef pt_list_t *l
        cdef uint64_t i
        self.begin()
        try:
            l = self.lp()
            if l.size == 0:
                raise IndexError("pop from empty list")
            i = self.norm(index, l.size, False)
            v = plain_value(self.session, self.ti.item, &self.items(l)[i])
            self.remove_at(i)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)
        return v

    def remove(self, v):
        i = self.index(v)
        del self[i]

    def clear(self):
        cdef pt_list_t *l
        cdef pyp_slot_t *it
        cdef uint64_t i, n
        self.begin()
        try:
            l = self.lp()
            n = l.size
            it = self.items(l)
            self.mm.snapshot(&l.size, 8)
            l.size = 0
            for i in range(n):
                self.mm.release_slot(it[i])
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def index(self, v, start=0, stop=None):
        cdef pt_list_t *l = self.lp()
        cdef uint64_t i, a, b
        a = self.norm(start, l.size, True)
        b = l.size if stop is None else self.norm(stop, l.size, True)
        i = a
        while i < b:
            l = self.lp()
            if i >= l.size:
                break
            if slot_equals(self.session, self.ti.item, &self.items(l)[i], v):
                return i
            i += 1
        raise ValueError(f"{v!r} is not in list")

    def count(self, v):
        cdef pt_list_t *l = self.lp()
        cdef uint64_t i, c = 0
        for i in range(l.size):
            if slot_equals(self.session, self.ti.item, &self.items(l)[i], v):
                c += 1
        return c

    def __contains__(self, v):
        cdef pt_list_t *l = self.lp()
        cdef uint64_t i
        for i in range(l.size):
            if slot_equals(self.session, self.ti.item, &self.items(l)[i], v):
                return True
        return False

    def __len__(self):
        return self.lp().size

    def __getitem__(self, index):
        cdef pt_list_t *l = self.lp()
        cdef uint64_t i
        if isinstance(index, slice):
            return [self[j] for j in range(*index.indices(l.size))]
        i = self.norm(index, l.size, False)
        return load_value(self, self.ti.item, &self.items(l)[i], i)

    def __setitem__(self, index, v):
        cdef pt_list_t *l
        cdef uint64_t i
        self.begin()
        try:
            l = self.lp()
            if isinstance(index, slice):
                self.set_slice(index, v)
            else:
                i = self.norm(index, l.size, False)
                store_slot(self.session, self.ti.item, &self.items(l)[i], v)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    cdef int set_slice(self, slice index, object values) except -1:
        """lst[a:b] = values / lst[a:b:k] = values, as Python lists do (inside a transaction)."""
        cdef pt_list_t *l = self.lp()
        values = list(values)
        start, stop, step = index.indices(l.size)
        positions = range(start, stop, step)
        if step != 1:
            if len(values) != len(positions):
                raise ValueError(f"attempt to assign sequence of size {len(values)} "
                                 f"to extended slice of size {len(positions)}")
            for i, v in zip(positions, values):
                store_slot(self.session, self.ti.item, &self.items(self.lp())[<uint64_t>i], v)
            return 0
        for i in reversed(positions):
            self.remove_at(i)
        for k, v in enumerate(values):
            self.insert(start + k, v)
        return 0

    def __delitem__(self, index):
        cdef pt_list_t *l
        self.begin()
        try:
            l = self.lp()
            if isinstance(index, slice):
                for j in sorted(range(*index.indices(l.size)), reverse=True):
                    self.remove_at(j)
            else:
                self.remove_at(self.norm(index, l.size, False))
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def __iter__(self):
        self.lp()
        return PtListIterator(self)


cdef class PtListIterator:
    """Iterator over a PtList: sees changes made while iterating, like list's.

    For Int and Float items it hands out proxies it made before when nothing
    else holds them any more (a loop's variable lets go of the item before the
    last): a loop then makes two proxies, not one per item."""
    cdef PtList lst
    cdef uint64_t i
    cdef PtValue last           # the proxy handed out last
    cdef PtValue spare          # the one before

    cdef PtValue value_at(self, PtList lst, uint64_t i):
        cdef PtValue v
        if self.spare is not None and (<PyObject *>self.spare).ob_refcnt == 1:
            v = self.spare
            v.index = i
        elif self.last is not None and (<PyObject *>self.last).ob_refcnt == 1:
            v = self.last
            v.index = i
            return v
        else:
            v = make_value(lst, lst.ti.item, i)
        self.spare = self.last
        self.last = v
        return v

    def __cinit__(self, PtList lst):
        self.lst = lst

    def __iter__(self):
        return self

    def __next__(self):
        cdef PtList lst = self.lst
        cdef pt_list_t *l
        if lst is None:
            raise StopIteration
        l = list_head(lst)
        if self.i >= l.size:
            self.lst = None
            raise StopIteration
        self.i += 1
        if lst.ti.item.kind == K_INT or lst.ti.item.kind == K_FLOAT:
            return self.value_at(lst, self.i - 1)
        return load_value(lst, lst.ti.item, &list_slots(lst, l)[self.i - 1], self.i - 1)


cdef PtList new_list(Session s, TypeInfo ti, object items):
    cdef PtList p = <PtList>alloc_object(s, PtList, ti, sizeof(pt_list_t))
    if items is not None:
        for v in items:
            p.append_one(v)
    return p


cdef int traverse_list(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    cdef pt_list_t *l = <pt_list_t *>mm.obj(off, sizeof(pt_list_t))
    if l.capacity == 0:
        return 0
    if l.size > l.capacity:
        raise damaged(mm, f"list at 0x{off:x} has size {l.size} > capacity {l.capacity}")
    visit_slots(<pyp_slot_t *>mm.obj(l.items, l.capacity * SLOT), l.size, visit, ctx)
    visit(ctx, l.items, VISIT_RAW)
    return 0
