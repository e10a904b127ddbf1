#!/usr/bin/env python3
"""How the cost of pmemobj's operations grows with the size of what the pool holds.

    python3 benchmarks/scale.py [--dir /dev/shm] [--max 6] [--force-pmem both] [--out DIR]

For each size N = 10**3 ... 10**max, in a process of its own with a fresh pool:

- dict insert: N ``d[i] = i``, each its own transaction (ns per entry, over the whole fill,
  so every resize of the table is counted);
- dict lookup: ``d[k]`` of N existing keys in the read workloads' order (ns per lookup);
- list append: N appends of small ints in one transaction (ns per append);
- then a list of N 20-character str objects is added (untimed) so that the pool holds N
  objects for gc to mark: ``pool.gc()`` time;
- after a clean close, the time to open the pool (best of 3, each in a new process), and the
  resident memory of a process that opens it, before and after ``open`` (it must not grow
  with the pool's content: the pool is mapped, nothing is loaded);
- in a second pool, a ptypes SkipList of N ints inserted in random order, 1,000 inserts per
  transaction (ns per insert), then ``sl[k]`` of N existing keys (ns per lookup): both grow
  with log N.

Writes scale.json (and, with matplotlib, scale.png) into --out, and prints a table.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from time import perf_counter_ns

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

from common import READ_STRIDE, SORTED_STEP, scratch_dir, sorted_values, text_key  # noqa: E402

BASE_POOL = 64 << 20
POOL_BYTES_PER_ENTRY = 400  # dict (with a resize in flight) + two lists + N small str objects
MEMORY_FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")
LOG_LOG = {"gc_s"}  # metrics plotted on a log scale (the others should not grow with N)

METRICS = {  # key -> (title, unit)
    "dict_insert_ns": ("dict insert, own transaction", "ns per entry"),
    "dict_get_ns": ("dict lookup", "ns per lookup"),
    "list_append_ns": ("list append, one transaction", "ns per append"),
    "skiplist_insert_ns": ("ptypes SkipList insert, 1,000 per transaction", "ns per insert"),
    "skiplist_get_ns": ("ptypes SkipList lookup", "ns per lookup"),
    "gc_s": ("pool.gc()", "s"),
    "open_ms": ("open of a cleanly closed pool", "ms"),
    "rss_open_kb": ("resident memory added by open", "KiB"),
}


def memory_kb():
    """The VmRSS/RssAnon/RssFile/RssShmem lines of /proc/self/status, in KiB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in MEMORY_FIELDS:
                out[key] = int(line.split()[1])
    return out


def measure_size(dir, n):
    """Fills a fresh pool with N entries, timing each step; returns the figures (one process)."""
    import pmemobj

    out = {"n": n}
    with scratch_dir(dir, "scale") as d:
        path = os.path.join(d, "scale.pool")
        pool = pmemobj.create(path, pool_size=BASE_POOL + n * POOL_BYTES_PER_ENTRY)
        out["is_pmem"] = bool(pool.is_pmem)
        pool.root = root = pool.new(pmemobj.PersistentDict)
        root["d"] = dct = pool.new(pmemobj.PersistentDict)

        t0 = perf_counter_ns()
        for i in range(n):
            dct[i] = i
        out["dict_insert_ns"] = (perf_counter_ns() - t0) / n

        keys = [(i * READ_STRIDE) % n for i in range(n)]
        t0 = perf_counter_ns()
        for k in keys:
            dct[k]
        out["dict_get_ns"] = (perf_counter_ns() - t0) / n
        del keys

        t0 = perf_counter_ns()
        with pool.transaction():
            root["l"] = lst = pool.new(pmemobj.PersistentList)
            append = lst.append
            for i in range(n):
                append(i & 1023)
        out["list_append_ns"] = (perf_counter_ns() - t0) / n

        with pool.transaction():
            root["s"] = strs = pool.new(pmemobj.PersistentList)
            append = strs.append
            for i in range(n):
                append(text_key(i))
        del dct, lst, strs, append, root

        t0 = perf_counter_ns()
        pool.gc()
        out["gc_s"] = (perf_counter_ns() - t0) / 1e9
        pool.close()
        out["file_bytes"] = os.path.getsize(path)

        probes = [open_probe(path) for _ in range(3)]
        out["open_ms"] = min(p["open_ns"] for p in probes) / 1e6
        best = min(probes, key=lambda p: p["open_ns"])
        out["memory_before_open_kb"] = best["before"]
        out["memory_after_open_kb"] = best["after"]
        out["rss_open_kb"] = best["after"]["VmRSS"] - best["before"]["VmRSS"]
    with scratch_dir(dir, "scale-skiplist") as d:
        out.update(measure_skiplist(os.path.join(d, "skiplist.ptypes"), n))
    return out


