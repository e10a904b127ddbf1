"""Growing pools: a pool set of one directory part that libpmemobj extends by
grow_by bytes when the heap is full; PoolFullError only at max_size."""
import io
import os
import random
import signal
import subprocess
import sys
import time

import pytest

import pmemobj
from pmemobj import cli
from pmemobj._core import InvalidPoolError, PoolFullError
from support import ROOT, assert_no_garbage, assert_no_signal, run_python

MiB = 1 << 20
BLOB = b"x" * 10000


@pytest.fixture
def set_path(tmpdir_shm):
    return os.path.join(tmpdir_shm, "grow.set")


def _parts(path):
    return sorted(os.listdir(path + ".parts"))


def test_create_reports_sizes(set_path):
    with pmemobj.create(set_path, pool_size=16 * MiB, max_size=128 * MiB, grow_by=8 * MiB) as pool:
        assert pool.size == 16 * MiB
        assert pool.max_size == 128 * MiB
        assert pool.stats()["pool_size"] == 16 * MiB
        pool.root = "hello"
    assert open(set_path, "rb").read().startswith(b"PMEMPOOLSET")
    assert _parts(set_path) == ["000000.pmem", "000001.pmem"]
    with pmemobj.open(set_path) as pool:
        assert pool.root == "hello"
        assert (pool.size, pool.max_size) == (16 * MiB, 128 * MiB)
    assert pmemobj._core.check_file(set_path)


def test_parts_have_the_mode_of_the_pool(set_path):
    with pmemobj.create(set_path, pool_size=16 * MiB, max_size=64 * MiB, mode=0o640) as pool:
        pool.root = b"m" * (20 * MiB)           # grows
    modes = {os.stat(os.path.join(set_path + ".parts", n)).st_mode & 0o777 for n in _parts(set_path)}
    assert modes == {0o640 & ~_umask()}


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_fixed_pool_has_no_maximum(pool_path):
    with pmemobj.create(pool_path, pool_size=16 * MiB) as pool:
        assert pool.max_size is None and pool.size == 16 * MiB


def test_create_errors(set_path):
    with pytest.raises(ValueError, match="max_size"):
        pmemobj.create(set_path, pool_size=32 * MiB, max_size=16 * MiB)
    with pytest.raises(ValueError, match="grow_by"):
        pmemobj.create(set_path, max_size=64 * MiB, grow_by=1 * MiB)
    assert not os.path.exists(set_path)
    pmemobj.create(set_path, max_size=64 * MiB).close()
    with pytest.raises(FileExistsError):
        pmemobj.create(set_path, max_size=64 * MiB)
    os.unlink(set_path)                 # the parts directory is left: refused too
    with pytest.raises(FileExistsError):
        pmemobj.create(set_path, max_size=64 * MiB)


def test_fill_past_initial_size_in_one_transaction(set_path):
    with pmemobj.create(set_path, pool_size=8 * MiB, max_size=128 * MiB, grow_by=4 * MiB) as pool:
        pool.root = pool.new(pmemobj.PersistentList)
        with pool.transaction():
            for i in range(2000):               # about 20 MiB
                pool.root.append(BLOB + str(i).encode())
        assert pool.size > 24 * MiB
        grown = pool.size
    assert len(_parts(set_path)) > 4
    modes = {os.stat(os.path.join(set_path + ".parts", n)).st_mode & 0o777 for n in _parts(set_path)}
    assert len(modes) == 1                  # the parts libpmemobj added have the first part's
    with pmemobj.open(set_path) as pool:
        assert pool.size == grown
        assert len(pool.root) == 2000
        assert pool.root[1999] == BLOB + b"1999"
        assert_no_garbage(pool)


