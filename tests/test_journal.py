"""The journal (pmemobj/_journal.pxi): durability "power" on a disk at one
flush per commit.

A pool at "power" on a file that is not persistent memory gets a private
mapping; each commit writes what libpmemobj drained into a record of the
journal (a block of the pool) and waits for the disk once; checkpoints write
the pages into the pool file; an open replays the records a crash left.
PMEMOBJ_JOURNAL=1 journals pools in /dev/shm too (by default only pools on a
disk have one): these tests set it, in this process and in their children.
The power-loss simulator's sweeps of journal pools are in
test_reliability_powerloss.py."""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import pmemobj
from pmemobj import _core, cli
from hypothesis.stateful import rule

import test_tx_sequences
from support import ROOT, TESTS, assert_no_garbage

JOURNAL = {"PMEMOBJ_JOURNAL": "1"}


@pytest.fixture(autouse=True)
def journal_everywhere(monkeypatch):
    monkeypatch.setattr(_core, "_JOURNAL_MODE", "1")
    for k, v in JOURNAL.items():
        monkeypatch.setenv(k, v)


def child(code, *args, env=None):
    e = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]), **JOURNAL)
    e.update(env or {})
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e)


def new_dict_pool(path, **kw):
    pool = pmemobj.create(path, **kw)
    with pool.transaction():
        pool.root = pool.new(pmemobj.PersistentDict)
    return pool


def syncs(pool):
    return pool.mm.journal["syncs"]


# -- what a commit costs -------------------------------------------------------

def test_a_pool_at_power_has_a_journal_and_process_has_none(tmpdir_shm):
    with pmemobj.create(os.path.join(tmpdir_shm, "a.pool")) as pool:
        j = pool.mm.journal
        assert j is not None and j["capacity"] >= 256 << 10 and j["used"] == 0
    with pmemobj.create(os.path.join(tmpdir_shm, "b.pool"), durability="process") as pool:
        assert pool.mm.journal is None


def test_one_disk_flush_per_commit(pool_path):
    """An insert, an overwrite, ten inserts in one transaction: one fdatasync
    each (checkpoints, counted apart, add two each)."""
    with new_dict_pool(pool_path) as pool:
        d = pool.root
        for what, f in [("insert", lambda i: d.__setitem__(i, i)),
                        ("overwrite", lambda i: d.__setitem__(i % 7, -i)),
                        ("multi10", lambda i: [d.__setitem__(1000 + 10 * i + k, k) for k in range(10)]),
                        ("object", lambda i: d.__setitem__(i, pool.new(pmemobj.PersistentList, [i])))]:
            j0 = pool.mm.journal
            for i in range(50):
                with pool.transaction():
                    f(i)
            j1 = pool.mm.journal
            checkpoints = j1["checkpoints"] - j0["checkpoints"]
            assert j1["syncs"] - j0["syncs"] == 50 + 2 * checkpoints, what
            assert j1["records"] - j0["records"] == 50, what
        before = syncs(pool)
        with pool.transaction():
            pass                        # nothing written: no record
        assert syncs(pool) == before


def test_an_abort_costs_no_flush_and_its_undo_goes_with_the_next_commit(pool_path):
    with new_dict_pool(pool_path) as pool:
        d = pool.root
        d[1] = "one"
        before = syncs(pool)
        with pytest.raises(ZeroDivisionError):
            with pool.transaction():
                d[1] = "uno"
                d[2] = "two"
                1 / 0
        assert syncs(pool) == before and dict(d) == {1: "one"}
        d[3] = "three"
        assert syncs(pool) == before + 1
    with pmemobj.open(pool_path) as pool:
        assert dict(pool.root) == {1: "one", 3: "three"}


# -- the file, the records and the replay ------------------------------------------

COPY_AFTER_COMMITS = """
import shutil, sys, pmemobj
pool = pmemobj.create(sys.argv[1])
with pool.transaction():
    pool.root = pool.new(pmemobj.PersistentDict)
for i in range(int(sys.argv[3])):
    with pool.transaction():
        pool.root[i] = "v%d" % i
shutil.copyfile(sys.argv[1], sys.argv[2])   # what the disk holds if the power fails now
print(pool.mm.journal["used"], pool.mm.journal["checkpoints"])
"""


@pytest.mark.parametrize("n", [1, 30, 3000])
def test_the_file_of_an_open_pool_replays_to_the_last_commit(tmpdir_shm, n):
    """The pool file alone lags behind (the mapping is private); with the
    records of its journal it holds every commit; the open replays them and
    starts a new epoch (a second open replays nothing)."""
    src, copy = os.path.join(tmpdir_shm, "src.pool"), os.path.join(tmpdir_shm, "copy.pool")
    proc = child(COPY_AFTER_COMMITS, src, copy, str(n))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    used, checkpoints = map(int, out.split())
    assert used > 0
    if n == 3000:
        assert checkpoints > 0
    assert _core._replay_journal(copy) > 0
    assert _core._replay_journal(copy) == 0
    with pmemobj.open(copy) as pool:
        assert dict(pool.root) == {i: "v%d" % i for i in range(n)}
        assert_no_garbage(pool)


