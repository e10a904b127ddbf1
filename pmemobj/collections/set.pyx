# cython: boundscheck=False, wraparound=False, cdivision=True
"""PersistentSet and PersistentFrozenSet: set and frozenset living in a pmemobj pool.

They behave as set and frozenset do (operators and their reflected forms with
builtin sets, subset/superset comparisons, equality with builtin sets), except:

- members must be persistable and hash with the pool's stable hash (1, 1.0 and
  True are one member in every process);
- operations that build a new set (union(), `&`, copy(), ...) return a builtin
  set (PersistentSet) or frozenset (PersistentFrozenSet): a new persistent set
  needs a pool: ``pool.new(PersistentSet, a | b)``;
- iteration follows insertion order, and pop() removes the member added last;
- every mutating method is one transaction, rolled back as a whole;
- a PersistentFrozenSet is filled once, by ``pool.new(PersistentFrozenSet,
  iterable)``; it hashes like the equal frozenset (in Python and in the pool).
"""
import collections.abc as _abc
import types as _types

from cpython.mem cimport PyMem_Malloc, PyMem_Free
from libc.stdint cimport uint64_t, int64_t
from pmemobj._core cimport MemoryManager, PersistentBase, pyp_slot_t, register_traverse, visit_fn
from pmemobj.collections._hashtable cimport *

cdef extern from "Python.h":
    int Py_ReprEnter(object) except -1
    void Py_ReprLeave(object)


cdef inline void _set_ht(HT *t) noexcept:
    ht_init(t, sizeof(pyp_set_t), sizeof(pyp_ht_key_t))


cdef inline uint64_t _hash_member(_BaseSet s, object key) except? 0xffffffffffffffff:
    """The hash of a lookup argument: a set stands for the equal frozenset, as in set."""
    try:
        return ht_owner_hash(s, key)
    except TypeError:
        if not isinstance(key, (set, PersistentSet)):
            raise
    return ht_owner_hash(s, frozenset(key))


cdef inline int64_t _find(_BaseSet s, object key, uint64_t h) except -2:
    cdef HT t
    cdef uint64_t slot
    _set_ht(&t)
    ht_open(s, &t, False)
    return ht_find(s, &t, key, h, &slot)


cdef inline bint _is_anyset(object o):
    return isinstance(o, (set, frozenset, _BaseSet))


cdef inline object _builtin(object o):
    """o itself if a builtin set or frozenset, else the builtin copy of a persistent set."""
    if isinstance(o, (set, frozenset)):
        return o
    return (<_BaseSet>o)._builtin()


cdef object _richcmp(_BaseSet s, object other, int op):
    """Comparisons as sets, with any set or set-like view.  (Each class defines
    __richcmp__ itself: a type that defines __hash__ does not inherit it.)"""
    if not _is_anyset(other):
        if not isinstance(other, _abc.Set):
            return NotImplemented
        other = frozenset(other)
    a = s._builtin()
    b = _builtin(other)
    if op == 2:
        return a == b
    if op == 3:
        return a != b
    if op == 0:
        return a < b
    if op == 1:
        return a <= b
    if op == 4:
        return a > b
    return a >= b


