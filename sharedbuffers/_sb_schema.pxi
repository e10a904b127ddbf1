# Schemas, their slot descriptors and the proxies reading records in place
# (included by _structs.pyx).

cdef extern from *:
    """
    /* Compare-and-swap of a 1, 2, 4 or 8-byte field.  Atomic (across processes
       sharing the mapping) when the field is naturally aligned; packed records
       do not align their fields, so an unaligned one is swapped under the GIL only. */
    static int sb_cas(void *p, int width, uint64_t expected, uint64_t desired) {
        if (((uintptr_t)p & (uintptr_t)(width - 1)) == 0) {
            switch (width) {
            case 1: { uint8_t e = (uint8_t)expected;
                return __atomic_compare_exchange_n((uint8_t *)p, &e, (uint8_t)desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); }
            case 2: { uint16_t e = (uint16_t)expected;
                return __atomic_compare_exchange_n((uint16_t *)p, &e, (uint16_t)desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); }
            case 4: { uint32_t e = (uint32_t)expected;
                return __atomic_compare_exchange_n((uint32_t *)p, &e, (uint32_t)desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); }
            default: { uint64_t e = expected;
                return __atomic_compare_exchange_n((uint64_t *)p, &e, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); }
            }
        }
        uint64_t cur = 0;
        memcpy(&cur, p, width);
        if (cur != (expected & (width == 8 ? ~0ULL : ((1ULL << (8 * width)) - 1))))
            return 0;
        memcpy(p, &desired, width);
        return 1;
    }
    """
    bint sb_cas(void *p, int width, uint64_t expected, uint64_t desired) nogil


cdef tuple _EMPTY = ()
cdef object _schema_of_type = None      # set below: type -> slot kind


cdef dict _KINDS = {
    int: SB_KIND_INT, float: SB_KIND_FLOAT, bool: SB_KIND_BOOL, bytes: SB_KIND_BYTES,
    str: SB_KIND_STR, tuple: SB_KIND_TUPLE, list: SB_KIND_LIST,
    frozenset: SB_KIND_FROZENSET, set: SB_KIND_FROZENSET, object: SB_KIND_OBJECT,
    dict: SB_KIND_DICT, _datetime: SB_KIND_DATETIME, _date: SB_KIND_DATE,
    _Decimal: SB_KIND_DECIMAL, memoryview: SB_KIND_BUFFER,
}


def _fill_kinds():
    _KINDS.update({
        ubyte: SB_KIND_U8, byte: SB_KIND_I8, ushort: SB_KIND_U16, short: SB_KIND_I16,
        uint32: SB_KIND_U32, int32: SB_KIND_I32, uint64: SB_KIND_U64, int64: SB_KIND_INT,
        float32: SB_KIND_F32, float64: SB_KIND_FLOAT, mapped_object: SB_KIND_OBJECT,
        mapped_frozenset: SB_KIND_FROZENSET, mapped_tuple: SB_KIND_TUPLE, mapped_list: SB_KIND_LIST,
        mapped_dict: SB_KIND_DICT, mapped_bytes: SB_KIND_BYTES, mapped_unicode: SB_KIND_STR,
        mapped_decimal: SB_KIND_DECIMAL, mapped_datetime: SB_KIND_DATETIME,
        mapped_datetime_local: SB_KIND_DATETIME_LOCAL, mapped_datetime_utc: SB_KIND_DATETIME_UTC,
        mapped_datetime_tz: SB_KIND_DATETIME_TZ, mapped_datetime_tz_local: SB_KIND_DATETIME_TZ_LOCAL,
        mapped_date: SB_KIND_DATE, proxied_list: SB_KIND_PLIST, proxied_tuple: SB_KIND_PTUPLE,
        proxied_frozenset: SB_KIND_PFROZENSET, proxied_dict: SB_KIND_PDICT,
        proxied_buffer: SB_KIND_BUFFER, proxied_ndarray: SB_KIND_NDARRAY,
    })


cdef int kind_of_type(object t) except -1:
    k = _KINDS.get(t)
    if k is not None:
        return k
    if isinstance(t, type) and t.__name__ == "ndarray" and t.__module__ == "numpy":
        return SB_KIND_NDARRAY
    return SB_KIND_STRUCT


