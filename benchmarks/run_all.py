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
from dataclasses import dataclass, field

import peers
import scale

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

try:
    from tqdm import tqdm
except ImportError:
    tqdm = None


@dataclass(frozen=True)
class Target:
    """``system``'s ``metric`` over ``reference``'s stays within ``ratio`` (below 1: faster)."""

    system: str
    reference: str
    ratio: float
    metric: str = "ns_per_op"

    def label(self):
        what = "" if self.metric == "ns_per_op" else "%s: " % self.metric.replace("_", " ")
        if self.ratio < 1:
            return "%s≥ %gx faster than %s" % (what, round(1 / self.ratio, 2), self.reference)
        return "%s≤ %gx %s" % (what, self.ratio, self.reference)


@dataclass(frozen=True)
class Workload:
    title: str
    n: int  # operations per timed repeat
    quick_n: int
    baseline: str  # ratios are ns/op over this system's
    targets: tuple = ()  # Target objects
    group: str = "foundation"  # the section of the report it appears in
    max_n: dict = field(default_factory=dict)  # system -> fewer operations (a slow peer)

    def n_for(self, system, quick):
        n = self.quick_n if quick else self.n
        return min(n, self.max_n.get(system, n))


GROUPS = {
    "foundation": "Transactions and allocation",
    "collections": "Persistent collections (pmemobj.PersistentDict, PersistentList)",
    "ptypes": "ptypes (typed schema on the same pools)",
    "sharedbuffers": "sharedbuffers against upstream sharedbuffers 1.2.3",
}

def upstream_race(title, n, quick_n, compare_size=False):
    """A sharedbuffers workload whose target is upstream 1.2.3's speed (and, compare_size, file size)."""
    targets = [Target("sharedbuffers", "sharedbuffers-1.2.3", 1.0)]
    if compare_size:
        targets.append(Target("sharedbuffers", "sharedbuffers-1.2.3", 1.0, "bytes_per_struct"))
    return Workload(title, n, quick_n, "sharedbuffers-1.2.3", tuple(targets), group="sharedbuffers")


