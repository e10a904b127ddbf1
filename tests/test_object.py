"""PersistentObject: persistent and volatile attributes, _v__init__, user
subclasses across reopen and processes, identity as a key, rollback."""
import os

import pytest

import pmemobj
from pmemobj import PersistentDict, PersistentList, PersistentObject, PersistentSet
from support import assert_no_garbage, assert_no_signal, check_abort_rolls_back, reopen, run_python

POOL_SIZE = 32 * 1024 * 1024
TESTS = os.path.dirname(os.path.abspath(__file__))
CALLS = []


class Boom(Exception):
    """Raised inside a transaction to abort it."""


class Point(PersistentObject):
    count = 0               # a class attribute that instances shadow once they set it

    def _v__init__(self):
        CALLS.append(("_v__init__", type(self).__name__))
        self._v_cache = {"volatile": True}

    def __init__(self, x, y=0):
        CALLS.append(("__init__", type(self).__name__))
        self.x = x
        self.y = y

    def norm2(self):
        return self.x * self.x + self.y * self.y

    @property
    def doubled(self):
        return (2 * self.x, 2 * self.y)

    @property
    def label(self):
        return self._v_label

    @label.setter
    def label(self, value):     # a data descriptor: takes precedence over persistent attributes
        self._v_label = "<%s>" % value


class Point3(Point):
    def __init__(self, x, y, z):
        super().__init__(x, y)
        self.z = z


class Node(PersistentObject):
    """No _v__init__ override: the default does nothing."""


def new_pool(path):
    return pmemobj.create(path, pool_size=POOL_SIZE)


def test_attributes_persist(pool_path):
    pool = new_pool(pool_path)
    p = pool.new(Point, 3, 4)
    pool.root = p
    assert (p.x, p.y, p.norm2(), p.doubled) == (3, 4, 25, (6, 8))
    values = {"i": 2 ** 80, "f": 1.5, "s": "text", "b": b"\x00", "n": None, "t": (1, ("a",)), "fs": frozenset({1}),
              "flag": True}
    for k, v in values.items():
        setattr(p, k, v)
    p.d = pool.new(PersistentDict, a=1)
    p.l = pool.new(PersistentList, [1, 2])
    p.other = pool.new(Node)
    p.other.back = p                  # a cycle through attributes
    p.count += 1
    p.count += 1
    assert p.count == 2 and Point.count == 0
    pool = reopen(pool)
    p = pool.root
    assert type(p) is Point
    assert {k: getattr(p, k) for k in values} == values
    assert {k: type(getattr(p, k)) for k in values} == {k: type(v) for k, v in values.items()}
    assert p.d["a"] == 1 and list(p.l) == [1, 2] and p.other.back is p
    assert p.count == 2 and p.norm2() == 25
    assert p._p_attrs() == ["x", "y", "i", "f", "s", "b", "n", "t", "fs", "flag", "d", "l", "other", "count"]
    assert "flag" in dir(p) and "norm2" in dir(p)
    del p.x
    with pytest.raises(AttributeError, match="'Point' object has no attribute 'x'"):
        p.x
    with pytest.raises(AttributeError):
        del p.x
    with pytest.raises(AttributeError):
        p.nothing
    assert getattr(p, "x", "default") == "default" and not hasattr(p, "nothing")
    p.other.back = None               # break the cycle: reference counts free what is left
    assert_no_garbage(pool)
    pool.close()


def test_volatile_attributes_and_v_init(pool_path):
    CALLS.clear()
    pool = new_pool(pool_path)
    p = pool.new(Point, 1)
    assert CALLS == [("_v__init__", "Point"), ("__init__", "Point")]
    assert p._v_cache == {"volatile": True}
    p._v_other = [1, 2]               # not persistable, and it need not be
    p.label = "tag"
    assert p.label == "<tag>" and "label" not in p._p_attrs() and "_v_other" not in p._p_attrs()
    pool.root = p
    del p._v_other
    with pytest.raises(AttributeError):
        p._v_other
    p._v_other = 1
    CALLS.clear()
    del p
    pool = reopen(pool)
    p = pool.root
    assert CALLS == [("_v__init__", "Point")]       # resurrection: _v__init__ only
    assert p._v_cache == {"volatile": True}
    with pytest.raises(AttributeError):
        p._v_other
    with pytest.raises(AttributeError):
        p.label
    assert pool.root is p             # one proxy while it is alive: no second _v__init__
    assert CALLS == [("_v__init__", "Point")]
    n = pool.new(Node)
    assert n._p_attrs() == []
    pool.close()


