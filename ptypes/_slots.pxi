# Included by _objects.pyx: values in slots (pyp_slot_t): storing a Python
# value as a value of a schema type, and reading it back.

cdef str found_name(object v):
    if isinstance(v, PtObject) and (<PtObject>v).ti is not None:
        return repr((<PtObject>v).ti.cls)
    return repr(type(v))


cdef int make_slot(Session s, TypeInfo ti, object v, pyp_slot_t *out) except -1:
    """Fill `out` with `v` as a value of type `ti`, holding one new reference
    (inside a transaction: may allocate)."""
    cdef PtObject p
    cdef int64_t i
    if ti.kind == K_INT:
        if isinstance(v, PtValue):
            v = (<PtValue>v).get_contents()
        if not isinstance(v, int):
            raise TypeError(f"Expected {ti.cls!r}, found {found_name(v)}")
        if not (INT64_MIN <= v <= INT64_MAX):
            raise OverflowError(f"{ti.cls!r} holds 64-bit signed integers; {v} is out of range")
        i = v
        out.tag = PYP_TAG_INT
        out.payload = <uint64_t>i
        return 0
    if ti.kind == K_FLOAT:
        if isinstance(v, PtValue):
            v = (<PtValue>v).get_contents()
        if not isinstance(v, (float, int)):
            raise TypeError(f"Expected {ti.cls!r}, found {found_name(v)}")
        out.tag = PYP_TAG_FLOAT
        out.payload = pt_double_bits(float(v))
        return 0
    if v is None:
        out.tag = PYP_TAG_NONE
        out.payload = 0
        return 0
    if isinstance(v, PtObject):
        p = <PtObject>v
    elif ti.kind == K_BYTES:
        p = new_bytestring(s, ti, v)
    elif ti.kind == K_BUFFER:
        p = new_buffer(s, ti, v)
    elif ti.kind == K_LIST:
        if not hasattr(v, '__iter__') or isinstance(v, (str, bytes)):
            raise TypeError(f"Expected {ti.cls!r}, found {found_name(v)}")
        p = new_list(s, ti, v)
    elif ti.kind == K_DICT and isinstance(v, (dict, set, frozenset)):
        p = new_dict(s, ti, len(v))
        if ti.value is None:
            for k in v:
                (<PtDict>p).store(k, None, False)
        else:
            if not isinstance(v, dict):
                raise TypeError(f"Expected {ti.cls!r} or a dict, found {found_name(v)}")
            for k, x in v.items():
                (<PtDict>p).store(k, x, True)
    else:
        raise TypeError(f"Expected {ti.cls!r}, found {found_name(v)}")
    if p.session is not s:
        p.at(SLOT)
        raise TypeError(f"cannot store {p!r} of another storage in {s.storage()!r}")
    if ti.ptid not in p.ti.ancestors:
        raise TypeError(f"Expected {ti.cls!r}, found {p.ti.cls!r}")
    if isinstance(p, PtByteString):
        (<PtByteString>p).bp()
    p.at(SLOT)
    s.mm.incref(p.off)
    out.tag = PYP_TAG_REF
    out.payload = p.off
    return 0


cdef int release_unless_doomed(MemoryManager mm, pyp_slot_t slot) except -1:
    """Drop a reference taken earlier in a failing operation.  After a failed
    pool write the transaction is doomed: its rollback undoes the reference,
    and a decref now would be a write it refuses (hiding the real error)."""
    if not mm.doomed:
        mm.release_slot(slot)
    return 0


cdef int store_slot(Session s, TypeInfo ti, pyp_slot_t *dst, object v) except -1:
    """Replace the value in `dst` (inside a transaction); the old reference is released."""
    cdef pyp_slot_t new, old
    make_slot(s, ti, v, &new)
    # a failed snapshot dooms the transaction, which rolls back the new
    # reference too: releasing it here would be a write the doomed
    # transaction refuses (TransactionError hiding the PoolFullError)
    s.mm.snapshot(dst, SLOT)
    old = dst[0]
    dst[0] = new
    s.mm.release_slot(old)
    return 0


