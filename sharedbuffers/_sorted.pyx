# cython: boundscheck=False, wraparound=False, cdivision=True
"""Sorted numpy arrays: binary search and merging, typed per dtype.

bsearch and sorted_contains work on any sorted 1-d array of integers or
floats (of any width); index_merge merges two (n, k) arrays sorted by their
first column (the tables of id mappers: how big ones are built in parts).
"""
cimport cython
from libc.string cimport memcpy

ctypedef fused number:
    unsigned char
    signed char
    unsigned short
    short
    unsigned int
    int
    unsigned long long
    long long
    float
    double


cdef object _np = None


cdef object np():
    global _np
    if _np is None:
        import numpy
        _np = numpy
    return _np


# dtype kind+size -> a zero of the C type the fused functions specialize on
cdef dict _SAMPLES = None


cdef object typed_view(object a, int ndim):
    """a as an array of one of the supported dtypes (native byte order), or NotImplementedError."""
    numpy = np()
    a = numpy.asarray(a)
    if a.ndim != ndim:
        raise ValueError(f"expected a {ndim}-dimensional array, got {a.ndim} dimensions")
    dt = a.dtype
    if dt.kind not in "uif" or dt.itemsize not in (1, 2, 4, 8) or (dt.kind == "f" and dt.itemsize < 4):
        raise NotImplementedError(f"unsupported dtype {dt} (integers and float32/float64 only)")
    if not dt.isnative:
        a = a.astype(dt.newbyteorder("="))
    return a


