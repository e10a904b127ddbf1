"""Command-line tools for pool files: ``python -m pmemobj info|check|gc|dump FILE``.

``info``, ``check`` and ``dump`` look at a pool without changing what it
holds: they open it without the gc that a normal open runs after an unclean
shutdown, and they leave the clean-shutdown flag as they found it (a pool that
was not closed cleanly is still recovered by the next normal open).  ``gc``
opens the pool normally and collects its garbage.

With ``--ptypes`` (or as ``python -m ptypes ...``) the file is opened as a
ptypes Storage: its schema is shown and the dump starts at the Root structure.

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

from . import _core

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR = 0, 1, 2

# struct pmemobjpool (libpmemobj 1.12): pool header (4096) + layout (1024) +
# lanes_offset + nlanes, then heap_offset
_HEAP_OFFSET_AT = 4096 + 1024 + 16


class CliError(Exception):
    """An error shown to the user as one line (exit status 2)."""


# ---------------------------------------------------------------------------
# Opening a pool for a look

def _heap_offset(path):
    with open(path, "rb") as f:
        f.seek(_HEAP_OFFSET_AT)
        data = f.read(8)
    return struct.unpack("<Q", data)[0] if len(data) == 8 else 0


@contextlib.contextmanager
def inspect_pool(path):
    """Open the pool at *path* for reading; yield its MemoryManager.

    No gc runs at open.  On exit the pool is closed as found: marked clean if
    it was clean, otherwise released unmarked so the next open recovers it."""
    mm = _core.MemoryManager()
    mm._open(path, "w")
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


class _Look:
    """What a ptypes Storage needs of its pool, on the MemoryManager of a look."""

    def __init__(self, mm, path):
        self.mm, self.filename = mm, path

    @property
    def closed(self):
        return self.mm.closed

    @property
    def root(self):
        return self.mm.get_root()

    def transaction(self):
        return self.mm.transaction()


def _close_storage(st):
    _pygc.collect()
    try:
        st.close()
    except ValueError:          # proxies still alive: release without marking clean
        st._abandon()


@contextlib.contextmanager
def reading_kept_storage(mm, path):
    """Within the block, the ptypes objects of a pool that keeps a Storage in
    its root dict can be read; yields the storage's key (or None)."""
    try:
        from ptypes.storage import Storage, kept_storage_name
    except ImportError:
        yield None
        return
    look = _Look(mm, path)
    try:
        name = kept_storage_name(look)
        st = None if name is None else Storage(pool=look, name=name)
    except (TypeError, ValueError, OSError):      # damage: shown where the walk meets it
        name = st = None
    try:
        yield name
    finally:
        if st is not None:
            _close_storage(st)


def _mode(is_pmem):
    if not is_pmem:
        return "emulated (msync on every flush; survives process crash and power loss)"
    if os.environ.get("PMEM_IS_PMEM_FORCE", "0") not in ("", "0"):
        return "forced pmem (PMEM_IS_PMEM_FORCE; survives process crash only)"
    return "pmem (CPU cache flushes; survives process crash and power loss)"


def _type_of(value):
    t = type(value)
    if t.__module__ == "builtins":
        return t.__qualname__
    return f"{t.__module__}.{t.__qualname__}"


def _is_ptypes_root(value):
    return _type_of(value) == "ptypes._objects.PtStorageRoot"


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
        kind = "ptypes storage" if _is_ptypes_root(root) else "pmemobj pool"
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
        "heap_size": heap,
        "used_bytes": used,
        "free_bytes_approx": max(heap - used, 0),
        "free_chunk_bytes": free_chunks,
        "largest_free_block": largest,
        "persistence": _mode(mm.is_pmem),
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
        "damage": damage,
        "ptypes_storage": None,
    }


def _mib(n):
    return f"{n} bytes ({n / (1 << 20):.1f} MiB)"


