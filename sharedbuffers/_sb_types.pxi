# Value types and run-time type information (included by _structs.pyx):
# the sized numbers, the mapped_* types that pack and read one value, and
# mapped_object, the registry of typecodes (builtin ones and user structs).

# -- sized numbers: slot types (and, as values, numbers of that width)

class ubyte(int):
    """Slot type: an unsigned 8-bit integer (OverflowError outside 0..255)."""
class byte(int):
    """Slot type: a signed 8-bit integer."""
class ushort(int):
    """Slot type: an unsigned 16-bit integer."""
class short(int):
    """Slot type: a signed 16-bit integer."""
class int32(int):
    """Slot type: a signed 32-bit integer."""
class uint32(int):
    """Slot type: an unsigned 32-bit integer."""
class int64(int):
    """Slot type: a signed 64-bit integer (what `int` slots hold)."""
class uint64(int):
    """Slot type: an unsigned 64-bit integer."""
class float32(float):
    """Slot type: a single-precision float."""
class float64(float):
    """Slot type: a double-precision float (what `float` slots hold)."""

uint8 = ubyte
int8 = byte
uint16 = ushort
int16 = short
double = float64


def cmp(a, b):
    """Python 2's cmp(): -1, 0 or 1."""
    return (a > b) - (a < b)


def safe_utf8(x):
    """str as UTF-8 bytes; anything else unchanged."""
    if isinstance(x, str):
        return (<str>x).encode("utf-8")
    return x


# -- one packed value per call: pack_into(obj, buf, offs) -> end, unpack_from(buf, offs)

cdef object pack_kind_into(int kind, Schema child, obj, buf, Py_ssize_t offs, idmap, Py_ssize_t implicit_offs):
    """Pack obj as a value of slot kind `kind` into the writable buffer at offs; the end offset."""
    cdef Packer pk = Packer(idmap, offs + implicit_offs)
    cdef Py_buffer view
    cdef int width = fixed_width(kind)
    if width:
        pk.reserve(width)
        store_fixed(kind, obj, pk.data)
    elif kind == SB_KIND_STRUCT:
        pk.pack_struct(child, obj, 0)
    else:
        pk.pack_typed(kind, child, obj, 0)
    if type(buf) is bytearray and offs >= 0 and len(buf) < offs + pk.length:
        buf.extend(bytes(offs + pk.length - len(buf)))      # upstream's pack_into grows bytearrays
    PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
    try:
        if offs < 0 or offs > view.len or pk.length > view.len - offs:
            raise IndexError(f"buffer too small: {pk.length} bytes at offset {offs} "
                             f"do not fit in {view.len}")
        memcpy(<char *>view.buf + offs, pk.data, pk.length)
    finally:
        PyBuffer_Release(&view)
    return offs + pk.length


cdef object unpack_kind(int kind, buf, Py_ssize_t offs):
    cdef BufferRef b = buffer_ref(buf)
    if offs < 0 or offs >= b.size:
        raise_bounds(b, offs, 1)
    return read_typed(kind, None, b, offs, 0)


def _kind_classmethods(int kind):
    def pack_into(cls, obj, buf, offs, idmap=None, implicit_offs=0):
        """Pack obj into the writable buffer `buf` at `offs`; returns the offset after it."""
        return pack_kind_into(kind, None, obj, buf, offs, idmap, implicit_offs)

    def unpack_from(cls, buf, offs, idmap=None):
        """The value packed at `offs` of `buf`."""
        return unpack_kind(kind, buf, offs)
    return classmethod(pack_into), classmethod(unpack_from)


def _value_type(name, base, int kind, doc):
    pack_into, unpack_from = _kind_classmethods(kind)
    return type(name, (base,), {"__doc__": doc, "__module__": "sharedbuffers.mapped_struct",
                                "pack_into": pack_into, "unpack_from": unpack_from, "_kind": kind})


