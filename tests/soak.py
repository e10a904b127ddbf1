"""Long reliability runs:  python tests/soak.py --kills N --seconds S

Runs the crash torture of tests/torture.py (SIGKILL at random moments, each
restart checks the files) for N kills or S seconds, whichever comes first,
then the corrupted-file campaign of tests/corruption.py for the rest of the
time budget (or --corruptions M inputs), and prints the counts.  Exit status
0 means every check passed, nothing died by a signal and nothing hung.  A
failing torture check raises (with the transaction id); a corrupted input
that kills or hangs the child is printed with its damage (file, offset, bytes),
which reproduces it on the deterministic source files of tests/corruption.py."""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import corruption  # noqa: E402
import torture  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=1000, help="SIGKILLs of the torture child (default 1000)")
    ap.add_argument("--seconds", type=float, default=600, help="time budget in seconds (default 600)")
    ap.add_argument("--corruptions", type=int, default=200,
                    help="corrupted pool files to open (default 200; 0 to skip)")
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
        left = args.seconds - (time.monotonic() - start)
        failures = []
        if args.corruptions and left > 0:
            c = corruption.campaign(work, count=args.corruptions, seconds=left, seed=args.seed)
            print(f"corrupted inputs tried: {c['tried']}")
            for outcome, n in sorted(c["outcomes"].items()):
                print(f"  {outcome}: {n}")
            failures = c["failures"]
            for f in failures:
                print(f"  FAILURE: {f}")
        crashes = sum(f["outcome"].startswith("signal") for f in failures)
        hangs = sum(f["outcome"] == "hang" for f in failures)
        print(f"crashes: {crashes}")
        print(f"hangs: {hangs}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
