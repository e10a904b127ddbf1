"""The child whose power fails: the crash torture's workload (tests/torture.py:
one pool holding pmemobj collections with nested objects and frees, a ptypes
Storage and pool-backed sharedbuffers arrays; transactions of several
operations, one in ten rolled back on purpose), from the pool's creation to
its close.

After each call returns, one line goes to the record file: ``created`` when
the pool's creation has returned, then the id of each transaction whose
commit returned, ``closed`` at the end.  The simulator notes the record's size
at each cut point, so the checker knows what had returned when power failed.

Run as ``python -c "from powerloss import workload; workload.main(ARGS)"``
with ARGS = POOL RECORD START STOP MODE: transactions START..STOP-1, on a new
pool if START is 1, else on the pool that transactions 1..START-1 left.
"""
import os

import torture

# How each mode opens its pools, beyond the environment of campaign.MODES.
POOL_ARGS = {"msync": {}, "force": {}, "process": {"durability": "process"}, "journal": {}, "journal-small": {}}


def returned(text):
    """(created, last) from a record: whether the pool's creation returned,
    and the last transaction whose commit returned (0: none)."""
    lines = text.split("\n")[:-1]           # a line being written is not there yet
    ids = [int(x) for x in lines if x.isdigit()]
    return "created" in lines, max(ids, default=0)


def main(argv):
    pool_path, record_path, start, stop, mode = argv[0], argv[1], int(argv[2]), int(argv[3]), argv[4]
    fd = os.open(record_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def note(text):
        os.write(fd, b"%s\n" % str(text).encode())

    if start == 1:
        torture.create(pool_path, **POOL_ARGS[mode])
        note("created")
    torture.work(pool_path, start, stop, report=note, **POOL_ARGS[mode])
    note("closed")