SKIPLIST_BYTES_PER_ITEM = 200  # a node (about 60 bytes) and its share of the undo logs


def measure_skiplist(path, n):
    """N inserts in random order into a ptypes SkipList, then N lookups (ns each)."""
    from ptypes.pcollections import SkipList
    from ptypes.storage import Storage

    class Sorted(Storage):
        def populateSchema(self):
            self.define(SkipList("SortedInts")[self.schema.Int])

            class Root(self.schema.Structure):
                sorted = self.schema.SortedInts

    out = {}
    s = Sorted(path, fileSize=BASE_POOL + n * SKIPLIST_BYTES_PER_ITEM)
    s.root.sorted = sl = s.schema.SortedInts()
    values = sorted_values(n)
    insert = sl.insert
    t0 = perf_counter_ns()
    for start in range(0, n, 1000):
        with s.transaction():
            for v in values[start:start + 1000]:
                insert(v)
    out["skiplist_insert_ns"] = (perf_counter_ns() - t0) / n
    keys = [(i * READ_STRIDE) % n * SORTED_STEP for i in range(n)]
    t0 = perf_counter_ns()
    for k in keys:
        sl[k]
    out["skiplist_get_ns"] = (perf_counter_ns() - t0) / n
    del sl, insert
    s.close()
    return out


def open_probe(path):
    """Opens the pool in a new process: the open time and the process's memory around it."""
    code = ("import json, sys, time, pmemobj, scale\n"
            "before = scale.memory_kb()\n"
            "t0 = time.perf_counter_ns()\n"
            "pool = pmemobj.open(sys.argv[1])\n"
            "dt = time.perf_counter_ns() - t0\n"
            "after = scale.memory_kb()\n"
            "pool.close()\n"
            "print(json.dumps({'open_ns': dt, 'before': before, 'after': after}))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [HERE, REPO, os.environ.get("PYTHONPATH")])))
    r = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def child_env(force):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [HERE, REPO, os.environ.get("PYTHONPATH")]))
    env.pop("PMEM_IS_PMEM_FORCE", None)
    if force == "1":
        env["PMEM_IS_PMEM_FORCE"] = "1"
    return env


def mode_label(mode):
    return "PMEM_IS_PMEM_FORCE=1" if mode == "1" else "PMEM_IS_PMEM_FORCE unset"


def run(dir, sizes, modes, progress=None, timeout=3600):
    """Measures every (mode, size), each in a process of its own; returns {mode label: [rows]}."""
    results = {}
    for mode in modes:
        rows = results.setdefault(mode_label(mode), [])
        for n in sizes:
            if progress is not None:
                progress("scale %s, N=%s" % (mode_label(mode), fmt_n(n)))
            cmd = [sys.executable, os.path.abspath(__file__), "--one", str(n), "--dir", dir]
            t0 = time.monotonic()
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, env=child_env(mode), timeout=timeout)
            except subprocess.TimeoutExpired:
                rows.append({"n": n, "error": "timed out after %d s" % timeout})
                continue
            if r.returncode:
                tail = "\n".join(r.stderr.strip().splitlines()[-5:])
                rows.append({"n": n, "error": "exit code %d: %s" % (r.returncode, tail)})
                print("scale N=%d failed: %s" % (n, tail), file=sys.stderr)
                continue
            row = json.loads(r.stdout.strip().splitlines()[-1])
            row["wall_s"] = round(time.monotonic() - t0, 2)
            rows.append(row)
    return results


