"""PersistentList: differential tests against list, rollback of every mutating
method, values of every type across reopen, reference counts, use after close."""
import collections.abc
import math
import operator
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import pmemobj
from pmemobj import PersistentList, PersistentTuple
from support import assert_no_garbage, reopen

POOL_SIZE = 32 * 1024 * 1024


class Boom(Exception):
    """Raised inside a transaction to abort it."""


class MyList(PersistentList):
    """A user-defined persistent type (resurrected by its module:qualname)."""

    def total(self):
        return sum(self)


def typed(seq):
    """Items with their types: 1, 1.0 and True are equal but not the same value."""
    return [(type(x), x) for x in seq]


def new_pool(path):
    return pmemobj.create(path, pool_size=POOL_SIZE)


# ---------------------------------------------------------------------------
# Differential test: a state machine applies the same operations to a list and
# a PersistentList and compares results, exceptions and contents.

VALUES = st.one_of(
    st.sampled_from([0, 1, -1, 2, True, False, 1.0, 2.5, None, "a", "b", "", b"a", (1, "a"), 2 ** 70]),
    st.integers(-10 ** 20, 10 ** 20),
    st.text(max_size=4),
)
LISTS = st.lists(VALUES, max_size=6)
INDEXES = st.integers(-8, 8)
SLICE_PARTS = st.one_of(st.none(), st.integers(-8, 8))
SLICES = st.builds(slice, SLICE_PARTS, SLICE_PARTS, st.one_of(st.none(), st.sampled_from([1, 2, 3, -1, -2, 0])))
SORT_KEYS = st.sampled_from([None, repr, str, len])


def _run(fn, target):
    try:
        result = fn(target)
    except Exception as e:          # the same exception type is the expected result
        return ("raised", type(e))
    if isinstance(result, (PersistentList, list)):
        return ("value", typed(result))
    if isinstance(result, (bool, int, float)) or result is None:
        return ("value", (type(result), result))
    return ("value", result)


class ListMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.dir = tempfile.mkdtemp(prefix="pmemobj-test-", dir=base)
        self.pool = new_pool(os.path.join(self.dir, "list.pool"))
        self.model = []
        self.plist = None

    @initialize(items=LISTS)
    def create(self, items):
        self.plist = self.pool.new(PersistentList, items)
        self.pool.root = self.plist
        self.model = list(items)

    def both(self, fn):
        expected = _run(fn, self.model)
        got = _run(fn, self.plist)
        assert got == expected

    # -- reading
    def index_near(self, data, extra=()):
        """An index around the current length, boundaries often (or a bad one from `extra`)."""
        n = len(self.model)
        return data.draw(st.one_of(st.sampled_from([-n - 1, -n, -1, 0, n - 1, n, n + 1, *extra]),
                                   st.integers(-n - 2, n + 2)))

    @rule(data=st.data())
    def getitem(self, data):
        i = self.index_near(data, ["1", 1.0, None, 10 ** 30])
        self.both(lambda l: l[i])

    @rule(s=SLICES)
    def getslice(self, s):
        self.both(lambda l: l[s])

    @rule(v=VALUES, start=st.one_of(st.none(), INDEXES), stop=st.one_of(st.none(), INDEXES))
    def index(self, v, start, stop):
        if start is None:
            self.both(lambda l: l.index(v))
        elif stop is None:
            self.both(lambda l: l.index(v, start))
        else:
            self.both(lambda l: l.index(v, start, stop))

    @rule(v=VALUES)
    def count_and_contains(self, v):
        self.both(lambda l: l.count(v))
        self.both(lambda l: v in l)

    @rule(other=LISTS, op=st.sampled_from([operator.eq, operator.ne, operator.lt, operator.le,
                                            operator.gt, operator.ge]))
    def compare(self, other, op):
        self.both(lambda l: op(l, other))
        self.both(lambda l: op(other, l))

    @rule()
    def compare_with_itself_and_tuple(self):
        assert self.plist == self.plist and not self.plist != self.plist
        assert (self.plist == tuple(self.model)) is False

    @rule(other=LISTS)
    def concatenate(self, other):
        self.both(lambda l: l + other)
        self.both(lambda l: other + l)
        self.both(lambda l: l + tuple(other))

    @rule(n=st.integers(-1, 3))
    def repeat(self, n):
        self.both(lambda l: l * n)
        self.both(lambda l: n * l)

    @rule()
    def whole(self):
        self.both(len)
        self.both(list)
        self.both(lambda l: list(reversed(l)))
        self.both(lambda l: l.copy())
        self.both(bool)
        assert repr(self.plist) == f"PersistentList({self.model!r})"

    # -- writing
    @rule(v=VALUES)
    def append(self, v):
        self.both(lambda l: l.append(v))

    @rule(vs=LISTS, as_tuple=st.booleans())
    def extend(self, vs, as_tuple):
        self.both(lambda l: l.extend(tuple(vs) if as_tuple else iter(vs)))

    @rule(data=st.data(), v=VALUES)
    def insert(self, data, v):
        i = self.index_near(data, [-10 ** 30, 10 ** 30, "0"])
        self.both(lambda l: l.insert(i, v))

    @rule(data=st.data())
    def pop(self, data):
        i = self.index_near(data, [None, "0"])
        self.both(lambda l: l.pop() if i is None else l.pop(i))

    @rule(v=VALUES)
    def remove(self, v):
        self.both(lambda l: l.remove(v))

    @rule(data=st.data(), v=VALUES)
    def setitem(self, data, v):
        i = self.index_near(data, ["0"])
        self.both(lambda l: operator.setitem(l, i, v))

    @rule(s=SLICES, vs=st.one_of(LISTS, st.just(5)))
    def setslice(self, s, vs):
        self.both(lambda l: operator.setitem(l, s, vs))

    @rule(data=st.data())
    def delitem(self, data):
        i = self.index_near(data, [1.5])
        self.both(lambda l: operator.delitem(l, i))

    @rule(s=SLICES)
    def delslice(self, s):
        self.both(lambda l: operator.delitem(l, s))

    @rule(key=SORT_KEYS, reverse=st.booleans())
    def sort(self, key, reverse):
        # A failed list.sort may leave the list partly sorted; PersistentList.sort
        # changes nothing then (all or nothing), so a failure keeps the model as it was.
        model = list(self.model)
        expected = _run(lambda l: l.sort(key=key, reverse=reverse), model)
        assert _run(lambda l: l.sort(key=key, reverse=reverse), self.plist) == expected
        if expected[0] == "value":
            self.model = model

    @rule()
    def reverse(self):
        self.both(lambda l: l.reverse())

    @rule()
    def clear(self):
        self.both(lambda l: l.clear())

    @rule(vs=st.one_of(LISTS, st.just(3)))
    def iadd(self, vs):
        self.both(lambda l: operator.iadd(l, vs))

    @rule(n=st.one_of(st.integers(-1, 3), st.just("x")))
    def imul(self, n):
        self.both(lambda l: operator.imul(l, n))

    @rule(op=st.sampled_from(["append", "extend", "insert", "pop", "setitem", "setslice",
                              "delslice", "sort", "reverse", "clear", "imul"]))
    def aborted(self, op):
        mutate = {
            "append": lambda l: l.append("new"),
            "extend": lambda l: l.extend([1, "two", 3.0]),
            "insert": lambda l: l.insert(0, "x"),
            "pop": lambda l: l.pop(),
            "setitem": lambda l: operator.setitem(l, 0, "y"),
            "setslice": lambda l: operator.setitem(l, slice(0, 2), ["a", "b", "c"]),
            "delslice": lambda l: operator.delitem(l, slice(None, None, 2)),
            "sort": lambda l: l.sort(key=repr),
            "reverse": lambda l: l.reverse(),
            "clear": lambda l: l.clear(),
            "imul": lambda l: operator.imul(l, 3),
        }[op]
        with pytest.raises(Boom):
            with self.pool.transaction():
                try:
                    mutate(self.plist)
                except IndexError:      # pop/setitem of an empty list
                    pass
                raise Boom()

    @rule()
    def reopen(self):
        self.pool = reopen(self.pool)
        self.plist = self.pool.root

    @invariant()
    def same_contents(self):
        if self.plist is not None:
            assert typed(self.plist) == typed(self.model)

    def teardown(self):
        try:
            if self.plist is not None:
                assert_no_garbage(self.pool)
                self.pool = reopen(self.pool)
                assert typed(self.pool.root) == typed(self.model)
            self.pool.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


ListMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=30, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
TestListDifferential = ListMachine.TestCase


# ---------------------------------------------------------------------------
# Every mutating method rolls back as a whole, in process and after reopen.

@pytest.fixture
def pool(pool_path):
    p = new_pool(pool_path)
    yield p
    p.close()


