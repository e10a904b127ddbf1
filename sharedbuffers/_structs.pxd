# Buffers, packing and proxies of typed structs: the cdef API that the mapped
# collections (_arrays, _idmappers, _mappings) and pool-backed storage (_pooled) share.
from libc.stdint cimport int64_t, uint64_t, uint32_t, uint16_t, uint8_t
from libc.string cimport memcpy

cdef extern from "sharedbuffers_format.h":
    enum:
        SB_SIZE_U16
        SB_SIZE_U32
        SB_SIZE_U64
        SB_KIND_INT
        SB_KIND_FLOAT
        SB_KIND_BOOL
        SB_KIND_BYTES
        SB_KIND_STR
        SB_KIND_TUPLE
        SB_KIND_LIST
        SB_KIND_FROZENSET
        SB_KIND_OBJECT
        SB_KIND_STRUCT
        SB_KIND_U8
        SB_KIND_I8
        SB_KIND_U16
        SB_KIND_I16
        SB_KIND_U32
        SB_KIND_I32
        SB_KIND_U64
        SB_KIND_F32
        SB_KIND_DATETIME
        SB_KIND_DATETIME_LOCAL
        SB_KIND_DATETIME_UTC
        SB_KIND_DATETIME_TZ
        SB_KIND_DATETIME_TZ_LOCAL
        SB_KIND_DATE
        SB_KIND_DECIMAL
        SB_KIND_DICT
        SB_KIND_BUFFER
        SB_KIND_NDARRAY
        SB_KIND_PTUPLE
        SB_KIND_PLIST
        SB_KIND_PFROZENSET
        SB_KIND_PDICT


cdef class BufferRef:
    """A readable buffer held open (exported) while proxies read from it."""
    cdef object owner            # what the bytes belong to (bytes, bytearray, mmap, pool object)
    cdef Py_buffer view
    cdef bint has_view
    cdef const char *base
    cdef Py_ssize_t size
    cdef bint dynamic            # refresh() before each read (pool-backed memory)
    cdef bint writable           # exported writable: numeric slots can be assigned
    cdef int refresh(self) except -1


cdef BufferRef buffer_ref(object obj)
cdef int raise_bounds(BufferRef b, Py_ssize_t pos, Py_ssize_t n) except -1


cdef inline const char *at(BufferRef b, Py_ssize_t pos, Py_ssize_t n) except NULL:
    """Pointer to bytes [pos, pos+n) of b, or an exception if they are not all in it."""
    if b.dynamic:
        b.refresh()
    if pos < 0 or n < 0 or pos > b.size - n:
        raise_bounds(b, pos, n)
    return b.base + pos


cdef inline Py_ssize_t add_rel(Py_ssize_t pos, int64_t rel) noexcept:
    # wraps instead of overflowing on corrupted offsets; at() rejects the result
    return <Py_ssize_t>(<uint64_t>pos + <uint64_t>rel)


cdef inline int64_t load_i64(const char *p) noexcept nogil:
    cdef int64_t v
    memcpy(&v, p, 8)
    return v


cdef inline uint64_t load_u64(const char *p) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return v


cdef inline uint64_t load_uw(const char *p, int width) noexcept nogil:
    """An unsigned integer of 4 or 8 bytes."""
    cdef uint32_t v4
    cdef uint64_t v8
    if width == 4:
        memcpy(&v4, p, 4)
        return v4
    memcpy(&v8, p, 8)
    return v8


cdef Py_ssize_t read_size(BufferRef b, Py_ssize_t *pos) except -1


cdef class Packer:
    """Packs values into a growable memory buffer.

    Positions are relative to the first byte of the buffer; `base` is the
    position of that byte in the coordinates of the idmap (the whole output
    when packing streams in chunks)."""
    cdef char *data
    cdef Py_ssize_t length
    cdef Py_ssize_t capacity
    cdef Py_ssize_t base
    cdef object idmap
    cdef list keep          # what the idmap holds ids of: alive while packing
    cdef Py_ssize_t reserve(self, Py_ssize_t n) except -1
    cdef int put(self, const void *src, Py_ssize_t n) except -1
    cdef int align(self, Py_ssize_t a) except -1
    cdef int drop(self) except -1
    cdef int check_dict_keys(self, Schema s, dict obj) except -1
    cdef Py_ssize_t pack_struct(self, Schema s, object obj, int depth) except? -1
    cdef Py_ssize_t pack_typed(self, int kind, Schema child, object v, int depth) except? -1
    cdef Py_ssize_t pack_object(self, object v, int depth) except? -1
    cdef Py_ssize_t pack_seq(self, object v, int depth, bint sort) except? -1
    cdef Py_ssize_t pack_dict(self, object v, int depth) except? -1
    cdef Py_ssize_t pack_payload(self, int code, object v, int depth) except? -1
    cdef Py_ssize_t pack_int(self, object v) except -1
    cdef int pack_code(self, int code, object v, int depth) except -1
    cdef Py_ssize_t pack_str(self, object v) except -1
    cdef Py_ssize_t pack_blob(self, const char *p, Py_ssize_t n) except -1
    cdef int put_size(self, Py_ssize_t n) except -1


cdef class Schema:
    cdef readonly tuple slot_names
    cdef readonly dict slot_types
    cdef list fields
    cdef Py_ssize_t nslots
    cdef Py_ssize_t bitmap_bytes     # of each of the two bitmaps
    cdef readonly Py_ssize_t fixed_size
    cdef readonly type Proxy
    cdef readonly object typecode
    cdef readonly object struct_class
    cdef public object user_data
    cdef tuple bases
    cdef str name
    cdef object __weakref__
    cdef StructProxy proxy_at(self, BufferRef b, Py_ssize_t pos)
    cdef int make_proxy_class(self) except -1


cdef class StructProxy:
    cdef BufferRef _buf
    cdef Py_ssize_t _pos
    cdef Schema _schema


cdef StructProxy make_proxy(Schema s, BufferRef b, Py_ssize_t pos, StructProxy into)
cdef object read_object(BufferRef b, Py_ssize_t pos, int depth)
cdef object read_typed(int kind, Schema child, BufferRef b, Py_ssize_t pos, int depth)
cdef uint64_t stable_hash(object key) except? 0
