"""Durable commits per second, and the flush calls each costs, on disk directories beside /dev/shm.

One small write transaction after another, each made durable before the next begins, in
pmemobj, the C program on libpmemobj (c/bench_pmemobj.c), SQLite (WAL, synchronous=FULL), LMDB
(sync=True) and ZODB (FileStorage).  Workloads, each transaction committed on its own:

    insert     d[i] = i for a new int key
    overwrite  d[k] = v for an existing key of a dict of 1,000 entries
    multi10    ten inserts of new keys in one transaction

The msync, fsync, fdatasync, sync_file_range and syncfs calls are counted by a small library
(c/flushcount.c, built with the system cc into a temp dir) preloaded into each measuring
process; the counts cover the timed transactions only.

    python3 benchmarks/durable_commits.py                  # a temp dir on the repo's disk, and /dev/shm
    python3 benchmarks/durable_commits.py --dir /mnt/data --dir /dev/shm --seconds 5
    python3 benchmarks/durable_commits.py --quick --engines pmemobj,sqlite --out /tmp/dc
    python3 benchmarks/durable_commits.py --breakdown      # where one transaction's msyncs go

Each measurement runs for --seconds (at most -n transactions) after a short warm-up, in its own
process.  Prints a markdown table and writes durable_commits.md and durable_commits.json under
--out (default benchmarks/results/).
"""

import argparse
import contextlib
import ctypes
import itertools
import json
import mmap
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time

from common import POOL_SIZE, READ_STRIDE, scratch_dir

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ENGINES = ("pmemobj", "pmemobj-nojournal", "c", "sqlite", "lmdb", "zodb")
WORKLOADS = ("insert", "overwrite", "multi10")
OVERWRITE_KEYS = 1000  # as OVERWRITE_KEYS in c/bench_pmemobj.c
MULTI_WRITES = 10
C_WORKLOADS = {"insert": "dict_insert_int", "overwrite": "dict_overwrite_int", "multi10": "dict_insert10_tx"}
FLUSH_CALLS = ("msync", "fsync", "fdatasync", "sync_file_range", "syncfs")
DESCRIPTIONS = {
    "pmemobj": "pmemobj PersistentDict, one transaction per commit (a journal on a disk, none in memory)",
    "pmemobj-nojournal": "the same with PMEMOBJ_JOURNAL=0: an msync per drain of libpmemobj",
    "c": "C on libpmemobj, the same table layout (c/bench_pmemobj.c)",
    "sqlite": "SQLite, WAL, synchronous=FULL",
    "lmdb": "LMDB (py-lmdb), sync=True",
    "zodb": "ZODB FileStorage, OOBTree, transaction.commit()",
}


# ---- the stores, as seen by a measuring process ----------------------------------------------
# Each opens a store in a directory and offers commit(pairs): the pairs written in one
# durable transaction.  Imports happen here, in the process of the engine's own python.


class PmemobjStore:
    def __init__(self, d):
        import pmemobj

        self.path = os.path.join(d, "bench.pool")
        self.pool = pmemobj.create(self.path, pool_size=POOL_SIZE)
        self.pool.root = self.d = self.pool.new(pmemobj.PersistentDict)
        self.info = {"is_pmem": bool(self.pool.is_pmem), "journal": self.pool.mm.journal is not None}

    def commit(self, pairs):
        d = self.d
        if len(pairs) == 1:
            k, v = pairs[0]
            d[k] = v                    # its own transaction
        else:
            with self.pool.transaction():
                for k, v in pairs:
                    d[k] = v

    def close(self):
        self.pool.close()


class SqliteStore:
    def __init__(self, d):
        import sqlite3

        self.con = sqlite3.connect(os.path.join(d, "bench.db"), isolation_level=None)
        mode = self.con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        self.con.execute("PRAGMA synchronous=FULL")
        self.con.execute("CREATE TABLE d (k INTEGER PRIMARY KEY, v)")
        self.info = {"journal_mode": mode, "sqlite": sqlite3.sqlite_version}

    def commit(self, pairs):
        sql = "INSERT OR REPLACE INTO d VALUES (?, ?)"
        if len(pairs) == 1:
            self.con.execute(sql, pairs[0])   # autocommit: one transaction
        else:
            self.con.execute("BEGIN")
            self.con.executemany(sql, pairs)
            self.con.execute("COMMIT")

    def close(self):
        self.con.close()