mapped_frozenset = _value_type("mapped_frozenset", frozenset, SB_KIND_FROZENSET, "A frozenset, read back as a frozenset.")
mapped_tuple = _value_type("mapped_tuple", tuple, SB_KIND_TUPLE, "A tuple, read back as a tuple.")
mapped_list = _value_type("mapped_list", list, SB_KIND_LIST, "A list, read back as a list.")
mapped_dict = _value_type("mapped_dict", dict, SB_KIND_DICT, "A dict, read back as a dict.")
mapped_bytes = _value_type("mapped_bytes", bytes, SB_KIND_BYTES, "bytes.")
mapped_unicode = _value_type("mapped_unicode", str, SB_KIND_STR, "A str (UTF-8).")
mapped_decimal = _value_type("mapped_decimal", _Decimal, SB_KIND_DECIMAL, "A Decimal (its exact digits).")
mapped_datetime = _value_type(
    "mapped_datetime", _datetime, SB_KIND_DATETIME,
    "A datetime stored as UTC; a naive one is taken as local time and read back naive, in local time.")
mapped_datetime_local = _value_type(
    "mapped_datetime_local", _datetime, SB_KIND_DATETIME_LOCAL,
    "A datetime stored as UTC (naive: local time), read back aware, in the local time zone.")
mapped_datetime_utc = _value_type(
    "mapped_datetime_utc", _datetime, SB_KIND_DATETIME_UTC,
    "A datetime stored as UTC (naive: UTC), read back aware, in UTC.")
mapped_datetime_tz = _value_type(
    "mapped_datetime_tz", _datetime, SB_KIND_DATETIME_TZ,
    "A datetime with its UTC offset (naive: UTC), read back with that offset (a zone named UTC+3).")
mapped_datetime_tz_local = _value_type(
    "mapped_datetime_tz_local", _datetime, SB_KIND_DATETIME_TZ_LOCAL,
    "Like mapped_datetime_tz, a naive datetime taken as local time.")
mapped_date = _value_type("mapped_date", _date, SB_KIND_DATE, "A date.")


class proxied_buffer(object):
    """Slot type of buffers (bytes-like objects) read back as read-only memoryviews of the
    mapping, without a copy.  Packed as a 64-bit size and the bytes."""
    pack_into, unpack_from = _kind_classmethods(SB_KIND_BUFFER)
    _kind = SB_KIND_BUFFER


class proxied_ndarray(object):
    """Slot type of numpy arrays, read back as arrays over the mapping, without a copy
    (a pool-backed one is copied).  Arrays of Python objects cannot be packed."""
    pack_into, unpack_from = _kind_classmethods(SB_KIND_NDARRAY)
    _kind = SB_KIND_NDARRAY

    @classmethod
    def _make_dtype_params(cls, dtype):
        """A description of `dtype` that numpy.dtype() turns back into it."""
        return numpy_module().lib.format.dtype_to_descr(numpy_module().dtype(dtype))


# -- the registry

class _CodeDict(dict):
    """A dict keyed by typecodes: one byte, given as bytes or as a one-character str."""
    @staticmethod
    def _key(k):
        if isinstance(k, str) and len(k) == 1:
            return k.encode("latin-1")
        return k

    def __getitem__(self, k):
        return dict.__getitem__(self, _CodeDict._key(k))

    def __setitem__(self, k, v):
        dict.__setitem__(self, _CodeDict._key(k), v)

    def __delitem__(self, k):
        dict.__delitem__(self, _CodeDict._key(k))

    def __contains__(self, k):
        return dict.__contains__(self, _CodeDict._key(k))

    def get(self, k, default=None):
        return dict.get(self, _CodeDict._key(k), default)

    def pop(self, k, *default):
        return dict.pop(self, _CodeDict._key(k), *default)


# typecode byte -> Schema of a registered struct type (what readers use)
cdef list _by_code = [None] * 256
# class (the user's and the proxy class) -> Schema
cdef dict _by_class = {}
# the exact types of builtin values -> typecode (subclasses found by object_code)
cdef dict _CODE_OF_TYPE = {}


cdef Schema schema_of_class(type cls):
    cdef object s = _by_class.get(cls)
    if s is None:
        for base in cls.__mro__[1:]:
            s = _by_class.get(base)
            if s is not None:
                break
    return s


