"""Random transactions of many operations on persistent collections, applied in
lockstep to builtin models.

One vocabulary of operations serves three kinds of tests: hypothesis state
machines (choices drawn by hypothesis, so failures shrink), long single
transactions and the crash child (choices from a seeded random.Random, so a
parent can replay what a killed child did).  An operation is a tuple of plain
data generated without looking at the state; it is interpreted against the
state when applied (indices are taken modulo the current sizes), so the same
sequence means the same thing on the model and on the pool.

Values are scalars (stored inline or as objects of their own: str, bytes,
big ints, tuples, frozensets) or `New` specs of nested collections, realised
as builtins on the model side and with pool.new() on the pool side.
"""
import copy
import random

import pmemobj
from pmemobj import PersistentDict, PersistentList, PersistentObject, PersistentSet

KINDS = ("list", "dict", "set", "object")


class Thing(PersistentObject):
    """The persistent object of the tests (its attributes mirror a dict model)."""


class Attrs(dict):
    """The model of a Thing: its attributes as a dict."""


class New:
    """A spec of a new nested collection: kind and item specs."""
    __slots__ = ("kind", "items")

    def __init__(self, kind, items):
        self.kind, self.items = kind, items

    def __repr__(self):
        return f"New({self.kind!r}, {self.items!r})"


# ---------------------------------------------------------------------------
# Choosers: where the randomness comes from

class RandomChooser:
    def __init__(self, rng):
        self.rng = rng

    def int(self, lo, hi):
        return self.rng.randint(lo, hi)

    def text(self, n):
        return "".join(self.rng.choice("abcdefgh\u00e9\u4e2d") for _ in range(self.rng.randint(0, n)))

    def binary(self, n):
        return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, n)))


class DrawChooser:
    """Choices drawn from hypothesis (`data.draw`), so that failures shrink."""

    def __init__(self, draw):
        from hypothesis import strategies as st
        self.st = st
        self.draw = draw

    def int(self, lo, hi):
        return self.draw(self.st.integers(lo, hi))

    def text(self, n):
        return self.draw(self.st.text("abcdefgh\u00e9\u4e2d", max_size=n))

    def binary(self, n):
        return self.draw(self.st.binary(max_size=n))


# ---------------------------------------------------------------------------
# Generating operations

def key(c):
    """A hashable value: a dict key, a set member."""
    k = c.int(0, 5)
    if k <= 1:
        return c.text(12)
    if k == 2:
        return c.int(-40, 40)
    if k == 3:
        return c.binary(8)
    if k == 4:
        return (c.int(0, 3), c.text(3))
    return c.int(0, 3) * 2 ** 70            # a big int: an object of its own


def scalar(c):
    k = c.int(0, 9)
    if k <= 3:
        return c.text(40)                   # str objects: the allocations that matter
    if k == 4:
        return c.binary(20)
    if k == 5:
        return c.int(-2 ** 80, 2 ** 80)
    if k == 6:
        return (c.text(4), c.int(-3, 3), c.binary(2))
    if k == 7:
        return frozenset(c.int(0, 9) for _ in range(c.int(0, 3)))
    if k == 8:
        return (None, True, 2.5, -1)[c.int(0, 3)]
    return c.int(-10, 10)


def value(c, depth, nested=True):
    """A scalar, or (at depth > 0, sometimes) a new nested collection."""
    if nested and depth > 0 and c.int(0, 5) == 0:
        kind = ("list", "dict", "set", "object")[c.int(0, 3)]
        n = c.int(0, 3)
        if kind == "list":
            items = [value(c, depth - 1) for _ in range(n)]
        elif kind == "dict":
            items = [(key(c), value(c, depth - 1)) for _ in range(n)]
        elif kind == "object":
            items = [(ATTR_NAMES[c.int(0, len(ATTR_NAMES) - 1)], value(c, depth - 1)) for _ in range(n)]
        else:
            items = [key(c) for _ in range(n)]
        return New(kind, items)
    return scalar(c)


def values(c, depth, most=4):
    return [value(c, depth) for _ in range(c.int(0, most))]


def list_op(c, depth=1):
    k = c.int(0, 13)
    i, j = c.int(-60, 60), c.int(-60, 60)
    if k <= 2:
        return ("append", value(c, depth))
    if k == 3:
        return ("insert", i, value(c, depth))
    if k <= 5:
        return ("setitem", i, value(c, depth))
    if k == 6:
        return ("delitem", i)
    if k == 7:
        return ("pop", i)
    if k == 8:
        return ("pop",)
    if k == 9:
        return ("extend", values(c, depth))
    if k == 10:
        return ("setslice", i, j, values(c, depth))
    if k == 11:
        return ("delslice", i, j)
    if k == 12:
        return ("remove_nth", i)
    return ("clear",) if c.int(0, 3) == 0 else ("reverse",)


