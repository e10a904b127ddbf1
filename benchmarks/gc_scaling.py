"""How close(), the open after a crash and gc() scale with the pool.

A pool holds a PersistentDict of n/2 str keys and str values (n objects).
For each size, in milliseconds:

  close/write   open, one d[k] = v, close (the incremental collector)
  close/read    open, one read, close
  full gc       what close used to run after a write: the whole-heap mark and sweep
  open/kill     open of a pool whose writer was SIGKILLed inside a transaction
  gc/k cycles   gc(full=False) after creating and dropping k two-list cycles

Usage: python benchmarks/gc_scaling.py [--max-exp 7] [--dir /dev/shm]
(10**7 objects need about 1.5 GiB in --dir and a few minutes to build.)
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pmemobj
from pmemobj import PersistentDict, PersistentList

BUILD_BATCH = 20_000
KILL_CHILD = r"""
import sys, pmemobj
pool = pmemobj.open(sys.argv[1])
d = pool.root
with pool.transaction():
    d['k1'] = 'changed in the transaction that dies'
    print('in', flush=True)
    sys.stdin.read()
"""


def ms(t0):
    return (time.perf_counter() - t0) * 1000


def build(path, n):
    size = max(64 << 20, n * 160)
    pool = pmemobj.create(path, pool_size=size)
    with pool.transaction():
        pool.root = pool.new(PersistentDict)
    d = pool.root
    for start in range(0, n // 2, BUILD_BATCH):
        with pool.transaction():
            for i in range(start, min(start + BUILD_BATCH, n // 2)):
                d[f"k{i}"] = f"v{i}"
    pool.close()


def best(fn, repeat=3):
    return min(fn() for _ in range(repeat))


def close_after_write(path):
    pool = pmemobj.open(path)
    with pool.transaction():
        pool.root["k1"] = "changed"
    t0 = time.perf_counter()
    pool.close()
    return ms(t0)


def close_after_read(path):
    pool = pmemobj.open(path)
    pool.root["k1"]
    t0 = time.perf_counter()
    pool.close()
    return ms(t0)


def full_gc(path):
    pool = pmemobj.open(path)
    with pool.transaction():
        pool.root["k1"] = "changed"
    t0 = time.perf_counter()
    pool.gc(full=True)
    took = ms(t0)
    pool.close()
    return took


def open_after_kill(path):
    child = subprocess.Popen([sys.executable, "-c", KILL_CHILD, path], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "in"
    child.send_signal(signal.SIGKILL)
    child.wait()
    t0 = time.perf_counter()
    pool = pmemobj.open(path)
    took = ms(t0)
    assert pool.recovered is not None and not pool.recovered["full"], pool.recovered
    pool.close()
    return took


def gc_after_cycles(path, k):
    pool = pmemobj.open(path)
    with pool.transaction():
        for i in range(k):
            a, b = pool.new(PersistentList), pool.new(PersistentList)
            a.append(b)
            b.append(a)
            pool.root[f"c{i}"] = a
        del a, b
    pool.gc(full=False)
    with pool.transaction():
        for i in range(k):
            del pool.root[f"c{i}"]
    t0 = time.perf_counter()
    report = pool.gc(full=False)
    took = ms(t0)
    assert report["freed"].get("pmemobj.collections.list.PersistentList") == 2 * k, report
    pool.close()
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--min-exp", type=int, default=4)
    ap.add_argument("--max-exp", type=int, default=6)
    ap.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    ap.add_argument("--cycles", default="10,100,1000")
    args = ap.parse_args()
    ks = [int(k) for k in args.cycles.split(",")]
    work = tempfile.mkdtemp(prefix="gc-scaling-", dir=args.dir)
    try:
        head = (f"{'objects':>10} {'close/write':>12} {'close/read':>11} {'full gc':>9} {'ratio':>7} "
                f"{'open/kill':>10} " + " ".join(f"{f'gc/{k} cyc':>11}" for k in ks))
        print(head)
        for e in range(args.min_exp, args.max_exp + 1):
            n = 10 ** e
            path = os.path.join(work, f"p{e}.pool")
            build(path, n)
            cw = best(lambda: close_after_write(path))
            cr = best(lambda: close_after_read(path))
            fg = best(lambda: full_gc(path), repeat=1 if e >= 6 else 3)
            ok = best(lambda: open_after_kill(path))
            cyc = [best(lambda: gc_after_cycles(path, k)) for k in ks]
            print(f"{n:>10,} {cw:>12.2f} {cr:>11.2f} {fg:>9.1f} {fg / cw:>6.0f}x {ok:>10.2f} "
                  + " ".join(f"{c:>11.2f}" for c in cyc), flush=True)
            os.unlink(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("(ms; 'ratio': the full gc a close used to run / the close now; best of 3)")


if __name__ == "__main__":
    main()
