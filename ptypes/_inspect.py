"""How ``python -m pmemobj`` and ``python -m ptypes`` show ptypes objects: the
ptypes :class:`~pmemobj.inspectors.Inspector` (declared as an entry point of
group ``pmemobj.inspectors`` in pyproject.toml, and registered when ptypes is
imported)."""
import contextlib
import gc as _pygc

from pmemobj.inspectors import Inspector, short
from pmemobj.pool import PersistentObjectPool

from . import _objects as _o
from .storage import Storage, kept_storage_name

_KIND_NAMES = {v: k for k, v in _o.KINDS.items()}


class _Look:
    """What a Storage needs of its pool, on the MemoryManager of a look (which
    opens the pool without gc and leaves its clean-shutdown flag as found)."""

    def __init__(self, mm, path):
        self.mm, self.filename = mm, path

    @property
    def closed(self):
        return self.mm.closed

    @property
    def root(self):
        return self.mm.get_root()

    def transaction(self):
        return self.mm.transaction()


class _Opened:
    """A handle of an open storage for the command line: its pool's manager and its root."""

    def __init__(self, storage):
        self.storage = storage
        self.mm = storage._pool.mm

    @property
    def root(self):
        return self.storage.root


def _close(st):
    _pygc.collect()
    try:
        st.close()
    except ValueError:          # proxies still alive: release without marking clean
        st._abandon()


def _scalar(value):
    return value.contents if isinstance(value, (_o.PtValue, _o.PtByteString)) else value


def _fields(value):
    return value._p_schema_type.__dict__["_pt_info"]


class PtypesInspector(Inspector):
    kind = "ptypes storage"
    _kept = None        # (its storage root's oid, its key in pool.root) during a look at a pool keeping one

    def describe(self, value):
        if isinstance(value, _o.PtByteString):
            return f"{value._p_schema_type.__name__} {short(value.contents)}"
        if isinstance(value, _o.PtValue):
            return f"value {short(value.contents)}"
        if isinstance(value, _o.PtBuffer):
            return f"Buffer ({len(value)} bytes)"
        if isinstance(value, _o.PtStructure):
            return value._p_schema_type.__name__
        if isinstance(value, (_o.PtList, _o.PtDict)):
            return f"{value._p_schema_type.__name__} ({len(value)} items)"
        if isinstance(value, _o.PtStorageRoot) and self._kept is not None and value._p_oid == self._kept[0]:
            return f"{self.kind} (python -m ptypes dump --name {self._kept[1]} FILE)"
        return None

    def children(self, value):
        if isinstance(value, _o.PtStructure):
            return ((f".{f.name}", getattr(value, f.name)) for f in _fields(value).field_list)
        if isinstance(value, _o.PtList):
            return ((f"[{i}]", v) for i, v in enumerate(value))
        if isinstance(value, _o.PtDict):
            if _fields(value).value is None:        # a Set
                return (("-", k) for k in value)
            return ((short(_scalar(k)), v) for k, v in value.items())
        return iter(()) if type(value).__module__ == _o.__name__ else None     # leaves; the rest: the core's walk

    def root_kind(self, root):
        return self.kind if isinstance(root, _o.PtStorageRoot) else None

    @contextlib.contextmanager
    def reading(self, mm, path):
        """Opens the storage a pool keeps in its root dict, so that its objects
        can be read; adds its key to info."""
        look = _Look(mm, path)
        try:
            name = kept_storage_name(look)
            st = None if name is None else Storage(pool=look, name=name)
        except (TypeError, ValueError, OSError):      # damage: shown where the walk meets it
            name = st = None
        try:
            if st is not None:
                self._kept = (st._storage_root._p_oid, name)
            yield {"ptypes_storage": name}
        finally:
            self._kept = None
            if st is not None:
                _close(st)

    def info_lines(self, info):
        name = info.get("ptypes_storage")
        if name is not None:
            yield ("ptypes storage", f"kept in pool.root[{name!r}] (python -m ptypes info --name {name} FILE)")

    @contextlib.contextmanager
    def open_file(self, path):
        st = Storage(path)
        try:
            yield _Opened(st)
        finally:
            _close(st)

    @contextlib.contextmanager
    def open_kept(self, pool, name):
        st = Storage(pool=pool, name=name)     # the command line checked that pool.root[name] is one
        try:
            yield _Opened(st)
        finally:
            _close(st)

    def file_info(self, handle):
        return {"kind": self.kind,
                "schema": [(ti.name, _KIND_NAMES.get(ti.kind, str(ti.kind))) for ti in handle.storage._types]}


inspector = PtypesInspector()