cdef int object_code(object v) except -2:
    """The builtin typecode of value v, or -1 (a registered struct type, or unknown)."""
    t = type(v)
    code = _CODE_OF_TYPE.get(t)
    if code is not None:
        return code
    if t in _by_class:
        return -1
    if isinstance(v, str):
        return SB_TC_STR
    if isinstance(v, (bytes, bytearray)):
        return SB_TC_BYTES
    if isinstance(v, tuple):
        return SB_TC_TUPLE
    if isinstance(v, list):
        return SB_TC_LIST
    if isinstance(v, (frozenset, set)):
        return SB_TC_FROZENSET
    if isinstance(v, dict):
        return SB_TC_DICT
    if isinstance(v, _datetime):
        return SB_TC_DATETIME if v.tzinfo is None or v.utcoffset() is None else SB_TC_DATETIME_TZ
    if isinstance(v, _date):
        return SB_TC_DATE
    if isinstance(v, _Decimal):
        return SB_TC_DECIMAL
    if isinstance(v, memoryview):
        return SB_TC_BUFFER
    if is_ndarray(v):
        return SB_TC_NDARRAY
    if isinstance(v, float):
        return SB_TC_FLOAT
    if isinstance(v, int):
        return SB_TC_INT
    return -1


class mapped_object(object):
    """Run-time type information: values of any supported type, tagged with a typecode.

    `object` slots and the items of containers hold such values.  A struct type
    registered with a one-byte typecode (register_schema) can be used as a slot
    type of other schemas, and its instances stored in `object` slots and in
    containers (they read back as proxies).

    TYPE_CODES maps types to their typecode, OBJ_PACKERS typecodes of values with
    a payload to (pack_into, unpack_from, type), PACKERS those of fixed-size numbers."""

    TYPE_CODES = {}
    PACKERS = _CodeDict()
    OBJ_PACKERS = _CodeDict()

    @classmethod
    def pack_into(cls, obj, buf, offs, idmap=None, implicit_offs=0):
        """Pack obj with its typecode into `buf` at `offs`; returns the offset after it."""
        return pack_kind_into(SB_KIND_OBJECT, None, obj, buf, offs, idmap, implicit_offs)

    @classmethod
    def unpack_from(cls, buf, offs, idmap=None, proxy_into=None):
        """The value packed (with its typecode) at `offs` of `buf`."""
        cdef BufferRef b = buffer_ref(buf)
        return read_object_into(b, offs, 0, proxy_into)

    @classmethod
    def register_schema(cls, typ, Schema schema, typecode):
        """Register `typ` (packed with `schema`) under `typecode` (one byte; bytes
        or a one-character str).  Returns a mapped_object_with_schema (its
        `.schema`, pack_into, unpack_from).  Errors: a typecode of a builtin type,
        or one registered for another schema; `typ` registered under another
        typecode or with another schema."""
        if not isinstance(typ, type):
            raise TypeError(f"register_schema() needs a class, not {type(typ).__name__}")
        if isinstance(typecode, str) and len(typecode) == 1:
            typecode = typecode.encode("latin-1")
        if not isinstance(typecode, bytes) or len(typecode) != 1:
            raise TypeError(f"a typecode is one byte (bytes of length 1), not {typecode!r}")
        codes = cls.TYPE_CODES
        if typ in codes:
            prev = cls.OBJ_PACKERS.get(codes[typ])
            if codes[typ] != typecode or getattr(prev and prev[2], "schema", None) is not schema:
                raise ValueError(f"{typ.__name__} is already registered under typecode {codes[typ]!r}")
            return prev[2]
        if typecode in RESERVED_TYPECODES or typecode in cls.PACKERS:
            raise ValueError(f"typecode {typecode!r} is reserved for builtin types "
                             f"(reserved: {bytes(sorted(b''.join(RESERVED_TYPECODES)))!r})")
        prev = cls.OBJ_PACKERS.get(typecode)
        if prev is not None and getattr(prev[2], "schema", None) is not schema:
            raise ValueError(f"typecode {typecode!r} is already registered for {prev[2]!r}")
        old = _by_code[typecode[0]]
        if schema.typecode is not None and schema.typecode != typecode \
                and _by_code[schema.typecode[0]] is schema:
            _by_code[schema.typecode[0]] = None     # the schema moves to its new typecode
        schema.typecode = typecode
        schema.struct_class = typ
        _by_code[typecode[0]] = schema
        _by_class[typ] = schema
        _by_class[schema.Proxy] = schema
        schema.Proxy.__name__ = typ.__name__ + "Proxy"
        schema.Proxy.__qualname__ = typ.__qualname__ + "Proxy"
        schema.Proxy.__module__ = typ.__module__
        packable = mapped_object_with_schema(schema)
        codes[typ] = typecode
        cls.OBJ_PACKERS[typecode] = (packable.pack_into, packable.unpack_from, packable)
        return packable

    @classmethod
    def register_subclass(cls, typ, supertyp):
        """Pack instances of `typ` as its registered base `supertyp` (they read back
        as proxies of the base's schema)."""
        if supertyp not in cls.TYPE_CODES:
            raise ValueError(f"superclass not registered: {supertyp!r}")
        code = cls.TYPE_CODES[supertyp]
        cls.TYPE_CODES[typ] = code
        s = _by_class.get(supertyp)
        if s is not None:
            _by_class[typ] = s
        return cls.OBJ_PACKERS[code][2]

    @staticmethod
    def schema_for_typecode(typecode):
        """The schema registered under `typecode`, or None."""
        if isinstance(typecode, str):
            typecode = typecode.encode("latin-1")
        return _by_code[typecode[0]]

    @staticmethod
    def schema_for_class(cls):
        """The schema registered for `cls` (or one of its bases), or None."""
        return schema_of_class(cls)


