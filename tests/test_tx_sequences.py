"""Transactions of many operations, compared with the builtins.

Each step of these state machines is a transaction of 1-50 random operations
(inserts, deletes, replacements of str/bytes/big-int/tuple values, new nested
collections, pops, collections moved and shared), committed or rolled back,
checked against a builtin model after every transaction and after reopen, with
gc's dry run finding no garbage and no wrong count.  Single calls in
transactions of their own cannot show what goes wrong when operations share a
transaction (libpmemobj hands a block freed in a transaction out again in the
same transaction, for one).
"""
import ctypes
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import pmemobj
from pmemobj import PersistentDict, PersistentList
from support import ROOT, TESTS
import txops

POOL_SIZE = 64 << 20


def _shm_dir():
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    return tempfile.mkdtemp(prefix="pmemobj-test-", dir=base)


class TxMachine(RuleBasedStateMachine):
    """Transactions of many operations on one collection of `kind` (or on a
    dict of nested collections for "mixed")."""
    kind = None

    def __init__(self):
        super().__init__()
        self.dir = _shm_dir()
        self.path = os.path.join(self.dir, "tx.pool")
        self.pool = pmemobj.create(self.path, pool_size=POOL_SIZE)
        self.model = txops.new_root(self.pool, self.kind)

    def teardown(self):
        self.pool.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(data=st.data(), abort=st.booleans())
    def transaction(self, data, abort):
        c = txops.DrawChooser(data.draw)
        n = c.int(1, 50)
        ops = txops.mixed_ops(c, n) if self.kind == "mixed" else txops.kind_ops(c, self.kind, n)
        abort_at = c.int(0, n) if abort else None
        self.model = txops.run_tx(self.pool, self.model, ops, abort_at)

    @rule()
    def reopen(self):
        self.pool.close()
        self.pool = pmemobj.open(self.path)
        assert self.pool.recovered is None          # closed cleanly

    @invariant()
    def same_and_clean(self):
        txops.assert_same(self.pool, self.model)
        txops.assert_clean_heap(self.pool)


