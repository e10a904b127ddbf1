# Online backup: the moment between transactions.  Every outermost transaction
# holds the pool lock from begin to end (_transactions.pxi), and every write to
# a pool happens in one: while the lock is held here, the pool's files hold a
# committed state and nothing changes them.  The copying is pmemobj/backup.py's.
# (included by _core.pyx)


def _between_transactions(MemoryManager mm, fn):
    """Call fn() while no transaction is open on the pool in any thread (the
    GIL is released while waiting for the running one to end)."""
    mm.check()
    if mm.owner == PyThread_get_thread_ident():
        raise TransactionError("cannot copy a pool inside one of its transactions: the copy "
                               "would hold a state that was never committed")
    if not PyThread_acquire_lock(mm.lock, NOWAIT_LOCK):
        with nogil:
            PyThread_acquire_lock(mm.lock, WAIT_LOCK)
    try:
        mm.check()
        _mm_journal_checkpoint(mm)      # the pool file alone holds the state
        return fn()
    finally:
        PyThread_release_lock(mm.lock)
