# Values in slots: small immutable values inline, the others as objects of
# their own (str, bytes, big ints, tuples, frozensets, pickles); reading them
# back; hashes stable across processes and comparison with a slot.
# (included by _core.pyx)


def _check_picklable_type(t):
    """Refuse a type for persist_via_pickle whose objects can change in place: a
    change to one that is stored would be lost (the pool keeps its pickle)."""
    import dataclasses
    name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    if issubclass(t, PersistentBase) or hasattr(t, "_p_new"):
        raise TypeError(f"persist_via_pickle() takes immutable types: {name} is persistent, its objects "
                        f"are stored as themselves")
    if t.__hash__ is None:
        why = "are unhashable, the mark of a mutable type"
    elif dataclasses.is_dataclass(t) and not t.__dataclass_params__.frozen:
        why = "belong to a dataclass that is not frozen"
    else:
        return
    raise TypeError(f"persist_via_pickle() takes immutable types: {name} objects {why}, and a change to one "
                    f"stored in a pool would be lost (the pool keeps the pickle of the value stored).  Store "
                    f"mutable objects as a PersistentObject subclass (pool.new(cls, ...)) or in the persistent "
                    f"collections")


# ---------------------------------------------------------------------------
# Hashes

cdef inline uint64_t _mix(uint64_t x) noexcept:
    x ^= x >> 33
    x *= K_ff51afd7ed558ccd
    x ^= x >> 33
    x *= K_c4ceb9fe1a85ec53
    x ^= x >> 33
    return x

