"""Command-line tools for pool files: ``python -m pmemobj info|check|gc|dump FILE``
and ``python -m pmemobj backup SRC DEST``.

``info``, ``check`` and ``dump`` look at a pool without changing what it
holds: they open it without the gc that a normal open runs after an unclean
shutdown, and they leave the clean-shutdown flag as they found it (a pool that
was not closed cleanly is still recovered by the next normal open).  ``gc``
opens the pool normally and collects its garbage.  ``backup`` copies a pool
that no other process has open (pool.backup() copies one a program has open);
for a growing pool (a pool set file) FILE is the set file.

The packages built on the core show their objects here through what they
register in :mod:`pmemobj.inspectors`.  With ``--PACKAGE`` (or as ``python -m
PACKAGE ...``) the file is opened as a file of that package's own kind (for
ptypes a Storage: its schema is shown and the dump starts at the Root
structure); ``--name NAME`` opens the one a pool keeps in ``pool.root[NAME]``.

Exit status: 0 success; 1 ``check`` found a problem; 2 the file cannot be
used (missing, not a pool, damaged) or the command line is wrong.  Errors are
one line on stderr.
"""
import argparse
import contextlib
import errno
import gc as _pygc
import json
import os
import struct
import sys

from . import _core, _poolset, inspectors
from .inspectors import short as _short

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR = 0, 1, 2

# struct pmemobjpool (libpmemobj 1.12): pool header (4096) + layout (1024) +
# lanes_offset + nlanes, then heap_offset
_HEAP_OFFSET_AT = 4096 + 1024 + 16


class CliError(Exception):
    """An error shown to the user as one line (exit status 2)."""


# ---------------------------------------------------------------------------
# Opening a pool for a look

def _heap_offset(path):
    with open(_poolset.first_part(path), "rb") as f:
        f.seek(_HEAP_OFFSET_AT)
        data = f.read(8)
    return struct.unpack("<Q", data)[0] if len(data) == 8 else 0


@contextlib.contextmanager
def inspect_pool(path):
    """Open the pool at *path* for reading; yield its MemoryManager.

    No gc runs at open.  On exit the pool is closed as found: marked clean if
    it was clean, otherwise released unmarked so the next open recovers it."""
    mm = _core.MemoryManager()
    mm._open(path, "w", accept_unsynced=True)      # a suspect pool is shown, and said to be one
    was_unclean = mm.unclean
    try:
        yield mm
    finally:
        # objects found at refcount 0 are gc's business, not this look's
        mm.orphans.clear()
        if was_unclean:
            # Leave it unmarked: keep the manager out of the close-at-exit
            # list; once unreferenced it releases the mapping without marking
            # the pool clean (it and its transaction object form a cycle).
            _core._open_managers.discard(mm)
            del mm
            _pygc.collect()
        elif not mm.closed:
            mm.close()


class _Target:
    """What a command looks at: the pool's manager, a way to its root, the
    fields ``info`` adds, and the inspector that opened it (None: a pool looked
    at by the core, with the inspectors of the packages its classes belong to)."""

    def __init__(self, mm, get_root, fields, opener, readers=()):
        self.mm, self.root, self.fields = mm, get_root, fields
        self.opener, self.readers = opener, readers


@contextlib.contextmanager
def looking_at(path, opener=None, name=None):
    """Yield a _Target for *path*: the pool itself, or with an *opener*
    (an Inspector) its file; with *name*, what the pool keeps in ``pool.root[name]``."""
    if opener is None and name is None:
        with inspect_pool(path) as mm, contextlib.ExitStack() as stack:
            readers = inspectors.for_pool(mm)
            fields = {}
            for r in readers:
                fields.update(stack.enter_context(r.reading(mm, path)))
            yield _Target(mm, mm.get_root, fields, None, readers)
    elif name is None:
        with opener.open_file(path) as handle:
            yield _Target(handle.mm, lambda: handle.root, opener.file_info(handle), opener)
    else:
        from .pool import PersistentObjectPool
        pool = PersistentObjectPool(path, flag="w")
        try:
            opener = _keeper(pool, path, name, opener)
            with opener.open_kept(pool, name) as handle:
                yield _Target(handle.mm, lambda: handle.root, opener.file_info(handle), opener)
        finally:
            try:
                pool.close()
            except ValueError:
                pass


