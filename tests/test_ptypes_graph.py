"""ptypes.graph: nodes and edges; the edge lists of every node checked against
a model after transactions committed or aborted and after reopening, and
every mutating operation aborted."""
import os
import shutil
import tempfile

import pytest
from hypothesis import given, settings, strategies as st

from ptypes.graph import Edge, Node
from ptypes.storage import List, Storage
from support import closing_storage

SETTINGS = settings(max_examples=40, deadline=None)
NODES = 5


class Graph(Storage):
    def populateSchema(self):
        class Person(self.schema.Structure):
            name = self.schema.ByteString

        N = self.define(Node('N')[self.schema.Int])
        P = self.define(Node('P')[Person])
        self.define(Edge('E')[N, N, self.schema.Int])
        self.define(Edge('F')[N, N, self.schema.Int])
        self.define(Edge('Plain')[P, N, None])
        self.define(Edge('Knows')[P, P, self.schema.ByteString])
        self.define(List('Ns')[N])

        class Root(self.schema.Structure):
            nodes = self.schema.Ns
            person = P
            other = P


@pytest.fixture
def store(pool_path):
    yield from closing_storage(Graph(pool_path))


def ids(edges):
    return [e.contents.contents for e in edges]


def test_nodes_and_edges(store):
    r, S = store.root, store.schema
    r.nodes = [S.N(i) for i in range(3)]
    a, b, c = r.nodes
    e1 = S.E(a, b, 1)
    e2 = S.E(a, c, 2)
    S.F(a, b, 3)
    assert repr(e1).startswith("<persistent graph edge 'E' @offset 0x") and \
        repr(e1).endswith(" referring to <persistent Int object '1' @offset 0x%x> >" % (e1._p_oid[1] + 56))
    assert repr(a).endswith("referring to <persistent Int object '0' @offset 0x%x> >" % (a._p_oid[1] + 24))
    assert ids(a.outEdges(S.E)) == [2, 1] and ids(a.outEdges(S.F)) == [3]
    assert ids(b.inEdges(S.E)) == [1] and ids(b.inEdges(S.F)) == [3] and ids(b.outEdges(S.E)) == []
    assert e1.fromNode.contents.contents == 0 and e1.toNode.contents.contents == 1
    assert e2.toNode == c or e2.toNode._p_oid == c._p_oid
    e1.contents = 10
    e1.contents.inc()
    assert ids(b.inEdges(S.E)) == [11]
    a.contents.add(5)
    assert r.nodes[0].contents.contents == 5


def test_node_and_edge_contents(store):
    r, S = store.root, store.schema
    r.person = S.P(S.Person(name=b'Felix'))
    r.other = S.P()
    assert r.other.contents is None
    knows = S.Knows(r.person, r.other, b'well')
    assert str(knows.contents) == 'well'
    knows.contents = None
    assert knows.contents is None
    r.other.contents = S.Person(name=b'Bill')
    assert [str(e.toNode.contents.name) for e in r.person.outEdges(S.Knows)] == ['Bill']
    r.nodes = [S.N()]
    plain = S.Plain(r.person, r.nodes[0])
    assert plain.contents is None and "referring to None >" in repr(plain)
    with pytest.raises(TypeError, match="holds no contents"):
        plain.contents = 1
    with pytest.raises(TypeError, match="holds no contents"):
        S.Plain(r.person, r.nodes[0], 5)


def test_type_checks(store):
    r, S = store.root, store.schema
    r.nodes = [S.N(1)]
    r.person = S.P()
    with pytest.raises(TypeError, match=r"E expects an instance of <persistent class 'N'> as toNode, "
                                         r"not <persistent class 'P'>"):
        S.E(r.nodes[0], r.person)
    with pytest.raises(TypeError, match="fromNode"):
        S.E(5, r.nodes[0])
    with pytest.raises(TypeError, match="is not an edge type"):
        r.nodes[0].outEdges(S.N)
    with pytest.raises(TypeError):
        S.E(r.nodes[0])
    assert list(r.nodes[0].outEdges(S.E)) == []


