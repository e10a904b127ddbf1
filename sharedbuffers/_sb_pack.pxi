# Packer: values and struct records written into a growable memory buffer
# (included by _structs.pyx).

cdef object _MISSING = object()     # an attribute the packed object does not have


class NumberRangeError(OverflowError, _struct.error):
    """A number outside the range of its slot's type (a struct.error too, which
    is what upstream sharedbuffers raised)."""


class NumberTypeError(TypeError, _struct.error):
    """A value that is not a number, for a numeric slot (a struct.error too, as upstream)."""


cdef object slot_error(object e, str name, bint numeric):
    """The exception e, naming the slot; for numeric slots, one that is also a struct.error."""
    cls = type(e)
    if numeric and cls is OverflowError:
        cls = NumberRangeError
    elif numeric and cls is TypeError:
        cls = NumberTypeError
    return cls(f"slot {name!r}: {e}")

cdef object _UTC = _dt.timezone.utc
cdef object _EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
cdef object _EPOCH_NAIVE = _dt.datetime(1970, 1, 1)
cdef object _datetime = _dt.datetime
cdef object _date = _dt.date
cdef object _timedelta = _dt.timedelta
cdef object _Decimal = _decimal.Decimal

cdef object _np = None


cdef object numpy_module():
    """numpy, imported on first use (only ndarray values and the sorted-array helpers need it)."""
    global _np
    if _np is None:
        import numpy
        _np = numpy
    return _np


cdef bint is_ndarray(object v):
    return _np is not None and isinstance(v, _np.ndarray) or (
        type(v).__name__ == "ndarray" and type(v).__module__ == "numpy" and numpy_module() is not None)


# -- fixed-size fields (numbers, dates): stored inline in records

cdef inline int64_t td_micros(object td) except? -1:
    return (<int64_t>td.days * 86400 + <int64_t>td.seconds) * 1000000 + <int64_t>td.microseconds


cdef int64_t datetime_micros(object v, bint naive_utc) except? -1:
    """Microseconds since the epoch (UTC) of datetime v; a naive v is local time,
    or UTC with naive_utc."""
    if not isinstance(v, _datetime):
        if isinstance(v, _date):
            v = _datetime(v.year, v.month, v.day)
        else:
            raise TypeError(f"a datetime slot needs a datetime, not {type(v).__name__}")
    if v.tzinfo is None or v.utcoffset() is None:
        if naive_utc:
            return td_micros(v - _EPOCH_NAIVE)
        v = v.astimezone(_UTC)          # a naive datetime is local time
    return td_micros(v - _EPOCH)