def _keeper(pool, path, name, opener):
    """The inspector that opens what *pool* keeps in ``pool.root[name]`` (*opener*
    when given); ValueError when it keeps nothing of that kind there."""
    holder = pool.root
    value = holder[name] if hasattr(holder, "keys") and name in holder else None     # never create one
    owner = inspectors.for_value(value)
    if owner is None or owner.root_kind(value) is None or opener not in (None, owner):
        what = opener.kind if opener is not None else "storage"
        raise ValueError(f"{path}: the pool keeps no {what} in pool.root[{name!r}]")
    return owner


def _mode(is_pmem, journal=None):
    if journal is not None:
        return ("emulated with a journal (one fdatasync per commit; survives process crash, and power loss "
                "at durability power)")
    if not is_pmem:
        return "emulated (msync of what each drain orders; survives process crash, and power loss at durability power)"
    if os.environ.get("PMEM_IS_PMEM_FORCE", "0") not in ("", "0"):
        return "forced pmem (PMEM_IS_PMEM_FORCE; survives process crash only)"
    return "pmem (CPU cache flushes; survives process crash and power loss)"


_DURABILITY = {"power": "every committed transaction survives a power loss",
               "process": "commits survive a crash of the process; sync() makes them survive a power loss"}
_UNSYNCED = {"this boot": "a 'process' session of this boot wrote without syncing (the page cache holds it; "
                          "an open at 'power' syncs it)",
             "an earlier boot": "a 'process' session wrote without syncing before the system went down: "
                                "the pool MAY BE DAMAGED (an open refuses it)"}
UNSYNCED_PROBLEM = ("the pool was written at durability 'process' and not synced before the system went down: "
                    "any part of those writes may be missing")


def _type_of(value):
    t = type(value)
    if t.__module__ == "builtins":
        return t.__qualname__
    return f"{t.__module__}.{t.__qualname__}"


def pool_info(mm, path):
    """A dict describing the open pool *mm* (see ``python -m pmemobj info``)."""
    damage = None
    try:
        stats = mm._gc(dry_run=True)
    except _core.InvalidPoolError as e:     # still show what can be shown
        damage = e.strerror or str(e)
        stats = {"kept": {}, "freed": {}, "kept_total": 0, "freed_total": 0, "kept_bytes": 0,
                 "freed_bytes": 0, "refcounts_wrong": 0, "unknown_classes": {}}
    try:
        space = mm.stats()
        heap, used = space["heap_bytes"], space["used_bytes"]
        largest, free_chunks = space["largest_free_block"], space["free_chunk_bytes"]
    except _core.InvalidPoolError as e:
        damage = damage or e.strerror or str(e)
        heap = max(mm.pool_size - _heap_offset(path), 0)
        used = stats["kept_bytes"] + stats["freed_bytes"]
        largest = free_chunks = None
    try:
        root = mm.get_root()
        root_type = _type_of(root)
        kind = _root_kind(root)[0] or "pmemobj pool"
        del root
    except (TypeError, ValueError, OSError) as e:
        root_type = f"<cannot load: {e}>"
        kind = "pmemobj pool"
    return {
        "file": path,
        "kind": kind,
        "layout": _core.LAYOUT_NAME,
        "layout_version": _core.LAYOUT_VERSION,
        "pool_size": mm.pool_size,
        "max_size": mm.max_size or None,
        "grow_by": mm.grow_by or None,
        "heap_size": heap,
        "used_bytes": used,
        "free_bytes_approx": max(heap - used, 0),
        "free_chunk_bytes": free_chunks,
        "largest_free_block": largest,
        "persistence": _mode(mm.is_pmem, mm.journal),
        "journal": mm.journal,
        "durability": mm.durability,
        "unsynced_writes": mm.unsynced_at_open,
        "is_pmem": bool(mm.is_pmem),
        "clean_shutdown": not mm.unclean,
        "opens_before": mm.stats()["opens"] - 1,
        "root_type": root_type,
        "objects": dict(sorted(stats["kept"].items())),
        "objects_total": stats["kept_total"],
        "objects_bytes": stats["kept_bytes"],
        "garbage": dict(sorted(stats["freed"].items())),
        "garbage_total": stats["freed_total"],
        "garbage_bytes": stats["freed_bytes"],
        "refcounts_wrong": stats["refcounts_wrong"],
        "unknown_classes": dict(sorted(stats["unknown_classes"].items())),
        "gc_records": _gc_records(mm),
        "damage": damage,
    }


def _gc_records(mm):
    """What the incremental collector's records hold (None when they cannot be read)."""
    try:
        orphans, candidates, flags = mm._records()
    except _core.InvalidPoolError:
        return None
    return {"orphans": len(orphans), "candidates": len(candidates), "full_gc_needed": bool(flags)}


