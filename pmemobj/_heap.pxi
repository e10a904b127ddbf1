# Included at the end of _core.pyx: what the core asks of libpmemobj's
# allocator (the allocation classes and arena of every pool) and what it reads
# back from the heap (used and free space, for stats() and PoolFullError).
#
# Why: libpmemobj's default classes serve every size above about 1.3 KiB from
# runs of up to 16 chunks (4 MiB), one run per class and per thread, and its
# sizes step by up to 5 % plus a 64-byte granularity.  In a pool of a few
# dozen MiB a handful of classes reserve most of the heap, and a run that
# needs 16 free contiguous chunks is not found long before the pool is full.
# Our classes take runs of one chunk (256 KiB), so any free chunk serves any
# of them, and their sizes fit this library's objects and table segments.
#
# Above CLASS_MAX the default classes are no better: a block of 16 KiB to
# 2.5 MiB comes from a run of up to 16 chunks (4 MiB), which a fresh pool of
# 8 MiB (15 free chunks) does not have.  So a size up to MULTI_MAX takes
# several blocks of the largest class in a row (2 to 7 of the 15 of its runs
# of one chunk), and a larger one whole chunks: a "huge" block, libpmemobj's
# choice for a size of whole chunks (less a block header), which returns to
# the free chunks as soon as it is freed.  (Classes of their own would hold a
# chunk each once used: libpmemobj keeps an empty run with its class.)
#
# On a fragmented heap (many classes with partly used runs, no free chunk) a
# class can be full while megabytes are free in other classes' runs.  An
# allocation then takes a range of free units of another class (libpmemobj
# serves up to 64 units in a row of a run as one block), chosen from a walk
# of the heap (_alloc_in_any_class); after that transaction the runs are
# detached and the empty ones given back as free chunks (_recycle_runs: not
# possible inside a transaction, which holds the lane that it would use).

from struct import error as struct_error

DEF CLASS_FIRST_ID = 128    # libpmemobj keeps ids 0-127 for its own classes
DEF NCLASSES = 64
DEF CLASS_MAX = 16384       # the largest usable size of a class
DEF BLOCK_HEADER = 16       # libpmemobj's compact header, in front of every block
DEF MULTI_MAX = 114784      # 7 * (CLASS_MAX + BLOCK_HEADER) - BLOCK_HEADER: up to 7 blocks of the largest class
DEF LOG_HEADERS = 256       # room for libpmemobj's headers of a log buffer (struct ulog and its first entry)
DEF CLASS_GRAINS = 1025     # CLASS_MAX // 16 + 1: the entries of _class_of
DEF FALLBACK_FACTOR = 2     # a full class falls back to larger ones up to this multiple of the size

# Usable sizes (the header not included): 16 to 256 bytes by 16, then eight
# steps per doubling up to CLASS_MAX: an object over 256 bytes wastes at most
# 1/9 of its block.  (Few classes matter too: each class in use holds a run.)
cdef uint32_t _class_usable[NCLASSES]
cdef uint8_t _class_of[CLASS_GRAINS]         # (n + 15) // 16 -> the class of n bytes


cdef _init_classes():
    sizes = list(range(16, 257, 16))
    lo, step = 256, 32
    while lo < CLASS_MAX:
        sizes.extend(range(lo + step, 2 * lo + 1, step))
        lo, step = 2 * lo, 2 * step
    assert len(sizes) == NCLASSES and sizes[NCLASSES - 1] == CLASS_MAX
    cdef int i, c = 0
    for i in range(NCLASSES):
        _class_usable[i] = sizes[i]
    for i in range(CLASS_GRAINS):
        while _class_usable[c] < 16 * i:
            c += 1
        _class_of[i] = c

_init_classes()

CLASS_SIZES = tuple(_class_usable[i] for i in range(NCLASSES))


cdef uint8_t _class_id[NCLASSES]    # the libpmemobj id of each class (0: not registered yet)


