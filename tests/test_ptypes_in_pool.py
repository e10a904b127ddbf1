"""A ptypes Storage kept inside a pmemobj pool, next to pmemobj collections and
sharedbuffers arrays: one file, one allocator, one transaction for all three."""
import gc

import pytest

import pmemobj
from pmemobj import PersistentDict, PersistentList
from ptypes.storage import Storage
from support import assert_no_garbage, reopen, run_python
from torture import Journal, PointArray, points


def new_journal(pool, name="journal"):
    s = Journal(pool=pool, name=name)
    r = s.root
    r.entries = s.schema.Entries()
    r.byKey = s.schema.ByKey()
    del r
    return s


def close_both(s, pool):
    gc.collect()
    s.close()
    pool.close()


def snapshot(pool, s):
    """What the pool holds, as plain values."""
    r = s.root
    return {"entries": [(e.n.contents, e.text.contents) for e in r.entries],
            "byKey": {k.contents: v.n.contents for k, v in r.byKey.iteritems()},
            "last": r.last.contents,
            "list": list(pool.root["list"]) if "list" in pool.root else None,
            "points": [(p.a, p.label) for p in pool.root["arr"]] if "arr" in pool.root else None}


def test_a_storage_lives_in_the_pool_root_dict(pool_path):
    pool = pmemobj.create(pool_path)
    s = new_journal(pool)
    assert isinstance(pool.root, PersistentDict) and list(pool.root) == ["journal"]
    s.root.entries.append(s.schema.Entry(n=1, text=b"one"))
    pool.root["list"] = pool.new(PersistentList, [1, 2, 3])
    close_both(s, pool)

    pool = pmemobj.open(pool_path)
    s = Journal(pool=pool, name="journal")          # the schema comes back from the pool
    assert [e.text.contents for e in s.root.entries] == [b"one"]
    assert list(pool.root["list"]) == [1, 2, 3]
    dry = pool.mm._gc(dry_run=True)
    assert dry["freed_total"] == 0 and dry["refcounts_wrong"] == 0, dry
    close_both(s, pool)
    assert pmemobj.check_file(pool_path)


def test_one_transaction_over_all_three_packages(pool_path):
    pool = pmemobj.create(pool_path)
    s = new_journal(pool)
    pool.root["list"] = pool.new(PersistentList)
    with pool.transaction():
        s.root.entries.append(s.schema.Entry(n=7, text=b"seven"))
        s.root.byKey[b"k"] = s.schema.Entry(n=8, text=b"eight")
        s.root.last = 7
        pool.root["list"].append("x")
        pool.root["arr"] = PointArray.build(points(5, "a"), pool=pool)
    before = snapshot(pool, s)

    with pytest.raises(ZeroDivisionError):
        with s.transaction():                       # the storage's and the pool's are one
            s.root.entries.append(s.schema.Entry(n=9, text=b"nine"))
            del s.root.byKey[b"k"]
            s.root.last = 9
            pool.root["list"].append("y")
            pool.root["arr"] = PointArray.build(points(9, "b"), pool=pool)
            1 / 0
    assert snapshot(pool, s) == before
    close_both(s, pool)

    pool = pmemobj.open(pool_path)
    s = Journal(pool=pool, name="journal")
    assert snapshot(pool, s) == before
    assert_no_garbage(pool)
    close_both(s, pool)


def test_ptypes_objects_inside_pmemobj_collections(pool_path):
    pool = pmemobj.create(pool_path)
    s = new_journal(pool)
    pool.root["entry"] = s.schema.Entry(n=3, text=b"three")
    pool.root["mixed"] = pool.new(PersistentList, [s.schema.Entry(n=4, text=b"four"), 5])
    close_both(s, pool)

    pool = pmemobj.open(pool_path)
    with pytest.raises(ValueError, match="not open as a ptypes Storage"):
        pool.root["entry"]                          # no schema to read it with
    s = Journal(pool=pool, name="journal")
    assert pool.root["entry"].n.contents == 3
    assert pool.root["mixed"][0].text.contents == b"four"
    assert isinstance(pool.root["entry"], s.schema.Entry)
    close_both(s, pool)


def test_deleting_the_storage_frees_all_of_it(pool_path):
    pool = pmemobj.create(pool_path)
    s = new_journal(pool)
    for i in range(50):
        s.root.entries.append(s.schema.Entry(n=i, text=b"x" * i))
    gc.collect()
    s.close()
    empty = pool.mm._gc(dry_run=True)["kept_total"]
    del pool.root["journal"]                        # no session needed to free ptypes objects
    kept = pool.mm._gc(dry_run=True)
    assert kept["freed_total"] == 0 and kept["refcounts_wrong"] == 0, kept
    assert not any(k.startswith("ptypes.") for k in kept["kept"]), kept
    assert kept["kept_total"] < empty - 100
    pool = reopen(pool)
    s = new_journal(pool)                           # a new storage under the same name
    assert len(s.root.entries) == 0
    close_both(s, pool)


