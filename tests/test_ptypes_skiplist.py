"""ptypes.pcollections.SkipList: a sorted collection, checked against a sorted
Python list (hypothesis, with transactions committed or aborted and the file
reopened), every mutating method aborted, and the sort orders it accepts."""
import bisect
import operator
import os
import shutil
import tempfile

import pytest
from hypothesis import given, settings, strategies as st

from ptypes.pcollections import SkipList
from ptypes.storage import Storage
from support import closing_storage

SETTINGS = settings(max_examples=40, deadline=None)


class Sorted(Storage):
    def populateSchema(self):
        class Agent(self.schema.Structure):
            name = self.schema.ByteString
            age = self.schema.Int
            weight = self.schema.Float

        self.define(SkipList('Ints')[self.schema.Int])
        self.define(SkipList('Floats')[self.schema.Float])
        self.define(SkipList('Names')[self.schema.ByteString])
        self.define(SkipList('ByAge')[Agent, operator.attrgetter('age')])
        self.define(SkipList('ByNameAge')[Agent, "getKeyFromValue = lambda a: (a.name, a.age)"])
        self.define(SkipList('Unordered')[Agent])

        class Root(self.schema.Structure):
            ints = self.schema.Ints
            floats = self.schema.Floats
            names = self.schema.Names
            byAge = self.schema.ByAge
            byNameAge = self.schema.ByNameAge
            unordered = self.schema.Unordered


@pytest.fixture
def store(pool_path):
    yield from closing_storage(Sorted(pool_path))


def contents(sl):
    return [x.contents for x in sl]


# -- against a sorted list -------------------------------------------------------

small = st.integers(-20, 20)
int_ops = st.lists(st.lists(st.one_of(
    st.tuples(st.just('insert'), small),
    st.tuples(st.just('insert'), st.integers(-2 ** 63, 2 ** 63 - 1)),
    st.tuples(st.just('del'), small),
    st.tuples(st.just('remove'), small),
    st.tuples(st.just('clear'),),
), min_size=1, max_size=6).map(tuple) | st.tuples(st.just('reopen')), max_size=12)


def apply_int(op, sl, model):
    if op[0] == 'insert':
        sl.insert(op[1])
        bisect.insort_right(model, op[1])
    elif op[0] in ('del', 'remove'):
        present = op[1] in model
        err = KeyError if op[0] == 'del' else ValueError
        if present:
            model.remove(op[1])
            if op[0] == 'del':
                del sl[op[1]]
            else:
                sl.remove(op[1])
        else:
            with pytest.raises(err):         # refused before anything changes
                if op[0] == 'del':
                    del sl[op[1]]
                else:
                    sl.remove(op[1])
    elif op[0] == 'clear':
        sl.clear()
        model.clear()


def check_ints(sl, model):
    assert contents(sl) == model and len(sl) == len(model)
    for a, b in [(None, None), (-5, 5), (None, 0), (3, None), (7, 7), (5, -5), (-2.5, 2.5)]:
        lo = 0 if a is None else bisect.bisect_left(model, a)
        hi = len(model) if b is None else bisect.bisect_left(model, b)
        assert contents(sl.range(a, b)) == model[lo:max(lo, hi)], (a, b)
    for k in (-20, 0, 3, 20, 21):
        assert (k in sl) == (k in model)
        if k in model:
            assert sl[k].contents == k


@SETTINGS
@given(int_ops, st.lists(st.booleans(), min_size=12, max_size=12))
def test_skiplist_of_ints_like_a_sorted_list(workdir, steps, commits):
    path = os.path.join(workdir, 'sl.pool')
    s = Sorted(path)
    try:
        s.root.ints = s.schema.Ints()
        model = []
        for step, commit in zip(steps, commits):
            if step == ('reopen',):
                s.close()
                s = Storage(path)
                check_ints(s.root.ints, model)
                continue
            before = list(model)
            try:
                with s.transaction():
                    for op in step:
                        apply_int(op, s.root.ints, model)
                    if not commit:
                        raise RuntimeError('abort')
            except RuntimeError:
                model = before
            check_ints(s.root.ints, model)
        s.close()
        s = Storage(path)
        check_ints(s.root.ints, model)
        assert s.gc()['freed_total'] == 0
    finally:
        s.close()
        os.unlink(path)