cdef inline bint _bit(const char *bitmap, int bit) noexcept:
    return ((<uint8_t>bitmap[bit >> 3]) >> (bit & 7)) & 1


cdef class SlotField:
    """Descriptor of one slot on a proxy class: reads the field in place.

    Numeric slots of a proxy on a writable buffer can be assigned, and swapped
    (cas) or incremented (add) through the descriptor:
    ``type(proxy).count.add(proxy, 1)``."""
    cdef readonly str name
    cdef readonly object type
    cdef int kind
    cdef int width           # of the inline field (0: a reference)
    cdef Py_ssize_t off      # of the fixed field in the record
    cdef Py_ssize_t end      # off + width: the record bytes a read needs
    cdef int bit
    cdef Schema child        # struct slots: the schema (resolved on first use)
    cdef Schema schema       # the schema this field belongs to

    cdef Schema child_schema(self):
        if self.kind == SB_KIND_STRUCT and self.child is None:
            self.child = schema_of_class(self.type)
            if self.child is None:
                raise TypeError(f"slot {self.name!r}: type {self.type.__name__} has no "
                                f"registered schema (mapped_object.register_schema)")
        return self.child

    def __get__(self, inst, owner):
        if inst is None:
            return self
        return read_field(<StructProxy?>inst, self)

    cdef char *_writable(self, StructProxy p) except NULL:
        if p._schema is not self.schema:
            raise TypeError("this proxy is not bound to a buffer of the slot's schema")
        return writable_at(p._buf, p._pos, self.end)

    def __set__(self, inst, value):
        cdef StructProxy p = <StructProxy?>inst
        cdef char *rec
        cdef Py_ssize_t bm = self.schema.bitmap_bytes
        if value is not None and not self.width:
            raise AttributeError(f"slot {self.name!r} of a mapped struct cannot be assigned "
                                 f"(only numeric and date slots can, in a writable buffer)")
        rec = self._writable(p)
        if value is None:
            rec[bm + (self.bit >> 3)] |= <char>(1 << (self.bit & 7))
        else:
            store_fixed(self.kind, value, rec + self.off)
            rec[bm + (self.bit >> 3)] &= <char>~(1 << (self.bit & 7))
        rec[self.bit >> 3] |= <char>(1 << (self.bit & 7))

    def __delete__(self, inst):
        raise AttributeError(f"mapped struct proxies cannot delete slots (slot {self.name!r})")

    cdef uint64_t _bits(self, object value) except? 0xFFFFFFFFFFFFFFFF:
        cdef uint64_t u = 0
        store_fixed(self.kind, value, <char *>&u)
        return u

    cdef int _numeric(self) except -1:
        if self.width == 0 or self.width == 10 or self.kind == SB_KIND_DATE or \
                self.kind == SB_KIND_DATETIME or self.kind == SB_KIND_DATETIME_LOCAL or \
                self.kind == SB_KIND_DATETIME_UTC:
            raise TypeError(f"slot {self.name!r} is not numeric")
        return 0

    def cas(self, inst, expected, new):
        """Compare-and-swap: set the slot to `new` if it holds `expected`; whether it did."""
        cdef StructProxy p = <StructProxy?>inst
        cdef char *rec
        self._numeric()
        rec = self._writable(p)
        if self.kind == SB_KIND_FLOAT or self.kind == SB_KIND_F32:
            # compare values, not bit patterns (0.0 == -0.0)
            cur = load_fixed(self.kind, rec + self.off)
            if cur != expected:
                return False
            return sb_cas(rec + self.off, self.width, self._bits(cur), self._bits(new))
        return sb_cas(rec + self.off, self.width, self._bits(expected), self._bits(new))

    def add(self, inst, value):
        """Add `value` to the slot (compare-and-swap loop); returns the new value.
        Integers wrap around at the slot's width."""
        cdef StructProxy p = <StructProxy?>inst
        cdef char *rec
        cdef uint64_t old, new, mask
        self._numeric()
        rec = self._writable(p)
        while True:
            cur = load_fixed(self.kind, rec + self.off)
            old = self._bits(cur)
            if self.kind == SB_KIND_FLOAT or self.kind == SB_KIND_F32 or self.kind == SB_KIND_BOOL:
                result = cur + value
                new = self._bits(result)
            else:
                mask = 0xFFFFFFFFFFFFFFFF if self.width == 8 else ((<uint64_t>1 << (8 * self.width)) - 1)
                new = (old + PyLong_AsUnsignedLongLongMask(PyNumber_Index(value))) & mask
                result = None
            if sb_cas(rec + self.off, self.width, old, new):
                return load_fixed(self.kind, rec + self.off) if result is None else result

    def __repr__(self):
        return f"<slot {self.name!r} of type {getattr(self.type, '__name__', self.type)}>"


