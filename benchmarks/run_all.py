#!/usr/bin/env python3
"""Runs every system's workloads side by side, then scale.py, and writes the comparison.

    python3 benchmarks/run_all.py [--dir /dev/shm] [--force-pmem both] [--quick] [--out DIR]

Each (system, workload, persistence mode) runs in a process of its own and prints JSON.
Writes into --out (default benchmarks/results/): results.json (every measurement),
ratios.json (each system's ns/op over the workload's baseline), results.md (the tables),
results.png (when matplotlib is installed) and scale.json; then the report,
docs/performance.md with its figures in docs/_static/ (report.py).
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import peers
import scale
from catalog import WORKLOADS, System
from comparison import compare, markdown, mode_label, ok, plot

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

try:
    from tqdm import tqdm
except ImportError:
    tqdm = None


C_SOURCE = os.path.join(HERE, "c", "bench_pmemobj.c")

# (name, description, runs on libpmem): each has a workloads_<name>.py run with this python
OWN_SYSTEMS = [
    ("pmemobj", "this project's pmemobj", True),
    ("ptypes", "this project's ptypes (on pmemobj pools)", True),
    ("sharedbuffers", "this project's sharedbuffers", False),
    ("builtin", "Python's builtin dict and list (volatile: nothing persists)", False),
]
SYSTEM_NAMES = ["c"] + [name for name, _, _ in OWN_SYSTEMS]


def build_c_program(build_dir):
    """Compiles bench_pmemobj.c; returns its path or raises RuntimeError with the reason."""
    try:
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libpmemobj", "libpmem"],
                               capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError("pkg-config cannot find libpmemobj/libpmem (%s)" % e)
    exe = os.path.join(build_dir, "bench_pmemobj")
    cc = os.environ.get("CC", "cc")
    r = subprocess.run([cc, "-O2", "-std=c11", "-o", exe, C_SOURCE] + flags, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("%s failed to compile %s:\n%s" % (cc, C_SOURCE, r.stderr.strip()))
    return exe


def list_workloads(system):
    r = subprocess.run(system.command + ["--list"], capture_output=True, text=True, env=child_env(system, None))
    if r.returncode:
        raise RuntimeError((r.stderr.strip().splitlines() or ["exit code %d" % r.returncode])[-1])
    return json.loads(r.stdout)


def discover_systems(names, build_dir):
    """Every system asked for, with its command and workloads, or why it cannot run."""
    systems = []
    want = lambda name: not names or name in names
    if want("c"):
        s = System("c", "C on libpmemobj (the physical limit)", pmem=True)
        try:
            s.command = [build_c_program(build_dir)]
        except RuntimeError as e:
            s.unavailable = str(e)
        systems.append(s)
    # this project's packages, and the builtin dict and list, run with the runner's python
    pythonpath = os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))
    for name, description, pmem in OWN_SYSTEMS:
        if want(name):
            systems.append(System(name, description, pmem=pmem,
                                  command=[sys.executable, os.path.join(HERE, "workloads_%s.py" % name)],
                                  env={"PYTHONPATH": pythonpath}))
    for peer in peers.PEERS.values():
        if not peer.script or not want(peer.name):
            continue
        s = System(peer.name, peer.description, pmem=peer.pmem)
        try:
            s.command = [peers.python(peer.name), peer.script_path()]
        except peers.PeerUnavailable as e:
            s.unavailable = str(e)
        systems.append(s)
    for s in systems:
        if not s.unavailable:
            try:
                s.workloads = [w for w in list_workloads(s) if w in WORKLOADS]
            except (RuntimeError, ValueError) as e:
                s.unavailable = "cannot list its workloads: %s" % e
    return systems


def child_env(system, force):
    """The environment of one run: PMEM_IS_PMEM_FORCE=1, or unset so libpmem detects the mode."""
    env = dict(os.environ, **system.env)
    env.pop("PMEM_IS_PMEM_FORCE", None)
    if force == "1":
        env["PMEM_IS_PMEM_FORCE"] = "1"
    return env


def run_one(system, workload, force, args, scratch):
    """One measurement in a process of its own; its stores go under ``scratch``."""
    spec = WORKLOADS[workload]
    n = args.n or spec.n_for(system.name, args.quick)
    cmd = system.command + [workload, "--dir", scratch, "-n", str(n), "--repeats", str(args.repeats)]
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=child_env(system, force), timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after %d s" % args.timeout}
    wall = {"wall_s": round(time.monotonic() - t0, 2)}
    if r.returncode:
        tail = "\n".join(r.stderr.strip().splitlines()[-5:])
        return dict(wall, error="exit code %d: %s" % (r.returncode, tail))
    try:
        return dict(json.loads(r.stdout.strip().splitlines()[-1]), **wall)
    except (ValueError, IndexError):
        return dict(wall, error="no JSON in its output: %r" % r.stdout[-300:])


def better(old, new):
    """The faster of two measurements of one job (rounds keep the best, like repeats)."""
    if not ok(old):
        return new
    if ok(new) and new["ns_per_op"] < old["ns_per_op"]:
        return dict(new, rounds=old.get("rounds", 1) + 1)
    return dict(old, rounds=old.get("rounds", 1) + 1)


def plan(systems, modes, rounds):
    """(system, workload, mode) jobs, side by side, ``rounds`` times over; systems off libpmem
    run once a round and are shared by all modes."""
    jobs = []
    for i, mode in enumerate(modes):
        for w in WORKLOADS:
            for s in systems:
                if w in s.workloads and (s.pmem or i == 0):
                    jobs.append((s, w, mode if s.pmem else None))
    return jobs * rounds


def progress(jobs):
    return progress_steps(jobs, lambda job: "%s %s%s" % (job[0].name, job[1],
                                                         "" if job[2] is None else ", " + mode_label(job[2])))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="/dev/shm",
                    help="directory for the pools and stores (default /dev/shm; a DAX mount such as "
                         "/mnt/pmem on real persistent memory)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="where the results go")
    ap.add_argument("--force-pmem", choices=["0", "1", "both"], default="both",
                    help="run the libpmem systems with PMEM_IS_PMEM_FORCE=1 (1), with it unset so the "
                         "mode is detected (0), or both (default)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: few operations, one repeat")
    ap.add_argument("-n", type=int, help="operations per repeat for every workload (default: per workload)")
    ap.add_argument("--repeats", type=int, help="timed repeats, best kept (default 3, quick 1)")
    ap.add_argument("--systems", help="comma-separated subset of: " + ", ".join(SYSTEM_NAMES) + ", " + ", ".join(
        p.name for p in peers.PEERS.values() if p.script))
    ap.add_argument("--workloads", help="comma-separated subset of: " + ", ".join(WORKLOADS))
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the whole set this many times, interleaved, keeping each job's best "
                         "(steadier ratios on a busy machine)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds allowed for one run")
    ap.add_argument("--scale-max", type=int,
                    help="scale.py's largest size, as a power of ten (default 6, quick 4; 7 for 10^7)")
    ap.add_argument("--no-scale", action="store_true", help="skip the cost-against-size measurements")
    ap.add_argument("--no-fill", action="store_true", help="skip fill.py (how much a pool holds)")
    ap.add_argument("--no-report", action="store_true", help="do not write docs/performance.md")
    ap.add_argument("--docs", help="where performance.md and _static/*.png go (default: docs/ of the "
                                   "repository; with --quick, the --out directory)")
    args = ap.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.scale_max is None:
        args.scale_max = 4 if args.quick else 6
    if args.docs is None:
        args.docs = args.out if args.quick else os.path.join(REPO, "docs")
    if not 3 <= args.scale_max <= 8:
        ap.error("--scale-max must be between 3 and 8")
    if (args.n is not None and args.n < 1) or args.repeats < 1 or args.rounds < 1:
        ap.error("-n, --repeats and --rounds must be positive")
    if not os.path.isdir(args.dir):
        ap.error("--dir %s is not a directory" % args.dir)
    if args.systems:
        known = set(SYSTEM_NAMES) | {p.name for p in peers.PEERS.values() if p.script}
        unknown = set(args.systems.split(",")) - known
        if unknown:
            ap.error("unknown systems: %s" % ", ".join(sorted(unknown)))
    if args.workloads:
        unknown = set(args.workloads.split(",")) - set(WORKLOADS)
        if unknown:
            ap.error("unknown workloads: %s" % ", ".join(sorted(unknown)))
    return args


def main(argv=None):
    args = parse_args(argv)
    modes = ["0", "1"] if args.force_pmem == "both" else [args.force_pmem]
    selected = set(args.workloads.split(",")) if args.workloads else None
    if selected:
        for w in list(WORKLOADS):
            if w not in selected:
                del WORKLOADS[w]
    os.makedirs(args.out, exist_ok=True)
    build_dir = tempfile.mkdtemp(prefix="bench-build-")
    # every store of this run lives under one directory, removed at the end even when a
    # workload process was killed before it could clean up
    scratch = tempfile.mkdtemp(prefix="bench-run-", dir=args.dir)
    load_before = os.getloadavg()
    try:
        systems = discover_systems(set(args.systems.split(",")) if args.systems else None, build_dir)
        for s in systems:
            if s.unavailable:
                print("skipping %s: %s" % (s.name, s.unavailable), file=sys.stderr)
        jobs = plan([s for s in systems if not s.unavailable], modes, args.rounds)
        results = {}
        for system, workload, mode in progress(jobs):
            key = (system.name, workload, mode)
            r = run_one(system, workload, mode, args, scratch)
            first = key not in results
            results[key] = better(results.get(key), r)
            if "error" in r:
                print("%s %s failed: %s" % (system.name, workload, r["error"]), file=sys.stderr)
            elif "skipped" in r and first:
                print("%s %s skipped: %s" % (system.name, workload, r["skipped"]), file=sys.stderr)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": "%s, %d cores" % (cpu_model(), os.cpu_count() or 0),
        "python": platform.python_version(), "dir": args.dir, "repeats": args.repeats, "rounds": args.rounds,
        "quick": args.quick, "load_average": {"before": load_before[0], "after": os.getloadavg()[0]},
        "modes": [mode_label(m) for m in modes],
    }
    ratios = compare(results, systems, modes)
    raw = [dict(r, system=k[0], workload=k[1], mode=None if k[2] is None else mode_label(k[2]))
           for k, r in results.items()]
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "systems": {s.name: {"description": s.description, "pmem": s.pmem,
                                                           "unavailable": s.unavailable}
                                             for s in systems}, "results": raw}, f, indent=1)
    with open(os.path.join(args.out, "ratios.json"), "w") as f:
        json.dump({"meta": meta, "baselines": {w: spec.baseline for w, spec in WORKLOADS.items()},
                   "ratios": ratios}, f, indent=1)
    table = markdown(results, ratios, systems, modes, meta)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(table)
    wrote = ["results.json", "ratios.json", "results.md"]
    if plot(results, systems, modes, os.path.join(args.out, "results.png")):
        wrote.append("results.png")
    print(table)
    print("wrote %s into %s" % (", ".join(wrote), args.out), file=sys.stderr)

    scale_results = None
    if not args.no_scale:
        scale_results = run_scale(args, modes)
        with open(os.path.join(args.out, "scale.json"), "w") as f:
            json.dump({"dir": args.dir, "results": scale_results}, f, indent=1)
        print("\n".join(scale.markdown(scale_results)))
    fill_results = None
    if not args.no_fill:
        import fill
        fill_argv = ["--dir", args.dir, "--out", args.out] + (["--sizes", "32"] if args.quick else [])
        fill.main(fill_argv)
        with open(os.path.join(args.out, "fill.json")) as f:
            fill_results = json.load(f)["results"]
    if not args.no_report:
        import report

        for path in report.write(results, systems, modes, meta, scale_results, args.docs, fill_results):
            print("wrote %s" % path, file=sys.stderr)
    return 0


def run_scale(args, modes):
    """scale.py's sizes 10^3 .. 10^scale_max in each mode, with progress."""
    sizes = [10**k for k in range(3, args.scale_max + 1)]
    steps = [(m, n) for m in modes for n in sizes]
    results = {}
    for mode, n in progress_steps(steps, lambda step: "scale N=%s, %s" % (scale.fmt_n(step[1]), mode_label(step[0]))):
        for label, rows in scale.run(args.dir, [n], [mode], timeout=args.timeout * 4).items():
            results.setdefault(label, []).extend(rows)
    return results


def progress_steps(steps, describe):
    """Yields the steps, showing a tqdm bar (or a line per step when not on a terminal)."""
    if tqdm is not None and sys.stderr.isatty():
        bar = tqdm(steps, unit="step", file=sys.stderr)
        for step in bar:
            bar.set_description(describe(step))
            yield step
    else:
        for k, step in enumerate(steps, 1):
            print("[%d/%d] %s" % (k, len(steps), describe(step)), file=sys.stderr, flush=True)
            yield step


if __name__ == "__main__":
    sys.exit(main())
