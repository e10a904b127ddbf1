"""Peer workloads: pynvm 0.3.1 (nvm.pmemobj), the earlier Python binding of libpmemobj.

Runs with the python of its own venv (see peers.py):
    benchmarks/.venvs/pynvm/bin/python benchmarks/workloads_pynvm.py WORKLOAD [--dir D] [-n N]
"""

import contextlib
import ctypes
import ctypes.util
import os
import sys
from time import perf_counter_ns

from common import POOL_SIZE, main, measure, read_order, scratch_dir, text_key
from pool_workloads import pool_workloads

import nvm.pmemobj as po
from nvm.pmemobj.pool import ffi

_libpmem = ctypes.CDLL(ctypes.util.find_library("pmem") or "libpmem.so.1")
_libpmem.pmem_is_pmem.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


@contextlib.contextmanager
def new_pool(dir, name):
    with scratch_dir(dir, "pynvm-" + name) as d:
        pool = po.create(os.path.join(d, name + ".pool"), pool_size=POOL_SIZE)
        try:
            yield pool
        finally:
            try:
                pool.close()
            except Exception as e:
                # pynvm's close runs its gc, which can fail (KeyError in PersistentObjectPool.gc);
                # the timings are taken by then, and the pool file is discarded anyway
                print("pynvm: close() failed: %r" % e, file=sys.stderr)


def mode_of(pool):
    # pynvm exposes no mode; ask the libpmem it loaded about the pool's root object
    addr = int(ffi.cast("uintptr_t", pool._pmem_root))
    is_pmem = bool(_libpmem.pmem_is_pmem(addr, 16))
    return {"is_pmem": is_pmem, "durability": "CPU cache flushes" if is_pmem else "msync per flush"}


def dict_insert_int(dir, n, repeats=3):
    """d[i] = i for new keys, each insert its own transaction; a fresh dict per repeat.

    The dicts stay reachable until the pool is discarded: pynvm frees a dict in time quadratic
    in its size (3 s for 2,000 int items, 14 s for 4,000).
    """
    with new_pool(dir, "dict_insert_int") as pool:
        pool.root = dicts = pool.new(po.PersistentList)

        def trial(k):
            d = pool.new(po.PersistentDict)
            dicts.append(d)
            t0 = perf_counter_ns()
            for i in range(k):
                d[i] = i
            return perf_counter_ns() - t0

        return dict(measure(trial, n, repeats), **mode_of(pool))


def dict_insert_str(dir, n, repeats=3):
    """d[key] = i for new 20-character str keys, each insert its own transaction."""
    with new_pool(dir, "dict_insert_str") as pool:
        pool.root = dicts = pool.new(po.PersistentList)
        state = {"next": 0}

        def trial(k):
            d = pool.new(po.PersistentDict)
            dicts.append(d)
            first = state["next"]
            state["next"] += k
            keys = [text_key(i) for i in range(first, first + k)]
            t0 = perf_counter_ns()
            for i, key in enumerate(keys):
                d[key] = i
            return perf_counter_ns() - t0

        return dict(measure(trial, n, repeats), **mode_of(pool))


def dict_get_int(dir, n, repeats=3):
    """d[k] for existing int keys."""
    size, order = read_order(n)
    with new_pool(dir, "dict_get_int") as pool:
        with pool.transaction():
            pool.root = d = pool.new(po.PersistentDict)
            for i in range(size):
                d[i] = i

        def trial(k):
            ks = order[:k]
            t0 = perf_counter_ns()
            for key in ks:
                d[key]
            return perf_counter_ns() - t0

        return dict(measure(trial, n, repeats), **mode_of(pool))


def list_append_tx(dir, n, repeats=3):
    """n appends of small ints to a new PersistentList, all in one transaction.

    Each list stays reachable until the pool is discarded (freeing is slow in pynvm)."""
    with new_pool(dir, "list_append_tx") as pool:
        pool.root = lists = pool.new(po.PersistentList)

        def trial(k):
            t0 = perf_counter_ns()
            with pool.transaction():
                lst = pool.new(po.PersistentList)
                lists.append(lst)
                append = lst.append
                for i in range(k):
                    append(i & 1023)
            return perf_counter_ns() - t0

        return dict(measure(trial, n, repeats), **mode_of(pool))


def list_iter(dir, n, repeats=3):
    """Iterating over a PersistentList of n small ints (per item)."""
    with new_pool(dir, "list_iter") as pool:
        with pool.transaction():
            pool.root = lst = pool.new(po.PersistentList)
            for i in range(n):
                lst.append(i & 1023)

        def trial(k):
            t0 = perf_counter_ns()
            for _ in lst:
                pass
            return (perf_counter_ns() - t0) * k // n

        return dict(measure(trial, n, repeats), **mode_of(pool))


WORKLOADS = {
    **pool_workloads(new_pool, mode_of),
    "dict_insert_int": dict_insert_int,
    "dict_insert_str": dict_insert_str,
    "dict_get_int": dict_get_int,
    "list_append_tx": list_append_tx,
    "list_iter": list_iter,
}

if __name__ == "__main__":
    sys.exit(main("pynvm", WORKLOADS))
