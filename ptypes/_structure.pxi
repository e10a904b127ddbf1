# Included by _objects.pyx: structures (pt_struct_t), one slot per field.

cdef class PtStructure(PtObject):
    """A structure: fields are attributes; other attributes come from the
    volatile base classes of its schema class."""

    cdef pt_struct_t *sp(self) except NULL:
        cdef pt_struct_t *p = <pt_struct_t *>self.at(sizeof(pt_struct_t))
        if p.nfields != self.ti.nfields:
            raise damaged(self.mm, f"structure at 0x{self.off:x} has {p.nfields} fields, "
                                   f"its type {self.ti.name} {self.ti.nfields}")
        self.at(sizeof(pt_struct_t) + p.nfields * SLOT)
        return p

    cdef pyp_slot_t *slot_at(self, uint64_t index) except NULL:
        cdef pt_struct_t *p = self.sp()
        if index >= p.nfields:
            raise IndexError(f"{self!r} has {p.nfields} fields")
        return &p.fields[index]

    cdef object get_field(self, Field f):
        return load_value(self, f.ti, &self.sp().fields[f.index], f.index)

    cdef int set_field(self, Field f, object v) except -1:
        self.begin()
        try:
            store_slot(self.session, f.ti, &self.sp().fields[f.index], v)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)
        return 0

    def __getattribute__(self, str name):
        cdef TypeInfo ti = self.ti
        if ti is not None:
            f = ti.fields.get(name)
            if f is not None:
                return self.get_field(<Field>f)
            if name == '__class__':
                return ti.cls       # so isinstance() sees the schema class and its volatile bases
        try:
            return PyObject_GenericGetAttr(self, name)
        except AttributeError:
            if ti is None:
                raise
        # volatile members: the methods and attributes of the schema class's bases
        for klass in ti.cls.__mro__:
            d = klass.__dict__
            if name in d:
                v = d[name]
                get = getattr(type(v), '__get__', None)
                return get(v, self, ti.cls) if get is not None else v
        raise AttributeError(f"{ti.cls!r} has no field or attribute {name!r}")

    def __setattr__(self, str name, value):
        cdef TypeInfo ti = self.ti
        self.at(sizeof(pt_struct_t))
        f = ti.fields.get(name)
        if f is None:
            raise AttributeError(f"{ti.cls!r} has no persistent field {name!r}")
        self.set_field(<Field>f, value)

    def __delattr__(self, str name):
        raise AttributeError(f"fields of persistent structures cannot be deleted (assign None to clear one)")

    def __dir__(self):
        names = set(PyObject_GenericGetAttr(type(self), '__dict__'))
        if self.ti is not None:
            names.update(self.ti.fields)
            names.update(dir(self.ti.cls))
        return sorted(names)


cdef PtStructure new_structure(Session s, TypeInfo ti, dict kw):
    cdef Field f
    cdef Py_ssize_t n = len(ti.field_list)
    cdef PtStructure p = <PtStructure>alloc_object(s, PtStructure, ti, sizeof(pt_struct_t) + n * SLOT)
    cdef pt_struct_t *sp = <pt_struct_t *>p.addr(sizeof(pt_struct_t) + n * SLOT)
    sp.nfields = n
    for f in ti.field_list:
        if f.ti.kind == K_INT:
            sp.fields[f.index].tag = PYP_TAG_INT
        elif f.ti.kind == K_FLOAT:
            sp.fields[f.index].tag = PYP_TAG_FLOAT
        else:
            sp.fields[f.index].tag = PYP_TAG_NONE
        sp.fields[f.index].payload = 0
    for name, v in kw.items():
        fo = ti.fields.get(name)
        if fo is None:
            raise TypeError(f"{ti.cls!r} has no persistent field {name!r}")
        f = <Field>fo
        make_slot(s, f.ti, v, &sp.fields[f.index])
    return p


cdef int traverse_structure(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    cdef pt_struct_t *p = <pt_struct_t *>mm.obj(off, sizeof(pt_struct_t))
    mm.obj(off, sizeof(pt_struct_t) + p.nfields * SLOT)
    return visit_slots(p.fields, p.nfields, visit, ctx)
