"""PersistentTuple: differential tests against tuple, hashing, immutability,
values across reopen, reference counts, rollback of creation, use after close."""
import collections.abc
import operator
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import pmemobj
from pmemobj import PersistentList, PersistentTuple
from support import assert_no_garbage, reopen

POOL_SIZE = 32 * 1024 * 1024

VALUES = st.one_of(
    st.sampled_from([0, 1, -1, True, False, 1.0, 2.5, None, "a", "b", "", b"a", (1, "a"), 2 ** 70]),
    st.integers(-10 ** 20, 10 ** 20),
    st.text(max_size=4),
)
ITEMS = st.lists(VALUES, max_size=6)
SLICE_PARTS = st.one_of(st.none(), st.integers(-8, 8))
SLICES = st.builds(slice, SLICE_PARTS, SLICE_PARTS, st.one_of(st.none(), st.sampled_from([1, 2, -1, -3, 0])))


class Boom(Exception):
    pass


def typed(seq):
    return [(type(x), x) for x in seq]


@pytest.fixture(scope="module")
def shared_pool():
    """One pool for the hypothesis tests of this module (a pool per example would be slow)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    d = tempfile.mkdtemp(prefix="pmemobj-test-", dir=base)
    pool = pmemobj.create(os.path.join(d, "tuple.pool"), pool_size=POOL_SIZE)
    pool.root = pool.new(PersistentList)
    yield pool
    pool.close()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pool(pool_path):
    p = pmemobj.create(pool_path, pool_size=POOL_SIZE)
    yield p
    p.close()


def _run(fn, target):
    try:
        result = fn(target)
    except Exception as e:
        return ("raised", type(e))
    if isinstance(result, (tuple, list)):
        return ("value", type(result), typed(result))
    return ("value", type(result), result)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=ITEMS, other=ITEMS, data=st.data())
def test_differential(shared_pool, items, other, data):
    pt = shared_pool.new(PersistentTuple, items)
    shared_pool.root.append(pt)      # referenced, and later reloaded from the pool
    model = tuple(items)
    n = len(items)
    index = data.draw(st.one_of(st.integers(-n - 2, n + 2), st.sampled_from(["0", 1.5, None])))
    sl = data.draw(SLICES)
    value = data.draw(VALUES)
    start = data.draw(st.integers(-n - 2, n + 2))
    times = data.draw(st.integers(-1, 3))
    ops = [
        len, list, bool, lambda t: list(reversed(t)),
        lambda t: t[index], lambda t: t[sl],
        lambda t: t.count(value), lambda t: value in t,
        lambda t: t.index(value), lambda t: t.index(value, start), lambda t: t.index(value, start, -1),
        lambda t: t + tuple(other), lambda t: tuple(other) + t, lambda t: t + list(other),
        lambda t: t * times, lambda t: times * t,
        lambda t: hash(t), lambda t: t == tuple(other), lambda t: t != tuple(other),
        lambda t: t < tuple(other), lambda t: t >= tuple(other), lambda t: tuple(other) <= t,
        lambda t: t == list(t),
    ]
    for op in ops:
        assert _run(op, pt) == _run(op, model)
    assert repr(pt) == f"PersistentTuple({model!r})"
    assert pmemobj.stable_hash(pt, shared_pool.mm) == pmemobj.stable_hash(model, shared_pool.mm)
    assert typed(shared_pool.root[-1]) == typed(model)


def test_equality_and_hash_with_tuples(pool):
    a = pool.new(PersistentTuple, (1, "x", (2.5, b"y")))
    b = pool.new(PersistentTuple, [1, "x", (2.5, b"y")])
    pool.root = pool.new(PersistentList, [a, b])
    assert a == b and a == (1, "x", (2.5, b"y")) and (1, "x", (2.5, b"y")) == a
    assert a is not b and hash(a) == hash(b) == hash((1, "x", (2.5, b"y")))
    assert {a: "v"}[(1, "x", (2.5, b"y"))] == "v"
    assert a != [1, "x", (2.5, b"y")]
    assert pool.new(PersistentTuple, (1, 2)) < pool.new(PersistentTuple, (1, 3))
    assert pmemobj.stable_hash(a, pool.mm) == pmemobj.stable_hash((1, "x", (2.5, b"y")), pool.mm)
    assert pmemobj.stable_hash(pool.new(PersistentTuple, (1,)), pool.mm) == \
        pmemobj.stable_hash((1.0,), pool.mm)         # 1 == 1.0: equal values hash alike
    holder = pool.new(PersistentTuple, (1, pool.new(PersistentList)))
    with pytest.raises(TypeError, match="unhashable"):
        hash(holder)
    with pytest.raises(TypeError, match="unhashable"):
        pmemobj.stable_hash(holder, pool.mm)


def test_immutable_sequence(pool):
    t = pool.new(PersistentTuple, (1, 2, 3))
    pool.root = t
    assert isinstance(t, collections.abc.Sequence)
    assert not isinstance(t, collections.abc.MutableSequence)
    assert isinstance(t, collections.abc.Hashable)
    with pytest.raises(TypeError):
        t[0] = 5
    with pytest.raises(TypeError):
        del t[0]
    with pytest.raises(AttributeError):
        t.append(4)
    with pytest.raises(TypeError, match="immutable"):
        t.__init__((4, 5))
    with pytest.raises(TypeError, match="tuple indices must be integers or slices, not str"):
        t["0"]
    with pytest.raises(IndexError, match="tuple index out of range"):
        t[3]
    with pytest.raises(ValueError, match="tuple.index"):
        t.index(9)
    assert t.index(3, -1) == 2 and t.index(2, 0, 2) == 1
    assert type(t[1:]) is tuple and t[::-1] == (3, 2, 1)
    assert type(t + (4,)) is tuple and type((0,) + t) is tuple and type(t * 2) is tuple
    it = iter(t)
    assert operator.length_hint(it) == 3 and next(it) == 1 and list(it) == [2, 3]
    assert list(pool.root) == [1, 2, 3]


def test_empty_tuple(pool):
    t = pool.new(PersistentTuple)
    pool.root = t
    assert len(t) == 0 and t == () and not t and hash(t) == hash(())
    pool2 = reopen(pool)
    try:
        assert pool2.root == () and isinstance(pool2.root, PersistentTuple)
    finally:
        pool2.close()


def test_values_and_nesting_round_trip(pool):
    values = (None, True, 0, -2 ** 63, 2 ** 100, 1.5, -0.0, 2j, "", "ünï", "\udc80", b"\x00",
              (1, (2, (3,))), frozenset({1, 2}))
    with pool.transaction():
        inner = pool.new(PersistentList, ["inner"])
        nested = pool.new(PersistentTuple, ("nested", inner))
        pool.root = pool.new(PersistentTuple, values + (nested, inner))
    pool2 = reopen(pool)
    try:
        t = pool2.root
        assert typed(t[:len(values)]) == typed(values)
        nested, inner = t[-2], t[-1]
        assert isinstance(nested, PersistentTuple) and nested[0] == "nested"
        assert nested[1] is inner and list(inner) == ["inner"]
        assert pool2.mm.refcount(inner._p_oid) == 2
        inner.append("changed through the tuple")
        assert list(nested[1]) == ["inner", "changed through the tuple"]
        assert_no_garbage(pool2)
    finally:
        pool2.close()


def test_removed_tuple_frees_its_items(pool):
    holder = pool.new(PersistentList)
    pool.root = holder
    inner = pool.new(PersistentList, ["x"])
    t = pool.new(PersistentTuple, ("payload", inner))
    holder.append(t)
    assert pool.mm.refcount(t._p_oid) == 1 and pool.mm.refcount(inner._p_oid) == 1
    popped = holder.pop()
    assert popped is t and len(t) == 2          # held by Python: still there
    before = pool.gc()["kept_total"]
    del t, popped                               # the tuple goes at the next transaction, and
    assert_no_garbage(pool)                     # with it the last reference to `inner`, but
    assert inner[0] == "x"                      # `inner` is held by Python too
    del inner
    assert_no_garbage(pool)
    # the tuple, "payload", the list, its array and "x"
    assert pool.gc()["kept_total"] == before - 5


def test_creation_rolls_back(pool):
    holder = pool.new(PersistentList, ["before"])
    pool.root = holder
    with pytest.raises(Boom):
        with pool.transaction():
            t = pool.new(PersistentTuple, ("new", pool.new(PersistentList)))
            holder.append(t)
            assert holder[-1] == t
            raise Boom()
    assert list(holder) == ["before"]
    with pytest.raises(ValueError, match="no longer exists"):
        t[0]
    with pytest.raises(TypeError, match="know how to persist"):
        pool.new(PersistentTuple, ("ok", object()))
    assert_no_garbage(pool)
    pool2 = reopen(pool)
    try:
        assert list(pool2.root) == ["before"]
    finally:
        pool2.close()


def test_direct_construction_is_refused():
    with pytest.raises(TypeError, match="pool.new"):
        PersistentTuple((1, 2))


def test_use_after_close(pool_path):
    pool = pmemobj.create(pool_path, pool_size=POOL_SIZE)
    t = pool.new(PersistentTuple, (1, 2, 3))
    pool.root = t
    it = iter(t)
    pool.close()
    calls = [len, tuple, hash, lambda t: t[0], lambda t: t[:1], lambda t: 1 in t, lambda t: t.index(1),
             lambda t: t.count(1), lambda t: t == (1, 2, 3), lambda t: t + (1,), lambda t: t * 2,
             lambda t: next(it)]
    for call in calls:
        with pytest.raises(ValueError, match="closed"):
            call(t)
    assert "closed" in repr(t)
