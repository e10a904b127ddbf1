"""Helpers shared by the tests (import as `from support import ...`)."""
import os
import signal
import subprocess
import sys
import time

import pytest

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


def killed_child(code, *args, rng, delay=(0, 0.3)):
    """Run `code` (it prints a line after each commit) in a fresh interpreter, wait for
    its first line, SIGKILL it after a random delay (rng.uniform(*delay)) and return all
    it printed: the commits it reported."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
    child = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    first = child.stdout.readline()
    assert first, child.stderr.read()
    time.sleep(rng.uniform(*delay))
    child.send_signal(signal.SIGKILL)
    out = child.stdout.read()       # through the buffer readline filled: no line is lost
    err = child.stderr.read()
    child.wait()
    assert child.returncode == -signal.SIGKILL, err
    return first + out


def closing_storage(s):
    """The body of a fixture yielding the storage `s`: closed after the test unless the
    test closed it (``yield from closing_storage(Cls(pool_path))``)."""
    yield s
    if not s._closed:
        s.close()


def check_abort_rolls_back(pool, obj, mutate, state, exc):
    """mutate(obj) in a transaction aborted by raising `exc` leaves state(obj) as it was,
    also after a reopen; then mutate(pool.root) works and commits.  Returns the pool,
    reopened after the commit."""
    before = state(obj)
    with pytest.raises(exc):
        with pool.transaction():
            mutate(obj)
            raise exc()
    assert state(obj) == before
    assert_no_garbage(pool)
    pool = reopen(pool)
    assert state(pool.root) == before
    # the method works after the abort, and commits
    mutate(pool.root)
    after = state(pool.root)
    pool = reopen(pool)
    assert state(pool.root) == after
    return pool
