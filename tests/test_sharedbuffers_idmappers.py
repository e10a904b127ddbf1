"""Id mappers of every class against a dict model; build options, merge, copy;
the sorted-array helpers against numpy; the stable hash."""
import io
import itertools
import pickle
import zipfile

import numpy
import pytest
from hypothesis import given, settings, strategies as st

from sharedbuffers import mapped_struct as ms

SETTINGS = settings(max_examples=50, deadline=None)

NUMERIC = [(ms.NumericIdMapper, 2**64 - 1), (ms.NumericId32Mapper, 2**32 - 1)]
NUMERIC_MULTI = [(ms.NumericIdMultiMapper, 2**64 - 1), (ms.NumericId32MultiMapper, 2**32 - 1)]
STRING = [ms.StringIdMapper, ms.StringId32Mapper]
STRING_MULTI = [ms.StringIdMultiMapper, ms.StringId32MultiMapper]


def first_values(pairs):
    model = {}
    for k, v in pairs:
        model.setdefault(k, v)
    return model


def all_values(pairs):
    model = {}
    for k, v in pairs:
        model.setdefault(k, []).append(v)
    return model


@SETTINGS
@given(st.data())
def test_numeric_mappers_match_dict(data):
    for cls, top in NUMERIC + NUMERIC_MULTI:
        pairs = data.draw(st.lists(st.tuples(st.integers(0, top), st.integers(0, top)), max_size=30))
        m = cls.build(pairs)
        model = (all_values if cls in dict(NUMERIC_MULTI) else first_values)(pairs)
        assert len(m) == len(pairs) and m.key_count == len(model)
        assert sorted(m.keys()) == sorted(model)
        for k in list(model) + [top, 0, -1, top + 1, "x"]:
            assert m.get(k) == model.get(k) and (k in m) == (k in model)


@SETTINGS
@given(st.lists(st.tuples(st.text(max_size=4) | st.binary(max_size=4), st.integers(0, 2**32 - 1)),
                max_size=30))
def test_string_mappers_match_dict(pairs):
    def norm(k):
        return k.encode("utf-8", "surrogatepass") if isinstance(k, str) else k
    for cls in STRING + STRING_MULTI:
        m = cls.build(pairs)
        model = (all_values if cls in STRING_MULTI else first_values)([(norm(k), v) for k, v in pairs])
        assert {norm(k) for k in m.keys()} == set(model)
        for k, _ in pairs:
            assert m[k] == model[norm(k)]
            try:
                other = k.decode("utf-8", "surrogatepass") if isinstance(k, bytes) else norm(k)
            except UnicodeDecodeError:
                continue
            assert m.get(other) == model[norm(k)]          # str and bytes find each other
        stored = {type(k) for k in m.keys()}
        assert stored <= {str, bytes}


def test_keys_read_back_as_stored():
    m = ms.StringIdMapper.build([("é", 1), (b"raw", 2)])
    assert sorted(m.items(), key=repr) == sorted([("é", 1), (b"raw", 2)], key=repr)
    assert m["é".encode()] == 1 and m["raw"] == 2


def test_object_id_mapper():
    keys = [None, 1, "1", (1,), (1, "a", 2.5), frozenset([1, 2]), b"b", 2**63, -7, 1.5]
    m = ms.ObjectIdMapper.build([(k, i) for i, k in enumerate(keys)])
    for i, k in enumerate(keys):
        assert m[k] == i
    assert m[1.0] == m[True] == 1 and m.get((2,)) is None and m.get([1]) is None
    assert set(map(repr, m.keys())) == set(map(repr, keys))


def test_approximate_mappers_hash_strings_and_keep_ints():
    for cls, width in ((ms.ApproxStringIdMultiMapper, 64), (ms.ApproxStringId32MultiMapper, 32)):
        m = cls.build([("a", 1), (b"a", 2), (7, 3)])
        assert m["a"] == [1, 2] and m[7] == [3]
        assert set(m.keys()) == {cls.xxh(b"a").intdigest(), 7}
        assert cls.xxh("a").intdigest() < 2**width


def test_32_bit_mappers_refuse_wide_values():
    with pytest.raises(OverflowError):
        ms.NumericId32Mapper.build([(2**32, 1)])
    with pytest.raises(OverflowError):
        ms.StringId32Mapper.build([("a", 2**32)])
    assert len(ms.NumericId32Mapper.build([(1, 2)] * 10).buf) < len(ms.NumericIdMapper.build([(1, 2)] * 10).buf)


def test_discard_options():
    pairs = [(1, 10), (1, 10), (1, 11), (2, 20), (2, 20)]
    assert ms.NumericIdMultiMapper.build(pairs, discard_duplicates=True)[1] == [10, 11]
    assert ms.NumericIdMultiMapper.build(pairs, discard_duplicate_keys=True)[1] == [10]
    assert len(ms.NumericIdMultiMapper.build(pairs, discard_duplicates=True)) == 3


@pytest.mark.parametrize("cls", [ms.NumericIdMapper, ms.NumericId32MultiMapper, ms.StringIdMultiMapper,
                                 ms.ApproxStringIdMultiMapper, ms.ObjectIdMapper])
