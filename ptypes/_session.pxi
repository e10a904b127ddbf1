# Included by _objects.pyx: the schema types the compiled code knows (TypeInfo,
# Field), the Session of the storage that has a pool open, and the kinds.

KINDS = {'Int': K_INT, 'Float': K_FLOAT, 'ByteString': K_BYTES, 'Structure': K_STRUCT,
         'List': K_LIST, 'Dict': K_DICT, 'Buffer': K_BUFFER,
         'SkipList': K_SKIPLIST, 'Node': K_NODE, 'Edge': K_EDGE}

# kind -> the proxy class of its objects (checked when one is read)
cdef dict _KIND_CLASS = {}
# kind -> new(session, ti, args, kw): creates an object inside a transaction
# (kinds defined by other modules, which register them)
cdef dict _KIND_NEW = {}


def register_kind(int kind, type cls, new=None):
    """Register the proxy class of a kind (and, for kinds defined outside this
    module, the function that creates its objects)."""
    _KIND_CLASS[kind] = cls
    if new is not None:
        _KIND_NEW[kind] = new


cdef class Field:
    """A field of a structure: its slot index and type."""

    def __init__(self, str name, Py_ssize_t index, TypeInfo ti):
        self.name = name
        self.index = index
        self.ti = ti


cdef class TypeInfo:
    """What the compiled code needs to know about one schema type."""

    def __init__(self, int kind, uint64_t ptid, str name):
        self.kind = kind
        self.ptid = ptid
        self.name = name
        self.ancestors = frozenset([ptid])
        self.fields = {}
        self.field_list = []

    def set_fields(self, list pairs):
        """Fields in slot order, as (name, TypeInfo) pairs."""
        self.field_list = [Field(name, i, ti) for i, (name, ti) in enumerate(pairs)]
        self.nfields = len(self.field_list)
        self.fields = {f.name: f for f in self.field_list}

    def __repr__(self):
        return f"<TypeInfo {self.name} ptid={self.ptid} kind={self.kind}>"


cdef class Session:
    """A storage's hold on its open pool: its schema types."""

    def __init__(self, MemoryManager mm, storage):
        self.mm = mm
        self.storage = storage
        self.types = []

    def live_proxies(self, uint64_t except_off=0):
        """The ptypes proxies of live objects in the pool (those the core
        keeps; twins and PtValues hold one of them)."""
        out = []
        for off, ref in list(self.mm.proxies.items()):
            p = ref()
            if isinstance(p, PtObject) and (<PtObject>p).off != 0 and off != except_off:
                out.append(p)
        return out


cdef dict _sessions = {}     # MemoryManager -> Session


def attach(Session s):
    """Make `s` the session that reads ptypes objects of its pool (one per pool:
    object headers hold schema type ids, which mean something in one schema only)."""
    other = _sessions.get(s.mm)
    if other is not None and other is not s:
        raise ValueError(f"the pool {s.mm.filename!r} already has an open ptypes Storage "
                         f"(one Storage per pool)")
    _sessions[s.mm] = s


def drop_proxy(PtObject p):
    """Make the proxy `p` unusable (a storage kept in a pool was closed while
    the pool stays open)."""
    if p.off and p.mm is not None:
        if p.mm.proxies.get(p.off) is not None and p.mm.proxies[p.off]() is p:
            del p.mm.proxies[p.off]
        p.off = 0


def detach(Session s):
    if _sessions.get(s.mm) is s:
        del _sessions[s.mm]


cdef Session session_of(MemoryManager mm):
    s = _sessions.get(mm)
    if s is None:
        mm.check()
        raise ValueError(f"the pool {mm.filename!r} holds ptypes objects but is not open as a ptypes Storage")
    return <Session>s
