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
    K_MAX = 16

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
    cdef public TypeInfo item           # lists: the item type; dicts: the key type
    cdef public TypeInfo value          # dicts: the value type; None for sets


cdef class Session:
    cdef readonly MemoryManager mm
    cdef public list types              # ptid -> TypeInfo
    cdef public object storage          # weak reference to the Storage


cdef class PtObject(PersistentBase):
    cdef TypeInfo ti
    cdef Session session
    cdef pyp_slot_t *value_slot(self, uint64_t index, object key) except NULL


cdef class PtValue:
    cdef readonly PtObject container
    cdef TypeInfo ti
    cdef uint64_t index
    cdef object key
    cdef pyp_slot_t *slot(self) except NULL
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
    cdef pt_dict_t *dp(self) except NULL
    cdef pt_entry_t *table(self, pt_dict_t *d) except NULL
    cdef object prepare(self, object key, LookupKey *lk)
    cdef int key_eq(self, LookupKey *lk, pt_entry_t *e) except -1
    cdef Py_ssize_t find(self, LookupKey *lk, Py_ssize_t *free_at, pt_entry_t **tab_out=*) except -2
    cdef int resize(self, pt_dict_t *d, uint64_t minused) except -1
    cdef object store(self, object key, object value, bint has_value)
    cdef object remove(self, object key, bint popping)
    cdef int need_values(self, str what) except -1


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
cdef object load_value(PtObject owner, TypeInfo ti, pyp_slot_t *slot, uint64_t index, object key)
cdef object plain_value(Session s, TypeInfo ti, pyp_slot_t *slot)
cdef int slot_equals(Session s, TypeInfo ti, pyp_slot_t *slot, object v) except -1

# proxies
cdef PtObject alloc_object(Session s, type cls, TypeInfo ti, size_t size)
cdef PtValue make_value(PtObject owner, TypeInfo ti, uint64_t index, object key)
cdef pt_bytes_t *bytes_at(MemoryManager mm, uint64_t off) except NULL
