# cython: boundscheck=False, wraparound=False, cdivision=True
"""PersistentObject: the base class of user-defined persistent objects.

    class Point(PersistentObject):
        def __init__(self, x, y):
            self.x = x
            self.y = y

    p = pool.new(Point, 1, 2)

Attributes are stored in the pool, in a hash table (name -> value) owned by
the object; any persistable value will do.  Names that start with ``_v_`` are
volatile: they live on the Python proxy only and are gone after a reopen.
``_v__init__()`` runs when the object is created (before ``__init__``) and
every time it is resurrected, to (re)acquire volatile resources.  Names of
the ``__dunder__`` form and the ``_p_`` protocol names are never persistent;
data descriptors of the class (properties, slots) take precedence over
persistent attributes, as they do over instance attributes.

Classes are stored by "module:qualname", so subclasses must be importable
at module level.  Objects hash and compare by identity (pool and offset),
so they can be keys of dicts and members of sets, persistent or not, and are
found again after a reopen.
"""
from cpython.object cimport PyObject, PyTypeObject, PyObject_GenericGetAttr, Py_TYPE
from libc.stdint cimport uint64_t, int64_t
from pmemobj._core cimport MemoryManager, PersistentBase, pyp_slot_t, register_traverse, visit_fn
from pmemobj.collections._hashtable cimport *

cdef extern from "Python.h":
    PyObject *_PyType_Lookup(PyTypeObject *, object)      # a borrowed reference, or NULL
    int PyObject_GenericSetAttr(PyObject *, PyObject *, PyObject *) except -1
    int Py_ReprEnter(object) except -1
    void Py_ReprLeave(object)


cdef inline void _attrs_ht(HT *t) noexcept:
    ht_init(t, sizeof(pyp_object_t), sizeof(pyp_ht_entry_t))


cdef inline bint _proxy_name(str name) noexcept:
    """Names kept on the proxy or the class, never in the pool: _v_*, _p_*, __*__."""
    cdef Py_ssize_t n = len(name)
    if n < 3 or name[0] != u'_':
        return False
    if name[2] == u'_' and (name[1] == u'v' or name[1] == u'p'):
        return True
    return n >= 4 and name[1] == u'_' and name[n - 1] == u'_' and name[n - 2] == u'_'


cdef inline bint _data_descriptor(object self, str name):
    cdef PyObject *d = _PyType_Lookup(Py_TYPE(self), name)
    return d != NULL and Py_TYPE(<object>d).tp_descr_set != NULL


cdef str _no_attribute(object self, str name):
    return f"'{type(self).__name__}' object has no attribute '{name}'"


cdef class PersistentObject(PersistentBase):
    """Base class of user-defined persistent objects; create them with pool.new(cls, ...)."""
    cdef dict __dict__                  # the volatile (_v_) attributes
    cdef object _identity_hash

    cdef int p_new(self, MemoryManager mm) except -1:
        mm.adopt(self, mm.new_object(type(self), sizeof(pyp_object_t)))
        self._v__init__()
        return 0

    cdef int on_resurrect(self) except -1:
        self._v__init__()
        return 0

    def _v__init__(self):
        """Called at creation (before __init__) and at every resurrection; does nothing by default."""

    def __getattribute__(self, str name):
        cdef HT t
        cdef uint64_t s, h
        cdef int64_t ix
        cdef pyp_slot_t v
        if _proxy_name(name) or _data_descriptor(self, name):
            return PyObject_GenericGetAttr(self, name)
        h = ht_owner_hash(self, name)
        _attrs_ht(&t)
        ht_open(self, &t, False)
        ix = ht_find(self, &t, name, h, &s)
        if ix >= 0:
            v = ht_value(ht_entry(&t, <uint64_t>ix))
            return ht_load(self.mm, &v)
        return PyObject_GenericGetAttr(self, name)

    def __setattr__(self, str name, value):
        cdef HT t
        cdef uint64_t h
        if _proxy_name(name) or _data_descriptor(self, name):
            PyObject_GenericSetAttr(<PyObject *>self, <PyObject *>name, <PyObject *>value)
            return
        h = ht_owner_hash(self, name)
        _attrs_ht(&t)
        ht_set_tx(self, &t, name, h, value, True)

    def __delattr__(self, str name):
        cdef HT t
        cdef uint64_t h
        if _proxy_name(name) or _data_descriptor(self, name):
            PyObject_GenericSetAttr(<PyObject *>self, <PyObject *>name, NULL)
            return
        h = ht_owner_hash(self, name)
        _attrs_ht(&t)
        if not ht_remove_tx(self, &t, name, h, False, HT_FOUND, False):
            raise AttributeError(_no_attribute(self, name))

    def _p_attrs(self):
        """The names of the persistent attributes, in the order they were first set."""
        cdef HT t
        cdef uint64_t i, n
        cdef pyp_slot_t k
        cdef list names = []
        _attrs_ht(&t)
        ht_open(self, &t, False)
        i = t.h.first
        n = t.h.used
        while i and n:              # bounded: damaged links cannot loop
            if i > t.h.nentries:
                ht_damaged(self.mm, "hash table order links lead outside its entries")
            k = ht_key(ht_entry(&t, i - 1))
            names.append(self.mm.load(&k))
            ht_open(self, &t, False)        # loading may have run code
            i = ht_after(&t, i - 1)
            n -= 1
        return names

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(self._p_attrs()))

    def __repr__(self):
        """ClassName(attr=value, ...): the persistent attributes, in the order they were first set."""
        name = type(self).__name__
        try:
            attrs = self._p_attrs()
        except (ValueError, TypeError) as e:        # closed pool, freed object, not made by pool.new
            return f"<{name}: {e}>"
        if Py_ReprEnter(self):
            return name + "(...)"
        try:
            return name + "(" + ", ".join([f"{a}={getattr(self, a)!r}" for a in attrs]) + ")"
        finally:
            Py_ReprLeave(self)

    # identity: the same object of the same pool, also across proxies and reopens
    def __eq__(self, other):
        if self is other:
            return True
        if not isinstance(other, PersistentObject):
            return NotImplemented
        return (self.off != 0 and self.off == (<PersistentObject>other).off
                and self.mm is not None and (<PersistentObject>other).mm is not None
                and self.mm.uuid_lo == (<PersistentObject>other).mm.uuid_lo)

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __hash__(self):
        if self._identity_hash is None:     # fixed at first use: it must not change when the pool closes
            if self.mm is None:
                self.addr(0)
            self._identity_hash = hash((self.mm.uuid_lo, self.off))
        return self._identity_hash


cdef int _traverse(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    return ht_traverse(mm, off, sizeof(pyp_object_t), sizeof(pyp_ht_entry_t), visit, ctx)

register_traverse(PersistentObject, _traverse)
