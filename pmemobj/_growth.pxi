# Growing pools: a pool set of one directory part (pmemobj/_poolset.py) whose
# heap libpmemobj extends by a part file of `grow_by` bytes when an allocation
# finds it full, up to the directory's maximum size.  Here: creating one, the
# checks before libpmemobj opens one, the growth setting of every open, and the
# size of the mapping the bounds checks use, which grows with the heap.
# (included by _core.pyx)

from pmemobj import _poolset

cdef extern from *:
    """
    #include <sys/mman.h>
    /* The part files of a pool set mapped read-only one after the other, as
     * libpmemobj maps them (for the checks before open). */
    static void *pyp_map_parts(const int *fds, const size_t *sizes, int n, size_t total) {
        char *base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        size_t off = 0;
        int i;
        if (base == MAP_FAILED)
            return NULL;
        for (i = 0; i < n; i++) {
            if (mmap(base + off, sizes[i], PROT_READ, MAP_SHARED | MAP_FIXED, fds[i], 0) == MAP_FAILED) {
                munmap(base, total);
                return NULL;
            }
            off += sizes[i];
        }
        return base;
    }
    static int pyp_unmap(void *p, size_t n) { return munmap(p, n); }
    """
    void *pyp_map_parts(const int *fds, const size_t *sizes, int n, size_t total) nogil
    int pyp_unmap(void *p, size_t n) nogil

cdef extern from "libpmemobj.h" nogil:
    int pmemobj_ctl_exec(PMEMobjpool *pop, const char *name, void *arg)

from cpython.buffer cimport PyBuffer_FillInfo

DEF DESCR_HEAP_OFFSET = 5136        # pmemobjpool.heap_offset
DEF DESCR_HEAP_SIZE = 6176          # pmemobjpool.heap_size: libpmemobj's record of the heap's extent
DEF PART_ALIGN = 4096


cdef class _PartsMapping:
    """A read-only buffer over the part files of a pool set, mapped one after
    the other (a context manager: unmapped on exit)."""
    cdef char *base
    cdef size_t size
    cdef int exports

    def __cinit__(self, files):
        fds, sizes = [], []
        cdef int *cfds = NULL
        cdef size_t *csizes = NULL
        cdef int i, n = len(files)
        try:
            for path in files:
                fd = os.open(path, os.O_RDONLY)
                fds.append(fd)
                size = os.fstat(fd).st_size
                if size == 0 or size % PART_ALIGN:
                    raise ValueError(f"damaged pool: part {path} has {size} bytes (not a multiple of "
                                     f"{PART_ALIGN}; truncated?)")
                sizes.append(size)
            cfds = <int *>malloc(max(n, 1) * sizeof(int))
            csizes = <size_t *>malloc(max(n, 1) * sizeof(size_t))
            if cfds == NULL or csizes == NULL:
                raise MemoryError()
            for i in range(n):
                cfds[i] = fds[i]
                csizes[i] = sizes[i]
            self.size = sum(sizes)
            self.base = <char *>pyp_map_parts(cfds, csizes, n, self.size)
            if self.base == NULL:
                raise OSError(errno, f"cannot map the parts of the pool set: {os.strerror(errno)}")
        finally:
            c_free(cfds)
            c_free(csizes)
            for fd in fds:
                os.close(fd)

    def __getbuffer__(self, Py_buffer *buf, int flags):
        if self.base == NULL:
            raise ValueError("the parts are unmapped")
        PyBuffer_FillInfo(buf, self, self.base, self.size, 1, flags)
        self.exports += 1

    def __releasebuffer__(self, Py_buffer *buf):
        self.exports -= 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.base != NULL and self.exports == 0:
            pyp_unmap(self.base, self.size)
            self.base = NULL

    def __dealloc__(self):
        if self.base != NULL:
            pyp_unmap(self.base, self.size)


