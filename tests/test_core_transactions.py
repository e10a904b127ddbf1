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


# ---------------------------------------------------------------------------
# Transactions begun and ended by hand: begin(), commit(), abort(errno)

def test_begin_commit_by_hand(pool):
    tx = pool.transaction()
    tx.begin()
    pool.root = 10
    assert pool.mm.in_transaction and pool.mm.depth == 1
    tx.commit()
    assert not pool.mm.in_transaction and pool.root == 10
    pool = reopen(pool)
    assert pool.root == 10
    pool.close()


def test_abort_by_hand_rolls_back_and_raises_oserror(pool):
    import errno
    pool.root = "old"
    tx = pool.transaction()
    tx.begin()
    pool.root = "new"
    with pytest.raises(OSError) as e:
        tx.abort()
    assert e.value.errno == errno.ECANCELED
    assert not pool.mm.in_transaction and pool.root == "old"
    tx.begin()
    pool.root = "again"
    with pytest.raises(OSError) as e:
        tx.abort(errno.EINVAL)
    assert e.value.errno == errno.EINVAL and pool.root == "old"
    pool = reopen(pool)
    assert pool.root == "old"
    assert pool.gc()["freed_total"] == 0
    pool.close()


def test_abort_inside_with_blocks_rolls_everything_back(pool):
    pool.root = None
    with pytest.raises(OSError):
        with pool.transaction():
            pool.root = 10
            with pool.transaction():
                pool.root = 20
                with pool.transaction() as tx:
                    pool.root = 30
                    tx.abort()
    assert pool.root is None and not pool.mm.in_transaction
    with pool.transaction():
        pool.root = 10
    assert pool.root == 10


def test_commit_and_abort_outside_a_transaction_raise(pool):
    tx = pool.transaction()
    with pytest.raises(RuntimeError, match="commit.*outside.*transaction"):
        tx.commit()
    with pytest.raises(RuntimeError, match="abort.*outside.*transaction"):
        tx.abort()
    pool.root = 10
    assert pool.root == 10


def test_commit_cannot_end_a_with_block(pool):
    pool.root = None
    with pytest.raises(RuntimeError, match="with"):
        with pool.transaction() as tx:
            pool.root = 10
            tx.commit()
    assert pool.root is None and not pool.mm.in_transaction
    with pytest.raises(RuntimeError):
        with pool.transaction():
            with pool.transaction():
                with pool.transaction() as tx:
                    pool.root = 30
                    tx.commit()
    assert pool.root is None
    with pool.transaction():
        pool.root = 10
    assert pool.root == 10


def test_nested_by_hand_is_flat(pool):
    pool.root = 0
    tx = pool.transaction()
    tx.begin()
    pool.root = 1
    tx.begin()
    pool.root = 2
    tx.commit()                     # the inner level: nothing is committed yet
    assert pool.mm.depth == 1
    with pytest.raises(OSError):
        tx.abort()                  # the outer one rolls back both
    assert pool.root == 0 and not pool.mm.in_transaction
    # an inner abort dooms the outer level: its commit raises, nothing committed
    tx.begin()
    pool.root = 3
    tx.begin()
    with pytest.raises(OSError):
        tx.abort()
    assert pool.mm.depth == 1
    with pytest.raises(TransactionError):
        pool.root = 4               # no writes after the rollback
    with pytest.raises(TransactionError, match="aborted"):
        tx.commit()
    assert pool.root == 0 and not pool.mm.in_transaction


def test_by_hand_inside_and_around_with_blocks(pool):
    tx = pool.transaction()
    tx.begin()
    with pool.transaction():
        pool.root = 1
    assert pool.mm.depth == 1
    tx.commit()
    assert pool.root == 1
    # a level begun inside a block and left open: the block rolls everything back
    with pytest.raises(RuntimeError, match="neither committed nor aborted"):
        with pool.transaction() as t:
            pool.root = 2
            t.begin()
            pool.root = 3
    assert pool.root == 1 and not pool.mm.in_transaction
    # the same with an exception leaving the block: that exception propagates
    with pytest.raises(KeyError):
        with pool.transaction() as t:
            t.begin()
            pool.root = 4
            raise KeyError
    assert pool.root == 1 and not pool.mm.in_transaction


def test_commit_from_another_thread_is_refused(pool):
    tx = pool.transaction()
    tx.begin()
    pool.root = 5
    errors = []

    def other():
        try:
            tx.commit()
        except RuntimeError as e:
            errors.append(e)
    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors and pool.mm.in_transaction
    tx.commit()
    assert pool.root == 5
