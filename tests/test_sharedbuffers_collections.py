"""sharedbuffers arrays, id mappers and mappings, in files and buffers."""
import io
import itertools
import os
import subprocess
import sys
import tempfile

import pytest
from hypothesis import given, settings, strategies as st


from support import ROOT, assert_no_signal, run_python
from sharedbuffers import mapped_struct as ms

SETTINGS = settings(max_examples=50, deadline=None)


class Item:
    __slot_types__ = {"a": int, "b": int, "c": int, "x": float, "name": bytes, "tags": object}
    __slots__ = tuple(__slot_types__)

    def __init__(self, a=None, b=None, c=None, x=None, name=None, tags=None):
        self.a, self.b, self.c, self.x, self.name, self.tags = a, b, c, x, name, tags

    def as_tuple(self):
        return (self.a, self.b, self.c, self.x, self.name, self.tags)


ITEM = ms.Schema.from_typed_slots(Item)
ms.mapped_object.register_schema(Item, ITEM, b"\x81")


def row(p):
    return None if p is None else (p.a, p.b, p.c, p.x, p.name, p.tags)


def make(i):
    return Item(i, 2 * i, -i, i / 3, b"item%d" % i, ["t", i] if i % 3 else None)


class ItemArray(ms.MappedArrayProxyBase):
    schema = ITEM


class ItemNameMapping(ms.MappedMappingProxyBase):
    IdMapper = ms.StringIdMapper
    ValueArray = ItemArray


class ItemIdMapping(ms.MappedMappingProxyBase):
    IdMapper = ms.NumericIdMapper
    ValueArray = ItemArray


class ItemNameMultiMapping(ms.MappedMultiMappingProxyBase):
    IdMapper = ms.StringIdMultiMapper
    ValueArray = ItemArray


class ItemIdMultiMapping(ms.MappedMultiMappingProxyBase):
    IdMapper = ms.NumericIdMultiMapper
    ValueArray = ItemArray


class ApproxItemMapping(ms.MappedMultiMappingProxyBase):
    IdMapper = ms.ApproxStringIdMultiMapper
    ValueArray = ItemArray


ITEMS = st.builds(Item, a=st.none() | st.integers(-2**63, 2**63 - 1),
                  x=st.none() | st.floats(allow_nan=False), name=st.none() | st.binary(max_size=12),
                  tags=st.none() | st.lists(st.integers() | st.text(max_size=5), max_size=3))


# ---------------------------------------------------------------- arrays

def test_spec_array_example():
    with tempfile.NamedTemporaryFile() as destfile:
        arr = ItemArray.build([Item(), Item(a=1)], destfile=destfile)
        assert row(arr[0]) == (None,) * 6
    # the mapping outlives the (deleted) file
    assert arr[1].a == 1 and len(arr) == 2


@SETTINGS
@given(st.lists(st.none() | ITEMS, max_size=30), st.sampled_from(["buffer", "file", "temp"]))
def test_array_matches_list(items, where):
    expected = [None if it is None else it.as_tuple() for it in items]
    if where == "buffer":
        out = io.BytesIO()
        ItemArray._write(out, items)
        arr = ItemArray.map_buffer(out.getvalue())
    elif where == "file":
        with tempfile.TemporaryFile() as f:
            f.write(b"prefix")
            arr = ItemArray.build(items, destfile=f)
    else:
        arr = ItemArray.build(iter(items))
    assert len(arr) == len(expected)
    assert [row(p) for p in arr] == expected
    for i in range(-len(expected), len(expected)):
        assert row(arr[i]) == expected[i]
    assert [row(p) for p in arr[1::2]] == expected[1::2]
    assert [row(p) for p in arr[::-1]] == expected[::-1]
    with pytest.raises(IndexError):
        arr[len(expected)]
    with pytest.raises(IndexError):
        arr[-len(expected) - 1]


