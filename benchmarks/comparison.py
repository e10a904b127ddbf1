"""What a run measured, as the comparison (ratios over each workload's baseline), the markdown
tables and the figure: run_all.py writes them into its results, report.py into docs/performance.md.
"""

from catalog import GROUPS, WORKLOADS, Target


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
