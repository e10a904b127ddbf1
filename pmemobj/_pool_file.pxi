# Pool files: checks before libpmemobj maps a file (it dies on some damaged
# ones), opening and creating (the calls run in a thread that may be given up),
# attaching the root, closing and abandoning a pool.
# (included by _core.pyx)


_umask_lock = threading.Lock()

cdef int _process_umask() except -1:
    """The process's file mode creation mask, left as it is (Linux shows it in
    /proc; elsewhere it is read by setting it, under a lock, and back)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


cdef str _version_message(uint64_t version):
    if 0 < version < PYP_LAYOUT_VERSION:
        return (f"the pool has layout version {version}, written by an older pmemobj-python; this one reads "
                f"version {PYP_LAYOUT_VERSION}: open it with the release that wrote it and copy the data "
                f"into a new pool")
    return f"pool layout version {version} is not supported (this library reads version {PYP_LAYOUT_VERSION})"


# Seconds libpmemobj may take to open or check a pool before it is taken for
# stuck on a damaged file (PMEMOBJ_OPEN_TIMEOUT in the environment).
OPEN_TIMEOUT = float(os.environ.get("PMEMOBJ_OPEN_TIMEOUT", "60"))


def _call_thread(size_t addr):
    with nogil:
        pyp_call(<pyp_call_t *>addr)


cdef pyp_call_t *_call_library(filename, bint check) except NULL:
    """pmemobj_open or pmemobj_check of `filename` in a thread; the caller frees the result."""
    cdef bytes path = os.fsencode(filename)
    cdef pyp_call_t *c = <pyp_call_t *>calloc(1, sizeof(pyp_call_t))
    if c == NULL:
        raise MemoryError()
    c.path = <char *>malloc(len(path) + 1)
    if c.path == NULL:
        c_free(c)
        raise MemoryError()
    memcpy(c.path, <const char *>path, len(path) + 1)
    c.check = check
    t = threading.Thread(target=_call_thread, args=(<size_t>c,), daemon=True, name="pmemobj open")
    try:
        t.start()
        t.join(OPEN_TIMEOUT)
    except RuntimeError:        # no new threads at interpreter shutdown: call here
        with nogil:
            pyp_call(c)
    if not pyp_call_done(c):
        # stuck inside libpmemobj: `c` stays allocated, the thread still uses it
        raise InvalidPoolError(EINVAL, f"libpmemobj did not finish {'checking' if check else 'opening'} "
                               f"the pool in {OPEN_TIMEOUT:g} s (damaged lanes or heap?)", filename)
    return c


# ---------------------------------------------------------------------------
# Checking a file before libpmemobj maps it (it dies by SIGBUS on empty or
# truncated files)

cdef _file_key(filename):
    st = os.stat(filename)
    return (st.st_dev, st.st_ino)

cdef str _errmsg():
    cdef const char *m = pmemobj_errormsg()
    return m.decode('utf-8', 'replace') if m != NULL else ''

def check_file(filename):
    """Run libpmemobj's consistency check on a pool file that is not open.

    Returns True if consistent, False if not; raises on a file it cannot read."""
    filename = os.fspath(filename)
    _replay_journal(filename)
    _precheck(filename)
    if _file_key(filename) in _open_files:
        raise PoolInUseError(_errno.EBUSY, "pool file is open in this process; close it first", filename)
    cdef pyp_call_t *call = _call_library(filename, True)
    rc, err, msg = call.rc, call.err, call.msg.decode('utf-8', 'replace')
    c_free(call.path)
    c_free(call)
    if rc < 0:
        raise InvalidPoolError(err, f"cannot check the pool: {msg}", filename)
    return rc == 1


cdef extern from *:
    """
    #ifndef PYP_LIBPMEMOBJ_VERSION
    #define PYP_LIBPMEMOBJ_VERSION "unknown"
    #endif
    """
    const char *PYP_LIBPMEMOBJ_VERSION

# The libpmemobj release the core was built against (pkg-config's version).
LIBPMEMOBJ_VERSION = PYP_LIBPMEMOBJ_VERSION.decode()


def _precheck(filename):
    """Refuse, before libpmemobj sees it, a file it would fail on badly."""
    import stat as _stat
    st = os.stat(filename)
    if _stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(_errno.EISDIR, "pool path is a directory", filename)
    if not _stat.S_ISREG(st.st_mode):
        raise InvalidPoolError(EINVAL, "pool path is not a regular file", filename)
    with open(filename, 'rb') as f:      # PermissionError here is clear enough
        head = f.read(8192)
    if not os.access(filename, os.W_OK):
        raise PermissionError(_errno.EACCES, "pool file is not writable", filename)
    if st.st_size < PMEMOBJ_MIN_POOL:
        if head.startswith(_poolset.SIGNATURE):
            return _precheck_set(filename)
        raise InvalidPoolError(EINVAL, f"file is too small to be a pool ({st.st_size} bytes; "
                               f"empty or truncated)", filename)
    _check_header(filename, head, st.st_size)
    try:
        _metadata_check.check(filename, LIBPMEMOBJ_VERSION)
    except ValueError as e:
        raise InvalidPoolError(EINVAL, str(e), filename) from None


cdef _check_header(filename, bytes head, uint64_t size):
    """The pool header and descriptor (the first 8 KiB) of a pool of *size* bytes."""
    if head[:8] != b"PMEMOBJ\0":
        raise InvalidPoolError(EINVAL, "not a pmemobj pool (no PMEMOBJ signature)", filename)
    layout = head[4096:4096 + 1024].split(b"\0", 1)[0]
    if layout != PYP_LAYOUT_NAME:
        raise InvalidPoolError(EINVAL, f"pool has layout {layout.decode('ascii', 'replace')!r}, "
                               f"not {PYP_LAYOUT_NAME.decode()!r}", filename)
    _check_size(filename, head, size)

cdef _check_size(filename, bytes head, uint64_t size):
    # The heap descriptor records the heap size; a shorter file is truncated.
    import struct
    # struct pmemobjpool: pool_hdr (4096) + layout (1024) + lanes_offset, nlanes, heap_offset,
    # unused3, unused (1982 bytes), checksum, root_offset, run_id, root_size, conversion_flags,
    # heap_size (at byte offsets derived from libpmemobj 1.12's obj.h)
    heap_offset, = struct.unpack_from("<Q", head, 4096 + 1024 + 16)
    if heap_offset >= size or heap_offset < 4096:
        raise InvalidPoolError(EINVAL, "damaged pool: heap offset outside the file (truncated?)", filename)


cdef _mm_open(MemoryManager self, filename, flag='w', size_t pool_size=PMEMOBJ_MIN_POOL, int mode=0o666,
              uint64_t max_size=0, uint64_t grow_by=0):
    if not self.closed:
        raise ValueError("memory manager already open")
    filename = os.fspath(filename)
    if flag not in ('w', 'x', 'c'):
        raise ValueError(f"flag must be 'w', 'x' or 'c', not {flag!r}")
    exists = os.path.lexists(filename)
    if flag == 'x' and exists:
        raise FileExistsError(_errno.EEXIST, "pool file already exists", filename)
    if flag == 'w' and not exists:
        raise FileNotFoundError(_errno.ENOENT, "pool file does not exist", filename)
    create = not exists
    if create and pool_size < PMEMOBJ_MIN_POOL:
        raise ValueError(f"pool size {pool_size} smaller than {PMEMOBJ_MIN_POOL} (MIN_POOL_SIZE, the minimum)")
    cdef bytes path = os.fsencode(filename)
    cdef PMEMobjpool *pop
    cdef pyp_call_t *call
    cdef const char *cpath = path
    if create:
        mode &= ~_process_umask()       # libpmemobj sets the mode as given: filtered as open() does
        if max_size:
            pop = _create_set(filename, pool_size, max_size, grow_by, mode)
        else:
            with nogil:
                pop = pmemobj_create(cpath, PYP_LAYOUT_NAME, pool_size, mode)
        if pop == NULL:
            err = errno
            if err == _errno.EEXIST:
                raise FileExistsError(err, "pool file already exists", filename)
            raise OSError(err, f"cannot create pool: {_errmsg()}", filename)
    else:
        _precheck(filename)
        key = _file_key(filename)
        ref = _open_files.get(key)
        if ref is not None and ref() is not None:
            raise PoolInUseError(_errno.EBUSY, "pool file is already open in this process", filename)
        _free_log_extensions(filename)
        call = _call_library(filename, False)
        pop = call.pop
        err = call.err
        msg = call.msg.decode('utf-8', 'replace')
        c_free(call.path)
        c_free(call)
        if pop == NULL:
            if err in (_errno.EAGAIN, _errno.EWOULDBLOCK, _errno.EBUSY):
                raise PoolInUseError(err, "pool file is already open by another process", filename)
            if err == _errno.ENOENT:
                raise FileNotFoundError(err, "pool file does not exist", filename)
            if err == _errno.EEXIST:    # libpmemobj knows pools by their uuid: a backup of an open one
                raise PoolInUseError(err, "a pool of the same identity (a copy of this one, or its "
                                     "original) is open in this process", filename)
            if err in (_errno.EACCES, _errno.EPERM, _errno.EROFS):
                raise PermissionError(err, msg, filename)
            raise InvalidPoolError(err, f"not a usable pmemobj-python pool: {msg}", filename)
    try:
        _register_classes(pop, filename)
    except BaseException:
        pmemobj_close(pop)
        raise
    self.pop = pop
    self.max_size = self.grow_by = 0
    if _poolset.is_poolset(filename):
        try:
            _open_growth(self, filename)
        except BaseException:
            pmemobj_close(pop)
            self.pop = NULL
            raise
    self.closed = False
    self.filename = filename
    try:
        self._attach(create)
    except BaseException:
        pyp_dur_detach(self.pop)
        pmemobj_close(self.pop)
        self.pop = NULL
        self.closed = True
        raise
    self.file_key = _file_key(filename)
    _open_files[self.file_key] = weakref.ref(self)
    _open_managers.add(self)


cdef _mm_attach(MemoryManager self, bint create):
    cdef PMEMoid root = pmemobj_root(self.pop, sizeof(pyp_root_t))
    if root.off == 0:
        raise InvalidPoolError(EINVAL, f"cannot get the root object: {_errmsg()}", self.filename)
    self.uuid_lo = root.pool_uuid_lo
    self.uuid_obj = self.uuid_lo
    self.tx_cm = Transaction(self)
    self.base = <char *>pmemobj_direct(root) - root.off
    self.pool_size = _pool_extent(self)
    self.is_pmem = pmem_is_pmem(self.base, self.pool_size)
    self.rootp = <pyp_root_t *>self.ptr(root.off, sizeof(pyp_root_t))
    cdef bint fresh = self.rootp.magic == 0 and self.rootp.version == 0
    if not create and not fresh:
        if self.rootp.magic != PYP_MAGIC:
            raise InvalidPoolError(EINVAL, "not a pmemobj-python pool (bad magic in the root object)", self.filename)
        if self.rootp.version != PYP_LAYOUT_VERSION:
            raise InvalidPoolError(EINVAL, _version_message(self.rootp.version), self.filename)
    self.unclean = not fresh and self.rootp.clean == 0
    self._set_durability(self.durability or "power")
    self.process_level = self.durability == "process"
    self.begin()
    try:
        self.snapshot(self.rootp, sizeof(pyp_root_t))
        if fresh:
            self.rootp.magic = PYP_MAGIC
            self.rootp.version = PYP_LAYOUT_VERSION
            self.rootp.root.tag = PYP_TAG_NONE
            self.rootp.type_table = self.alloc(PYP_TYPETABLE_NAMES + 8 * 16, PYP_TYPE_NUM_RAW, True)
            (<pyp_typetable_t *>self.ptr(self.rootp.type_table, 16)).capacity = 16
        self.rootp.clean = 0
        self.rootp.opens += 1
    except BaseException:
        self.end(False)
        raise
    self.end(True)
    self.dirty = False
    self._load_type_table()
    _load_records(self)
    _mm_journal_start(self)


cdef _mm_close(MemoryManager self):
    if self.closed:
        return
    if self.owner != 0:
        raise TransactionError("cannot close the pool inside a transaction")
    if _deferring:
        _free_deferred(self)
    self.begin()
    try:
        self.snapshot(&self.rootp.clean, 8)
        # garbage whose free is still deferred is left to the full gc of the next open
        if _deferring and _committed_deferred.get(_key(self)):
            self.rootp.clean = 0
            _set_flags(self, self.rootp.flags | PYP_FLAG_DEFERRED)
        else:
            self.rootp.clean = 1
    except BaseException:
        self.end(False)
        raise
    self.end(True)
    self._release()


cdef _mm_abandon(MemoryManager self):
    """Stop using a pool libpmemobj can no longer be trusted with (not even to close it)."""
    if self.pop != NULL:
        pyp_dur_detach(self.pop)
    self._forget_mapping()
    self.orphans.clear()


cdef _mm_release(MemoryManager self):
    try:
        self._durability_detach(True)
    finally:
        pyp_dur_detach(self.pop)
        pmemobj_close(self.pop)
    if self.file_key is not None:
        _open_files.pop(self.file_key, None)
    self._forget_mapping()


cdef _mm_forget_mapping(MemoryManager self):
    """The pool is closed (or given up): drop what points into its mapping;
    its proxies raise from now on."""
    if _deferring:
        _forget_deferred(_key(self))
    self.tx_cm = None
    self.pop = NULL
    self.dur_slot = self.jslot = -1     # (the slots may serve another pool now)
    self.base = NULL
    self.rootp = NULL
    self.closed = True
    _open_managers.discard(self)
    for ref in self.proxies.values():
        p = ref()
        if isinstance(p, PersistentBase):
            (<PersistentBase>p).off = 0
    self.proxies.clear()