cdef object load_ref(Session s, uint64_t off):
    ref = s.mm.proxies.get(off)
    p = ref() if ref is not None else None
    if p is None:
        p = s.mm.resurrect_off(off)
    elif isinstance(p, PtByteString):
        return twin(<PtByteString>p)    # a new object per read, like Python strings
    if not isinstance(p, PtObject):
        raise damaged(s.mm, f"reference 0x{off:x} to a {type(p).__name__}, not a ptypes object")
    return p


cdef PtByteString twin(PtByteString canon):
    """Another proxy of the byte string of `canon` (the core's unique proxy,
    which the core invalidates when the string is freed and gc treats as a
    root; the twin keeps it alive and checks it)."""
    cdef PtByteString t = PtByteString.__new__(PtByteString)
    t.mm = canon.mm
    t.off = canon.off
    t.ti = canon.ti
    t.session = canon.session
    t.canon = canon
    return t


cdef object load_value(PtObject owner, TypeInfo ti, pyp_slot_t *slot, uint64_t index):
    """The value in `slot` (item `index` of `owner`): a PtValue for by-value
    types, else a proxy or None."""
    if ti.kind == K_INT or ti.kind == K_FLOAT:
        return make_value(owner, ti, index)
    return load_ref_slot(owner, ti, slot)


cdef object load_key(PtObject owner, TypeInfo ti, pyp_slot_t *slot):
    """A value that cannot change in place (a key, a sorted item): a frozen
    PtValue for by-value types, else a proxy."""
    if ti.kind == K_INT or ti.kind == K_FLOAT:
        return frozen_value(owner, ti, slot)
    return load_ref_slot(owner, ti, slot)


cdef inline object load_ref_slot(PtObject owner, TypeInfo ti, pyp_slot_t *slot):
    cdef uint64_t tag = slot.tag
    if tag == PYP_TAG_REF:
        return load_ref(owner.session, slot.payload)
    if tag == PYP_TAG_NONE or tag == PYP_TAG_EMPTY:
        return None
    raise damaged(owner.mm, f"slot with tag {tag} where a {ti.name} reference belongs")


cdef object plain_value(Session s, TypeInfo ti, pyp_slot_t *slot):
    """The Python value of a slot: int/float for by-value types (keys, popped items)."""
    if ti.kind == K_INT:
        return <int64_t>slot.payload
    if ti.kind == K_FLOAT:
        return pt_bits_double(slot.payload)
    if slot.tag == PYP_TAG_REF:
        return load_ref(s, slot.payload)
    return None


cdef int slot_equals(Session s, TypeInfo ti, pyp_slot_t *slot, object v) except -1:
    """Python equality of a stored value and `v` (list membership, index, count)."""
    cdef pt_bytes_t *b
    cdef const char *data
    cdef Py_ssize_t n
    if isinstance(v, PtValue):
        v = (<PtValue>v).get_contents()
    if ti.kind == K_INT:
        return isinstance(v, (int, float)) and <int64_t>slot.payload == v
    if ti.kind == K_FLOAT:
        return isinstance(v, (int, float)) and pt_bits_double(slot.payload) == v
    if slot.tag != PYP_TAG_REF:
        return v is None
    if isinstance(v, PtObject):
        if (<PtObject>v).mm is s.mm and (<PtObject>v).off == slot.payload:
            return 1
        if ti.kind != K_BYTES or not isinstance(v, PtByteString):
            return 0
        v = (<PtByteString>v).contents
    if ti.kind != K_BYTES or not isinstance(v, (bytes, bytearray, memoryview)):
        return 0
    if not isinstance(v, bytes):
        v = bytes(v)
    b = bytes_at(s.mm, slot.payload)
    return <Py_ssize_t>b.size == PyBytes_GET_SIZE(v) and memcmp(b.data, PyBytes_AS_STRING(v), b.size) == 0
