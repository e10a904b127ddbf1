# cython: boundscheck=False, wraparound=False, cdivision=True
"""Mappings from keys to structs: a value array and an id mapper in one buffer.

Built by streaming (key, value) pairs: values are packed into the array as
they come, keys are collected and sorted into the id mapper at the end.
Layout: include/sharedbuffers_format.h.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

from sharedbuffers._structs cimport BufferRef, at, buffer_ref
from sharedbuffers._structs import CorruptedBufferError
from sharedbuffers._arrays cimport (
    ArrayWriter, MappedArrayProxyBase, build_in_pool, finish_build, map_whole_file, open_dest)
from sharedbuffers._idmappers cimport IdMapWriter, IdMapperBase

cdef extern from "sharedbuffers_format.h":
    enum:
        SB_MAPPING_MAGIC
        SB_POOLED_MAPPING
    ctypedef struct sb_mapping_header_t:
        uint64_t magic
        uint64_t size
        uint64_t values_pos
        uint64_t idmap_pos

cdef Py_ssize_t MAPPING_HEADER = sizeof(sb_mapping_header_t)


# ---------------------------------------------------------------- mappings

cdef class MappedMappingProxyBase:
    """A mapping from keys to structs: an `IdMapper` class (keys to indices) and
    a `ValueArray` class (a MappedArrayProxyBase subclass) as class attributes.

    A lookup gives the first value stored for the key; see
    MappedMultiMappingProxyBase for all of them (same format)."""

    cdef BufferRef _buf
    cdef Py_ssize_t _start
    cdef MappedArrayProxyBase _values
    cdef IdMapperBase _ids
    cdef bint _multi

    @classmethod
    def build(cls, initializer, destfile=None, tempdir=None, idmap=None, return_mapper=True,
              read_only=True, id_mapper_kwargs=None, pool=None, **kw):
        """Build from (key, value) pairs or a dict, streaming the values; map the result.

        With an idmap, a value object met again (same id()) is stored once, in
        one array slot.  id_mapper_kwargs: build options of the id mapper
        (discard_duplicates, discard_duplicate_keys).  See
        MappedArrayProxyBase.build for destfile, tempdir, return_mapper,
        read_only and pool."""
        opts = dict(id_mapper_kwargs or {})
        if pool is not None:
            return build_in_pool(pool, cls, SB_POOLED_MAPPING,
                                 lambda f: cls._write(f, initializer, idmap, opts), tempdir)
        f, opened = open_dest(destfile, tempdir)
        start = f.tell()
        size = cls._write(f, initializer, idmap, opts)
        return finish_build(cls, f, opened, start, size, return_mapper, read_only)

    @classmethod
    def _write(cls, f, initializer, idmap=None, id_mapper_kwargs=None):
        cdef sb_mapping_header_t h
        cdef IdMapWriter ids = cls.IdMapper._writer(**(id_mapper_kwargs or {}))
        cdef ArrayWriter values
        cdef Py_ssize_t start = f.tell(), pos
        cdef dict slots = {} if idmap is not None else None     # id(value) -> its array index
        if not issubclass(cls.ValueArray, MappedArrayProxyBase):
            raise TypeError(f"{cls.__name__}.ValueArray must be a MappedArrayProxyBase subclass")
        f.write(bytes(MAPPING_HEADER))
        values = ArrayWriter(f, getattr(cls.ValueArray, "schema", None), idmap,
                             cls.ValueArray._CURRENT_VERSION, cls.ValueArray._CURRENT_MINIMUM_READER_VERSION)
        if hasattr(initializer, "items"):
            initializer = initializer.items()
        for key, value in initializer:
            if slots is None:
                ids.add(key, values.add(value))
            else:
                slot = slots.get(id(value))
                if slot is None:
                    slot = slots[id(value)] = values.add(value)    # the array keeps value alive
                ids.add(key, slot)
        h.magic = SB_MAPPING_MAGIC
        h.values_pos = MAPPING_HEADER
        h.idmap_pos = h.values_pos + values.finish()
        h.size = h.idmap_pos + ids.write(f)
        f.seek(start)
        f.write(PyBytes_FromStringAndSize(<char *>&h, MAPPING_HEADER))
        f.seek(start + h.size)
        return h.size

    @classmethod
    def map_buffer(cls, buf, Py_ssize_t offset=0):
        cdef MappedMappingProxyBase self = cls.__new__(cls)
        self._bind(buffer_ref(buf), offset)
        return self

    @classmethod
    def map_file(cls, fileobj, Py_ssize_t offset=0, size=None, read_only=True):
        buf, pos = map_whole_file(fileobj, offset, size, read_only)
        return cls.map_buffer(buf, pos)

    map_zipfile = map_file

    cdef int _bind(self, BufferRef b, Py_ssize_t pos) except -1:
        cdef sb_mapping_header_t h
        cdef MappedArrayProxyBase values
        cdef IdMapperBase ids
        memcpy(&h, at(b, pos, MAPPING_HEADER), MAPPING_HEADER)
        if h.magic != SB_MAPPING_MAGIC:
            raise CorruptedBufferError(f"no mapped mapping at position {pos} (bad magic)")
        if h.size > <uint64_t>(b.size - pos) or h.values_pos >= h.size or h.idmap_pos >= h.size:
            raise CorruptedBufferError(f"corrupted or truncated mapping header at position {pos}")
        values = type(self).ValueArray.__new__(type(self).ValueArray)
        values._bind(b, pos + h.values_pos)
        ids = type(self).IdMapper.__new__(type(self).IdMapper)
        ids._bind(b, pos + h.idmap_pos)
        self._buf = b
        self._start = pos
        self._values = values
        self._ids = ids
        return 0

    cdef int _check(self) except -1:
        if self._buf is None:
            raise ValueError("unbound mapping (use build, map_file or map_buffer)")
        return 0

    cdef object _value_of(self, Py_ssize_t entry):
        cdef uint64_t idx = self._ids._value(entry)
        if idx >= <uint64_t>self._values._count:
            raise CorruptedBufferError(f"corrupted mapping: value index {idx} out of range")
        return self._values._item(idx, None)

    def __len__(self):
        """The number of values (as upstream: the length of the value array)."""
        return self._values._count if self._values is not None else 0

    def __contains__(self, key):
        self._check()
        return self._ids._find(key) >= 0

    def __getitem__(self, key):
        cdef Py_ssize_t i
        self._check()
        if self._multi:
            found = self._ids._find_all(key)
            if not found:
                raise KeyError(key)
            return [self._value_of(i) for i in found]
        i = self._ids._find(key)
        if i < 0:
            raise KeyError(key)
        return self._value_of(i)

    def get(self, key, default=None):
        cdef Py_ssize_t i
        self._check()
        if self._multi:
            found = self._ids._find_all(key)
            return [self._value_of(i) for i in found] if found else default
        i = self._ids._find(key)
        return default if i < 0 else self._value_of(i)

    def get_iter(self, key):
        """Iterate over all the values of key (none if it is missing)."""
        cdef Py_ssize_t i
        self._check()
        for i in self._ids._find_all(key):
            yield self._value_of(i)

    def __iter__(self):
        return self.keys()

    def keys(self):
        """The distinct keys (approximate mappings: their hashes), in table order
        (ascending number, or string hash)."""
        self._check()
        return self._ids.keys()

    def items(self):
        """(key, value) pairs: every entry for multi-maps, else one per key."""
        cdef Py_ssize_t i
        self._check()
        for i in range(self._ids._count):
            if self._multi or self._ids._is_first(i):
                yield self._ids._key(i), self._value_of(i)

    def values(self):
        for k, v in self.items():
            yield v

    iterkeys = keys
    iteritems = items
    itervalues = values

    def has_key(self, key):
        return key in self

    @property
    def id_mapper(self):
        return self._ids

    @property
    def value_array(self):
        return self._values

    def __repr__(self):
        return f"<{type(self).__name__} of {len(self)} values>"


cdef class MappedMultiMappingProxyBase(MappedMappingProxyBase):
    """A multi-map: a lookup gives the list of all values stored for the key.
    Same format as MappedMappingProxyBase (the two can read each other's files)."""
    def __cinit__(self):
        self._multi = True