def _root_kind(root):
    """(what a pool whose root is *root* is, the package that says so), or (None, None)."""
    insp = inspectors.for_value(root)
    kind = insp.root_kind(root) if insp is not None else None
    return (kind, insp.package) if kind is not None else (None, None)


def _mib(n):
    return f"{n} bytes ({n / (1 << 20):.1f} MiB)"


def format_info(info, out, extra=()):
    """The text of ``info``; *extra*: (label, text) lines the inspectors add."""
    w = out.write
    w(f"file:              {info['file']}\n")
    w(f"kind:              {info['kind']}\n")
    w(f"layout:            {info['layout']} version {info['layout_version']}\n")
    w(f"pool size:         {_mib(info['pool_size'])}\n")
    if info.get("max_size"):
        w(f"maximum size:      {_mib(info['max_size'])} (grows by {_mib(info['grow_by'])} when full)\n")
    w(f"heap size:         {_mib(info['heap_size'])}\n")
    unknown = "unknown (damaged pool)\n" if info["damage"] else None
    w(f"used:              {unknown or _mib(info['used_bytes']) + chr(10)}")
    w(f"free:              {unknown or _mib(info['free_bytes_approx']) + chr(10)}")
    if not unknown and info["largest_free_block"] is not None:
        w(f"largest free block: {_mib(info['largest_free_block'])} (the largest allocation that fits now)\n")
    w(f"persistence mode:  {info['persistence']}\n")
    w(f"durability:        {info['durability']} (as opened here; {_DURABILITY[info['durability']]})\n")
    if info["unsynced_writes"]:
        w(f"unsynced writes:   {_UNSYNCED[info['unsynced_writes']]}\n")
    if info.get("journal"):
        j = info["journal"]
        w(f"journal:           {j['capacity'] >> 10} KiB at 0x{j['offset']:x} (records written into the pool "
          f"file at checkpoints; an open replays what a crash left)\n")
    flag = "yes" if info["clean_shutdown"] else "NO (the next open runs gc to recover)"
    w(f"clean shutdown:    {flag}\n")
    w(f"earlier opens:     {info['opens_before']}\n")
    w(f"root:              {info['root_type']}\n")
    rec = info["gc_records"]
    if rec is None:
        w("gc records:        unreadable (the next open runs the full gc)\n")
    else:
        w(f"gc records:        {rec['orphans']} orphans, {rec['candidates']} cycle candidates"
          f"{' (the next open runs the full gc)' if rec['full_gc_needed'] else ''}\n")
    for label, text in extra:
        w(f"{label + ':':19s}{text}\n")
    if info["damage"]:
        w(f"DAMAGE:            {info['damage']}\n")
        return
    for name, n in info["unknown_classes"].items():
        w(f"not importable:    class {name} ({n} objects; add the directory of its module to PYTHONPATH): "
          f"what they reference is counted as garbage here\n")
    w(f"objects:           {info['objects_total']} reachable, {info['objects_bytes']} bytes\n")
    for name, n in info["objects"].items():
        w(f"    {n:8d}  {name}\n")
    if info["garbage_total"]:
        w(f"garbage:           {info['garbage_total']} unreachable, {info['garbage_bytes']} bytes "
          f"(gc frees them)\n")
        for name, n in info["garbage"].items():
            w(f"    {n:8d}  {name}\n")
    if info["refcounts_wrong"]:
        w(f"wrong refcounts:   {info['refcounts_wrong']} (gc repairs them)\n")
    if "schema" in info:
        w(f"schema:            {len(info['schema'])} types\n")
        for name, kind in info["schema"]:
            w(f"    {kind:10s}  {name}\n")


# ---------------------------------------------------------------------------
# Walking the object tree (dump and check)

def _persistent_id(value):
    oid = getattr(value, "_p_oid", None)
    if isinstance(oid, tuple) and len(oid) == 2 and oid[1]:
        return oid[1]
    return None


class _Failed:
    """A value that could not be loaded, shown in its place (its siblings still are)."""

    def __init__(self, error):
        self.error = error


def _each(pairs):
    """(label, value) from an iterator of (label, loader): a value that fails to
    load becomes _Failed, and so does a step of the iterator itself."""
    while True:
        try:
            label, load = next(pairs)
        except StopIteration:
            return
        except _LOAD_ERRORS as e:
            yield ("...", _Failed(e))
            continue
        try:
            yield (label, load())
        except _LOAD_ERRORS as e:
            yield (label, _Failed(e))