def test_schema_checks(pool_path):
    class Bad(Storage):
        def populateSchema(self):
            self.define(Edge('E')[self.schema.Int, self.schema.Int, None])

            class Root(self.schema.Structure):
                pass

    with pytest.raises(TypeError, match="must be a Node type"):
        Bad(pool_path)

    class Bad2(Storage):
        def populateSchema(self):
            N = self.define(Node('N')[self.schema.Int])
            self.define(Edge('E')[N, N])

            class Root(self.schema.Structure):
                pass

    with pytest.raises(TypeError, match="needs 3 type parameters"):
        Bad2(pool_path)


def test_self_loops_and_removal(store):
    r, S = store.root, store.schema
    r.nodes = [S.N(0), S.N(1)]
    a, b = r.nodes
    loop = S.E(a, a, 7)
    ab = S.E(a, b, 8)
    assert ids(a.outEdges(S.E)) == [8, 7] and ids(a.inEdges(S.E)) == [7]
    loop.remove()
    assert ids(a.outEdges(S.E)) == [8] and ids(a.inEdges(S.E)) == []
    with pytest.raises(ValueError, match="was removed"):
        loop.remove()
    assert loop.contents.contents == 7 and loop.fromNode.contents.contents == 0   # the proxy lives on
    ab.remove()
    assert list(a.outEdges(S.E)) == [] and list(b.inEdges(S.E)) == []
    del loop, ab, a, b
    stats = store.gc()
    assert stats['refcounts_fixed'] == 0


def test_iterating_while_removing(store):
    r, S = store.root, store.schema
    r.nodes = [S.N(0), S.N(1)]
    a, b = r.nodes
    for i in range(5):
        S.E(a, b, i)
    seen = []
    for e in a.outEdges(S.E):
        seen.append(e.contents.contents)
        if seen == [4]:
            nxt = list(a.outEdges(S.E))[1]
            nxt.remove()           # the next one: the iteration skips it
    assert seen == [4, 2, 1, 0]


def test_a_dropped_graph_is_collected(store):
    r, S = store.root, store.schema
    r.nodes = [S.N(i) for i in range(4)]
    a, b, c, d = r.nodes
    for x, y in ((a, b), (b, c), (c, a), (c, d)):
        S.E(x, y, 0)
    del a, b, c, d, x, y
    r.nodes = None               # nodes and edges reference each other: a cycle
    stats = store.gc()
    assert stats['freed']['ptypes._graph.PtNode'] == 4 and stats['freed']['ptypes._graph.PtEdge'] == 4, stats
    assert not any(k.startswith('ptypes._graph') for k in stats['kept']), stats


def snapshot(s):
    nodes = list(s.root.nodes)
    return [(n.contents.contents, ids(n.outEdges(s.schema.E)), ids(n.inEdges(s.schema.E))) for n in nodes]


MUTATIONS = {
    'edge.new': lambda s, n: s.schema.E(n[0], n[1], 9),
    'edge.remove': lambda s, n: next(iter(n[0].outEdges(s.schema.E))).remove(),
    'edge.contents': lambda s, n: setattr(next(iter(n[0].outEdges(s.schema.E))), 'contents', 5),
    'node.contents': lambda s, n: setattr(n[1], 'contents', 42),
    'node.new': lambda s, n: s.root.nodes.append(s.schema.N(3)),
}


