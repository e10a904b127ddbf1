"""The performance report: docs/performance.md and its figures under docs/_static/.

run_all.py calls ``write()`` at the end of a run (the default); run alone, this module
rebuilds the report from the results of an earlier run:

    python3 benchmarks/report.py [--results benchmarks/results] [--docs docs]
"""

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DOCS = os.path.join(REPO, "docs")

import fill  # noqa: E402
import scale  # noqa: E402
import comparison  # noqa: E402
from catalog import GROUPS, WORKLOADS, System  # noqa: E402

FIGURE_PREFIX = "perf_"


_KEPT = re.compile(r"^<!-- ([\w.]+): begin -->$.*?^<!-- \1: end -->$", re.S | re.M)


def _kept_sections(path):
    """The sections other scripts write into performance.md between
    ``<!-- NAME: begin -->`` and ``<!-- NAME: end -->``: kept as they are."""
    try:
        with open(path) as f:
            return [m.group(0) for m in _KEPT.finditer(f.read())]
    except OSError:
        return []


def write(results, systems, modes, meta, scale_results, docs_dir=DOCS, fill_results=None):
    """Writes performance.md into docs_dir and its PNGs into docs_dir/_static; returns the
    paths written."""
    static = os.path.join(docs_dir, "_static")
    os.makedirs(static, exist_ok=True)
    written = []
    figures = []
    for group, title in GROUPS.items():
        names = [w for w, spec in WORKLOADS.items() if spec.group == group]
        if not any(comparison.ok(results.get((s.name, w, m if s.pmem else None)))
                   for w in names for s in systems for m in modes):
            continue
        name = "%s%s.png" % (FIGURE_PREFIX, group)
        if comparison.plot(results, systems, modes, os.path.join(static, name), names=names, title=title):
            figures.append((title, name))
            written.append(os.path.join(static, name))
    scale_figure = None
    if scale_results and scale.plot(scale_results, os.path.join(static, FIGURE_PREFIX + "scale.png")):
        scale_figure = FIGURE_PREFIX + "scale.png"
        written.append(os.path.join(static, scale_figure))
    path = os.path.join(docs_dir, "performance.md")
    kept = _kept_sections(path)
    with open(path, "w") as f:
        f.write(markdown(results, systems, modes, meta, scale_results, figures, scale_figure, fill_results))
        for block in kept:
            f.write("\n" + block + "\n")
    written.insert(0, path)
    return written


def markdown(results, systems, modes, meta, scale_results, figures, scale_figure, fill_results=None):
    ratios = comparison.compare(results, systems, modes)
    load = meta["load_average"]
    modes_text = ", ".join("`%s`" % comparison.mode_label(m) for m in modes)
    out = [
        "# Performance",
        "",
        "Measured by `./run bench` (`benchmarks/run_all.py`; see `benchmarks/README.md`) on %s." % meta["date"],
        "",
        "| | |",
        "|---|---|",
        "| machine | %s |" % meta["machine"],
        "| Python | %s |" % meta["python"],
        "| pool directory | `%s` |" % meta["dir"],
        "| persistence modes | %s |" % modes_text,
        "| repeats | best of %d%s%s |" % (meta["repeats"], ", %d rounds" % meta["rounds"] if meta["rounds"] > 1 else "",
                                         " (quick run: small sizes)" if meta["quick"] else ""),
        "| load average | %.1f before, %.1f after |" % (load["before"], load["after"]),
        "",
        "Persistence modes: with `PMEM_IS_PMEM_FORCE` unset, libpmem detects the mode; on a file system",
        "without DAX (such as `/dev/shm`) it treats the pool as an ordinary memory-mapped file and calls",
        "`msync` for every flush.  With `PMEM_IS_PMEM_FORCE=1` it flushes CPU caches, as on real",
        "persistent memory.  Each libpmem system reports the mode it detected (`is_pmem`).  SQLite, LMDB",
        "and ZODB use their own durability (fsync per commit), the builtin dict/list none; they do not",
        "depend on the mode and appear under each.",
        "",
        "Ratios are ns/op over the workload's baseline system in the same mode: the C program doing the",
        "same pool work on libpmemobj for the writes, the builtin dict/list for the reads, upstream",
        "sharedbuffers 1.2.3 for sharedbuffers.  Compare ratios within one run: figures across runs",
        "move with the machine's load.",
        "",
    ]
    out += comparison.summary(results, systems, modes, "##")
    for title, name in figures:
        out += ["![%s](_static/%s)" % (title, name), ""]
    for mode in modes:
        out += comparison.tables(results, ratios, systems, mode, "##")
    if scale_results:
        out += ["## Cost against size", "",
                "`benchmarks/scale.py`: for each N a fresh pool in a process of its own; dict inserts (each its",
                "own transaction, resizes included), lookups, list appends (one transaction), then N str objects",
                "so that gc has N objects to mark; after a clean close, the open time (best of 3 new processes)",
                "and the resident memory a process gains by opening the pool.", ""]
        if scale_figure:
            out += ["![cost against size](_static/%s)" % scale_figure, ""]
        out += scale.markdown(scale_results, "###")
    if fill_results:
        out += fill.markdown(fill_results, "##")
    out += comparison.systems_list(systems, "##")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Rebuild docs/performance.md from an earlier run's results.")
    ap.add_argument("--results", default=os.path.join(HERE, "results"),
                    help="the --out directory of run_all.py (results.json, scale.json, fill.json)")
    ap.add_argument("--docs", default=DOCS, help="where performance.md and _static/ go (default docs/)")
    args = ap.parse_args(argv)
    with open(os.path.join(args.results, "results.json")) as f:
        saved = json.load(f)
    meta = saved["meta"]
    labels = {comparison.mode_label(m): m for m in ("0", "1")}
    modes = [labels[label] for label in meta["modes"]]
    systems = [System(name, info["description"], pmem=info.get("pmem", False), unavailable=info["unavailable"])
               for name, info in saved["systems"].items()]
    results = {(r["system"], r["workload"], None if r["mode"] is None else labels[r["mode"]]): r
               for r in saved["results"]}
    scale_results = None
    scale_path = os.path.join(args.results, "scale.json")
    if os.path.exists(scale_path):
        with open(scale_path) as f:
            scale_results = json.load(f)["results"]
    fill_results = None
    fill_path = os.path.join(args.results, "fill.json")
    if os.path.exists(fill_path):
        with open(fill_path) as f:
            fill_results = json.load(f)["results"]
    for path in write(results, systems, modes, meta, scale_results, args.docs, fill_results):
        print("wrote %s" % path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
