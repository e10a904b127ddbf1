# Durability levels: how libpmemobj's flushes reach a pool on a disk.
#
# On a file that is not persistent memory libpmemobj makes every flush an
# msync of its own, and its drains do nothing.  Its ordering rules are those
# of persistent memory, though: what was flushed must be durable once a drain
# returns, and nothing more.  So the core gives such a pool functions of its
# own in place of libpmemobj's per-pool "local" flush functions:
#   - "power": a flush (or a copy) only notes the range, in a per-thread
#     list; a drain (or a persist, or a copy that drains) msyncs what this
#     thread noted, one msync per pool covering all of it.  Between two
#     drains nothing is ordered on persistent memory either, and writing a
#     page to the disk early is always allowed (the kernel may do it any
#     time), so a committed transaction survives a power loss exactly as
#     before, with one msync per drain instead of one per flush.
#   - "process": flushes and drains do nothing; copies are plain copies.
#     Every store is in the page cache at once, which a crash of the process
#     leaves intact; the OS or the power going down can lose any part of it.
#     sync() (and close()) msync the whole pool.  A word in the root object
#     (`unsynced`) holds the boot's id from the first write after a sync until
#     the next sync: an open after a restart finds it and refuses the pool.
# The functions are libpmemobj 1.12's `persist_local` ... `memset_local`
# members of its pool descriptor, found by their neighbourhood (see
# pyp_dur_locate) and refused unless everything around them is as expected;
# a pool they cannot be found in keeps libpmemobj's own (one msync per
# flush) and reports durability "power".
# (included by _core.pyx)


