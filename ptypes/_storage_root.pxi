# Included by _objects.pyx: the storage root (pt_storage_t) and the entry
# points storage.py calls to create objects and to test instances.

cdef class PtStorageRoot(PersistentBase):
    """The object the pool's root refers to: the schema, the Root structure
    and the string registry of a storage."""

    cdef pt_storage_t *sp(self) except NULL:
        cdef pt_storage_t *r = <pt_storage_t *>self.addr(sizeof(pt_storage_t))
        if r.magic != PT_STORAGE_MAGIC:
            raise InvalidPoolError(_errno.EINVAL, "not a ptypes storage (bad magic in the storage root)",
                                   self.mm.filename)
        if not PT_LAYOUT_VERSION_MIN <= r.version <= PT_LAYOUT_VERSION:
            raise InvalidPoolError(_errno.EINVAL, f"ptypes layout version {r.version} is not supported "
                                   f"(this library reads versions {PT_LAYOUT_VERSION_MIN} to "
                                   f"{PT_LAYOUT_VERSION})", self.mm.filename)
        return r

    cdef int p_new(self, MemoryManager mm) except -1:
        raise TypeError("a storage root is created by ptypes.storage.Storage")

    cdef int on_resurrect(self) except -1:
        self.sp()
        return 0

    def schema_json(self):
        s = self.mm.load(&self.sp().schema)
        if type(s) is not str:
            raise damaged(self.mm, "the stored schema is not a string")
        return s

    def get_root(self, Session s):
        cdef pt_storage_t *r = self.sp()
        if r.root.tag == PYP_TAG_REF:
            return load_ref(s, r.root.payload)
        return None

    def set_root(self, Session s, TypeInfo ti, value):
        self.begin()
        try:
            store_slot(s, ti, &self.sp().root, value)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def root_offset(self):
        """Offset of the Root structure (0 before it is created)."""
        cdef pt_storage_t *r = self.sp()
        return r.root.payload if r.root.tag == PYP_TAG_REF else 0

    @property
    def version(self):
        """The layout version the storage was created with."""
        return self.sp().version

    def registry(self, Session s):
        cdef pt_storage_t *r = self.sp()
        if r.registry.tag != PYP_TAG_REF:
            raise damaged(self.mm, "the storage has no string registry")
        return load_ref(s, r.registry.payload)


def create_storage_root(Session s, str schema_json, TypeInfo registry_ti, registry_size):
    """Create the storage root with its schema and string registry (inside the
    caller's transaction, which stores it where the storage is kept)."""
    cdef MemoryManager mm = s.mm
    cdef PtStorageRoot sr
    cdef pt_storage_t *r
    mm.begin()
    try:
        off = mm.new_object(PtStorageRoot, sizeof(pt_storage_t))
        sr = PtStorageRoot.__new__(PtStorageRoot)
        mm.adopt(sr, off)
        r = <pt_storage_t *>mm.obj(off, sizeof(pt_storage_t))
        r.magic = PT_STORAGE_MAGIC
        r.version = PT_LAYOUT_VERSION
        mm.init_slot(&r.schema, schema_json)
        r.root.tag = PYP_TAG_NONE
        make_slot(s, registry_ti, new_dict(s, registry_ti, registry_size), &r.registry)
    except BaseException:
        mm.end(False)
        raise
    mm.end(True)
    return sr


cdef int traverse_storage_root(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    cdef pt_storage_t *r = <pt_storage_t *>mm.obj(off, sizeof(pt_storage_t))
    return visit_slots(&r.schema, 3, visit, ctx)


# ---------------------------------------------------------------------------
# Entry points for storage.py

def create(TypeInfo ti, tuple args, dict kw):
    """Create an object of schema type `ti` (what calling a schema class does)."""
    cdef Session s = ti.session
    cdef MemoryManager mm = s.mm
    if ti.kind == K_INT or ti.kind == K_FLOAT:
        raise TypeError(f"{ti.cls!r} exhibits store-by-value semantics and therefore can only be "
                        f"instantiated inside a container (e.g. in Structure)")
    if ti.abstract:
        raise TypeError(f"{ti.cls!r} is abstract: instantiate a structure derived from it")
    new = _KIND_NEW.get(ti.kind)
    if new is not None:
        mm.begin()
        try:
            p = new(s, ti, args, kw)
        except BaseException:
            mm.end(False)
            raise
        mm.end(True)
        return p
    if ti.kind == K_STRUCT and args:
        raise TypeError(f"{ti.cls!r} takes only keyword arguments (initial values of its fields)")
    if ti.kind != K_STRUCT and kw and not (ti.kind == K_DICT and tuple(kw) == ('size',) and not args):
        raise TypeError(f"{ti.cls!r} takes no keyword arguments other than size= (Dict)")
    if ti.kind != K_STRUCT and len(args) > 1:
        raise TypeError(f"{ti.cls!r} takes at most one argument, got {len(args)}")
    mm.begin()
    try:
        if ti.kind == K_STRUCT:
            p = new_structure(s, ti, kw)
        elif ti.kind == K_BYTES:
            if not args:
                raise TypeError(f"{ti.cls!r} needs the bytes to store")
            p = new_bytestring(s, ti, args[0])
        elif ti.kind == K_LIST:
            p = new_list(s, ti, args[0] if args else None)
        elif ti.kind == K_DICT:
            p = new_dict(s, ti, args[0] if args else kw.get('size'))
        elif ti.kind == K_BUFFER:
            if not args:
                raise TypeError(f"{ti.cls!r} needs an object supporting the buffer protocol")
            p = new_buffer(s, ti, args[0])
        else:
            raise TypeError(f"cannot instantiate {ti.cls!r}")
    except BaseException:
        mm.end(False)
        raise
    mm.end(True)
    return p


def is_instance(obj, TypeInfo ti):
    """isinstance() for schema classes: `obj`'s type is `ti` or derived from it."""
    if isinstance(obj, PtObject) and (<PtObject>obj).ti is not None:
        return (<PtObject>obj).session is ti.session and ti.ptid in (<PtObject>obj).ti.ancestors
    if isinstance(obj, PtValue):
        return (<PtValue>obj).ti is ti
    return False
