"""Long reliability runs:  python tests/soak.py --kills N --seconds S --powerloss P

Runs the crash torture of tests/torture.py (SIGKILL at random moments, each
restart checks the files) for N kills or S seconds, whichever comes first,
then P cut points of simulated power loss (tests/powerloss: sampled on runs
of the same workload, each after a random number of earlier transactions,
with p = 0 and 0.5), then the corrupted-file campaign of
tests/corruption.py for the rest of the time budget (or --corruptions M
inputs), and prints the counts.  Exit status 0 means every check passed,
nothing died by a signal and nothing hung.  A failing torture check raises
(with the transaction id); a failing power-loss cut point is printed with
what reruns it; a corrupted input that kills or hangs the child is printed
with its damage (file, offset, bytes), which reproduces it on the
deterministic source files of tests/corruption.py."""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import corruption  # noqa: E402
import powerloss  # noqa: E402
import torture  # noqa: E402
from powerloss import campaign as powerloss_campaign  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=1000, help="SIGKILLs of the torture child (default 1000)")
    ap.add_argument("--seconds", type=float, default=600, help="time budget in seconds (default 600)")
    ap.add_argument("--corruptions", type=int, default=200,
                    help="corrupted pool files to open (default 200; 0 to skip)")
    ap.add_argument("--powerloss", type=int, default=2000,
                    help="cut points of simulated power loss to check (default 2000; 0 to skip)")
    ap.add_argument("--powerloss-mode", choices=sorted(powerloss_campaign.MODES), default="msync",
                    help="how the pools flush: msync (the default) or force (PMEM_IS_PMEM_FORCE=1, "
                         "which is expected to lose commits)")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--dir", default=None, help="where to put the files (default: a temp dir in /dev/shm)")
    args = ap.parse_args(argv)
    base = args.dir or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    work = tempfile.mkdtemp(prefix="pmemobj-soak-", dir=base)
    start = time.monotonic()
    try:
        print(f"seed {args.seed}", flush=True)
        stats = torture.campaign(work, kills=args.kills, seconds=args.seconds, seed=args.seed)
        print(f"kills survived: {stats['kills']}")
        print(f"  killed while recovering/checking: {stats['kills_during_recovery']}")
        print(f"  restarts checked: {stats['checks']}")
        print(f"  transactions committed: {stats['committed']} (last id {stats['last']})")
        print(f"  in-flight transactions found committed: {stats['in_flight_committed']}")
        failures = []
        if args.powerloss:
            failures += run_powerloss(work, args)
        left = args.seconds - (time.monotonic() - start)
        if args.corruptions and left > 0:
            c = corruption.campaign(work, count=args.corruptions, seconds=left, seed=args.seed)
            print(f"corrupted inputs tried: {c['tried']}")
            for outcome, n in sorted(c["outcomes"].items()):
                print(f"  {outcome}: {n}")
            failures += c["failures"]
            for f in c["failures"]:
                print(f"  FAILURE: {f}")
        crashes = sum(f["outcome"].startswith("signal") or f["outcome"] == "death" for f in failures)
        hangs = sum(f["outcome"] == "hang" for f in failures)
        print(f"crashes: {crashes}")
        print(f"hangs: {hangs}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


def run_powerloss(work, args):
    """The power-loss campaign; returns its failures (each printed with what reruns it)."""
    try:
        powerloss.library()
    except powerloss.Unavailable as e:
        print(f"power loss: skipped: {e}", flush=True)
        return []
    tallies = powerloss_campaign.sample(work, args.powerloss, args.seed, mode=args.powerloss_mode,
                                        progress=lambda line: print("  " + line, flush=True))
    failures = []
    for p, tally in sorted(tallies.items()):
        print(f"power loss ({args.powerloss_mode}), p = {p}: {tally.summary()}", flush=True)
        for r in tally.failures:
            print(f"  FAILURE: {r['outcome']} at point {r['point']}: {r.get('detail', '')[:300]}\n"
                  f"    rerun: campaign.cut(DIR, {r['transactions']}, {r['point']}, p={r['p']}, "
                  f"seed={r['seed']}, mode={r['mode']!r}, "
                  + (f"start={r['start']})" if "start" in r else f"base={r['base']})"))
        failures += tally.failures
    return failures


if __name__ == "__main__":
    sys.exit(main())
