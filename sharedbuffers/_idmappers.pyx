# cython: boundscheck=False, wraparound=False, cdivision=True
"""Id mappers: sorted tables of (key, value) entries read in place.

Keys are unsigned ints, strings (str or bytes, found by their stable hash
and compared exactly, or not at all for the approximate mappers) or any
object with a stable hash (ObjectIdMapper).  The 64-bit classes use 8-byte
keys and values, the *32 ones 4-byte ones.  Layout:
include/sharedbuffers_format.h.
"""
import itertools

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from libc.stdint cimport uint64_t, uint32_t
from libc.stdlib cimport malloc, realloc, free, qsort
from libc.string cimport memcpy, memset, memcmp

from sharedbuffers._structs cimport (
    BufferRef, Packer, at, buffer_ref, load_u64, load_uw, read_size, read_object, stable_hash)
from sharedbuffers._structs import CorruptedBufferError
from sharedbuffers._arrays cimport finish_build, map_whole_file, open_dest, write_out

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *) except NULL
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


cdef object key_bytes(object s, const char **p, Py_ssize_t *n):
    """The bytes of a string key (UTF-8 for str) in p/n; returns an object
    keeping them alive, or None when s is neither str nor bytes."""
    if isinstance(s, bytes):
        p[0] = PyBytes_AS_STRING(s)
        n[0] = PyBytes_GET_SIZE(s)
        return s
    if not isinstance(s, str):
        return None
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
    keep = key_bytes(key, &p, &n)
    if keep is None:
        raise TypeError(f"string_hash() needs str or bytes, not {type(key).__name__}")
    return hash_bytes(p, n)


class _Digest:
    def __init__(self, value):
        self._value = value

    def intdigest(self):
        return self._value


class xxh3_64:
    """The hash of string keys, with the interface of the xxhash package
    (``xxh(data).intdigest()``): what approximate mappers' keys() return."""
    def __new__(cls, data=b""):
        return _Digest(string_hash(data))


class xxh3_64_low32:
    """The hash of string keys in 32-bit id mappers: the low 32 bits of xxh3_64."""
    def __new__(cls, data=b""):
        return _Digest(string_hash(data) & 0xFFFFFFFF)


