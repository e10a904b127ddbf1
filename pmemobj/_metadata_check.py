"""A check of libpmemobj's own metadata in a pool file, run before the file is
handed to libpmemobj.

libpmemobj trusts what it finds at open: damaged lane logs or heap headers
make ``pmemobj_open`` and ``pmemobj_check`` die by SIGSEGV or SIGFPE, or loop
forever.  ``check(path)`` follows the walks libpmemobj makes at open and
raises ``ValueError(reason)`` where one of them would go wrong:

- the lanes (3 logs each): libpmemobj follows every log's chain of extensions
  (``lane_boot``), walks and checksums the entries it may recover, writes what
  an undo log holds back to the pool and frees each undo log's extension
  through the heap headers of its block;
- the zones: every chunk header (``heap_check`` loops forever on a size of 0),
  the run headers and the headers of the chunks a run spans.

It reads headers only, through a read-only mapping: the lanes (3 MiB, which
libpmemobj reads at open anyway), 8 bytes per chunk and one page per run.
The offsets are those of libpmemobj 1.12's format (pool header major version
6), checked on 1.12.1 and taken to hold for 1.11 to 1.13; with another
release of the library, or a pool of another format version, the check is
left out.  Setting ``PMEMOBJ_METADATA_CHECK=0`` skips it.
"""
import mmap
import operator
import os
import struct

from pmemobj import _poolset

KNOWN_RELEASES = ((1, 11), (1, 13))     # libpmemobj releases (major, minor) whose format this is
POOL_HDR = 4096
FORMAT_MAJOR = 6                        # pool_hdr.major of the format these offsets describe
DESCR_LANES = POOL_HDR + 1024           # pmemobjpool: lanes_offset, nlanes, heap_offset
DESCR_HEAP_SIZE = POOL_HDR + 2048 + 32  # pmemobjpool.heap_size (after root_offset .. conversion_flags)
MAX_LANES = 1024
LANE_SIZE = 3072
# the logs of a lane: offset in the lane (internal redo, external redo, undo)
LANE_ULOGS = (0, 256, 960)
LOG_NAMES = ("internal redo", "external redo", "undo")
ULOG_HDR = 64                           # checksum, next, capacity, gen_num, flags, unused[3]
CACHELINE = 64
HEAP_HDR = 1024
HEAP_SIGNATURE = b"MEMORY_HEAP_HDR\0"
ZONE_HDR = 64
MAX_CHUNK = 65528
CHUNKSIZE = 256 << 10
ZONE_META = ZONE_HDR + 8 * MAX_CHUNK
ZONE_MAX = ZONE_META + MAX_CHUNK * CHUNKSIZE
ZONE_MAGIC = 0xC3F0A2D2
FREE, USED, RUN, RUN_DATA = 2, 3, 4, 5                      # chunk types
FLAG_COMPACT, FLAG_HEADER_NONE, FLAG_FLEX = 1, 2, 8         # chunk flags
RUN_HDR = 16                            # block_size, alignment
OP_SET, OP_AND, OP_OR, OP_BUF_SET, OP_BUF_CPY = 0, 1, 2, 5, 6
OFFSET_MASK = (1 << 61) - 1
MAX_CHAIN = 4096                        # a longer chain of log extensions is a cycle
M32 = 0xFFFFFFFF


def _align(n, a=CACHELINE):
    return (n + a - 1) // a * a


def _damaged(what):
    return ValueError(f"damaged pool: {what}")


class _File:
    def __init__(self, m, fd, size):
        self.m, self.fd, self.size = m, fd, size

    def read(self, off, n):
        # a file is read, not mapped: one page fault per run made big pools slow
        # to open; a pool set's parts are mapped one after the other (fd None)
        return os.pread(self.fd, n, off) if self.fd is not None else bytes(self.m[off:off + n])

    def need(self, off, n, what):
        if off < 0 or n < 0 or off + n > self.size:
            raise _damaged(f"{what} at 0x{off:x} (+{n}) is outside the file")

    def u64(self, off, what):
        self.need(off, 8, what)
        return struct.unpack_from("<Q", self.m, off)[0]


def _checksum(m, off, n, skip):
    """libpmemobj's Fletcher-style checksum of m[off:off+n] with the 8 bytes at
    `skip` taken as zero: (low, high) 32-bit halves."""
    count = n // 4
    words = list(struct.unpack_from("<%dI" % count, m, off))
    k = (skip - off) // 4
    if 0 <= k < count:
        words[k:k + 2] = [0] * len(words[k:k + 2])
    lo = sum(words) & M32
    hi = sum(map(operator.mul, words, range(count, 0, -1))) & M32
    return lo, hi