def _children(value):
    """(label, child) pairs of a container value, loaded lazily from the pool."""
    insp = inspectors.for_value(value)
    kids = insp.children(value) if insp is not None else None
    if kids is not None:
        return kids
    cls_name = _type_of(value)
    if isinstance(value, (tuple, list)) or cls_name in (
            "pmemobj.collections.list.PersistentList", "pmemobj.collections.tuple.PersistentTuple"):
        return _each((f"[{i}]", lambda i=i: value[i]) for i in range(len(value)))
    if isinstance(value, dict) or cls_name == "pmemobj.collections.dict.PersistentDict":
        return _each((_short(k), lambda k=k: value[k]) for k in value.keys())
    if isinstance(value, (set, frozenset)) or cls_name in (
            "pmemobj.collections.set.PersistentSet", "pmemobj.collections.set.PersistentFrozenSet"):
        return _each(("-", lambda v=v: v) for v in value)
    attrs = getattr(value, "_p_attrs", None)
    if callable(attrs):                 # PersistentObject and its subclasses
        return _each((f".{a}", lambda a=a: getattr(value, a)) for a in attrs())
    if isinstance(value, _core.PersistentBase) or hasattr(value, "_p_traverse"):
        mm = value._p_mm                # any other Persistent type: what it references
        return _each((f"-> 0x{mm.otuple(oid)[1]:x}", lambda oid=oid: mm.resurrect(oid))
                     for oid in value._p_traverse())
    return iter(())


def _limited(kids, max_items, total):
    """The first *max_items* of *kids*, then a line saying how many were left out."""
    for n, kid in enumerate(kids):
        if n == max_items:
            more = f"{total - max_items} more items" if total is not None else "more items"
            yield ("...", _More(more))
            return
        yield kid


def _describe(value):
    """One line for a value: scalars by repr, containers by type and size."""
    insp = inspectors.for_value(value)
    desc = insp.describe(value) if insp is not None else None
    if desc is not None:
        return desc
    pid = _persistent_id(value)
    if pid is not None:
        desc = _type_of(value)
        try:
            desc += f" ({len(value)} items)"
        except TypeError:
            pass
        return f"{desc} @0x{pid:x}"
    if isinstance(value, (tuple, frozenset)) and value:
        return f"{type(value).__name__} ({len(value)} items)"
    return _short(value)


_LOAD_ERRORS = (TypeError, ValueError, OSError, KeyError, AttributeError, UnicodeError, MemoryError,
                RuntimeError)


def walk(value, max_depth, visit, max_items=None):
    """Walk the tree below *value* depth first: ``visit(depth, label, text)``.

    Containers are read lazily (a stack of iterators), so a huge one costs no
    memory.  Objects reached twice (shared or cyclic) are shown once.  A value
    that cannot be loaded is reported as text starting with '!' and counted;
    returns the count."""
    seen = set()
    errors = 0
    stack = [(0, iter([("root", value)]))]
    del value
    while stack:
        depth, kids = stack[-1]
        try:
            kid = next(kids, None)
        except _LOAD_ERRORS as e:
            errors += 1
            visit(depth, "...", f"! {type(e).__name__}: {e}")
            kid = None
        if kid is None:
            stack.pop()
            continue
        label, v = kid
        if type(v) is _More:
            visit(depth, label, str(v))
            continue
        if type(v) is _Failed:
            errors += 1
            visit(depth, label, f"! {type(v.error).__name__}: {v.error}")
            continue
        try:
            pid = _persistent_id(v)
            if pid is not None and pid in seen:
                visit(depth, label, f"{_type_of(v)} @0x{pid:x} (shown above)")
                continue
            if pid is not None:
                seen.add(pid)
            visit(depth, label, _describe(v))
            if max_depth is not None and depth >= max_depth:
                continue
            grandkids = _children(v)
            if max_items is not None:
                try:
                    total = len(v)
                except TypeError:
                    total = None
                grandkids = _limited(grandkids, max_items, total)
        except _LOAD_ERRORS as e:
            errors += 1
            visit(depth, label, f"! {type(e).__name__}: {e}")
            continue
        stack.append((depth + 1, grandkids))
    return errors


class _More(str):
    """The line standing for the items past --max-items."""


def _print_visit(out):
    def visit(depth, label, text):
        out.write(f"{'  ' * depth}{label}: {text}\n")
    return visit