cdef class _BaseSet(PersistentBase):
    """What PersistentSet and PersistentFrozenSet share: everything that reads."""

    __class_getitem__ = classmethod(_types.GenericAlias)

    cdef int p_new(self, MemoryManager mm) except -1:
        mm.adopt(self, mm.new_object(type(self), sizeof(pyp_set_t)))
        return 0

    cdef object _builtin(self):
        return set(self)

    def __len__(self):
        cdef HT t
        _set_ht(&t)
        ht_open(self, &t, False)
        return t.h.used

    def __contains__(self, key):
        return _find(self, key, _hash_member(self, key)) >= 0

    def __iter__(self):
        cdef HT t
        cdef _SetIterator it = _SetIterator.__new__(_SetIterator)
        _set_ht(&t)
        ht_open(self, &t, False)
        it.s = self
        ht_cursor_start(&it.c, &t, False)
        return it

    def __repr__(self):
        name = type(self).__name__
        if Py_ReprEnter(self):
            return name + "(...)"
        try:
            items = [repr(x) for x in self]
            return name + "({" + ", ".join(items) + "})" if items else name + "()"
        finally:
            Py_ReprLeave(self)

    # -- operators: new builtin sets; the result type follows the left operand ----

    def __and__(self, other):
        return self._builtin() & _builtin(other) if _is_anyset(other) else NotImplemented

    def __rand__(self, other):
        return _builtin(other) & self._builtin() if _is_anyset(other) else NotImplemented

    def __or__(self, other):
        return self._builtin() | _builtin(other) if _is_anyset(other) else NotImplemented

    def __ror__(self, other):
        return _builtin(other) | self._builtin() if _is_anyset(other) else NotImplemented

    def __sub__(self, other):
        return self._builtin() - _builtin(other) if _is_anyset(other) else NotImplemented

    def __rsub__(self, other):
        return _builtin(other) - self._builtin() if _is_anyset(other) else NotImplemented

    def __xor__(self, other):
        return self._builtin() ^ _builtin(other) if _is_anyset(other) else NotImplemented

    def __rxor__(self, other):
        return _builtin(other) ^ self._builtin() if _is_anyset(other) else NotImplemented

    # -- methods that build or compare ------------------------------------------

    def copy(self):
        """A shallow copy as a builtin set (frozenset for PersistentFrozenSet)."""
        return self._builtin()

    def union(self, *others):
        """The members of the set and all others, as a builtin set/frozenset."""
        return self._builtin().union(*others)

    def intersection(self, *others):
        """The members common to the set and all others, as a builtin set/frozenset."""
        return self._builtin().intersection(*others)

    def difference(self, *others):
        """The members of the set that are in none of the others, as a builtin set/frozenset."""
        return self._builtin().difference(*others)

    def symmetric_difference(self, other):
        """The members in exactly one of the set and other, as a builtin set/frozenset."""
        return self._builtin().symmetric_difference(other)

    def issubset(self, other):
        """True if every member of the set is in other."""
        return self._builtin().issubset(other)

    def issuperset(self, other):
        """True if every member of other is in the set."""
        for x in other:
            if x not in self:
                return False
        return True

    def isdisjoint(self, other):
        """True if the set and other have no member in common."""
        if other is self:
            return len(self) == 0
        for x in other:
            if x in self:
                return False
        return True


cdef int _traverse(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    return ht_traverse(mm, off, sizeof(pyp_set_t), sizeof(pyp_ht_key_t), visit, ctx)


cdef int _add_many(_BaseSet s, list items) except -1:
    """Add every member of items in one transaction (every one is hashed first)."""
    cdef HT t
    _set_ht(&t)
    return ht_set_many_tx(s, &t, items, False)


cdef int _change(_BaseSet s, list remove, list add) except -1:
    """Discard every member of remove, then add every member of add: one transaction."""
    cdef Py_ssize_t nr = len(remove), na = len(add), i
    cdef uint64_t *hs
    cdef HT t
    cdef pyp_slot_t old[2]       # ht_release reads old[1] only for mappings
    cdef MemoryManager mm
    if nr + na == 0:
        s.addr(0)
        return 0
    hs = <uint64_t *>PyMem_Malloc((nr + na) * sizeof(uint64_t))
    if hs == NULL:
        raise MemoryError()
    try:
        for i in range(nr):
            hs[i] = _hash_member(s, remove[i])
            if isinstance(remove[i], (set, PersistentSet)):
                remove[i] = frozenset(remove[i])
        for i in range(na):
            hs[nr + i] = ht_owner_hash(s, add[i])
        _set_ht(&t)
        mm = s.mm
        s.begin()
        try:
            for i in range(nr):
                if ht_take(s, &t, remove[i], hs[i], old):
                    ht_release(mm, &t, old)
            for i in range(na):
                ht_set(s, &t, add[i], hs[nr + i], None, False)
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)
    finally:
        PyMem_Free(hs)
    return 0


