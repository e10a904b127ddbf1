"""ptypes Storage: schema definition and reopening, the rules the spec states,
and the faults the original implementation had (each test names one)."""
import os
import sys
import textwrap

import pytest

import pmemobj
from ptypes.storage import Dict, List, Set, Storage, MIN_STORAGE_SIZE
from ptypes.buffer import Buffer
from support import assert_no_signal, closing_storage, run_python


class Agents(Storage):
    def populateSchema(self):
        class Agent(self.schema.Structure):
            name = self.schema.ByteString
            age = self.schema.Int
            weight = self.schema.Float

        class Spy(Agent):
            cover = self.schema.ByteString

        self.define(List('ListOfAgents')[Agent])
        self.define(Dict('AgentsByName')[self.schema.ByteString, Agent])
        self.define(Set('Names')[self.schema.ByteString])
        self.define(Dict('Counts')[self.schema.Int, None])

        class Root(self.schema.Structure):
            boss = Agent
            agents = self.schema.ListOfAgents
            byName = self.schema.AgentsByName
            names = self.schema.Names
            counts = self.schema.Counts
            count = self.schema.Int
            ratio = self.schema.Float
            label = self.schema.ByteString


@pytest.fixture
def store(pool_path):
    yield from closing_storage(Agents(pool_path))


def test_schema_module_lists_public_types(store):
    names = [x for x in dir(store.schema) if not x.startswith('__')]
    assert names == ['Agent', 'AgentsByName', 'ByteString', 'Counts', 'Float', 'Int', 'ListOfAgents',
                     'Names', 'Root', 'Spy', 'Structure']
    assert repr(store.schema.Spy) == "<persistent class 'Spy'>"


def test_file_size_below_minimum_is_rounded_up(pool_path):
    class S(Storage):
        def populateSchema(self):
            class Root(self.schema.Structure):
                pass
    with S(pool_path, fileSize=1, stringRegistrySize=1) as s:
        s.root
    assert os.path.getsize(pool_path) >= MIN_STORAGE_SIZE


def test_fields_default_and_assignment(store):
    r = store.root
    assert r.boss is None and r.label is None
    assert r.count.contents == 0 and r.ratio.contents == 0.0
    r.count = 5
    r.count.inc()
    r.count.add(-10)
    r.ratio = 2          # ints are accepted by Float fields
    r.ratio.add(0.5)
    assert (r.count.contents, r.ratio.contents) == (-4, 2.5)
    r.count.contents = 2 ** 63 - 1
    with pytest.raises(OverflowError):
        r.count.inc()
    with pytest.raises(OverflowError):
        r.count = 2 ** 63
    assert r.count.contents == 2 ** 63 - 1


def test_field_type_checks(store):
    r = store.root
    with pytest.raises(TypeError, match=r"Expected <persistent class 'Int'>, found <class 'str'>"):
        r.count = 'x'
    with pytest.raises(TypeError, match=r"Expected <persistent class 'Agent'>, found <persistent class 'Names'>"):
        r.boss = store.schema.Names()
    with pytest.raises(TypeError, match=r"Expected <persistent class 'ByteString'>"):
        r.label = 'text is not bytes'
    with pytest.raises(AttributeError):
        r.nosuchfield = 1
    with pytest.raises(TypeError, match="no persistent field 'nope'"):
        store.schema.Agent(nope=1)
    with pytest.raises(TypeError, match="store-by-value"):
        store.schema.Float(1.0)
    with pytest.raises(TypeError, match="abstract"):
        store.schema.Structure()


def test_derived_structure_read_through_base_typed_field(store):
    """Fault of the original: objects did not carry their type."""
    store.root.boss = store.schema.Spy(name=b'Bond', age=40, cover=b'banker')
    boss = store.root.boss
    assert repr(boss).startswith('<persistent Spy object')
    assert boss.cover.contents == b'banker' and boss.age.contents == 40
    assert isinstance(boss, store.schema.Agent) and isinstance(boss, store.schema.Spy)
    del boss
    store.close()
    s = Storage(store.fileName)
    try:
        boss = s.root.boss
        assert isinstance(boss, s.schema.Spy) and boss.cover.contents == b'banker'
        del boss
    finally:
        s.close()


def test_schema_with_set_and_valueless_dict_reopens(pool_path):
    """Fault of the original: a Set or a Dict with value None did not reopen."""
    with Agents(pool_path) as s:
        s.root.names = s.schema.Names()
        s.root.names.add(b'x')
        s.root.counts = s.schema.Counts(size=3)
        for i in range(10):
            s.root.counts.add(i)
    with Storage(pool_path) as s:
        assert set(k.contents for k in s.root.names) == {b'x'}
        assert sorted(s.root.counts.iterkeys()) == list(range(10))
        assert 5 in s.root.counts and 11 not in s.root.counts


