"""The persistent collections: list, tuple, dict, set, frozenset, object."""
from .list import PersistentList
from .tuple import PersistentTuple
from .dict import PersistentDict
from .set import PersistentSet, PersistentFrozenSet
from .object import PersistentObject