def fmt_n(n):
    return "10^%d" % round(__import__("math").log10(n)) if n >= 10 and str(n).rstrip("0") == "1" else str(n)


def markdown(results, heading="##"):
    out = []
    for label, rows in results.items():
        good = [r for r in rows if "error" not in r]
        out += ["%s Cost against size, %s" % (heading, label), "",
                "| N | is_pmem | dict insert (ns/entry) | dict lookup (ns) | list append (ns) | gc (s) "
                "| open (ms) | pool file (MiB) | RSS before open (MiB) | RSS added by open (KiB) | of which anonymous (KiB) "
                "| SkipList insert (ns) | SkipList lookup (ns) |",
                "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in good:
            anon = r["memory_after_open_kb"].get("RssAnon", 0) - r["memory_before_open_kb"].get("RssAnon", 0)
            out.append("| %s | %s | %.0f | %.0f | %.0f | %.3f | %.2f | %.0f | %.1f | %d | %d | %s | %s |" % (
                fmt_n(r["n"]), r["is_pmem"], r["dict_insert_ns"], r["dict_get_ns"], r["list_append_ns"], r["gc_s"],
                r["open_ms"], r["file_bytes"] / 2**20, r["memory_before_open_kb"]["VmRSS"] / 1024, r["rss_open_kb"],
                anon, _ns(r.get("skiplist_insert_ns")), _ns(r.get("skiplist_get_ns"))))
        for r in rows:
            if "error" in r:
                out.append("| %s | failed: %s | | | | | | | | | | | |" % (fmt_n(r["n"]), r["error"].replace("\n", " ")))
        out.append("")
    return out


def _ns(value):
    return "" if value is None else "%.0f" % value


def plot(results, path):
    """Cost against N (log-log), one panel per metric, a line per mode; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    for ax, (key, (title, unit)) in zip(axes.flat, METRICS.items()):
        for k, (label, rows) in enumerate(results.items()):
            good = [r for r in rows if "error" not in r]
            ax.plot([r["n"] for r in good], [r[key] for r in good], "o-", color="C%d" % k, label=label)
        ax.set_xscale("log")
        if key in LOG_LOG:
            ax.set_yscale("log")     # grows with N: a slope of 1 is linear growth
        else:
            ax.set_ylim(bottom=0)    # should stay flat: a linear axis from 0 shows how flat
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("N (entries in the pool)")
        ax.set_ylabel(unit)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left" if key in LOG_LOG else "lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="/dev/shm", help="directory for the pools (default /dev/shm)")
    ap.add_argument("--min", type=int, default=3, help="smallest size, as a power of ten (default 3)")
    ap.add_argument("--max", type=int, default=6, help="largest size, as a power of ten (default 6; 7 for 10^7)")
    ap.add_argument("--force-pmem", choices=["0", "1", "both"], default="both",
                    help="PMEM_IS_PMEM_FORCE=1 (1), unset (0), or both (default)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="where scale.json and scale.png go")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure_size(args.dir, args.one)))
        return 0
    if not os.path.isdir(args.dir):
        ap.error("--dir %s is not a directory" % args.dir)
    if not 1 <= args.min <= args.max:
        ap.error("need 1 <= --min <= --max")
    modes = ["0", "1"] if args.force_pmem == "both" else [args.force_pmem]
    sizes = [10**k for k in range(args.min, args.max + 1)]
    results = run(args.dir, sizes, modes, progress=lambda what: print(what, file=sys.stderr, flush=True))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "scale.json"), "w") as f:
        json.dump({"dir": args.dir, "results": results}, f, indent=1)
    print("\n".join(markdown(results)))
    if plot(results, os.path.join(args.out, "scale.png")):
        print("wrote scale.json, scale.png into %s" % args.out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
