"""python -m pmemobj / python -m ptypes, run in subprocesses on real pool files."""
import json
import os
import subprocess
import sys

import pytest

import pmemobj

from support import ROOT, TESTS, assert_no_signal, run_python


def cli(*args, module="pmemobj"):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
    r = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                       timeout=120, env=env)
    assert_no_signal(r)
    return r


def assert_clean_error(r, *words):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


MAKE_POOL = """
import sys, pmemobj
with pmemobj.create(sys.argv[1]) as pool:
    with pool.transaction():
        root = pool.root = pool.new(pmemobj.PersistentDict)
        root['answer'] = 42
        root['names'] = pool.new(pmemobj.PersistentList, ['ada', 'grace'])
        root['tags'] = pool.new(pmemobj.PersistentSet, {'x'})
        o = pool.new(pmemobj.PersistentObject)
        o.back = root                       # a cycle: shown once
        root['obj'] = o
        root['deep'] = pool.new(pmemobj.PersistentList, [(1, (2, (3, (4,))))])
"""

# The child dies by SIGKILL leaving an unclean pool and three unreachable
# allocations: a self-referencing list, its item array and its string.
CRASH_POOL = """
import os, signal, sys, pmemobj
pool = pmemobj.create(sys.argv[1])
pool.root = pool.new(pmemobj.PersistentList, [1, 2])
garbage = pool.new(pmemobj.PersistentList, ['lost'])
garbage.append(garbage)
del garbage
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def healthy(pool_path):
    r = run_python(MAKE_POOL, pool_path)
    assert r.returncode == 0, r.stderr
    return pool_path


@pytest.fixture
def crashed(tmpdir_shm):
    path = os.path.join(tmpdir_shm, "crashed.pool")
    r = run_python(CRASH_POOL, path)
    assert r.returncode == -9, r.stderr
    return path


def info(path, module="pmemobj"):
    r = cli("info", "--json", path, module=module)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_info_healthy(healthy):
    d = info(healthy)
    assert d["clean_shutdown"] is True
    assert d["layout"] == "pmemobj-python" and d["layout_version"] == pmemobj.LAYOUT_VERSION == 2
    assert d["pool_size"] == os.path.getsize(healthy)
    assert 0 < d["used_bytes"] < d["heap_size"] < d["pool_size"]
    assert d["free_bytes_approx"] == d["heap_size"] - d["used_bytes"]
    objs = d["objects"]
    assert objs["pmemobj.collections.dict.PersistentDict"] == 1
    assert objs["pmemobj.collections.list.PersistentList"] == 2
    assert objs["pmemobj.collections.object.PersistentObject"] == 1
    assert objs["pmemobj.collections.set.PersistentSet"] == 1
    assert d["garbage_total"] == 0 and d["refcounts_wrong"] == 0
    assert d["root_type"] == "pmemobj.collections.dict.PersistentDict"
    assert d["is_pmem"] in (True, False) and d["persistence"]
    text = cli("info", healthy).stdout
    assert "clean shutdown:    yes" in text and "PersistentSet" in text


def test_persistence_mode_follows_the_environment(healthy):
    r = cli("info", healthy)
    forced = subprocess.run([sys.executable, "-m", "pmemobj", "info", "--json", healthy], capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=ROOT, PMEM_IS_PMEM_FORCE="1"))
    d = json.loads(forced.stdout)
    assert d["is_pmem"] is True and "PMEM_IS_PMEM_FORCE" in d["persistence"]
    assert r.returncode == 0


def test_info_leaves_the_pool_as_found(crashed):
    # the flag as it was before the look, and still so after it: the next
    # normal open recovers the pool
    for _ in range(2):
        d = info(crashed)
        assert d["clean_shutdown"] is False
        assert d["garbage_total"] == 3 and d["garbage"]["pmemobj.collections.list.PersistentList"] == 1
        assert "NO" in cli("info", crashed).stdout
    assert cli("check", crashed).returncode == 0
    assert cli("dump", crashed).returncode == 0
    assert info(crashed)["clean_shutdown"] is False
    r = run_python("import sys, pmemobj\n"
                   "with pmemobj.open(sys.argv[1]) as p:\n"
                   "    assert p.recovered['freed_total'] == 3, p.recovered\n"
                   "    assert list(p.root) == [1, 2]\n", crashed)
    assert r.returncode == 0, r.stderr
    d = info(crashed)
    assert d["clean_shutdown"] is True and d["garbage_total"] == 0


def test_info_on_a_clean_pool_keeps_it_clean(healthy):
    info(healthy)
    cli("dump", healthy)
    cli("check", healthy)
    assert info(healthy)["clean_shutdown"] is True


def test_check(healthy, crashed):
    r = cli("check", healthy)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "libpmemobj check: consistent" in r.stdout and r.stdout.endswith("result: ok\n")
    r = cli("check", crashed)
    assert r.returncode == 0
    assert "not closed cleanly" in r.stdout and "3 unreachable" in r.stdout


def test_gc(crashed):
    r = cli("gc", "--dry-run", crashed)
    assert r.returncode == 0 and "would free 3 objects" in r.stdout
    assert info(crashed)["clean_shutdown"] is False
    r = cli("gc", crashed)
    assert r.returncode == 0
    assert "recovery gc at open (unclean shutdown): freed 3 objects" in r.stdout
    d = info(crashed)
    assert d["clean_shutdown"] is True and d["garbage_total"] == 0


def test_dump(healthy):
    out = cli("dump", healthy).stdout
    lines = out.splitlines()
    assert lines[0].startswith("root: pmemobj.collections.dict.PersistentDict (5 items)")
    assert "  'answer': 42" in lines
    assert "    [1]: 'grace'" in lines
    assert "    -: 'x'" in lines
    assert any(line.startswith("    .back: pmemobj.collections.dict.PersistentDict") and "(shown above)" in line
               for line in lines)
    shallow = cli("dump", "--depth", "1", healthy).stdout.splitlines()
    assert len(shallow) == 6 and all(line.startswith(("root", "  '")) for line in shallow)
    few = cli("dump", "--max-items", "1", healthy).stdout
    assert "  ...: 4 more items" in few and "'grace'" not in few
    assert "[0]: 4" not in out and "[0]: 4" in cli("dump", "--depth", "9", healthy).stdout


def test_bad_files(tmpdir_shm):
    missing = os.path.join(tmpdir_shm, "missing.pool")
    for cmd in ("info", "check", "gc", "dump"):
        assert_clean_error(cli(cmd, missing), "does not exist")
        assert_clean_error(cli(cmd, tmpdir_shm), "directory")
    empty = os.path.join(tmpdir_shm, "empty.pool")
    open(empty, "wb").close()
    assert_clean_error(cli("info", empty), "too small")
    junk = os.path.join(tmpdir_shm, "junk.pool")
    with open(junk, "wb") as f:
        f.write(os.urandom(1 << 16) * 160)
    assert_clean_error(cli("check", junk), "not a pmemobj pool")


def test_damaged_pool(healthy):
    # Clobber the item array of the 'names' list with references to memory
    # that is not allocated: info still answers, check reports the damage.
    r = run_python("import sys, pmemobj\n"
                   "with pmemobj.open(sys.argv[1]) as p:\n"
                   "    print(p.root['names']._p_oid[1])\n", healthy)
    assert r.returncode == 0, r.stderr
    names_off = int(r.stdout)
    with open(healthy, "r+b") as f:            # pool offsets are file offsets
        f.seek(names_off)
        header = f.read(40)                   # pyp_list_t: header, size, capacity, items
        items_off = int.from_bytes(header[32:40], "little")
        assert 0 < items_off < os.path.getsize(healthy)
        f.seek(items_off)                     # item 0 becomes a reference near the end of the heap
        f.write((6).to_bytes(8, "little") + (os.path.getsize(healthy) - (1 << 16)).to_bytes(8, "little"))
    r = cli("check", healthy)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "PROBLEM" in r.stdout and "result: problems found" in r.stdout
    r = cli("info", healthy)
    assert r.returncode == 0 and "DAMAGE" in r.stdout


def test_usage_errors(healthy):
    r = cli()
    assert r.returncode == 2 and "usage" in r.stderr
    r = cli("frobnicate", healthy)
    assert r.returncode == 2 and "Traceback" not in r.stderr


MAKE_STORAGE = """
import sys
from ptypes.storage import Storage, List