def test_close_without_touching_root_then_reopen(pool_path):
    """Fault of the original: the schema was only stored with the root."""
    Agents(pool_path).close()
    with Storage(pool_path) as s:
        assert [x for x in dir(s.schema) if not x.startswith('__')][:2] == ['Agent', 'AgentsByName']
        assert repr(s.root).startswith('<persistent Root object @offset 0x')


def test_proxy_after_close_raises_value_error(pool_path):
    """Fault of the original: a proxy used after close crashed the interpreter."""
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_ptypes_storage import Agents
        s = Agents({pool_path!r})
        r = s.root
        r.label = b'abc'
        r.agents = s.schema.ListOfAgents()
        r.agents.append(s.schema.Agent(age=3))
        age, ratio = r.count, r.ratio       # by-value proxies of the Root (which is exempt)
        s.close()
        n = 0
        for f in (lambda: r.count, lambda: r.label, lambda: len(r.agents), lambda: age.contents,
                  lambda: age.inc(), lambda: setattr(r, 'count', 1), lambda: ratio.add(1.0),
                  lambda: s.root, lambda: s.close(), lambda: s.stringRegistry):
            try:
                f()
            except ValueError:
                n += 1
        print(n)
    """)
    proc = run_python(code)
    assert_no_signal(proc)
    assert proc.stdout.split() == ['10'], proc.stderr


def test_close_refused_while_proxies_alive(store):
    store.root.boss = store.schema.Agent(name=b'M')
    boss = store.root.boss
    with pytest.raises(ValueError, match=r"Cannot close <Agents '.*'> - some proxies are still around: "
                                         r"<persistent Agent object @offset 0x"):
        store.close()
    del boss
    age = store.root.count      # a by-value proxy keeps its container alive
    root = store.root
    del root
    store.close()              # the Root proxy itself does not hold the storage open
    with pytest.raises(ValueError, match="is closed"):
        age.contents
    with pytest.raises(ValueError, match="is closed"):
        store.root


def test_close_refused_while_a_byte_string_outlives_a_second_proxy(store):
    """Every read of a byte string gives a new proxy; one of them dying must
    not make the pool forget the others (close() went ahead and the string
    left alive was read from unmapped memory)."""
    store.root.label = b'kept'
    first = store.root.label
    second = store.root.label
    assert first is not second
    del second
    with pytest.raises(ValueError, match=r"some proxies are still around: "
                                         r"<persistent ByteString object 'kept' @offset 0x"):
        store.close()
    assert first.contents == b'kept'
    del first
    store.close()


def test_string_held_only_by_proxy_survives_a_second_proxy_dying(store):
    """A string nothing in the pool references lives while a proxy holds it,
    also after another proxy of it died (it was freed at the next transaction
    and could be stored again: a reference to freed memory)."""
    s = store.schema.ByteString(b'held by Python only')
    store.root.label = s
    other = store.root.label
    assert other is not s
    store.root.label = None                 # count 0: only the proxies keep it
    del other
    store.root.count = 1                    # a transaction: orphans are freed here
    stats = store.gc()
    assert stats['freed_total'] == 0, stats
    assert s.contents == b'held by Python only'
    store.root.label = s
    del s
    assert store.root.label.contents == b'held by Python only'
    assert store.gc()['freed_total'] == 0


def test_opening_twice_is_a_clear_error(store):
    with pytest.raises(pmemobj.PoolInUseError):
        Storage(store.fileName)
    assert store.root.count.contents == 0       # the first one is unharmed


def test_storage_is_context_manager(pool_path):
    with Agents(pool_path) as s:
        s.root.count = 3
    assert s._closed
    with Storage(pool_path) as s:
        assert s.root.count.contents == 3


def test_replaced_objects_are_freed(store):
    """Fault of the original: replaced strings and structures leaked."""
    r = store.root
    store.gc()
    for i in range(200):
        r.label = b'x' * (i + 100)
        r.boss = store.schema.Agent(name=b'agent %d' % i)
    r.agents = store.schema.ListOfAgents([store.schema.Agent() for _ in range(10)])
    r.agents = None
    assert store.gc()['freed_total'] == 0        # refcounts freed everything already


def test_temporaries_are_freed_with_their_last_proxy(store):
    store.root.label = b'x'
    kept = store.gc()['kept_total']
    tmp = store.schema.Agent(name=b'nobody')
    store.root.boss = tmp
    store.root.boss = None                  # count 0, but the proxy keeps it alive
    assert tmp.name.contents == b'nobody'
    store.schema.ByteString(b'never stored')
    del tmp
    stats = store.gc()
    assert stats['kept_total'] == kept and stats['freed_total'] == 0, stats


def test_string_registry_interns_and_grows(pool_path):
    with Agents(pool_path, stringRegistrySize=4) as s:
        reg = s.stringRegistry
        first = [reg.get(b'word %d' % i) for i in range(500)]
        assert len(reg) == 500
        again = reg.get(b'word 7')
        assert again.isSameAs(first[7]) and again is not first[7]
        assert b'word 499' in reg and b'word 500' not in reg
        del reg[b'word 3']
        assert b'word 3' not in reg and len(reg) == 499
        del first, again, reg
    with Storage(pool_path) as s:
        assert len(s.stringRegistry) == 499


STABLE_HASH_CHILD = """
import sys
from ptypes.storage import Storage
with Storage(sys.argv[1]) as s:
    d = s.root.byName
    print(sorted(a.age.contents for a in d.itervalues()))
    print([d[b'agent %d' % i].age.contents for i in range(0, 300, 37)])
    print(b'agent 5' in s.root.names, b'agent 500' in s.root.names, s.stringRegistry.get(b'r1').contents)
    print(len(s.stringRegistry))
    del d
