"""The core knows no package above it: no module of pmemobj imports ptypes or
sharedbuffers; its command line shows their objects through what they
register (pmemobj.inspectors), importing them only for a pool that names
their classes."""
import ast
import json
import os
import re

import pytest

from support import ROOT, run_python

ABOVE = ("ptypes", "sharedbuffers")


def _core_sources():
    for d, _, files in os.walk(os.path.join(ROOT, "pmemobj")):
        for f in sorted(files):
            if f.endswith((".py", ".pyi", ".pyx", ".pxi", ".pxd")):
                yield os.path.join(d, f)


def _names_above(name):
    return isinstance(name, str) and name.split(".")[0] in ABOVE


def _python_imports(source):
    """Module names a Python source imports, by statement or by importlib/__import__ with a constant."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__"):
                yield node.args[0].value


# Cython sources: import and cimport statements, and importlib calls with a constant
_CYTHON_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import|c?import\s+([\w.]+))"
                            r"|(?:import_module|__import__)\(\s*['\"]([\w.]+)", re.M)


def test_no_core_module_imports_a_package_above_it():
    offences = []
    for path in _core_sources():
        with open(path, encoding="utf-8") as f:
            source = f.read()
        if path.endswith((".py", ".pyi")):
            names = list(_python_imports(source))
        else:
            names = [next(filter(None, m)) for m in _CYTHON_IMPORT.findall(source)]
        offences += [f"{os.path.relpath(path, ROOT)}: {n}" for n in names if _names_above(n)]
    assert _CYTHON_IMPORT.findall("from ptypes._objects cimport X") and _names_above("ptypes._objects")
    assert not offences, offences


def test_the_demo_of_all_three_is_outside_the_packages():
    assert not os.path.exists(os.path.join(ROOT, "pmemobj", "demo.py"))
    assert os.path.exists(os.path.join(ROOT, "examples", "demo.py"))


MAKE_POOLS = """
import sys
sys.path.insert(0, sys.argv[3])
import pmemobj
with pmemobj.create(sys.argv[1]) as pool:
    pool.root = pool.new(pmemobj.PersistentDict, {'answer': 42})
import points
from ptypes.storage import Storage
with pmemobj.create(sys.argv[2]) as pool:
    pool.root = pool.new(pmemobj.PersistentDict)
    with pool.transaction():
        pool.root['points'] = points.PointArray.build([points.Point(1, 2), points.Point(3, 4)], pool=pool)
    class Store(Storage):
        def populateSchema(self):
            class Root(self.schema.Structure):
                count = self.schema.Int
    s = Store(pool=pool, name='store')
    with s.transaction():
        s.root.count = 3
    s.close()
"""

POINTS = """
from sharedbuffers import mapped_struct

class Point:
    __slot_types__ = {"x": int, "y": int}
    __slots__ = tuple(__slot_types__)

    def __init__(self, x, y):
        self.x, self.y = x, y

Point.__schema__ = mapped_struct.Schema.from_typed_slots(Point)

class PointArray(mapped_struct.MappedArrayProxyBase):
    schema = Point.__schema__
"""

# A look at a plain pool imports no package above the core; one at a pool
# naming their classes shows their objects (found through their inspectors).
LOOK = """
import io, json, sys
sys.path.insert(0, sys.argv[3])
from pmemobj import cli, inspectors
if sys.argv[4] == "no-metadata":          # as from a source tree: registration at import only
    inspectors._entry_points = {}
above = lambda: sorted({m.split('.')[0] for m in sys.modules} & {'ptypes', 'sharedbuffers'})
cli.build_parser()
out = {'after_import': above()}
for cmd in (["info", "--json"], ["check"], ["dump"]):
    text = io.StringIO()
    assert cli.main(cmd + [sys.argv[1]], out=text) == 0, text.getvalue()
out['after_plain_pool'] = above()
for cmd in (["info", "--json"], ["info"], ["check"], ["dump"]):
    text = io.StringIO()
    assert cli.main(cmd + [sys.argv[2]], out=text) == 0, text.getvalue()
    out[cmd[-1]] = text.getvalue()
out['after_mixed_pool'] = above()
print(json.dumps(out))
"""


@pytest.mark.parametrize("metadata", ["entry-points", "no-metadata"])
def test_the_command_line_imports_packages_above_only_for_their_objects(tmpdir_shm, metadata):
    with open(os.path.join(tmpdir_shm, "points.py"), "w") as f:
        f.write(POINTS)
    plain, mixed = os.path.join(tmpdir_shm, "plain.pool"), os.path.join(tmpdir_shm, "mixed.pool")
    r = run_python(MAKE_POOLS, plain, mixed, tmpdir_shm)
    assert r.returncode == 0, r.stderr
    r = run_python(LOOK, plain, mixed, tmpdir_shm, metadata)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["after_import"] == out["after_plain_pool"] == []
    assert out["after_mixed_pool"] == ["ptypes", "sharedbuffers"]
    assert json.loads(out["--json"])["ptypes_storage"] == "store"
    assert "ptypes storage:    kept in pool.root['store']" in out["info"]
    assert "result: ok" in out["check"] and "0 failed" in out["check"]
    dump = out["dump"].splitlines()
    assert "  'points': points.PointArray (sharedbuffers array, 2 items, " in dump[1]
    assert "    [1]: Point(x=3, y=4)" in dump
    assert "  'store': ptypes storage (python -m ptypes dump --name store FILE)" in dump


def test_entry_points_name_the_inspectors():
    r = run_python("from pmemobj import inspectors\n"
                   "print(sorted(inspectors._declared()))\n"
                   "print(inspectors.for_package('ptypes').kind)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["['ptypes', 'sharedbuffers']", "ptypes storage"]