# The catalog: a workload runs on every system whose script lists it.
WORKLOADS = {
    "empty_tx": Workload("empty transaction", 200_000, 5_000, "c", (Target("pmemobj", "c", 4.0),)),
    "alloc_free_64": Workload("alloc + free of 64 bytes in a transaction", 200_000, 5_000, "c",
                              (Target("pmemobj", "c", 1.5),)),
    "root_assign_int": Workload("root = int, own transaction", 200_000, 5_000, "c", (Target("pmemobj", "c", 1.5),)),
    "dict_insert_int": Workload("d[i] = i, own transaction each", 20_000, 1_000, "c",
                                (Target("pmemobj", "c", 2.0), Target("pmemobj", "pynvm", 1 / 30)),
                                group="collections"),
    "dict_insert_str": Workload("d[20-char str] = i, own transaction each", 20_000, 1_000, "c",
                                (Target("pmemobj", "c", 2.0), Target("pmemobj", "pynvm", 1 / 30)),
                                group="collections"),
    "list_append_tx": Workload("1,000,000 appends of small ints in one transaction (per append)", 1_000_000,
                               10_000, "c", (Target("pmemobj", "pynvm", 1 / 100), Target("ptypes", "pmemobj", 2.0)),
                               group="collections", max_n={"pynvm": 20_000}),
    "dict_get_int": Workload("d[k] of existing int keys (100,000 entries)", 200_000, 5_000, "builtin",
                             (Target("pmemobj", "builtin", 5.0),), group="collections", max_n={"pynvm": 20_000}),
    "list_iter": Workload("iteration over a list of 1,000,000 small ints (per item)", 1_000_000, 10_000,
                          "builtin", (Target("ptypes", "pmemobj", 2.0),), group="collections",
                          max_n={"pynvm": 100_000}),
    "list_iter_contents": Workload("iteration over a list of 1,000,000 small ints, reading each number "
                                   "(ptypes: x.contents)", 1_000_000, 10_000, "builtin",
                                   (Target("ptypes", "pmemobj", 2.0),), group="ptypes"),
    "field_inc": Workload("Int field += 1 (ptypes inc()), own transaction", 200_000, 5_000, "c",
                          (Target("ptypes", "c", 2.0),), group="ptypes"),
    "dict_get_bytes": Workload("d[k] of existing 20-byte bytes keys (100,000 entries)", 200_000, 5_000, "c",
                               (Target("ptypes", "pmemobj", 2.0),), group="ptypes"),
    "sorted_insert": Workload("100,000 inserts of ints in random order into a sorted collection, one "
                              "transaction (ptypes SkipList; builtin: bisect.insort)", 100_000, 5_000, "builtin",
                              group="ptypes"),
    "sorted_get": Workload("sl[k] of existing keys of a sorted collection of 100,000 ints (ptypes SkipList; "
                           "builtin: bisect)", 200_000, 5_000, "builtin", group="ptypes"),
    "sb_build": Workload("build() of 100,000 structs into a file (per struct)", 100_000, 2_000,
                         "sharedbuffers-1.2.3",
                         (Target("sharedbuffers", "sharedbuffers-1.2.3", 1.0),
                          Target("sharedbuffers", "sharedbuffers-1.2.3", 1.0, "bytes_per_struct")),
                         group="sharedbuffers"),
    "sb_attr_read": Workload("1,000,000 random attribute reads through proxies", 1_000_000, 10_000,
                             "sharedbuffers-1.2.3", (Target("sharedbuffers", "sharedbuffers-1.2.3", 1.0),),
                             group="sharedbuffers"),
    "sb_mapping_get": Workload("100,000 lookups in a str-keyed mapping", 100_000, 2_000, "sharedbuffers-1.2.3",
                               (Target("sharedbuffers", "sharedbuffers-1.2.3", 1.0),), group="sharedbuffers"),
    "sb_build_wide": upstream_race("build() of 50,000 structs of sized numbers, dates, a proxied_list and an "
                                   "ndarray (per struct)", 50_000, 2_000, compare_size=True),
    "sb_read_sized": upstream_race("arr[i] and four sized-number slots, random i (per struct)", 200_000, 5_000),
    "sb_read_datetime": upstream_race("arr[i] and its datetime and date slots, random i (per struct)", 200_000,
                                      5_000),
    "sb_read_plist": upstream_race("arr[i].pl[2], a proxied_list slot's item, random i", 200_000, 5_000),
    "sb_read_ndarray": upstream_race("arr[i].nd, an ndarray slot, random i", 200_000, 5_000),
    "sb_bsearch": upstream_race("bsearch() in a sorted uint64 array of 1,000,000, random keys", 200_000, 5_000),
    "sb_index_merge": upstream_race("index_merge() of two sorted (n/2, 2) uint64 tables (per row)", 2_000_000,
                                    20_000),
}


@dataclass
class System:
    name: str
    description: str
    pmem: bool  # runs on libpmem: measured once per PMEM_IS_PMEM_FORCE setting
    command: list = None  # argv prefix; the workload and its options follow
    env: dict = field(default_factory=dict)
    workloads: list = field(default_factory=list)
    unavailable: str = ""


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


def mode_label(mode):
    return "PMEM_IS_PMEM_FORCE=1" if mode == "1" else "PMEM_IS_PMEM_FORCE unset"


def compare(results, systems, modes):
    """ratios[mode][workload][system] = ns/op over the baseline's ns/op (same mode)."""
    ratios = {}
    for mode in modes:
        per_mode = ratios[mode_label(mode)] = {}
        for w, spec in WORKLOADS.items():
            row = {s.name: results_for(results, s, w, mode) for s in systems}
            base = row.get(spec.baseline)
            if not ok(base):
                continue
            per_mode[w] = {name: round(r["ns_per_op"] / base["ns_per_op"], 3)
                           for name, r in row.items() if ok(r) and name != spec.baseline}
    return ratios


