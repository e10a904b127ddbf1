# cython: boundscheck=False, wraparound=False, cdivision=True
"""PersistentTuple: an immutable sequence stored in a pool.

Layout (include/pyp_list.h): the header, the size and the value slots inline,
in one allocation written once, when the tuple is created.  It is equal to the
builtin tuple with equal items and hashes like it: ``hash(t) ==
hash(tuple(t))``, and the pool's stable hash of it equals that of the tuple,
so the two are interchangeable as keys of persistent dicts and sets.
Slicing, ``+`` and ``*`` return builtin tuples.
"""
import collections.abc

from cpython.ref cimport PyObject
from libc.stdint cimport uint64_t, int64_t

from pmemobj._core cimport (MemoryManager, PersistentBase, pyp_header_t, pyp_slot_t, visit_fn,
                            register_traverse, visit_slots)
from pmemobj._core import InvalidPoolError

cdef extern from "Python.h":
    bint PyIndex_Check(object)
    Py_ssize_t PyNumber_AsSsize_t(object, PyObject *) except? -1
    bint PySlice_Check(object)
    int PySlice_Unpack(object, Py_ssize_t *, Py_ssize_t *, Py_ssize_t *) except -1
    Py_ssize_t PySlice_AdjustIndices(Py_ssize_t, Py_ssize_t *, Py_ssize_t *, Py_ssize_t)
    const Py_ssize_t PY_SSIZE_T_MAX

cdef extern from "pyp_list.h":
    ctypedef struct pyp_tuple_t:
        pyp_header_t h
        uint64_t size
        pyp_slot_t items[1]

cdef enum:
    SLOT = sizeof(pyp_slot_t)
    FIXED = sizeof(pyp_header_t) + 8      # header and size, before the slots

EINVAL = 22


cdef pyp_tuple_t *_checked(MemoryManager mm, uint64_t off) except NULL:
    """The tuple at `off`, checked to hold its `size` slots."""
    cdef pyp_tuple_t *t = <pyp_tuple_t *>mm.obj(off, FIXED)
    if t.size > (mm.usable_size(off) - FIXED) // SLOT:
        raise InvalidPoolError(EINVAL, f"damaged pool: PersistentTuple at 0x{off:x} overruns its allocation",
                               mm.filename)
    return t


