"""Workloads of this project's pmemobj, through its public API.

Each timed loop is written out inline, as user code would be: a helper call per operation
would add a Python function call to every figure.

    python3 benchmarks/workloads_pmemobj.py WORKLOAD [--dir /dev/shm] [-n N] [--repeats R]
"""

import contextlib
import os
import sys
from time import perf_counter_ns

from common import POOL_SIZE, Unsupported, main, measure, scratch_dir

try:
    import pmemobj
except ImportError as e:  # the runner reports this as a skip, with the reason
    pmemobj = None
    IMPORT_ERROR = e


@contextlib.contextmanager
def new_pool(dir, name):
    if pmemobj is None:
        raise Unsupported("cannot import pmemobj: %s" % IMPORT_ERROR)
    with scratch_dir(dir, "pmemobj-" + name) as d:
        pool = pmemobj.create(os.path.join(d, name + ".pool"), pool_size=POOL_SIZE)
        try:
            yield pool
        finally:
            pool.close()


def mode_of(pool):
    is_pmem = bool(pool.is_pmem)
    return {"is_pmem": is_pmem, "durability": "CPU cache flushes" if is_pmem else "msync per flush"}


def empty_tx(dir, n, repeats=3):
    with new_pool(dir, "empty_tx") as pool:

        def trial(k):
            t0 = perf_counter_ns()
            for _ in range(k):
                with pool.transaction():
                    pass
            return perf_counter_ns() - t0

        return dict(measure(trial, n, repeats), **mode_of(pool))


def alloc_free_64(dir, n, repeats=3):
    with new_pool(dir, "alloc_free_64") as pool:
        mm = pool.mm

        def trial(k):
            t0 = perf_counter_ns()
            for _ in range(k):
                with pool.transaction():
                    oid = mm.alloc(64)
                    mm.free(oid)
            return perf_counter_ns() - t0

        return dict(measure(trial, n, repeats), **mode_of(pool))


def root_assign_int(dir, n, repeats=3):
    with new_pool(dir, "root_assign_int") as pool:

        def trial(k):
            t0 = perf_counter_ns()
            for i in range(k):
                pool.root = i
            return perf_counter_ns() - t0

        return dict(measure(trial, n, repeats), **mode_of(pool))


def dict_insert_int(dir, n, repeats=3):
    """d[i] = i for new keys, each insert its own transaction; a fresh dict per repeat."""
    if pmemobj is not None and not hasattr(pmemobj, "PersistentDict"):
        raise Unsupported("pmemobj has no PersistentDict yet")
    with new_pool(dir, "dict_insert_int") as pool:

        def trial(k):
            pool.root = d = pool.new(pmemobj.PersistentDict)
            t0 = perf_counter_ns()
            for i in range(k):
                d[i] = i
            elapsed = perf_counter_ns() - t0
            pool.root = None
            return elapsed

        return dict(measure(trial, n, repeats), **mode_of(pool))


WORKLOADS = {
    "empty_tx": empty_tx,
    "alloc_free_64": alloc_free_64,
    "root_assign_int": root_assign_int,
    "dict_insert_int": dict_insert_int,
}

if __name__ == "__main__":
    sys.exit(main("pmemobj", WORKLOADS))