# ---------------------------------------------------------------- writing

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

    def __cinit__(self, int kind, int width=8, bint discard_duplicates=False,
                  bint discard_duplicate_keys=False):
        self.kind = kind
        self.width = width
        self.discard_duplicates = discard_duplicates
        self.discard_duplicate_keys = discard_duplicate_keys
        self.cap = 1024
        self.entries = <entry_t *>malloc(self.cap * sizeof(entry_t))
        if self.entries == NULL:
            raise MemoryError()
        self.blob = Packer(None, 0)

    def __dealloc__(self):
        free(self.entries)

    cdef entry_t *new_entry(self) except NULL:
        cdef entry_t *e
        if self.count == self.cap:
            e = <entry_t *>realloc(self.entries, 2 * self.cap * sizeof(entry_t))
            if e == NULL:
                raise MemoryError()
            self.entries = e
            self.cap *= 2
        e = &self.entries[self.count]
        e.seq = self.count
        e.koff = e.klen = 0
        self.count += 1
        return e

    cdef int add_raw(self, uint64_t key, uint64_t value) except -1:
        cdef entry_t *e = self.new_entry()
        e.key = key
        e.value = value
        return 0

    cdef int add(self, key, value) except -1:
        cdef entry_t *e
        cdef const char *p
        cdef Py_ssize_t n, start
        cdef uint64_t mask = 0xFFFFFFFF if self.width == 4 else 0xFFFFFFFFFFFFFFFF
        cdef uint64_t v
        if not isinstance(value, int) and hasattr(value, "__index__"):
            value = value.__index__()          # numpy integers
        if not isinstance(value, int):
            raise TypeError(f"id mapper values are ints, not {type(value).__name__}")
        if value < 0 or value > mask:
            raise OverflowError(f"id mapper values are ints in [0, {mask}], not {value!r}")
        v = PyLong_AsUnsignedLongLong(value)
        if self.kind == SB_KEYS_UINT64 or (self.kind == SB_KEYS_HASH and isinstance(key, int)):
            if not isinstance(key, int) and hasattr(key, "__index__"):
                key = key.__index__()
            if not isinstance(key, int):
                raise TypeError(f"numeric id mapper keys are ints, not {type(key).__name__}")
            if key < 0 or key > mask:
                raise OverflowError(f"numeric id mapper keys are ints in [0, {mask}], not {key!r}")
            self.add_raw(PyLong_AsUnsignedLongLong(key), v)
            return 0
        if self.kind == SB_KEYS_OBJECT:
            e = self.new_entry()
            e.key = stable_hash(key) & mask
            start = self.blob.length
            self.blob.pack_object(key, 0)
            e.koff = start
            e.klen = self.blob.length - start
            e.value = v
            return 0
        keep = key_bytes(key, &p, &n)
        if keep is None:
            raise TypeError(f"string id mapper keys are str or bytes, not {type(key).__name__}")
        e = self.new_entry()
        e.key = hash_bytes(p, n) & mask
        e.value = v
        if self.kind == SB_KEYS_STRING:
            start = self.blob.length
            self.blob.put(b"u" if isinstance(key, str) else b"s", 1)
            self.blob.pack_blob(p, n)
            e.koff = start
            e.klen = self.blob.length - start
        return 0

    cdef bint same_key(self, Py_ssize_t i, Py_ssize_t j) noexcept:
        cdef entry_t *x = &self.entries[i]
        cdef entry_t *y = &self.entries[j]
        if x.key != y.key:
            return False
        if self.kind != SB_KEYS_STRING and self.kind != SB_KEYS_OBJECT:
            return True
        if self.kind == SB_KEYS_STRING:     # str and bytes of the same UTF-8 are one key
            return x.klen == y.klen and memcmp(self.blob.data + x.koff + 1, self.blob.data + y.koff + 1,
                                               x.klen - 1) == 0
        return x.klen == y.klen and memcmp(self.blob.data + x.koff, self.blob.data + y.koff, x.klen) == 0

    cdef Py_ssize_t write(self, f) except -1:
        """Write the id mapper to f at its current position; returns its size."""
        cdef sb_idmap_header_t h
        cdef Py_ssize_t n, i, j, k, keys, koffs, vals, blob, size
        cdef uint64_t nkeys = 0, v8
        cdef uint32_t v4
        cdef int width = self.width
        cdef bint first, drop, has_koffs = self.kind == SB_KEYS_STRING or self.kind == SB_KEYS_OBJECT
        cdef uint64_t *kpos       # offset of each entry's key in the distinct-key blob
        cdef Packer out, distinct
        qsort(self.entries, self.count, sizeof(entry_t), cmp_entries)
        kpos = <uint64_t *>malloc((self.count + 1) * sizeof(uint64_t))
        if kpos == NULL:
            raise MemoryError()
        try:
            distinct = Packer(None, 0)
            n = 0                           # entries kept (compacted in place)
            for i in range(self.count):
                if n != i:
                    self.entries[n] = self.entries[i]
                first = True
                drop = False
                j = n - 1
                while j >= 0 and self.entries[j].key == self.entries[n].key:
                    if self.same_key(n, j):
                        first = False
                        kpos[n] = kpos[j]
                        if self.discard_duplicate_keys or (
                                self.discard_duplicates and self.entries[j].value == self.entries[n].value):
                            drop = True
                            break
                    j -= 1
                if drop:
                    continue
                if first:
                    nkeys += 1
                    if has_koffs:
                        kpos[n] = distinct.length
                        distinct.put(self.blob.data + self.entries[n].koff, self.entries[n].klen)
                n += 1
            keys = IDMAP_HEADER
            koffs = keys + width * n
            vals = koffs + (width * n if has_koffs else 0)
            blob = vals + width * n
            size = align8(blob + distinct.length)
            if width == 4 and blob + distinct.length > 0xFFFFFFFF:
                raise OverflowError("a 32-bit id mapper's keys do not fit in 4 GiB: use the 64-bit class")
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
                if width == 4:
                    v4 = <uint32_t>self.entries[i].key
                    memcpy(out.data + keys + 4 * i, &v4, 4)
                    v4 = <uint32_t>self.entries[i].value
                    memcpy(out.data + vals + 4 * i, &v4, 4)
                    if has_koffs:
                        v4 = <uint32_t>(blob + kpos[i])
                        memcpy(out.data + koffs + 4 * i, &v4, 4)
                else:
                    memcpy(out.data + keys + 8 * i, &self.entries[i].key, 8)
                    memcpy(out.data + vals + 8 * i, &self.entries[i].value, 8)
                    if has_koffs:
                        v8 = blob + kpos[i]
                        memcpy(out.data + koffs + 8 * i, &v8, 8)
            memcpy(out.data + blob, distinct.data, distinct.length)
            write_out(f, out)
            return size
        finally:
            free(kpos)


