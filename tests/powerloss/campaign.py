"""Power-loss campaigns: the workload runs under the simulator, and every
cut point's medium is checked in a fresh process (powerloss.checker).

- ``sweep()`` runs the workload once and has the simulator write the medium
  of each chosen cut point as it goes (``at="all"``: every one); a checker
  takes them as they come (two processes, two cores).  An image is exactly
  the shadow file that ending the process at that point would leave.
- ``cut()`` ends the workload at one point, the simulator's plain mode, and
  checks the shadow (regression tests use it).
- ``count_points()`` counts the cut points of a workload.

``mode`` is how the pool flushes: "msync" (a file that is not persistent
memory at durability "power" without a journal: an msync per drain of
libpmemobj, the default), "journal" (the same with a journal: one fdatasync
per commit, checkpoints; pmemobj/_journal.pxi), "journal-small" (a journal
of 8 KiB: a checkpoint every few commits, and most transactions too big for
it: records cut at drains, or drains written straight into the pool), "force" (PMEM_IS_PMEM_FORCE=1: CPU cache flushes, which no medium
sees; its cut points are libpmem's drains; it is expected to fail) or
"process" (durability "process": no flush per commit; expected to lose
commits, and refused at open when it may be damaged).  A mode is an
environment (MODES) plus what the workload passes to pmemobj.create/open
(workload.POOL_ARGS): a durability level of the pool adds its entries there.
"""
import collections
import contextlib
import json
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import torture

import powerloss

# "process": pools at durability "process"; the workload runs in a boot of its
# own (PMEMOBJ_BOOT_ID), so the checker's open comes after a restart
MODES = {"msync": {"PMEM_IS_PMEM_FORCE": "0", "PMEMOBJ_JOURNAL": "0"}, "force": {"PMEM_IS_PMEM_FORCE": "1"},
         "journal": {"PMEM_IS_PMEM_FORCE": "0", "PMEMOBJ_JOURNAL": "1"},
         "journal-small": {"PMEM_IS_PMEM_FORCE": "0", "PMEMOBJ_JOURNAL": "1", "PMEMOBJ_JOURNAL_SIZE": "8192"},
         "process": {"PMEM_IS_PMEM_FORCE": "0", "PMEMOBJ_BOOT_ID": "the boot the power loss ended"}}
FAILURES = ("check failure", "unusable", "lost commit", "partial", "leak", "error", "death", "hang")
HANG = 120              # seconds one image may take (a check takes well under one)
WORKLOAD = "import sys; from powerloss import workload; workload.main(sys.argv[1:])"
CHECKER = "import sys; from powerloss import checker; sys.exit(checker.main(sys.argv[1:]))"


class Tally:
    """The outcomes of the cut points checked."""

    def __init__(self):
        self.outcomes = collections.Counter()
        self.results = []
        self.opened = self.in_flight = 0

    def add(self, result):
        self.results.append(result)
        self.outcomes[result["outcome"]] += 1
        self.opened += bool(result.get("opened"))
        self.in_flight += bool(result.get("in_flight"))

    def merge(self, other):
        for r in other.results:
            self.add(r)
        return self

    @property
    def tried(self):
        return len(self.results)

    @property
    def failures(self):
        return [r for r in self.results if r["outcome"] in FAILURES]

    def counts(self):
        c = {"tried": self.tried, "opened": self.opened, "not created": self.outcomes["not created"],
             "in flight committed": self.in_flight}
        c.update((k, self.outcomes[k]) for k in FAILURES)
        return c

    def summary(self):
        return ", ".join(f"{k}: {v}" for k, v in self.counts().items())


def _env(extra):
    env = torture.spawn_env()
    env.update(extra)
    return env


def _paths(directory):
    work = tempfile.mkdtemp(prefix="powerloss-", dir=directory)
    paths = {k: os.path.join(work, k) for k in ("pool", "shadow", "record", "images", "count", "stderr")}
    os.mkdir(paths["images"])
    return work, paths


