"""The MemoryManager API: alloc/zalloc/free/realloc, refcounts, persist/resurrect, gc."""
import ctypes
import gc

import pytest

import pmemobj
from pmemobj import OID_NULL, POBJECT_TYPE_NUM, Persistent, PersistentList, TransactionError
from pnode import Node


@pytest.fixture
def pool(pool_path):
    p = pmemobj.create(pool_path)
    yield p
    p.close()


def test_alloc_zalloc_free(pool):
    mm = pool.mm
    with pool.transaction():
        a = mm.alloc(64)
        z = mm.zalloc(100)
        assert a != z and a[0] == z[0] != 0
        assert mm.usable_size(z) >= 100
        assert bytes((ctypes.c_char * 100).from_address(mm.direct(z))) == b"\0" * 100
        assert mm.type_num(a) == POBJECT_TYPE_NUM
        mm.free(a)
        mm.free(z)
    with pool.transaction():
        with pytest.raises(ValueError):
            mm.alloc(0)
    with pool.transaction():
        with pytest.raises(ValueError):
            mm.free(OID_NULL)


def test_alloc_aborted_is_gone(pool):
    with pytest.raises(RuntimeError):
        with pool.transaction():
            pool.mm.alloc(1000)
            raise RuntimeError
    assert pool.gc()["freed_total"] == 0


def test_realloc_copies_and_frees(pool):
    mm = pool.mm
    with pool.transaction():
        a = mm.zalloc(32, 7)
        ctypes.memmove(mm.direct(a), b"0123456789abcdef" * 2, 32)
        b = mm.realloc(a, 64)
        assert bytes((ctypes.c_char * 32).from_address(mm.direct(b))) == b"0123456789abcdef" * 2
        assert mm.type_num(b) == 7
        c = mm.zrealloc(b, 80)
        assert bytes((ctypes.c_char * 48).from_address(mm.direct(c) + 32)) == b"\0" * 48
        with pytest.raises(TypeError, match="type_num"):
            mm.realloc(c, 16, type_num=3)
    with pool.transaction():
        d = mm.realloc(c, 8)
        assert bytes((ctypes.c_char * 8).from_address(mm.direct(d))) == b"01234567"
        mm.free(d)


def test_otuple_and_oids(pool):
    mm = pool.mm
    with pool.transaction():
        a = mm.alloc(16)
    assert mm.otuple(a) == a and mm.otuple(list(a)) == a
    with pytest.raises(ValueError, match="another pool"):
        mm.resurrect((a[0] + 1, a[1]))
    assert mm.resurrect(OID_NULL) is None
    assert mm.direct(OID_NULL) == 0


def test_persist_resurrect_and_refcounts(pool):
    mm = pool.mm
    oid = mm.persist("some text")
    assert mm.resurrect(oid) == "some text"
    assert mm.refcount(oid) == 0
    mm.incref(oid)
    mm.incref(oid)
    assert mm.refcount(oid) == 2
    mm.decref(oid)
    assert mm.resurrect(oid) == "some text"
    mm.xdecref(OID_NULL)
    small = mm.persist(12)            # inline values are boxed to get an oid
    assert mm.resurrect(small) == 12
    mm.incref(small)
    mm.decref(small)
    mm.decref(oid)                     # reaches 0: freed
    assert pool.gc()["freed_total"] == 0


def test_persistent_protocol_user_type(pool_path):
    with pmemobj.create(pool_path) as pool:
        assert isinstance(Node(), Persistent)
        a = pool.new(Node)
        b = pool.new(Node)
        a.set(0, "hello")
        a.set(1, b)
        b.set(0, (1, 2.5, "x"))
        pool.root = a
        assert pool.mm.resurrect(a._p_oid) is a          # one proxy per object while alive
    with pmemobj.open(pool_path) as pool:
        a = pool.root
        assert type(a) is Node
        assert a.get(0) == "hello"
        assert a.get(1).get(0) == (1, 2.5, "x")
        r = pool.gc()
        assert r["freed_total"] == 0
        assert r["kept"]["pnode.Node"] == 2


def test_refcount_frees_replaced_values(pool):
    a = pool.new(Node)
    pool.root = a
    for i in range(50):
        a.set(0, "value %d" % i)
        a.set(1, pool.new(Node))
    r = pool.gc()
    assert r["freed_total"] == 0, r
    assert r["kept"]["pnode.Node"] == 2 and r["kept"]["str"] == 1


