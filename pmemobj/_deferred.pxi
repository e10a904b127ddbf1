# Frees a full transaction log refused, done right after the commit.
# (included by _core.pyx)


# ---------------------------------------------------------------------------
# Frees deferred past a full log.  Every free in a transaction needs an entry in
# its redo log, which grows by allocating from the heap; in a full pool it
# cannot, and a transaction that frees many objects (clearing a big collection)
# would fail.  A free refused for that reason is deferred instead: once the
# transaction commits the block is garbage (nothing references it), and it is
# freed right after the commit in transactions of its own, small enough for
# the log, each giving space back.  If the process dies first, the block is
# unreachable garbage for the gc that the next open runs.  An abort forgets the
# transaction's deferred frees: their objects are alive again.

cdef bint _deferring = False        # some pool has deferred frees: the only test on the normal path
# By the pool's MemoryManager (its address: a pool is forgotten when it closes or dies):
cdef dict _tx_deferred = {}         # offsets its open transaction could not free
cdef dict _committed_deferred = {}  # offsets of committed garbage still to free
cdef dict _draining = {}            # ident of the thread freeing that garbage (or -1: held, for tests)
DEF DEFERRED_BATCH = 32     # frees that fit the log a transaction has before it grows


cdef inline size_t _key(MemoryManager mm) noexcept:
    return <size_t><void *>mm


cdef bint _defer_free(MemoryManager mm, uint64_t off) except -1:
    """Record a free the full log refused; False inside the transactions that free such records."""
    global _deferring
    if _draining.get(_key(mm)) == mm.owner:
        return False
    lst = _tx_deferred.get(_key(mm))
    if lst is None:
        lst = _tx_deferred[_key(mm)] = []
    lst.append(off)
    _deferring = True
    return True


cdef _update_deferring():
    global _deferring
    _deferring = len(_tx_deferred) != 0 or len(_committed_deferred) != 0 or len(_draining) != 0


cdef _settle_deferred(MemoryManager mm, bint committed):
    """At the end of the outermost transaction, still under the pool's lock (the
    next transaction's deferred frees are its own): keep its deferred frees as
    garbage to free if it committed, forget them if it rolled back."""
    done = _tx_deferred.pop(_key(mm), None)
    if done and committed:
        pending = _committed_deferred.get(_key(mm))
        if pending is None:
            _committed_deferred[_key(mm)] = done
        else:
            pending.extend(done)
    _update_deferring()


cdef _forget_deferred(size_t key):
    _tx_deferred.pop(key, None)
    _committed_deferred.pop(key, None)
    _draining.pop(key, None)
    _update_deferring()


cdef _free_deferred(MemoryManager mm):
    """Free the committed garbage of `mm` in transactions that fit its log
    (starting small and growing while they commit); what does not fit stays
    queued for the next commit, close (which then leaves the pool to the
    recovery gc) or gc.  Commits of other threads meanwhile add to the list
    this loop empties (list and dict operations do not let other threads in)."""
    cdef size_t batch = DEFERRED_BATCH, k
    cdef size_t key = _key(mm)
    pending = _committed_deferred.get(key)
    if pending is None or mm.closed:
        return
    if not (mm.rootp.flags & PYP_FLAG_DEFERRED) and _draining.get(key) != <long>PyThread_get_thread_ident():
        # the garbage is in no record: should the process die before it is
        # freed, the next open must run the full collector (this transaction's
        # commit comes back here, and may free the garbage at once)
        try:
            _flag_in_own_tx(mm, PYP_FLAG_DEFERRED, True)
        except PoolFullError:
            pass                    # close() leaves such a pool unclean all the same
        pending = _committed_deferred.get(key)
        if pending is None or mm.closed:
            return
    if key in _draining:
        return
    _draining[key] = <long>PyThread_get_thread_ident()    # as mm.owner holds it
    try:
        # (gc takes the list over: the blocks are unreachable, its sweep frees them)
        while pending and _committed_deferred.get(key) is pending and not mm.closed:
            mm.begin()
            k = min(batch, <size_t>len(pending))
            chunk = pending[len(pending) - k:]
            del pending[len(pending) - k:]
            try:
                try:
                    for off in chunk:
                        mm.free(off)
                except BaseException:
                    mm.end(False)
                    raise
                mm.end(True)                # the commit too may find the pool full
            except BaseException as e:
                pending.extend(chunk)
                if not isinstance(e, PoolFullError):
                    raise
                if batch == 1:
                    break
                batch //= 2
                continue
            batch = min(2 * batch, <size_t>FREE_BATCH)
        if not pending and not mm.closed and (mm.rootp.flags & PYP_FLAG_DEFERRED):
            try:
                _flag_in_own_tx(mm, PYP_FLAG_DEFERRED, False)
            except PoolFullError:
                pass                # the flag stays: the next open runs the full collector
    finally:
        _draining.pop(key, None)
        if not pending and _committed_deferred.get(key) is pending:
            del _committed_deferred[key]
        _update_deferring()


def _hold_deferred_frees(MemoryManager mm, bint hold):
    """Tests: keep the deferred frees of `mm` queued (as if another thread were doing them)."""
    if hold:
        _draining[_key(mm)] = -1
    else:
        _draining.pop(_key(mm), None)
    _update_deferring()
