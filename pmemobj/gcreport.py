"""What ``pool.gc()`` returns, and what it logs in debug mode.

The result is two views of one collection:

- the pair ``(type_counts, gc_counts)`` that code written for pynvm unpacks:
  persistent objects by class name (everything gc found, the garbage
  included), and counts by kind ('containers-total', 'collections-gced', ...);
- the detailed report, by key: ``result['freed_total']``, ``result['kept']``, ...
"""
import logging

from ._core import _VALUE_TYPE_NAMES

__all__ = ["GCResult", "log", "log_gc"]

log = logging.getLogger("pmemobj")

_VALUES = frozenset(_VALUE_TYPE_NAMES.values())
_BOOKKEEPING = ("<raw>", "<type table>")     # not objects of the user's: left out of the pair


def _short(name):
    """'pkg.module.Class' -> 'Class' (a class's __name__, as pynvm counts)."""
    return name.rsplit(".", 1)[-1]


def _add(into, counts):
    for name, n in counts.items():
        if name not in _BOOKKEEPING:
            into[_short(name)] = into.get(_short(name), 0) + n


def _split(counts):
    """(containers, values) in a {name: n} of the report."""
    values = sum(n for name, n in counts.items() if name in _VALUES)
    return sum(n for name, n in counts.items() if name not in _BOOKKEEPING) - values, values


def _pair(report):
    type_counts = {}
    for part in ("kept", "freed", "orphans_freed"):
        _add(type_counts, report.get(part, {}))
    kept_c, kept_v = _split(report["kept"])
    freed_c, freed_v = _split(report["freed"])
    count0_c, count0_v = _split(report.get("freed_count0", {}))
    queued = sum(report.get("orphans_freed", {}).values())
    gc_counts = {
        "containers-total": kept_c + freed_c,   # found by the heap walk (orphans freed first are apart)
        "other-total": kept_v + freed_v,
        "containers-live": kept_c,
        "other-live": kept_v,
        "orphans0-gced": queued + count0_c + count0_v,      # nothing referenced them
        "collections-gced": freed_c - count0_c,             # unreachable cycles
        "other-gced": freed_v - count0_v,                   # values only those held
    }
    return type_counts, gc_counts


class GCResult(tuple):
    """What gc() found and freed.

    Unpacks as ``type_counts, gc_counts`` (both dicts); a string key reads the
    detailed report: 'kept' and 'freed' ({type name: count}), 'kept_total',
    'freed_total', 'kept_bytes', 'freed_bytes', 'refcounts_fixed',
    'freed_count0' (the part of 'freed' nothing referenced) and
    'orphans_freed' (objects nothing referenced whose last proxy had died,
    freed before the heap walk: not in 'freed')."""

    def __new__(cls, report):
        self = super().__new__(cls, _pair(report))
        self.report = report
        return self

    def __getnewargs__(self):
        return (self.report,)

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.report[key]
        return tuple.__getitem__(self, key)

    def __contains__(self, key):
        if isinstance(key, str):
            return key in self.report
        return tuple.__contains__(self, key)

    def get(self, key, default=None):
        return self.report.get(key, default)

    def keys(self):
        return self.report.keys()

    def values(self):
        return self.report.values()

    def items(self):
        return self.report.items()

    def __repr__(self):
        return f"GCResult(type_counts={self[0]!r}, gc_counts={self[1]!r}, report={self.report!r})"


def _logger():
    # Code ported from pynvm may configure logging for 'nvm.pmemobj': when that
    # logger has handlers of its own, the records go there (and propagate as usual).
    compat = logging.Logger.manager.loggerDict.get("nvm.pmemobj")
    if isinstance(compat, logging.Logger) and compat.handlers:
        return compat
    return log


def log_gc(filename, result):
    """Debug mode: every orphan freed as a warning (in production an orphan is
    not a bug: an object created and dropped), the whole report at DEBUG."""
    logger = _logger()
    report = result.report
    for part in ("orphans_freed", "freed_count0"):
        for name, n in sorted(report.get(part, {}).items()):
            logger.warning("gc of %s: freed %d orphan(s) of type %s (reference count 0: "
                           "nothing in the pool referenced them)", filename, n, name)
    logger.debug("gc of %s: %r", filename, result)
