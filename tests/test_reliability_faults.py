"""Fault injection: every mutating operation of every persistent type of the
three packages, with an allocation, a snapshot or a free failing at each
point where the operation performs one.

For each operation: count its allocations, snapshots and frees (in a
transaction that is then rolled back), then make each of them fail in turn.
Every time the operation must raise PoolFullError, leave the state exactly as
before, and leave the pool consistent (a dry-run gc finds no wrong reference
count and nothing unreachable).  After the sweep the operation succeeds, and
the pool reopens with the expected state."""
import gc

import pytest

import pmemobj
from pmemobj import (PersistentDict, PersistentList, PersistentObject, PersistentSet, PersistentTuple,
                     PoolFullError, TransactionError)
from pmemobj import _core
from ptypes._objects import PtStorageRoot
from ptypes.storage import Storage

import torture

KINDS = ("alloc", "snapshot", "free")
FIGURES = {"operations": 0, "fault_points": 0}


class Rollback(Exception):
    pass


class Thing(PersistentObject):
    pass


def plain(v):
    if isinstance(v, PtStorageRoot):
        return ("ptypes storage", v.schema_json())
    if isinstance(v, Thing):
        return ("Thing", {a: plain(getattr(v, a)) for a in ("x", "y", "z") if hasattr(v, a)})
    if isinstance(v, PersistentTuple):
        return ("tuple", [plain(x) for x in v])
    return torture.plain(v)


# ---------------------------------------------------------------------------
# The operations: name -> (setup(pool, R), op(pool, R)); R is the root dict.

def _fill(pool, R):
    R["d"] = d = pool.new(PersistentDict)
    d.update({i: "value %d" % i for i in range(6)})
    d["big"] = 2 ** 100
    R["l"] = l = pool.new(PersistentList)
    l.extend(["item %d" % i for i in range(6)] + [(1, "t"), b"bytes"])
    R["s"] = s = pool.new(PersistentSet)
    s.update(["m%d" % i for i in range(6)] + [1, 2, 3])
    R["o"] = o = pool.new(Thing)
    o.x, o.y = "ex", (1, 2)
    R["arr"] = torture.PointArray.build(torture.points(3, "old"), pool=pool)


def _new_list(pool, items):
    return pool.new(PersistentList, items)


def _in_tx(pool, fn):
    """Creating an object and storing it are one transaction: a failure
    anywhere leaves no object behind."""
    with pool.transaction():
        fn()