def _initial(pool):
    inner = pool.new(PersistentList, [1, 2])
    return ["s0", 1, inner, (1, "t"), 2.5, None, "s6", b"b7", 10 ** 30]


def _expected(lst):
    """A comparable deep snapshot (nested persistent lists as plain lists)."""
    return [("list", _expected(x)) if isinstance(x, PersistentList) else (type(x), x) for x in lst]


MUTATIONS = {
    "append": lambda l: l.append("new"),
    "append-grow": lambda l: [l.append(i) for i in range(40)],
    "extend": lambda l: l.extend(["e1", "e2", 3]),
    "iadd": lambda l: operator.iadd(l, ["e1", 2]),
    "insert": lambda l: l.insert(1, "ins"),
    "pop": lambda l: l.pop(2),
    "remove": lambda l: l.remove("s0"),
    "clear": lambda l: l.clear(),
    "sort": lambda l: l.sort(key=repr, reverse=True),
    "reverse": lambda l: l.reverse(),
    "setitem": lambda l: operator.setitem(l, 2, "replaced"),
    "setitem-negative": lambda l: operator.setitem(l, -1, "last"),
    "setslice-grow": lambda l: operator.setitem(l, slice(1, 3), ["a", "b", "c", "d"]),
    "setslice-shrink": lambda l: operator.setitem(l, slice(0, 5), ["a"]),
    "setslice-extended": lambda l: operator.setitem(l, slice(None, None, -2), list("abcde")),
    "delitem": lambda l: operator.delitem(l, 2),
    "delslice": lambda l: operator.delitem(l, slice(1, 4)),
    "delslice-extended": lambda l: operator.delitem(l, slice(None, None, 3)),
    "imul": lambda l: operator.imul(l, 3),
    "imul-zero": lambda l: operator.imul(l, 0),
    "init": lambda l: l.__init__(["again"]),
    "nested-inner": lambda l: l[2].append("deep"),
    "many": lambda l: (l.append(1), l.pop(0), l.insert(0, "z"), l.sort(key=repr), l.clear()),
}


def _check_clean_and_kept(pool, expected):
    """Nothing for gc to collect, and the reopened pool's root list is `expected`."""
    assert_no_garbage(pool)
    pool2 = reopen(pool)
    try:
        assert _expected(pool2.root) == expected
    finally:
        pool2.close()


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_abort_restores(pool, name):
    pool.root = pool.new(PersistentList, _initial(pool))
    lst = pool.root
    before = _expected(lst)
    with pytest.raises(Boom):
        with pool.transaction():
            MUTATIONS[name](lst)
            assert _expected(lst) != before
            raise Boom()
    assert _expected(lst) == before
    _check_clean_and_kept(pool, before)


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_commit_keeps(pool, name):
    """The same mutations committed: the result is what list gives, also after reopen."""
    pool.root = pool.new(PersistentList, _initial(pool))
    lst = pool.root
    model = list(lst)
    MUTATIONS[name](model if name != "nested-inner" else lst)
    if name != "nested-inner":
        MUTATIONS[name](lst)
    assert typed(lst) == typed(model)
    expected = _expected(lst)
    _check_clean_and_kept(pool, expected)


def test_failed_store_rolls_back_the_method(pool):
    lst = pool.new(PersistentList, [1, 2, 3])
    pool.root = lst
    with pytest.raises(TypeError):
        lst.extend([4, 5, object()])
    with pytest.raises(TypeError):
        lst[0:2] = ["a", object()]
    with pytest.raises(TypeError):
        lst.append(object())
    assert list(lst) == [1, 2, 3]
    assert_no_garbage(pool)


def test_failed_store_dooms_the_outer_transaction(pool):
    lst = pool.new(PersistentList, [1])
    pool.root = lst
    with pytest.raises(TypeError):
        with pool.transaction():
            lst.append(2)
            lst.append(object())
    assert list(lst) == [1]


def test_errors_before_writing_do_not_doom_the_transaction(pool):
    lst = pool.new(PersistentList, [1])
    pool.root = lst
    with pool.transaction():
        with pytest.raises(IndexError):
            lst[5] = 0
        with pytest.raises(ValueError):
            lst.remove(42)
        with pytest.raises(IndexError):
            lst.pop(3)
        with pytest.raises(ValueError):
            lst[::2] = [1, 2, 3]
        lst.append(2)
    assert list(lst) == [1, 2]


# ---------------------------------------------------------------------------
# Values of every type and nested collections across reopen

