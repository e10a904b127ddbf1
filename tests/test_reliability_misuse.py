"""Misuse across the three packages: proxies after close, after their object
was deleted, from another thread during a transaction, across two pools;
nested transaction patterns; 8 threads on shared collections.  Never a crash,
always a clear exception.  The misuse runs in a child interpreter."""
import threading
import time

import pytest

import pmemobj
from pmemobj import PersistentDict, PersistentList, PersistentSet
from support import assert_no_signal, run_python

import torture

MISUSE = r"""
import gc, os, sys, threading, pmemobj, torture
from pmemobj import (PersistentDict, PersistentList, PersistentSet, PersistentFrozenSet, PersistentTuple,
                     TransactionError)
d = sys.argv[1]
results = {}

def outcome(name, fn):
    try:
        fn()
        results[name] = "ok"
    except Exception as e:
        results[name] = type(e).__name__

def make_all(pool, s):
    R = pool.root = pool.new(PersistentDict)
    R["dict"] = pool.new(PersistentDict, {"a": 1})
    R["list"] = pool.new(PersistentList, [1, "two"])
    R["set"] = pool.new(PersistentSet, {1, 2})
    R["fset"] = pool.new(PersistentFrozenSet, {1, 2})
    R["tuple"] = pool.new(PersistentTuple, (1, "x"))
    R["obj"] = o = pool.new(torture.Rec)
    o.a0 = "value"
    R["array"] = torture.PointArray.build(torture.points(3, "a"), pool=pool)
    R["struct"] = torture.POINT.pack_to_pool(torture.Point(1, "s"), pool)
    r = s.root
    r.entries = s.schema.Entries([s.schema.Entry(n=1, text=b"t")])
    r.byKey = s.schema.ByKey(4)
    r.byKey[b"k"] = s.schema.Entry(n=2, text=b"u")
    r.keys = s.schema.Keys(4)
    r.keys.add(b"k")
    r.label = b"label"
    return {k: R[k] for k in R.keys()}, {"ptypes root": r, "ptypes list": r.entries, "ptypes dict": r.byKey,
        "ptypes set": r.keys, "ptypes struct": r.entries[0], "ptypes bytestring": r.label,
        "ptypes int": r.count if hasattr(r, "count") else r.last, "ptypes registry": s.stringRegistry}

READS = {
    "dict": lambda x: x["a"], "list": lambda x: x[0], "set": lambda x: 1 in x, "fset": lambda x: len(x),
    "tuple": lambda x: x[0], "obj": lambda x: x.a0, "array": lambda x: x[0].a, "struct": lambda x: x.a,
    "ptypes root": lambda x: x.last.contents, "ptypes list": lambda x: len(x), "ptypes dict": lambda x: x[b"k"],
    "ptypes set": lambda x: b"k" in x, "ptypes struct": lambda x: x.n.contents,
    "ptypes bytestring": lambda x: x.contents, "ptypes int": lambda x: x.contents,
    "ptypes registry": lambda x: len(x),
}
WRITES = {
    "dict": lambda x: x.__setitem__("b", 2), "list": lambda x: x.append(3), "set": lambda x: x.add(3),
    "obj": lambda x: setattr(x, "a1", 5), "ptypes root": lambda x: setattr(x, "last", 9),
    "ptypes list": lambda x: x.pop(), "ptypes dict": lambda x: x.__delitem__(b"k"),
    "ptypes set": lambda x: x.add(b"z"), "ptypes struct": lambda x: setattr(x, "n", 3),
    "ptypes int": lambda x: x.inc(), "ptypes registry": lambda x: x.get(b"new"),
}

# -- use after close ---------------------------------------------------------
pool = pmemobj.create(os.path.join(d, "a.pool"))
s = torture.Journal(os.path.join(d, "a.storage"))
pm, pt = make_all(pool, s)
pool.close()
proxies = dict(pm)
for k, x in pm.items():
    outcome("closed read " + k, lambda: READS[k](x))
    if k in WRITES:
        outcome("closed write " + k, lambda: WRITES[k](x))
outcome("closed pool root", lambda: pool.root)
outcome("closed pool transaction", lambda: pool.transaction())
outcome("closed pool new", lambda: pool.new(PersistentList))
outcome("closed pool gc", lambda: pool.gc())
outcome("closed pool close again", lambda: pool.close())
outcome("storage close with proxies", lambda: s.close())
s._pool.close()            # close under the proxies' feet: they must still fail cleanly
for k, x in pt.items():
    outcome("closed read " + k, lambda: READS[k](x))
    if k in WRITES:
        outcome("closed write " + k, lambda: WRITES[k](x))

# -- deleted objects stay valid while Python holds them -----------------------
pool = pmemobj.open(os.path.join(d, "a.pool"))
R = pool.root
held = {k: R[k] for k in ("dict", "list", "set", "obj", "array")}
for k in held:
    del R[k]
for k, x in held.items():
    outcome("deleted read " + k, lambda: READS[k](x))
    if k in WRITES:
        outcome("deleted write " + k, lambda: WRITES[k](x))
R["list again"] = held["list"]           # stored again: alive for good
del held
gc.collect()
outcome("stored again read", lambda: R["list again"][2])
dry = pool.mm._gc(dry_run=True)
results["deleted gc"] = (dry["freed_total"] > 0, dry["refcounts_wrong"])   # the others are garbage now

# -- objects of an aborted transaction -------------------------------------
try:
    with pool.transaction():
        ghost = pool.new(PersistentList, [1])
        ghost_obj = pool.new(torture.Rec)
        ghost_arr = torture.PointArray.build(torture.points(2, "g"), pool=pool)
        raise KeyError
except KeyError:
    pass
outcome("aborted list read", lambda: ghost[0])
outcome("aborted list write", lambda: ghost.append(1))
outcome("aborted object read", lambda: ghost_obj.a0)
outcome("aborted array read", lambda: ghost_arr[0])
outcome("aborted store", lambda: R.__setitem__("ghost", ghost))

# -- two pools -----------------------------------------------------------------
pool_b = pmemobj.create(os.path.join(d, "b.pool"))
RB = pool_b.root = pool_b.new(PersistentDict)
for k in ("dict", "list", "set", "obj", "array", "struct", "tuple", "fset"):
    pool_a_obj = R.get(k) if k in R else pool.new(PersistentList)
    outcome("cross-pool store " + k, lambda: RB.__setitem__("x", R[k] if k in R else pool_a_obj))
outcome("cross-pool list append", lambda: RB.setdefault("l", pool_b.new(PersistentList)).append(R["list again"]))
outcome("cross-pool set add", lambda: pool_b.new(PersistentSet).add(R["list again"]))
outcome("cross-pool root", lambda: setattr(pool_b, "root", R["list again"]))
outcome("cross-pool attribute", lambda: setattr(pool_b.new(torture.Rec), "a0", R["list again"]))
def nested_pools():
    with pool.transaction():
        with pool_b.transaction():
            pass
outcome("transaction on b inside a", nested_pools)
s = torture.Journal(os.path.join(d, "a.storage"))
outcome("ptypes object into pmemobj pool", lambda: RB.__setitem__("p", s.root.entries))
outcome("pmemobj object into ptypes list", lambda: s.root.entries.append(R["list again"]))

# -- nested transaction patterns ---------------------------------------------
def write_on_after_inner_failure():
    with pool.transaction():
        R["n1"] = 1
        try:
            with pool.transaction():
                R["n2"] = 2
                raise ValueError
        except ValueError:
            pass
        R["n3"] = 3
outcome("write on after inner failure", write_on_after_inner_failure)
results["after inner failure"] = sorted(k for k in ("n1", "n2", "n3") if k in R)
def close_inside():
    with pool.transaction():
        R["c"] = 1
        pool.close()
outcome("close inside transaction", close_inside)
results["after close inside"] = ("c" in R, pool.closed)
def gc_inside():
    with pool.transaction():
        pool.gc()
outcome("gc inside transaction", gc_inside)
def missing_keys_inside():
    r = s.root
    with s.transaction():
        r.keys.discard(b"missing")
        r.byKey.pop(b"missing", None)
        try:
            del r.byKey[b"missing"]
        except KeyError:
            pass
        try:
            r.byKey.pop(b"missing")
        except KeyError:
            pass
        r.last = 77             # the transaction goes on: a lookup failure dooms nothing
outcome("ptypes missing keys inside transaction", missing_keys_inside)
results["after missing keys"] = s.root.last.contents
def storage_close_inside():
    with s.transaction():
        s.root.last = 5
        gc.collect()
        s.close()
outcome("storage close inside transaction", storage_close_inside)
class Boom(torture.Rec):
    def __init__(self):
        self.a0 = "set before the failure"
        raise RuntimeError("init failed")
pool.gc()
outcome("failing __init__", lambda: pool.new(Boom))
results["after failing init"] = pool.mm._gc(dry_run=True)["freed_total"]

# -- another thread during a transaction: it waits for the pool lock ----------
order = []
inside = threading.Event()
def other():
    inside.wait()
    R["from thread"] = 1          # blocks until the main thread's transaction ends
    order.append("thread wrote")
t = threading.Thread(target=other)
t.start()
with pool.transaction():
    R["main"] = 1
    inside.set()
    t.join(0.3)
    order.append("main committed")
t.join(10)
results["thread order"] = order
pool.close()
pool_b.close()
gc.collect()
s.close()
results["check a"] = pmemobj.check_file(os.path.join(d, "a.pool"))
print(repr(results))
"""


