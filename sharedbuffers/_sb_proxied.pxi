# Collections read in place (included by _structs.pyx): proxied_list and
# proxied_tuple (views, sliced without copying), proxied_frozenset (binary
# search for numbers) and proxied_dict (binary search over stable hashes).

cdef bint _is_sequence(object o):
    return isinstance(o, (list, tuple, proxied_list))


cdef class proxied_list:
    """A packed sequence read in place: indexing, slicing (a view), iteration,
    `in`, comparisons with lists, tuples and other proxied sequences.  Read-only."""
    cdef BufferRef _buf
    cdef Py_ssize_t _pos        # the sequence's first byte
    cdef Py_ssize_t _table      # its items
    cdef char _ik
    cdef int _depth
    cdef Py_ssize_t _first      # the view: stored index of item 0, step, length
    cdef Py_ssize_t _step
    cdef Py_ssize_t _len

    def __init__(self, *args, **kw):
        raise TypeError(f"{type(self).__name__} objects are made by unpacking (pack_into, unpack_from)")

    @classmethod
    def pack_into(cls, obj, buf, offs, idmap=None, implicit_offs=0):
        """Pack the items of obj into `buf` at `offs`; returns the offset after them."""
        return pack_kind_into(SB_KIND_PTUPLE, None, obj, buf, offs, idmap, implicit_offs)

    @classmethod
    def unpack_from(cls, buf, offs, idmap=None):
        """A proxy of the sequence packed at `offs` of `buf`."""
        return new_proxied_seq(cls, buffer_ref(buf), offs, 0)

    @property
    def buffer(self):
        return self._buf.owner

    @property
    def offset(self):
        return self._pos

    cdef inline object _get(self, Py_ssize_t i, StructProxy into):
        """Item i of the view (0 <= i < _len)."""
        return seq_item(self._buf, self._pos, self._ik, self._table, self._first + i * self._step,
                        self._depth, into)

    cdef list to_list(self):
        cdef Py_ssize_t i
        return [self._get(i, None) for i in range(self._len)]

    cdef proxied_list _view(self, slice s):
        cdef Py_ssize_t start, stop, step, n
        cdef proxied_list v
        start, stop, step = s.indices(self._len)
        n = len(range(start, stop, step))
        v = type(self).__new__(type(self))
        v._buf = self._buf
        v._pos = self._pos
        v._table = self._table
        v._ik = self._ik
        v._depth = self._depth
        v._first = self._first + start * self._step
        v._step = self._step * step
        v._len = n
        return v

    def __len__(self):
        return self._len

    def __bool__(self):
        return self._len > 0

    def __getitem__(self, index):
        cdef Py_ssize_t i
        if isinstance(index, slice):
            return self._view(index)
        i = index
        if i < 0:
            i += self._len
        if i < 0 or i >= self._len:
            raise IndexError(f"{type(self).__name__} index out of range")
        return self._get(i, None)

    def __setitem__(self, index, value):
        raise TypeError(f"{type(self).__name__} is read-only")

    def __delitem__(self, index):
        raise TypeError(f"{type(self).__name__} is read-only")

    def __iter__(self):
        cdef Py_ssize_t i
        for i in range(self._len):
            yield self._get(i, None)

    def __reversed__(self):
        cdef Py_ssize_t i
        for i in range(self._len - 1, -1, -1):
            yield self._get(i, None)

    def iter(self, proxy_into=None, mask=None):
        """Iterate; struct items are read into `proxy_into` (one proxy rebound to
        each); `mask`: only the items whose mask entry is true."""
        cdef Py_ssize_t i
        for i in range(self._len):
            if mask is None or mask[i]:
                yield self._get(i, proxy_into)

    def iter_fast(self, mask=None):
        """Iterate with one proxy rebound to each struct item in turn (keep no
        reference to an item past its step)."""
        cdef Py_ssize_t i
        cdef StructProxy p = None
        for i in range(self._len):
            if mask is None or mask[i]:
                item = self._get(i, p)
                if isinstance(item, StructProxy):
                    p = item
                yield item

    def getter(self, proxy_into=None, fast=False):
        """A function get(i) returning item i (fast: struct items through one reused proxy)."""
        return _SeqGetter(self, proxy_into, fast)

    def __contains__(self, item):
        cdef Py_ssize_t i
        for i in range(self._len):
            if self._get(i, None) == item:
                return True
        return False

    def index(self, item):
        cdef Py_ssize_t i
        for i in range(self._len):
            if self._get(i, None) == item:
                return i
        raise ValueError(f"{item!r} is not in the {type(self).__name__}")

    def count(self, item):
        cdef Py_ssize_t i, n = 0
        for i in range(self._len):
            if self._get(i, None) == item:
                n += 1
        return n

    def __richcmp__(self, other, int op):
        return seq_richcmp(self, other, op)

    __hash__ = None

    def _items_str(self):
        return ",".join(repr(x) for x in self)

    def __str__(self):
        return "[" + self._items_str() + "]"

    def __repr__(self):
        return f"{type(self).__name__}({self})"

    def __reduce__(self):
        return (list, (self.to_list(),))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


