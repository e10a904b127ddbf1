# C declarations of the core: small helpers written in C (the thread-local
# transaction owner, the heap walk and the open/check calls run in threads of
# their own), the on-media layout as Cython sees it, and constants.
# (included by _core.pyx)


cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int *) except? -1
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *) except NULL

cdef extern from *:
    """
    #define XXH_INLINE_ALL
    #include <xxhash.h>
    /* The pool whose transaction is open in this OS thread (libpmemobj's
     * transactions are per thread; a second pool's would abort the first). */
    static __thread void *pyp_tx_pool = NULL;
    static inline void *pyp_get_tx_pool(void) { return pyp_tx_pool; }
    static inline void pyp_set_tx_pool(void *p) { pyp_tx_pool = p; }
    static inline PMEMoid pyp_oid(uint64_t uuid, uint64_t off) { PMEMoid o; o.pool_uuid_lo = uuid; o.off = off; return o; }
    static inline uint64_t pyp_double_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
    static inline double pyp_bits_double(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
    typedef struct { uint64_t off; uint64_t type_num; } pyp_alloc_t;
    static int pyp_alloc_cmp(const void *a, const void *b) {
        uint64_t x = ((const pyp_alloc_t *)a)->off, y = ((const pyp_alloc_t *)b)->off;
        return x < y ? -1 : x > y;
    }
    """
    uint64_t XXH3_64bits(const void *data, size_t n) nogil
    void *pyp_get_tx_pool() nogil
    void pyp_set_tx_pool(void *p) nogil
    PMEMoid pyp_oid(uint64_t uuid, uint64_t off) nogil
    uint64_t pyp_double_bits(double d) nogil
    double pyp_bits_double(uint64_t u) nogil
    ctypedef struct pyp_alloc_t:
        uint64_t off
        uint64_t type_num
    int pyp_alloc_cmp(const void *a, const void *b) nogil

cdef extern from *:
    """
    #include <libpmemobj.h>
    #include <stdlib.h>
    /* The heap walk of gc, run in a thread of its own: on some damaged heaps
     * pmemobj_next() never returns, and the caller must be able to give up. */
    typedef struct {
        PMEMobjpool *pop;
        pyp_alloc_t *allocs;
        size_t n, cap;
        volatile uint64_t steps;
        volatile int done;          /* 1 finished, -1 out of memory */
    } pyp_walk_t;
    static void pyp_walk_heap(pyp_walk_t *w) {
        PMEMoid oid = pmemobj_first(w->pop);
        while (oid.off) {
            if (w->n == w->cap) {
                size_t c = w->cap ? w->cap * 2 : 1024;
                pyp_alloc_t *p = realloc(w->allocs, c * sizeof(*p));
                if (!p) { w->done = -1; return; }
                w->allocs = p;
                w->cap = c;
            }
            w->allocs[w->n].off = oid.off;
            w->allocs[w->n].type_num = pmemobj_type_num(oid);
            w->n++;
            w->steps++;
            oid = pmemobj_next(oid);
        }
        w->done = 1;
    }
    static uint64_t pyp_walk_steps(pyp_walk_t *w) { return w->steps; }
    /* pmemobj_open / pmemobj_check run in a thread of their own: on some damage
     * to a pool's lanes or heap they never return. */
    typedef struct {
        char *path;
        int check;                  /* 0: pmemobj_open, 1: pmemobj_check */
        PMEMobjpool *pop;
        int rc, err;
        char msg[256];
        volatile int done;
    } pyp_call_t;
    static void pyp_call(pyp_call_t *c) {
        const char *m;
        if (c->check)
            c->rc = pmemobj_check(c->path, PYP_LAYOUT_NAME);
        else
            c->pop = pmemobj_open(c->path, PYP_LAYOUT_NAME);
        c->err = errno;
        m = pmemobj_errormsg();
        snprintf(c->msg, sizeof(c->msg), "%s", m ? m : "");
        c->done = 1;
    }
    static int pyp_call_done(pyp_call_t *c) { return c->done; }
    static int pyp_walk_done(pyp_walk_t *w) { return w->done; }
    """
    ctypedef struct pyp_walk_t:
        PMEMobjpool *pop
        pyp_alloc_t *allocs
        size_t n
        size_t cap
    void pyp_walk_heap(pyp_walk_t *w) nogil
    uint64_t pyp_walk_steps(pyp_walk_t *w) nogil
    ctypedef struct pyp_call_t:
        char *path
        int check
        PMEMobjpool *pop
        int rc
        int err
        char msg[256]
    void pyp_call(pyp_call_t *c) nogil
    int pyp_call_done(pyp_call_t *c) nogil
    int pyp_walk_done(pyp_walk_t *w) nogil

cdef extern from "pyp_layout.h":
    const char *PYP_LAYOUT_NAME
    uint64_t PYP_MAGIC
    uint64_t PYP_LAYOUT_VERSION
    ctypedef struct pyp_box_t:
        pyp_header_t h
        pyp_slot_t value
    ctypedef struct pyp_complex_t:
        pyp_header_t h
        double real
        double imag
    ctypedef struct pyp_typetable_t:
        uint64_t count
        uint64_t capacity
        uint64_t names[1]
    ctypedef struct pyp_offsets_t:
        uint64_t count
        uint64_t capacity
        uint64_t offs[1]
    size_t PYP_OFFSETS_OFFS
    enum:
        PYP_FLAG_DEFERRED
        PYP_FLAG_SWEEPING
        PYP_FLAG_BY_HAND
        PYP_FLAG_STALE

MIN_POOL_SIZE = PMEMOBJ_MIN_POOL
POBJECT_TYPE_NUM = PYP_TYPE_NUM_OBJECT
RAW_TYPE_NUM = PYP_TYPE_NUM_RAW
OID_NULL = (0, 0)
LAYOUT_NAME = PYP_LAYOUT_NAME.decode()
LAYOUT_VERSION = PYP_LAYOUT_VERSION


# hash mixing constants (C integers, not Python ones)
cdef uint64_t K_27d4eb2f165667c5 = 0x27d4eb2f165667c5ULL
cdef uint64_t K_9e3779b97f4a7c15 = 0x9e3779b97f4a7c15ULL
cdef uint64_t K_165667b19e3779f9 = 0x165667b19e3779f9ULL
cdef uint64_t K_c2b2ae3d27d4eb4f = 0xc2b2ae3d27d4eb4fULL
cdef uint64_t K_ff51afd7ed558ccd = 0xff51afd7ed558ccdULL
cdef uint64_t K_c4ceb9fe1a85ec53 = 0xc4ceb9fe1a85ec53ULL
cdef uint64_t K_5bd1e995 = 0x5bd1e995ULL

DEF HEADER = 16          # sizeof(pyp_header_t)
DEF SLOT = 16            # sizeof(pyp_slot_t)
DEF POOL_HDR = 8192      # libpmemobj's pool header + descriptor precede the heap
DEF FREE_BATCH = 4096    # gc frees in transactions of this many objects
