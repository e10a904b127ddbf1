"""The demo `./run demo` runs: all three packages on one pool, a rollback, a
SIGKILLed child mid-transaction, the reopened pool intact (it asserts that)."""
import os
import subprocess
import sys

from support import ROOT, assert_no_signal


def test_demo_runs(tmpdir_shm):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "demo.py"), tmpdir_shm],
                          capture_output=True, text=True, timeout=120, env=env)
    assert_no_signal(proc)
    assert proc.returncode == 0, proc.stderr
    assert "child exit status: -9" in proc.stdout
    assert proc.stdout.rstrip().endswith("== done")
