"""The Persistent protocol of compiled types, and a pool class users can subclass and patch."""
import logging

import pytest

import pmemobj
from pmemobj import Persistent, PersistentBase, PersistentList
from pnode import Node


def test_compiled_types_follow_the_protocol(pool_path):
    with pmemobj.create(pool_path) as pool:
        lst = pool.new(PersistentList, ["a", ("b",)])
        assert isinstance(lst, Persistent) and isinstance(lst, PersistentBase)
        assert lst._p_mm is pool.mm
        uuid, off = lst._p_oid
        assert uuid == pool.mm.uuid_lo and off
        assert len(lst._p_traverse()) == 2          # the two values it references
        assert len(lst._p_substructures()) == 1     # its items array
        assert pool.mm.resurrect(lst._p_oid) is lst


class Bad(Node):
    def __init__(self):
        raise RuntimeError("no")


def test_failed_init_rolls_back_the_new_object(pool_path):
    class Local(Node):
        pass

    with pmemobj.create(pool_path) as pool:
        with pytest.raises(RuntimeError):
            pool.new(Bad)
        with pytest.raises(TypeError, match="module level"):
            pool.new(Local)                      # a class defined in a function cannot be stored
        assert pool.gc()["freed_total"] == 0


class AuditedPool(pmemobj.PersistentObjectPool):
    """Subclasses can extend the pool."""
    def __init__(self, *a, **kw):
        self.log = []
        super().__init__(*a, **kw)

    def gc(self, debug=None):
        self.log.append("gc")
        return super().gc(debug)


def test_pool_is_subclassable_and_patchable(pool_path, monkeypatch):
    with AuditedPool(pool_path, flag='x') as pool:
        pool.root = "x"
        pool.gc()
        assert pool.log == ["gc"]
    calls = []
    original = pmemobj.PersistentObjectPool.close
    monkeypatch.setattr(pmemobj.PersistentObjectPool, "close", lambda self: (calls.append(1), original(self)))
    pool = pmemobj.open(pool_path)
    pool.close()
    assert calls == [1]


def test_gc_debug_logs_the_report(pool_path, caplog):
    with pmemobj.create(pool_path, debug=True) as pool:
        with caplog.at_level(logging.DEBUG, logger="pmemobj"):
            pool.gc()
    assert any("gc of" in r.getMessage() for r in caplog.records if r.name == "pmemobj")
