# cython: boundscheck=False, wraparound=False, cdivision=True
"""The compiled side of ptypes: proxies of the objects a storage holds.

One compiled class per kind of object (structure, byte string, list, dict,
buffer, the storage root) is registered with the pmemobj core, each with a
traverse function, so reference counts and gc work without the schema.  Each
object stores the index of its schema type (`ptid`) right after the core
header; a proxy looks its TypeInfo up in the Session of the storage that has
the pool open.  The on-media layouts are in include/ptypes_layout.h.

Nothing here caches pool contents: every read goes to the pool, so what a
proxy shows after an aborted transaction is what the pool holds.
"""
import errno as _errno

from pmemobj._core import InvalidPoolError

from libc.stdint cimport uint64_t, int64_t, INT64_MAX, INT64_MIN
from libc.string cimport memcpy, memcmp, memmove
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.buffer cimport (PyObject_CheckBuffer, PyObject_GetBuffer, PyBuffer_Release,
                             PyBuffer_ToContiguous, PyBUF_FULL_RO, PyBUF_WRITABLE, PyBUF_FORMAT,
                             PyBUF_ND, PyBUF_STRIDES)
from cpython.object cimport PyObject_GenericGetAttr, PyObject_Hash

from pmemobj._core cimport (MemoryManager, PersistentBase, register_traverse, visit_slots, visit_fn,
                            pyp_slot_t, pyp_header_t, PYP_TAG_EMPTY, PYP_TAG_NONE, PYP_TAG_INT,
                            PYP_TAG_FLOAT, PYP_TAG_REF, PYP_TYPE_NUM_RAW, VISIT_REF, VISIT_RAW)

cdef extern from *:
    """
    #include <string.h>
    #define XXH_INLINE_ALL
    #include <xxhash.h>
    static inline uint64_t pt_double_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
    static inline double pt_bits_double(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
    static inline uint64_t pt_mix(uint64_t x) {
        x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33; return x;
    }
    """
    uint64_t XXH3_64bits(const void *data, size_t n) nogil
    uint64_t pt_double_bits(double d) nogil
    double pt_bits_double(uint64_t u) nogil
    uint64_t pt_mix(uint64_t x) nogil

cdef extern from "ptypes_layout.h":
    uint64_t PT_STORAGE_MAGIC
    uint64_t PT_LAYOUT_VERSION
    uint64_t PT_TAG_DELETED
    uint64_t PT_MAX_NDIM

    ctypedef struct pt_storage_t:
        pyp_header_t h
        uint64_t magic
        uint64_t version
        pyp_slot_t schema
        pyp_slot_t root
        pyp_slot_t registry

    ctypedef struct pt_head_t:
        pyp_header_t h
        uint64_t ptid

    ctypedef struct pt_struct_t:
        pyp_header_t h
        uint64_t ptid
        uint64_t nfields
        pyp_slot_t fields[1]

    ctypedef struct pt_bytes_t:
        pyp_header_t h
        uint64_t ptid
        uint64_t hash
        uint64_t size
        char data[1]

    ctypedef struct pt_list_t:
        pyp_header_t h
        uint64_t ptid
        uint64_t size
        uint64_t capacity
        uint64_t items

    ctypedef struct pt_entry_t:
        uint64_t hash
        pyp_slot_t key
        pyp_slot_t value

    ctypedef struct pt_dict_t:
        pyp_header_t h
        uint64_t ptid
        uint64_t used
        uint64_t fill
        uint64_t mask
        uint64_t table

    ctypedef struct pt_buffer_t:
        pyp_header_t h
        uint64_t ptid
        uint64_t nbytes
        uint64_t itemsize
        uint64_t ndim
        uint64_t fmtlen
        uint64_t data_off
        int64_t dims[1]


# Kinds of schema types (the JSON schema names them; see storage.py).
cdef enum:
    K_INT = 1
    K_FLOAT = 2
    K_BYTES = 3
    K_STRUCT = 4
    K_LIST = 5
    K_DICT = 6
    K_BUFFER = 7

KINDS = {'Int': K_INT, 'Float': K_FLOAT, 'ByteString': K_BYTES, 'Structure': K_STRUCT,
         'List': K_LIST, 'Dict': K_DICT, 'Buffer': K_BUFFER}

DEF SLOT = 16
DEF ENTRY = 40
DEF LIST_CHUNK = 16          # list slots snapshotted together when appending
DEF MIN_TABLE = 8


