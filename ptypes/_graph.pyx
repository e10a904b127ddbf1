# cython: boundscheck=False, wraparound=False, cdivision=True
"""Property graphs: nodes and directed edges with contents
(ptypes.graph.Node, ptypes.graph.Edge; the layouts are pt_node_t,
pt_edgekind_t and pt_edge_t in include/ptypes_layout.h).

A node keeps, for each edge type that touches it, the newest edge of that
type leaving it and the newest entering it; each edge links on to the next
(older) one of its from node and of its to node.  Every link is a counted
reference (an edge holds its nodes, the lists hold their edges), so
reference counts and gc see the graph as it is: a graph nothing else
references is a cycle gc collects.
"""
from libc.stdint cimport uint64_t

from pmemobj._core cimport (MemoryManager, register_traverse, visit_fn, visit_slots, pyp_slot_t,
                            PYP_TAG_EMPTY, PYP_TAG_NONE, PYP_TAG_REF, PYP_TYPE_NUM_RAW, VISIT_RAW)
from ptypes._layout cimport pt_node_t, pt_edgekind_t, pt_edge_t
from ptypes._objects cimport (TypeInfo, Session, PtObject, K_INT, K_FLOAT, K_NODE, K_EDGE, make_slot, store_slot, load_ref,
                              load_value, damaged, alloc_object, found_name)

from ptypes import _objects

cdef enum:
    OUT = 1
    IN = 2
    MAX_KINDS = 1 << 16        # edge types at one node: more means a damaged list


cdef TypeInfo edge_type(PtObject node, object cls):
    """The TypeInfo of the schema class `cls`, which must be an edge type of
    the node's storage."""
    ti = cls.__dict__.get("_pt_info") if isinstance(cls, type) else None
    if not isinstance(ti, TypeInfo) or (<TypeInfo>ti).kind != K_EDGE or (<TypeInfo>ti).session is not node.session:
        raise TypeError(f"{cls!r} is not an edge type of the storage of {node!r}")
    return <TypeInfo>ti


cdef class PtGraphItem(PtObject):
    """What nodes and edges share: their contents (slot 0) and their repr."""
    what = "item"

    @property
    def contents(self):
        """The value the node or edge holds (None for edge types without contents)."""
        cdef pyp_slot_t *s = self.slot_at(0)
        if self.ti.value is None:
            return None
        return load_value(self, self.ti.value, s, 0)

    @contents.setter
    def contents(self, value):
        if self.ti.value is None:
            raise TypeError(f"{self.ti.cls!r} holds no contents")
        self.begin()
        try:
            store_slot(self.session, self.ti.value, self.slot_at(0), value)
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    def __repr__(self):
        if self.ti is None or self.off == 0:
            return PtObject.__repr__(self)
        return f"<persistent graph {self.what} '{self.ti.name}' @offset 0x{self.off:x} referring to {self.contents!r} >"


cdef class PtNode(PtGraphItem):
    """A node of a property graph: its contents and its edges."""
    what = "node"

    cdef pt_node_t *np(self) except NULL:
        return <pt_node_t *>self.at(sizeof(pt_node_t))

    cdef pyp_slot_t *slot_at(self, uint64_t index) except NULL:
        if index != 0:
            raise IndexError(f"{self!r} has one value, its contents")
        return &self.np().value

    cdef pt_edgekind_t *kind(self, uint64_t ptid, bint create) except? NULL:
        """The edge lists of type `ptid` at this node (NULL: none yet; with
        `create`, made inside the caller's transaction)."""
        cdef pt_node_t *n = self.np()
        cdef uint64_t off = n.kinds, seen = 0
        cdef pt_edgekind_t *k
        while off:
            k = <pt_edgekind_t *>self.mm.obj(off, sizeof(pt_edgekind_t))
            if k.ptid == ptid:
                return k
            off = k.next
            seen += 1
            if seen > MAX_KINDS:
                raise damaged(self.mm, f"the edge lists of node 0x{self.off:x} form a cycle")
        if not create:
            return NULL
        off = self.mm.alloc(sizeof(pt_edgekind_t), PYP_TYPE_NUM_RAW, True)
        k = <pt_edgekind_t *>self.mm.obj(off, sizeof(pt_edgekind_t))
        k.ptid = ptid
        k.out.tag = PYP_TAG_NONE
        k.in_.tag = PYP_TAG_NONE
        k.next = n.kinds
        self.mm.snapshot(&n.kinds, 8)
        n.kinds = off
        return k

    def outEdges(self, edgeType):
        """The edges of type `edgeType` leaving this node, newest first."""
        return self.edges(edgeType, OUT)

    def inEdges(self, edgeType):
        """The edges of type `edgeType` entering this node, newest first."""
        return self.edges(edgeType, IN)

    cdef EdgeIterator edges(self, edgeType, int direction):
        cdef TypeInfo eti = edge_type(self, edgeType)
        cdef pt_edgekind_t *k = self.kind(eti.ptid, False)
        cdef EdgeIterator it = EdgeIterator.__new__(EdgeIterator)
        it.node = self
        it.direction = direction
        if k != NULL:
            it.next = (k.out if direction == OUT else k.in_).payload if \
                (k.out if direction == OUT else k.in_).tag == PYP_TAG_REF else 0
        return it