class Store(Storage):
    def populateSchema(self):
        class Item(self.schema.Structure):
            n = self.schema.Int
            label = self.schema.ByteString
        class Root(self.schema.Structure):
            items = self.define(List('Items')[Item])
            count = self.schema.Int

s = Store(sys.argv[1])
with s.transaction():
    s.root.items = s.schema.Items()
    for i in range(3):
        s.root.items.append(s.schema.Item(n=i, label=b'item%d' % i))
    s.root.count = 3
s.close()
"""


@pytest.fixture
def storage(tmpdir_shm):
    path = os.path.join(tmpdir_shm, "test.storage")
    r = run_python(MAKE_STORAGE, path)
    assert r.returncode == 0, r.stderr
    return path


def test_ptypes_storage(storage):
    d = info(storage, module="ptypes")
    assert d["kind"] == "ptypes storage" and d["clean_shutdown"] is True
    assert ["Items", "List"] in d["schema"] and ["Root", "Structure"] in d["schema"]
    assert info(storage)["kind"] == "ptypes storage"     # python -m pmemobj tells it apart
    out = cli("dump", storage, module="ptypes").stdout.splitlines()
    assert out[0] == "root: Root"
    assert "  .items: Items (3 items)" in out and "  .count: value 3" in out
    assert "      .label: ByteString b'item2'" in out
    assert cli("--ptypes", "dump", storage).stdout.splitlines() == out
    assert "python -m ptypes dump" in cli("dump", storage).stdout
    r = cli("check", storage, module="ptypes")
    assert r.returncode == 0 and "result: ok" in r.stdout, r.stdout
    r = cli("info", storage + ".missing", module="ptypes")
    assert_clean_error(r, "does not exist")
    assert not os.path.exists(storage + ".missing")


def test_ptypes_on_a_plain_pool(healthy):
    assert_clean_error(cli("info", healthy, module="ptypes"), "not a ptypes storage")


MAKE_STORAGE_IN_POOL = MAKE_STORAGE.replace("s = Store(sys.argv[1])", """import pmemobj
pool = pmemobj.create(sys.argv[1])
pool.root = pool.new(pmemobj.PersistentDict, {'answer': 42})
s = Store(pool=pool, name='store')""").replace("s.close()", """pool.root['first'] = s.root.items[0]
s.close()
pool.close()""")


def test_ptypes_storage_kept_in_a_pool(tmpdir_shm):
    path = os.path.join(tmpdir_shm, "mixed.pool")
    r = run_python(MAKE_STORAGE_IN_POOL, path)
    assert r.returncode == 0, r.stderr
    d = info(path)
    assert d["kind"] == "pmemobj pool" and d["ptypes_storage"] == "store"
    r = cli("check", path)                  # the pmemobj view reads the ptypes objects too
    assert r.returncode == 0 and "0 failed" in r.stdout and "result: ok" in r.stdout, r.stdout
    out = cli("dump", path).stdout.splitlines()
    assert "  'first': Item" in out and "    .label: ByteString b'item0'" in out, out
    r = cli("info", "--json", "--name", "store", path, module="ptypes")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["kind"] == "ptypes storage" and ["Items", "List"] in d["schema"]
    out = cli("dump", "--name", "store", path, module="ptypes").stdout.splitlines()
    assert out[0] == "root: Root" and "  .count: value 3" in out
    assert cli("--ptypes", "dump", "--name", "store", path).stdout.splitlines() == out
    r = cli("check", "--name", "store", path, module="ptypes")
    assert r.returncode == 0 and "result: ok" in r.stdout, r.stdout
    assert_clean_error(cli("dump", "--name", "other", path, module="ptypes"),
                       "no ptypes storage in pool.root['other']")
    assert_clean_error(cli("info", path, module="ptypes"), "not a ptypes storage")
    r = run_python("import sys, pmemobj\nwith pmemobj.open(sys.argv[1]) as p: print(sorted(p.root))", path)
    assert r.stdout.split() == ["['answer',", "'first',", "'store']"], r.stderr      # nothing was created


MAKE_WITH_CLASS = """
import sys
sys.path.insert(0, sys.argv[2])
import pmemobj, models
with pmemobj.create(sys.argv[1]) as pool:
    root = pool.root = pool.new(pmemobj.PersistentDict)
    root['a'] = 1
    root['customer'] = c = pool.new(models.Customer)
    c.name = 'Ada'
    c.orders = pool.new(pmemobj.PersistentList, [10, 20])
    root['z'] = pool.new(pmemobj.PersistentList, ['after'])
