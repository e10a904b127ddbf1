"""Workloads of this project's sharedbuffers (typed mapped structs), through its public API.

The same script body runs the upstream 1.2.3 release (workloads_sharedbuffers_upstream.py
imports it from the upstream venv, where ``sharedbuffers`` is upstream's package): each
system runs in its own process, so the two never meet.

    python3 benchmarks/workloads_sharedbuffers.py WORKLOAD [--dir /dev/shm] [-n N] [--repeats R]
"""

import os
import random
import sys
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


WORKLOADS = {
    "sb_build": sb_build,
    "sb_attr_read": sb_attr_read,
    "sb_mapping_get": sb_mapping_get,
}

if __name__ == "__main__":
    sys.exit(main("sharedbuffers", WORKLOADS))
