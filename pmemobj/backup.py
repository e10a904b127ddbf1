"""Online backup: a copy of an open pool taken between transactions.

``pool.backup(dest)`` (or ``python -m pmemobj backup SRC DEST``) holds the
pool's transaction lock while it copies (pmemobj/_backup.pxi): the files then
hold a committed state, and no thread can begin a transaction until the copy
is done.  The copy is the pool's bytes as they are, so it opens as a pool
with the same content, and as one that was not closed cleanly: its first open
collects what only the source's live proxies kept.  It has the source's pool
identity (uuid): libpmemobj opens two pools of the same identity not at once
in one process.

Files are copied by the kernel (copy_file_range, else sendfile) into
temporary names next to the destination and renamed once complete: a crash
during the backup leaves no half pool at *dest*.
"""
import errno
import os
import shutil

from . import _core, _poolset

__all__ = ["backup"]


def _copy_file(src, dst):
    """Copy *src* to the new file *dst* in the kernel where it can; fsync it."""
    with open(src, "rb") as fi, open(dst, "xb") as fo:
        n = os.fstat(fi.fileno()).st_size
        done = 0
        try:
            while done < n:
                k = os.copy_file_range(fi.fileno(), fo.fileno(), n - done, done, done)
                if k == 0:
                    break
                done += k
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            while done < n:                 # another filesystem, an older kernel
                k = os.sendfile(fo.fileno(), fi.fileno(), done, n - done)
                if k == 0:
                    break
                done += k
        if done != n:
            raise OSError(errno.EIO, f"short copy ({done} of {n} bytes)", src)
        shutil.copymode(src, dst)
        os.fsync(fo.fileno())


def _sync_dir(path):
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tmp(path):
    return f"{path}.backup-{os.getpid()}"


def backup(mm, dest):
    """Copy the pool of the open memory manager *mm* to *dest* (see the module)."""
    dest = os.path.abspath(os.fspath(dest))
    src = mm.filename
    growing = bool(mm.max_size)
    parts = _poolset.parts_dir(dest) if growing else None
    for path in (dest, parts):
        if path is not None and os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "backup destination already exists", path)
    tmp = _tmp(dest)
    tmp_parts = _tmp(parts) if growing else None

    def copy():
        if not growing:
            _copy_file(src, tmp)
            return
        ps = _poolset.parse(src)
        os.mkdir(tmp_parts)
        for f in ps.part_files():
            _copy_file(f, os.path.join(tmp_parts, os.path.basename(f)))

    try:
        _core._between_transactions(mm, copy)
        if growing:
            ps = _poolset.parse(src)
            os.rename(tmp_parts, parts)
            try:
                _poolset.write(dest, parts, ps.max_size, ps.grow_by, make_dir=False)
            except BaseException:
                shutil.rmtree(parts, ignore_errors=True)
                raise
        else:
            os.rename(tmp, dest)
        _sync_dir(dest)
    except BaseException:
        for path in (tmp, tmp_parts):
            if path is not None and os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif path is not None and os.path.lexists(path):
                os.unlink(path)
        raise
    return dest
