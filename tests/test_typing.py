"""The type stubs of the compiled modules pass mypy, and a typed program using
them (tests/typing_example.py) type-checks and runs."""
import glob
import os
import subprocess
import sys

import pytest

from support import ROOT, TESTS, assert_no_signal, run_python

pytest.importorskip("mypy", reason="mypy is not installed")

STUBS = sorted(glob.glob(os.path.join(ROOT, "pmemobj", "**", "*.pyi"), recursive=True)
               + glob.glob(os.path.join(ROOT, "ptypes", "*.pyi"))
               + glob.glob(os.path.join(ROOT, "sharedbuffers", "*.pyi")))
EXAMPLE = os.path.join(TESTS, "typing_example.py")


def run_mypy(tmp_path, *files):
    # --follow-imports=silent: the untyped pure-Python modules the stubs import
    # are analysed for types, but their missing annotations are not reported
    cmd = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary",
           "--cache-dir", str(tmp_path / "mypy_cache"), *files]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_compiled_module_has_a_stub():
    compiled = [p for pkg in ("pmemobj", "ptypes", "sharedbuffers")
                for p in glob.glob(os.path.join(ROOT, pkg, "**", "*.pyx"), recursive=True)]
    missing = [p for p in compiled if not os.path.exists(p[:-4] + ".pyi")]
    assert compiled and not missing
    for pkg in ("pmemobj", "ptypes", "sharedbuffers"):
        assert os.path.exists(os.path.join(ROOT, pkg, "py.typed"))


def test_stubs_and_example_pass_mypy(tmp_path):
    r = run_mypy(tmp_path, *STUBS, EXAMPLE)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_sees_the_stubs(tmp_path):
    # a wrong use must be reported: proves the checks above see real types
    bad = tmp_path / "bad_usage.py"
    bad.write_text("from pmemobj import PersistentList, MemoryManager\n"
                   "def f(mm: MemoryManager) -> None:\n"
                   "    lst: PersistentList[int] = mm.new(PersistentList)\n"
                   "    lst.append('text')\n"
                   "    n: str = mm.refcount((0, 0))\n")
    r = run_mypy(tmp_path, str(bad))
    assert r.returncode == 1
    assert 'Argument 1 to "append" of "PersistentList" has incompatible type "str"' in r.stdout, r.stdout
    assert 'Incompatible types in assignment (expression has type "int", variable has type "str")' in r.stdout


def test_example_runs(tmpdir_shm):
    code = f"import sys, typing_example; sys.exit(0 if typing_example.example({str(tmpdir_shm)!r}) == 7 else 1)"
    r = run_python(code)
    assert_no_signal(r)
    assert r.returncode == 0, r.stderr