def dict_op(c, depth=1):
    k = c.int(0, 10)
    if k <= 3:
        return ("setitem", key(c), value(c, depth))
    if k == 4:
        return ("replace_nth", c.int(0, 60), value(c, depth))
    if k == 5:
        return ("delitem_nth", c.int(0, 60))
    if k == 6:
        return ("pop", key(c))
    if k == 7:
        return ("popitem",)
    if k == 8:
        return ("setdefault", key(c), value(c, depth))
    if k == 9:
        return ("update", [(key(c), value(c, depth)) for _ in range(c.int(0, 4))])
    return ("clear",) if c.int(0, 3) == 0 else ("pop_nth", c.int(0, 60))


def set_op(c, depth=1):
    k = c.int(0, 9)
    if k <= 3:
        return ("add", key(c))
    if k == 4:
        return ("discard", key(c))
    if k == 5:
        return ("remove_nth", c.int(0, 60))
    if k == 6:
        return ("pop",)
    if k == 7:
        return (("update", "difference_update", "intersection_update",
                 "symmetric_difference_update")[c.int(0, 3)], [key(c) for _ in range(c.int(0, 4))])
    if k == 8:
        return ("discard_nth", c.int(0, 60))
    return ("clear",) if c.int(0, 4) == 0 else ("add", key(c))


ATTR_NAMES = ("a", "b", "c", "d", "name", "items")


def object_op(c, depth=1):
    k = c.int(0, 3)
    if k <= 2:
        return ("setattr", ATTR_NAMES[c.int(0, len(ATTR_NAMES) - 1)], value(c, depth))
    return ("delattr_nth", c.int(0, 10))


OPS = {"list": list_op, "dict": dict_op, "set": set_op, "object": object_op}


def kind_ops(c, kind, n):
    """`n` operations on one collection of `kind`."""
    gen = OPS[kind]
    return [("top", gen(c)) for _ in range(n)]


def mixed_op(c):
    """An operation of the mixed workload: on the root dict or on a nested collection."""
    k = c.int(0, 9)
    if k <= 1:
        return ("root", dict_op(c, depth=2))
    if k == 2:
        return ("relink", c.int(0, 60), c.int(0, 60), key(c))     # pop from a collection, link at the root
    if k == 3:
        return ("share", c.int(0, 60), key(c))                     # one collection at two places
    if k == 4 and c.int(0, 2) == 0:
        return ("nested_tx", [mixed_op(c) for _ in range(c.int(0, 4))])
    kind = ("list", "dict", "set", "object")[c.int(0, 3)]
    return ("on", kind, c.int(0, 60), OPS[kind](c))


def mixed_ops(c, n):
    return [mixed_op(c) for _ in range(n)]


# ---------------------------------------------------------------------------
# Realising values and reading state back

def model_value(spec):
    if isinstance(spec, New):
        if spec.kind == "list":
            return [model_value(s) for s in spec.items]
        if spec.kind == "dict":
            return {k: model_value(v) for k, v in spec.items}
        if spec.kind == "object":
            return Attrs((k, model_value(v)) for k, v in spec.items)
        return set(spec.items)
    return spec


def pool_value(pool, spec):
    if isinstance(spec, New):
        if spec.kind == "list":
            return pool.new(PersistentList, [pool_value(pool, s) for s in spec.items])
        if spec.kind == "dict":
            return pool.new(PersistentDict, [(k, pool_value(pool, v)) for k, v in spec.items])
        if spec.kind == "object":
            obj = pool.new(Thing)
            for k, v in spec.items:
                setattr(obj, k, pool_value(pool, v))
            return obj
        return pool.new(PersistentSet, spec.items)
    return spec


def canon(x):
    """A comparable form that keeps types (1, 1.0 and True differ) and dict order."""
    if isinstance(x, (PersistentList, list)):
        return ("L", tuple(canon(v) for v in x))
    if isinstance(x, Thing):
        return ("O", tuple(sorted((n, canon(getattr(x, n))) for n in x._p_attrs())))
    if isinstance(x, Attrs):
        return ("O", tuple(sorted((n, canon(v)) for n, v in x.items())))
    if isinstance(x, (PersistentDict, dict)):
        return ("D", tuple((canon(k), canon(v)) for k, v in x.items()))
    if isinstance(x, (PersistentSet, set)):
        return ("S", frozenset(canon(v) for v in x))
    if isinstance(x, tuple):
        return ("T", tuple(canon(v) for v in x))
    if isinstance(x, frozenset):
        return ("F", frozenset(canon(v) for v in x))
    return (type(x).__name__, x)


