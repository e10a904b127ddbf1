"""ptypes List, Dict and Set: differential tests against list/dict/set, and
every mutating method rolled back by an abort, in this process and after
reopening the file."""
import os
import shutil
import tempfile

import pytest
from hypothesis import given, settings, strategies as st

from ptypes.storage import Dict, List, Set, Storage
from support import closing_storage

SETTINGS = settings(max_examples=60, deadline=None)


class Colls(Storage):
    def populateSchema(self):
        class Item(self.schema.Structure):
            n = self.schema.Int

        self.define(List('Ints')[self.schema.Int])
        self.define(List('Floats')[self.schema.Float])
        self.define(List('Strings')[self.schema.ByteString])
        self.define(List('Items')[Item])
        self.define(Dict('IntByName')[self.schema.ByteString, self.schema.Int])
        self.define(Dict('NameByInt')[self.schema.Int, self.schema.ByteString])
        self.define(Dict('ItemByItem')[Item, Item])
        self.define(Set('Names')[self.schema.ByteString])
        self.define(Set('Floats2')[self.schema.Float])

        class Root(self.schema.Structure):
            ints = self.schema.Ints
            floats = self.schema.Floats
            strings = self.schema.Strings
            items = self.schema.Items
            ibn = self.schema.IntByName
            nbi = self.schema.NameByInt
            ibi = self.schema.ItemByItem
            names = self.schema.Names
            fset = self.schema.Floats2


@pytest.fixture(scope='module')
def shared():
    base = '/dev/shm' if os.path.isdir('/dev/shm') else None
    d = tempfile.mkdtemp(prefix='ptypes-test-', dir=base)
    s = Colls(os.path.join(d, 'colls.pool'))
    yield s
    s.gc()
    s.close()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def store(pool_path):
    yield from closing_storage(Colls(pool_path))


def ints_of(plist):
    return [v.contents for v in plist]


# -- differential tests ------------------------------------------------------

int64 = st.integers(-2 ** 63, 2 ** 63 - 1)
list_ops = st.lists(st.one_of(
    st.tuples(st.just('append'), int64),
    st.tuples(st.just('extend'), st.lists(int64, max_size=5)),
    st.tuples(st.just('insert'), st.integers(-8, 8), int64),
    st.tuples(st.just('pop'), st.integers(-8, 8)),
    st.tuples(st.just('setitem'), st.integers(-8, 8), int64),
    st.tuples(st.just('delitem'), st.integers(-8, 8)),
    st.tuples(st.just('delslice'), st.integers(-8, 8), st.integers(-8, 8)),
    st.tuples(st.just('remove'), st.integers(0, 3)),
    st.tuples(st.just('setslice'), st.integers(-8, 8), st.integers(-8, 8), st.sampled_from([1, 2, -1]),
              st.lists(int64, max_size=4)),
    st.tuples(st.just('clear'),),
), max_size=40)


@SETTINGS
@given(list_ops)
def test_list_of_ints_like_list(shared, ops):
    shared.root.ints = shared.schema.Ints()
    pl, ref = shared.root.ints, []
    for op, *args in ops:
        for target in (ref, pl):
            try:
                if op == 'append':
                    target.append(args[0])
                elif op == 'extend':
                    target.extend(args[0])
                elif op == 'insert':
                    target.insert(*args)
                elif op == 'pop':
                    r = target.pop(args[0])
                    if target is pl:
                        assert r == ref_result
                    else:
                        ref_result = r
                elif op == 'setitem':
                    target[args[0]] = args[1]
                elif op == 'delitem':
                    del target[args[0]]
                elif op == 'delslice':
                    del target[args[0]:args[1]]
                elif op == 'remove':
                    target.remove(args[0])
                elif op == 'setslice':
                    target[args[0]:args[1]:args[2]] = args[3]
                elif op == 'clear':
                    target.clear()
                outcome = None
            except (IndexError, ValueError) as e:
                outcome = type(e)
            if target is ref:
                ref_outcome = outcome
            else:
                assert outcome == ref_outcome, (op, args)
        assert ints_of(pl) == ref
        assert len(pl) == len(ref)
    for i in range(-len(ref), len(ref)):
        assert pl[i].contents == ref[i]
    assert [v.contents for v in pl[1:-1:2]] == ref[1:-1:2]
    for v in set(ref[:5]) | {12345}:
        assert (v in pl) == (v in ref)
        assert pl.count(v) == ref.count(v)