SCALARS = [None, True, False, 0, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 64, -10 ** 40, 1.5, -0.0,
           float("inf"), 1e-300, 3 + 4j, "", "text", "ünïcödé ✓", "\ud800 lone", b"", b"\x00\xffbytes",
           (), (1, "a", (2.5, None)), frozenset(), frozenset({1, "x"})]


def test_values_round_trip(pool):
    lst = pool.new(PersistentList, SCALARS)
    lst.append(float("nan"))
    pool.root = lst
    pool2 = reopen(pool)
    try:
        got = list(pool2.root)
        assert typed(got[:-1]) == typed(SCALARS)
        assert math.copysign(1, got[SCALARS.index(-0.0, 10)]) == -1
        assert math.isnan(got[-1])
    finally:
        pool2.close()


def test_nested_collections_round_trip(pool):
    root = pool.new(PersistentList)
    pool.root = root
    with pool.transaction():
        chain = pool.new(PersistentList, [0, "0"])      # [0, "0", [1, "1", [2, "2", ...]]]
        root.append(chain)
        for depth in range(1, 5):
            nxt = pool.new(PersistentList, [depth, str(depth)])
            chain.append(nxt)
            chain = nxt
        root.append(pool.new(PersistentTuple, (1, pool.new(PersistentList, ["in tuple"]))))
        mine = pool.new(MyList, [1, 2, 3])
        root.append(mine)
        root.append(mine)           # the same object twice: one object, two references
    pool2 = reopen(pool)
    try:
        root = pool2.root
        chain = root[0]
        for depth in range(5):
            assert chain[:2] == [depth, str(depth)]
            chain = chain[2] if depth < 4 else None
        t = root[1]
        assert isinstance(t, PersistentTuple) and t[0] == 1 and list(t[1]) == ["in tuple"]
        assert type(root[2]) is MyList and root[2].total() == 6
        assert root[2] is root[3]
        assert pool2.mm.refcount(root[2]._p_oid) == 2
        assert_no_garbage(pool2)
    finally:
        pool2.close()


def test_self_reference(pool):
    lst = pool.new(PersistentList, [1])
    pool.root = lst
    lst.append(lst)
    assert repr(lst) == "PersistentList([1, PersistentList([...])])"
    assert lst[1] is lst
    pool.root = None
    del lst
    assert pool.gc()["freed_total"] == 2      # the cycle: the list and its items array


# ---------------------------------------------------------------------------
# Reference counts: what a list stops referencing is freed at once, or, while
# Python still holds a proxy of it, when the last proxy goes

@pytest.mark.parametrize("how", ["setitem", "pop", "remove", "delitem", "delslice", "setslice",
                                 "clear", "imul-zero", "init"])
def test_removed_nested_list_is_freed(pool, how):
    outer = pool.new(PersistentList, ["a"])
    pool.root = outer
    inner = pool.new(PersistentList, ["payload", "strings", ("are", "objects")])
    outer.append(inner)
    assert pool.mm.refcount(inner._p_oid) == 1
    {"setitem": lambda: operator.setitem(outer, 1, None),
     "pop": lambda: outer.pop(),
     "remove": lambda: outer.remove(inner),
     "delitem": lambda: operator.delitem(outer, -1),
     "delslice": lambda: operator.delitem(outer, slice(1, None)),
     "setslice": lambda: operator.setitem(outer, slice(0, 2), [1, 2, 3]),
     "clear": outer.clear,
     "imul-zero": lambda: operator.imul(outer, 0),
     "init": lambda: outer.__init__([])}[how]()
    assert pool.mm.refcount(inner._p_oid) == 0
    assert inner[0] == "payload"               # still usable while held
    before = pool.gc()["kept_total"]
    del inner                                   # the last proxy: freed at the next transaction
    assert_no_garbage(pool)
    # the list, its array, two strings, the tuple and its two strings
    assert pool.gc()["kept_total"] == before - 7


def test_references_counted_per_slot(pool):
    outer = pool.new(PersistentList)
    pool.root = outer
    inner = pool.new(PersistentList, [1])
    outer.append(inner)
    outer *= 3
    assert pool.mm.refcount(inner._p_oid) == 3
    outer[1:] = [inner, inner, inner]
    assert pool.mm.refcount(inner._p_oid) == 4
    outer.sort(key=id)
    outer.reverse()
    assert pool.mm.refcount(inner._p_oid) == 4
    del outer[::2]
    assert pool.mm.refcount(inner._p_oid) == 2
    outer[::-1] = [outer[1], outer[0]]      # values moved inside the list are never freed on the way
    assert pool.mm.refcount(inner._p_oid) == 2
    assert_no_garbage(pool)
    outer.clear()
    assert pool.mm.refcount(inner._p_oid) == 0
    del inner
    assert_no_garbage(pool)