cdef class PersistentSet(_BaseSet):
    """A set stored in a pmemobj pool: ``pool.new(PersistentSet, [iterable])``."""

    cdef int64_t stable_hash(self) except? -1:
        raise TypeError(f"unhashable type: '{type(self).__name__}'")

    def __init__(self, iterable=()):
        cdef MemoryManager mm
        items = list(iterable)
        self.begin()
        mm = self.mm
        try:
            self.clear()
            self.update(items)
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)

    __hash__ = None

    def __richcmp__(self, other, int op):
        return _richcmp(self, other, op)

    def add(self, elem):
        """Add elem to the set."""
        cdef uint64_t h = ht_owner_hash(self, elem)
        cdef HT t
        _set_ht(&t)
        ht_set_tx(self, &t, elem, h, None, False)

    cdef int _discard(self, object elem) except -1:
        cdef uint64_t h = _hash_member(self, elem)
        cdef HT t
        if isinstance(elem, (set, PersistentSet)):
            elem = frozenset(elem)
        _set_ht(&t)
        return ht_remove_tx(self, &t, elem, h, False, HT_FOUND, False)

    def discard(self, elem):
        """Remove elem if it is a member."""
        self._discard(elem)

    def remove(self, elem):
        """Remove elem; KeyError if it is not a member."""
        if not self._discard(elem):
            raise KeyError(elem)

    def pop(self):
        """Remove and return the member added last; KeyError if the set is empty."""
        cdef HT t
        _set_ht(&t)
        elem = ht_remove_tx(self, &t, None, 0, True, HT_KEY, _MISSING)
        if elem is _MISSING:
            raise KeyError("pop from an empty set")
        return elem

    def clear(self):
        """Remove every member."""
        cdef HT t
        _set_ht(&t)
        ht_clear_tx(self, &t)

    def update(self, *others):
        """Add the members of every iterable in others."""
        items = []
        for other in others:
            if other is not self:
                items.extend(other)
        _add_many(self, items)

    def intersection_update(self, *others):
        """Keep only the members found in every one of others."""
        keep = set(self).intersection(*others)
        _change(self, [x for x in self if x not in keep], [])

    def difference_update(self, *others):
        """Remove the members found in any of others."""
        remove = []
        for other in others:
            remove.extend(list(self) if other is self else other)
        _change(self, remove, [])

    def symmetric_difference_update(self, other):
        """Keep the members found in exactly one of the set and other."""
        if other is self:
            self.clear()
            return
        other = other if isinstance(other, (set, frozenset)) else set(other)
        remove = []
        add = []
        for x in other:
            (remove if x in self else add).append(x)
        _change(self, remove, add)

    def __ior__(self, other):
        if not _is_anyset(other):
            return NotImplemented
        self.update(other)
        return self

    def __iand__(self, other):
        if not _is_anyset(other):
            return NotImplemented
        self.intersection_update(other)
        return self

    def __isub__(self, other):
        if not _is_anyset(other):
            return NotImplemented
        self.difference_update(other)
        return self

    def __ixor__(self, other):
        if not _is_anyset(other):
            return NotImplemented
        self.symmetric_difference_update(other)
        return self


cdef class PersistentFrozenSet(_BaseSet):
    """A frozenset stored in a pmemobj pool: ``pool.new(PersistentFrozenSet, [iterable])``.

    Hashable: its hash is that of the equal frozenset, in Python and in the pool."""
    cdef object _hash_cache           # hash(frozenset(self)); the members never change
    cdef object _stable_hash_cache

    cdef object _builtin(self):
        return frozenset(self)

    def __init__(self, iterable=()):
        cdef HT t
        cdef pyp_set_t *p
        cdef MemoryManager mm
        items = list(iterable)          # first, as PersistentSet(): an error of the iterable comes out as is
        p = <pyp_set_t *>self.addr(sizeof(pyp_set_t))
        mm = self.mm
        if p.frozen:
            raise TypeError(f"{type(self).__name__} is immutable: its members are set once, by pool.new()")
        self.begin()
        try:
            _add_many(self, items)
            p = <pyp_set_t *>self.addr(sizeof(pyp_set_t))
            mm.snapshot(&p.frozen, sizeof(uint64_t))
            p.frozen = 1
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)

    def __richcmp__(self, other, int op):
        return _richcmp(self, other, op)

    def __hash__(self):
        if self._hash_cache is None:
            self._hash_cache = hash(frozenset(self))
        return self._hash_cache

    cdef int64_t stable_hash(self) except? -1:
        if self._stable_hash_cache is None:
            self._stable_hash_cache = self.mm.hash_of(frozenset(self))
        return self._stable_hash_cache


register_traverse(_BaseSet, _traverse)

cdef object _MISSING = object()
_abc.MutableSet.register(PersistentSet)
_abc.Set.register(PersistentFrozenSet)
_abc.Hashable.register(PersistentFrozenSet)


cdef class _SetIterator:
    cdef _BaseSet s                 # None once exhausted
    cdef HTCursor c

    def __iter__(self):
        return self

    def __length_hint__(self):
        cdef HT t
        if self.s is None:
            return 0
        _set_ht(&t)
        ht_open(self.s, &t, False)
        return ht_cursor_hint(&self.c, &t)

    def __next__(self):
        cdef HT t
        cdef int64_t i
        cdef pyp_ht_entry_t *e
        cdef pyp_slot_t k
        if self.s is None:
            raise StopIteration
        _set_ht(&t)
        ht_open(self.s, &t, False)
        i = ht_cursor_next(&self.c, &t, &e)
        if i < 0:
            if i != HT_RESIZED:
                self.s = None
            ht_cursor_fail(i, "Set changed size during iteration", "Set changed during iteration")
        k = ht_key(e)
        return self.s.mm.load(&k)
