"""The registration point through which packages built on the core show their
objects in ``python -m pmemobj`` (the core itself knows no package above it).

A package contributes an :class:`Inspector`: how its objects are described and
walked by ``info``, ``check`` and ``dump``, what it adds to a look at a pool
that holds its classes, and, if it has files of its own kind, how one is opened
(``python -m pmemobj --PACKAGE``, ``python -m PACKAGE``).  The inspector of a
package (the first part of a class's module name) is found

1. registered in this process with :func:`register` (a package does so when it
   is imported);
2. else as the entry point of group ``pmemobj.inspectors`` named for the package
   (``[project.entry-points."pmemobj.inspectors"]`` in pyproject.toml), loaded on
   first use;
3. else, for a package whose classes a pool names, after importing the module of
   one of them, as the core does to resurrect their objects: step 1 again.

Entry points are installed metadata, read without importing the package: the
command line offers ``--ptypes`` and finds the inspectors a pool needs before any
package above the core is imported, and a package installed later is found the
same way.  Registration at import covers a package used from a source tree
without installed metadata.
"""
import contextlib
import importlib
import pkgutil
import sys
import warnings

GROUP = "pmemobj.inspectors"
_CORE = frozenset(("builtins", "pmemobj"))

_registered = {}        # package -> Inspector, or "module:attribute" not loaded yet
_by_type = {}           # class -> Inspector or None
_entry_points = None    # package -> EntryPoint, read once


class Inspector:
    """What a package tells the tools about its objects.  Every method is
    optional: the defaults show an object as the core sees it."""

    #: set by the registry: the package whose classes this inspector shows
    package = None
    #: what :meth:`open_file` and :meth:`open_kept` open (e.g. "ptypes storage"),
    #: None when the package has no files of its own
    kind = None

    def describe(self, value):
        """One line for *value*, or None for the core's description."""
        return None

    def children(self, value):
        """(label, child) pairs of *value* for dump and check, or None for the core's."""
        return None

    def root_kind(self, root):
        """What a pool whose root is *root* is (e.g. "ptypes storage"), or None."""
        return None

    def reading(self, mm, path):
        """A context manager around a look at the pool *mm* that names classes of
        the package; yields the fields it adds to ``info`` (a dict)."""
        return contextlib.nullcontext({})

    def info_lines(self, info):
        """(label, text) lines of ``info``'s text for the fields :meth:`reading` added."""
        return ()

    def open_file(self, path):
        """A context manager yielding a handle (``.mm``, ``.root``) of the file *path*."""
        raise ValueError(f"{self.package} has no files of its own")

    def open_kept(self, pool, name):
        """A context manager yielding a handle of what *pool* keeps in ``pool.root[name]``
        (called once :meth:`root_kind` of that object has named it)."""
        raise ValueError(f"{self.package} keeps nothing of its own in pools")

    def file_info(self, handle):
        """The fields ``info`` adds for a handle of :meth:`open_file` or :meth:`open_kept`."""
        return {"kind": self.kind}


def register(package, inspector):
    """Make *inspector* (an :class:`Inspector`, or "module:attribute" naming one,
    imported on first use) the one of the classes of *package*."""
    _registered[package] = inspector
    _by_type.clear()


def _declared():
    """The entry points of GROUP, by name (read once: the metadata of every installed distribution)."""
    global _entry_points
    if _entry_points is None:
        from importlib import metadata
        eps = metadata.entry_points()
        eps = eps.select(group=GROUP) if hasattr(eps, "select") else eps.get(GROUP, ())    # Python 3.9
        _entry_points = {ep.name: ep for ep in eps}
    return _entry_points


def packages():
    """The packages known to have an inspector (registered or declared), sorted; none is loaded."""
    return sorted(set(_registered) | set(_declared()))


def for_package(package):
    """The Inspector of *package*, or None."""
    insp = _registered.get(package)
    if insp is None and package not in _CORE:
        ep = _declared().get(package)
        insp = ep.value if ep is not None else None
    if isinstance(insp, str):
        try:
            insp = pkgutil.resolve_name(insp)
        except (ImportError, AttributeError, ValueError) as e:
            # a broken package above the core does not stop a look at a pool:
            # its objects are shown as the core sees them
            warnings.warn(f"the inspector of {package} ({insp}) cannot be loaded: {e}", RuntimeWarning)
            insp = None
    if insp is not None:
        insp.package = package
        _registered[package] = insp
    return insp


def for_value(value):
    """The Inspector of the package of *value*'s class, or None."""
    t = type(value)
    try:
        return _by_type[t]
    except KeyError:
        pass
    insp = _by_type[t] = for_package(t.__module__.partition(".")[0])
    return insp


def for_pool(mm):
    """The Inspectors of the packages whose classes the pool *mm* names (sorted by package)."""
    modules = {}
    for name in mm.class_names:
        module = name.partition(":")[0]
        modules.setdefault(module.partition(".")[0], module)
    found = []
    for package, module in sorted(modules.items()):
        if package in _CORE:
            continue
        insp = for_package(package)
        if insp is None and module not in sys.modules:
            try:
                importlib.import_module(module)     # may register the package (step 3)
            except Exception:                       # the look names the class as not importable
                continue
            insp = for_package(package)
        if insp is not None:
            found.append(insp)
    return found


def cut(text, width=60):
    """*text*, cut to *width* characters."""
    return text if len(text) <= width else text[:width - 3] + "..."


def short(value, width=60):
    """repr(value), cut to *width* characters."""
    return cut(repr(value), width)
