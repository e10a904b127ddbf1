"""The Persistent protocol as an abstract base class."""
from abc import ABC, abstractmethod

from ._core import PersistentBase

__all__ = ["Persistent"]


class Persistent(ABC):
    """Objects that keep their data in a pool implement this interface.

    ``_p_mm`` is the pool's MemoryManager and ``_p_oid`` the oid of the
    object's header (a ``pyp_header_t``: reference count and type id, which
    the pool fills in).  Classes need not inherit from Persistent: the methods
    below are all the pool looks for."""

    _p_mm = None
    _p_oid = None

    @abstractmethod
    def _p_new(self, manager):
        """Allocate the object's memory with *manager* (zalloc) and set _p_mm and _p_oid."""

    @abstractmethod
    def _p_resurrect(self, manager, oid):
        """Attach to the existing object at *oid*: set _p_mm and _p_oid."""

    @abstractmethod
    def _p_traverse(self):
        """Return the oids of the objects this object holds references to."""

    @abstractmethod
    def _p_substructures(self):
        """Return the oids of the raw allocations this object owns."""

    @abstractmethod
    def _p_deallocate(self):
        """Drop every reference (decref) and free every substructure."""

    @classmethod
    def __subclasshook__(cls, C):
        if cls is Persistent:
            names = ("_p_new", "_p_resurrect", "_p_traverse", "_p_substructures", "_p_deallocate")
            if all(any(n in B.__dict__ for B in C.__mro__) for n in names):
                return True
        return NotImplemented


Persistent.register(PersistentBase)
