"""Proxies of numbers stored by value: live ones (list items, structure fields,
dict values) follow their slot, frozen ones (keys) are read-only copies."""
import pytest

from ptypes.storage import Dict, List, Set, Storage
from support import closing_storage


class Values(Storage):
    def populateSchema(self):
        self.define(List('Ints')[self.schema.Int])
        self.define(Dict('NameByInt')[self.schema.Int, self.schema.ByteString])
        self.define(Dict('IntByInt')[self.schema.Int, self.schema.Int])
        self.define(Dict('IntByName')[self.schema.ByteString, self.schema.Int])
        self.define(Set('Floats')[self.schema.Float])

        class Root(self.schema.Structure):
            ints = self.schema.Ints
            nbi = self.schema.NameByInt
            ibi = self.schema.IntByInt
            ibn = self.schema.IntByName
            floats = self.schema.Floats
            count = self.schema.Int


@pytest.fixture
def store(pool_path):
    yield from closing_storage(Values(pool_path))


def test_int_keys_come_back_as_proxies(store):
    r = store.root
    r.nbi = {3: b'three', 1: b'one'}
    keys = r.nbi.keys()
    assert sorted(k.contents for k in keys) == [1, 3]
    assert sorted(keys) == [1, 3]                     # ordered like their numbers
    assert {k for k in r.nbi.iterkeys()} == {1, 3}    # hashed like their numbers
    k = min(keys)
    assert repr(k).startswith("<persistent Int object '1' @offset 0x")
    assert r.nbi[k].contents == b'one' and k in r.nbi
    assert [(k.contents, v.contents) for k, v in sorted(r.nbi.items())] == [(1, b'one'), (3, b'three')]
    with pytest.raises(TypeError, match="cannot be changed in place"):
        k.inc()
    with pytest.raises(TypeError, match="cannot be changed in place"):
        k.contents = 5
    assert sorted(r.nbi) == [1, 3]


def test_set_members_are_frozen_proxies(store):
    r = store.root
    r.floats = {0.5, 2.0}
    assert sorted(f.contents for f in r.floats) == [0.5, 2.0]
    assert r.floats.get(0.5).contents == 0.5
    with pytest.raises(TypeError):
        r.floats.get(0.5).add(1)
    assert r.floats.pop(0.5) == 0.5        # a removed member comes back as a number


def test_live_values_are_not_hashable(store):
    store.root.ints = [1]
    with pytest.raises(TypeError, match="unhashable"):
        hash(store.root.ints[0])
    with pytest.raises(TypeError, match="unhashable"):
        hash(store.root.count)


def test_a_dict_value_follows_its_key_through_resizes(store):
    r = store.root
    r.ibi = {1: 10}
    v = r.ibi[1]
    for i in range(2, 200):                # the table is replaced several times
        r.ibi[i] = i * 10
    assert v.contents == 10
    v.inc()
    assert r.ibi[1].contents == 11
    del r.ibi[1]
    with pytest.raises(KeyError):
        v.contents
    r.ibi[1] = 5                           # an int key stored again is the same key
    assert v.contents == 5


def test_a_dict_value_of_a_removed_byte_string_key(store):
    r = store.root
    r.ibn = {b'a': 1, b'b': 2}
    va, vb = r.ibn[b'a'], dict((k.contents, v) for k, v in r.ibn.items())[b'b']
    del r.ibn[b'a']
    with pytest.raises(KeyError):
        va.contents
    assert vb.contents == 2
    vb.add(3)
    assert r.ibn[b'b'].contents == 5


def test_dict_value_proxies_after_an_abort(store):
    r = store.root
    r.ibi = {1: 10}
    v = r.ibi[1]
    with pytest.raises(RuntimeError):
        with store.transaction():
            for i in range(2, 100):
                r.ibi[i] = i
            v.inc()
            assert v.contents == 11
            raise RuntimeError
    assert v.contents == 10 and len(r.ibi) == 1


def test_list_iteration_sees_changes(store):
    r = store.root
    r.ints = [1, 2, 3]
    seen = []
    for x in r.ints:
        seen.append(x.contents)
        if len(seen) == 1:
            r.ints.append(4)
    assert seen == [1, 2, 3, 4]
    it = iter(r.ints)
    next(it)
    r.ints.clear()
    assert list(it) == []


def test_dict_iteration_refuses_a_resize(store):
    r = store.root
    r.ibi = {1: 1}
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        for k in r.ibi:
            for i in range(2, 20):
                r.ibi[i] = i


def test_keys_and_iterators_hold_their_container(pool_path):
    s = Values(pool_path)
    s.root.nbi = {1: b'x'}
    s.root.ints = [1]
    k, = s.root.nbi.keys()
    it = iter(s.root.ints)
    with pytest.raises(ValueError, match="some proxies are still around"):
        s.close()
    del it
    with pytest.raises(ValueError, match="some proxies are still around"):
        s.close()
    del k
    s.close()


def test_item_proxies_a_loop_let_go_of_are_reused(store):
    """The iterator reuses an item proxy only when nothing else holds it."""
    r = store.root
    r.ints = list(range(10))
    kept = [x for x in r.ints]                      # all held: ten proxies
    assert [x.contents for x in kept] == list(range(10))
    assert len({id(x) for x in kept}) == 10
    assert sum(x.contents for x in r.ints) == 45
    it = iter(r.ints)
    a, b, c = next(it), next(it), next(it)
    assert (a.contents, b.contents, c.contents) == (0, 1, 2)
    del a
    d = next(it)
    assert (b.contents, c.contents, d.contents) == (1, 2, 3)
    pairs = [(x.contents, y.contents) for x, y in zip(r.ints, r.ints)]
    assert pairs == [(i, i) for i in range(10)]
    for x in r.ints:
        x.inc()                                      # each proxy writes its own item
    assert [x.contents for x in r.ints] == list(range(1, 11))