cdef int store_datetime_tz(object v, bint naive_local, char *p) except -1:
    cdef int64_t us
    cdef int16_t off
    if not isinstance(v, _datetime):
        raise TypeError(f"a datetime slot needs a datetime, not {type(v).__name__}")
    if v.tzinfo is None or v.utcoffset() is None:
        v = v.astimezone() if naive_local else v.replace(tzinfo=_UTC)
    us = td_micros(v - _EPOCH)
    off = <int16_t>(td_micros(v.utcoffset()) // 60000000)
    memcpy(p, &us, 8)
    memcpy(p + 8, &off, 2)
    return 0


cdef int store_fixed(int kind, object v, char *p) except -1:
    """Write v as the inline field of a fixed-size slot kind at p."""
    cdef int64_t i64
    cdef uint64_t u64
    cdef uint8_t u8
    cdef int8_t i8
    cdef uint16_t u16
    cdef int16_t i16
    cdef uint32_t u32
    cdef int32_t i32
    cdef double d
    cdef float f
    if kind == SB_KIND_INT:
        i64 = v if type(v) is int else PyNumber_Index(v)
        memcpy(p, &i64, 8)
    elif kind == SB_KIND_FLOAT:
        d = PyFloat_AsDouble(v)
        memcpy(p, &d, 8)
    elif kind == SB_KIND_BOOL:
        p[0] = 1 if v else 0
    elif kind == SB_KIND_U8:
        u8 = v if type(v) is int else PyNumber_Index(v)
        p[0] = <char>u8
    elif kind == SB_KIND_I8:
        i8 = v if type(v) is int else PyNumber_Index(v)
        p[0] = <char>i8
    elif kind == SB_KIND_U16:
        u16 = v if type(v) is int else PyNumber_Index(v)
        memcpy(p, &u16, 2)
    elif kind == SB_KIND_I16:
        i16 = v if type(v) is int else PyNumber_Index(v)
        memcpy(p, &i16, 2)
    elif kind == SB_KIND_U32:
        u32 = v if type(v) is int else PyNumber_Index(v)
        memcpy(p, &u32, 4)
    elif kind == SB_KIND_I32:
        i32 = v if type(v) is int else PyNumber_Index(v)
        memcpy(p, &i32, 4)
    elif kind == SB_KIND_U64:
        u64 = v if type(v) is int else PyNumber_Index(v)
        memcpy(p, &u64, 8)
    elif kind == SB_KIND_F32:
        f = <float>PyFloat_AsDouble(v)
        memcpy(p, &f, 4)
    elif kind == SB_KIND_DATETIME or kind == SB_KIND_DATETIME_LOCAL or kind == SB_KIND_DATETIME_UTC:
        i64 = datetime_micros(v, kind == SB_KIND_DATETIME_UTC)
        memcpy(p, &i64, 8)
    elif kind == SB_KIND_DATETIME_TZ or kind == SB_KIND_DATETIME_TZ_LOCAL:
        store_datetime_tz(v, kind == SB_KIND_DATETIME_TZ_LOCAL, p)
    elif kind == SB_KIND_DATE:
        if not isinstance(v, _date):
            raise TypeError(f"a date slot needs a date, not {type(v).__name__}")
        i32 = v.toordinal()
        memcpy(p, &i32, 4)
    else:
        raise AssertionError(f"not a fixed-size slot kind: {kind}")
    return 0


cdef inline char narrow_int_kind(long long lo, long long hi) noexcept:
    """The item kind of the narrowest int table holding every value in [lo, hi]."""
    if lo >= 0:
        if hi <= 0xFF:
            return SB_SEQ_U8
        if hi <= 0xFFFF:
            return SB_SEQ_U16
        if hi <= 0xFFFFFFFF:
            return SB_SEQ_U32
        return SB_SEQ_INT
    if lo >= -0x80 and hi <= 0x7F:
        return SB_SEQ_I8
    if lo >= -0x8000 and hi <= 0x7FFF:
        return SB_SEQ_I16
    if lo >= -0x80000000 and hi <= 0x7FFFFFFF:
        return SB_SEQ_I32
    return SB_SEQ_INT


cdef inline int seq_width(char ik) noexcept:
    """Bytes per item of a sequence's item kind (0: not a kind)."""
    if ik == SB_SEQ_U8 or ik == SB_SEQ_I8:
        return 1
    if ik == SB_SEQ_U16 or ik == SB_SEQ_I16:
        return 2
    if ik == SB_SEQ_U32 or ik == SB_SEQ_I32:
        return 4
    if ik == SB_SEQ_INT or ik == SB_SEQ_FLOAT or ik == SB_SEQ_OBJECT:
        return 8
    return 0


cdef inline int64_t load_int_item(const char *t, char ik, Py_ssize_t i) noexcept:
    """Item i of an int table of kind ik (bounds checked by the caller)."""
    cdef uint16_t u16
    cdef uint32_t u32
    if ik == SB_SEQ_INT:
        return load_i64(t + 8 * i)
    if ik == SB_SEQ_U8:
        return (<const uint8_t *>t)[i]
    if ik == SB_SEQ_I8:
        return (<const int8_t *>t)[i]
    if ik == SB_SEQ_U16 or ik == SB_SEQ_I16:
        memcpy(&u16, t + 2 * i, 2)
        if ik == SB_SEQ_U16:
            return u16
        return <int16_t>u16
    memcpy(&u32, t + 4 * i, 4)
    if ik == SB_SEQ_U32:
        return u32
    return <int32_t>u32


# bytes of the inline field of each fixed-size kind (0: a reference, 8 bytes)
cdef int fixed_width(int kind) noexcept:
    if kind == SB_KIND_BOOL or kind == SB_KIND_U8 or kind == SB_KIND_I8:
        return 1
    if kind == SB_KIND_U16 or kind == SB_KIND_I16:
        return 2
    if kind == SB_KIND_U32 or kind == SB_KIND_I32 or kind == SB_KIND_F32 or kind == SB_KIND_DATE:
        return 4
    if kind == SB_KIND_INT or kind == SB_KIND_FLOAT or kind == SB_KIND_U64 \
            or kind == SB_KIND_DATETIME or kind == SB_KIND_DATETIME_LOCAL or kind == SB_KIND_DATETIME_UTC:
        return 8
    if kind == SB_KIND_DATETIME_TZ or kind == SB_KIND_DATETIME_TZ_LOCAL:
        return 10
    return 0


cdef class Packer:

    def __cinit__(self, idmap=None, Py_ssize_t base=0):
        self.capacity = 256
        self.data = <char *>malloc(self.capacity)
        if self.data == NULL:
            raise MemoryError()
        self.length = 0
        self.base = base
        self.idmap = idmap
        # what the idmap records must outlive it (a dead object's id() is soon
        # another's): a StrongIdMap keeps them as long as itself, else this packer does
        keep = getattr(idmap, "keep_alive", None) if idmap is not None else None
        self.keep = keep if type(keep) is list else []

    def __dealloc__(self):
        free(self.data)

    cdef Py_ssize_t reserve(self, Py_ssize_t n) except -1:
        cdef Py_ssize_t pos = self.length
        cdef Py_ssize_t cap = self.capacity
        cdef char *d
        if n > cap - pos:
            while cap - pos < n:
                cap *= 2
            d = <char *>realloc(self.data, cap)
            if d == NULL:
                raise MemoryError()
            self.data = d
            self.capacity = cap
        self.length = pos + n
        return pos

    cdef int put(self, const void *src, Py_ssize_t n) except -1:
        cdef Py_ssize_t pos = self.reserve(n)
        memcpy(self.data + pos, src, n)
        return 0

    cdef int align(self, Py_ssize_t a) except -1:
        cdef Py_ssize_t pad = (a - (self.base + self.length) % a) % a
        cdef Py_ssize_t pos
        if pad:
            pos = self.reserve(pad)
            memset(self.data + pos, 0, pad)
        return 0

    cdef int drop(self) except -1:
        """Forget the bytes packed so far (written out by the caller)."""
        self.base += self.length
        self.length = 0
        return 0

    cdef int put_size(self, Py_ssize_t n) except -1:
        cdef uint16_t v2
        cdef uint32_t v4
        cdef uint64_t v8
        cdef Py_ssize_t pos
        if n < SB_SIZE_U16:
            pos = self.reserve(1)
            self.data[pos] = <char>n
        elif n <= 0xFFFF:
            pos = self.reserve(3)
            self.data[pos] = <char>SB_SIZE_U16
            v2 = <uint16_t>n
            memcpy(self.data + pos + 1, &v2, 2)
        elif n <= 0xFFFFFFFF:
            pos = self.reserve(5)
            self.data[pos] = <char>SB_SIZE_U32
            v4 = <uint32_t>n
            memcpy(self.data + pos + 1, &v4, 4)
        else:
            pos = self.reserve(9)
            self.data[pos] = <char>SB_SIZE_U64
            v8 = <uint64_t>n
            memcpy(self.data + pos + 1, &v8, 8)
        return 0

    cdef Py_ssize_t pack_blob(self, const char *p, Py_ssize_t n) except -1:
        cdef Py_ssize_t pos = self.length
        self.put_size(n)
        self.put(p, n)
        return pos

    cdef int check_dict_keys(self, Schema s, dict obj) except -1:
        """A dict packs its items: a key that is no slot of the schema would be lost."""
        if len(obj) <= s.nslots and all(k in s.slot_types for k in obj):
            return 0
        unknown = sorted(repr(k) for k in obj if k not in s.slot_types)
        raise ValueError(f"cannot pack the dict: {', '.join(unknown)} not among the slots of the schema "
                         f"({', '.join(s.slot_names)})")

    cdef Py_ssize_t pack_struct(self, Schema s, object obj, int depth) except? -1:
        """Write a record of `obj`; returns its position (records itself in the idmap)."""
        cdef Py_ssize_t rec, p, bm = s.bitmap_bytes
        cdef SlotField f
        cdef int64_t rel
        cdef bint is_dict = type(obj) is dict
        if depth > MAX_DEPTH:
            raise ValueError("structure nested too deeply to pack (a reference cycle?)")
        if is_dict:
            self.check_dict_keys(s, <dict>obj)
        rec = self.reserve(s.fixed_size)
        memset(self.data + rec, 0, s.fixed_size)
        for f in s.fields:
            if is_dict:
                v = (<dict>obj).get(f.name, _MISSING)
            else:
                v = getattr(obj, f.name, _MISSING)
            if v is _MISSING:
                continue
            if v is None:
                self.data[rec + bm + (f.bit >> 3)] |= <char>(1 << (f.bit & 7))
            else:
                try:
                    if f.width:
                        store_fixed(f.kind, v, self.data + rec + f.off)
                    else:
                        p = self.pack_typed(f.kind, f.child_schema(), v, depth + 1)
                        rel = p - rec
                        memcpy(self.data + rec + f.off, &rel, 8)
                except (TypeError, OverflowError, AttributeError, ValueError) as e:
                    raise slot_error(e, f.name, f.width != 0) from None
            self.data[rec + (f.bit >> 3)] |= <char>(1 << (f.bit & 7))
        if self.idmap is not None:
            self.idmap[id(obj)] = rec + self.base
            self.keep.append(obj)
        return rec

    cdef Py_ssize_t pack_typed(self, int kind, Schema child, object v, int depth) except? -1:
        """Write a typed payload (no typecode); returns its position."""
        cdef Py_ssize_t pos
        if kind == SB_KIND_OBJECT:
            return self.pack_object(v, depth)
        if self.idmap is not None:
            found = self.idmap.get(id(v))
            if found is not None:
                return <Py_ssize_t>found - self.base
        if kind == SB_KIND_STRUCT:
            return self.pack_struct(child, v, depth)
        if kind == SB_KIND_BYTES:
            if isinstance(v, str):
                raise TypeError("a bytes slot needs bytes, not str")
            pos = self.pack_payload(SB_TC_BYTES, v, depth)
        elif kind == SB_KIND_STR:
            if not isinstance(v, str):
                raise TypeError(f"a str slot needs str, not {type(v).__name__}")
            pos = self.pack_str(v)
        elif kind == SB_KIND_TUPLE or kind == SB_KIND_LIST or kind == SB_KIND_PTUPLE or kind == SB_KIND_PLIST:
            if isinstance(v, (str, bytes, bytearray, dict)):
                raise TypeError(f"a sequence slot needs a collection of items, not {type(v).__name__}")
            pos = self.pack_seq(v, depth, False)
        elif kind == SB_KIND_FROZENSET or kind == SB_KIND_PFROZENSET:
            if isinstance(v, (str, bytes, bytearray, dict)):
                raise TypeError(f"a frozenset slot needs a collection of items, not {type(v).__name__}")
            pos = self.pack_seq(v if isinstance(v, (frozenset, set)) else frozenset(v), depth, True)
        elif kind == SB_KIND_DICT or kind == SB_KIND_PDICT:
            pos = self.pack_dict(v, depth)
        elif kind == SB_KIND_DECIMAL:
            pos = self.pack_payload(SB_TC_DECIMAL, v, depth)
        elif kind == SB_KIND_BUFFER:
            pos = self.pack_payload(SB_TC_BUFFER, v, depth)
        elif kind == SB_KIND_NDARRAY:
            pos = self.pack_payload(SB_TC_NDARRAY, v, depth)
        else:
            raise AssertionError(f"slot kind {kind} has no payload")
        if self.idmap is not None:
            self.idmap[id(v)] = pos + self.base
            self.keep.append(v)
        return pos

    cdef Py_ssize_t pack_str(self, object v) except -1:
        cdef Py_ssize_t n
        cdef const char *p
        try:
            p = PyUnicode_AsUTF8AndSize(v, &n)
        except UnicodeEncodeError:
            b = (<str>v).encode("utf-8", "surrogatepass")
            return self.pack_blob(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
        return self.pack_blob(p, n)

    cdef Py_ssize_t pack_seq(self, object v, int depth, bint sort) except? -1:
        """Write a sequence (tuple, list or frozenset items); returns its position.
        sort: a set, whose numbers are stored ascending.  Ints are stored in the
        narrowest of 1, 2, 4 or 8 bytes that holds them all."""
        cdef Py_ssize_t n, i, pos, table, item
        cdef int ovf = 0, width = 8
        cdef long long i64, lo = 0, hi = 0
        cdef int64_t rel
        cdef double d
        cdef char kind
        if depth > MAX_DEPTH:
            raise ValueError("structure nested too deeply to pack (a reference cycle?)")
        if type(v) is not tuple and type(v) is not list:
            v = tuple(v)
        n = len(v)
        kind = SB_SEQ_INT
        for x in v:
            if type(x) is not int:
                kind = 0
                break
            i64 = PyLong_AsLongLongAndOverflow(x, &ovf)
            if ovf:
                kind = 0
                break
            if i64 < lo:
                lo = i64
            if i64 > hi:
                hi = i64
        if kind:
            kind = narrow_int_kind(lo, hi)
            width = seq_width(kind)
        else:
            kind = SB_SEQ_FLOAT
            for x in v:
                if type(x) is not float:
                    kind = SB_SEQ_OBJECT
                    break
        if sort and kind != SB_SEQ_OBJECT:
            v = sorted(v)
        pos = self.length
        self.put_size(n)
        self.put(&kind, 1)
        table = self.reserve(width * n)
        if kind == SB_SEQ_FLOAT:
            for i in range(n):
                d = v[i]
                memcpy(self.data + table + 8 * i, &d, 8)
        elif kind == SB_SEQ_OBJECT:
            for i in range(n):
                item = self.pack_object(v[i], depth + 1)
                rel = item - pos
                memcpy(self.data + table + 8 * i, &rel, 8)
        else:
            for i in range(n):
                i64 = v[i]
                memcpy(self.data + table + width * i, &i64, width)     # little-endian: low bytes
        return pos

    cdef Py_ssize_t pack_dict(self, object v, int depth) except? -1:
        """Write a dict: its keys ordered by stable hash (read in place by proxied_dict)."""
        cdef Py_ssize_t n, i, pos, vals, hashes, vseq
        cdef int64_t rel
        cdef uint64_t h
        if depth > MAX_DEPTH:
            raise ValueError("structure nested too deeply to pack (a reference cycle?)")
        if not hasattr(v, "items"):
            raise TypeError(f"a dict slot needs a mapping, not {type(v).__name__}")
        items = list(v.items())
        n = len(items)
        order = sorted([(stable_hash(items[i][0]), i) for i in range(n)])
        pos = self.length
        self.put_size(n)
        vals = self.reserve(8)
        hashes = self.reserve(8 * n)
        for i in range(n):
            h = order[i][0]
            memcpy(self.data + hashes + 8 * i, &h, 8)
        self.pack_seq([items[o[1]][0] for o in order], depth + 1, False)
        vseq = self.pack_seq([items[o[1]][1] for o in order], depth + 1, False)
        rel = vseq - pos
        memcpy(self.data + vals, &rel, 8)
        return pos

    cdef Py_ssize_t pack_payload(self, int code, object v, int depth) except? -1:
        """Write the payload of a value of builtin typecode `code`; returns its position."""
        cdef Py_ssize_t pos, i
        cdef Py_buffer view
        cdef uint64_t n
        cdef uint8_t ndim
        if code == SB_TC_BYTES:
            if isinstance(v, bytes):
                return self.pack_blob(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v))
            PyObject_GetBuffer(v, &view, PyBUF_SIMPLE)
            try:
                return self.pack_blob(<const char *>view.buf, view.len)
            finally:
                PyBuffer_Release(&view)
        if code == SB_TC_BUFFER:
            PyObject_GetBuffer(v, &view, PyBUF_SIMPLE)
            try:
                pos = self.length
                n = view.len
                self.put(&n, 8)
                self.put(view.buf, view.len)
                return pos
            finally:
                PyBuffer_Release(&view)
        if code == SB_TC_DECIMAL:
            if not isinstance(v, _Decimal):
                v = _Decimal(v)
            raw = str(v).encode("ascii")
            return self.pack_blob(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
        if code == SB_TC_NDARRAY:
            np = numpy_module()
            arr = np.ascontiguousarray(v)
            if arr.dtype.hasobject:
                raise TypeError("ndarrays of Python objects cannot be packed")
            if arr.dtype.fields is None and arr.dtype.subdtype is None:
                descr = arr.dtype.str
            else:
                descr = repr(np.lib.format.dtype_to_descr(arr.dtype))
            raw = descr.encode("ascii")
            pos = self.pack_blob(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
            ndim = arr.ndim
            self.put(&ndim, 1)
            for i in range(ndim):
                n = arr.shape[i]
                self.put(&n, 8)
            raw = arr.tobytes()
            n = PyBytes_GET_SIZE(raw)
            self.put(&n, 8)
            self.put(PyBytes_AS_STRING(raw), n)
            return pos
        raise AssertionError(f"no payload writer for typecode {code}")

    cdef Py_ssize_t pack_object(self, object v, int depth) except? -1:
        """Write an object value (typecode + payload); returns its position."""
        cdef Py_ssize_t pos
        cdef int ovf = 0
        cdef long long i64
        cdef double d
        cdef float f
        cdef int code
        cdef Schema s
        if v is None:
            pos = self.reserve(1)
            self.data[pos] = SB_TC_NONE
            return pos
        t = type(v)
        if t is bool:
            pos = self.reserve(2)
            self.data[pos] = SB_TC_BOOL
            self.data[pos + 1] = 1 if v else 0
            return pos
        if t is float:
            pos = self.reserve(9)
            self.data[pos] = SB_TC_FLOAT
            d = v
            memcpy(self.data + pos + 1, &d, 8)
            return pos
        if t is int:
            return self.pack_int(v)
        code = object_code(v)
        if code == SB_TC_INT or code == SB_TC_FLOAT or code == SB_TC_FLOAT32:
            # numbers are not deduplicated: a numpy scalar is made anew by each
            # iteration, and a dead one's id() is soon another's
            if code == SB_TC_INT:
                return self.pack_int(int(v))
            pos = self.reserve(1)
            self.data[pos] = <char>code
            self.pack_code(code, v, depth)
            return pos
        if self.idmap is not None:
            found = self.idmap.get(-id(v))
            if found is not None:
                return <Py_ssize_t>found - self.base
        pos = self.reserve(1)
        if code >= 0:
            self.data[pos] = <char>code
            try:
                self.pack_code(code, v, depth)
            except BaseException:
                self.length = pos
                raise
        else:
            s = schema_of_class(t)
            if s is None or s.typecode is None:
                self.length = pos
                num = numeric_value(v)
                if num is None:
                    raise TypeError(f"cannot pack a value of type {t.__name__} "
                                    f"(not a supported builtin nor a registered struct type)")
                return self.pack_object(num, depth)
            self.data[pos] = (<bytes>s.typecode)[0]
            self.pack_struct(s, v, depth + 1)
        if self.idmap is not None:
            self.idmap[-id(v)] = pos + self.base
            self.keep.append(v)
        return pos

    cdef Py_ssize_t pack_int(self, object v) except -1:
        """An int as the smallest integer typecode holding it."""
        cdef Py_ssize_t pos
        cdef int ovf = 0
        cdef long long i64 = PyLong_AsLongLongAndOverflow(v, &ovf)
        cdef uint64_t u64
        cdef int width
        cdef char code
        if ovf:
            if ovf > 0 and v <= 0xFFFFFFFFFFFFFFFF:
                u64 = v
                pos = self.reserve(9)
                self.data[pos] = SB_TC_U64
                memcpy(self.data + pos + 1, &u64, 8)
                return pos
            raw = int(v).to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            pos = self.reserve(1)
            self.data[pos] = SB_TC_BIGINT
            self.pack_blob(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
            return pos
        if -0x80 <= i64 <= 0x7F:
            code, width = SB_TC_I8, 1
        elif 0 <= i64 <= 0xFF:
            code, width = SB_TC_U8, 1
        elif -0x8000 <= i64 <= 0x7FFF:
            code, width = SB_TC_I16, 2
        elif 0 <= i64 <= 0xFFFF:
            code, width = SB_TC_U16, 2
        elif -0x80000000 <= i64 <= 0x7FFFFFFF:
            code, width = SB_TC_I32, 4
        elif 0 <= i64 <= 0xFFFFFFFF:
            code, width = SB_TC_U32, 4
        else:
            code, width = SB_TC_INT, 8
        pos = self.reserve(1 + width)
        self.data[pos] = code
        memcpy(self.data + pos + 1, &i64, width)     # little-endian: the low bytes
        return pos

    cdef int pack_code(self, int code, object v, int depth) except -1:
        """The payload of an object value whose typecode byte is already written."""
        cdef Py_ssize_t pos
        cdef int64_t i64
        cdef int32_t i32
        cdef float f
        cdef double d
        if code == SB_TC_STR:
            self.pack_str(v)
        elif code == SB_TC_TUPLE or code == SB_TC_LIST or code == SB_TC_PTUPLE or code == SB_TC_PLIST:
            self.pack_seq(v, depth + 1, False)
        elif code == SB_TC_FROZENSET or code == SB_TC_PFROZENSET:
            self.pack_seq(v, depth + 1, True)
        elif code == SB_TC_DICT or code == SB_TC_PDICT:
            self.pack_dict(v, depth + 1)
        elif code == SB_TC_DATETIME:
            i64 = datetime_micros(v, False)
            self.put(&i64, 8)
        elif code == SB_TC_DATETIME_TZ:
            pos = self.reserve(10)
            store_datetime_tz(v, False, self.data + pos)
        elif code == SB_TC_DATE:
            i32 = v.toordinal()
            self.put(&i32, 4)
        elif code == SB_TC_FLOAT32:
            f = <float>PyFloat_AsDouble(v)
            self.put(&f, 4)
        elif code == SB_TC_FLOAT:
            d = PyFloat_AsDouble(v)
            self.put(&d, 8)
        elif code == SB_TC_U64:
            i64 = <int64_t><uint64_t>PyNumber_Index(v)
            self.put(&i64, 8)
        elif code == SB_TC_INT:
            i64 = PyNumber_Index(v)
            self.put(&i64, 8)
        else:
            self.pack_payload(code, v, depth + 1)
        return 0


class StrongIdMap(dict):
    """An idmap (id(object) -> packed position) that keeps the objects it has ids
    of alive as long as itself, so that an id never stands for two objects.
    Packing with it records into keep_alive; link(key, obj) does it by hand.
    stable_set: accepted for compatibility (ids known to be stable)."""

    def __init__(self, *args, stable_set=None, strong_limit=None, preallocate=False,
                 strong_class=None, **kw):
        dict.__init__(self, *args, **kw)
        self.keep_alive = []

    def link(self, key, obj):
        self.keep_alive.append(obj)

    def preload(self, mapping):
        self.update(mapping)
        if isinstance(mapping, StrongIdMap):
            self.keep_alive.extend(mapping.keep_alive)

    def clear(self):
        dict.clear(self)
        del self.keep_alive[:]


cdef object numeric_value(object v):
    """numpy scalars and other number types: the int or float they stand for, or None."""
    if hasattr(v, "__index__"):
        try:
            return PyNumber_Index(v)
        except TypeError:
            return None
    if hasattr(v, "dtype") and hasattr(v, "__float__"):
        return float(v)
    return None
