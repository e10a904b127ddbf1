"""A pool holds data up to most of its size (include/pyp_hashtable.h, include/pyp_list.h,
pmemobj/_heap.pxi): large collections in segments and blocks behave as list, dict
and set do across transactions of several operations, aborts and reopens; a full
pool takes the same data again after some was deleted, also after a reopen;
several threads fill one pool; the space statistics agree with libpmemobj."""
import os
import shutil
import tempfile
import threading

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import pmemobj
from pmemobj import PersistentDict, PersistentList, PersistentSet, PoolFullError, _core
from support import assert_no_garbage, reopen

SEG = 512           # entries per segment of a large table
BLOCK = 1816        # slots per block of a large list


class Boom(Exception):
    """Raised inside a transaction to abort it."""


def _value(i):
    return ("s%d" % i) if i % 3 == 0 else (2 ** 70 + i if i % 3 == 1 else i)


# ---------------------------------------------------------------------------
# Differential test on collections past their small arrays: every step is a
# transaction of several bulk operations, committed or rolled back.

OPS = st.lists(st.tuples(st.integers(0, 10), st.integers(0, 10 ** 6), st.integers(0, 10 ** 6)),
               min_size=1, max_size=4)


class LargeMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.dir = tempfile.mkdtemp(prefix="pmemobj-test-", dir=base)
        self.pool = pmemobj.create(os.path.join(self.dir, "large.pool"), pool_size=64 << 20)
        self.next = 0

    def teardown(self):
        self.pool.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @initialize(n=st.sampled_from([BLOCK - 8, BLOCK, 3 * BLOCK + 5]), m=st.sampled_from([SEG - 1, 3 * SEG + 7]))
    def create(self, n, m):
        self.ml = [_value(i) for i in range(n)]
        self.md = {i: _value(i) for i in range(m)}
        self.ms = set(range(0, 2 * m, 2))
        self.pool.root = self.pool.new(PersistentDict, l=self.pool.new(PersistentList, self.ml),
                                       d=self.pool.new(PersistentDict, self.md),
                                       s=self.pool.new(PersistentSet, self.ms))
        self.next = 2 * m

    def apply(self, l, d, s, op, a, b):
        n = len(l)
        if op == 0:                                     # extend across blocks
            k = 1 + a % (2 * BLOCK)
            l.extend(_value(self.next + i) for i in range(k))
        elif op == 1 and n:                             # delete a slice (may drop blocks)
            i = a % (n + 1)
            del l[i:i + b % (2 * BLOCK)]
        elif op == 2:
            l.insert(a % (n + 1), _value(b))
        elif op == 3 and n:
            l.pop(a % n)
        elif op == 4 and n > 2:
            del l[a % 3::2 + b % 3]
        elif op == 5:                                   # many keys at once: segments, index growth
            d.update({(self.next + i) if i % 2 else i * 7: _value(i) for i in range(1 + a % (2 * SEG))})
        elif op == 6 and d:
            keys = list(d)
            for k in keys[a % len(keys)::1 + b % 4]:
                del d[k]
        elif op == 7 and d:
            d.popitem()
        elif op == 8:
            s.update(range(self.next, self.next + a % SEG))
        elif op == 9 and s:
            for x in sorted(s)[a % len(s)::2]:
                s.discard(x)
        elif op == 10:                                  # appends one by one (into blocks this transaction made)
            for i in range(1 + a % (2 * BLOCK)):
                l.append(_value(self.next + i))

    @rule(ops=OPS, commit=st.booleans())
    def step(self, ops, commit):
        models = (list(self.ml), dict(self.md), set(self.ms))
        root = self.pool.root
        try:
            with self.pool.transaction():
                for op, a, b in ops:
                    self.apply(root["l"], root["d"], root["s"], op, a, b)
                    self.apply(*models, op, a, b)
                    self.next += 2 * SEG + 2 * BLOCK
                if not commit:
                    raise Boom()
        except Boom:
            pass
        else:
            self.ml, self.md, self.ms = models

    @rule()
    def reopen(self):
        self.pool = reopen(self.pool)

    @invariant()
    def same_content(self):
        if not self.next:
            return
        root = self.pool.root
        assert list(root["l"]) == self.ml
        assert list(root["d"].items()) == list(self.md.items())     # insertion order too
        assert set(root["s"]) == self.ms and len(root["s"]) == len(self.ms)


TestLargeCollections = LargeMachine.TestCase
TestLargeCollections.settings = settings(max_examples=15, stateful_step_count=10, deadline=None,
                                         suppress_health_check=list(HealthCheck))


# ---------------------------------------------------------------------------
# Full pools

