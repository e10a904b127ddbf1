"""File helpers of upstream sharedbuffers' API: BufferIO (a file-like writer
into a buffer) and GenericFileMapper (maps a file's range)."""
import mmap
import os
import zipfile


class BufferIO:
    """A file-like object writing into the writable buffer `buf` from offset
    `offs`: what build() methods need of a destination file (write, tell,
    seek, flush), to build into memory shared some other way."""

    def __init__(self, buf, offs=0):
        self.buf = buf
        self.offs = offs
        self.pos = offs

    def write(self, data):
        n = len(data)
        end = self.pos + n
        if end > len(self.buf):
            raise IndexError(f"BufferIO: {n} bytes at {self.pos} do not fit in {len(self.buf)}")
        self.buf[self.pos:end] = data
        self.pos = end
        return n

    def tell(self):
        return self.pos - self.offs

    def seek(self, pos, whence=os.SEEK_SET):
        if whence == os.SEEK_CUR:
            pos += self.tell()
        elif whence == os.SEEK_END:
            pos += len(self.buf) - self.offs
        self.pos = self.offs + pos
        return pos

    def flush(self):
        pass


class GenericFileMapper:
    """Maps a range of a file."""

    @classmethod
    def map_file(cls, fileobj, offset=0, size=None, read_only=True):
        """(a memoryview of the range [offset, offset+size) of fileobj, the mmap
        holding it); size None: to the end of the file.  A zip member stored
        uncompressed is mapped in place."""
        if isinstance(fileobj, zipfile.ZipExtFile):
            return cls.map_zipfile(fileobj, offset, size, read_only)
        if size is None:
            fileobj.seek(0, os.SEEK_END)
            size = fileobj.tell() - offset
        fileobj.flush() if hasattr(fileobj, "flush") and not read_only else None
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        raw = getattr(fileobj, "_file", fileobj)
        buf = mmap.mmap(raw.fileno(), size + offset - start,
                        access=mmap.ACCESS_READ if read_only else mmap.ACCESS_WRITE, offset=start)
        return memoryview(buf)[offset - start:offset - start + size], buf

    @classmethod
    def map_zipfile(cls, fileobj, offset=0, size=None, read_only=True):
        if fileobj._compress_type != zipfile.ZIP_STORED:
            raise ValueError("only uncompressed zip members can be mapped")
        if getattr(fileobj, "_decrypter", None) is not None:
            raise ValueError("encrypted zip members cannot be mapped")
        total = fileobj._orig_compress_size
        size = total - offset if size is None else min(size, total - offset)
        shared = fileobj._fileobj
        return cls.map_file(shared._file, offset + shared.tell(), size, read_only)
