"""What every workload script shares: timing, store paths, and the command line.

A workload script holds a registry ``WORKLOADS = {name: fn}``; each ``fn(dir, n, repeats=3)``
runs ``n`` operations against a store it creates under ``dir`` and returns a dict (see
``measure``) with the persistence mode it ran in.  ``main(system, WORKLOADS)`` runs one
workload per process and prints its dict as JSON on stdout.

Standard library only: peer workload scripts import this module from their own venvs.
"""

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile

DEFAULT_REPEATS = 3
POOL_SIZE = 256 << 20

# The collection workloads, alike in every system (and in c/bench_pmemobj.c): reads look up
# the keys of a mapping of min(n, READ_KEYS) entries in the order (i * READ_STRIDE) % size;
# text keys are 20 characters.
READ_KEYS = 100_000
READ_STRIDE = 7919


def text_key(i):
    """The 20-character key of entry i (str; encode it for a bytes key)."""
    return "k%019d" % i


def read_order(n):
    """The size of the mapping the read workloads fill, and the entry numbers n reads look up."""
    size = min(n, READ_KEYS)
    return size, [(i * READ_STRIDE) % size for i in range(n)]


# The sorted-collection workloads insert the multiples of SORTED_STEP below n * SORTED_STEP in
# a shuffled order (the same in every system and run), and look up existing ones.
SORTED_STEP = 3


def sorted_values(n):
    """The n values a sorted collection is filled with, in the order they are inserted."""
    import random
    values = [i * SORTED_STEP for i in range(n)]
    random.Random(n).shuffle(values)
    return values


class Unsupported(Exception):
    """The system cannot run this workload here (a missing feature or package)."""


def measure(trial, n, repeats=DEFAULT_REPEATS, warmup=None):
    """Times ``trial(k)`` (which runs k operations and returns elapsed ns).

    A warm-up trial runs first; the best of ``repeats`` timed trials is kept, since noise
    from other processes only ever adds time.
    """
    if warmup is None:
        warmup = max(1, min(n // 10, 10000))
    trial(warmup)
    times = [trial(n) for _ in range(repeats)]
    best = max(min(times), 1)
    return {
        "n": n,
        "repeats": repeats,
        "best_ns": best,
        "ns_per_op": best / n,
        "ops_per_s": n * 1e9 / best,
        "all_ns_per_op": [round(t / n, 3) for t in times],
    }


@contextlib.contextmanager
def scratch_dir(base, prefix):
    """A fresh directory under ``base`` for one store, removed afterwards."""
    path = tempfile.mkdtemp(prefix="bench-%s-" % prefix, dir=base)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def pmem_force():
    """The PMEM_IS_PMEM_FORCE setting this process runs with (None when unset)."""
    return os.environ.get("PMEM_IS_PMEM_FORCE")


def main(system, workloads, argv=None):
    ap = argparse.ArgumentParser(description="Run one %s workload and print its result as JSON." % system)
    ap.add_argument("workload", nargs="?", help="one of: " + ", ".join(workloads))
    ap.add_argument("--list", action="store_true", help="print the workload names as JSON and exit")
    ap.add_argument("--dir", default="/dev/shm", help="directory for the pool/store (default /dev/shm)")
    ap.add_argument("-n", type=int, default=200000, help="operations per timed repeat")
    ap.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    args = ap.parse_args(argv)
    if args.list:
        print(json.dumps(sorted(workloads)))
        return 0
    if args.workload not in workloads:
        ap.error("unknown workload %r (have: %s)" % (args.workload, ", ".join(sorted(workloads))))
    if args.n < 1 or args.repeats < 1:
        ap.error("-n and --repeats must be positive")
    result = {"system": system, "workload": args.workload, "pmem_is_pmem_force": pmem_force()}
    try:
        result.update(workloads[args.workload](args.dir, args.n, repeats=args.repeats))
    except Unsupported as e:
        result["skipped"] = str(e)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit("common.py is a library for the workload scripts")
