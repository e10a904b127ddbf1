# cython: boundscheck=False, wraparound=False
"""Declarative queries (ptypes.query): binding rules evaluated by backtracking.

A query is a set of binding rules.  Each rule binds values to its name in a
QueryContext, one after the other, from what the rules before it bound
(rules are ordered as they were created: a rule is created after the rules it
uses).  For each value a rule binds, the next rule runs; when the last one
has bound a value, the context is complete and goes to the query's callback.
The enumeration runs here, compiled: walking a dict, a skip list or the
edges of a node, and reading fields, costs no Python loop per visited object.
"""
from uuid import uuid4

from ptypes._graph cimport PtNode, PtEdge

cdef long _ordinal = 0


cdef class Variable:
    """Something named in a query; the query's class body names it."""

    def __init__(self):
        global _ordinal
        self.name = '_V' + uuid4().hex      # hidden from results until a class attribute names it
        self.ordinal = _ordinal
        _ordinal += 1

    def __repr__(self):
        return f"{self.name} = {type(self).__name__}()"


cdef class BindingRule(Variable):
    """A rule binding values to its name.  With shortCut=True it is a filter:
    the rules after it run only when the value it bound is true."""

    def __init__(self, *usedBindingRules, bint shortCut=False):
        Variable.__init__(self)
        self.shortCut = shortCut
        self.usedBindingRules = {r for r in usedBindingRules if r is not None}
        self.userBindingRules = set()
        for r in self.usedBindingRules:
            if not isinstance(r, BindingRule):
                raise TypeError(f"{type(self).__name__} takes binding rules, not {r!r}")
            (<BindingRule>r).userBindingRules.add(self)

    def walk(self, set walked):
        """Add this rule and every rule connected to it to `walked`."""
        todo = [self]
        while todo:
            r = todo.pop()
            if r not in walked:
                walked.add(r)
                todo.extend((<BindingRule>r).usedBindingRules | (<BindingRule>r).userBindingRules)

    def link(self, BindingRule prev, BindingRule next):
        """Place the rule in the order of evaluation (QueryMeta does)."""
        self.prevBindingRule = prev
        self.nextBindingRule = next

    cdef int getAll(self, query, QueryContext result) except -1:
        raise NotImplementedError(f"{type(self).__name__} binds nothing")

    def evaluate(self, query, QueryContext result):
        """Run the query from this rule on (the first rule of a query)."""
        self.getAll(query, result)

    def attribute(self, attributeName=None, bint shortCut=False):
        """A rule binding an attribute of the values this rule binds."""
        return Attribute(self, attributeName, shortCut=shortCut)

    @property
    def contents(self):
        """A rule binding the contents of the values this rule binds."""
        return Contents(self)


cdef class QueryContext:
    """The values the rules of a running query have bound, by name."""

    def __init__(self, query=None, callback=None):
        self.query = query
        self.callback = callback if callback is not None else _no_op()
        self.dick = {}

    def __repr__(self):
        return ', '.join(f'{k} = {self.dick[k]}' for k in sorted(self.dick) if not k.startswith('_'))

    def __getattr__(self, name):
        try:
            return self.dick[name]
        except KeyError:
            raise AttributeError(name) from None

    def results(self):
        """The values bound to the public names (those not starting with '_')."""
        return {k: v for k, v in self.dick.items() if not k.startswith('_')}

    cpdef begin(self):
        next(self.callback)

    cdef int do(self) except -1:
        self.callback.send(self)
        return 0

    cpdef end(self):
        self.callback.close()


def _no_op():
    while True:
        yield


# -- rules over the storage's objects -----------------------------------------------

cdef object index_of(query, str indexName):
    return getattr(query.storage.root, indexName)


cdef class Each(BindingRule):
    """Bind each value of a container reached from the storage's root by
    attribute `indexName`: the values of a dict, the items of a list or a
    skip list."""
    cdef readonly str indexName

    def __init__(self, str indexName, bint shortCut=False):
        BindingRule.__init__(self, shortCut=shortCut)
        self.indexName = indexName

    cdef int getAll(self, query, QueryContext result) except -1:
        idx = index_of(query, self.indexName)
        if idx is None:
            return 0
        values = idx.itervalues() if hasattr(idx, 'itervalues') else idx
        for value in values:
            result.dick[self.name] = value
            self.recurse(query, result)
        return 0


cdef class LookUp(BindingRule):
    """Bind the value a container reached from the root holds under the key
    another rule bound (nothing when the key is missing)."""
    cdef readonly str indexName
    cdef BindingRule keyBindingRule

    def __init__(self, str indexName, BindingRule key, bint shortCut=False):
        BindingRule.__init__(self, key, shortCut=shortCut)
        self.indexName = indexName
        self.keyBindingRule = key

    cdef int getAll(self, query, QueryContext result) except -1:
        idx = index_of(query, self.indexName)
        try:
            value = idx[result.dick[self.keyBindingRule.name]]
        except (KeyError, TypeError):
            return 0
        result.dick[self.name] = value
        return self.recurse(query, result)


