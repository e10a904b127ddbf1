"""The crash, rollback and differential suites again, on pools with a journal.

The other tests keep their pools in /dev/shm, where pools have no journal by
default (pmemobj/_journal.pxi); on a disk every pool at durability "power"
has one.  These suites run here a second time with PMEMOBJ_JOURNAL=1, in a
child pytest (their own children, killed ones included, inherit it)."""
import os
import subprocess
import sys

from support import ROOT, TESTS

SUITES = ["test_tx_sequences.py", "test_core_crash.py", "test_reliability_crash.py", "test_ptypes_crash.py",
          "test_core_transactions.py", "test_dict.py", "test_list.py"]


def test_crash_and_differential_suites_with_a_journal():
    env = dict(os.environ, PMEMOBJ_JOURNAL="1", PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *[os.path.join(TESTS, s) for s in SUITES]],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout.splitlines()[-1]
