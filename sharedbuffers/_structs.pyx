# cython: boundscheck=False, wraparound=False, cdivision=True
"""Typed structs packed into buffers and read in place through proxies.

A `Schema` lays out the slots of a struct (include/sharedbuffers_format.h
gives the bytes); `Schema.pack` writes a record, `Schema.unpack_from`
returns a proxy whose attributes read the record where it lies.
"""
import sys

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.object cimport PyObject, PyTypeObject
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memset

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *) except NULL
    object PyUnicode_DecodeUTF8(const char *, Py_ssize_t, const char *)
    long long PyLong_AsLongLongAndOverflow(object, int *) except? -1
    object PyByteArray_FromStringAndSize(const char *, Py_ssize_t)
    double PyFloat_AsDouble(object) except? -1.0
    object PyNumber_Index(object)

cdef extern from "sharedbuffers_format.h":
    enum:
        SB_TC_NONE
        SB_TC_TRUE
        SB_TC_FALSE
        SB_TC_INT
        SB_TC_BIGINT
        SB_TC_FLOAT
        SB_TC_BYTES
        SB_TC_STR
        SB_TC_TUPLE
        SB_TC_LIST
        SB_TC_FROZENSET
        SB_SEQ_INT
        SB_SEQ_FLOAT
        SB_SEQ_OBJECT

# Nesting limit for packing and reading: keeps recursion off the C stack's end
# (and stops reference cycles in Python objects or in corrupted buffers).
cdef enum:
    MAX_DEPTH = 100

if sys.byteorder != "little":
    # the format is little-endian and read with native loads
    raise ImportError("sharedbuffers supports little-endian machines only")

RESERVED_TYPECODES = frozenset(
    bytes([c]) for c in b"nTFqLdbutle")


class CorruptedBufferError(ValueError):
    """The bytes read are not a valid packed structure (truncated or damaged)."""


# ---------------------------------------------------------------- buffers

cdef class BufferRef:
    """An exported buffer: the bytes stay valid while this object lives."""

    def __dealloc__(self):
        if self.has_view:
            PyBuffer_Release(&self.view)
            self.has_view = False

    cdef int refresh(self) except -1:
        return 0

    @property
    def obj(self):
        return self.owner


cdef BufferRef buffer_ref(object obj):
    if isinstance(obj, BufferRef):
        return <BufferRef>obj
    cdef BufferRef b = BufferRef.__new__(BufferRef)
    PyObject_GetBuffer(obj, &b.view, PyBUF_SIMPLE)
    b.has_view = True
    b.owner = obj
    b.base = <const char *>b.view.buf
    b.size = b.view.len
    return b


cdef int raise_bounds(BufferRef b, Py_ssize_t pos, Py_ssize_t n) except -1:
    raise CorruptedBufferError(
        f"truncated or corrupted buffer: {n} bytes at position {pos} "
        f"are outside the buffer of {b.size} bytes")


cdef Py_ssize_t read_size(BufferRef b, Py_ssize_t *pos) except -1:
    cdef const char *p = at(b, pos[0], 1)
    cdef uint8_t c = <uint8_t>p[0]
    cdef uint16_t v2
    cdef uint32_t v4
    cdef uint64_t v8
    if c < SB_SIZE_U16:
        pos[0] += 1
        return c
    if c == SB_SIZE_U16:
        memcpy(&v2, at(b, pos[0] + 1, 2), 2)
        pos[0] += 3
        return v2
    if c == SB_SIZE_U32:
        memcpy(&v4, at(b, pos[0] + 1, 4), 4)
        pos[0] += 5
        return v4
    memcpy(&v8, at(b, pos[0] + 1, 8), 8)
    if v8 > <uint64_t>b.size:
        raise CorruptedBufferError(f"corrupted buffer: size {v8} at position {pos[0]}")
    pos[0] += 9
    return <Py_ssize_t>v8


# ---------------------------------------------------------------- type registry

# typecode byte -> Schema of a registered struct type
cdef list _by_code = [None] * 256
# class (the user's and the proxy class) -> Schema
cdef dict _by_class = {}


cdef Schema schema_of_class(type cls):
    cdef object s = _by_class.get(cls)
    if s is None:
        for base in cls.__mro__[1:]:
            s = _by_class.get(base)
            if s is not None:
                break
    return s


