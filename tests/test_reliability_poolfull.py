"""A really full pool, for each kind of object: filling it ends in a clean
PoolFullError that rolls back the failing transaction; the pool stays
consistent; after deleting objects the space is usable again, and the state
survives a reopen.  A full pool is emptied in one transaction (the frees its
log has no room for are done after the commit), or rolled back intact."""
import gc
import os
import signal
import threading

import pytest

import pmemobj
from pmemobj import PersistentDict, PersistentList, PersistentSet, PoolFullError, _core
from support import run_python

import torture

TESTS = os.path.dirname(os.path.abspath(__file__))

POOL_SIZE = 16 << 20
SMALL_POOL = pmemobj.MIN_POOL_SIZE      # 8 MiB, libpmemobj's minimum
REFILL = {}                 # (kind, pool size) -> (objects that fit, objects deleted, objects that fit again)


def _str(pool, i):
    return "s%d-" % i + "x" * 1000


def _bytes(pool, i):
    return b"b%d-" % i + b"y" * 70000                      # just over 64 KiB


def _big(pool, i):
    return b"B%d-" % i + b"z" * (1 << 20)


def _list(pool, i):
    return pool.new(PersistentList, ["l%d" % i, i, 2 ** 70 + i])


def _object(pool, i):
    o = pool.new(torture.Rec)
    o.a0, o.a1 = i, "attribute %d" % i
    return o


def _array(pool, i):
    return torture.PointArray.build(torture.points(40, "a%d" % i), pool=pool)


def _dict(pool, i):
    return pool.new(PersistentDict, {"k%d" % j: j for j in range(8)})


KINDS = {"str": _str, "bytes_64k": _bytes, "bytes_1m": _big, "list": _list, "object": _object,
         "sharedbuffers_array": _array, "dict": _dict}


class Buckets:
    """Objects in lists of at most BUCKET items, so that filling the pool is
    limited by the objects, not by the growth of one huge list."""
    BUCKET = 256

    def __init__(self, pool, root):
        self.pool, self.root = pool, root

    def __len__(self):
        return sum(len(b) for b in self.root)

    def append(self, obj):
        if not len(self.root) or len(self.root[-1]) >= self.BUCKET:
            self.root.append(self.pool.new(PersistentList))
        self.root[-1].append(obj)

    def delete_last(self, n):
        # no proxy of a bucket is kept: a deleted bucket is freed at once
        with self.pool.transaction():
            while n:
                in_last = len(self.root[-1])
                k = min(n, in_last)
                if k == in_last:
                    del self.root[-1]
                else:
                    del self.root[-1][in_last - k:]
                n -= k


def fill(pool, items, make, start):
    """Add new objects (one transaction each) until the pool is full; returns how many fit."""
    i = start
    while True:
        n = len(items)
        try:
            with pool.transaction():
                items.append(make(pool, i))
        except PoolFullError:
            assert len(items) == n                  # the failing transaction left nothing
            return i - start
        i += 1


def make_room(delete_some, left, keep):
    """Delete down to *keep* objects, in transactions of growing size, halved
    when one raises PoolFullError (a deleting transaction still needs log room
    for the containers it changes)."""
    chunk = 1
    while left() > keep:
        try:
            delete_some(min(chunk, left() - keep))
            chunk *= 2
        except PoolFullError:
            assert chunk > 1, "a full pool refuses to free even one object"
            chunk //= 2


def assert_consistent(pool):
    gc.collect()
    with pool.transaction():
        pass
    dry = pool.mm._gc(dry_run=True)
    assert dry["refcounts_wrong"] == 0 and dry["freed_total"] == 0, dry


# A fresh 8 MiB pool cannot hold one object of about 200 KB to 2 MiB: libpmemobj
# allocates those in runs or chunks its small heap has no room for
# (test_small_pool_refuses_large_objects_cleanly).
LARGE = ("bytes_1m",)
CASES = [(k, POOL_SIZE) for k in sorted(KINDS)] + [(k, SMALL_POOL) for k in sorted(KINDS) if k not in LARGE]