bkeys = st.binary(max_size=6)
dict_ops = st.lists(st.one_of(
    st.tuples(st.just('set'), bkeys, int64),
    st.tuples(st.just('del'), bkeys),
    st.tuples(st.just('pop'), bkeys),
    st.tuples(st.just('get'), bkeys),
    st.tuples(st.just('update'), st.dictionaries(bkeys, int64, max_size=4)),
    st.tuples(st.just('clear'),),
), max_size=60)


@SETTINGS
@given(dict_ops)
def test_dict_bytes_to_int_like_dict(shared, ops):
    shared.root.ibn = shared.schema.IntByName()
    pd, ref = shared.root.ibn, {}
    for op, *args in ops:
        if op == 'set':
            pd[args[0]] = args[1]
            ref[args[0]] = args[1]
        elif op == 'del':
            if args[0] in ref:
                del ref[args[0]]
                del pd[args[0]]
            else:
                with pytest.raises(KeyError):
                    del pd[args[0]]
        elif op == 'pop':
            assert pd.pop(args[0], None) == ref.pop(args[0], None)
        elif op == 'get':
            got = pd.get(args[0])
            assert (got.contents if got is not None else None) == ref.get(args[0])
        elif op == 'update':
            pd.update(args[0])
            ref.update(args[0])
        elif op == 'clear':
            pd.clear()
            ref.clear()
        assert len(pd) == len(ref)
    assert {k.contents: v.contents for k, v in pd.iteritems()} == ref
    assert sorted(k.contents for k in pd.iterkeys()) == sorted(ref)
    assert sorted(v.contents for v in pd.itervalues()) == sorted(ref.values())
    for k in list(ref)[:5] + [b'\xff' * 7]:
        assert (k in pd) == (k in ref)
        if k in ref:
            assert pd[k].contents == ref[k]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(['add', 'discard', 'pop', 'get']), st.binary(max_size=3)),
                max_size=80))
def test_set_of_bytes_like_set(shared, ops):
    shared.root.names = shared.schema.Names(2)
    ps, ref = shared.root.names, set()
    for op, k in ops:
        if op == 'add':
            ps.add(k)
            ref.add(k)
        elif op == 'discard':
            ps.discard(k)
            ref.discard(k)
        elif op == 'pop':
            if k in ref:
                assert ps.pop(k).contents == k
                ref.remove(k)
            else:
                with pytest.raises(KeyError):
                    ps.pop(k)
        else:
            assert ps.get(k).contents == k
            ref.add(k)
        assert len(ps) == len(ref)
    assert {k.contents for k in ps} == ref
    for k in list(ref)[:5] + [b'absent!']:
        assert (k in ps) == (k in ref)


@SETTINGS
@given(st.lists(st.tuples(st.booleans(), st.integers(-3, 3)), max_size=60))
def test_dict_int_keys_and_float_set(shared, ops):
    shared.root.nbi = shared.schema.NameByInt()
    shared.root.fset = shared.schema.Floats2()
    pd, ref = shared.root.nbi, {}
    fs, fref = shared.root.fset, set()
    for add, k in ops:
        if add:
            pd[k] = b'v%d' % k
            ref[k] = b'v%d' % k
            fs.add(k / 2)
            fref.add(k / 2)
        else:
            assert (pd.pop(k, None) is not None) == (ref.pop(k, None) is not None)
            fs.discard(k / 2)
            fref.discard(k / 2)
    assert {k: v.contents for k, v in pd.items()} == ref
    assert set(fs) == fref
    assert 0.5 * 2 in fs or 1.0 not in fref


def test_containers_from_python_values(store):
    r = store.root
    r.ints = [1, 2, 3]
    r.ibn = {b'a': 1, b'b': 2}
    r.names = {b'x', b'y'}
    assert ints_of(r.ints) == [1, 2, 3]
    assert {k.contents: v.contents for k, v in r.ibn.items()} == {b'a': 1, b'b': 2}
    assert {k.contents for k in r.names} == {b'x', b'y'}
    with pytest.raises(TypeError):
        r.ibn = [(b'a', 1)]