def kind_of(x):
    if isinstance(x, (Thing, Attrs)):
        return "object"
    if isinstance(x, (PersistentList, list)):
        return "list"
    if isinstance(x, (PersistentDict, dict)):
        return "dict"
    if isinstance(x, (PersistentSet, set)):
        return "set"
    return None


def containers(root, kind):
    """Paths (key tuples from the root) to the collections of `kind` below `root`, root included."""
    out = []
    stack = [((), root)]
    while stack:
        path, x = stack.pop()
        if kind_of(x) == kind:
            out.append(path)
        if isinstance(x, (list, PersistentList)):
            stack.extend((path + (i,), v) for i, v in enumerate(x) if kind_of(v))
        elif isinstance(x, (dict, PersistentDict)):       # Attrs too
            stack.extend((path + (k,), v) for k, v in x.items() if kind_of(v))
        elif isinstance(x, Thing):
            stack.extend((path + (n,), getattr(x, n)) for n in x._p_attrs() if kind_of(getattr(x, n)))
    out.sort(key=repr)
    return out


def at(root, path):
    for k in path:
        root = getattr(root, k) if isinstance(root, Thing) else root[k]
    return root


# ---------------------------------------------------------------------------
# Applying operations to a model and to the pool in lockstep

class Lockstep:
    """Applies operations to `model` (builtins) and `proot` (the pool's root collection)."""

    def __init__(self, pool, model, proot):
        self.pool, self.model, self.proot = pool, model, proot

    def apply(self, op):
        if op[0] == "top":
            return self.on(self.model["c"], self.proot["c"], op[1])
        if op[0] == "root":
            return self.on(self.model, self.proot, op[1])
        if op[0] == "on":
            paths = containers(self.model, op[1])
            if not paths:
                return None
            path = paths[op[2] % len(paths)]
            return self.on(at(self.model, path), at(self.proot, path), op[3])
        if op[0] == "relink":
            return self.relink(op)
        if op[0] == "share":
            keys = [k for k, v in self.model.items() if kind_of(v)]
            if keys:
                src = keys[op[1] % len(keys)]
                self.model[op[2]] = self.model[src]
                self.proot[op[2]] = self.proot[src]
            return None
        if op[0] == "nested_tx":
            with self.pool.transaction():
                for o in op[1]:
                    self.apply(o)
            return None
        raise AssertionError(op)

    def relink(self, op):
        """Pop a collection out of a nested list or dict and link it at the root:
        its count drops to 0 while a proxy holds it, then rises again."""
        paths = [p for p in containers(self.model, "list") + containers(self.model, "dict") if p]
        if not paths:
            return None
        path = paths[op[1] % len(paths)]
        m, p = at(self.model, path), at(self.proot, path)
        if not m:
            return None
        if isinstance(m, list):
            i = op[2] % len(m)
            mv, pv = m.pop(i), p.pop(i)
        else:
            k = list(m)[op[2] % len(m)]
            mv, pv = m.pop(k), p.pop(k)
        self.model[op[3]] = mv
        self.proot[op[3]] = pv
        return None

    def on(self, m, p, op):
        kind = kind_of(m)
        return getattr(self, "_" + kind)(m, p, op)

    def both(self, m, p, fn):
        a = fn(m, model_value)
        b = fn(p, lambda spec: pool_value(self.pool, spec))
        assert canon(a) == canon(b), (a, b)
        return b

    def _list(self, m, p, op):
        name, n = op[0], len(m)

        def idx(i):                     # a valid index, negative ones included
            return i % (2 * n) - n if n else None
        if name == "append":
            return self.both(m, p, lambda t, v: t.append(v(op[1])))
        if name == "insert":
            return self.both(m, p, lambda t, v: t.insert(op[1], v(op[2])))
        if name == "extend":
            return self.both(m, p, lambda t, v: t.extend([v(s) for s in op[1]]))
        if name == "setslice":
            return self.both(m, p, lambda t, v: t.__setitem__(slice(op[1], op[2]), [v(s) for s in op[3]]))
        if name == "delslice":
            return self.both(m, p, lambda t, v: t.__delitem__(slice(op[1], op[2])))
        if name == "reverse":
            return self.both(m, p, lambda t, v: t.reverse())
        if name == "clear":
            return self.both(m, p, lambda t, v: t.clear())
        if n == 0:
            return None
        if name == "setitem":
            return self.both(m, p, lambda t, v: t.__setitem__(idx(op[1]), v(op[2])))
        if name == "delitem":
            return self.both(m, p, lambda t, v: t.__delitem__(idx(op[1])))
        if name == "pop":
            return self.both(m, p, lambda t, v: t.pop(idx(op[1])) if len(op) > 1 else t.pop())
        if name == "remove_nth":
            x = m[idx(op[1])]
            if kind_of(x):              # remove() compares by value: collections are not
                return None
            return self.both(m, p, lambda t, v: t.remove(x))
        raise AssertionError(op)

    def _dict(self, m, p, op):
        name = op[0]
        if name == "setitem":
            return self.both(m, p, lambda t, v: t.__setitem__(op[1], v(op[2])))
        if name == "pop":
            return self.both(m, p, lambda t, v: t.pop(op[1], None))
        if name == "setdefault":
            # (on the pool side, a new collection for a key already there is never linked)
            return self.both(m, p, lambda t, v: t.setdefault(op[1], v(op[2])))
        if name == "update":
            return self.both(m, p, lambda t, v: t.update([(k, v(s)) for k, s in op[1]]))
        if name == "clear":
            return self.both(m, p, lambda t, v: t.clear())
        if not m:
            return None
        k = list(m)[op[1] % len(m)] if name != "popitem" else None
        if name == "replace_nth":
            return self.both(m, p, lambda t, v: t.__setitem__(k, v(op[2])))
        if name == "delitem_nth":
            return self.both(m, p, lambda t, v: t.__delitem__(k))
        if name == "pop_nth":
            return self.both(m, p, lambda t, v: t.pop(k))
        if name == "popitem":
            return self.both(m, p, lambda t, v: t.popitem())
        raise AssertionError(op)

    def _set(self, m, p, op):
        name = op[0]
        if name in ("add", "discard"):
            return self.both(m, p, lambda t, v: getattr(t, name)(op[1]))
        if name.endswith("update"):
            return self.both(m, p, lambda t, v: getattr(t, name)(op[1]))
        if name == "clear":
            return self.both(m, p, lambda t, v: t.clear())
        if not m:
            return None
        if name == "pop":               # the sets may pop different members: follow the pool's
            x = p.pop()
            m.remove(x)
            return x
        x = sorted(m, key=repr)[op[1] % len(m)]
        if name == "remove_nth":
            return self.both(m, p, lambda t, v: t.remove(x))
        return self.both(m, p, lambda t, v: t.discard(x))

    def _object(self, m, p, op):
        if op[0] == "setattr":
            m[op[1]] = model_value(op[2])
            setattr(p, op[1], pool_value(self.pool, op[2]))
            return None
        if not m:
            return None
        name = sorted(m)[op[1] % len(m)]
        del m[name]
        delattr(p, name)
        return None