def results_for(results, system, workload, mode):
    return results.get((system.name, workload, mode if system.pmem else None))


def ok(r):
    return r is not None and "ns_per_op" in r


def fmt_ns(ns):
    if ns >= 1e6:
        return "%.2f ms" % (ns / 1e6)
    if ns >= 1e3:
        return "%.2f µs" % (ns / 1e3)
    return "%.0f ns" % ns if ns >= 10 else "%.1f ns" % ns


def fmt_ops(ops):
    if ops >= 1e6:
        return "%.2f M/s" % (ops / 1e6)
    if ops >= 1e3:
        return "%.1f k/s" % (ops / 1e3)
    return "%.0f /s" % ops


def target_ratio(results, systems, target, workload, mode):
    """The measured ratio of a target (its system's metric over its reference's), or None."""
    by_name = {s.name: s for s in systems}
    if target.system not in by_name or target.reference not in by_name:
        return None
    mine = results_for(results, by_name[target.system], workload, mode)
    ref = results_for(results, by_name[target.reference], workload, mode)
    if not (ok(mine) and ok(ref)) or not mine.get(target.metric) or not ref.get(target.metric):
        return None
    return mine[target.metric] / ref[target.metric]


def verdict(ratio, target):
    """'3.21x met' (or, for targets of being faster, '31.2x faster, met')."""
    if ratio is None:
        return "n/a"
    met = "met" if ratio <= target.ratio else "**missed**"
    if target.ratio < 1:
        return "%.1fx faster, %s" % (1 / ratio, met)
    return "%.2fx %s" % (ratio, met)


def markdown(results, ratios, systems, modes, meta, heading="#"):
    load = meta["load_average"]
    out = ["%s Benchmark results" % heading, "",
           "%s, %s, Python %s, pool directory `%s`, best of %d repeats%s%s; load average %.1f before, %.1f after."
           % (meta["date"], meta["machine"], meta["python"], meta["dir"], meta["repeats"],
              " and %d rounds" % meta["rounds"] if meta["rounds"] > 1 else "",
              " (quick run)" if meta["quick"] else "", load["before"], load["after"]), ""]
    out += summary(results, systems, modes, heading + "#")
    for mode in modes:
        out += tables(results, ratios, systems, mode, heading + "#")
    out += ["Ratio: ns/op over the workload's baseline system in the same mode (C for the pool work,",
            "the builtin dict/list for reads, upstream for sharedbuffers).",
            "Systems off libpmem (SQLite, LMDB, ZODB, the builtins, sharedbuffers) do not depend on",
            "PMEM_IS_PMEM_FORCE: they run once and appear under each mode.", ""]
    out += systems_list(systems, heading + "#")
    return "\n".join(out)


def systems_list(systems, heading):
    out = []
    unavailable = [s for s in systems if s.unavailable]
    if unavailable:
        out += ["%s Not run" % heading, ""]
        out += ["- %s: %s" % (s.name, s.unavailable.replace("\n", " ")) for s in unavailable] + [""]
    out += ["%s Systems" % heading, ""] + ["- %s: %s" % (s.name, s.description) for s in systems] + [""]
    return out


