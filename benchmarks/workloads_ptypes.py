"""Workloads of this project's ptypes (typed schema on the same pools), through its public API.

    python3 benchmarks/workloads_ptypes.py WORKLOAD [--dir /dev/shm] [-n N] [--repeats R]
"""

import contextlib
import os
import sys
from time import perf_counter_ns

from common import (POOL_SIZE, SORTED_STEP, Unsupported, main, measure, read_order, scratch_dir,
                    sorted_values, text_key)

try:
    from ptypes.pcollections import SkipList
    from ptypes.storage import Dict, List, Storage
except ImportError as e:  # the runner reports this as a skip, with the reason
    Storage = None
    IMPORT_ERROR = e


def _storage_class():
    class BenchStorage(Storage):
        def populateSchema(self):
            self.define(List("Ints")[self.schema.Int])
            self.define(Dict("IntsByKey")[self.schema.ByteString, self.schema.Int])
            self.define(SkipList("SortedInts")[self.schema.Int])

            class Root(self.schema.Structure):
                count = self.schema.Int
                ints = self.schema.Ints
                byKey = self.schema.IntsByKey
                sorted = self.schema.SortedInts

    return BenchStorage


@contextlib.contextmanager
def new_storage(dir, name):
    if Storage is None:
        raise Unsupported("cannot import ptypes: %s" % IMPORT_ERROR)
    with scratch_dir(dir, "ptypes-" + name) as d:
        p = _storage_class()(os.path.join(d, name + ".ptypes"), fileSize=POOL_SIZE)
        try:
            yield p
        finally:
            p.close()


def mode_of(p):
    # the mode libpmem detected for the storage's pool (ptypes exposes no public attribute)
    is_pmem = bool(p._pool.is_pmem)
    return {"is_pmem": is_pmem, "durability": "CPU cache flushes" if is_pmem else "msync per flush"}


def field_inc(dir, n, repeats=3):
    """root.count.inc(): an Int field += 1, its own transaction."""
    with new_storage(dir, "field_inc") as p:
        count = p.root.count

        def trial(k):
            inc = count.inc
            t0 = perf_counter_ns()
            for _ in range(k):
                inc()
            return perf_counter_ns() - t0

        result = dict(measure(trial, n, repeats), **mode_of(p))
        del count
    return result


def list_append_tx(dir, n, repeats=3):
    """n appends of small ints to a new List, all in one transaction."""
    with new_storage(dir, "list_append_tx") as p:
        root = p.root

        def trial(k):
            t0 = perf_counter_ns()
            with p.transaction():
                root.ints = lst = p.schema.Ints()
                append = lst.append
                for i in range(k):
                    append(i & 1023)
            return perf_counter_ns() - t0

        result = dict(measure(trial, n, repeats), **mode_of(p))
        del root
    return result


def _list_iter(dir, n, repeats, read):
    with new_storage(dir, "list_iter") as p:
        with p.transaction():
            p.root.ints = lst = p.schema.Ints()
            lst.extend(i & 1023 for i in range(n))

        def trial(k):
            t0 = perf_counter_ns()
            if read:
                for x in lst:
                    x.contents
            else:
                for x in lst:
                    pass
            return (perf_counter_ns() - t0) * k // n

        result = dict(measure(trial, n, repeats), **mode_of(p))
        del lst
    return result


def list_iter(dir, n, repeats=3):
    """Iterating over a List of n small ints (per item; each item is a proxy)."""
    return _list_iter(dir, n, repeats, False)


def list_iter_contents(dir, n, repeats=3):
    """Iterating over a List of n small ints, reading each item's number with .contents."""
    return _list_iter(dir, n, repeats, True)


def dict_get_bytes(dir, n, repeats=3):
    """d[k] for existing 20-byte keys of a Dict[ByteString, Int] (value read with .contents)."""
    size, order = read_order(n)
    with new_storage(dir, "dict_get_bytes") as p:
        with p.transaction():
            p.root.byKey = d = p.schema.IntsByKey(size=size)
            for i in range(size):
                d[text_key(i).encode()] = i
        keys = [text_key(i).encode() for i in order]

        def trial(k):
            ks = keys[:k]
            t0 = perf_counter_ns()
            for key in ks:
                d[key].contents
            return perf_counter_ns() - t0

        result = dict(measure(trial, n, repeats), **mode_of(p))
        del d
    return result


def sorted_insert(dir, n, repeats=3):
    """n inserts of ints in random order into a new SkipList, all in one transaction."""
    with new_storage(dir, "sorted_insert") as p:
        root = p.root

        def trial(k):
            values = sorted_values(k)
            t0 = perf_counter_ns()
            with p.transaction():
                root.sorted = sl = p.schema.SortedInts()
                insert = sl.insert
                for v in values:
                    insert(v)
            return perf_counter_ns() - t0

        result = dict(measure(trial, n, repeats), **mode_of(p))
        del root
    return result


def sorted_get(dir, n, repeats=3):
    """sl[k] of existing keys of a SkipList of min(n, 100,000) ints (the number read with .contents)."""
    size, order = read_order(n)
    with new_storage(dir, "sorted_get") as p:
        with p.transaction():
            p.root.sorted = sl = p.schema.SortedInts(sorted_values(size))
        keys = [i * SORTED_STEP for i in order]

        def trial(k):
            ks = keys[:k]
            t0 = perf_counter_ns()
            for key in ks:
                sl[key].contents
            return perf_counter_ns() - t0

        result = dict(measure(trial, n, repeats), **mode_of(p))
        del sl
    return result


WORKLOADS = {
    "field_inc": field_inc,
    "list_append_tx": list_append_tx,
    "list_iter": list_iter,
    "list_iter_contents": list_iter_contents,
    "dict_get_bytes": dict_get_bytes,
    "sorted_insert": sorted_insert,
    "sorted_get": sorted_get,
}

if __name__ == "__main__":
    sys.exit(main("ptypes", WORKLOADS))
