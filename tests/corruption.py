"""Corrupted pool files: damaged copies of a pool holding objects of all three
packages (and of a file-backed ptypes storage) are checked, opened, read in
full, garbage collected, written to and closed in child interpreters.  Every input must end
in a Python exception or, where the damage is undetectable, in a normal run:
never in a death by a signal or a hang.

``campaign()`` is used by tests/test_reliability_corrupt.py and tests/soak.py."""
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import torture

KINDS = ("header", "lanes", "heap", "object", "object", "truncate", "zero_range")
HEADER = 8192            # libpmemobj's pool header and descriptor precede the lanes
LANES_END = HEADER + 1024 * 3072     # 1024 lanes of undo and redo logs, then the heap

# Runs in the child: one line per input, written before the input is touched,
# so that a death by signal names the input that caused it.
CHILD = r"""
import gc, sys, torture, pmemobj

def read_storage(s):
    r = s.root
    torture.storage_plain(r, s)
    with s.transaction():
        r.entries.append(s.schema.Entry(n=1, text=b"written after the damage"))
        r.byKey[b"k1"] = s.schema.Entry(n=2, text=b"x")
        s.stringRegistry.get(b"new")
    del r
    s.gc()

def close_storage(s):
    gc.collect()
    try:
        s.close()
    except ValueError:
        pass

def read_pool(path):
    if not pmemobj.check_file(path):
        print("check", "inconsistent", flush=True)
    with pmemobj.open(path) as pool:
        s = torture.open_journal(pool)
        try:
            root = pool.root
            for k in ("d", "l", "s", "o", "arrs", "log", "n", "big"):
                torture.plain(root[k])
            pool.mm._gc(dry_run=True)
            with pool.transaction():
                root["l"].append("written after the damage")
                root["d"][0] = pool.new(pmemobj.PersistentList, [1, 2])
                big = root["big"]
                big["l"].extend(range(2000))
                del big["l"][100:3000]
                big["d"].update((i, str(i)) for i in range(-500, 0))
                big["s"].difference_update(range(0, 3000, 3))
            del root
            read_storage(s)
        finally:
            close_storage(s)

def read_storage_file(path):
    if not pmemobj.check_file(path):
        print("check", "inconsistent", flush=True)
    s = torture.Journal(path)
    try:
        read_storage(s)
    finally:
        close_storage(s)

for path in sys.argv[1:]:
    print("input", path, flush=True)
    try:
        (read_storage_file if path.endswith(".storage") else read_pool)(path)
    except Exception as e:
        print("outcome", type(e).__name__, flush=True)
    else:
        print("outcome", "undetected", flush=True)
"""


# Collections past their small arrays, in the torture pool: their segments, blocks and
# directories are damage targets too (include/pyp_hashtable.h, include/pyp_list.h).
BIG = r"""
import sys, pmemobj
with pmemobj.open(sys.argv[1]) as pool:
    with pool.transaction():
        pool.root["big"] = pool.new(pmemobj.PersistentDict, {
            "l": pool.new(pmemobj.PersistentList, ["x%d" % i if i % 4 == 0 else i for i in range(5000)]),
            "d": pool.new(pmemobj.PersistentDict, {i: "v%d" % i for i in range(6000)}),
            "s": pool.new(pmemobj.PersistentSet, range(4000)),
        })
"""


def make_sources(directory, transactions=300):
    """The torture pool and a file-backed storage after some torture
    transactions, and the offsets of their objects (where 'object data' damage goes)."""
    pool_path = os.path.join(directory, "source.pool")
    storage_path = os.path.join(directory, "source.storage")
    torture.create(pool_path)
    torture.work(pool_path, 1, transactions, quiet=True)
    subprocess.run([sys.executable, "-c", BIG, pool_path], env=torture.spawn_env(), timeout=120, check=True)
    torture.create_storage_file(storage_path)
    torture.work_storage_file(storage_path, 1, transactions)
    code = ("import json, sys, torture\n"
            "print(json.dumps([torture.object_offsets(sys.argv[1]),\n"
            "                  torture.object_offsets(sys.argv[2], storage_file=True)]))")
    proc = subprocess.run([sys.executable, "-c", code, pool_path, storage_path], capture_output=True,
                          text=True, env=torture.spawn_env(), timeout=120, check=True)
    pool_offsets, storage_offsets = json.loads(proc.stdout)
    return {pool_path: pool_offsets, storage_path: storage_offsets}