# ---------------------------------------------------------------------------
# The commands

def _looking(args):
    return looking_at(args.file, args.opener, args.name)


def cmd_info(args, out):
    with _looking(args) as look:
        info = pool_info(look.mm, args.file)
        info.update(look.fields)
        extra = [line for r in look.readers for line in r.info_lines(info)]
    if args.json:
        json.dump(info, out, indent=2)
        out.write("\n")
    else:
        format_info(info, out, extra)
    return EXIT_OK


def cmd_check(args, out):
    problems = []
    notes = []
    if _core.unsynced_state_of(args.file) == "an earlier boot":
        out.write(f"PROBLEM: {UNSYNCED_PROBLEM}\n")        # first: the checks below may fail on the damage
        problems.append(UNSYNCED_PROBLEM)
    if _core.check_file(args.file):
        out.write("libpmemobj check: consistent\n")
    else:
        out.write("libpmemobj check: INCONSISTENT\n")
        problems.append("libpmemobj reports the pool inconsistent")
    with _looking(args) as look:
        mm = look.mm
        clean = not mm.unclean
        if not clean:
            notes.append("the pool was not closed cleanly" +
                         ("; gc ran at this open" if look.opener else "; the next open runs gc"))
        try:
            stats = mm._gc(dry_run=True)
        except (_core.InvalidPoolError, TypeError, ValueError) as e:
            problems.append(f"structure: {_one_line(e)}")
            stats = None
        if stats is not None:
            out.write(f"structure: {stats['kept_total']} reachable objects, "
                      f"{stats['freed_total']} unreachable\n")
            for name, n in sorted(stats["unknown_classes"].items()):
                notes.append(f"class {name} is not importable ({n} objects): add the directory of its module to "
                             f"PYTHONPATH to check what they reference")
            if stats["freed_total"]:
                notes.append(f"{stats['freed_total']} unreachable objects ({stats['freed_bytes']} bytes): "
                             f"gc frees them")
            if stats["refcounts_wrong"]:
                msg = f"{stats['refcounts_wrong']} wrong reference counts"
                if clean:
                    problems.append(msg)
                else:
                    notes.append(msg + " (gc repairs them)")
        failures = []
        loaded = 0

        unloadable = 0

        def count(depth, label, text):
            nonlocal loaded, unloadable
            if text.startswith("! UnknownClassError"):
                unloadable += 1         # the classes are named by the notes above
            elif text.startswith("! "):
                failures.append(f"cannot load {label} at depth {depth}: {text[2:]}")
            else:
                loaded += 1
        start = _root_or_error(look, problems, notes)
        if start is not _NO_ROOT:
            walk(start, None, count)
            del start
            out.write(f"values: {loaded} loaded, {len(failures)} failed"
                      + (f", {unloadable} of classes that are not importable" if unloadable else "") + "\n")
            problems.extend(failures)
    for n in notes:
        out.write(f"note: {n}\n")
    for p in problems:
        if p is not UNSYNCED_PROBLEM:
            out.write(f"PROBLEM: {p}\n")
    out.write("result: " + ("problems found\n" if problems else "ok\n"))
    return EXIT_PROBLEMS if problems else EXIT_OK


_NO_ROOT = object()


def _root_or_error(look, problems, notes):
    try:
        return look.root()
    except _core.UnknownClassError as e:
        notes.append(f"the root cannot be loaded: {e}")
        return _NO_ROOT
    except (TypeError, ValueError, OSError) as e:
        problems.append(f"cannot load the root: {e}")
        return _NO_ROOT


def cmd_gc(args, out):
    if args.dry_run:
        with inspect_pool(args.file) as mm:
            stats = mm._gc(dry_run=True)
        verb = "would free"
    else:
        from .pool import PersistentObjectPool
        pool = PersistentObjectPool(args.file)
        try:
            recovered = pool.recovered
            stats = pool.gc()
        finally:
            pool.close()
        if recovered is not None:
            out.write(f"recovery gc at open (unclean shutdown): freed {recovered['freed_total']} objects, "
                      f"{recovered['freed_bytes']} bytes\n")
        verb = "freed"
    fixed = stats.get("refcounts_wrong", stats.get("refcounts_fixed", 0))
    out.write(f"kept {stats['kept_total']} objects ({stats['kept_bytes']} bytes); {verb} "
              f"{stats['freed_total']} objects ({stats['freed_bytes']} bytes); "
              f"{'wrong' if args.dry_run else 'repaired'} reference counts: {fixed}\n")
    for name, n in sorted(stats["freed"].items()):
        out.write(f"    {n:8d}  {name}\n")
    return EXIT_OK