def _buffer_entry_valid(f, e, esize, gen_num):
    lo, hi = _checksum(f.m, e, esize, e + 8)
    for w in (gen_num & M32, gen_num >> 32):          # the log's generation is summed in
        lo = (lo + w) & M32
        hi = (hi + lo) & M32
    return f.u64(e + 8, "log entry") == (hi << 32 | lo)


def _entries(f, ulog, capacity, gen_num, where):
    """The entries of one log that libpmemobj takes for valid: (offset, op,
    target, size); raises on what would make it read past the file or loop."""
    pos = 0
    while pos < capacity:
        e = ulog + ULOG_HDR + pos
        word = f.u64(e, where + " entry")
        if word == 0:
            return
        op, target = word >> 61, word & OFFSET_MASK
        if op in (OP_SET, OP_AND, OP_OR):
            f.need(e, 16, where + " entry")
            size, esize = 8, 16
        elif op in (OP_BUF_SET, OP_BUF_CPY):
            size = f.u64(e + 16, where + " entry")
            esize = _align(24 + size)
            f.need(e, esize, where + " buffer entry")        # its checksum reads all of it
            if not _buffer_entry_valid(f, e, esize, gen_num):
                return
        else:                                                 # its size would be 0: a loop
            raise _damaged(f"{where} entry of unknown type {op} at 0x{e:x}")
        yield e, op, target, size
        pos += esize


