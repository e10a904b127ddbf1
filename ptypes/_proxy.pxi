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

    cdef char *checked(self, uint64_t n) except NULL:
        cdef char *p = self.addr(n)         # raises for a gone object or a closed pool
        self.valid_size = self.mm.usable_size(self.off)
        self.valid_off = self.off
        return p

    cdef int begin(self) except -1:
        self.at(sizeof(pt_head_t))
        return self.mm.begin()

    cdef pyp_slot_t *value_slot(self, PtValue v) except NULL:
        return self.slot_at(v.index)

    cdef pyp_slot_t *slot_at(self, uint64_t index) except NULL:
        """Slot `index` of the object (structures: a field; nodes and edges: 0, the contents)."""
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


cdef str _CONTENTS = "contents"


@cython.freelist(64)
@cython.no_gc               # holds only its container and type: no cycle runs through it
cdef class PtValue:
    """A proxy of an Int or Float stored by value inside a container
    (a structure field, a list item or a dict value), read and written in
    place.  Keys of dicts and sets and the items of sorted collections are
    frozen: read-only copies (changing one in place would break its table)."""

    cdef pyp_slot_t *slot(self) except NULL:
        if self.frozen:
            raise TypeError(f"{self!r} is a key or a sorted item: it cannot be changed in place")
        return self.container.value_slot(self)

    cdef object get_contents(self):
        cdef uint64_t bits
        if self.frozen:
            self.container.at(sizeof(pt_head_t))     # the pool is still open
            bits = self.bits
        else:
            bits = self.slot().payload
        if self.ti.kind == K_INT:
            return <int64_t>bits
        return pt_bits_double(bits)

    def __getattribute__(self, name):
        # `x.contents` is read once per item a loop visits: straight to it,
        # without the type's attribute look-up (names in code are interned)
        if name is _CONTENTS:
            return self.get_contents()
        return PyObject_GenericGetAttr(self, name)

    @property
    def contents(self):
        """The number (read from the pool each time)."""
        return self.get_contents()

    @contents.setter
    def contents(self, v):
        cdef MemoryManager mm = self.container.mm
        cdef pyp_slot_t new
        cdef pyp_slot_t *s
        self.slot()                 # frozen values refuse before anything changes
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
        return int(self.get_contents())

    def __float__(self):
        return float(self.get_contents())

    def __index__(self):
        if self.ti.kind != K_INT:
            raise TypeError(f"{self.ti.cls!r} is not an integer")
        return self.get_contents()

    def __eq__(self, other):
        if isinstance(other, PtValue):
            other = (<PtValue>other).get_contents()
        if isinstance(other, (int, float)):
            return self.get_contents() == other
        return NotImplemented

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __lt__(self, other):
        return self.get_contents() < _number_of(other)

    def __le__(self, other):
        return self.get_contents() <= _number_of(other)

    def __gt__(self, other):
        return self.get_contents() > _number_of(other)

    def __ge__(self, other):
        return self.get_contents() >= _number_of(other)

    def __hash__(self):
        if not self.frozen:
            raise TypeError(f"unhashable: {self!r} can change in place (hash its .contents)")
        return hash(self.get_contents())

    def __bool__(self):
        return bool(self.get_contents())

    def __str__(self):
        return str(self.get_contents())

    def __repr__(self):
        cdef uint64_t where = self.hint
        try:
            if not self.frozen:
                where = <uint64_t>(<char *>self.slot() - self.container.mm.base)
            shown = repr(self.get_contents())
        except (ValueError, IndexError, KeyError):
            return f"<persistent {self.ti.name} object (gone)>"
        return f"<persistent {self.ti.name} object '{shown}' @offset 0x{where:x}>"


cdef object _number_of(object other):
    """The number a PtValue is ordered against (TypeError for the rest)."""
    if isinstance(other, PtValue):
        return (<PtValue>other).get_contents()
    if isinstance(other, (int, float)):
        return other
    raise TypeError(f"persistent numbers compare with numbers, not {type(other).__name__}")


cdef PtValue make_value(PtObject owner, TypeInfo ti, uint64_t index):
    """A live proxy of the by-value item `index` of `owner` (a list or structure)."""
    cdef PtValue v = PtValue.__new__(PtValue)
    v.container = owner
    v.ti = ti
    v.index = index
    return v


cdef PtValue frozen_value(PtObject owner, TypeInfo ti, const pyp_slot_t *slot):
    """A read-only proxy holding a copy of the by-value `slot` of `owner`."""
    cdef PtValue v = PtValue.__new__(PtValue)
    v.container = owner
    v.ti = ti
    v.frozen = True
    v.bits = slot.payload
    v.hint = <uint64_t>(<const char *>slot - owner.mm.base)
    return v


cdef int traverse_leaf(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    return 0      # byte strings and buffers hold no references