def test_full_only_at_maximum_in_many_transactions(set_path):
    with pmemobj.create(set_path, pool_size=8 * MiB, max_size=48 * MiB, grow_by=8 * MiB) as pool:
        pool.root = pool.new(pmemobj.PersistentList)
        n = 0
        with pytest.raises(PoolFullError, match="maximum size"):
            while True:
                with pool.transaction():
                    for _ in range(50):
                        pool.root.append(BLOB)
                n += 50
        assert pool.size == 48 * MiB
        assert len(pool.root) == n and n * len(BLOB) > 36 * MiB
        # the pool stays usable: free some, write again
        with pool.transaction():
            del pool.root[:n // 2]
        pool.root.append(b"after")
        assert pool.root[-1] == b"after"
        n = len(pool.root)
    with pmemobj.open(set_path) as pool:
        assert len(pool.root) == n and pool.size == 48 * MiB
        assert_no_garbage(pool)


def test_large_object_grows_pool(set_path):
    with pmemobj.create(set_path, pool_size=8 * MiB, max_size=64 * MiB, grow_by=2 * MiB) as pool:
        pool.root = b"y" * (20 * MiB)        # one allocation larger than the pool and the step
        assert pool.size > 20 * MiB
    with pmemobj.open(set_path) as pool:
        assert pool.root == b"y" * (20 * MiB)


def test_cli_info_shows_sizes(set_path):
    pmemobj.create(set_path, pool_size=16 * MiB, max_size=96 * MiB, grow_by=8 * MiB).close()
    out = io.StringIO()
    assert cli.main(["info", set_path], out=out) == 0
    text = out.getvalue()
    assert "pool size:         16777216 bytes" in text
    assert "maximum size:      100663296 bytes (96.0 MiB) (grows by 8388608 bytes" in text
    out = io.StringIO()
    assert cli.main(["info", "--json", set_path], out=out) == 0
    assert '"max_size": 100663296' in out.getvalue()


BAD_SET = r"""
import sys, pmemobj
from pmemobj._core import InvalidPoolError
try:
    pmemobj.open(sys.argv[1])
except (InvalidPoolError, PermissionError, FileNotFoundError) as e:
    print(type(e).__name__, e)
else:
    print("OPENED")
"""


def _refused(path):
    proc = run_python(BAD_SET, path)
    assert_no_signal(proc)
    assert "OPENED" not in proc.stdout and proc.stdout, proc.stderr
    return proc.stdout


def test_unsupported_or_damaged_sets_are_refused(set_path, tmpdir_shm):
    pmemobj.create(set_path, pool_size=16 * MiB, max_size=64 * MiB).close()
    text = open(set_path).read()
    other = os.path.join(tmpdir_shm, "other.set")
    with open(other, "w") as f:
        f.write(text.replace("OPTION SINGLEHDR\n", ""))
    assert "SINGLEHDR" in _refused(other)
    with open(other, "w") as f:
        f.write(text + "REPLICA\n64M /tmp/nowhere\n")
    assert "REPLICA" in _refused(other)
    with open(other, "w") as f:
        f.write("PMEMPOOLSET\nOPTION SINGLEHDR\n64M relative/dir\n")
    assert "absolute" in _refused(other)
    os.mkdir(os.path.join(tmpdir_shm, "empty.parts"))
    with open(other, "w") as f:
        f.write(f"PMEMPOOLSET\nOPTION SINGLEHDR\n64M {tmpdir_shm}/empty.parts\n")
    assert "no part files" in _refused(other)
    # a truncated part, a damaged first part
    last = os.path.join(set_path + ".parts", _parts(set_path)[-1])
    os.truncate(last, 12345)
    assert "truncated" in _refused(set_path)
    os.truncate(last, 0)
    assert "truncated" in _refused(set_path)
    os.unlink(last)
    first = os.path.join(set_path + ".parts", "000000.pmem")
    with open(first, "r+b") as f:
        f.write(b"garbage!")
    assert "signature" in _refused(set_path)


def test_damaged_heap_metadata_of_a_set_is_refused(set_path):
    """libpmemobj's metadata is checked across the parts, as it maps them."""
    with pmemobj.create(set_path, pool_size=8 * MiB, max_size=64 * MiB, grow_by=4 * MiB) as pool:
        pool.root = pool.new(pmemobj.PersistentList)
        with pool.transaction():
            for i in range(1500):
                pool.root.append(BLOB)
    assert len(_parts(set_path)) > 2
    first = os.path.join(set_path + ".parts", "000000.pmem")
    with open(first, "r+b") as f:
        heap_offset = int.from_bytes(f.read(8192)[5136:5144], "little")
        f.seek(heap_offset + 1024 + 64 + 8 * 3)         # zone 0, chunk header 3
        f.write(bytes(8))
    assert "chunk header 3 of zone 0" in _refused(set_path)


def test_part_left_by_a_crash_while_growing_is_removed(set_path):
    """libpmemobj creates a part file, then sizes it, then adds it to the heap:
    a crash in between leaves a short file past the heap's end, which
    libpmemobj would refuse to open; the open removes it."""
    with pmemobj.create(set_path, pool_size=16 * MiB, max_size=64 * MiB) as pool:
        pool.root = "kept"
    parts = _parts(set_path)
    unfinished = os.path.join(set_path + ".parts", "%06d.pmem" % len(parts))
    open(unfinished, "wb").close()
    with pmemobj.open(set_path) as pool:
        assert pool.root == "kept" and pool.size == 16 * MiB
    assert _parts(set_path) == parts
    # a short part inside the heap is damage, not an unfinished growth
    os.truncate(os.path.join(set_path + ".parts", parts[-1]), 1 * MiB)
    assert "truncated" in _refused(set_path)


def test_crash_after_the_heap_size_was_recorded(set_path):
    """A crash after libpmemobj recorded the grown heap's size and before it
    counted the new chunks in the zone: libpmemobj counts them at open."""
    with pmemobj.create(set_path, pool_size=8 * MiB, max_size=64 * MiB, grow_by=4 * MiB) as pool:
        pool.root = "kept"
    parts = _parts(set_path)
    with open(os.path.join(set_path + ".parts", "%06d.pmem" % len(parts)), "wb") as f:
        f.truncate(4 * MiB)                      # the new part, as libpmemobj creates it
    with open(os.path.join(set_path + ".parts", parts[0]), "r+b") as f:
        f.seek(6176)                             # pmemobjpool.heap_size
        heap_size = int.from_bytes(f.read(8), "little")
        f.seek(6176)
        f.write((heap_size + 4 * MiB).to_bytes(8, "little"))
    with pmemobj.open(set_path) as pool:
        assert pool.root == "kept" and pool.size == 12 * MiB
        pool.root = b"q" * (6 * MiB)             # the new chunks are usable
    with pmemobj.open(set_path) as pool:
        assert pool.root == b"q" * (6 * MiB)


GROWER = r"""
import sys, pmemobj
pool = pmemobj.open(sys.argv[1])
n = len(pool.root)
while True:
    with pool.transaction():
        for _ in range(20):
            pool.root.append(n.to_bytes(8, "little") * 128)     # 1 KiB: it grows, well short of the maximum
            n += 1
    print(n, flush=True)
"""


def test_crash_while_growing(set_path):
    with pmemobj.create(set_path, pool_size=8 * MiB, max_size=512 * MiB, grow_by=2 * MiB) as pool:
        pool.root = pool.new(pmemobj.PersistentList)
    rng = random.Random(17)
    env = dict(os.environ, PYTHONPATH=ROOT)
    last = 0
    for _ in range(6):
        child = subprocess.Popen([sys.executable, "-c", GROWER, set_path], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = child.stdout.readline()
        assert first, child.stderr.read()
        time.sleep(rng.uniform(0, 0.2))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate()
        assert child.returncode == -signal.SIGKILL, err
        committed = [int(x) for x in (first + out).split()]
        with pmemobj.open(set_path) as pool:
            n = len(pool.root)
            assert n in (committed[-1], committed[-1] + 20)     # the one in flight may have committed
            assert n > last
            for i in rng.sample(range(n), 50) + [n - 1]:
                assert pool.root[i] == i.to_bytes(8, "little") * 128
            assert pool.size <= pool.max_size
            assert pool.gc()["freed_total"] == 0
            last = n
    assert len(_parts(set_path)) > 3
    assert pmemobj._core.check_file(set_path)
