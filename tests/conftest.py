"""Shared fixtures: pools live in a temporary directory under /dev/shm when it exists."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

SHM = "/dev/shm"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def tmpdir_shm():
    base = SHM if os.path.isdir(SHM) and os.access(SHM, os.W_OK) else None
    d = tempfile.mkdtemp(prefix="pmemobj-test-", dir=base)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pool_path(tmpdir_shm):
    """A path for a new pool file (the file does not exist yet)."""
    return os.path.join(tmpdir_shm, "test.pool")


def run_python(code, *args, timeout=120, env=None):
    """Run `code` in a fresh interpreter; return the CompletedProcess.

    Used for anything that could kill the interpreter: the caller asserts on
    returncode (a negative one means death by a signal)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=timeout, env=e)


def assert_no_signal(proc):
    assert proc.returncode >= 0, (
        f"child died by signal {signal.Signals(-proc.returncode).name}\n"
        f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
