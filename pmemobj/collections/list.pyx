# cython: boundscheck=False, wraparound=False, cdivision=True
"""PersistentList: a ``list`` whose items live in a pool.

Layout (include/pyp_list.h): the object holds size, capacity and the offset of
its slots, packed eight to a group, in one small array or, past 1816 items, in
blocks of 16 KiB listed by a directory, so no allocation is large and
``append`` is amortized O(1).  Every mutating method runs in a transaction of
its own unless one is open, and is rolled back as a whole when that
transaction aborts.

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
from cpython.ref cimport PyObject
from libc.stdint cimport uint8_t, uint64_t, int64_t
from libc.string cimport memcpy, memcmp

from pmemobj._core cimport (MemoryManager, PersistentBase, pyp_header_t, pyp_slot_t,
                            PYP_TYPE_NUM_RAW, PYP_TAG_REF, PYP_TAG_INT, VISIT_REF, VISIT_RAW, visit_fn,
                            register_traverse)
from pmemobj._core import InvalidPoolError, PoolFullError

cdef extern from "Python.h":
    bint PyIndex_Check(object)
    Py_ssize_t PyNumber_AsSsize_t(object, PyObject *) except? -1
    bint PySlice_Check(object)
    int PySlice_Unpack(object, Py_ssize_t *, Py_ssize_t *, Py_ssize_t *) except -1
    Py_ssize_t PySlice_AdjustIndices(Py_ssize_t, Py_ssize_t *, Py_ssize_t *, Py_ssize_t)
    const Py_ssize_t PY_SSIZE_T_MAX
    object PyLong_FromLongLong(long long)

EINVAL = 22

include "_list_storage.pxi"

cdef enum:
    SLOT = sizeof(pyp_slot_t)

# start/stop of _replace: the length of the list when the transaction holds the pool lock
cdef uint64_t END = <uint64_t>-1


cdef pyp_slot_t *_buffer(uint64_t n) except? NULL:
    """A volatile array of n slots (NULL for none); PyMem_Free it."""
    cdef pyp_slot_t *p
    if n == 0:
        return NULL
    p = <pyp_slot_t *>PyMem_Malloc(n * SLOT)
    if p == NULL:
        raise MemoryError()
    return p

include "_sequence.pxi"


cdef class PersistentList(PersistentBase):
    """PersistentList([iterable]): a :class:`list` stored in a pool.

    Create one with ``pool.new(PersistentList, iterable)``.  It supports the
    whole ``list`` API.  Slices, ``copy()``, ``+`` and ``*`` return plain lists;
    ``+=``, ``*=`` and slice assignment change the persistent list in place.
    """
    # Volatile, per proxy: the header and the view of the slots already
    # checked against the pool (the object's offset never changes; the view is
    # checked again whenever the header points elsewhere).
    cdef uint64_t valid_off
    cdef uint64_t valid_items
    cdef uint64_t valid_capacity
    cdef Slots view
    # The slots from fresh_from on lie in storage that transaction fresh_serial
    # allocated (libpmemobj logs nothing there: appends skip the snapshot call),
    # while the header points at fresh_items; set by append, dropped by any
    # other change of the storage (_sync).
    cdef uint64_t fresh_serial
    cdef uint64_t fresh_from
    cdef uint64_t fresh_items

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
        self.valid_items = self.valid_capacity = <uint64_t>-1
        return h

    cdef inline Slots *_slots(self, pyp_list_t *h) except NULL:
        """The view of the slots the header points to."""
        if h.items == self.valid_items and h.capacity == self.valid_capacity and h.size <= h.capacity:
            return &self.view
        _check_header(self.mm, self.off, h)
        _view(self.mm, h, &self.view, True)
        self._sync(h)
        return &self.view

    cdef inline void _sync(self, pyp_list_t *h) noexcept:
        """The view was changed to the header's slots (by _reserve or _shrink)."""
        self.valid_items = h.items
        self.valid_capacity = h.capacity
        self.fresh_serial = 0

    cdef object _load(self, uint64_t i):
        """Item i, read afresh (loading may run code that changes the list)."""
        cdef pyp_list_t *h = self._head()
        cdef pyp_slot_t v
        if i >= h.size:
            raise IndexError("list index out of range")
        _read(self._slots(h), i, &v)
        return self.mm.load(&v)

    cdef list _tolist(self):
        cdef uint64_t i = 0
        cdef pyp_list_t *h = self._head()
        cdef pyp_slot_t v
        out = []
        while i < h.size:
            _read(self._slots(h), i, &v)
            out.append(self.mm.load(&v))
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

    cdef int _equal_at(self, uint64_t i, pyp_slot_t v) except -1:
        """Slot i holds v (the same value, compared as slots)."""
        cdef pyp_slot_t cur
        _read(self._slots(self._head()), i, &cur)
        return cur.tag == v.tag and cur.payload == v.payload

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
        cdef Slots *s = self._slots(h)
        cdef uint64_t n = h.size, i
        if start == END:
            start = n
        if stop == END:
            stop = n
        if stop > n or start > stop:        # only when another thread changed the list meanwhile
            raise RuntimeError("PersistentList changed during the operation")
        cdef uint64_t k = len(values), nd = stop - start, tail = n - stop
        cdef uint64_t ns = n - nd + k, items, fresh
        # buf: the replaced slots, the tail after them, then the new values
        cdef pyp_slot_t *buf = _buffer(nd + tail + k)
        try:
            _read_range(s, start, n, buf)
            fresh = _reserve(mm, h, s, ns)
            self._sync(h)
            items = h.items
            for i in range(k):
                mm.init_slot(&buf[nd + tail + i], values[i])
            self._changed(h, n, items)
            s = self._slots(h)
            _write_range(mm, s, start, start + k, &buf[nd + tail], fresh)
            if k != nd:
                _write_range(mm, s, start + k, ns, &buf[nd], fresh)
            mm.snapshot(&h.size, 8)
            h.size = ns
            _shrink(mm, h, s, ns)
            self._sync(h)
            for i in range(nd):
                mm.release_slot(buf[i])
        finally:
            PyMem_Free(buf)
        return 0

    # -- reading ----------------------------------------------------------------

    def __len__(self):
        return self._head().size

    def __getitem__(self, key):
        cdef Py_ssize_t i, start, stop, step, n, k
        cdef pyp_list_t *h = self._head()
        cdef pyp_slot_t v
        if PyIndex_Check(key):
            i = PyNumber_AsSsize_t(key, <PyObject *>IndexError)
            n = h.size
            if i < 0:
                i += n
            if i < 0 or i >= n:
                raise IndexError("list index out of range")
            _read(self._slots(h), i, &v)
            return self.mm.load(&v)
        if PySlice_Check(key):
            PySlice_Unpack(key, &start, &stop, &step)
            n = PySlice_AdjustIndices(h.size, &start, &stop, step)
            out = []
            for k in range(n):
                h = self._head()
                i = start + k * step
                if <uint64_t>i >= h.size:       # shrunk by code run while loading
                    break
                _read(self._slots(h), i, &v)
                out.append(self.mm.load(&v))
            return out
        raise TypeError(f"list indices must be integers or slices, not {type(key).__name__}")

    def __iter__(self):
        self._head()
        return PersistentListIterator(self, False)

    def __reversed__(self):
        self._head()
        return PersistentListIterator(self, True)

    cdef Py_ssize_t _find(self, object value, Py_ssize_t i, Py_ssize_t end, bint count) except -2:
        """The first index in [i, end) of an item equal to value (-1 if none), or (count) how many."""
        cdef pyp_list_t *h = self._head()
        cdef pyp_slot_t v
        cdef Py_ssize_t c = 0
        while i < end and <uint64_t>i < h.size:
            _read(self._slots(h), i, &v)
            if self.mm.slot_eq(&v, value):
                if not count:
                    return i
                c += 1
            i += 1
            h = self._head()
        return c if count else -1

    def __contains__(self, value):
        return self._find(value, 0, PY_SSIZE_T_MAX, False) >= 0

    def index(self, value, start=0, stop=PY_SSIZE_T_MAX):
        """Return the first index of *value* in [start, stop); ValueError if absent."""
        cdef pyp_list_t *h = self._head()
        cdef Py_ssize_t i = self._find(value, _clip_index(start, h.size), _clip_index(stop, h.size), False)
        if i < 0:
            raise ValueError(f"{value!r} is not in list")
        return i

    def count(self, value):
        """Return the number of items equal to *value*."""
        return self._find(value, 0, PY_SSIZE_T_MAX, True)

    def copy(self):
        """Return a shallow copy as a plain ``list`` (nothing is allocated in the pool)."""
        return self._tolist()

    def __richcmp__(self, other, int op):
        return seq_richcmp(self, other, op, PersistentList, list, _copy, _size)

    def __add__(self, other):
        return seq_add(self, other, PersistentList, list, _copy)

    def __radd__(self, other):
        return seq_radd(self, other, list, _copy)

    def __mul__(self, n):
        return seq_mul(self, n, _copy)

    def __rmul__(self, n):
        return seq_mul(self, n, _copy)

    def __repr__(self):
        return seq_repr(self, _copy, _size, "[...]")

    cdef int64_t stable_hash(self) except? -1:
        raise TypeError(f"unhashable type: '{type(self).__name__}'")

    __hash__ = None

    # -- writing ------------------------------------------------------------------

    def append(self, value):
        """Add *value* at the end (amortized O(1))."""
        cdef MemoryManager mm = self.mm
        cdef pyp_list_t *h
        cdef Slots *s
        cdef char *g
        cdef pyp_slot_t v
        cdef uint64_t n, items, fresh
        self._begin()
        try:
            h = self._head()
            n = h.size
            s = self._slots(h)
            if n == h.capacity:
                fresh = _reserve(mm, h, s, n + 1)
                self._sync(h)
                if fresh != NONE_FRESH:
                    self.fresh_serial = mm.tx_serial
                    self.fresh_from = fresh
                    self.fresh_items = h.items
            items = h.items
            mm.init_slot(&v, value)
            self._changed(h, n, items)
            g = _group_w(mm, s, n)
            if self.fresh_serial != mm.tx_serial or n < self.fresh_from or self.fresh_items != items:
                mm.snapshot(g, GROUP_BYTES)     # the whole group: a later append in the transaction finds it logged
            _put(g, n, v)
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
            _read(self._slots(h), i, &found)
            if self.mm.slot_eq(&found, value):
                self._remove_at(i, found)
                return
            i += 1
            h = self._head()
        raise ValueError("list.remove(x): x not in list")

    cdef int _remove_at(self, uint64_t i, pyp_slot_t expected) except -1:
        """del self[i], if it still holds `expected` (the comparison ran outside the transaction)."""
        cdef MemoryManager mm = self.mm
        mm.begin()
        try:
            if i >= self._head().size or not self._equal_at(i, expected):
                raise RuntimeError("PersistentList changed while the item to remove was searched")
            self._replace_in_tx(i, i + 1, ())
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)
        return 0

    def clear(self):
        """Remove every item (and free the slots' storage)."""
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
        cdef char *g
        mm.begin()
        try:
            mm.init_slot(&new, value)
            h = self._head()
            if i >= h.size:         # the abort drops the reference `new` took
                raise RuntimeError("PersistentList changed while a value was being stored")
            g = _group_w(mm, self._slots(h), i)
            mm.snapshot(g + (i & 7), 16 + (i & 7) * 7)     # the tag and the payload
            old = _get(g, i)
            _put(g, i, new)
            mm.release_slot(old)
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)
        return 0

    cdef int _assign_extended(self, Py_ssize_t start, Py_ssize_t step, tuple values) except -1:
        """self[start::step] = values (len(values) items, all inside the list)."""
        cdef MemoryManager mm = self.mm
        cdef Py_ssize_t k = len(values), j, lo, span
        cdef pyp_list_t *h
        cdef uint64_t n, items
        cdef pyp_slot_t *buf = NULL      # the slots of [lo, lo + span), then the old values
        mm.begin()
        try:
            h = self._head()
            n, items = h.size, h.items
            lo = start if step > 0 else start + (k - 1) * step
            span = (k - 1) * abs(step) + 1
            if lo < 0 or <uint64_t>(lo + span) > n:
                raise RuntimeError("PersistentList changed during the operation")
            buf = _buffer(span + k)
            _read_range(self._slots(h), lo, lo + span, buf)
            for j in range(k):
                buf[span + j] = buf[start + j * step - lo]
                mm.init_slot(&buf[start + j * step - lo], values[j])
            self._changed(h, n, items)
            _write_range(mm, self._slots(h), lo, lo + span, buf, NONE_FRESH)
            for j in range(k):
                mm.release_slot(buf[span + j])
        except BaseException:
            mm.end(False)
            raise
        finally:
            PyMem_Free(buf)
        mm.end(True)
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
        cdef Slots *s
        cdef pyp_slot_t *buf = NULL      # the slots of [start, n), then the removed ones
        cdef uint64_t n, r, w = 0, j = 0, m
        mm.begin()
        try:
            h = self._head()
            n = h.size
            if start + (k - 1) * step >= n:
                raise RuntimeError("PersistentList changed during the operation")
            m = n - start
            buf = _buffer(m + k)
            s = self._slots(h)
            _read_range(s, start, n, buf)
            for r in range(m):
                if j < k and r == j * step:
                    buf[m + j] = buf[r]
                    j += 1
                else:
                    buf[w] = buf[r]
                    w += 1
            _write_range(mm, s, start, n - k, buf, NONE_FRESH)
            mm.snapshot(&h.size, 8)
            h.size = n - k
            _shrink(mm, h, s, n - k)
            self._sync(h)
            for j in range(k):
                mm.release_slot(buf[m + j])
        except BaseException:
            mm.end(False)
            raise
        finally:
            PyMem_Free(buf)
        mm.end(True)
        return 0

    def __imul__(self, n):
        cdef MemoryManager mm = self.mm
        cdef pyp_list_t *h = self._head()
        cdef Py_ssize_t times, r
        cdef uint64_t size, total, i, fresh
        cdef Slots *s
        cdef pyp_slot_t *buf = NULL
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
            s = self._slots(h)
            fresh = _reserve(mm, h, s, total)
            self._sync(h)
            buf = _buffer(size)
            _read_range(s, 0, size, buf)
            for r in range(1, times):
                _write_range(mm, s, r * size, (r + 1) * size, buf, fresh)
            for i in range(size):
                if buf[i].tag == PYP_TAG_REF:
                    for r in range(1, times):
                        mm.incref(buf[i].payload)
            mm.snapshot(&h.size, 8)
            h.size = total
        except BaseException:
            mm.end(False)
            raise
        finally:
            PyMem_Free(buf)
        mm.end(True)
        return self

    cdef int _permute(self, pyp_slot_t *before, object order, bint reverse) except -1:
        """Write the slots `before` (the list as it is) back reversed, or in `order`, in a transaction."""
        cdef MemoryManager mm = self.mm
        cdef pyp_list_t *h
        cdef uint64_t n, i
        cdef pyp_slot_t *buf = NULL
        cdef pyp_slot_t *now = NULL
        mm.begin()
        try:
            h = self._head()
            n = h.size
            buf = _buffer(n)
            now = _buffer(n)
            _read_range(self._slots(h), 0, n, now)
            if before != NULL and memcmp(now, before, n * SLOT) != 0:
                raise RuntimeError("PersistentList changed during sort")
            for i in range(n):
                buf[i] = now[n - 1 - i] if reverse else now[<Py_ssize_t>order[i]]
            _write_range(mm, self._slots(h), 0, n, buf, NONE_FRESH)
        except BaseException:
            mm.end(False)
            raise
        finally:
            PyMem_Free(buf)
            PyMem_Free(now)
        mm.end(True)
        return 0

    def reverse(self):
        """Reverse the list in place."""
        if self._head().size >= 2:
            self._permute(NULL, None, True)

    def sort(self, *, key=None, reverse=False):
        """Sort in place, stably, like list.sort (same key/reverse and exceptions).

        The values are sorted as Python objects; the slots are then permuted in
        one transaction, so no reference count changes."""
        cdef pyp_list_t *h = self._head()
        cdef uint64_t n = h.size
        cdef pyp_slot_t *before
        cdef pyp_slot_t *again
        [].sort(reverse=reverse)          # the same argument check and error as list.sort
        if n == 0:
            return
        before = _buffer(n)
        again = NULL
        try:
            _read_range(self._slots(h), 0, n, before)
            values = self._tolist()
            keys = values if key is None else [key(v) for v in values]
            order = sorted(range(len(keys)), key=keys.__getitem__, reverse=reverse)
            h = self._head()
            if h.size != n:
                raise ValueError("list modified during sort")
            again = _buffer(n)
            _read_range(self._slots(h), 0, n, again)
            if memcmp(again, before, n * SLOT) != 0:
                raise ValueError("list modified during sort")
            if order == list(range(n)):
                return
            self._permute(before, order, False)
        finally:
            PyMem_Free(before)
            PyMem_Free(again)


cdef object _copy(object o):
    return (<PersistentList>o)._tolist()


cdef uint64_t _size(object o) except? 0xFFFFFFFFFFFFFFFF:
    return (<PersistentList>o)._head().size


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
        cdef pyp_slot_t v
        if lst is None:
            raise StopIteration
        h = lst._head()
        if self.i < 0 or <uint64_t>self.i >= h.size:
            self.lst = None
            raise StopIteration
        v = _get(_group(lst._slots(h), self.i), self.i)
        self.i += -1 if self.backwards else 1
        if v.tag == PYP_TAG_INT:
            return PyLong_FromLongLong(<long long>v.payload)
        return lst.mm.load(&v)

    def __length_hint__(self):
        if self.lst is None:
            return 0
        n = <Py_ssize_t>self.lst._head().size
        if self.backwards:
            return self.i + 1 if self.i < n else 0
        return max(n - self.i, 0)


register_traverse(PersistentList, _list_traverse)
collections.abc.MutableSequence.register(PersistentList)
