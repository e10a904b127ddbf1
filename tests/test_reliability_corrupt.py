"""Corrupted and foreign files across the three packages: each gives a clear
exception or, where the damage is undetectable, a normal run; never a death by
a signal or a hang.  Everything that could crash runs in a child interpreter
(tests/corruption.py)."""
import gzip
import os

import pytest

import corruption
import torture
from pmemobj import _core, _metadata_check
from support import TESTS, assert_no_signal, run_python

FORMAT_DAMAGE = ("header", "truncate", "zero_range")


def test_damaged_headers_truncation_and_zeroed_ranges(tmpdir_shm):
    """Damage the pool format checks catch: nothing dies, nothing hangs."""
    r = corruption.campaign(tmpdir_shm, count=100, seed=11, kinds=FORMAT_DAMAGE)
    assert r["tried"] == 100
    assert r["failures"] == [], r
    assert r["outcomes"].get("InvalidPoolError", 0) > 20, r       # most damage is detected


def test_random_damage_in_heap_and_object_data(tmpdir_shm):
    r = corruption.campaign(tmpdir_shm, count=50, seed=7)
    assert r["failures"] == [], r["failures"]


# ---------------------------------------------------------------------------
# Damage that makes libpmemobj itself die or hang in pmemobj_open/pmemobj_check:
# the core's check of libpmemobj's metadata (pmemobj/_metadata_check.py) must
# refuse each one before libpmemobj sees the file.

PLAIN = os.path.join(TESTS, "data", "plain16.pool.gz")   # a 16 MiB pool after some work (data/make_sample.py)
LANES = 8192            # 1024 lanes of 3072 bytes: redo logs at +0 and +256, undo log at +960
CHUNK_HEADERS = 0x302440  # zone 0's chunk headers; chunk i's at + 8 * i
CHUNKS = 0x382400       # zone 0's chunks of 256 KiB (runs of one chunk, the type table's in
                        # chunk 1; a run of chunks 4-16; lane 0's undo log has an extension
                        # in the run of chunk 25)
LIBPMEMOBJ_KILLERS = {  # name: [(offset, bytes)], what libpmemobj 1.12 does with it
    "log_next": ([(LANES + 1000 * 3072 + 8 + 7, "01")], "follows a log's next pointer: SIGSEGV"),
    "undo_entry": ([(LANES + 500 * 3072 + 960 + 64 + 5, "d2")], "applies an undo entry far out: SIGSEGV"),
    "undo_buffer_size": ([(LANES + 960 + 64 + 16 + 7, "45")], "checksums a huge entry: SIGSEGV"),
    "redo_entry_type": ([(LANES + 33 * 3072 + 256 + 64 + 7, "7e")], "an entry of size 0: endless loop"),
    "run_block_size": ([(CHUNKS + 25 * 0x40000, "0000000000000000")], "frees the undo extension: SIGFPE"),
    "zone_size": ([(0x302404, "01")], "frees the undo extension: SIGFPE"),
    "run_data_size_zero": ([(CHUNK_HEADERS + 16 * 8 + 4, "00")], "a run's data chunk, trusted by the heap walk"),
    "run_data_size": ([(CHUNK_HEADERS + 16 * 8 + 4, "ff")], "a run's data chunk, trusted by the heap walk"),
    "chunk_size_zero": ([(CHUNK_HEADERS + 1 * 8 + 4, "00")], "heap_check: endless loop"),
    "chunk_flags": ([(CHUNK_HEADERS + 1 * 8 + 2, "04")], "sizes objects with a header they lack: SIGSEGV"),
}


def damaged_sample(directory, patches):
    path = os.path.join(directory, "damaged.pool")
    data = bytearray(gzip.open(PLAIN).read())
    for at, hexbytes in patches:
        b = bytes.fromhex(hexbytes)
        data[at:at + len(b)] = b
    with open(path, "wb") as f:
        f.write(data)
    return path


OPEN_AND_CHECK = r"""
import sys, pmemobj
for what in ("check", "open"):
    try:
        if what == "check":
            pmemobj.check_file(sys.argv[1])
        else:
            pmemobj.open(sys.argv[1]).close()
        print(what, "opened")
    except pmemobj.InvalidPoolError as e:
        print(what, "refused:", e)
"""


needs_metadata_check = pytest.mark.skipif(
    not _metadata_check.covers(_core.LIBPMEMOBJ_VERSION),
    reason=f"the metadata check does not know libpmemobj {_core.LIBPMEMOBJ_VERSION}")