cdef class Range(BindingRule):
    """Bind each item of a skip list reached from the root whose key lies
    from the value one rule bound up to (not including) another's; a rule
    bound to None leaves its end open."""
    cdef readonly str indexName
    cdef BindingRule fromBindingRule, toBindingRule

    def __init__(self, str indexName, BindingRule fro, BindingRule to, bint shortCut=False):
        BindingRule.__init__(self, fro, to, shortCut=shortCut)
        self.indexName = indexName
        self.fromBindingRule = fro
        self.toBindingRule = to

    cdef int getAll(self, query, QueryContext result) except -1:
        sl = index_of(query, self.indexName)
        for value in sl.range(result.dick[self.fromBindingRule.name], result.dick[self.toBindingRule.name]):
            result.dick[self.name] = value
            self.recurse(query, result)
        return 0


cdef class Constant(BindingRule):
    """Bind a constant (text is bound as UTF-8 bytes, as byte strings compare)."""
    cdef readonly object value

    def __init__(self, value, typ=None, bint shortCut=False):
        BindingRule.__init__(self, shortCut=shortCut)
        self.value = _as_stored(value)

    cdef int getAll(self, query, QueryContext result) except -1:
        result.dick[self.name] = self.value
        return self.recurse(query, result)


cdef class Param(BindingRule):
    """Bind the value of a query parameter: Query(storage, name=value).  The
    parameter is called `name`, or else after the class attribute naming it."""
    cdef readonly str typ, description
    cdef readonly bint named

    def __init__(self, typ='string', name=None, description="", bint shortCut=False):
        BindingRule.__init__(self, shortCut=shortCut)
        if name is not None:
            self.name = name
            self.named = True
        self.typ = typ
        self.description = description

    cdef int getAll(self, query, QueryContext result) except -1:
        result.dick[self.name] = _as_stored(query.paramValues[self.name])
        return self.recurse(query, result)


cdef object _as_stored(value):
    return value.encode() if isinstance(value, str) else value


cdef class Attribute(BindingRule):
    """Bind an attribute (a field) of the value another rule bound."""
    cdef readonly str attributeName
    cdef BindingRule bindingRule

    def __init__(self, BindingRule bindingRule, attributeName=None, bint shortCut=False):
        BindingRule.__init__(self, bindingRule, shortCut=shortCut)
        self.bindingRule = bindingRule
        self.attributeName = attributeName

    cdef object source(self, QueryContext result):
        """What the attribute is read from."""
        return result.dick[self.bindingRule.name]

    cdef int getAll(self, query, QueryContext result) except -1:
        obj = self.source(result)
        try:
            value = getattr(obj, self.attributeName or self.name)
        except AttributeError as e:
            raise AttributeError(f"{e} (rule {self.name!r} reading {self.attributeName or self.name!r} "
                                 f"of {obj!r})") from None
        result.dick[self.name] = value
        return self.recurse(query, result)


cdef class Contents(BindingRule):
    """Bind the contents of the value another rule bound."""
    cdef BindingRule bindingRule

    def __init__(self, BindingRule bindingRule, bint shortCut=False):
        BindingRule.__init__(self, bindingRule, shortCut=shortCut)
        self.bindingRule = bindingRule

    cdef object source(self, QueryContext result):
        return result.dick[self.bindingRule.name]

    cdef int getAll(self, query, QueryContext result) except -1:
        result.dick[self.name] = self.source(result).contents
        return self.recurse(query, result)


cdef class RichCompare(BindingRule):
    """Bind whether the value a rule bound equals (or not) a constant or the
    value of another rule; with shortCut=True, a filter."""
    cdef BindingRule one
    cdef object other
    cdef bint equal

    def __init__(self, BindingRule one, other, bint equal, bint shortCut=False):
        if isinstance(other, BindingRule):
            BindingRule.__init__(self, one, other, shortCut=shortCut)
        else:
            BindingRule.__init__(self, one, shortCut=shortCut)
            other = _as_stored(other)
        self.one = one
        self.other = other
        self.equal = equal

    cdef int getAll(self, query, QueryContext result) except -1:
        a = result.dick[self.one.name]
        b = result.dick[(<BindingRule>self.other).name] if isinstance(self.other, BindingRule) else self.other
        result.dick[self.name] = (a == b) == self.equal
        return self.recurse(query, result)


