"""PersistentSet and PersistentFrozenSet: differential tests against set and
frozenset, rollback of every mutating method, hashing, use after close."""
import collections.abc
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import pmemobj
from pmemobj import PersistentDict, PersistentFrozenSet, PersistentSet
from support import assert_no_garbage, reopen

POOL_SIZE = 32 * 1024 * 1024


class Boom(Exception):
    """Raised inside a transaction to abort it."""


def new_pool(path, size=POOL_SIZE):
    return pmemobj.create(path, pool_size=size)


def typed(s):
    """The members with their types, in a canonical order (1, 1.0 and True differ here)."""
    return sorted((type(x).__name__, repr(x)) for x in s)


def outcome(fn):
    try:
        return fn(), None
    except Exception as e:          # noqa: BLE001 - any exception is part of the behaviour
        return None, type(e)


def same(model_fn, ps_fn, check_type=True):
    r1, e1 = outcome(model_fn)
    r2, e2 = outcome(ps_fn)
    assert e1 == e2, (e1, e2)
    assert r1 == r2, (r1, r2)
    if check_type:
        assert type(r1) is type(r2), (r1, r2)
    return r1


MEMBERS = st.one_of(
    st.sampled_from([0, 1, -1, True, False, None, 1.0, 0.0, -0.0, 2.5, "", "a", b"", b"a", (), (1, "a"),
                     frozenset({1}), frozenset(), 2 ** 70]),
    st.integers(-20, 20),
    st.text(max_size=2),
    st.binary(max_size=2),
    st.floats(allow_nan=False, width=16),
)
SMALL_SETS = st.sets(MEMBERS, max_size=5)
ITERABLE_FORMS = st.sampled_from(["set", "frozenset", "list", "generator", "persistent"])

BINOPS = {
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "sub": lambda a, b: a - b, "xor": lambda a, b: a ^ b,
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
}


class SetMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="pmemobj-set-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        self.pool = new_pool(os.path.join(self.dir, "s.pool"), 16 * 1024 * 1024)
        self.pool.root = self.s = self.pool.new(PersistentSet)
        self.model = set()

    def teardown(self):
        self.pool.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def arg(self, members, form):
        """The same iterable for the model and for the persistent set."""
        if form == "set":
            return set(members), set(members)
        if form == "frozenset":
            return frozenset(members), frozenset(members)
        if form == "list":
            return list(members), list(members)
        if form == "generator":
            return (x for x in list(members)), (x for x in list(members))
        return set(members), self.pool.new(PersistentSet, members)

    @rule(x=MEMBERS)
    def add(self, x):
        same(lambda: self.model.add(x), lambda: self.s.add(x))

    @rule(x=MEMBERS)
    def discard(self, x):
        same(lambda: self.model.discard(x), lambda: self.s.discard(x))

    @rule(x=MEMBERS)
    def remove(self, x):
        same(lambda: self.model.remove(x), lambda: self.s.remove(x))

    @rule()
    def pop(self):
        if not self.model:
            same(self.model.pop, self.s.pop)
        else:
            x = self.s.pop()
            assert x in self.model
            self.model.remove(x)

    @rule(x=MEMBERS)
    def contains(self, x):
        same(lambda: x in self.model, lambda: x in self.s)
        if isinstance(x, frozenset):        # a set stands for the equal frozenset
            same(lambda: set(x) in self.model, lambda: set(x) in self.s)
            same(lambda: self.model.discard(set(x)), lambda: self.s.discard(set(x)))

    @rule(x=st.sampled_from([[1], {1: 2}, ([],)]))
    def unhashable(self, x):
        for fn in (lambda s: s.add(x), lambda s: x in s, lambda s: s.discard(x), lambda s: s.remove(x)):
            same(lambda: fn(self.model), lambda: fn(self.s))

    @rule(others=st.lists(st.tuples(SMALL_SETS, ITERABLE_FORMS), max_size=3),
          method=st.sampled_from(["update", "intersection_update", "difference_update"]))
    def multi_update(self, others, method):
        args = [self.arg(m, f) for m, f in others]
        old = set(self.model)
        same(lambda: getattr(self.model, method)(*[a for a, _ in args]),
             lambda: getattr(self.s, method)(*[b for _, b in args]))
        if method == "intersection_update":
            self.keep_members(old)

    def keep_members(self, old):
        """set's intersection may keep the other operand's equal member (0 for 0.0);
        the persistent set keeps its own, as it does on add()."""
        self.model = {x for x in old if x in self.model}

    @rule(other=SMALL_SETS, form=ITERABLE_FORMS)
    def symmetric_difference_update(self, other, form):
        a, b = self.arg(other, form)
        same(lambda: self.model.symmetric_difference_update(a), lambda: self.s.symmetric_difference_update(b))

    @rule(method=st.sampled_from(["update", "intersection_update", "difference_update",
                                  "symmetric_difference_update"]))
    def update_with_self(self, method):
        old = set(self.model)
        same(lambda: getattr(self.model, method)(self.model), lambda: getattr(self.s, method)(self.s))
        self.keep_members(old)

    @rule(other=SMALL_SETS, op=st.sampled_from(["ior", "iand", "isub", "ixor"]),
          form=st.sampled_from(["set", "frozenset", "persistent", "list"]))
    def inplace(self, other, op, form):
        a, b = self.arg(other, form)

        def run(s, o):
            x = s
            if op == "ior":
                x |= o
            elif op == "iand":
                x &= o
            elif op == "isub":
                x -= o
            else:
                x ^= o
            return x is s
        old = set(self.model)
        same(lambda: run(self.model, a), lambda: run(self.s, b))
        if op == "iand":
            self.keep_members(old)

    @rule(other=SMALL_SETS, op=st.sampled_from(sorted(BINOPS)), frozen=st.booleans())
    def binary_operators(self, other, op, frozen):
        other = frozenset(other) if frozen else set(other)
        fn = BINOPS[op]
        same(lambda: fn(self.model, other), lambda: fn(self.s, other))
        same(lambda: fn(other, self.model), lambda: fn(other, self.s))
        po = self.pool.new(PersistentSet, other)
        same(lambda: fn(self.model, other), lambda: fn(self.s, po))
        # keys views are sets too
        d = dict.fromkeys(other)
        same(lambda: fn(self.model, d.keys()), lambda: fn(self.s, d.keys()))
        same(lambda: fn(d.keys(), self.model), lambda: fn(d.keys(), self.s))

    @rule(other=SMALL_SETS, form=ITERABLE_FORMS,
          method=st.sampled_from(["union", "intersection", "difference", "symmetric_difference",
                                  "issubset", "issuperset", "isdisjoint"]))
    def methods(self, other, form, method):
        a, b = self.arg(other, form)
        same(lambda: getattr(self.model, method)(a), lambda: getattr(self.s, method)(b))

    @rule(op=st.sampled_from(sorted(BINOPS)))
    def non_set_operand(self, op):
        same(lambda: BINOPS[op](self.model, [1]), lambda: BINOPS[op](self.s, [1]))
        same(lambda: BINOPS[op]([1], self.model), lambda: BINOPS[op]([1], self.s))

    @rule()
    def copy(self):
        same(self.model.copy, self.s.copy)

    @precondition(lambda self: self.model)
    @rule(x=MEMBERS, grow=st.booleans())
    def change_size_while_iterating(self, x, grow):
        victim = min(self.model, key=repr)

        def run(s):
            it = iter(s)
            next(it)
            if grow:
                s.add(("new", x, len(s), "unique"))
            else:
                s.discard(victim)
            return list(it)
        r1, e1 = outcome(lambda: run(self.model))
        r2, e2 = outcome(lambda: run(self.s))
        assert e1 == e2 == RuntimeError

    @rule()
    def clear(self):
        self.model.clear()
        self.s.clear()

    @rule()
    def reopen(self):
        self.pool = reopen(self.pool)
        self.s = self.pool.root

    @invariant()
    def same_members(self):
        assert len(self.s) == len(self.model)
        assert typed(self.s) == typed(self.model)
        assert self.s == self.model and self.model == self.s
        assert set(self.s) == self.model
        if not self.model:
            assert repr(self.s) == "PersistentSet()"


