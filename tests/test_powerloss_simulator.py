"""The power-loss simulator's own tests (tests/powerloss/simulator.c): it
loses what was never flushed, keeps a random part of the flush that power
cut, follows mappings of the file wherever they are, and sees every flush
libpmemobj makes.  Small programs write through a mapping of a file of four
pages, in a child process under the simulator."""
import mmap
import os
import subprocess
import sys

import pytest

import pmemobj
import powerloss
from pmemobj import cli
from support import ROOT

PAGE = mmap.PAGESIZE

# Steps: "w:P:C" fills page P with byte C (through the mapping), "s:P:N" msyncs
# pages P..P+N-1, "pw:P:C" pwrites page P, "fsync", "remap:P" maps the file
# again at page offset P (its page 0 is then file page P), "grow" resizes the
# mapping to 6 pages (mremap), "anon" msyncs an anonymous mapping, "other"
# msyncs a mapping of another file.
PROGRAM = r"""
import mmap, os, sys
PAGE = mmap.PAGESIZE
path = sys.argv[1]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
os.ftruncate(fd, 4 * PAGE)
m, base = mmap.mmap(fd, 4 * PAGE), 0
for step in sys.argv[2:]:
    op, *args = step.split(":")
    a = [int(x) for x in args]
    if op == "w":
        m[(a[0] - base) * PAGE:(a[0] - base + 1) * PAGE] = bytes([a[1]]) * PAGE
    elif op == "s":
        m.flush((a[0] - base) * PAGE, a[1] * PAGE)
    elif op == "pw":
        os.pwrite(fd, bytes([a[1]]) * PAGE, a[0] * PAGE)
    elif op == "fsync":
        os.fsync(fd)
    elif op == "remap":
        m.close()
        m, base = mmap.mmap(fd, (4 - a[0]) * PAGE, offset=a[0] * PAGE), a[0]
    elif op == "grow":
        m.resize(6 * PAGE)
    elif op == "anon":
        anon = mmap.mmap(-1, PAGE)
        anon[:1] = b"x"
        anon.flush()
    elif op == "other":
        with open(path + ".other", "w+b") as f:
            f.truncate(PAGE)
            o = mmap.mmap(f.fileno(), PAGE)
            o[:1] = b"x"
            o.flush()
"""