POOL_OPS = {
    # PersistentDict
    "dict_set_new": lambda p, R: R["d"].__setitem__("new key", "a new value"),
    "dict_set_replace": lambda p, R: R["d"].__setitem__(1, "replaced " * 5),
    "dict_set_nested": lambda p, R: _in_tx(p, lambda: R["d"].__setitem__("n", _new_list(p, ["a", 2 ** 80]))),
    "dict_del": lambda p, R: R["d"].__delitem__(2),
    "dict_pop": lambda p, R: R["d"].pop("big"),
    "dict_popitem": lambda p, R: R["d"].popitem(),
    "dict_setdefault": lambda p, R: R["d"].setdefault("sd", "default"),
    "dict_update_grow": lambda p, R: R["d"].update({"k%d" % i: "v%d" % i for i in range(40)}),
    "dict_ior": lambda p, R: R["d"].__ior__({"x": 1, 3: "three"}),
    "dict_clear": lambda p, R: R["d"].clear(),
    # PersistentList
    "list_append": lambda p, R: R["l"].append("appended"),
    "list_extend_grow": lambda p, R: R["l"].extend("e%d" % i for i in range(40)),
    "list_insert": lambda p, R: R["l"].insert(2, "inserted"),
    "list_set": lambda p, R: R["l"].__setitem__(0, "replaced"),
    "list_set_slice": lambda p, R: R["l"].__setitem__(slice(1, 4), ["a", "b"]),
    "list_del": lambda p, R: R["l"].__delitem__(1),
    "list_del_slice": lambda p, R: R["l"].__delitem__(slice(0, 5, 2)),
    "list_pop": lambda p, R: R["l"].pop(0),
    "list_remove": lambda p, R: R["l"].remove("item 3"),
    "list_iadd": lambda p, R: R["l"].__iadd__(["x", "y"]),
    "list_imul": lambda p, R: R["l"].__imul__(2),
    "list_reverse": lambda p, R: R["l"].reverse(),
    "list_sort": lambda p, R: R["l"].sort(key=str),
    "list_clear": lambda p, R: R["l"].clear(),
    # PersistentSet
    "set_add": lambda p, R: R["s"].add("added"),
    "set_update_grow": lambda p, R: R["s"].update("u%d" % i for i in range(40)),
    "set_discard": lambda p, R: R["s"].discard("m1"),
    "set_remove": lambda p, R: R["s"].remove(2),
    "set_pop": lambda p, R: R["s"].pop(),
    "set_difference_update": lambda p, R: R["s"].difference_update(["m2", 3]),
    "set_intersection_update": lambda p, R: R["s"].intersection_update(["m2", 3, "zz"]),
    "set_symmetric_difference_update": lambda p, R: R["s"].symmetric_difference_update(["m2", "new"]),
    "set_clear": lambda p, R: R["s"].clear(),
    # PersistentObject attributes
    "object_set_new": lambda p, R: setattr(R["o"], "z", "zed"),
    "object_set_replace": lambda p, R: setattr(R["o"], "x", ("a", "tuple", 2 ** 70)),
    "object_del": lambda p, R: delattr(R["o"], "y"),
    # pool-level: root, new objects, tuples
    "new_object_stored": lambda p, R: _in_tx(p, lambda: R.__setitem__("t", p.new(Thing))),
    "new_tuple_stored": lambda p, R: _in_tx(p, lambda: R.__setitem__(
        "tup", p.new(PersistentTuple, ("a", 2 ** 90, None)))),
    # sharedbuffers built into the pool
    "sharedbuffers_array_build": lambda p, R: _in_tx(p, lambda: R.__setitem__(
        "arr", torture.PointArray.build(torture.points(30, "new"), pool=p))),
    "sharedbuffers_struct_pack": lambda p, R: _in_tx(p, lambda: R["d"].__setitem__(
        "struct", torture.POINT.pack_to_pool(torture.Point(7, "packed"), p))),
    # a ptypes storage created in the pool (its schema, registry and root entry)
    "ptypes_storage_in_pool": lambda p, R: torture.Journal(pool=p, name="journal"),
}


def snap_pool(pool):
    R = pool.root
    return {k: plain(v) for k, v in R.items()}


def assert_consistent(mm):
    gc.collect()                # proxies in reference cycles
    with mm.transaction():      # objects whose last proxy died are freed when a transaction begins
        pass
    dry = mm._gc(dry_run=True)
    assert dry["refcounts_wrong"] == 0, dry
    assert dry["freed_total"] == 0, dry


def count_ops(tx, op, snap):
    """The fault-point counts of op() and the state it leaves (rolled back)."""
    _core._fault_reset()
    try:
        with tx():
            op()
            counts = _core._fault_counts()
            after = snap()
            raise Rollback
    except Rollback:
        pass
    _core._fault_reset()
    return counts, after


