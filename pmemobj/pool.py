"""PersistentObjectPool: the user's handle on a pool file.

A plain Python class (subclassable and patchable); the work is done by the
compiled MemoryManager of pmemobj._core."""
import warnings

from . import _core, _poolset
from ._core import MIN_POOL_SIZE, InvalidPoolError, PoolFullError, TransactionError
from .gcreport import GCResult, log_gc

__all__ = ["MemoryManager", "PersistentObjectPool", "create", "open", "MIN_POOL_SIZE", "DEFAULT_POOL_SIZE",
           "DEFAULT_GROW_BY"]

# libpmemobj's minimum (MIN_POOL_SIZE, 8 MiB) leaves about 4 MiB for objects and no
# room for one object of about 200 KB to 2 MiB (the runs and chunks libpmemobj
# allocates those in do not fit): too small to be a useful default.
DEFAULT_POOL_SIZE = 32 << 20
# How much a growing pool grows at a time (a part file of this size each time).
DEFAULT_GROW_BY = _poolset.DEFAULT_GROW_BY


class MemoryManager(_core.MemoryManager):
    """A pool's memory manager (reach it as ``pool.mm``).

    Oids are ``(pool_uuid_lo, offset)`` tuples.  alloc/zalloc/free/realloc
    must be called inside a transaction; incref/decref/xdecref/persist run in
    one of their own when called outside."""

    alloc = _core.MemoryManager._py_alloc
    free = _core.MemoryManager._py_free
    incref = _core.MemoryManager._py_incref
    decref = _core.MemoryManager._py_decref
    usable_size = _core.MemoryManager._py_usable_size

    def __init__(self, pool_pr=None, type_table=None):
        self.pool = pool_pr