def test_a_closed_pool_file_needs_no_replay(pool_path):
    with new_dict_pool(pool_path) as pool:
        for i in range(100):
            pool.root[i] = i
    assert _core._replay_journal(pool_path) == 0
    with pmemobj.open(pool_path) as pool:
        assert len(pool.root) == 100


KILLED = """
import os, sys, pmemobj
pool = pmemobj.open(sys.argv[1])
d = pool.root
i = len(d)
os.write(1, b"start %d\\n" % i)
while True:
    with pool.transaction():
        d[i] = pool.new(pmemobj.PersistentList, range(i % 50))
        if i % 3 == 0 and i:
            del d[i - 1]
    os.write(1, b"%d\\n" % i)
    i += 1
"""


def test_sigkill_at_random_moments(pool_path):
    """Every commit that returned is there after a kill, whatever moment
    (records, checkpoints, half-written records)."""
    rng = random.Random(17)
    with new_dict_pool(pool_path, pool_size=16 << 20):
        pass
    expected = {}
    for round_ in range(6):
        proc = child(KILLED, pool_path, env={"PMEMOBJ_JOURNAL_SIZE": str(rng.choice([8192, 65536, 1 << 20]))})
        first = proc.stdout.readline()
        assert first.startswith("start"), proc.stderr.read()
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        lines = (first + proc.stdout.read()).split()
        proc.wait()
        done = [int(x) for x in lines[2:]]

        def commit(model, i):
            model[i] = i % 50
            if i % 3 == 0 and i:
                model.pop(i - 1, None)

        for i in done:
            commit(expected, i)
        in_flight = dict(expected)          # the transaction in flight may have committed
        commit(in_flight, max(done, default=int(lines[1]) - 1) + 1)
        with pmemobj.open(pool_path) as pool:
            got = {k: len(v) for k, v in pool.root.items()}
            assert got in (expected, in_flight), round_
            expected = got


def test_a_transaction_bigger_than_the_journal(tmpdir_shm, monkeypatch):
    """A journal of 8 KiB: a transaction that drains far more writes its
    records as it goes and drains straight into the pool file; aborted, the
    old state is back; committed, all of it, here and after a kill."""
    monkeypatch.setenv("PMEMOBJ_JOURNAL_SIZE", "8192")
    path = os.path.join(tmpdir_shm, "big.pool")
    with new_dict_pool(path) as pool:
        d = pool.root
        assert pool.mm.journal["capacity"] == 8192
        with pytest.raises(KeyError):
            with pool.transaction():
                for i in range(2000):
                    d[i] = "x" * (i % 300)
                raise KeyError
        assert len(d) == 0 and pool.mm.journal["spills"] > 0
        with pool.transaction():
            for i in range(2000):
                d[i] = "y" * (i % 300)
        for i in range(20):
            d[-i] = i
    with pmemobj.open(path) as pool:
        assert len(pool.root) == 2019 and pool.root[1999] == "y" * (1999 % 300)
        assert_no_garbage(pool)
    code = ("import os, sys, pmemobj\npool = pmemobj.open(sys.argv[1])\nd = pool.root\n"
            "with pool.transaction():\n    d.clear()\n    for i in range(3000): d[i] = str(i) * 20\n"
            "print(pool.mm.journal['spills'], flush=True)\nos.kill(os.getpid(), 9)\n")
    proc = child(code, path, env={"PMEMOBJ_JOURNAL_SIZE": "8192"})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL and int(out) > 0, err
    with pmemobj.open(path) as pool:
        assert len(pool.root) == 3000 and pool.root[2999] == "2999" * 20
        assert_no_garbage(pool)


def test_a_damaged_journal_is_not_replayed(tmpdir_shm):
    """Bytes of the journal changed (a torn record): the records before them
    are replayed, none after."""
    src, copy = os.path.join(tmpdir_shm, "src.pool"), os.path.join(tmpdir_shm, "copy.pool")
    proc = child(COPY_AFTER_COMMITS, src, copy, "20")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    used = int(out.split()[0])
    with pmemobj.open(src) as pool:
        joff = pool.mm.journal["offset"]
    with open(copy, "r+b") as f:
        f.seek(joff + 64 + used - 40)       # in the last record
        f.write(b"\xff" * 8)
    replayed = _core._replay_journal(copy)
    assert 0 < replayed <= 20           # of 21: the dict's creation, 20 inserts
    with pmemobj.open(copy) as pool:
        d = dict(pool.root)
        assert d == {i: "v%d" % i for i in range(len(d))} and len(d) < 20


def test_the_journal_block_survives_gc_and_is_kept(pool_path):
    with new_dict_pool(pool_path) as pool:
        joff = pool.mm.journal["offset"]
        pool.root[1] = pool.new(pmemobj.PersistentList, [1, 2])
        result = pool.gc()
        assert result["freed_total"] == 0, result
    with pmemobj.open(pool_path) as pool:
        assert pool.mm.journal["offset"] == joff


