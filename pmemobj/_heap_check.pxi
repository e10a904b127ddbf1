# libpmemobj 1.12's heap headers, checked before the library reads them: a
# damaged chunk or run header makes it read out of bounds, divide by zero or
# loop forever.
# (included by _core.pyx)


# libpmemobj 1.12's heap layout, read only to check it before pmemobj_first/next walk it:
# a damaged chunk header makes that walk loop forever inside the library.
DEF HEAP_HEADER = 1024
DEF ZONE_HEADER = 64
DEF MAX_CHUNK = 65528
DEF CHUNKSIZE = 262144
DEF CHUNK_TYPE_FREE = 2
DEF CHUNK_TYPE_USED = 3
DEF CHUNK_TYPE_RUN = 4

cdef struct chunk_header_t:
    uint16_t type
    uint16_t flags
    uint32_t size_idx

DEF CHUNK_TYPE_RUN_DATA = 5
# The chunk flags of this library's pools (libpmemobj's default allocation
# classes): a run or a used chunk without a compact header would be read with
# a 64-byte header it does not have.
DEF CHUNK_FLAG_COMPACT_HEADER = 1
DEF CHUNK_FLAG_FLEX_BITMAP = 8
DEF RUN_HEADER = 16


cdef int _check_run(MemoryManager mm, chunk_header_t *h, uint64_t *run, bint in_chunk, uint64_t n) except -1:
    """The header flags and block size of a run (`run` points at its first
    chunk), named in an error as the run "in chunk n" or "of 0xn" (an
    allocation's offset; the text is made only then: this runs per access)."""
    if h.flags & ~(CHUNK_FLAG_COMPACT_HEADER | CHUNK_FLAG_FLEX_BITMAP) or \
            not h.flags & CHUNK_FLAG_COMPACT_HEADER:
        raise InvalidPoolError(EINVAL, f"damaged pool: run flags 0x{h.flags:x} {_run_where(in_chunk, n)}",
                               mm.filename)
    if run[0] < 16 or run[0] > <uint64_t>CHUNKSIZE * h.size_idx - RUN_HEADER:
        raise InvalidPoolError(EINVAL, f"damaged pool: run block size {run[0]} {_run_where(in_chunk, n)}",
                               mm.filename)
    return 0


cdef str _run_where(bint in_chunk, uint64_t n):
    return f"in chunk {n}" if in_chunk else f"of 0x{n:x}"


cdef int _check_block(MemoryManager mm, uint64_t off) except -1:
    """Check the chunk header (and a run's block size) libpmemobj reads to size the
    allocation at `off`: damaged, they make it read out of bounds or divide by zero."""
    cdef uint64_t heap = (<uint64_t *>(mm.base + 5136))[0]      # pmemobjpool.heap_offset
    cdef uint64_t zone_size = ZONE_HEADER + <uint64_t>MAX_CHUNK * (8 + CHUNKSIZE)
    cdef uint64_t zone, data, chunk
    cdef chunk_header_t *h
    if heap < POOL_HDR or off < heap + HEAP_HEADER or heap > mm.pool_size:
        raise InvalidPoolError(EINVAL, f"damaged pool: 0x{off:x} is not in the heap", mm.filename)
    zone = heap + HEAP_HEADER + (off - heap - HEAP_HEADER) // zone_size * zone_size
    data = zone + ZONE_HEADER + 8 * <uint64_t>MAX_CHUNK
    if off <= data or data > mm.pool_size:
        raise InvalidPoolError(EINVAL, f"damaged pool: 0x{off:x} is not an allocation", mm.filename)
    chunk = (off - data) // CHUNKSIZE
    h = <chunk_header_t *>(mm.base + zone + ZONE_HEADER + 8 * chunk)
    if h.type == CHUNK_TYPE_RUN_DATA:
        if h.size_idx > chunk:
            raise InvalidPoolError(EINVAL, f"damaged pool: chunk header of 0x{off:x}", mm.filename)
        chunk -= h.size_idx
        h = <chunk_header_t *>(mm.base + zone + ZONE_HEADER + 8 * chunk)
        if h.type != CHUNK_TYPE_RUN:
            raise InvalidPoolError(EINVAL, f"damaged pool: 0x{off:x} is in run data outside a run", mm.filename)
    if h.type == CHUNK_TYPE_RUN:
        _check_run(mm, h, <uint64_t *>(mm.base + data + chunk * CHUNKSIZE), False, off)
    elif h.type == CHUNK_TYPE_USED:
        if h.flags != CHUNK_FLAG_COMPACT_HEADER:
            raise InvalidPoolError(EINVAL, f"damaged pool: chunk flags 0x{h.flags:x} of 0x{off:x}", mm.filename)
    elif h.type != CHUNK_TYPE_FREE:                 # FREE: allocated in this transaction
        raise InvalidPoolError(EINVAL, f"damaged pool: 0x{off:x} is not an allocation", mm.filename)
    return 0


