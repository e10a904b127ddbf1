# cython: boundscheck=False, wraparound=False
"""Pool-backed storage: a packed struct, array or mapping in a pmemobj pool.

A PooledBuffer is a persistent object (refcounted and collected like any
other) owning one raw allocation with the packed bytes, written once in the
transaction that creates it.  Proxies read those bytes in place, checking
on every read that the pool is open and the object alive.
"""
import importlib

cimport cython
from libc.stdint cimport uint64_t
from libc.string cimport memcpy
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE

from pmemobj._core cimport (
    MemoryManager, PersistentBase, PYP_TYPE_NUM_RAW, VISIT_RAW, pyp_header_t, pyp_slot_t,
    register_traverse, visit_fn, visit_slots)
from pmemobj import inspectors as _inspectors
from sharedbuffers._structs cimport BufferRef, Schema, make_proxy
from sharedbuffers._structs import mapped_object

cdef extern from "sharedbuffers_format.h":
    enum:
        SB_POOLED_STRUCT
        SB_POOLED_ARRAY
        SB_POOLED_MAPPING
    ctypedef struct sb_pooled_t:
        pyp_header_t h
        uint64_t kind
        uint64_t data
        uint64_t size
        pyp_slot_t proxy_type


cdef dict _classes = {}     # "module:qualname" -> class


cdef str name_of(type cls):
    """The name a pool records for cls.  Another process resolves it by import,
    so the class should be defined at module level; in this process the class
    itself is remembered (the last one stored under a name wins)."""
    name = f"{cls.__module__}:{cls.__qualname__}"
    _classes[name] = cls
    return name


cdef object resolve(str name):
    cls = _classes.get(name)
    if cls is None:
        module, _, qualname = name.partition(":")
        try:
            cls = importlib.import_module(module)
            for part in qualname.split("."):
                cls = getattr(cls, part)
        except (ImportError, AttributeError):
            return None
        _classes[name] = cls
    return cls


cdef class PoolBufferRef(BufferRef):
    """The packed bytes of a PooledBuffer, checked before each read: the pool
    must be open and the object alive (the core zeroes `off` of a freed
    object's proxy).  The bytes never move or change while both hold, so the
    full bounds checks run once per (pool session, object)."""
    cdef PooledBuffer holder
    cdef MemoryManager checked_mm
    cdef uint64_t checked_off

    cdef int refresh(self) except -1:
        cdef PooledBuffer h = self.holder
        cdef sb_pooled_t *p
        if h.mm is not None and h.mm is self.checked_mm and not h.mm.closed \
                and h.off != 0 and h.off == self.checked_off:
            return 0
        p = <sb_pooled_t *>h.addr(sizeof(sb_pooled_t))     # raises if closed or freed
        self.base = h.mm.obj(p.data, p.size)
        self.size = p.size
        self.checked_mm = h.mm
        self.checked_off = h.off
        return 0