TestSetDifferential = SetMachine.TestCase
TestSetDifferential.settings = settings(max_examples=50, stateful_step_count=30, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------
# PersistentFrozenSet: the read-only API, differentially; hashing

@pytest.mark.parametrize("reopened", [False, True])
def test_frozenset_api_matches_frozenset(tmpdir_shm, reopened):
    from hypothesis import given

    @given(members=SMALL_SETS, other=SMALL_SETS)
    @settings(max_examples=25, deadline=None)
    def check(members, other):
        path = os.path.join(tmpdir_shm, "f.pool")
        pool = new_pool(path, 16 * 1024 * 1024)
        try:
            pool.root = pfs = pool.new(PersistentFrozenSet, members)
            if reopened:
                pool = reopen(pool)
                pfs = pool.root
            fs = frozenset(members)
            assert typed(pfs) == typed(fs) and len(pfs) == len(fs)
            assert hash(pfs) == hash(fs)
            assert pmemobj.stable_hash(pfs, pool.mm) == pmemobj.stable_hash(fs, pool.mm)
            for op in BINOPS.values():
                for o in (frozenset(other), set(other)):
                    same(lambda: op(fs, o), lambda: op(pfs, o))
                    same(lambda: op(o, fs), lambda: op(o, pfs))
            for m in ("union", "intersection", "difference", "symmetric_difference", "issubset",
                      "issuperset", "isdisjoint"):
                same(lambda: getattr(fs, m)(list(other)), lambda: getattr(pfs, m)(list(other)))
            same(fs.copy, pfs.copy)
            for x in list(other) + [[1]]:
                same(lambda: x in fs, lambda: x in pfs)
            assert {fs: 1}[pfs] == 1 and {pfs: 2}[fs] == 2
        finally:
            pool.close()
            os.remove(path)

    check()


def test_frozenset_as_key_and_member_in_the_pool(pool_path):
    pool = new_pool(pool_path)
    d = pool.root = pool.new(PersistentDict)
    pfs = pool.new(PersistentFrozenSet, ["a", 1, (2, b"x")])
    d[pfs] = "persistent"
    assert d[frozenset(["a", 1, (2, b"x")])] == "persistent"
    d[frozenset([1, "a", (2.0, b"x")])] = "builtin"
    assert len(d) == 1 and d[pfs] == "builtin"
    d["set"] = pool.new(PersistentSet, [pfs, frozenset({9})])
    pool = reopen(pool)
    d = pool.root
    key = next(iter(d))
    assert type(key) is PersistentFrozenSet and key == {"a", 1, (2, b"x")}
    assert d[frozenset(["a", 1, (2, b"x")])] == "builtin"
    assert frozenset(["a", 1, (2, b"x")]) in d["set"] and key in d["set"] and frozenset({9}) in d["set"]
    assert_no_garbage(pool)
    pool.close()


def test_frozenset_is_immutable(pool_path):
    pool = new_pool(pool_path)
    pool.root = pfs = pool.new(PersistentFrozenSet, [1, 2])
    for name in ("add", "discard", "remove", "pop", "clear", "update", "intersection_update",
                 "difference_update", "symmetric_difference_update"):
        assert not hasattr(pfs, name)
    with pytest.raises(TypeError, match="immutable"):
        pfs.__init__([3])
    x = pfs
    x |= {3}
    assert type(x) is frozenset and x == {1, 2, 3} and pfs == {1, 2}
    assert isinstance(pfs, collections.abc.Set) and isinstance(pfs, collections.abc.Hashable)
    assert not isinstance(pfs, collections.abc.MutableSet)
    assert repr(pfs) == "PersistentFrozenSet({1, 2})"
    assert repr(pool.new(PersistentFrozenSet)) == "PersistentFrozenSet()"
    pool = reopen(pool)
    with pytest.raises(TypeError, match="immutable"):
        pool.root.__init__([3])
    assert pool.root == {1, 2}
    pool.close()


def test_set_api_details(pool_path):
    pool = new_pool(pool_path)
    s = pool.root = pool.new(PersistentSet, [None, True, False])
    assert isinstance(s, collections.abc.MutableSet)
    assert None in s and True in s and False in s and 1 in s and 0 in s and len(s) == 3
    with pytest.raises(TypeError):
        hash(s)
    with pytest.raises(TypeError):
        pool.new(PersistentSet, [s])
    s.__init__([4, 5])                      # as set.__init__: replaces the members
    assert s == {4, 5}
    assert [s.pop(), s.pop()] == [5, 4]     # pop takes the member added last
    with pytest.raises(KeyError, match="empty"):
        s.pop()
    s.add(s.copy().__class__.__name__)
    assert s == {"set"}
    pool.close()


# ---------------------------------------------------------------------------
# Rollback of every mutating method

def _shrink(s):
    for x in list(s)[:-2]:
        s.discard(x)


def _ior(s):
    s |= {"x", 7}


def _iand(s):
    s &= {"a", 1, 99}


def _isub(s):
    s -= {"a"}


def _ixor(s):
    s ^= {"a", "new"}


MUTATIONS = {
    "add": lambda s: s.add("new"),
    "add_existing_equal": lambda s: s.add(1.0),
    "discard": lambda s: s.discard("a"),
    "remove": lambda s: s.remove("a"),
    "pop": lambda s: s.pop(),
    "clear": lambda s: s.clear(),
    "init": lambda s: s.__init__(["fresh"]),
    "update": lambda s: s.update(["u", "v"], {b"w"}),
    "intersection_update": lambda s: s.intersection_update({"a", 1, (1, "t")}),
    "difference_update": lambda s: s.difference_update(["a"], {1}),
    "symmetric_difference_update": lambda s: s.symmetric_difference_update({"a", "b2"}),
    "ior": _ior,
    "iand": _iand,
    "isub": _isub,
    "ixor": _ixor,
    "grow": lambda s: s.update(range(100, 400)),
    "shrink": _shrink,
}


def _fill(pool):
    s = pool.root = pool.new(PersistentSet, ["a", 1, b"b", (1, "t"), 2 ** 90, None, False])
    s.update(range(10, 50))
    s.difference_update(range(10, 30))     # holes in the entries
    return s


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_abort_rolls_back(pool_path, name):
    pool = new_pool(pool_path)
    s = _fill(pool)
    before = typed(s)
    order = list(s)
    with pytest.raises(Boom):
        with pool.transaction():
            MUTATIONS[name](s)
            raise Boom()
    assert typed(s) == before and list(s) == order
    assert_no_garbage(pool)
    pool = reopen(pool)
    assert typed(pool.root) == before and list(pool.root) == order
    MUTATIONS[name](pool.root)
    after = typed(pool.root)
    pool = reopen(pool)
    assert typed(pool.root) == after
    assert_no_garbage(pool)
    pool.close()


@pytest.mark.parametrize("cls", [PersistentSet, PersistentFrozenSet])
def test_aborted_creation(pool_path, cls):
    pool = new_pool(pool_path)
    pool.root = keep = pool.new(PersistentSet, ["kept"])
    with pytest.raises(Boom):
        with pool.transaction():
            s = pool.new(cls, ["lost", (1, "x")])
            keep.add(s) if cls is PersistentFrozenSet else keep.add("other")
            raise Boom()
    with pytest.raises(ValueError, match="no longer exists"):
        "lost" in s
    assert keep == {"kept"}
    assert_no_garbage(pool)
    pool.close()


def _failing_items():
    yield "first"
    raise Boom()


@pytest.mark.parametrize("cls", [PersistentSet, PersistentFrozenSet])
def test_an_error_of_the_iterable_comes_out_as_is(pool_path, cls):
    with pytest.raises(Boom):
        cls(_failing_items())                   # even called without a pool, as set() would
    pool = new_pool(pool_path)
    with pytest.raises(Boom):
        pool.new(cls, _failing_items())
    assert_no_garbage(pool)
    pool.close()


def test_growth_and_shrinking(pool_path):
    pool = new_pool(pool_path, 64 * 1024 * 1024)
    s = pool.root = pool.new(PersistentSet)
    s.update(range(50_000))
    assert len(s) == 50_000 and 49_999 in s and 50_000 not in s
    s.difference_update(range(49_990))
    assert sorted(s) == list(range(49_990, 50_000))
    assert sum(pool.mm.usable_size(o) for o in s._p_substructures()) < 4096
    pool = reopen(pool)
    assert sorted(pool.root) == list(range(49_990, 50_000))
    assert_no_garbage(pool)
    pool.close()


def test_use_after_close_raises_value_error(pool_path):
    pool = new_pool(pool_path)
    s = pool.root = pool.new(PersistentSet, [1])
    fs = pool.new(PersistentFrozenSet, [1])
    s.add(fs)
    it = iter(s)
    pool.close()
    for fn in (lambda: 1 in s, lambda: s.add(2), lambda: len(s), lambda: next(it), lambda: s.pop(),
               lambda: s | {1}, lambda: s == {1}, lambda: list(fs), lambda: s.update([3]), lambda: s.clear()):
        with pytest.raises(ValueError):
            fn()
