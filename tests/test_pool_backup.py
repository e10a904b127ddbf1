"""Online backup: pool.backup(dest) copies an open pool between transactions;
the copy opens as a pool holding one committed state."""
import io
import os
import threading

import pytest

import pmemobj
from pmemobj import cli
from pmemobj._core import PoolInUseError, TransactionError
from support import assert_no_signal, run_python

MiB = 1 << 20


def _fill(pool, n):
    pool.root = pool.new(pmemobj.PersistentDict)
    with pool.transaction():
        for i in range(n):
            pool.root[i] = f"value {i}" * 3


def test_backup_opens_with_the_same_content(pool_path, tmpdir_shm):
    dest = os.path.join(tmpdir_shm, "copy.pool")
    with pmemobj.create(pool_path, pool_size=16 * MiB) as pool:
        _fill(pool, 500)
        assert pool.backup(dest) == dest
        with pool.transaction():
            pool.root["later"] = 1              # not in the copy
        # the copy has the pool's identity: not open twice in one process, but
        # another process opens it while the original is open here
        with pytest.raises(PoolInUseError, match="same identity"):
            pmemobj.open(dest)
        proc = run_python("import sys, pmemobj\np = pmemobj.open(sys.argv[1])\n"
                          "print(len(p.root), p.root[499], 'later' in p.root)\np.close()", dest)
        assert_no_signal(proc)
        assert proc.stdout.split() == ["500", "value", "499value", "499value", "499", "False"], proc.stderr
    with pmemobj.open(dest) as copy:
        assert len(copy.root) == 500 and copy.root[7] == "value 7" * 3
    assert not [n for n in os.listdir(tmpdir_shm) if ".backup-" in n]


def test_backup_refusals(pool_path, tmpdir_shm):
    dest = os.path.join(tmpdir_shm, "copy.pool")
    with pmemobj.create(pool_path, pool_size=16 * MiB) as pool:
        pool.root = 1
        with pool.transaction():
            with pytest.raises(TransactionError, match="inside one of its transactions"):
                pool.backup(dest)
        assert not os.path.exists(dest)
        with pytest.raises(FileExistsError):
            pool.backup(pool_path)
        pool.backup(dest)
        with pytest.raises(FileExistsError):
            pool.backup(dest)
    with pytest.raises(ValueError, match="closed"):
        pool.backup(os.path.join(tmpdir_shm, "other.pool"))


def test_backup_while_another_thread_commits(pool_path, tmpdir_shm):
    """Each copy holds a state some transaction committed: the writer keeps
    root["n"] equal to the number of items and every item equal to its index."""
    with pmemobj.create(pool_path, pool_size=32 * MiB) as pool:
        pool.root = pool.new(pmemobj.PersistentDict)
        with pool.transaction():
            pool.root["n"] = 0
            pool.root["items"] = pool.new(pmemobj.PersistentList)
        stop = threading.Event()
        committed = [0]

        def writer():
            n = 0
            while not stop.is_set() and n < 300000:
                with pool.transaction():
                    items = pool.root["items"]
                    for _ in range(10):
                        items.append(n)
                        n += 1
                    pool.root["n"] = n
                committed.append(n)

        t = threading.Thread(target=writer)
        t.start()
        copies = []
        try:
            while len(copies) < 4 and t.is_alive():
                dest = os.path.join(tmpdir_shm, f"copy{len(copies)}.pool")
                pool.backup(dest)
                copies.append(dest)
        finally:
            stop.set()
            t.join()
        assert len(copies) >= 2
        done = set(committed)
    seen = []
    for dest in copies:
        with pmemobj.open(dest) as copy:
            n = copy.root["n"]
            assert n in done
            assert list(copy.root["items"]) == list(range(n))
            seen.append(n)
    assert seen == sorted(seen) and seen[-1] > 0


def test_backup_of_a_growing_pool_copies_the_set(tmpdir_shm):
    src = os.path.join(tmpdir_shm, "grow.set")
    dest = os.path.join(tmpdir_shm, "copy.set")
    with pmemobj.create(src, pool_size=8 * MiB, max_size=64 * MiB, grow_by=4 * MiB) as pool:
        pool.root = pool.new(pmemobj.PersistentList)
        with pool.transaction():
            for i in range(1500):
                pool.root.append(b"z" * 10000)
        size = pool.size
        assert size > 16 * MiB
        pool.backup(dest)
    assert sorted(os.listdir(dest + ".parts")) == sorted(os.listdir(src + ".parts"))
    assert os.path.abspath(dest + ".parts") in open(dest).read()
    with pmemobj.open(dest) as copy:
        assert (copy.size, copy.max_size) == (size, 64 * MiB)
        assert len(copy.root) == 1500
        with copy.transaction():                  # the copy grows on its own
            for i in range(1500):
                copy.root.append(b"w" * 10000)
        assert copy.size > size
    assert len(os.listdir(src + ".parts")) < len(os.listdir(dest + ".parts"))


def test_cli_backup(pool_path, tmpdir_shm):
    dest = os.path.join(tmpdir_shm, "cli-copy.pool")
    with pmemobj.create(pool_path, pool_size=16 * MiB) as pool:
        _fill(pool, 100)
    out = io.StringIO()
    assert cli.main(["backup", pool_path, dest], out=out) == 0
    assert dest in out.getvalue()
    with pmemobj.open(dest) as copy:
        assert len(copy.root) == 100
    assert cli.main(["backup", pool_path, dest], out=io.StringIO()) == 2      # exists
