"""Collections read in place: proxied_list, proxied_tuple, proxied_frozenset,
against the builtins they stand for (indexing, slicing, iteration, comparisons)."""
import numpy
import pytest
from hypothesis import given, settings, strategies as st

from sharedbuffers import mapped_struct as ms

SETTINGS = settings(max_examples=80, deadline=None)

ITEMS = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=False), st.text(max_size=4), st.none(),
                  st.lists(st.integers(-5, 5), max_size=3))
NUMBER_LISTS = st.one_of(st.lists(st.integers(-2**63, 2**63 - 1), max_size=30),
                         st.lists(st.integers(0, 255), max_size=30),
                         st.lists(st.floats(allow_nan=False), max_size=30))


def packed(cls, value):
    buf = bytearray(16)
    cls.pack_into(value, buf, 3)
    return cls.unpack_from(buf, 3)


@SETTINGS
@given(st.lists(ITEMS, max_size=25) | NUMBER_LISTS, st.slices(40), st.slices(40), st.integers(-30, 30))
def test_proxied_list_matches_list(items, s1, s2, i):
    for cls, kind in ((ms.proxied_list, list), (ms.proxied_tuple, tuple)):
        p = packed(cls, items)
        model = kind(items)
        assert len(p) == len(model) and list(p) == list(model) and p == model
        assert list(reversed(p)) == list(reversed(model))
        view, sub = p[s1], model[s1]
        assert list(view) == list(sub) and len(view) == len(sub)
        assert list(view[s2]) == list(sub[s2])                   # slices of slices
        if -len(model) <= i < len(model):
            assert p[i] == model[i]
        else:
            with pytest.raises(IndexError):
                p[i]
        for x in items[:3] + [12345, "zz"]:
            assert (x in p) == (x in model)
        assert str(p)[0] == ("[" if kind is list else "(")


def test_proxied_comparisons():
    a, b = packed(ms.proxied_list, [1, 2.0]), packed(ms.proxied_tuple, [1, 2.0, 3])
    assert a == (1, 2.0) and a == [1, 2] and b == [1, 2.0, 3] and a != b and a < b and b >= a
    assert a != None and a != "12"      # noqa: E711
    with pytest.raises(NotImplementedError):
        a < 1
    assert hash(packed(ms.proxied_tuple, (1, "x"))) == hash((1, "x"))
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(TypeError):
        a[0] = 5
    assert repr(packed(ms.proxied_list, [1, 2.0, None])) == "proxied_list([1,2.0,None])"
    assert str(packed(ms.proxied_tuple, [1, 2.0])) == "(1,2.0)"


@SETTINGS
@given(st.frozensets(st.integers(-2**63, 2**63 - 1), max_size=40)
       | st.frozensets(st.integers(0, 300), max_size=40)
       | st.frozensets(st.floats(allow_nan=False), max_size=40)
       | st.frozensets(st.one_of(st.integers(-5, 5), st.text(max_size=2), st.floats(-3, 3)), max_size=10),
       st.lists(st.one_of(st.integers(-2**64, 2**64), st.floats(allow_nan=False), st.text(max_size=2),
                          st.none()), max_size=10))
def test_proxied_frozenset_matches_frozenset(fs, probes):
    p = packed(ms.proxied_frozenset, fs)
    assert len(p) == len(fs) and set(p) == fs and p == fs and fs == p and hash(p) == hash(fs)
    for x in list(fs)[:5] + probes:
        assert (x in p) == (x in fs)
    other = frozenset(probes[:3]) if all(x is None or x == x for x in probes[:3]) else frozenset()
    assert (p | other) == (fs | other) and (p & other) == (fs & other)
    assert (p - other) == (fs - other) and (p ^ other) == (fs ^ other)
    assert (p <= other) == (fs <= other) and (p > other) == (fs > other)
    assert p.union(other) == fs.union(other) and p.issubset(fs | other)


def test_masks_proxies_and_getters():
    class Point:
        __slot_types__ = {"x": int}

        def __init__(self, x):
            self.x = x
    schema = ms.Schema.from_typed_slots(Point)
    ms.mapped_object.register_schema(Point, schema, b"\xf2")
    items = [Point(1), 3, Point(2), "s", Point(3)]
    p = packed(ms.proxied_list, items)
    mask = numpy.array([1, 0, 1, 0, 1], numpy.uint8)
    xs = [q.x for q in p.iter(mask=mask)]
    assert xs == [1, 2, 3]
    shared = [q for q in p.iter_fast() if isinstance(q, ms.StructProxy)]
    assert len({id(q) for q in shared}) == 1          # one proxy, rebound
    get = p.getter(fast=True)
    assert get(0).x == 1 and get(-1).x == 3 and get(1) == 3
