"""sharedbuffers in pmemobj pools: packed structs, arrays and mappings stored as
pool objects (root, dict values), transactional, freed by refcount and gc."""
import gc
import os
import random
import signal
import subprocess
import sys
import time

import pytest

import pmemobj

from support import ROOT, assert_no_signal, run_python
from sharedbuffers import mapped_struct as ms

PersistentDict = pytest.importorskip("pmemobj.collections.dict").PersistentDict
from sharedbuffers._pooled import PooledBuffer  # noqa: E402

TESTS = os.path.dirname(os.path.abspath(__file__))


class Point:
    __slot_types__ = {"a": int, "n": int, "label": str, "extra": object}
    __slots__ = tuple(__slot_types__)

    def __init__(self, a=None, n=None, label=None, extra=None):
        self.a, self.n, self.label, self.extra = a, n, label, extra


POINT = ms.Schema.from_typed_slots(Point)
ms.mapped_object.register_schema(Point, POINT, b"\x83")


class PointArray(ms.MappedArrayProxyBase):
    schema = POINT


class PointsByName(ms.MappedMappingProxyBase):
    IdMapper = ms.StringIdMapper
    ValueArray = PointArray


class PointsById(ms.MappedMultiMappingProxyBase):
    IdMapper = ms.NumericIdMultiMapper
    ValueArray = PointArray


def points(n):
    return [Point(i, n, "p%d" % i, (i, "x")) for i in range(n)]


def pooled_kinds(pool):
    gc.collect()            # proxies in reference cycles keep their objects until collected
    kept = pool.gc()["kept"]
    return kept.get("sharedbuffers._pooled.PooledBuffer", 0)


def test_array_as_root(pool_path):
    with pmemobj.create(pool_path, pool_size=32 << 20) as pool:
        pool.root = PointArray.build(points(100), pool=pool)
        arr = pool.root
        assert isinstance(arr, PooledBuffer) and arr.kind == "array"
        assert len(arr) == 100 and arr[42].label == "p42" and arr[-1].extra == (99, "x")
        assert [p.a for p in arr] == list(range(100))
        assert isinstance(arr.proxy, PointArray)
        assert arr.getter()(7).a == 7          # forwarded attribute
    with pytest.raises(ValueError, match="closed"):
        arr[0]
    with pmemobj.open(pool_path) as pool:
        arr = pool.root
        assert [(p.a, p.n, p.label) for p in arr] == [(i, 100, "p%d" % i) for i in range(100)]


def test_struct_and_mappings_as_dict_values(pool_path):
    with pmemobj.create(pool_path, pool_size=32 << 20) as pool:
        d = pool.root = pool.new(PersistentDict)
        d["one"] = POINT.pack_to_pool(Point(1, label="one", extra=[1, 2]), pool)
        d["names"] = PointsByName.build({"x": Point(1), "y": Point(2)}, pool=pool)
        d["ids"] = PointsById.build([(5, Point(1)), (5, Point(2)), (9, Point(3))], pool=pool)
    with pmemobj.open(pool_path) as pool:
        d = pool.root
        assert d["one"].label == "one" and d["one"].extra == [1, 2] and d["one"].kind == "struct"
        assert d["names"]["y"].a == 2 and "z" not in d["names"] and len(d["names"]) == 2
        assert [p.a for p in d["ids"][5]] == [1, 2] and sorted(d["ids"].keys()) == [5, 9]
        assert pooled_kinds(pool) == 3
        del d["names"]                          # refcount drops to 0: freed once no proxy holds it
        assert pooled_kinds(pool) == 2
        d["one"] = None
        assert pooled_kinds(pool) == 1


def test_unreferenced_pooled_buffers_are_collected(pool_path):
    with pmemobj.create(pool_path, pool_size=32 << 20) as pool:
        PointArray.build(points(10), pool=pool)        # never stored, no proxy kept
        assert pooled_kinds(pool) == 0
        kept = PointArray.build(points(10), pool=pool)   # a live proxy keeps it
        assert pooled_kinds(pool) == 1
        assert kept[3].a == 3