def test_array_at_file_offset(tmpdir_shm):
    path = os.path.join(tmpdir_shm, "arr.bin")
    with open(path, "wb") as f:
        f.write(b"x" * 13)
        start = f.tell()
        ItemArray._write(f, [make(i) for i in range(10)])
    arr = ItemArray.map_file(path, start)
    assert [p.a for p in arr] == list(range(10))


def test_getter_and_iter_fast():
    arr = ItemArray.build(make(i) for i in range(100))
    get = arr.getter()
    first = get(5)
    assert first.a == 5
    assert get(7) is first and first.a == 7      # one proxy, rebound
    assert get(-1).a == 99
    with pytest.raises(IndexError):
        get(100)
    seen = [p.a for p in arr.iter_fast()]
    assert seen == list(range(100))
    mine = arr[0]
    g2 = arr.getter(mine)
    assert g2(3) is mine and mine.a == 3


def test_large_array_streams_in_chunks():
    arr = ItemArray.build(Item(i, name=b"n" * 50) for i in range(40000))   # > 1 MiB of records
    assert len(arr) == 40000 and arr[39999].a == 39999 and arr[20000].name == b"n" * 50


def test_idmap_dedups_array_items():
    shared = make(1)
    plain = ItemArray.build([shared] * 100)
    idmap = {}
    dedup = ItemArray.build([shared] * 100, idmap=idmap)
    assert len(dedup.buffer) < len(plain.buffer) / 5
    assert all(row(p) == shared.as_tuple() for p in dedup)


def test_idmap_streaming_technique_from_the_spec():
    def some_generator():
        names = ["alpha", "beta", "gamma"]
        for i in range(30000):
            yield Item(i, name=names[i % 3].encode(), tags=names)

    def all_structs(idmap):
        iter_all = iter(some_generator())
        while True:
            idmap.clear()
            batch = list(itertools.islice(iter_all, 1000))
            if not batch:
                break
            for it in batch:
                yield (b"k%d" % it.a).decode(), it
            del batch

    idmap = {}
    m = ItemNameMapping.build(all_structs(idmap), idmap=idmap)
    assert len(m) == 30000
    assert m["k29999"].tags == ["alpha", "beta", "gamma"] and m["k5"].name == b"gamma"


def test_bad_files_raise(tmpdir_shm):
    empty = os.path.join(tmpdir_shm, "empty")
    open(empty, "wb").close()
    with pytest.raises(ms.CorruptedBufferError, match="empty or truncated"):
        ItemArray.map_file(empty)
    with pytest.raises(ms.CorruptedBufferError, match="magic"):
        ItemArray.map_buffer(b"\0" * 100)
    with pytest.raises(ms.CorruptedBufferError):
        ItemArray.map_buffer(b"SBARRAY1")
    m = ItemNameMapping.build({"a": make(1)})
    with pytest.raises(ms.CorruptedBufferError, match="magic"):
        ItemArray.map_buffer(m.value_array.buffer)    # a mapping is not an array
    unbound = ItemArray.__new__(ItemArray)
    assert len(unbound) == 0 and list(unbound) == []
    with pytest.raises(IndexError):
        unbound[0]
    with pytest.raises(ValueError, match="unbound"):
        ItemNameMapping.__new__(ItemNameMapping)["a"]


def test_array_needs_a_schema():
    class NoSchema(ms.MappedArrayProxyBase):
        pass
    with pytest.raises(TypeError, match="schema"):
        NoSchema.build([make(1)])


# ---------------------------------------------------------------- mappings

KEYS = st.text(max_size=8)


@SETTINGS
@given(st.dictionaries(KEYS, ITEMS, max_size=30), st.lists(KEYS, max_size=10),
       st.booleans())
def test_string_mapping_matches_dict(d, probes, in_file):
    if in_file:
        m = ItemNameMapping.build(d.items())
    else:
        out = io.BytesIO()
        ItemNameMapping._write(out, d.items())
        m = ItemNameMapping.map_buffer(out.getvalue())
    assert len(m) == len(d)
    assert sorted(m.keys()) == sorted(d)
    assert sorted((k, row(v)) for k, v in m.items()) == sorted((k, v.as_tuple()) for k, v in d.items())
    for k in list(d) + probes:
        if k in d:
            assert k in m and row(m[k]) == d[k].as_tuple() and row(m.get(k)) == d[k].as_tuple()
        else:
            assert k not in m and m.get(k, 42) == 42
            with pytest.raises(KeyError):
                m[k]


