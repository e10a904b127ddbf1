"""The fresh process that checks what the medium held when power failed.

It takes the images of a directory in the order of its index (lines ``POINT
RECORD_SIZE``, written by the simulator or by campaign.cut()) until the file
``done`` appears there, and deletes each image once checked.  For each:
``begin POINT`` on stdout, then ``result JSON``.

The checks, with what was returned by then (the workload's record up to
RECORD_SIZE): ``python -m pmemobj check`` passes; the pool opens; it holds the
state after the last transaction whose commit returned, or after the one
that was committing (replayed on the crash torture's models, so nothing of a
partial transaction can hide); after the open's recovery, a dry-run gc finds
no garbage, no wrong reference count, and as many objects of each class as
the models account for.  If power failed before the pool's creation
returned, a file that is not a pool yet may fail to open with a clear error.

Run as ``python -c "from powerloss import checker; checker.main([DIR, RECORD, AFTER])"``
(images up to point AFTER are skipped: a restart after a death or a hang).
"""
import contextlib
import io
import json
import os
import signal
import sys
import time

import pmemobj
import torture
from pmemobj import cli

from powerloss.workload import returned


def cli_check(path):
    """``python -m pmemobj check`` (its code, in this process): (exit status, output)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = cli.main(["check", path], out=out)
        except SystemExit as e:
            code = e.code
    return code, (out.getvalue() + err.getvalue()).strip()


def one_line(e):
    return f"{type(e).__name__}: {' '.join(str(e).split())}"[:500]


def examine_early(pool):
    """Problems of a pool whose creation had not returned: any stage of
    torture.create may be there, but nothing may be wrong with it.  Closes it."""
    root = pool.root
    journal = root is not None and "journal" in root
    del root
    s = torture.open_journal(pool) if journal else None
    try:
        if s is not None and s.root.entries is not None:    # the storage was initialised: the full check
            n, _, problems = torture.examine(pool, s)
            if n != 0:
                problems["state"] = (n, "transactions before the pool's creation returned")
            return problems
        dry = pool.mm._gc(dry_run=True)
        return {"leak": dry} if dry["freed_total"] or dry["refcounts_wrong"] else {}
    finally:
        if s is not None:
            torture.close(pool, s)
        else:
            pool.close()


def check(path, created, last):
    """The result of one image (a dict; 'outcome' is 'ok', 'not created' or a failure)."""
    result = {"created": created, "last": last, "opened": False}
    code, text = cli_check(path)
    if code != 0:
        if code == cli.EXIT_ERROR and not created:
            return dict(result, outcome="not created", detail=text[-300:])
        return dict(result, outcome="check failure" if code == cli.EXIT_PROBLEMS else "unusable",
                    detail=text[-500:])
    try:
        pool = pmemobj.open(path)
    except Exception as e:                  # noqa: BLE001 (any exception is a finding)
        return dict(result, outcome="unusable" if created else "not created", detail=one_line(e))
    result["opened"] = True
    try:
        if not created:
            problems = examine_early(pool)
            n = 0
        else:
            s = torture.open_journal(pool)
            try:
                n, _, problems = torture.examine(pool, s)
            finally:
                torture.close(pool, s)
    except Exception as e:                  # noqa: BLE001
        return dict(result, outcome="error", detail=one_line(e))
    finally:
        if not pool.closed:                 # after an error: let go of the file
            with contextlib.suppress(Exception):
                pool.close()
    result["n"] = n
    if "state" in problems or n > torture.next_committed(last):
        return dict(result, outcome="partial", detail=repr(problems.get("state", n))[:500])
    if n < last:
        return dict(result, outcome="lost commit", detail=f"holds {n}, {last} had returned")
    if "leak" in problems:
        return dict(result, outcome="leak", detail=repr(problems["leak"])[:500])
    code, text = cli_check(path)            # and after recovery and a clean close
    if code != 0:
        return dict(result, outcome="check failure", detail="after recovery: " + text[-400:])
    return dict(result, outcome="ok", in_flight=n > last)


def main(argv):
    directory, record_path, after = argv[0], argv[1], int(argv[2])
    index, done = os.path.join(directory, "index"), os.path.join(directory, "done")
    seen = 0
    fault = os.environ.get("PWRLOSS_CHECKER_FAULT")     # "die:POINT" or "hang:POINT": tests the campaign
    while True:
        finished = os.path.exists(done)         # (before reading: the index is complete then)
        try:
            with open(index) as f:
                lines = f.read().split("\n")[:-1]
        except FileNotFoundError:
            lines = []
        for line in lines[seen:]:
            point, size = map(int, line.split())
            image = os.path.join(directory, f"cut-{point:08d}.img")
            if point > after:
                print("begin", point, flush=True)
                if fault == f"die:{point}":
                    os.kill(os.getpid(), signal.SIGSEGV)
                if fault == f"hang:{point}":
                    time.sleep(3600)
                with open(record_path, "rb") as f:
                    created, last = returned(f.read(max(size, 0)).decode())
                result = check(image, created, last)
                print("result", json.dumps(dict(result, point=point)), flush=True)
            with contextlib.suppress(FileNotFoundError):     # (one that failed was moved away)
                os.unlink(image)
        seen = len(lines)
        if finished:
            return 0
        time.sleep(0.01)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