def test_abort_rolls_back_a_build(pool_path):
    with pmemobj.create(pool_path, pool_size=32 << 20) as pool:
        pool.root = old = PointArray.build(points(3), pool=pool)
        with pytest.raises(KeyError):
            with pool.transaction():
                new = PointArray.build(points(50), pool=pool)
                pool.root = new
                assert len(pool.root) == 50
                raise KeyError("abort")
        assert len(pool.root) == 3 and pool.root[2].label == "p2"
        with pytest.raises(ValueError, match="no longer exists"):
            new[0]
        assert old[1].a == 1
        assert pooled_kinds(pool) == 1
    with pmemobj.open(pool_path) as pool:
        assert [p.a for p in pool.root] == [0, 1, 2]
        assert pooled_kinds(pool) == 1


def test_pool_full_leaves_pool_usable(pool_path):
    with pmemobj.create(pool_path, pool_size=8 << 20) as pool:
        pool.root = PointArray.build(points(5), pool=pool)
        big = (Point(i, label="x" * 1000) for i in range(20000))     # ~20 MB > the pool
        with pytest.raises(MemoryError):
            PointArray.build(big, pool=pool)
        assert len(pool.root) == 5
        pool.root = PointArray.build(points(7), pool=pool)
        assert len(pool.root) == 7


def test_misuse_gives_errors(pool_path):
    with pmemobj.create(pool_path, pool_size=32 << 20) as pool:
        with pytest.raises(ValueError, match="kind"):
            pool.new(PooledBuffer, 99, "x:y", b"data")
        arr = PointArray.build(points(2), pool=pool)
        with pytest.raises(TypeError, match="immutable"):
            arr.__init__(2, "x:y", b"data")
        unregistered = ms.Schema.from_typed_slots({"x": int})
        with pytest.raises(ValueError, match="register"):
            unregistered.pack_to_pool({"x": 1}, pool)
        with pytest.raises(TypeError):
            PooledBuffer().proxy                # not in a pool


def test_classes_defined_locally_work_in_this_process(pool_path):
    class LocalArray(ms.MappedArrayProxyBase):
        schema = POINT
    with pmemobj.create(pool_path, pool_size=32 << 20) as pool:
        pool.root = LocalArray.build(points(4), pool=pool)
        assert isinstance(pool.root.proxy, LocalArray) and pool.root[3].a == 3


def test_another_process_reads_the_pool(pool_path):
    with pmemobj.create(pool_path, pool_size=32 << 20) as pool:
        pool.root = PointsByName.build({"k%d" % i: Point(i) for i in range(100)}, pool=pool)
    code = (f"import sys; sys.path.insert(0, {TESTS!r})\n"
            "import pmemobj, test_sharedbuffers_pool\n"
            f"with pmemobj.open({pool_path!r}) as pool:\n"
            "    print(sum(pool.root['k%d' % i].a for i in range(100)))\n")
    proc = run_python(code)
    assert_no_signal(proc)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == sum(range(100))


CRASH_CHILD = """
import sys, random
sys.path.insert(0, {tests!r})
import pmemobj
from test_sharedbuffers_pool import PointArray, points
rng = random.Random({seed})
with pmemobj.open({path!r}) as pool:
    print("ready", flush=True)
    while True:
        n = rng.randrange(1, 300)
        if rng.random() < 0.5:
            pool.root = PointArray.build(points(n), pool=pool)
        else:
            with pool.transaction():
                pool.root = PointArray.build(points(n), pool=pool)
                pool.root = PointArray.build(points(n), pool=pool)
"""


@pytest.mark.crash
def test_sigkill_during_builds_leaves_a_consistent_pool(pool_path):
    with pmemobj.create(pool_path, pool_size=32 << 20):
        pass
    env = dict(os.environ, PYTHONPATH=ROOT)
    for seed in range(3):
        child = subprocess.Popen([sys.executable, "-c", CRASH_CHILD.format(
            tests=TESTS, seed=seed, path=pool_path)], stdout=subprocess.PIPE, env=env)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(random.uniform(0.2, 0.8))
        child.send_signal(signal.SIGKILL)
        child.wait()
        with pmemobj.open(pool_path) as pool:
            arr = pool.root
            if arr is not None:
                n = len(arr)
                assert [(p.a, p.n) for p in arr] == [(i, n) for i in range(n)]
            pool.gc()
            assert pooled_kinds(pool) == (0 if arr is None else 1)


def test_pooled_proxies_do_not_leak(pool_path):
    import gc
    import weakref
    with pmemobj.create(pool_path, pool_size=32 << 20) as pool:
        obj = POINT.pack_to_pool(Point(1, label="x"), pool)
        assert obj.label == "x"                 # makes and caches the proxy (a cycle)
        ref = weakref.ref(obj)
        del obj
        gc.collect()
        assert ref() is None
        assert pooled_kinds(pool) == 0