def Equal(BindingRule one, other, bint shortCut=False):
    """A rule binding whether the value `one` bound equals `other`."""
    return RichCompare(one, other, True, shortCut)


def NotEqual(BindingRule one, other, bint shortCut=False):
    """A rule binding whether the value `one` bound differs from `other`."""
    return RichCompare(one, other, False, shortCut)


# -- rules over graphs ------------------------------------------------------------

cdef class NodeBindingRule(BindingRule):
    """A rule binding nodes: its attribute() and contents read their contents."""

    def attribute(self, attributeName=None, bint shortCut=False):
        return NodeAttribute(self, attributeName, shortCut=shortCut)

    @property
    def contents(self):
        return NodeContents(self)


cdef PtNode bound_node(QueryContext result, BindingRule rule):
    node = result.dick[rule.name]
    if not isinstance(node, PtNode):
        raise TypeError(f"rule {rule.name!r} bound {node!r}, not a graph node")
    return <PtNode>node


cdef class NodeContents(Contents):
    """Bind the contents of the node another rule bound."""

    cdef object source(self, QueryContext result):
        return bound_node(result, self.bindingRule)


cdef class NodeAttribute(Attribute):
    """Bind an attribute (a field) of the contents of the node another rule bound."""

    cdef object source(self, QueryContext result):
        return bound_node(result, self.bindingRule).contents


cdef class FindEdge(BindingRule):
    """Bind each edge of type `edgeKind` (the name of an edge type of the
    storage) leaving the node a rule bound (fromNode=), or entering it
    (toNode=); given both, the edges between the two.
    FindEdge(fromNode, edgeKind, toNode) is the same as keywords."""
    cdef readonly str edgeKind
    cdef BindingRule fromNodeBindingRule, toNodeBindingRule

    def __init__(self, *args, fromNode=None, toNode=None, edgeKind=None, bint shortCut=False):
        if len(args) == 3:
            fromNode, edgeKind, toNode = args
        elif len(args) == 1:
            edgeKind, = args
        elif args:
            raise TypeError("FindEdge(edgeKind, fromNode=..., toNode=...) or FindEdge(fromNode, edgeKind, toNode)")
        if fromNode is None and toNode is None:
            raise TypeError("FindEdge needs the rule of its fromNode or of its toNode (or both)")
        if not isinstance(edgeKind, str):
            raise TypeError(f"the edge kind of FindEdge is the name of an edge type, not {edgeKind!r}")
        BindingRule.__init__(self, fromNode, toNode, shortCut=shortCut)
        self.edgeKind = edgeKind
        self.fromNodeBindingRule = fromNode
        self.toNodeBindingRule = toNode

    @property
    def fromNode(self):
        """A rule binding the from node of each edge this rule binds."""
        return FindFromNode(self)

    @property
    def toNode(self):
        """A rule binding the to node of each edge this rule binds."""
        return FindToNode(self)

    cdef int getAll(self, query, QueryContext result) except -1:
        cdef PtNode known
        cdef PtNode other = None
        cdef PtEdge edge
        cls = getattr(query.storage.schema, self.edgeKind)
        if self.fromNodeBindingRule is not None:
            known = bound_node(result, self.fromNodeBindingRule)
            if self.toNodeBindingRule is not None:
                other = bound_node(result, self.toNodeBindingRule)
            edges = known.outEdges(cls)
        else:
            known = bound_node(result, self.toNodeBindingRule)
            edges = known.inEdges(cls)
        for e in edges:
            edge = <PtEdge>e
            if other is not None and edge.ep().to.payload != other.off:
                continue
            result.dick[self.name] = edge
            self.recurse(query, result)
        return 0


cdef class FindNodeOfEdge(NodeBindingRule):
    cdef BindingRule edgeBindingRule

    def __init__(self, BindingRule edge, bint shortCut=False):
        BindingRule.__init__(self, edge, shortCut=shortCut)
        self.edgeBindingRule = edge

    cdef PtEdge bound_edge(self, QueryContext result):
        edge = result.dick[self.edgeBindingRule.name]
        if not isinstance(edge, PtEdge):
            raise TypeError(f"rule {self.edgeBindingRule.name!r} bound {edge!r}, not a graph edge")
        return <PtEdge>edge


cdef class FindFromNode(FindNodeOfEdge):
    """Bind the from node of the edge another rule bound."""

    cdef int getAll(self, query, QueryContext result) except -1:
        result.dick[self.name] = self.bound_edge(result).fromNode
        return self.recurse(query, result)


cdef class FindToNode(FindNodeOfEdge):
    """Bind the to node of the edge another rule bound."""

    cdef int getAll(self, query, QueryContext result) except -1:
        result.dick[self.name] = self.bound_edge(result).toNode
        return self.recurse(query, result)
