"""Crash torture: a deterministic random workload over all three packages in
one pool, run in a child process that is killed with SIGKILL at random moments.

The pool holds pmemobj collections and objects, sharedbuffers arrays built
into pool allocations, and a ptypes Storage kept in ``pool.root["journal"]``;
some pmemobj dict values are ptypes structures.  Transaction ``i`` is fully
determined by ``random.Random(i)``: what it writes (pmemobj objects, the ptypes
storage or both, in one transaction), what it does, and whether it aborts on
purpose.  The pool records the id of the last committed transaction (in
``root["n"]`` and in the storage's ``Root.last``), so a checker replays
transactions ``1..N`` on plain Python models and compares: every committed
transaction is present in full and nothing of a partial one is visible.

A child runs ``torture.main(["child", POOL])`` (check, then work until
killed); ``campaign()`` drives the kills.  tests/soak.py runs long campaigns.
``create_storage_file()`` / ``work_storage_file()`` run the ptypes part of the
workload alone in a file-backed storage (a source for tests/corruption.py).
"""
import gc
import os
import pickle
import random
import signal
import subprocess
import sys
import time

import pmemobj
from pmemobj import PersistentDict, PersistentList, PersistentObject, PersistentSet
from ptypes.storage import Dict, List, Set, Storage
from sharedbuffers import mapped_struct as ms

KEYS = 24              # dict keys, set members and array names come from small ranges
LIST_CAP = 30
LOG_CAP = 16
REC_ATTRS = ("a0", "a1", "a2", "a3")
MISSING = object()
TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)


class Rec(PersistentObject):
    """A user class of persistent objects (stored by module:qualname)."""


class Point:
    __slot_types__ = {"a": int, "label": str}
    __slots__ = tuple(__slot_types__)

    def __init__(self, a=None, label=None):
        self.a, self.label = a, label


POINT = ms.Schema.from_typed_slots(Point)
ms.mapped_object.register_schema(Point, POINT, b"R")


class PointArray(ms.MappedArrayProxyBase):
    schema = POINT


def define_journal_collections(storage):
    """The Entry structure and the collections of the Journal schema, defined in the schema
    of ``storage`` (from its populateSchema); returns Entry, for a Root of other fields."""
    class Entry(storage.schema.Structure):
        n = storage.schema.Int
        text = storage.schema.ByteString
    storage.define(List("Entries")[Entry])
    storage.define(List("Ints")[storage.schema.Int])
    storage.define(Dict("ByKey")[storage.schema.ByteString, Entry])
    storage.define(Set("Keys")[storage.schema.ByteString])
    return Entry


class Journal(Storage):
    def populateSchema(self):
        define_journal_collections(self)

        class Root(self.schema.Structure):
            last = self.schema.Int
            total = self.schema.Float
            label = self.schema.ByteString
            entries = self.schema.Entries
            ints = self.schema.Ints
            byKey = self.schema.ByKey
            keys = self.schema.Keys


# ---------------------------------------------------------------------------
# Model values: what a nested persistent object looks like in the model

class MList(list):
    """A nested PersistentList in the model."""


class MRec(dict):
    """A nested Rec in the model (attribute name -> value)."""


class MArr(tuple):
    """A sharedbuffers array in the model: ((a, label), ...)."""


class MEntry(tuple):
    """A ptypes Entry structure held by a pmemobj dict, in the model: (n, text)."""


class Aborted(Exception):
    """Raised on purpose inside a transaction that must roll back."""


def plan(i):
    """(target, aborts) of transaction i: it writes pmemobj objects ('pool'),
    the ptypes storage ('storage') or both in one transaction ('both')."""
    rng = random.Random(i)
    storage, aborts = rng.random() < 0.3, rng.random() < 0.1
    if not storage:
        return "pool", aborts
    # a separate draw: the storage work of transaction i is the same as in a storage file of its own
    return ("both" if random.Random("both %d" % i).random() < 0.4 else "storage"), aborts


def uses_storage(target):
    return target != "pool"


def points(n, tag):
    return [Point(k, "%s-%d" % (tag, k)) for k in range(n)]


