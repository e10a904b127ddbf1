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
    elif isinstance(v, (list, tuple, frozenset)):
        for x in v:
            touch(x, depth + 1)

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

samples = [
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
    except (ValueError, TypeError, KeyError, OverflowError) as e:
        errors[type(e).__name__] += 1
# a truncated file
path = os.path.join(tempfile.mkdtemp(dir=sys.argv[3]), "t.bin")
with open(path, "wb") as f:
    f.write(samples[1][0][:100])
try:
    touch(list(Arr.map_file(path)))
except ValueError as e:
    errors["file:" + type(e).__name__] += 1
print(dict(errors))
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_corrupted_inputs_raise_exceptions(seed, tmpdir_shm):
    proc = run_python(FUZZ, str(seed), "1500", tmpdir_shm, timeout=300)
    assert_no_signal(proc)
    assert proc.returncode == 0, proc.stderr
    counts = eval(proc.stdout)
    assert counts.get("CorruptedBufferError", 0) > 100
    assert counts.get("file:CorruptedBufferError") == 1
