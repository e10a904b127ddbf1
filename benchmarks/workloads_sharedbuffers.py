"""Workloads of this project's sharedbuffers (typed mapped structs), through its public API.

The same script body runs the upstream 1.2.3 release (workloads_sharedbuffers_upstream.py
imports it from the upstream venv, where ``sharedbuffers`` is upstream's package): each
system runs in its own process, so the two never meet.

    python3 benchmarks/workloads_sharedbuffers.py WORKLOAD [--dir /dev/shm] [-n N] [--repeats R]
"""

import os
import random
import sys
from datetime import date, datetime, timedelta
from time import perf_counter_ns

from common import READ_KEYS, Unsupported, main, measure, scratch_dir, text_key

try:
    from sharedbuffers import mapped_struct
except ImportError as e:  # the runner reports this as a skip, with the reason
    mapped_struct = None
    IMPORT_ERROR = e

ATTRS = ("a", "b", "c", "f", "name")
MODE = {"is_pmem": None, "durability": "none (a built file, read-only once mapped)"}


class Item(object):
    """The benchmark's struct: three ints, a float, a short bytes field."""

    __slot_types__ = {"a": int, "b": int, "c": int, "f": float, "name": bytes}
    __slots__ = tuple(__slot_types__)

    def __init__(self, i):
        self.a = i
        self.b = 2 * i
        self.c = -i
        self.f = i * 0.5
        self.name = b"item%d" % (i % 10000)


def _types():
    if mapped_struct is None:
        raise Unsupported("cannot import sharedbuffers: %s" % IMPORT_ERROR)
    if not hasattr(Item, "__schema__"):
        Item.__schema__ = mapped_struct.Schema.from_typed_slots(Item.__slot_types__)

    class ItemArray(mapped_struct.MappedArrayProxyBase):
        schema = Item.__schema__

    class ItemsByName(mapped_struct.MappedMappingProxyBase):
        IdMapper = mapped_struct.StringIdMapper
        ValueArray = ItemArray

    return ItemArray, ItemsByName


def _build_array(ItemArray, path, n):
    with open(path, "w+b") as f:
        ItemArray.build((Item(i) for i in range(n)), destfile=f)
    return os.path.getsize(path)


def sb_build(dir, n, repeats=3):
    """build() of n structs into a file, per struct; also reports the file's bytes per struct."""
    ItemArray, _ = _types()
    with scratch_dir(dir, "sb-build") as d:
        sizes = {}

        def trial(k):
            path = os.path.join(d, "items-%d.bin" % k)
            t0 = perf_counter_ns()
            sizes[k] = _build_array(ItemArray, path, k)
            elapsed = perf_counter_ns() - t0
            os.unlink(path)
            return elapsed

        result = measure(trial, n, repeats)
    return dict(result, bytes_per_struct=round(sizes[n] / n, 2), file_bytes=sizes[n], **MODE)