"""


def test_hashes_are_stable_across_processes(pool_path):
    """Fault of the original: dicts keyed by strings depended on PYTHONHASHSEED."""
    with Agents(pool_path) as s:
        r = s.root
        r.byName = s.schema.AgentsByName()
        r.names = s.schema.Names()
        for i in range(300):
            r.byName[b'agent %d' % i] = s.schema.Agent(age=i)
            r.names.add(b'agent %d' % i)
        s.stringRegistry.get(b'r1')
        del r
    outs = set()
    for seed in ('1', '2', '12345'):
        proc = run_python(STABLE_HASH_CHILD, pool_path, env={'PYTHONHASHSEED': seed})
        assert_no_signal(proc)
        assert proc.returncode == 0, proc.stderr
        outs.add(proc.stdout)
    assert len(outs) == 1
    lines = outs.pop().splitlines()
    assert lines[0] == str(list(range(300)))
    assert lines[1] == str(list(range(0, 300, 37)))
    assert lines[2] == "True False b'r1'" and lines[3] == '1'


def test_define_rules(pool_path):
    class Bad(Storage):
        def populateSchema(self):
            self.define(List('L')[1])
    with pytest.raises(TypeError, match="Type parameter 1 of L is not a persistent class"):
        Bad(pool_path)
    os.unlink(pool_path)

    class Dup(Storage):
        def populateSchema(self):
            self.define(List('Int')[self.schema.Int])
    with pytest.raises(TypeError, match="'Int' is already defined"):
        Dup(pool_path)
    os.unlink(pool_path)

    class NoRoot(Storage):
        def populateSchema(self):
            self.define(Set('S')[self.schema.ByteString])
    with pytest.raises(TypeError, match="must define a structure called 'Root'"):
        NoRoot(pool_path)
    os.unlink(pool_path)

    class Foreign(Storage):
        def populateSchema(self):
            class Root(self.schema.Structure):
                pass
    other = Foreign(pool_path + '2')
    try:
        class Mixed(Storage):
            def populateSchema(self):
                class Root(self.schema.Structure):
                    x = other.schema.Root
        with pytest.raises(TypeError, match="not a persistent class of this storage"):
            Mixed(pool_path)
        with pytest.raises(TypeError, match="can only be defined in populateSchema"):
            other.define(List('Late')[other.schema.Int])
    finally:
        other.close()


def test_constants_are_kept_and_methods_refused(pool_path):
    class S(Storage):
        def populateSchema(self):
            class Root(self.schema.Structure):
                VERSION = 3
                TITLE = 'agents'
                n = self.schema.Int
    with S(pool_path) as s:
        assert s.root.VERSION == 3
    with Storage(pool_path) as s:
        assert (s.root.VERSION, s.root.TITLE) == (3, 'agents')
        assert s.schema.Root.TITLE == 'agents'


def test_warning_for_persistent_attribute_of_volatile_base(pool_path):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), 'docs'))
    try:
        import testHelpers
    finally:
        sys.path.pop(0)

    class S(Storage):
        def populateSchema(self):
            class Root(self.schema.Structure, testHelpers.VolatileBase):
                pass
            testHelpers.VolatileBase.qux = self.schema.Int
            try:
                class Other(self.schema.Structure, testHelpers.VolatileBase):
                    pass
            finally:
                del testHelpers.VolatileBase.qux
    with pytest.warns(UserWarning, match="'qux' of the volatile base class VolatileBase"):
        S(pool_path).close()


OPEN_CHILD = """
import sys
before = set(sys.modules)
from ptypes.storage import Storage
import ptypes.storage, pmemobj
before = set(sys.modules)
s = Storage(sys.argv[1])
print(sorted(m for m in set(sys.modules) - before if not m.startswith('_')))
print(s.root.hello())
"""


def test_opening_imports_only_volatile_bases(tmpdir_shm):
    """Fault of the original: opening a file unpickled (ran) code stored in it."""
    mod = os.path.join(tmpdir_shm, 'ptvolatile_mod.py')
    with open(mod, 'w') as f:
        f.write("class Hello:\n    def hello(self):\n        return 'hi'\n")
    path = os.path.join(tmpdir_shm, 's.pool')
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {tmpdir_shm!r})
        from ptypes.storage import Storage
        import ptvolatile_mod
        class S(Storage):
            def populateSchema(self):
                class Root(self.schema.Structure, ptvolatile_mod.Hello):
                    pass
        S({path!r}).close()
    """)
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    proc = run_python(OPEN_CHILD, path, env={'PYTHONPATH': tmpdir_shm + os.pathsep + os.getcwd()})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["['ptvolatile_mod']", 'hi']
    os.unlink(mod)
    proc = run_python(OPEN_CHILD, path, env={'PYTHONPATH': tmpdir_shm})
    assert_no_signal(proc)
    assert "cannot import the volatile base class ptvolatile_mod:Hello" in proc.stderr


