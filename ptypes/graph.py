"""Property graphs in a storage (docs/ptypes_graphs.rst).

``Node('Name')[T]`` defines a node type whose nodes hold a value of type T
(their ``contents``); ``Edge('Name')[FromNode, ToNode, T]`` a directed edge
type between nodes of those types, holding a value of type T (or None for
edges without contents).  ``EdgeType(fromNode, toNode[, contents])``
creates an edge; ``node.outEdges(EdgeType)`` and ``node.inEdges(EdgeType)``
list a node's edges, newest first; ``edge.fromNode``, ``edge.toNode`` and
``edge.remove()``.  The query rules of graphs (``FindEdge``,
``NodeAttribute``, ``NodeContents``) are those of ptypes.query.
"""
from ._objects import KINDS
from ._query import FindEdge, FindFromNode, FindToNode, NodeAttribute, NodeContents
from .storage import TypeDescriptor, _info

__all__ = ["Node", "Edge", "FindEdge", "FindFromNode", "FindToNode", "NodeAttribute", "NodeContents"]


class Node(TypeDescriptor):
    """``Node('Name')[ContentsType]``: a node type of a property graph."""
    kind = "Node"
    max_params = 1


class Edge(TypeDescriptor):
    """``Edge('Name')[FromNodeType, ToNodeType, ContentsType]``: a directed edge type."""
    kind = "Edge"
    max_params = 3
    none_params = (2,)

    def check_params(self, params):
        if len(params) != 3:
            raise TypeError(f"Type {self.name} needs 3 type parameters (the from node type, the to node "
                            f"type and the contents type), found {params!r}")
        for p, role in zip(params[:2], ("from", "to")):
            if _info(p).kind != KINDS["Node"]:
                raise TypeError(f"the {role} node type of {self.name} must be a Node type, not {p!r}")
