"""SIGKILL a child in the middle of transactions: the reopened pool holds every
committed transaction in full, nothing of a partial one, and gc collects leaks."""
import random

import pytest

import pmemobj
from support import killed_child

CHILD = r"""
import sys, pmemobj
pool = pmemobj.open(sys.argv[1])
i = pool.root[0]
while True:
    i += 1
    with pool.transaction():
        pool.mm.alloc(128)                   # a leak: only gc can find it
        pool.root = expected(i)
        oid = pool.mm.persist("temp %d" % i)
        pool.mm.incref(oid)
        pool.mm.decref(oid)
    print(i, flush=True)
"""

EXPECTED = r"""
def expected(i):
    return (i, "s" * (i % 97), b"b" * (i % 7), 2 ** (64 + i % 30), tuple(range(i % 5)))
"""
exec(EXPECTED)


@pytest.mark.crash
def test_sigkill_mid_transaction(pool_path):
    with pmemobj.create(pool_path, pool_size=32 << 20) as pool:
        pool.root = expected(0)
    rng = random.Random(1234)
    last = 0
    for kill in range(8):
        # once it has committed something, killed at a random moment
        committed = [int(x) for x in killed_child(EXPECTED + CHILD, pool_path, rng=rng, delay=(0, 0.05)).split()]
        assert committed[0] == last + 1
        last = committed[-1]
        with pmemobj.open(pool_path) as pool:
            assert pool.recovered is not None, "the unclean shutdown was not detected"
            assert pool.recovered["freed_total"] >= 1     # the leaked allocations
            i = pool.root[0]
            assert i in (last, last + 1)     # the in-flight transaction may have committed
            assert pool.root == expected(i)
            assert pool.gc()["freed_total"] == 0
            last = i
