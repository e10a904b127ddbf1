# The stable hash: the same in every process and platform, and equal for keys
# that compare equal (1 == 1.0 == True).  It orders the keys of packed dicts and
# of object id mappers.  The values for None, numbers, str/bytes and tuples are
# those of upstream sharedbuffers' _stable_hash (files hashed there and here
# agree); frozensets hash here independently of iteration order, which upstream
# does not (two equal sets can iterate in different orders).
# (included by _structs.pyx)
from libc.math cimport frexp, isinf, isnan, floor, fabs

cdef uint64_t _TUPLE_SEED = 1626619511096549620ULL
cdef uint64_t _FSET_SEED = 8212431769940327799ULL


cdef inline uint64_t rotl5(uint64_t x) noexcept nogil:
    return (x << 5) | (x >> 59)


cdef uint64_t hash_float(double f) noexcept:
    cdef int expo = 0
    cdef double mant
    cdef uint64_t e
    if not isinf(f) and not isnan(f) and f == floor(f) and fabs(f) < 9.2233720368547758e18:
        return <uint64_t><int64_t>f
    if isinf(f):
        mant = 1.0 if f > 0 else -1.0
    elif isnan(f):
        mant = 2.0
    else:
        mant = frexp(f, &expo)
    e = <uint64_t>(expo + 0xFFFF if expo < 0 else expo)
    return rotl5(e) ^ <uint64_t><int64_t>(mant * 0xFFFFFFFFFFFF)


cdef uint64_t stable_hash(object key) except? 0:
    cdef uint64_t h, acc
    cdef const char *p
    cdef Py_ssize_t n
    t = type(key)
    if key is None:
        h = 1
    elif t is str or isinstance(key, str):
        try:
            p = PyUnicode_AsUTF8AndSize(key, &n)
            h = XXH64(p, n, 0)
        except UnicodeEncodeError:
            raw = (<str>key).encode("utf-8", "surrogatepass")
            h = XXH64(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), 0)
    elif t is int or isinstance(key, int):
        h = PyLong_AsUnsignedLongLongMask(key)
    elif t is float or isinstance(key, float):
        h = hash_float(PyFloat_AsDouble(key))
    elif isinstance(key, bytes):
        h = XXH64(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key), 0)
    elif isinstance(key, (tuple, proxied_tuple)):
        h = _TUPLE_SEED
        for item in key:
            h = rotl5(h) ^ stable_hash(item)
    elif isinstance(key, (frozenset, proxied_frozenset)):
        acc = 0
        for item in key:
            acc += stable_hash(item)
        h = rotl5(_FSET_SEED) ^ acc
    else:
        num = numeric_value(key)
        if num is None:
            raise TypeError(f"unhashable type: {t.__name__}")
        return stable_hash(num)
    return h if h != 0 else 1


def _stable_hash(key):
    """The stable 64-bit hash of `key` (None, numbers, str, bytes, tuples and
    frozensets of these): what packed dicts and ObjectIdMapper order keys by."""
    return stable_hash(key)