class PointsByNumber(ms.MappedMappingProxyBase):
    IdMapper = ms.NumericIdMapper
    ValueArray = PointArray


def test_pool_mappings_match_dicts(tmpdir_shm):
    from hypothesis import given, settings, strategies as st

    path = os.path.join(tmpdir_shm, "diff.pool")
    with pmemobj.create(path, pool_size=32 << 20) as pool:
        @settings(max_examples=30, deadline=None)
        @given(st.dictionaries(st.text(max_size=6), st.integers(-2**63, 2**63 - 1), max_size=20),
               st.dictionaries(st.integers(0, 2**64 - 1), st.text(max_size=6), max_size=20))
        def check(by_name, by_number):
            d = pool.root = pool.new(PersistentDict)
            d["names"] = PointsByName.build({k: Point(v) for k, v in by_name.items()}, pool=pool)
            d["numbers"] = PointsByNumber.build({k: Point(label=v) for k, v in by_number.items()},
                                                pool=pool)
            names, numbers = d["names"], d["numbers"]
            assert {k: p.a for k, p in names.items()} == by_name
            assert {k: p.label for k, p in numbers.items()} == by_number
            assert len(names) == len(by_name) and all(k in names for k in by_name)
            assert "\0missing" not in names and names.get("\0missing") is None
            top = numbers.get(2**64 - 1)
            assert (top is None) == (2**64 - 1 not in by_number)
        check()
        pool.root = None
        assert pooled_kinds(pool) == 0


def test_abort_rolls_back_pack_to_pool_in_a_dict(pool_path):
    with pmemobj.create(pool_path, pool_size=32 << 20) as pool:
        d = pool.root = pool.new(PersistentDict)
        d["p"] = POINT.pack_to_pool(Point(1, label="old"), pool)
        with pytest.raises(RuntimeError):
            with pool.transaction():
                d["p"] = POINT.pack_to_pool(Point(2, label="new"), pool)
                d["q"] = PointArray.build(points(3), pool=pool)
                raise RuntimeError("abort")
        assert d["p"].label == "old" and "q" not in d
        assert pooled_kinds(pool) == 1
    with pmemobj.open(pool_path) as pool:
        assert pool.root["p"].label == "old" and list(pool.root.keys()) == ["p"]
        assert pooled_kinds(pool) == 1


def test_failed_build_allocates_nothing(pool_path):
    with pmemobj.create(pool_path, pool_size=32 << 20) as pool:
        with pytest.raises(TypeError, match="slot 'a'"):
            PointArray.build([Point(1), Point("not an int")], pool=pool)
        assert pooled_kinds(pool) == 0


class Wide:
    __slot_types__ = {"u": ms.uint16, "when": ms.mapped_datetime_utc, "pl": ms.proxied_list,
                      "pd": ms.proxied_dict, "nd": ms.proxied_ndarray, "b": memoryview}

    def __init__(self, i):
        import datetime
        import numpy
        self.u = i
        self.when = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(hours=i)
        self.pl = [i, "x", [i]]
        self.pd = {"k": i, (1, 2): None}
        self.nd = numpy.arange(3) * i
        self.b = bytes([i % 256]) * 5


class WideArray(ms.MappedArrayProxyBase):
    schema = ms.Schema.from_typed_slots(Wide)


def test_new_value_types_in_a_pool(pool_path):
    with pmemobj.create(pool_path, pool_size=16 << 20) as pool:
        with pool.transaction():
            pool.root = WideArray.build([Wide(i) for i in range(20)], pool=pool)
    with pmemobj.open(pool_path) as pool:
        arr = pool.root
        p = arr[7]
        assert p.u == 7 and p.when.hour == 7 and p.pl[2] == [7] and p.pd[(1, 2)] is None
        assert list(p.nd) == [0, 7, 14] and bytes(p.b) == b"\x07" * 5
        with pytest.raises(AttributeError, match="read-only"):
            p.u = 8                 # pool memory changes only in transactions: never through a proxy
        with pytest.raises(AttributeError, match="read-only"):
            type(p).u.add(p, 1)
        plist = p.pl
    with pytest.raises(ValueError):
        plist[0]                    # the pool is closed: a clear error, not a stale read
