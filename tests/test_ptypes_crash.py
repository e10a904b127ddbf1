"""SIGKILL a child in the middle of ptypes updates: the reopened storage holds
every committed transaction in full and nothing of a partial one."""
import os
import random
import subprocess
import sys

import pytest

from support import ROOT, TESTS, killed_child

# the Journal schema of the crash torture (tests/torture.py); Root.last counts the updates
SCHEMA = "from torture import Journal, init_journal\n"

CHILD = SCHEMA + r"""
import sys
s = Journal(sys.argv[1])
r = s.root
i = r.last.contents
while True:
    with s.transaction():
        e = s.schema.Entry(n=i, text=b'entry %d' % i)
        r.entries.append(e)
        r.ints.extend(range(i % 7))
        r.byKey[b'k%d' % i] = e
        r.keys.add(b'k%d' % i)
        if i % 3 == 0 and i:
            del r.byKey[b'k%d' % (i - 1)]         # frees nothing: the list holds it
            r.keys.discard(b'k%d' % (i - 1))
        r.label = b'label %d' % i                  # frees the previous label
        s.stringRegistry.get(b'r%d' % (i % 50))
        r.total.add(1.0)
        r.last.inc()
    i += 1
    print(i, flush=True)
"""


def check(path):
    """Reopen the storage and check every invariant of the child's updates."""
    code = SCHEMA + r"""
import sys
s = Journal(sys.argv[1])
r = s.root
n = r.last.contents
assert r.total.contents == n, (r.total.contents, n)
assert [e.n.contents for e in r.entries] == list(range(n))
assert [e.text.contents for e in r.entries] == [b'entry %d' % i for i in range(n)]
assert len(r.ints) == sum(i % 7 for i in range(n))
keys = {b'k%d' % i for i in range(n) if not (i + 1 < n and (i + 1) % 3 == 0)}
assert {k.contents for k in r.byKey.iterkeys()} == keys, n
assert {k.contents for k in r.keys} == keys
assert all(r.byKey[k].n.contents == int(k[1:]) for k in keys)
assert r.label is None if n == 0 else r.label.contents == b'label %d' % (n - 1)
assert len(s.stringRegistry) == min(n, 50)
del r
stats = s.gc()                  # nothing left to free after the gc that opening ran
assert stats['freed_total'] == 0, stats
s.close()
print(n)
"""
    return run_check(code, path)


def kill_children(pool_path, child_code, check, rounds=4, seed=7):
    """Run `child_code` (it prints a line after each commit) on the storage
    at `pool_path` and SIGKILL it at random moments; after each kill
    `check(pool_path)` checks the reopened storage and returns how many
    updates it holds, which must grow."""
    rng = random.Random(seed)
    done = 0
    for _ in range(rounds):
        # once it has committed something, killed at a random moment
        killed_child(child_code, pool_path, rng=rng, delay=(0.05, 0.4))
        n = check(pool_path)
        assert n > done
        done = n
    return done


# the end of a check script: nothing for gc to free or repair, then the count of updates
CLEAN_CLOSE = r"""
stats = s.gc()
assert stats['freed_total'] == 0 and stats['refcounts_fixed'] == 0, stats
s.close()
print(n)
"""