class LmdbStore:
    def __init__(self, d):
        import lmdb

        self.env = lmdb.open(os.path.join(d, "env"), map_size=1 << 30, sync=True, metasync=True)
        self.info = {"lmdb": lmdb.__version__}

    def commit(self, pairs):
        with self.env.begin(write=True) as txn:
            for k, v in pairs:
                txn.put(k.to_bytes(8, "little", signed=True), v.to_bytes(8, "little", signed=True))

    def close(self):
        self.env.close()


class ZodbStore:
    def __init__(self, d):
        import transaction
        import ZODB
        import ZODB.FileStorage
        from BTrees.OOBTree import OOBTree

        self.transaction = transaction
        self.db = ZODB.DB(ZODB.FileStorage.FileStorage(os.path.join(d, "Data.fs")))
        self.conn = self.db.open()
        self.conn.root()["d"] = self.d = OOBTree()
        transaction.commit()
        self.info = {"zodb": _version("ZODB")}

    def commit(self, pairs):
        for k, v in pairs:
            self.d[k] = v
        self.transaction.commit()

    def close(self):
        self.conn.close()
        self.db.close()


def _version(dist):
    from importlib.metadata import version

    return version(dist)


STORES = {"pmemobj": PmemobjStore, "pmemobj-nojournal": PmemobjStore, "sqlite": SqliteStore, "lmdb": LmdbStore,
          "zodb": ZodbStore}


def _counter():
    """Reads the preloaded flush counter: a function returning the five counts so far."""
    lib = ctypes.CDLL(os.environ["FLUSHCOUNT_LIB"])
    buf = (ctypes.c_ulonglong * len(FLUSH_CALLS))()

    def read():
        lib.flushcount_read(buf)
        return list(buf)

    return read, lib


def _transactions(workload, store):
    """The store prepared for the workload, and the pairs of transaction i (from 0 on)."""
    if workload == "insert":
        return lambda i: [(i, i)]
    if workload == "overwrite":
        store.commit([(k, k) for k in range(OVERWRITE_KEYS)])
        return lambda i: [((i * READ_STRIDE) % OVERWRITE_KEYS, i + 1)]
    if workload == "multi10":
        return lambda i: [(i * MULTI_WRITES + j, i) for j in range(MULTI_WRITES)]
    raise ValueError(workload)