"""


def test_a_class_that_is_not_importable_is_not_damage(tmpdir_shm):
    """The pool holds objects of models.Customer; the CLI runs without models on its path."""
    moddir = os.path.join(tmpdir_shm, "mods")
    os.mkdir(moddir)
    with open(os.path.join(moddir, "models.py"), "w") as f:
        f.write("import pmemobj\nclass Customer(pmemobj.PersistentObject):\n    pass\n")
    path = os.path.join(tmpdir_shm, "models.pool")
    r = run_python(MAKE_WITH_CLASS, path, moddir)
    assert r.returncode == 0, r.stderr
    d = info(path)
    assert d["unknown_classes"] == {"models:Customer": 1} and d["damage"] is None
    text = cli("info", path).stdout
    assert "class models:Customer" in text and "PYTHONPATH" in text
    r = cli("check", path)
    assert r.returncode == 0, r.stdout
    assert "result: ok" in r.stdout and "class models:Customer is not importable" in r.stdout
    assert "PROBLEM" not in r.stdout
    out = cli("dump", path).stdout.splitlines()
    assert "  'a': 1" in out and any(line.startswith("  'z': pmemobj.collections.list.PersistentList")
                                     for line in out), out
    assert any("'customer': ! UnknownClassError" in line and "models:Customer" in line for line in out), out
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS, moddir]))
    r = subprocess.run([sys.executable, "-m", "pmemobj", "check", path], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "not importable" not in r.stdout, r.stdout   # found once it is on the path
