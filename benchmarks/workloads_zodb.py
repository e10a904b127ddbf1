"""Peer workloads: ZODB with a FileStorage, persistent objects and BTrees, one commit per operation."""

import contextlib
import os
import sys
from time import perf_counter_ns

import transaction
import ZODB
import ZODB.FileStorage
from BTrees.OOBTree import OOBTree
from persistent.list import PersistentList

from common import main, measure, read_order, scratch_dir, text_key

DURABILITY = "FileStorage: fsync per commit"


class _Store:
    """A FileStorage database in a scratch directory and a connection to it."""

    def __init__(self, d):
        self.db = ZODB.DB(ZODB.FileStorage.FileStorage(os.path.join(d, "Data.fs")))
        self.conn = self.db.open()

    def reopen(self):
        """A new connection in place of the current one (whose cache is dropped)."""
        self.conn.close()
        self.conn = self.db.open()
        return self.conn


@contextlib.contextmanager
def _database(dir):
    with scratch_dir(dir, "zodb") as d:
        store = _Store(d)
        try:
            yield store
        finally:
            store.conn.close()
            store.db.close()


def _done(result):
    return dict(result, is_pmem=None, durability=DURABILITY, zodb=_version("ZODB"), btrees=_version("BTrees"))


def dict_insert_int(dir, n, repeats=3):
    """d[i] = i for new keys, each its own commit; a fresh OOBTree per repeat."""
    with _database(dir) as store:
        root = store.conn.root()

        def trial(k):
            root["d"] = t = OOBTree()
            transaction.commit()
            commit = transaction.commit
            t0 = perf_counter_ns()
            for i in range(k):
                t[i] = i
                commit()
            return perf_counter_ns() - t0

        result = measure(trial, n, repeats)
    return _done(result)


def dict_insert_str(dir, n, repeats=3):
    """d[key] = i for new 20-character str keys, each its own commit; a fresh OOBTree per repeat."""
    with _database(dir) as store:
        root = store.conn.root()
        state = {"next": 0}

        def trial(k):
            root["d"] = t = OOBTree()
            transaction.commit()
            first = state["next"]
            state["next"] += k
            keys = [text_key(i) for i in range(first, first + k)]
            commit = transaction.commit
            t0 = perf_counter_ns()
            for i, key in enumerate(keys):
                t[key] = i
                commit()
            return perf_counter_ns() - t0

        result = measure(trial, n, repeats)
    return _done(result)


def dict_get_int(dir, n, repeats=3):
    """t[k] for existing int keys of an OOBTree (committed, then read in the same connection)."""
    size, order = read_order(n)
    with _database(dir) as store:
        root = store.conn.root()
        root["d"] = t = OOBTree()
        for i in range(size):
            t[i] = i
        transaction.commit()

        def trial(k):
            ks = order[:k]
            t0 = perf_counter_ns()
            for key in ks:
                t[key]
            return perf_counter_ns() - t0

        result = measure(trial, n, repeats)
    return _done(result)


def list_append_tx(dir, n, repeats=3):
    """n appends of small ints to a new PersistentList, then one commit."""
    with _database(dir) as store:
        root = store.conn.root()

        def trial(k):
            t0 = perf_counter_ns()
            root["l"] = lst = PersistentList()
            append = lst.append
            for i in range(k):
                append(i & 1023)
            transaction.commit()
            return perf_counter_ns() - t0

        result = measure(trial, n, repeats)
    return _done(result)


def list_iter(dir, n, repeats=3):
    """Iterating over a committed PersistentList of n small ints, loaded from a new connection."""
    with _database(dir) as store:
        store.conn.root()["l"] = PersistentList(i & 1023 for i in range(n))
        transaction.commit()
        lst = store.reopen().root()["l"]

        def trial(k):
            t0 = perf_counter_ns()
            for _ in lst:
                pass
            return (perf_counter_ns() - t0) * k // n

        result = measure(trial, n, repeats)
    return _done(result)


def _version(dist):
    from importlib.metadata import version

    return version(dist)


WORKLOADS = {
    "dict_insert_int": dict_insert_int,
    "dict_insert_str": dict_insert_str,
    "dict_get_int": dict_get_int,
    "list_append_tx": list_append_tx,
    "list_iter": list_iter,
}

if __name__ == "__main__":
    sys.exit(main("zodb", WORKLOADS))