def test_growth_and_shrink(pool):
    lst = pool.new(PersistentList)
    pool.root = lst
    with pool.transaction():
        for i in range(1000):
            lst.append(str(i))
    assert lst[999] == "999" and len(lst) == 1000
    while len(lst) > 3:
        lst.pop()
    assert list(lst) == ["0", "1", "2"]
    del lst[:]
    lst.append("again")
    assert list(lst) == ["again"]
    assert_no_garbage(pool)


# ---------------------------------------------------------------------------
# API details

def test_list_semantics_details(pool):
    lst = pool.new(PersistentList, [3, 1, 2])
    pool.root = lst
    assert isinstance(lst, collections.abc.MutableSequence)
    assert isinstance(lst, collections.abc.Sequence)
    with pytest.raises(TypeError, match="unhashable"):
        hash(lst)
    with pytest.raises(TypeError, match="list indices must be integers or slices, not str"):
        lst["1"]
    with pytest.raises(IndexError, match="list index out of range"):
        lst[3]
    with pytest.raises(IndexError, match="list assignment index out of range"):
        lst[-4] = 0
    with pytest.raises(IndexError, match="cannot fit"):
        lst[10 ** 30]
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        lst[::0]
    with pytest.raises(ValueError, match="attempt to assign sequence of size 1 to extended slice of size 2"):
        lst[::2] = [1]
    with pytest.raises(TypeError, match="can only assign an iterable"):
        lst[0:1] = 5
    with pytest.raises(IndexError, match="pop from empty list"):
        pool.new(PersistentList).pop()
    with pytest.raises(ValueError, match="list.remove"):
        lst.remove(99)
    with pytest.raises(ValueError, match="99 is not in list"):
        lst.index(99)
    with pytest.raises(TypeError):
        lst.sort(lambda x: x)         # key is keyword-only, as for list
    with pytest.raises(TypeError, match="can't multiply sequence by non-int"):
        lst *= "x"
    assert lst.copy() == [3, 1, 2] and type(lst.copy()) is list
    assert type(lst[:]) is list
    assert lst.index(2, -1) == 2
    it = iter(lst)
    assert next(it) == 3
    lst.append(4)                   # like a list iterator, it sees appended items
    assert list(it) == [1, 2, 4]
    assert list(reversed(lst)) == [4, 2, 1, 3]
    assert operator.length_hint(iter(lst)) == 4


def test_sort_semantics(pool):
    lst = pool.new(PersistentList, [(1, "b"), (0, "a"), (1, "a"), (0, "b")])
    pool.root = lst
    lst.sort(key=lambda t: t[0])            # stable
    assert list(lst) == [(0, "a"), (0, "b"), (1, "b"), (1, "a")]
    lst.sort(key=lambda t: t[0], reverse=True)
    assert list(lst) == [(1, "b"), (1, "a"), (0, "a"), (0, "b")]
    mixed = pool.new(PersistentList, [1, "a", 2])
    with pytest.raises(TypeError, match="not supported between"):
        mixed.sort()
    assert list(mixed) == [1, "a", 2]
    with pytest.raises(TypeError):
        mixed.sort(reverse="yes")

    def meddle(x):
        lst.append(0)
        return x
    with pytest.raises(ValueError, match="list modified during sort"):
        lst.sort(key=meddle)


class Meddler:
    """Stored pickled; pickling it appends to Meddler.target (the list being written)."""
    target = None

    def __reduce__(self):
        Meddler.target.append("meddled")
        return (Meddler, ())


def test_value_whose_pickling_changes_the_list(pool):
    pool.persist_via_pickle(Meddler)
    lst = pool.new(PersistentList, ["a", "b"])
    pool.root = lst
    Meddler.target = lst
    try:
        for change in (lambda: lst.append(Meddler()), lambda: lst.insert(0, Meddler()),
                       lambda: lst.extend([1, Meddler()]), lambda: operator.setitem(lst, slice(0, 1), [Meddler()])):
            with pytest.raises(RuntimeError, match="changed"):
                change()
            assert list(lst) == ["a", "b"]
    finally:
        Meddler.target = None
    assert_no_garbage(pool)


