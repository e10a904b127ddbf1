# What the process knows beyond one pool: the traverse functions of compiled
# persistent types, the pool files it has open, and what a fork or the
# interpreter's exit does to them.
# (included by _core.pyx)


# ---------------------------------------------------------------------------
# Traverse functions of compiled persistent types, by class

cdef dict _traverse_registry = {}      # class -> address of its traverse_fn

cdef int register_traverse(type cls, traverse_fn fn) except -1:
    _traverse_registry[cls] = <uintptr_t>fn
    return 0

cdef size_t _traverse_of(type cls):
    for base in cls.__mro__:
        addr = _traverse_registry.get(base)
        if addr is not None:
            return addr
    return 0

cdef int visit_slots(const pyp_slot_t *slots, size_t n, visit_fn visit, void *ctx) except -1:
    cdef size_t i
    for i in range(n):
        if slots[i].tag == PYP_TAG_REF:
            visit(ctx, slots[i].payload, VISIT_REF)
    return 0


# Files open in this process, by (st_dev, st_ino): libpmemobj allows one open per file.
cdef dict _open_files = {}          # -> weakref to the MemoryManager
_open_managers = weakref.WeakSet()


cdef _forget_dead_files():
    """Forget the files of managers that died without close() (their weakrefs are dead)."""
    for key in [k for k, ref in _open_files.items() if ref() is None]:
        del _open_files[key]


def _forget_pools_in_child():
    # A forked child shares the parent's mappings: it must neither write to the
    # parent's pools nor close them (close runs gc, which does not know the
    # parent's proxies).  In the child they behave as closed.
    cdef MemoryManager mm
    for m in list(_open_managers):
        mm = <MemoryManager>m
        mm.pop = NULL           # not pmemobj_close: the parent still uses the pool
        mm.closed = True
        mm.filename = f"{mm.filename} (opened by the parent process)"
        mm.owner = 0
        mm.depth = 0
        mm.lock = PyThread_allocate_lock()    # the parent's may be held by a thread that is gone
        pyp_set_tx_pool(NULL)
    _open_managers.clear()
    _open_files.clear()

os.register_at_fork(after_in_child=_forget_pools_in_child)


@atexit.register
def _close_at_exit():
    for mm in list(_open_managers):
        try:
            if mm.pool is not None:
                mm.pool.close()
            else:
                mm.close()
        except BaseException:
            pass
