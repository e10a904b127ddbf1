# The cdef API of ptypes/_graph.pyx (graph nodes and edges), cimported by the
# query engine (ptypes/_query.pyx) to walk edges without Python calls.
from libc.stdint cimport uint64_t
from pmemobj._core cimport pyp_slot_t
from ptypes._layout cimport pt_node_t, pt_edgekind_t, pt_edge_t
from ptypes._objects cimport PtObject


cdef class PtGraphItem(PtObject):
    pass


cdef class PtNode(PtGraphItem):
    cdef pt_node_t *np(self) except NULL
    cdef pyp_slot_t *slot_at(self, uint64_t index) except NULL
    cdef pt_edgekind_t *kind(self, uint64_t ptid, bint create) except? NULL
    cdef EdgeIterator edges(self, edgeType, int direction)


cdef class PtEdge(PtGraphItem):
    cdef pt_edge_t *ep(self) except NULL
    cdef pyp_slot_t *slot_at(self, uint64_t index) except NULL
    cdef PtNode node_at(self, pyp_slot_t *s)
    cdef int unlink(self, PtNode node, int direction) except -1


cdef class EdgeIterator:
    cdef PtNode node
    cdef PtEdge last
    cdef uint64_t next
    cdef int direction