cdef extern from *:
    """
    #include <dlfcn.h>
    #include <pthread.h>
    #include <stdio.h>
    #include <sys/mman.h>
    #include <unistd.h>
    #include <libpmem.h>

    typedef void (*pyp_flush_fn)(const void *, size_t);
    typedef void (*pyp_drain_fn)(void);
    typedef void *(*pyp_copy_fn)(void *, const void *, size_t, unsigned);
    typedef void *(*pyp_fill_fn)(void *, int, size_t, unsigned);

    /* libpmemobj 1.12's per-replica functions (struct pmemobjpool, obj.h),
     * followed there by struct pmem_ops (six functions, then its base: the pool) */
    typedef struct {
        pyp_flush_fn persist, flush;
        pyp_drain_fn drain;
        pyp_copy_fn memcpy, memmove;
        pyp_fill_fn memset;
    } pyp_local_ops_t;

    #define PYP_DUR_POOLS 64
    typedef struct {
        char *base;                 /* NULL: free slot */
        size_t size;
        uint64_t gen;               /* changes when the slot is reused */
        char *lanes, *lanes_end;    /* libpmemobj's lanes: the first part of each undo log */
        pyp_local_ops_t *where;     /* inside the pool descriptor */
        pyp_local_ops_t orig;
    } pyp_dur_pool_t;

    static pyp_dur_pool_t pyp_dur_pools[PYP_DUR_POOLS];
    static int pyp_dur_npools;      /* slots in use are below this */
    static uint64_t pyp_dur_gen;
    static pthread_mutex_t pyp_dur_lock = PTHREAD_MUTEX_INITIALIZER;

    /* what this thread flushed and has not drained yet, per pool slot */
    typedef struct { uint64_t gen; char *lo, *hi; } pyp_dur_pending_t;
    static __thread pyp_dur_pending_t pyp_dur_pending[PYP_DUR_POOLS];
    static __thread int pyp_dur_any;

    /* the journal (_journal.pxi) of a pool in slot i, when it has one */
    static int pyp_jrnl_note(int slot, const char *a, const char *e);
    static void pyp_jrnl_drain(int slot);
    static void pyp_jrnl_stop(int slot, int checkpoint);
    static int pyp_jrnl_pools;      /* pools journaling now: none, and the flush functions skip the journal */

    static long pyp_dur_msyncs;     /* counted for the tests */
    static int pyp_dur_merge_clobber = 1;

    static int pyp_dur_msync(const void *addr, size_t len) {
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t a = (uintptr_t)addr & ~(page - 1);
        uintptr_t e = ((uintptr_t)addr + len + page - 1) & ~(page - 1);
        __atomic_add_fetch(&pyp_dur_msyncs, 1, __ATOMIC_RELAXED);
        return msync((void *)a, e - a, MS_SYNC);
    }

    static void pyp_dur_fatal(void) {
        /* libpmemobj's own flush ends the process the same way: a pool whose
         * flush failed can no longer keep its promise */
        perror("pmemobj: msync of a pool failed");
        abort();
    }

    static void pyp_dur_note(const void *addr, size_t len) {
        char *a = (char *)addr, *e = a + len;
        int n = __atomic_load_n(&pyp_dur_npools, __ATOMIC_ACQUIRE);
        for (int i = 0; i < n; i++) {
            pyp_dur_pool_t *p = &pyp_dur_pools[i];
            if (p->base == NULL || a < p->base || e > p->base + p->size)
                continue;
            if (__atomic_load_n(&pyp_jrnl_pools, __ATOMIC_RELAXED) && pyp_jrnl_note(i, a, e)) {
                pyp_dur_any = 1;
                return;
            }
            pyp_dur_pending_t *q = &pyp_dur_pending[i];
            if (q->gen != p->gen || q->lo == NULL) {
                q->gen = p->gen;
                q->lo = a;
                q->hi = e;
            } else {
                if (a < q->lo) q->lo = a;
                if (e > q->hi) q->hi = e;
            }
            pyp_dur_any = 1;
            return;
        }
        if (len && pyp_dur_msync(addr, len) != 0)     /* not a pool of ours: as libpmemobj does */
            pyp_dur_fatal();
    }

    static void pyp_dur_drain(void) {
        if (!pyp_dur_any)
            return;
        pyp_dur_any = 0;
        int n = __atomic_load_n(&pyp_dur_npools, __ATOMIC_ACQUIRE);
        for (int i = 0; i < n; i++) {
            if (__atomic_load_n(&pyp_jrnl_pools, __ATOMIC_RELAXED))
                pyp_jrnl_drain(i);
            pyp_dur_pending_t *q = &pyp_dur_pending[i];
            if (q->lo == NULL)
                continue;
            char *lo = q->lo, *hi = q->hi;
            q->lo = q->hi = NULL;
            if (q->gen == pyp_dur_pools[i].gen && pyp_dur_msync(lo, (size_t)(hi - lo)) != 0)
                pyp_dur_fatal();
        }
    }

    static void pyp_dur_persist(const void *addr, size_t len) { pyp_dur_note(addr, len); pyp_dur_drain(); }
    static void *pyp_dur_memcpy(void *d, const void *s, size_t n, unsigned f) {
        pmem_memcpy(d, s, n, PMEM_F_MEM_NOFLUSH);      /* 8-byte stores stay atomic, as libpmemobj's */
        pyp_dur_note(d, n);
        if (!(f & PMEM_F_MEM_NODRAIN)) pyp_dur_drain();
        return d;
    }
    static void *pyp_dur_memmove(void *d, const void *s, size_t n, unsigned f) {
        pmem_memmove(d, s, n, PMEM_F_MEM_NOFLUSH);
        pyp_dur_note(d, n);
        if (!(f & PMEM_F_MEM_NODRAIN)) pyp_dur_drain();
        return d;
    }
    /* The header after an undo log entry about to be written, zeroed
     * (ulog_clobber_entry: one cache line, non-temporal, drained) in a lane. */
    static int pyp_dur_is_clobber(const char *d, int c, size_t n, unsigned f) {
        if (c != 0 || n != 64 || !(f & PMEM_F_MEM_NONTEMPORAL) || !pyp_dur_merge_clobber)
            return 0;
        int np = __atomic_load_n(&pyp_dur_npools, __ATOMIC_ACQUIRE);
        for (int i = 0; i < np; i++) {
            pyp_dur_pool_t *p = &pyp_dur_pools[i];
            if (p->base != NULL && d >= p->lanes && d + n <= p->lanes_end)
                return 1;
        }
        return 0;
    }

    static void *pyp_dur_memset(void *d, int c, size_t n, unsigned f) {
        pmem_memset(d, c, n, PMEM_F_MEM_NOFLUSH);
        pyp_dur_note(d, n);
        /* The clobber's drain orders nothing that matters: an undo entry is
         * valid only if its checksum, which covers the log's generation,
         * matches; the lane's log changes generation at the end of every
         * transaction, so the stale header it overwrites cannot pass for an
         * entry of this one whether it is zeroed on the disk or not.  It
         * reaches the disk with the entry written right after it (drained). */
        if (!(f & PMEM_F_MEM_NODRAIN) && !pyp_dur_is_clobber((const char *)d, c, n, f))
            pyp_dur_drain();
        return d;
    }

    /* "process": the page cache is enough */
    static void pyp_proc_flush(const void *addr, size_t len) { (void)addr; (void)len; }
    static void pyp_proc_drain(void) { }
    static void *pyp_proc_memcpy(void *d, const void *s, size_t n, unsigned f) {
        (void)f; return pmem_memcpy(d, s, n, PMEM_F_MEM_NOFLUSH);
    }
    static void *pyp_proc_memmove(void *d, const void *s, size_t n, unsigned f) {
        (void)f; return pmem_memmove(d, s, n, PMEM_F_MEM_NOFLUSH);
    }
    static void *pyp_proc_memset(void *d, int c, size_t n, unsigned f) {
        (void)f; return pmem_memset(d, c, n, PMEM_F_MEM_NOFLUSH);
    }

    static int pyp_in_object(const void *f, const char *fname) {
        Dl_info info;
        return f != NULL && dladdr(f, &info) != 0 && info.dli_fname != NULL && strcmp(info.dli_fname, fname) == 0;
    }

    /* The local functions of an open pool, or NULL.  Looked for in the
     * descriptor's run-time part (its first 8 KiB): a replica pointer of
     * NULL, six local functions (libpmemobj's msync ones, persist == flush,
     * or libpmem's own on persistent memory), six pmem_ops functions of
     * libpmemobj, then the pool's address.  Exactly one place must match. */
    static pyp_local_ops_t *pyp_dur_locate(PMEMobjpool *pop) {
        Dl_info self;
        if (dladdr((void *)pmemobj_open, &self) == 0 || self.dli_fname == NULL)
            return NULL;
        const char *lib = self.dli_fname;
        uintptr_t *w = (uintptr_t *)pop;
        size_t first = (4096 + 1024) / sizeof(uintptr_t), end = 8192 / sizeof(uintptr_t);
        pyp_local_ops_t *found = NULL;
        for (size_t i = first + 1; i + 12 < end; i++) {
            if (w[i + 12] != (uintptr_t)pop || w[i - 1] != 0)
                continue;
            int ok = 1;
            for (int k = 6; k < 12 && ok; k++)
                ok = pyp_in_object((void *)w[i + k], lib);
            if (!ok)
                continue;
            int msyncs = w[i] == w[i + 1];
            for (int k = 0; k < 6 && msyncs; k++)
                msyncs = pyp_in_object((void *)w[i + k], lib);
            int pmem = w[i] == (uintptr_t)pmem_persist && w[i + 1] == (uintptr_t)pmem_flush
                && w[i + 2] == (uintptr_t)pmem_drain && w[i + 3] == (uintptr_t)pmem_memcpy
                && w[i + 4] == (uintptr_t)pmem_memmove && w[i + 5] == (uintptr_t)pmem_memset;
            if (!msyncs && !pmem)
                continue;
            if (found != NULL)
                return NULL;            /* two candidates: trust neither */
            found = (pyp_local_ops_t *)&w[i];
        }
        return found;
    }

    /* Give the pool the functions of `mode` (1 "power", 2 "process"): its
     * slot; -1 if they cannot be found, -2 if PYP_DUR_POOLS pools have them
     * already. */
    static int pyp_dur_attach(PMEMobjpool *pop, char *base, size_t size, int mode) {
        pyp_local_ops_t *where = pyp_dur_locate(pop);
        if (where == NULL)
            return -1;
        pthread_mutex_lock(&pyp_dur_lock);
        int i;
        for (i = 0; i < PYP_DUR_POOLS && pyp_dur_pools[i].base != NULL; i++)
            ;
        if (i == PYP_DUR_POOLS) {
            pthread_mutex_unlock(&pyp_dur_lock);
            return -2;
        }
        pyp_dur_pool_t *p = &pyp_dur_pools[i];
        p->orig = *where;
        p->where = where;
        const uint64_t *desc = (const uint64_t *)((const char *)pop + 4096 + 1024);   /* lanes_offset, nlanes, heap_offset */
        if (desc[0] < desc[2] && desc[2] <= size) {
            p->lanes = base + desc[0];
            p->lanes_end = base + desc[2];
        } else {
            p->lanes = p->lanes_end = NULL;
        }
        p->size = size;
        p->gen = ++pyp_dur_gen;
        __atomic_store_n(&p->base, base, __ATOMIC_RELEASE);
        if (i >= pyp_dur_npools)
            __atomic_store_n(&pyp_dur_npools, i + 1, __ATOMIC_RELEASE);
        pyp_local_ops_t ops;
        if (mode == 2) {
            ops.persist = ops.flush = pyp_proc_flush;
            ops.drain = pyp_proc_drain;
            ops.memcpy = pyp_proc_memcpy;
            ops.memmove = pyp_proc_memmove;
            ops.memset = pyp_proc_memset;
        } else {
            ops.persist = pyp_dur_persist;
            ops.flush = pyp_dur_note;
            ops.drain = pyp_dur_drain;
            ops.memcpy = pyp_dur_memcpy;
            ops.memmove = pyp_dur_memmove;
            ops.memset = pyp_dur_memset;
        }
        *where = ops;
        pthread_mutex_unlock(&pyp_dur_lock);
        return i;
    }

    /* Give the pool libpmemobj's functions back (before pmemobj_close). */
    static void pyp_dur_detach(PMEMobjpool *pop) {
        pthread_mutex_lock(&pyp_dur_lock);
        for (int i = 0; i < pyp_dur_npools; i++) {
            pyp_dur_pool_t *p = &pyp_dur_pools[i];
            if (p->base == NULL || (char *)p->where < (char *)pop || (char *)p->where >= (char *)pop + 8192)
                continue;
            pyp_jrnl_stop(i, 0);         /* (close() has checkpointed it) */
            pyp_dur_drain();
            *p->where = p->orig;
            p->gen = ++pyp_dur_gen;
            __atomic_store_n(&p->base, NULL, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&pyp_dur_lock);
    }

    static long pyp_dur_msync_count(void) { return __atomic_load_n(&pyp_dur_msyncs, __ATOMIC_RELAXED); }
    static void pyp_dur_set_merge_clobber(int on) { pyp_dur_merge_clobber = on; }
    #define PYP_UNSYNCED_IN_ROOT offsetof(pyp_root_t, unsynced)
    """
    size_t PYP_UNSYNCED_IN_ROOT
    int pyp_dur_attach(PMEMobjpool *pop, char *base, size_t size, int mode) nogil
    void pyp_dur_detach(PMEMobjpool *pop) nogil
    int pyp_dur_msync(const void *addr, size_t len) nogil
    long pyp_dur_msync_count() nogil
    void pyp_dur_set_merge_clobber(int on) nogil
    void pyp_dur_persist(const void *addr, size_t len) nogil
    void pmem_persist(const void *addr, size_t len) nogil