class PoolEnv:
    """Creates nested values in the pool."""

    def __init__(self, pool, storage):
        self.pool = pool
        self.storage = storage

    def new_entry(self, n, text):
        return self.storage.schema.Entry(n=n, text=text)

    def new_list(self, items):
        lst = self.pool.new(PersistentList)
        lst.extend(items)
        return lst

    def new_rec(self, attrs):
        r = self.pool.new(Rec)
        for k, v in attrs.items():
            setattr(r, k, v)
        return r

    def new_array(self, n, tag):
        return PointArray.build(points(n, tag), pool=self.pool)

    def setattr(self, o, k, v):
        setattr(o, k, v)

    def delattr(self, o, k):
        if hasattr(o, k):
            delattr(o, k)


class ModelEnv:
    """Creates the model's equivalents of nested values."""

    def new_entry(self, n, text):
        return MEntry((n, text))

    def new_list(self, items):
        return MList(items)

    def new_rec(self, attrs):
        return MRec(attrs)

    def new_array(self, n, tag):
        return MArr((p.a, p.label) for p in points(n, tag))

    def setattr(self, o, k, v):
        o[k] = v

    def delattr(self, o, k):
        o.pop(k, None)


def value(rng, env, i, depth=0):
    k = rng.randrange(9 if depth == 0 else 7)
    if k == 0:
        return rng.randrange(-1000, 1000)
    if k == 1:
        return 2 ** 70 + rng.randrange(1000)
    if k == 2:
        return "s%d-" % i + "x" * rng.randrange(40)
    if k == 3:
        return b"b%d" % i * rng.randrange(1, 5)
    if k == 4:
        return rng.random()
    if k == 5:
        return None
    if k == 6:
        return (i, "t%d" % rng.randrange(10), rng.randrange(5))
    if k == 7:
        return env.new_list([value(rng, env, i, depth + 1) for _ in range(rng.randrange(4))])
    return env.new_rec({a: value(rng, env, i, depth + 1) for a in REC_ATTRS[:rng.randrange(1, 4)]})


def pool_ops(i, rng, root, env, cross=False):
    """The pmemobj work of a transaction: the same code runs on the pool and on
    the model.  With *cross*, dict values may also be ptypes structures."""
    d, l, s, o, arrs = root["d"], root["l"], root["s"], root["o"], root["arrs"]
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(11 if cross else 10)
        key = rng.randrange(KEYS)
        if op == 10:
            d[key] = env.new_entry(i, b"cross %d" % i)
        elif op == 0:
            d[key] = value(rng, env, i)
        elif op == 1:
            d.pop(key, None)
        elif op == 2:
            l.append(value(rng, env, i))
            if len(l) > LIST_CAP:
                l.pop(0)
        elif op == 3 and len(l):
            l[rng.randrange(len(l))] = value(rng, env, i)
        elif op == 4 and len(l):
            del l[rng.randrange(len(l))]
        elif op == 5:
            l.insert(rng.randrange(len(l) + 1), value(rng, env, i))
        elif op == 6:
            (s.add if rng.random() < 0.6 else s.discard)(key if rng.random() < 0.5 else "k%d" % key)
        elif op == 7:
            env.setattr(o, REC_ATTRS[key % 4], value(rng, env, i))
        elif op == 8:
            env.delattr(o, REC_ATTRS[key % 4])
        else:
            name = "a%d" % (key % 6)
            if rng.random() < 0.7:
                arrs[name] = env.new_array(rng.randrange(1, 20), "%d" % i)
            else:
                arrs.pop(name, None)
    log = root["log"]
    log.append(i)
    if len(log) > LOG_CAP:
        del log[0]
    root["n"] = i


def storage_ops(i, rng, r, registry, entry):
    """The work of a storage transaction on the ptypes root `r` (or its model)."""
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(7)
        key = b"k%d" % rng.randrange(KEYS)
        if op == 0:
            r.entries.append(entry(i, b"entry %d" % i))
            if len(r.entries) > LIST_CAP:
                r.entries.pop(0)
        elif op == 1:
            r.ints.extend(range(rng.randrange(5)))
            while len(r.ints) > LIST_CAP:
                r.ints.pop(0)
        elif op == 2:
            r.byKey[key] = entry(i, b"by %d" % i)
        elif op == 3:
            r.byKey.pop(key, None)
        elif op == 4:
            (r.keys.add if rng.random() < 0.6 else r.keys.discard)(key)
        elif op == 5:
            r.label = b"label %d" % i * rng.randrange(1, 4)
        else:
            registry.get(b"r%d" % rng.randrange(40))
    r.total.add(1.5)
    r.last = i


# ---------------------------------------------------------------------------
# The models

