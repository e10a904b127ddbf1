# Id mappers (see _idmappers.pyx).
from libc.stdint cimport uint64_t
from sharedbuffers._structs cimport BufferRef, Packer

cdef extern from "sharedbuffers_format.h":
    enum:
        SB_KEYS_UINT64
        SB_KEYS_STRING
        SB_KEYS_HASH
        SB_KEYS_OBJECT

cdef struct entry_t:
    uint64_t key       # the number, or the key's hash
    uint64_t seq       # insertion order
    uint64_t value
    uint64_t koff      # the key's object value in the key blob (string and object keys)
    uint64_t klen


cdef class IdMapWriter:
    cdef int kind
    cdef int width
    cdef bint discard_duplicates       # drop repeated (key, value) entries
    cdef bint discard_duplicate_keys   # keep one entry per key
    cdef entry_t *entries
    cdef Py_ssize_t count
    cdef Py_ssize_t cap
    cdef Packer blob        # string and object keys, in insertion order
    cdef entry_t *new_entry(self) except NULL
    cdef int add(self, key, value) except -1
    cdef int add_raw(self, uint64_t key, uint64_t value) except -1
    cdef bint same_key(self, Py_ssize_t i, Py_ssize_t j) noexcept
    cdef Py_ssize_t write(self, f) except -1


cdef class IdMapperBase:
    cdef BufferRef _buf
    cdef Py_ssize_t _start
    cdef Py_ssize_t _keys       # positions in the buffer
    cdef Py_ssize_t _koffs
    cdef Py_ssize_t _vals
    cdef Py_ssize_t _count      # entries
    cdef Py_ssize_t _nkeys      # distinct keys
    cdef Py_ssize_t _size
    cdef int _width             # of keys, key offsets and values: 4 or 8
    cdef int _stored            # SB_KEYS_* of the table
    cdef int _kind              # how this class reads keys (SB_KEYS_*)
    cdef int _class_width       # what this class builds: 4 (the *32 classes) or 8
    cdef bint _multi
    cdef object _file
    cdef int _bind(self, BufferRef b, Py_ssize_t pos) except -1
    cdef int _check(self) except -1
    cdef uint64_t _table_key(self, Py_ssize_t i) except? 0xFFFFFFFFFFFFFFFF
    cdef Py_ssize_t _lower_bound(self, uint64_t k) except -1
    cdef object _prepare(self, key, uint64_t *k, const char **p, Py_ssize_t *n)
    cdef Py_ssize_t _key_pos(self, Py_ssize_t i) except -1
    cdef bint _matches(self, Py_ssize_t i, object key, const char *p, Py_ssize_t n) except -1
    cdef Py_ssize_t _find(self, key) except -2
    cdef list _find_all(self, key)
    cdef uint64_t _value(self, Py_ssize_t i) except? 0xFFFFFFFFFFFFFFFF
    cdef bint _is_first(self, Py_ssize_t i) except -1
    cdef object _key(self, Py_ssize_t i)