def test_gc_collects_cycles_and_repairs_counts(pool):
    a, b = pool.new(Node), pool.new(Node)
    a.set(1, b)
    b.set(1, a)                 # a cycle
    a.set(0, "payload")
    pool.root = a
    del a, b
    pool.root = None            # the cycle keeps both counts at 1
    r = pool.gc()
    assert r["freed"]["pnode.Node"] == 2 and r["freed"]["str"] == 1
    assert pool.gc()["freed_total"] == 0


def test_gc_keeps_objects_held_by_live_proxies(pool):
    n = pool.new(Node)          # refcount 0, referenced only from Python
    n.set(0, "kept")
    assert pool.gc()["freed_total"] == 0
    assert n.get(0) == "kept"
    del n
    assert pool.gc()["freed"]["pnode.Node"] == 1


def test_gc_inside_transaction_is_refused(pool):
    with pool.transaction():
        with pytest.raises(TransactionError):
            pool.gc()


def test_type_table_rolls_back_with_the_transaction(pool_path):
    with pmemobj.create(pool_path) as pool:
        with pytest.raises(KeyError):
            with pool.transaction():
                pool.root = pool.new(Node)     # first use of the class adds it to the type table
                raise KeyError
        assert pool.root is None
        pool.root = pool.new(Node)
    with pmemobj.open(pool_path) as pool:
        assert type(pool.root) is Node


@pytest.mark.parametrize("op", ["incref", "decref", "persist", "alloc", "free", "realloc", "set_type"])
def test_every_mm_mutation_rolls_back(pool_path, op):
    with pmemobj.create(pool_path) as pool:
        mm = pool.mm
        with pool.transaction():
            raw = mm.zalloc(64, 9)               # not an object type: gc leaves it alone
        node, kept = pool.new(Node), pool.new(Node)
        kept.set(0, "kept value")
        node.set(0, "in node")
        node.set(1, kept)
        pool.root = node
        keep = kept._p_oid
        del kept                                 # only the pool holds it now
        before = (mm.refcount(keep), pool.gc()["kept_total"])
        with pytest.raises(KeyError):
            with pool.transaction():
                if op == "incref":
                    mm.incref(keep)
                elif op == "decref":
                    mm.decref(keep)              # reaches 0: freed, then the free rolls back
                elif op == "persist":
                    mm.incref(mm.persist(("new", 1)))
                elif op == "alloc":
                    mm.alloc(1000)
                elif op == "free":
                    mm.free(raw)
                elif op == "realloc":
                    mm.realloc(raw, 4096)
                else:
                    mm.set_type(node._p_oid, Bad)
                raise KeyError(op)
        assert (mm.refcount(keep), pool.gc()["kept_total"]) == before
        assert mm.resurrect(keep).get(0) == "kept value"
        assert mm.type_num(raw) == 9 and type(mm.resurrect(node._p_oid)) is Node
        del node
    with pmemobj.open(pool_path) as pool:
        assert pool.mm.refcount(keep) == 1 and pool.mm.resurrect(keep).get(0) == "kept value"
        assert pool.mm.type_num(raw) == 9
        assert pool.root.get(0) == "in node" and pool.root.get(1).get(0) == "kept value"


class Bad(Node):
    pass


@pytest.mark.parametrize("count", [0, 1])
def test_a_damaged_count_that_is_too_low_is_caught(pool_path, count):
    """An object held twice whose count says less: releasing both references
    raises InvalidPoolError (never a double free); the transaction rolls back."""
    with pmemobj.create(pool_path) as pool:
        lst = pool.root = pool.new(PersistentList)
        x = pool.new(PersistentList, ["child"])
        with pool.transaction():
            lst.append(x)
            lst.append(x)
        oid = x._p_oid
        del x
        gc.collect()
        assert pool.mm.refcount(oid) == 2
        ctypes.c_uint64.from_address(pool.mm.direct(oid)).value = count    # the damage
        with pytest.raises(pmemobj.InvalidPoolError, match="freed twice|underflow"):
            lst.clear()
        assert len(lst) == 2 and list(lst[0]) == ["child"]
        assert pool.mm.refcount(oid) == count
        ctypes.c_uint64.from_address(pool.mm.direct(oid)).value = 2       # repaired
