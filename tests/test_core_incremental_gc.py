"""The incremental collector (pmemobj/_collect.pxi): the orphan and candidate
records, close() and crash recovery without a heap walk, trial deletion of
cycles, and its agreement with the full collector."""
import os
import signal
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import pmemobj
from pmemobj import PersistentDict, PersistentList, PersistentObject, PersistentSet
from support import ROOT, TESTS, assert_no_garbage, reopen


class Node(PersistentObject):
    pass


def records(pool):
    orphans, candidates, flags = pool.mm._records()
    return set(orphans), set(candidates), flags


def heap(pool):
    """What a dry run of the full collector keeps, by type: the pool's content."""
    return pool.mm._gc(dry_run=True)["kept"]


def off(obj):
    return obj._p_oid[1]


@pytest.fixture
def pool(pool_path):
    p = pmemobj.create(pool_path)
    with p.transaction():
        p.root = p.new(PersistentDict)
    yield p
    p.close()


# --------------------------------------------------------------------------
# the records


def test_new_object_is_an_orphan_until_linked(pool):
    with pool.transaction():
        lst = pool.new(PersistentList)
    assert off(lst) in records(pool)[0]
    with pool.transaction():
        pool.root["l"] = lst
    # an orphan of an earlier transaction, linked: no orphan, a candidate (it could
    # close a cycle with what it held while at count 0); the next collection keeps it
    assert off(lst) not in records(pool)[0] and off(lst) in records(pool)[1]
    assert pool.gc(full=False)["freed_total"] == 0
    assert records(pool)[:2] == (set(), set())
    with pool.transaction():
        pool.root["m"] = pool.new(PersistentList)
    # a new object linked in its own transaction by something that was there before: neither
    assert records(pool)[:2] == (set(), set())


def test_new_cycle_only_python_holds_is_a_candidate(pool):
    with pool.transaction():
        a, b = make_cycle(pool)
    assert {off(a), off(b)} <= records(pool)[1]
    del a, b
    assert pool.gc(full=False)["freed"]["pmemobj.collections.list.PersistentList"] == 2
    assert records(pool)[:2] == (set(), set())


def test_orphan_linked_later_into_a_cycle_is_a_candidate(pool):
    a = pool.new(PersistentList)
    b = pool.new(PersistentList, [a])       # b at count 0 holds a: the orphan record covers a
    a.append(b)                             # b linked (by a): the cycle only Python reaches
    assert off(b) in records(pool)[1]
    del a, b
    assert pool.gc(full=False)["freed"]["pmemobj.collections.list.PersistentList"] == 2
    assert_no_garbage(pool)


def test_new_tuple_closing_a_cycle_is_a_candidate(pool):
    with pool.transaction():
        lst = pool.new(PersistentList)
        lst.append((lst, "x"))
    del lst
    assert pool.gc(full=False)["freed"]["pmemobj.collections.list.PersistentList"] == 1
    assert_no_garbage(pool)


def test_object_linked_in_its_own_transaction_writes_no_orphan(pool):
    with pool.transaction():
        pool.root["l"] = pool.new(PersistentList, [1, 2])
    assert records(pool)[0] == set()


def test_popped_value_held_by_python_is_an_orphan(pool):
    with pool.transaction():
        pool.root["l"] = pool.new(PersistentList, [pool.new(PersistentList, ["x"])])
    with pool.transaction():
        inner = pool.root["l"].pop()
    assert off(inner) in records(pool)[0]
    with pool.transaction():
        pool.root["back"] = inner
    assert off(inner) not in records(pool)[0]


def test_aborted_transaction_leaves_records_as_they_were(pool):
    with pool.transaction():
        pool.root["l"] = pool.new(PersistentList, [pool.new(PersistentList)])
    before = records(pool)
    with pytest.raises(RuntimeError):
        with pool.transaction():
            pool.new(PersistentDict)
            pool.root["l"].pop()
            del pool.root["l"]
            pool.root["m"] = pool.new(PersistentList)
            raise RuntimeError("abort")
    assert records(pool) == before
    pool = reopen(pool)
    assert len(pool.root["l"]) == 1 and "m" not in pool.root
    assert_no_garbage(pool)
    pool.close()


def test_clean_close_leaves_no_orphan_behind(pool_path):
    pool = pmemobj.create(pool_path)
    with pool.transaction():
        pool.root = pool.new(PersistentDict)
        pool.root["l"] = pool.new(PersistentList, [pool.new(PersistentList)])
    keep = pool.new(PersistentList, ["never linked"])      # its proxy outlives close()
    with pool.transaction():
        popped = pool.root["l"].pop()
    assert len(records(pool)[0]) == 2
    pool.close()
    pool = pmemobj.open(pool_path)
    assert records(pool) == (set(), set(), 0)
    assert heap(pool).get("pmemobj.collections.list.PersistentList") == 1
    assert_no_garbage(pool)
    pool.close()
    del keep, popped