cdef inline damaged(MemoryManager mm, str what):
    return InvalidPoolError(_errno.EINVAL, f"damaged ptypes storage: {what}", mm.filename)


# ---------------------------------------------------------------------------
# Schema types and the open storage

cdef class Field:
    """A field of a structure: its slot index and type."""
    cdef readonly str name
    cdef readonly Py_ssize_t index
    cdef readonly TypeInfo ti

    def __init__(self, str name, Py_ssize_t index, TypeInfo ti):
        self.name = name
        self.index = index
        self.ti = ti


cdef class TypeInfo:
    """What the compiled code needs to know about one schema type."""
    cdef readonly int kind
    cdef readonly uint64_t ptid
    cdef readonly str name
    cdef public object cls              # the schema class users see
    cdef public Session session
    cdef public frozenset ancestors     # ptids this type is a subtype of (itself included)
    cdef public bint abstract           # schema.Structure: a base, never instantiated
    cdef readonly dict fields           # structures: name -> Field
    cdef readonly list field_list       # structures: Fields in slot order
    cdef readonly uint64_t nfields      # len(field_list)
    cdef public TypeInfo item           # lists: the item type; dicts: the key type
    cdef public TypeInfo value          # dicts: the value type; None for sets

    def __init__(self, int kind, uint64_t ptid, str name):
        self.kind = kind
        self.ptid = ptid
        self.name = name
        self.ancestors = frozenset([ptid])
        self.fields = {}
        self.field_list = []

    def set_fields(self, list pairs):
        """Fields in slot order, as (name, TypeInfo) pairs."""
        self.field_list = [Field(name, i, ti) for i, (name, ti) in enumerate(pairs)]
        self.nfields = len(self.field_list)
        self.fields = {f.name: f for f in self.field_list}

    def __repr__(self):
        return f"<TypeInfo {self.name} ptid={self.ptid} kind={self.kind}>"


cdef class Session:
    """A storage's hold on its open pool: its schema types."""
    cdef readonly MemoryManager mm
    cdef public list types              # ptid -> TypeInfo
    cdef public object storage          # weak reference to the Storage

    def __init__(self, MemoryManager mm, storage):
        self.mm = mm
        self.storage = storage
        self.types = []

    def live_proxies(self, uint64_t except_off=0):
        """The ptypes proxies of live objects in the pool (those the core
        keeps; twins and PtValues hold one of them)."""
        out = []
        for off, ref in list(self.mm.proxies.items()):
            p = ref()
            if isinstance(p, PtObject) and (<PtObject>p).off != 0 and off != except_off:
                out.append(p)
        return out


cdef dict _sessions = {}     # MemoryManager -> Session


def attach(Session s):
    """Make `s` the session that reads ptypes objects of its pool (one per pool:
    object headers hold schema type ids, which mean something in one schema only)."""
    other = _sessions.get(s.mm)
    if other is not None and other is not s:
        raise ValueError(f"the pool {s.mm.filename!r} already has an open ptypes Storage "
                         f"(one Storage per pool)")
    _sessions[s.mm] = s


def drop_proxy(PtObject p):
    """Make the proxy `p` unusable (a storage kept in a pool was closed while
    the pool stays open)."""
    if p.off and p.mm is not None:
        if p.mm.proxies.get(p.off) is not None and p.mm.proxies[p.off]() is p:
            del p.mm.proxies[p.off]
        p.off = 0


def detach(Session s):
    if _sessions.get(s.mm) is s:
        del _sessions[s.mm]


cdef Session session_of(MemoryManager mm):
    s = _sessions.get(mm)
    if s is None:
        mm.check()
        raise ValueError(f"the pool {mm.filename!r} holds ptypes objects but is not open as a ptypes Storage")
    return <Session>s


# ---------------------------------------------------------------------------
# Values in slots

cdef inline str found_name(object v):
    if isinstance(v, PtObject) and (<PtObject>v).ti is not None:
        return repr((<PtObject>v).ti.cls)
    return repr(type(v))


