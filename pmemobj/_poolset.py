"""Pool set files: the text file that names a growing pool's parts.

A growing pool is a pool set (poolset(5) of libpmemobj) of one directory
part: libpmemobj maps the part files of the directory one after the other
and, when its heap is full, adds a file of ``grow_by`` bytes, up to the
directory's maximum size.  ``OPTION SINGLEHDR`` keeps one pool header (in the
first part): the pool's offsets are then offsets in the concatenation of the
part files, which is what the checks before open (_metadata_check) read.

The file this library writes::

    PMEMPOOLSET
    OPTION SINGLEHDR
    # pmemobj-python grow_by 33554432
    1073741824 /abs/path/pool.parts

Set files written by hand are opened when they keep to what can be checked:
``OPTION SINGLEHDR``, no replicas, absolute paths.
"""
import errno
import os
import re

SIGNATURE = b"PMEMPOOLSET"
GROW_TAG = "# pmemobj-python grow_by "
PARTS_SUFFIX = ".parts"
PART_NAME = re.compile(r"^\d{6}\.pmem$")        # libpmemobj's names of a directory's part files
GROW_MIN = 2 << 20          # libpmemobj refuses a smaller heap.size.granularity or extend
DEFAULT_GROW_BY = 32 << 20
_SUFFIXES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class PoolSet:
    """A parsed set file: ``parts`` is a list of (max size, path, is_dir)."""

    def __init__(self, path, parts, grow_by):
        self.path, self.parts, self.grow_by = path, parts, grow_by

    @property
    def max_size(self):
        return sum(size for size, _, _ in self.parts)

    def part_files(self):
        """The part files, in the order libpmemobj maps them."""
        files = []
        for _, path, is_dir in self.parts:
            if is_dir:
                files.extend(os.path.join(path, n) for n in sorted(os.listdir(path)) if PART_NAME.match(n))
            else:
                files.append(path)
        return files


def is_poolset(path):
    """Whether *path* is a regular file starting with the pool set signature."""
    try:
        with open(path, "rb") as f:
            return f.read(len(SIGNATURE)) == SIGNATURE
    except (IsADirectoryError, PermissionError, FileNotFoundError):
        return False


def _size(word, path):
    m = re.fullmatch(r"(\d+)([KMGT]?)(i?B)?", word, re.IGNORECASE)
    if not m:
        raise ValueError(f"pool set {path}: {word!r} is not a size")
    return int(m.group(1)) * _SUFFIXES.get(m.group(2).upper(), 1)


def parse(path):
    """The PoolSet of the set file *path*; ValueError for what cannot be checked."""
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    if not lines or lines[0].strip() != SIGNATURE.decode():
        raise ValueError(f"{path} is not a pool set file")
    parts, grow_by, single_header = [], DEFAULT_GROW_BY, False
    for line in lines[1:]:
        if line.startswith(GROW_TAG):
            grow_by = _size(line[len(GROW_TAG):].strip(), path)
            continue
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0].upper() == "OPTION":
            if [w.upper() for w in words[1:]] != ["SINGLEHDR"]:
                raise ValueError(f"pool set {path}: option {' '.join(words[1:])!r} is not supported")
            single_header = True
        elif words[0].upper() in ("REPLICA", "NOHDRS"):
            raise ValueError(f"pool set {path}: {words[0]} is not supported (one replica only)")
        elif len(words) == 2:
            size, part = _size(words[0], path), words[1]
            if not os.path.isabs(part):
                raise ValueError(f"pool set {path}: part path {part!r} is not absolute")
            parts.append((size, part, os.path.isdir(part)))
        else:
            raise ValueError(f"pool set {path}: cannot read the line {line!r}")
    if not single_header:
        raise ValueError(f"pool set {path}: only sets with OPTION SINGLEHDR are supported "
                         f"(one pool header: the pool is the concatenation of its parts)")
    if not parts:
        raise ValueError(f"pool set {path} names no parts")
    return PoolSet(path, parts, grow_by)


def parts_dir(path):
    """The directory of the part files of the growing pool whose set file is *path*."""
    return os.path.abspath(os.fspath(path)) + PARTS_SUFFIX


def write(path, directory, max_size, grow_by, mode=0o666, make_dir=True):
    """Create the set file *path* naming *directory* (which must be new, unless
    not *make_dir*) as the one part, of at most *max_size* bytes;
    FileExistsError when either exists."""
    text = (f"{SIGNATURE.decode()}\nOPTION SINGLEHDR\n{GROW_TAG}{grow_by}\n"
            f"{max_size} {os.path.abspath(directory)}\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            if make_dir:
                os.mkdir(directory, 0o777)
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, "the parts directory of the pool already exists",
                                  directory) from None
        os.write(fd, text.encode())
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def remove(path):
    """Remove a growing pool: its part files, their directory and the set file."""
    ps = parse(path)
    for f in ps.part_files():
        os.unlink(f)
    for _, part, is_dir in ps.parts:
        if is_dir:
            os.rmdir(part)
    os.unlink(path)


def first_part(path):
    """The file holding the pool header: *path* itself, or a set's first part."""
    if not is_poolset(path):
        return path
    files = parse(path).part_files()
    if not files:
        raise ValueError(f"pool set {path}: no part files")
    return files[0]
