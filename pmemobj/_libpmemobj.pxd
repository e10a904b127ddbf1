# The one declaration of libpmemobj (and of libpmem's pmem_is_pmem) in the project.
# Only pmemobj/_core.pyx cimports it; every other module goes through the core.
from libc.stdint cimport uint64_t
from libc.stddef cimport wchar_t

cdef extern from "libpmemobj.h" nogil:
    ctypedef struct PMEMobjpool:
        pass

    ctypedef struct PMEMoid:
        uint64_t pool_uuid_lo
        uint64_t off

    size_t PMEMOBJ_MIN_POOL
    size_t PMEMOBJ_MAX_ALLOC_SIZE
    size_t PMEMOBJ_MAX_LAYOUT

    PMEMobjpool *pmemobj_create(const char *path, const char *layout, size_t poolsize, unsigned mode)
    PMEMobjpool *pmemobj_open(const char *path, const char *layout)
    void pmemobj_close(PMEMobjpool *pop)
    int pmemobj_check(const char *path, const char *layout)
    const char *pmemobj_errormsg()

    PMEMoid pmemobj_root(PMEMobjpool *pop, size_t size)
    size_t pmemobj_root_size(PMEMobjpool *pop)
    PMEMobjpool *pmemobj_pool_by_oid(PMEMoid oid)
    void *pmemobj_direct(PMEMoid oid)
    PMEMoid pmemobj_oid(const void *addr)
    size_t pmemobj_alloc_usable_size(PMEMoid oid)
    uint64_t pmemobj_type_num(PMEMoid oid)
    PMEMoid pmemobj_first(PMEMobjpool *pop)
    PMEMoid pmemobj_next(PMEMoid oid)

    void pmemobj_persist(PMEMobjpool *pop, const void *addr, size_t len)

    enum pobj_tx_stage:
        TX_STAGE_NONE
        TX_STAGE_WORK
        TX_STAGE_ONCOMMIT
        TX_STAGE_ONABORT
        TX_STAGE_FINALLY

    enum pobj_tx_param:
        TX_PARAM_NONE

    enum pobj_tx_failure_behavior:
        POBJ_TX_FAILURE_ABORT
        POBJ_TX_FAILURE_RETURN

    uint64_t POBJ_XALLOC_ZERO
    uint64_t POBJ_XALLOC_NO_ABORT
    uint64_t POBJ_XADD_NO_ABORT
    uint64_t POBJ_XADD_NO_SNAPSHOT
    uint64_t POBJ_XFREE_NO_ABORT

    pobj_tx_stage pmemobj_tx_stage()
    int pmemobj_tx_begin(PMEMobjpool *pop, void *env, pobj_tx_param param, ...)
    void pmemobj_tx_abort(int errnum)
    void pmemobj_tx_commit()
    int pmemobj_tx_end()
    int pmemobj_tx_errno()
    void pmemobj_tx_set_failure_behavior(pobj_tx_failure_behavior behavior)

    int pmemobj_tx_add_range_direct(const void *ptr, size_t size)
    int pmemobj_tx_xadd_range_direct(const void *ptr, size_t size, uint64_t flags)
    PMEMoid pmemobj_tx_xalloc(size_t size, uint64_t type_num, uint64_t flags)
    int pmemobj_tx_xfree(PMEMoid oid, uint64_t flags)

    # outside transactions only (pmemobj/_heap.pxi: with no objects it only
    # detaches the classes' runs and recycles the empty ones into free chunks)
    struct pobj_defrag_result:
        size_t total
        size_t relocated
    int pmemobj_defrag(PMEMobjpool *pop, PMEMoid **oidv, size_t oidcnt, pobj_defrag_result *result)

    # the control interface (pmemobj/_heap.pxi): allocation classes, arenas
    int pmemobj_ctl_get(PMEMobjpool *pop, const char *name, void *arg)
    int pmemobj_ctl_set(PMEMobjpool *pop, const char *name, void *arg)

    enum pobj_header_type:
        POBJ_HEADER_LEGACY
        POBJ_HEADER_COMPACT
        POBJ_HEADER_NONE

    enum pobj_arenas_assignment_type:
        POBJ_ARENAS_ASSIGNMENT_THREAD_KEY
        POBJ_ARENAS_ASSIGNMENT_GLOBAL

    struct pobj_alloc_class_desc:
        size_t unit_size
        size_t alignment
        unsigned units_per_block
        pobj_header_type header_type
        unsigned class_id

    uint64_t POBJ_CLASS_ID(uint64_t class_id)

cdef extern from "libpmem.h" nogil:
    int pmem_is_pmem(const void *addr, size_t len)

