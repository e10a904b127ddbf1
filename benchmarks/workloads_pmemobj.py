"""Workloads of this project's pmemobj, through its public API.

Each timed loop is written out inline, as user code would be: a helper call per operation
would add a Python function call to every figure.

    python3 benchmarks/workloads_pmemobj.py WORKLOAD [--dir /dev/shm] [-n N] [--repeats R]
"""

import contextlib
import os
import sys
from time import perf_counter_ns

from common import POOL_SIZE, Unsupported, main, measure, read_order, scratch_dir, text_key
from pool_workloads import pool_workloads

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


def _collections():
    if pmemobj is not None and not hasattr(pmemobj, "PersistentDict"):
        raise Unsupported("pmemobj has no persistent collections yet")


def dict_insert_str(dir, n, repeats=3):
    """d[key] = i for new 20-character str keys, each insert its own transaction."""
    _collections()
    with new_pool(dir, "dict_insert_str") as pool:
        state = {"next": 0}

        def trial(k):
            pool.root = d = pool.new(pmemobj.PersistentDict)
            first = state["next"]
            state["next"] += k
            keys = [text_key(i) for i in range(first, first + k)]
            t0 = perf_counter_ns()
            for i, key in enumerate(keys):
                d[key] = i
            elapsed = perf_counter_ns() - t0
            pool.root = None
            return elapsed

        return dict(measure(trial, n, repeats), **mode_of(pool))


def _filled_dict(pool, n, make_key):
    size, order = read_order(n)
    with pool.transaction():
        pool.root = d = pool.new(pmemobj.PersistentDict)
        for i in range(size):
            d[make_key(i)] = i
    return d, [make_key(i) for i in order]


def _dict_get(dir, n, repeats, make_key, name):
    _collections()
    with new_pool(dir, name) as pool:
        d, keys = _filled_dict(pool, n, make_key)

        def trial(k):
            ks = keys[:k]
            t0 = perf_counter_ns()
            for key in ks:
                d[key]
            return perf_counter_ns() - t0

        return dict(measure(trial, n, repeats), **mode_of(pool))


def dict_get_int(dir, n, repeats=3):
    """d[k] for existing int keys."""
    return _dict_get(dir, n, repeats, int, "dict_get_int")


def dict_get_bytes(dir, n, repeats=3):
    """d[k] for existing 20-byte bytes keys."""
    return _dict_get(dir, n, repeats, lambda i: text_key(i).encode(), "dict_get_bytes")


def list_append_tx(dir, n, repeats=3):
    """n appends of small ints to a new PersistentList, all in one transaction."""
    _collections()
    with new_pool(dir, "list_append_tx") as pool:

        def trial(k):
            pool.root = None
            t0 = perf_counter_ns()
            with pool.transaction():
                pool.root = lst = pool.new(pmemobj.PersistentList)
                append = lst.append
                for i in range(k):
                    append(i & 1023)
            return perf_counter_ns() - t0

        return dict(measure(trial, n, repeats), **mode_of(pool))


def list_iter(dir, n, repeats=3):
    """Iterating over a PersistentList of n small ints (per item)."""
    _collections()
    with new_pool(dir, "list_iter") as pool:
        with pool.transaction():
            pool.root = lst = pool.new(pmemobj.PersistentList)
            lst.extend(i & 1023 for i in range(n))

        def trial(k):
            t0 = perf_counter_ns()
            for _ in lst:
                pass
            return (perf_counter_ns() - t0) * k // n

        return dict(measure(trial, n, repeats), **mode_of(pool))


def list_iter_contents(dir, n, repeats=3):
    """The same as list_iter: each item is the number."""
    return list_iter(dir, n, repeats)


def field_inc(dir, n, repeats=3):
    """o.count += 1 on a PersistentObject attribute, its own transaction."""
    if pmemobj is not None and not hasattr(pmemobj, "PersistentObject"):
        raise Unsupported("pmemobj has no PersistentObject yet")
    with new_pool(dir, "field_inc") as pool:
        pool.root = o = pool.new(pmemobj.PersistentObject)
        o.count = 0

        def trial(k):
            t0 = perf_counter_ns()
            for _ in range(k):
                with pool.transaction():
                    o.count += 1
            return perf_counter_ns() - t0

        return dict(measure(trial, n, repeats), **mode_of(pool))


WORKLOADS = {
    **pool_workloads(new_pool, mode_of),
    "dict_insert_int": dict_insert_int,
    "dict_insert_str": dict_insert_str,
    "dict_get_int": dict_get_int,
    "dict_get_bytes": dict_get_bytes,
    "list_append_tx": list_append_tx,
    "list_iter": list_iter,
    "list_iter_contents": list_iter_contents,
    "field_inc": field_inc,
}

if __name__ == "__main__":
    sys.exit(main("pmemobj", WORKLOADS))