def tables(results, ratios, systems, mode, heading, groups=None):
    """One table per group of workloads for one mode."""
    label = mode_label(mode)
    out = []
    for group, group_title in GROUPS.items():
        names = [w for w, spec in WORKLOADS.items() if spec.group == group and (groups is None or group in groups)]
        if not names:
            continue
        rows = []
        for w in names:
            spec = WORKLOADS[w]
            for s in systems:
                r = results_for(results, s, w, mode)
                if r is None:
                    continue
                if not ok(r):
                    why = r.get("skipped") or r.get("error", "?")
                    rows.append("| %s | %s | skipped: %s | | | | | |" % (spec.title, s.name, why.replace("\n", " ")))
                    continue
                pers = r.get("durability", "")
                if s.pmem:
                    pers = "%s (is_pmem=%s)" % (pers, r.get("is_pmem"))
                if "bytes_per_struct" in r:
                    pers += "; %.1f bytes/struct" % r["bytes_per_struct"]
                ratio = ratios[label].get(w, {}).get(s.name)
                ratio_s = "1 (baseline)" if s.name == spec.baseline else ("%.2fx" % ratio if ratio else "")
                target_s = "; ".join("%s: %s" % (t.label(), verdict(target_ratio(results, systems, t, w, mode), t))
                                     for t in spec.targets if t.system == s.name)
                rows.append("| %s | %s | %s | %d | %s | %s | %s | %s |" % (
                    spec.title, s.name, pers, r["n"], fmt_ns(r["ns_per_op"]), fmt_ops(r["ops_per_s"]), ratio_s,
                    target_s))
        if rows:
            out += ["%s %s, %s" % (heading, group_title, label), "",
                    "| workload | system | persistence | n | ns/op | ops/s | ratio | target |",
                    "|---|---|---|---:|---:|---:|---:|---|"] + rows + [""]
    return out


def summary(results, systems, modes, heading):
    """The targets: one line per target, its outcome in each mode."""
    rows = []
    bounded = False
    for w, spec in WORKLOADS.items():
        for t in spec.targets:
            cells = []
            for mode in modes:
                cell = verdict(target_ratio(results, systems, t, w, mode), t)
                if t.ratio < 1 and t.reference != "c":
                    # against a peer: what the C program doing the same pool work reaches bounds it
                    floor = target_ratio(results, systems, Target("c", t.reference, t.ratio, t.metric), w, mode)
                    if floor is not None:
                        cell += " (C: %.1fx)" % (1 / floor)
                        bounded = True
                cells.append(cell)
            rows.append("| %s | %s | %s | %s |" % (spec.title, t.system, t.label(), " | ".join(cells)))
    if not rows:
        return []
    out = (["%s Targets" % heading, "", "| workload | system | target | %s |" % " | ".join(mode_label(m) for m in modes),
            "|---|---|---|" + "---|" * len(modes)] + rows + [""])
    if bounded:
        out += ["(C: Nx): how much faster than that peer the C program doing the same pool work is, in the",
                "same mode: the bound for any binding of this pool layout.", ""]
    return out


def plot(results, systems, modes, path, names=None, title=None):
    """Grouped bars of operations per second (log scale), one panel per mode; False when
    matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(names or WORKLOADS)
    fig, axes = plt.subplots(1, len(modes), figsize=(max(7, 1.6 * len(names) + 3) * len(modes) / 1.3, 5.5),
                             squeeze=False)
    shown = [s for s in systems if any(ok(results_for(results, s, w, m)) for w in names for m in modes)]
    colors = {s.name: "C%d" % k for k, s in enumerate(shown)}
    for ax, mode in zip(axes[0], modes):
        labelled = set()
        for i, w in enumerate(names):
            # the systems that ran this workload, centred on its tick
            bars = [(s, results_for(results, s, w, mode)) for s in shown]
            bars = [(s, r) for s, r in bars if ok(r)]
            width = 0.8 / max(1, len(bars))
            for k, (s, r) in enumerate(bars):
                ax.bar(i + (k - (len(bars) - 1) / 2) * width, r["ops_per_s"], width, color=colors[s.name],
                       label=None if s.name in labelled else s.name)
                labelled.add(s.name)
        ax.set_yscale("log")
        ax.set_ylabel("operations per second (higher is better)")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([WORKLOADS[w].title for w in names], rotation=20, ha="right", fontsize=7)
        ax.set_title((title + ", " if title else "") + mode_label(mode), fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


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
