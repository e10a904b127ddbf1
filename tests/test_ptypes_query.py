"""ptypes.query: declarative queries over dicts, skip lists and graphs,
checked against the same selections written as Python loops."""
import operator
import os
import shutil
import tempfile

import pytest

from ptypes.graph import Edge, FindEdge, Node, NodeAttribute, NodeContents
from ptypes.pcollections import SkipList
from ptypes.query import (Attribute, Constant, Contents, Each, Equal, LookUp, NotEqual, Param, Query,
                          QueryContext, Range)
from ptypes.storage import Dict, Storage

PEOPLE = [(b'marko', 29), (b'vadas', 27), (b'josh', 32), (b'peter', 35)]
PROGRAMS = [b'lop', b'ripple']
CREATED = [(b'marko', b'lop'), (b'josh', b'ripple'), (b'josh', b'lop'), (b'peter', b'lop')]
KNOWS = [(b'marko', b'vadas'), (b'marko', b'josh')]


class Graph(Storage):
    def populateSchema(self):
        class Developer(self.schema.Structure):
            name = self.schema.ByteString
            age = self.schema.Int

        class Software(self.schema.Structure):
            name = self.schema.ByteString

        D = self.define(Node('NDeveloper')[Developer])
        S = self.define(Node('NSoftware')[Software])
        self.define(Edge('created')[D, S, self.schema.Float])
        self.define(Edge('knows')[D, D, None])
        self.define(Dict('ByName')[self.schema.ByteString, D])
        self.define(SkipList('ByAge')[D, operator.attrgetter('contents.age')])
        self.define(SkipList('Ages')[self.schema.Int])

        class Root(self.schema.Structure):
            byName = self.schema.ByName
            byAge = self.schema.ByAge
            ages = self.schema.Ages


@pytest.fixture(scope='module')
def store():
    base = tempfile.mkdtemp(prefix='ptypes-query-', dir='/dev/shm' if os.path.isdir('/dev/shm') else None)
    s = Graph(os.path.join(base, 'graph.pool'))
    r, sc = s.root, s.schema
    r.byName = sc.ByName()
    r.byAge = sc.ByAge()
    r.ages = sc.Ages(age for _, age in PEOPLE)
    devs = {}
    for name, age in PEOPLE:
        devs[name] = sc.NDeveloper(sc.Developer(name=name, age=age))
        r.byName[name] = devs[name]
        r.byAge.insert(devs[name])
    progs = {name: sc.NSoftware(sc.Software(name=name)) for name in PROGRAMS}
    for a, b in CREATED:
        sc.created(devs[a], progs[b], 0.5)
    for a, b in KNOWS:
        sc.knows(devs[a], devs[b])
    del devs, progs, r
    yield s
    s.close()
    shutil.rmtree(base, ignore_errors=True)


def texts(results, *names):
    return sorted(tuple(str(r[n]) if not isinstance(r[n], (int, float)) else r[n] for n in names)
                  for r in results)


def test_developers_and_their_programs(store, capsys):
    class Created(Query):
        _ndeveloper = Each('byName')
        developer = NodeAttribute(_ndeveloper, "name")
        developersProgram = FindEdge('created', fromNode=_ndeveloper).toNode.attribute("name")

    got = Created(store).results()
    assert texts(got, 'developer', 'developersProgram') == sorted(
        (a.decode(), b.decode()) for a, b in CREATED)
    assert all(set(r) == {'developer', 'developersProgram'} for r in got)
    Created(store)()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == '==== Results ====' and out[-1] == '---- End of results ----'
    assert sorted(out[1:-1]) == sorted(f'developer = {a.decode()}, developersProgram = {b.decode()}'
                                       for a, b in CREATED)


def test_a_skip_list_gives_the_order(store, capsys):
    class ByAge(Query):
        _dev = Each('byAge')
        name = NodeAttribute(_dev, 'name')
        age = NodeContents(_dev).attribute('age')

    ByAge(store)()
    assert capsys.readouterr().out.splitlines()[1:-1] == [
        f'age = {a}, name = {n.decode()}' for n, a in sorted(PEOPLE, key=lambda p: p[1])]


def test_edges_in_both_directions(store):
    class Makers(Query):
        _dev = Each('byName')
        _edge = FindEdge('created', fromNode=_dev)
        program = NodeAttribute(_edge.toNode, 'name')
        maker = NodeAttribute(FindEdge('created', toNode=_edge.toNode).fromNode, 'name')

    got = texts(Makers(store).results(), 'program', 'maker')
    makers = {p: [a for a, b in CREATED if b == p] for p in PROGRAMS}
    assert got == sorted((b.decode(), m.decode()) for a, b in CREATED for m in makers[b])


def test_edges_between_two_bound_nodes(store):
    class Colleagues(Query):
        _a = Each('byName')
        _b = Each('byName')
        a = NodeAttribute(_a, 'name')
        b = NodeAttribute(_b, 'name')
        _knows = FindEdge(_a, 'knows', _b)

    assert texts(Colleagues(store).results(), 'a', 'b') == sorted((a.decode(), b.decode()) for a, b in KNOWS)


def test_filters_parameters_and_lookups(store):
    class Older(Query):
        _name = Param(name='who')
        _dev = LookUp('byName', _name)
        _age = NodeContents(_dev).attribute('age')
        _other = Each('byName')
        other = NodeAttribute(_other, 'name')
        _same = NotEqual(other, _name, shortCut=True)

    got = texts(Older(store, who='marko').results(), 'other')
    assert got == [('josh',), ('peter',), ('vadas',)]
    assert Older(store, who='nobody').results() == []
    with pytest.raises(TypeError, match="Uninitialised query parameters: who"):
        Older(store)
    with pytest.raises(TypeError, match="Unused query parameters: x"):
        Older(store, who='marko', x=1)


def test_constants_and_ranges(store):
    class Between(Query):
        _lo = Constant(28)
        _hi = Param('int', name='hi')
        age = Contents(Range('ages', _lo, _hi))

    assert [r['age'] for r in Between(store, hi=33).results()] == [29, 32]

    class Josh(Query):
        _dev = Each('byName')
        name = NodeAttribute(_dev, 'name')
        _is = Equal(name, 'josh', shortCut=True)
        age = Attribute(NodeContents(_dev), 'age')

    [josh] = Josh(store).results()
    assert str(josh['name']) == 'josh' and josh['age'].contents == 32


def test_a_callback_of_ones_own(store):
    seen = []

    class Names(Query):
        _dev = Each('byName')
        name = NodeAttribute(_dev, 'name')

        def processOne(self):
            while True:
                context = yield
                assert isinstance(context, QueryContext)
                seen.append(str(context.name))

    Names(store)()
    assert sorted(seen) == sorted(n.decode() for n, _ in PEOPLE)


def test_rule_errors(store):
    class Bad(Query):
        _dev = Each('byName')
        x = NodeAttribute(_dev, 'nope')

    with pytest.raises(AttributeError, match="nope"):
        Bad(store).results()
    with pytest.raises(TypeError, match="fromNode or of its toNode"):
        FindEdge('created')
    with pytest.raises(TypeError, match="BindingRule"):
        NodeAttribute(5, 'x')
