"""Peer workloads: SQLite (the standard library's sqlite3) in WAL mode with synchronous=FULL.

Each operation is one autocommit statement, so one durable transaction.
"""

import os
import sqlite3
import sys
from time import perf_counter_ns

from common import main, measure, scratch_dir

DURABILITY = "WAL, synchronous=FULL: fsync per commit"


def dict_insert_int(dir, n, repeats=3):
    """d[i] = i for new keys, each in its own transaction; a fresh table per repeat."""
    with scratch_dir(dir, "sqlite") as d:
        con = sqlite3.connect(os.path.join(d, "bench.db"), isolation_level=None)
        try:
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            con.execute("PRAGMA synchronous=FULL")

            def trial(k):
                con.execute("DROP TABLE IF EXISTS d")
                con.execute("CREATE TABLE d (k INTEGER PRIMARY KEY, v)")
                insert = con.execute
                sql = "INSERT OR REPLACE INTO d VALUES (?, ?)"
                t0 = perf_counter_ns()
                for i in range(k):
                    insert(sql, (i, i))
                return perf_counter_ns() - t0

            result = measure(trial, n, repeats)
        finally:
            con.close()
    return dict(result, is_pmem=None, durability=DURABILITY, journal_mode=mode, sqlite=sqlite3.sqlite_version)


WORKLOADS = {"dict_insert_int": dict_insert_int}

if __name__ == "__main__":
    sys.exit(main("sqlite", WORKLOADS))