class mapped_object_with_schema(object):
    """What register_schema returns: packs and reads structs of one schema."""

    def __init__(self, schema):
        self._schema = schema

    @property
    def schema(self):
        return self._schema

    def pack_into(self, obj, buf, offs, idmap=None, implicit_offs=0):
        return self._schema.pack_into(obj, buf, offs, idmap, implicit_offs=implicit_offs)

    def unpack_from(self, buf, offs, idmap=None, proxy_into=None):
        return self._schema.unpack_from(buf, offs, idmap, proxy_into=proxy_into)

    def __reduce__(self):
        return (mapped_object_with_schema, (self._schema,))

    def __repr__(self):
        return f"<mapped_object_with_schema {self._schema!r}>"


def _register_builtins():
    codes = mapped_object.TYPE_CODES
    fixed = {ubyte: b"B", byte: b"b", ushort: b"H", short: b"h", uint32: b"I", int32: b"i",
             uint64: b"Q", int64: b"q", float64: b"d", float32: b"f", bool: b"T", int: b"q", float: b"d"}
    valued = {
        mapped_frozenset: b"Z", mapped_tuple: b"t", mapped_list: b"e", mapped_unicode: b"u",
        mapped_dict: b"m", mapped_bytes: b"s", mapped_datetime: b"v", mapped_date: b"V",
        mapped_decimal: b"F", proxied_list: b"E", proxied_tuple: b"W", proxied_ndarray: b"n",
        proxied_buffer: b"r", proxied_dict: b"M", proxied_frozenset: b"z",
        bytes: b"s", str: b"u", _datetime: b"v", _date: b"V", _Decimal: b"F", memoryview: b"r",
        dict: b"m", set: b"Z", frozenset: b"Z", tuple: b"t", list: b"e",
    }
    codes.update(fixed)
    codes.update(valued)
    codes[mapped_object] = b"o"
    for code in set(fixed.values()):
        mapped_object.PACKERS[code] = code
    for t, code in valued.items():
        if code not in mapped_object.OBJ_PACKERS:
            mapped_object.OBJ_PACKERS[code] = (t.pack_into, t.unpack_from, t) if hasattr(t, "pack_into") else None
    mapped_object.OBJ_PACKERS[b"o"] = (mapped_object.pack_into, mapped_object.unpack_from, mapped_object)
    for t, code in list(fixed.items()) + list(valued.items()):
        if t is not int and t is not float and t is not bool:
            _CODE_OF_TYPE[t] = code[0]
    _CODE_OF_TYPE[bytearray] = SB_TC_BYTES
    for t in (mapped_datetime, _datetime):
        del _CODE_OF_TYPE[t]        # naive or aware: decided per value
