"""sharedbuffers value types: sized numbers, dates, decimals, dicts, buffers, arrays;
unset against None; schema pickling and compatibility; writable proxies."""
import datetime
import decimal
import os
import pickle
import struct
import time
from contextlib import contextmanager

import numpy
import pytest
from hypothesis import given, settings, strategies as st

from sharedbuffers import mapped_struct as ms

SETTINGS = settings(max_examples=60, deadline=None)

SIZED = {  # slot type: (min, max)
    ms.ubyte: (0, 2**8 - 1), ms.byte: (-2**7, 2**7 - 1), ms.ushort: (0, 2**16 - 1),
    ms.short: (-2**15, 2**15 - 1), ms.uint32: (0, 2**32 - 1), ms.int32: (-2**31, 2**31 - 1),
    ms.uint64: (0, 2**64 - 1), ms.int64: (-2**63, 2**63 - 1), int: (-2**63, 2**63 - 1),
}
NUMBERS = ms.Schema.from_typed_slots({t.__name__: t for t in SIZED})


@contextmanager
def local_zone(tz):
    old = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


@SETTINGS
@given(st.data())
def test_sized_numbers_round_trip(data):
    values = {t.__name__: data.draw(st.integers(lo, hi)) for t, (lo, hi) in SIZED.items()}
    p = NUMBERS.unpack(NUMBERS.pack(values))
    assert p._asdict() == values


@pytest.mark.parametrize("typ", list(SIZED))
def test_sized_numbers_refuse_out_of_range(typ):
    lo, hi = SIZED[typ]
    schema = ms.Schema.from_typed_slots({"x": typ})
    for bad in (lo - 1, hi + 1):
        with pytest.raises(OverflowError, match="slot 'x'"):
            schema.pack({"x": bad})
        with pytest.raises(struct.error):          # what upstream raised
            schema.pack({"x": bad})
    with pytest.raises(TypeError):
        schema.pack({"x": "1"})
    with pytest.raises(struct.error):
        schema.pack({"x": 1.5})


def test_sized_slots_are_smaller():
    small = ms.Schema.from_typed_slots({"a": ms.ubyte, "b": ms.int16, "c": ms.float32})
    big = ms.Schema.from_typed_slots({"a": int, "b": int, "c": float})
    assert small.fixed_size == 2 + 1 + 2 + 4 and big.fixed_size == 2 + 24
    p = small.unpack(small.pack({"a": 255, "b": -300, "c": 0.1}))
    assert (p.a, p.b) == (255, -300) and p.c == pytest.approx(0.1, rel=1e-7) and p.c != 0.1


def test_unset_and_none_differ():
    schema = ms.Schema.from_typed_slots({"a": int, "s": str, "o": object, "d": datetime.date})
    p = schema.unpack(schema.pack({"a": None, "s": "x"}))
    assert p.a is None and p.s == "x"
    for name in ("o", "d"):
        assert not hasattr(p, name)
        with pytest.raises(AttributeError, match="not set"):
            getattr(p, name)
    assert p._asdict() == {"a": None, "s": "x"}


# -- dates and time zones

DATETIMES = st.datetimes(min_value=datetime.datetime(1900, 1, 2), max_value=datetime.datetime(2200, 1, 1))
ZONES = st.sampled_from(["UTC", "GMT-3", "GMT+5", "America/Argentina/Buenos_Aires", "Asia/Kolkata"])
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: datetime.timezone(datetime.timedelta(minutes=m)))