def test_structure_keys_by_identity(store):
    r = store.root
    r.ibi = store.schema.ItemByItem()
    a, b = store.schema.Item(n=1), store.schema.Item(n=2)
    r.ibi[a] = b
    r.ibi[b] = a
    assert r.ibi[a].n.contents == 2 and r.ibi[b].n.contents == 1
    assert store.schema.Item(n=1) not in r.ibi
    with pytest.raises(TypeError):
        r.ibi[b'x'] = a
    del r.ibi[a]
    assert len(r.ibi) == 1 and a not in r.ibi


def test_set_and_dict_refuse_the_other_interface(store):
    r = store.root
    r.names = store.schema.Names()
    r.ibn = store.schema.IntByName()
    with pytest.raises(TypeError, match=r"Cannot iterate over the values: no value class is defined"):
        r.names.values()
    with pytest.raises(TypeError, match="no value class"):
        r.names[b'x'] = 1
    with pytest.raises(TypeError, match="Dict"):
        r.ibn.add(b'x')


def test_large_collections_grow(store):
    r = store.root
    r.ints = store.schema.Ints()
    r.ibn = store.schema.IntByName()
    with store.transaction():
        r.ints.extend(range(20000))
        for i in range(20000):
            r.ibn[b'%d' % i] = i
    assert len(r.ints) == 20000 and r.ints[-1].contents == 19999
    assert len(r.ibn) == 20000 and r.ibn[b'12345'].contents == 12345


# -- every mutating method, aborted ------------------------------------------

def setup_state(s):
    r = s.root
    r.ints = s.schema.Ints([1, 2, 3])
    r.floats = s.schema.Floats([0.5])
    r.strings = s.schema.Strings([b'a', b'b'])
    r.items = s.schema.Items([s.schema.Item(n=7)])
    r.ibn = s.schema.IntByName()
    r.ibn.update({b'x': 1, b'y': 2})
    r.names = s.schema.Names()
    r.names.add(b'n')
    r.nbi = s.schema.NameByInt()
    r.nbi[1] = b'one'


def snapshot(s):
    r = s.root
    return (ints_of(r.ints), [f.contents for f in r.floats], [x.contents for x in r.strings],
            [i.n.contents for i in r.items or ()], sorted((k.contents, v.contents) for k, v in r.ibn.items()),
            sorted(k.contents for k in r.names), sorted((k.contents, v.contents) for k, v in r.nbi.items()),
            len(s.stringRegistry))


MUTATIONS = {
    'list.append': lambda s, r: r.ints.append(4),
    'list.append.grow': lambda s, r: r.ints.extend(range(100)),
    'list.insert': lambda s, r: r.ints.insert(0, 9),
    'list.pop': lambda s, r: r.ints.pop(),
    'list.pop.ref': lambda s, r: r.strings.pop(0),
    'list.remove': lambda s, r: r.ints.remove(2),
    'list.setitem': lambda s, r: r.ints.__setitem__(1, 20),
    'list.setitem.ref': lambda s, r: r.strings.__setitem__(0, b'new'),
    'list.delitem': lambda s, r: r.strings.__delitem__(1),
    'list.clear': lambda s, r: r.items.clear(),
    'value.inc': lambda s, r: r.ints[0].inc(),
    'value.add': lambda s, r: r.floats[0].add(1.5),
    'value.contents': lambda s, r: setattr(r.items[0].n, 'contents', 70),
    'field.ref': lambda s, r: setattr(r.items[0], 'n', 5),
    'field.replace.list': lambda s, r: setattr(r, 'strings', s.schema.Strings([b'z'])),
    'field.clear': lambda s, r: setattr(r, 'items', None),
    'dict.setitem.new': lambda s, r: r.ibn.__setitem__(b'z', 3),
    'dict.setitem.old': lambda s, r: r.ibn.__setitem__(b'x', 10),
    'dict.grow': lambda s, r: r.ibn.update({b'%d' % i: i for i in range(50)}),
    'dict.delitem': lambda s, r: r.ibn.__delitem__(b'x'),
    'dict.pop': lambda s, r: r.ibn.pop(b'y'),
    'dict.clear': lambda s, r: r.ibn.clear(),
    'dict.value.inc': lambda s, r: r.ibn[b'x'].inc(),
    'dict.int.setitem': lambda s, r: r.nbi.__setitem__(1, b'uno'),
    'set.add': lambda s, r: r.names.add(b'm'),
    'set.get': lambda s, r: r.names.get(b'q'),
    'set.discard': lambda s, r: r.names.discard(b'n'),
    'set.pop': lambda s, r: r.names.pop(b'n'),
    'registry.get': lambda s, r: s.stringRegistry.get(b'interned'),
}