class mapped_object:
    """Run-time type information for `object` slots: registered struct types.

    A struct type registered with a one-byte typecode can be used as a slot
    type of other schemas, and its instances can be stored in `object` slots
    and in containers (they read back as proxies)."""

    @staticmethod
    def register_schema(cls, Schema schema, typecode):
        """Register `cls` (packed with `schema`) under `typecode` (one byte).

        Returns the proxy class of the schema, whose instances are what
        reading such a value gives."""
        if not isinstance(cls, type):
            raise TypeError(f"register_schema() needs a class, not {type(cls).__name__}")
        if not isinstance(typecode, bytes) or len(typecode) != 1:
            raise TypeError(f"a typecode is one byte (bytes of length 1), not {typecode!r}")
        if typecode in RESERVED_TYPECODES:
            raise ValueError(f"typecode {typecode!r} is reserved for builtin types "
                             f"(reserved: {bytes(sorted(b''.join(RESERVED_TYPECODES)))!r})")
        cdef Schema old = _by_code[typecode[0]]
        if old is not None and old.struct_class is not None and old.struct_class is not cls:
            prev = old.struct_class
            if (prev.__module__, prev.__qualname__) != (cls.__module__, cls.__qualname__):
                raise ValueError(f"typecode {typecode!r} is already registered for "
                                 f"{prev.__module__}.{prev.__qualname__}")
        if schema.typecode is not None and schema.typecode != typecode:
            raise ValueError(f"this schema is already registered under typecode {schema.typecode!r}")
        schema.typecode = typecode
        schema.struct_class = cls
        _by_code[typecode[0]] = schema
        _by_class[cls] = schema
        _by_class[schema.Proxy] = schema
        schema.Proxy.__name__ = cls.__name__ + "Proxy"
        schema.Proxy.__qualname__ = cls.__qualname__ + "Proxy"
        schema.Proxy.__module__ = cls.__module__
        return schema.Proxy

    @staticmethod
    def schema_for_typecode(typecode):
        """The schema registered under `typecode`, or None."""
        return _by_code[typecode[0]]

    @staticmethod
    def schema_for_class(cls):
        """The schema registered for `cls` (or one of its bases), or None."""
        return schema_of_class(cls)


# ---------------------------------------------------------------- packing

cdef class SlotField
cdef tuple _EMPTY = ()

cdef object _getattr_none = None


cdef int _check_dict_keys(Schema s, dict obj) except -1:
    """A dict packs its items: a key that is no slot of the schema would be lost."""
    if len(obj) <= s.nslots and all(k in s.slot_types for k in obj):
        return 0
    unknown = sorted(repr(k) for k in obj if k not in s.slot_types)
    raise ValueError(f"cannot pack the dict: {', '.join(unknown)} not among the slots of the schema "
                     f"({', '.join(s.slot_names)})")