agent_ops = st.lists(st.one_of(
    st.tuples(st.just('insert'), st.integers(0, 6), st.sampled_from([b'a', b'b', b'c'])),
    st.tuples(st.just('remove'), st.integers(0, 30)),
    st.tuples(st.just('del'), st.integers(0, 6)),
    st.tuples(st.just('age'), st.integers(0, 30), st.integers(0, 6)),
), max_size=30)


@SETTINGS
@given(agent_ops)
def test_skiplist_of_structures_by_key(shared, ops):
    """Structures sorted by a field (stable among equal keys), removed by
    identity, and kept in the order of the key they had when inserted."""
    s = shared
    s.root.byAge = s.schema.ByAge()
    s.root.byNameAge = s.schema.ByNameAge()
    by_age, by_name_age = s.root.byAge, s.root.byNameAge
    model = []              # (age when inserted, serial, agent)
    serial = 0
    for op in ops:
        if op[0] == 'insert':
            a = s.schema.Agent(name=op[2], age=op[1])
            by_age.insert(a)
            by_name_age.insert(a)
            insort_by_key(model, (op[1], serial, a))
            serial += 1
        elif op[0] == 'remove' and model:
            age, _, a = model.pop(op[1] % len(model))
            by_age.remove(a)
            by_name_age.remove(a)
        elif op[0] == 'del':
            first = next((m for m in model if m[0] == op[1]), None)
            if first is None:
                with pytest.raises(KeyError):
                    del by_age[op[1]]
            else:
                model.remove(first)
                del by_age[op[1]]
                by_name_age.remove(first[2])
        elif op[0] == 'age' and model:
            model[op[1] % len(model)][2].age = op[2]      # the lists keep the old key
    assert [x.name.contents for x in by_age] == [m[2].name.contents for m in model]
    assert len(by_age) == len(by_name_age) == len(model)
    names = [x.name.contents for x in by_name_age]
    assert names == sorted(names)


def insort_by_key(model, item):
    """bisect.insort_right on item[0] (Python 3.9's bisect takes no key)."""
    i = len(model)
    while i and model[i - 1][0] > item[0]:
        i -= 1
    model.insert(i, item)


@pytest.fixture(scope='module')
def workdir():
    base = '/dev/shm' if os.path.isdir('/dev/shm') else None
    d = tempfile.mkdtemp(prefix='ptypes-sl-', dir=base)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def shared(workdir):
    s = Sorted(os.path.join(workdir, 'sorted.pool'))
    yield s
    s.root.byAge = s.root.byNameAge = None
    assert s.gc()['refcounts_fixed'] == 0
    s.close()


# -- every mutating method, aborted ---------------------------------------------------

def fill(s):
    r = s.root
    r.ints = s.schema.Ints([5, 1, 3, 3])
    r.names = s.schema.Names([b'b', b'a'])
    r.byAge = s.schema.ByAge()
    for n, a in ((b'x', 30), (b'y', 20)):
        r.byAge.insert(s.schema.Agent(name=n, age=a))


def state(s):
    r = s.root
    return (contents(r.ints), contents(r.names), [(x.name.contents, x.age.contents) for x in r.byAge])


MUTATIONS = {
    'insert': lambda s, r: r.ints.insert(2),
    'insert.bytes': lambda s, r: r.names.insert(b'c'),
    'insert.structure': lambda s, r: r.byAge.insert(s.schema.Agent(name=b'z', age=25)),
    'delitem': lambda s, r: r.ints.__delitem__(3),
    'delitem.structure': lambda s, r: r.byAge.__delitem__(20),
    'remove': lambda s, r: r.names.remove(b'a'),
    'remove.structure': lambda s, r: r.byAge.remove(r.byAge[30]),
    'clear': lambda s, r: r.byAge.clear(),
    'replace': lambda s, r: setattr(r, 'ints', s.schema.Ints([9])),
}