cdef object read_field(StructProxy p, SlotField f):
    cdef BufferRef b
    cdef const char *rec
    cdef double d
    cdef Py_ssize_t bm
    if p._schema is not f.schema:
        raise TypeError("this proxy is not bound to a buffer of the slot's schema")
    b = p._buf
    rec = at(b, p._pos, f.end)
    if not _bit(rec, f.bit):
        raise AttributeError(f"{f.name!r} was not set on the packed object")
    bm = f.schema.bitmap_bytes
    if _bit(rec + bm, f.bit):
        return None
    if f.kind == SB_KIND_INT:
        return load_i64(rec + f.off)
    if f.kind == SB_KIND_FLOAT:
        memcpy(&d, rec + f.off, 8)
        return d
    if f.width:
        return load_fixed(f.kind, rec + f.off)
    return read_typed(f.kind, f.child_schema(), b, add_rel(p._pos, load_i64(rec + f.off)), 0)


cdef class StructProxy:
    """Base of the proxy classes: a struct record read in place."""

    def __repr__(self):
        if self._schema is None:
            return f"<unbound {type(self).__name__}>"
        parts = []
        for name in self._schema.slot_names:
            try:
                parts.append(f"{name}={getattr(self, name)!r}")
            except AttributeError:
                pass
        return f"{type(self).__name__}({', '.join(parts)})"

    def _asdict(self):
        """The slots that were set, as a dict (values read from the buffer)."""
        if self._schema is None:
            raise TypeError("unbound proxy")
        out = {}
        for name in self._schema.slot_names:
            try:
                out[name] = getattr(self, name)
            except AttributeError:
                pass
        return out

    def _init(self, buf, offs, none_bitmap=None, idmap=None):
        """Rebind this proxy to the record at `offs` of `buf`."""
        if self._schema is None:
            raise TypeError("unbound proxy of unknown schema: use Schema.unpack_from(buf, offs, proxy_into=p)")
        make_proxy(self._schema, buffer_ref(buf), offs, self)

    @property
    def _proxy_buffer(self):
        return self._buf.owner if self._buf is not None else None

    @property
    def _proxy_offset(self):
        return self._pos

    def __richcmp__(self, other, int op):
        if op != 2 and op != 3:
            return NotImplemented
        if not isinstance(other, StructProxy) or self._schema is None \
                or (<StructProxy>other)._schema is None \
                or not self._schema.compatible((<StructProxy>other)._schema):
            return NotImplemented
        eq = self._asdict() == (<StructProxy>other)._asdict()
        return eq if op == 2 else not eq

    def __hash__(self):
        return hash(tuple(_frozen(v) for v in self._asdict().items()))

    def __reduce__(self):
        # the record's values, packed anew (the buffer itself may be a mapping)
        if self._schema is None:
            raise TypeError("cannot pickle an unbound proxy")
        return (_unpickle_proxy, (self._schema, bytes(self._schema.pack(self))))


cdef object _frozen(object v):
    """v with its lists and dicts made hashable (for a proxy's hash)."""
    if isinstance(v, (list, tuple, proxied_list)):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, (dict, proxied_dict)):
        return frozenset((k, _frozen(x)) for k, x in v.items())
    if isinstance(v, StructProxy):
        return hash(v)
    return v


def _unpickle_proxy(Schema schema, data):
    return schema.unpack(data)


cdef StructProxy make_proxy(Schema s, BufferRef b, Py_ssize_t pos, StructProxy into):
    at(b, pos, s.fixed_size)
    if into is None:
        into = (<PyTypeObject *>s.Proxy).tp_new(s.Proxy, <PyObject *>_EMPTY, NULL)
    elif into._schema is not s and into._schema is not None:
        raise TypeError("proxy_into must be a proxy of the same schema")
    into._buf = b
    into._pos = pos
    into._schema = s
    return into


