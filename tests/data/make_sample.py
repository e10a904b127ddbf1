"""Make tests/data/plain16.pool.gz, the undamaged sample of test_reliability_corrupt.py:
a 16 MiB pool after some work, and print where the structures that test damages are.

    .venv/bin/python tests/data/make_sample.py

The sample holds runs of this library's allocation classes (one chunk each), a run of
one of libpmemobj's own classes (an object over 16 KiB: several chunks, so run data
chunks), and an undo log extension of lane 0 (its last transaction snapshotted more
than a lane's log holds)."""
import gzip
import os
import struct
import sys
import tempfile

import pmemobj

HERE = os.path.dirname(os.path.abspath(__file__))
CHUNKSIZE = 256 << 10
MAX_CHUNK = 65528


def make(path):
    with pmemobj.create(path, pool_size=16 << 20) as pool:
        root = pool.root = pool.new(pmemobj.PersistentDict)
        root["big"] = b"x" * (16704 - 16 - 24)        # a block of libpmemobj's class of 16704 bytes: 13 chunks
        for i in range(50):
            root[i] = "value %d " % i * 3
        root["list"] = pool.new(pmemobj.PersistentList, range(3000))
        with pool.transaction():
            for i in range(50):
                root[i] = "changed %d" % i
            root["list"].reverse()


def chunk_map(data):
    heap, = struct.unpack_from("<Q", data, 4096 + 1024 + 16)
    zone = heap + 1024
    n, = struct.unpack_from("<I", data, zone + 4)
    headers = zone + 64
    chunks = headers + 8 * MAX_CHUNK
    out, i = [], 0
    while i < n:
        h, = struct.unpack_from("<Q", data, headers + 8 * i)
        typ, size_idx = h & 0xFFFF, h >> 32
        block = struct.unpack_from("<Q", data, chunks + i * CHUNKSIZE)[0] if typ == 4 else None
        out.append((i, typ, size_idx, block))
        i += max(size_idx, 1)
    return headers, chunks, out


def main():
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as d:
        path = os.path.join(d, "plain16.pool")
        make(path)
        with open(path, "rb") as f:
            data = f.read()
    with gzip.open(os.path.join(HERE, "plain16.pool.gz"), "wb", compresslevel=9) as f:
        f.write(data)
    lanes, = struct.unpack_from("<Q", data, 4096 + 1024)
    headers, chunks, runs = chunk_map(data)
    print(f"chunk headers at 0x{headers:x}, chunks at 0x{chunks:x}")
    for i, typ, size_idx, block in runs:
        print(f"chunk {i}: type {typ}, {size_idx} chunk(s), block size {block}")
    undo_next, = struct.unpack_from("<Q", data, lanes + 960 + 8)
    print(f"lane 0's undo log extension at 0x{undo_next:x}, chunk {(undo_next - chunks) // CHUNKSIZE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