def _workload(paths, base, transactions, mode, simulated=True, **simulator):
    """Start the workload child on transactions base+1..base+transactions
    (with the pool's creation if base is 0), under the simulator."""
    env = dict(MODES[mode])
    if simulated:
        env.update(powerloss.environment(paths["pool"], paths["shadow"], record=paths["record"],
                                         count=paths["count"], **simulator))
    with open(paths["stderr"], "w") as err:
        return subprocess.Popen([sys.executable, "-c", WORKLOAD, paths["pool"], paths["record"], str(base + 1),
                                 str(base + transactions + 1), mode], env=_env(env),
                                stdout=subprocess.DEVNULL, stderr=err)


def _prepare(directory, base, mode, start=None):
    """A work directory; with *base*, a pool that transactions 1..base left
    (closed cleanly: the simulator takes it as on the medium), made once per
    *directory* and copied.  With *start*, a (pool file, base) to continue
    from instead: a medium left by a power failure, which the first open
    recovers."""
    work, paths = _paths(directory)
    if start is not None:
        shutil.copyfile(start[0], paths["pool"])
        with open(paths["record"], "w") as f:
            f.write(f"created\n{start[1]}\n")
    elif base:
        cached = os.path.join(directory, f"base-{mode}-{base}")
        if not os.path.exists(cached + ".pool"):
            first, made = _paths(directory)
            proc = _workload(made, 0, base, mode, simulated=False)
            proc.wait()
            _require_status(proc, made)
            os.replace(made["record"], cached + ".record")
            os.replace(made["pool"], cached + ".pool")
            shutil.rmtree(first, ignore_errors=True)
        shutil.copyfile(cached + ".pool", paths["pool"])
        shutil.copyfile(cached + ".record", paths["record"])
    return work, paths


def _require_status(proc, paths, expected=(0,)):
    """The workload child ended as *expected*, or raise with its stderr."""
    if proc.returncode in expected:
        return
    with open(paths["stderr"]) as f:
        raise AssertionError(f"the workload ended with status {proc.returncode}:\n{f.read()[-3000:]}")


@contextlib.contextmanager
def _workdir(directory, base, mode, start):
    """(base, paths) of a work directory made by _prepare, removed afterwards."""
    if start is not None:
        base = start[1]
    work, paths = _prepare(directory, base, mode, start)
    try:
        yield base, paths
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _lines(stream, q):
    for line in stream:
        q.put(line)
    q.put(None)


def check_images(images, record, producer=None):
    """Check the images of *images* as they come (powerloss.checker), until
    *producer* (a Popen, or None: all are there) has ended and all are
    checked.  A checker that dies by a signal or hangs is recorded for the
    image it was checking and restarted after it.  Returns a Tally."""
    tally, after = Tally(), 0
    done = os.path.join(images, "done")
    if producer is None:
        open(done, "w").close()
    errors = os.path.join(os.path.dirname(images), "checker.err")
    while True:
        with open(errors, "w") as err:
            checker = subprocess.Popen([sys.executable, "-c", CHECKER, images, record, str(after)],
                                       env=_env({}), stdout=subprocess.PIPE, stderr=err, text=True)
        q = queue.Queue()
        threading.Thread(target=_lines, args=(checker.stdout, q), daemon=True).start()
        current = started = None
        while True:
            if producer is not None and producer.poll() is not None and not os.path.exists(done):
                open(done, "w").close()
            try:
                line = q.get(timeout=0.05)
            except queue.Empty:
                if current is not None and time.monotonic() - started > HANG:
                    checker.kill()
                    checker.wait()
                    tally.add({"point": current, "outcome": "hang"})
                    break
                continue
            if line is None:
                rc = checker.wait()
                if rc == 0 and current is None:
                    return tally
                with open(errors) as f:
                    err = f.read()
                if current is None:
                    raise AssertionError(f"the checker failed between images (status {rc}):\n{err[-3000:]}")
                tally.add({"point": current, "outcome": "death" if rc < 0 else "error",
                           "detail": f"status {rc}: {err[-500:]}"})
                break
            if line.startswith("begin "):
                current, started = int(line.split()[1]), time.monotonic()
            elif line.startswith("result "):
                tally.add(json.loads(line[7:]))
                after, current = tally.results[-1]["point"], None
        # restart after the image that killed or hung the checker
        after = current
        image = os.path.join(images, f"cut-{current:08d}.img")
        if os.path.exists(image):
            os.replace(image, os.path.join(os.path.dirname(images), f"failed-{current:08d}.img"))


