# cython: boundscheck=False, wraparound=False, cdivision=True
"""PersistentDict: a dict whose items live in a pmemobj pool.

It behaves as dict does (insertion order, live keys/values/items views, LIFO
popitem, `|` and `|=`, RuntimeError when it changes size during iteration),
except where living in a pool makes a difference:

- keys and values must be persistable (TypeError otherwise); keys hash with
  the pool's stable hash, so 1, 1.0 and True are one key in every process;
- results that are new mappings (copy(), `|`) are plain dicts, since a new
  persistent dict needs a pool: ``pool.new(PersistentDict, d | other)``;
- ``PersistentDict.fromkeys`` raises TypeError for the same reason: use
  ``pool.new(PersistentDict, dict.fromkeys(keys, value))``;
- every mutating method is one transaction (its own, or a part of the
  enclosing one) and is rolled back as a whole: an update() that meets a bad
  element changes nothing;
- a persistent object value that pop()/del/clear() releases for the last time
  is freed at once, like any object whose reference count drops to zero.
"""
import collections.abc as _abc
import types as _types

from cpython.object cimport PyObject_RichCompareBool, Py_EQ
from libc.stdint cimport uint64_t, int64_t
from pmemobj._core cimport MemoryManager, PersistentBase, pyp_slot_t, register_traverse, visit_fn
from pmemobj.collections._hashtable cimport *

cdef extern from "Python.h":
    int Py_ReprEnter(object) except -1
    void Py_ReprLeave(object)

cdef enum:
    KEYS = 0
    VALUES = 1
    ITEMS = 2


cdef inline void _dict_ht(HT *t) noexcept:
    ht_init(t, sizeof(pyp_dict_t), sizeof(pyp_ht_entry_t))


cdef inline int64_t _find(PersistentDict d, object key, HT *t) except -2:
    cdef uint64_t s
    cdef uint64_t h = ht_owner_hash(d, key)
    _dict_ht(t)
    ht_open(d, t, False)
    return ht_find(d, t, key, h, &s)


cdef list _pairs(object other):
    """The (key, value) pairs of a mapping or an iterable of pairs, as dict.update reads them."""
    cdef list out
    cdef Py_ssize_t i = 0
    if isinstance(other, (dict, PersistentDict)):
        return list(other.items())
    if hasattr(other, "keys"):
        return [(k, other[k]) for k in other.keys()]
    out = []
    for item in other:
        try:
            seq = item if type(item) is tuple or type(item) is list else list(item)
        except TypeError:
            raise TypeError(f"cannot convert dictionary update sequence element #{i} to a sequence") from None
        if len(seq) != 2:
            raise ValueError(f"dictionary update sequence element #{i} has length {len(seq)}; 2 is required")
        out.append((seq[0], seq[1]))
        i += 1
    return out


cdef int _set_many(PersistentDict d, list pairs) except -1:
    """d[k] = v for every pair, in one transaction; every key is hashed first."""
    cdef HT t
    _dict_ht(&t)
    return ht_set_many_tx(d, &t, pairs, True)


