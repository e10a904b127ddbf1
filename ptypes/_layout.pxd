# The on-media layout of ptypes objects (include/ptypes_layout.h) as Cython
# sees it, with the small C helpers every ptypes module uses.  Declarations
# only: cimporting this needs no compiled module.
from libc.stdint cimport uint64_t, int64_t
from pmemobj._core cimport pyp_header_t, pyp_slot_t

cdef extern from *:
    """
    #include <string.h>
    #define XXH_INLINE_ALL
    #include <xxhash.h>
    static inline uint64_t pt_double_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
    static inline double pt_bits_double(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
    static inline uint64_t pt_mix(uint64_t x) {
        x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33; return x;
    }
    """
    uint64_t XXH3_64bits(const void *data, size_t n) nogil
    uint64_t pt_double_bits(double d) nogil
    double pt_bits_double(uint64_t u) nogil
    uint64_t pt_mix(uint64_t x) nogil

cdef extern from "ptypes_layout.h":
    uint64_t PT_STORAGE_MAGIC
    uint64_t PT_LAYOUT_VERSION
    uint64_t PT_LAYOUT_VERSION_MIN
    uint64_t PT_TAG_DELETED
    uint64_t PT_MAX_NDIM

    ctypedef struct pt_storage_t:
        pyp_header_t h
        uint64_t magic
        uint64_t version
        pyp_slot_t schema
        pyp_slot_t root
        pyp_slot_t registry

    ctypedef struct pt_head_t:
        pyp_header_t h
        uint64_t ptid

    ctypedef struct pt_struct_t:
        pyp_header_t h
        uint64_t ptid
        uint64_t nfields
        pyp_slot_t fields[1]

    ctypedef struct pt_bytes_t:
        pyp_header_t h
        uint64_t ptid
        uint64_t hash
        uint64_t size
        char data[1]

    ctypedef struct pt_list_t:
        pyp_header_t h
        uint64_t ptid
        uint64_t size
        uint64_t capacity
        uint64_t items

    ctypedef struct pt_entry_t:
        uint64_t hash
        pyp_slot_t key
        pyp_slot_t value

    ctypedef struct pt_dict_t:
        pyp_header_t h
        uint64_t ptid
        uint64_t used
        uint64_t fill
        uint64_t mask
        uint64_t table

    enum: PT_SKIP_MAXLEVEL

    ctypedef struct pt_skiplist_t:
        pyp_header_t h
        uint64_t ptid
        uint64_t size
        uint64_t levels
        uint64_t head[PT_SKIP_MAXLEVEL]

    ctypedef struct pt_skipnode_t:
        uint64_t level
        uint64_t nkeys
        pyp_slot_t value
        pyp_slot_t keys[1]

    ctypedef struct pt_node_t:
        pyp_header_t h
        uint64_t ptid
        pyp_slot_t value
        uint64_t kinds

    ctypedef struct pt_edgekind_t:
        uint64_t ptid
        pyp_slot_t out "out"
        pyp_slot_t in_ "in"
        uint64_t next

    ctypedef struct pt_edge_t:
        pyp_header_t h
        uint64_t ptid
        pyp_slot_t from_ "from"
        pyp_slot_t to
        pyp_slot_t value
        pyp_slot_t next_out
        pyp_slot_t next_in

    ctypedef struct pt_buffer_t:
        pyp_header_t h
        uint64_t ptid
        uint64_t nbytes
        uint64_t itemsize
        uint64_t ndim
        uint64_t fmtlen
        uint64_t data_off
        int64_t dims[1]

# Sizes (bytes) of the layouts' repeated parts.
cdef enum:
    SLOT = 16                  # pyp_slot_t
    ENTRY = 40                 # pt_entry_t