@SETTINGS
@given(st.dictionaries(st.integers(0, 2**64 - 1), ITEMS, max_size=30),
       st.lists(st.integers(-5, 2**64 + 5), max_size=10))
def test_numeric_mapping_matches_dict(d, probes):
    m = ItemIdMapping.build(d)
    assert len(m) == len(d)
    assert list(m.keys()) == sorted(d)
    for k in list(d) + probes:
        if k in d:
            assert row(m[k]) == d[k].as_tuple()
        else:
            assert k not in m and m.get(k) is None
    assert "text" not in m and m.get(1.5) is None
    for k in d:
        if float(k) == k:                       # an integral float finds its int key
            assert row(m[float(k)]) == d[k].as_tuple()


def test_spec_mapping_examples():
    with tempfile.NamedTemporaryFile() as destfile:
        arr = ItemNameMapping.build(dict(a=Item(1), b=Item(2)).items(), destfile=destfile)
        assert arr["a"].a == 1
    with tempfile.NamedTemporaryFile() as destfile:
        arr = ItemIdMapping.build({1: Item(1), 3: Item(3)}.items(), destfile=destfile)
        assert arr[3].a == 3


def test_numeric_keys_are_unsigned_64_bit():
    with pytest.raises(OverflowError, match="0, 18446744073709551615"):
        ItemIdMapping.build({-1: make(1)})
    with pytest.raises(OverflowError, match="0, 18446744073709551615"):
        ItemIdMapping.build({2**64: make(1)})
    with pytest.raises(TypeError, match="ints, not str"):
        ItemIdMapping.build({"1": make(1)})
    with pytest.raises(TypeError, match="str or bytes"):
        ItemNameMapping.build({1: make(1)})


PAIRS = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "dd", "é", ""]), st.integers(0, 10**6)),
                 max_size=40)


@SETTINGS
@given(PAIRS)
def test_multi_mapping_matches_dict_of_lists(pairs):
    expected = {}
    for k, v in pairs:
        expected.setdefault(k, []).append(v)
    m = ItemNameMultiMapping.build((k, Item(v)) for k, v in pairs)
    assert len(m) == len(pairs)         # as upstream: len() counts the values
    assert sorted(m.keys()) == sorted(expected)
    for k, vs in expected.items():
        assert [p.a for p in m[k]] == vs                    # insertion order
        assert [p.a for p in m.get_iter(k)] == vs
    assert sorted((k, p.a) for k, p in m.items()) == sorted(pairs)
    assert m.get("missing") is None
    with pytest.raises(KeyError):
        m["missing"]
    # the same bytes read as a simple mapping: the first value of each key
    simple = ItemNameMapping.map_buffer(m.value_array.buffer)
    assert {k: simple[k].a for k in simple} == {k: vs[0] for k, vs in expected.items()}


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(-2**63, 2**63 - 1)), max_size=40))
def test_numeric_multi_mapping(pairs):
    expected = {}
    for k, v in pairs:
        expected.setdefault(k, []).append(v)
    m = ItemIdMultiMapping.build((k, Item(v)) for k, v in pairs)
    assert {k: [p.a for p in m[k]] for k in m} == expected


def test_simple_mapping_file_read_as_multi():
    m = ItemNameMapping.build({"a": make(1), "b": make(2)})
    multi = ItemNameMultiMapping.map_buffer(m.value_array.buffer)
    assert [p.a for p in multi["a"]] == [1]