cdef class proxied_tuple(proxied_list):
    """Like proxied_list, hashable and equal to the tuple of its items."""

    def __hash__(self):
        return hash(tuple(self.to_list()))

    def __richcmp__(self, other, int op):
        return seq_richcmp(self, other, op)

    def __str__(self):
        return "(" + self._items_str() + ("," if self._len == 1 else "") + ")"

    def __reduce__(self):
        return (tuple, (tuple(self.to_list()),))


cdef object seq_richcmp(proxied_list self, other, int op):
    """Equal to lists, tuples and proxied sequences of equal items (as upstream,
    a proxied list equals a tuple); ordered against them only."""
    if op == 2 or op == 3:
        if not _is_sequence(other):
            return op == 3
        eq = len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return eq if op == 2 else not eq
    if not _is_sequence(other):
        raise NotImplementedError(f"cannot order {type(self).__name__} and {type(other).__name__}")
    a = self.to_list()
    b = list(other)
    if op == 0:
        return a < b
    if op == 1:
        return a <= b
    if op == 4:
        return a > b
    return a >= b


cdef class _SeqGetter:
    cdef proxied_list seq
    cdef StructProxy proxy
    cdef bint fast

    def __cinit__(self, proxied_list seq, StructProxy proxy_into=None, bint fast=False):
        self.seq = seq
        self.proxy = proxy_into
        self.fast = fast

    def __call__(self, Py_ssize_t i):
        cdef proxied_list s = self.seq
        if i < 0:
            i += s._len
        if i < 0 or i >= s._len:
            raise IndexError(f"{type(s).__name__} index out of range")
        item = s._get(i, self.proxy)
        if self.fast and isinstance(item, StructProxy):
            self.proxy = item
        return item


cdef object new_proxied_seq(type cls, BufferRef b, Py_ssize_t pos, int depth):
    cdef proxied_list v
    cdef proxied_frozenset fs
    cdef Py_ssize_t n, table
    cdef char ik
    if depth > MAX_DEPTH:
        raise CorruptedBufferError("corrupted buffer: values nested too deeply")
    seq_header(b, pos, &n, &ik, &table)
    if cls is proxied_frozenset:
        fs = proxied_frozenset.__new__(proxied_frozenset)
        fs._buf = b
        fs._pos = pos
        fs._table = table
        fs._ik = ik
        fs._n = n
        fs._depth = depth
        return fs
    v = cls.__new__(cls)
    v._buf = b
    v._pos = pos
    v._table = table
    v._ik = ik
    v._depth = depth
    v._first = 0
    v._step = 1
    v._len = n
    return v


# -- frozensets

cdef bint _number_key(object x, char ik, int64_t *i, double *d) except -1:
    """x as the search key of a sorted int or float table: False when x is no such number."""
    cdef int ovf = 0
    if isinstance(x, bool) or isinstance(x, int):
        if ik == SB_SEQ_FLOAT:
            d[0] = PyFloat_AsDouble(x)
            return True
        i[0] = PyLong_AsLongLongAndOverflow(x, &ovf)
        return not ovf
    if isinstance(x, float):
        d[0] = x
        if ik == SB_SEQ_FLOAT:
            return True
        if d[0] != floor(d[0]) or fabs(d[0]) >= 9.2233720368547758e18:
            return False
        i[0] = <int64_t>d[0]
        return True
    return False