def pool_model():
    return {"d": {}, "l": MList(), "s": set(), "o": MRec(), "arrs": {}, "log": MList(), "n": 0}


class StorageModel:
    class Num:
        def __init__(self):
            self.contents = 0.0

        def add(self, x):
            self.contents += x

    class Registry(set):
        def get(self, k):
            self.add(k)

    def __init__(self):
        self.last = 0
        self.total = self.Num()
        self.label = None
        self.entries, self.ints, self.byKey, self.keys = [], [], {}, set()
        self.registry = self.Registry()


def transaction(i, root, r, registry, env):
    """The work of transaction i (on the pool, or on the models)."""
    target, _ = plan(i)
    rng = random.Random(i)
    rng.random(), rng.random()
    if uses_storage(target):
        storage_ops(i, rng, r, registry, env.new_entry)
    if target != "storage":
        pool_ops(i, rng, root, env, cross=target == "both")


def replay(n, start=None):
    """The models after transactions 1..n (continuing *start*, (k, pm, sm) after k)."""
    k, pm, sm = start if start is not None else (0, pool_model(), StorageModel())
    env = ModelEnv()
    for i in range(k + 1, n + 1):
        if not plan(i)[1]:
            transaction(i, pm, sm, sm.registry, env)
    return pm, sm


def model_counts(pm, sm):
    """How many objects of each class the models hold."""
    counts = {"PersistentDict": 3, "PersistentList": 2, "PersistentSet": 1, "Rec": 1,
              "PooledBuffer": len(pm["arrs"]), "PtStorageRoot": 1, "PtList": 2, "PtDict": 3,
              "PtStructure": 1 + len(sm.entries) + len(sm.byKey)
              + sum(isinstance(v, MEntry) for v in pm["d"].values())}

    def walk(v):
        if isinstance(v, MList):
            counts["PersistentList"] += 1
            items = v
        elif isinstance(v, MRec):
            counts["Rec"] += 1
            items = v.values()
        else:
            return
        for x in items:
            walk(x)
    for v in list(pm["d"].values()) + list(pm["l"]) + list(pm["o"].values()):
        walk(v)
    return counts


# ---------------------------------------------------------------------------
# Reading the files back as plain values

def plain(v):
    if type(v).__name__ == "PtStructure":
        return MEntry((v.n.contents, v.text.contents))
    if isinstance(v, PersistentList):
        return MList(plain(x) for x in v)
    if isinstance(v, Rec):
        return rec_plain(v)
    if isinstance(v, PersistentDict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, PersistentSet):
        return set(v)
    if type(v).__name__ == "PooledBuffer":
        if v.kind == "struct":
            return ("struct", v.a, v.label)
        return MArr((p.a, p.label) for p in v)
    return v


def rec_plain(o):
    out = MRec()
    for a in REC_ATTRS:
        x = getattr(o, a, MISSING)
        if x is not MISSING:
            out[a] = plain(x)
    return out


def storage_plain(r, s):
    got = StorageModel()
    got.last = r.last.contents
    got.total.contents = r.total.contents
    got.label = None if r.label is None else r.label.contents
    got.entries = [(e.n.contents, e.text.contents) for e in r.entries]
    got.ints = [x.contents for x in r.ints]
    got.byKey = {k.contents: (v.n.contents, v.text.contents) for k, v in r.byKey.iteritems()}
    got.keys = {k.contents for k in r.keys}
    got.registry = {k.contents for k in s.stringRegistry}
    return got


def open_journal(pool):
    return Journal(pool=pool, name="journal")


def init_journal(s):
    r = s.root
    r.entries = s.schema.Entries()
    r.ints = s.schema.Ints()
    r.byKey = s.schema.ByKey(4)
    r.keys = s.schema.Keys()


def close(pool, s):
    """Close the storage, then its pool (proxies left in frames are collected first)."""
    gc.collect()
    try:
        s.close()
    finally:
        pool.close()


def create(pool_path, **pool_args):
    """A new pool with the pmemobj containers and the ptypes storage of the workload."""
    with pmemobj.create(pool_path, pool_size=32 << 20, **pool_args) as pool:
        with pool.transaction():
            root = pool.root = pool.new(PersistentDict)
            for name, cls in (("d", PersistentDict), ("arrs", PersistentDict), ("l", PersistentList),
                              ("log", PersistentList), ("s", PersistentSet), ("o", Rec)):
                root[name] = pool.new(cls)
            root["n"] = 0
            del root
        s = open_journal(pool)
        with pool.transaction():
            init_journal(s)
        gc.collect()
        s.close()


