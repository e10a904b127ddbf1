"""Persistent collections beyond the lists, dicts and sets of ptypes.storage:
``SkipList('Name')[ItemType]`` or ``SkipList('Name')[ItemType, sortOrder]``,
a collection kept in the order of its items' sort key (docs/ptypes_skiplists.rst).

The sort order is an ``operator.attrgetter`` or a snippet defining
``getKeyFromValue`` (see ptypes._sortorder); it is stored as field paths,
never as code.  Without one, the items (Int, Float or ByteString) are their
own key.
"""
from ._sortorder import sort_key_paths
from .storage import TypeDescriptor

__all__ = ["SkipList"]


class SkipList(TypeDescriptor):
    """``SkipList('Name')[ItemType, sortOrder]``: a persistent sorted collection."""
    kind = "SkipList"
    max_params = 1

    def split_params(self, params):
        if len(params) > 2:
            raise TypeError(f"Type {self.name} must have at most 2 parameter(s), found {params!r}")
        if len(params) < 2:
            return params, {}
        return params[:1], {"key": sort_key_paths(params[1], self.name)}
