# The cdef API of ptypes' compiled proxies (ptypes/_objects.pyx and the .pxi
# files it includes).  The modules of further persistent kinds (skip lists,
# graphs) cimport this: they build on the same schema types, value slots and
# proxy base, and register their kinds with register_kind().
from libc.stdint cimport uint64_t, int64_t
from pmemobj._core cimport MemoryManager, PersistentBase, pyp_slot_t, visit_fn
from ptypes._layout cimport (pt_struct_t, pt_bytes_t, pt_list_t, pt_entry_t, pt_dict_t, pt_buffer_t,
                             pt_storage_t)

# Kinds of schema types (the JSON schema names them: KINDS in _session.pxi).
cdef enum:
    K_INT = 1
    K_FLOAT = 2
    K_BYTES = 3
    K_STRUCT = 4
    K_LIST = 5
    K_DICT = 6
    K_BUFFER = 7
    K_SKIPLIST = 8             # ptypes._skiplist
    K_NODE = 9                 # ptypes._graph
    K_EDGE = 10                # ptypes._graph

cdef enum:
    LIST_CHUNK = 16            # list slots snapshotted together when appending
    MIN_TABLE = 8              # the smallest hash table


cdef class Field:
    cdef readonly str name
    cdef readonly Py_ssize_t index
    cdef readonly TypeInfo ti


cdef class TypeInfo:
    cdef readonly int kind
    cdef readonly uint64_t ptid
    cdef readonly str name
    cdef public object cls              # the schema class users see
    cdef public Session session
    cdef public frozenset ancestors     # ptids this type is a subtype of (itself included)
    cdef public bint abstract           # schema.Structure: a base, never instantiated
    cdef readonly dict fields           # structures: name -> Field
    cdef readonly list field_list       # structures: Fields in slot order
    cdef readonly uint64_t nfields      # len(field_list)
    cdef public TypeInfo item           # lists, skip lists: the item type; dicts: the key type;
                                        # edges: the type of their from node
    cdef public TypeInfo value          # dicts: the value type (None for sets); nodes and edges:
                                        # the type of their contents
    cdef public TypeInfo target         # edges: the type of their to node
    cdef public object sortkey          # skip lists: how the sort key is taken from an item


cdef class Session:
    cdef readonly MemoryManager mm
    cdef public list types              # ptid -> TypeInfo
    cdef public object storage          # weak reference to the Storage


cdef class PtObject(PersistentBase):
    cdef TypeInfo ti
    cdef Session session
    # volatile: `off` once its allocation was checked to hold valid_size bytes
    # (an object never moves; `off` is reset when it is freed, rolled back or closed)
    cdef uint64_t valid_off
    cdef uint64_t valid_size
    cdef char *checked(self, uint64_t n) except NULL
    cdef int begin(self) except -1
    cdef pyp_slot_t *value_slot(self, PtValue v) except NULL
    cdef pyp_slot_t *slot_at(self, uint64_t index) except NULL

    cdef inline char *at(self, uint64_t n) except NULL:
        """The object's memory, checked to hold `n` bytes (once per proxy)."""
        if self.off == self.valid_off and n <= self.valid_size and self.off != 0:
            return self.mm.base + self.off
        return self.checked(n)


cdef class PtValue:
    cdef readonly PtObject container
    cdef TypeInfo ti
    cdef uint64_t index         # lists, structures: the slot's index; dicts: the entry's (a hint)
    cdef uint64_t hint          # dicts: the table `index` is in; frozen values: the slot's offset
    cdef uint64_t bits          # dicts: the key's payload at `index`; frozen values: the value's
    cdef uint64_t khash         # dicts: the key's hash (the key is found by hash and payload)
    cdef bint frozen            # a key or an item of a sorted list: read-only, a copy
    cdef pyp_slot_t *slot(self) except NULL
    cdef object get_contents(self)
    cdef int add_int(self, int64_t d) except -1
    cdef int add_float(self, double f) except -1


cdef class PtStructure(PtObject):
    cdef pt_struct_t *sp(self) except NULL
    cdef object get_field(self, Field f)
    cdef int set_field(self, Field f, object v) except -1


cdef class PtByteString(PtObject):
    cdef PtByteString canon     # twins: the core's proxy of the same string
    cdef pt_bytes_t *bp(self) except NULL


cdef class PtList(PtObject):
    # volatile: the items array last checked (see items())
    cdef uint64_t valid_items
    cdef uint64_t valid_capacity
    cdef pyp_slot_t *valid_slots
    cdef pt_list_t *lp(self) except NULL
    cdef pyp_slot_t *items(self, pt_list_t *l) except? NULL
    cdef uint64_t norm(self, index, uint64_t size, bint clamp) except? 0xffffffffffffffff
    cdef int reserve(self, pt_list_t *l, uint64_t n) except -1
    cdef int append_one(self, v) except -1
    cdef int remove_at(self, uint64_t i) except -1
    cdef int set_slice(self, slice index, object values) except -1


# A key being looked up in a hash table, in the form its entries are compared with.
cdef struct LookupKey:
    uint64_t hash
    int kind
    const char *data
    uint64_t size
    int64_t ival
    double fval
    uint64_t off


cdef class PtDict(PtObject):
    # volatile: the table last checked (see table())
    cdef uint64_t valid_table
    cdef uint64_t valid_mask
    cdef pt_entry_t *valid_tab
    cdef pt_dict_t *dp(self) except NULL
    cdef pt_entry_t *table(self, pt_dict_t *d) except NULL
    cdef object prepare(self, object key, LookupKey *lk)
    cdef int key_eq(self, LookupKey *lk, pt_entry_t *e) except -1
    cdef Py_ssize_t find(self, LookupKey *lk, Py_ssize_t *free_at, pt_entry_t **tab_out=*) except -2
    cdef int resize(self, pt_dict_t *d, uint64_t minused) except -1
    cdef object store(self, object key, object value, bint has_value)
    cdef object remove(self, object key, bint popping)
    cdef int need_values(self, str what) except -1
    cdef object entry_value(self, pt_entry_t *tab, uint64_t i)


cdef class PtBuffer(PtObject):
    cdef pt_buffer_t *bp(self) except NULL


cdef class PtStorageRoot(PersistentBase):
    cdef pt_storage_t *sp(self) except NULL


# errors, sessions and kinds
cdef object damaged(MemoryManager mm, str what)
cdef Session session_of(MemoryManager mm)
cdef str found_name(object v)

# values in slots
cdef int make_slot(Session s, TypeInfo ti, object v, pyp_slot_t *out) except -1
cdef int release_unless_doomed(MemoryManager mm, pyp_slot_t slot) except -1
cdef int store_slot(Session s, TypeInfo ti, pyp_slot_t *dst, object v) except -1
cdef object load_ref(Session s, uint64_t off)
cdef object load_value(PtObject owner, TypeInfo ti, pyp_slot_t *slot, uint64_t index)
cdef object load_key(PtObject owner, TypeInfo ti, pyp_slot_t *slot)
cdef object plain_value(Session s, TypeInfo ti, pyp_slot_t *slot)
cdef int slot_equals(Session s, TypeInfo ti, pyp_slot_t *slot, object v) except -1

# proxies
cdef PtObject alloc_object(Session s, type cls, TypeInfo ti, size_t size)
cdef PtValue make_value(PtObject owner, TypeInfo ti, uint64_t index)
cdef PtValue frozen_value(PtObject owner, TypeInfo ti, const pyp_slot_t *slot)
cdef pt_bytes_t *bytes_at(MemoryManager mm, uint64_t off) except NULL