cdef class Packer:

    def __cinit__(self, dict idmap=None, Py_ssize_t base=0):
        self.capacity = 256
        self.data = <char *>malloc(self.capacity)
        if self.data == NULL:
            raise MemoryError()
        self.length = 0
        self.base = base
        self.idmap = idmap

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
        cdef uint8_t c
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

    cdef Py_ssize_t pack_struct(self, Schema s, object obj, int depth) except? -1:
        """Write a record of `obj`; returns its position (records itself in the idmap)."""
        cdef Py_ssize_t rec, p
        cdef SlotField f
        cdef int64_t i64, rel
        cdef double d
        cdef bint is_dict = type(obj) is dict
        if depth > MAX_DEPTH:
            raise ValueError("structure nested too deeply to pack (a reference cycle?)")
        if is_dict:
            _check_dict_keys(s, <dict>obj)
        rec = self.reserve(s.fixed_size)
        memset(self.data + rec, 0, s.fixed_size)
        for f in s.fields:
            if is_dict:
                v = (<dict>obj).get(f.name)
            else:
                v = getattr(obj, f.name, _getattr_none)
            if v is None:
                continue
            try:
                if f.kind == SB_KIND_INT:
                    i64 = v if type(v) is int else PyNumber_Index(v)
                    memcpy(self.data + rec + f.off, &i64, 8)
                elif f.kind == SB_KIND_FLOAT:
                    d = PyFloat_AsDouble(v)
                    memcpy(self.data + rec + f.off, &d, 8)
                elif f.kind == SB_KIND_BOOL:
                    self.data[rec + f.off] = 1 if v else 0
                else:
                    p = self.pack_typed(f.kind, f.child_schema(), v, depth + 1)
                    rel = p - rec
                    memcpy(self.data + rec + f.off, &rel, 8)
            except (TypeError, OverflowError, AttributeError) as e:
                raise type(e)(f"slot {f.name!r}: {e}") from None
            self.data[rec + (f.bit >> 3)] |= <char>(1 << (f.bit & 7))
        if self.idmap is not None:
            self.idmap[id(obj)] = rec + self.base
        return rec

    cdef Py_ssize_t pack_typed(self, int kind, Schema child, object v, int depth) except? -1:
        """Write a typed payload (no typecode); returns its position."""
        cdef Py_ssize_t n, pos
        cdef const char *p
        cdef Py_buffer view
        if kind == SB_KIND_OBJECT:
            return self.pack_object(v, depth)
        if self.idmap is not None:
            found = self.idmap.get(id(v))
            if found is not None:
                return <Py_ssize_t>found - self.base
        if kind == SB_KIND_STRUCT:
            return self.pack_struct(child, v, depth)
        if kind == SB_KIND_BYTES:
            if isinstance(v, bytes):
                pos = self.pack_blob(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v))
            elif isinstance(v, str):
                raise TypeError("a bytes slot needs bytes, not str")
            else:
                PyObject_GetBuffer(v, &view, PyBUF_SIMPLE)
                try:
                    pos = self.pack_blob(<const char *>view.buf, view.len)
                finally:
                    PyBuffer_Release(&view)
        elif kind == SB_KIND_STR:
            if not isinstance(v, str):
                raise TypeError(f"a str slot needs str, not {type(v).__name__}")
            pos = self.pack_str(v)
        else:
            if isinstance(v, (str, bytes, bytearray, dict)):
                raise TypeError(f"a {('tuple', 'list', 'frozenset')[kind - SB_KIND_TUPLE]} "
                                f"slot needs a collection of items, not {type(v).__name__}")
            pos = self.pack_seq(v, depth)
        if self.idmap is not None:
            self.idmap[id(v)] = pos + self.base
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

    cdef Py_ssize_t pack_seq(self, object v, int depth) except? -1:
        """Write a sequence (tuple, list or frozenset items); returns its position."""
        cdef Py_ssize_t n, i, pos, table, item
        cdef int ovf = 0
        cdef long long i64
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
            PyLong_AsLongLongAndOverflow(x, &ovf)
            if ovf:
                kind = 0
                break
        if not kind:
            kind = SB_SEQ_FLOAT
            for x in v:
                if type(x) is not float:
                    kind = SB_SEQ_OBJECT
                    break
        pos = self.length
        self.put_size(n)
        self.put(&kind, 1)
        if kind == SB_SEQ_INT:
            table = self.reserve(8 * n)
            for i in range(n):
                i64 = v[i]
                memcpy(self.data + table + 8 * i, &i64, 8)
        elif kind == SB_SEQ_FLOAT:
            table = self.reserve(8 * n)
            for i in range(n):
                d = v[i]
                memcpy(self.data + table + 8 * i, &d, 8)
        else:
            table = self.reserve(8 * n)
            for i in range(n):
                item = self.pack_object(v[i], depth + 1)
                rel = item - pos
                memcpy(self.data + table + 8 * i, &rel, 8)
        return pos

    cdef Py_ssize_t pack_object(self, object v, int depth) except? -1:
        """Write an object value (typecode + payload); returns its position."""
        cdef Py_ssize_t pos
        cdef char tc
        cdef int ovf = 0
        cdef long long i64
        cdef double d
        cdef Schema s
        if v is None:
            tc = SB_TC_NONE
        elif v is True:
            tc = SB_TC_TRUE
        elif v is False:
            tc = SB_TC_FALSE
        elif isinstance(v, float):
            pos = self.reserve(9)
            self.data[pos] = SB_TC_FLOAT
            d = v
            memcpy(self.data + pos + 1, &d, 8)
            return pos
        elif isinstance(v, int):
            i64 = PyLong_AsLongLongAndOverflow(v, &ovf)
            if not ovf:
                pos = self.reserve(9)
                self.data[pos] = SB_TC_INT
                memcpy(self.data + pos + 1, &i64, 8)
                return pos
            raw = int(v).to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            pos = self.reserve(1)
            self.data[pos] = SB_TC_BIGINT
            self.pack_blob(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
            return pos
        else:
            if self.idmap is not None:
                found = self.idmap.get(-id(v))
                if found is not None:
                    return <Py_ssize_t>found - self.base
            pos = self.reserve(1)
            if isinstance(v, str):
                self.data[pos] = SB_TC_STR
                self.pack_str(v)
            elif isinstance(v, (bytes, bytearray, memoryview)):
                self.data[pos] = SB_TC_BYTES
                raw = v if isinstance(v, bytes) else bytes(v)
                self.pack_blob(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
            elif isinstance(v, tuple):
                self.data[pos] = SB_TC_TUPLE
                self.pack_seq(v, depth + 1)
            elif isinstance(v, list):
                self.data[pos] = SB_TC_LIST
                self.pack_seq(v, depth + 1)
            elif isinstance(v, (frozenset, set)):
                self.data[pos] = SB_TC_FROZENSET
                self.pack_seq(v, depth + 1)
            else:
                s = schema_of_class(type(v))
                if s is None:
                    self.length = pos
                    raise TypeError(f"cannot pack a value of type {type(v).__name__} "
                                    f"(not a supported builtin nor a registered struct type)")
                self.data[pos] = (<bytes>s.typecode)[0]
                self.pack_struct(s, v, depth + 1)
            if self.idmap is not None:
                self.idmap[-id(v)] = pos + self.base
            return pos
        pos = self.reserve(1)
        self.data[pos] = tc
        return pos


# ---------------------------------------------------------------- reading

cdef object read_blob(BufferRef b, Py_ssize_t pos, bint text):
    cdef Py_ssize_t n = read_size(b, &pos)
    cdef const char *p = at(b, pos, n)
    if text:
        return PyUnicode_DecodeUTF8(p, n, "surrogatepass")
    return PyBytes_FromStringAndSize(p, n)


cdef object read_seq(BufferRef b, Py_ssize_t pos, int kind, int depth):
    cdef Py_ssize_t start = pos, n, i
    cdef const char *p
    cdef char ik
    cdef int64_t i64
    cdef double d
    if depth > MAX_DEPTH:
        raise CorruptedBufferError("corrupted buffer: values nested too deeply")
    n = read_size(b, &pos)
    ik = at(b, pos, 1)[0]
    pos += 1
    if n > b.size // 8:
        raise_bounds(b, pos, n)
    out = PyTuple_New(n) if kind == SB_KIND_TUPLE else PyList_New(n)
    if ik == SB_SEQ_INT:
        p = at(b, pos, 8 * n)
        for i in range(n):
            memcpy(&i64, p + 8 * i, 8)
            item = i64
            Py_INCREF(item)
            if kind == SB_KIND_TUPLE:
                PyTuple_SET_ITEM(out, i, item)
            else:
                PyList_SET_ITEM(out, i, item)
    elif ik == SB_SEQ_FLOAT:
        p = at(b, pos, 8 * n)
        for i in range(n):
            memcpy(&d, p + 8 * i, 8)
            item = d
            Py_INCREF(item)
            if kind == SB_KIND_TUPLE:
                PyTuple_SET_ITEM(out, i, item)
            else:
                PyList_SET_ITEM(out, i, item)
    elif ik == SB_SEQ_OBJECT:
        at(b, pos, 8 * n)
        for i in range(n):
            i64 = load_i64(at(b, pos + 8 * i, 8))
            item = read_object(b, add_rel(start, i64), depth + 1)
            Py_INCREF(item)
            if kind == SB_KIND_TUPLE:
                PyTuple_SET_ITEM(out, i, item)
            else:
                PyList_SET_ITEM(out, i, item)
    else:
        raise CorruptedBufferError(f"corrupted buffer: unknown item kind {ik} at position {pos - 1}")
    if kind == SB_KIND_FROZENSET:
        return frozenset(out)
    return out


cdef object read_object(BufferRef b, Py_ssize_t pos, int depth):
    cdef char tc = at(b, pos, 1)[0]
    cdef double d
    cdef Schema s
    pos += 1
    if tc == SB_TC_INT:
        return load_i64(at(b, pos, 8))
    if tc == SB_TC_STR:
        return read_blob(b, pos, True)
    if tc == SB_TC_NONE:
        return None
    if tc == SB_TC_TRUE:
        return True
    if tc == SB_TC_FALSE:
        return False
    if tc == SB_TC_FLOAT:
        memcpy(&d, at(b, pos, 8), 8)
        return d
    if tc == SB_TC_BYTES:
        return read_blob(b, pos, False)
    if tc == SB_TC_TUPLE:
        return read_seq(b, pos, SB_KIND_TUPLE, depth + 1)
    if tc == SB_TC_LIST:
        return read_seq(b, pos, SB_KIND_LIST, depth + 1)
    if tc == SB_TC_FROZENSET:
        return read_seq(b, pos, SB_KIND_FROZENSET, depth + 1)
    if tc == SB_TC_BIGINT:
        return int.from_bytes(read_blob(b, pos, False), "little", signed=True)
    s = _by_code[<uint8_t>tc]
    if s is None:
        raise CorruptedBufferError(
            f"unknown typecode {bytes([<uint8_t>tc])!r} at position {pos - 1} "
            f"(corrupted buffer, or a struct type not registered in this process)")
    return make_proxy(s, b, pos, None)


cdef object read_typed(int kind, Schema child, BufferRef b, Py_ssize_t pos, int depth):
    if kind == SB_KIND_BYTES:
        return read_blob(b, pos, False)
    if kind == SB_KIND_STR:
        return read_blob(b, pos, True)
    if kind == SB_KIND_OBJECT:
        return read_object(b, pos, depth)
    if kind == SB_KIND_STRUCT:
        return make_proxy(child, b, pos, None)
    return read_seq(b, pos, kind, depth)


cdef StructProxy make_proxy(Schema s, BufferRef b, Py_ssize_t pos, StructProxy into):
    at(b, pos, s.fixed_size)
    if into is None:
        into = (<PyTypeObject *>s.Proxy).tp_new(s.Proxy, <PyObject *>_EMPTY, NULL)
    elif into._schema is not s:
        raise TypeError("proxy_into must be a proxy of the same schema")
    into._buf = b
    into._pos = pos
    into._schema = s
    return into


# ---------------------------------------------------------------- schemas and proxies

cdef dict _KINDS = {
    int: SB_KIND_INT, float: SB_KIND_FLOAT, bool: SB_KIND_BOOL, bytes: SB_KIND_BYTES,
    str: SB_KIND_STR, tuple: SB_KIND_TUPLE, list: SB_KIND_LIST,
    frozenset: SB_KIND_FROZENSET, set: SB_KIND_FROZENSET, object: SB_KIND_OBJECT,
}
cdef dict _WIDTHS = {SB_KIND_INT: 8, SB_KIND_FLOAT: 8, SB_KIND_BOOL: 1}


cdef class SlotField:
    """Descriptor of one slot on a proxy class: reads the field in place."""
    cdef readonly str name
    cdef readonly object type
    cdef int kind
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

    def __set__(self, inst, value):
        raise AttributeError(f"mapped struct proxies are read-only (slot {self.name!r})")

    def __delete__(self, inst):
        raise AttributeError(f"mapped struct proxies are read-only (slot {self.name!r})")

    def __repr__(self):
        return f"<slot {self.name!r} of type {getattr(self.type, '__name__', self.type)}>"


cdef object read_field(StructProxy p, SlotField f):
    cdef BufferRef b
    cdef const char *rec
    cdef double d
    if p._schema is not f.schema:
        raise TypeError("this proxy is not bound to a buffer of the slot's schema")
    b = p._buf
    rec = at(b, p._pos, f.end)
    if not ((<uint8_t>rec[f.bit >> 3]) >> (f.bit & 7)) & 1:
        return None
    if f.kind == SB_KIND_INT:
        return load_i64(rec + f.off)
    if f.kind == SB_KIND_FLOAT:
        memcpy(&d, rec + f.off, 8)
        return d
    if f.kind == SB_KIND_BOOL:
        return rec[f.off] != 0
    return read_typed(f.kind, f.child_schema(), b, add_rel(p._pos, load_i64(rec + f.off)), 0)


cdef class StructProxy:
    """Base of the proxy classes: a struct record read in place."""

    def __repr__(self):
        if self._schema is None:
            return f"<unbound {type(self).__name__}>"
        parts = []
        for name in self._schema.slot_names:
            parts.append(f"{name}={getattr(self, name)!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _asdict(self):
        """The slots as a dict (values read from the buffer)."""
        if self._schema is None:
            raise TypeError("unbound proxy")
        return {name: getattr(self, name) for name in self._schema.slot_names}


cdef class Schema:
    """The layout of a struct: its typed slots and the proxy class reading them."""

    def __init__(self, slot_types, name="MappedStruct"):
        cdef SlotField f
        cdef Py_ssize_t off, i
        if not isinstance(slot_types, dict):
            slot_types = dict(slot_types)
        self.slot_types = dict(slot_types)
        self.slot_names = tuple(sorted(slot_types))
        self.nslots = len(self.slot_names)
        self.bitmap_bytes = (self.nslots + 7) // 8
        self.fields = []
        off = self.bitmap_bytes
        ns = {"__slots__": (), "__module__": __name__}
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
                f.kind = _KINDS.get(t, SB_KIND_STRUCT)
            else:
                raise TypeError(f"slot {slot!r}: the type must be a class or a Schema, not {t!r}")
            f.off = off
            off += _WIDTHS.get(f.kind, 8)
            f.end = off
            self.fields.append(f)
            ns[slot] = f
        self.fixed_size = off
        self.Proxy = type(name, (StructProxy,), ns)

    @classmethod
    def from_typed_slots(cls, slot_types, name=None):
        """A schema from {slot name: type} or a class with `__slot_types__`.

        Types: int (64-bit), float, bool, bytes, str, tuple, list, frozenset,
        object (any of these, tagged with a typecode) and struct classes
        registered with mapped_object.register_schema (or a Schema)."""
        if isinstance(slot_types, type):
            cname = slot_types.__name__ + "Proxy"
            slot_types = slot_types.__slot_types__
        else:
            cname = "MappedStruct"
        return cls(slot_types, name or cname)

    def pack(self, obj, idmap=None):
        """Pack `obj` (its attributes, or the items of a dict) into a new bytearray.

        With an idmap dict, sub-objects met again (same id()) are stored once;
        its positions are relative to the returned buffer."""
        cdef Packer pk = Packer(idmap, 0)
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

    def pack_into(self, obj, buf, Py_ssize_t offset=0, idmap=None, Py_ssize_t implicit_offset=0):
        """Pack `obj` into the writable buffer `buf` at `offset`; returns the bytes written.

        idmap positions are offset + implicit_offset based (implicit_offset: where
        `buf` starts in a larger output)."""
        cdef Packer pk = Packer(idmap, offset + implicit_offset)
        cdef Py_buffer view
        pk.pack_struct(self, obj, 0)
        PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
        try:
            if offset < 0 or offset > view.len or pk.length > view.len - offset:
                raise ValueError(f"buffer too small: {pk.length} bytes at offset {offset} "
                                 f"do not fit in {view.len}")
            memcpy(<char *>view.buf + offset, pk.data, pk.length)
        finally:
            PyBuffer_Release(&view)
        return pk.length

    def unpack_from(self, buf, Py_ssize_t offset=0, proxy_into=None):
        """A proxy reading the record at `offset` of `buf` in place (no copy).

        The buffer stays exported while the proxy lives.  proxy_into: an
        existing proxy of this schema to rebind and return (saves an allocation)."""
        cdef StructProxy into = proxy_into
        cdef BufferRef b
        if into is not None and into._buf is not None and (into._buf is buf or into._buf.owner is buf):
            b = into._buf
        else:
            b = buffer_ref(buf)
        return make_proxy(self, b, offset, into)

    cdef StructProxy proxy_at(self, BufferRef b, Py_ssize_t pos):
        return make_proxy(self, b, pos, None)

    def __repr__(self):
        return f"<Schema {self.Proxy.__name__} {list(self.slot_names)}>"