@pytest.fixture(scope="module")
def misuse(tmp_path_factory):
    d = tmp_path_factory.mktemp("misuse", numbered=True)
    proc = run_python(MISUSE, str(d), timeout=120)
    assert_no_signal(proc)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return eval(proc.stdout)


def test_use_after_close(misuse):
    closed = {k: v for k, v in misuse.items() if k.startswith("closed ")}
    assert len(closed) > 30
    wrong = {k: v for k, v in closed.items() if v != "ValueError" and k != "closed pool close again"}
    assert not wrong, wrong
    assert misuse["closed pool close again"] == "ok"
    assert misuse["storage close with proxies"] == "ValueError"


def test_deleted_objects_stay_valid_while_held(misuse):
    deleted = {k: v for k, v in misuse.items() if k.startswith("deleted ") and k != "deleted gc"}
    assert deleted and set(deleted.values()) == {"ok"}, deleted
    assert misuse["stored again read"] == "ok"
    assert misuse["deleted gc"] == (True, 0)


def test_objects_of_an_aborted_transaction(misuse):
    for k in ("aborted list read", "aborted list write", "aborted object read", "aborted array read",
              "aborted store"):
        assert misuse[k] == "ValueError", (k, misuse[k])


def test_two_pools(misuse):
    cross = {k: v for k, v in misuse.items() if k.startswith("cross-pool")}
    assert set(cross.values()) == {"TypeError"}, cross
    assert misuse["transaction on b inside a"] == "TransactionError"
    assert misuse["ptypes object into pmemobj pool"] == "TypeError"
    assert misuse["pmemobj object into ptypes list"] == "TypeError"