cdef int make_slot(Session s, TypeInfo ti, object v, pyp_slot_t *out) except -1:
    """Fill `out` with `v` as a value of type `ti`, holding one new reference
    (inside a transaction: may allocate)."""
    cdef PtObject p
    cdef int64_t i
    if ti.kind == K_INT:
        if isinstance(v, PtValue):
            v = (<PtValue>v).contents
        if not isinstance(v, int):
            raise TypeError(f"Expected {ti.cls!r}, found {found_name(v)}")
        if not (INT64_MIN <= v <= INT64_MAX):
            raise OverflowError(f"{ti.cls!r} holds 64-bit signed integers; {v} is out of range")
        i = v
        out.tag = PYP_TAG_INT
        out.payload = <uint64_t>i
        return 0
    if ti.kind == K_FLOAT:
        if isinstance(v, PtValue):
            v = (<PtValue>v).contents
        if not isinstance(v, (float, int)):
            raise TypeError(f"Expected {ti.cls!r}, found {found_name(v)}")
        out.tag = PYP_TAG_FLOAT
        out.payload = pt_double_bits(float(v))
        return 0
    if v is None:
        out.tag = PYP_TAG_NONE
        out.payload = 0
        return 0
    if isinstance(v, PtObject):
        p = <PtObject>v
    elif ti.kind == K_BYTES:
        p = new_bytestring(s, ti, v)
    elif ti.kind == K_BUFFER:
        p = new_buffer(s, ti, v)
    elif ti.kind == K_LIST:
        if not hasattr(v, '__iter__') or isinstance(v, (str, bytes)):
            raise TypeError(f"Expected {ti.cls!r}, found {found_name(v)}")
        p = new_list(s, ti, v)
    elif ti.kind == K_DICT and isinstance(v, (dict, set, frozenset)):
        p = new_dict(s, ti, len(v))
        if ti.value is None:
            for k in v:
                (<PtDict>p).store(k, None, False)
        else:
            if not isinstance(v, dict):
                raise TypeError(f"Expected {ti.cls!r} or a dict, found {found_name(v)}")
            for k, x in v.items():
                (<PtDict>p).store(k, x, True)
    else:
        raise TypeError(f"Expected {ti.cls!r}, found {found_name(v)}")
    if p.session is not s:
        p.addr(SLOT)
        raise TypeError(f"cannot store {p!r} of another storage in {s.storage()!r}")
    if ti.ptid not in p.ti.ancestors:
        raise TypeError(f"Expected {ti.cls!r}, found {p.ti.cls!r}")
    if isinstance(p, PtByteString):
        (<PtByteString>p).bp()
    p.addr(SLOT)
    s.mm.incref(p.off)
    out.tag = PYP_TAG_REF
    out.payload = p.off
    return 0


cdef int release_unless_doomed(MemoryManager mm, pyp_slot_t slot) except -1:
    """Drop a reference taken earlier in a failing operation.  After a failed
    pool write the transaction is doomed: its rollback undoes the reference,
    and a decref now would be a write it refuses (hiding the real error)."""
    if not mm.doomed:
        mm.release_slot(slot)
    return 0


cdef int store_slot(Session s, TypeInfo ti, pyp_slot_t *dst, object v) except -1:
    """Replace the value in `dst` (inside a transaction); the old reference is released."""
    cdef pyp_slot_t new, old
    make_slot(s, ti, v, &new)
    # a failed snapshot dooms the transaction, which rolls back the new
    # reference too: releasing it here would be a write the doomed
    # transaction refuses (TransactionError hiding the PoolFullError)
    s.mm.snapshot(dst, SLOT)
    old = dst[0]
    dst[0] = new
    s.mm.release_slot(old)
    return 0


cdef object load_ref(Session s, uint64_t off):
    ref = s.mm.proxies.get(off)
    p = ref() if ref is not None else None
    if p is None:
        p = s.mm.resurrect_off(off)
    elif isinstance(p, PtByteString):
        return twin(<PtByteString>p)    # a new object per read, like Python strings
    if not isinstance(p, PtObject):
        raise damaged(s.mm, f"reference 0x{off:x} to a {type(p).__name__}, not a ptypes object")
    return p


cdef PtByteString twin(PtByteString canon):
    """Another proxy of the byte string of `canon` (the core's unique proxy,
    which the core invalidates when the string is freed and gc treats as a
    root; the twin keeps it alive and checks it)."""
    cdef PtByteString t = PtByteString.__new__(PtByteString)
    t.mm = canon.mm
    t.off = canon.off
    t.ti = canon.ti
    t.session = canon.session
    t.canon = canon
    return t


cdef object load_value(PtObject owner, TypeInfo ti, pyp_slot_t *slot, uint64_t index, object key):
    """The value in `slot`: a PtValue for by-value types, else a proxy or None."""
    cdef uint64_t tag
    if ti.kind == K_INT or ti.kind == K_FLOAT:
        return make_value(owner, ti, index, key)
    tag = slot.tag
    if tag == PYP_TAG_REF:
        return load_ref(owner.session, slot.payload)
    if tag == PYP_TAG_NONE or tag == PYP_TAG_EMPTY:
        return None
    raise damaged(owner.mm, f"slot with tag {tag} where a {ti.name} reference belongs")