def sweep(tx, mm, op, snap):
    """Fail op() at each of its fault points; return (points tried, the state op() leaves)."""
    before = snap()
    gc.collect()                # proxies in cycles decide whether a released object is kept: as in the runs below
    counts, after = count_ops(tx, op, snap)
    assert after != before, "the operation changes nothing: not a mutating operation"
    assert sum(counts.values()) > 0
    tried = 0
    for kind in KINDS:
        for n in range(counts[kind]):
            _core._fault_reset()
            _core._fault_inject(kind, n)
            try:
                with pytest.raises(PoolFullError):
                    op()
            finally:
                _core._fault_reset()
            gc.collect()
            assert snap() == before, (kind, n)
            assert_consistent(mm)
            tried += 1
    # inside a user's transaction: the fault dooms it, a further write is refused
    kind = next(k for k in KINDS if counts[k])
    _core._fault_inject(kind, counts[kind] - 1)
    with pytest.raises(PoolFullError):
        with tx():
            try:
                op()
            finally:
                _core._fault_reset()
            raise AssertionError("the injected fault did not raise")
    assert snap() == before
    with pytest.raises((PoolFullError, TransactionError)):
        with tx():
            _core._fault_inject(kind, counts[kind] - 1)
            try:
                with pytest.raises(PoolFullError):
                    op()
                op()            # writing on after the failure
            finally:
                _core._fault_reset()
    assert snap() == before
    assert_consistent(mm)
    FIGURES["operations"] += 1
    FIGURES["fault_points"] += tried
    return tried, after


@pytest.fixture
def pool(pool_path):
    p = pmemobj.create(pool_path, pool_size=32 << 20)
    yield p
    _core._fault_reset()
    p.close()


@pytest.mark.parametrize("name", sorted(POOL_OPS))
def test_pool_operation_under_faults(pool, name):
    path = pool.filename
    pool.root = pool.new(PersistentDict)
    _fill(pool, pool.root)
    op = POOL_OPS[name]
    tried, after = sweep(pool.transaction, pool.mm, lambda: op(pool, pool.root), lambda: snap_pool(pool))
    assert tried > 0
    before = snap_pool(pool)
    pool.close()
    with pmemobj.open(path) as p:
        assert snap_pool(p) == before                 # every rollback reached the file
        op(p, p.root)
        assert snap_pool(p) == after
        assert_consistent(p.mm)
    with pmemobj.open(path) as p:
        assert snap_pool(p) == after
        assert_consistent(p.mm)


def test_root_assignment_under_faults(pool):
    pool.root = pool.new(PersistentList, ["old root", 2 ** 70])
    snap = lambda: plain(pool.root)         # noqa: E731
    tried, after = sweep(pool.transaction, pool.mm,
                         lambda: _in_tx(pool, lambda: setattr(pool, "root",
                                                              pool.new(PersistentDict, {"new": "root"}))), snap)
    assert tried > 0 and after == {"new": "root"}


# ---------------------------------------------------------------------------
# ptypes

class Faults(Storage):
    """The Journal schema of the torture tests, its Root with a `count` and a structure field."""
    def populateSchema(self):
        Entry = torture.define_journal_collections(self)

        class Root(self.schema.Structure):
            count = self.schema.Int
            total = self.schema.Float
            label = self.schema.ByteString
            entry = Entry
            entries = self.schema.Entries
            ints = self.schema.Ints
            byKey = self.schema.ByKey
            keys = self.schema.Keys


def snap_storage(s):
    r = s.root
    e = r.entry
    return {"count": r.count.contents, "total": r.total.contents,
            "label": None if r.label is None else r.label.contents,
            "entry": None if e is None else (e.n.contents, e.text.contents),
            "entries": [(x.n.contents, x.text.contents) for x in r.entries],
            "ints": [x.contents for x in r.ints],
            "byKey": {k.contents: (v.n.contents, v.text.contents) for k, v in r.byKey.iteritems()},
            "keys": {k.contents for k in r.keys},
            "registry": {k.contents for k in s.stringRegistry}}


def _entry(s, n):
    return s.schema.Entry(n=n, text=b"entry %d" % n)


def _stx(s, fn):
    with s.transaction():
        fn()