def test_approximate_multi_mapping():
    pairs = [("k%d" % (i % 500), Item(i)) for i in range(2000)]
    exact = ItemNameMultiMapping.build(pairs)
    approx = ApproxItemMapping.build(pairs)
    assert len(approx.value_array.buffer) < len(exact.value_array.buffer)
    for k in ("k0", "k7", "k499"):
        want = sorted(p.a for p in exact[k])
        got = sorted(p.a for p in approx[k])
        assert set(want) <= set(got)          # extra values only on a hash collision
        assert got == want
    assert "nope" not in approx
    assert sorted(approx.keys()) == sorted({ms.string_hash(k) for k, _ in pairs})
    # approximate mappers read exact tables; exact mappers refuse hash-only tables
    assert sorted(p.a for p in ApproxItemMapping.map_buffer(exact.value_array.buffer)["k3"]) \
        == sorted(p.a for p in exact["k3"])
    with pytest.raises(ValueError, match="hashes only"):
        ItemNameMultiMapping.map_buffer(approx.value_array.buffer)
    with pytest.raises(ValueError, match="string keys"):
        ItemIdMapping.map_buffer(exact.value_array.buffer)


def test_id_mappers_standalone():
    ids = ms.StringIdMapper.build({"x": 1, "y": 2**40})
    assert ids["x"] == 1 and ids["y"] == 2**40 and "z" not in ids and len(ids) == 2
    assert dict(ids.items()) == {"x": 1, "y": 2**40}
    multi = ms.NumericIdMultiMapper.build([(5, 1), (5, 2), (7, 3)])
    assert multi[5] == [1, 2] and multi[7] == [3] and multi.entries == 3
    assert list(multi.keys()) == [5, 7]
    assert sorted(ms.ApproxStringIdMultiMapper.build([("a", 1), ("a", 2)])["a"]) == [1, 2]
    with pytest.raises(TypeError):
        ms.IdMapperBase.build({"a": 1})


def test_string_hash_is_stable_xxh3():
    assert ms.string_hash("") == 0x2D06800538D394C2          # XXH3_64bits test vector
    assert ms.string_hash("héllo") == ms.string_hash("héllo".encode())
    out = run_python("from sharedbuffers.mapped_struct import string_hash as h; print(h('key'))")
    assert_no_signal(out)
    assert int(out.stdout) == ms.string_hash("key")


def test_none_values_in_mappings():
    m = ItemNameMapping.build({"a": None, "b": make(2)})
    assert m["a"] is None and "a" in m and m["b"].a == 2


# ---------------------------------------------------------------- sharing between processes

READER = """
import sys
sys.path.insert(0, {tests!r})
from test_sharedbuffers_collections import ItemNameMapping
m = ItemNameMapping.map_file({path!r})
total = 0
for i in range(0, 5000, 7):
    p = m["k%d" % i]
    total += p.a + p.b + len(p.name)
print(total, type(m.value_array.buffer).__name__)
"""


def test_two_processes_share_one_file(tmpdir_shm):
    path = os.path.join(tmpdir_shm, "shared.bin")
    ItemNameMapping.build((("k%d" % i, make(i)) for i in range(5000)), destfile=path)
    m = ItemNameMapping.map_file(path)
    expected = sum(m["k%d" % i].a + m["k%d" % i].b + len(m["k%d" % i].name)
                   for i in range(0, 5000, 7))
    code = READER.format(tests=os.path.dirname(os.path.abspath(__file__)), path=path)
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        total, kind = out.split()
        assert int(total) == expected and kind == "mmap"      # mapped, not read into memory


def test_map_file_checks_the_size(tmpdir_shm):
    path = os.path.join(tmpdir_shm, "arr.bin")
    ItemArray.build([make(i) for i in range(3)], destfile=path)
    size = os.path.getsize(path)
    assert len(ItemArray.map_file(path, 0, size)) == 3
    with pytest.raises(ms.CorruptedBufferError, match="truncated"):
        ItemArray.map_file(path, 0, size + 1)
    with pytest.raises(ms.CorruptedBufferError):
        ItemArray.map_file(path, 0, size - 8)       # the header says the array is larger
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(ms.CorruptedBufferError):
        ItemArray.map_file(path)
