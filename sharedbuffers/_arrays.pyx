# cython: boundscheck=False, wraparound=False, cdivision=True
"""Mapped arrays of structs, and the file plumbing every mapped collection uses.

An array is built by streaming an iterable into a file (records are written
as they come; only their offsets stay in memory) and read by mapping the file
or a buffer.  Layout: include/sharedbuffers_format.h.
"""
import io
import mmap
import os
import pickle
import sys
import tempfile
import zipfile

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uint64_t, uint32_t, uint16_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memset

from sharedbuffers._structs cimport (
    BufferRef, Packer, Schema, StructProxy, at, buffer_ref, load_uw, make_proxy, read_size)
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
        uint64_t schema_pos
        uint32_t index_width
        uint16_t version
        uint16_t min_reader

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


cdef object zip_member_file(fileobj, Py_ssize_t *offset, size):
    """The file and offset an uncompressed zip member is stored at (mapped in
    place), or None when it cannot be mapped (compressed, encrypted)."""
    shared = getattr(fileobj, "_fileobj", None)
    raw = getattr(shared, "_file", None)
    if getattr(fileobj, "_compress_type", None) != zipfile.ZIP_STORED \
            or getattr(fileobj, "_decrypter", None) is not None or raw is None:
        return None
    offset[0] += shared.tell()
    return raw


cdef object map_whole_file(fileobj, Py_ssize_t offset, size, bint read_only=True):
    """A mmap of fileobj (a file object or a path) covering [0, offset+size), and the
    offset of the data in it.  A zip member is mapped in place when stored
    uncompressed, else read into memory."""
    cdef Py_ssize_t member_offset = offset
    if isinstance(fileobj, (str, bytes, os.PathLike)):
        with open(fileobj, "rb" if read_only else "r+b") as f:
            return map_whole_file(f, offset, size, read_only)
    if isinstance(fileobj, zipfile.ZipExtFile):
        raw = zip_member_file(fileobj, &member_offset, size)
        if raw is None:
            data = fileobj.read()
            return (bytes(data) if read_only else bytearray(data)), offset
        if size is None:
            size = fileobj._orig_compress_size - offset
        return map_whole_file(raw, member_offset, size, read_only)
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
    return mmap.mmap(fd, length, access=mmap.ACCESS_READ if read_only else mmap.ACCESS_WRITE), offset


cdef int write_out(f, Packer pk) except -1:
    """Write the bytes packed so far to f and forget them."""
    if pk.length:
        f.write(PyBytes_FromStringAndSize(pk.data, pk.length))
    pk.drop()
    return 0


cdef object finish_build(cls, f, bint opened, Py_ssize_t start, Py_ssize_t size,
                         bint return_mapper=True, bint read_only=True):
    """Map what was built (or, return_mapper False, return the file position after it)."""
    f.flush()
    try:
        if not return_mapper:
            return start + size
        return cls.map_file(f, start, size, read_only=read_only)
    finally:
        if opened:
            f.close()


cdef object build_in_pool(pool, cls, int kind, writer, tempdir):
    """Build with writer(f) into a temporary file, then copy into a pool allocation."""
    from sharedbuffers import _pooled
    with tempfile.TemporaryFile(dir=tempdir) as f:
        size = writer(f)
        f.flush()
        data, _ = map_whole_file(f, 0, size)
        try:
            return _pooled.store_packed(pool, kind, cls, data)
        finally:
            data.close()



# ---------------------------------------------------------------- arrays

cdef class ArrayWriter:
    """Streams the records of one schema into a file: header, records, index."""

    def __cinit__(self, f, Schema schema, idmap=None, int version=2, int min_reader=2):
        if not isinstance(schema, Schema):
            raise TypeError("the array class needs a `schema` attribute (a mapped_struct.Schema)")
        self.version = version
        self.min_reader = min_reader
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
        """Write the index, the schema and the header; returns the array's size in bytes."""
        cdef sb_array_header_t h
        cdef Py_ssize_t i, pos
        cdef uint32_t o4
        self.pk.align(8)
        h.magic = SB_ARRAY_MAGIC
        h.count = self.count
        h.index_pos = self.pk.base + self.pk.length
        h.index_width = 4 if h.index_pos <= 0xFFFFFFFF else 8
        h.version = self.version
        h.min_reader = self.min_reader
        pos = self.pk.reserve(h.index_width * self.count)
        if h.index_width == 4:
            for i in range(self.count):
                o4 = <uint32_t>self.offs[i]
                memcpy(self.pk.data + pos + 4 * i, &o4, 4)
        else:
            memcpy(self.pk.data + pos, self.offs, 8 * self.count)
        h.schema_pos = 0
        try:
            blob = pickle.dumps(self.schema, 4)
        except (pickle.PicklingError, AttributeError, TypeError):
            blob = None         # e.g. a struct type defined in a function: readers need the schema
        if blob is not None:
            h.schema_pos = self.pk.base + self.pk.length
            self.pk.pack_blob(blob, len(blob))
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


