"""Object pools: objects packed one at a time into growing shared sections.

A pool is a sequence of sections, each a memory-mapped temporary file of
`section_size` bytes (a section large enough is made for an object that
would not fit).  ``pool.pack(schema, obj)`` packs obj at the end of the last
section with room and returns (its logical position, a proxy of it); sub-objects
met again in the same section are stored once (each section has its idmap).
Big structures can so be built without holding them in memory: keep the
proxies, drop the objects.  ``dump()`` writes the sections one after the
other, so logical positions are positions in the dumped file.

(Not to be confused with pmemobj pools: these sections are scratch files.)
"""
import mmap
import tempfile

from sharedbuffers._structs import StrongIdMap

# 128 MiB: large enough for deduplication to pay, and where malloc turns to mmap anyway
DEFAULT_SECTION_SIZE = 128 << 20
DEFAULT_PACK_BUFFER = 65536


class Section:
    """A writable buffer filled from the front, with its idmap.  implicit_offs:
    the logical position of its first byte in the pool."""

    def __init__(self, buf, implicit_offs=0, idmap_kwargs=None):
        self.buf = buf
        self.real_buf = memoryview(buf)
        self.fileobj = None
        self.attach(implicit_offs, idmap_kwargs)

    def attach(self, implicit_offs=0, idmap_kwargs=None):
        """(Re)start the section empty, at logical position implicit_offs."""
        self.implicit_offs = implicit_offs
        self.write_pos = 0
        self.idmap = StrongIdMap(**(idmap_kwargs or {}))

    def detach(self):
        self.idmap = None

    def allocate(self, size=None):
        """Reserve `size` bytes (None: the rest); their position, or IndexError."""
        pos = self.write_pos
        if size is None:
            size = len(self.buf) - pos
        if pos + size > len(self.buf):
            raise IndexError(f"section overflow: {size} bytes do not fit in the {self.free_space} left")
        self.write_pos = pos + size
        return pos

    def append(self, data, verify_pos=None):
        """Copy `data` to the end; returns its position."""
        n = len(data)
        pos = self.allocate(n)
        if verify_pos is not None and verify_pos != pos:
            raise RuntimeError("concurrent modification of the section")
        self.real_buf[pos:pos + n] = data
        return pos

    @property
    def free_space(self):
        return len(self.buf) - self.write_pos

    def close(self):
        """Release the mapping and its file (the mapping stays while proxies use it)."""
        try:
            self.real_buf.release()
            self.buf.close()
        except (BufferError, AttributeError):
            pass            # proxies still read it: it goes with them
        if self.fileobj is not None:
            self.fileobj.close()
            self.fileobj = None