def run(tmp, steps, **simulator):
    """Run the program under the simulator; return (exit status, file pages,
    shadow pages, number of points); a page is its first byte, or None if
    the file is shorter."""
    path, shadow, count = (os.path.join(tmp, n) for n in ("file", "shadow", "count"))
    for p in (path, shadow, count):
        if os.path.exists(p):
            os.unlink(p)
    env = dict(os.environ, **powerloss.environment(path, shadow, count=count, **simulator))
    proc = subprocess.run([sys.executable, "-c", PROGRAM, path, *steps], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode in (0, powerloss.POWER_LOST), proc.stderr
    points = int(open(count).read()) if os.path.exists(count) else None
    return proc.returncode, pages(path), pages(shadow), points


def pages(path):
    with open(path, "rb") as f:
        data = f.read()
    assert all(len(set(data[i:i + PAGE])) <= 1 for i in range(0, len(data), PAGE)), "a page was torn"
    return [data[i] for i in range(0, len(data), PAGE)]


def test_a_write_never_flushed_is_lost(simulator, tmpdir_shm):
    """Page 1 is written and never flushed; page 0's second write neither:
    the file (the page cache, all that a SIGKILL test sees) has both, the
    medium has neither."""
    status, file, medium, points = run(tmpdir_shm, ["w:0:65", "s:0:1", "w:1:66", "w:0:67"])
    assert status == 0 and points == 1
    assert file == [67, 66, 0, 0]
    assert medium == [65, 0, 0, 0]


def test_a_flush_makes_its_pages_durable(simulator, tmpdir_shm):
    status, file, medium, points = run(tmpdir_shm, ["w:0:65", "w:1:66", "w:2:67", "s:1:2"])
    assert file == [65, 66, 67, 0]
    assert medium == [0, 66, 67, 0] and points == 1


def test_nothing_is_on_the_medium_before_a_flush(simulator, tmpdir_shm):
    """Not even the size the file was given: the medium holds an empty file.
    A cut flush makes the size durable or not (each with probability 1/2)."""
    assert run(tmpdir_shm, ["w:0:65"])[2] == []
    sizes = {len(run(tmpdir_shm, ["w:0:65", "s:0:1"], cut=1, seed=seed)[2]) for seed in range(8)}
    assert sizes == {0, 4}


def test_power_fails_in_the_middle_of_a_flush(simulator, tmpdir_shm):
    """At the cut, a random subset of the flush's pages reaches the medium
    (here: of four pages, one flush; the first flush made the size durable)
    and the process ends at once."""
    seen = set()
    for seed in range(12):
        status, _, medium, points = run(tmpdir_shm, ["s:0:1", "w:0:1", "w:1:2", "w:2:3", "w:3:4", "s:0:4",
                                                     "w:0:9", "s:0:1"], cut=2, seed=seed)
        assert status == powerloss.POWER_LOST and points is None      # ended at once: no exit handlers
        assert all(m in (0, new) for m, new in zip(medium, [1, 2, 3, 4])), medium
        seen.add(tuple(m != 0 for m in medium))
    assert len(seen) > 4, seen                  # not all-or-nothing


def test_power_fails_at_a_later_flush(simulator, tmpdir_shm):
    """Pages flushed before the cut are there; the cut flush's are partly."""
    status, _, medium, _ = run(tmpdir_shm, ["w:0:1", "s:0:1", "w:1:2", "w:0:3", "s:1:1"], cut=2, seed=3)
    assert status == powerloss.POWER_LOST
    assert medium[0] == 1 and medium[1] in (0, 2)


def test_early_write_back(simulator, tmpdir_shm):
    """With p = 1 every page that differs from the medium reaches it at the
    cut (the kernel may write back any dirty page before it is flushed); with
    p = 0 none does."""
    steps = ["w:0:1", "s:0:1", "w:2:7", "w:0:5", "w:1:1", "s:1:1"]
    assert run(tmpdir_shm, steps, cut=2, p=1.0)[2][:3] in ([5, 0, 7], [5, 1, 7])
    assert run(tmpdir_shm, steps, cut=2, p=0.0)[2][:3] in ([1, 0, 0], [1, 1, 0])


def test_mappings_are_followed(simulator, tmpdir_shm):
    """A mapping at a page offset flushes the pages it maps; a mapping grown
    by mremap too; a flush of anonymous memory or of another file is no
    durability point of this file."""
    status, file, medium, points = run(tmpdir_shm, ["anon", "other", "remap:2", "w:3:9", "s:3:1", "grow",
                                                    "w:5:8", "s:5:1"])
    assert status == 0 and points == 2
    # (mmap.resize() grows the file to the mapping's offset + its new size: 8 pages)
    assert file == medium == [0, 0, 0, 9, 0, 8, 0, 0]


def test_writes_outside_the_mapping(simulator, tmpdir_shm):
    """pwrite goes to the page cache like a store through the mapping: it
    reaches the medium with the next flush of its page, or fsync."""
    _, _, medium, points = run(tmpdir_shm, ["pw:0:3", "pw:1:4", "s:1:1"])
    assert medium == [0, 4, 0, 0] and points == 1
    _, _, medium, points = run(tmpdir_shm, ["pw:0:3", "pw:1:4", "fsync"])
    assert medium == [3, 4, 0, 0] and points == 1


def test_images_are_the_cuts(simulator, tmpdir_shm):
    """Images written on the way (PWRLOSS_IMAGES) are what ending the process
    at each point leaves, byte for byte."""
    steps = ["w:0:1", "w:1:2", "s:0:2", "w:2:3", "w:0:4", "s:0:1", "w:3:5", "pw:1:6", "fsync", "w:2:7",
             "s:2:2"]
    images = os.path.join(tmpdir_shm, "images")
    os.mkdir(images)
    run(tmpdir_shm, steps, images=images, p=0.5, seed=11)
    with open(os.path.join(images, "index")) as f:
        index = [int(line.split()[0]) for line in f]
    assert index == [1, 2, 3, 4]
    for point in index:
        run(tmpdir_shm, steps, cut=point, p=0.5, seed=11)
        with open(os.path.join(images, f"cut-{point:08d}.img"), "rb") as a, \
                open(os.path.join(tmpdir_shm, "shadow"), "rb") as b:
            assert a.read() == b.read(), point


POOL = r"""
import sys, pmemobj
with pmemobj.create(sys.argv[1]) as pool:
    pool.root = pool.new(pmemobj.PersistentDict, {"x": (1, 2, 3)})
    with pool.transaction():
        pool.root["y"] = "committed"
"""


@pytest.mark.parametrize("force", ["0", "1"])
def test_it_sees_libpmemobj_flushes(simulator, tmpdir_shm, force):
    """A pool created and closed under the simulator: with msync (libpmemobj
    on a file that is not persistent memory) the medium holds all of it;
    with PMEM_IS_PMEM_FORCE=1, libpmemobj flushes CPU caches, which no medium
    sees, and the medium holds nothing usable."""
    path, shadow = os.path.join(tmpdir_shm, "pool"), os.path.join(tmpdir_shm, "shadow")
    env = dict(os.environ, PYTHONPATH=ROOT, PMEM_IS_PMEM_FORCE=force, **powerloss.environment(path, shadow))
    proc = subprocess.run([sys.executable, "-c", POOL, path], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    code = subprocess.run([sys.executable, "-m", "pmemobj", "check", shadow], capture_output=True,
                          env=dict(os.environ, PYTHONPATH=ROOT), timeout=60).returncode
    if force == "0":
        assert code == cli.EXIT_OK
        with pmemobj.open(shadow) as pool:
            assert pool.recovered is None               # closed cleanly, and that is on the medium
            assert dict(pool.root) == {"x": (1, 2, 3), "y": "committed"}
    else:
        assert code == cli.EXIT_ERROR
