# Included by list.pyx and tuple.pyx: what PersistentList and PersistentTuple
# share as sequences whose results are builtin ones (a new persistent sequence
# needs a pool): comparisons, `+`, `*` and repr over the builtin copy, and the
# clipping of index()'s bounds.  `own` is the persistent class, `builtin` list
# or tuple; the callbacks read one of own's objects.
from cpython.object cimport PyObject_RichCompare, Py_EQ, Py_NE
from cpython.pythread cimport PyThread_get_thread_ident

ctypedef object (*seq_copy_fn)(object)          # the builtin copy
ctypedef uint64_t (*seq_size_fn)(object) except? 0xFFFFFFFFFFFFFFFF     # the length, read from the pool

cdef set _repr_active = set()     # (id(proxy), thread) of the reprs being built: cycles print [...] or (...)


cdef Py_ssize_t _clip_index(object i, Py_ssize_t n) except? -1:
    """A start/stop argument of index(): negative counts from the end, clipped to [0, n]."""
    cdef Py_ssize_t v
    if not PyIndex_Check(i):
        raise TypeError("slice indices must be integers or have an __index__ method")
    v = PyNumber_AsSsize_t(i, NULL)
    if v < 0:
        v += n
        if v < 0:
            v = 0
    return v


cdef object seq_richcmp(object self, object other, int op, type own, type builtin, seq_copy_fn copy,
                        seq_size_fn size):
    if isinstance(other, own):
        o = copy(other)
    elif isinstance(other, builtin):
        o = other
    else:
        return NotImplemented
    if (op == Py_EQ or op == Py_NE) and size(self) != <uint64_t>len(o):
        return op == Py_NE
    return PyObject_RichCompare(copy(self), o, op)


cdef object seq_add(object self, object other, type own, type builtin, seq_copy_fn copy):
    if isinstance(other, own):
        return copy(self) + copy(other)
    if isinstance(other, builtin):
        return copy(self) + other
    return NotImplemented


cdef object seq_radd(object self, object other, type builtin, seq_copy_fn copy):
    if isinstance(other, builtin):
        return other + copy(self)
    return NotImplemented


cdef object seq_mul(object self, object n, seq_copy_fn copy):
    """self * n and n * self."""
    if not PyIndex_Check(n):
        return NotImplemented
    return copy(self) * n


cdef str seq_repr(object self, seq_copy_fn copy, seq_size_fn size, str cycle):
    name = type(self).__name__
    try:
        size(self)
    except (ValueError, TypeError) as e:
        return f"<{name}: {e}>"
    key = (id(self), PyThread_get_thread_ident())
    if key in _repr_active:          # a tuple can reach itself through a mutable item
        return f"{name}({cycle})"
    _repr_active.add(key)
    try:
        return f"{name}({copy(self)!r})"
    finally:
        _repr_active.discard(key)