def cmd_dump(args, out):
    visit = _print_visit(out)
    with _looking(args) as look:
        try:
            root = look.root()
        except _core.UnknownClassError as e:
            out.write(f"root: ! UnknownClassError: {e}\n")
            return EXIT_OK
        kind, package = _root_kind(root)
        if kind is not None:
            out.write(f"root: {kind} root (use: python -m {package} dump FILE)\n")
        else:
            walk(root, args.depth, visit, args.max_items)
        del root
    return EXIT_OK


def cmd_backup(args, out):
    from .backup import backup
    with inspect_pool(args.file) as mm:
        backup(mm, args.dest)
    out.write(f"{args.file} -> {args.dest}\n")
    return EXIT_OK


COMMANDS = {"info": cmd_info, "check": cmd_check, "gc": cmd_gc, "dump": cmd_dump, "backup": cmd_backup}


def build_parser(prog="python -m pmemobj", opener=None):
    """The parser of ``python -m pmemobj``, or with *opener* (an Inspector) of
    ``python -m PACKAGE``, which opens files of that package's kind."""
    p = argparse.ArgumentParser(prog=prog, description=(
        f"Inspect, check and collect {opener.kind}s." if opener is not None else
        "Inspect, check and collect pmemobj pool files."))
    if opener is None:
        # one flag per package with an inspector, named from installed metadata
        # without importing the package
        for package in inspectors.packages():
            p.add_argument(f"--{package}", dest="kind", action="store_const", const=package,
                           help=f"open FILE with the tools of {package}, as a file of its own kind")
        name_help = ("open what a pmemobj pool keeps in pool.root[NAME] (e.g. a storage of a package "
                     "on the core) with the tools of its package")
    else:
        name_help = f"open the {opener.kind} kept in pool.root[NAME] of a pmemobj pool"
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("info", help="size, space, objects by type, persistence mode, clean-shutdown flag")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--name", metavar="NAME", default=None, help=name_help)
    s.add_argument("--json", action="store_true", help="print the information as JSON")
    s = sub.add_parser("check", help="libpmemobj's consistency check and a walk of every reachable object")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--name", metavar="NAME", default=None, help=name_help)
    if opener is None:
        s = sub.add_parser("gc", help="free unreachable objects and repair reference counts")
        s.add_argument("file", metavar="FILE")
        s.add_argument("--dry-run", action="store_true", help="only count what gc would do")
    if opener is None:
        s = sub.add_parser("backup", help="copy the pool to DEST (a new path; a growing pool: a set file "
                                          "and its parts in DEST.parts); the copy opens as the same pool")
        s.add_argument("file", metavar="SRC")
        s.add_argument("dest", metavar="DEST")
    s = sub.add_parser("dump", help="print the object tree from the root")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--name", metavar="NAME", default=None, help=name_help)
    s.add_argument("--depth", type=int, default=4, help="levels below the root to show (default 4)")
    s.add_argument("--max-items", type=int, default=100, help="items shown per container (default 100)")
    return p


def main(argv=None, prog="python -m pmemobj", opener=None, out=None):
    """Run the command line on *argv*; returns the exit status.  *opener*: the
    Inspector whose kind of file ``python -m PACKAGE`` opens."""
    args = build_parser(prog, opener).parse_args(argv)
    args.name = getattr(args, "name", None)
    out = sys.stdout if out is None else out
    try:
        if not os.path.lexists(args.file):     # before anything could create it
            raise FileNotFoundError(errno.ENOENT, "pool file does not exist", args.file)
        kind = getattr(args, "kind", None)
        args.opener = opener if kind is None else inspectors.for_package(kind)
        try:
            return COMMANDS[args.command](args, out)
        finally:
            _pygc.collect()         # release pools left unmarked (see inspect_pool)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:             # output piped into e.g. head: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (OSError, TypeError, ValueError, MemoryError, ImportError, _core.TransactionError) as e:
        sys.stderr.write(f"{prog.split()[-1]} {args.command}: error: {_one_line(e)}\n")
        return EXIT_ERROR


def _one_line(e):
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        msg = f"{e.filename}: {e.strerror}"
    else:
        msg = str(e) or type(e).__name__
    if isinstance(e, (TypeError, ValueError)) and not isinstance(e, OSError):
        msg = f"{type(e).__name__}: {msg}"
    return " ".join(msg.split())
