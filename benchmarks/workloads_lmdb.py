"""Peer workloads: LMDB (py-lmdb) opened with sync=True, one write transaction per operation.

Keys and values are the 8-byte little-endian encoding of the int, the cheapest a user of a
bytes-only store can do.
"""

import os
import sys
from time import perf_counter_ns

import lmdb

from common import main, measure, scratch_dir

DURABILITY = "sync=True: fsync/msync per commit"
MAP_SIZE = 1 << 30


def dict_insert_int(dir, n, repeats=3):
    """d[i] = i for new keys, each in its own transaction; a fresh database per repeat."""
    with scratch_dir(dir, "lmdb") as d:
        # a named database per trial (the warm-up is one more)
        env = lmdb.open(os.path.join(d, "env"), map_size=MAP_SIZE, sync=True, metasync=True, max_dbs=repeats + 1)
        try:
            state = {"db": 0}

            def trial(k):
                state["db"] += 1
                db = env.open_db(b"d%d" % state["db"])
                begin = env.begin
                t0 = perf_counter_ns()
                for i in range(k):
                    key = i.to_bytes(8, "little", signed=True)
                    with begin(write=True, db=db) as txn:
                        txn.put(key, key)
                return perf_counter_ns() - t0

            result = measure(trial, n, repeats)
        finally:
            env.close()
    return dict(result, is_pmem=None, durability=DURABILITY, lmdb=lmdb.__version__)


WORKLOADS = {"dict_insert_int": dict_insert_int}

if __name__ == "__main__":
    sys.exit(main("lmdb", WORKLOADS))