class BaseObjectPool:
    """An object pool; subclasses say where sections live (_mktemp).

    section_size: bytes per section; temp_kwargs: arguments of the temporary
    files; idmap_kwargs: arguments of each section's StrongIdMap;
    section_freelist: a list where close() keeps sections for reuse by later pools."""

    def __init__(self, section_size=DEFAULT_SECTION_SIZE, temp_kwargs=None, idmap_kwargs=None,
                 section_freelist=None):
        self.section_size = section_size
        self.temp_kwargs = dict(temp_kwargs or {})
        self.idmap_kwargs = dict(idmap_kwargs or {})
        self.section_freelist = section_freelist
        self.sections = []
        self.total_size = 0
        self.idmap_preload = []

    def _mktemp(self):
        raise NotImplementedError

    @property
    def size(self):
        """Logical size: the position after the last object."""
        if not self.sections:
            return 0
        last = self.sections[-1]
        return last.implicit_offs + last.write_pos

    def add_section(self, min_size=0):
        """A new empty section at the end (at least min_size bytes); returns it."""
        size = max(self.section_size, min_size)
        section = None
        if self.section_freelist:
            candidate = self.section_freelist.pop()
            if len(candidate.buf) >= size:
                section = candidate
                section.attach(self.total_size, self.idmap_kwargs)
            else:
                candidate.close()
        if section is None:
            f = self._mktemp()
            try:
                f.truncate(size)
                buf = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_WRITE)
            except BaseException:
                f.close()
                raise
            section = Section(buf, self.total_size, self.idmap_kwargs)
            section.fileobj = f
        self.total_size += len(section.buf)
        if self.idmap_preload:
            preload = StrongIdMap()
            try:
                for schema, obj in self.idmap_preload:
                    self._pack_into(schema, obj, section, idmap=preload)
            except IndexError:
                raise RuntimeError("the preloaded objects do not fit in an empty section: "
                                   "increase section_size") from None
            section.idmap.preload(preload)
        self.sections.append(section)
        return section

    def _pack_into(self, schema, obj, section, min_pack_buffer_cell=None, idmap=None, pack_buffer=None):
        pos = section.write_pos
        if idmap is None:
            idmap = section.idmap
        implicit_offs = section.implicit_offs + pos
        if hasattr(schema, "pack"):
            data = schema.pack(obj, idmap, implicit_offs=implicit_offs)
        else:
            if pack_buffer is None:
                pack_buffer = bytearray(min_pack_buffer_cell[0] if min_pack_buffer_cell else 1 << 20)
            end = schema.pack_into(obj, pack_buffer, 0, idmap, implicit_offs=implicit_offs)
            data = memoryview(pack_buffer)[:end]
        if min_pack_buffer_cell is not None:
            min_pack_buffer_cell[0] = max(min_pack_buffer_cell[0], len(data))
        if len(data) > section.free_space:
            # what was recorded in the idmap points into bytes never written
            section.idmap.clear()
            raise IndexError(f"{len(data)} bytes do not fit in the section's {section.free_space}")
        return section.append(data, pos)

    def pack(self, schema, obj, min_pack_buffer=DEFAULT_PACK_BUFFER, clear_idmaps_on_new_section=True,
             pack_buffer=None):
        """Pack obj (with `schema`: a Schema, mapped_object or anything with
        pack/pack_into and unpack_from); returns (its logical position, a proxy of it).

        Sections with less than min_pack_buffer bytes free are skipped."""
        cell = [min_pack_buffer]
        for section in reversed(self.sections):
            if section.free_space < cell[0]:
                continue
            try:
                pos = self._pack_into(schema, obj, section, cell, pack_buffer=pack_buffer)
            except IndexError:
                continue
            break
        else:
            if clear_idmaps_on_new_section:
                self.clear_idmaps()
            section = self.add_section()
            try:
                pos = self._pack_into(schema, obj, section, cell, pack_buffer=pack_buffer)
            except IndexError:
                # bigger than a section: one of its own
                self.sections.pop()
                self.total_size -= len(section.buf)
                section.close()
                section = self.add_section(cell[0])
                pos = self._pack_into(schema, obj, section, cell, pack_buffer=pack_buffer)
        return pos + section.implicit_offs, schema.unpack_from(section.real_buf, pos)

    def add(self, schema, buf, clear_idmaps_on_new_section=True):
        """Append packed bytes (relocatable: no references outside them, as
        Schema.pack without an idmap makes them); returns (position, proxy)."""
        for section in self.sections:
            if section.free_space >= len(buf):
                pos = section.append(buf, section.write_pos)
                break
        else:
            if clear_idmaps_on_new_section:
                self.clear_idmaps()
            section = self.add_section(len(buf))
            pos = section.append(buf, section.write_pos)
        return pos + section.implicit_offs, schema.unpack_from(section.real_buf, pos)

    def add_preload(self, schema, obj):
        """Pack obj at the start of every new section and keep it in the section's
        idmap: objects packed later share its sub-objects."""
        self.idmap_preload.append((schema, obj))

    def find_section(self, pos):
        """The section holding logical position pos, or None."""
        for section in self.sections:
            if section.implicit_offs <= pos < section.implicit_offs + len(section.buf):
                return section
        return None

    def unpack(self, schema, pos):
        """A proxy of the object (of `schema`) at logical position pos."""
        section = self.find_section(pos)
        if section is None:
            raise IndexError(f"position {pos} is outside the object pool")
        return schema.unpack_from(section.real_buf, pos - section.implicit_offs)

    def clear_idmaps(self):
        for section in self.sections:
            section.idmap.clear()

    def dump(self, fileobj):
        """Write every section's bytes to fileobj (the last one up to its end,
        padded to 8); returns the bytes written."""
        if not self.sections:
            return 0
        for section in self.sections[:-1]:
            fileobj.write(section.real_buf)
        last = self.sections[-1]
        n = last.write_pos + (-last.write_pos) % 8
        fileobj.write(last.real_buf[:n])
        return last.implicit_offs + n

    def close(self, discard=False):
        """Release the sections (into section_freelist, unless discard); the pool is empty again."""
        sections, self.sections = self.sections, []
        self.total_size = 0
        if self.section_freelist is not None and not discard:
            for section in sections:
                section.detach()
            self.section_freelist.extend(sections)
            return
        if self.section_freelist is not None and discard:
            sections.extend(self.section_freelist)
            del self.section_freelist[:]
        for section in sections:
            section.close()

    def __del__(self):
        try:
            self.close(True)
        except Exception:
            pass


class TemporaryObjectPool(BaseObjectPool):
    """An object pool in anonymous temporary files."""

    def _mktemp(self):
        return tempfile.TemporaryFile(**self.temp_kwargs)