cdef int traverse_pooled(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    cdef sb_pooled_t *p = <sb_pooled_t *>mm.obj(off, sizeof(sb_pooled_t))
    if p.data:
        visit(ctx, p.data, VISIT_RAW)
    visit_slots(&p.proxy_type, 1, visit, ctx)
    return 0


# The cached proxy refers back to this object (through its PoolBufferRef): a
# cycle.  Cyclic gc must break it elsewhere, so that this proxy is deallocated
# with its pool reference intact and the core can free an object nothing
# references any more.
@cython.no_gc_clear
cdef class PooledBuffer(PersistentBase):
    """A packed struct, array or mapping stored in a pool.

    Made by `Schema.pack_to_pool`, `MappedArrayProxyBase.build(..., pool=pool)`
    and `MappedMappingProxyBase.build(..., pool=pool)`.  `.proxy` is the mapped
    object reading it (a struct proxy, array or mapping); attribute access,
    indexing, len(), iteration and `in` are forwarded to it."""
    cdef object _proxy

    cdef int p_new(self, MemoryManager mm) except -1:
        mm.adopt(self, mm.new_object(type(self), sizeof(sb_pooled_t)))
        return 0

    def __init__(self, int kind, str proxy_type, data):
        cdef sb_pooled_t *p = <sb_pooled_t *>self.addr(sizeof(sb_pooled_t))
        cdef Py_buffer view
        cdef uint64_t raw
        if p.data != 0 or p.kind != 0:
            raise TypeError("a PooledBuffer is immutable once built")
        if kind != SB_POOLED_STRUCT and kind != SB_POOLED_ARRAY and kind != SB_POOLED_MAPPING:
            raise ValueError(f"unknown PooledBuffer kind {kind}")
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            if view.len == 0:
                raise ValueError("nothing to store")
            # both allocations belong to the transaction pool.new() runs in:
            # fresh memory, written without snapshots
            raw = self.mm.alloc(view.len, PYP_TYPE_NUM_RAW, False)
            memcpy(self.mm.obj(raw, view.len), view.buf, view.len)
            p = <sb_pooled_t *>self.addr(sizeof(sb_pooled_t))
            p.kind = kind
            p.data = raw
            p.size = view.len
            self.mm.init_slot(&p.proxy_type, proxy_type)
        finally:
            PyBuffer_Release(&view)

    @property
    def kind(self):
        """'struct', 'array' or 'mapping'."""
        cdef sb_pooled_t *p = <sb_pooled_t *>self.addr(sizeof(sb_pooled_t))
        return {SB_POOLED_STRUCT: "struct", SB_POOLED_ARRAY: "array",
                SB_POOLED_MAPPING: "mapping"}.get(p.kind, "damaged")

    @property
    def nbytes(self):
        """Bytes of packed data."""
        return (<sb_pooled_t *>self.addr(sizeof(sb_pooled_t))).size

    @property
    def proxy_type(self):
        """The "module:qualname" of the class that reads the packed bytes."""
        return self.mm.load(&(<sb_pooled_t *>self.addr(sizeof(sb_pooled_t))).proxy_type)

    @property
    def proxy(self):
        """The mapped object reading the packed bytes in place."""
        cdef sb_pooled_t *p
        cdef PoolBufferRef b
        if self._proxy is None:
            p = <sb_pooled_t *>self.addr(sizeof(sb_pooled_t))
            kind = p.kind
            name = self.mm.load(&p.proxy_type)
            cls = resolve(name) if isinstance(name, str) else None
            if cls is None:
                raise TypeError(f"cannot map a pooled {self.kind}: class {name!r} is not importable")
            b = PoolBufferRef.__new__(PoolBufferRef)
            b.holder = self
            b.owner = self
            b.dynamic = True
            b.refresh()
            if kind == SB_POOLED_STRUCT:
                schema = mapped_object.schema_for_class(cls)
                if schema is None:
                    raise TypeError(f"{name} has no registered schema (mapped_object.register_schema)")
                self._proxy = make_proxy(<Schema?>schema, b, 0, None)
            else:
                self._proxy = cls.map_buffer(b, 0)
        return self._proxy

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.proxy, name)

    def __getitem__(self, key):
        return self.proxy[key]

    def __len__(self):
        return len(self.proxy)

    def __iter__(self):
        return iter(self.proxy)

    def __contains__(self, key):
        return key in self.proxy

    def __repr__(self):
        try:
            return f"<PooledBuffer {self.proxy!r}>"
        except Exception as e:
            return f"<PooledBuffer ({e})>"


register_traverse(PooledBuffer, traverse_pooled)
# how python -m pmemobj shows a PooledBuffer, also where no installed metadata
# declares it (loaded on first use; see pmemobj.inspectors)
_inspectors.register("sharedbuffers", "sharedbuffers._inspect:inspector")


def store_packed(pool, int kind, type cls, data):
    """A new PooledBuffer in `pool` holding the packed bytes `data` read by
    `cls` (an array or mapping class, or a registered struct class)."""
    return pool.new(PooledBuffer, kind, name_of(cls), data)