def test_one_storage_per_pool(pool_path):
    pool = pmemobj.create(pool_path)
    s = new_journal(pool, "a")
    pool.root["entry"] = s.schema.Entry(n=1, text=b"of a")
    with pytest.raises(ValueError, match="one Storage per pool"):
        Journal(pool=pool, name="a")                # the same one twice
    with pytest.raises(ValueError, match=r"already keeps a ptypes Storage in pool.root\['a'\]"):
        Journal(pool=pool, name="b")
    gc.collect()
    s.close()
    # a second schema could not tell its objects from the first one's
    with pytest.raises(ValueError, match=r"pool.root\['a'\]"):
        Journal(pool=pool, name="b")
    assert sorted(pool.root) == ["a", "entry"]      # nothing was created for "b"
    s = Journal(pool=pool, name="a")
    assert pool.root["entry"].text.contents == b"of a"
    close_both(s, pool)


def test_misuse_gives_clear_errors(pool_path):
    pool = pmemobj.create(pool_path)
    with pytest.raises(TypeError, match="not both"):
        Journal(pool_path, pool=pool)
    with pytest.raises(TypeError, match="PersistentObjectPool"):
        Journal(pool=object())
    with pytest.raises(TypeError, match="needs a fileName"):
        Journal()
    pool.root = pool.new(PersistentList)
    with pytest.raises(TypeError, match="must be a PersistentDict"):
        Journal(pool=pool)
    pool.root = None
    pool.root = pool.new(PersistentDict, {"journal": 5})
    with pytest.raises(pmemobj.InvalidPoolError, match="not a ptypes storage"):
        Journal(pool=pool, name="journal")
    with pytest.raises(TypeError, match="Root"):
        Storage(pool=pool, name="plain")             # a new storage needs a schema
    assert list(pool.root) == ["journal"]
    pool.close()
    with pytest.raises(ValueError, match="closed"):
        Journal(pool=pool)


def test_closing_the_storage_leaves_the_pool_open(pool_path):
    pool = pmemobj.create(pool_path)
    s = new_journal(pool)
    root = s.root
    entries = root.entries
    with pytest.raises(ValueError, match="proxies are still around"):
        s.close()
    del entries
    with pool.transaction():
        with pytest.raises(pmemobj.TransactionError):
            s.close()
    s.close()
    with pytest.raises(ValueError):
        root.entries                               # the Root proxy went with the storage
    with pytest.raises(ValueError, match="closed"):
        s.root
    pool.root["after"] = 1                          # the pool is still open
    s = Journal(pool=pool, name="journal")
    root = s.root
    pool.close()                                    # the pool closed under the storage
    with pytest.raises(ValueError, match="closed"):
        s.root
    with pytest.raises(ValueError, match="closed"):
        root.entries


def test_killed_mid_transaction_over_both(pool_path):
    pool = pmemobj.create(pool_path)
    s = new_journal(pool)
    pool.root["list"] = pool.new(PersistentList)
    close_both(s, pool)
    code = """if True:
        import os, signal, sys, pmemobj
        from pmemobj import PersistentList
        from torture import Journal
        pool = pmemobj.open(sys.argv[1])
        s = Journal(pool=pool, name="journal")
        with pool.transaction():
            s.root.entries.append(s.schema.Entry(n=1, text=b"committed"))
            pool.root["list"].append(1)
        with pool.transaction():
            s.root.entries.append(s.schema.Entry(n=2, text=b"lost"))
            s.root.last = 2
            pool.root["list"].append(2)
            pool.root["big"] = pool.new(PersistentList, range(1000))
            os.kill(os.getpid(), signal.SIGKILL)
    """
    proc = run_python(code, pool_path)
    assert proc.returncode == -9, proc.stderr
    assert pmemobj.check_file(pool_path)
    pool = pmemobj.open(pool_path)                  # unclean: gc ran at open
    s = Journal(pool=pool, name="journal")
    assert [e.n.contents for e in s.root.entries] == [1]
    assert s.root.last.contents == 0
    assert list(pool.root["list"]) == [1] and "big" not in pool.root
    assert_no_garbage(pool)
    close_both(s, pool)