# Operations that create an object and store it run in one transaction
PTYPES_OPS = {
    "int_set": lambda s, r: setattr(r, "count", 99),
    "int_inc": lambda s, r: r.count.inc(),
    "float_add": lambda s, r: r.total.add(2.5),
    "bytestring_set": lambda s, r: setattr(r, "label", b"a new label"),
    "bytestring_clear": lambda s, r: setattr(r, "label", None),
    "structure_set": lambda s, r: _stx(s, lambda: setattr(r, "entry", _entry(s, 50))),
    "structure_field_set": lambda s, r: setattr(r.entry, "text", b"changed text"),
    "list_append": lambda s, r: _stx(s, lambda: r.entries.append(_entry(s, 60))),
    "list_extend_grow": lambda s, r: r.ints.extend(range(40)),
    "list_insert": lambda s, r: _stx(s, lambda: r.entries.insert(1, _entry(s, 61))),
    "list_set": lambda s, r: _stx(s, lambda: r.entries.__setitem__(0, _entry(s, 62))),
    "list_del": lambda s, r: r.entries.__delitem__(1),
    "list_pop": lambda s, r: r.ints.pop(0),
    "list_clear": lambda s, r: r.entries.clear(),
    "dict_set_new": lambda s, r: _stx(s, lambda: r.byKey.__setitem__(b"new", _entry(s, 70))),
    "dict_set_replace": lambda s, r: _stx(s, lambda: r.byKey.__setitem__(b"k1", _entry(s, 71))),
    "dict_set_existing_value": lambda s, r: r.byKey.__setitem__(b"new", r.entry),
    "dict_update_grow": lambda s, r: _stx(s, lambda: r.byKey.update({b"u%d" % i: _entry(s, i) for i in range(20)})),
    "dict_del": lambda s, r: r.byKey.__delitem__(b"k2"),
    "dict_pop": lambda s, r: r.byKey.pop(b"k0"),
    "dict_clear": lambda s, r: r.byKey.clear(),
    "set_add": lambda s, r: r.keys.add(b"added"),
    "set_discard": lambda s, r: r.keys.discard(b"k1"),
    "registry_get": lambda s, r: s.stringRegistry.get(b"interned"),
    "registry_grow": lambda s, r: _stx(s, lambda: [s.stringRegistry.get(b"r%d" % i) for i in range(40)]),
}


@pytest.fixture
def storage(pool_path):
    s = Faults(pool_path)
    r = s.root
    r.count, r.total, r.label = 3, 1.5, b"label"
    r.entry = _entry(s, 0)
    r.entries = s.schema.Entries(_entry(s, i) for i in range(4))
    r.ints = s.schema.Ints(range(5))
    r.byKey = s.schema.ByKey(4)
    r.byKey.update({b"k%d" % i: _entry(s, i) for i in range(4)})
    r.keys = s.schema.Keys(4)
    r.keys.add(b"k1")
    r.keys.add(b"k2")
    s.stringRegistry.get(b"old")
    del r
    yield s
    _core._fault_reset()
    gc.collect()
    if not s._closed:
        s.close()


@pytest.mark.parametrize("name", sorted(PTYPES_OPS))
def test_ptypes_operation_under_faults(storage, name):
    s, op = storage, PTYPES_OPS[name]
    tried, after = sweep(s.transaction, s._pool.mm, lambda: op(s, s.root), lambda: snap_storage(s))
    assert tried > 0
    before = snap_storage(s)
    path = s.fileName
    gc.collect()
    s.close()
    s = Faults(path)
    try:
        assert snap_storage(s) == before
        op(s, s.root)
        assert snap_storage(s) == after
        assert_consistent(s._pool.mm)
    finally:
        gc.collect()
        s.close()


def test_figures():
    """Runs last in this file: the sweep covered every operation (see docs/reliability.md)."""
    if FIGURES["operations"] < len(POOL_OPS) + len(PTYPES_OPS):
        pytest.skip("run with the whole file to get the figures")
    print(f"\nfault injection: {FIGURES['operations']} operations, {FIGURES['fault_points']} fault points")