cdef int _check_heap(MemoryManager mm) except -1:
    """Walk the zones' chunk headers as the library will; raise on what would trap it."""
    mm.check()
    cdef uint64_t heap = (<uint64_t *>(mm.base + 5136))[0]     # pmemobjpool.heap_offset
    cdef uint64_t zone_size = ZONE_HEADER + <uint64_t>MAX_CHUNK * (8 + CHUNKSIZE)
    cdef uint64_t zone, i, j, n, chunks
    cdef chunk_header_t *h
    cdef chunk_header_t *d
    cdef uint64_t *run
    if heap < POOL_HDR or heap + HEAP_HEADER > mm.pool_size or \
            memcmp(mm.base + heap, b"MEMORY_HEAP_HDR", 15) != 0:
        raise InvalidPoolError(EINVAL, "damaged pool: heap header", mm.filename)
    zone = heap + HEAP_HEADER
    while zone + ZONE_HEADER + 8 * MAX_CHUNK <= mm.pool_size:
        if (<uint32_t *>(mm.base + zone))[0] != 0xC3F0A2D2:          # zone magic: zone not in use
            break
        n = (<uint32_t *>(mm.base + zone))[1]
        chunks = (mm.pool_size - zone - ZONE_HEADER - 8 * MAX_CHUNK) // CHUNKSIZE
        if n > MAX_CHUNK or n > chunks:
            raise InvalidPoolError(EINVAL, "damaged pool: zone size", mm.filename)
        i = 0
        while i < n:
            h = <chunk_header_t *>(mm.base + zone + ZONE_HEADER + 8 * i)
            if h.size_idx == 0 or h.size_idx > n - i or \
                    (h.type != CHUNK_TYPE_FREE and h.type != CHUNK_TYPE_USED and h.type != CHUNK_TYPE_RUN):
                raise InvalidPoolError(EINVAL, f"damaged pool: chunk header {i} of zone at 0x{zone:x}",
                                       mm.filename)
            if h.type == CHUNK_TYPE_RUN:
                run = <uint64_t *>(mm.base + zone + ZONE_HEADER + 8 * MAX_CHUNK + CHUNKSIZE * i)
                _check_run(mm, h, run, True, i)
                # the chunks a run spans: libpmemobj's walk aborts or loops on a damaged one
                for j in range(1, h.size_idx):
                    d = h + j
                    if d.type != CHUNK_TYPE_RUN_DATA or d.size_idx != j:
                        raise InvalidPoolError(EINVAL, f"damaged pool: chunk header {i + j} in the run at "
                                               f"chunk {i}", mm.filename)
            elif h.type == CHUNK_TYPE_USED and h.flags != CHUNK_FLAG_COMPACT_HEADER:
                raise InvalidPoolError(EINVAL, f"damaged pool: chunk flags 0x{h.flags:x} in chunk {i}",
                                       mm.filename)
            i += h.size_idx
        if zone_size > mm.pool_size - zone:
            break
        zone += zone_size
    return 0
