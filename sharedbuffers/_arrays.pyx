# cython: boundscheck=False, wraparound=False, cdivision=True
"""Mapped arrays of structs, and the file plumbing every mapped collection uses.

An array is built by streaming an iterable into a file (records are written
as they come; only their offsets stay in memory) and read by mapping the file
or a buffer.  Layout: include/sharedbuffers_format.h.
"""
import mmap
import os
import tempfile

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uint64_t, uint32_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memset

from sharedbuffers._structs cimport BufferRef, Packer, Schema, StructProxy, at, buffer_ref, load_uw, make_proxy
from sharedbuffers._structs import CorruptedBufferError

cdef extern from "sharedbuffers_format.h":
    enum:
        SB_ARRAY_MAGIC
        SB_POOLED_ARRAY
    ctypedef struct sb_array_header_t:
        uint64_t magic
        uint64_t count
        uint64_t index_pos
        uint64_t size
        uint32_t index_width
        uint32_t reserved

cdef enum:
    CHUNK = 1 << 20     # bytes packed in memory before they are written out

cdef Py_ssize_t ARRAY_HEADER = sizeof(sb_array_header_t)


# ---------------------------------------------------------------- files

cdef object open_dest(destfile, tempdir):
    """(file object, whether we opened it) for a build's output."""
    if destfile is None:
        return tempfile.TemporaryFile(dir=tempdir), True
    if isinstance(destfile, (str, bytes, os.PathLike)):
        return open(destfile, "w+b"), True
    return destfile, False


cdef object map_whole_file(fileobj, Py_ssize_t offset, size):
    """A read-only mmap of fileobj (a file object or a path) covering [0, offset+size)."""
    if isinstance(fileobj, (str, bytes, os.PathLike)):
        with open(fileobj, "rb") as f:
            return map_whole_file(f, offset, size)
    if hasattr(fileobj, "flush"):
        fileobj.flush()
    fd = fileobj.fileno()
    total = os.fstat(fd).st_size
    if offset < 0 or offset >= total:
        raise CorruptedBufferError(
            f"{getattr(fileobj, 'name', fd)!r}: offset {offset} is outside the file "
            f"of {total} bytes (empty or truncated file?)")
    length = 0
    if size is not None:
        if size < 0 or offset + size > total:
            raise CorruptedBufferError(
                f"{getattr(fileobj, 'name', fd)!r}: {size} bytes at offset {offset} do not "
                f"fit in the file of {total} bytes (truncated file?)")
        length = offset + size
    return mmap.mmap(fd, length, access=mmap.ACCESS_READ)


cdef int write_out(f, Packer pk) except -1:
    """Write the bytes packed so far to f and forget them."""
    if pk.length:
        f.write(PyBytes_FromStringAndSize(pk.data, pk.length))
    pk.drop()
    return 0


cdef object finish_build(cls, f, bint opened, Py_ssize_t start, Py_ssize_t size):
    f.flush()
    try:
        return cls.map_file(f, start, size)
    finally:
        if opened:
            f.close()


cdef object build_in_pool(pool, cls, int kind, writer, tempdir):
    """Build with writer(f) into a temporary file, then copy into a pool allocation."""
    from sharedbuffers import _pooled
    with tempfile.TemporaryFile(dir=tempdir) as f:
        size = writer(f)
        f.flush()
        data = map_whole_file(f, 0, size)
        try:
            return _pooled.store_packed(pool, kind, cls, data)
        finally:
            data.close()



# ---------------------------------------------------------------- arrays

