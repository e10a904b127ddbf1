# Fault injection for tests: the Nth next allocation, snapshot or free fails
# the way libpmemobj fails on a full pool.
# (included by _core.pyx)


# ---------------------------------------------------------------------------
# Fault injection for tests: make the Nth next allocation, snapshot or free fail
# the way libpmemobj fails on a full pool (the transaction is aborted).

cdef enum:
    FAULT_ALLOC = 0
    FAULT_SNAPSHOT = 1
    FAULT_FREE = 2

cdef long long _fault_countdown[3]
cdef unsigned long long _fault_ops[3]
_fault_countdown[:] = [-1, -1, -1]
_fault_ops[:] = [0, 0, 0]
_FAULT_KINDS = {"alloc": FAULT_ALLOC, "snapshot": FAULT_SNAPSHOT, "free": FAULT_FREE}

cdef inline bint _fault(int kind) noexcept:
    _fault_ops[kind] += 1
    if _fault_countdown[kind] < 0:
        return False
    if _fault_countdown[kind] == 0:
        _fault_countdown[kind] = -1
        return True
    _fault_countdown[kind] -= 1
    return False

def _fault_inject(kind, long long n):
    """Make the n-th (0-based) next operation of *kind* ('alloc', 'snapshot', 'free') fail."""
    _fault_countdown[_FAULT_KINDS[kind]] = n

def _fault_reset():
    """Cancel pending faults and zero the operation counts."""
    _fault_countdown[:] = [-1, -1, -1]
    _fault_ops[:] = [0, 0, 0]

def _fault_counts():
    """How many allocations, snapshots and frees ran since the last reset."""
    return {k: _fault_ops[v] for k, v in _FAULT_KINDS.items()}