class _SchemaUnpickler(pickle.Unpickler):
    """Unpickles an embedded schema: only classes (and sharedbuffers' own
    functions) of modules already imported, never other callables, so mapping
    a file runs no code it names."""

    def find_class(self, module, name):
        mod = sys.modules.get(module)
        if mod is None:
            raise pickle.UnpicklingError(f"embedded schema needs module {module!r}, not imported")
        obj = mod
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, type) or (callable(obj) and module.startswith("sharedbuffers.")
                                      and name in ("_rebuild_schema", "_unpickle_proxy")):
            return obj
        raise pickle.UnpicklingError(f"embedded schema names {module}.{name}, which is not a class")


cdef Schema embedded_schema(BufferRef b, Py_ssize_t pos):
    cdef Py_ssize_t n = read_size(b, &pos)
    data = PyBytes_FromStringAndSize(at(b, pos, n), n)
    try:
        schema = _SchemaUnpickler(io.BytesIO(data)).load()
    except Exception as e:
        raise CorruptedBufferError(f"the array's embedded schema cannot be read: {e}") from None
    if not isinstance(schema, Schema):
        raise CorruptedBufferError("the array's embedded schema is not a Schema")
    return schema


cdef class MappedArrayProxyBase:
    """An array of structs of the class attribute `schema`, read in place.

    Subclass it with `schema = SomeSchema`; build with `build()`, read with
    `map_file()` / `map_buffer()`.  Items read as proxies (None stays None)."""

    _CURRENT_VERSION = 2
    _CURRENT_MINIMUM_READER_VERSION = 2

    @classmethod
    def build(cls, initializer, destfile=None, tempdir=None, idmap=None, return_mapper=True,
              read_only=True, pool=None):
        """Pack the items of `initializer` (streamed, one at a time) and map the result.

        destfile: a file object (written at its current position), a path, or
        None for a temporary file.  idmap: a dict for deduplicating shared
        sub-objects by id() (kept alive while the build runs).  return_mapper
        False: return the file position after the array instead.  read_only
        False: map it writable.  pool: build into a pmemobj pool allocation
        instead (returns the persistent object)."""
        if pool is not None:
            return build_in_pool(pool, cls, SB_POOLED_ARRAY, lambda f: cls._write(f, initializer, idmap), tempdir)
        f, opened = open_dest(destfile, tempdir)
        start = f.tell()
        size = cls._write(f, initializer, idmap)
        return finish_build(cls, f, opened, start, size, return_mapper, read_only)

    @classmethod
    def _write(cls, f, initializer, idmap=None):
        """Write the array to file f at its current position; returns its size."""
        cdef ArrayWriter w = ArrayWriter(f, getattr(cls, "schema", None), idmap,
                                         cls._CURRENT_VERSION, cls._CURRENT_MINIMUM_READER_VERSION)
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
    def map_file(cls, fileobj, Py_ssize_t offset=0, size=None, read_only=True):
        """The array in `fileobj` (a file object, a path or a zip member) at `offset`,
        mapped (read_only False: writable, so proxies can assign numeric slots).

        Processes mapping the same file share its pages."""
        buf, pos = map_whole_file(fileobj, offset, size, read_only)
        return cls.map_buffer(buf, pos)

    map_zipfile = map_file

    cdef int _bind(self, BufferRef b, Py_ssize_t pos) except -1:
        cdef sb_array_header_t h
        cdef Schema schema
        memcpy(&h, at(b, pos, ARRAY_HEADER), ARRAY_HEADER)
        if h.magic != SB_ARRAY_MAGIC:
            raise CorruptedBufferError(f"no mapped array at position {pos} (bad magic)")
        if (h.index_width != 4 and h.index_width != 8) or h.size > <uint64_t>(b.size - pos) \
                or h.index_pos > h.size or h.count > (h.size - h.index_pos) // h.index_width \
                or h.schema_pos >= h.size:
            raise CorruptedBufferError(f"corrupted or truncated mapped array header at position {pos}")
        if h.min_reader > type(self)._CURRENT_VERSION:
            raise ValueError(f"this mapped array needs a reader of version {h.min_reader} or newer "
                             f"(this one is version {type(self)._CURRENT_VERSION})")
        schema = getattr(type(self), "schema", None)
        if schema is None and h.schema_pos:
            schema = embedded_schema(b, pos + h.schema_pos)
        if not isinstance(schema, Schema):
            raise TypeError(f"{type(self).__name__} needs a `schema` attribute (a mapped_struct.Schema)")
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

    def iter_fast(self, mask=None):
        """Iterate with one proxy rebound to each item in turn (for hot loops:
        keep no reference to an item past its step).  mask: only the items
        whose mask entry is true."""
        cdef Py_ssize_t i
        cdef StructProxy p = None
        for i in range(self._count):
            if mask is not None and not mask[i]:
                continue
            item = self._item(i, p)
            if item is not None:
                p = item
            yield item

    def getter(self, proxy_into=None, no_idmap=False):
        """A function get(i) returning item i through one reused proxy
        (proxy_into, or one made on first use)."""
        return ArrayGetter(self, proxy_into)

    @property
    def buffer(self):
        """The object whose bytes this array reads (bytes, mmap, ...)."""
        return self._buf.owner if self._buf is not None else None

    @property
    def schema_of_data(self):
        """The schema the items are read with (the class's, or the embedded one)."""
        return self._schema

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