@SETTINGS
@given(DATETIMES, OFFSETS, ZONES, ZONES)
def test_datetimes_across_time_zones(naive, tz, zone_in, zone_out):
    aware = naive.replace(tzinfo=tz)
    schema = ms.Schema.from_typed_slots({
        "naive": datetime.datetime, "local": ms.mapped_datetime_local, "utc": ms.mapped_datetime_utc,
        "tz": ms.mapped_datetime_tz, "aware": datetime.datetime, "day": datetime.date, "o": object})
    with local_zone(zone_in):
        buf = schema.pack({"naive": naive, "local": naive, "utc": naive, "tz": aware, "aware": aware,
                           "day": naive.date(), "o": [naive, aware, naive.date()]})
        instant = naive.astimezone(datetime.timezone.utc)      # naive means local time
    with local_zone(zone_out):
        p = schema.unpack(buf)
        assert p.naive.tzinfo is None and p.naive.astimezone(datetime.timezone.utc) == instant
        assert p.local == instant and p.local.utcoffset() == p.local.astimezone().utcoffset()
        assert p.utc == naive.replace(tzinfo=datetime.timezone.utc) and p.utc.tzname() == "UTC"
        assert p.tz == aware and p.tz.utcoffset() == tz.utcoffset(None)
        assert p.aware.astimezone(datetime.timezone.utc) == aware   # the instant of an aware value
        assert p.day == naive.date()
        o_naive, o_aware, o_day = p.o
        assert o_naive.astimezone(datetime.timezone.utc) == instant
        assert o_aware == aware and o_aware.utcoffset() == tz.utcoffset(None)   # object slots keep offsets
        assert o_day == naive.date()


def test_datetime_tz_names_like_upstream():
    buf = bytearray(16)
    for minutes, name in ((180, "UTC+3"), (-180, "UTC-3"), (0, "UTC"), (330, "UTC+5:30")):
        tz = datetime.timezone(datetime.timedelta(minutes=minutes))
        end = ms.mapped_datetime_tz.pack_into(datetime.datetime(2023, 1, 10, 11, tzinfo=tz), buf, 2)
        assert end == 12                        # 10 bytes
        assert ms.mapped_datetime_tz.unpack_from(buf, 2).tzname() == name


# -- decimals, dicts, buffers, arrays

@SETTINGS
@given(st.decimals(allow_nan=False) | st.sampled_from([decimal.Decimal("NaN"), decimal.Decimal("-0.000")]))
def test_decimals_keep_their_digits(d):
    buf = bytearray(200)
    end = ms.mapped_decimal.pack_into(d, buf, 3)
    assert str(ms.mapped_decimal.unpack_from(buf, 3)) == str(d) and end > 3


KEYS = st.recursive(st.none() | st.integers(-2**63, 2**64) | st.floats(allow_nan=False) | st.text(max_size=5)
                    | st.binary(max_size=5),
                    lambda c: st.tuples(c, c) | st.frozensets(c, max_size=3), max_leaves=5)
VALUES = st.recursive(st.none() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                      lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                      max_leaves=8)


@SETTINGS
@given(st.dictionaries(KEYS, VALUES, max_size=12), st.lists(KEYS, max_size=6))
def test_dicts_match_builtin(d, probes):
    schema = ms.Schema.from_typed_slots({"d": dict, "p": ms.proxied_dict, "o": object})
    p = schema.unpack(schema.pack({"d": d, "p": d, "o": d}))
    assert p.d == d and type(p.d) is dict and p.o == d
    proxied = p.p
    assert isinstance(proxied, ms.proxied_dict) and proxied == d and len(proxied) == len(d)
    assert set(proxied.keys()) == set(d) and len(proxied.keys()) == len(d)
    for k in list(d) + probes:
        assert (k in proxied) == (k in d)
        assert proxied.get(k, "missing") == d.get(k, "missing")
    with pytest.raises(TypeError):
        proxied["x"] = 1


def test_dict_keys_equal_across_number_types():
    buf = bytearray(64)
    ms.proxied_dict.pack_into({1: "one"}, buf, 3)
    c = ms.proxied_dict.unpack_from(buf, 3)
    d = {1: "one"}
    assert c[1.0] == c[True] == d[1.0] == "one"


