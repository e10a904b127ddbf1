"""Run upstream sharedbuffers 1.2.3's own test suite against this project's installed package.

Downloads upstream's sdist with pip into a temporary directory, copies its ``tests/`` folder (and
nothing else: its ``sharedbuffers`` package must not shadow ours) next to a small conftest, and runs
it with pytest in this interpreter.  Prints ``N passed, M failed`` and every failure with the reason
it is accepted (``KNOWN`` below, mirrored in docs/sharedbuffers.rst) or, for a new failure, its error.

    python compat/run_upstream_tests.py               # SKIP_HUGE=1: the 10-million-entry builds skipped
    python compat/run_upstream_tests.py --huge        # all of them (minutes, several GiB of memory)
    python compat/run_upstream_tests.py -k Bsearch    # a subset (pytest's -k)

Needs the `compat` extra (six, python-dateutil, numpy: what upstream's tests import):
`pip install -e ".[compat]"`.  Exit status: 0 when every failure is a known, documented one.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET

UPSTREAM = "sharedbuffers==1.2.3"

# Upstream tests that fail by design: (regular expression on "Class::test", reason).
# Each is a deliberate difference documented in docs/sharedbuffers.rst.
KNOWN = [
]

# Python 3.12 removed these unittest aliases; upstream's tests (Python 2 era) still use them.
CONFTEST = '''
import unittest
for _old, _new in (("assertEquals", "assertEqual"), ("assertNotEquals", "assertNotEqual"),
                   ("assertItemsEqual", "assertCountEqual")):
    if not hasattr(unittest.TestCase, _old):
        setattr(unittest.TestCase, _old, getattr(unittest.TestCase, _new))
'''


def fetch_tests(work):
    dl = os.path.join(work, "dl")
    # no build isolation: pip reads the metadata by running its setup.py, which imports Cython
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
           "-d", dl, UPSTREAM]
    if subprocess.run(cmd).returncode:
        sys.exit("could not download %s with pip" % UPSTREAM)
    (sdist,) = glob.glob(os.path.join(dl, "sharedbuffers-*.tar.gz"))
    with tarfile.open(sdist) as tf:
        members = [m for m in tf.getmembers() if "/tests/" in m.name and m.isfile()]
        tf.extractall(dl, members=members)
    run = os.path.join(work, "run")
    (src,) = glob.glob(os.path.join(dl, "sharedbuffers-*", "tests"))
    shutil.copytree(src, os.path.join(run, "tests"))
    with open(os.path.join(run, "conftest.py"), "w") as f:
        f.write(CONFTEST)
    return run


def run_pytest(run, extra):
    xml = os.path.join(run, "results.xml")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           "-o", "python_files=*.py", "--rootdir", run, "--junitxml", xml, "--tb=no", "--continue-on-collection-errors",
           "-W", "ignore::DeprecationWarning",
           os.path.join(run, "tests", "mapped_struct.py"), os.path.join(run, "tests", "pool.py")] + extra
    # upstream's package must not be importable from the run directory: only ours
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    subprocess.run(cmd, cwd=run, env=env, stdout=subprocess.DEVNULL)
    return ET.parse(xml).getroot()


def outcomes(root):
    for case in root.iter("testcase"):
        name = "%s::%s" % (case.get("classname", "").rsplit(".", 1)[-1], case.get("name"))
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if case.find("skipped") is not None:
            yield name, "skipped", ""
        elif bad is not None:
            msg = (bad.get("message") or bad.text or "").strip().splitlines()
            yield name, "failed", (msg[0] if msg else "")[:200]
        else:
            yield name, "passed", ""


def reason_for(name):
    for pattern, reason in KNOWN:
        if re.search(pattern, name):
            return reason
    return None


def check_requirements():
    missing = []
    for module in ("six", "dateutil", "numpy", "pytest"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        sys.exit("upstream's tests need %s: pip install -e '.[compat,test]'" % ", ".join(missing))


def main(argv=None):
    check_requirements()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--huge", action="store_true", help="also the huge builds (SKIP_HUGE unset)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("-k", help="pytest -k expression")
    args = ap.parse_args(argv)
    if args.huge:
        os.environ.pop("SKIP_HUGE", None)
    else:
        os.environ["SKIP_HUGE"] = "1"
    work = tempfile.mkdtemp(prefix="sb-compat-")
    try:
        run = fetch_tests(work)
        root = run_pytest(run, ["-k", args.k] if args.k else [])
        results = list(outcomes(root))
    finally:
        if args.keep:
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    passed = sum(1 for _, o, _ in results if o == "passed")
    failed = [(n, m) for n, o, m in results if o == "failed"]
    skipped = sum(1 for _, o, _ in results if o == "skipped")
    unknown = []
    if failed:
        print("failures:")
    for name, msg in failed:
        reason = reason_for(name)
        if reason is None:
            unknown.append(name)
            print("  NEW  %s: %s" % (name, msg))
        else:
            print("  known %s: %s" % (name, reason))
    print("%d passed, %d failed, %d skipped" % (passed, len(failed), skipped))
    if unknown:
        print("%d failures are not known differences" % len(unknown))
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
