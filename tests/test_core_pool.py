"""Pool files: create/open flags, errors users see, clean shutdown, pool full, use after close."""
import os

import pytest

import pmemobj
from support import assert_no_signal, run_python
from pmemobj import InvalidPoolError, PoolFullError, PoolInUseError


def test_flags(pool_path):
    with pytest.raises(FileNotFoundError):
        pmemobj.PersistentObjectPool(pool_path)            # 'w' needs the file
    with pytest.raises(FileNotFoundError):
        pmemobj.open(pool_path)
    with pmemobj.PersistentObjectPool(pool_path, flag='c') as pool:
        pool.root = 1
    with pytest.raises(FileExistsError):
        pmemobj.create(pool_path)
    with pytest.raises(FileExistsError):
        pmemobj.PersistentObjectPool(pool_path, flag='x')
    with pmemobj.PersistentObjectPool(pool_path, flag='c') as pool:
        assert pool.root == 1
    with pytest.raises(ValueError):
        pmemobj.PersistentObjectPool(pool_path, flag='r')


def test_pool_too_small(pool_path):
    small = pmemobj.MIN_POOL_SIZE - 1
    with pytest.raises(ValueError, match=rf"size {small} smaller than {pmemobj.MIN_POOL_SIZE} \(MIN_POOL_SIZE"):
        pmemobj.create(pool_path, pool_size=small)
    assert not os.path.exists(pool_path)