def test_merge_copy_and_index_data(cls):
    key = str if cls in (ms.StringIdMultiMapper, ms.ApproxStringIdMultiMapper) else int
    parts = [[(key(k), k + 100 * p) for k in range(p, 40, 3)] for p in range(3)]
    merged = cls.merge([cls.build(part) for part in parts])
    for part in parts:
        for k, v in part:
            got = merged[k]
            assert v in got if isinstance(got, list) else got == v
    copy = merged.copy()
    assert copy.buf is not merged.buf and list(copy.items()) == list(merged.items())
    copy._index_data[:, -1] += 1                          # the values column, in place
    k, v = next(iter(merged.items()))
    got = copy[k]
    assert (got[0] if isinstance(got, list) else got) == v + 1
    with pytest.raises(ValueError):
        merged._index_data[0, -1] = 5                     # a read-only mapping


def test_mappers_in_zip_members_and_files(tmp_path):
    path = tmp_path / "ids.bin"
    with open(path, "w+b") as f:
        ms.StringIdMapper.build([("a", 1), ("b", 2)], destfile=f)
    zpath = tmp_path / "bundle.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("other", "x" * 100)
        z.write(path, "ids", zipfile.ZIP_STORED)
        z.write(path, "packed", zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(zpath) as z:
        for member in ("ids", "packed"):          # mapped in place, or read
            assert ms.StringIdMapper.map_file(z.open(member))["b"] == 2


# -- sorted-array helpers

DTYPES = ["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", ">i4"]


@SETTINGS
@given(st.sampled_from(DTYPES), st.lists(st.integers(-300, 300), max_size=40),
       st.lists(st.integers(-400, 400) | st.floats(-400, 400), max_size=10), st.integers(-5, 50))
def test_bsearch_matches_searchsorted(dtype, values, probes, hint):
    dt = numpy.dtype(dtype)
    if dt.kind == "u":
        values = [abs(v) for v in values]
    a = numpy.sort(numpy.array(values, dt) if dt.kind == "f" or not values else
                   numpy.array(values).clip(*(numpy.iinfo(dt).min, numpy.iinfo(dt).max)).astype(dt))
    for x in probes + values[:3]:
        want = int(numpy.searchsorted(a.astype(float), x, "left"))
        assert ms.bsearch(a, x) == want and ms.hinted_bsearch(a, x, hint) == want
        assert ms.sorted_contains(a, x) == (want < len(a) and a[want] == x)
        assert ms.hinted_sorted_contains(a, x, hint) == ms.sorted_contains(a, x)


def test_bsearch_refuses_other_dtypes():
    with pytest.raises(NotImplementedError):
        ms.bsearch(numpy.zeros(3, numpy.complex64), 0)
    with pytest.raises(ValueError):
        ms.bsearch(numpy.zeros((3, 2)), 0)


@SETTINGS
@given(st.sampled_from(DTYPES[:-1]), st.lists(st.integers(0, 100), max_size=30),
       st.lists(st.integers(0, 100), max_size=30), st.integers(1, 3))
def test_index_merge_matches_stable_sort(dtype, k1, k2, cols):
    def table(keys, tag):
        t = numpy.zeros((len(keys), cols), dtype)
        t[:, 0] = sorted(keys)
        if cols > 1:
            t[:, 1] = tag
        return t
    a, b = table(k1, 1), table(k2, 2)
    dest = numpy.zeros((len(k1) + len(k2) + 2, cols), dtype)
    assert ms.index_merge(a, b, dest) == len(k1) + len(k2)
    both = numpy.concatenate([a, b])
    want = both[numpy.argsort(both[:, 0], kind="stable")]
    assert (dest[:len(want)] == want).all()


def test_index_merge_refusals():
    a = numpy.zeros((3, 2), "u4")
    with pytest.raises(ValueError):
        ms.index_merge(a, a, numpy.zeros((6, 3), "u4"))
    with pytest.raises(ValueError):
        ms.index_merge(a, a, numpy.zeros((6, 2), "u8"))
    with pytest.raises(ValueError):
        ms.index_merge(a, a, numpy.zeros((5, 2), "u4"))
    with pytest.raises(NotImplementedError):
        ms.index_merge(a, a, a)
    x = numpy.zeros((4, 2), "u4")
    with pytest.raises(NotImplementedError):
        ms.index_merge(x[:1], x[2:3], x[1:])


# -- the stable hash

def test_stable_hash():
    h = ms._stable_hash
    assert h("") == 0xEF46DB3751D8E999             # XXH64 of nothing, seed 0
    assert h("é") == h("é".encode())
    assert h(1) == h(1.0) == h(True) == 1 and h(None) == 1 and h(0) == 1
    assert h(-1) == 2**64 - 1 and h(2**64 + 5) == 5
    assert h((1, "a")) != h(("a", 1))
    assert h(frozenset([1, 9, 17, 33])) == h(frozenset([33, 17, 9, 1]))
    assert h(ms.proxied_tuple.unpack_from(pack_tuple((1, "a")), 0)) == h((1, "a"))
    with pytest.raises(TypeError):
        h([1])


def pack_tuple(t):
    buf = bytearray(64)
    ms.proxied_tuple.pack_into(t, buf, 0)
    return buf