def format_info(info, out):
    w = out.write
    w(f"file:              {info['file']}\n")
    w(f"kind:              {info['kind']}\n")
    w(f"layout:            {info['layout']} version {info['layout_version']}\n")
    w(f"pool size:         {_mib(info['pool_size'])}\n")
    w(f"heap size:         {_mib(info['heap_size'])}\n")
    unknown = "unknown (damaged pool)\n" if info["damage"] else None
    w(f"used:              {unknown or _mib(info['used_bytes']) + chr(10)}")
    w(f"free:              {unknown or _mib(info['free_bytes_approx']) + chr(10)}")
    if not unknown and info["largest_free_block"] is not None:
        w(f"largest free block: {_mib(info['largest_free_block'])} (the largest allocation that fits now)\n")
    w(f"persistence mode:  {info['persistence']}\n")
    flag = "yes" if info["clean_shutdown"] else "NO (the next open runs gc to recover)"
    w(f"clean shutdown:    {flag}\n")
    w(f"earlier opens:     {info['opens_before']}\n")
    w(f"root:              {info['root_type']}\n")
    if info.get("ptypes_storage") is not None:
        w(f"ptypes storage:    kept in pool.root[{info['ptypes_storage']!r}] "
          f"(python -m ptypes info --name {info['ptypes_storage']} FILE)\n")
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

def _short(value, width=60):
    r = repr(value)
    return r if len(r) <= width else r[:width - 3] + "..."


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
    cls_name = _type_of(value)
    if cls_name.startswith("ptypes._objects."):
        return _ptypes_children(value)
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


def _ptypes_children(value):
    cls_name = type(value).__name__
    if cls_name == "PtStructure":
        info = value._p_schema_type.__dict__["_pt_info"]
        return ((f".{f.name}", getattr(value, f.name)) for f in info.field_list)
    if cls_name == "PtList":
        return ((f"[{i}]", v) for i, v in enumerate(value))
    if cls_name == "PtDict":
        info = value._p_schema_type.__dict__["_pt_info"]
        if info.value is None:          # a Set
            return (("-", k) for k in value)
        return ((_short(_ptypes_scalar(k)), v) for k, v in value.items())
    return iter(())


def _limited(kids, max_items, total):
    """The first *max_items* of *kids*, then a line saying how many were left out."""
    for n, kid in enumerate(kids):
        if n == max_items:
            more = f"{total - max_items} more items" if total is not None else "more items"
            yield ("...", _More(more))
            return
        yield kid


def _ptypes_scalar(value):
    n = type(value).__name__
    if n in ("PtValue", "PtByteString"):
        return value.contents
    return value


def _describe(value):
    """One line for a value: scalars by repr, containers by type and size."""
    n = type(value).__name__
    if n in ("PtValue", "PtByteString"):
        return f"{value._p_schema_type.__name__ if n == 'PtByteString' else 'value'} {_short(value.contents)}"
    if n == "PtBuffer":
        return f"Buffer ({len(value)} bytes)"
    if n in ("PtStructure", "PtList", "PtDict"):
        desc = value._p_schema_type.__name__
        if n != "PtStructure":
            desc += f" ({len(value)} items)"
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
# ptypes storages

@contextlib.contextmanager
def inspect_storage(path, name=None):
    """Open the ptypes Storage at *path* (kept in ``pool.root[name]`` when
    *name* is given); yield it; close it."""
    from ptypes.storage import Storage

    from .pool import PersistentObjectPool
    pool = None
    if name is None:
        st = Storage(path)
    else:
        pool = PersistentObjectPool(path, flag="w")
        try:
            holder = pool.root
            if not (hasattr(holder, "keys") and name in holder):    # never create one
                raise ValueError(f"{path}: the pool keeps no ptypes storage in pool.root[{name!r}]")
            del holder
            st = Storage(pool=pool, name=name)
        except BaseException:
            pool.close()
            raise
    try:
        yield st
    finally:
        _close_storage(st)
        if pool is not None:
            try:
                pool.close()
            except ValueError:
                pass


def storage_info(st, path):
    pool = st._pool
    info = pool_info(pool.mm, path)
    info["kind"] = "ptypes storage"
    info["schema"] = [(ti.name, _kind_name(ti)) for ti in st._types]
    return info


def _kind_name(ti):
    from ptypes import _objects
    names = {v: k for k, v in _objects.KINDS.items()}
    return names.get(ti.kind, str(ti.kind))


# ---------------------------------------------------------------------------
# The commands

def cmd_info(args, out):
    if args.ptypes:
        with inspect_storage(args.file, args.name) as st:
            info = storage_info(st, args.file)
    else:
        with inspect_pool(args.file) as mm:
            info = pool_info(mm, args.file)
            with reading_kept_storage(mm, args.file) as name:
                info["ptypes_storage"] = name
    if args.json:
        json.dump(info, out, indent=2)
        out.write("\n")
    else:
        format_info(info, out)
    return EXIT_OK