# ---------------------------------------------------------------- reading

cdef class IdMapperBase:
    """Maps keys to unsigned ints, by binary search over a sorted table read in place.

    Use its subclasses: NumericIdMapper, StringIdMapper, ObjectIdMapper, their
    Multi variants (all values of a key), the approximate string multi-mappers
    (key hashes only) and the ``*32`` classes (4-byte keys and values)."""

    @classmethod
    def build(cls, initializer, destfile=None, tempdir=None, discard_duplicates=False,
              discard_duplicate_keys=False, return_mapper=True, read_only=True, **kw):
        """Build from (key, value) pairs (or a dict), then map the result.

        discard_duplicates: store a repeated (key, value) entry once;
        discard_duplicate_keys: store one entry per key (the first)."""
        f, opened = open_dest(destfile, tempdir)
        start = f.tell()
        size = cls._write(f, initializer, discard_duplicates, discard_duplicate_keys)
        return finish_build(cls, f, opened, start, size, return_mapper, read_only)

    @classmethod
    def _writer(cls, bint discard_duplicates=False, bint discard_duplicate_keys=False):
        cdef IdMapperBase proto = cls.__new__(cls)
        if proto._kind == 0:
            raise TypeError("use a concrete id mapper class (StringIdMapper, NumericIdMapper, ...)")
        return IdMapWriter(proto._kind, proto._class_width, discard_duplicates, discard_duplicate_keys)

    @classmethod
    def _write(cls, f, initializer, discard_duplicates=False, discard_duplicate_keys=False):
        cdef IdMapWriter w = cls._writer(discard_duplicates, discard_duplicate_keys)
        if hasattr(initializer, "items"):
            initializer = initializer.items()
        for key, value in initializer:
            w.add(key, value)
        return w.write(f)

    @classmethod
    def merge(cls, parts, destfile=None, tempdir=None, discard_duplicates=False,
              discard_duplicate_keys=False):
        """One id mapper with the entries of all `parts` (mappers of this kind),
        built in parts (to bound memory) and merged: the tables are merged
        without re-reading or re-hashing the keys of numeric and approximate mappers."""
        cdef IdMapWriter w = cls._writer(discard_duplicates, discard_duplicate_keys)
        cdef IdMapperBase p
        cdef Py_ssize_t i
        f, opened = open_dest(destfile, tempdir)
        start = f.tell()
        for p in parts:
            p._check()
            if p._stored == SB_KEYS_UINT64 or (w.kind == SB_KEYS_HASH and p._stored == SB_KEYS_HASH):
                for i in range(p._count):
                    w.add_raw(p._table_key(i), p._value(i))
            else:
                for i in range(p._count):
                    w.add(p._key(i), p._value(i))
        size = w.write(f)
        return finish_build(cls, f, opened, start, size)

    @classmethod
    def map_buffer(cls, buf, Py_ssize_t offset=0):
        cdef IdMapperBase self = cls.__new__(cls)
        self._bind(buffer_ref(buf), offset)
        return self

    @classmethod
    def map_file(cls, fileobj, Py_ssize_t offset=0, size=None, read_only=True):
        cdef IdMapperBase self
        buf, pos = map_whole_file(fileobj, offset, size, read_only)
        self = cls.map_buffer(buf, pos)
        self._file = fileobj
        return self

    map_zipfile = map_file

    cdef int _bind(self, BufferRef b, Py_ssize_t pos) except -1:
        cdef sb_idmap_header_t h
        cdef uint64_t cols
        if self._kind == 0:
            raise TypeError("use a concrete id mapper class (StringIdMapper, NumericIdMapper, ...)")
        memcpy(&h, at(b, pos, IDMAP_HEADER), IDMAP_HEADER)
        if h.magic != SB_IDMAP_MAGIC:
            raise CorruptedBufferError(f"no id mapper at position {pos} (bad magic)")
        if (h.width != 4 and h.width != 8) or h.size > <uint64_t>(b.size - pos) \
                or h.count > h.size // 4 or h.nkeys > h.count \
                or h.key_kind < SB_KEYS_UINT64 or h.key_kind > SB_KEYS_OBJECT:
            raise CorruptedBufferError(f"corrupted or truncated id mapper header at position {pos}")
        cols = 3 if h.key_kind == SB_KEYS_STRING or h.key_kind == SB_KEYS_OBJECT else 2
        if IDMAP_HEADER + cols * h.width * h.count > h.size:
            raise CorruptedBufferError(f"corrupted or truncated id mapper at position {pos}")
        if not (h.key_kind == self._kind or (self._kind == SB_KEYS_HASH and h.key_kind == SB_KEYS_STRING)):
            names = {SB_KEYS_UINT64: "numeric keys (NumericIdMapper)",
                     SB_KEYS_STRING: "string keys (StringIdMapper)",
                     SB_KEYS_HASH: "string key hashes only (ApproxStringIdMultiMapper)",
                     SB_KEYS_OBJECT: "object keys (ObjectIdMapper)"}
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
        self._koffs = self._keys + h.width * h.count
        self._vals = self._koffs + (h.width * h.count if cols == 3 else 0)
        return 0

    cdef int _check(self) except -1:
        if self._buf is None:
            raise ValueError("unbound id mapper (use build, map_file or map_buffer)")
        return 0

    # -- lookups: entry indices

    cdef inline uint64_t _table_key(self, Py_ssize_t i) except? 0xFFFFFFFFFFFFFFFF:
        # checked on every call: Python code run between two calls (a key's
        # comparison) could close the pool a pool-backed table lives in
        return load_uw(at(self._buf, self._keys + i * self._width, self._width), self._width)

    cdef Py_ssize_t _lower_bound(self, uint64_t k) except -1:
        cdef const char *keys = at(self._buf, self._keys, self._width * self._count)
        cdef Py_ssize_t lo = 0, hi = self._count, mid
        if self._width == 8:
            while lo < hi:
                mid = (lo + hi) >> 1
                if load_u64(keys + 8 * mid) < k:
                    lo = mid + 1
                else:
                    hi = mid
        else:
            while lo < hi:
                mid = (lo + hi) >> 1
                if load_uw(keys + 4 * mid, 4) < k:
                    lo = mid + 1
                else:
                    hi = mid
        return lo

    cdef object _prepare(self, key, uint64_t *k, const char **p, Py_ssize_t *n):
        """Turn key into its table key k (and p/n: the bytes of a string key);
        returns an object keeping them alive, or None when key cannot be in the table."""
        cdef uint64_t mask = 0xFFFFFFFF if self._width == 4 else 0xFFFFFFFFFFFFFFFF
        if self._kind == SB_KEYS_UINT64 or (self._kind == SB_KEYS_HASH and not isinstance(key, (str, bytes))):
            if isinstance(key, float) and key.is_integer():
                key = int(key)          # 3.0 finds 3, as in a dict
            elif not isinstance(key, int) and hasattr(key, "__index__"):
                key = key.__index__()
            if not isinstance(key, int) or key < 0 or key > mask:
                return None
            k[0] = PyLong_AsUnsignedLongLong(key)
            return key
        if self._kind == SB_KEYS_OBJECT:
            try:
                k[0] = stable_hash(key) & mask
            except TypeError:
                return None
            return (key,)               # not None, even for the key None
        keep = key_bytes(key, p, n)
        if keep is None:
            return None
        k[0] = hash_bytes(p[0], n[0]) & mask
        return keep

    cdef Py_ssize_t _key_pos(self, Py_ssize_t i) except -1:
        """Position of entry i's key (an object value)."""
        cdef uint64_t off = load_uw(at(self._buf, self._koffs + i * self._width, self._width), self._width)
        if off >= <uint64_t>self._size:
            raise CorruptedBufferError(f"corrupted id mapper: key offset {off} of entry {i}")
        return self._start + off

    cdef bint _matches(self, Py_ssize_t i, object key, const char *p, Py_ssize_t n) except -1:
        cdef Py_ssize_t pos, sn
        if self._kind == SB_KEYS_OBJECT:
            return read_object(self._buf, self._key_pos(i), 0) == key
        if self._kind != SB_KEYS_STRING:
            return True
        pos = self._key_pos(i) + 1          # past the typecode: str and bytes keys match alike
        sn = read_size(self._buf, &pos)
        return sn == n and memcmp(at(self._buf, pos, sn), p, n) == 0

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
        while i < self._count and self._table_key(i) == k:
            if self._matches(i, key, p, n):
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
        while i < self._count and self._table_key(i) == k:
            if self._matches(i, key, p, n):
                out.append(i)
            i += 1
        return out

    cdef uint64_t _value(self, Py_ssize_t i) except? 0xFFFFFFFFFFFFFFFF:
        return load_uw(at(self._buf, self._vals + i * self._width, self._width), self._width)

    cdef bint _is_first(self, Py_ssize_t i) except -1:
        """Whether entry i is the first one of its key (in table order)."""
        cdef uint64_t k
        cdef Py_ssize_t j, a
        at(self._buf, self._keys, self._width * self._count)
        if i == 0:
            return True
        k = self._table_key(i)
        if self._stored != SB_KEYS_STRING and self._stored != SB_KEYS_OBJECT or self._kind == SB_KEYS_HASH:
            return self._table_key(i - 1) != k
        a = self._key_pos(i)
        j = i - 1
        while j >= 0 and self._table_key(j) == k:
            if self._key_pos(j) == a:          # equal keys share their stored bytes
                return False
            j -= 1
        return True

    cdef object _key(self, Py_ssize_t i):
        if self._kind == SB_KEYS_STRING or self._kind == SB_KEYS_OBJECT:
            return read_object(self._buf, self._key_pos(i), 0)
        at(self._buf, self._keys, self._width * self._count)
        return self._table_key(i)

    # -- Python API

    def __len__(self):
        """The number of entries."""
        return self._count

    def __contains__(self, key):
        return self._find(key) >= 0

    def has_key(self, key):
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
        cdef Py_ssize_t i
        if self._multi:
            found = self._find_all(key)
            return [self._value(i) for i in found] if found else default
        i = self._find(key)
        return default if i < 0 else self._value(i)

    def get_iter(self, key):
        """Iterate over the values of key (none if it is missing)."""
        cdef Py_ssize_t i
        for i in self._find_all(key):
            yield self._value(i)

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

    iterkeys = keys
    iteritems = items
    itervalues = values

    @property
    def entries(self):
        """The number of (key, value) entries stored."""
        return self._count

    @property
    def key_count(self):
        """The number of distinct keys (of distinct hashes, for approximate mappers)."""
        return self._nkeys

    @property
    def buf(self):
        """The buffer (bytes, mmap, ...) the table is read from."""
        return self._buf.owner if self._buf is not None else None

    @property
    def fileobj(self):
        return self._file

    @property
    def sliced_buf(self):
        """A memoryview of this id mapper's bytes."""
        self._check()
        return memoryview(self._buf.owner)[self._start:self._start + self._size]

    def copy(self, mkbuf=bytearray):
        """A copy of this mapper in memory (mkbuf: makes the new buffer from the bytes)."""
        self._check()
        return type(self).map_buffer(mkbuf(PyBytes_FromStringAndSize(at(self._buf, self._start, self._size),
                                                                     self._size)))

    def preload(self):
        """Read the whole table once (brings a mapped file's pages into memory)."""
        self._check()
        at(self._buf, self._start, self._size)
        return sum(self._value(i) for i in range(self._count))

    @property
    def _index_data(self):
        """The table as a numpy array of `count` rows: (key, value), or (hash,
        key offset, value) for string and object keys; over the buffer, so a
        writable one (a copy()) can be modified in place."""
        import numpy
        from numpy.lib.stride_tricks import as_strided
        self._check()
        cols = 3 if self._stored == SB_KEYS_STRING or self._stored == SB_KEYS_OBJECT else 2
        base = numpy.frombuffer(self._buf.owner, numpy.uint8, self._width * cols * self._count, self._keys)
        return as_strided(base.view(numpy.uint32 if self._width == 4 else numpy.uint64),
                          shape=(self._count, cols), strides=(self._width, self._width * self._count),
                          writeable=self._buf.writable)

    @property
    def index(self):
        return self._index_data

    def __repr__(self):
        return f"<{type(self).__name__} of {self._count} entries>"