cdef class proxied_frozenset:
    """A packed frozenset read in place: `in` by binary search when its items are
    all ints or all floats, iteration, len; set comparisons and operations (their
    results are frozensets)."""
    cdef BufferRef _buf
    cdef Py_ssize_t _pos
    cdef Py_ssize_t _table
    cdef Py_ssize_t _n
    cdef char _ik
    cdef int _depth
    cdef object _materialized

    def __init__(self, *args, **kw):
        raise TypeError("proxied_frozenset objects are made by unpacking (pack_into, unpack_from)")

    @classmethod
    def pack_into(cls, obj, buf, offs, idmap=None, implicit_offs=0):
        return pack_kind_into(SB_KIND_PFROZENSET, None, obj, buf, offs, idmap, implicit_offs)

    @classmethod
    def unpack_from(cls, buf, offs, idmap=None):
        return new_proxied_seq(proxied_frozenset, buffer_ref(buf), offs, 0)

    cdef object _get(self, Py_ssize_t i):
        return seq_item(self._buf, self._pos, self._ik, self._table, i, self._depth, None)

    cdef object _set(self):
        cdef Py_ssize_t i
        if self._materialized is None:
            self._materialized = frozenset([self._get(i) for i in range(self._n)])
        return self._materialized

    def __len__(self):
        return self._n

    def __bool__(self):
        return self._n > 0

    def __iter__(self):
        cdef Py_ssize_t i
        for i in range(self._n):
            yield self._get(i)

    def __contains__(self, x):
        cdef int64_t ki = 0, vi
        cdef double kd = 0, vd
        cdef Py_ssize_t lo = 0, hi = self._n, mid
        cdef const char *t
        if self._ik == SB_SEQ_OBJECT:
            for i in range(self._n):
                if self._get(i) == x:
                    return True
            return False
        if not _number_key(x, self._ik, &ki, &kd):
            return False
        t = at(self._buf, self._table, seq_width(self._ik) * self._n)
        while lo < hi:
            mid = (lo + hi) >> 1
            if self._ik != SB_SEQ_FLOAT:
                vi = load_int_item(t, self._ik, mid)
                if vi == ki:
                    return True
                if vi < ki:
                    lo = mid + 1
                else:
                    hi = mid
            else:
                memcpy(&vd, t + 8 * mid, 8)
                if vd == kd:
                    return True
                if vd < kd:
                    lo = mid + 1
                else:
                    hi = mid
        return False

    def copy(self):
        return self

    def _as_set(self):
        return self._set()

    def union(self, *others):
        return self._set().union(*others)

    def intersection(self, *others):
        return self._set().intersection(*others)

    def difference(self, *others):
        return self._set().difference(*others)

    def symmetric_difference(self, other):
        return self._set().symmetric_difference(other)

    def isdisjoint(self, other):
        return self._set().isdisjoint(other)

    def issubset(self, other):
        return self._set() <= _as_frozenset(other)

    def issuperset(self, other):
        return self._set() >= _as_frozenset(other)

    def __or__(self, other):
        return _as_frozenset(self) | _as_frozenset(other)

    def __and__(self, other):
        return _as_frozenset(self) & _as_frozenset(other)

    def __sub__(self, other):
        return _as_frozenset(self) - _as_frozenset(other)

    def __xor__(self, other):
        return _as_frozenset(self) ^ _as_frozenset(other)

    def __richcmp__(self, other, int op):
        if not isinstance(other, (set, frozenset, proxied_frozenset)):
            if op == 2:
                return False
            if op == 3:
                return True
            return NotImplemented
        a = self._set()
        b = _as_frozenset(other)
        if op == 0:
            return a < b
        if op == 1:
            return a <= b
        if op == 2:
            return a == b
        if op == 3:
            return a != b
        if op == 4:
            return a > b
        return a >= b

    def __hash__(self):
        return hash(self._set())

    def __repr__(self):
        return f"proxied_frozenset({set(self._set())!r})"

    def __reduce__(self):
        return (frozenset, (self._set(),))


cdef object _as_frozenset(object o):
    if isinstance(o, proxied_frozenset):
        return (<proxied_frozenset>o)._set()
    if isinstance(o, (set, frozenset)):
        return o
    return frozenset(o)


# -- dicts