# A checked model is saved next to the pool, so that the next check replays
# only the transactions after it (the files never go back to an older state).

def load_checkpoint(pool_path, n):
    try:
        with open(pool_path + ".model", "rb") as f:
            start = pickle.load(f)
    except FileNotFoundError:
        return None
    assert start[0] <= n, f"the files went back from transaction {start[0]} to {n}"
    return start


def save_checkpoint(pool_path, start):
    with open(pool_path + ".model.tmp", "wb") as f:
        pickle.dump(start, f)
    os.replace(pool_path + ".model.tmp", pool_path + ".model")


def short_name(type_name):
    return type_name.rsplit(".", 1)[-1]


STORAGE_FIELDS = ("last", "label", "entries", "ints", "byKey", "keys", "registry")


def examine(pool, s, start=lambda n: None):
    """Compare the open pool and its storage *s* with the models.

    Returns (n, models, problems): n is the last transaction the pool holds,
    models the models after it (replayed from ``start(n)``), and problems maps
    'state' (a value differs from the models: a partial or missing
    transaction) and 'leak' (gc finds garbage or a wrong reference count, or
    objects the models do not account for) to what was found."""
    root, r = pool.root, s.root
    n = max(root["n"], r.last.contents)
    pm, sm = replay(n, start(n))
    problems = {}
    got = {k: plain(root[k]) for k in pm}
    gs = storage_plain(r, s)
    diff = [(k, got[k], pm[k]) for k in pm if got[k] != pm[k]]
    diff += [(k, getattr(gs, k), getattr(sm, k)) for k in STORAGE_FIELDS if getattr(gs, k) != getattr(sm, k)]
    if gs.total.contents != sm.total.contents:
        diff.append(("total", gs.total.contents, sm.total.contents))
    if diff:
        problems["state"] = (n, diff[0])
    del root, r, got, gs
    dry = pool.mm._gc(dry_run=True)
    if dry["freed_total"] or dry["refcounts_wrong"]:
        problems["leak"] = dry
    else:
        kept = {short_name(k): v for k, v in dry["kept"].items()}
        wrong = [(name, kept.get(name, 0), count) for name, count in model_counts(pm, sm).items()
                 if kept.get(name, 0) != count]
        if wrong:
            problems["leak"] = (n, wrong, kept)
    return n, (pm, sm), problems


def check(pool_path):
    """Check the pool against the models; return N, the last committed transaction.

    Raises AssertionError on any difference."""
    assert pmemobj.check_file(pool_path), "pmemobj_check failed"
    pool = pmemobj.open(pool_path)
    s = open_journal(pool)
    try:
        n, models, problems = examine(pool, s, lambda n: load_checkpoint(pool_path, n))
        assert not problems, problems
        save_checkpoint(pool_path, (n, *models))
        return n
    finally:
        close(pool, s)


def work(pool_path, start, stop=None, quiet=False, report=None, **pool_args):
    """Run transactions start, start+1, ... printing the id of each committed
    one (or passing it to *report*)."""
    pool = pmemobj.open(pool_path, **pool_args)
    s = open_journal(pool)
    env = PoolEnv(pool, s)
    i = start
    while stop is None or i < stop:
        aborts = plan(i)[1]
        try:
            with pool.transaction():
                transaction(i, pool.root, s.root, s.stringRegistry, env)
                if aborts:
                    raise Aborted(i)
        except Aborted:
            pass
        else:
            if report is not None:
                report(i)
            elif not quiet:
                print(i, flush=True)
        i += 1
    close(pool, s)


def create_storage_file(path):
    """A file-backed storage holding the ptypes part of the workload."""
    with Journal(path) as s:
        init_journal(s)


def work_storage_file(path, start, stop):
    """The storage work of transactions start..stop-1, on a file-backed storage."""
    s = Journal(path)
    env = PoolEnv(None, s)
    for i in range(start, stop):
        target, aborts = plan(i)
        if not uses_storage(target):
            continue
        rng = random.Random(i)
        rng.random(), rng.random()
        try:
            with s.transaction():
                storage_ops(i, rng, s.root, s.stringRegistry, env.new_entry)
                if aborts:
                    raise Aborted(i)
        except Aborted:
            pass
    gc.collect()
    s.close()


