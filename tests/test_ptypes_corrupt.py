"""A damaged ptypes object or schema gives a clear exception, never a crash
(each damaged file is read by a child interpreter)."""
import os
import shutil
import struct
import tempfile

import pytest

from support import assert_no_signal, run_python

SCHEMA = r"""
from ptypes.storage import Storage, List, Dict
from ptypes.buffer import Buffer
from ptypes.pcollections import SkipList

class S(Storage):
    def populateSchema(self):
        self.define(Buffer)
        self.define(SkipList('Sorted')[self.schema.Int])
        self.define(List('Ints')[self.schema.Int])
        self.define(Dict('ByName')[self.schema.ByteString, self.schema.Int])
        class Item(self.schema.Structure):
            n = self.schema.Int
        class Root(self.schema.Structure):
            item = Item
            name = self.schema.ByteString
            ints = self.schema.Ints
            byName = self.schema.ByName
            buf = self.schema.Buffer
            sorted = self.schema.Sorted
"""

MAKE = SCHEMA + r"""
import sys
with S(sys.argv[1]) as s:
    r = s.root
    r.item = s.schema.Item(n=5)
    r.name = b'a name'
    r.ints = s.schema.Ints(range(10))
    r.byName = s.schema.ByName()
    r.byName[b'k'] = 1
    r.buf = s.schema.Buffer(b'0123456789')
    r.sorted = s.schema.Sorted(range(50))
    offs = [x._p_oid[1] for x in (r.item, r.name, r.ints, r.byName, r.buf, s._storage_root, r.sorted)]
    print(*offs)
    del r
"""

READ = r"""
import sys
from ptypes.storage import Storage
try:
    s = Storage(sys.argv[1])
    r = s.root
    print(r.item.n.contents, r.name.contents, [i.contents for i in r.ints], r.byName[b'k'].contents,
          bytes(memoryview(r.buf)), sum(x.contents for x in r.sorted), r.sorted[49].contents)
except Exception as e:
    print('ERROR', type(e).__name__, e)
"""

# (name, which object, byte offset in it, value written as uint64)
DAMAGE = [
    ('structure ptid', 0, 16, 10 ** 6),
    ('structure nfields', 0, 24, 10 ** 12),
    ('bytes size', 1, 32, 2 ** 62),
    ('list size > capacity', 2, 24, 1000),
    ('list items offset', 2, 40, 8),
    ('list items outside pool', 2, 40, 2 ** 50),
    ('dict mask', 3, 40, 12),
    ('dict table offset', 3, 48, 2 ** 40),
    ('buffer ndim', 4, 40, 10 ** 9),
    ('buffer data_off', 4, 56, 2 ** 60),
    ('storage root magic', 5, 16, 1),
    ('storage layout version', 5, 24, 3),
    ('skip list levels', 6, 32, 99),
    ('skip list head outside pool', 6, 40, 2 ** 50),
    ('skip list head into its header', 6, 40, 8),
    ('skip list size', 6, 24, 7),
]


@pytest.fixture(scope='module')
def made():
    d = tempfile.mkdtemp(prefix='ptypes-corrupt-', dir='/dev/shm' if os.path.isdir('/dev/shm') else None)
    path = os.path.join(d, 'good.pool')
    proc = run_python(MAKE, path)
    assert proc.returncode == 0, proc.stderr
    yield path, [int(x) for x in proc.stdout.split()]
    shutil.rmtree(d, ignore_errors=True)


def test_undamaged_reads(made):
    proc = run_python(READ, made[0])
    assert proc.stdout.strip() == "5 b'a name' [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] 1 b'0123456789' 1225 49", \
        proc.stderr


def test_layout_versions(made):
    """A storage of layout version 1 (before skip lists and graphs) reads as it
    is; a newer version is refused with a message that names it."""
    path, offs = made
    for version, expect in ((1, "5 b'a name'"), (3, "ERROR InvalidPoolError [Errno 22] ptypes layout version 3 is not "
                                                  "supported (this library reads versions 1 to 2)")):
        bad = path + '.v%d' % version
        shutil.copyfile(path, bad)
        try:
            with open(bad, 'r+b') as f:
                f.seek(offs[5] + 24)
                f.write(struct.pack('<Q', version))
            proc = run_python(READ, bad)
            assert proc.stdout.startswith(expect), (proc.stdout, proc.stderr)
        finally:
            os.unlink(bad)


@pytest.mark.parametrize('name,which,at,value', DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damage_gives_an_exception(made, name, which, at, value):
    path, offs = made
    bad = path + '.' + name.replace(' ', '_')
    shutil.copyfile(path, bad)
    try:
        with open(bad, 'r+b') as f:
            f.seek(offs[which] + at)
            f.write(struct.pack('<Q', value))
        proc = run_python(READ, bad)
        assert_no_signal(proc)
        assert proc.stdout.startswith('ERROR'), (proc.stdout, proc.stderr)
        assert ('InvalidPoolError' in proc.stdout or 'ValueError' in proc.stdout), proc.stdout
    finally:
        os.unlink(bad)


def test_damaged_schema_text(made):
    path, _ = made
    bad = path + '.schema'
    shutil.copyfile(path, bad)
    try:
        with open(bad, 'r+b') as f:
            data = f.read()
            at = data.index(b'{"format": "ptypes-schema"')
            f.seek(at)
            f.write(b'[[[[')
        proc = run_python(READ, bad)
        assert_no_signal(proc)
        assert proc.stdout.startswith('ERROR InvalidPoolError'), proc.stdout
        assert 'schema' in proc.stdout
    finally:
        os.unlink(bad)
