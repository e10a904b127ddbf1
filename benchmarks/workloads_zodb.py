"""Peer workloads: ZODB with a FileStorage, persistent objects and BTrees, one commit per operation."""

import os
import sys
from time import perf_counter_ns

import transaction
import ZODB
import ZODB.FileStorage
from BTrees.OOBTree import OOBTree

from common import main, measure, scratch_dir

DURABILITY = "FileStorage: fsync per commit"


def dict_insert_int(dir, n, repeats=3):
    """d[i] = i for new keys, each its own commit; a fresh OOBTree per repeat."""
    with scratch_dir(dir, "zodb") as d:
        db = ZODB.DB(ZODB.FileStorage.FileStorage(os.path.join(d, "Data.fs")))
        conn = db.open()
        try:
            root = conn.root()

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
        finally:
            conn.close()
            db.close()
    return dict(result, is_pmem=None, durability=DURABILITY, zodb=_version("ZODB"), btrees=_version("BTrees"))


def _version(dist):
    from importlib.metadata import version

    return version(dist)


WORKLOADS = {"dict_insert_int": dict_insert_int}

if __name__ == "__main__":
    sys.exit(main("zodb", WORKLOADS))