def test_not_a_storage_is_refused(pool_path):
    with pmemobj.create(pool_path, pool_size=MIN_STORAGE_SIZE) as pool:
        pool.root = (1, 2)
    with pytest.raises(pmemobj.InvalidPoolError, match="not a ptypes storage"):
        Storage(pool_path)
    with pytest.raises(TypeError, match="must define a structure called 'Root'"):
        Storage(pool_path + '.new')         # plain Storage has no schema to create


def test_failed_populate_schema_leaves_a_reusable_file(pool_path):
    class Bad(Storage):
        def populateSchema(self):
            raise RuntimeError('no')
    with pytest.raises(RuntimeError):
        Bad(pool_path)
    assert os.path.exists(pool_path)
    with Agents(pool_path) as s:          # populateSchema runs again on the empty file
        assert s.root.count.contents == 0


def test_objects_of_another_storage_are_refused(store, tmpdir_shm):
    other = Agents(os.path.join(tmpdir_shm, 'other.pool'))
    try:
        with pytest.raises(TypeError, match="another storage"):
            store.root.label = other.schema.ByteString(b'x')
        with pytest.raises(TypeError):
            store.root.boss = other.schema.Agent()
    finally:
        other.gc()
        other.close()


def test_buffer_kinds_and_reopen(pool_path):
    np = pytest.importorskip('numpy')
    import array

    class S(Storage):
        def populateSchema(self):
            self.define(Buffer)
            self.define(List('Buffers')[self.schema.Buffer])

            class Root(self.schema.Structure):
                bufs = self.schema.Buffers
    a = np.arange(24, dtype='<i4').reshape(2, 3, 4)
    sources = [b'', b'abc', array.array('d', [1.5, 2.5]), a, a[:, ::2, 1:3], memoryview(b'xyz')[::2],
               np.zeros((0, 5)), np.float64(3.25)]
    with S(pool_path) as s:
        s.root.bufs = s.schema.Buffers(s.schema.Buffer(x) for x in sources)
    with Storage(pool_path) as s:
        got = [np.asarray(b) for b in s.root.bufs]
        for src, arr in zip(sources, got):
            expect = np.asarray(memoryview(src))
            assert arr.shape == expect.shape and arr.dtype == expect.dtype
            assert np.array_equal(arr, expect)
            assert not arr.flags.writeable
        with pytest.raises(ValueError, match="proxies are still around: <persistent Buffer object"):
            s.close()
        del got, arr
        with pytest.raises(TypeError, match="Objects of type 'int' do not support the buffer protocol."):
            s.schema.Buffer(5)


class Named:
    """A volatile mix-in for test_volatile_members (importable: module level)."""

    @property
    def title(self):
        return b'Agent ' + self.name.contents

    def rename(self, new):
        self.name = new
        return self


def test_volatile_members(pool_path):
    class S(Storage):
        def populateSchema(self):
            class Root(self.schema.Structure, Named):
                name = self.schema.ByteString
    with S(pool_path) as s:
        assert s.root.rename(b'Bond').title == b'Agent Bond'
        assert isinstance(s.root, Named) and isinstance(s.root, s.schema.Root)
        assert s.root.__class__ is s.schema.Root
        assert 'rename' in dir(s.root) and 'name' in dir(s.root)
        with pytest.raises(AttributeError, match="has no field or attribute 'missing'"):
            s.root.missing
    with Storage(pool_path) as s:
        assert s.root.title == b'Agent Bond'
        assert issubclass(s.schema.Root, Named)