def test_nested_transaction_patterns(misuse):
    assert misuse["write on after inner failure"] == "TransactionError"
    assert misuse["after inner failure"] == []
    assert misuse["close inside transaction"] == "TransactionError"
    assert misuse["after close inside"] == (False, False)
    assert misuse["gc inside transaction"] == "TransactionError"
    assert misuse["storage close inside transaction"] == "TransactionError"
    assert misuse["ptypes missing keys inside transaction"] == "ok"
    assert misuse["after missing keys"] == 77
    assert misuse["failing __init__"] == "RuntimeError"
    assert misuse["after failing init"] == 0


def test_other_thread_waits_for_the_transaction(misuse):
    assert misuse["thread order"] == ["main committed", "thread wrote"]
    assert misuse["check a"] is True


# ---------------------------------------------------------------------------
# 8 threads on shared collections

THREADS = 8
PER_THREAD = 1500           # transactions per thread at most: the log must fit the pool


@pytest.mark.crash
def test_threads_on_shared_collections(pool_path):
    with pmemobj.create(pool_path) as pool:
        R = pool.root = pool.new(PersistentDict)
        R["count"] = 0
        R["log"] = pool.new(PersistentList)
        R["members"] = pool.new(PersistentSet)
        R["by_thread"] = pool.new(PersistentDict)
        stop = time.monotonic() + 2.0
        errors, done = [], [0] * THREADS

        def worker(t):
            i = 0
            try:
                while time.monotonic() < stop and i < PER_THREAD:
                    try:
                        with pool.transaction():
                            R["count"] += 1
                            R["log"].append((t, i))
                            R["members"].add((t, i))
                            R["by_thread"][t] = i
                            if i % 7 == 3:
                                raise KeyError("abort")      # rolled back: the same i again
                        i += 1
                    except KeyError:
                        R["by_thread"].setdefault(-1 - t, 0)
                        i += 1
                        with pool.transaction():            # the retry commits
                            R["count"] += 1
                            R["log"].append((t, i))
                            R["members"].add((t, i))
                            R["by_thread"][t] = i
                        i += 1
                done[t] = i
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not errors, errors
        check_threads(pool)
        total = R["count"]
        assert total > THREADS
    assert pmemobj.check_file(pool_path)
    with pmemobj.open(pool_path) as pool:
        check_threads(pool)
        assert pool.root["count"] == total


def check_threads(pool):
    R = pool.root
    log = list(R["log"])
    assert R["count"] == len(log) == len(R["members"]) == len(set(log))
    assert set(R["members"]) == set(log)
    for t in range(THREADS):
        mine = [i for (u, i) in log if u == t]
        assert mine == sorted(mine)                            # each thread's commits in order
        assert all(i % 7 != 3 for i in mine)                   # nothing of an aborted transaction
        if mine:
            assert R["by_thread"][t] == mine[-1]
    dry = pool.mm._gc(dry_run=True)
    assert dry["refcounts_wrong"] == 0 and dry["freed_total"] == 0, dry


def test_proxy_in_a_reference_cycle_is_freed(pool_path):
    with pmemobj.create(pool_path) as pool:
        R = pool.root = pool.new(PersistentDict)
        R["o"] = pool.new(torture.Rec)
        o = R["o"]
        o._v_self = o           # a volatile attribute: a reference cycle through the proxy
        del R["o"]              # refcount 0: the proxy keeps the object alive
        del o
        import gc
        gc.collect()
        with pool.transaction():        # orphans are freed when a transaction begins
            pass
        assert pool.mm._gc(dry_run=True)["freed_total"] == 0