cdef int _register_classes(PMEMobjpool *pop, filename) except -1:
    """Create the classes in a pool just opened, before anything is allocated in it
    (they are runtime state: runs of a class libpmemobj does not know are not
    used again).  A class equal to one of libpmemobj's (same block size, runs
    of one chunk) is that one: libpmemobj refuses a duplicate."""
    cdef pobj_alloc_class_desc d
    cdef int i, j, cid
    for i in range(NCLASSES):
        d.unit_size = _class_usable[i] + BLOCK_HEADER
        d.alignment = 0
        d.units_per_block = 1           # rounded up by libpmemobj to a run of one chunk
        d.header_type = POBJ_HEADER_COMPACT
        d.class_id = 0
        cid = CLASS_FIRST_ID + i
        if pmemobj_ctl_set(pop, f"heap.alloc_class.{cid}.desc".encode(), &d) != 0:
            cid = 0
            for j in range(1, CLASS_FIRST_ID):
                if pmemobj_ctl_get(pop, f"heap.alloc_class.{j}.desc".encode(), &d) == 0 and \
                        d.unit_size == _class_usable[i] + BLOCK_HEADER and \
                        d.unit_size * d.units_per_block <= CHUNKSIZE and d.header_type == POBJ_HEADER_COMPACT:
                    cid = j
                    break
            if cid == 0:
                raise OSError(errno, f"libpmemobj refused the allocation class of {_class_usable[i]} bytes: "
                              f"{_errmsg()}", filename)
        if _class_id[i] != cid:
            if _class_id[i]:
                raise OSError(EINVAL, f"libpmemobj gave the allocation class of {_class_usable[i]} bytes "
                              f"id {cid}, not {_class_id[i]} as before", filename)
            _class_id[i] = cid
    # A transaction's snapshots go to log buffers of this size (plus headers)
    # allocated from the heap: by default 32 KiB, which libpmemobj serves from
    # runs of 4 chunks.  This one fits our largest class (runs of one chunk).
    cdef long long cache = CLASS_MAX - LOG_HEADERS
    if pmemobj_ctl_set(pop, b"tx.cache.size", &cache) != 0:
        raise OSError(errno, f"libpmemobj refused the transaction cache size {cache}: {_errmsg()}", filename)
    return 0


cdef _free_log_extensions(filename):
    """Open and close a pool whose lanes' logs have extensions, before the real
    open.  libpmemobj frees those while it opens a pool, which makes it read
    the heap's runs before our classes exist: the runs of our classes it then
    finds in use are not used again in that session (their free blocks are
    lost until the next open).  Once the logs are freed, the next open reads
    the heap only when the first allocation needs it, after _register_classes."""
    cdef pyp_call_t *call
    try:
        if not _metadata_check.log_extensions(filename):
            return
    except (OSError, ValueError, struct_error):
        return                      # the open that follows reports what is wrong
    call = _call_library(filename, False)
    if call.pop != NULL:
        pmemobj_close(call.pop)
    c_free(call.path)
    c_free(call)


cdef inline uint64_t _class_flags(size_t n) noexcept:
    """The POBJ_CLASS_ID flag of the class serving n bytes; above MULTI_MAX
    none: the request is whole chunks (_request_size), libpmemobj's choice."""
    if n <= CLASS_MAX:
        return POBJ_CLASS_ID(_class_id[_class_of[(n + 15) >> 4]])
    if n <= MULTI_MAX:
        return POBJ_CLASS_ID(_class_id[NCLASSES - 1])
    return 0


cdef inline size_t _request_size(size_t n) noexcept:
    """What to ask libpmemobj for to hold n bytes: n, or above MULTI_MAX the
    whole chunks holding it (its own choice for such a size would be a run
    of up to 16 chunks, which a small pool may lack)."""
    return _chunks_size(n) if n > MULTI_MAX else n


cdef inline size_t _chunks_size(size_t n) noexcept:
    """The size of the whole chunks holding n bytes and a block header: for it
    libpmemobj's default choice is a block of chunks (no run class wastes
    nothing, as that block does)."""
    return (n + BLOCK_HEADER + CHUNKSIZE - 1) // CHUNKSIZE * CHUNKSIZE - BLOCK_HEADER


cdef PMEMoid _alloc_in_larger_class(size_t n, uint64_t type_num, uint64_t flags) noexcept:
    """After a class found no free block and no free chunk for a new run: a
    free block of a larger class (up to FALLBACK_FACTOR times n), so that the
    last partly used runs of a full pool still serve.  OID_NULL if none.
    (The quick first try, without a walk of the heap; _alloc_in_any_class
    then tries every class with room.)"""
    cdef PMEMoid oid
    cdef int c
    oid.pool_uuid_lo = 0
    oid.off = 0
    if n > CLASS_MAX:
        return oid
    c = _class_of[(n + 15) >> 4] + 1
    while c < NCLASSES and _class_usable[c] <= FALLBACK_FACTOR * n:
        oid = pmemobj_tx_xalloc(n, type_num, flags | POBJ_CLASS_ID(_class_id[c]))
        if oid.off:
            return oid
        c += 1
    return oid


DEF RUN_UNIT_MAX = 64        # libpmemobj 1.12: the units of one block of a run lie in one 64-bit word of its bitmap


cdef int _class_index(uint64_t block_size) noexcept:
    """Which of our classes has blocks of this size (headers included); -1: none."""
    cdef int lo = 0, hi = NCLASSES - 1, mid
    while lo <= hi:
        mid = (lo + hi) // 2
        if _class_usable[mid] + BLOCK_HEADER == block_size:
            return mid
        if _class_usable[mid] + BLOCK_HEADER < block_size:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1


