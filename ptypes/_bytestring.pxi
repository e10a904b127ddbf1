# Included by _objects.pyx: immutable byte strings (pt_bytes_t).

cdef pt_bytes_t *bytes_at(MemoryManager mm, uint64_t off) except NULL:
    """The byte string at `off`, checked against the mapping only (as the core
    reads values: a damaged size reads garbage, never outside the pool; the
    allocator's size look-up would cost more than the read)."""
    cdef pt_bytes_t *b = <pt_bytes_t *>mm.ptr(off, sizeof(pt_bytes_t))
    if b.size > mm.pool_size:
        raise damaged(mm, f"byte string at 0x{off:x} is larger than the pool")
    mm.ptr(off, sizeof(pt_bytes_t) + b.size + 1)
    return b


cdef class PtByteString(PtObject):
    """An immutable persistent byte string, compared by contents."""

    cdef pt_bytes_t *bp(self) except NULL:
        if self.canon is not None and self.canon.off == 0:
            self.canon.addr(sizeof(pt_bytes_t))    # raises: the string was freed
        cdef pt_bytes_t *b = <pt_bytes_t *>self.at(sizeof(pt_bytes_t))
        if b.size > self.mm.pool_size:
            raise damaged(self.mm, f"byte string at 0x{self.off:x} is larger than the pool")
        self.at(sizeof(pt_bytes_t) + b.size + 1)
        return b

    @property
    def contents(self):
        cdef pt_bytes_t *b = self.bp()
        return PyBytes_FromStringAndSize(b.data, b.size)

    def isSameAs(self, other):
        """True if `other` is a proxy of the very same persistent string."""
        return (isinstance(other, PtByteString) and (<PtByteString>other).mm is self.mm
                and (<PtByteString>other).off == self.off and self.off != 0)

    cdef int64_t stable_hash(self) except? -1:
        cdef int64_t h = <int64_t>self.bp().hash
        return -2 if h == -1 else h

    def __eq__(self, other):
        cdef pt_bytes_t *a
        cdef pt_bytes_t *b
        if isinstance(other, PtByteString):
            a = self.bp()
            b = (<PtByteString>other).bp()
            return a.size == b.size and memcmp(a.data, b.data, a.size) == 0
        if isinstance(other, (bytes, bytearray, memoryview)):
            return self.contents == other
        return NotImplemented

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __lt__(self, other):
        return self.contents < _bytes_of(other)

    def __le__(self, other):
        return self.contents <= _bytes_of(other)

    def __gt__(self, other):
        return self.contents > _bytes_of(other)

    def __ge__(self, other):
        return self.contents >= _bytes_of(other)

    def __hash__(self):
        return hash(self.contents)

    def __len__(self):
        return self.bp().size

    def __bytes__(self):
        return self.contents

    def __str__(self):
        return self.contents.decode('utf-8', 'surrogateescape')

    def __repr__(self):
        if self.ti is None or self.off == 0:
            return PtObject.__repr__(self)
        return f"<persistent {self.ti.name} object {str(self)!r} @offset 0x{self.off:x}>"


cdef object _bytes_of(object other):
    """The bytes a byte string is ordered against (TypeError for the rest)."""
    if isinstance(other, PtByteString):
        return (<PtByteString>other).contents
    if isinstance(other, (bytes, bytearray, memoryview)):
        return bytes(other)
    raise TypeError(f"persistent byte strings compare with bytes, not {type(other).__name__}")


cdef PtByteString new_bytestring(Session s, TypeInfo ti, object data):
    if isinstance(data, PtByteString):
        data = (<PtByteString>data).contents
    elif isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise TypeError(f"Expected {ti.cls!r} or bytes, found {found_name(data)}")
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef PtByteString p = <PtByteString>alloc_object(s, PtByteString, ti, sizeof(pt_bytes_t) + n + 1)
    cdef pt_bytes_t *b = <pt_bytes_t *>p.addr(sizeof(pt_bytes_t) + n + 1)
    b.size = n
    b.hash = XXH3_64bits(PyBytes_AS_STRING(data), n)
    memcpy(b.data, PyBytes_AS_STRING(data), n)
    b.data[n] = 0
    return p
