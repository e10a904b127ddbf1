# cython: boundscheck=False, wraparound=False, cdivision=True
"""PersistentList: a ``list`` whose items live in a pool.

Layout (include/pyp_list.h): the object holds size, capacity and the offset of
a raw array of value slots that grows by doubling, so ``append`` is amortized
O(1).  Every mutating method runs in a transaction of its own unless one is
open, and is rolled back as a whole when that transaction aborts.

Slots are written before references are dropped: new values are stored (their
reference counts go up) first and the replaced ones are released last, so a
value moved inside the list is never freed on the way, and a release that
frees this very list (the last reference was in a cycle) finds it consistent.

Reading returns plain Python values; a slice, ``copy()``, ``+`` and ``*``
return a plain ``list``.  A persistent object removed from its last container
is freed at once (its proxy then raises ``ValueError``).  Values other than
persistent objects are stored by value: reading one back gives an equal new
object, so ``in``/``index``/``count``/``remove`` find items by ``==`` only (a
NaN is not found, where a list finds the very same NaN object by identity).
"""
import collections.abc

from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.object cimport PyObject_RichCompare, Py_EQ, Py_NE
from cpython.pythread cimport PyThread_get_thread_ident
from cpython.ref cimport PyObject
from libc.stdint cimport uint64_t, int64_t
from libc.string cimport memcpy, memmove, memcmp

from pmemobj._core cimport (MemoryManager, PersistentBase, pyp_header_t, pyp_slot_t,
                            PYP_TYPE_NUM_RAW, PYP_TAG_REF, VISIT_RAW, visit_fn,
                            register_traverse, visit_slots)
from pmemobj._core import InvalidPoolError, PoolFullError

cdef extern from "Python.h":
    bint PyIndex_Check(object)
    Py_ssize_t PyNumber_AsSsize_t(object, PyObject *) except? -1
    bint PySlice_Check(object)
    int PySlice_Unpack(object, Py_ssize_t *, Py_ssize_t *, Py_ssize_t *) except -1
    Py_ssize_t PySlice_AdjustIndices(Py_ssize_t, Py_ssize_t *, Py_ssize_t *, Py_ssize_t)
    const Py_ssize_t PY_SSIZE_T_MAX

cdef extern from "pyp_list.h":
    ctypedef struct pyp_list_t:
        pyp_header_t h
        uint64_t size
        uint64_t capacity
        uint64_t items

cdef enum:
    SLOT = sizeof(pyp_slot_t)
    MIN_CAPACITY = 8            # smallest items array
    HEADER_FIELDS = 24          # size, capacity, items: adjacent, one snapshot

# start/stop of _replace: the length of the list when the transaction holds the pool lock
cdef uint64_t END = <uint64_t>-1

# Capacities beyond this cannot be a byte count of a real allocation (damage).
cdef uint64_t MAX_CAPACITY = (<uint64_t>1) << 56
EINVAL = 22


cdef int _check_header(MemoryManager mm, uint64_t off, const pyp_list_t *h) except -1:
    if h.size > h.capacity or h.capacity > MAX_CAPACITY or (h.items == 0) != (h.capacity == 0):
        raise InvalidPoolError(EINVAL, f"damaged pool: PersistentList at 0x{off:x} has size {h.size}, "
                               f"capacity {h.capacity}, items at 0x{h.items:x}", mm.filename)
    return 0