def damaged_copy(src, dst, offsets, rng, kinds=None):
    """Copy src to dst with one kind of damage; returns (kind, offset, bytes
    written or the new size): enough to reproduce it."""
    shutil.copyfile(src, dst)
    size = os.path.getsize(dst)
    kind = rng.choice(kinds or KINDS)
    if kind == "truncate":
        new_size = rng.choice([0, 1, 4096, HEADER, 1 << 20, size // 2, size - 4096, rng.randrange(size)])
        os.truncate(dst, new_size)
        return kind, new_size, b""
    if kind == "header":
        at = rng.randrange(HEADER)
    elif kind == "lanes":
        at = rng.randrange(HEADER, LANES_END)
    elif kind == "heap":
        at = rng.randrange(HEADER, min(size, 4 << 20))      # the lanes, heap metadata and the first runs
    elif kind == "object":
        at = rng.choice(offsets) + rng.randrange(-16, 64)
    else:
        at = rng.randrange(HEADER, size - 4096)
    data = b"\0" * rng.randrange(1, 4096) if kind == "zero_range" else \
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 17)))
    with open(dst, "r+b") as f:
        f.seek(at)
        f.write(data)
    return kind, at, data


def run_batch(paths, per_input=10):
    """Run the child over *paths*; returns {path: outcome}.  A death by signal
    gives the outcome 'signal SIGxxx', an input that takes more than
    *per_input* seconds 'hang'; the child then goes on with the next input."""
    outcomes = {}
    while len(outcomes) < len(paths):
        todo = [p for p in paths if p not in outcomes]
        timeout = per_input + 2 * len(todo)
        try:
            env = dict(torture.spawn_env(), PMEMOBJ_OPEN_TIMEOUT="3")    # a stuck libpmemobj open gives up
            proc = subprocess.run([sys.executable, "-c", CHILD, *todo], capture_output=True, text=True,
                                  env=env, timeout=timeout)
            out, rc, err = proc.stdout, proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            rc, err = None, ""
        path, checked = None, False
        for ln in out.splitlines():
            word, _, rest = ln.partition(" ")
            if word == "input":
                path, checked = rest, False
            elif word == "check":
                checked = True
            elif word == "outcome":
                outcomes[path] = rest + (" (pmemobj_check: inconsistent)" if checked else "")
                path = None
        if path is None and len(outcomes) < len(paths):
            path = todo[len(outcomes) - (len(paths) - len(todo))]       # died before its first line
        if path is not None:
            if rc is None:
                outcomes[path] = "hang"
            elif rc < 0:
                outcomes[path] = "signal " + signal.Signals(-rc).name
            else:
                outcomes[path] = f"exit status {rc}: {err[-500:]}"
    return outcomes


FAILURES = ("hang", "signal", "exit status")


def campaign(directory, count, seconds=None, seed=0, batch=25, kinds=None):
    """Damage copies of the sources *count* times (or for *seconds*); returns
    {'tried': n, 'outcomes': {outcome: n}, 'kinds': {kind: n}, 'failures': [...]}:
    a failure (a death by signal, a hang, an unexpected exit) is described by the
    damage that caused it (file, kind, offset, bytes), to be reproduced on a
    fresh source (the sources are deterministic)."""
    work = os.path.join(directory, "corruption")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    sources = make_sources(work)
    rng = random.Random(seed)
    deadline = None if seconds is None else time.monotonic() + seconds
    outcomes, kind_counts = collections.Counter(), collections.Counter()
    damage, failures = {}, []
    tried = 0
    while tried < count and (deadline is None or time.monotonic() < deadline):
        paths = []
        for j in range(min(batch, count - tried)):
            src = rng.choice(sorted(sources))
            dst = os.path.join(work, "damaged%d%s" % (j, os.path.splitext(src)[1]))
            damage[dst] = damaged_copy(src, dst, sources[src], rng, kinds)
            kind_counts[damage[dst][0]] += 1
            paths.append(dst)
        for path, outcome in run_batch(paths).items():
            outcomes[outcome] += 1
            if outcome.startswith(FAILURES):
                kind, at, data = damage[path]
                failures.append({"file": os.path.splitext(path)[1][1:], "kind": kind, "at": at,
                                 "data": data.hex() if len(data) < 64 else "%d zero bytes" % len(data),
                                 "outcome": outcome})
        for p in paths:
            os.remove(p)
        tried += len(paths)
    shutil.rmtree(work, ignore_errors=True)
    return {"tried": tried, "outcomes": dict(outcomes), "kinds": dict(kind_counts), "failures": failures}