def _fill_dict(pool, d, start, batch=512):
    """Insert str values in transactions of `batch` (halved on PoolFullError); the count."""
    i = start
    while batch:
        try:
            d.update({k: "v%06d" % k + "x" * 190 for k in range(i, i + batch)})
        except PoolFullError:
            batch //= 2
            continue
        i += batch
    return i - start


def _fill_list(pool, lst, batch=4096):
    n = 0
    while batch:
        try:
            lst.extend(range(batch))
        except PoolFullError:
            batch //= 2
            continue
        n += batch
    return n


def test_a_full_dict_takes_as_much_again_after_deleting(pool_path):
    with pmemobj.create(pool_path, pool_size=16 << 20) as pool:
        d = pool.root = pool.new(PersistentDict)
        n = _fill_dict(pool, d, 0)
        assert n * 200 > 0.35 * (16 << 20)              # a 16 MiB pool has 12.5 MiB of heap: docs/performance.md
        for k in list(d)[::2]:                          # every other key: no run of blocks empties
            del d[k]
        deleted = n - len(d)
        assert _fill_dict(pool, d, n) >= deleted        # slots, entries and index are reused
        for k in list(d)[:n // 4]:
            del d[k]
    with pmemobj.open(pool_path) as pool:               # after a reopen too (see _free_log_extensions)
        d = pool.root
        assert _fill_dict(pool, d, 2 * n) >= n // 4
        assert_no_garbage(pool)


def test_a_full_list_takes_as_much_again_after_deleting(pool_path):
    with pmemobj.create(pool_path, pool_size=16 << 20) as pool:
        lst = pool.root = pool.new(PersistentList)
        n = _fill_list(pool, lst)
        assert n * 8 > 0.45 * (16 << 20)                # ints packed in 9 bytes each
        del lst[n // 3:]                                # (its transaction's log takes some room for a while)
        assert _fill_list(pool, lst) >= 0.95 * (n - n // 3)
    with pmemobj.open(pool_path) as pool:
        lst = pool.root
        n = len(lst)
        for _ in range(10):
            del lst[-n // 20:]
        assert _fill_list(pool, lst) >= 0.95 * (n - len(lst))


def test_threads_filling_one_pool(pool_path):
    """Appending and popping threads do not run out of space long before the pool is full."""
    with pmemobj.create(pool_path, pool_size=16 << 20) as pool:
        pool.root = pool.new(PersistentList, [pool.new(PersistentList) for _ in range(4)])
        lists = list(pool.root)
        errors = []

        def work(lst):
            try:
                for r in range(200):
                    lst.extend(range(r, r + 300))
                    for _ in range(100):
                        lst.pop()
            except Exception as e:              # noqa: BLE001 (reported below)
                errors.append(e)

        threads = [threading.Thread(target=work, args=(lst,)) for lst in lists]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert [len(lst) for lst in lists] == [200 * 200] * 4
        assert pool.stats()["used_bytes"] < 4 << 20


def test_pool_full_error_says_what_is_left(pool_path):
    with pmemobj.create(pool_path, pool_size=pmemobj.MIN_POOL_SIZE) as pool:
        pool.root = pool.new(PersistentList)
        with pytest.raises(PoolFullError) as e:
            while True:
                pool.root.append("x" * 5000)
        msg = str(e.value)
        assert "is full: an allocation of" in msg and "bytes free, the largest free block" in msg
        assert "pool_size=" in msg and pool_path in msg


def test_stats_agree_with_libpmemobj(pool_path):
    with pmemobj.create(pool_path, pool_size=32 << 20) as pool:
        d = pool.root = pool.new(PersistentDict)
        for k in range(3):
            d.update({i: "x" * (i % 300) for i in range(k * 5000, (k + 1) * 5000)})
            for i in range(k * 5000, k * 5000 + 2000, 3):
                del d[i]
            s = pool.stats()
            assert s["used_bytes"] == _core._ctl_stat(pool.mm, "stats.heap.run_allocated")    # no huge blocks
            runs = _core._heap_runs(pool.mm)
            assert sum(r[0] for r in runs.values()) * (256 << 10) == _core._ctl_stat(pool.mm, "stats.heap.run_active")
            assert s["used_bytes"] + s["free_bytes"] == s["heap_bytes"] < s["pool_size"]
            assert s["free_chunk_bytes"] <= s["free_bytes"] and s["largest_free_block"] <= s["free_bytes"]


def test_allocation_classes():
    sizes = _core.CLASS_SIZES
    assert sizes[0] == 16 and sizes[-1] == 16384 and list(sizes) == sorted(sizes)
    assert all(b / a <= 1.125 for a, b in zip(sizes[16:], sizes[17:]))       # at most 1/8 wasted
    for n in (4096, 3072, 224, 16384):                                       # table segments, a str
        assert n in sizes


def test_older_layouts_are_refused(pool_path):
    with pmemobj.create(pool_path) as pool:
        pool.root = 1
    with open(pool_path, "r+b") as f:
        data = f.read()
        at = data.index(b"PYMEMOBJ")                     # the root object: magic, then the version
        f.seek(at + 8)
        f.write((1).to_bytes(8, "little"))
    with pytest.raises(pmemobj.InvalidPoolError, match="layout version 1, written by an older"):
        pmemobj.open(pool_path)


# ---------------------------------------------------------------------------
# SIGKILL in the middle of transactions on large collections: the reopened pool
# holds exactly the committed transactions (replayed on models).

CRASH_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[2])
import pmemobj, test_capacity as t
path = sys.argv[1]
pool = pmemobj.open(path)
root = pool.root
i = root["n"]
while True:
    i += 1
    with pool.transaction():
        t.crash_work(i, root["l"], root["d"], root["s"])
        root["n"] = i
    print(i, flush=True)
"""


def crash_work(i, l, d, s):
    """Transaction i's work (the same on the pool and on the models)."""
    rng = __import__("random").Random(i)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(7)
        n = len(l)
        if op == 0:
            l.extend(_value(i * 10 ** 4 + k) for k in range(rng.randrange(1, 3 * BLOCK)))
        elif op == 1 and n:
            a = rng.randrange(n)
            del l[a:a + rng.randrange(2 * BLOCK)]
        elif op == 2:
            l.insert(rng.randrange(n + 1), _value(i))
        elif op == 3:
            d.update({rng.randrange(8000): _value(i + k) for k in range(rng.randrange(1, 2 * SEG))})
        elif op == 4 and d:
            for k in list(d)[rng.randrange(len(d))::3]:
                del d[k]
        elif op == 5:
            s.update(rng.randrange(8000) for _ in range(rng.randrange(SEG)))
        elif s:
            for x in sorted(s)[::2]:
                s.discard(x)
    while len(l) > 12 * BLOCK:
        del l[:4 * BLOCK]


def test_sigkill_during_transactions_on_large_collections(pool_path):
    import random
    from support import TESTS, killed_child
    with pmemobj.create(pool_path, pool_size=64 << 20) as pool:
        pool.root = pool.new(PersistentDict, l=pool.new(PersistentList), d=pool.new(PersistentDict),
                             s=pool.new(PersistentSet), n=0)
    rng = random.Random(5)
    for kill in range(6):
        killed_child(CRASH_CHILD, pool_path, TESTS, rng=rng)     # once it has committed one transaction
        with pmemobj.open(pool_path) as pool:
            root = pool.root
            l, d, s = [], {}, set()
            for i in range(1, root["n"] + 1):
                crash_work(i, l, d, s)
            assert list(root["l"]) == l
            assert list(root["d"].items()) == list(d.items())
            assert set(root["s"]) == s
            dry = pool.mm._gc(dry_run=True)
            assert dry["refcounts_wrong"] == 0 and dry["freed_total"] == 0, dry
            del root


# ---------------------------------------------------------------------------
# Sizes above the largest allocation class (pmemobj/_heap.pxi): libpmemobj's
# default classes would serve them from runs of up to 16 chunks (4 MiB), which
# a small pool does not have although its free space is much larger.

@pytest.mark.parametrize("n", [(16 << 10) + 1, 26 << 10, 64 << 10, 100 << 10, 200 << 10, 256 << 10,
                               300 << 10, 512 << 10, 1 << 20, 2 << 20, (5 << 19) - 16, 5 << 19, 3 << 20])
def test_a_fresh_small_pool_takes_any_size_that_fits(pool_path, n):
    with pmemobj.create(pool_path, pool_size=8 << 20) as pool:
        assert pool.stats()["largest_free_block"] >= n
        with pool.transaction():
            oid = pool.mm.alloc(n)
        assert pool.mm.usable_size(oid) >= n
        with pool.transaction():
            pool.mm.free(oid)


def test_sizes_from_64k_to_3m_in_a_fresh_small_pool(pool_path):
    for n in list(range(64 << 10, 3 << 20, 37 << 10)) + [3 << 20]:
        if os.path.exists(pool_path):
            os.unlink(pool_path)
        with pmemobj.create(pool_path, pool_size=8 << 20) as pool:
            with pool.transaction():
                pool.mm.alloc(n)


def test_large_blocks_fill_a_pool_and_free_their_chunks(pool_path):
    with pmemobj.create(pool_path, pool_size=8 << 20) as pool:
        mm = pool.mm
        for n in (1 << 20, 300 << 10, 100 << 10, 26 << 10, 3 << 20):
            got = []
            with pytest.raises(PoolFullError):
                while True:
                    with pool.transaction():
                        got.append(mm.alloc(n))
            assert len(got) * n >= 2 << 20                   # most of the 4.4 MB heap
            with pool.transaction():
                for oid in got:
                    mm.free(oid)
        with pool.transaction():                            # the chunks were given back
            mm.free(mm.alloc(3 << 20))



# ---------------------------------------------------------------------------
# A fragmented heap (pmemobj/_heap.pxi, _alloc_in_any_class): after strings of
# 100 to 2,100 bytes filled a pool and half of them were deleted, about 40
# classes hold partly used runs and no chunk is free.  A request whose class
# is full is served from a range of free units of another class's run (one
# block of up to 64 units in one word of its bitmap: libpmemobj does not split
# objects); stats() names the largest block that can be had.

def _fragment(pool_path, seed, kind=PersistentDict):
    import random
    rnd = random.Random(seed)
    pool = pmemobj.create(pool_path, pool_size=32 << 20)
    c = pool.root = pool.new(kind)
    i = 0
    with pytest.raises(PoolFullError):
        while True:
            with pool.transaction():
                for _ in range(200):
                    if kind is PersistentDict:
                        c[i] = "x" * rnd.randint(100, 2100)
                    else:
                        c.append("x" * rnd.randint(100, 2100))
                    i += 1
    if kind is PersistentDict:
        gone = rnd.sample(list(c.keys()), len(c) // 2)
    else:
        gone = sorted(rnd.sample(range(len(c)), len(c) // 2), reverse=True)
    for k in range(0, len(gone), 50):
        with pool.transaction():
            for j in gone[k:k + 50]:
                del c[j]
    return pool


@pytest.mark.parametrize("seed", [1, 3])
def test_a_fragmented_pool_serves_mid_sizes(pool_path, seed):
    pool = _fragment(pool_path, seed)
    try:
        s = pool.stats()
        assert s["free_bytes"] > 14 << 20                       # half of the data went
        assert s["largest_free_block"] >= 32 << 10
        # before: every size from 12,000 bytes up failed with 17.9 MB free
        for n in (12000, 16384, 16385, 32768):
            with pool.transaction():
                oid = pool.mm.alloc(n)
                assert pool.mm.usable_size(oid) >= n
                pool.mm.free(oid)
        with pool.transaction():                                 # a dict's table segment of 16 KiB, many times
            d = pool.new(PersistentDict, {i: i for i in range(3000)})
        assert len(d) == 3000
    finally:
        pool.close()


@pytest.mark.parametrize("seed,kind", [(2, PersistentDict), (4, PersistentDict), (2, PersistentList)])
def test_a_fragmented_pool_serves_what_its_stats_promise(pool_path, seed, kind):
    import random
    pool = _fragment(pool_path, seed, kind)
    rnd = random.Random(seed)
    try:
        sizes = sorted({rnd.randint(1, 300 << 10) for _ in range(40)} | {12000, 16384, 114784, 114785, 262128})
        for n in sizes:
            largest = pool.stats()["largest_free_block"]
            try:
                with pool.transaction():
                    pool.mm.free(pool.mm.alloc(n))
            except PoolFullError as e:
                assert n > largest, (n, largest, str(e))
                assert "the largest free block" in str(e)
            else:
                assert n <= largest, (n, largest)
    finally:
        pool.close()


def test_an_empty_run_its_class_holds_is_not_a_free_chunk(pool_path):
    # A class keeps its run even when empty: inside a transaction it serves
    # only that class, and a request for whole chunks cannot have it.  After
    # the transaction in which an allocation failed, the runs are recycled
    # (pmemobj_defrag with no objects) and the next transaction gets the chunk.
    with pmemobj.create(pool_path, pool_size=8 << 20) as pool:
        mm = pool.mm
        big = []
        with pytest.raises(PoolFullError):
            while True:
                with pool.transaction():
                    big.append(mm.alloc(200 << 10))             # whole chunks until none is left
        with pool.transaction():
            mm.free(big.pop())                                  # one free chunk
        with pool.transaction():
            small = [mm.alloc(100) for _ in range(1000)]         # it becomes a run of the 112-byte class
        assert pool.stats()["free_chunk_bytes"] == 0
        with pool.transaction():
            for off in small:
                mm.free(off)
        s = pool.stats()
        assert s["empty_run_bytes"] >= 256 << 10 and s["free_chunk_bytes"] == 0
        assert s["largest_free_block"] < 200 << 10
        with pytest.raises(PoolFullError) as e:
            with pool.transaction():
                mm.alloc(200 << 10)
        assert "empty runs" in str(e.value)
        s = pool.stats()                                         # recycled when that transaction ended
        assert s["empty_run_bytes"] == 0 and s["free_chunk_bytes"] >= 256 << 10
        assert s["largest_free_block"] >= 200 << 10
        with pool.transaction():
            mm.free(mm.alloc(200 << 10))
