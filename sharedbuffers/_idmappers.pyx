# cython: boundscheck=False, wraparound=False, cdivision=True
"""Id mappers: sorted tables of (key, value) entries read in place.

Keys are unsigned 64-bit ints, or strings found by their stable 64-bit hash
(XXH3) and compared exactly (or not at all, for the approximate mapper).
Layout: include/sharedbuffers_format.h.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint64_t, uint32_t
from libc.stdlib cimport malloc, realloc, free, qsort
from libc.string cimport memcpy, memset, memcmp

from sharedbuffers._structs cimport BufferRef, Packer, at, buffer_ref, load_u64, load_uw, read_size
from sharedbuffers._structs import CorruptedBufferError
from sharedbuffers._arrays cimport finish_build, map_whole_file, open_dest, write_out

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *) except NULL
    object PyUnicode_DecodeUTF8(const char *, Py_ssize_t, const char *)
    unsigned long long PyLong_AsUnsignedLongLong(object) except? <unsigned long long>-1

cdef extern from *:
    """
    #define XXH_INLINE_ALL
    #include <xxhash.h>
    """
    uint64_t XXH3_64bits(const void *data, size_t length) nogil

cdef extern from "sharedbuffers_format.h":
    enum:
        SB_IDMAP_MAGIC
    ctypedef struct sb_idmap_header_t:
        uint64_t magic
        uint32_t key_kind
        uint32_t width
        uint64_t count
        uint64_t nkeys
        uint64_t size

cdef Py_ssize_t IDMAP_HEADER = sizeof(sb_idmap_header_t)


# ---------------------------------------------------------------- hashing

cdef inline uint64_t hash_bytes(const char *p, Py_ssize_t n) noexcept nogil:
    return XXH3_64bits(p, <size_t>n)


cdef object utf8_of(object s, const char **p, Py_ssize_t *n):
    """UTF-8 bytes of str `s` in p/n; returns an object that keeps them alive."""
    try:
        p[0] = PyUnicode_AsUTF8AndSize(s, n)
        return s
    except UnicodeEncodeError:
        b = (<str>s).encode("utf-8", "surrogatepass")
        p[0] = PyBytes_AS_STRING(b)
        n[0] = PyBytes_GET_SIZE(b)
        return b


def string_hash(key):
    """The stable 64-bit hash string id mappers use: XXH3_64bits (seed 0) of
    the key's UTF-8 bytes (lone surrogates passed through), or of the bytes
    themselves for a bytes key.  The same in every process and platform."""
    cdef const char *p
    cdef Py_ssize_t n
    if isinstance(key, bytes):
        return hash_bytes(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))
    if not isinstance(key, str):
        raise TypeError(f"string_hash() needs str or bytes, not {type(key).__name__}")
    keep = utf8_of(key, &p, &n)
    return hash_bytes(p, n)



# ---------------------------------------------------------------- id mappers

cdef int cmp_entries(const void *a, const void *b) noexcept nogil:
    cdef const entry_t *x = <const entry_t *>a
    cdef const entry_t *y = <const entry_t *>b
    if x.key != y.key:
        return -1 if x.key < y.key else 1
    if x.seq != y.seq:
        return -1 if x.seq < y.seq else 1
    return 0


cdef inline Py_ssize_t align8(Py_ssize_t n) noexcept:
    return (n + 7) & ~7


cdef class IdMapWriter:
    """Collects (key, value) entries, then writes the sorted id mapper."""

    def __cinit__(self, int kind):
        self.kind = kind
        self.cap = 1024
        self.entries = <entry_t *>malloc(self.cap * sizeof(entry_t))
        if self.entries == NULL:
            raise MemoryError()
        self.blob = Packer(None, 0)

    def __dealloc__(self):
        free(self.entries)

    cdef int add(self, key, uint64_t value) except -1:
        cdef entry_t *e
        cdef const char *p
        cdef Py_ssize_t n
        if self.count == self.cap:
            e = <entry_t *>realloc(self.entries, 2 * self.cap * sizeof(entry_t))
            if e == NULL:
                raise MemoryError()
            self.entries = e
            self.cap *= 2
        e = &self.entries[self.count]
        if self.kind == SB_KEYS_UINT64:
            if not isinstance(key, int) or key < 0:
                raise TypeError(f"numeric id mapper keys are ints in [0, 2**64), not {key!r}")
            e.key = PyLong_AsUnsignedLongLong(key)
        else:
            if not isinstance(key, str):
                raise TypeError(f"string id mapper keys are str, not {type(key).__name__}")
            keep = utf8_of(key, &p, &n)
            e.key = hash_bytes(p, n)
            if self.kind == SB_KEYS_STRING:
                e.koff = self.blob.length
                e.klen = n
                self.blob.put(p, n)
        e.seq = self.count
        e.value = value
        self.count += 1
        return 0

    cdef bint same_key(self, Py_ssize_t i, Py_ssize_t j) noexcept:
        cdef entry_t *x = &self.entries[i]
        cdef entry_t *y = &self.entries[j]
        if x.key != y.key:
            return False
        if self.kind != SB_KEYS_STRING:
            return True
        return x.klen == y.klen and memcmp(self.blob.data + x.koff, self.blob.data + y.koff, x.klen) == 0

    cdef Py_ssize_t write(self, f) except -1:
        """Write the id mapper to f at its current position; returns its size."""
        cdef sb_idmap_header_t h
        cdef Py_ssize_t n = self.count, i, j, vals, koffs, blob, size, pos
        cdef uint64_t maxv = 0, nkeys = 0, v8
        cdef uint32_t v4
        cdef int width
        cdef bint first
        cdef uint64_t *kpos       # for string keys: offset of each entry's key
        cdef Packer out, keys
        qsort(self.entries, n, sizeof(entry_t), cmp_entries)
        kpos = <uint64_t *>malloc((n + 1) * sizeof(uint64_t))
        if kpos == NULL:
            raise MemoryError()
        try:
            keys = Packer(None, 0)       # distinct string keys, each stored once
            for i in range(n):
                maxv = max(maxv, self.entries[i].value)
                first = True
                j = i - 1
                while j >= 0 and self.entries[j].key == self.entries[i].key:
                    if self.same_key(i, j):
                        first = False
                        kpos[i] = kpos[j]
                        break
                    j -= 1
                if first:
                    nkeys += 1
                    if self.kind == SB_KEYS_STRING:
                        kpos[i] = keys.length
                        keys.put_size(self.entries[i].klen)
                        keys.put(self.blob.data + self.entries[i].koff, self.entries[i].klen)
            for width in (4, 8):
                vals = IDMAP_HEADER + 8 * n
                koffs = align8(vals + width * n)
                blob = align8(koffs + width * n) if self.kind == SB_KEYS_STRING else koffs
                size = align8(blob + keys.length)
                if width == 8 or (maxv <= 0xFFFFFFFF and size <= 0xFFFFFFFF):
                    break
            h.magic = SB_IDMAP_MAGIC
            h.key_kind = self.kind
            h.width = width
            h.count = n
            h.nkeys = nkeys
            h.size = size
            out = Packer(None, 0)
            memset(out.data + out.reserve(size), 0, size)
            memcpy(out.data, &h, IDMAP_HEADER)
            for i in range(n):
                memcpy(out.data + IDMAP_HEADER + 8 * i, &self.entries[i].key, 8)
                if width == 4:
                    v4 = <uint32_t>self.entries[i].value
                    memcpy(out.data + vals + 4 * i, &v4, 4)
                    if self.kind == SB_KEYS_STRING:
                        v4 = <uint32_t>(blob + kpos[i])
                        memcpy(out.data + koffs + 4 * i, &v4, 4)
                else:
                    memcpy(out.data + vals + 8 * i, &self.entries[i].value, 8)
                    if self.kind == SB_KEYS_STRING:
                        v8 = blob + kpos[i]
                        memcpy(out.data + koffs + 8 * i, &v8, 8)
            memcpy(out.data + blob, keys.data, keys.length)
            write_out(f, out)
            return size
        finally:
            free(kpos)


cdef class IdMapperBase:
    """Maps keys (unsigned 64-bit ints or strings) to unsigned 64-bit values,
    by binary search over a sorted table read in place.

    Use its subclasses: NumericIdMapper, StringIdMapper, their Multi variants
    (all values of a key) and ApproxStringIdMultiMapper (key hashes only)."""

    @classmethod
    def build(cls, initializer, destfile=None, tempdir=None):
        """Build from (key, value) pairs (or a dict), then map the result."""
        f, opened = open_dest(destfile, tempdir)
        start = f.tell()
        size = cls._write(f, initializer)
        return finish_build(cls, f, opened, start, size)

    @classmethod
    def _write(cls, f, initializer):
        cdef IdMapperBase proto = cls.__new__(cls)
        cdef IdMapWriter w = IdMapWriter(proto._write_kind())
        if hasattr(initializer, "items"):
            initializer = initializer.items()
        for key, value in initializer:
            w.add(key, value)
        return w.write(f)

    cdef int _write_kind(self) noexcept:
        return self._kind

    @classmethod
    def map_buffer(cls, buf, Py_ssize_t offset=0):
        cdef IdMapperBase self = cls.__new__(cls)
        self._bind(buffer_ref(buf), offset)
        return self

    @classmethod
    def map_file(cls, fileobj, Py_ssize_t offset=0, size=None):
        return cls.map_buffer(map_whole_file(fileobj, offset, size), offset)

    cdef int _bind(self, BufferRef b, Py_ssize_t pos) except -1:
        cdef sb_idmap_header_t h
        cdef uint64_t need
        if self._kind == 0:
            raise TypeError("use a concrete id mapper class (StringIdMapper, NumericIdMapper, ...)")
        memcpy(&h, at(b, pos, IDMAP_HEADER), IDMAP_HEADER)
        if h.magic != SB_IDMAP_MAGIC:
            raise CorruptedBufferError(f"no id mapper at position {pos} (bad magic)")
        if (h.width != 4 and h.width != 8) or h.size > <uint64_t>(b.size - pos) \
                or h.count > h.size // 8 or h.nkeys > h.count \
                or h.key_kind < SB_KEYS_UINT64 or h.key_kind > SB_KEYS_HASH:
            raise CorruptedBufferError(f"corrupted or truncated id mapper header at position {pos}")
        need = IDMAP_HEADER + (8 + h.width * (2 if h.key_kind == SB_KEYS_STRING else 1)) * h.count
        if need > h.size:
            raise CorruptedBufferError(f"corrupted or truncated id mapper at position {pos}")
        if not (h.key_kind == self._kind or (self._kind == SB_KEYS_HASH and h.key_kind == SB_KEYS_STRING)):
            names = {SB_KEYS_UINT64: "numeric keys (NumericIdMapper)",
                     SB_KEYS_STRING: "string keys (StringIdMapper)",
                     SB_KEYS_HASH: "string key hashes only (ApproxStringIdMultiMapper)"}
            raise ValueError(f"this id mapper holds {names[h.key_kind]}; "
                             f"{type(self).__name__} cannot read it")
        self._buf = b
        self._start = pos
        self._count = h.count
        self._nkeys = h.nkeys
        self._size = h.size
        self._width = h.width
        self._stored = h.key_kind
        self._keys = pos + IDMAP_HEADER
        self._vals = self._keys + 8 * h.count
        self._koffs = pos + align8(IDMAP_HEADER + 8 * h.count + h.width * h.count)
        return 0

    cdef int _check(self) except -1:
        if self._buf is None:
            raise ValueError("unbound id mapper (use build, map_file or map_buffer)")
        return 0

    # -- lookups: entry indices

    cdef Py_ssize_t _lower_bound(self, uint64_t k) except -1:
        cdef const char *keys = at(self._buf, self._keys, 8 * self._count)
        cdef Py_ssize_t lo = 0, hi = self._count, mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if load_u64(keys + 8 * mid) < k:
                lo = mid + 1
            else:
                hi = mid
        return lo

    cdef object _prepare(self, key, uint64_t *k, const char **p, Py_ssize_t *n):
        """Turn key into its table key k (and p/n: its UTF-8 bytes); returns
        an object keeping them alive, or None when key cannot be in the table."""
        if self._kind == SB_KEYS_UINT64:
            if isinstance(key, float) and key.is_integer():
                key = int(key)          # 3.0 finds 3, as in a dict
            if not isinstance(key, int) or key < 0 or key > 0xFFFFFFFFFFFFFFFF:
                return None
            k[0] = PyLong_AsUnsignedLongLong(key)
            return key
        if not isinstance(key, str):
            return None
        keep = utf8_of(key, p, n)
        k[0] = hash_bytes(p[0], n[0])
        return keep

    cdef const char *_stored_key(self, Py_ssize_t i, Py_ssize_t *n) except NULL:
        cdef uint64_t off = load_uw(at(self._buf, self._koffs + i * self._width, self._width), self._width)
        cdef Py_ssize_t pos
        if off >= <uint64_t>self._size:
            raise CorruptedBufferError(f"corrupted id mapper: key offset {off} of entry {i}")
        pos = self._start + off
        n[0] = read_size(self._buf, &pos)
        return at(self._buf, pos, n[0])

    cdef bint _matches(self, Py_ssize_t i, const char *p, Py_ssize_t n) except -1:
        cdef Py_ssize_t sn
        cdef const char *s
        if self._kind != SB_KEYS_STRING:
            return True
        s = self._stored_key(i, &sn)
        return sn == n and memcmp(s, p, n) == 0

    cdef Py_ssize_t _find(self, key) except -2:
        """Index of the first entry of key, or -1."""
        cdef uint64_t k
        cdef const char *p = NULL
        cdef Py_ssize_t n = 0, i
        self._check()
        keep = self._prepare(key, &k, &p, &n)
        if keep is None:
            return -1
        i = self._lower_bound(k)
        while i < self._count and load_u64(at(self._buf, self._keys + 8 * i, 8)) == k:
            if self._matches(i, p, n):
                return i
            i += 1
        return -1

    cdef list _find_all(self, key):
        """Indices of all entries of key, in insertion order."""
        cdef uint64_t k
        cdef const char *p = NULL
        cdef Py_ssize_t n = 0, i
        cdef list out = []
        self._check()
        keep = self._prepare(key, &k, &p, &n)
        if keep is None:
            return out
        i = self._lower_bound(k)
        while i < self._count and load_u64(at(self._buf, self._keys + 8 * i, 8)) == k:
            if self._matches(i, p, n):
                out.append(i)
            i += 1
        return out

    cdef uint64_t _value(self, Py_ssize_t i) except? 0xFFFFFFFFFFFFFFFF:
        return load_uw(at(self._buf, self._vals + i * self._width, self._width), self._width)

    cdef bint _is_first(self, Py_ssize_t i) except -1:
        """Whether entry i is the first one of its key (in table order)."""
        cdef uint64_t k
        cdef Py_ssize_t j, a, b
        if i == 0:
            return True
        k = load_u64(at(self._buf, self._keys + 8 * i, 8))
        if self._kind != SB_KEYS_STRING:
            return load_u64(at(self._buf, self._keys + 8 * (i - 1), 8)) != k
        a = load_uw(at(self._buf, self._koffs + i * self._width, self._width), self._width)
        j = i - 1
        while j >= 0 and load_u64(at(self._buf, self._keys + 8 * j, 8)) == k:
            b = load_uw(at(self._buf, self._koffs + j * self._width, self._width), self._width)
            if a == b:          # equal keys share their stored bytes
                return False
            j -= 1
        return True

    cdef object _key(self, Py_ssize_t i):
        cdef const char *s
        cdef Py_ssize_t n
        if self._kind == SB_KEYS_STRING:
            s = self._stored_key(i, &n)
            return PyUnicode_DecodeUTF8(s, n, "surrogatepass")
        return load_u64(at(self._buf, self._keys + 8 * i, 8))

    # -- Python API

    def __len__(self):
        """The number of distinct keys."""
        return self._nkeys

    def __contains__(self, key):
        return self._find(key) >= 0

    def __getitem__(self, key):
        cdef Py_ssize_t i
        if self._multi:
            found = self._find_all(key)
            if not found:
                raise KeyError(key)
            return [self._value(i) for i in found]
        i = self._find(key)
        if i < 0:
            raise KeyError(key)
        return self._value(i)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self):
        return self.keys()

    def keys(self):
        """The distinct keys in table order (approximate mappers: the key hashes)."""
        cdef Py_ssize_t i
        self._check()
        for i in range(self._count):
            if self._is_first(i):
                yield self._key(i)

    def items(self):
        """(key, value) pairs: every entry for multi-mappers, else the first of each key."""
        cdef Py_ssize_t i
        self._check()
        for i in range(self._count):
            if self._multi or self._is_first(i):
                yield self._key(i), self._value(i)

    def values(self):
        for k, v in self.items():
            yield v

    @property
    def entries(self):
        """The number of (key, value) entries stored."""
        return self._count


cdef class NumericIdMapper(IdMapperBase):
    """Unsigned 64-bit int keys; a lookup gives the first value of the key."""
    def __cinit__(self):
        self._kind = SB_KEYS_UINT64


cdef class NumericIdMultiMapper(NumericIdMapper):
    """Unsigned 64-bit int keys; a lookup gives the list of all values of the key."""
    def __cinit__(self):
        self._multi = True


cdef class StringIdMapper(IdMapperBase):
    """str keys (stored, compared exactly); a lookup gives the first value."""
    def __cinit__(self):
        self._kind = SB_KEYS_STRING


cdef class StringIdMultiMapper(StringIdMapper):
    """str keys; a lookup gives the list of all values of the key."""
    def __cinit__(self):
        self._multi = True


cdef class ApproxStringIdMultiMapper(IdMapperBase):
    """str keys kept as 64-bit hashes only: smaller and faster, but a lookup
    also returns the values of other keys whose hash collides (rare)."""
    def __cinit__(self):
        self._kind = SB_KEYS_HASH
        self._multi = True
