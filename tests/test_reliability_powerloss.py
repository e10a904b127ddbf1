"""Power loss at every flush (tests/powerloss): the crash torture's workload
over all three packages runs under the simulator from the pool's creation
to its close, and the medium that a power failure at each of its flushes
would leave is checked in a fresh process: it opens (or creation had not
returned), ``python -m pmemobj check`` passes, it holds the state after the
last commit that returned or the one in flight, nothing of a partial
transaction, no garbage after the recovery gc, and nothing died or hung.
``./run soak --powerloss N`` samples more cut points on longer runs."""
import pytest

from powerloss import campaign

TRANSACTIONS = 15       # from the pool's creation: 673 cut points (a storage and a cross write, an abort)
# p = 0.5 on a fuller pool: transactions 31..40 (360 points: two cross writes, a storage write, an abort)
RUNS = {0.0: {"base": 0, "transactions": TRANSACTIONS}, 0.5: {"base": 30, "transactions": 10}}

pytestmark = pytest.mark.powerloss


def report(tally):
    lines = [tally.summary()]
    lines += [f"  point {r['point']}: {r['outcome']}: {r.get('detail', '')[:300]}" for r in tally.failures[:20]]
    return "\n".join(lines)


@pytest.mark.parametrize("p", sorted(RUNS))
def test_every_cut_point(simulator, tmpdir_shm, p):
    """Every flush of a run, with p = 0 (nothing reaches the medium
    unflushed) from the pool's creation to its close, and with p = 0.5 (each
    page written but not yet flushed may have been written back) on a pool
    that 30 transactions filled."""
    tally = campaign.sweep(tmpdir_shm, p=p, seed=2026, **RUNS[p])
    print(f"\npower loss, p = {p}: {tally.summary()}")
    assert tally.failures == [], report(tally)
    assert tally.tried == campaign.count_points(tmpdir_shm, **RUNS[p])
    assert tally.opened > 0.9 * tally.tried
    assert tally.in_flight > 0
    assert tally.outcomes["not created"] > 0 or RUNS[p]["base"]


@pytest.mark.parametrize("mode", ["journal", "journal-small"])
@pytest.mark.parametrize("p", sorted(RUNS))
def test_every_cut_point_with_a_journal(simulator, tmpdir_shm, mode, p):
    """The same with the journal (pmemobj/_journal.pxi): each commit is one
    fdatasync of a record; with a journal of 8 KiB, checkpoints every few
    commits and transactions whose records are cut at drains or go straight
    into the pool, drain by drain."""
    tally = campaign.sweep(tmpdir_shm, p=p, seed=2027, mode=mode, **RUNS[p])
    print(f"\npower loss, {mode}, p = {p}: {tally.summary()}")
    assert tally.failures == [], report(tally)
    assert tally.tried == campaign.count_points(tmpdir_shm, mode=mode, **RUNS[p])
    assert tally.opened + tally.outcomes["not created"] == tally.tried
    assert tally.opened > 0.5 * tally.tried
    assert tally.in_flight > 0


def test_power_fails_again_while_the_pool_recovers(simulator, tmpdir_shm):
    """The medium of a cut in the middle of a transaction is opened under the
    simulator in turn: power fails during libpmemobj's recovery, the gc that
    follows an unclean shutdown, and the transactions after them."""
    total = campaign.count_points(tmpdir_shm, 3, base=40)
    kept = f"{tmpdir_shm}/cut.pool"
    first = campaign.cut(tmpdir_shm, 3, total // 2, p=0.5, seed=3, base=40, keep=kept)
    assert first["outcome"] == "ok", first
    tally = campaign.sweep(tmpdir_shm, 1, p=0.5, seed=4, start=(kept, first["n"]))
    assert tally.failures == [], report(tally)
    assert sum(r["last"] == first["n"] for r in tally.results) > 5      # cut before a new commit returned


def test_a_cut_process_and_an_image_agree(simulator, tmpdir_shm):
    """Ending the workload at a point (a checker of its own) gives what the
    image of that point gave in the sweep (one checker for all images)."""
    total = campaign.count_points(tmpdir_shm, TRANSACTIONS)
    points = [total // 5, total // 3, total // 2, total - 3]
    swept = {r["point"]: r for r in campaign.sweep(tmpdir_shm, TRANSACTIONS, p=0.5, seed=7, at=points).results}
    for point in points:
        one = campaign.cut(tmpdir_shm, TRANSACTIONS, point, p=0.5, seed=7)
        assert (one["outcome"], one.get("n")) == (swept[point]["outcome"], swept[point].get("n")), point


@pytest.mark.parametrize("fault", ["die", "hang"])
def test_a_checker_that_dies_or_hangs_is_counted(simulator, tmpdir_shm, monkeypatch, fault):
    """The campaign's own test: a death by a signal or a hang while an image
    is checked is a failure of that point, and the images after it are
    still checked."""
    at = campaign.count_points(tmpdir_shm, 1) - 20        # three points in the transaction, after the creation
    monkeypatch.setenv("PWRLOSS_CHECKER_FAULT", f"{fault}:{at}")
    monkeypatch.setattr(campaign, "HANG", 3)
    tally = campaign.sweep(tmpdir_shm, 1, at=[at - 5, at, at + 5])
    assert [(r["point"], r["outcome"]) for r in tally.results] == [
        (at - 5, "ok"), (at, "death" if fault == "die" else "hang"), (at + 5, "ok")]


def test_lost_flushes_are_found(simulator, tmpdir_shm):
    """The checks are not vacuous: a device that loses one flush in three
    leaves pools that hold partial transactions or fail the check."""
    total = campaign.count_points(tmpdir_shm, 3, base=50)
    tally = campaign.sweep(tmpdir_shm, 3, base=50, drop=3, at=range(1, total + 1, 3))
    assert len(tally.failures) >= 5, tally.summary()
    assert tally.outcomes["death"] == tally.outcomes["hang"] == 0, report(tally)


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_force_mode_does_not_survive_power_loss(simulator, tmpdir_shm, p):
    """With PMEM_IS_PMEM_FORCE=1 on a file that is not persistent memory,
    libpmemobj flushes CPU caches and calls no msync: a commit survives a
    crash of the process (the page cache keeps it), but nothing brings it to
    the medium.  Cut at its drains, every pool is lost once its creation has
    returned: with p = 0 the medium never got more than the first page of the
    header, with p = 0.5 a random half of the pages written (a damaged pool).
    Nothing dies or hangs on these files."""
    total = campaign.count_points(tmpdir_shm, TRANSACTIONS, mode="force")
    tally = campaign.sweep(tmpdir_shm, TRANSACTIONS, p=p, seed=5, mode="force", at=range(1, total + 1, 15))
    print(f"\nforce mode, p = {p}: {tally.summary()}")
    created = [r for r in tally.results if r.get("created")]
    assert created and all(r["outcome"] in campaign.FAILURES for r in created), report(tally)
    assert tally.outcomes["death"] == tally.outcomes["hang"] == 0, report(tally)
