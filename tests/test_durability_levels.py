"""Durability levels: ``pmemobj.create/open(..., durability="power"|"process")``.

"power" (the default): every committed transaction survives a power loss;
on a file that is not persistent memory libpmemobj's flushes are merged into
one msync per drain (the power-loss harness, tests/powerloss, checks that
nothing is lost by that).  "process": commits survive a crash of the process
(SIGKILL here), no flush per commit; ``sync()`` and ``close()`` make them
durable; an open after a restart refuses a pool that was written and not
synced, and under the power-loss simulator every cut point either loses
commits (the state of the last sync) or is refused: never a damaged pool
taken for a good one."""
import os
import signal
import subprocess
import sys
import time

import pytest

import pmemobj
from pmemobj import _core, cli
from support import ROOT, TESTS

ANOTHER_BOOT = {"PMEMOBJ_BOOT_ID": "a boot after a restart"}


def child_env(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, TESTS, env.get("PYTHONPATH", "")])
    env.update(extra or {})
    return env


def run(code, *args, env=None, timeout=120):
    """A child interpreter; it may end by SIGKILL (its own), by no other signal."""
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, env=child_env(env))
    assert proc.returncode >= 0 or proc.returncode == -signal.SIGKILL, proc.stderr
    return proc


def make(path, durability, n=10):
    with pmemobj.create(path, durability=durability) as pool:
        with pool.transaction():
            pool.root = pool.new(pmemobj.PersistentDict)
        for i in range(n):
            with pool.transaction():
                pool.root[i] = i


# -- the level of a pool -------------------------------------------------------

def test_default_is_power(pool_path):
    with pmemobj.create(pool_path) as pool:
        assert pool.durability == "power"
    with pmemobj.open(pool_path) as pool:
        assert pool.durability == "power"


def test_process_is_per_pool_and_per_open(tmpdir_shm):
    a, b = os.path.join(tmpdir_shm, "a.pool"), os.path.join(tmpdir_shm, "b.pool")
    with pmemobj.create(a, durability="process") as pa, pmemobj.create(b) as pb:
        assert (pa.durability, pb.durability) == ("process", "power")
    with pmemobj.open(a) as pa:
        assert pa.durability == "power"
    with pmemobj.open(b, durability="process") as pb:
        assert pb.durability == "process"


def test_unknown_level_is_refused(pool_path):
    with pytest.raises(ValueError, match="durability"):
        pmemobj.create(pool_path, durability="fsync")
    assert not os.path.exists(pool_path)


def test_sync_inside_a_transaction_is_refused(pool_path):
    with pmemobj.create(pool_path, durability="process") as pool:
        with pool.transaction():
            with pytest.raises(pmemobj.TransactionError):
                pool.sync()
        pool.sync()
    with pytest.raises(ValueError):
        pool.sync()


# -- what a commit costs ---------------------------------------------------------

def msyncs(pool, f, n=20):
    before = _core.msyncs_by_the_core()
    for i in range(n):
        with pool.transaction():
            f(i)
    return (_core.msyncs_by_the_core() - before) / n


def test_power_merges_flushes_into_one_msync_per_drain(pool_path):
    """An overwrite takes three msyncs (its undo entry, the data, the log's
    end), an insert of an int four (two entries); libpmemobj's own functions
    took four and about nine."""
    with pmemobj.create(pool_path) as pool:
        if pool.is_pmem:
            pytest.skip("persistent memory (or PMEM_IS_PMEM_FORCE): no msyncs")
        with pool.transaction():
            pool.root = pool.new(pmemobj.PersistentDict)
        d = pool.root
        for i in range(40):
            with pool.transaction():
                d[i] = i
        assert msyncs(pool, lambda i: d.__setitem__(i, -i)) == 3
        assert msyncs(pool, lambda i: d.__setitem__(1000 + i, i)) <= 5
        assert msyncs(pool, lambda i: None) == 0


def test_process_commits_without_msync(pool_path):
    with pmemobj.create(pool_path, durability="process") as pool:
        if pool.is_pmem:
            pytest.skip("persistent memory (or PMEM_IS_PMEM_FORCE): no msyncs")
        with pool.transaction():
            pool.root = pool.new(pmemobj.PersistentDict)
        d = pool.root
        assert msyncs(pool, lambda i: d.__setitem__(i, str(i))) == 0
        before = _core.msyncs_by_the_core()
        pool.sync()
        assert _core.msyncs_by_the_core() - before == 2       # the pool, then its unsynced word
        assert msyncs(pool, lambda i: d.__setitem__(i, -i), n=1) == 1    # the word, set again
        assert msyncs(pool, lambda i: d.__setitem__(i, i)) == 0


# -- "process": a crash of the process, a restart ----------------------------------

KILLED = """
import os, sys, pmemobj
pool = pmemobj.create(sys.argv[1], durability="process")
with pool.transaction():
    pool.root = pool.new(pmemobj.PersistentDict)
i = 0
while True:
    with pool.transaction():
        pool.root[i] = i * i
    os.write(1, b"%d\\n" % i)
    i += 1
"""


