"""Corrupted and truncated sharedbuffers data gives exceptions, never a crash.

The reading runs in a child interpreter: a bad read there would be a death by
signal, which the parent reports."""
import pytest


from support import ROOT, assert_no_signal, run_python

FUZZ = r"""
import io, random, sys, collections, tempfile, os
from sharedbuffers import mapped_struct as ms

class Leaf:
    __slot_types__ = {"n": int, "s": str, "b": bytes, "o": object}
    def __init__(self, **kw):
        self.__dict__.update(kw)
LEAF = ms.Schema.from_typed_slots(Leaf)
ms.mapped_object.register_schema(Leaf, LEAF, b"\x82")

class Rec:
    __slot_types__ = {"i": int, "f": float, "flag": bool, "s": str, "b": bytes, "t": tuple,
                      "l": list, "fs": frozenset, "o": object, "leaf": Leaf}
REC = ms.Schema.from_typed_slots(Rec)

# every value type of upstream 1.2.3's API, as slots and in object slots
import datetime, decimal
import numpy
WIDE_TYPES = {
    "u8": ms.ubyte, "i8": ms.byte, "u16": ms.uint16, "i16": ms.int16, "u32": ms.uint32,
    "i32": ms.int32, "u64": ms.uint64, "i64": ms.int64, "f32": ms.float32, "f64": ms.float64,
    "dt": datetime.datetime, "dtl": ms.mapped_datetime_local, "dtu": ms.mapped_datetime_utc,
    "dtz": ms.mapped_datetime_tz, "dtzl": ms.mapped_datetime_tz_local, "d": datetime.date,
    "dec": decimal.Decimal, "dict": dict, "pdict": ms.proxied_dict, "plist": ms.proxied_list,
    "ptuple": ms.proxied_tuple, "pfs": ms.proxied_frozenset, "buf": ms.proxied_buffer,
    "nd": ms.proxied_ndarray, "o": object, "o2": object,
}
WIDE = ms.Schema.from_typed_slots(WIDE_TYPES)
NOW = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456)

def wide(i):
    tz = datetime.timezone(datetime.timedelta(minutes=90 * (i % 3 - 1)))
    return {"u8": 200 + i, "i8": -100 - i, "u16": 60000 + i, "i16": -30000 + i, "u32": 4 * 10**9 + i,
            "i32": -2 * 10**9 + i, "u64": 2**64 - 1 - i, "i64": -2**63 + i, "f32": 1.5 * i, "f64": i / 3,
            "dt": NOW, "dtl": NOW, "dtu": NOW, "dtz": NOW.replace(tzinfo=tz), "dtzl": NOW,
            "d": NOW.date(), "dec": decimal.Decimal("-12.3456") * i,
            "dict": {"a": i, 1: [1.5, None], (1, "x"): frozenset([2, 3]), None: {"n": b"b"}},
            "pdict": {i: "v%d" % i, "k": (1, 2), 2.5: [True]},
            "plist": [i, -70000, 2**40, "s", None, [1, 2], {"d": 1}],
            "ptuple": tuple(range(-3, 300, 7)), "pfs": frozenset(range(0, 500, 3 + i)),
            "buf": bytes(range(40 + i)), "nd": numpy.arange(12, dtype="<i4").reshape(3, 4) * i,
            "o": [NOW, NOW.replace(tzinfo=tz), NOW.date(), decimal.Decimal(i), memoryview(b"mv"),
                  numpy.array([(1, 2.5)], dtype=[("a", "<i2"), ("b", "<f8")]), ms.float32(2.5)],
            "o2": {"x": {1: (2, frozenset([3.5, 4.5]))}, "y": [2**70, -2**70, 255, -129, 70000]}}

class Arr(ms.MappedArrayProxyBase):
    schema = REC
class Names(ms.MappedMultiMappingProxyBase):
    IdMapper = ms.StringIdMultiMapper
    ValueArray = Arr
class Approx(ms.MappedMultiMappingProxyBase):
    IdMapper = ms.ApproxStringIdMultiMapper
    ValueArray = Arr
class Ids(ms.MappedMappingProxyBase):
    IdMapper = ms.NumericIdMapper
    ValueArray = Arr

def rec(i):
    leaf = Leaf(n=i, s="leaf%d" % i, b=b"x" * (i % 7), o=[i, "y", (1.5, None)])
    return {"i": i, "f": i / 7, "flag": i % 2 == 0, "s": "é%d" % i, "b": bytes(range(i % 20)),
            "t": (i, "a", [1, 2]), "l": [1.5, 2.5], "fs": frozenset([i, "k"]),
            "o": {0: None, 1: 2**70, 2: [True, b"z"], 3: leaf}[i % 4], "leaf": leaf}

def touch(v, depth=0):
    if depth > 6:
        return
    if isinstance(v, ms.StructProxy):
        for x in v._asdict().values():
            touch(x, depth + 1)
    elif isinstance(v, (list, tuple, frozenset, ms.proxied_list, ms.proxied_frozenset)):
        for x in v:
            touch(x, depth + 1)
        if isinstance(v, ms.proxied_list) and len(v):
            touch(v[len(v) // 2], depth + 1)
            touch(v[1::3], depth + 1)
            1 in v
        if isinstance(v, ms.proxied_frozenset):
            (3 in v, 3.5 in v, "k" in v)
    elif isinstance(v, (dict, ms.proxied_dict)):
        for k in list(v)[:20]:
            touch(k, depth + 1)
            touch(v.get(k), depth + 1)
        (1 in v, "k" in v, None in v, (1, "x") in v)
    elif isinstance(v, (memoryview, numpy.ndarray)):
        bytes(v) if isinstance(v, memoryview) else v.tobytes()

def read_wide(buf):
    touch(WIDE.unpack_from(buf, 0))

class WideArr(ms.MappedArrayProxyBase):
    schema = WIDE

def read_wide_array(buf):
    for p in ms.MappedArrayProxyBase.map_buffer(buf):      # the embedded schema
        touch(p)

def read_values(buf):
    for cls in (ms.proxied_list, ms.proxied_tuple, ms.proxied_frozenset, ms.proxied_dict,
                ms.mapped_list, ms.mapped_dict, ms.mapped_frozenset, ms.proxied_buffer,
                ms.proxied_ndarray, ms.mapped_decimal, ms.mapped_date, ms.mapped_datetime,
                ms.mapped_datetime_tz, ms.mapped_object):
        try:
            touch(cls.unpack_from(buf, 0))
        except (ValueError, TypeError, KeyError, OverflowError, AttributeError, IndexError):
            pass

MAPPERS = (ms.NumericId32Mapper, ms.StringId32MultiMapper, ms.ApproxStringId32MultiMapper,
           ms.ObjectIdMapper, ms.StringIdMapper)

def read_mappers(buf):
    for cls in MAPPERS:
        try:
            m = cls.map_buffer(buf)
        except (ValueError, TypeError):
            continue
        for k, v in list(m.items())[:40]:
            m.get(k)
        for k in (0, 7, "k3", b"k3", (1, "a"), None, 2.5):
            m.get(k)

def read_struct(buf):
    touch(REC.unpack_from(buf, 0))

def read_array(buf):
    a = Arr.map_buffer(buf)
    for p in a:
        touch(p)

def read_names(buf, classes=(Names, Approx)):
    for cls in classes:
        m = cls.map_buffer(buf)
        for k in list(m.keys())[:50]:
            touch(m.get(k))
        for k, v in list(m.items())[:50]:
            touch(v)
        for k in ("k1", "k2", "nope"):
            touch(m.get(k))

def read_approx(buf):
    read_names(buf, (Approx,))

def read_ids(buf):
    m = Ids.map_buffer(buf)
    for k, v in list(m.items())[:50]:
        touch(v)
    for k in (0, 1, 5, 2**40):
        touch(m.get(k))

def built(writer_cls, items):
    out = io.BytesIO()
    writer_cls._write(out, items)
    return out.getvalue()

def mapper_bytes(cls, items):
    out = io.BytesIO()
    cls._write(out, items)
    return out.getvalue()

values_buf = bytearray()
samples = [
    (bytes(WIDE.pack(wide(2))), read_wide),
    (built(WideArr, [wide(i) for i in range(3)]), read_wide_array),
    (bytes(ms.proxied_dict.pack_into(wide(1)["dict"], values_buf, 0) and values_buf), read_values),
    (mapper_bytes(ms.ObjectIdMapper, [((i, "a"), i) for i in range(9)] + [(None, 1), ("k3", 2), (2.5, 3)]),
     read_mappers),
    (mapper_bytes(ms.StringId32MultiMapper, [("k%d" % (i % 4), i) for i in range(20)]), read_mappers),
    (bytes(REC.pack(rec(3))), read_struct),
    (built(Arr, [rec(i) for i in range(12)] + [None]), read_array),
    (built(Names, [("k%d" % (i % 5), rec(i)) for i in range(12)]), read_names),
    (built(Approx, [("k%d" % (i % 5), rec(i)) for i in range(12)]), read_approx),
    (built(Ids, [(i * 3, rec(i)) for i in range(12)]), read_ids),
]
for good, reader in samples:
    reader(good)            # the intact data reads fine

rng = random.Random(int(sys.argv[1]))
errors = collections.Counter()
for n in range(int(sys.argv[2])):
    good, reader = rng.choice(samples)
    mode = rng.randrange(4)
    if mode == 0:        # truncation
        data = good[:rng.randrange(len(good))]
    elif mode == 1:      # a few flipped bytes
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data)
    elif mode == 2:      # a random run of bytes
        data = bytearray(good)
        at = rng.randrange(len(data))
        data[at:at + 16] = os.urandom(16)
        data = bytes(data[:len(good)])
    else:                # random bytes
        data = os.urandom(rng.randrange(1, 400))
    try:
        reader(data)
    except (ValueError, TypeError, KeyError, OverflowError, AttributeError, IndexError) as e:
        # AttributeError: a damaged presence bit reads as a slot never set
        errors[type(e).__name__] += 1
# a truncated file
path = os.path.join(tempfile.mkdtemp(dir=sys.argv[3]), "t.bin")
with open(path, "wb") as f:
    f.write(built(Arr, [rec(i) for i in range(12)] + [None])[:100])
try:
    touch(list(Arr.map_file(path)))
except ValueError as e:
    errors["file:" + type(e).__name__] += 1
print(dict(errors))
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_corrupted_inputs_raise_exceptions(seed, tmpdir_shm):
    proc = run_python(FUZZ, str(seed), "2500", tmpdir_shm, timeout=300)
    assert_no_signal(proc)
    assert proc.returncode == 0, proc.stderr
    counts = eval(proc.stdout)
    assert counts.get("CorruptedBufferError", 0) > 100
    assert counts.get("file:CorruptedBufferError") == 1