def _rebuild_schema(slot_types, name, user_data, bases, structs):
    """Unpickle a Schema; struct slot types not registered here are registered
    (with the pickled schema and typecode)."""
    for typ, schema, typecode in structs:
        if typ not in mapped_object.TYPE_CODES and typecode is not None:
            try:
                mapped_object.register_schema(typ, schema, typecode)
            except ValueError:
                pass
    s = Schema(slot_types, name=name, user_data=user_data)
    if bases:
        s.set_proxy_bases(bases)
    return s


cdef class Schema:
    """The layout of a struct: its typed slots and the proxy class reading them.

    Slot types: int, float, bool and the sized numbers (ubyte ... uint64,
    float32, float64), bytes, str, tuple, list, frozenset, dict, datetime,
    date, Decimal, memoryview (or proxied_buffer), numpy.ndarray (or
    proxied_ndarray), the mapped_* and proxied_* types, object (any value,
    with its typecode), and struct classes registered with
    mapped_object.register_schema (or a Schema).  A slot not set on the packed
    object reads as AttributeError; one set to None reads as None."""

    def __init__(self, slot_types, alignment=8, pack_buffer_size=65536, packer_cache=None,
                 unpacker_cache=None, max_pack_buffer_size=None, version=None, user_data=None,
                 name="MappedStruct"):
        # alignment ... version: upstream's tuning arguments, accepted and unused
        cdef SlotField f
        cdef Py_ssize_t off, i
        if not isinstance(slot_types, dict):
            slot_types = dict(slot_types)
        self.slot_types = dict(slot_types)
        self.slot_names = tuple(sorted(slot_types))
        self.nslots = len(self.slot_names)
        self.bitmap_bytes = (self.nslots + 7) // 8
        self.user_data = user_data
        self.name = name
        self.bases = ()
        self.fields = []
        off = 2 * self.bitmap_bytes
        for i, slot in enumerate(self.slot_names):
            if not isinstance(slot, str) or not slot.isidentifier() or slot.startswith("__"):
                raise ValueError(f"invalid slot name {slot!r}")
            t = slot_types[slot]
            f = SlotField.__new__(SlotField)
            f.name = slot
            f.type = t
            f.bit = i
            f.schema = self
            if isinstance(t, Schema):
                f.kind = SB_KIND_STRUCT
                f.child = t
            elif isinstance(t, type):
                f.kind = kind_of_type(t)
            else:
                raise TypeError(f"slot {slot!r}: the type must be a class or a Schema, not {t!r}")
            f.width = fixed_width(f.kind)
            f.off = off
            off += f.width or 8
            f.end = off
            self.fields.append(f)
        self.fixed_size = off
        self.make_proxy_class()

    cdef int make_proxy_class(self) except -1:
        cdef SlotField f
        ns = {"__slots__": (), "__module__": __name__}
        for f in self.fields:
            ns[f.name] = f
        old = self.Proxy
        self.Proxy = type(self.name, (StructProxy,) + self.bases, ns)
        if old is not None and _by_class.get(old) is self:
            _by_class[self.Proxy] = self
            self.Proxy.__name__ = old.__name__
            self.Proxy.__qualname__ = old.__qualname__
            self.Proxy.__module__ = old.__module__
        return 0

    @classmethod
    def from_typed_slots(cls, struct_class_or_slot_types, *args, **kw):
        """A schema from a class with `__slot_types__` or a {slot name: type} dict.

        Keyword arguments: user_data (kept with the schema, pickled with it),
        name (of the proxy class); upstream's tuning arguments are accepted."""
        if hasattr(struct_class_or_slot_types, "__slot_types__"):
            kw.setdefault("name", getattr(struct_class_or_slot_types, "__name__", "Mapped") + "Proxy")
            return cls(struct_class_or_slot_types.__slot_types__, *args, **kw)
        if isinstance(struct_class_or_slot_types, dict):
            return cls(struct_class_or_slot_types, *args, **kw)
        raise ValueError(f"cannot build a schema out of {type(struct_class_or_slot_types)!r}")

    @property
    def ProxyClass(self):
        return self.Proxy

    @property
    def slot_keys(self):
        return self.slot_names

    def set_user_data(self, user_data):
        self.user_data = user_data

    def set_proxy_bases(self, bases):
        """Make proxies instances of `bases` too (for their methods)."""
        self.bases = tuple(b for b in bases if b is not object)
        self.make_proxy_class()

    def set_pack_buffer_size(self, newsize):
        """Accepted for compatibility: packing grows its buffer as needed."""

    def reinitialize(self):
        """Accepted for compatibility: struct slot types resolve on first use."""

    def compatible(self, other):
        """Whether records of this schema and `other` read the same."""
        cdef SlotField f, g
        if not isinstance(other, Schema):
            return False
        if self.slot_names != (<Schema>other).slot_names:
            return False
        for f, g in zip(self.fields, (<Schema>other).fields):
            if f.kind != g.kind:
                return False
            if f.kind == SB_KIND_STRUCT and f.type is not g.type and not (
                    isinstance(f.type, Schema) and f.type.compatible(g.type)):
                return False
        return True

    def __reduce__(self):
        cdef SlotField f
        structs = []
        for f in self.fields:
            if f.kind == SB_KIND_STRUCT and isinstance(f.type, type):
                s = schema_of_class(f.type)
                if s is not None:
                    structs.append((f.type, s, s.typecode))
        return (_rebuild_schema, (self.slot_types, self.name, self.user_data, self.bases, structs))

    def pack(self, obj, idmap=None, packer=None, padding=None, implicit_offs=0):
        """Pack `obj` (its attributes, or the items of a dict) into a new bytearray.

        With an idmap dict, sub-objects met again (same id()) are stored once;
        its positions are relative to the returned buffer (+ implicit_offs)."""
        cdef Packer pk = Packer(idmap, implicit_offs)
        pk.pack_struct(self, obj, 0)
        return PyByteArray_FromStringAndSize(pk.data, pk.length)

    def pack_to_pool(self, obj, pool, idmap=None):
        """Pack `obj` into a new allocation of the pmemobj `pool` (in a
        transaction); returns the persistent object (a PooledBuffer, readable
        like a proxy), to be stored in the pool (root, a collection) to keep it.
        The schema must be registered (mapped_object.register_schema)."""
        if self.struct_class is None:
            raise ValueError("register the schema (mapped_object.register_schema) "
                             "before storing structs in a pool")
        from sharedbuffers import _pooled
        return _pooled.store_packed(pool, 1, self.struct_class, self.pack(obj, idmap))

    def pack_into(self, obj, buf, Py_ssize_t offs=0, idmap=None, packer=None, padding=None,
                  Py_ssize_t implicit_offs=0):
        """Pack `obj` into the writable buffer `buf` at `offs`; returns the offset
        after it (so calls chain: ``pos = schema.pack_into(obj, buf, pos)``).

        idmap positions are offs + implicit_offs based (implicit_offs: where
        `buf` starts in a larger output)."""
        return pack_kind_into(SB_KIND_STRUCT, self, obj, buf, offs, idmap, implicit_offs)

    def unpack_from(self, buf, Py_ssize_t offs=0, idmap=None, factory_class_new=None, proxy_into=None):
        """A proxy reading the record at `offs` of `buf` in place (no copy).

        The buffer stays exported while the proxy lives.  proxy_into: an
        existing proxy of this schema to rebind and return (saves an allocation).
        idmap, factory_class_new: accepted for compatibility (reads need no cache)."""
        cdef StructProxy into = proxy_into
        cdef BufferRef b
        if into is not None and into._buf is not None and (into._buf is buf or into._buf.owner is buf):
            b = into._buf
        else:
            b = buffer_ref(buf)
        return make_proxy(self, b, offs, into)

    def unpack(self, buf, idmap=None, factory_class_new=None, proxy_into=None):
        """unpack_from(buf, 0, ...)."""
        return self.unpack_from(buf, 0, idmap, factory_class_new, proxy_into)

    cdef StructProxy proxy_at(self, BufferRef b, Py_ssize_t pos):
        return make_proxy(self, b, pos, None)

    def __repr__(self):
        return f"<Schema {self.Proxy.__name__} {list(self.slot_names)}>"


_fill_kinds()
_register_builtins()