cdef class PersistentDict(PersistentBase):
    """A dict stored in a pmemobj pool: ``pool.new(PersistentDict, [mapping_or_iterable], **kw)``."""

    cdef int p_new(self, MemoryManager mm) except -1:
        mm.adopt(self, mm.new_object(type(self), sizeof(pyp_dict_t)))
        return 0

    cdef int64_t stable_hash(self) except? -1:
        raise TypeError(f"unhashable type: '{type(self).__name__}'")

    def __init__(self, /, *args, **kw):
        if len(args) > 1:
            raise TypeError(f"{type(self).__name__} expected at most 1 argument, got {len(args)}")
        self.update(*args, **kw)

    # -- reading ---------------------------------------------------------------

    def __len__(self):
        cdef HT t
        _dict_ht(&t)
        ht_open(self, &t, False)
        return t.h.used

    def __contains__(self, key):
        cdef HT t
        return _find(self, key, &t) >= 0

    def __getitem__(self, key):
        cdef HT t
        cdef int64_t ix = _find(self, key, &t)
        cdef pyp_slot_t v
        if ix < 0:
            if type(self) is not PersistentDict:
                missing = getattr(type(self), "__missing__", None)
                if missing is not None:
                    return missing(self, key)
            raise KeyError(key)
        v = ht_value(ht_entry(&t, <uint64_t>ix))
        return ht_load(self.mm, &v)

    def get(self, key, default=None):
        """Return the value for key if key is in the dictionary, else default."""
        cdef HT t
        cdef int64_t ix = _find(self, key, &t)
        cdef pyp_slot_t v
        if ix < 0:
            return default
        v = ht_value(ht_entry(&t, <uint64_t>ix))
        return ht_load(self.mm, &v)

    def __iter__(self):
        return _new_iter(self, KEYS, False)

    def __reversed__(self):
        return _new_iter(self, KEYS, True)

    def keys(self):
        """A live set-like view of the keys."""
        return _new_view(PersistentDictKeys, self)

    def values(self):
        """A live view of the values."""
        return _new_view(PersistentDictValues, self)

    def items(self):
        """A live set-like view of the (key, value) pairs."""
        return _new_view(PersistentDictItems, self)

    def copy(self):
        """A shallow copy as a plain dict (a persistent copy: pool.new(PersistentDict, d))."""
        return dict(_new_iter(self, ITEMS, False))

    @classmethod
    def fromkeys(cls, iterable, value=None):
        """Not available: a persistent dict needs a pool.

        Use ``pool.new(PersistentDict, dict.fromkeys(iterable, value))``."""
        raise TypeError(f"{cls.__name__}.fromkeys() cannot create a dict without a pool; use "
                        f"pool.new({cls.__name__}, dict.fromkeys(iterable, value))")

    def __eq__(self, other):
        if not isinstance(other, (dict, PersistentDict)):
            return NotImplemented
        return _dict_eq(self, other)

    def __ne__(self, other):
        if not isinstance(other, (dict, PersistentDict)):
            return NotImplemented
        return not _dict_eq(self, other)

    __hash__ = None

    __class_getitem__ = classmethod(_types.GenericAlias)

    def __or__(self, other):
        if not isinstance(other, (dict, PersistentDict)):
            return NotImplemented
        r = self.copy()
        r.update(other)
        return r

    def __ror__(self, other):
        if not isinstance(other, (dict, PersistentDict)):
            return NotImplemented
        r = dict(other)
        r.update(_new_iter(self, ITEMS, False))
        return r

    def __repr__(self):
        name = type(self).__name__
        if Py_ReprEnter(self):
            return name + "({...})"
        try:
            return name + "({" + ", ".join([f"{k!r}: {v!r}" for k, v in _new_iter(self, ITEMS, False)]) + "})"
        finally:
            Py_ReprLeave(self)

    # -- writing: one transaction per call ----------------------------------------

    def __setitem__(self, key, value):
        cdef uint64_t h = ht_owner_hash(self, key)
        cdef HT t
        _dict_ht(&t)
        ht_set_tx(self, &t, key, h, value, True)

    def __delitem__(self, key):
        cdef uint64_t h = ht_owner_hash(self, key)
        cdef HT t
        _dict_ht(&t)
        if not ht_remove_tx(self, &t, key, h, False, HT_FOUND, False):
            raise KeyError(key)

    def pop(self, key, *default):
        """Remove key and return its value; if key is missing return default, or raise KeyError."""
        if len(default) > 1:
            raise TypeError(f"pop expected at most 2 arguments, got {1 + len(default)}")
        if len(self) == 0:          # as dict: an empty dict does not hash the key
            if default:
                return default[0]
            raise KeyError(key)
        cdef uint64_t h = ht_owner_hash(self, key)
        cdef HT t
        _dict_ht(&t)
        value = ht_remove_tx(self, &t, key, h, False, HT_VALUE, _MISSING)
        if value is not _MISSING:
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def popitem(self):
        """Remove and return the (key, value) pair inserted last; KeyError if empty."""
        cdef HT t
        _dict_ht(&t)
        item = ht_remove_tx(self, &t, None, 0, True, HT_ITEM, _MISSING)
        if item is _MISSING:
            raise KeyError("popitem(): dictionary is empty")
        return item

    def setdefault(self, key, default=None):
        """Return d[key], first inserting key with value default when it is missing."""
        cdef HT t
        cdef int64_t ix = _find(self, key, &t)
        cdef pyp_slot_t v
        cdef MemoryManager mm = self.mm
        if ix >= 0:
            v = ht_value(ht_entry(&t, <uint64_t>ix))
            return mm.load(&v)
        if ht_set_tx(self, &t, key, ht_owner_hash(self, key), default, False):
            return default
        return self[key]

    def update(self, /, *args, **kw):
        """Update from a mapping or an iterable of pairs, then from the keyword arguments."""
        if len(args) > 1:
            raise TypeError(f"update expected at most 1 argument, got {len(args)}")
        pairs = _pairs(args[0]) if args else []
        if kw:
            pairs.extend(kw.items())
        _set_many(self, pairs)

    def __ior__(self, other):
        _set_many(self, _pairs(other))
        return self

    def clear(self):
        """Remove all items."""
        cdef HT t
        _dict_ht(&t)
        ht_clear_tx(self, &t)