def sb_attr_read(dir, n, repeats=3):
    """arr[i].attr for random i and each attribute in turn, through proxies, on a mapped
    file of min(n, 100,000) structs."""
    ItemArray, _ = _types()
    size = min(n, READ_KEYS)
    rnd = random.Random(42)
    with scratch_dir(dir, "sb-read") as d:
        path = os.path.join(d, "items.bin")
        _build_array(ItemArray, path, size)
        with open(path, "rb") as f:
            arr = ItemArray.map_file(f)
            groups = [tuple(rnd.randrange(size) for _ in ATTRS) for _ in range(max(1, n // len(ATTRS)))]

            def trial(k):
                gs = groups[:max(1, k // len(ATTRS))]
                t0 = perf_counter_ns()
                for i, j, k2, m, q in gs:
                    arr[i].a
                    arr[j].b
                    arr[k2].c
                    arr[m].f
                    arr[q].name
                # per attribute read
                return (perf_counter_ns() - t0) * k // (len(gs) * len(ATTRS))

            result = measure(trial, n, repeats)
            del arr
    return dict(result, **MODE)


def sb_mapping_get(dir, n, repeats=3):
    """m[key] for existing 20-character str keys, random order, in a mapping of
    min(n, 100,000) structs mapped from a file."""
    _, ItemsByName = _types()
    size = min(n, READ_KEYS)
    rnd = random.Random(7)
    with scratch_dir(dir, "sb-map") as d:
        path = os.path.join(d, "names.bin")
        with open(path, "w+b") as f:
            ItemsByName.build(((text_key(i), Item(i)) for i in range(size)), destfile=f)
        with open(path, "rb") as f:
            m = ItemsByName.map_file(f)
            keys = [text_key(rnd.randrange(size)) for _ in range(n)]

            def trial(k):
                ks = keys[:k]
                t0 = perf_counter_ns()
                for key in ks:
                    m[key]
                return perf_counter_ns() - t0

            result = measure(trial, n, repeats)
            del m
    return dict(result, **MODE)


# -- the value types of upstream's API, one family per workload

class Wide(object):
    """Sized numbers, dates, a proxied list and an ndarray."""

    __slots__ = ("u8", "i16", "i32", "u32", "f32", "when", "day", "pl", "nd")

    def __init__(self, i, numpy):
        self.u8 = i % 256
        self.i16 = i % 30000 - 15000
        self.i32 = -i
        self.u32 = 3 * i
        self.f32 = i * 0.25
        self.when = BASE_TIME + timedelta(seconds=i)
        self.day = (BASE_TIME + timedelta(days=i % 3000)).date()
        self.pl = [i, i + 1, i + 2, i * 7]
        self.nd = numpy.arange(4, dtype=numpy.int32) + i


BASE_TIME = datetime(2020, 1, 1, 12, 0, 0)


def _wide_types():
    if mapped_struct is None:
        raise Unsupported("cannot import sharedbuffers: %s" % IMPORT_ERROR)
    import numpy
    ms = mapped_struct
    if not hasattr(Wide, "__schema__"):
        Wide.__slot_types__ = {"u8": ms.ubyte, "i16": ms.int16, "i32": ms.int32, "u32": ms.uint32,
                               "f32": ms.float32, "when": datetime, "day": date, "pl": ms.proxied_list,
                               "nd": numpy.ndarray}
        Wide.__schema__ = ms.Schema.from_typed_slots(Wide.__slot_types__)

    class WideArray(ms.MappedArrayProxyBase):
        schema = Wide.__schema__

    return WideArray, numpy


def sb_build_wide(dir, n, repeats=3):
    """build() of n structs of the new slot types (sized numbers, datetime, date, proxied_list,
    ndarray) into a file, per struct; also reports bytes per struct."""
    WideArray, numpy = _wide_types()
    items = [Wide(i, numpy) for i in range(n)]
    with scratch_dir(dir, "sb-build-wide") as d:
        sizes = {}

        def trial(k):
            path = os.path.join(d, "wide-%d.bin" % k)
            t0 = perf_counter_ns()
            with open(path, "w+b") as f:
                WideArray.build(iter(items[:k]), destfile=f)
            elapsed = perf_counter_ns() - t0
            sizes[k] = os.path.getsize(path)
            os.unlink(path)
            return elapsed

        result = measure(trial, n, repeats)
    return dict(result, bytes_per_struct=round(sizes[n] / n, 2), file_bytes=sizes[n], **MODE)


def _wide_reads(dir, n, repeats, read):
    WideArray, numpy = _wide_types()
    size = min(n, READ_KEYS // 2)
    rnd = random.Random(5)
    with scratch_dir(dir, "sb-wide") as d:
        path = os.path.join(d, "wide.bin")
        with open(path, "w+b") as f:
            WideArray.build((Wide(i, numpy) for i in range(size)), destfile=f)
        with open(path, "rb") as f:
            arr = WideArray.map_file(f)
            idx = [rnd.randrange(size) for _ in range(n)]

            def trial(k):
                ix = idx[:k]
                t0 = perf_counter_ns()
                read(arr, ix)
                return perf_counter_ns() - t0

            result = measure(trial, n, repeats)
            del arr
    return dict(result, **MODE)


def _read_sized(arr, ix):
    for i in ix:
        p = arr[i]
        p.u8
        p.i16
        p.i32
        p.f32


def _read_dates(arr, ix):
    for i in ix:
        p = arr[i]
        p.when
        p.day


def _read_plist(arr, ix):
    for i in ix:
        arr[i].pl[2]


def _read_ndarray(arr, ix):
    for i in ix:
        arr[i].nd


def sb_read_sized(dir, n, repeats=3):
    """arr[i] then four sized-number slots (ubyte, int16, int32, float32), random i; per struct."""
    return _wide_reads(dir, n, repeats, _read_sized)


def sb_read_datetime(dir, n, repeats=3):
    """arr[i] then its datetime and date slots, random i; per struct."""
    return _wide_reads(dir, n, repeats, _read_dates)


def sb_read_plist(dir, n, repeats=3):
    """arr[i].pl[2]: a proxied_list slot and one of its items, random i."""
    return _wide_reads(dir, n, repeats, _read_plist)


def sb_read_ndarray(dir, n, repeats=3):
    """arr[i].nd: an ndarray slot (a numpy array over the mapping), random i."""
    return _wide_reads(dir, n, repeats, _read_ndarray)


def sb_bsearch(dir, n, repeats=3):
    """bsearch(a, key) in a sorted uint64 array of 1,000,000 items, random keys."""
    if mapped_struct is None:
        raise Unsupported("cannot import sharedbuffers: %s" % IMPORT_ERROR)
    import numpy
    a = numpy.sort(numpy.random.RandomState(3).randint(0, 2**62, 1_000_000).astype(numpy.uint64))
    keys = [int(x) for x in numpy.random.RandomState(4).randint(0, 2**62, n).astype(numpy.uint64)]
    bsearch = mapped_struct.bsearch

    def trial(k):
        ks = keys[:k]
        t0 = perf_counter_ns()
        for key in ks:
            bsearch(a, key)
        return perf_counter_ns() - t0

    return dict(measure(trial, n, repeats), **MODE)


def sb_index_merge(dir, n, repeats=3):
    """index_merge of two sorted (n/2, 2) uint64 tables into one; per row merged."""
    if mapped_struct is None:
        raise Unsupported("cannot import sharedbuffers: %s" % IMPORT_ERROR)
    import numpy
    rs = numpy.random.RandomState(9)
    halves = []
    for _ in range(2):
        t = rs.randint(0, 2**62, (max(1, n // 2), 2)).astype(numpy.uint64)
        halves.append(t[numpy.argsort(t[:, 0], kind="stable")])
    dest = numpy.empty((2 * halves[0].shape[0], 2), numpy.uint64)

    def trial(k):
        a, b = halves[0][:max(1, k // 2)], halves[1][:max(1, k // 2)]
        t0 = perf_counter_ns()
        mapped_struct.index_merge(a, b, dest)
        return (perf_counter_ns() - t0) * k // (len(a) + len(b))

    return dict(measure(trial, n, repeats), **MODE)


WORKLOADS = {
    "sb_build": sb_build,
    "sb_attr_read": sb_attr_read,
    "sb_mapping_get": sb_mapping_get,
    "sb_build_wide": sb_build_wide,
    "sb_read_sized": sb_read_sized,
    "sb_read_datetime": sb_read_datetime,
    "sb_read_plist": sb_read_plist,
    "sb_read_ndarray": sb_read_ndarray,
    "sb_bsearch": sb_bsearch,
    "sb_index_merge": sb_index_merge,
}

if __name__ == "__main__":
    sys.exit(main("sharedbuffers", WORKLOADS))