def test_process_survives_sigkill(pool_path):
    """SIGKILL at a random moment: every commit that returned is there."""
    child = subprocess.Popen([sys.executable, "-c", KILLED, pool_path], stdout=subprocess.PIPE,
                             env=child_env())
    seen = -1
    deadline = time.monotonic() + 60
    while seen < 2000 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        seen = int(line)
    child.send_signal(signal.SIGKILL)
    rest = child.stdout.read().split()
    child.wait()
    if rest:
        seen = int(rest[-1])
    assert seen >= 100
    with pmemobj.open(pool_path, durability="process") as pool:
        d = pool.root
        n = len(d)
        assert n in (seen + 1, seen + 2)        # the one in flight may have committed
        assert all(d[i] == i * i for i in range(n))
        assert pool.mm.unsynced_at_open == "this boot"


def test_process_pool_not_synced_is_refused_after_a_restart(pool_path):
    run(KILLED.replace("while True", "while i < 50") + "\nos.kill(os.getpid(), 9)\n", pool_path)
    proc = run("import sys, pmemobj; pmemobj.open(sys.argv[1])", pool_path, env=ANOTHER_BOOT)
    assert "InvalidPoolError" in proc.stderr and "durability 'process'" in proc.stderr
    # the command line shows it, and says it may be damaged
    proc = run("import sys; from pmemobj import cli; sys.exit(cli.main(['check', sys.argv[1]]))", pool_path,
               env=ANOTHER_BOOT)
    assert proc.returncode == cli.EXIT_PROBLEMS and cli.UNSYNCED_PROBLEM in proc.stdout
    proc = run("import sys; from pmemobj import cli; sys.exit(cli.main(['info', sys.argv[1]]))", pool_path,
               env=ANOTHER_BOOT)
    assert proc.returncode == 0 and "MAY BE DAMAGED" in proc.stdout
    # ... and stays suspect after a look; opened anyway, it keeps saying so
    code = ("import sys, pmemobj\n"
            "with pmemobj.open(sys.argv[1], durability=sys.argv[2]) as pool:\n"
            "    print(len(pool.root), pool.mm.unsynced_at_open)\n")
    for level in ("power", "process"):
        proc = run(code, pool_path, level, env=dict(ANOTHER_BOOT, PMEMOBJ_ACCEPT_UNSYNCED="1"))
        assert proc.returncode == 0 and proc.stdout.split() == ["50", "an", "earlier", "boot"], proc.stderr
    proc = run("import sys, pmemobj; pmemobj.open(sys.argv[1])", pool_path, env=ANOTHER_BOOT)
    assert "InvalidPoolError" in proc.stderr


@pytest.mark.parametrize("how", ["sync", "close", "open at power"])
def test_process_pool_synced_survives_a_restart(pool_path, how):
    """After sync(), close(), or an open at "power" in the same boot (after
    a SIGKILL), the pool is durable: it opens after a restart, with every commit."""
    tail = {"sync": "pool.sync()\nos.kill(os.getpid(), 9)\n", "close": "pool.close()\n",
            "open at power": "os.kill(os.getpid(), 9)\n"}[how]
    run(KILLED.replace("while True", "while i < 50") + tail, pool_path)
    if how == "open at power":
        run("import sys, pmemobj; pmemobj.open(sys.argv[1]); os._exit(0)".replace("; os", "; import os; os"),
            pool_path)
    proc = run("import sys, pmemobj\nwith pmemobj.open(sys.argv[1]) as pool: print(len(pool.root))", pool_path,
               env=ANOTHER_BOOT)
    assert proc.stdout.split() == ["50"], proc.stderr


def test_info_reports_the_level(pool_path):
    make(pool_path, "process")
    proc = run("import sys; from pmemobj import cli; sys.exit(cli.main(['info', sys.argv[1]]))", pool_path)
    assert "durability:        power (as opened here" in proc.stdout
    assert "unsynced" not in proc.stdout


# -- power loss ---------------------------------------------------------------------

@pytest.mark.powerloss
@pytest.mark.parametrize("p", [0.0, 0.5])
def test_process_level_under_power_loss(simulator, tmpdir_shm, p):
    """The power-loss harness on a pool at "process" (documented as not
    surviving it): every cut point either holds the state of the last sync
    (commits returned since then are lost) or is refused at open as maybe
    damaged.  None is taken for a good pool while damaged or partial, none
    dies or hangs."""
    from powerloss import campaign
    tally = campaign.sweep(tmpdir_shm, 15, p=p, seed=11, mode="process")
    print(f"\nprocess level, p = {p}: {tally.summary()}")
    refused = [r for r in tally.results if "durability 'process'" in r.get("detail", "")]
    for r in tally.failures:
        assert r["outcome"] == "lost commit" or r in refused, (r, tally.summary())
    assert refused                                  # cut while unsynced writes were out
    assert tally.outcomes["death"] == tally.outcomes["hang"] == 0