cdef class ArrayWriter:
    """Streams the records of one schema into a file: header, records, index."""

    def __cinit__(self, f, Schema schema, dict idmap=None):
        if not isinstance(schema, Schema):
            raise TypeError("the array class needs a `schema` attribute (a mapped_struct.Schema)")
        self.f = f
        self.schema = schema
        self.idmap = idmap
        self.start = f.tell()
        self.pk = Packer(idmap, 0)
        memset(self.pk.data + self.pk.reserve(ARRAY_HEADER), 0, ARRAY_HEADER)
        self.cap = 1024
        self.offs = <uint64_t *>malloc(self.cap * sizeof(uint64_t))
        if self.offs == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.offs)

    cdef Py_ssize_t add(self, obj) except -1:
        """Append obj (None allowed); returns its index."""
        cdef uint64_t off = 0
        cdef uint64_t *o
        if obj is not None:
            found = self.idmap.get(id(obj)) if self.idmap is not None else None
            if found is not None:
                off = found
            else:
                off = self.pk.base + self.pk.pack_struct(self.schema, obj, 0)
        if self.count == self.cap:
            o = <uint64_t *>realloc(self.offs, 2 * self.cap * sizeof(uint64_t))
            if o == NULL:
                raise MemoryError()
            self.offs = o
            self.cap *= 2
        self.offs[self.count] = off
        self.count += 1
        if self.pk.length >= CHUNK:
            write_out(self.f, self.pk)
        return self.count - 1

    cdef Py_ssize_t finish(self) except -1:
        """Write the index and the header; returns the array's size in bytes."""
        cdef sb_array_header_t h
        cdef Py_ssize_t i, pos
        cdef uint32_t o4
        self.pk.align(8)
        h.magic = SB_ARRAY_MAGIC
        h.count = self.count
        h.index_pos = self.pk.base + self.pk.length
        h.index_width = 4 if h.index_pos <= 0xFFFFFFFF else 8
        h.reserved = 0
        pos = self.pk.reserve(h.index_width * self.count)
        if h.index_width == 4:
            for i in range(self.count):
                o4 = <uint32_t>self.offs[i]
                memcpy(self.pk.data + pos + 4 * i, &o4, 4)
        else:
            memcpy(self.pk.data + pos, self.offs, 8 * self.count)
        self.pk.align(8)
        h.size = self.pk.base + self.pk.length
        if self.pk.base == 0:       # all still in memory: no need to seek back
            memcpy(self.pk.data, &h, ARRAY_HEADER)
            write_out(self.f, self.pk)
        else:
            write_out(self.f, self.pk)
            self.f.seek(self.start)
            self.f.write(PyBytes_FromStringAndSize(<char *>&h, ARRAY_HEADER))
            self.f.seek(self.start + h.size)
        return h.size