cdef class NumericIdMapper(IdMapperBase):
    """Unsigned 64-bit int keys and values; a lookup gives the first value of the key."""
    def __cinit__(self):
        self._kind = SB_KEYS_UINT64
        self._class_width = 8


cdef class NumericIdMultiMapper(NumericIdMapper):
    """Unsigned 64-bit int keys; a lookup gives the list of all values of the key."""
    def __cinit__(self):
        self._multi = True


cdef class NumericId32Mapper(NumericIdMapper):
    """Unsigned 32-bit int keys and values (smaller tables)."""
    def __cinit__(self):
        self._class_width = 4


cdef class NumericId32MultiMapper(NumericIdMultiMapper):
    """Unsigned 32-bit int keys and values; a lookup gives all values of the key."""
    def __cinit__(self):
        self._class_width = 4


cdef class StringIdMapper(IdMapperBase):
    """str or bytes keys (stored once, compared exactly; a str finds the bytes of its
    UTF-8 and back; keys read back as the type they were stored with); 64-bit values."""
    encode = staticmethod(lambda s: s.encode("utf-8") if isinstance(s, str) else s)
    xxh = xxh3_64

    def __cinit__(self):
        self._kind = SB_KEYS_STRING
        self._class_width = 8


cdef class StringIdMultiMapper(StringIdMapper):
    """str or bytes keys; a lookup gives the list of all values of the key."""
    def __cinit__(self):
        self._multi = True


