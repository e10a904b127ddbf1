# Mapped arrays and the file helpers of the mapped collections (see _arrays.pyx).
from libc.stdint cimport uint64_t
from sharedbuffers._structs cimport BufferRef, Packer, Schema, StructProxy

cdef object open_dest(destfile, tempdir)
cdef object map_whole_file(fileobj, Py_ssize_t offset, size, bint read_only=*)
cdef int write_out(f, Packer pk) except -1
cdef object finish_build(cls, f, bint opened, Py_ssize_t start, Py_ssize_t size,
                         bint return_mapper=*, bint read_only=*)
cdef object build_in_pool(pool, cls, int kind, writer, tempdir)


cdef class ArrayWriter:
    cdef object f
    cdef Schema schema
    cdef Packer pk          # position 0 is the array's first byte
    cdef Py_ssize_t start   # file position of the array
    cdef uint64_t *offs     # offset of each item (0: None)
    cdef Py_ssize_t count
    cdef Py_ssize_t cap
    cdef object idmap
    cdef int version
    cdef int min_reader
    cdef Py_ssize_t add(self, obj) except -1
    cdef Py_ssize_t finish(self) except -1


cdef class MappedArrayProxyBase:
    cdef BufferRef _buf
    cdef Py_ssize_t _start      # positions in the buffer
    cdef Py_ssize_t _count
    cdef Py_ssize_t _index
    cdef Py_ssize_t _size
    cdef int _width
    cdef Schema _schema
    cdef int _bind(self, BufferRef b, Py_ssize_t pos) except -1
    cdef Py_ssize_t _item_pos(self, Py_ssize_t i) except -2
    cdef object _item(self, Py_ssize_t i, StructProxy into)