def test_the_undamaged_sample_opens(tmpdir_shm):
    proc = run_python(OPEN_AND_CHECK, damaged_sample(tmpdir_shm, []), timeout=60)
    assert proc.stdout.split("\n")[:2] == ["check opened", "open opened"], (proc.stdout, proc.stderr)


@needs_metadata_check
@pytest.mark.parametrize("name", sorted(LIBPMEMOBJ_KILLERS))
def test_damage_that_kills_libpmemobj_is_refused_first(tmpdir_shm, name):
    path = damaged_sample(tmpdir_shm, LIBPMEMOBJ_KILLERS[name][0])
    proc = run_python(OPEN_AND_CHECK, path, timeout=60, env={"PMEMOBJ_OPEN_TIMEOUT": "20"})
    assert_no_signal(proc)
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all(" refused: " in ln and "damaged pool" in ln for ln in lines), \
        (proc.stdout, proc.stderr)


CORE_CHECKS = r"""
import sys, pmemobj
try:
    with pmemobj.open(sys.argv[1]) as pool:
        pool.gc()                   # walks the heap
    print("opened")
except pmemobj.InvalidPoolError as e:
    print("refused:", e)
"""


@pytest.mark.parametrize("patches", [
    LIBPMEMOBJ_KILLERS["chunk_flags"][0],               # sizing an allocation (the type table's)
    [(CHUNK_HEADERS + 5 * 8, "0000")],                  # a run's chunk header (gc's heap walk aborts)
], ids=["chunk_flags", "run_data_type"])
def test_the_core_checks_what_libpmemobj_reads_after_open(tmpdir_shm, patches):
    """Behind the metadata check (switched off here), the core's own checks of
    the heap headers libpmemobj reads after a successful open."""
    path = damaged_sample(tmpdir_shm, patches)
    proc = run_python(CORE_CHECKS, path, timeout=60, env={"PMEMOBJ_METADATA_CHECK": "0"})
    assert_no_signal(proc)
    assert proc.stdout.startswith("refused: ") and "damaged pool" in proc.stdout, (proc.stdout, proc.stderr)


REPRO_TYPE_ID = r"""
import struct, sys, pmemobj
path = sys.argv[1]
with pmemobj.create(path) as pool:
    root = pool.root = pool.new(pmemobj.PersistentList)
    root.append(pool.new(pmemobj.PersistentDict))
    inner = root[0]._p_oid[1]
    del root
with open(path, "r+b") as f:             # pyp_header_t.type_id of the inner dict
    f.seek(inner + 8)
    f.write(struct.pack("<Q", 0xF000000000000000))
with pmemobj.open(path) as pool:
    try:
        pool.root[0]
    except pmemobj.InvalidPoolError:
        print("clean")
"""


def test_huge_type_id_gives_an_exception(pool_path):
    proc = run_python(REPRO_TYPE_ID, pool_path, timeout=60)
    assert_no_signal(proc)
    assert proc.stdout.strip() == "clean", proc.stderr


REPRO_OPEN = r"""
import sys, pmemobj
try:
    pmemobj.check_file(sys.argv[1])
    pmemobj.open(sys.argv[1]).close()
except OSError as e:
    print("clean", type(e).__name__)
else:
    print("undetected")
"""


def damaged_source(directory, which, at, data):
    if which == "pool":
        path = os.path.join(directory, "source.pool")
        torture.create(path)
        torture.work(path, 1, 300, quiet=True)
    else:
        path = os.path.join(directory, "source.storage")
        torture.create_storage_file(path)
        torture.work_storage_file(path, 1, 300)
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(data)
    return path


def test_heap_damage_that_hangs_libpmemobj(tmpdir_shm):
    path = damaged_source(tmpdir_shm, "storage", 2223173, bytes.fromhex("79aa892326bcef"))
    try:
        # libpmemobj loops forever in pmemobj_check/pmemobj_open on this damage:
        # the core gives up after PMEMOBJ_OPEN_TIMEOUT seconds with InvalidPoolError
        proc = run_python(REPRO_OPEN, path, timeout=20, env={"PMEMOBJ_OPEN_TIMEOUT": "2"})
    except Exception as e:          # subprocess.TimeoutExpired
        raise AssertionError(f"hang: {e}") from None
    assert_no_signal(proc)
    assert proc.stdout.startswith("clean"), (proc.stdout, proc.stderr)


# ---------------------------------------------------------------------------
# Foreign files: each package's files handed to the others