cdef object plain_value(Session s, TypeInfo ti, pyp_slot_t *slot):
    """The Python value of a slot: int/float for by-value types (keys, popped items)."""
    if ti.kind == K_INT:
        return <int64_t>slot.payload
    if ti.kind == K_FLOAT:
        return pt_bits_double(slot.payload)
    if slot.tag == PYP_TAG_REF:
        return load_ref(s, slot.payload)
    return None


cdef int slot_equals(Session s, TypeInfo ti, pyp_slot_t *slot, object v) except -1:
    """Python equality of a stored value and `v` (list membership, index, count)."""
    cdef pt_bytes_t *b
    cdef const char *data
    cdef Py_ssize_t n
    if isinstance(v, PtValue):
        v = (<PtValue>v).contents
    if ti.kind == K_INT:
        return isinstance(v, (int, float)) and <int64_t>slot.payload == v
    if ti.kind == K_FLOAT:
        return isinstance(v, (int, float)) and pt_bits_double(slot.payload) == v
    if slot.tag != PYP_TAG_REF:
        return v is None
    if isinstance(v, PtObject):
        if (<PtObject>v).mm is s.mm and (<PtObject>v).off == slot.payload:
            return 1
        if ti.kind != K_BYTES or not isinstance(v, PtByteString):
            return 0
        v = (<PtByteString>v).contents
    if ti.kind != K_BYTES or not isinstance(v, (bytes, bytearray, memoryview)):
        return 0
    if not isinstance(v, bytes):
        v = bytes(v)
    b = bytes_at(s.mm, slot.payload)
    return <Py_ssize_t>b.size == PyBytes_GET_SIZE(v) and memcmp(b.data, PyBytes_AS_STRING(v), b.size) == 0


# ---------------------------------------------------------------------------
# Proxies

cdef class PtObject(PersistentBase):
    """Base of the proxies of ptypes objects."""
    cdef TypeInfo ti
    cdef Session session

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
    cdef readonly PtObject container
    cdef TypeInfo ti
    cdef uint64_t index
    cdef object key

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


# -- structures --------------------------------------------------------------

cdef class PtStructure(PtObject):
    """A structure: fields are attributes; other attributes come from the
    volatile base classes of its schema class."""

    cdef pt_struct_t *sp(self) except NULL:
        cdef pt_struct_t *p = <pt_struct_t *>self.addr(sizeof(pt_struct_t))
        self.addr(sizeof(pt_struct_t) + p.nfields * SLOT)
        return p

    cdef pyp_slot_t *value_slot(self, uint64_t index, object key) except NULL:
        cdef pt_struct_t *p = <pt_struct_t *>self.addr(sizeof(pt_struct_t) + (index + 1) * SLOT)
        if index >= p.nfields or p.nfields != self.ti.nfields:
            raise damaged(self.mm, f"structure at 0x{self.off:x} has {p.nfields} fields, "
                                   f"its type {self.ti.name} {self.ti.nfields}")
        return &p.fields[index]

    cdef object get_field(self, Field f):
        return load_value(self, f.ti, self.value_slot(f.index, None), f.index, None)

    cdef int set_field(self, Field f, object v) except -1:
        self.begin()
        try:
            store_slot(self.session, f.ti, self.value_slot(f.index, None), v)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)
        return 0

    def __getattribute__(self, str name):
        cdef TypeInfo ti = self.ti
        if ti is not None:
            f = ti.fields.get(name)
            if f is not None:
                return self.get_field(<Field>f)
            if name == '__class__':
                return ti.cls       # so isinstance() sees the schema class and its volatile bases
        try:
            return PyObject_GenericGetAttr(self, name)
        except AttributeError:
            if ti is None:
                raise
        # volatile members: the methods and attributes of the schema class's bases
        for klass in ti.cls.__mro__:
            d = klass.__dict__
            if name in d:
                v = d[name]
                get = getattr(type(v), '__get__', None)
                return get(v, self, ti.cls) if get is not None else v
        raise AttributeError(f"{ti.cls!r} has no field or attribute {name!r}")

    def __setattr__(self, str name, value):
        cdef TypeInfo ti = self.ti
        self.addr(sizeof(pt_struct_t))
        f = ti.fields.get(name)
        if f is None:
            raise AttributeError(f"{ti.cls!r} has no persistent field {name!r}")
        self.set_field(<Field>f, value)

    def __delattr__(self, str name):
        raise AttributeError(f"fields of persistent structures cannot be deleted (assign None to clear one)")

    def __dir__(self):
        names = set(PyObject_GenericGetAttr(type(self), '__dict__'))
        if self.ti is not None:
            names.update(self.ti.fields)
            names.update(dir(self.ti.cls))
        return sorted(names)