def test_close_after_one_write_does_not_walk_the_heap(pool):
    with pool.transaction():
        for i in range(200):
            pool.root[i] = str(i)
    pool = reopen(pool)
    with pool.transaction():
        pool.root[1] = "changed"
    report = pool.mm._collect(closing=True)
    assert report["scanned"] == 0 and report["freed_total"] == 0
    pool.close()


# --------------------------------------------------------------------------
# cycles


def make_cycle(pool, n=2):
    nodes = [pool.new(PersistentList) for _ in range(n)]
    for a, b in zip(nodes, nodes[1:] + nodes[:1]):
        a.append(b)
    return nodes


def test_dropped_cycle_is_freed_incrementally(pool):
    with pool.transaction():
        pool.root["c"] = make_cycle(pool, 3)[0]
    pool.gc(full=False)
    with pool.transaction():
        del pool.root["c"]
    report = pool.gc(full=False)
    assert report["freed"]["pmemobj.collections.list.PersistentList"] == 3
    assert report["full"] is False
    assert records(pool)[1] == set()
    assert_no_garbage(pool)


def test_cycle_held_by_python_is_kept_and_stays_a_candidate(pool):
    with pool.transaction():
        pool.root["c"] = make_cycle(pool)[0]
    with pool.transaction():
        held = pool.root.pop("c")
    assert pool.gc(full=False)["freed_total"] == 0
    assert off(held) in records(pool)[1]
    assert held[0][0] is held or held[0][0] == held
    del held
    assert pool.gc(full=False)["freed"]["pmemobj.collections.list.PersistentList"] == 2
    assert_no_garbage(pool)


def test_cycle_through_objects_dicts_sets_and_tuples(pool):
    with pool.transaction():
        a = pool.new(Node)
        d = pool.new(PersistentDict)
        lst = pool.new(PersistentList)
        a.d = d
        d["t"] = (lst, 1)
        lst.append(a)
        d["s"] = pool.new(PersistentSet, [1, (2, "x")])
        pool.root["a"] = a
    del a, d, lst
    with pool.transaction():
        del pool.root["a"]
    report = pool.gc(full=False)
    assert report["freed_total"] >= 4
    assert_no_garbage(pool)


def test_cycle_reachable_from_elsewhere_is_kept(pool):
    with pool.transaction():
        c = make_cycle(pool)
        pool.root["a"] = c[0]
        pool.root["b"] = pool.new(PersistentList, [c[1]])
    del c
    with pool.transaction():
        del pool.root["a"]
    assert pool.gc(full=False)["freed_total"] == 0
    assert len(pool.root["b"][0]) == 1
    assert_no_garbage(pool)


def test_a_count_too_low_is_refused_not_freed(pool_path):
    pool = pmemobj.create(pool_path)
    with pool.transaction():
        pool.root = pool.new(PersistentDict)
        a, b = make_cycle(pool)
        pool.root["h"] = pool.new(PersistentList, [a])
        pool.root["h2"] = pool.root["h"]
    with pool.transaction():
        del pool.root["h2"]              # the holder becomes a candidate
        pool.mm.decref(a._p_oid)         # damage: one reference too few (a candidate too)
    with pytest.raises(pmemobj.InvalidPoolError):
        pool.mm._collect()
    assert len(a) == 1 and len(b) == 1
    del a, b
    pool.close()                    # falls back on the full walk, which repairs the count
    pool = pmemobj.open(pool_path)
    a = pool.root["h"][0]
    assert a[0][0] == a
    del a
    assert_no_garbage(pool)
    pool.close()


# --------------------------------------------------------------------------
# agreement with the full collector, on random graphs with cycles


ops = st.lists(st.tuples(st.sampled_from(["link", "unlink", "new", "pop", "root", "drop"]),
                         st.integers(0, 7), st.integers(0, 7), st.booleans()), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(ops, st.booleans()), min_size=1, max_size=6))