def test_mode_and_is_pmem(pool_path):
    with pmemobj.create(pool_path, mode=0o600) as pool:
        assert isinstance(pool.is_pmem, bool)
        assert "pmem" in repr(pool)
    assert os.stat(pool_path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("umask,mode,expected", [(0o077, None, 0o600), (0o022, None, 0o644),
                                                 (0o027, 0o666, 0o640), (0o022, 0o600, 0o600),
                                                 (0, 0o666, 0o666)])
def test_new_files_respect_the_umask(tmpdir_shm, umask, mode, expected):
    path = os.path.join(tmpdir_shm, "umask.pool")
    old = os.umask(umask)
    try:
        kw = {} if mode is None else {"mode": mode}
        pmemobj.create(path, **kw).close()
        assert os.umask(umask) == umask             # left as it was
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == expected


def test_second_open_is_refused(pool_path):
    with pmemobj.create(pool_path):
        with pytest.raises(PoolInUseError):
            pmemobj.open(pool_path)
        code = "import sys, pmemobj\ntry:\n pmemobj.open(sys.argv[1])\nexcept pmemobj.PoolInUseError: print('in use')"
        proc = run_python(code, pool_path)
        assert_no_signal(proc)
        assert proc.stdout.strip() == "in use", proc.stderr


def test_use_after_close(pool_path):
    pool = pmemobj.create(pool_path)
    mm = pool.mm
    with pool.transaction():
        oid = mm.alloc(16)
    tx = pool.transaction()
    pool.close()
    pool.close()                       # idempotent
    assert pool.closed
    for f in (lambda: pool.root, lambda: setattr(pool, "root", 1), pool.transaction, pool.gc,
              lambda: mm.resurrect(oid), lambda: mm.direct(oid), lambda: mm.persist(1),
              lambda: mm.incref(oid), lambda: pool.new(object)):
        with pytest.raises(ValueError, match="closed"):
            f()
    with pytest.raises(ValueError, match="closed"):
        with tx:
            pass


def test_clean_shutdown_flag(pool_path):
    with pmemobj.create(pool_path) as pool:
        pool.root = "x"
        assert pool.mm.root_clean == 0          # reset while open
        assert pool.recovered is None
    for _ in range(3):                          # earlier clean closes do not hide a crash
        with pmemobj.open(pool_path) as pool:
            assert pool.recovered is None
    code = ("import os, sys, pmemobj\np = pmemobj.open(sys.argv[1])\n"
            "with p.transaction():\n    p.root = ('leak', 1)\nos._exit(0)")
    assert_no_signal(run_python(code, pool_path))
    with pmemobj.open(pool_path) as pool:
        assert pool.recovered is not None       # unclean: gc ran at open
        assert pool.root == ("leak", 1)
    with pmemobj.open(pool_path) as pool:
        assert pool.recovered is None


def test_pool_full_rolls_back_and_pool_stays_usable(pool_path):
    with pmemobj.create(pool_path) as pool:
        pool.root = "start"
        with pytest.raises(PoolFullError) as info:
            with pool.transaction():
                pool.root = "changed"
                for i in range(10000):
                    pool.mm.alloc(64 * 1024)
        assert isinstance(info.value, MemoryError)
        assert pool.root == "start"
        big = []
        with pytest.raises(PoolFullError):
            for i in range(100000):              # each in its own transaction
                pool.root = "y" * 100000
                big.append(pool.mm.persist("z" * 100000))
                pool.mm.incref(big[-1])
        for oid in big:
            pool.mm.decref(oid)
        pool.root = "usable again " + "x" * 100000
        assert pool.gc()["freed_total"] == 0
    with pmemobj.open(pool_path) as pool:
        assert pool.root.startswith("usable again")


@pytest.mark.parametrize("damage", ["empty", "short", "zeros", "random_header", "foreign_layout",
                                    "random_descriptor", "directory", "text"])
def test_bad_files_give_exceptions(tmpdir_shm, damage):
    path = os.path.join(tmpdir_shm, "bad.pool")
    if damage == "directory":
        os.mkdir(path)
    elif damage in ("empty", "short", "zeros", "text"):
        with open(path, "wb") as f:
            f.write({"empty": b"", "short": b"PMEMOBJ\0" + b"\0" * 100, "zeros": b"\0" * (9 << 20),
                     "text": b"hello world\n" * (1 << 20)}[damage])
    elif damage == "foreign_layout":
        code = ("import ctypes, sys\nlib = ctypes.CDLL('libpmemobj.so.1')\n"
                "lib.pmemobj_create.restype = ctypes.c_void_p\n"
                "p = lib.pmemobj_create(sys.argv[1].encode(), b'other-layout', 8 << 20, 0o666)\n"
                "lib.pmemobj_close(ctypes.c_void_p(p))")
        assert_no_signal(run_python(code, path))
    else:
        with pmemobj.create(path) as pool:
            pool.root = "data"
        with open(path, "r+b") as f:
            f.seek(64 if damage == "random_header" else 4096 + 1024)
            f.write(os.urandom(64))
    code = ("import sys, pmemobj\ntry:\n pmemobj.open(sys.argv[1])\n print('opened')\n"
            "except (OSError, ValueError) as e:\n print(type(e).__name__)")
    proc = run_python(code, path)
    assert_no_signal(proc)
    assert proc.stdout.strip() in ("InvalidPoolError", "IsADirectoryError"), (proc.stdout, proc.stderr)


def test_open_without_permission(pool_path):
    with pmemobj.create(pool_path):
        pass
    os.chmod(pool_path, 0o400)
    # as root, drop privileges after the imports so that only the pool file is out of reach
    code = ("import os, sys, pmemobj\nos.setuid(65534) if os.getuid() == 0 else None\ntry:\n"
            " pmemobj.open(sys.argv[1])\nexcept PermissionError: print('denied')")
    os.chmod(os.path.dirname(pool_path), 0o755)
    proc = run_python(code, pool_path)
    assert_no_signal(proc)
    assert proc.stdout.strip() == "denied", proc.stderr


def test_forked_child_cannot_touch_the_parents_pool(pool_path):
    with pmemobj.create(pool_path) as pool:
        pool.root = "parent"
        pid = os.fork()
        if pid == 0:                                  # the child
            code = 0
            try:
                pool.root = "child"
                code = 1
            except ValueError:
                pass
            try:
                pool.close()                          # closed already: a no-op, no gc
            except BaseException:
                code = 2
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert pool.root == "parent"
        pool.root = "still the parent's"


def test_pool_left_open_at_exit_is_closed_cleanly(pool_path):
    code = ("import sys, pmemobj\np = pmemobj.create(sys.argv[1])\n"
            "p.root = p.new(pmemobj.PersistentDict, a=1)\n")      # no close(): atexit does it
    proc = run_python(code, pool_path)
    assert proc.returncode == 0, proc.stderr
    with pmemobj.open(pool_path) as pool:
        assert pool.recovered is None and dict(pool.root) == {"a": 1}


def test_a_subclass_can_override_transaction(pool_path):
    calls = []

    class Logged(pmemobj.PersistentObjectPool):
        def transaction(self):
            calls.append("tx")
            return super().transaction()

    with Logged(pool_path, flag="x") as pool:
        with pool.transaction():
            pool.root = 1
        assert pool.root == 1
    assert calls == ["tx"]


def test_a_dropped_pool_releases_its_file(pool_path):
    """A pool object dropped without close() (and with no proxy left) closes
    its file as unclean: it can be opened again, and that open collects."""
    import gc
    pool = pmemobj.create(pool_path)
    pool.root = pool.new(pmemobj.PersistentList, [1, "two"])
    pool.new(pmemobj.PersistentDict)         # garbage the next open must collect
    lst = pool.root
    del pool
    gc.collect()
    with pytest.raises(pmemobj.PoolInUseError):
        pmemobj.open(pool_path)             # a proxy keeps the pool open
    del lst
    gc.collect()
    pool = pmemobj.open(pool_path)
    assert pool.recovered is not None        # not closed cleanly: gc ran at open
    assert list(pool.root) == [1, "two"]
    assert pool.gc()["freed_total"] == 0
    pool.close()


@pytest.mark.parametrize("typ", [list, dict, int, object, str, "PersistentList", None])
def test_new_needs_a_persistent_type(pool_path, typ):
    with pmemobj.create(pool_path) as pool:
        with pytest.raises(TypeError, match="Persistent type.*not " + (typ.__name__ if isinstance(typ, type)
                                                                          else repr(typ))):
            pool.new(typ)
        assert not pool.mm.in_transaction
        pool.root = 1


def test_nothing_only_python_holds_survives_a_clean_close(pool_path):
    """Objects nothing persistent references (a never linked pool.new() object,
    a popped value, an unreachable cycle) whose proxies are alive at close()
    are freed by it: a cleanly closed pool holds only what the root reaches."""
    pool = pmemobj.create(pool_path)
    pool.root = pool.new(pmemobj.PersistentList, ["kept"])
    never_linked = pool.new(pmemobj.PersistentDict, a=pool.new(pmemobj.PersistentList, ["inner"]))
    pool.root.append(pool.new(pmemobj.PersistentList, ["popped"]))
    popped = pool.root.pop()
    a = pool.new(pmemobj.PersistentList)
    b = pool.new(pmemobj.PersistentList, [a])
    a.append(b)                                 # a cycle only Python reaches
    pool.close()
    with pytest.raises(ValueError):
        never_linked["a"]
    with pytest.raises(ValueError):
        len(popped)
    pool = pmemobj.open(pool_path)
    assert pool.recovered is None               # clean
    r = pool.mm._gc(dry_run=True)
    assert r["freed_total"] == 0, r
    assert list(pool.root) == ["kept"]
    pool.close()
    del a, b


def test_open_after_an_in_process_check_of_an_unclean_pool(pool_path):
    """``python -m pmemobj check`` lets an unclean pool go without marking it
    clean; an open in the same process afterwards works and recovers it (the
    power-loss checker does both for every cut point)."""
    import io
    from pmemobj import cli
    with pmemobj.create(pool_path) as pool:
        pool.root = (1, "x")
    code = "import os, sys, pmemobj\np = pmemobj.open(sys.argv[1])\np.root = (2, 'y')\nos._exit(0)"
    assert_no_signal(run_python(code, pool_path))
    assert cli.main(["check", pool_path], out=io.StringIO()) == cli.EXIT_OK
    with pmemobj.open(pool_path) as pool:
        assert pool.recovered is not None
        assert pool.root == (2, "y")