def cmd_check(args, out):
    problems = []
    notes = []
    if _core.check_file(args.file):
        out.write("libpmemobj check: consistent\n")
    else:
        out.write("libpmemobj check: INCONSISTENT\n")
        problems.append("libpmemobj reports the pool inconsistent")
    ctx = inspect_storage(args.file, args.name) if args.ptypes else inspect_pool(args.file)
    with ctx as handle, contextlib.ExitStack() as stack:
        if not args.ptypes:
            stack.enter_context(reading_kept_storage(handle, args.file))
        mm = handle._pool.mm if args.ptypes else handle
        clean = not mm.unclean
        if not clean:
            notes.append("the pool was not closed cleanly" +
                         ("; gc ran at this open" if args.ptypes else "; the next open runs gc"))
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
        start = _root_or_error(handle, args.ptypes, problems, notes)
        if start is not _NO_ROOT:
            walk(start, None, count)
            del start
            out.write(f"values: {loaded} loaded, {len(failures)} failed"
                      + (f", {unloadable} of classes that are not importable" if unloadable else "") + "\n")
            problems.extend(failures)
    for n in notes:
        out.write(f"note: {n}\n")
    for p in problems:
        out.write(f"PROBLEM: {p}\n")
    out.write("result: " + ("problems found\n" if problems else "ok\n"))
    return EXIT_PROBLEMS if problems else EXIT_OK


_NO_ROOT = object()


def _root_or_error(handle, ptypes, problems, notes):
    try:
        return handle.root if ptypes else handle.get_root()
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
    if args.ptypes:
        with inspect_storage(args.file, args.name) as st:
            root = st.root
            walk(root, args.depth, visit, args.max_items)
            del root
    else:
        with inspect_pool(args.file) as mm, reading_kept_storage(mm, args.file):
            try:
                root = mm.get_root()
            except _core.UnknownClassError as e:
                out.write(f"root: ! UnknownClassError: {e}\n")
                return EXIT_OK
            if _is_ptypes_root(root):
                out.write("root: ptypes storage root (use: python -m ptypes dump FILE)\n")
            else:
                walk(root, args.depth, visit, args.max_items)
            del root
    return EXIT_OK


COMMANDS = {"info": cmd_info, "check": cmd_check, "gc": cmd_gc, "dump": cmd_dump}


def build_parser(prog="python -m pmemobj", ptypes=False):
    p = argparse.ArgumentParser(prog=prog, description=(
        "Inspect, check and collect ptypes storages." if ptypes else
        "Inspect, check and collect pmemobj pool files."))
    if not ptypes:
        p.add_argument("--ptypes", action="store_true", help="open FILE as a ptypes storage")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("info", help="size, space, objects by type, persistence mode, clean-shutdown flag")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--name", metavar="NAME", default=None,
                   help="open the ptypes storage kept in pool.root[NAME] of a pmemobj pool (implies --ptypes)")
    s.add_argument("--json", action="store_true", help="print the information as JSON")
    s = sub.add_parser("check", help="libpmemobj's consistency check and a walk of every reachable object")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--name", metavar="NAME", default=None,
                   help="open the ptypes storage kept in pool.root[NAME] of a pmemobj pool (implies --ptypes)")
    if not ptypes:
        s = sub.add_parser("gc", help="free unreachable objects and repair reference counts")
        s.add_argument("file", metavar="FILE")
        s.add_argument("--dry-run", action="store_true", help="only count what gc would do")
    s = sub.add_parser("dump", help="print the object tree from the root")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--name", metavar="NAME", default=None,
                   help="open the ptypes storage kept in pool.root[NAME] of a pmemobj pool (implies --ptypes)")
    s.add_argument("--depth", type=int, default=4, help="levels below the root to show (default 4)")
    s.add_argument("--max-items", type=int, default=100, help="items shown per container (default 100)")
    return p


def main(argv=None, prog="python -m pmemobj", ptypes=False, out=None):
    args = build_parser(prog, ptypes).parse_args(argv)
    if ptypes or getattr(args, "name", None) is not None:
        args.ptypes = True
    out = sys.stdout if out is None else out
    try:
        if not os.path.lexists(args.file):     # before anything could create it
            raise FileNotFoundError(errno.ENOENT, "pool file does not exist", args.file)
        try:
            return COMMANDS[args.command](args, out)
        finally:
            _pygc.collect()         # release pools left unmarked (see inspect_pool)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:             # output piped into e.g. head: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (OSError, TypeError, ValueError, MemoryError, _core.TransactionError) as e:
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
