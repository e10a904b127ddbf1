"""Writable exports of persistent buffers: inside a transaction, writes through
a memoryview or a numpy array commit, roll back with an abort, and vanish
with a process killed before the commit; outside one, exports are read-only."""
import array
import ctypes
import signal
import subprocess
import sys

import pytest

from ptypes.buffer import Buffer
from ptypes.storage import Storage
from support import closing_storage, run_python

np = pytest.importorskip("numpy")


class Buffers(Storage):
    def populateSchema(self):
        self.define(Buffer)

        class Root(self.schema.Structure):
            buf = self.schema.Buffer
            other = self.schema.Buffer


@pytest.fixture
def store(pool_path):
    s = Buffers(pool_path)
    s.root.buf = s.schema.Buffer(np.arange(12, dtype=np.int64).reshape(3, 4))
    yield from closing_storage(s)


def values(s):
    return np.asarray(s.root.buf).tolist()


def test_read_only_outside_a_transaction(store):
    m = memoryview(store.root.buf)
    assert m.readonly and m.format in ('l', 'q') and m.shape == (3, 4)
    with pytest.raises(TypeError):
        m[0, 0] = 1
    a = np.asarray(store.root.buf)
    assert not a.flags.writeable and not a.flags.owndata
    with pytest.raises(ValueError, match="read-only"):
        a[0, 0] = 1
    view = (ctypes.c_byte * 256)()          # room for a Py_buffer
    with pytest.raises(BufferError, match="writable inside a transaction only"):
        ctypes.pythonapi.PyObject_GetBuffer(ctypes.py_object(store.root.buf), view, 1)   # PyBUF_WRITABLE
    del m, a


def test_writes_in_a_transaction_commit(store, pool_path):
    with store.transaction():
        m = memoryview(store.root.buf)
        assert not m.readonly
        m[0, 0] = 100
        a = np.asarray(store.root.buf)
        assert a.flags.writeable
        a[2] *= 10
        del m, a
    assert values(store) == [[100, 1, 2, 3], [4, 5, 6, 7], [80, 90, 100, 110]]
    store.close()
    with Storage(pool_path) as s:
        assert values(s) == [[100, 1, 2, 3], [4, 5, 6, 7], [80, 90, 100, 110]]


def test_writes_in_an_aborted_transaction_roll_back(store, pool_path):
    before = values(store)
    with pytest.raises(RuntimeError, match="abort"):
        with store.transaction():
            a = np.asarray(store.root.buf)
            a[:] = -1
            assert values(store) == [[-1] * 4] * 3
            del a
            raise RuntimeError("abort")
    assert values(store) == before
    store.close()
    with Storage(pool_path) as s:
        assert values(s) == before


def test_a_view_of_a_rolled_back_transaction_shows_the_old_data(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            a = np.asarray(store.root.buf)
            a[:] = 7
            raise RuntimeError
    assert a.tolist() == np.arange(12).reshape(3, 4).tolist()
    del a


def test_other_formats(store):
    store.root.other = store.schema.Buffer(array.array('d', [0.5, 1.5]))
    with store.transaction():
        m = memoryview(store.root.other)
        m[1] = 2.5
        del m
    assert memoryview(store.root.other).tolist() == [0.5, 2.5]
    store.root.other = store.schema.Buffer(b'')
    with store.transaction():
        assert memoryview(store.root.other).nbytes == 0


def test_a_full_pool_refuses_the_export(pool_path):
    """The undo log of a snapshot larger than the free space does not fit:
    the export fails, the transaction rolls back, the pool stays usable."""
    with Buffers(pool_path) as s:
        s.root.buf = s.schema.Buffer(np.zeros(20 << 20, dtype=np.uint8))
        with pytest.raises(MemoryError):
            with s.transaction():
                s.root.other = s.schema.Buffer(b'x')
                memoryview(s.root.buf)
        assert s.root.other is None
        s.root.other = s.schema.Buffer(b'small')
        with s.transaction():
            memoryview(s.root.other)[0] = ord('S')
        assert s.root.other.contents == b'Small'


KILLED = r"""
import sys, time
import numpy as np
from ptypes.storage import Storage
s = Storage(sys.argv[1])
with s.transaction():
    a = np.asarray(s.root.buf)
    a[:] = 7
    print('written', flush=True)
    time.sleep(60)
"""


def test_a_killed_transaction_leaves_no_trace(store, pool_path):
    store.close()
    env_code = "import sys; sys.path[:0] = %r\n" % sys.path[:3]
    child = subprocess.Popen([sys.executable, '-c', env_code + KILLED, pool_path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline() == 'written\n', child.stderr.read()
    child.send_signal(signal.SIGKILL)
    child.wait()
    proc = run_python("import sys, numpy as np\nfrom ptypes.storage import Storage\n"
                      "with Storage(sys.argv[1]) as s:\n"
                      "    print(np.asarray(s.root.buf).tolist())\n", pool_path)
    assert proc.stdout.strip() == str(np.arange(12).reshape(3, 4).tolist()), proc.stderr
