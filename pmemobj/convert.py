"""Getting data out of a pool: ``to_builtin(obj)`` copies a graph of persistent
objects into plain Python objects that live in no pool (to keep, to compare,
to serialize, or to copy into another pool)."""
import collections.abc as _abc
from typing import Any, Dict, List

from ._core import PersistentBase
from .collections import PersistentFrozenSet, PersistentObject, PersistentSet, PersistentTuple

__all__ = ["to_builtin"]


def to_builtin(obj: Any) -> Any:
    """A copy of *obj* made of plain Python objects, read from the pool now.

    - ``PersistentList`` becomes a ``list``, ``PersistentDict`` a ``dict`` (same
      order), ``PersistentSet`` a ``set``, ``PersistentFrozenSet`` a ``frozenset``,
      ``PersistentTuple`` a ``tuple``;
    - a ``PersistentObject`` (and any subclass) becomes a ``dict`` of its
      persistent attributes, in the order they were first set;
    - an object with a ``_p_to_builtin(convert)`` method converts itself (calling
      ``convert`` on what it holds); other persistent mappings, sequences and
      sets become a dict, a list or a set;
    - the items of lists, tuples, dicts, sets and frozensets are converted too;
      anything else (numbers, str, bytes, pickled values) is returned as it is.

    An object reached twice is converted once, so shared objects stay shared and
    cycles stay cycles (as ``copy.deepcopy`` does).  A dict key or set member
    must convert to a hashable value: a ``PersistentObject`` there (a dict)
    raises ``TypeError``."""
    return _Converter().convert(obj)


class _Converter:
    def __init__(self) -> None:
        self.memo: Dict[Any, Any] = {}      # persistent identity (or id of a builtin container) -> copy
        self.keep: List[Any] = []           # what is memoized by id() stays alive: ids are not reused

    def convert(self, obj: Any) -> Any:
        t = type(obj)
        if t in (int, float, bool, str, bytes, complex) or obj is None:
            return obj
        key = _identity(obj)
        if key in self.memo:
            return self.memo[key]
        if key[0] == "id":
            self.keep.append(obj)
        if isinstance(obj, PersistentObject):
            out: Any = {}
            self.memo[key] = out
            for name in obj._p_attrs():
                out[name] = self.convert(getattr(obj, name))
            return out
        to_builtin = getattr(obj, "_p_to_builtin", None)
        if to_builtin is not None and callable(to_builtin):
            out = self.memo[key] = to_builtin(self.convert)
            return out
        if isinstance(obj, (tuple, PersistentTuple)):
            out = tuple([self.convert(x) for x in obj])
            return self.memo.setdefault(key, out)       # (an item may have reached it through a cycle)
        if isinstance(obj, (frozenset, PersistentFrozenSet)):
            out = frozenset(self.hashable(x) for x in obj)
            return self.memo.setdefault(key, out)
        if isinstance(obj, (dict, _abc.Mapping)):
            out = self.memo[key] = {}
            for k, v in obj.items():
                out[self.hashable(k)] = self.convert(v)
            return out
        if isinstance(obj, (set, PersistentSet, _abc.Set)):
            out = self.memo[key] = set()
            for x in obj:
                out.add(self.hashable(x))
            return out
        if isinstance(obj, (list, _abc.Sequence)) and not isinstance(obj, (str, bytes, bytearray, memoryview)):
            out = self.memo[key] = []
            for x in obj:
                out.append(self.convert(x))
            return out
        return obj

    def hashable(self, obj: Any) -> Any:
        out = self.convert(obj)
        try:
            hash(out)
        except TypeError:
            raise TypeError(f"to_builtin(): a {type(obj).__name__} used as a dict key or set member converts "
                            f"to an unhashable {type(out).__name__}") from None
        return out


def _identity(obj: Any) -> Any:
    """What identifies an object while the graph is converted: a persistent
    object by its pool and offset (its proxy may be made afresh), any other by id()."""
    if isinstance(obj, PersistentBase) or hasattr(obj, "_p_oid"):
        oid = obj._p_oid
        if oid[1]:
            return ("pool", oid)
    return ("id", id(obj))