cdef PtStructure new_structure(Session s, TypeInfo ti, dict kw):
    cdef Field f
    cdef Py_ssize_t n = len(ti.field_list)
    cdef PtStructure p = <PtStructure>alloc_object(s, PtStructure, ti, sizeof(pt_struct_t) + n * SLOT)
    cdef pt_struct_t *sp = <pt_struct_t *>p.addr(sizeof(pt_struct_t) + n * SLOT)
    sp.nfields = n
    for f in ti.field_list:
        if f.ti.kind == K_INT:
            sp.fields[f.index].tag = PYP_TAG_INT
        elif f.ti.kind == K_FLOAT:
            sp.fields[f.index].tag = PYP_TAG_FLOAT
        else:
            sp.fields[f.index].tag = PYP_TAG_NONE
        sp.fields[f.index].payload = 0
    for name, v in kw.items():
        fo = ti.fields.get(name)
        if fo is None:
            raise TypeError(f"{ti.cls!r} has no persistent field {name!r}")
        f = <Field>fo
        make_slot(s, f.ti, v, &sp.fields[f.index])
    return p


cdef int traverse_structure(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    cdef pt_struct_t *p = <pt_struct_t *>mm.obj(off, sizeof(pt_struct_t))
    mm.obj(off, sizeof(pt_struct_t) + p.nfields * SLOT)
    return visit_slots(p.fields, p.nfields, visit, ctx)


# -- byte strings ------------------------------------------------------------

cdef pt_bytes_t *bytes_at(MemoryManager mm, uint64_t off) except NULL:
    cdef pt_bytes_t *b = <pt_bytes_t *>mm.ptr(off, sizeof(pt_bytes_t))
    if b.size > mm.pool_size:
        raise damaged(mm, f"byte string at 0x{off:x} is larger than the pool")
    mm.obj(off, sizeof(pt_bytes_t) + b.size)     # the allocation holds it all
    return b


cdef class PtByteString(PtObject):
    """An immutable persistent byte string, compared by contents."""
    cdef PtByteString canon     # twins: the core's proxy of the same string

    cdef pt_bytes_t *bp(self) except NULL:
        if self.canon is not None and self.canon.off == 0:
            self.canon.addr(sizeof(pt_bytes_t))    # raises: the string was freed
        self.addr(sizeof(pt_bytes_t))
        return bytes_at(self.mm, self.off)

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


# -- lists -------------------------------------------------------------------

cdef class PtList(PtObject):
    """A persistent list of values of one schema type."""

    cdef pt_list_t *lp(self) except NULL:
        cdef pt_list_t *l = <pt_list_t *>self.addr(sizeof(pt_list_t))
        if l.size > l.capacity or (l.capacity and l.items == 0):
            raise damaged(self.mm, f"list at 0x{self.off:x} has size {l.size} > capacity {l.capacity}")
        return l

    cdef pyp_slot_t *items(self, pt_list_t *l) except? NULL:
        if l.capacity == 0:
            return NULL
        return <pyp_slot_t *>self.mm.obj(l.items, l.capacity * SLOT)

    cdef uint64_t norm(self, index, uint64_t size, bint clamp) except? 0xffffffffffffffff:
        cdef Py_ssize_t i = index
        if i < 0:
            i += size
        if clamp:
            return 0 if i < 0 else (size if <uint64_t>i > size else <uint64_t>i)
        if i < 0 or <uint64_t>i >= size:
            raise IndexError("list index out of range")
        return <uint64_t>i

    cdef pyp_slot_t *value_slot(self, uint64_t index, object key) except NULL:
        cdef pt_list_t *l = self.lp()
        if index >= l.size:
            raise IndexError("list index out of range (the item was removed)")
        return &self.items(l)[index]

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
        return load_value(self, self.ti.item, &self.items(l)[i], i, None)

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
        cdef uint64_t i = 0
        cdef pt_list_t *l
        while True:
            l = self.lp()
            if i >= l.size:
                return
            yield load_value(self, self.ti.item, &self.items(l)[i], i, None)
            i += 1


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


# -- dicts and sets ----------------------------------------------------------

cdef struct LookupKey:
    uint64_t hash
    int kind
    const char *data
    uint64_t size
    int64_t ival
    double fval
    uint64_t off


cdef class PtDict(PtObject):
    """A persistent hash table; without a value type it is a set."""

    cdef pt_dict_t *dp(self) except NULL:
        cdef pt_dict_t *d = <pt_dict_t *>self.addr(sizeof(pt_dict_t))
        cdef uint64_t cap = d.mask + 1
        if cap < MIN_TABLE or cap & d.mask or d.used > d.fill or d.fill >= cap:
            raise damaged(self.mm, f"hash table at 0x{self.off:x} has inconsistent sizes")
        return d

    cdef pt_entry_t *table(self, pt_dict_t *d) except NULL:
        return <pt_entry_t *>self.mm.obj(d.table, (d.mask + 1) * ENTRY)

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
            key = (<PtValue>key).contents
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
        (<PtObject>key).addr(SLOT)
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

    cdef pyp_slot_t *value_slot(self, uint64_t index, object key) except NULL:
        cdef LookupKey lk
        cdef Py_ssize_t i, free_at
        cdef pt_entry_t *tab
        keep = self.prepare(key, &lk)
        i = self.find(&lk, &free_at, &tab)
        if i < 0:
            raise KeyError(key)
        return &tab[i].value

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
            return plain_value(self.session, self.ti.item, &e.key)
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
        return plain_value(self.session, self.ti.item, &e.key)

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
        return load_value(self, self.ti.value, &tab[i].value, 0,
                          key if not isinstance(key, PtValue) else key.contents)

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

    def _entries(self, int what):
        """Yield keys (0), values (1) or (key, value) pairs (2)."""
        cdef uint64_t i = 0, table
        cdef pt_dict_t *d = self.dp()
        cdef pt_entry_t *e
        table = d.table
        while True:
            d = self.dp()
            if d.table != table:
                raise RuntimeError("persistent dict changed size during iteration")
            if i > d.mask:
                return
            e = &self.table(d)[i]
            i += 1
            if e.key.tag == PYP_TAG_EMPTY or e.key.tag == PT_TAG_DELETED:
                continue
            k = plain_value(self.session, self.ti.item, &e.key)
            if what == 0:
                yield k
            elif what == 1:
                yield load_value(self, self.ti.value, &e.value, 0, k)
            else:
                yield k, load_value(self, self.ti.value, &e.value, 0, k)

    def iterkeys(self):
        return self._entries(0)

    def itervalues(self):
        self.need_values("iterate over the values")
        return self._entries(1)

    def iteritems(self):
        self.need_values("iterate over the items")
        return self._entries(2)

    def __iter__(self):
        return self._entries(0)

    def keys(self):
        return list(self._entries(0))

    def values(self):
        self.need_values("iterate over the values")
        return list(self._entries(1))

    def items(self):
        self.need_values("iterate over the items")
        return list(self._entries(2))


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


# -- buffers -----------------------------------------------------------------

cdef class PtBuffer(PtObject):
    """A persistent copy of a buffer-protocol object.  Exports are read-only:
    changing persistent memory behind the transactions' back would not be
    crash safe; assign a new Buffer instead."""

    cdef pt_buffer_t *bp(self) except NULL:
        cdef pt_buffer_t *b = <pt_buffer_t *>self.addr(sizeof(pt_buffer_t))
        cdef uint64_t meta
        if b.ndim > PT_MAX_NDIM or b.fmtlen > 4096 or b.data_off % 16:
            raise damaged(self.mm, f"buffer at 0x{self.off:x} has a bad header")
        meta = sizeof(pt_buffer_t) + 16 * b.ndim + b.fmtlen + 1
        if b.data_off < meta or b.nbytes > (1 << 48):
            raise damaged(self.mm, f"buffer at 0x{self.off:x} has a bad header")
        self.addr(b.data_off + b.nbytes)
        if (<char *>b)[sizeof(pt_buffer_t) + 16 * b.ndim + b.fmtlen] != 0:
            raise damaged(self.mm, f"buffer at 0x{self.off:x} has an unterminated format")
        return b

    def __getbuffer__(self, Py_buffer *view, int flags):
        cdef pt_buffer_t *b = self.bp()
        if flags & PyBUF_WRITABLE:
            raise BufferError("persistent buffers are read-only (assign a new Buffer to change one)")
        view.buf = <char *>b + b.data_off
        view.obj = self
        view.len = b.nbytes
        view.readonly = 1
        view.itemsize = b.itemsize
        view.format = (<char *>b + sizeof(pt_buffer_t) + 16 * b.ndim) if flags & PyBUF_FORMAT else NULL
        if flags & PyBUF_ND:
            view.ndim = b.ndim
            view.shape = <Py_ssize_t *>b.dims
        else:
            view.ndim = 1
            view.shape = NULL
        view.strides = <Py_ssize_t *>(b.dims + b.ndim) if flags & PyBUF_STRIDES else NULL
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer *view):
        pass

    @property
    def contents(self):
        """The data as bytes."""
        cdef pt_buffer_t *b = self.bp()
        return PyBytes_FromStringAndSize(<char *>b + b.data_off, b.nbytes)

    def __len__(self):
        return self.bp().nbytes