cdef Py_ssize_t lower_bound(const number[:] a, number key, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef Py_ssize_t hinted(const number[:] a, number key, Py_ssize_t hint) noexcept nogil:
    """lower_bound, searching outwards from hint first (cheap when the key is near it)."""
    cdef Py_ssize_t n = a.shape[0], lo, hi, step = 1
    if n == 0:
        return 0
    if hint < 0:
        hint = 0
    if hint >= n:
        hint = n - 1
    if a[hint] < key:
        lo = hint + 1
        hi = lo
        while hi < n and a[hi] < key:
            lo = hi + 1
            hi += step
            step <<= 1
        if hi > n:
            hi = n
    else:
        hi = hint
        lo = hi
        while lo > 0 and not (a[lo - 1] < key):
            hi = lo - 1
            lo -= step
            step <<= 1
        if lo < 0:
            lo = 0
    return lower_bound(a, key, lo, hi)


cdef object key_for(object a, object hkey, bint *below, bint *above):
    """hkey clamped to a's dtype: below/above when it lies outside the dtype's range."""
    numpy = np()
    dt = a.dtype
    below[0] = above[0] = False
    if dt.kind == "f":
        return float(hkey)
    info = numpy.iinfo(dt)
    if isinstance(hkey, float) or (hasattr(hkey, "dtype") and hkey.dtype.kind == "f"):
        f = float(hkey)
        if f != f:
            above[0] = True
            return 0
        if f < info.min:
            below[0] = True
            return 0
        if f > info.max:
            above[0] = True
            return 0
        i = int(f)
        return i if i == f or f < 0 else i + 1      # the first integer >= f
    i = int(hkey)
    if i < info.min:
        below[0] = True
        return 0
    if i > info.max:
        above[0] = True
        return 0
    return i


cdef Py_ssize_t search(object a, object hkey, Py_ssize_t hint, bint use_hint) except -1:
    cdef bint below, above
    a = typed_view(a, 1)
    key = key_for(a, hkey, &below, &above)
    if below:
        return 0
    if above:
        return a.shape[0]
    c = a.dtype.char
    if a.dtype.kind == "f":
        if a.dtype.itemsize == 4:
            return hinted[float](a, key, hint) if use_hint else lower_bound[float](a, key, 0, a.shape[0])
        return hinted[double](a, key, hint) if use_hint else lower_bound[double](a, key, 0, a.shape[0])
    size = a.dtype.itemsize
    if a.dtype.kind == "u":
        if size == 1:
            return hinted[cython.uchar](a, key, hint) if use_hint else lower_bound[cython.uchar](a, key, 0, a.shape[0])
        if size == 2:
            return hinted[cython.ushort](a, key, hint) if use_hint else lower_bound[cython.ushort](a, key, 0, a.shape[0])
        if size == 4:
            return hinted[cython.uint](a, key, hint) if use_hint else lower_bound[cython.uint](a, key, 0, a.shape[0])
        return hinted[cython.ulonglong](a, key, hint) if use_hint else lower_bound[cython.ulonglong](a, key, 0, a.shape[0])
    if size == 1:
        return hinted[cython.schar](a, key, hint) if use_hint else lower_bound[cython.schar](a, key, 0, a.shape[0])
    if size == 2:
        return hinted[cython.short](a, key, hint) if use_hint else lower_bound[cython.short](a, key, 0, a.shape[0])
    if size == 4:
        return hinted[cython.int](a, key, hint) if use_hint else lower_bound[cython.int](a, key, 0, a.shape[0])
    return hinted[cython.longlong](a, key, hint) if use_hint else lower_bound[cython.longlong](a, key, 0, a.shape[0])


def bsearch(a, hkey):
    """The index of the first item of the sorted 1-d array `a` not less than
    `hkey` (len(a) when there is none): numpy.searchsorted(a, hkey, 'left')."""
    return search(a, hkey, 0, False)


def hinted_bsearch(a, hkey, hint):
    """bsearch(a, hkey), searching outwards from index `hint` first: faster when
    the answer is near it (successive keys in order)."""
    return search(a, hkey, hint, True)


def sorted_contains(a, hkey):
    """Whether the sorted 1-d array `a` holds `hkey`."""
    i = search(a, hkey, 0, False)
    return i < len(a) and a[i] == hkey


def hinted_sorted_contains(a, hkey, hint):
    """sorted_contains, searching from index `hint` first."""
    i = search(a, hkey, hint, True)
    return i < len(a) and a[i] == hkey


# ---------------------------------------------------------------- merging

cdef Py_ssize_t merge(const number[:, :] x, const number[:, :] y, number[:, :] d) noexcept nogil:
    """Merge the rows of x and y (sorted by column 0; x first among equal keys) into d."""
    cdef Py_ssize_t i = 0, j = 0, k = 0, c, nx = x.shape[0], ny = y.shape[0], cols = d.shape[1]
    while i < nx and j < ny:
        if y[j, 0] < x[i, 0]:
            for c in range(cols):
                d[k, c] = y[j, c]
            j += 1
        else:
            for c in range(cols):
                d[k, c] = x[i, c]
            i += 1
        k += 1
    while i < nx:
        for c in range(cols):
            d[k, c] = x[i, c]
        i += 1
        k += 1
    while j < ny:
        for c in range(cols):
            d[k, c] = y[j, c]
        j += 1
        k += 1
    return k


def index_merge(index1, index2, dest):
    """Merge two (n, k) arrays sorted by their first column into `dest` (at least
    n1 + n2 rows, same k and dtype); returns the number of rows written.  Keys
    equal in both keep index1's rows first.  dest must not overlap the inputs."""
    numpy = np()
    a = typed_view(index1, 2) if numpy.ndim(index1) == 2 else None
    b = typed_view(index2, 2) if numpy.ndim(index2) == 2 else None
    d = numpy.asarray(dest)
    if a is None or b is None or d.ndim != 2:
        raise ValueError("index_merge needs 2-dimensional arrays (rows of key, values...)")
    if a.shape[1] != d.shape[1] or b.shape[1] != d.shape[1]:
        raise ValueError(f"column counts differ: {a.shape[1]}, {b.shape[1]} into {d.shape[1]}")
    if a.dtype != d.dtype or b.dtype != d.dtype:
        raise ValueError(f"dtypes differ: {a.dtype}, {b.dtype} into {d.dtype}")
    if dest is index1 or dest is index2 or numpy.shares_memory(a, d) or numpy.shares_memory(b, d):
        raise NotImplementedError("index_merge cannot merge in place (dest overlaps an input)")
    if a.shape[0] + b.shape[0] > d.shape[0]:
        raise ValueError(f"dest has {d.shape[0]} rows, the merge needs {a.shape[0] + b.shape[0]}")
    if not d.flags.writeable:
        raise ValueError("dest is read-only")
    typed_view(d, 2)
    size = d.dtype.itemsize
    kind = d.dtype.kind
    if kind == "f":
        return merge[float](a, b, d) if size == 4 else merge[double](a, b, d)
    if kind == "u":
        if size == 1:
            return merge[cython.uchar](a, b, d)
        if size == 2:
            return merge[cython.ushort](a, b, d)
        if size == 4:
            return merge[cython.uint](a, b, d)
        return merge[cython.ulonglong](a, b, d)
    if size == 1:
        return merge[cython.schar](a, b, d)
    if size == 2:
        return merge[cython.short](a, b, d)
    if size == 4:
        return merge[cython.int](a, b, d)
    return merge[cython.longlong](a, b, d)