@pytest.mark.parametrize('name', sorted(MUTATIONS))
def test_abort_restores_state(pool_path, name):
    with Graph(pool_path) as s:
        s.root.nodes = [s.schema.N(i) for i in range(3)]
        n = list(s.root.nodes)
        s.schema.E(n[0], n[1], 1)
        s.schema.E(n[0], n[2], 2)
        before = snapshot(s)
        with pytest.raises(RuntimeError, match='abort'):
            with s.transaction():
                MUTATIONS[name](s, n)
                assert snapshot(s) != before
                raise RuntimeError('abort')
        assert snapshot(s) == before
        MUTATIONS[name](s, n)
        after = snapshot(s)
        assert after != before
        del n
        stats = s.gc()
        assert stats['refcounts_fixed'] == 0, stats
    with Storage(pool_path) as s:
        assert snapshot(s) == after


# -- the edge lists against a model -------------------------------------------------

graph_ops = st.lists(st.lists(st.one_of(
    st.tuples(st.just('add'), st.sampled_from('EF'), st.integers(0, NODES - 1), st.integers(0, NODES - 1)),
    st.tuples(st.just('remove'), st.integers(0, 50)),
    st.tuples(st.just('set'), st.integers(0, 50), st.integers(-5, 5)),
), min_size=1, max_size=5).map(tuple) | st.tuples(st.just('reopen')), max_size=10)


def check_graph(s, model):
    """Each node's lists hold its edges of each type, newest first; each edge
    knows its nodes."""
    nodes = list(s.root.nodes)
    for t in 'EF':
        cls = getattr(s.schema, t)
        for i, n in enumerate(nodes):
            out = [e for e in reversed(model) if e[1] == t and e[2] == i]
            inn = [e for e in reversed(model) if e[1] == t and e[3] == i]
            got_out = list(n.outEdges(cls))
            assert [e.contents.contents for e in got_out] == [e[4] for e in out]
            assert [e.toNode.contents.contents for e in got_out] == [e[3] for e in out]
            assert [e.fromNode.contents.contents for e in n.inEdges(cls)] == [e[2] for e in inn]


def apply_op(s, model, op, serial):
    nodes = list(s.root.nodes)
    if op[0] == 'add':
        getattr(s.schema, op[1])(nodes[op[2]], nodes[op[3]], 0)
        model.append([serial, op[1], op[2], op[3], 0])
        return serial + 1
    if model:
        e = model[op[1] % len(model)]
        # the first edge in the list of its from node with its contents and to node
        proxy = next(x for x in nodes[e[2]].outEdges(getattr(s.schema, e[1]))
                     if x.contents.contents == e[4] and x.toNode.contents.contents == e[3])
        if op[0] == 'remove':
            proxy.remove()
            model.remove(next(m for m in reversed(model) if m[1:] == e[1:]))
        else:
            proxy.contents = op[2]
            next(m for m in reversed(model) if m[1:] == e[1:])[4] = op[2]
    return serial


@SETTINGS
@given(graph_ops, st.lists(st.booleans(), min_size=10, max_size=10))
def test_edge_lists_like_a_model(workdir, steps, commits):
    path = os.path.join(workdir, 'graph.pool')
    s = Graph(path)
    try:
        s.root.nodes = [s.schema.N(i) for i in range(NODES)]
        model = []            # [serial, type, from, to, contents] in creation order
        serial = 0
        for step, commit in zip(steps, commits):
            if step == ('reopen',):
                s.close()
                s = Storage(path)
                check_graph(s, model)
                continue
            before = [list(e) for e in model]
            try:
                with s.transaction():
                    for op in step:
                        serial = apply_op(s, model, op, serial)
                    if not commit:
                        raise RuntimeError('abort')
            except RuntimeError:
                model = before
            check_graph(s, model)
        s.close()
        s = Storage(path)
        check_graph(s, model)
        stats = s.gc()
        assert stats['freed_total'] == 0 and stats['refcounts_fixed'] == 0, stats
    finally:
        s.close()
        os.unlink(path)


@pytest.fixture(scope='module')
def workdir():
    base = '/dev/shm' if os.path.isdir('/dev/shm') else None
    d = tempfile.mkdtemp(prefix='ptypes-graph-', dir=base)
    yield d
    shutil.rmtree(d, ignore_errors=True)