cdef PtBuffer new_buffer(Session s, TypeInfo ti, object src):
    cdef Py_buffer view
    cdef Py_ssize_t i, ndim, fmtlen
    cdef bytes fmt
    cdef uint64_t data_off
    cdef pt_buffer_t *b
    cdef PtBuffer p
    if isinstance(src, PtObject) or not PyObject_CheckBuffer(src):
        raise TypeError(f"Objects of type {type(src).__name__!r} do not support the buffer protocol.")
    PyObject_GetBuffer(src, &view, PyBUF_FULL_RO)
    try:
        ndim = view.ndim
        if ndim > <Py_ssize_t>PT_MAX_NDIM:
            raise ValueError(f"buffers of more than {PT_MAX_NDIM} dimensions are not supported")
        fmt = view.format if view.format != NULL else b"B"
        fmtlen = len(fmt)
        if fmtlen > 4096:
            raise ValueError("buffer format string too long")
        data_off = (sizeof(pt_buffer_t) + 16 * ndim + fmtlen + 1 + 15) & ~<uint64_t>15
        p = <PtBuffer>alloc_object(s, PtBuffer, ti, data_off + view.len + 1)
        b = <pt_buffer_t *>p.addr(data_off + view.len + 1)
        b.nbytes = view.len
        b.itemsize = view.itemsize
        b.ndim = ndim
        b.fmtlen = fmtlen
        b.data_off = data_off
        for i in range(ndim):
            b.dims[i] = view.shape[i] if view.shape != NULL else view.len // view.itemsize
        if ndim:
            b.dims[2 * ndim - 1] = view.itemsize
            for i in range(ndim - 2, -1, -1):
                b.dims[ndim + i] = b.dims[ndim + i + 1] * b.dims[i + 1]
        memcpy(<char *>b + sizeof(pt_buffer_t) + 16 * ndim, PyBytes_AS_STRING(fmt), fmtlen + 1)
        PyBuffer_ToContiguous(<char *>b + data_off, &view, view.len, b'C')
    finally:
        PyBuffer_Release(&view)
    return p