def crash_campaign(pool_path, setup, child, check):
    """Create the storage with the script `setup`, then SIGKILL children
    running `child`, checking the storage with the script `check` each time."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
    subprocess.run([sys.executable, '-c', setup, pool_path], check=True, env=env, timeout=60)
    kill_children(pool_path, child, lambda path: run_check(check, path))


def run_check(code, path):
    """Run a check in a fresh interpreter; it prints how many updates it found."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
    proc = subprocess.run([sys.executable, '-c', code, path], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


@pytest.mark.crash
def test_sigkill_during_updates(pool_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
    setup = SCHEMA + r"""
import sys
with Journal(sys.argv[1], fileSize=256 << 20) as s:
    init_journal(s)
"""
    subprocess.run([sys.executable, '-c', setup, pool_path], check=True, env=env, timeout=60)
    kill_children(pool_path, CHILD, check)


SKIPLIST_SETUP = r"""
import sys
from ptypes.storage import Storage
from ptypes.pcollections import SkipList

class Sorted(Storage):
    def populateSchema(self):
        self.define(SkipList('Ints')[self.schema.Int])
        self.define(SkipList('Names')[self.schema.ByteString])
        class Root(self.schema.Structure):
            ints = self.schema.Ints
            names = self.schema.Names
            n = self.schema.Int

with Sorted(sys.argv[1], fileSize=64 << 20) as s:
    s.root.ints = s.schema.Ints()
    s.root.names = s.schema.Names()
"""

# step i inserts an int and a name and, every third step, deletes an int
SKIPLIST_CHILD = r"""
import sys
from ptypes.storage import Storage
s = Storage(sys.argv[1])
r = s.root
i = r.n.contents
while True:
    with s.transaction():
        r.ints.insert(i * 7919 % 1000)
        r.names.insert(b'%05d' % (i * 31 % 997))
        if i % 3 == 2:
            del r.ints[(i - 1) * 7919 % 1000]
        r.n.inc()
    i += 1
    print(i, flush=True)
"""

SKIPLIST_CHECK = r"""
import bisect, sys
from ptypes.storage import Storage
s = Storage(sys.argv[1])
r = s.root
n = r.n.contents
ints, names = [], []
for i in range(n):
    bisect.insort(ints, i * 7919 % 1000)
    bisect.insort(names, b'%05d' % (i * 31 % 997))
    if i % 3 == 2:
        ints.remove((i - 1) * 7919 % 1000)
assert [x.contents for x in r.ints] == ints and len(r.ints) == len(ints)
assert [x.contents for x in r.names] == names
assert all(r.ints[k].contents == k for k in ints[::17])
del r
""" + CLEAN_CLOSE


@pytest.mark.crash
def test_sigkill_during_skiplist_updates(pool_path):
    crash_campaign(pool_path, SKIPLIST_SETUP, SKIPLIST_CHILD, SKIPLIST_CHECK)


GRAPH_SETUP = r"""
import sys
from ptypes.storage import Storage, List
from ptypes.graph import Node, Edge

class Graph(Storage):
    def populateSchema(self):
        N = self.define(Node('N')[self.schema.Int])
        self.define(Edge('E')[N, N, self.schema.Int])
        self.define(List('Ns')[N])
        class Root(self.schema.Structure):
            nodes = self.schema.Ns
            n = self.schema.Int

with Graph(sys.argv[1], fileSize=64 << 20) as s:
    s.root.nodes = [s.schema.N(i) for i in range(5)]
"""

# step i adds edge i; every fourth step removes the edge added two steps before
GRAPH_CHILD = r"""
import sys
from ptypes.storage import Storage
s = Storage(sys.argv[1])
r = s.root
nodes = list(r.nodes)
i = r.n.contents
while True:
    with s.transaction():
        s.schema.E(nodes[i % 5], nodes[i * 3 % 5], i)
        if i % 4 == 3:
            old = next(e for e in nodes[(i - 2) % 5].outEdges(s.schema.E) if e.contents.contents == i - 2)
            old.remove()
            del old
        r.n.inc()
    i += 1
    print(i, flush=True)
"""

GRAPH_CHECK = r"""
import sys
from ptypes.storage import Storage
s = Storage(sys.argv[1])
r = s.root
n = r.n.contents
edges = [j for j in range(n) if not (j % 4 == 1 and j + 2 < n)]
for k, node in enumerate(r.nodes):
    assert [e.contents.contents for e in node.outEdges(s.schema.E)] == [j for j in reversed(edges) if j % 5 == k]
    assert [e.contents.contents for e in node.inEdges(s.schema.E)] == [j for j in reversed(edges) if j * 3 % 5 == k]
    assert all(e.fromNode.contents.contents == k for e in node.outEdges(s.schema.E))
del r, node
""" + CLEAN_CLOSE


@pytest.mark.crash
def test_sigkill_during_graph_updates(pool_path):
    crash_campaign(pool_path, GRAPH_SETUP, GRAPH_CHILD, GRAPH_CHECK)


BUFFER_SETUP = r"""
import sys
import numpy as np
from ptypes.storage import Storage
from ptypes.buffer import Buffer

class Buffers(Storage):
    def populateSchema(self):
        self.define(Buffer)
        class Root(self.schema.Structure):
            buf = self.schema.Buffer
            n = self.schema.Int

with Buffers(sys.argv[1], fileSize=64 << 20) as s:
    s.root.buf = s.schema.Buffer(np.zeros((250, 400), dtype=np.int64))
"""

# step i writes i + 1 into every element through a numpy array of the pool memory
BUFFER_CHILD = r"""
import sys
import numpy as np
from ptypes.storage import Storage
s = Storage(sys.argv[1])
r = s.root
i = r.n.contents
while True:
    with s.transaction():
        a = np.asarray(r.buf)
        for row in range(a.shape[0]):
            a[row] = i + 1
        del a
        r.n.inc()
    i += 1
    print(i, flush=True)
"""

BUFFER_CHECK = r"""
import sys
import numpy as np
from ptypes.storage import Storage
with Storage(sys.argv[1]) as s:
    n = s.root.n.contents
    a = np.asarray(s.root.buf)
    assert a.shape == (250, 400) and (a == n).all(), (n, np.unique(a))
    del a
print(n)
"""


@pytest.mark.crash
def test_sigkill_during_writes_through_numpy(pool_path):
    pytest.importorskip("numpy")
    crash_campaign(pool_path, BUFFER_SETUP, BUFFER_CHILD, BUFFER_CHECK)
