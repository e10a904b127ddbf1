"""Getting data out: pmemobj.to_builtin() and the repr of PersistentObject subclasses."""
import copy
import pickle

import pytest

import pmemobj
from pmemobj import (PersistentDict, PersistentFrozenSet, PersistentList, PersistentObject, PersistentSet,
                     PersistentTuple, to_builtin)


class Customer(PersistentObject):
    def __init__(self, name, orders=()):
        self.name = name
        self.orders = self._p_mm.pool.new(PersistentList, orders) if orders else None


class Node(PersistentObject):
    pass


def _is_builtin_tree(x, seen=None):
    """Every container in x is a builtin list/dict/set/frozenset/tuple."""
    seen = set() if seen is None else seen
    if id(x) in seen:
        return True
    seen.add(id(x))
    t = type(x)
    if t in (list, tuple, set, frozenset):
        return all(_is_builtin_tree(v, seen) for v in x)
    if t is dict:
        return all(_is_builtin_tree(k, seen) and _is_builtin_tree(v, seen) for k, v in x.items())
    return t in (int, float, bool, str, bytes, complex, type(None))


def test_a_graph_becomes_plain_python(pool_path):
    with pmemobj.create(pool_path) as pool:
        shared = pool.new(PersistentList, [1, "x"])
        pool.root = pool.new(PersistentDict, {
            "list": pool.new(PersistentList, [1, 2.5, None, "s", b"b", 2 ** 80, (1, "t"), frozenset({3})]),
            "set": pool.new(PersistentSet, {1, "a", (2, 3)}),
            "frozen": pool.new(PersistentFrozenSet, {4, 5}),
            "tuple": pool.new(PersistentTuple, [shared, 6]),
            "customer": pool.new(Customer, "Ada", [10, 20]),
            "a": shared, "b": shared,
            pool.new(PersistentFrozenSet, {7}): "frozenset key",
            pool.new(PersistentTuple, [8, 9]): "tuple key",
        })
        out = to_builtin(pool.root)
        assert _is_builtin_tree(out)
        assert out == {
            "list": [1, 2.5, None, "s", b"b", 2 ** 80, (1, "t"), frozenset({3})],
            "set": {1, "a", (2, 3)},
            "frozen": frozenset({4, 5}),
            "tuple": ([1, "x"], 6),
            "customer": {"name": "Ada", "orders": [10, 20]},
            "a": [1, "x"], "b": [1, "x"],
            frozenset({7}): "frozenset key",
            (8, 9): "tuple key",
        }
        assert list(out) == list(pool.root.keys()) and list(out)[:3] == ["list", "set", "frozen"]
        assert out["a"] is out["b"] is out["tuple"][0]          # shared stays shared
        out["a"].append("changed")                             # and is no longer in the pool
        assert list(shared) == [1, "x"]


def test_cycles_stay_cycles(pool_path):
    with pmemobj.create(pool_path) as pool:
        a = pool.root = pool.new(Node)
        a.me = a
        a.items = pool.new(PersistentList, [a])
        out = to_builtin(a)
        assert out["me"] is out and out["items"][0] is out
        lst = pool.new(PersistentList)
        lst.append(lst)
        out = to_builtin(lst)
        assert out[0] is out
        pool.root = None
        del a, lst


def test_a_persistent_object_as_a_key_is_refused(pool_path):
    with pmemobj.create(pool_path) as pool:
        pool.root = pool.new(PersistentDict, {pool.new(Node): 1})
        with pytest.raises(TypeError, match="dict key or set member"):
            to_builtin(pool.root)


def test_plain_values_pass_through(pool_path):
    for v in (1, "s", None, 2.5, b"x", (1, [2, {3: 4}])):
        assert to_builtin(v) == v


def test_deepcopy_and_pickle_point_to_to_builtin(pool_path):
    with pmemobj.create(pool_path) as pool:
        pool.root = pool.new(PersistentList, [1])
        for f in (copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError, match="to_builtin"):
                f(pool.root)


def test_repr_of_persistent_objects(pool_path):
    with pmemobj.create(pool_path) as pool:
        c = pool.root = pool.new(Customer, "Ada")
        c.tags = pool.new(PersistentList, ["vip"])
        assert repr(c) == "Customer(name='Ada', orders=None, tags=PersistentList(['vip']))"
        n = pool.new(Node)
        assert repr(n) == "Node()"
        n.me = n
        assert repr(n) == "Node(me=Node(...))"
        n.me = None
        del n
    assert repr(c).startswith("<Customer: ") and "closed" in repr(c)