@pytest.mark.parametrize("kind,size", CASES, ids=[f"{k}-{s >> 20}MiB" for k, s in CASES])
def test_fill_delete_refill(pool_path, kind, size):
    make = KINDS[kind]
    with pmemobj.create(pool_path, pool_size=size) as pool:
        items = Buckets(pool, pool.new(PersistentList))
        pool.root = items.root
        first = fill(pool, items, make, 0)
        assert first > 0
        assert_consistent(pool)
        make_room(items.delete_last, lambda: len(items), first // 2)
        gc.collect()
        assert_consistent(pool)
        again = fill(pool, items, make, first)
        # the space comes back (not all of it: libpmemobj keeps some for its own
        # logs and metadata, and large size classes fragment)
        assert again >= (first - first // 2) * 0.5, (first, again)
        REFILL[kind, size] = (first, first - first // 2, again)
        total = len(items)
        assert_consistent(pool)
    assert pmemobj.check_file(pool_path)
    with pmemobj.open(pool_path) as pool:
        assert len(Buckets(pool, pool.root)) == total
        assert_consistent(pool)


@pytest.mark.parametrize("kind", LARGE)
def test_small_pool_takes_large_objects_until_full(pool_path, kind):
    # a 1 MiB object takes 5 whole chunks of the 17 of the heap (libpmemobj's
    # default classes wanted a run of 16 chunks for it: none fitted)
    with pmemobj.create(pool_path, pool_size=SMALL_POOL) as pool:
        items = Buckets(pool, pool.new(PersistentList))
        pool.root = items.root
        n = fill(pool, items, KINDS[kind], 0)
        assert n >= 2, n
        assert fill(pool, items, _str, n) > 50         # smaller objects still fit the rest
        assert_consistent(pool)
    assert pmemobj.check_file(pool_path)


def fill_list_of_tuples(pool, items):
    """Append tuples, 100 per transaction, until the pool is full; returns the count."""
    try:
        while True:
            with pool.transaction():
                for i in range(100):
                    items.append((len(items), i))
    except PoolFullError:
        pass
    return len(items)


def top_up(pool, slot):
    """Fill what room is left with 1 KB strs (in buckets under pool.root[slot])."""
    return fill(pool, Buckets(pool, pool.root[slot]), _str, 0)


def reopen_consistent(pool_path):
    assert pmemobj.check_file(pool_path)
    pool = pmemobj.open(pool_path)
    assert pool.recovered is None               # closed cleanly: nothing left to the recovery gc
    assert_consistent(pool)
    return pool


def test_clearing_a_full_pool_in_one_transaction(pool_path):
    with pmemobj.create(pool_path, pool_size=POOL_SIZE) as pool:
        items = pool.root = pool.new(PersistentList)
        n = fill_list_of_tuples(pool, items)
        assert n > 1000
        items.clear()
        assert len(items) == 0 and pool.mm.deferred_frees == 0
        assert_consistent(pool)
        assert fill_list_of_tuples(pool, items) >= n * 0.9         # the space came back
    with reopen_consistent(pool_path) as pool:
        assert len(pool.root) >= n * 0.9


def _big_list(pool):
    lst = pool.new(PersistentList)
    return lst, lambda i: lst.append(("t%d" % i, i, 2 ** 70 + i)), lst.clear


def _big_dict(pool):
    d = pool.new(PersistentDict)
    def add(i):
        d["key %d" % i] = ("v%d" % i, pool.new(PersistentList, [i]))
    return d, add, d.clear


def _big_set(pool):
    st = pool.new(PersistentSet)
    return st, lambda i: st.add("member %d" % i), st.clear


def _nested(pool):
    """A dict of lists of objects holding strs, lists and a shared object."""
    shared = pool.new(torture.Rec)
    top = pool.new(PersistentDict, {"shared": shared})
    def add(i):
        group = top.get(i // 50)
        if group is None:
            group = top[i // 50] = pool.new(PersistentList)
        o = pool.new(torture.Rec)
        o.a0, o.a1, o.a2 = "attribute %d" % i, pool.new(PersistentList, [i, str(i)]), shared
        group.append(o)
    def delete():
        del pool.root["big"]
    return top, add, delete


BIG = {"list": _big_list, "dict": _big_dict, "set": _big_set, "nested": _nested}


def fill_big(pool, kind):
    """pool.root["big"]: a structure of `kind` grown until the pool is full, then the
    room left filled with small strs; returns a function deleting everything in it."""
    pool.root["small"] = pool.new(PersistentList)
    big, add, delete = BIG[kind](pool)
    pool.root["big"] = big
    i = 0
    try:
        while True:
            with pool.transaction():
                for _ in range(50):
                    add(i)
                    i += 1
    except PoolFullError:
        pass
    assert top_up(pool, "small") >= 0
    with pytest.raises(PoolFullError):          # really full: not even one small str fits
        with pool.transaction():
            pool.root["small"][-1].append(_str(pool, -1))
    return big, delete


def python_copy(big):
    if isinstance(big, PersistentDict):
        return {k: python_copy(v) for k, v in big.items()}
    if isinstance(big, PersistentList):
        return [python_copy(v) for v in big]
    if isinstance(big, PersistentSet):
        return set(big)
    if isinstance(big, torture.Rec):
        return ("Rec",) + tuple(python_copy(getattr(big, a, None)) for a in ("a0", "a1")) + (
            getattr(big, "a2", None) is not None,)
    if isinstance(big, tuple):
        return tuple(python_copy(v) for v in big)
    return big


@pytest.mark.parametrize("kind", sorted(BIG))
def test_deleting_a_big_structure_of_a_full_pool_in_one_transaction(pool_path, kind):
    with pmemobj.create(pool_path, pool_size=POOL_SIZE) as pool:
        pool.root = pool.new(PersistentDict)
        big, delete = fill_big(pool, kind)
        before = pool.mm._gc(dry_run=True)["kept_total"]
        del big
        with pool.transaction():
            delete()
        assert pool.mm.deferred_frees == 0
        assert_consistent(pool)
        after = pool.mm._gc(dry_run=True)["kept_total"]
        assert before - after > 1000, (before, after)
        # the space is usable again
        assert fill(pool, Buckets(pool, pool.root["small"]), _str, 10 ** 6) > 100
    with reopen_consistent(pool_path) as pool:
        if kind == "nested":
            assert "big" not in pool.root
        else:
            assert len(pool.root["big"]) == 0


@pytest.mark.parametrize("kind", sorted(BIG))
def test_an_aborted_clearing_of_a_full_pool_restores_everything(pool_path, kind):
    with pmemobj.create(pool_path, pool_size=POOL_SIZE) as pool:
        pool.root = pool.new(PersistentDict)
        big, delete = fill_big(pool, kind)
        expected = python_copy(big)
        n_small = len(Buckets(pool, pool.root["small"]))
        del big
        with pytest.raises(RuntimeError):
            with pool.transaction():
                delete()
                pool.root["small"].clear()
                raise RuntimeError("abort the clearing")
        assert pool.mm.deferred_frees == 0
        assert python_copy(pool.root["big"]) == expected
        assert len(Buckets(pool, pool.root["small"])) == n_small
        assert_consistent(pool)
    with reopen_consistent(pool_path) as pool:
        assert python_copy(pool.root["big"]) == expected
        assert len(Buckets(pool, pool.root["small"])) == n_small
        # and deleting works after the reopen
        with pool.transaction():
            BIG_DELETE[kind](pool)
        assert_consistent(pool)


BIG_DELETE = {"list": lambda pool: pool.root["big"].clear(), "dict": lambda pool: pool.root["big"].clear(),
              "set": lambda pool: pool.root["big"].clear(), "nested": lambda pool: pool.root.pop("big")}


def test_a_full_pool_is_cleared_in_one_transaction_again_after_reopen(pool_path):
    with pmemobj.create(pool_path, pool_size=POOL_SIZE) as pool:
        items = pool.root = pool.new(PersistentList)
        n = fill_list_of_tuples(pool, items)
        items.clear()
    for round in range(2):
        with reopen_consistent(pool_path) as pool:
            items = pool.root
            assert len(items) == 0
            assert fill_list_of_tuples(pool, items) >= n * 0.9
            with pool.transaction():
                items.clear()
            assert len(items) == 0 and pool.mm.deferred_frees == 0
            assert_consistent(pool)


def _clear_leaving_garbage(pool):
    """Clear a full pool's list in one transaction while the frees deferred past
    its full log cannot run yet (as if another thread were doing them)."""
    items = pool.root = pool.new(PersistentList)
    n = fill_list_of_tuples(pool, items)
    _core._hold_deferred_frees(pool.mm, True)
    items.clear()
    pending = pool.mm.deferred_frees
    assert pending > 100 and len(items) == 0
    dry = pool.mm._gc(dry_run=True)
    assert dry["freed_total"] == pending and dry["refcounts_wrong"] == 0, dry
    return n, pending


def test_deferred_frees_are_done_by_the_next_commit(pool_path):
    with pmemobj.create(pool_path, pool_size=POOL_SIZE) as pool:
        n, pending = _clear_leaving_garbage(pool)
        _core._hold_deferred_frees(pool.mm, False)
        with pool.transaction():
            pool.root.append(1)
        assert pool.mm.deferred_frees == 0
        assert_consistent(pool)
    with reopen_consistent(pool_path) as pool:
        assert list(pool.root) == [1]


@pytest.mark.parametrize("blocked", [False, True])
def test_deferred_frees_are_done_by_close(pool_path, blocked):
    with pmemobj.create(pool_path, pool_size=POOL_SIZE) as pool:
        n, pending = _clear_leaving_garbage(pool)
        if not blocked:
            _core._hold_deferred_frees(pool.mm, False)
        # close() frees them, or its gc does
    with reopen_consistent(pool_path) as pool:
        assert len(pool.root) == 0


def test_deferred_frees_left_at_close_go_to_the_gc_of_the_next_open(pool_path):
    with pmemobj.create(pool_path, pool_size=POOL_SIZE) as pool:
        n, pending = _clear_leaving_garbage(pool)
        pool.mm.close()                             # cannot free them: leaves the pool to gc
        assert pool.mm.deferred_frees == 0
    assert_recovered(pool_path, n, pending)


def assert_recovered(pool_path, n, pending):
    """The next open's gc freed the *pending* deferred frees; *n* objects fit again."""
    assert pmemobj.check_file(pool_path)
    with pmemobj.open(pool_path) as pool:
        assert pool.recovered["freed_total"] == pending
        assert len(pool.root) == 0
        assert_consistent(pool)
        assert fill_list_of_tuples(pool, pool.root) >= n * 0.9


def test_deferred_frees_survive_a_crash_as_garbage(pool_path):
    proc = run_python(f"""
import os, signal, sys
sys.path.insert(0, {TESTS!r})
import pmemobj
from pmemobj import _core
import test_reliability_poolfull as t
pool = pmemobj.create({pool_path!r}, pool_size=t.POOL_SIZE)
n, pending = t._clear_leaving_garbage(pool)
print(n, pending, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
""")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    n, pending = map(int, proc.stdout.split())
    assert_recovered(pool_path, n, pending)


def test_threads_clearing_a_full_pool_at_once(pool_path):
    """Four threads empty their lists of a full pool, one transaction each, and
    a fifth rolls its clearing back: the frees one thread defers are done by
    whichever thread frees the pool's deferred garbage."""
    with pmemobj.create(pool_path, pool_size=POOL_SIZE) as pool:
        lists = pool.root = pool.new(PersistentList, [pool.new(PersistentList) for _ in range(5)])
        i = 0
        try:
            while True:
                with pool.transaction():
                    for _ in range(100):
                        lists[i % 5].append((i, "t%d" % i))
                        i += 1
        except PoolFullError:
            pass
        kept = list(lists[4])
        errors = []
        def clear(k):
            try:
                with pool.transaction():
                    lists[k].clear()
                    if k == 4:
                        raise RuntimeError("roll back")
            except RuntimeError:
                pass
            except BaseException as e:
                errors.append(e)
        threads = [threading.Thread(target=clear, args=(k,)) for k in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert [len(lists[k]) for k in range(4)] == [0] * 4 and list(lists[4]) == kept
        assert pool.mm.deferred_frees == 0
        assert_consistent(pool)
    with reopen_consistent(pool_path) as pool:
        assert list(pool.root[4]) == kept


def test_orphans_of_a_full_pool_are_freed(pool_path):
    with pmemobj.create(pool_path, pool_size=POOL_SIZE) as pool:
        items = Buckets(pool, pool.new(PersistentList))
        pool.root = items.root
        fill(pool, items, _object, 0)
        held = [items.root[-3], items.root[-4]]       # proxies of two buckets
        del items.root[-4:-2]                         # refcount 0; alive while held
        del held                                      # orphans: freed when a transaction begins
        gc.collect()
        assert len(pool.mm.orphans) == 2
        # the two buckets and their objects are freed in the orphans' transaction
        # although the pool is full: the frees its log has no room for are done
        # after the commit
        try:
            with pool.transaction():
                items.append(_object(pool, -1))
        except PoolFullError:
            pass
        assert len(pool.mm.orphans) == 0 and pool.mm.deferred_frees == 0
        dry = pool.mm._gc(dry_run=True)
        assert dry["freed_total"] == 0 and dry["refcounts_wrong"] == 0, dry


def test_ptypes_storage_fills_cleanly(pool_path):
    from ptypes.storage import MIN_STORAGE_SIZE
    s = torture.Journal(pool_path, fileSize=MIN_STORAGE_SIZE)
    try:
        r = s.root
        r.entries = s.schema.Entries()
        n = 0
        with pytest.raises(PoolFullError):
            while True:
                with s.transaction():
                    r.entries.append(s.schema.Entry(n=n, text=b"t" * 60000))
                    r.last = n
                n += 1
        assert len(r.entries) == n and r.last.contents == n - 1
        def pop_some(k):
            with s.transaction():
                for _ in range(k):
                    r.entries.pop()
        make_room(pop_some, lambda: len(r.entries), n // 2)
        with s.transaction():
            r.entries.append(s.schema.Entry(n=-1, text=b"t" * 60000))
        assert r.entries[-1].n.contents == -1
        del r
        assert s.gc()["freed_total"] == 0
    finally:
        gc.collect()
        s.close()
    assert pmemobj.check_file(pool_path)