def test_buffers_read_without_copying():
    data = bytearray(range(100))
    schema = ms.Schema.from_typed_slots({"b": memoryview, "o": object})
    buf = schema.pack({"b": data, "o": memoryview(b"xyz")})
    p = schema.unpack(buf)
    assert isinstance(p.b, memoryview) and p.b == data and p.b.readonly and p.o == b"xyz"
    offset = bytes(buf).index(bytes(data))
    buf[offset] = 99                        # the view is the packed bytes themselves
    assert p.b[0] == 99
    end = ms.proxied_buffer.pack_into(b"abc", bytearray(20), 4)
    assert end == 4 + 8 + 3


@pytest.mark.parametrize("value, dtype", [
    ([], None), ([[1, 2], [3, 4]], "<i2"), (["a", "", "abc"], None), ([1.5, -2], ">f8"),
    ([("Rex", 9, 81.0), ("Fido", 3, 27.5)], [("name", "U10"), ("age", "i4"), ("weight", "f4")]),
])
def test_ndarrays_round_trip(value, dtype):
    arr = numpy.array(value, dtype)
    buf = bytearray(1024)
    ms.proxied_ndarray.pack_into(arr, buf, 5)
    out = ms.proxied_ndarray.unpack_from(buf, 5)
    assert out.dtype == arr.dtype and out.shape == arr.shape and numpy.array_equal(out, arr)
    assert numpy.dtype(ms.proxied_ndarray._make_dtype_params(arr.dtype)) == arr.dtype
    with pytest.raises(TypeError, match="objects"):
        ms.proxied_ndarray.pack_into(numpy.array([object()]), buf, 0)


# -- RTTI: every type in object slots and containers

OBJECTS = [1, -1, 255, -129, 70000, 2**63, -2**70, 2**64 - 1, True, 2.5, ms.float32(1.5), "é", b"b",
           (1, "a"), [1, [2]], frozenset([1, 2]), {"a": {1: 2}}, datetime.date(2020, 2, 29),
           decimal.Decimal("1.10"), None]


@pytest.mark.parametrize("value", OBJECTS, ids=repr)
def test_object_values_round_trip(value):
    buf = bytearray(64)
    end = ms.mapped_object.pack_into(value, buf, 1)
    got = ms.mapped_object.unpack_from(buf, 1)
    assert got == value and type(got) in (type(value), float) and end > 1


def test_small_ints_take_small_codes():
    assert ms.mapped_object.pack_into(5, bytearray(16), 0) == 2
    assert ms.mapped_object.pack_into(-30000, bytearray(16), 0) == 3
    assert ms.mapped_object.pack_into(2**40, bytearray(16), 0) == 9
    assert len(ms.Schema.from_typed_slots({"t": tuple}).pack({"t": tuple(range(200))})) < 2 + 8 + 4 + 200


# -- schemas: pickling, compatibility, proxy bases, writable proxies

class Behaviour:
    def double(self):
        return 2 * self.a


def test_schema_pickles_with_user_data_and_bases():
    schema = ms.Schema.from_typed_slots({"a": int, "t": ms.proxied_tuple}, user_data={"v": 1})
    schema.set_proxy_bases((Behaviour,))
    copy = pickle.loads(pickle.dumps(schema))
    assert copy.compatible(schema) and schema.compatible(copy) and copy.user_data == {"v": 1}
    p = copy.unpack(schema.pack({"a": 21, "t": (1, 2)}))
    assert isinstance(p, Behaviour) and p.double() == 42 and p.t == (1, 2)
    assert not schema.compatible(ms.Schema.from_typed_slots({"a": ms.int32, "t": ms.proxied_tuple}))


def test_proxies_pickle_and_compare():
    schema = ms.Schema.from_typed_slots({"a": int, "l": list})
    p = schema.unpack(schema.pack({"a": 1, "l": [1, "x"]}))
    q = pickle.loads(pickle.dumps(p))
    assert q == p and q.l == [1, "x"] and hash(q) == hash(p)
    assert p != schema.unpack(schema.pack({"a": 2, "l": [1, "x"]}))