def _precheck_set(filename):
    """The checks of _precheck for a pool set: its file, its parts, the pool
    header of the first part, libpmemobj's metadata across all parts."""
    import stat as _stat
    try:
        ps = _poolset.parse(filename)
        files = ps.part_files()
    except ValueError as e:
        raise InvalidPoolError(EINVAL, str(e), filename) from None
    if not files:
        raise InvalidPoolError(EINVAL, "pool set has no part files (not created, or removed)", filename)
    if _unfinished_growth(filename, files):
        files = ps.part_files()
    if not os.access(filename, os.R_OK):
        raise PermissionError(_errno.EACCES, "pool set file is not readable", filename)
    total = 0
    for path in files:
        st = os.stat(path)
        if not _stat.S_ISREG(st.st_mode):
            raise InvalidPoolError(EINVAL, f"part {path} is not a regular file", filename)
        if not os.access(path, os.R_OK | os.W_OK):
            raise PermissionError(_errno.EACCES, f"part {path} is not readable and writable", filename)
        if st.st_size < _poolset.GROW_MIN or st.st_size % PART_ALIGN:
            raise InvalidPoolError(EINVAL, f"damaged pool: part {path} has {st.st_size} bytes "
                                   f"(empty or truncated)", filename)
        total += st.st_size
    if total > ps.max_size:
        raise InvalidPoolError(EINVAL, f"damaged pool set: its parts hold {total:,} bytes, more than "
                               f"its maximum {ps.max_size:,}", filename)
    with open(files[0], 'rb') as f:
        head = f.read(8192)
    if os.stat(files[0]).st_size < PMEMOBJ_MIN_POOL:
        raise InvalidPoolError(EINVAL, f"first part is too small to be a pool ({len(head)} bytes; "
                               f"empty or truncated)", filename)
    _check_header(filename, head, total)
    try:
        _metadata_check.check(filename, LIBPMEMOBJ_VERSION, _PartsMapping)
    except ValueError as e:
        raise InvalidPoolError(EINVAL, str(e), filename) from None