cdef PMEMoid _alloc_in_any_class(MemoryManager mm, size_t n, uint64_t type_num, uint64_t flags):
    """The last resort before a pool is full: a block of any class that has room
    for n bytes, several units in a row if need be (libpmemobj gives a block up
    to 64 units of a run, all in one 64-bit word of its bitmap: it does not
    split objects, so only such a range of free units serves).  The candidates
    come from one walk of the heap (runs, free units, the longest range of free
    units a block can take), least waste first.  A candidate can still fail:
    units freed or allocated in this transaction show as free in the bitmaps."""
    cdef PMEMoid oid
    cdef int c, first_tried = -1
    cdef uint64_t units, block
    oid.pool_uuid_lo = 0
    oid.off = 0
    if n <= CLASS_MAX:
        first_tried = _class_of[(n + 15) >> 4]        # the class itself failed already
    elif n <= MULTI_MAX:
        first_tried = NCLASSES - 1
    try:
        runs = {}
        _heap_stats(mm, runs)
    except Exception:               # a damaged heap: the allocation fails as it would have
        return oid
    candidates = []
    for block_size, r in runs.items():
        c = _class_index(block_size)
        if c < 0 or c == first_tried or not r[2]:
            continue
        units = (n + BLOCK_HEADER + block_size - 1) // block_size
        if units <= r[3]:               # r[3]: the longest range of free units one block can take
            candidates.append((units * block_size, c))
    candidates.sort()
    for block, c in candidates:
        oid = pmemobj_tx_xalloc(n, type_num, flags | POBJ_CLASS_ID(_class_id[c]))
        if oid.off:
            return oid
    return oid


cdef int _recycle_runs(MemoryManager mm) noexcept:
    """Outside a transaction only: make libpmemobj detach every class's run,
    give the empty ones back as free chunks and count every free unit again
    (pmemobj_defrag with no objects: its heap_force_recycle and nothing else).
    Inside a transaction a class keeps its run even when empty, so that a
    request for whole chunks fails although the runs hold free chunks; and
    units freed in a run that is not attached stay unseen until enough of its
    class are freed.  Done after a transaction in which an allocation found
    its class full (the pool is tight), never on the way of a normal one."""
    mm.recycle_due = False
    mm.runs_held = False
    return pmemobj_defrag(mm.pop, NULL, 0, NULL)


# Threads share one arena: transactions on a pool are serialized by its lock
# anyway, and an arena per thread holds a run per class of its own.
cdef pobj_arenas_assignment_type _assignment = POBJ_ARENAS_ASSIGNMENT_GLOBAL
pmemobj_ctl_set(NULL, b"heap.arenas_assignment_type", &_assignment)


# ---------------------------------------------------------------------------
# Used and free space, read from the chunk headers and run bitmaps (the
# layout _check_heap walks; the pool is open and checked)

