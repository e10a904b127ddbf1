# The pool's type table (class "module:qualname" by type id), new objects of
# a class, and traversal of any object (what it references and owns).
# (included by _core.pyx)


cdef Py_ssize_t _mm_persistent_type_count(MemoryManager self):
    if self.rootp == NULL:
        return 0
    return (<pyp_typetable_t *>self.ptr(self.rootp.type_table, 16)).count


cdef _mm_load_type_table(MemoryManager self):
    cdef pyp_typetable_t *tt = <pyp_typetable_t *>self.obj(self.rootp.type_table, 16)
    cdef uint64_t i, n = tt.count
    if n > tt.capacity or 16 + 8 * tt.capacity > self.usable_size(self.rootp.type_table):
        raise InvalidPoolError(EINVAL, "damaged pool: type table overruns its allocation", self.filename)
    self.type_names = []
    for i in range(n):
        name = self.resurrect_off((<pyp_typetable_t *>self.ptr(self.rootp.type_table, 16)).names[i])
        if type(name) is not str:
            raise InvalidPoolError(EINVAL, "damaged pool: type table entry is not a name", self.filename)
        self.type_names.append(name)
    self.type_classes = [None] * n
    self.type_traverse = [None] * n
    self.class_ids = {}


cdef uint64_t _mm_type_id_of(MemoryManager self, type cls) except 0:
    tid = self.class_ids.get(cls)
    if tid is not None:
        return tid
    name = f"{cls.__module__}:{cls.__qualname__}"
    if '<locals>' in name:
        raise TypeError(f"persistent class {name} must be defined at module level to be stored")
    try:
        idx = self.type_names.index(name)
    except ValueError:
        idx = self._add_type_name(name)
    self.type_classes[idx] = cls
    self.type_traverse[idx] = None
    self.class_ids[cls] = idx + PYP_T_FIRST_CLASS
    return idx + PYP_T_FIRST_CLASS


cdef Py_ssize_t _mm_add_type_name(MemoryManager self, str name) except -1:
    cdef pyp_typetable_t *tt = <pyp_typetable_t *>self.obj(self.rootp.type_table, 16)
    cdef uint64_t n = tt.count, cap = tt.capacity
    if n == cap:
        self.snapshot(&self.rootp.type_table, 8)
        self.rootp.type_table = self.realloc_raw(self.rootp.type_table, 16 + 8 * cap * 2, PYP_TYPE_NUM_RAW, True)
        tt = <pyp_typetable_t *>self.obj(self.rootp.type_table, 16 + 8 * cap * 2)
        tt.capacity = cap * 2
    cdef uint64_t name_off = self._persist_ref(name)
    self.snapshot(tt, 16 + 8 * (n + 1))
    tt.names[n] = name_off
    tt.count = n + 1
    self.type_names.append(name)
    self.type_classes.append(None)
    self.type_traverse.append(None)
    return n


cdef object _mm_class_of(MemoryManager self, uint64_t tid):
    if tid < PYP_T_FIRST_CLASS or tid - PYP_T_FIRST_CLASS >= <uint64_t>len(self.type_names):
        raise InvalidPoolError(EINVAL, f"damaged pool: unknown type id {tid}", self.filename)
    cdef Py_ssize_t idx = tid - PYP_T_FIRST_CLASS
    cls = self.type_classes[idx]
    if cls is None:
        name = self.type_names[idx]
        modname, _, qualname = name.partition(':')
        try:
            cls = importlib.import_module(modname)
            for part in qualname.split('.'):
                cls = getattr(cls, part)
        except (ImportError, AttributeError) as e:
            raise UnknownClassError(name, str(e)) from None
        if not isinstance(cls, type):
            raise UnknownClassError(name, "not a class")
        self.type_classes[idx] = cls
        self.class_ids[cls] = tid
    return cls


cdef size_t _mm_traverse_fn(MemoryManager self, uint64_t tid) except? 0:
    cls = self.class_of(tid)            # checks tid
    cdef Py_ssize_t idx = tid - PYP_T_FIRST_CLASS
    fn = self.type_traverse[idx]
    if fn is None:
        fn = self.type_traverse[idx] = _traverse_of(cls)
    return fn


cdef uint64_t _mm_new_object(MemoryManager self, type cls, size_t n) except 0:
    """Allocate a zeroed object of class `cls` (n bytes, header included), refcount 0."""
    cdef uint64_t tid = self.type_id_of(cls)
    cdef uint64_t off = self.alloc(max(n, <size_t>HEADER), PYP_TYPE_NUM_OBJECT, True)
    (<pyp_header_t *>(self.base + off)).type_id = tid
    _note_zero(self, off)
    return off


cdef int _mm_adopt(MemoryManager self, object proxy, uint64_t off) except -1:
    """Make `proxy` the live proxy of the new object at `off`."""
    if isinstance(proxy, PersistentBase):
        (<PersistentBase>proxy).mm = self
        (<PersistentBase>proxy).off = off
    ref = weakref.ref(proxy)
    self.proxies[off] = ref
    if self.owner != 0:
        self.tx_new.append((ref, off))
    return 0


cdef int _mm_traverse_value(MemoryManager self, uint64_t off, uint64_t tid, visit_fn visit, void *ctx) except -1:
    cdef pyp_seq_t *s
    cdef uint64_t n
    if tid == PYP_T_TUPLE or tid == PYP_T_FROZENSET:
        s = <pyp_seq_t *>self.obj(off, PYP_SEQ_ITEMS)
        n = s.size
        if n > (self.usable_size(off) - PYP_SEQ_ITEMS) // SLOT:
            raise InvalidPoolError(EINVAL, f"damaged pool: tuple at 0x{off:x} overruns its allocation",
                                   self.filename)
        visit_slots(s.items, n, visit, ctx)
    elif tid == PYP_T_BOX:
        visit_slots(&(<pyp_box_t *>self.obj(off, sizeof(pyp_box_t))).value, 1, visit, ctx)
    return 0


cdef int _mm_traverse(MemoryManager self, uint64_t off, visit_fn visit, void *ctx) except -1:
    """Report what the object at `off` references (any type)."""
    cdef pyp_header_t *h = <pyp_header_t *>self.obj(off, HEADER)
    cdef uint64_t tid = h.type_id
    if tid < PYP_T_FIRST_CLASS:
        return self._traverse_value(off, tid, visit, ctx)
    fn = self._traverse_fn(tid)
    if fn:
        return (<traverse_fn>fn)(self, off, visit, ctx)
    p = self.resurrect_off(off)
    for oid in p._p_traverse():
        o = self._off_of(self._as_oid(oid))
        if o:
            visit(ctx, o, VISIT_REF)
    for oid in p._p_substructures():
        o = self._off_of(self._as_oid(oid))
        if o:
            visit(ctx, o, VISIT_RAW)
    return 0


cdef object _mm_as_oid(MemoryManager self, object oid):
    if isinstance(oid, int):
        return (self.uuid_lo, oid)
    return tuple(oid)


cdef str _mm_type_name(MemoryManager self, uint64_t tid):
    if tid >= PYP_T_FIRST_CLASS:
        if tid - PYP_T_FIRST_CLASS < <uint64_t>len(self.type_names):
            return self.type_names[tid - PYP_T_FIRST_CLASS].replace(':', '.')
        return '<unknown type>'
    return _VALUE_TYPE_NAMES.get(tid, '<unknown type>')