@pytest.mark.parametrize('name', sorted(MUTATIONS))
def test_abort_restores_state(pool_path, name):
    with Colls(pool_path) as s:
        setup_state(s)
        before = snapshot(s)
        with pytest.raises(RuntimeError, match='abort'):
            with s.transaction():
                MUTATIONS[name](s, s.root)
                assert snapshot(s) != before
                raise RuntimeError('abort')
        assert snapshot(s) == before
        MUTATIONS[name](s, s.root)          # and committed, it changes the state
        after = snapshot(s)
        assert after != before
        leaks = s.gc()['freed_total']
    with Storage(pool_path) as s:
        assert snapshot(s) == after
    assert leaks == 0


def test_root_created_in_aborted_transaction(pool_path):
    with Colls(pool_path) as s:
        with pytest.raises(RuntimeError):
            with s.transaction():
                s.root.ints = s.schema.Ints([1])
                raise RuntimeError
        assert s.root.ints is None


def test_proxies_of_objects_from_an_aborted_transaction(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            item = store.schema.Item(n=1)
            s1 = store.schema.ByteString(b'x')
            raise RuntimeError
    with pytest.raises(ValueError, match="no longer exists"):
        item.n
    with pytest.raises(ValueError, match="no longer exists"):
        s1.contents
    store.root.strings = store.schema.Strings([b'keep'])
    kept = store.gc()['kept_total']
    first, second = store.root.strings[0], store.root.strings[0]
    store.root.strings = None              # the strings' proxies keep it alive
    assert first.contents == second.contents == b'keep' and first.isSameAs(second)
    del first, second
    assert store.gc()['kept_total'] == kept - 3      # the list, its items, the string


ref_ops = st.lists(st.one_of(
    st.tuples(st.just('append'), st.binary(max_size=3)),
    st.tuples(st.just('insert'), st.integers(-4, 4), st.binary(max_size=3)),
    st.tuples(st.just('setitem'), st.integers(-4, 4), st.binary(max_size=3)),
    st.tuples(st.just('delitem'), st.integers(-4, 4)),
    st.tuples(st.just('map'), st.binary(max_size=2), st.integers(0, 5)),
    st.tuples(st.just('unmap'), st.binary(max_size=2)),
    st.tuples(st.just('share'), st.integers(-4, 4)),
), max_size=40)


@SETTINGS
@given(ref_ops)
def test_reference_counts_stay_exact(shared, ops):
    """Lists of strings and dicts of structures: what refcounts free is
    exactly what nothing references (gc finds nothing to fix or free)."""
    r = shared.root
    r.strings = shared.schema.Strings()
    r.ibi = None
    shared.gc()                # what other tests popped
    r.nbi = shared.schema.NameByInt()
    r.items = shared.schema.Items()
    strings, ref = r.strings, []
    for op, *args in ops:
        try:
            if op == 'append':
                strings.append(args[0])
                ref.append(args[0])
            elif op == 'insert':
                strings.insert(args[0], args[1])
                ref.insert(args[0], args[1])
            elif op == 'setitem':
                ref[args[0]] = args[1]
                strings[args[0]] = args[1]
            elif op == 'delitem':
                del ref[args[0]]
                del strings[args[0]]
            elif op == 'map':
                r.items.append(shared.schema.Item(n=args[1]))
                r.nbi[args[1]] = args[0]
            elif op == 'unmap':
                r.nbi.discard(len(args[0]))
            elif op == 'share':                   # one string referenced twice
                strings.append(strings[args[0]])
                ref.append(ref[args[0]])
        except IndexError:
            pass
    assert [s.contents for s in strings] == ref
    del strings
    stats = shared.gc()
    assert stats['refcounts_fixed'] == 0 and stats['freed_total'] == 0, stats