class PersistentObjectPool:
    """A persistent object pool backed by *filename*.

    flag 'w': open an existing pool; 'x': create a new one (FileExistsError if
    the file exists); 'c': create it if missing, else open it.  A new pool file
    is *pool_size* bytes (at least MIN_POOL_SIZE; DEFAULT_POOL_SIZE is 32 MiB),
    with the permissions *mode* filtered by the process's umask, as open() does.
    With *max_size*, the new pool grows: *filename* is a pool set file, its
    parts live in the directory ``filename + ".parts"``, and the pool grows by
    *grow_by* bytes (DEFAULT_GROW_BY) whenever it is full, up to *max_size*.
    A pool that was not closed cleanly is garbage collected on open."""

    MemoryManager = MemoryManager

    def __init__(self, filename, flag='w', pool_size=DEFAULT_POOL_SIZE, mode=0o666, debug=False,
                 max_size=None, grow_by=None, durability="power"):
        self.filename = filename
        self.debug = debug
        self.mm = self.MemoryManager(self)
        if max_size is None:
            self.mm._open(filename, flag, pool_size, mode, durability=durability)
        else:
            self.mm._open(filename, flag, pool_size, mode, max_size, grow_by or DEFAULT_GROW_BY,
                          durability=durability)
        if type(self).transaction is PersistentObjectPool.transaction:
            # `with pool.transaction():` without a Python frame (70 ns of 330); a
            # subclass that overrides transaction() keeps its own
            self.transaction = self.mm.transaction
        self.recovered = None
        if self.mm.unclean:
            try:
                # what the pool's records name (the full walk only when they say so)
                self.recovered = GCResult(self.mm._recover())
                if self.debug:
                    log_gc(filename, self.recovered)
            except Exception as e:       # an unimportable class must not make the pool unopenable
                warnings.warn(f"pool {filename!r} was not closed cleanly and gc could not run: {e}",
                              RuntimeWarning, stacklevel=2)

    # context manager: close on exit
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def closed(self):
        return self.mm.closed

    @property
    def durability(self):
        """"power": every committed transaction survives a power loss (on a
        disk, through the pool's journal: one fdatasync per commit); "process":
        commits survive a crash of the process, and sync() (called by close())
        makes them survive a power loss.  See docs/durability.rst."""
        return self.mm.durability

    def sync(self):
        """Make every transaction committed so far durable (waits for other
        threads' transactions; TransactionError inside one of this thread).  At
        durability "power" there is nothing to do but flush the file once (with
        a journal: write its records into the pool file, a checkpoint)."""
        self.mm.sync()

    @property
    def is_pmem(self):
        """True when libpmemobj flushes with CPU instructions (real persistent
        memory, or PMEM_IS_PMEM_FORCE=1); False when it msyncs (emulation)."""
        return self.mm.is_pmem

    @property
    def root(self):
        """The root object: what is reachable from it survives close()."""
        return self.mm.get_root()

    @root.setter
    def root(self, value):
        self.mm.set_root(value)

    @property
    def size(self):
        """The pool's size in bytes (of a growing pool, the size it has grown to)."""
        return self.mm.pool_size

    @property
    def max_size(self):
        """A growing pool's maximum size in bytes; None for a pool of fixed size."""
        return self.mm.max_size or None

    def backup(self, dest):
        """Copy the pool to *dest* (a new path) between transactions: the copy
        holds the last committed state and opens as a pool (of a growing pool:
        a set file *dest* and its parts in ``dest + ".parts"``).  Transactions of
        other threads wait while the files are copied.  Returns *dest*."""
        from .backup import backup
        return backup(self.mm, dest)

    def new(self, typ, /, *args, **kw):
        """Create an instance of the Persistent type *typ* in this pool."""
        return self.mm.new(typ, *args, **kw)

    def transaction(self):
        """A context manager: commit on normal exit, roll back on an exception.

        Transactions nest flatly: an exception leaving an inner block rolls
        back the whole transaction."""
        return self.mm.transaction()

    def persist_via_pickle(self, *types):
        """Store instances of *types* (immutable, non-container) pickled.

        TypeError for a type whose objects can change in place (unhashable, or a
        dataclass that is not frozen): store those as PersistentObject subclasses."""
        self.mm.persist_via_pickle(*types)

    def stats(self):
        """The pool's space, in bytes: ``pool_size`` (the file), ``heap_bytes``
        (what objects can use), ``used_bytes`` (in blocks handed out, headers
        included), ``free_bytes``, ``free_chunk_bytes`` (in whole free chunks of
        256 KiB, which any allocation can use), ``empty_run_bytes`` (runs whose
        allocation class keeps them although empty: free chunks again at the
        next open, or after a transaction in which an allocation found its
        class full) and ``largest_free_block`` (the largest allocation that can
        succeed now); and counts of this session."""
        return self.mm.stats()

    def gc(self, debug=None, full=True):
        """Free every object not reachable from the root (or a live proxy),
        repair reference counts, and return counts of what was kept and freed:
        a GCResult, which unpacks as ``type_counts, gc_counts`` and reads the
        detailed report by key (``result['freed_total']``).  With *debug* (by
        default the pool's), orphans freed are logged as warnings on the
        'pmemobj' logger and the report at DEBUG level.

        ``full=False`` runs the incremental collector instead (what close()
        and the recovery after a crash run): it frees the objects at count 0
        nothing holds and the garbage cycles among the containers whose
        counts changed since the last collection, at a cost that follows
        what changed, not the pool's size; its report counts what it looked
        at ('scanned', 'candidates'), not the whole heap.  The full walk is
        the default because its counts are the whole heap's, as code written
        for pynvm expects."""
        debug = self.debug if debug is None else debug
        result = None
        if not full and not self.mm.needs_full_gc:
            try:
                result = GCResult(self.mm._collect())
            except InvalidPoolError:
                pass                    # counts found wrong: the full walk repairs them
        if result is None:
            result = GCResult(self.mm._gc())
        if debug:
            log_gc(self.filename, result)
        return result

    def close(self):
        """Collect garbage, mark the pool clean and close the file.  Idempotent."""
        if self.mm.closed:
            return
        if self.mm.in_transaction:
            raise TransactionError("cannot close the pool inside a transaction")
        if self.mm.dirty_since_open:
            # what only Python still holds (a never linked pool.new() object, a
            # popped value) is garbage now: the proxies die with the pool.  The
            # records name it, and the cycles that may have become garbage.
            try:
                if self.mm.needs_full_gc:
                    result = self.mm._gc(proxy_roots=False)
                else:
                    try:
                        result = self.mm._collect(closing=True)
                    except (PoolFullError, InvalidPoolError):
                        # a full pool, or counts the trial deletion found wrong:
                        # the full walk repairs counts and refuses real damage
                        result = self.mm._gc(proxy_roots=False)
            except InvalidPoolError:
                self.mm._close_unclean()    # the next open's recovery meets the damage
                raise
            if self.debug:
                log_gc(self.filename, GCResult(result))
        self.mm.close()

    def __repr__(self):
        state = "closed" if self.closed else ("pmem" if self.is_pmem else "emulated pmem")
        return f"<{type(self).__name__} {self.filename!r} ({state})>"


def create(filename, pool_size=DEFAULT_POOL_SIZE, mode=0o666, debug=False, max_size=None, grow_by=None,
           durability="power"):
    """Create a new pool file (FileExistsError if it exists) and return it open.

    With *max_size* the pool grows on demand: it starts at *pool_size* bytes and
    grows by *grow_by* bytes (DEFAULT_GROW_BY, at least 2 MiB) whenever an
    allocation finds it full; PoolFullError comes only at *max_size*.
    *durability* is "power" (the default) or "process" (see
    PersistentObjectPool.durability)."""
    return PersistentObjectPool(filename, flag='x', pool_size=pool_size, mode=mode, debug=debug,
                                max_size=max_size, grow_by=grow_by, durability=durability)


def open(filename, debug=False, durability="power"):
    """Open an existing pool file (FileNotFoundError if it does not exist).  A
    pool written at durability "process" and not synced before the OS went down
    is refused with InvalidPoolError: it may be damaged."""
    return PersistentObjectPool(filename, flag='w', debug=debug, durability=durability)