def test_writable_proxies():
    schema = ms.Schema.from_typed_slots({"u": ms.ubyte, "i": int, "f": float, "d": datetime.date, "s": str})
    buf = schema.pack({"u": 250, "i": 1, "f": 0.5, "s": "x"})
    p = schema.unpack(buf)
    p.d = datetime.date(2000, 1, 1)     # an unset slot becomes set
    p.i = None
    assert (p.d, p.i) == (datetime.date(2000, 1, 1), None)
    p.i = 7
    field = type(p).u
    assert field.add(p, 10) == 4 and p.u == 4          # wraps at the slot's width
    assert field.cas(p, 4, 9) and not field.cas(p, 4, 1) and p.u == 9
    assert type(p).f.cas(p, 0.5, -0.0) and type(p).f.add(p, 1.25) == 1.25
    with pytest.raises(OverflowError):
        p.u = 256
    with pytest.raises(TypeError, match="not numeric"):
        type(p).d.add(p, 1)
    assert schema.unpack(buf)._asdict() == {"u": 9, "i": 7, "f": 1.25, "d": datetime.date(2000, 1, 1),
                                            "s": "x"}


def test_registration_with_str_typecodes_and_reregistration():
    class Thing:
        __slot_types__ = {"x": int}
    schema = ms.Schema.from_typed_slots(Thing)
    mapped = ms.mapped_object.register_schema(Thing, schema, "\xf1")
    outer = ms.Schema.from_typed_slots({"t": Thing, "o": object})
    thing = Thing()
    thing.x = 3
    p = outer.unpack(outer.pack({"t": thing, "o": [thing]}))
    assert p.t.x == 3 and p.o[0].x == 3
    assert mapped.unpack_from(mapped.schema.pack(thing), 0).x == 3
    # upstream's tests unregister by popping the tables, then register anew
    ms.mapped_object.TYPE_CODES.pop(Thing)
    ms.mapped_object.OBJ_PACKERS.pop("\xf1")
    again = ms.mapped_object.register_schema(Thing, ms.Schema.from_typed_slots(Thing), b"\xf1")
    assert again.schema is not schema


# -- every type, nested: what was packed is what a proxy returns

LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False), st.text(max_size=4),
    st.binary(max_size=4), st.dates(), st.decimals(allow_nan=False, places=3),
    DATETIMES.map(lambda d: d.replace(tzinfo=datetime.timezone(datetime.timedelta(minutes=d.minute - 30)))))
HASHABLE = st.recursive(st.none() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=3),
                        lambda c: st.tuples(c, c) | st.frozensets(c, max_size=3), max_leaves=4)
NESTED = st.recursive(LEAVES, lambda c: st.lists(c, max_size=4) | st.lists(c, max_size=4).map(tuple)
                      | st.dictionaries(HASHABLE, c, max_size=4) | st.frozensets(HASHABLE, max_size=4),
                      max_leaves=15)
NESTED_SCHEMA = ms.Schema.from_typed_slots({
    "o": object, "l": list, "pl": ms.proxied_list, "d": dict, "pd": ms.proxied_dict})


def plain(v):
    """v with proxied collections turned into the builtins they stand for."""
    if isinstance(v, ms.proxied_tuple):
        return tuple(plain(x) for x in v)
    if isinstance(v, (list, ms.proxied_list)):
        return [plain(x) for x in v]
    if isinstance(v, tuple):
        return tuple(plain(x) for x in v)
    if isinstance(v, (dict, ms.proxied_dict)):
        return {k: plain(x) for k, x in v.items()}
    return v


@SETTINGS
@given(NESTED, st.lists(NESTED, max_size=4), st.dictionaries(HASHABLE, NESTED, max_size=4))
def test_nested_values_round_trip(o, items, d):
    p = NESTED_SCHEMA.unpack(NESTED_SCHEMA.pack({"o": o, "l": items, "pl": items, "d": d, "pd": d}))
    assert p.o == o and plain(p.o) == o
    assert p.l == items and plain(p.pl) == items
    assert p.d == d and plain(p.pd) == d