cdef bint _unfinished_growth(filename, list files) except -1:
    """Remove the last part file when a crash left it while libpmemobj was
    adding it: past the heap's recorded end, and shorter than libpmemobj's
    least part (it creates the file, then sizes it; it would refuse to open
    the pool).  Done under a lock on the first part, which libpmemobj holds
    while the pool is open (so no process is growing it meanwhile)."""
    import fcntl
    last = files[len(files) - 1]
    size = os.path.getsize(last)
    if len(files) < 2 or (size >= _poolset.GROW_MIN and size % PART_ALIGN == 0):
        return False
    ref = _open_files.get(_file_key(filename))
    if ref is not None and ref() is not None:
        return False                # open here: the open reports it
    fd = os.open(files[0], os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PoolInUseError(_errno.EAGAIN, "pool is open by another process", filename) from None
        head = os.pread(fd, 8192, 0)
        if len(head) < 8192:
            return False
        heap = int.from_bytes(head[DESCR_HEAP_OFFSET:DESCR_HEAP_OFFSET + 8], "little")
        heap_size = int.from_bytes(head[DESCR_HEAP_SIZE:DESCR_HEAP_SIZE + 8], "little")
        start = sum(os.path.getsize(f) for f in files[:len(files) - 1])
        if heap_size == 0 or start < heap + heap_size:
            return False            # inside the heap: damage, which the checks report
        os.unlink(last)
        return True
    finally:
        os.close(fd)


cdef PMEMobjpool *_create_set(filename, uint64_t pool_size, uint64_t max_size, uint64_t grow_by,
                              int mode) except NULL:
    """Create a growing pool: its set file *filename*, its parts directory and
    a heap extended to *pool_size* bytes."""
    if max_size < pool_size:
        raise ValueError(f"max_size {max_size:,} is smaller than pool_size {pool_size:,}")
    if grow_by < _poolset.GROW_MIN:
        raise ValueError(f"grow_by {grow_by:,} is smaller than {_poolset.GROW_MIN:,} "
                         f"(libpmemobj's least heap growth)")
    directory = _poolset.parts_dir(filename)
    _poolset.write(filename, directory, max_size, grow_by, mode)
    cdef bytes path = os.fsencode(filename)
    cdef const char *cpath = path
    cdef PMEMobjpool *pop
    with nogil:
        pop = pmemobj_create(cpath, PYP_LAYOUT_NAME, 0, mode)
    if pop == NULL:
        err, msg = errno, _errmsg()
        _remove_set(filename)
        raise OSError(err, f"cannot create the pool set: {msg}", filename)
    try:
        _set_growth(pop, grow_by, filename)
        size = sum(os.path.getsize(p) for p in _poolset.parse(filename).part_files())
        if pool_size > size:
            _extend(pop, max(pool_size - size, _poolset.GROW_MIN), filename)
            _match_part_modes(filename)
    except BaseException:
        pmemobj_close(pop)
        _remove_set(filename)
        raise
    return pop


cdef _remove_set(filename):
    try:
        _poolset.remove(filename)
    except (OSError, ValueError):
        pass


cdef int _set_growth(PMEMobjpool *pop, uint64_t grow_by, filename) except -1:
    """libpmemobj's growth step is a setting of the session: given at every open."""
    if pmemobj_ctl_set(pop, b"heap.size.granularity", &grow_by) != 0:
        raise OSError(errno, f"cannot set the growth step of the pool: {_errmsg()}", filename)
    return 0


cdef int _extend(PMEMobjpool *pop, uint64_t n, filename) except -1:
    cdef int rc
    with nogil:
        rc = pmemobj_ctl_exec(pop, b"heap.size.extend", &n)
    if rc != 0:
        raise OSError(errno or ENOMEM, f"cannot extend the pool by {n:,} bytes: {_errmsg()}", filename)
    return 0


cdef int _open_growth(MemoryManager self, filename) except -1:
    """After libpmemobj opened a pool set: its maximum and growth step (given
    to libpmemobj again: a setting of the session)."""
    ps = _poolset.parse(filename)
    self.max_size = ps.max_size
    self.grow_by = ps.grow_by
    _set_growth(self.pop, ps.grow_by, filename)
    return 0


cdef uint64_t _pool_extent(MemoryManager self) except 0:
    """The bytes of the mapping the bounds checks allow: a pool file's size;
    of a pool set, the heap's end as libpmemobj records it (it updates the
    record as it grows the heap), within the part files."""
    if not self.max_size:
        return os.stat(self.filename).st_size
    mapped = sum(os.path.getsize(p) for p in _poolset.parse(self.filename).part_files())
    return _set_extent(self, mapped)


cdef uint64_t _set_extent(MemoryManager self, uint64_t mapped) except 0:
    cdef uint64_t heap = (<uint64_t *>(self.base + DESCR_HEAP_OFFSET))[0]
    cdef uint64_t size = (<uint64_t *>(self.base + DESCR_HEAP_SIZE))[0]
    if heap < POOL_HDR or size > mapped or heap + size > mapped:
        raise InvalidPoolError(EINVAL, f"damaged pool: heap of {size:,} bytes at 0x{heap:x} does not fit "
                               f"the {mapped:,} bytes of the pool", self.filename)
    return heap + size


cdef int _mm_grown(MemoryManager self) except -1:
    """An allocation ended past the known size: libpmemobj grew the heap."""
    if self.max_size:
        self.pool_size = _set_extent(self, self.max_size)
        _match_part_modes(self.filename)
    return 0


cdef _match_part_modes(filename):
    """libpmemobj creates the parts it adds with mode 0600: give them the
    permissions of the first part (which the pool was created with)."""
    try:
        files = _poolset.parse(filename).part_files()
        mode = os.stat(files[0]).st_mode & 0o7777
        for path in files[1:]:
            if os.stat(path).st_mode & 0o7777 != mode:
                os.chmod(path, mode)
    except (OSError, ValueError, IndexError):
        pass                        # permissions are not worth failing a transaction

