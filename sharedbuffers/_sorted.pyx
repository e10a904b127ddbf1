# cython: boundscheck=False, wraparound=False, cdivision=True
"""Sorted numpy arrays: binary search and merging, typed per dtype.

bsearch and sorted_contains work on any sorted 1-d array of integers or
floats (of any width); index_merge merges two (n, k) arrays sorted by their
first column (the tables of id mappers: how big ones are built in parts).
"""
cimport cython
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_STRIDES, PyBUF_FORMAT, PyBUF_WRITABLE
from libc.math cimport ceil
from libc.string cimport memcpy

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int *) except? -1
    unsigned long long PyLong_AsUnsignedLongLong(object) except? <unsigned long long>-1
    double PyFloat_AsDouble(object) except? -1.0

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


cdef inline number item(const char *base, Py_ssize_t stride, Py_ssize_t i, number like) noexcept nogil:
    """Item i (of the type of `like`)."""
    memcpy(&like, base + i * stride, sizeof(like))     # numpy arrays may be unaligned
    return like


cdef Py_ssize_t lower_bound(const char *base, Py_ssize_t stride, number key, Py_ssize_t lo,
                            Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if item(base, stride, mid, key) < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef Py_ssize_t hinted(const char *base, Py_ssize_t stride, Py_ssize_t n, number key,
                       Py_ssize_t hint) noexcept nogil:
    """lower_bound, searching outwards from hint first (cheap when the key is near it)."""
    cdef Py_ssize_t lo, hi, step = 1
    if n == 0:
        return 0
    if hint < 0:
        hint = 0
    if hint >= n:
        hint = n - 1
    if item(base, stride, hint, key) < key:
        lo = hint + 1
        hi = lo
        while hi < n and item(base, stride, hi, key) < key:
            lo = hi + 1
            hi += step
            step <<= 1
        if hi > n:
            hi = n
    else:
        hi = hint
        lo = hi
        while lo > 0 and not (item(base, stride, lo - 1, key) < key):
            hi = lo - 1
            lo -= step
            step <<= 1
        if lo < 0:
            lo = 0
    return lower_bound(base, stride, key, lo, hi)


cdef inline Py_ssize_t find(const char *base, Py_ssize_t stride, Py_ssize_t n, number key,
                            Py_ssize_t hint, bint use_hint) noexcept nogil:
    cdef number first, last
    cdef double span
    if use_hint:
        return hinted(base, stride, n, key, hint)
    if n < 16:
        return lower_bound(base, stride, key, 0, n)
    # no hint: interpolate one from the first and last items, then search outwards
    # (a couple of probes on evenly spread keys, never worse than twice a bisection)
    first = item(base, stride, 0, key)
    last = item(base, stride, n - 1, key)
    if not (first < key):
        return 0
    if last < key:
        return n
    span = <double>last - <double>first
    if not (span > 0):
        return lower_bound(base, stride, key, 0, n)
    hint = <Py_ssize_t>((<double>key - <double>first) / span * (n - 1))
    return hinted(base, stride, n, key, hint)


cdef int int_key(object hkey, bint is_signed, int width, long long *sk, unsigned long long *uk) except -2:
    """hkey as the search key of an integer array: 0, or -1 when every item is
    greater (below the type's range), +1 when every item is smaller."""
    cdef int ovf = 0
    cdef double f
    cdef long long lo, hi
    cdef unsigned long long umax
    if isinstance(hkey, float) or (not isinstance(hkey, int) and not hasattr(hkey, "__index__")):
        f = PyFloat_AsDouble(hkey)
        if f != f:
            return 1
        f = ceil(f)                     # the first integer not below it
        if f < -9.2233720368547758e18:
            return -1
        if f >= 1.8446744073709552e19:
            return 1
        hkey = int(f)
    elif not isinstance(hkey, int):
        hkey = hkey.__index__()         # numpy integers
    if is_signed:
        sk[0] = PyLong_AsLongLongAndOverflow(hkey, &ovf)
        if ovf:
            return ovf
        if width < 8:
            hi = (<long long>1 << (8 * width - 1)) - 1
            lo = -hi - 1
            if sk[0] < lo:
                return -1
            if sk[0] > hi:
                return 1
        return 0
    if hkey < 0:
        return -1
    if hkey > 0xFFFFFFFFFFFFFFFF:
        return 1
    uk[0] = PyLong_AsUnsignedLongLong(hkey)
    umax = 0xFFFFFFFFFFFFFFFF if width == 8 else ((<unsigned long long>1 << (8 * width)) - 1)
    return 1 if uk[0] > umax else 0


cdef Py_ssize_t search(object a, object hkey, Py_ssize_t hint, bint use_hint) except -1:
    """The lower bound of hkey in the sorted 1-d array a, read through the buffer protocol."""
    cdef Py_buffer view
    cdef const char *fmt
    cdef const char *base
    cdef Py_ssize_t n, stride, width
    cdef char code
    cdef int side
    cdef bint signed_
    cdef long long sk = 0
    cdef unsigned long long uk = 0
    cdef double dk
    try:
        PyObject_GetBuffer(a, &view, PyBUF_STRIDES | PyBUF_FORMAT)
    except (TypeError, BufferError):
        return search(typed_view(a, 1), hkey, hint, use_hint)
    try:
        fmt = view.format
        if fmt[0] == b'<' or fmt[0] == b'=' or fmt[0] == b'@' or fmt[0] == b'|':
            fmt += 1
        elif fmt[0] == b'>' or fmt[0] == b'!':
            return search(typed_view(a, 1), hkey, hint, use_hint)      # converted to native order
        if view.ndim != 1:
            raise ValueError(f"expected a 1-dimensional array, got {view.ndim} dimensions")
        code = fmt[0]
        if fmt[0] == 0 or fmt[1] != 0 or code not in b"bBhHiIlLqQfd":
            raise NotImplementedError(f"unsupported item format {view.format.decode('ascii', 'replace')!r} "
                                      f"(integers and float32/float64 only)")
        n = view.shape[0]
        stride = view.strides[0]
        width = view.itemsize
        base = <const char *>view.buf
        if code == b'f' or code == b'd':
            dk = PyFloat_AsDouble(hkey)
            if code == b'f':
                return find[float](base, stride, n, <float>dk, hint, use_hint)
            return find[double](base, stride, n, dk, hint, use_hint)
        signed_ = code in b"bhilq"
        side = int_key(hkey, signed_, width, &sk, &uk)
        if side < 0:
            return 0
        if side > 0:
            return n
        if signed_:
            if width == 1:
                return find[cython.schar](base, stride, n, <signed char>sk, hint, use_hint)
            if width == 2:
                return find[cython.short](base, stride, n, <short>sk, hint, use_hint)
            if width == 4:
                return find[cython.int](base, stride, n, <int>sk, hint, use_hint)
            return find[cython.longlong](base, stride, n, sk, hint, use_hint)
        if width == 1:
            return find[cython.uchar](base, stride, n, <unsigned char>uk, hint, use_hint)
        if width == 2:
            return find[cython.ushort](base, stride, n, <unsigned short>uk, hint, use_hint)
        if width == 4:
            return find[cython.uint](base, stride, n, <unsigned int>uk, hint, use_hint)
        return find[cython.ulonglong](base, stride, n, uk, hint, use_hint)
    finally:
        PyBuffer_Release(&view)


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
    cdef Py_ssize_t i = search(a, hkey, 0, False)
    return i < len(a) and a[i] == hkey


def hinted_sorted_contains(a, hkey, hint):
    """sorted_contains, searching from index `hint` first."""
    cdef Py_ssize_t i = search(a, hkey, hint, True)
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


cdef Py_ssize_t merge_rows(const char *x, Py_ssize_t xs, Py_ssize_t nx, const char *y, Py_ssize_t ys,
                           Py_ssize_t ny, char *d, Py_ssize_t ds, Py_ssize_t rowbytes, number like,
                           bint aligned) noexcept nogil:
    """merge() on raw rows whose items are contiguous (row i at base + i * stride)."""
    cdef Py_ssize_t i = 0, j = 0, k = 0, take_y
    cdef const char *src
    cdef const char *px
    cdef const char *py
    cdef const char *xend
    cdef const char *yend
    cdef char *pd
    cdef number ref
    # branch-free steps (conditional moves): the keys' order is unpredictable
    if rowbytes == 2 * <Py_ssize_t>sizeof(like) and aligned:
        # (key, value) rows of aligned numbers: runs of each side copied with typed
        # loads and stores, walking pointers (x's rows first among equal keys)
        px, py, pd = x, y, d
        xend, yend = x + nx * xs, y + ny * ys
        while px != xend and py != yend:
            ref = (<const number *>py)[0]
            while px != xend and (<const number *>px)[0] <= ref:
                (<number *>pd)[0] = (<const number *>px)[0]
                (<number *>pd)[1] = (<const number *>px)[1]
                px += xs
                pd += ds
            if px != xend:
                ref = (<const number *>px)[0]
                while py != yend and (<const number *>py)[0] < ref:
                    (<number *>pd)[0] = (<const number *>py)[0]
                    (<number *>pd)[1] = (<const number *>py)[1]
                    py += ys
                    pd += ds
        while px != xend:
            (<number *>pd)[0] = (<const number *>px)[0]
            (<number *>pd)[1] = (<const number *>px)[1]
            px += xs
            pd += ds
        while py != yend:
            (<number *>pd)[0] = (<const number *>py)[0]
            (<number *>pd)[1] = (<const number *>py)[1]
            py += ys
            pd += ds
        return nx + ny
    elif rowbytes == 2 * <Py_ssize_t>sizeof(like):
        while i < nx and j < ny:
            take_y = item(y, ys, j, like) < item(x, xs, i, like)
            src = (y + j * ys) if take_y else (x + i * xs)
            memcpy(d + k * ds, src, 2 * sizeof(like))      # a constant size: inlined
            j += take_y
            i += 1 - take_y
            k += 1
    else:
        while i < nx and j < ny:
            take_y = item(y, ys, j, like) < item(x, xs, i, like)
            src = (y + j * ys) if take_y else (x + i * xs)
            memcpy(d + k * ds, src, rowbytes)
            j += take_y
            i += 1 - take_y
            k += 1
    while i < nx:
        memcpy(d + k * ds, x + i * xs, rowbytes)
        i += 1
        k += 1
    while j < ny:
        memcpy(d + k * ds, y + j * ys, rowbytes)
        j += 1
        k += 1
    return k


cdef inline Py_ssize_t merge_views(Py_buffer *a, Py_buffer *b, Py_buffer *d, Py_ssize_t rowbytes, number like,
                                   bint aligned) noexcept nogil:
    return merge_rows(<const char *>a.buf, a.strides[0], a.shape[0], <const char *>b.buf, b.strides[0],
                      b.shape[0], <char *>d.buf, d.strides[0], rowbytes, like, aligned)


cdef object merge_raw(a, b, d):
    """index_merge through the buffer protocol when every row's items are contiguous; None otherwise."""
    cdef Py_buffer va, vb, vd
    cdef Py_ssize_t rowbytes, width
    cdef bint aligned
    cdef int got = 0
    try:
        PyObject_GetBuffer(a, &va, PyBUF_STRIDES | PyBUF_FORMAT)
        got = 1
        PyObject_GetBuffer(b, &vb, PyBUF_STRIDES | PyBUF_FORMAT)
        got = 2
        PyObject_GetBuffer(d, &vd, PyBUF_STRIDES | PyBUF_FORMAT | PyBUF_WRITABLE)
        got = 3
    except (TypeError, BufferError):
        return None
    finally:
        if got < 3:
            if got >= 1:
                PyBuffer_Release(&va)
            if got >= 2:
                PyBuffer_Release(&vb)
    try:
        width = vd.itemsize
        if va.strides[1] != width or vb.strides[1] != width or vd.strides[1] != width:
            return None
        rowbytes = width * vd.shape[1]
        aligned = ((<size_t>va.buf | <size_t>vb.buf | <size_t>vd.buf | <size_t>va.strides[0]
                    | <size_t>vb.strides[0] | <size_t>vd.strides[0]) % <size_t>width) == 0 \
            and va.strides[0] != 0 and vb.strides[0] != 0 and vd.strides[0] != 0     # no broadcast rows
        kind = d.dtype.kind
        if kind == "f":
            if width == 4:
                return merge_views[float](&va, &vb, &vd, rowbytes, 0, aligned)
            return merge_views[double](&va, &vb, &vd, rowbytes, 0, aligned)
        if kind == "u":
            if width == 8:
                return merge_views[cython.ulonglong](&va, &vb, &vd, rowbytes, 0, aligned)
            if width == 4:
                return merge_views[cython.uint](&va, &vb, &vd, rowbytes, 0, aligned)
        elif width == 8:
            return merge_views[cython.longlong](&va, &vb, &vd, rowbytes, 0, aligned)
        elif width == 4:
            return merge_views[cython.int](&va, &vb, &vd, rowbytes, 0, aligned)
        return None         # narrow integers: the typed-memoryview merge
    finally:
        PyBuffer_Release(&va)
        PyBuffer_Release(&vb)
        PyBuffer_Release(&vd)


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
    done = merge_raw(a, b, d)
    if done is not None:
        return done
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