def test_threads_appending(pool):
    import threading
    lst = pool.new(PersistentList)
    pool.root = lst

    def work(tag):
        for i in range(300):
            lst.append(f"{tag}{i}")
            if i % 7 == 0:
                with pool.transaction():
                    lst.insert(0, tag)
                    lst.pop(0)
    threads = [threading.Thread(target=work, args=(t,)) for t in "xyz"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(lst) == sorted(f"{t}{i}" for t in "xyz" for i in range(300))
    assert_no_garbage(pool)


def test_direct_construction_is_refused():
    with pytest.raises(TypeError, match="pool.new"):
        PersistentList([1, 2])


def test_use_after_close(pool_path):
    pool = new_pool(pool_path)
    lst = pool.new(PersistentList, [1, 2, 3])
    pool.root = lst
    it = iter(lst)
    pool.close()
    calls = [len, list, lambda l: l[0], lambda l: l[0:1], lambda l: l.append(1),
             lambda l: l.extend([1]), lambda l: l.insert(0, 1), lambda l: l.pop(), lambda l: l.remove(1),
             lambda l: l.index(1), lambda l: l.count(1), lambda l: 1 in l, lambda l: l.sort(),
             lambda l: l.reverse(), lambda l: l.clear(), lambda l: l.copy(), lambda l: l == [1],
             lambda l: l + [1], lambda l: l * 2, lambda l: operator.setitem(l, 0, 1),
             lambda l: operator.delitem(l, 0), lambda l: operator.iadd(l, [1]),
             lambda l: operator.imul(l, 2), lambda l: next(it)]
    for call in calls:
        with pytest.raises(ValueError, match="closed"):
            call(lst)
    assert "closed" in repr(lst)


def test_pool_full_rolls_back(pool_path):
    pool = pmemobj.create(pool_path, pool_size=pmemobj.MIN_POOL_SIZE)
    try:
        lst = pool.new(PersistentList, ["kept"])
        pool.root = lst
        with pytest.raises(MemoryError):
            lst.extend("x" * 100 + str(i) for i in range(200000))
        assert list(lst) == ["kept"]
        with pytest.raises(MemoryError):
            lst *= 10 ** 9
        lst.append("still usable")
        assert list(lst) == ["kept", "still usable"]
        assert_no_garbage(pool)
    finally:
        pool.close()


# ---------------------------------------------------------------------------
# Crash safety: a child changes a list in transactions and is killed at random
# moments; the reopened list holds whole batches only and exact reference counts.

CRASH_CHILD = r"""
import random, sys
import pmemobj
from pmemobj import PersistentList
pool = pmemobj.open(sys.argv[1])
lst = pool.root
rng = random.Random(int(sys.argv[2]))
print("ready", flush=True)
n = 0
while True:
    n += 1
    op = rng.randrange(7)
    batch = [f"b{n}"] * 3
    with pool.transaction():
        if op == 0 or len(lst) < 6:
            lst.extend(batch)
        elif op == 1:
            lst[0:0] = batch
        elif op == 2:
            del lst[:3]
        elif op == 3:
            lst.reverse()
        elif op == 4:
            nested = pool.new(PersistentList, batch)
            lst.extend([nested] * 3)
        elif op == 5 and len(lst) < 300:
            lst *= 2
        else:
            for _ in range(3):
                lst.pop()
"""


def _batches_are_whole(lst):
    items = [tuple(x) if isinstance(x, PersistentList) else x for x in lst]
    return len(items) % 3 == 0 and all(items[i] == items[i + 1] == items[i + 2] for i in range(0, len(items), 3))


def test_crash_consistency(pool_path):
    import random
    import subprocess
    import sys
    import time
    from support import ROOT
    pool = new_pool(pool_path)
    pool.root = pool.new(PersistentList, ["seed"] * 3)
    pool.close()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rng = random.Random(1234)
    for round_ in range(4):
        child = subprocess.Popen([sys.executable, "-c", CRASH_CHILD, pool_path, str(round_)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(rng.uniform(0.05, 0.4))
        child.kill()
        child.wait()
        pool = pmemobj.open(pool_path)
        try:
            assert pool.recovered is not None        # not closed cleanly: gc ran at open
            # counts are exact; what gc frees are objects the child still held proxies of
            assert pool.recovered["refcounts_fixed"] == 0, pool.recovered
            assert _batches_are_whole(pool.root)
            assert_no_garbage(pool)
        finally:
            pool.close()
