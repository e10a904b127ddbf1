"""benchmarks/durable_commits.py runs: a quick pass of pmemobj, the C program and SQLite on
/dev/shm, with the preloaded counter seeing each durable commit's flush calls."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from support import ROOT

SCRIPT = os.path.join(ROOT, "benchmarks", "durable_commits.py")


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler for the flush counter")
def test_quick_run_counts_flushes(tmpdir_shm):
    out = os.path.join(tmpdir_shm, "out")
    r = subprocess.run([sys.executable, SCRIPT, "--quick", "--engines", "pmemobj,c,sqlite",
                        "--workloads", "insert,overwrite", "--dir", tmpdir_shm, "--out", out],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(out, "durable_commits.json")) as f:
        data = json.load(f)
    got = {(x["engine"], x["workload"]): x for x in data["results"]}
    for engine in ("pmemobj", "sqlite"):
        for workload in ("insert", "overwrite"):
            x = got[engine, workload]
            assert "error" not in x, x
            assert x["n"] > 0 and x["tx_per_s"] > 0
            flushes = sum(x["flush_calls"]) / x["n"]
            assert flushes >= 1, x              # every commit is made durable
    assert got["sqlite", "insert"]["per_tx"]["msync"] == 0
    assert got["pmemobj", "insert"]["per_tx"]["msync"] >= 1   # not persistent memory: msync
    if "error" not in got["c", "insert"]:      # no libpmemobj headers: the C program is skipped
        assert got["c", "insert"]["per_tx"]["msync"] >= 1
    assert data["machine"]["filesystems"][tmpdir_shm]["fstype"] == "tmpfs"
    assert "| pmemobj | insert |" in r.stdout