def test_without_a_journal_the_block_stays_unused(pool_path, monkeypatch):
    """Opened without a journal (PMEMOBJ_JOURNAL=0, or at "process"), the pool
    writes straight to its file; a later journal open starts a new epoch."""
    with new_dict_pool(pool_path) as pool:
        pool.root[1] = 1
    monkeypatch.setattr(_core, "_JOURNAL_MODE", "0")
    with pmemobj.open(pool_path) as pool:
        assert pool.mm.journal is None
        pool.root[2] = 2
    with pmemobj.open(pool_path, durability="process") as pool:
        pool.root[3] = 3
    monkeypatch.setattr(_core, "_JOURNAL_MODE", "1")
    with pmemobj.open(pool_path) as pool:
        assert pool.mm.journal is not None
        assert dict(pool.root) == {1: 1, 2: 2, 3: 3}


def test_another_process_cannot_open_or_replay_an_open_pool(pool_path):
    with new_dict_pool(pool_path) as pool:
        pool.root[1] = 1
        code = ("import sys, pmemobj\ntry:\n pmemobj.open(sys.argv[1])\n"
                "except pmemobj.PoolInUseError: print('in use')")
        proc = child(code, pool_path)
        out, err = proc.communicate(timeout=60)
        assert out.strip() == "in use", err
        pool.root[2] = 2
    with pmemobj.open(pool_path) as pool:
        assert dict(pool.root) == {1: 1, 2: 2}


def test_backup_of_a_journal_pool(tmpdir_shm):
    src = os.path.join(tmpdir_shm, "src.pool")
    with new_dict_pool(src) as pool:
        for i in range(50):
            pool.root[i] = i
        pool.backup(os.path.join(tmpdir_shm, "copy.pool"))
        pool.root[99] = 99
    with pmemobj.open(os.path.join(tmpdir_shm, "copy.pool")) as pool:
        assert dict(pool.root) == {i: i for i in range(50)}


def test_sync_and_close_checkpoint(pool_path):
    with new_dict_pool(pool_path) as pool:
        pool.root[1] = 1
        assert pool.mm.journal["used"] > 0
        pool.sync()
        assert pool.mm.journal["used"] == 0 and pool.mm.journal["checkpoints"] == 1


def test_info_names_the_journal(pool_path, capsys):
    with new_dict_pool(pool_path):
        pass
    cli.main(["info", pool_path])
    out = capsys.readouterr().out
    assert "journal:" in out and "KiB" in out


def test_a_disk_directory_gets_a_journal_by_default(monkeypatch):
    """Without PMEMOBJ_JOURNAL, a pool on a disk has one, a pool in /dev/shm none."""
    monkeypatch.setattr(_core, "_JOURNAL_MODE", "auto")
    disk = tempfile.mkdtemp(prefix="pmemobj-journal-", dir=os.path.dirname(os.path.abspath(__file__)))
    try:
        if _core._in_memory(disk):
            pytest.skip("the repository lies in memory here")
        with pmemobj.create(os.path.join(disk, "d.pool")) as pool:
            if pool.is_pmem:
                pytest.skip("persistent memory (or PMEM_IS_PMEM_FORCE)")
            assert pool.mm.journal is not None
    finally:
        shutil.rmtree(disk, ignore_errors=True)
    if os.path.isdir("/dev/shm"):
        shm = tempfile.mkdtemp(prefix="pmemobj-test-", dir="/dev/shm")
        try:
            with pmemobj.create(os.path.join(shm, "m.pool")) as pool:
                assert pool.mm.journal is None
        finally:
            shutil.rmtree(shm, ignore_errors=True)


# -- transactions of many operations, and a crash after any of them ----------------

class JournalTxMachine(test_tx_sequences.TxMachine):
    """The differential machine of test_tx_sequences on a pool with a small
    journal (16 KiB: checkpoints every few transactions, big ones spill), plus
    a crash: the pool file copied while the pool is open (what the disk holds
    if the power fails right after the last commit) is what the work goes on
    with; its open replays the journal."""
    kind = "mixed"

    def __init__(self):
        self._saved = (_core._JOURNAL_MODE, os.environ.get("PMEMOBJ_JOURNAL_SIZE"))
        _core._JOURNAL_MODE = "1"
        os.environ["PMEMOBJ_JOURNAL_SIZE"] = "16384"
        super().__init__()
        assert self.pool.mm.journal["capacity"] == 16384
        self.copies = 0

    def teardown(self):
        try:
            super().teardown()
        finally:
            _core._JOURNAL_MODE, size = self._saved
            if size is None:
                os.environ.pop("PMEMOBJ_JOURNAL_SIZE", None)
            else:
                os.environ["PMEMOBJ_JOURNAL_SIZE"] = size

    @rule()
    def crash(self):
        self.copies += 1
        copy = os.path.join(self.dir, f"crash{self.copies}.pool")
        shutil.copyfile(self.path, copy)
        self.pool.close()
        os.unlink(self.path)
        self.path = copy
        self.pool = pmemobj.open(copy)
        assert self.pool.recovered is not None      # not closed: the recovery ran


TestJournalTransactions = JournalTxMachine.TestCase
TestJournalTransactions.settings = test_tx_sequences.settings(test_tx_sequences.SETTINGS, max_examples=30)