cdef class MappedArrayProxyBase:
    """An array of structs of the class attribute `schema`, read in place.

    Subclass it with `schema = SomeSchema`; build with `build()`, read with
    `map_file()` / `map_buffer()`.  Items read as proxies (None stays None)."""

    @classmethod
    def build(cls, initializer, destfile=None, tempdir=None, idmap=None, pool=None):
        """Pack the items of `initializer` (streamed, one at a time) and map the result.

        destfile: a file object (written at its current position), a path, or
        None for a temporary file.  idmap: a dict for deduplicating shared
        sub-objects by id() (keep them alive while it is in use).  pool: build
        into a pmemobj pool allocation instead (returns the persistent object)."""
        if pool is not None:
            return build_in_pool(pool, cls, SB_POOLED_ARRAY, lambda f: cls._write(f, initializer, idmap), tempdir)
        f, opened = open_dest(destfile, tempdir)
        start = f.tell()
        size = cls._write(f, initializer, idmap)
        return finish_build(cls, f, opened, start, size)

    @classmethod
    def _write(cls, f, initializer, idmap=None):
        """Write the array to file f at its current position; returns its size."""
        cdef ArrayWriter w = ArrayWriter(f, getattr(cls, "schema", None), idmap)
        for obj in initializer:
            w.add(obj)
        return w.finish()

    @classmethod
    def map_buffer(cls, buf, Py_ssize_t offset=0):
        """The array packed at `offset` of `buf` (any buffer: bytes, bytearray, mmap)."""
        cdef MappedArrayProxyBase self = cls.__new__(cls)
        self._bind(buffer_ref(buf), offset)
        return self

    @classmethod
    def map_file(cls, fileobj, Py_ssize_t offset=0, size=None):
        """The array in `fileobj` (a file object or a path) at `offset`, mapped read-only.

        Processes mapping the same file share its pages."""
        return cls.map_buffer(map_whole_file(fileobj, offset, size), offset)

    cdef int _bind(self, BufferRef b, Py_ssize_t pos) except -1:
        cdef sb_array_header_t h
        schema = getattr(type(self), "schema", None)
        if not isinstance(schema, Schema):
            raise TypeError(f"{type(self).__name__} needs a `schema` attribute (a mapped_struct.Schema)")
        memcpy(&h, at(b, pos, ARRAY_HEADER), ARRAY_HEADER)
        if h.magic != SB_ARRAY_MAGIC:
            raise CorruptedBufferError(f"no mapped array at position {pos} (bad magic)")
        if (h.index_width != 4 and h.index_width != 8) or h.size > <uint64_t>(b.size - pos) \
                or h.index_pos > h.size or h.count > (h.size - h.index_pos) // h.index_width:
            raise CorruptedBufferError(f"corrupted or truncated mapped array header at position {pos}")
        self._buf = b
        self._start = pos
        self._count = h.count
        self._index = pos + h.index_pos
        self._size = h.size
        self._width = h.index_width
        self._schema = schema
        return 0

    cdef Py_ssize_t _item_pos(self, Py_ssize_t i) except -2:
        """Position of item i in the buffer, or -1 for None."""
        cdef uint64_t off = load_uw(at(self._buf, self._index + i * self._width, self._width), self._width)
        if off == 0:
            return -1
        if off >= <uint64_t>self._size:
            raise CorruptedBufferError(f"corrupted mapped array: item {i} at offset {off}")
        return self._start + off

    cdef object _item(self, Py_ssize_t i, StructProxy into):
        cdef Py_ssize_t pos
        if self._buf is None:
            raise ValueError("unbound mapped array (use build, map_file or map_buffer)")
        pos = self._item_pos(i)
        if pos < 0:
            return None
        return make_proxy(self._schema, self._buf, pos, into)

    def __len__(self):
        return self._count

    def __getitem__(self, index):
        cdef Py_ssize_t i
        if isinstance(index, slice):
            return [self._item(i, None) for i in range(*index.indices(self._count))]
        i = index
        if i < 0:
            i += self._count
        if i < 0 or i >= self._count:
            raise IndexError("mapped array index out of range")
        return self._item(i, None)

    def __iter__(self):
        cdef Py_ssize_t i
        for i in range(self._count):
            yield self._item(i, None)

    def iter_fast(self):
        """Iterate with one proxy rebound to each item in turn (for hot loops:
        keep no reference to an item past its step)."""
        cdef Py_ssize_t i
        cdef StructProxy p = None
        for i in range(self._count):
            item = self._item(i, p)
            if item is not None:
                p = item
            yield item

    def getter(self, proxy_into=None):
        """A function get(i) returning item i through one reused proxy
        (proxy_into, or one made on first use)."""
        return ArrayGetter(self, proxy_into)

    @property
    def buffer(self):
        """The object whose bytes this array reads (bytes, mmap, ...)."""
        return self._buf.owner if self._buf is not None else None

    def __repr__(self):
        return f"<{type(self).__name__} of {self._count} items>"


cdef class ArrayGetter:
    cdef MappedArrayProxyBase arr
    cdef StructProxy proxy

    def __cinit__(self, MappedArrayProxyBase arr, StructProxy proxy_into=None):
        self.arr = arr
        self.proxy = proxy_into

    def __call__(self, Py_ssize_t i):
        cdef MappedArrayProxyBase a = self.arr
        if i < 0:
            i += a._count
        if i < 0 or i >= a._count:
            raise IndexError("mapped array index out of range")
        item = a._item(i, self.proxy)
        if item is not None:
            self.proxy = item
        return item