cdef uint64_t _str_hash(str s) except? 0:
    cdef Py_ssize_t n
    cdef const char *p
    try:
        p = PyUnicode_AsUTF8AndSize(s, &n)
    except UnicodeEncodeError:      # lone surrogates
        data = s.encode('utf-8', 'surrogatepass')
        return XXH3_64bits(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    return XXH3_64bits(p, n)

cdef uint64_t _bytes_hash(bytes b) noexcept:
    return XXH3_64bits(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

def stable_hash(value, MemoryManager mm=None):
    """The process-stable hash the pool uses for *value* (str/bytes: XXH3-64 of the UTF-8/raw bytes)."""
    if type(value) is str:
        return <int64_t>_str_hash(value)
    if type(value) is bytes:
        return <int64_t>_bytes_hash(value)
    if mm is None:
        mm = MemoryManager.__new__(MemoryManager)
    return mm.hash_of(value)


cdef int _mm_init_slot(MemoryManager self, pyp_slot_t *dst, object v) except -1:
    """Write `v` into a slot of memory allocated in this transaction."""
    cdef int overflow = 0
    cdef long long i
    cdef type t = type(v)
    if v is None:
        dst.tag = PYP_TAG_NONE
        dst.payload = 0
    elif t is int:
        i = PyLong_AsLongLongAndOverflow(v, &overflow)
        if overflow:
            dst.payload = self._new_bigint(v)
            dst.tag = PYP_TAG_REF
        else:
            dst.tag = PYP_TAG_INT
            dst.payload = <uint64_t>i
    elif t is float:
        dst.tag = PYP_TAG_FLOAT
        dst.payload = pyp_double_bits(v)
    elif t is bool:
        dst.tag = PYP_TAG_TRUE if v else PYP_TAG_FALSE
        dst.payload = 0
    else:
        dst.payload = self._persist_ref(v)
        dst.tag = PYP_TAG_REF
    return 0


cdef int _mm_store(MemoryManager self, pyp_slot_t *dst, object v) except -1:
    """Replace the value in a slot: the old value's reference is released."""
    cdef pyp_slot_t new, old
    self.init_slot(&new, v)
    try:
        self.snapshot(dst, SLOT)
    except BaseException:
        if not self.doomed:
            self.release_slot(new)
        raise
    old = dst[0]
    dst[0] = new
    self.release_slot(old)
    return 0


cdef int _mm_clear_slot(MemoryManager self, pyp_slot_t *dst) except -1:
    cdef pyp_slot_t old = dst[0]
    self.snapshot(dst, SLOT)
    dst.tag = PYP_TAG_EMPTY
    dst.payload = 0
    self.release_slot(old)
    return 0


cdef int _mm_release_slot(MemoryManager self, pyp_slot_t s) except -1:
    if s.tag == PYP_TAG_REF:
        self.decref(s.payload)
    return 0


cdef object _mm_load(MemoryManager self, const pyp_slot_t *s):
    cdef uint64_t tag = s.tag
    if tag == PYP_TAG_INT:
        return PyLong_FromLongLong(<long long>s.payload)
    if tag == PYP_TAG_REF:
        return self.resurrect_off(s.payload)
    if tag == PYP_TAG_NONE or tag == PYP_TAG_EMPTY:
        return None
    if tag == PYP_TAG_FLOAT:
        return pyp_bits_double(s.payload)
    if tag == PYP_TAG_TRUE:
        return True
    if tag == PYP_TAG_FALSE:
        return False
    raise InvalidPoolError(EINVAL, f"damaged pool: value slot with unknown tag {tag}", self.filename)


cdef uint64_t _mm_persist_ref(MemoryManager self, object v) except 0:
    """An object for `v` holding one new reference: allocated, or an existing persistent one."""
    cdef type t = type(v)
    cdef uint64_t off
    if t is str:
        return self._new_bytes(PYP_T_STR, (<str>v).encode('utf-8', 'surrogatepass'))
    if t is bytes:
        return self._new_bytes(PYP_T_BYTES, v)
    if t is tuple or t is frozenset:
        return self._new_seq(PYP_T_TUPLE if t is tuple else PYP_T_FROZENSET, v)
    if t is complex:
        off = self.alloc(sizeof(pyp_complex_t), PYP_TYPE_NUM_OBJECT, False)
        (<pyp_complex_t *>(self.base + off)).h.refcount = 1
        (<pyp_complex_t *>(self.base + off)).h.type_id = PYP_T_COMPLEX
        (<pyp_complex_t *>(self.base + off)).real = v.real
        (<pyp_complex_t *>(self.base + off)).imag = v.imag
        return off
    if isinstance(v, PersistentBase):
        off = (<PersistentBase>v).off
        if off == 0:
            raise ValueError(f"cannot store {t.__name__} object: it was freed or its transaction aborted")
        if (<PersistentBase>v).mm is not self:
            raise TypeError(f"cannot store a {t.__name__} of pool {(<PersistentBase>v).mm.filename!r} "
                            f"in pool {self.filename!r}")
        self.incref(off)
        return off
    if t in self.pickle_types:
        return self._new_bytes(PYP_T_PICKLE, pickle.dumps(v, pickle.HIGHEST_PROTOCOL))
    oid = getattr(v, '_p_oid', None)
    if oid is not None and getattr(v, '_p_mm', None) is not None:
        if v._p_mm is not self:
            raise TypeError(f"cannot store a {t.__name__} of another pool in pool {self.filename!r}")
        off = self._off_of(oid)
        if off == 0:
            raise ValueError(f"cannot store {t.__name__} object: it has no persistent memory")
        self.incref(off)
        return off
    raise TypeError(f"don't know how to persist object of type {_name_of(t)}: not a supported value type, "
                    f"not Persistent, and not nominated with persist_via_pickle()")


cdef uint64_t _mm_new_bytes(MemoryManager self, uint64_t tid, bytes data) except 0:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef uint64_t off = self.alloc(PYP_BYTES_DATA + n, PYP_TYPE_NUM_OBJECT, False)
    cdef pyp_bytes_t *b = <pyp_bytes_t *>(self.base + off)
    b.h.refcount = 1
    b.h.type_id = tid
    b.size = n
    memcpy(b.data, PyBytes_AS_STRING(data), n)
    return off


cdef uint64_t _mm_new_bigint(MemoryManager self, object v) except 0:
    nbytes = (v.bit_length() + 8) // 8
    return self._new_bytes(PYP_T_BIGINT, v.to_bytes(nbytes, 'little', signed=True))


cdef uint64_t _mm_new_seq(MemoryManager self, uint64_t tid, object items) except 0:
    items = tuple(items)
    cdef Py_ssize_t n = len(items), i
    cdef uint64_t off = self.alloc(PYP_SEQ_ITEMS + n * SLOT,
                                   PYP_TYPE_NUM_OBJECT, True)
    cdef pyp_seq_t *s = <pyp_seq_t *>(self.base + off)
    s.h.refcount = 1
    s.h.type_id = tid
    for i in range(n):
        self.init_slot(&(<pyp_seq_t *>(self.base + off)).items[i], items[i])
        (<pyp_seq_t *>(self.base + off)).size = i + 1
    _note_new_seq(self, off)
    return off


cdef uint64_t _mm_off_of(MemoryManager self, object oid) except? 0:
    cdef uint64_t uuid, off
    if type(oid) is not tuple or len(<tuple>oid) != 2:
        raise TypeError(f"an oid is a (pool_uuid_lo, offset) tuple, not {oid!r}")
    try:
        uuid = (<tuple>oid)[0]
        off = (<tuple>oid)[1]
    except (OverflowError, TypeError):
        raise ValueError(f"{oid!r} is not an oid of this pool") from None
    if off == 0:
        return 0
    if uuid != self.uuid_lo:
        raise ValueError(f"oid {oid!r} belongs to another pool")
    self.ptr(off, 1)
    return off


cdef object _mm_oid_of(MemoryManager self, uint64_t off):
    return (self.uuid_obj, off) if off else OID_NULL


cdef object _mm_resurrect_off(MemoryManager self, uint64_t off):
    # Reads are checked against the mapping only (a damaged size reads garbage,
    # never outside the pool): the allocator's size look-up costs more than the read.
    cdef pyp_header_t *h = <pyp_header_t *>self.ptr(off, HEADER)
    cdef uint64_t tid = h.type_id
    cdef pyp_bytes_t *b
    cdef pyp_seq_t *s
    cdef uint64_t n, i, usable
    if tid >= PYP_T_FIRST_CLASS:
        ref = self.proxies.get(off)
        if ref is not None:
            p = ref()
            if p is not None:
                return p
        return self._resurrect_class(off, tid)
    if tid == PYP_T_STR or tid == PYP_T_BYTES or tid == PYP_T_BIGINT or tid == PYP_T_PICKLE:
        b = <pyp_bytes_t *>self.ptr(off, PYP_BYTES_DATA)
        if b.size > self.pool_size:
            raise InvalidPoolError(EINVAL, f"damaged pool: value at 0x{off:x} has a bad size",
                                   self.filename)
        self.ptr(off, PYP_BYTES_DATA + b.size)
        if tid == PYP_T_STR:
            return PyUnicode_DecodeUTF8(b.data, b.size, "surrogatepass")
        data = PyBytes_FromStringAndSize(b.data, b.size)
        if tid == PYP_T_BYTES:
            return data
        if tid == PYP_T_BIGINT:
            return int.from_bytes(data, 'little', signed=True)
        return pickle.loads(data)
    if tid == PYP_T_TUPLE or tid == PYP_T_FROZENSET:
        s = <pyp_seq_t *>self.ptr(off, PYP_SEQ_ITEMS)
        n = s.size
        if n > self.pool_size // SLOT:
            raise InvalidPoolError(EINVAL, f"damaged pool: tuple at 0x{off:x} has a bad size",
                                   self.filename)
        self.ptr(off, PYP_SEQ_ITEMS + n * SLOT)
        items = tuple([self.load(&(<pyp_seq_t *>self.ptr(off, HEADER)).items[i]) for i in range(n)])
        return items if tid == PYP_T_TUPLE else frozenset(items)
    if tid == PYP_T_COMPLEX:
        self.ptr(off, sizeof(pyp_complex_t))
        return complex((<pyp_complex_t *>h).real, (<pyp_complex_t *>h).imag)
    if tid == PYP_T_BOX:
        self.ptr(off, sizeof(pyp_box_t))
        return self.load(&(<pyp_box_t *>h).value)
    raise InvalidPoolError(EINVAL, f"damaged pool: object at 0x{off:x} has unknown type id {tid}",
                           self.filename)


cdef object _mm_resurrect_class(MemoryManager self, uint64_t off, uint64_t tid):
    cls = self.class_of(tid)
    p = cls.__new__(cls)
    if isinstance(p, PersistentBase):
        (<PersistentBase>p).mm = self
        (<PersistentBase>p).off = off
        self.proxies[off] = weakref.ref(p)
        (<PersistentBase>p).on_resurrect()
    else:
        p._p_resurrect(self, self.oid_of(off))
        self.proxies[off] = weakref.ref(p)
    return p


cdef int64_t _mm_hash_of(MemoryManager self, object v) except? -1:
    """A hash stable across processes that follows Python equality."""
    cdef type t = type(v)
    cdef int64_t h
    cdef uint64_t acc
    if t is str:
        h = <int64_t>_str_hash(v)
    elif t is bytes:
        h = <int64_t>_bytes_hash(v)
    elif t is int or t is float or t is bool or t is complex:
        return PyObject_Hash(v)
    elif v is None:
        return 0x6e6f6e65       # "none"
    elif t is tuple:
        acc = K_27d4eb2f165667c5
        for item in <tuple>v:
            acc = (acc ^ <uint64_t>self.hash_of(item)) * K_9e3779b97f4a7c15
            acc ^= acc >> 29
        h = <int64_t>(acc + <uint64_t>len(<tuple>v))
    elif t is frozenset:
        acc = K_165667b19e3779f9
        for item in <frozenset>v:
            h = self.hash_of(item)
            acc += (<uint64_t>h ^ (<uint64_t>h << 16) ^ K_5bd1e995) * K_c2b2ae3d27d4eb4f
        h = <int64_t>(acc ^ <uint64_t>len(<frozenset>v))
    elif isinstance(v, PersistentBase):
        return (<PersistentBase>v).stable_hash()
    else:
        oid = getattr(v, '_p_oid', None) if not isinstance(v, type) else None
        if type(oid) is tuple and len(oid) == 2:
            h = <int64_t>_mix(<uint64_t>oid[1])
        else:
            return PyObject_Hash(v)
    return -2 if h == -1 else h


cdef int _mm_slot_eq(MemoryManager self, const pyp_slot_t *s, object v) except -1:
    cdef type t = type(v)
    cdef pyp_bytes_t *b
    cdef const char *data
    cdef Py_ssize_t n
    cdef long long i
    cdef int overflow = 0
    if s.tag == PYP_TAG_INT and t is int:
        i = PyLong_AsLongLongAndOverflow(v, &overflow)
        return not overflow and i == <long long>s.payload
    if s.tag == PYP_TAG_REF and (t is str or t is bytes):
        b = <pyp_bytes_t *>self.ptr(s.payload, PYP_BYTES_DATA)
        if b.h.type_id != (PYP_T_STR if t is str else PYP_T_BYTES):
            return PyObject_RichCompareBool(self.load(s), v, Py_EQ)
        if t is str:
            try:
                data = PyUnicode_AsUTF8AndSize(v, &n)
            except UnicodeEncodeError:
                return PyObject_RichCompareBool(self.load(s), v, Py_EQ)
        else:
            data = PyBytes_AS_STRING(v)
            n = PyBytes_GET_SIZE(v)
        if <uint64_t>n != b.size:
            return 0
        self.ptr(s.payload, PYP_BYTES_DATA + n)
        return memcmp(b.data, data, n) == 0
    if s.tag == PYP_TAG_EMPTY:
        return 0
    return PyObject_RichCompareBool(self.load(s), v, Py_EQ)