def sweep(directory, transactions, p=0.0, seed=0, mode="msync", at="all", base=0, drop=None, start=None):
    """Run *transactions* transactions once (after *base* ones run without
    the simulator; from the pool's creation if 0; or continuing the pool of
    *start*, see _prepare) to the pool's close; check the medium of every cut
    point in *at* ("all" or a list).  Returns a Tally."""
    with _workdir(directory, base, mode, start) as (base, paths):
        producer = _workload(paths, base, transactions, mode, p=p, seed=seed, images=paths["images"], at=at,
                             drop=drop)
        try:
            tally = check_images(paths["images"], paths["record"], producer)
        finally:
            if producer.poll() is None:
                producer.kill()
            producer.wait()
        _require_status(producer, paths)
        return tally


def cut(directory, transactions, point, p=0.0, seed=0, mode="msync", base=0, start=None, keep=None):
    """Run the workload until the power fails at cut point *point* (the
    simulator ends it there); check the shadow file (copied to *keep* first,
    if given).  Returns the result."""
    with _workdir(directory, base, mode, start) as (base, paths):
        producer = _workload(paths, base, transactions, mode, p=p, seed=seed, cut=point)
        producer.wait()
        _require_status(producer, paths, expected=(powerloss.POWER_LOST,))
        if keep is not None:
            shutil.copyfile(paths["shadow"], keep)
        os.replace(paths["shadow"], os.path.join(paths["images"], f"cut-{point:08d}.img"))
        with open(os.path.join(paths["images"], "index"), "w") as f:
            f.write(f"{point} {os.path.getsize(paths['record'])}\n")
        return check_images(paths["images"], paths["record"]).results[0]


def count_points(directory, transactions, mode="msync", base=0, start=None):
    """The number of cut points of the workload (it runs once, to its end)."""
    with _workdir(directory, base, mode, start) as (base, paths):
        producer = _workload(paths, base, transactions, mode)
        producer.wait()
        _require_status(producer, paths)
        with open(paths["count"]) as f:
            return int(f.read())


def sample(directory, points, seed, mode="msync", transactions=20, max_base=300, progress=None):
    """About *points* cut points sampled over runs of *transactions*
    transactions with p = 0 and p = 0.5 in turn.  A run starts after a random
    number of transactions (up to *max_base*; a quarter of the runs start
    with the pool's creation) run without the simulator; a quarter of the
    runs then first lose power at a random point, and the run starts from
    what the medium held (so that power also fails while the open recovers).
    Returns {p: Tally}; each result also says how to run its cut again."""
    rng = random.Random(seed)
    tallies = {0.0: Tally(), 0.5: Tally()}
    runs = 0
    while sum(t.tried for t in tallies.values()) < points:
        p = (0.0, 0.5)[runs % 2]
        base = 0 if rng.random() < 0.25 else rng.randrange(1, max_base + 1)
        run_seed, start, rerun = rng.randrange(1 << 32), None, {"base": base}
        if rng.random() < 0.25:
            first = rng.randrange(1, count_points(directory, transactions, mode, base) + 1)
            kept = os.path.join(directory, "continued.pool")
            r = cut(directory, transactions, first, p, run_seed, mode, base, keep=kept)
            if r["outcome"] == "ok" and r["created"]:
                start = (kept, r["n"])
                rerun = {"start": f"(the medium of cut(DIR, {transactions}, {first}, p={p}, seed={run_seed}, "
                                  f"mode={mode!r}, base={base}), {r['n']})"}
        total = count_points(directory, transactions, mode, base, start)
        left = points - sum(t.tried for t in tallies.values())
        at = sorted(rng.sample(range(1, total + 1), min(left, max(1, total // 4), 150)))
        tally = sweep(directory, transactions, p, run_seed, mode, at, base, start=start)
        for r in tally.results:
            r.update(mode=mode, transactions=transactions, p=p, seed=run_seed, **rerun)
        tallies[p].merge(tally)
        runs += 1
        if progress is not None:
            how = f"continuing a cut at transaction {start[1]}" if start else f"base {base}"
            progress(f"run {runs}: {how}, p = {p}: {tally.summary()}")
    return tallies