@pytest.mark.parametrize('name', sorted(MUTATIONS))
def test_abort_restores_state(pool_path, name):
    with Sorted(pool_path) as s:
        fill(s)
        before = state(s)
        with pytest.raises(RuntimeError, match='abort'):
            with s.transaction():
                MUTATIONS[name](s, s.root)
                assert state(s) != before
                raise RuntimeError('abort')
        assert state(s) == before
        MUTATIONS[name](s, s.root)
        after = state(s)
        assert after != before
        stats = s.gc()
        assert stats['freed_total'] == 0 and stats['refcounts_fixed'] == 0, stats
    with Storage(pool_path) as s:
        assert state(s) == after


# -- behaviour ----------------------------------------------------------------------

def test_items_without_a_sort_order(store):
    store.root.unordered = store.schema.Unordered()
    agent = store.schema.Agent(name=b'Felix Leiter', age=31)
    with pytest.raises(TypeError, match=r"^<persistent class 'Agent'> does not define a sort order!$"):
        store.root.unordered.insert(agent)
    assert len(store.root.unordered) == 0


def test_lookups_and_ranges(store):
    r = store.root
    r.names = store.schema.Names(w.encode() for w in 'the quick brown fox jumps over the lazy dog'.split())
    assert [str(w) for w in r.names] == sorted('the quick brown fox jumps over the lazy dog'.split())
    assert repr(r.names[b'fox']).startswith("<persistent ByteString object 'fox' @offset 0x")
    with pytest.raises(KeyError, match="Balmoral"):
        r.names[b'Balmoral']
    assert [str(w) for w in r.names.range(b'f', b'p')] == ['fox', 'jumps', 'lazy', 'over']
    assert [str(w) for w in r.names.range(b'th', None)] == ['the', 'the']
    assert b'dog' in r.names and b'cat' not in r.names and 5 not in r.names
    with pytest.raises(TypeError, match="expected bytes"):
        r.names[5]
    r.floats = store.schema.Floats([0.5, -1.0, 2])
    assert contents(r.floats) == [-1.0, 0.5, 2.0]
    assert contents(r.floats.range(0, 2)) == [0.5] and r.floats[2].contents == 2.0
    with pytest.raises(ValueError, match="NaN"):
        r.floats.insert(float('nan'))
    with pytest.raises(ValueError, match="NaN"):
        r.floats.range(float('nan'))
    r.ints = store.schema.Ints([2 ** 63 - 1, -2 ** 63])
    assert contents(r.ints.range(-1e300, 1e300)) == [-2 ** 63, 2 ** 63 - 1]
    r.ints.insert(2 ** 53 + 1)                # compared with floats exactly, as Python does
    assert float(2 ** 53) not in r.ints and 2 ** 53 + 1 in r.ints
    assert contents(r.ints.range(float(2 ** 53), float(2 ** 53 + 2))) == [2 ** 53 + 1]
    with pytest.raises(OverflowError):
        r.ints.insert(2 ** 63)


def test_items_are_read_only_copies(store):
    store.root.ints = store.schema.Ints([1])
    x = store.root.ints[1]
    with pytest.raises(TypeError, match="cannot be changed in place"):
        x.inc()
    assert hash(x) == hash(1)


def test_a_key_of_several_fields(store):
    r = store.root
    r.byNameAge = store.schema.ByNameAge()
    for n, a in ((b'b', 2), (b'a', 9), (b'b', 1)):
        r.byNameAge.insert(store.schema.Agent(name=n, age=a))
    assert [(x.name.contents, x.age.contents) for x in r.byNameAge] == [(b'a', 9), (b'b', 1), (b'b', 2)]
    assert r.byNameAge[(b'b', 2)].age.contents == 2
    assert [x.age.contents for x in r.byNameAge.range((b'b', 0), (b'b', 2))] == [1]
    with pytest.raises(TypeError, match="tuple of 2 values"):
        r.byNameAge[b'b']
    agent = store.schema.Agent(age=3)
    with pytest.raises(TypeError, match="'name' of .* is not set"):
        r.byNameAge.insert(agent)
    assert len(r.byNameAge) == 3