def test_incremental_frees_what_full_frees(tmpdir_shm, steps):
    path = os.path.join(tmpdir_shm, "g.pool")
    if os.path.exists(path):
        os.unlink(path)
    pool = pmemobj.create(path)
    with pool.transaction():
        pool.root = pool.new(PersistentDict)
    held = {}
    for tx_ops, commit in steps:
        before = dict(held)
        try:
            with pool.transaction():
                for op, i, j, flag in tx_ops:
                    nodes = [v for v in pool.root.values()] + list(held.values())
                    if op == "new" or not nodes:
                        obj = pool.new(PersistentDict if flag else PersistentList)
                        if flag:
                            held[i] = obj
                        else:
                            pool.root[i] = obj
                        continue
                    a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
                    if op == "link":
                        if isinstance(a, PersistentList):
                            a.append(b)
                        else:
                            a[j] = b
                    elif op == "unlink" and len(a):
                        if isinstance(a, PersistentList):
                            del a[j % len(a)]
                        else:
                            del a[list(a)[j % len(a)]]
                    elif op == "pop" and len(pool.root):
                        k = list(pool.root)[i % len(pool.root)]
                        held[k] = pool.root.pop(k)
                    elif op == "root":
                        pool.root[i] = a
                    elif op == "drop":
                        held.pop(i, None)
                if not commit:
                    raise KeyError("abort")
        except KeyError:
            held = before            # what the rolled back transaction created is gone
        if flag_drop := (len(held) > 3):
            held.clear()
        del flag_drop
        # the incremental collection leaves nothing the full one would free or
        # repair, and frees nothing live (a dangling reference or a count too
        # high would show in the full collector's dry run)
        # what the process keeps of the records is what the pool holds
        assert pool.mm._records()[:2] == pool.mm._mirrors()[:2]
        pool.gc(full=False)
        check = pool.mm._gc(dry_run=True)
        assert check["freed_total"] == 0 and check["refcounts_wrong"] == 0, check
        for obj in held.values():
            len(obj)
    held.clear()
    pool.close()
    pool = pmemobj.open(path)
    assert records(pool) == (set(), set(), 0)
    assert pool.gc()["freed_total"] == 0
    pool.close()


# --------------------------------------------------------------------------
# crashes: the next open frees what the records name, and only that

CRASH_CHILD = r"""
import os, random, sys
import pmemobj
from pmemobj import PersistentDict, PersistentList
path, seed = sys.argv[1], int(sys.argv[2])
rnd = random.Random(seed)
pool = pmemobj.open(path)
root = pool.root
held = []
n = 0
while True:
    with pool.transaction():
        for _ in range(rnd.randint(1, 8)):
            r = rnd.random()
            if r < 0.3:
                a, b = pool.new(PersistentList), pool.new(PersistentList)
                a.append(b); b.append(a)
                root[rnd.randrange(50)] = a
            elif r < 0.5 and len(root):
                del root[rnd.choice(list(root))]
            elif r < 0.7:
                held.append(pool.new(PersistentDict, {"n": n}))
            elif r < 0.8 and len(root):
                held.append(root.pop(rnd.choice(list(root))))
            else:
                root[rnd.randrange(50)] = str(n) * rnd.randint(1, 30)
    n += 1
    if len(held) > 20:
        del held[:10]
    if n == 30:
        print("ready", flush=True)
"""


@pytest.mark.parametrize("seed", range(6))
def test_sigkill_then_open_collects_what_the_records_name(pool_path, seed):
    pool = pmemobj.create(pool_path)
    with pool.transaction():
        pool.root = pool.new(PersistentDict)
    pool.close()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
    child = subprocess.Popen([sys.executable, "-c", CRASH_CHILD, pool_path, str(seed)],
                             stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout.readline().strip() == "ready"
    import random
    import time
    time.sleep(random.Random(seed).uniform(0, 0.2))
    child.send_signal(signal.SIGKILL)
    child.wait()
    pool = pmemobj.open(pool_path)
    # the incremental collection; the full walk when the kill fell between a commit
    # that left the records stale and their rewrite (the pool's flag says so)
    assert pool.recovered is not None
    check = pool.mm._gc(dry_run=True)
    assert check["freed_total"] == 0, check          # nothing is left that is garbage
    assert check["refcounts_wrong"] == 0, check
    assert records(pool)[0] == set()
    pool.close()


def test_damaged_record_makes_open_run_the_full_collector(pool_path):
    pool = pmemobj.create(pool_path)
    with pool.transaction():
        pool.root = pool.new(PersistentDict)
        pool.root["c"] = make_cycle(pool)[0]
    with pool.transaction():
        del pool.root["c"]          # a garbage cycle the candidate record names
    pool.close()
    # an unclean session whose candidate record then reads as damaged
    code = f"""
import ctypes, os, pmemobj
pool = pmemobj.open({pool_path!r})
with pool.transaction():
    pool.root['c'] = pool.new(pmemobj.PersistentList)
    pool.root['c'].append(pool.root['c'])
with pool.transaction():
    del pool.root['c']
block = pool.mm._record_blocks()[1]
addr = pool.mm.direct((pool.mm.uuid_lo, block))
ctypes.c_uint64.from_address(addr).value = 1 << 40      # count past capacity
os._exit(0)
"""
    from support import run_python
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    pool = pmemobj.open(pool_path)
    assert pool.recovered["full"] is True
    assert pool.recovered["freed"].get("pmemobj.collections.list.PersistentList") == 1
    assert records(pool) == (set(), set(), 0)
    assert_no_garbage(pool)
    pool.close()