# -- the storage root --------------------------------------------------------

cdef class PtStorageRoot(PersistentBase):
    """The object the pool's root refers to: the schema, the Root structure
    and the string registry of a storage."""

    cdef pt_storage_t *sp(self) except NULL:
        cdef pt_storage_t *r = <pt_storage_t *>self.addr(sizeof(pt_storage_t))
        if r.magic != PT_STORAGE_MAGIC:
            raise InvalidPoolError(_errno.EINVAL, "not a ptypes storage (bad magic in the storage root)",
                                   self.mm.filename)
        if r.version != PT_LAYOUT_VERSION:
            raise InvalidPoolError(_errno.EINVAL, f"ptypes layout version {r.version} is not supported "
                                   f"(this library reads version {PT_LAYOUT_VERSION})", self.mm.filename)
        return r

    cdef int p_new(self, MemoryManager mm) except -1:
        raise TypeError("a storage root is created by ptypes.storage.Storage")

    cdef int on_resurrect(self) except -1:
        self.sp()
        return 0

    def schema_json(self):
        s = self.mm.load(&self.sp().schema)
        if type(s) is not str:
            raise damaged(self.mm, "the stored schema is not a string")
        return s

    def get_root(self, Session s):
        cdef pt_storage_t *r = self.sp()
        if r.root.tag == PYP_TAG_REF:
            return load_ref(s, r.root.payload)
        return None

    def set_root(self, Session s, TypeInfo ti, value):
        self.begin()
        try:
            store_slot(s, ti, &self.sp().root, value)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def root_offset(self):
        """Offset of the Root structure (0 before it is created)."""
        cdef pt_storage_t *r = self.sp()
        return r.root.payload if r.root.tag == PYP_TAG_REF else 0

    def registry(self, Session s):
        cdef pt_storage_t *r = self.sp()
        if r.registry.tag != PYP_TAG_REF:
            raise damaged(self.mm, "the storage has no string registry")
        return load_ref(s, r.registry.payload)


