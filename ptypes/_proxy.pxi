# Included by _objects.pyx: PtObject, the base of every ptypes proxy, and
# PtValue, the proxy of an Int or Float stored by value inside a container.

cdef class PtObject(PersistentBase):
    """Base of the proxies of ptypes objects."""

    cdef int p_new(self, MemoryManager mm) except -1:
        raise TypeError("ptypes objects are created by calling the classes of a storage's schema")

    cdef int on_resurrect(self) except -1:
        cdef Session s = session_of(self.mm)
        cdef uint64_t ptid = (<pt_head_t *>self.addr(sizeof(pt_head_t))).ptid
        if ptid >= <uint64_t>len(s.types):
            raise damaged(self.mm, f"object at 0x{self.off:x} has unknown schema type {ptid}")
        ti = <TypeInfo>s.types[ptid]
        if _KIND_CLASS.get(ti.kind) is not type(self):
            raise damaged(self.mm, f"object at 0x{self.off:x} is a {type(self).__name__}, "
                                   f"but its schema type {ti.name} is not")
        self.ti = ti
        self.session = s
        return 0

    cdef pyp_slot_t *value_slot(self, uint64_t index, object key) except NULL:
        raise TypeError(f"{self!r} holds no values by index")

    @property
    def _p_schema_type(self):
        """The schema class of this object."""
        self.addr(sizeof(pt_head_t))
        return self.ti.cls

    def __repr__(self):
        if self.ti is None or self.off == 0:
            return f"<persistent {type(self).__name__} object (gone)>"
        return f"<persistent {self.ti.name} object @offset 0x{self.off:x}>"


cdef PtObject alloc_object(Session s, type cls, TypeInfo ti, size_t size):
    """A fresh, zeroed object of schema type `ti` (inside a transaction)."""
    cdef MemoryManager mm = s.mm
    cdef uint64_t off = mm.new_object(cls, size)
    cdef PtObject p = cls.__new__(cls)
    mm.adopt(p, off)
    (<pt_head_t *>mm.obj(off, size)).ptid = ti.ptid
    p.ti = ti
    p.session = s
    return p


cdef class PtValue:
    """A proxy of an Int or Float stored by value inside a container
    (a structure field, a list item or a dict value)."""

    cdef pyp_slot_t *slot(self) except NULL:
        return self.container.value_slot(self.index, self.key)

    @property
    def contents(self):
        cdef pyp_slot_t *s = self.slot()
        if self.ti.kind == K_INT:
            return <int64_t>s.payload
        return pt_bits_double(s.payload)

    @contents.setter
    def contents(self, v):
        cdef MemoryManager mm = self.container.mm
        cdef pyp_slot_t new
        cdef pyp_slot_t *s
        make_slot(self.container.session, self.ti, v, &new)
        self.container.begin()
        try:
            s = self.slot()
            mm.snapshot(s, SLOT)
            s[0] = new
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)

    cdef int add_int(self, int64_t d) except -1:
        cdef MemoryManager mm = self.container.mm
        cdef pyp_slot_t *s
        cdef int64_t cur
        if self.ti.kind != K_INT:
            return self.add_float(d)
        self.container.begin()
        try:
            s = self.slot()
            cur = <int64_t>s.payload
            if (d > 0 and cur > INT64_MAX - d) or (d < 0 and cur < INT64_MIN - d):
                raise OverflowError(f"{self.ti.cls!r} holds 64-bit signed integers")
            mm.snapshot(&s.payload, 8)
            s.payload = <uint64_t>(cur + d)
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)
        return 0

    cdef int add_float(self, double f) except -1:
        cdef MemoryManager mm = self.container.mm
        cdef pyp_slot_t *s
        self.container.begin()
        try:
            s = self.slot()
            mm.snapshot(&s.payload, 8)
            s.payload = pt_double_bits(pt_bits_double(s.payload) + f)
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)
        return 0

    def inc(self):
        """Add 1 (in a transaction of its own, or of the caller)."""
        self.add_int(1)

    def dec(self):
        """Subtract 1."""
        self.add_int(-1)

    def add(self, delta):
        """Add `delta` to the stored number (Int: an int; Float: any real)."""
        if self.ti.kind == K_INT:
            if not isinstance(delta, int):
                raise TypeError(f"{self.ti.cls!r} can only add integers, not {type(delta).__name__}")
            self.add_int(delta)
        else:
            self.add_float(delta)

    def __int__(self):
        return int(self.contents)

    def __float__(self):
        return float(self.contents)

    def __index__(self):
        if self.ti.kind != K_INT:
            raise TypeError(f"{self.ti.cls!r} is not an integer")
        return self.contents

    def __eq__(self, other):
        if isinstance(other, PtValue):
            other = (<PtValue>other).contents
        if isinstance(other, (int, float)):
            return self.contents == other
        return NotImplemented

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    __hash__ = None

    def __bool__(self):
        return bool(self.contents)

    def __repr__(self):
        cdef uint64_t where = 0
        try:
            where = <uint64_t>(<char *>self.slot() - <char *>self.container.addr(1)) + self.container.off
            shown = repr(self.contents)
        except (ValueError, IndexError, KeyError):
            return f"<persistent {self.ti.name} object (gone)>"
        return f"<persistent {self.ti.name} object '{shown}' @offset 0x{where:x}>"


cdef PtValue make_value(PtObject owner, TypeInfo ti, uint64_t index, object key):
    cdef PtValue v = PtValue.__new__(PtValue)
    v.container = owner
    v.ti = ti
    v.index = index
    v.key = key
    return v


cdef int traverse_leaf(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    return 0      # byte strings and buffers hold no references