cdef int _list_traverse(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    """Report the list's references (its REF slots) and its items array."""
    cdef pyp_list_t *h = <pyp_list_t *>mm.obj(off, sizeof(pyp_list_t))
    _check_header(mm, off, h)
    if h.items:
        visit_slots(<pyp_slot_t *>mm.obj(h.items, h.capacity * SLOT), h.size, visit, ctx)
        visit(ctx, h.items, VISIT_RAW)
    return 0


cdef inline uint64_t _grown(MemoryManager mm, uint64_t cap, uint64_t need):
    """The capacity of a grown items array: doubled, but no larger than the pool could hold."""
    return max(need, min(max(2 * cap, <uint64_t>MIN_CAPACITY), mm.pool_size // SLOT))


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


cdef set _repr_active = set()     # (id(proxy), thread) of the reprs being built: cycles print [...]


cdef class PersistentList(PersistentBase):
    """PersistentList([iterable]): a :class:`list` stored in a pool.

    Create one with ``pool.new(PersistentList, iterable)``.  It supports the
    whole ``list`` API.  Slices, ``copy()``, ``+`` and ``*`` return plain lists;
    ``+=``, ``*=`` and slice assignment change the persistent list in place.
    """
    # Volatile, per proxy: the header and items array already checked against
    # the pool (the object's offset never changes; an items array is checked
    # again whenever the header points elsewhere).
    cdef uint64_t valid_off
    cdef uint64_t valid_items
    cdef uint64_t valid_capacity
    cdef pyp_slot_t *valid_slots

    # -- creation and access --------------------------------------------------

    cdef int p_new(self, MemoryManager mm) except -1:
        mm.adopt(self, mm.new_object(type(self), sizeof(pyp_list_t)))   # zeroed: an empty list
        return 0

    def __init__(self, iterable=()):
        items = tuple(iterable)
        self._replace(0, END, items)

    cdef inline pyp_list_t *_head(self) except NULL:
        # off is reset to 0 when the object is freed, its transaction aborted or the pool closed
        if self.off != 0 and self.off == self.valid_off:
            return <pyp_list_t *>(self.mm.base + self.off)
        cdef pyp_list_t *h = <pyp_list_t *>self.addr(sizeof(pyp_list_t))
        self.valid_off = self.off
        return h

    cdef inline pyp_slot_t *_slots(self, pyp_list_t *h) except? NULL:
        """The items array the header points to (NULL when the capacity is 0)."""
        if h.items == self.valid_items and h.capacity == self.valid_capacity and h.size <= h.capacity:
            return self.valid_slots
        _check_header(self.mm, self.off, h)
        self.valid_slots = NULL
        if h.items:
            self.valid_slots = <pyp_slot_t *>self.mm.obj(h.items, h.capacity * SLOT)
        self.valid_items = h.items
        self.valid_capacity = h.capacity
        return self.valid_slots

    cdef object _load(self, uint64_t i):
        """Item i, read afresh (loading may run code that changes the list)."""
        cdef pyp_list_t *h = self._head()
        if i >= h.size:
            raise IndexError("list index out of range")
        return self.mm.load(&self._slots(h)[i])

    cdef list _tolist(self):
        cdef uint64_t i = 0
        cdef pyp_list_t *h = self._head()
        out = []
        while i < h.size:
            out.append(self.mm.load(&self._slots(h)[i]))
            i += 1
            h = self._head()
        return out

    cdef int _begin(self) except -1:
        self._head()
        return self.mm.begin()

    cdef int _changed(self, pyp_list_t *h, uint64_t size, uint64_t items) except -1:
        # Storing a value can run Python code (pickling a nominated type) that
        # could change this list under a method that is half-way through.
        if h.size != size or h.items != items:
            raise RuntimeError("PersistentList changed while a value was being stored")
        return 0

    # -- the one primitive behind every change of length ------------------------

    cdef int _replace(self, uint64_t start, uint64_t stop, tuple values) except -1:
        """self[start:stop] = values, in a transaction (0 <= start <= stop <= len; END: len)."""
        cdef MemoryManager mm = self.mm
        self._head()
        if start == stop and not values:
            return 0
        mm.begin()
        try:
            self._replace_in_tx(start, stop, values)
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)
        return 0

    cdef int _replace_in_tx(self, uint64_t start, uint64_t stop, tuple values) except -1:
        cdef MemoryManager mm = self.mm
        cdef pyp_list_t *h = self._head()
        cdef pyp_slot_t *slots = self._slots(h)
        cdef uint64_t n = h.size, cap = h.capacity, items = h.items
        if start == END:
            start = n
        if stop == END:
            stop = n
        if stop > n or start > stop:        # only when another thread changed the list meanwhile
            raise RuntimeError("PersistentList changed during the operation")
        cdef uint64_t k = len(values), nd = stop - start
        cdef uint64_t ns = n - nd + k, newcap = cap, newitems = items, i
        cdef pyp_slot_t *dst = slots
        cdef pyp_slot_t *old = NULL
        if ns > MAX_CAPACITY or ns * SLOT > mm.pool_size:
            raise PoolFullError(f"a list of {ns} items does not fit in pool {mm.filename!r}")
        if nd:
            old = <pyp_slot_t *>PyMem_Malloc(nd * SLOT)
            if old == NULL:
                raise MemoryError()
            memcpy(old, slots + start, nd * SLOT)
        try:
            if ns > cap or ns == 0 or (cap > MIN_CAPACITY and ns * 4 < cap):
                # a new array: grown by doubling, shrunk when mostly unused, freed when empty
                newcap = 0 if ns == 0 else _grown(mm, cap, ns) if ns > cap else max(2 * ns, <uint64_t>MIN_CAPACITY)
                newitems = 0
                dst = NULL
                if newcap:
                    newitems = mm.alloc(newcap * SLOT, PYP_TYPE_NUM_RAW, False)
                    dst = <pyp_slot_t *>mm.obj(newitems, newcap * SLOT)
                    if start:
                        memcpy(dst, slots, start * SLOT)
                    if n > stop:
                        memcpy(dst + start + k, slots + stop, (n - stop) * SLOT)
                if items:
                    mm.free(items)
            else:
                mm.snapshot(slots + start, (max(n, ns) - start) * SLOT)
                if n > stop:
                    memmove(slots + start + k, slots + stop, (n - stop) * SLOT)
            for i in range(k):
                mm.init_slot(&dst[start + i], values[i])
            self._changed(h, n, items)
            mm.snapshot(&h.size, HEADER_FIELDS)
            h.size = ns
            h.capacity = newcap
            h.items = newitems
            for i in range(nd):
                mm.release_slot(old[i])
        finally:
            PyMem_Free(old)
        return 0

    cdef int _grow_in_tx(self, pyp_list_t *h, uint64_t need) except -1:
        """Move the items to a new array of at least `need` slots (doubling)."""
        cdef MemoryManager mm = self.mm
        cdef pyp_slot_t *slots = self._slots(h)
        if need > MAX_CAPACITY or need * SLOT > mm.pool_size:
            raise PoolFullError(f"a list of {need} items does not fit in pool {mm.filename!r}")
        cdef uint64_t newcap = _grown(mm, h.capacity, need)
        cdef uint64_t newitems = mm.alloc(newcap * SLOT, PYP_TYPE_NUM_RAW, False)
        if h.size:
            memcpy(mm.obj(newitems, newcap * SLOT), slots, h.size * SLOT)
        if h.items:
            mm.free(h.items)
        mm.snapshot(&h.size, HEADER_FIELDS)
        h.capacity = newcap
        h.items = newitems
        return 0

    # -- reading ----------------------------------------------------------------

    def __len__(self):
        return self._head().size

    def __getitem__(self, key):
        cdef Py_ssize_t i, start, stop, step, n, k
        cdef pyp_list_t *h = self._head()
        if PyIndex_Check(key):
            i = PyNumber_AsSsize_t(key, <PyObject *>IndexError)
            n = h.size
            if i < 0:
                i += n
            if i < 0 or i >= n:
                raise IndexError("list index out of range")
            return self.mm.load(&self._slots(h)[i])
        if PySlice_Check(key):
            PySlice_Unpack(key, &start, &stop, &step)
            n = PySlice_AdjustIndices(h.size, &start, &stop, step)
            out = []
            for k in range(n):
                h = self._head()
                i = start + k * step
                if <uint64_t>i >= h.size:       # shrunk by code run while loading
                    break
                out.append(self.mm.load(&self._slots(h)[i]))
            return out
        raise TypeError(f"list indices must be integers or slices, not {type(key).__name__}")

    def __iter__(self):
        self._head()
        return PersistentListIterator(self, False)

    def __reversed__(self):
        self._head()
        return PersistentListIterator(self, True)

    def __contains__(self, value):
        cdef uint64_t i = 0
        cdef pyp_list_t *h = self._head()
        while i < h.size:
            if self.mm.slot_eq(&self._slots(h)[i], value):
                return True
            i += 1
            h = self._head()
        return False

    def index(self, value, start=0, stop=PY_SSIZE_T_MAX):
        """Return the first index of *value* in [start, stop); ValueError if absent."""
        cdef pyp_list_t *h = self._head()
        cdef Py_ssize_t i = _clip_index(start, h.size)
        cdef Py_ssize_t end = _clip_index(stop, h.size)
        while i < end and <uint64_t>i < h.size:
            if self.mm.slot_eq(&self._slots(h)[i], value):
                return i
            i += 1
            h = self._head()
        raise ValueError(f"{value!r} is not in list")

    def count(self, value):
        """Return the number of items equal to *value*."""
        cdef uint64_t i = 0
        cdef Py_ssize_t c = 0
        cdef pyp_list_t *h = self._head()
        while i < h.size:
            if self.mm.slot_eq(&self._slots(h)[i], value):
                c += 1
            i += 1
            h = self._head()
        return c

    def copy(self):
        """Return a shallow copy as a plain ``list`` (nothing is allocated in the pool)."""
        return self._tolist()

    def __richcmp__(self, other, int op):
        if isinstance(other, PersistentList):
            o = (<PersistentList>other)._tolist()
        elif isinstance(other, list):
            o = other
        else:
            return NotImplemented
        if (op == Py_EQ or op == Py_NE) and self._head().size != <uint64_t>len(o):
            return op == Py_NE
        return PyObject_RichCompare(self._tolist(), o, op)

    def __add__(self, other):
        if isinstance(other, PersistentList):
            return self._tolist() + (<PersistentList>other)._tolist()
        if isinstance(other, list):
            return self._tolist() + other
        return NotImplemented

    def __radd__(self, other):
        if isinstance(other, list):
            return other + self._tolist()
        return NotImplemented

    def __mul__(self, n):
        if not PyIndex_Check(n):
            return NotImplemented
        return self._tolist() * n

    def __rmul__(self, n):
        if not PyIndex_Check(n):
            return NotImplemented
        return self._tolist() * n

    def __repr__(self):
        name = type(self).__name__
        try:
            self._head()
        except (ValueError, TypeError) as e:
            return f"<{name}: {e}>"
        key = (id(self), PyThread_get_thread_ident())
        if key in _repr_active:
            return f"{name}([...])"
        _repr_active.add(key)
        try:
            return f"{name}({self._tolist()!r})"
        finally:
            _repr_active.discard(key)

    cdef int64_t stable_hash(self) except? -1:
        raise TypeError(f"unhashable type: '{type(self).__name__}'")

    __hash__ = None

    # -- writing ------------------------------------------------------------------

    def append(self, value):
        """Add *value* at the end (amortized O(1))."""
        cdef MemoryManager mm = self.mm
        cdef pyp_list_t *h
        cdef pyp_slot_t *slot
        cdef uint64_t n, items
        self._begin()
        try:
            h = self._head()
            n = h.size
            if n == h.capacity:
                self._grow_in_tx(h, n + 1)
            items = h.items
            slot = &self._slots(h)[n]
            mm.snapshot(slot, SLOT)       # unused until size grows; logged so it is flushed at commit
            mm.init_slot(slot, value)
            self._changed(h, n, items)
            mm.snapshot(&h.size, 8)
            h.size = n + 1
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)

    def extend(self, iterable):
        """Append every item of *iterable* (all or nothing)."""
        self._replace(END, END, tuple(iterable))

    def __iadd__(self, other):
        self.extend(other)
        return self

    def insert(self, Py_ssize_t index, value):
        """Insert *value* before *index* (clipped to the list like list.insert)."""
        cdef Py_ssize_t n = self._head().size
        if index < 0:
            index += n
            if index < 0:
                index = 0
        elif index > n:
            index = n
        self._replace(index, index, (value,))

    def pop(self, Py_ssize_t index=-1):
        """Remove and return the item at *index* (default last)."""
        cdef pyp_list_t *h = self._head()
        cdef Py_ssize_t n = h.size
        if n == 0:
            raise IndexError("pop from empty list")
        if index < 0:
            index += n
        if index < 0 or index >= n:
            raise IndexError("pop index out of range")
        cdef MemoryManager mm = self.mm
        mm.begin()
        try:
            value = self._load(index)
            if self._head().size != <uint64_t>n:
                raise RuntimeError("PersistentList changed while the popped item was being loaded")
            self._replace_in_tx(index, index + 1, ())
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)
        return value

    def remove(self, value):
        """Remove the first item equal to *value*; ValueError if there is none."""
        cdef uint64_t i = 0
        cdef pyp_list_t *h = self._head()
        cdef pyp_slot_t found
        while i < h.size:
            found = self._slots(h)[i]
            if self.mm.slot_eq(&found, value):
                self._remove_at(i, found)
                return
            i += 1
            h = self._head()
        raise ValueError("list.remove(x): x not in list")

    cdef int _remove_at(self, uint64_t i, pyp_slot_t expected) except -1:
        """del self[i], if it still holds `expected` (the comparison ran outside the transaction)."""
        cdef MemoryManager mm = self.mm
        cdef pyp_list_t *h
        mm.begin()
        try:
            h = self._head()
            if i >= h.size or memcmp(&self._slots(h)[i], &expected, SLOT) != 0:
                raise RuntimeError("PersistentList changed while the item to remove was searched")
            self._replace_in_tx(i, i + 1, ())
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)
        return 0

    def clear(self):
        """Remove every item (and free the items array)."""
        self._replace(0, END, ())

    def __setitem__(self, key, value):
        cdef Py_ssize_t i, start, stop, step, n
        cdef pyp_list_t *h = self._head()
        if PyIndex_Check(key):
            i = PyNumber_AsSsize_t(key, <PyObject *>IndexError)
            n = h.size
            if i < 0:
                i += n
            if i < 0 or i >= n:
                raise IndexError("list assignment index out of range")
            self._store(i, value)
        elif PySlice_Check(key):
            PySlice_Unpack(key, &start, &stop, &step)
            try:
                it = iter(value)
            except TypeError:
                raise TypeError("can only assign an iterable" if step == 1 else
                                "must assign iterable to extended slice") from None
            values = tuple(it)
            n = PySlice_AdjustIndices(self._head().size, &start, &stop, step)
            if step == 1:
                self._replace(start, max(start, stop), values)
                return
            if len(values) != n:
                raise ValueError(f"attempt to assign sequence of size {len(values)} "
                                 f"to extended slice of size {n}")
            if n:
                self._assign_extended(start, step, values)
        else:
            raise TypeError(f"list indices must be integers or slices, not {type(key).__name__}")

    cdef int _store(self, uint64_t i, object value) except -1:
        cdef MemoryManager mm = self.mm
        cdef pyp_list_t *h
        cdef pyp_slot_t new, old
        cdef pyp_slot_t *slot
        mm.begin()
        try:
            mm.init_slot(&new, value)
            h = self._head()
            if i >= h.size:         # the abort drops the reference `new` took
                raise RuntimeError("PersistentList changed while a value was being stored")
            slot = &self._slots(h)[i]
            mm.snapshot(slot, SLOT)
            old = slot[0]
            slot[0] = new
            mm.release_slot(old)
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)
        return 0

    cdef int _assign_extended(self, Py_ssize_t start, Py_ssize_t step, tuple values) except -1:
        """self[start::step] = values (len(values) items, all inside the list)."""
        cdef MemoryManager mm = self.mm
        cdef Py_ssize_t k = len(values), j, lo
        cdef pyp_list_t *h
        cdef pyp_slot_t *slots
        cdef pyp_slot_t *old = <pyp_slot_t *>PyMem_Malloc(k * SLOT)
        cdef uint64_t n, items
        if old == NULL:
            raise MemoryError()
        try:
            mm.begin()
            try:
                h = self._head()
                n, items = h.size, h.items
                slots = self._slots(h)
                lo = start if step > 0 else start + (k - 1) * step
                if lo < 0 or <uint64_t>(lo + (k - 1) * abs(step)) >= n:
                    raise RuntimeError("PersistentList changed during the operation")
                mm.snapshot(slots + lo, ((k - 1) * abs(step) + 1) * SLOT)
                for j in range(k):
                    old[j] = slots[start + j * step]
                for j in range(k):
                    mm.init_slot(&slots[start + j * step], values[j])
                self._changed(h, n, items)
                for j in range(k):
                    mm.release_slot(old[j])
            except BaseException:
                mm.end(False)
                raise
            mm.end(True)
        finally:
            PyMem_Free(old)
        return 0

    def __delitem__(self, key):
        cdef Py_ssize_t i, start, stop, step, n
        cdef pyp_list_t *h = self._head()
        if PyIndex_Check(key):
            i = PyNumber_AsSsize_t(key, <PyObject *>IndexError)
            n = h.size
            if i < 0:
                i += n
            if i < 0 or i >= n:
                raise IndexError("list assignment index out of range")
            self._replace(i, i + 1, ())
        elif PySlice_Check(key):
            PySlice_Unpack(key, &start, &stop, &step)
            n = PySlice_AdjustIndices(h.size, &start, &stop, step)
            if step == 1:
                self._replace(start, max(start, stop), ())
            elif n:
                if step < 0:
                    start += (n - 1) * step
                    step = -step
                self._delete_extended(start, step, n)
        else:
            raise TypeError(f"list indices must be integers or slices, not {type(key).__name__}")

    cdef int _delete_extended(self, uint64_t start, uint64_t step, uint64_t k) except -1:
        """del self[start::step] for k items (step > 1): compact the rest in place."""
        cdef MemoryManager mm = self.mm
        cdef pyp_list_t *h
        cdef pyp_slot_t *slots
        cdef pyp_slot_t *old = <pyp_slot_t *>PyMem_Malloc(k * SLOT)
        cdef uint64_t n, r, w, j = 0
        if old == NULL:
            raise MemoryError()
        try:
            mm.begin()
            try:
                h = self._head()
                n = h.size
                slots = self._slots(h)
                if start + (k - 1) * step >= n:
                    raise RuntimeError("PersistentList changed during the operation")
                mm.snapshot(slots + start, (n - start) * SLOT)
                w = start
                for r in range(start, n):
                    if j < k and r == start + j * step:
                        old[j] = slots[r]
                        j += 1
                    else:
                        slots[w] = slots[r]
                        w += 1
                mm.snapshot(&h.size, 8)
                h.size = n - k
                for j in range(k):
                    mm.release_slot(old[j])
            except BaseException:
                mm.end(False)
                raise
            mm.end(True)
        finally:
            PyMem_Free(old)
        return 0

    def __imul__(self, n):
        cdef MemoryManager mm = self.mm
        cdef pyp_list_t *h = self._head()
        cdef Py_ssize_t times, r
        cdef uint64_t size, total, i
        cdef pyp_slot_t *slots
        if not PyIndex_Check(n):
            raise TypeError(f"can't multiply sequence by non-int of type '{type(n).__name__}'")
        times = PyNumber_AsSsize_t(n, <PyObject *>OverflowError)
        if times <= 0:
            self.clear()
            return self
        if times == 1 or h.size == 0:
            return self
        mm.begin()
        try:
            h = self._head()
            size = h.size
            if size and <uint64_t>times > MAX_CAPACITY // size:
                raise MemoryError()
            total = size * times
            if total > h.capacity:
                self._grow_in_tx(h, total)
            slots = self._slots(h)
            if total > size:
                mm.snapshot(slots + size, (total - size) * SLOT)
            for r in range(1, times):
                memcpy(slots + r * size, slots, size * SLOT)
            for i in range(size):
                if slots[i].tag == PYP_TAG_REF:
                    for r in range(1, times):
                        mm.incref(slots[i].payload)
            mm.snapshot(&h.size, 8)
            h.size = total
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)
        return self

    def reverse(self):
        """Reverse the list in place."""
        cdef MemoryManager mm = self.mm
        cdef pyp_list_t *h = self._head()
        cdef pyp_slot_t *slots
        cdef pyp_slot_t t
        cdef uint64_t i, j, n = h.size
        if n < 2:
            return
        mm.begin()
        try:
            h = self._head()
            n = h.size
            slots = self._slots(h)
            if n > 1:
                mm.snapshot(slots, n * SLOT)
            i, j = 0, n - 1 if n else 0
            while i < j:
                t = slots[i]
                slots[i] = slots[j]
                slots[j] = t
                i += 1
                j -= 1
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)

    def sort(self, *, key=None, reverse=False):
        """Sort in place, stably, like list.sort (same key/reverse and exceptions).

        The values are sorted as Python objects; the slots are then permuted in
        one transaction, so no reference count changes."""
        cdef MemoryManager mm = self.mm
        cdef pyp_list_t *h = self._head()
        cdef uint64_t n = h.size, i
        cdef pyp_slot_t *before
        cdef pyp_slot_t *slots
        [].sort(reverse=reverse)          # the same argument check and error as list.sort
        if n == 0:
            return
        before = <pyp_slot_t *>PyMem_Malloc(n * SLOT)
        if before == NULL:
            raise MemoryError()
        try:
            memcpy(before, self._slots(h), n * SLOT)
            values = self._tolist()
            keys = values if key is None else [key(v) for v in values]
            order = sorted(range(len(keys)), key=keys.__getitem__, reverse=reverse)
            h = self._head()
            if h.size != n or memcmp(self._slots(h), before, n * SLOT) != 0:
                raise ValueError("list modified during sort")
            if order == list(range(n)):
                return
            mm.begin()
            try:
                h = self._head()
                slots = self._slots(h)
                if h.size != n or memcmp(slots, before, n * SLOT) != 0:
                    raise RuntimeError("PersistentList changed during sort")
                mm.snapshot(slots, n * SLOT)
                for i in range(n):
                    slots[i] = before[<Py_ssize_t>order[i]]
            except BaseException:
                mm.end(False)
                raise
            mm.end(True)
        finally:
            PyMem_Free(before)


cdef class PersistentListIterator:
    """Iterator over a PersistentList: sees changes made while iterating, like list's."""
    cdef PersistentList lst
    cdef Py_ssize_t i
    cdef bint backwards

    def __cinit__(self, PersistentList lst, bint backwards):
        self.lst = lst
        self.backwards = backwards
        self.i = <Py_ssize_t>lst._head().size - 1 if backwards else 0

    def __iter__(self):
        return self

    def __next__(self):
        cdef PersistentList lst = self.lst
        cdef pyp_list_t *h
        if lst is None:
            raise StopIteration
        h = lst._head()
        if self.i < 0 or <uint64_t>self.i >= h.size:
            self.lst = None
            raise StopIteration
        value = lst.mm.load(&lst._slots(h)[self.i])
        self.i += -1 if self.backwards else 1
        return value

    def __length_hint__(self):
        if self.lst is None:
            return 0
        n = <Py_ssize_t>self.lst._head().size
        if self.backwards:
            return self.i + 1 if self.i < n else 0
        return max(n - self.i, 0)


register_traverse(PersistentList, _list_traverse)
collections.abc.MutableSequence.register(PersistentList)
