"""The builtin dict and list as a system of their own: the speed of volatile Python objects.

Nothing persists; the figures show what the persistent collections add to plain Python.
"""

import sys
from time import perf_counter_ns

import bisect

from common import SORTED_STEP, main, measure, read_order, sorted_values, text_key

MODE = {"is_pmem": None, "durability": "none (volatile)"}


def dict_insert_int(dir, n, repeats=3):
    def trial(k):
        d = {}
        t0 = perf_counter_ns()
        for i in range(k):
            d[i] = i
        return perf_counter_ns() - t0

    return dict(measure(trial, n, repeats), **MODE)


def dict_insert_str(dir, n, repeats=3):
    def trial(k):
        d = {}
        keys = [text_key(i) for i in range(k)]
        t0 = perf_counter_ns()
        for i, key in enumerate(keys):
            d[key] = i
        return perf_counter_ns() - t0

    return dict(measure(trial, n, repeats), **MODE)


def _dict_get(n, repeats, make_key):
    size, order = read_order(n)
    d = {make_key(i): i for i in range(size)}
    keys = [make_key(i) for i in order]

    def trial(k):
        ks = keys[:k]
        t0 = perf_counter_ns()
        for key in ks:
            d[key]
        return perf_counter_ns() - t0

    return dict(measure(trial, n, repeats), **MODE)


def dict_get_int(dir, n, repeats=3):
    return _dict_get(n, repeats, int)


def dict_get_bytes(dir, n, repeats=3):
    return _dict_get(n, repeats, lambda i: text_key(i).encode())


def list_append_tx(dir, n, repeats=3):
    def trial(k):
        t0 = perf_counter_ns()
        lst = []
        append = lst.append
        for i in range(k):
            append(i & 1023)
        return perf_counter_ns() - t0

    return dict(measure(trial, n, repeats), **MODE)


def list_iter(dir, n, repeats=3):
    lst = [i & 1023 for i in range(n)]

    def trial(k):
        t0 = perf_counter_ns()
        for _ in lst:
            pass
        return (perf_counter_ns() - t0) * k // n

    return dict(measure(trial, n, repeats), **MODE)


def list_iter_contents(dir, n, repeats=3):
    """The same as list_iter: each item is the number."""
    return list_iter(dir, n, repeats)


def sorted_insert(dir, n, repeats=3):
    """bisect.insort of n ints in random order into a list (what a sorted collection costs in RAM)."""
    def trial(k):
        values = sorted_values(k)
        t0 = perf_counter_ns()
        lst = []
        insort = bisect.insort
        for v in values:
            insort(lst, v)
        return perf_counter_ns() - t0

    return dict(measure(trial, n, repeats), **MODE)


def sorted_get(dir, n, repeats=3):
    """Finding existing keys of a sorted list with bisect_left (min(n, 100,000) ints)."""
    size, order = read_order(n)
    lst = sorted(sorted_values(size))
    keys = [i * SORTED_STEP for i in order]

    def trial(k):
        ks = keys[:k]
        bisect_left = bisect.bisect_left
        t0 = perf_counter_ns()
        for key in ks:
            lst[bisect_left(lst, key)]
        return perf_counter_ns() - t0

    return dict(measure(trial, n, repeats), **MODE)


WORKLOADS = {
    "dict_insert_int": dict_insert_int,
    "dict_insert_str": dict_insert_str,
    "dict_get_int": dict_get_int,
    "dict_get_bytes": dict_get_bytes,
    "list_append_tx": list_append_tx,
    "list_iter": list_iter,
    "list_iter_contents": list_iter_contents,
    "sorted_insert": sorted_insert,
    "sorted_get": sorted_get,
}

if __name__ == "__main__":
    sys.exit(main("builtin", WORKLOADS))