cdef bint _dict_eq(PersistentDict d, object other) except -1:
    if other is d:
        return True
    if len(d) != len(other):
        return False
    missing = _MISSING
    for k, v in _new_iter(d, ITEMS, False):
        ov = other.get(k, missing)
        if ov is missing or not PyObject_RichCompareBool(v, ov, Py_EQ):
            return False
    return True

cdef object _MISSING = object()


cdef int _traverse(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    return ht_traverse(mm, off, sizeof(pyp_dict_t), sizeof(pyp_ht_entry_t), visit, ctx)

register_traverse(PersistentDict, _traverse)
_abc.MutableMapping.register(PersistentDict)


# ---------------------------------------------------------------------------
# Iteration: every step reads the pool, so iterators see what the pool holds

cdef class _DictIterator:
    cdef PersistentDict d          # None once exhausted
    cdef HTCursor c
    cdef int kind

    def __iter__(self):
        return self

    def __length_hint__(self):
        cdef HT t
        if self.d is None:
            return 0
        _dict_ht(&t)
        ht_open(self.d, &t, False)
        return ht_cursor_hint(&self.c, &t)

    def __next__(self):
        cdef HT t
        cdef int64_t i
        cdef pyp_ht_entry_t *e
        cdef pyp_slot_t k, v
        cdef MemoryManager mm
        if self.d is None:
            raise StopIteration
        _dict_ht(&t)
        ht_open(self.d, &t, False)
        i = ht_cursor_next(&self.c, &t, &e)
        if i < 0:
            if i != HT_RESIZED:     # a resized table's iterator stays broken, as dict's do
                self.d = None
            ht_cursor_fail(i, "dictionary changed size during iteration", "dictionary keys changed during iteration")
        k = ht_key(e)
        v = ht_value(e)
        mm = self.d.mm
        if self.kind == KEYS:
            return mm.load(&k)
        if self.kind == VALUES:
            return mm.load(&v)
        return (mm.load(&k), mm.load(&v))


cdef _DictIterator _new_iter(PersistentDict d, int kind, bint reverse):
    cdef HT t
    cdef _DictIterator it = _DictIterator.__new__(_DictIterator)
    _dict_ht(&t)
    ht_open(d, &t, False)
    it.d = d
    it.kind = kind
    ht_cursor_start(&it.c, &t, reverse)
    return it


# ---------------------------------------------------------------------------
# Views

cdef class _DictView:
    cdef PersistentDict _d

    def __len__(self):
        return len(self._d)

    @property
    def mapping(self):
        """A read-only proxy of the dict this view shows."""
        return _types.MappingProxyType(self._d)

    def __repr__(self):
        return f"{type(self).__name__}({list(self)!r})"


cdef _new_view(type cls, PersistentDict d):
    cdef _DictView v = cls.__new__(cls)
    if d.mm is None:
        d.addr(0)
    v._d = d
    return v


cdef bint _is_setlike(object o):
    return isinstance(o, (set, frozenset)) or isinstance(o, _abc.Set)


cdef bint _contained_in(object a, object b) except -1:
    for x in a:
        if x not in b:
            return False
    return True


cdef class _SetView(_DictView):
    """What keys and items views share: comparisons and operators as sets."""

    def __richcmp__(self, other, int op):
        if not _is_setlike(other):
            return NotImplemented
        n, m = len(self), len(other)
        if op == 2:     # ==
            return n == m and _contained_in(self, other)
        if op == 3:     # !=
            return not (n == m and _contained_in(self, other))
        if op == 0:     # <
            return n < m and _contained_in(self, other)
        if op == 1:     # <=
            return n <= m and _contained_in(self, other)
        if op == 4:     # >
            return n > m and _contained_in(other, self)
        return n >= m and _contained_in(other, self)

    __hash__ = None

    def __and__(self, other):
        r = set(self)
        r.intersection_update(other)
        return r

    def __rand__(self, other):
        r = set(other)
        r.intersection_update(self)
        return r

    def __or__(self, other):
        r = set(self)
        r.update(other)
        return r

    def __ror__(self, other):
        r = set(other)
        r.update(self)
        return r

    def __sub__(self, other):
        r = set(self)
        r.difference_update(other)
        return r

    def __rsub__(self, other):
        r = set(other)
        r.difference_update(self)
        return r

    def __xor__(self, other):
        r = set(self)
        r.symmetric_difference_update(other)
        return r

    def __rxor__(self, other):
        r = set(other)
        r.symmetric_difference_update(self)
        return r

    def isdisjoint(self, other):
        """True if the view and the iterable have no element in common."""
        if other is self:
            return len(self) == 0
        for x in other:
            if x in self:
                return False
        return True


cdef class PersistentDictKeys(_SetView):
    """The live keys view of a PersistentDict."""

    def __iter__(self):
        return _new_iter(self._d, KEYS, False)

    def __reversed__(self):
        return _new_iter(self._d, KEYS, True)

    def __contains__(self, key):
        return key in self._d


cdef class PersistentDictItems(_SetView):
    """The live (key, value) view of a PersistentDict."""

    def __iter__(self):
        return _new_iter(self._d, ITEMS, False)

    def __reversed__(self):
        return _new_iter(self._d, ITEMS, True)

    def __contains__(self, item):
        cdef HT t
        cdef int64_t ix
        cdef pyp_slot_t v
        if not isinstance(item, tuple) or len(<tuple>item) != 2:
            return False
        ix = _find(self._d, (<tuple>item)[0], &t)
        if ix < 0:
            return False
        v = ht_value(ht_entry(&t, <uint64_t>ix))
        return PyObject_RichCompareBool(self._d.mm.load(&v), (<tuple>item)[1], Py_EQ)


cdef class PersistentDictValues(_DictView):
    """The live values view of a PersistentDict."""

    def __iter__(self):
        return _new_iter(self._d, VALUES, False)

    def __reversed__(self):
        return _new_iter(self._d, VALUES, True)


_abc.KeysView.register(PersistentDictKeys)
_abc.ItemsView.register(PersistentDictItems)
_abc.ValuesView.register(PersistentDictValues)
