"""sharedbuffers.pool (objects packed into growing sections), arrays' versions
and embedded schemas, writable and zipped mappings, BufferIO, GenericFileMapper."""
import io
import os
import pickle
import zipfile

import pytest

from sharedbuffers import mapped_struct as ms, pool


class Rec:
    __slot_types__ = {"n": int, "tags": list, "o": object, "u": ms.uint16}

    def __init__(self, n, tags=(), o=None):
        self.n, self.tags, self.o, self.u = n, list(tags), o, n % 65536


REC = ms.Schema.from_typed_slots(Rec)


class RecArray(ms.MappedArrayProxyBase):
    schema = REC


def test_object_pool_sections_and_positions(tmp_path):
    p = pool.TemporaryObjectPool(section_size=4096)
    shared = ["shared tag"] * 3
    placed = []
    for i in range(400):
        pos, proxy = p.pack(REC, Rec(i, shared, {"i": i}))
        assert proxy.n == i and proxy.o == {"i": i}
        placed.append(pos)
    assert len(p.sections) > 1 and p.size > 0
    for i, pos in enumerate(placed):
        assert p.unpack(REC, pos).tags == shared
    with pytest.raises(IndexError):
        p.unpack(REC, p.total_size + 10)
    # dumped, the logical positions are file positions
    with open(tmp_path / "dump", "wb") as f:
        size = p.dump(f)
    data = (tmp_path / "dump").read_bytes()
    assert len(data) == size
    assert [REC.unpack_from(data, pos).n for pos in placed[::37]] == list(range(400))[::37]
    p.close(True)


def test_object_pool_big_objects_preload_and_add():
    p = pool.TemporaryObjectPool(section_size=1 << 12)
    pos, proxy = p.pack(REC, Rec(1, range(5000)))          # bigger than a section: one of its own
    assert proxy.tags == list(range(5000)) and len(p.sections) == 1
    common = Rec(0, ["common"] * 20)
    p.add_preload(REC, common)
    pos2, proxy2 = p.pack(REC, Rec(2, common.tags))
    assert proxy2.tags == common.tags
    pos3, proxy3 = p.add(REC, bytes(REC.pack(Rec(3))))
    assert proxy3.n == 3 and p.unpack(REC, pos3).n == 3
    pos4, proxy4 = p.pack(ms.mapped_object, [1, "x"], pack_buffer=bytearray(8))
    assert proxy4 == [1, "x"]
    freelist = []
    p2 = pool.TemporaryObjectPool(section_size=1 << 12, section_freelist=freelist)
    p2.pack(REC, Rec(5))
    p2.close()
    assert freelist
    p3 = pool.TemporaryObjectPool(section_size=1 << 12, section_freelist=freelist)
    assert p3.pack(REC, Rec(6))[1].n == 6 and not freelist
    for q in (p, p3):
        q.close(True)


def test_array_versions_and_embedded_schema():
    arr = RecArray.build([Rec(i, ["t"]) for i in range(5)] + [None])
    data = bytes(arr.buffer[:])
    generic = ms.MappedArrayProxyBase.map_buffer(data)      # reads with the schema stored in the file
    assert [r.n if r else None for r in generic] == [0, 1, 2, 3, 4, None]
    assert generic.schema_of_data.compatible(REC)

    class Future(RecArray):
        _CURRENT_VERSION = _CURRENT_MINIMUM_READER_VERSION = RecArray._CURRENT_VERSION + 1
    newer = io.BytesIO()
    Future._write(newer, [Rec(1)])
    with pytest.raises(ValueError, match="newer"):
        RecArray.map_buffer(newer.getvalue())
    assert Future.map_buffer(newer.getvalue())[0].n == 1


def test_embedded_schema_unpickling_runs_no_code():
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    blob = pickle.dumps(Evil(), 4)
    data = bytearray(RecArray.build([Rec(1)]).buffer[:])
    # replace the stored schema by the payload (same size field layout: size byte + bytes)
    import struct
    schema_pos = struct.unpack_from("<Q", data, 32)[0]
    data[schema_pos:] = bytes([len(blob)]) + blob + bytes(max(0, len(data) - schema_pos - len(blob) - 1))
    with pytest.raises(ms.CorruptedBufferError, match="not a class"):
        ms.MappedArrayProxyBase.map_buffer(bytes(data))


def test_writable_file_mapping_and_zip(tmp_path):
    path = tmp_path / "arr.bin"
    with open(path, "w+b") as f:
        RecArray.build([Rec(1), Rec(2)], destfile=f)
        rw = RecArray.map_file(f, read_only=False)
        rw[0].u = 777
        with pytest.raises(AttributeError, match="read-only"):
            RecArray.map_file(f)[0].u = 1
    assert RecArray.map_file(str(path))[0].u == 777
    zpath = tmp_path / "a.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.write(path, "arr", zipfile.ZIP_STORED)
    with zipfile.ZipFile(zpath) as z:
        assert [r.u for r in RecArray.map_file(z.open("arr"))] == [777, 2]


def test_buffer_io_and_generic_file_mapper(tmp_path):
    buf = bytearray(4096)
    out = ms.BufferIO(buf, 100)
    end = RecArray.build([Rec(9)], destfile=out, return_mapper=False)
    assert end == out.tell() > 0
    assert RecArray.map_buffer(buf, 100)[0].n == 9
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789" * 1000)
    with open(path, "rb") as f:
        view, mapping = ms.GenericFileMapper.map_file(f, 5000, 10)
        assert bytes(view) == b"0123456789"
        view.release()
        mapping.close()