cdef class proxied_dict:
    """A packed dict read in place: lookups by binary search over the stable hashes
    of its keys, iteration, len, comparison with dicts.  Read-only."""
    cdef BufferRef _buf
    cdef Py_ssize_t _pos
    cdef Py_ssize_t _n
    cdef Py_ssize_t _hashes
    cdef proxied_list _keys
    cdef proxied_list _values

    def __init__(self, *args, **kw):
        raise TypeError("proxied_dict objects are made by unpacking (pack_into, unpack_from)")

    @classmethod
    def pack_into(cls, obj, buf, offs, idmap=None, implicit_offs=0):
        return pack_kind_into(SB_KIND_PDICT, None, obj, buf, offs, idmap, implicit_offs)

    @classmethod
    def unpack_from(cls, buf, offs, idmap=None):
        return new_proxied_dict(buffer_ref(buf), offs, 0)

    @property
    def buffer(self):
        return self._buf.owner

    @property
    def offset(self):
        return self._pos

    cdef Py_ssize_t _find(self, key) except -2:
        cdef uint64_t h
        cdef Py_ssize_t lo = 0, hi = self._n, mid
        cdef const char *t
        try:
            h = stable_hash(key)
        except TypeError:
            return -1
        t = at(self._buf, self._hashes, 8 * self._n)
        while lo < hi:
            mid = (lo + hi) >> 1
            if load_u64(t + 8 * mid) < h:
                lo = mid + 1
            else:
                hi = mid
        # re-checked per candidate: comparing keys runs Python code, which could
        # close the pool a pool-backed dict lives in
        while lo < self._n and load_u64(at(self._buf, self._hashes + 8 * lo, 8)) == h:
            if self._keys._get(lo, None) == key:
                return lo
            lo += 1
        return -1

    def get(self, key, default=None):
        cdef Py_ssize_t i = self._find(key)
        return default if i < 0 else self._values._get(i, None)

    def __getitem__(self, key):
        cdef Py_ssize_t i = self._find(key)
        if i < 0:
            raise KeyError(key)
        return self._values._get(i, None)

    def __contains__(self, key):
        return self._find(key) >= 0

    def has_key(self, key):
        return self._find(key) >= 0

    def __len__(self):
        return self._n

    def __iter__(self):
        return iter(self._keys)

    def iterkeys(self):
        return iter(self._keys)

    def itervalues(self):
        return iter(self._values)

    def iteritems(self):
        return zip(self._keys, self._values)

    def keys(self):
        return self._keys.to_list()

    def values(self):
        return self._values.to_list()

    def items(self):
        return list(zip(self._keys.to_list(), self._values.to_list()))

    viewkeys = keys
    viewvalues = values
    viewitems = items

    def copy(self):
        return dict(self.items())

    def __setitem__(self, key, value):
        raise TypeError("proxied_dict is read-only")

    def __delitem__(self, key):
        raise TypeError("proxied_dict is read-only")

    def __richcmp__(self, other, int op):
        if op != 2 and op != 3:
            return NotImplemented
        if isinstance(other, proxied_dict):
            other = other.copy()
        if not isinstance(other, dict):
            return op == 3
        eq = len(other) == self._n and all(k in other and other[k] == v for k, v in self.items())
        return eq if op == 2 else not eq

    __hash__ = None

    def __repr__(self):
        return f"proxied_dict({self.copy()!r})"

    def __str__(self):
        return str(self.copy())

    def __reduce__(self):
        return (dict, (self.copy(),))


cdef proxied_dict new_proxied_dict(BufferRef b, Py_ssize_t pos, int depth):
    cdef proxied_dict d = proxied_dict.__new__(proxied_dict)
    cdef Py_ssize_t p = pos, n
    cdef int64_t vrel
    if depth > MAX_DEPTH:
        raise CorruptedBufferError("corrupted buffer: values nested too deeply")
    n = read_size(b, &p)
    vrel = load_i64(at(b, p, 8))
    p += 8
    if n > b.size // 8:
        raise_bounds(b, p, n)
    at(b, p, 8 * n)
    d._buf = b
    d._pos = pos
    d._n = n
    d._hashes = p
    d._keys = new_proxied_seq(proxied_list, b, p + 8 * n, depth + 1)
    d._values = new_proxied_seq(proxied_list, b, add_rel(pos, vrel), depth + 1)
    if d._keys._len != n or d._values._len != n:
        raise CorruptedBufferError(f"corrupted buffer: dict of {n} entries at position {pos}")
    return d
