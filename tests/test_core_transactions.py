"""Transactions: commit, abort, flat nesting, doomed transactions, misuse."""
import threading

import pytest

import pmemobj
from pmemobj import TransactionError


@pytest.fixture
def pool(pool_path):
    p = pmemobj.create(pool_path)
    yield p
    p.close()


def reopen(pool):
    pool.close()
    return pmemobj.open(pool.filename)


def test_commit(pool):
    with pool.transaction():
        pool.root = "a"
        pool.root = ("b", 1)
    assert pool.root == ("b", 1)
    pool = reopen(pool)
    assert pool.root == ("b", 1)
    pool.close()


def test_abort_restores_in_process_and_after_reopen(pool):
    pool.root = "old"
    with pytest.raises(ZeroDivisionError):
        with pool.transaction():
            pool.root = "new"
            assert pool.root == "new"
            1 / 0
    assert pool.root == "old"
    pool = reopen(pool)
    assert pool.root == "old"
    assert pool.gc()["freed_total"] == 0     # the aborted "new" string left nothing behind
    pool.close()


def test_nested_commit_and_inner_abort_dooms_all(pool):
    pool.root = 0
    with pool.transaction():
        pool.root = 1
        with pool.transaction():
            pool.root = 2
        assert pool.root == 2
    assert pool.root == 2
    with pytest.raises(KeyError):
        with pool.transaction():
            pool.root = 3
            with pool.transaction():
                pool.root = 4
                raise KeyError
    assert pool.root == 2


def test_caught_inner_exception_then_write_is_refused(pool):
    pool.root = "before"
    with pytest.raises(TransactionError, match="aborted"):
        with pool.transaction():
            pool.root = "x"
            try:
                with pool.transaction():
                    raise ValueError("inner")
            except ValueError:
                pass
            assert pool.root == "before"      # rolled back at once
            with pytest.raises(TransactionError, match="aborted"):
                pool.root = "after"
            with pytest.raises(TransactionError):
                with pool.transaction():
                    pass
    # leaving the outer block normally reported that nothing was committed
    assert pool.root == "before"
    pool.root = "usable again"
    assert pool.root == "usable again"


def test_second_pool_transaction_inside_first_is_refused(pool, tmpdir_shm):
    import os
    with pmemobj.create(os.path.join(tmpdir_shm, "other.pool")) as other:
        with pool.transaction():
            pool.root = 1
            with pytest.raises(TransactionError, match="cannot start inside"):
                other.root = 2
            with pytest.raises(TransactionError):
                with other.transaction():
                    pass
        assert pool.root == 1 and other.root is None
        with other.transaction():
            other.root = 3
        assert other.root == 3


def test_close_inside_transaction_is_refused(pool):
    with pool.transaction():
        with pytest.raises(TransactionError):
            pool.close()
        pool.root = "still fine"
    assert pool.root == "still fine"


def test_alloc_free_outside_transaction_raise(pool):
    with pytest.raises(TransactionError):
        pool.mm.alloc(64)
    with pool.transaction():
        oid = pool.mm.alloc(64)
    with pytest.raises(TransactionError):
        pool.mm.free(oid)
    with pytest.raises(TransactionError):
        pool.mm.realloc(oid, 128)
    with pool.transaction():
        pool.mm.free(oid)


def test_threads_serialize_transactions(pool):
    pool.root = (0, 0)
    errors = []

    def work(k):
        try:
            for _ in range(200):
                with pool.transaction():
                    a, b = pool.root
                    pool.root = (a + 1, b + k)
        except BaseException as e:        # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert pool.root == (800, 200 * (1 + 2 + 3 + 4))


def test_write_from_other_thread_waits_for_the_transaction(pool):
    pool.root = "a"
    started = threading.Event()
    done = []

    def other():
        started.set()
        pool.root = "b"           # blocks until the main thread's transaction ends
        done.append(pool.root)

    with pool.transaction():
        pool.root = "main"
        t = threading.Thread(target=other)
        t.start()
        started.wait()
        t.join(0.2)
        assert t.is_alive()
        assert pool.root == "main"
    t.join()
    assert done == ["b"]


def test_raw_alloc_in_another_thread_without_its_transaction(pool):
    errors = []
    with pool.transaction():
        def other():
            try:
                pool.mm.alloc(16)
            except TransactionError as e:
                errors.append(e)
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert len(errors) == 1
