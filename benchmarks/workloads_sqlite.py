"""Peer workloads: SQLite (the standard library's sqlite3) in WAL mode with synchronous=FULL.

Each operation is one autocommit statement, so one durable transaction.
"""

import contextlib
import os
import sqlite3
import sys
from time import perf_counter_ns

from common import main, measure, read_order, scratch_dir, text_key

DURABILITY = "WAL, synchronous=FULL: fsync per commit"


@contextlib.contextmanager
def _database(dir):
    """A connection to a new database in WAL mode with synchronous=FULL, and the journal mode
    SQLite reports; closed afterwards."""
    with scratch_dir(dir, "sqlite") as d:
        con = sqlite3.connect(os.path.join(d, "bench.db"), isolation_level=None)
        try:
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            con.execute("PRAGMA synchronous=FULL")
            yield con, mode
        finally:
            con.close()


def _done(result, mode):
    return dict(result, is_pmem=None, durability=DURABILITY, journal_mode=mode, sqlite=sqlite3.sqlite_version)


def dict_insert_int(dir, n, repeats=3):
    """d[i] = i for new keys, each in its own transaction; a fresh table per repeat."""
    with _database(dir) as (con, mode):

        def trial(k):
            con.execute("DROP TABLE IF EXISTS d")
            con.execute("CREATE TABLE d (k INTEGER PRIMARY KEY, v)")
            insert = con.execute
            sql = "INSERT OR REPLACE INTO d VALUES (?, ?)"
            t0 = perf_counter_ns()
            for i in range(k):
                insert(sql, (i, i))
            return perf_counter_ns() - t0

        return _done(measure(trial, n, repeats), mode)


def dict_insert_str(dir, n, repeats=3):
    """d[key] = i for new 20-character text keys, each in its own transaction."""
    with _database(dir) as (con, mode):

        def trial(k):
            con.execute("DROP TABLE IF EXISTS d")
            con.execute("CREATE TABLE d (k TEXT PRIMARY KEY, v)")
            keys = [text_key(i) for i in range(k)]
            insert = con.execute
            sql = "INSERT OR REPLACE INTO d VALUES (?, ?)"
            t0 = perf_counter_ns()
            for i, key in enumerate(keys):
                insert(sql, (key, i))
            return perf_counter_ns() - t0

        return _done(measure(trial, n, repeats), mode)


def _dict_get(dir, n, repeats, make_key, kind):
    size, order = read_order(n)
    with _database(dir) as (con, mode):
        con.execute("CREATE TABLE d (k %s PRIMARY KEY, v)" % kind)
        con.execute("BEGIN")
        con.executemany("INSERT INTO d VALUES (?, ?)", ((make_key(i), i) for i in range(size)))
        con.execute("COMMIT")
        keys = [make_key(i) for i in order]

        def trial(k):
            ks = keys[:k]
            execute = con.execute
            sql = "SELECT v FROM d WHERE k = ?"
            t0 = perf_counter_ns()
            for key in ks:
                execute(sql, (key,)).fetchone()[0]
            return perf_counter_ns() - t0

        return _done(measure(trial, n, repeats), mode)


def dict_get_int(dir, n, repeats=3):
    """SELECT of existing int keys (the rowid)."""
    return _dict_get(dir, n, repeats, int, "INTEGER")


def dict_get_bytes(dir, n, repeats=3):
    """SELECT of existing 20-byte blob keys."""
    return _dict_get(dir, n, repeats, lambda i: text_key(i).encode(), "BLOB")


def list_append_tx(dir, n, repeats=3):
    """n inserts of small ints at the end of a new table, one transaction."""
    with _database(dir) as (con, mode):

        def trial(k):
            con.execute("DROP TABLE IF EXISTS l")
            con.execute("CREATE TABLE l (i INTEGER PRIMARY KEY, v)")
            insert = con.execute
            sql = "INSERT INTO l (v) VALUES (?)"
            t0 = perf_counter_ns()
            con.execute("BEGIN")
            for i in range(k):
                insert(sql, (i & 1023,))
            con.execute("COMMIT")
            return perf_counter_ns() - t0

        return _done(measure(trial, n, repeats), mode)


def list_iter(dir, n, repeats=3):
    """SELECT over a table of n small ints in rowid order (per row)."""
    with _database(dir) as (con, mode):
        con.execute("CREATE TABLE l (i INTEGER PRIMARY KEY, v)")
        con.execute("BEGIN")
        con.executemany("INSERT INTO l (v) VALUES (?)", ((i & 1023,) for i in range(n)))
        con.execute("COMMIT")

        def trial(k):
            t0 = perf_counter_ns()
            for (_,) in con.execute("SELECT v FROM l ORDER BY i"):
                pass
            return (perf_counter_ns() - t0) * k // n

        return _done(measure(trial, n, repeats), mode)


WORKLOADS = {
    "dict_insert_int": dict_insert_int,
    "dict_insert_str": dict_insert_str,
    "dict_get_int": dict_get_int,
    "dict_get_bytes": dict_get_bytes,
    "list_append_tx": list_append_tx,
    "list_iter": list_iter,
}

if __name__ == "__main__":
    sys.exit(main("sqlite", WORKLOADS))
