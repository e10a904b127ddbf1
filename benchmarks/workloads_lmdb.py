"""Peer workloads: LMDB (py-lmdb) opened with sync=True, one write transaction per operation.

Keys and values are the 8-byte little-endian encoding of the int, the cheapest a user of a
bytes-only store can do.
"""

import contextlib
import os
import sys
from time import perf_counter_ns

import lmdb

from common import main, measure, read_order, scratch_dir, text_key

DURABILITY = "sync=True: fsync/msync per commit"
MAP_SIZE = 1 << 30


@contextlib.contextmanager
def _environment(dir, map_size=MAP_SIZE, **options):
    """A new environment opened with sync=True (the durability measured), closed afterwards."""
    with scratch_dir(dir, "lmdb") as d:
        env = lmdb.open(os.path.join(d, "env"), map_size=map_size, sync=True, metasync=True, **options)
        try:
            yield env
        finally:
            env.close()


def _done(result):
    return dict(result, is_pmem=None, durability=DURABILITY, lmdb=lmdb.__version__)


def dict_insert_int(dir, n, repeats=3):
    """d[i] = i for new keys, each in its own transaction; a fresh database per repeat."""
    # a named database per trial (the warm-up is one more)
    with _environment(dir, max_dbs=repeats + 1) as env:
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

        return _done(measure(trial, n, repeats))


def _int_key(i):
    return i.to_bytes(8, "little", signed=True)


def dict_insert_str(dir, n, repeats=3):
    """d[key] = i for new 20-byte (UTF-8 str) keys, each in its own transaction."""
    with _environment(dir) as env:
        state = {"next": 0}

        def trial(k):
            first = state["next"]
            state["next"] += k
            keys = [text_key(i) for i in range(first, first + k)]
            begin = env.begin
            t0 = perf_counter_ns()
            for i, key in enumerate(keys):
                with begin(write=True) as txn:
                    txn.put(key.encode(), _int_key(i))
            return perf_counter_ns() - t0

        return _done(measure(trial, n, repeats))


def _dict_get(dir, n, repeats, make_key):
    size, order = read_order(n)
    with _environment(dir) as env:
        with env.begin(write=True) as txn:
            for i in range(size):
                txn.put(make_key(i), _int_key(i))
        keys = [make_key(i) for i in order]

        def trial(k):
            ks = keys[:k]
            t0 = perf_counter_ns()
            with env.begin(buffers=True) as txn:
                get = txn.get
                for key in ks:
                    int.from_bytes(get(key), "little", signed=True)
            return perf_counter_ns() - t0

        return _done(measure(trial, n, repeats))


def dict_get_int(dir, n, repeats=3):
    """get() of existing 8-byte int keys in one read transaction, decoding the value."""
    return _dict_get(dir, n, repeats, _int_key)


def dict_get_bytes(dir, n, repeats=3):
    """get() of existing 20-byte keys in one read transaction, decoding the value."""
    return _dict_get(dir, n, repeats, lambda i: text_key(i).encode())


def list_append_tx(dir, n, repeats=3):
    """n puts of (index, small int) appended at the end of a new database, one transaction."""
    with _environment(dir, map_size=4 * MAP_SIZE, max_dbs=repeats + 2) as env:
        state = {"db": 0}

        def trial(k):
            state["db"] += 1
            db = env.open_db(b"l%d" % state["db"])
            t0 = perf_counter_ns()
            with env.begin(write=True, db=db) as txn:
                put = txn.put
                for i in range(k):
                    put(i.to_bytes(8, "big"), (i & 1023).to_bytes(8, "little"), append=True)
            return perf_counter_ns() - t0

        return _done(measure(trial, n, repeats))


def list_iter(dir, n, repeats=3):
    """A cursor over n (index, small int) records, decoding each value (per item)."""
    with _environment(dir, map_size=4 * MAP_SIZE) as env:
        with env.begin(write=True) as txn:
            for i in range(n):
                txn.put(i.to_bytes(8, "big"), (i & 1023).to_bytes(8, "little"), append=True)

        def trial(k):
            t0 = perf_counter_ns()
            with env.begin(buffers=True) as txn:
                for v in txn.cursor().iternext(keys=False, values=True):
                    int.from_bytes(v, "little")
            return (perf_counter_ns() - t0) * k // n

        return _done(measure(trial, n, repeats))


WORKLOADS = {
    "dict_insert_int": dict_insert_int,
    "dict_insert_str": dict_insert_str,
    "dict_get_int": dict_get_int,
    "dict_get_bytes": dict_get_bytes,
    "list_append_tx": list_append_tx,
    "list_iter": list_iter,
}

if __name__ == "__main__":
    sys.exit(main("lmdb", WORKLOADS))