DURABILITY_LEVELS = ("power", "process")
cdef int _DUR_POWER = 1
cdef int _DUR_PROCESS = 2


def msyncs_by_the_core():
    """How many msyncs the core's flush functions made in this process (for tests)."""
    return pyp_dur_msync_count()


# PMEMOBJ_MERGE_CLOBBER=0: drain after each undo entry's clobbered successor as
# libpmemobj does (one more msync per snapshot; for comparisons)
pyp_dur_set_merge_clobber(os.environ.get("PMEMOBJ_MERGE_CLOBBER", "1") != "0")


# PMEMOBJ_MERGE_FLUSHES=0: pools at "power" keep libpmemobj's own functions
# (an msync per flush; for comparisons)
cdef bint _MERGE_FLUSHES = os.environ.get("PMEMOBJ_MERGE_FLUSHES", "1") != "0"


cdef uint64_t _boot_tag() except? 0:
    """This boot of the OS, as a nonzero word (PMEMOBJ_BOOT_ID stands in for
    the kernel's boot id in tests that simulate a restart)."""
    boot = os.environ.get("PMEMOBJ_BOOT_ID")
    if not boot:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                boot = f.read().strip()
        except OSError:
            boot = "unknown"
    import hashlib
    return int.from_bytes(hashlib.blake2b(boot.encode(), digest_size=8).digest(), "little") | 1


