"""What pool.gc() returns (the pair type_counts, gc_counts, and the detailed
report by key) and what it logs in debug mode."""
import logging
import pickle

import pytest

import pmemobj
from pmemobj import GCResult, PersistentDict, PersistentList
from pnode import Node
from support import run_python

GC_KEYS = {"containers-total", "other-total", "containers-live", "other-live",
           "orphans0-gced", "collections-gced", "other-gced"}


@pytest.fixture
def pool(pool_path):
    p = pmemobj.create(pool_path)
    yield p
    p.close()


def collected(gc_counts):
    return {k: n for k, n in gc_counts.items() if k.endswith("-gced") and n}


def test_result_unpacks_as_a_pair_and_reads_the_report_by_key(pool):
    pool.root = pool.new(PersistentList, ["a", 2 ** 70])
    result = pool.gc()
    assert isinstance(result, GCResult) and len(result) == 2
    type_counts, gc_counts = result
    assert result[0] is type_counts and result[1] is gc_counts
    assert type_counts == {"PersistentList": 1, "str": 1, "int": 1}
    assert set(gc_counts) == GC_KEYS
    assert gc_counts["containers-live"] == gc_counts["containers-total"] == 1
    assert gc_counts["other-live"] == gc_counts["other-total"] == 2
    assert collected(gc_counts) == {}
    # the detailed report, as before
    assert result["freed_total"] == 0 and result["refcounts_fixed"] == 0
    assert result["kept"]["pmemobj.collections.list.PersistentList"] == 1
    assert "kept_bytes" in result and "nope" not in result and type_counts in result
    assert result.get("nope", 7) == 7
    assert dict(result) == result.report and set(result.keys()) == set(result.report)
    with pytest.raises(KeyError):
        result["nope"]


def test_a_dropped_new_object_is_an_orphan_counted_before_it_is_freed(pool):
    pool.new(PersistentDict, {"k": "v"})        # never stored; its proxy dies at once
    result = pool.gc()
    type_counts, gc_counts = result
    assert type_counts == {"PersistentDict": 1}
    assert collected(gc_counts) == {"orphans0-gced": 1}
    assert result["orphans_freed"] == {"pmemobj.collections.dict.PersistentDict": 1}
    assert result["freed_total"] == 0           # reference counting freed it, not the heap walk
    type_counts, gc_counts = pool.gc()
    assert type_counts == {} and collected(gc_counts) == {}


def test_an_object_held_only_by_python_is_kept_then_an_orphan(pool):
    node = pool.new(Node)                       # a pure-Python Persistent: no proxy bookkeeping
    type_counts, gc_counts = pool.gc()
    assert type_counts == {"Node": 1} and gc_counts["containers-live"] == 1
    assert collected(gc_counts) == {}
    del node
    result = pool.gc()
    assert collected(result[1]) == {"orphans0-gced": 1}
    assert result["freed_count0"] == {"pnode.Node": 1} == result["freed"]


def test_an_unreachable_cycle_counts_as_collections_gced(pool):
    root = pool.root = pool.new(PersistentDict)
    root["a"] = pool.new(PersistentDict, {"text": "held only by the cycle"})
    root["b"] = pool.new(PersistentDict)
    root["a"]["b"] = root["b"]
    root["b"]["a"] = root["a"]
    type_counts, gc_counts = pool.gc()
    assert type_counts["PersistentDict"] == 3 and collected(gc_counts) == {}
    root.clear()
    type_counts, gc_counts = pool.gc()
    assert type_counts["PersistentDict"] == 3    # what gc found, the garbage included
    # and the strings only the cycle held: the keys 'text', 'a' and 'b', and the value
    assert collected(gc_counts) == {"collections-gced": 2, "other-gced": 4}
    assert gc_counts["containers-live"] == 1 and gc_counts["containers-total"] == 3
    type_counts, gc_counts = pool.gc()
    assert type_counts == {"PersistentDict": 1} and collected(gc_counts) == {}


def test_equivalent_states_give_equal_results(pool):
    pool.root = 12
    before = pool.gc()
    pool.root = 15
    assert pool.gc() == before
    pool.root = pool.new(PersistentList, ["x", 1])
    before = pool.gc()
    pool.root = pool.new(PersistentList, ["y", 2])   # the old list is freed by its count
    after = pool.gc()
    assert after == before and collected(after[1]) == {}


def test_result_pickles(pool):
    pool.new(PersistentList)
    result = pool.gc()
    back = pickle.loads(pickle.dumps(result))
    assert type(back) is GCResult and back == result and back.report == result.report
    assert "GCResult(type_counts=" in repr(result)


def test_recovery_gc_at_open_is_a_gc_result(pool_path):
    child = run_python("import os, sys, pmemobj\n"
                       "pool = pmemobj.create(sys.argv[1])\n"
                       "pool.root = pool.new(pmemobj.PersistentList)\n"
                       "os._exit(0)\n", pool_path)         # not closed: the next open collects
    assert child.returncode == 0, child.stderr
    with pmemobj.open(pool_path) as pool:
        type_counts, gc_counts = pool.recovered
        assert type_counts == {"PersistentList": 1} and pool.recovered["freed_total"] == 0


def _orphan_warnings(records, logger):
    return [r for r in records if r.name == logger and r.levelno == logging.WARNING
            and "orphan" in r.getMessage()]


def test_debug_gc_logs_orphans_as_warnings(pool_path, caplog):
    with pmemobj.create(pool_path, debug=True) as pool:
        pool.new(PersistentList)
        with caplog.at_level(logging.DEBUG, logger="pmemobj"):
            pool.gc()
        warned = _orphan_warnings(caplog.records, "pmemobj")
        assert len(warned) == 1 and "PersistentList" in warned[0].getMessage()
        assert any(r.levelno == logging.DEBUG and "gc of" in r.getMessage() for r in caplog.records)
        caplog.clear()
        pool.new(PersistentList)
        with caplog.at_level(logging.DEBUG, logger="pmemobj"):
            pool.gc(debug=False)                # the argument overrides the pool's setting
        assert caplog.records == []


def test_debug_gc_logs_where_code_ported_from_pynvm_listens(pool_path):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    compat = logging.getLogger("nvm.pmemobj")
    handler = Keep(logging.WARNING)
    compat.addHandler(handler)
    try:
        with pmemobj.create(pool_path, debug=True) as pool:
            pool.new(PersistentList)
            pool.gc()
    finally:
        compat.removeHandler(handler)
    assert len(_orphan_warnings(records, "nvm.pmemobj")) == 1