def model_copy(model):
    """A deep copy keeping shared collections shared (the state to roll back to)."""
    return copy.deepcopy(model)


def new_root(pool, kind):
    """The pool's root: a dict holding one collection of `kind` under "c" (or, for
    "mixed", an empty dict of collections).  Returns the model of the root."""
    with pool.transaction():
        root = pool.new(PersistentDict)
        pool.root = root
        if kind == "mixed":
            return {}
        if kind == "object":
            root["c"] = pool.new(Thing)
            return {"c": Attrs()}
        root["c"] = pool_value(pool, New(kind, []))
        return {"c": model_value(New(kind, []))}


def run_tx(pool, model, ops, abort_at=None):
    """Apply `ops` in one transaction; with `abort_at`, raise after that many
    operations so the transaction rolls back.  Returns the model after it."""
    before = model_copy(model)
    try:
        with pool.transaction():
            step = Lockstep(pool, model, pool.root)
            for n, op in enumerate(ops):
                if abort_at == n:
                    raise Aborted()
                step.apply(op)
            if abort_at is not None:
                raise Aborted()
    except Aborted:
        return before
    return model


class Aborted(Exception):
    """Raised inside a transaction to roll it back."""


def assert_same(pool, model):
    assert canon(pool.root) == canon(model)


def assert_clean_heap(pool):
    """Reference counts are exact and nothing but live proxies keeps garbage:
    gc's dry run finds nothing to free and no count to repair."""
    import gc
    gc.collect()
    with pool.transaction():    # frees what died with its last proxy
        pass
    r = pool.mm._gc(dry_run=True)
    assert r["freed_total"] == 0 and r["refcounts_wrong"] == 0, r


def seeded(seed):
    return RandomChooser(random.Random(seed))


def workload(seed, kind, ntx, ops_per_tx=(1, 50)):
    """A deterministic sequence of (ops, abort) transactions: the crash child's
    work, replayable by its parent."""
    c = seeded(seed)
    for _ in range(ntx):
        n = c.int(*ops_per_tx)
        ops = mixed_ops(c, n) if kind == "mixed" else kind_ops(c, kind, n)
        yield ops, c.int(0, 4) == 0