def _unsynced_word_at(filename):
    """The `unsynced` word of a pool file not yet opened (0 if unreadable)."""
    import struct
    try:
        with open(filename, "rb") as f:
            f.seek(_ROOT_OFFSET_AT)
            raw = f.read(8)
            if len(raw) != 8:
                return 0
            root_off, = struct.unpack("<Q", raw)
            if root_off < 8192 or root_off + sizeof(pyp_root_t) > os.fstat(f.fileno()).st_size:
                return 0                # no root object yet (a pool being created)
            f.seek(root_off + _UNSYNCED_IN_ROOT)
            raw = f.read(8)
    except (OSError, OverflowError, ValueError):
        return 0
    return struct.unpack("<Q", raw)[0] if len(raw) == 8 else 0


# libpmemobj 1.12's struct pmemobjpool: pool_hdr (4096), layout (1024), four
# words, unused (984), checksum: root_offset follows at 6144
_ROOT_OFFSET_AT = 6144
_UNSYNCED_IN_ROOT = PYP_UNSYNCED_IN_ROOT


cdef str _unsynced_state(uint64_t word):
    if word == 0:
        return None
    return "this boot" if word == _boot_tag() else "an earlier boot"


def unsynced_state_of(filename):
    """None, or who left a pool file (not open) with writes at durability
    "process" that were never synced: "this boot" or "an earlier boot"."""
    return _unsynced_state(_unsynced_word_at(filename))


