"""sharedbuffers structs: schemas, pack/unpack round trips, typecodes, nesting, idmap."""
import math
import mmap
import types

import pytest
from hypothesis import given, settings, strategies as st

from sharedbuffers import mapped_struct as ms

SETTINGS = settings(max_examples=75, deadline=None)

INT64 = st.integers(-2**63, 2**63 - 1)
FLOATS = st.floats(allow_nan=False)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80), FLOATS,
                    st.text(max_size=20), st.binary(max_size=20))
HASHABLE = st.recursive(SCALARS, lambda c: st.tuples(c, c) | st.frozensets(c, max_size=4),
                        max_leaves=8)
OBJECTS = st.recursive(
    SCALARS,
    lambda c: st.lists(c, max_size=5) | st.lists(c, max_size=5).map(tuple)
    | st.frozensets(HASHABLE, max_size=5),
    max_leaves=20)


def same(a, b):
    """Equal and of the same types, all the way down (True is not 1, lists are not tuples)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


class Everything:
    __slot_types__ = {
        "i": int, "f": float, "flag": bool, "b": bytes, "s": str, "fs": frozenset,
        "t": tuple, "l": list, "o": object,
    }
    __slots__ = tuple(__slot_types__)

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


EVERYTHING = ms.Schema.from_typed_slots(Everything)
ms.mapped_object.register_schema(Everything, EVERYTHING, b"\x84")


class Node:
    __slot_types__ = {"value": int, "child": None, "items": list, "anything": object}
    __slots__ = tuple(__slot_types__)

    def __init__(self, value=None, child=None, items=None, anything=None):
        self.value, self.child, self.items, self.anything = value, child, items, anything


Node.__slot_types__["child"] = Node       # a struct slot of its own type (resolved lazily)
NODE = ms.Schema.from_typed_slots(Node)
ms.mapped_object.register_schema(Node, NODE, b"\x85")


@SETTINGS
@given(i=st.none() | INT64, f=st.none() | FLOATS, flag=st.none() | st.booleans(),
       b=st.none() | st.binary(), s=st.none() | st.text(),
       fs=st.none() | st.frozensets(HASHABLE, max_size=6),
       t=st.none() | st.lists(OBJECTS, max_size=6).map(tuple),
       l=st.none() | st.lists(OBJECTS, max_size=6), o=OBJECTS)
def test_round_trip_every_slot_type(i, f, flag, b, s, fs, t, l, o):
    obj = Everything(i=i, f=f, flag=flag, b=b, s=s, fs=fs, t=t, l=l, o=o)
    buf = EVERYTHING.pack(obj)
    assert isinstance(buf, bytearray)
    p = EVERYTHING.unpack_from(buf)
    for name in Everything.__slots__:
        assert same(getattr(p, name), getattr(obj, name)), name
    assert p._asdict().keys() == set(Everything.__slots__)


@SETTINGS
@given(o=OBJECTS, offset=st.integers(0, 64))
def test_pack_into_at_offset(o, offset):
    obj = Everything(o=o, s="x", i=7)
    size = len(EVERYTHING.pack(obj))
    buf = bytearray(offset + size + 3)
    assert EVERYTHING.pack_into(obj, buf, offset) == offset + size     # the end: calls chain
    p = EVERYTHING.unpack_from(buf, offset)
    assert same(p.o, o) and p.s == "x" and p.i == 7


def test_spec_example():
    s = Everything(i=3, s="blah", fs=frozenset([1, 3]), o=3)
    buf = bytearray(1000)
    n = EVERYTHING.pack_into(s, buf, 10)
    assert n == 10 + len(EVERYTHING.pack(s))
    p = EVERYTHING.unpack_from(buf, 10)
    assert (p.i, p.s, p.fs, p.o, p.f) == (3, "blah", frozenset([1, 3]), 3, None)
    assert type(p).__name__ == "EverythingProxy"
    assert isinstance(p, ms.StructProxy)


def test_surrogates_nan_and_limits():
    weird = "a\udc80b\ud800"
    obj = Everything(s=weird, o=[weird, float("nan"), 2**200, -2**200, 2**63 - 1, -2**63],
                     i=-2**63, f=float("-inf"))
    p = EVERYTHING.unpack_from(EVERYTHING.pack(obj))
    assert p.s == weird
    assert same(p.o, obj.o)
    assert p.i == -2**63 and p.f == float("-inf")


def test_dicts_and_plain_objects_pack_alike():
    a = EVERYTHING.pack({"i": 1, "s": "x"})
    b = EVERYTHING.pack(types.SimpleNamespace(i=1, s="x"))
    assert a == b


def test_a_dict_key_that_is_no_slot_is_refused():
    for bad in ({"i": 1, "colour": 2}, {3: 1}, {"i": 1, "f": 2.0, "zz": None}):
        with pytest.raises(ValueError, match="not among the slots"):
            EVERYTHING.pack(bad)
    nested = Everything(i=1, l=[1])
    assert EVERYTHING.unpack_from(EVERYTHING.pack({"i": 1, "l": [1]})).i == nested.i


def test_sets_read_back_as_frozensets():
    p = EVERYTHING.unpack_from(EVERYTHING.pack(Everything(fs={1, 2}, o={3})))
    assert p.fs == frozenset({1, 2}) and p.o == frozenset({3})
    assert type(p.o) is frozenset


@pytest.mark.parametrize("slot, value, exc", [
    ("i", 2**63, OverflowError),
    ("i", "1", TypeError),
    ("i", 1.5, TypeError),
    ("f", "x", TypeError),
    ("b", "text", TypeError),
    ("s", b"bytes", TypeError),
    ("t", "abc", TypeError),
    ("o", {"a": object()}, TypeError),
    ("o", object(), TypeError),
    ("l", [{1: object()}], TypeError),
    ("o", {object(): 1}, TypeError),
])
def test_bad_values_raise(slot, value, exc):
    with pytest.raises(exc, match=slot):
        EVERYTHING.pack(Everything(**{slot: value}))


def test_cycles_raise_instead_of_crashing():
    cyc = []
    cyc.append(cyc)
    with pytest.raises(ValueError, match="nested too deeply"):
        EVERYTHING.pack(Everything(o=cyc))
    n = Node(1)
    n.child = n
    with pytest.raises(ValueError, match="nested too deeply"):
        NODE.pack(n)


def test_proxies_of_read_only_buffers_are_read_only():
    p = EVERYTHING.unpack_from(bytes(EVERYTHING.pack(Everything(i=1))))
    with pytest.raises(AttributeError, match="read-only"):
        p.i = 2
    with pytest.raises(AttributeError, match="cannot delete"):
        del p.i
    with pytest.raises(AttributeError):
        p.nope
    q = EVERYTHING.unpack_from(EVERYTHING.pack(Everything(i=1)))
    with pytest.raises(AttributeError, match="cannot be assigned"):
        q.s = "variable-size slots are never assigned"


def test_unbound_proxy_does_not_crash():
    p = EVERYTHING.Proxy.__new__(EVERYTHING.Proxy)
    with pytest.raises(TypeError):
        p.i
    assert "unbound" in repr(p)


def test_nesting_typed_and_object_slots():
    leaf = Everything(i=5, s="leaf")
    tree = Node(1, child=Node(2, items=[leaf, Node(3), 4]), anything=leaf)
    p = NODE.unpack_from(NODE.pack(tree))
    assert p.value == 1 and p.child.value == 2 and p.child.child is None
    items = p.child.items
    assert items[0].i == 5 and items[0].s == "leaf" and isinstance(items[0], ms.StructProxy)
    assert items[1].value == 3 and items[2] == 4
    assert p.anything.s == "leaf"
    assert type(p.anything) is EVERYTHING.Proxy


def test_proxies_repack():
    p = EVERYTHING.unpack_from(EVERYTHING.pack(Everything(i=1, l=[1, "a"])))
    q = EVERYTHING.unpack_from(EVERYTHING.pack(p))
    assert q._asdict() == p._asdict()
    # a proxy in an object slot keeps its struct type
    r = NODE.unpack_from(NODE.pack(Node(anything=p)))
    assert r.anything.l == [1, "a"]


def test_idmap_dedups_shared_objects():
    shared = Everything(s="x" * 100, l=list(range(50)))
    s = "y" * 200
    tree = Node(items=[shared, shared, s, s], child=Node(anything=shared))
    plain = NODE.pack(tree)
    idmap = {}
    dedup = NODE.pack(tree, idmap=idmap)
    assert len(dedup) < len(plain) - 400
    assert idmap
    p = NODE.unpack_from(dedup)
    assert p.items[0].s == p.items[1].s == "x" * 100
    assert p.items[2] == p.items[3] == s
    assert p.child.anything.l == list(range(50))


def test_idmap_across_pack_into_calls():
    shared = "z" * 300
    buf = bytearray(4096)
    idmap = {}
    n1 = EVERYTHING.pack_into(Everything(s=shared), buf, 0, idmap=idmap)
    n2 = EVERYTHING.pack_into(Everything(s=shared), buf, n1, idmap=idmap)
    assert n2 - n1 < 100     # the second record points back at the first one's string
    assert EVERYTHING.unpack_from(buf, n1).s == shared


def test_registration_rules():
    class Other:
        __slot_types__ = {"x": int}
    schema = ms.Schema.from_typed_slots(Other)
    with pytest.raises(TypeError, match="one byte"):
        ms.mapped_object.register_schema(Other, schema, "OO")
    for builtin in (b"q", b"E", b"\x01", b"t"):
        with pytest.raises(ValueError, match="reserved"):
            ms.mapped_object.register_schema(Other, schema, builtin)
    with pytest.raises(ValueError, match="already registered"):
        ms.mapped_object.register_schema(Other, schema, b"\x84")
    mapped = ms.mapped_object.register_schema(Other, schema, "\xf0")     # str: its one byte
    assert mapped.schema is schema and schema.Proxy.__name__ == "OtherProxy"
    assert ms.mapped_object.schema_for_typecode(b"\xf0") is schema
    assert ms.mapped_object.TYPE_CODES[Other] == b"\xf0"
    assert ms.mapped_object.register_schema(Other, schema, b"\xf0") is mapped    # again: the same
    with pytest.raises(ValueError, match="already registered"):
        ms.mapped_object.register_schema(Other, ms.Schema.from_typed_slots(Other), b"\xf0")


def test_unregistered_struct_slot_type():
    class Unregistered:
        __slot_types__ = {"x": int}

    schema = ms.Schema.from_typed_slots({"u": Unregistered})
    with pytest.raises(TypeError, match="no registered schema"):
        schema.pack({"u": Unregistered()})


def test_invalid_schemas():
    with pytest.raises(ValueError):
        ms.Schema.from_typed_slots({"__class__": int})
    with pytest.raises(TypeError):
        ms.Schema.from_typed_slots({"x": 3})


def test_proxy_into_reuse():
    bufs = [EVERYTHING.pack(Everything(i=i)) for i in range(3)]
    p = EVERYTHING.unpack_from(bufs[0])
    for i, b in enumerate(bufs):
        q = EVERYTHING.unpack_from(b, proxy_into=p)
        assert q is p and p.i == i
    with pytest.raises(TypeError):
        NODE.unpack_from(NODE.pack(Node(1)), proxy_into=p)


def test_buffer_stays_exported_while_proxies_live():
    buf = EVERYTHING.pack(Everything(s="x"))
    p = EVERYTHING.unpack_from(buf)
    with pytest.raises(BufferError):
        buf.extend(b"more")           # would move the bytes under the proxy
    m = mmap.mmap(-1, len(buf))
    m[:] = buf
    q = EVERYTHING.unpack_from(m)
    with pytest.raises(BufferError):
        m.close()
    assert q.s == "x"
    del p, q


def test_truncated_buffers_raise():
    buf = bytes(EVERYTHING.pack(Everything(i=1, s="hello", l=[1, "x", (2, 3)], o=[1.5, "y"])))
    for n in range(len(buf)):
        try:
            p = EVERYTHING.unpack_from(buf[:n])
            p._asdict()
        except ms.CorruptedBufferError:
            pass
        else:
            pytest.fail(f"truncated to {n} bytes read without an error")
    with pytest.raises(ms.CorruptedBufferError):
        EVERYTHING.unpack_from(buf, len(buf) + 5)
    with pytest.raises(ms.CorruptedBufferError):
        EVERYTHING.unpack_from(buf, -1)


def test_pack_into_too_small():
    with pytest.raises(IndexError, match="too small"):
        EVERYTHING.pack_into(Everything(s="x" * 50), memoryview(bytearray(10)), 0)
    grown = bytearray(10)       # a bytearray grows, as upstream's do
    end = EVERYTHING.pack_into(Everything(s="x" * 50), grown, 4)
    assert len(grown) == end and EVERYTHING.unpack_from(grown, 4).s == "x" * 50
    with pytest.raises((TypeError, BufferError)):
        EVERYTHING.pack_into(Everything(i=1), b"read-only" * 10, 0)


def test_layout_is_independent_of_slot_order():
    a = ms.Schema.from_typed_slots({"x": int, "y": str})
    b = ms.Schema.from_typed_slots({"y": str, "x": int})
    assert a.pack({"x": 1, "y": "z"}) == b.pack({"x": 1, "y": "z"})
    assert a.slot_names == ("x", "y")