def create_storage_root(Session s, str schema_json, TypeInfo registry_ti, registry_size):
    """Create the storage root with its schema and string registry (inside the
    caller's transaction, which stores it where the storage is kept)."""
    cdef MemoryManager mm = s.mm
    cdef PtStorageRoot sr
    cdef pt_storage_t *r
    mm.begin()
    try:
        off = mm.new_object(PtStorageRoot, sizeof(pt_storage_t))
        sr = PtStorageRoot.__new__(PtStorageRoot)
        mm.adopt(sr, off)
        r = <pt_storage_t *>mm.obj(off, sizeof(pt_storage_t))
        r.magic = PT_STORAGE_MAGIC
        r.version = PT_LAYOUT_VERSION
        mm.init_slot(&r.schema, schema_json)
        r.root.tag = PYP_TAG_NONE
        make_slot(s, registry_ti, new_dict(s, registry_ti, registry_size), &r.registry)
    except BaseException:
        mm.end(False)
        raise
    mm.end(True)
    return sr


cdef int traverse_storage_root(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    cdef pt_storage_t *r = <pt_storage_t *>mm.obj(off, sizeof(pt_storage_t))
    return visit_slots(&r.schema, 3, visit, ctx)


# ---------------------------------------------------------------------------
# Entry points for storage.py

def create(TypeInfo ti, tuple args, dict kw):
    """Create an object of schema type `ti` (what calling a schema class does)."""
    cdef Session s = ti.session
    cdef MemoryManager mm = s.mm
    if ti.kind == K_INT or ti.kind == K_FLOAT:
        raise TypeError(f"{ti.cls!r} exhibits store-by-value semantics and therefore can only be "
                        f"instantiated inside a container (e.g. in Structure)")
    if ti.abstract:
        raise TypeError(f"{ti.cls!r} is abstract: instantiate a structure derived from it")
    if ti.kind == K_STRUCT and args:
        raise TypeError(f"{ti.cls!r} takes only keyword arguments (initial values of its fields)")
    if ti.kind != K_STRUCT and kw and not (ti.kind == K_DICT and tuple(kw) == ('size',) and not args):
        raise TypeError(f"{ti.cls!r} takes no keyword arguments other than size= (Dict)")
    if ti.kind != K_STRUCT and len(args) > 1:
        raise TypeError(f"{ti.cls!r} takes at most one argument, got {len(args)}")
    mm.begin()
    try:
        if ti.kind == K_STRUCT:
            p = new_structure(s, ti, kw)
        elif ti.kind == K_BYTES:
            if not args:
                raise TypeError(f"{ti.cls!r} needs the bytes to store")
            p = new_bytestring(s, ti, args[0])
        elif ti.kind == K_LIST:
            p = new_list(s, ti, args[0] if args else None)
        elif ti.kind == K_DICT:
            p = new_dict(s, ti, args[0] if args else kw.get('size'))
        elif ti.kind == K_BUFFER:
            if not args:
                raise TypeError(f"{ti.cls!r} needs an object supporting the buffer protocol")
            p = new_buffer(s, ti, args[0])
        else:
            raise TypeError(f"cannot instantiate {ti.cls!r}")
    except BaseException:
        mm.end(False)
        raise
    mm.end(True)
    return p


def is_instance(obj, TypeInfo ti):
    """isinstance() for schema classes: `obj`'s type is `ti` or derived from it."""
    if isinstance(obj, PtObject) and (<PtObject>obj).ti is not None:
        return (<PtObject>obj).session is ti.session and ti.ptid in (<PtObject>obj).ti.ancestors
    if isinstance(obj, PtValue):
        return (<PtValue>obj).ti is ti
    return False


cdef int traverse_leaf(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    return 0      # byte strings and buffers hold no references


cdef dict _KIND_CLASS = {K_STRUCT: PtStructure, K_BYTES: PtByteString, K_LIST: PtList,
                         K_DICT: PtDict, K_BUFFER: PtBuffer}

register_traverse(PtStructure, traverse_structure)
register_traverse(PtList, traverse_list)
register_traverse(PtDict, traverse_dict)
register_traverse(PtStorageRoot, traverse_storage_root)
register_traverse(PtByteString, traverse_leaf)
register_traverse(PtBuffer, traverse_leaf)