cdef int _tuple_traverse(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    cdef pyp_tuple_t *t = _checked(mm, off)
    visit_slots(t.items, t.size, visit, ctx)
    return 0

include "_sequence.pxi"


cdef class PersistentTuple(PersistentBase):
    """PersistentTuple([iterable]): an immutable :class:`tuple` stored in a pool.

    Create one with ``pool.new(PersistentTuple, iterable)``."""
    cdef bint pending        # p_new ran but __init__ has not: the size is not known yet
    cdef uint64_t valid_off  # volatile: the offset whose allocation was checked

    cdef int p_new(self, MemoryManager mm) except -1:
        # The allocation needs the number of items, which __init__ receives.
        self.mm = mm
        self.pending = True
        return 0

    def __init__(self, iterable=()):
        cdef MemoryManager mm = self.mm
        cdef Py_ssize_t n, i
        cdef uint64_t off
        cdef pyp_tuple_t *t
        if mm is None:
            raise TypeError("PersistentTuple objects are created with pool.new(PersistentTuple, iterable)")
        if not self.pending:
            raise TypeError("PersistentTuple is immutable: __init__ cannot change it")
        items = tuple(iterable)
        n = len(items)
        mm.begin()
        try:
            off = mm.new_object(type(self), FIXED + n * SLOT)     # zeroed: every slot empty
            t = <pyp_tuple_t *>mm.obj(off, FIXED + n * SLOT)
            for i in range(n):
                mm.init_slot(&t.items[i], items[i])
            t.size = n
            mm.adopt(self, off)
            self.pending = False
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)

    cdef inline pyp_tuple_t *_head(self) except NULL:
        # off is reset to 0 when the object is freed, its transaction aborted or the pool closed
        if self.off != 0 and self.off == self.valid_off:
            return <pyp_tuple_t *>(self.mm.base + self.off)
        self.addr(FIXED)
        cdef pyp_tuple_t *t = _checked(self.mm, self.off)
        self.valid_off = self.off
        return t

    cdef tuple _totuple(self):
        cdef pyp_tuple_t *t = self._head()
        cdef uint64_t i, n = t.size
        out = [None] * <Py_ssize_t>n
        for i in range(n):
            out[i] = self.mm.load(&self._head().items[i])     # loading may run code: re-check
        return tuple(out)

    def __len__(self):
        return self._head().size

    def __getitem__(self, key):
        cdef Py_ssize_t i, start, stop, step, n, k
        cdef pyp_tuple_t *t = self._head()
        if PyIndex_Check(key):
            i = PyNumber_AsSsize_t(key, <PyObject *>IndexError)
            n = t.size
            if i < 0:
                i += n
            if i < 0 or i >= n:
                raise IndexError("tuple index out of range")
            return self.mm.load(&t.items[i])
        if PySlice_Check(key):
            PySlice_Unpack(key, &start, &stop, &step)
            n = PySlice_AdjustIndices(t.size, &start, &stop, step)
            out = [None] * n
            for k in range(n):
                out[k] = self.mm.load(&self._head().items[start + k * step])
            return tuple(out)
        raise TypeError(f"tuple indices must be integers or slices, not {type(key).__name__}")

    def __iter__(self):
        self._head()
        return PersistentTupleIterator(self)

    def __contains__(self, value):
        cdef uint64_t i
        for i in range(self._head().size):
            if self.mm.slot_eq(&self._head().items[i], value):
                return True
        return False

    def index(self, value, start=0, stop=PY_SSIZE_T_MAX):
        """Return the first index of *value* in [start, stop); ValueError if absent."""
        cdef Py_ssize_t n = self._head().size
        cdef Py_ssize_t i = _clip_index(start, n)
        cdef Py_ssize_t end = min(_clip_index(stop, n), n)
        while i < end:
            if self.mm.slot_eq(&self._head().items[i], value):
                return i
            i += 1
        raise ValueError("tuple.index(x): x not in tuple")

    def count(self, value):
        """Return the number of items equal to *value*."""
        cdef uint64_t i
        cdef Py_ssize_t c = 0
        for i in range(self._head().size):
            if self.mm.slot_eq(&self._head().items[i], value):
                c += 1
        return c

    def __richcmp__(self, other, int op):
        return seq_richcmp(self, other, op, PersistentTuple, tuple, _copy, _size)

    def __hash__(self):
        return hash(self._totuple())

    cdef int64_t stable_hash(self) except? -1:
        return self.mm.hash_of(self._totuple())

    def __add__(self, other):
        return seq_add(self, other, PersistentTuple, tuple, _copy)

    def __radd__(self, other):
        return seq_radd(self, other, tuple, _copy)

    def __mul__(self, n):
        return seq_mul(self, n, _copy)

    def __rmul__(self, n):
        return seq_mul(self, n, _copy)

    def __repr__(self):
        return seq_repr(self, _copy, _size, "...")


cdef object _copy(object o):
    return (<PersistentTuple>o)._totuple()


cdef uint64_t _size(object o) except? 0xFFFFFFFFFFFFFFFF:
    return (<PersistentTuple>o)._head().size


cdef class PersistentTupleIterator:
    """Iterator over a PersistentTuple."""
    cdef PersistentTuple tup
    cdef uint64_t i

    def __cinit__(self, PersistentTuple tup):
        self.tup = tup
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        cdef PersistentTuple tup = self.tup
        cdef pyp_tuple_t *t
        if tup is None:
            raise StopIteration
        t = tup._head()
        if self.i >= t.size:
            self.tup = None
            raise StopIteration
        value = tup.mm.load(&t.items[self.i])
        self.i += 1
        return value

    def __length_hint__(self):
        if self.tup is None:
            return 0
        return self.tup._head().size - self.i


register_traverse(PersistentTuple, _tuple_traverse)
collections.abc.Sequence.register(PersistentTuple)