def test_changing_the_list_while_iterating(store):
    store.root.ints = store.schema.Ints([1, 2, 3])
    it = iter(store.root.ints)
    next(it)
    store.root.ints.insert(0)
    with pytest.raises(RuntimeError, match="changed during iteration"):
        next(it)


def test_a_removed_item_survives_in_its_proxy(store):
    r = store.root
    r.byAge = store.schema.ByAge()
    r.byAge.insert(store.schema.Agent(name=b'x', age=1))
    a = r.byAge[1]
    del r.byAge[1]
    assert a.name.contents == b'x' and len(r.byAge) == 0
    del a
    assert store.gc()['refcounts_fixed'] == 0


@pytest.mark.parametrize('order, message', [
    ("def compare(x, y):\n    return 0\n", "defines compare"),
    ("print('hello')\ngetKeyFromValue = attrgetter('age')", "not a sort key"),
    ("getKeyFromValue = attrgetter(name)", "not a chain of field names"),
    ("getKeyFromValue = lambda a: a.age + 1", "not a chain of field names"),
    ("from os import system", "not a sort key"),
    ("x = 1", "not a sort key"),
    ("", "does not assign getKeyFromValue"),
    (lambda a: a.age, "sort order of Bad is a function"),
    ("getKeyFromValue = attrgetter('nope')", "has no field 'nope'"),
    ("getKeyFromValue = attrgetter('name.x')", "has no field 'x'"),
])
def test_sort_orders_are_data(pool_path, order, message):
    class Bad(Storage):
        def populateSchema(self):
            class Agent(self.schema.Structure):
                name = self.schema.ByteString
                age = self.schema.Int
            self.define(SkipList('Bad')[Agent, order])

            class Root(self.schema.Structure):
                pass

    with pytest.raises(TypeError, match=message):
        Bad(pool_path)


def test_a_sort_key_with_no_order(pool_path):
    class Bad(Storage):
        def populateSchema(self):
            class Agent(self.schema.Structure):
                name = self.schema.ByteString
            self.define(SkipList('Bad')[self.schema.Structure, operator.attrgetter('name')])

            class Root(self.schema.Structure):
                pass

    with pytest.raises(TypeError, match="has no field 'name'"):
        Bad(pool_path)


def test_the_sort_order_is_stored_as_field_paths(pool_path):
    with Sorted(pool_path) as s:
        s.root.byAge = s.schema.ByAge()
        s.root.byAge.insert(s.schema.Agent(name=b'x', age=3))
    with open(pool_path, 'rb') as f:
        data = f.read()
    assert b'"key": [["age"]]' in data and b'"key": [["name"], ["age"]]' in data
    with Storage(pool_path) as s:
        assert s.root.byAge[3].name.contents == b'x'


def test_items_of_a_derived_structure(pool_path):
    """A structure derived from two bases keeps the key field of the second
    one in another slot: the key is still read by its name."""
    class Derived(Storage):
        def populateSchema(self):
            class Named(self.schema.Structure):
                name = self.schema.ByteString

            class Aged(self.schema.Structure):
                age = self.schema.Int

            class Person(Named, Aged):
                pass

            self.define(SkipList('ByAge')[Aged, operator.attrgetter('age')])

            class Root(self.schema.Structure):
                byAge = self.schema.ByAge

    with Derived(pool_path) as s:
        s.root.byAge = s.schema.ByAge()
        for name, age in ((b'x', 3), (b'y', 1), (b'z', 2)):
            s.root.byAge.insert(s.schema.Person(name=name, age=age))
        s.root.byAge.insert(s.schema.Aged(age=0))
        assert [a.age.contents for a in s.root.byAge] == [0, 1, 2, 3]
        assert str(s.root.byAge[2].name) == 'z'