class _Heap:
    def __init__(self, f, heap_offset, growing=False):
        self.f = f
        # a pool set's heap grows: a crash after libpmemobj recorded the new heap
        # size and before it counted the new chunks in the zone leaves a zone
        # with fewer chunks than the size allows (libpmemobj counts them at open)
        self.growing = growing
        self.zone0 = heap_offset + HEAP_HDR
        self.nzones = max(0, (f.size - heap_offset - HEAP_HDR + ZONE_MAX - 1) // ZONE_MAX)

    def zone(self, z):
        return self.zone0 + z * ZONE_MAX

    def expected_chunks(self, z):
        # libpmemobj sizes the heap from the file size rounded down to 4 KiB
        free = self.f.size // 4096 * 4096 - self.zone(z) - ZONE_META
        return max(0, min(MAX_CHUNK, free // CHUNKSIZE))

    def chunk_header(self, z, i):
        return struct.unpack_from("<HHI", self.f.m, self.zone(z) + ZONE_HDR + 8 * i)

    def chunk(self, z, i):
        return self.zone(z) + ZONE_META + i * CHUNKSIZE

    def check_run(self, z, i, flags, size_idx):
        if flags & ~(FLAG_COMPACT | FLAG_FLEX):
            raise _damaged(f"run at chunk {i} of zone {z} has flags 0x{flags:x}")
        block, = struct.unpack("<Q", self.f.read(self.chunk(z, i), 8))
        if block < 16 or block > size_idx * CHUNKSIZE - RUN_HDR:
            raise _damaged(f"run at chunk {i} of zone {z} has block size {block}")

    def walk_zones(self):
        for z in range(self.nzones):
            zone = self.zone(z)
            if zone + ZONE_META + CHUNKSIZE > self.f.size:
                break
            magic, n = struct.unpack_from("<II", self.f.m, zone)
            if magic != ZONE_MAGIC:
                if z == 0 or magic != 0:
                    raise _damaged(f"zone {z} header (magic 0x{magic:x})")
                continue                    # not used yet: libpmemobj initializes it
            if n != self.expected_chunks(z) and not (self.growing and 0 < n < self.expected_chunks(z)):
                raise _damaged(f"zone {z} has {n} chunks, not {self.expected_chunks(z)}")
            headers = struct.unpack_from("<%dQ" % n, self.f.m, zone + ZONE_HDR)
            i = 0
            while i < n:
                h = headers[i]
                typ, flags, size_idx = h & 0xFFFF, (h >> 16) & 0xFFFF, h >> 32
                if typ not in (FREE, USED, RUN) or size_idx == 0 or size_idx > n - i:
                    raise _damaged(f"chunk header {i} of zone {z} (type {typ}, size {size_idx})")
                if typ == RUN:
                    self.check_run(z, i, flags, size_idx)
                    for j in range(1, size_idx):
                        d = headers[i + j]
                        if d & 0xFFFF != RUN_DATA or d >> 32 != j:
                            raise _damaged(f"chunk header {i + j} of zone {z} (in the run at chunk {i})")
                elif typ == USED and flags & ~FLAG_COMPACT:
                    raise _damaged(f"chunk {i} of zone {z} has flags 0x{flags:x}")
                # (a free chunk's footer is not checked: a crash in the middle of a
                # split may leave one that disagrees, and libpmemobj copes)
                i += size_idx

    def check_block(self, off, where):
        """The heap block at `off`, located as libpmemobj locates it to free it."""
        if off < self.zone0 + ZONE_META:
            raise _damaged(f"{where} 0x{off:x} is not in the heap")
        z = (off - self.zone0) // ZONE_MAX
        rel = off - self.zone(z) - ZONE_META
        if z >= self.nzones or rel < 0:
            raise _damaged(f"{where} 0x{off:x} is not in a zone")
        magic, n = struct.unpack_from("<II", self.f.m, self.zone(z))
        i = rel // CHUNKSIZE
        if magic != ZONE_MAGIC or i >= n:
            raise _damaged(f"{where} 0x{off:x} is not in a used chunk")
        typ, flags, size_idx = self.chunk_header(z, i)
        if typ == RUN_DATA:
            if size_idx > i:
                raise _damaged(f"{where} 0x{off:x}: run data header")
            i -= size_idx
            typ, flags, size_idx = self.chunk_header(z, i)
            if typ != RUN:
                raise _damaged(f"{where} 0x{off:x}: run data outside a run")
        if size_idx == 0 or size_idx > n - i:
            raise _damaged(f"{where} 0x{off:x}: chunk header {i} of zone {z}")
        header = 0 if flags & FLAG_HEADER_NONE else (16 if flags & FLAG_COMPACT else 64)
        if off - self.chunk(z, i) - header != 0:            # libpmemobj takes it for a run block
            if typ != RUN:
                raise _damaged(f"{where} 0x{off:x} is inside chunk {i} (type {typ})")
            self.check_run(z, i, flags, size_idx)
            if off + ULOG_HDR > self.chunk(z, i) + size_idx * CHUNKSIZE:
                raise _damaged(f"{where} 0x{off:x} overruns its run")
        elif typ != USED:
            raise _damaged(f"{where} 0x{off:x} is a chunk of type {typ}")


def _logs_in_use(words, lanes_offset, nlanes):
    """(lane, log) of the logs with an extension or a first entry; the others
    hold nothing libpmemobj reads.  (Column slices of the lanes as 64-bit words:
    a Python loop over the 3072 log headers would cost milliseconds per open.)"""
    stride = LANE_SIZE // 8
    used = set()
    for k, rel in enumerate(LANE_ULOGS):
        start = (lanes_offset + rel) // 8
        for word in (1, ULOG_HDR // 8):                       # next; the first entry
            column = words[start + word:start + word + nlanes * stride:stride].tolist()
            used.update((lane, k) for lane, v in enumerate(column) if v)
    return sorted(used)


def _check_lanes(f, heap, lanes_offset, nlanes, words):
    for lane, k in _logs_in_use(words, lanes_offset, nlanes):
        first = lanes_offset + lane * LANE_SIZE + LANE_ULOGS[k]
        where = f"lane {lane} {LOG_NAMES[k]} log"
        checksum, nxt, capacity, gen_num = struct.unpack_from("<4Q", f.m, first)
        chain = [(first, capacity)]
        seen = {first}
        while nxt:                                        # lane_boot follows every chain
            u = _align(nxt)
            f.need(u, ULOG_HDR, where + " extension")
            if k == 2:                                    # freed at open: its block must be sane
                heap.check_block(nxt, where + " extension")
            if u in seen or len(chain) > MAX_CHAIN:
                raise _damaged(f"{where} extensions form a cycle")
            seen.add(u)
            cap = f.u64(u + 16, where)
            f.need(u + ULOG_HDR, cap, where + " extension data")
            chain.append((u, cap))
            nxt = f.u64(u + 8, where)
        # recovery reads the first log's entries; if there are some (and, for a
        # redo log, its checksum holds) it applies those of the whole chain
        entries = list(_entries(f, first, capacity, gen_num, where))
        if not entries:
            continue
        if k < 2:
            e, op, _, size = entries[-1]
            nbytes = e + (16 if op <= OP_OR else _align(24 + size)) - first - ULOG_HDR
            lo, hi = _checksum(f.m, first, ULOG_HDR + nbytes, first)
            if checksum != (hi << 32 | lo):
                continue                                  # not applied
        for u, cap in chain:
            for e, op, target, size in _entries(f, u, cap, gen_num, where):
                if target < POOL_HDR or target + size > f.size:
                    raise _damaged(f"{where} entry at 0x{e:x} writes outside the pool "
                                   f"(0x{target:x} +{size})")


def log_extensions(path):
    """Whether a log of a lane of the pool file at `path` has an extension:
    libpmemobj frees those while it opens the pool (see pmemobj/_heap.pxi).
    Of a pool set, the first part holds the lanes."""
    path = _poolset.first_part(path)
    size = os.path.getsize(path)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        lanes_offset, nlanes, heap_offset = struct.unpack_from("<3Q", m, DESCR_LANES)
        if not (2 * POOL_HDR <= lanes_offset and lanes_offset % 8 == 0 and 1 <= nlanes <= MAX_LANES
                and lanes_offset + nlanes * LANE_SIZE <= min(heap_offset, size)):
            return False                    # damage: the check or libpmemobj says so
        stride = LANE_SIZE // 8
        with memoryview(m) as raw, raw[:size // 8 * 8].cast("Q") as words:
            for rel in LANE_ULOGS:
                start = (lanes_offset + rel) // 8 + 1           # struct ulog: checksum, next
                if any(words[start:start + nlanes * stride:stride]):
                    return True
    return False


def covers(library_version):
    """Whether the check knows the format of this libpmemobj release ("1.12.1")."""
    try:
        release = tuple(int(x) for x in library_version.split(".")[:2])
    except ValueError:
        return False
    return KNOWN_RELEASES[0] <= release <= KNOWN_RELEASES[1]


def check(path, library_version, map_parts=None):
    """Raise ValueError(reason) where libpmemobj (release `library_version`)
    would die or hang on the metadata of the pool file at `path`.  A pool set
    is checked as the concatenation of its parts: `map_parts(files)` maps them
    one after the other, read-only (a buffer), as libpmemobj does."""
    if os.environ.get("PMEMOBJ_METADATA_CHECK", "1") == "0" or not covers(library_version):
        return
    if _poolset.is_poolset(path):
        files = _poolset.parse(path).part_files()
        with map_parts(files) as parts, memoryview(parts) as m:
            # the heap's extent as libpmemobj records it: a crash while the pool
            # grew may leave a part file it does not use yet
            heap_offset, = struct.unpack_from("<Q", m, DESCR_LANES + 16)
            heap_size, = struct.unpack_from("<Q", m, DESCR_HEAP_SIZE)
            size = min(len(m), heap_offset + heap_size) if heap_size else len(m)
            _check_mapped(_File(m, None, size), m, growing=True)
        return
    size = os.path.getsize(path)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        _check_mapped(_File(m, fh.fileno(), size), m)


def _check_mapped(f, m, growing=False):
    size = f.size
    major, = struct.unpack_from("<I", m, 8)
    if major != FORMAT_MAJOR:
        return                      # another format: its offsets are not known here
    lanes_offset, nlanes, heap_offset = struct.unpack_from("<3Q", m, DESCR_LANES)
    if not (2 * POOL_HDR <= lanes_offset and 1 <= nlanes <= MAX_LANES and
            lanes_offset + nlanes * LANE_SIZE <= heap_offset and
            heap_offset + HEAP_HDR + ZONE_META + CHUNKSIZE <= size):
        raise _damaged(f"pool descriptor (lanes at 0x{lanes_offset:x} x {nlanes}, "
                       f"heap at 0x{heap_offset:x})")
    if m[heap_offset:heap_offset + 16] != HEAP_SIGNATURE:
        raise _damaged("heap header signature")
    if lanes_offset % CACHELINE:
        raise _damaged(f"pool descriptor (lanes at 0x{lanes_offset:x})")
    heap = _Heap(f, heap_offset, growing)
    heap.walk_zones()
    with memoryview(m) as raw, raw[:size // 8 * 8].cast("Q") as words:
        _check_lanes(f, heap, lanes_offset, nlanes, words)
