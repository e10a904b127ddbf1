"""Durable per-op commits on a disk: one ``d[i] = i`` (insert) or ``d[i] = -i``
(overwrite) per transaction on a pool in a directory of a real file system,
next to SQLite (WAL, synchronous=FULL) and LMDB (sync) when they are
installed.  Prints transactions per second.

    python benchmarks/durability_levels.py [DIR] [--n N] [--durability power|process]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pmemobj  # noqa: E402


def bench_pmemobj(d, n, durability):
    path = os.path.join(d, "bench.pool")
    kw = {} if durability is None else {"durability": durability}
    with pmemobj.create(path, 64 << 20, **kw) as pool:
        with pool.transaction():
            pool.root = pool.new(pmemobj.PersistentDict)
        root = pool.root
        res = {}
        t = time.perf_counter()
        for i in range(n):
            with pool.transaction():
                root[i] = i
        res["insert"] = n / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(n):
            with pool.transaction():
                root[i] = -i
        res["overwrite"] = n / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(n):
            with pool.transaction():
                pass
        res["empty"] = n / (time.perf_counter() - t)
    os.unlink(path)
    return res


def bench_sqlite(d, n):
    import sqlite3
    path = os.path.join(d, "bench.sqlite")
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER)")
    res = {}
    t = time.perf_counter()
    for i in range(n):
        con.execute("BEGIN")
        con.execute("INSERT INTO t VALUES (?, ?)", (i, i))
        con.execute("COMMIT")
    res["insert"] = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(n):
        con.execute("BEGIN")
        con.execute("UPDATE t SET v = ? WHERE k = ?", (-i, i))
        con.execute("COMMIT")
    res["overwrite"] = n / (time.perf_counter() - t)
    con.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    return res


def bench_lmdb(d, n):
    import lmdb
    path = os.path.join(d, "bench.lmdb")
    env = lmdb.open(path, map_size=1 << 30, sync=True, metasync=True)
    res = {}
    t = time.perf_counter()
    for i in range(n):
        with env.begin(write=True) as txn:
            txn.put(str(i).encode(), str(i).encode())
    res["insert"] = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(n):
        with env.begin(write=True) as txn:
            txn.put(str(i).encode(), str(-i).encode())
    res["overwrite"] = n / (time.perf_counter() - t)
    env.close()
    shutil.rmtree(path)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default=None)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--durability", default=None)
    ap.add_argument("--only", default=None, help="pmemobj, sqlite or lmdb")
    a = ap.parse_args()
    d = tempfile.mkdtemp(dir=a.dir)
    try:
        runs = [("pmemobj", lambda: bench_pmemobj(d, a.n, a.durability)),
                ("sqlite", lambda: bench_sqlite(d, a.n)), ("lmdb", lambda: bench_lmdb(d, a.n))]
        for name, f in runs:
            if a.only and name != a.only:
                continue
            try:
                res = f()
            except ImportError:
                continue
            print(f"{name:8s} " + "  ".join(f"{k} {v:10,.0f} tx/s" for k, v in res.items()), flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