def next_committed(i):
    """The first transaction after i that commits when it runs to its end."""
    i += 1
    while plan(i)[1]:
        i += 1
    return i


# the child imports this module by name, so that its classes are stored as torture.*
CHILD = "import sys, torture; torture.main(sys.argv[1:])"


def spawn(what, pool_path):
    return subprocess.Popen([sys.executable, "-c", CHILD, what, pool_path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=spawn_env())


def campaign(directory, kills, seconds=None, seed=0, max_delay=0.03):
    """Create a pool in *directory*, then start a child that checks it and
    works on it, SIGKILL it at a random moment, and repeat
    *kills* times (or until *seconds* have passed).  Every child checks what the
    previous one left; a final check runs at the end.  Returns the counts."""
    pool_path = os.path.join(directory, "torture.pool")
    create(pool_path)
    rng = random.Random(seed)
    stats = {"kills": 0, "kills_during_recovery": 0, "checks": 0, "committed": 0,
             "in_flight_committed": 0, "last": 0}
    last = 0            # the last transaction a child reported as committed
    deadline = None if seconds is None else time.monotonic() + seconds
    while stats["kills"] < kills and (deadline is None or time.monotonic() < deadline):
        child = spawn("child", pool_path)
        early = rng.random() < 0.1          # sometimes kill it while it opens, recovers and checks
        if early:
            time.sleep(rng.uniform(0, 0.15))
        else:
            first = child.stdout.readline()
            if not first.startswith("checked"):
                child.kill()
                raise AssertionError("child failed before its first check:\n" + first + child.communicate()[1])
            time.sleep(rng.uniform(0, max_delay))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate()
        if child.returncode != -signal.SIGKILL:
            raise AssertionError(f"child ended with {child.returncode} before it was killed:\n{err}")
        lines = out.split("\n") if early else [first] + out.split("\n")
        done = [int(x) for x in lines if x.strip().isdigit()]
        checked = [int(x.split()[1]) for x in lines if x.startswith("checked")]
        if checked:
            n = checked[0]
            stats["checks"] += 1
            if not last <= n <= next_committed(last):
                raise AssertionError(f"after the kill the files hold transaction {n}; the child had "
                                     f"reported {last} as its last commit")
            stats["in_flight_committed"] += n > last
            last = n
        else:
            stats["kills_during_recovery"] += 1
        if done:
            stats["committed"] += len(done)
            last = done[-1]
        stats["kills"] += 1
    final = subprocess.run([sys.executable, "-c", CHILD, "check", pool_path],
                           capture_output=True, text=True, env=spawn_env(), timeout=300)
    if final.returncode != 0:
        raise AssertionError("final check failed:\n" + final.stderr)
    n = int(final.stdout.split()[1])
    if not last <= n <= next_committed(last):
        raise AssertionError(f"final check found transaction {n}; the last reported commit was {last}")
    stats["checks"] += 1
    stats["last"] = n
    return stats


def spawn_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, TESTS, env.get("PYTHONPATH", "")])
    return env


def main(argv):
    what, pool_path = argv[:2]
    n = check(pool_path)
    print("checked", n, flush=True)
    if what == "child":
        work(pool_path, n + 1)


def object_offsets(path, storage_file=False):
    """Offsets of the objects (and their children and substructures) in the
    pool (or a file-backed storage): the targets of 'object data' damage in
    tests/corruption.py."""
    def collect(p):
        offs.add(p._p_oid[1])
        offs.update(o[1] for o in p._p_traverse())
        offs.update(o[1] for o in p._p_substructures())

    offs = set()
    if storage_file:
        pool, s = None, Journal(path)
    else:
        pool = pmemobj.open(path)
        s = open_journal(pool)
    try:
        todo = [pool.root] if pool is not None else []
        v = None
        while todo:
            v = todo.pop()
            if not isinstance(v, pmemobj.PersistentBase):
                continue
            collect(v)
            if isinstance(v, PersistentDict):
                todo.extend(v.values())
            elif isinstance(v, PersistentList):
                todo.extend(v)
            elif isinstance(v, Rec):
                todo.extend(getattr(v, a, None) for a in REC_ATTRS)
        r = s.root
        for p in [r, r.entries, r.ints, r.byKey, r.keys, s.stringRegistry, *r.entries, *r.byKey.itervalues()]:
            collect(p)
        del r, p, v
        return sorted(offs)
    finally:
        if pool is None:
            gc.collect()
            s.close()
        else:
            close(pool, s)