def _refuse_unsynced(filename):
    """An open of a pool written at "process" durability and not synced
    before the OS last went down: anything of it may be missing."""
    word = _unsynced_word_at(filename)
    if word == 0 or word == _boot_tag() or os.environ.get("PMEMOBJ_ACCEPT_UNSYNCED", "0") not in ("", "0"):
        return
    # (python -m pmemobj check and info still open it, to say so)
    raise InvalidPoolError(EINVAL, "the pool was written at durability 'process' and the system went down "
                           "(a restart, a power loss or an OS crash) before its writes were synced: any part "
                           "of them may be missing and the pool may be damaged; restore it from a backup "
                           "(or set PMEMOBJ_ACCEPT_UNSYNCED=1 to open it anyway and copy out what is left: "
                           "it stays marked as suspect)",
                           filename)


cdef int _mm_set_durability(MemoryManager self, str durability) except -1:
    """Give a freshly opened pool the flush functions of its level (before any write)."""
    if durability not in DURABILITY_LEVELS:
        raise ValueError(f"durability must be 'power' or 'process', not {durability!r}")
    self.unsynced_at_open = _unsynced_state(self.rootp.unsynced)
    cdef int mode = _DUR_PROCESS if durability == "process" else _DUR_POWER
    cdef int rc = 0
    if self.max_size and mode == _DUR_PROCESS:
        raise ValueError("durability 'process' is not available for a growing pool (its parts are "
                         "mapped as it grows, past the range the core's flush functions cover)")
    if mode == _DUR_POWER and (self.is_pmem or not _MERGE_FLUSHES or self.max_size):
        # libpmemobj's own functions: cache flushes on pmem; for a growing pool,
        # one msync per flush (the parts it adds lie past what ours cover)
        self.durability = "power"
    elif (rc := pyp_dur_attach(self.pop, self.base, self.pool_size, mode)) >= 0:
        self.durability = durability
        self.dur_slot = rc
    elif mode == _DUR_PROCESS:
        if rc == -2:
            raise ValueError("durability 'process': too many pools open at once (at most 64 have their "
                             "own flush functions)")
        raise ValueError("durability 'process' needs libpmemobj's pool functions as release 1.11 to 1.13 "
                         f"lays them out; this libpmemobj ({LIBPMEMOBJ_VERSION}) does not match")
    else:
        self.durability = "power"       # libpmemobj's functions: one msync per flush
    if self.unsynced_at_open == "an earlier boot":
        self.marked = True              # the pool stays suspect: its word is never cleared
    elif self.rootp.unsynced != 0 and mode == _DUR_POWER:
        self._sync_all()                # a "process" session's writes of this boot: durable now
    return 0