cdef uint64_t _run_free_units(const char *run, uint64_t size_idx, uint64_t block_size, uint64_t *nbits,
                              uint64_t *longest) noexcept:
    """Free units of a run; *nbits: all its units; *longest: the longest range
    of free units in one 64-bit value of the bitmap (what one block can take).
    (libpmemobj 1.12's flexible bitmap: 64-bit values after the 16-byte run
    header, as many as the units need, padded so that the header and the
    bitmap end on a cache line.)"""
    cdef uint64_t content = size_idx * CHUNKSIZE - RUN_HEADER
    cdef uint64_t n = content // block_size
    cdef uint64_t nvalues = ((n + 63) // 64 + 2 + 7) // 8 * 8 - 2
    cdef const uint64_t *values = <const uint64_t *>(run + RUN_HEADER)
    cdef uint64_t used = 0, i, v, x, k, best = 0
    n = (content - nvalues * 8) // block_size
    for i in range((n + 63) // 64):
        v = values[i]
        if i == n // 64:
            v |= ~((<uint64_t>1 << (n % 64)) - 1)     # the units past the last count as used
            used -= 64 - n % 64
        x = ~v
        k = 0
        while x:                        # the longest run of ones in x: the steps to clear it
            x &= x << 1
            k += 1
        if k > best:
            best = k
        while v:
            v &= v - 1
            used += 1
    nbits[0] = n
    longest[0] = best
    return n - used


cdef dict _heap_stats(MemoryManager mm, dict runs=None):
    """Bytes of the heap: in blocks handed out, free, in whole free chunks; the
    largest block an allocation can get now: a range of free chunks, or a
    range of free units of one of our classes' runs (_alloc_in_any_class).
    An empty run counts as free chunks only while no class holds runs (since
    the open or the last _recycle_runs): libpmemobj keeps a class's run
    attached even when it is empty, and it is then only free units of that
    class ("empty_run_bytes").
    runs: filled with {block size: [chunks, units used, units free, the longest
    range of free units one block can take]}."""
    _check_heap(mm)
    cdef uint64_t heap = (<uint64_t *>(mm.base + 5136))[0]     # pmemobjpool.heap_offset
    cdef uint64_t zone_size = ZONE_HEADER + <uint64_t>MAX_CHUNK * (8 + CHUNKSIZE)
    cdef uint64_t zone = heap + HEAP_HEADER, i, n, nbits, free_units, block_size, run_longest
    cdef uint64_t total = 0, used = 0, free_chunks = 0, span = 0, longest = 0, largest_in_run = 0
    cdef uint64_t empty_runs = 0
    cdef bint held = mm.runs_held
    cdef chunk_header_t *h
    cdef const char *data
    while zone + ZONE_HEADER + 8 * MAX_CHUNK <= mm.pool_size:
        if (<uint32_t *>(mm.base + zone))[0] != 0xC3F0A2D2:
            break
        n = (<uint32_t *>(mm.base + zone))[1]
        data = mm.base + zone + ZONE_HEADER + 8 * MAX_CHUNK
        total += n * CHUNKSIZE
        i = 0
        while i < n:
            h = <chunk_header_t *>(mm.base + zone + ZONE_HEADER + 8 * i)
            if h.type == CHUNK_TYPE_FREE:
                free_chunks += h.size_idx
                span += h.size_idx
            elif h.type == CHUNK_TYPE_RUN:
                block_size = (<const uint64_t *>(data + i * CHUNKSIZE))[0]
                free_units = _run_free_units(data + i * CHUNKSIZE, h.size_idx, block_size, &nbits, &run_longest)
                used += (nbits - free_units) * block_size
                if runs is not None:
                    r = runs.get(block_size)
                    if r is None:
                        r = runs[block_size] = [0, 0, 0, 0]
                    r[0] += h.size_idx
                    r[1] += nbits - free_units
                    r[2] += free_units
                    if run_longest > r[3]:
                        r[3] = run_longest
                if free_units == nbits and not held:    # not attached: libpmemobj makes it free chunks
                    free_chunks += h.size_idx
                    span += h.size_idx
                else:
                    if free_units == nbits:
                        empty_runs += h.size_idx
                    if run_longest * block_size > largest_in_run and _class_index(block_size) >= 0:
                        largest_in_run = run_longest * block_size
                    span = 0
            else:
                used += h.size_idx * CHUNKSIZE
                span = 0
            if span > longest:
                longest = span
            i += h.size_idx
        span = 0
        if zone_size > mm.pool_size - zone:
            break
        zone += zone_size
    largest = max(longest * CHUNKSIZE, largest_in_run)      # a free chunk serves every class
    return {"heap_bytes": total, "used_bytes": used, "free_bytes": total - used,
            "free_chunk_bytes": free_chunks * CHUNKSIZE,
            "empty_run_bytes": empty_runs * CHUNKSIZE,
            "largest_free_block": largest - BLOCK_HEADER if largest else 0}


cdef str _full_message(MemoryManager mm, str what):
    """What a PoolFullError says: what failed, what is left, the way out."""
    try:
        s = _heap_stats(mm)
        left = (f"{s['free_bytes']:,} of {mm.pool_size:,} bytes free, the largest free block "
                f"{s['largest_free_block']:,} bytes")
        if s['empty_run_bytes']:
            left += (f"; {s['empty_run_bytes']:,} bytes are empty runs that their allocation classes "
                     f"keep until the transaction ends, whole free chunks after it")
    except Exception:           # a damaged heap: the stats are not worth a second error
        left = f"pool size {mm.pool_size:,} bytes"
    if mm.max_size:
        return (f"pool {mm.filename!r} is full: {what} failed ({left}; the pool has grown to its maximum "
                f"size of {mm.max_size:,} bytes); the transaction was rolled back. Free space by deleting "
                f"objects, or copy the data into a pool with a larger max_size")
    return (f"pool {mm.filename!r} is full: {what} failed ({left}); the transaction was rolled back. "
            f"Free space by deleting objects, or copy the data into a bigger pool "
            f"(pmemobj.create(path, pool_size=...))")


def _heap_runs(MemoryManager mm):
    """Tests and benchmarks: {block size: [chunks in runs, units used, units free,
    the longest range of free units one block can take]}."""
    runs = {}
    _heap_stats(mm, runs)
    return runs


def _ctl_stat(MemoryManager mm, str name):
    """Tests: a uint64_t statistic of libpmemobj's control interface (e.g. "stats.heap.run_allocated")."""
    cdef uint64_t v = 0
    mm.check()
    if pmemobj_ctl_get(mm.pop, name.encode(), &v) != 0:
        raise OSError(errno, f"pmemobj_ctl_get({name!r}): {_errmsg()}")
    return v
