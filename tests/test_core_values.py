"""Values round-trip exactly (type and value) across close/reopen."""
import collections
import dataclasses
import decimal
import enum
import math
import pickle
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

import pmemobj

VALUES = [None, True, False, 0, 1, -1, 2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**200, -(3**150),
          0.0, -0.0, 1.0, 1.5, math.inf, -math.inf, 1e308, 5e-324, 1 + 2j, complex(-0.0, 3),
          "", "abc", "h\u00e9llo w\u00f6rld \u2603", "nul\x00inside", "\udcff lone surrogate",
          b"", b"bytes\x00\xff", bytes(range(256)) * 10, "x" * 100000,
          (), (1,), (1, "a", b"b", None, (2.5, (True,))), frozenset(), frozenset([1, "a", (2, 3)])]


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__ + ":" + repr(v)[:20])
def test_round_trip(pool_path, value):
    with pmemobj.create(pool_path) as pool:
        pool.root = value
        assert same(pool.root, value)
    with pmemobj.open(pool_path) as pool:
        assert same(pool.root, value)


def test_one_float_true_stay_distinct(pool_path):
    with pmemobj.create(pool_path) as pool:
        pool.root = (1, 1.0, True)
    with pmemobj.open(pool_path) as pool:
        assert [type(x) for x in pool.root] == [int, float, bool]


def test_nan_round_trip(pool_path):
    with pmemobj.create(pool_path) as pool:
        pool.root = math.nan
        assert math.isnan(pool.root)


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()
    | st.complex_numbers(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4).map(tuple) | st.frozensets(st.integers() | st.text(), max_size=4),
    max_leaves=10)


@settings(max_examples=60, deadline=None)
@given(values)
def test_round_trip_generated(tmp_path_factory, value):
    path = str(tmp_path_factory.mktemp("v") / "p.pool")
    with pmemobj.create(path) as pool:
        pool.root = value
    with pmemobj.open(path) as pool:
        assert same(pool.root, value)


class Point:            # not a builtin: needs persist_via_pickle
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)

    def __hash__(self):                 # an immutable value (persist_via_pickle refuses unhashable types)
        return hash((self.x, self.y))


def test_unpersistable_value_is_a_type_error(pool_path):
    with pmemobj.create(pool_path) as pool:
        with pytest.raises(TypeError, match="don't know how to persist object of type .*Point"):
            pool.root = Point(1, 2)
        with pytest.raises(TypeError, match="list"):
            pool.root = [1, 2]
        with pytest.raises(TypeError):
            pool.root = (1, object())
        assert pool.root is None
        assert pool.gc()["freed_total"] == 0


def test_persist_via_pickle(pool_path):
    with pmemobj.create(pool_path) as pool:
        pool.persist_via_pickle(Point, Fraction)
        pool.root = (Point(1, 2), Fraction(1, 3))
    with pmemobj.open(pool_path) as pool:
        assert pool.root == (Point(1, 2), Fraction(1, 3))
        with pytest.raises(TypeError):
            pool.persist_via_pickle("not a type")


@dataclasses.dataclass
class Mutable:
    x: int = 0


@dataclasses.dataclass(frozen=True)
class Frozen:
    x: int = 0


class Unhashable:
    def __eq__(self, other):
        return self is other


Pair = collections.namedtuple("Pair", "a b")
Color = enum.Enum("Color", "RED GREEN")


class PlainRecord:              # hashable by identity: nothing says it is mutable
    pass


@pytest.mark.parametrize("t", [list, dict, set, bytearray, Mutable, Unhashable, pmemobj.PersistentObject,
                               pmemobj.PersistentList])
def test_persist_via_pickle_refuses_mutable_types(pool_path, t):
    with pmemobj.create(pool_path) as pool:
        with pytest.raises(TypeError, match="immutable types") as e:
            pool.persist_via_pickle(t)
        if not issubclass(t, pmemobj.PersistentBase):
            assert "PersistentObject" in str(e.value) and t.__name__ in str(e.value)
        assert t not in pool.mm.pickle_types


def test_persist_via_pickle_takes_immutable_types(pool_path):
    kinds = (Frozen, Pair, Color, Fraction, decimal.Decimal, PlainRecord)
    with pmemobj.create(pool_path) as pool:
        pool.persist_via_pickle(*kinds)
        pool.root = (Frozen(3), Pair(1, "b"), Color.GREEN, Fraction(1, 3), decimal.Decimal("1.5"))
    with pmemobj.open(pool_path) as pool:
        assert pool.root == (Frozen(3), Pair(1, "b"), Color.GREEN, Fraction(1, 3), decimal.Decimal("1.5"))


def test_stable_hash_follows_equality():
    h = pmemobj.stable_hash
    assert h(1) == h(1.0) == h(True)
    assert h("abc") == h("abc") and h("abc") != h("abd")
    assert h((1, "a")) == h((1.0, "a"))
    assert h(frozenset([1, 2])) == h(frozenset([2, 1]))
    with pytest.raises(TypeError):
        h([1])


def test_stable_hash_is_process_independent():
    from support import run_python
    code = "import pmemobj; print(pmemobj.stable_hash('k\u00e9y'), pmemobj.stable_hash(b'k'), pmemobj.stable_hash(('a', 1)))"
    outs = {run_python(code, env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "random")}
    assert len(outs) == 1 and outs.pop().strip()