SETTINGS = settings(max_examples=25, stateful_step_count=12, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _machine(kind):
    cls = type(f"{kind.title()}TxMachine", (TxMachine,), {"kind": kind})
    test = cls.TestCase
    test.settings = SETTINGS
    return test


TestListTransactions = _machine("list")
TestDictTransactions = _machine("dict")
TestSetTransactions = _machine("set")
TestObjectTransactions = _machine("object")
TestMixedTransactions = _machine("mixed")
TestMixedTransactions.settings = settings(SETTINGS, max_examples=40)


# ---------------------------------------------------------------------------

def test_free_and_allocate_twice_in_one_transaction(pool_path):
    """The first report: a freed str's block handed out again in the same
    transaction was taken for a second free of the first str."""
    pool = pmemobj.create(pool_path)
    with pool.transaction():
        pool.root = pool.new(PersistentDict)
        pool.root['items'] = pool.new(PersistentList)
    data = pool.root
    items = data['items']
    with pool.transaction():
        items.insert(0, 'v0.0')
        del items[0]
        data['k109'] = 'v0.2'
        del data['k109']
    assert dict(data) == {'items': items} and list(items) == []
    txops.assert_clean_heap(pool)
    pool.close()


def test_replacing_a_str_many_times_in_one_transaction(pool_path):
    pool = pmemobj.create(pool_path)
    pool.root = pool.new(PersistentDict, lst=pool.new(PersistentList, ["x"]), s=pool.new(pmemobj.PersistentSet))
    lst, d, s = pool.root["lst"], pool.root, pool.root["s"]
    with pool.transaction():
        for i in range(2000):
            lst[0] = f"value {i}"
            d["k"] = f"value {i}"
            s.discard(f"value {i - 1}")
            s.add(f"value {i}")
    assert lst[0] == d["k"] == "value 1999" and set(s) == {"value 1999"}
    txops.assert_clean_heap(pool)
    pool.close()


def test_a_real_double_free_is_still_refused(pool_path):
    """A damaged count (too low) would free an object twice in one transaction:
    InvalidPoolError, before libpmemobj sees the second free; the rollback
    leaves the pool as it was."""
    pool = pmemobj.create(pool_path)
    x = pool.new(PersistentList, ["payload"])
    pool.root = pool.new(PersistentList, [x, x])
    assert pool.mm.refcount(x._p_oid) == 2
    ctypes.c_uint64.from_address(pool.mm.direct(x._p_oid)).value = 1     # the damage
    del x
    with pytest.raises(pmemobj.InvalidPoolError, match="freed twice"):
        pool.root.clear()
    assert len(pool.root) == 2 and list(pool.root[0]) == ["payload"]
    pool.close()


@pytest.mark.parametrize("kind", ["list", "dict", "set", "object", "mixed"])
def test_long_transaction(tmpdir_shm, kind):
    """100,000 operations in one transaction: committed on one pool, rolled
    back on a copy of it; both checked after reopen."""
    n = 100_000 if kind != "mixed" else 20_000
    path = os.path.join(tmpdir_shm, "long.pool")
    pool = pmemobj.create(path, pool_size=512 << 20)
    model = txops.new_root(pool, kind)
    model = txops.run_tx(pool, model, txops.kind_ops(txops.seeded(1), kind, 300)
                         if kind != "mixed" else txops.mixed_ops(txops.seeded(1), 300))
    pool.close()
    copy_path = os.path.join(tmpdir_shm, "copy.pool")
    shutil.copy(path, copy_path)
    ops = (txops.mixed_ops(txops.seeded(2), n) if kind == "mixed"
           else txops.kind_ops(txops.seeded(2), kind, n))

    before = txops.canon(model)
    pool = pmemobj.open(copy_path)
    after_abort = txops.run_tx(pool, model, ops, abort_at=len(ops))
    assert txops.canon(pool.root) == txops.canon(after_abort) == before
    txops.assert_clean_heap(pool)
    pool.close()
    pool = pmemobj.open(copy_path)
    assert txops.canon(pool.root) == before
    pool.close()

    pool = pmemobj.open(path)
    model = txops.run_tx(pool, after_abort, ops)
    txops.assert_same(pool, model)
    txops.assert_clean_heap(pool)
    pool.close()
    pool = pmemobj.open(path)
    txops.assert_same(pool, model)
    pool.close()


# ---------------------------------------------------------------------------
# A child runs multi-operation transactions and is killed; every transaction
# whose commit returned is there in full, and nothing of a later one.

CHILD = """
import sys, pmemobj, txops
path, seed, kind, ntx = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
pool = pmemobj.open(path)
model = txops.new_root(pool, kind)
print("ready", flush=True)
for i, (ops, abort) in enumerate(txops.workload(seed, kind, ntx)):
    model = txops.run_tx(pool, model, ops, len(ops) // 2 if abort else None)
    print(i, flush=True)
"""


def _expected_states(seed, kind, upto, scratch):
    """canon() of the state after each of the first `upto` transactions of the child's workload."""
    pool = pmemobj.create(scratch, pool_size=POOL_SIZE)
    model = txops.new_root(pool, kind)
    states = [txops.canon(model)]
    for ops, abort in txops.workload(seed, kind, upto):
        model = txops.run_tx(pool, model, ops, len(ops) // 2 if abort else None)
        states.append(txops.canon(model))
    pool.close()
    return states


@pytest.mark.crash
@pytest.mark.parametrize("seed", range(6))
def test_sigkill_during_multi_operation_transactions(tmpdir_shm, seed):
    kind = ("mixed", "list", "dict", "mixed", "set", "object")[seed]
    rng = random.Random(seed)
    ntx = 100_000                                   # more than it can do before the kill
    path = os.path.join(tmpdir_shm, "crash.pool")
    pmemobj.create(path, pool_size=POOL_SIZE).close()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
    child = subprocess.Popen([sys.executable, "-c", CHILD, path, str(seed), kind, str(ntx)],
                             stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout.readline().strip() == "ready"
    target = rng.randint(5, 150)
    while int(child.stdout.readline()) < target:
        pass
    time.sleep(rng.random() * 0.004)                # somewhere inside a later transaction
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate()
    assert child.returncode == -signal.SIGKILL
    committed = int(out.split()[-1]) + 1 if out.split() else target + 1    # commits that returned
    states = _expected_states(seed, kind, committed + 1, os.path.join(tmpdir_shm, "scratch.pool"))

    pool = pmemobj.open(path)
    assert pool.recovered is not None               # not closed cleanly: gc ran at open
    got = txops.canon(pool.root)
    assert got in (states[committed], states[committed + 1]), committed
    txops.assert_clean_heap(pool)
    pool.close()
    assert pmemobj.check_file(path)