cdef class StringId32Mapper(StringIdMapper):
    """str or bytes keys, 32-bit hashes and values (smaller tables)."""
    xxh = xxh3_64_low32

    def __cinit__(self):
        self._class_width = 4


cdef class StringId32MultiMapper(StringIdMultiMapper):
    """Like StringIdMultiMapper, with 32-bit hashes and values."""
    xxh = xxh3_64_low32

    def __cinit__(self):
        self._class_width = 4


cdef class ApproxStringIdMultiMapper(IdMapperBase):
    """str or bytes keys kept as 64-bit hashes only: smaller and faster, but a lookup
    also returns the values of other keys whose hash collides (rare).  An int key
    is its own hash."""
    encode = staticmethod(lambda s: s.encode("utf-8") if isinstance(s, str) else s)
    xxh = xxh3_64

    def __cinit__(self):
        self._kind = SB_KEYS_HASH
        self._multi = True
        self._class_width = 8


cdef class ApproxStringId32MultiMapper(ApproxStringIdMultiMapper):
    """Like ApproxStringIdMultiMapper with 32-bit hashes and values (more collisions)."""
    xxh = xxh3_64_low32

    def __cinit__(self):
        self._class_width = 4


cdef class ObjectIdMapper(IdMapperBase):
    """Keys of any type with a stable hash (None, numbers, str, bytes, tuples and
    frozensets of these), compared by equality; 64-bit values."""
    def __cinit__(self):
        self._kind = SB_KEYS_OBJECT
        self._class_width = 8
