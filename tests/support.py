"""Helpers shared by the tests (import as `from support import ...`)."""
import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))


def run_python(code, *args, timeout=120, env=None):
    """Run `code` in a fresh interpreter; return the CompletedProcess.

    Used for anything that could kill the interpreter: the caller asserts on
    returncode (a negative one means death by a signal)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([ROOT, TESTS, e.get("PYTHONPATH", "")])
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=timeout, env=e)


def assert_no_signal(proc):
    assert proc.returncode >= 0, (
        f"child died by signal {signal.Signals(-proc.returncode).name}\n"
        f"stdout: {proc.stdout}\nstderr: {proc.stderr}")


def reopen(pool):
    """Close *pool* and open its file again."""
    import pmemobj
    path = pool.filename
    pool.close()
    return pmemobj.open(path)


def assert_no_garbage(pool):
    """Reference counts are exact: gc finds nothing to free or repair."""
    result = pool.gc()
    assert result["freed_total"] == 0, result
    assert result["refcounts_fixed"] == 0, result