cdef class PtEdge(PtGraphItem):
    """A directed edge of a property graph between two nodes, with contents."""
    what = "edge"

    cdef pt_edge_t *ep(self) except NULL:
        return <pt_edge_t *>self.at(sizeof(pt_edge_t))

    cdef pyp_slot_t *slot_at(self, uint64_t index) except NULL:
        if index != 0:
            raise IndexError(f"{self!r} has one value, its contents")
        return &self.ep().value

    cdef PtNode node_at(self, pyp_slot_t *s):
        if s.tag != PYP_TAG_REF:
            raise damaged(self.mm, f"edge at 0x{self.off:x} lacks a node")
        node = load_ref(self.session, s.payload)
        if not isinstance(node, PtNode):
            raise damaged(self.mm, f"edge at 0x{self.off:x} refers to {node!r}, not a node")
        return <PtNode>node

    @property
    def fromNode(self):
        """The node the edge leaves."""
        return self.node_at(&self.ep().from_)

    @property
    def toNode(self):
        """The node the edge enters."""
        return self.node_at(&self.ep().to)

    def remove(self):
        """Take the edge out of the graph: its nodes no longer list it."""
        cdef pt_edge_t *e = self.ep()
        if e.next_out.tag == PYP_TAG_EMPTY:
            raise ValueError(f"{self!r} was removed from its graph")
        self.begin()
        try:
            self.unlink(self.node_at(&self.ep().from_), OUT)
            self.unlink(self.node_at(&self.ep().to), IN)
            e = self.ep()
            self.mm.snapshot(&e.next_out, 2 * sizeof(pyp_slot_t))
            e.next_out.tag = e.next_in.tag = PYP_TAG_EMPTY      # removed: in no list
            e.next_out.payload = e.next_in.payload = 0
        except BaseException:
            self.mm.end(False)
            raise
        self.mm.end(True)

    cdef int unlink(self, PtNode node, int direction) except -1:
        """Take this edge out of one list of `node` (inside a transaction): the
        link to it takes over its link to the next edge."""
        cdef pt_edgekind_t *k = node.kind(self.ti.ptid, False)
        cdef pyp_slot_t *link
        cdef pyp_slot_t *own
        cdef pt_edge_t *e
        cdef uint64_t steps = 0
        if k == NULL:
            raise damaged(self.mm, f"node 0x{node.off:x} does not list edge 0x{self.off:x}")
        link = &k.out if direction == OUT else &k.in_
        while not (link.tag == PYP_TAG_REF and link.payload == self.off):
            if link.tag != PYP_TAG_REF or steps > self.mm.pool_size // sizeof(pt_edge_t):
                raise damaged(self.mm, f"node 0x{node.off:x} does not list edge 0x{self.off:x}")
            e = <pt_edge_t *>self.mm.obj(link.payload, sizeof(pt_edge_t))
            link = &e.next_out if direction == OUT else &e.next_in
            steps += 1
        own = &self.ep().next_out if direction == OUT else &self.ep().next_in
        self.mm.snapshot(link, sizeof(pyp_slot_t))
        link[0] = own[0]                 # the list's reference to the next edge moves over
        self.mm.snapshot(own, sizeof(pyp_slot_t))
        own.tag = PYP_TAG_NONE
        own.payload = 0
        self.mm.decref(self.off)         # the link's reference to this edge
        return 0



cdef class EdgeIterator:
    """The edges of one type leaving or entering a node, newest first.  It
    reads each next link when it gets there, from the edge it gave last."""

    def __iter__(self):
        return self

    def __next__(self):
        cdef pt_edge_t *e
        cdef pyp_slot_t *link
        if self.node is None:
            raise StopIteration
        if self.last is not None:
            e = self.last.ep()
            link = &e.next_out if self.direction == OUT else &e.next_in
            self.next = link.payload if link.tag == PYP_TAG_REF else 0
        if self.next == 0:
            self.node = self.last = None
            raise StopIteration
        edge = load_ref(self.node.session, self.next)
        if not isinstance(edge, PtEdge):
            raise damaged(self.node.mm, f"an edge list of node 0x{self.node.off:x} holds {edge!r}")
        self.last = <PtEdge>edge
        return edge