def test_subclass_round_trip_across_processes(pool_path):
    write = f"""
import sys
sys.path.insert(0, {TESTS!r})
import pmemobj, test_object
with pmemobj.create(sys.argv[1], pool_size=16 << 20) as pool:
    d = pool.root = pool.new(pmemobj.PersistentDict)
    p = pool.new(test_object.Point3, 1, 2, 3)
    d[p] = "by identity"
    d["p"] = p
    d["members"] = pool.new(pmemobj.PersistentSet, [p])
"""
    read = f"""
import sys
sys.path.insert(0, {TESTS!r})
import pmemobj, test_object
with pmemobj.open(sys.argv[1]) as pool:
    d = pool.root
    p = d["p"]
    assert type(p) is test_object.Point3, type(p)
    assert (p.x, p.y, p.z, p.norm2()) == (1, 2, 3, 5)
    assert d[p] == "by identity" and p in d["members"]
    assert test_object.CALLS == [("_v__init__", "Point3")], test_object.CALLS
print("ok")
"""
    for code in (write, read):
        proc = run_python(code, pool_path)
        assert_no_signal(proc)
        assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_identity_as_key_after_reopen(pool_path):
    pool = new_pool(pool_path)
    a, b = pool.new(Point, 1), pool.new(Point, 1)
    assert a != b and a == a and hash(a) != hash(b)
    d = pool.root = pool.new(PersistentDict)
    d[a] = "a"
    d[b] = "b"
    d["s"] = pool.new(PersistentSet, [a])
    d["keys"] = (a, b)
    plain = {a: "a"}
    assert d[a] == "a" and d[b] == "b" and a in d["s"] and b not in d["s"] and plain[a] == "a"
    del a, b
    pool = reopen(pool)
    d = pool.root
    a, b = d["keys"]
    assert d[a] == "a" and d[b] == "b" and a in d["s"] and b not in d["s"]
    assert list(d)[:2] == [a, b]
    pool.close()


def _set_new(p):
    p.new_attr = "new"


def _set_existing(p):
    p.x = "replaced"


def _del(p):
    del p.y


def _many(p):
    for i in range(100):
        setattr(p, "a%d" % i, i)


MUTATIONS = {"set_new": _set_new, "set_existing": _set_existing, "del": _del, "many": _many}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_abort_rolls_back(pool_path, name):
    pool = new_pool(pool_path)
    p = pool.root = pool.new(Point, "x0", "y0")
    p.nested = pool.new(Node)

    def state(p):
        return [(k, getattr(p, k)) for k in p._p_attrs() if k != "nested"]
    check_abort_rolls_back(pool, p, MUTATIONS[name], state, Boom).close()


def test_unpersistable_attribute_changes_nothing(pool_path):
    pool = new_pool(pool_path)
    p = pool.root = pool.new(Point, 1)
    with pytest.raises(TypeError):
        p.bad = object()
    assert not hasattr(p, "bad") and p.x == 1
    pool.close()


def test_aborted_creation_leaves_a_dead_proxy(pool_path):
    pool = new_pool(pool_path)
    with pytest.raises(Boom):
        with pool.transaction():
            p = pool.new(Point, 1)
            raise Boom()
    with pytest.raises(ValueError):
        p.x
    with pytest.raises(ValueError):
        p.x = 2
    pool.close()


def test_use_after_close_raises_value_error(pool_path):
    pool = new_pool(pool_path)
    p = pool.root = pool.new(Point, 1)
    h = hash(p)
    pool.close()
    assert hash(p) == h                   # fixed at first use, so dicts holding it keep working
    for fn in (lambda: p.x, lambda: setattr(p, "x", 2), lambda: delattr(p, "x"), lambda: p.norm2(),
               lambda: p._p_attrs()):
        with pytest.raises(ValueError):
            fn()
    assert p._v_cache == {"volatile": True}


def test_not_created_by_pool_new():
    p = Point.__new__(Point)
    with pytest.raises(TypeError, match="pool.new"):
        p.x = 1
    with pytest.raises(TypeError, match="pool.new"):
        p.x