cdef int _mm_mark_unsynced(MemoryManager self) except -1:
    """Before the first write after a sync at durability "process": the word
    saying so reaches the disk first, so that nothing written later can be
    on it without the word."""
    self.rootp.unsynced = _boot_tag()
    _persist_word(self, &self.rootp.unsynced)
    self.marked = True
    return 0


cdef int _persist_word(MemoryManager self, void *p) except -1:
    if self.jslot >= 0:
        pyp_dur_persist(p, 8)           # into the journal's next record
        with nogil:
            pyp_jrnl_commit(self.jslot)
    elif self.is_pmem:
        pmem_persist(p, 8)
    elif pyp_dur_msync(p, 8) != 0:
        raise OSError(errno, f"msync of {self.filename!r} failed")
    return 0


cdef int _mm_sync_all(MemoryManager self) except -1:
    """Everything written so far onto the disk, then the `unsynced` word cleared
    (durably).  The caller holds the pool (no transaction is open)."""
    cdef int rc
    if self.jslot >= 0:
        _mm_journal_checkpoint(self)
    elif self.is_pmem:
        with nogil:
            pmem_persist(self.base, self.pool_size)
    else:
        with nogil:
            rc = pyp_dur_msync(self.base, self.pool_size)
        if rc != 0:
            raise OSError(errno, f"msync of {self.filename!r} failed")
    if self.unsynced_at_open == "an earlier boot":
        return 0                        # what the restart lost stays lost: the pool stays suspect
    if self.rootp.unsynced != 0:
        self.rootp.unsynced = 0         # one aligned word: all or nothing on the disk
        _persist_word(self, &self.rootp.unsynced)
    self.marked = False
    return 0


cdef int _mm_sync(MemoryManager self) except -1:
    """pool.sync(): wait for other threads' transactions, then make everything durable."""
    self.check()
    if self.owner == PyThread_get_thread_ident():
        raise TransactionError("sync() inside a transaction: commit first (a transaction is made durable "
                               "whole, never in part)")
    if not PyThread_acquire_lock(self.lock, NOWAIT_LOCK):
        with nogil:
            PyThread_acquire_lock(self.lock, WAIT_LOCK)
    try:
        if not self.closed:
            self._sync_all()
    finally:
        PyThread_release_lock(self.lock)
    return 0


cdef int _mm_durability_detach(MemoryManager self, bint sync) except -1:
    """Before pmemobj_close: at "process", everything to the disk (`sync`);
    then libpmemobj's own functions back."""
    if self.pop == NULL:
        return 0
    if sync and self.durability == "process":
        self._sync_all()
    _mm_journal_stop(self, sync)
    pyp_dur_detach(self.pop)
    self.dur_slot = -1
    return 0