FOREIGN = r"""
import os, sys, pmemobj, torture
from sharedbuffers import mapped_struct as ms
d = sys.argv[1]
pool, storage = os.path.join(d, "p.pool"), os.path.join(d, "s.storage")
torture.create(pool)
torture.create_storage_file(storage)
packed = os.path.join(d, "array.bin")
with open(packed, "w+b") as f:
    torture.PointArray.build(torture.points(50, "x"), destfile=f)
results = []
def attempt(name, fn):
    try:
        fn()
        results.append((name, "ok"))
    except Exception as e:
        results.append((name, type(e).__name__))
attempt("pool as storage", lambda: torture.Journal(pool))
attempt("packed array as pool", lambda: pmemobj.open(packed))
attempt("packed array as storage", lambda: torture.Journal(packed))
attempt("pool as packed array", lambda: list(torture.PointArray.map_file(pool)))
attempt("storage as packed array", lambda: list(torture.PointArray.map_file(storage)))
def storage_through_pmemobj():
    with pmemobj.open(storage) as p:
        p.root.schema_json()
        p.gc()
attempt("storage through pmemobj", storage_through_pmemobj)
print(results)
"""


def test_foreign_files(tmpdir_shm):
    proc = run_python(FOREIGN, tmpdir_shm, timeout=120)
    assert_no_signal(proc)
    assert proc.returncode == 0, proc.stderr
    results = dict(eval(proc.stdout))
    assert results["pool as storage"] == "InvalidPoolError"
    assert results["packed array as pool"] == "InvalidPoolError"
    assert results["packed array as storage"] == "InvalidPoolError"
    assert results["pool as packed array"] == "CorruptedBufferError"
    assert results["storage as packed array"] == "CorruptedBufferError"
    assert results["storage through pmemobj"] == "ok"         # the same layout: a valid pool


# ---------------------------------------------------------------------------
# sharedbuffers readers against mutated buffers (hypothesis, in a child)

FUZZ = r"""
import sys
from hypothesis import given, settings, strategies as st, HealthCheck
from sharedbuffers import mapped_struct as ms
import torture

class Names(ms.MappedMappingProxyBase):
    IdMapper = ms.StringIdMapper
    ValueArray = torture.PointArray

import tempfile
def packed(cls, data):
    with tempfile.TemporaryFile() as f:
        cls.build(data, destfile=f)
        f.seek(0)
        return f.read()
SOURCES = {
    "array": (packed(torture.PointArray, torture.points(20, "fuzz")), torture.PointArray.map_buffer),
    "mapping": (packed(Names, {"n%d" % i: p for i, p in enumerate(torture.points(20, "m"))}),
                Names.map_buffer),
    "struct": (torture.POINT.pack(torture.Point(5, "a struct label")),
               lambda b: torture.POINT.unpack_from(b, 0)),
}
counts = {}

def fields(p):            # a damaged offset can read as a null element: None
    return None if p is None else (p.a, p.label)

def read_all(kind, buf):
    obj = SOURCES[kind][1](buf)
    if kind == "struct":
        return fields(obj)
    if kind == "mapping":
        return [(k, fields(obj[k])) for k in obj.keys()] + [fields(obj.get("n3")), "zz" in obj]
    return [fields(p) for p in obj] + [len(obj)]

@settings(max_examples=int(sys.argv[1]), deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(SOURCES)),
       st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), min_size=1, max_size=8),
       st.one_of(st.none(), st.integers(0, 10 ** 6)))
def fuzz(kind, edits, cut):
    buf = bytearray(SOURCES[kind][0])
    for at, byte in edits:
        buf[at % len(buf)] = byte
    if cut is not None:
        buf = buf[:cut % (len(buf) + 1)]
    try:
        read_all(kind, bytes(buf))
        outcome = "undetected"
    except (ms.CorruptedBufferError, ValueError, IndexError, KeyError, TypeError, OverflowError,
            UnicodeDecodeError, EOFError, MemoryError, AttributeError) as e:
        outcome = type(e).__name__
    counts[outcome] = counts.get(outcome, 0) + 1

fuzz()
print(counts)
"""


def test_sharedbuffers_readers_fuzzed(tmpdir_shm):
    proc = run_python(FUZZ, "300", timeout=300)
    assert_no_signal(proc)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = eval(proc.stdout)
    assert sum(counts.values()) >= 300
    assert counts.get("CorruptedBufferError", 0) > 10, counts