def child(engine, workload, d, n, seconds):
    """Runs one measurement in this process (under the preloaded counter) and returns its dict."""
    read, _ = _counter()
    with scratch_dir(d, "durable-" + engine) as sd:
        store = STORES[engine](sd)
        try:
            pairs = _transactions(workload, store)
            commit = store.commit
            warm = max(1, min(50, n // 10))
            for i in range(warm):
                commit(pairs(i))
            i = warm
            before = read()
            deadline = time.perf_counter_ns() + int(seconds * 1e9)
            t0 = time.perf_counter_ns()
            done = 0
            while done < n:
                commit(pairs(i))
                i += 1
                done += 1
                if done & 7 == 0 and time.perf_counter_ns() > deadline:
                    break
            elapsed = time.perf_counter_ns() - t0
            after = read()
        finally:
            store.close()
    return dict(store.info, n=done, elapsed_ns=elapsed, flush_calls=[a - b for a, b in zip(after, before)])


def breakdown_child(d, count=3):
    """Traces the msyncs of a few transactions of each workload in pmemobj: each as an offset
    range of the pool file, placed in its layout.  Needs FLUSHCOUNT_TRACE set."""
    _, lib = _counter()
    trace = os.environ["FLUSHCOUNT_TRACE"]
    with scratch_dir(d, "durable-trace") as sd:
        store = PmemobjStore(sd)
        try:
            store.commit([(k, k) for k in range(OVERWRITE_KEYS)])
            for i in range(20):         # past the first transactions' one-time work
                store.commit([(OVERWRITE_KEYS + i, i)])
                store.commit([(i, i + 1)])
            base, size = _mapping(store.path)
            for name, pairs in (("insert", lambda i: [(10 ** 6 + i, i)]),
                                ("overwrite", lambda i: [((i * READ_STRIDE) % OVERWRITE_KEYS, -i)]),
                                ("multi10", lambda i: [(2 * 10 ** 6 + 10 * i + j, i) for j in range(10)])):
                for i in range(count):
                    lib.flushcount_mark(("begin %s %d" % (name, i)).encode())
                    store.commit(pairs(i))
                    lib.flushcount_mark(("end %s %d" % (name, i)).encode())
        finally:
            store.close()
        from pmemobj import _metadata_check as layout

        with open(store.path, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as pool:
            lanes_offset, nlanes, heap_offset = struct.unpack_from("<QQQ", pool, layout.DESCR_LANES)
            txs, cur = [], None
            with open(trace) as t:
                for line in t:
                    w = line.split()
                    if w[0] == "#":
                        if w[1] == "begin":
                            cur = {"workload": w[2], "index": int(w[3]), "pmem_msync": [], "msync": []}
                        elif cur is not None:
                            txs.append(cur)
                            cur = None
                    elif cur is not None:
                        addr, length = int(w[1], 16), int(w[2], 16)
                        if base <= addr < base + size:
                            off = addr - base
                            where = _place(off, pool, layout)
                        else:
                            off, where = None, "outside the pool"
                        cur[w[0]].append({"offset": off, "len": length, "where": where})
    return {"lanes_offset": lanes_offset, "nlanes": nlanes, "heap_offset": heap_offset, "transactions": txs}


def _mapping(path):
    """Start and length of the mapping of the pool file in this process."""
    real = os.path.realpath(path)
    lo = hi = None
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].strip() == real:
                a, b = (int(x, 16) for x in parts[0].split("-"))
                lo = a if lo is None else min(lo, a)
                hi = b if hi is None else max(hi, b)
    if lo is None:
        raise RuntimeError("no mapping of %s" % path)
    return lo, hi - lo


def _place(off, pool, L):
    """What of the pool's layout lies at file offset off (pool: the file's bytes)."""
    lanes_offset, nlanes, heap_offset = struct.unpack_from("<QQQ", pool, L.DESCR_LANES)
    if off < L.POOL_HDR:
        return "pool header"
    if off < lanes_offset:
        return "pool descriptor"
    if off < lanes_offset + nlanes * L.LANE_SIZE:
        lane, within = divmod(off - lanes_offset, L.LANE_SIZE)
        k = max(i for i, start in enumerate(L.LANE_ULOGS) if within >= start)
        part = within - L.LANE_ULOGS[k]
        return "lane %d %s log %s" % (lane, L.LOG_NAMES[k], "header" if part < L.ULOG_HDR else "+%d" % part)
    if off < heap_offset:
        return "between lanes and heap"
    if off < heap_offset + L.HEAP_HDR:
        return "heap header"
    z, within = divmod(off - heap_offset - L.HEAP_HDR, L.ZONE_MAX)
    zone = heap_offset + L.HEAP_HDR + z * L.ZONE_MAX
    if within < L.ZONE_HDR:
        return "zone %d header" % z
    if within < L.ZONE_META:
        return "zone %d chunk header %d" % (z, (within - L.ZONE_HDR) // 8)
    i = (within - L.ZONE_META) // L.CHUNKSIZE

    def header(i):
        h, = struct.unpack_from("<Q", pool, zone + L.ZONE_HDR + 8 * i)
        return h & 0xFFFF, h >> 32

    typ, size_idx = header(i)
    if typ == L.RUN_DATA:
        i -= size_idx
        typ, size_idx = header(i)
    start = zone + L.ZONE_META + i * L.CHUNKSIZE
    rel = off - start
    if typ != L.RUN:
        return "zone %d chunk %d (a whole-chunk block) +%d" % (z, i, rel)
    block, = struct.unpack_from("<Q", pool, start)
    units = (size_idx * L.CHUNKSIZE - L.RUN_HDR) // max(block, 1)
    data = -(-(L.RUN_HDR + -(-units // 64) * 8) // L.CACHELINE) * L.CACHELINE
    what = "zone %d chunk %d, run of %d-byte blocks:" % (z, i, block)
    if rel < L.RUN_HDR:
        return what + " run header"
    if rel < data:
        return what + " bitmap +%d" % (rel - L.RUN_HDR)
    b, r = divmod(rel - data, block)
    return what + " block %d +%d" % (b, r)


# ---- the runner -------------------------------------------------------------------------------


def build_tools(tmp):
    """Compiles the flush counter and the C program into tmp; returns (counter, program or error)."""
    cc = os.environ.get("CC", "cc")
    lib = os.path.join(tmp, "flushcount.so")
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", lib, os.path.join(HERE, "c", "flushcount.c"), "-ldl"],
                   check=True)
    prog = os.path.join(tmp, "bench_pmemobj")
    try:
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libpmemobj", "libpmem"],
                               capture_output=True, text=True, check=True).stdout.split()
        subprocess.run([cc, "-O2", "-o", prog, os.path.join(HERE, "c", "bench_pmemobj.c")] + flags,
                       check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        prog = RuntimeError("cannot build the C program: %s" % (getattr(e, "stderr", "") or e))
    return lib, prog


def python_for(engine):
    if engine in ("pmemobj", "pmemobj-nojournal", "sqlite"):
        return sys.executable
    import peers

    return peers.python(engine)


def _env(lib, **extra):
    env = dict(os.environ, FLUSHCOUNT_LIB=lib, **extra)
    env["LD_PRELOAD"] = lib + (" " + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
    env.pop("PMEM_IS_PMEM_FORCE", None)      # the durability of the file, as libpmem detects it
    return env


def _run_json(cmd, env):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        raise RuntimeError((r.stderr.strip().splitlines() or ["exit code %d" % r.returncode])[-1])
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(engine, workload, d, lib, prog, n, seconds):
    """One measurement in its own process: tx/s and flush calls per transaction."""
    env = _env(lib, **({"PMEMOBJ_JOURNAL": "0"} if engine == "pmemobj-nojournal" else {}))
    if engine == "c":
        if isinstance(prog, Exception):
            raise prog
        name = C_WORKLOADS[workload]
        probe = _run_json([prog, name, "--dir", d, "-n", "20", "--repeats", "1"], env)
        k = int(max(20, min(n, seconds * probe["ops_per_s"])))
        out = _run_json([prog, name, "--dir", d, "-n", str(k), "--repeats", "1"], env)
        res = {"n": out["n"], "elapsed_ns": out["best_ns"], "flush_calls": out["flush_calls"],
               "is_pmem": out["is_pmem"]}
    else:
        cmd = [python_for(engine), os.path.abspath(__file__), "--child", engine, workload,
               "--dir", d, "-n", str(n), "--seconds", str(seconds)]
        res = _run_json(cmd, env)
    res["tx_per_s"] = res["n"] * 1e9 / max(res["elapsed_ns"], 1)
    res["per_tx"] = {c: v / res["n"] for c, v in zip(FLUSH_CALLS, res["flush_calls"])}
    return res


def filesystem(d):
    """The mount holding d: device, filesystem type, mount point, options, and what is known of
    the device (from /sys/block)."""
    info = {"dir": d}
    try:
        out = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE,TARGET,OPTIONS", "-T", d],
                             capture_output=True, text=True, check=True).stdout.split()
        info.update(zip(("device", "fstype", "mount", "options"), out))
    except (OSError, subprocess.CalledProcessError):
        best = ""
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, fstype, opts = line.split()[:4]
                real = os.path.realpath(d)
                if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best = mnt
                    info.update(device=dev, fstype=fstype, mount=mnt, options=opts)
    dev = info.get("device", "")
    if dev.startswith("/dev/"):
        name = os.path.basename(os.path.realpath(dev))
        sys_block = "/sys/class/block/%s" % name
        if os.path.exists(os.path.join(sys_block, "partition")):
            name = os.path.basename(os.path.dirname(os.path.realpath(sys_block)))
        q = "/sys/block/%s" % name
        # (a virtual disk reports rotational 1 whatever backs it)
        for key, rel in (("rotational", "queue/rotational"), ("model", "device/model"),
                         ("vendor", "device/vendor"), ("driver", "device/driver")):
            p = os.path.join(q, rel)
            try:
                info[key] = os.path.basename(os.readlink(p)) if key == "driver" else open(p).read().strip()
            except OSError:
                pass
        try:
            info["size_gib"] = round(int(open(os.path.join(q, "size")).read()) * 512 / 2 ** 30, 1)
        except (OSError, ValueError):
            pass
    return info


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def _device_text(fs):
    bits = [fs.get("device", "?")]
    extra = ", ".join("%s %s" % (k, fs[k]) for k in ("driver", "model", "rotational", "size_gib") if fs.get(k))
    return bits[0] + (" (%s)" % extra if extra else "")


def markdown(results, dirs, info, seconds):
    lines = ["Measured on %s: %s, %d CPUs, Linux %s; load average %s before the run, %s after; %g s per "
             "measurement, best of %d rounds." % (info["date"], info["cpu"], info["cpus"], info["kernel"],
                                                  info["loadavg"][0], info.get("loadavg_after", ["?"])[0],
                                                  seconds, info["rounds"]), ""]
    for d in dirs:
        fs = info["filesystems"][d]
        lines.append("- `%s`: %s on %s, mounted at `%s` (%s)"
                     % (fs["label"], fs.get("fstype", "?"), _device_text(fs), fs.get("mount", "?"), fs.get("options", "")))
    lines += ["", "| engine | workload | " + " | ".join("`%s` tx/s | flush calls/tx | µs/call" % info["filesystems"][d]["label"]
                                                        for d in dirs) + " |",
              "|---|---|" + "---:|---|---:|" * len(dirs)]
    for engine in ENGINES:
        for workload in WORKLOADS:
            cells = []
            have = False
            for d in dirs:
                r = results.get((engine, workload, d))
                if r is None:
                    cells += ["", "", ""]
                elif "error" in r:
                    cells += ["skipped", r["error"][:60], ""]
                else:
                    have = True
                    calls = ", ".join("%.2f %s" % (v, c) for c, v in r["per_tx"].items() if v) or "none"
                    per_call = 1e6 / r["tx_per_s"] / max(sum(r["per_tx"].values()), 1e-9)
                    cells += ["%.0f" % r["tx_per_s"], calls, ("%.1f" if per_call < 10 else "%.0f") % per_call]
            if have or any(cells):
                lines.append("| %s | %s | %s |" % (engine, workload, " | ".join(cells)))
    lines += ["", "pmemobj's commits per second over each peer's (above 1: pmemobj commits faster):", "",
              "| workload | dir | " + " | ".join("pmemobj/%s" % e for e in ENGINES[1:]) + " |",
              "|---|---|" + "---:|" * (len(ENGINES) - 1)]
    for workload in WORKLOADS:
        for d in dirs:
            p = results.get(("pmemobj", workload, d))
            if not p or "error" in p:
                continue
            cells = []
            for e in ENGINES[1:]:
                r = results.get((e, workload, d))
                cells.append("%.2f" % (p["tx_per_s"] / r["tx_per_s"]) if r and "error" not in r else "")
            lines.append("| %s | `%s` | %s |" % (workload, info["filesystems"][d]["label"], " | ".join(cells)))
    return "\n".join(lines) + "\n"


def breakdown_markdown(bd):
    """Each workload's traced transactions: their msync counts, and the ranges of the one with
    fewest (the others add a one-time growth of the table)."""
    lines = ["Pool layout: lanes at %d (%d lanes of 3072 bytes), heap at %d."
             % (bd["lanes_offset"], bd["nlanes"], bd["heap_offset"]), ""]
    for workload in WORKLOADS:
        txs = [t for t in bd["transactions"] if t["workload"] == workload]
        if not txs:
            continue
        tx = min(txs, key=lambda t: len(t["msync"]))
        lines.append("%s: msync calls per traced transaction %s; the ranges of one (file offset, bytes):"
                     % (workload, ", ".join(str(len(t["msync"])) for t in txs)))
        for m in tx["pmem_msync"]:
            lines.append("    %-10s %6d  %s" % ("%#x" % m["offset"] if m["offset"] is not None else "-",
                                                m["len"], m["where"]))
        lines.append("")
    return "\n".join(lines)


DOCS_BEGIN = "<!-- durable_commits.py: begin -->"
DOCS_END = "<!-- durable_commits.py: end -->"

SECTION_INTRO = """\
## Durable commits on disks

`benchmarks/durable_commits.py` (see `benchmarks/README.md`): small write transactions one after
another, each durable before the next begins, in a directory on a disk and in `/dev/shm`:
`insert` is `d[i] = i` for a new int key, `overwrite` is `d[k] = v` for an existing key of a
dict of 1,000 entries, `multi10` is ten inserts in one transaction.  pmemobj and the C program
run on libpmemobj with `PMEM_IS_PMEM_FORCE` unset: neither file system is persistent memory.
On the disk pmemobj's pools have a journal (docs/durability.rst, "The journal"): a commit is one
`fdatasync`; in `/dev/shm` they have none and make one `msync` per drain of libpmemobj, as
`pmemobj-nojournal` (`PMEMOBJ_JOURNAL=0`) does on both.  The C program calls libpmemobj as it is:
an `msync` for every flush.  SQLite runs in WAL mode with `synchronous=FULL`, LMDB with
`sync=True`, ZODB with a FileStorage.  Flush calls are `msync`, `fsync`, `fdatasync`,
`sync_file_range` and `syncfs`, counted by a library preloaded into each measuring process
(`benchmarks/c/flushcount.c`) over the timed transactions only; µs/call is the time of a
transaction over its flush calls.  On a disk each flush call waits for the device, so commits
per second follow flush calls per transaction; on `/dev/shm` a flush call costs a system call
and little else.  On a disk shared with other work (such as a virtual machine's) the cost of a
call moves with the other load: compare engines within one run, not across runs.
"""

BREAKDOWN_INTRO = """\
### Where pmemobj's msyncs go

`durable_commits.py --breakdown` traces the ranges libpmemobj itself flushes (`pmem_msync`,
each then rounded out to whole pages for `msync`; pmemobj run with `PMEMOBJ_JOURNAL=0` and
`PMEMOBJ_MERGE_FLUSHES=0`, so that each flush is an msync of its own, as the C program makes
them) during a few transactions of each workload, placed in the
pool's layout: the pool header (0-4 KiB) and descriptor (4-8 KiB), 1,024 lanes of 3,072 bytes
from 8 KiB (each an internal redo log at +0, an external redo log at +256 and an undo log at
+960), then the heap (a 1 KiB header, then zones: a zone header, chunk headers, 256 KiB chunks,
most of them runs of equal blocks behind a run header and bitmap).

Read from the trace below: every snapshot (`tx_add_range`: the dict header, an index slot, an
entry's value) appends an entry to the lane's undo log, with one msync for the line after the
entry (which ends the log), one for the entry's lines past its first when it has more than one,
and one for its first line, which carries the checksum that makes the entry valid.  At commit
each range snapshotted or written is flushed with an msync of its own (adjacent new entries of
one table merge into one range), and a last msync persists the undo log's new generation
number, which discards the log.  An insert: the index slot (2) and the 72-byte header (3)
snapshotted, then the header, the slot and the new entry flushed (3), then the log discarded
(1): 9.  An overwrite: the entry's 24 bytes snapshotted (2), flushed (1), the log discarded (1):
4.  Ten inserts in one transaction: 2 + 3 + 9 x 2 for the snapshots, 12 ranges, 1: 36.  All of
the undo log's msyncs fall in one 4 KiB page of the lane, written out again each time, and a
commit's ranges are flushed one by one even when they share a page.  Merged per drain (the core's
flush functions) they are 4, 3 and 13 msyncs; with the journal, each transaction's ranges are
copied at each drain into one record and the commit is one `fdatasync`.
"""


def docs_section(table, bd):
    text = SECTION_INTRO + "\n" + table
    if bd:
        text += "\n" + BREAKDOWN_INTRO + "\n```\n" + breakdown_markdown(bd).rstrip() + "\n```\n"
    return text


def write_docs(docs_dir, section):
    """Puts the section into docs_dir/performance.md between its markers, in place of an earlier
    one, or at the end."""
    path = os.path.join(docs_dir, "performance.md")
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = "# Performance\n"
    block = DOCS_BEGIN + "\n" + section.rstrip() + "\n" + DOCS_END + "\n"
    if DOCS_BEGIN in old and DOCS_END in old:
        head, rest = old.split(DOCS_BEGIN, 1)
        new = head + block + rest.split(DOCS_END, 1)[1].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(new)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", action="append", help="a directory to measure in (repeatable; default: a temp "
                    "dir on the disk holding the repository, and /dev/shm)")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement (default 3)")
    ap.add_argument("-n", type=int, default=20000, help="at most this many transactions per measurement")
    ap.add_argument("--rounds", type=int, default=3, help="run the whole set this many times, interleaved, "
                    "keeping each measurement's best (default 3; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 0.2 s and at most 200 transactions each")
    ap.add_argument("--breakdown", action="store_true", help="also trace where pmemobj's msyncs go")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="where the results go")
    ap.add_argument("--docs", metavar="DIR", help="also put the tables, as the section \"Durable commits on "
                    "disks\", into DIR/performance.md (docs/ for the project's documentation)")
    ap.add_argument("--child", nargs=2, metavar=("ENGINE", "WORKLOAD"), help=argparse.SUPPRESS)
    ap.add_argument("--breakdown-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.dir[0], args.n, args.seconds)))
        return 0
    if args.breakdown_child:
        print(json.dumps(breakdown_child(args.dir[0])))
        return 0
    if args.quick:
        args.seconds, args.n, args.rounds = min(args.seconds, 0.2), min(args.n, 200), 1
    engines = [e for e in args.engines.split(",") if e]
    workloads = [w for w in args.workloads.split(",") if w]
    for e in engines:
        if e not in ENGINES:
            ap.error("unknown engine %r (have: %s)" % (e, ", ".join(ENGINES)))
    for w in workloads:
        if w not in WORKLOADS:
            ap.error("unknown workload %r (have: %s)" % (w, ", ".join(WORKLOADS)))

    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="durable-tools-"))
        dirs = args.dir
        if not dirs:
            disk = stack.enter_context(tempfile.TemporaryDirectory(prefix=".durable-", dir=REPO))
            dirs = [disk, "/dev/shm"]
        lib, prog = build_tools(tmp)
        info = dict(machine(), filesystems={}, rounds=args.rounds)
        for d in dirs:
            fs = filesystem(d)
            fs["label"] = "/dev/shm" if d == "/dev/shm" else (
                "%s %s" % (fs.get("fstype", "disk"), os.path.basename(fs.get("device", "")) or d) if not args.dir else d)
            info["filesystems"][d] = fs
        results = {}
        for rnd in range(args.rounds):
            for d, engine, workload in itertools.product(dirs, engines, workloads):
                key = (engine, workload, d)
                if "error" in results.get(key, {}):
                    continue
                try:
                    r = measure(engine, workload, d, lib, prog, args.n, args.seconds)
                except Exception as e:  # a peer that cannot run here: reported, not fatal
                    r = {"error": str(e)}
                # other load on a shared disk only ever slows commits: the best round is kept
                rates = results.get(key, {}).get("all_tx_per_s", []) + [round(r.get("tx_per_s", 0), 1)]
                if key not in results or r.get("tx_per_s", 0) > results[key].get("tx_per_s", 0):
                    results[key] = r
                results[key]["all_tx_per_s"] = rates
                label = "%s, round %d" % (info["filesystems"][d]["label"], rnd + 1)
                if "error" in r:
                    print("%-8s %-9s %-22s skipped: %s" % (engine, workload, label, r["error"]), file=sys.stderr)
                else:
                    print("%-8s %-9s %-22s %9.0f tx/s  %s" % (
                        engine, workload, label, r["tx_per_s"],
                        " ".join("%s %.2f" % (c, v) for c, v in r["per_tx"].items() if v)), file=sys.stderr)
        info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        text = markdown(results, dirs, info, args.seconds)
        bd = None
        if args.breakdown and "pmemobj" in engines:
            trace = os.path.join(tmp, "trace")
            cmd = [sys.executable, os.path.abspath(__file__), "--breakdown-child", "--dir", dirs[0]]
            # libpmemobj's own flushes: without the journal, one msync per flush
            bd = _run_json(cmd, _env(lib, FLUSHCOUNT_TRACE=trace, PMEMOBJ_JOURNAL="0", PMEMOBJ_MERGE_FLUSHES="0"))
            text += "\n" + breakdown_markdown(bd)
        section = docs_section(markdown(results, dirs, info, args.seconds), bd)
    print(text)
    if args.docs:
        print("wrote", write_docs(args.docs, section))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "durable_commits.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "durable_commits.json"), "w") as f:
        json.dump({"machine": info, "seconds": args.seconds, "breakdown": bd,
                   "results": [dict(r, engine=e, workload=w, dir=d) for (e, w, d), r in results.items()]},
                  f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