def new_node(Session s, TypeInfo ti, tuple args, dict kw):
    """NodeType([contents]): a new node (inside the caller's transaction)."""
    if kw or len(args) > 1:
        raise TypeError(f"{ti.cls!r} takes at most one argument (its contents)")
    cdef PtNode p = <PtNode>alloc_object(s, PtNode, ti, sizeof(pt_node_t))
    cdef pt_node_t *n = p.np()
    n.value.tag = PYP_TAG_NONE
    if args:
        make_slot(s, ti.value, args[0], &n.value)
    elif ti.value.kind == K_INT or ti.value.kind == K_FLOAT:     # a number: 0 until set
        make_slot(s, ti.value, 0, &n.value)
    return p


def new_edge(Session s, TypeInfo ti, tuple args, dict kw):
    """EdgeType(fromNode, toNode[, contents]): a new edge, listed by both nodes
    (inside the caller's transaction)."""
    if kw or not 2 <= len(args) <= 3:
        raise TypeError(f"{ti.cls!r} takes the from node, the to node and, optionally, its contents")
    for node, want, role in ((args[0], ti.item, "fromNode"), (args[1], ti.target, "toNode")):
        if not isinstance(node, PtNode) or (<PtNode>node).ti is not want:
            raise TypeError(f"{ti.name} expects an instance of {want.cls!r} as {role}, "
                            f"not {found_name(node)}")
    cdef PtNode a = <PtNode>args[0], b = <PtNode>args[1]
    cdef PtEdge p = <PtEdge>alloc_object(s, PtEdge, ti, sizeof(pt_edge_t))
    cdef pt_edge_t *e = p.ep()
    cdef pt_edgekind_t *k
    make_slot(s, ti.item, a, &e.from_)
    make_slot(s, ti.target, b, &e.to)
    e.value.tag = PYP_TAG_NONE
    if ti.value is not None:
        make_slot(s, ti.value, args[2] if len(args) > 2 else
                  (0 if ti.value.kind == K_INT or ti.value.kind == K_FLOAT else None),
                  &e.value)
    elif len(args) > 2 and args[2] is not None:
        raise TypeError(f"{ti.cls!r} holds no contents")
    # the new edge becomes the first of both lists; the list's old first edge
    # becomes its next, keeping the reference the list held
    k = a.kind(ti.ptid, True)
    e = p.ep()
    e.next_out = k.out
    s.mm.snapshot(&k.out, sizeof(pyp_slot_t))
    k.out.tag = PYP_TAG_REF
    k.out.payload = p.off
    s.mm.incref(p.off)
    k = b.kind(ti.ptid, True)
    e = p.ep()
    e.next_in = k.in_
    s.mm.snapshot(&k.in_, sizeof(pyp_slot_t))
    k.in_.tag = PYP_TAG_REF
    k.in_.payload = p.off
    s.mm.incref(p.off)
    return p


def build_type(TypeInfo ti, dict desc):
    """Nothing to compile: nodes and edges are read with their TypeInfo."""


cdef int traverse_node(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    cdef pt_node_t *n = <pt_node_t *>mm.obj(off, sizeof(pt_node_t))
    cdef uint64_t k = n.kinds, seen = 0
    cdef pt_edgekind_t *kp
    visit_slots(&n.value, 1, visit, ctx)
    while k:
        kp = <pt_edgekind_t *>mm.obj(k, sizeof(pt_edgekind_t))
        visit_slots(&kp.out, 2, visit, ctx)
        visit(ctx, k, VISIT_RAW)
        k = kp.next
        seen += 1
        if seen > MAX_KINDS:
            raise damaged(mm, f"the edge lists of node 0x{off:x} form a cycle")
    return 0


cdef int traverse_edge(MemoryManager mm, uint64_t off, visit_fn visit, void *ctx) except -1:
    cdef pt_edge_t *e = <pt_edge_t *>mm.obj(off, sizeof(pt_edge_t))
    return visit_slots(&e.from_, 5, visit, ctx)


register_traverse(PtNode, traverse_node)
register_traverse(PtEdge, traverse_edge)
_objects.register_kind(K_NODE, PtNode, new_node)
_objects.register_kind(K_EDGE, PtEdge, new_edge)
