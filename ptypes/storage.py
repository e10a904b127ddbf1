"""Schema-defined persistent structures stored in a pmemobj pool.

A :class:`Storage` is a pool file whose content is described by a schema:
structures with typed fields, lists, dicts, sets, byte strings and buffers.
The schema is defined once, by ``populateSchema()`` when the file is created,
and stored in the file as data (type names, field names, type parameters and
the import names of volatile base classes), so opening a file runs no code
from it beyond importing those base classes.

Every change goes through the pmemobj core in a transaction: a process killed
in the middle of an update leaves the file as it was before the update.
"""
import errno as _errno
import gc as _gc
import importlib
import json
import mmap
import os
import types
import warnings
import weakref

from pmemobj._core import MIN_POOL_SIZE, InvalidPoolError, MemoryManager, TransactionError
from pmemobj.collections.dict import PersistentDict
from pmemobj.pool import PersistentObjectPool

from . import _objects as _o

__all__ = ["Storage", "StructureMeta", "PersistentMeta", "TypeDescriptor", "List", "Dict", "Set"]

SCHEMA_FORMAT = "ptypes-schema"
SCHEMA_VERSION = 1
DEFAULT_REGISTRY_SIZE = 1024
# The smallest file a storage is created with: libpmemobj's minimum pool (8 MiB)
# leaves too little contiguous heap for the tables of a growing storage.
MIN_STORAGE_SIZE = max(MIN_POOL_SIZE, 32 << 20)
REGISTRY_TYPE_NAME = "stringRegistry"
BUILTIN_TYPES = ("Int", "Float", "ByteString", "Structure")
# class-body names Python itself puts there, which are not volatile members
_CLASS_BODY_NAMES = frozenset(("__module__", "__qualname__", "__doc__", "__annotations__",
                               "__firstlineno__", "__static_attributes__"))
_CONSTANT_TYPES = (type(None), bool, int, float, str)
# kinds of parameterized types: how many type parameters their description lists,
# which may be None, and the compiled module of the kinds defined outside _objects
_PARAM_COUNT = {"List": 1, "Dict": 2, "SkipList": 1, "Node": 1, "Edge": 3}
_NONE_PARAMS = {"Dict": (1,), "Edge": (2,)}
_KIND_MODULES = {"SkipList": "ptypes._skiplist", "Node": "ptypes._graph", "Edge": "ptypes._graph"}


def _info(cls):
    """The TypeInfo of a schema class (TypeError for anything else)."""
    ti = cls.__dict__.get("_pt_info") if isinstance(cls, type) else None
    if ti is None:
        raise TypeError(f"{cls!r} is not a persistent class")
    return ti


def _is_subtype(a, b):
    return _info(b).ptid in _info(a).ancestors


def _class_ref(cls):
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_ref(ref):
    """The object named by "module:qualname" (the one thing opening a file executes)."""
    modname, _, qualname = ref.partition(":")
    obj = importlib.import_module(modname)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class PersistentMeta(type):
    """Metaclass of the schema classes: calling one creates a persistent object."""

    def __repr__(cls):
        return f"<persistent class '{cls.__name__}'>"

    def __call__(cls, *args, **kw):
        return _o.create(_info(cls), args, kw)

    def __instancecheck__(cls, obj):
        return _o.is_instance(obj, _info(cls))


class StructureMeta(PersistentMeta):
    """Metaclass of ``schema.Structure``: a class statement deriving from it
    (inside ``populateSchema()``) defines a persistent structure type of the
    storage the base belongs to."""

    def __new__(mcs, name, bases, ns, **kw):
        storages = {b.__dict__["_pt_storage"] for b in bases
                    if isinstance(b, StructureMeta) and "_pt_storage" in b.__dict__}
        if len(storages) != 1:
            raise TypeError("Persistent base classes must be defined in the same storage instance "
                            "as the derived class")
        storage = storages.pop()()
        if storage is None:
            raise TypeError("the storage of the persistent base classes is gone")
        return storage._define_structure(mcs, name, bases, ns)


# ---------------------------------------------------------------------------
# Type descriptors: List('Name')[T], Dict('Name')[K, V], Set('Name')[K]

class TypeDescriptor:
    """Names a parameterized persistent type; ``Storage.define()`` creates it."""
    kind = None
    max_params = 0
    none_params = ()      # which type parameters may be None

    def split_params(self, params):
        """The type parameters and what else the description holds (a dict);
        descriptors whose parameters are not all types override this."""
        return params, {}

    def check_params(self, params):
        """Kind-specific checks of the type parameters (persistent classes of
        the storage, or None); raise TypeError."""

    def __init__(self, name):
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise TypeError(f"the name of a persistent type must be a public identifier, not {name!r}")
        self.name = name
        self.params = None

    def __getitem__(self, params):
        self.params = params if isinstance(params, tuple) else (params,)
        return self

    def __repr__(self):
        params = "" if self.params is None else f"[{', '.join(map(repr, self.params))}]"
        return f"{type(self).__name__}({self.name!r}){params}"


class List(TypeDescriptor):
    """``List('Name')[ItemType]``: a list of values of one persistent type."""
    kind = "List"
    max_params = 1


class Dict(TypeDescriptor):
    """``Dict('Name')[KeyType, ValueType]``; a value type of None makes a set."""
    kind = "Dict"
    max_params = 2


class Set(Dict):
    """``Set('Name')[KeyType]``: a Dict without values."""
    max_params = 1


# ---------------------------------------------------------------------------

def kept_storage_name(pool):
    """The key of ``pool.root`` under which the pmemobj pool *pool* keeps a
    ptypes Storage, or None."""
    if f"{_o.PtStorageRoot.__module__}:{_o.PtStorageRoot.__qualname__}" not in pool.mm.class_names:
        return None                   # never held one: no need to look at the root's values
    holder = pool.root
    if not isinstance(holder, PersistentDict):
        return None
    for key in list(holder.keys()):
        try:
            value = holder[key]
        except (ValueError, TypeError, OSError):     # ptypes objects while no storage is open
            continue
        if isinstance(value, _o.PtStorageRoot):
            return key
    return None


class Storage:
    """A persistent store in the pool file `fileName`, or kept inside an open
    pmemobj pool.

    Subclass it and override :meth:`populateSchema` to define the schema of a
    new store; opening an existing one reads the schema back from the pool.
    `fileSize` (bytes; rounded up to MIN_STORAGE_SIZE and to whole pages) and `stringRegistrySize`
    (initial capacity of the string registry, which grows as needed) only
    matter when the store is created.

    With ``pool=`` (a :class:`pmemobj.PersistentObjectPool`) instead of a file
    name, the store lives in that pool, next to pmemobj collections and
    sharedbuffers arrays: its data hangs from ``pool.root[name]`` (the pool's
    root must be a PersistentDict; a pool without a root gets one).  One pool
    holds at most one open Storage; closing the Storage leaves the pool open."""

    def __init__(self, fileName=None, fileSize=None, stringRegistrySize=None, *, pool=None, name="ptypes"):
        self._closed = True
        self._defining = False
        self._types = []          # ptid -> TypeInfo
        self._descs = []          # ptid -> the type's description (stored as JSON)
        self._storage_root = None
        self.schema = types.ModuleType("schema")
        self._in_pool = pool is not None
        if self._in_pool:
            if fileName is not None or fileSize is not None:
                raise TypeError("a Storage is kept in a file (fileName, fileSize) or in a pool (pool=), not both")
            if not isinstance(getattr(pool, "mm", None), MemoryManager):
                raise TypeError(f"pool= must be a pmemobj PersistentObjectPool, not {type(pool).__name__}")
            if pool.closed:
                raise ValueError(f"the pool {pool.filename!r} is closed")
            self.fileName = pool.filename
            self._pool = pool
            self._name = name
            self._check_single_storage()
        elif fileName is None:
            raise TypeError("Storage() needs a fileName or pool=")
        else:
            self.fileName = os.fspath(fileName)
            exists = os.path.lexists(self.fileName)
            size = max(int(fileSize or 0), MIN_STORAGE_SIZE)
            size = -(-size // mmap.PAGESIZE) * mmap.PAGESIZE
            self._pool = PersistentObjectPool(self.fileName, flag="w" if exists else "x", pool_size=size)
        try:
            self._session = _o.Session(self._pool.mm, weakref.ref(self))
            self._session.types = self._types
            _o.attach(self._session)
        except BaseException:
            self._session = None
            if not self._in_pool:
                self._pool.close()
            raise
        try:
            self._closed = False
            sr = self._find_storage_root()
            if sr is None:
                self._create_schema(stringRegistrySize)
            elif isinstance(sr, _o.PtStorageRoot):
                self._storage_root = sr
                self._load_schema(sr.schema_json())
            else:
                where = f"pool.root[{name!r}]" if self._in_pool else "the pool's root"
                raise InvalidPoolError(_errno.EINVAL, f"not a ptypes storage: {where} is a "
                                       f"{type(sr).__name__}", self.fileName)
        except BaseException:
            self._abandon()
            raise

    def populateSchema(self):
        """Define the schema of a new file: at least a structure called Root
        (``class Root(self.schema.Structure): ...``).  Called once per file."""

    # -- the user's API --------------------------------------------------------

    @property
    def root(self):
        """The Root structure (created on first access)."""
        self._check_open()
        r = self._storage_root.get_root(self._session)
        if r is None:
            with self._pool.transaction():
                r = self.schema.Root()
                self._storage_root.set_root(self._session, _info(self.schema.Root), r)
        return r

    @property
    def stringRegistry(self):
        """A persistent set of byte strings: ``get(b'...')`` interns one."""
        self._check_open()
        return self._storage_root.registry(self._session)

    def define(self, descriptor):
        """Create the persistent type a type descriptor names; returns its class."""
        self._check_defining()
        if not isinstance(descriptor, TypeDescriptor):
            raise TypeError(f"Don't know how to define {descriptor!r}")
        name, kind, params = descriptor.name, descriptor.kind, descriptor.params
        if params is None:
            if descriptor.max_params:
                raise TypeError(f"Type {name} needs type parameters: {type(descriptor).__name__}"
                                f"({name!r})[...]")
            params = ()
        params, extra = descriptor.split_params(params)
        if len(params) > descriptor.max_params:
            raise TypeError(f"Type {name} must have at most {descriptor.max_params} parameter(s), "
                            f"found {params!r}")
        if kind == "Dict":
            if params[0] is None:
                raise TypeError("The type parameter specifying the type of keys cannot be None")
            params = (params[0], params[1] if len(params) > 1 else None)
        elif kind == "List" and params[0] is None:
            raise TypeError("The type parameter specifying the type of items cannot be None")
        for i, p in enumerate(params):
            if p is None and kind not in ("List", "Dict") and i not in descriptor.none_params:
                raise TypeError(f"Type parameter {i + 1} of {name} cannot be None")
            if p is not None and not self._owns(p):
                raise TypeError(f"Type parameter {p!r} of {name} is not a persistent class of this storage")
        descriptor.check_params(params)
        desc = {"kind": kind, "name": name,
                "params": [None if p is None else _info(p).ptid for p in params], **extra}
        return self._build(desc)

    def transaction(self):
        """A context manager: everything done inside commits or rolls back together."""
        self._check_open()
        return self._pool.transaction()

    def gc(self):
        """Free what nothing references any more (objects created but never
        stored, cycles); returns counts of what was kept and freed."""
        self._check_open()
        return self._pool.gc()

    def close(self):
        """Close the file.  Refused while proxies of its objects are around."""
        self._check_open()
        if self._pool.mm.in_transaction:      # refused before anything changes
            raise TransactionError(f"cannot close {self!r} inside a transaction")
        alive = self._live_proxies()
        if alive:
            _gc.collect()
            alive = self._live_proxies()
        if alive:
            raise ValueError(f"Cannot close {self!r} - some proxies are still around: "
                             f"{', '.join(map(repr, alive[:5]))}")
        if self._in_pool:
            root = self._storage_root.get_root(self._session)
            if root is not None:
                _o.drop_proxy(root)      # the pool stays open: the Root proxy must not
        self._storage_root = None
        if not self._in_pool:
            self._pool.close()
        _o.detach(self._session)
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._closed:
            return False
        if exc_type is None:
            self.close()
        else:
            # the traceback may hold proxies: don't let a refused close hide the error
            try:
                self.close()
            except ValueError:
                pass
        return False

    def __del__(self):
        # dropped without close(): release the file (the pool records an unclean close)
        session = getattr(self, "_session", None)
        if session is not None:
            _o.detach(session)

    def __repr__(self):
        return f"<{type(self).__name__} {self.fileName!r}>"

    # -- state checks ----------------------------------------------------------

    def _check_open(self):
        if self._closed:
            raise ValueError(f"Storage {self!r} is closed.")
        if self._pool.closed:             # a storage kept in a pool closed under it
            self._abandon()
            raise ValueError(f"Storage {self!r} is closed: its pool was closed.")

    def _check_defining(self):
        self._check_open()
        if not self._defining:
            raise TypeError(f"the schema of {self!r} is fixed: types can only be defined in populateSchema()")

    def _live_proxies(self):
        # the Root proxy is exempt: after close it raises ValueError like any
        # other proxy; the check is for the objects the user still works with
        return self._session.live_proxies(self._storage_root.root_offset())

    def _owns(self, cls):
        ti = cls.__dict__.get("_pt_info") if isinstance(cls, PersistentMeta) else None
        return ti is not None and ti.session is self._session

    def _abandon(self):
        self._storage_root = None
        session = getattr(self, "_session", None)
        if session is not None:
            _o.detach(session)
        self._closed = True
        if not self._in_pool:
            self._pool.close()

    # -- creating the schema of a new file -------------------------------------

    def _create_schema(self, registry_size):
        for name in BUILTIN_TYPES:
            self._build({"kind": name, "name": name})
        registry = self._build({"kind": "Dict", "name": REGISTRY_TYPE_NAME, "hidden": True,
                                "params": [_info(self.schema.ByteString).ptid, None]})
        self._defining = True
        try:
            self.populateSchema()
        finally:
            self._defining = False
        root = getattr(self.schema, "Root", None)
        if not isinstance(root, StructureMeta):
            raise TypeError(f"{type(self).__name__}.populateSchema() must define a structure called 'Root'")
        text = json.dumps({"format": SCHEMA_FORMAT, "version": SCHEMA_VERSION, "types": self._descs})
        size = DEFAULT_REGISTRY_SIZE if registry_size is None else registry_size
        with self._pool.transaction():
            sr = _o.create_storage_root(self._session, text, _info(registry), size)
            if self._in_pool:
                holder = self._pool.root
                if holder is None:
                    holder = self._pool.root = self._pool.new(PersistentDict)
                holder[self._name] = sr
            else:
                self._pool.root = sr
        self._storage_root = sr

    def _check_single_storage(self):
        """Refuse a second storage in one pool: ptypes objects held by pmemobj
        containers are read with the schema of the storage that is open.
        (Runs before this storage's session is attached, so that looking at
        the root's values never reads ptypes objects with a foreign schema.)"""
        if self._find_storage_root() is not None:
            return
        other = kept_storage_name(self._pool)
        if other is not None:
            raise ValueError(f"the pool {self.fileName!r} already keeps a ptypes Storage in "
                             f"pool.root[{other!r}] (one Storage per pool)")

    def _find_storage_root(self):
        """What the storage's data hangs from (None: a new storage)."""
        root = self._pool.root
        if not self._in_pool:
            return root
        if root is None:
            return None
        if not isinstance(root, PersistentDict):
            raise TypeError(f"a Storage kept in a pool hangs from pool.root[{self._name!r}]: the root of "
                            f"{self.fileName!r} must be a PersistentDict, not a {type(root).__name__}")
        return root.get(self._name)

    def _define_structure(self, mcs, name, bases, ns):
        """The work of a class statement deriving from schema.Structure."""
        self._check_defining()
        own, constants = [], {}
        for key, value in ns.items():
            if key in _CLASS_BODY_NAMES:
                continue
            if isinstance(value, PersistentMeta):
                own.append((key, value))
            elif type(value) in _CONSTANT_TYPES and not key.startswith("__"):
                constants[key] = value
            else:
                raise TypeError(f"{key!r} is defined as a non-pickleable volatile member {value!r} "
                                f"in a persistent structure")
        desc_bases = []
        fields = {}                  # name -> (field class, class defining it)
        for b in bases:
            if isinstance(b, StructureMeta):
                if not self._owns(b):
                    raise TypeError(f"Persistent base classes must be defined in the same storage "
                                    f"instance as the derived class: {b!r}")
                desc_bases.append({"ptid": _info(b).ptid})
                for fname, (fcls, definer) in b.__dict__["_pt_fields"].items():
                    self._merge_field(fields, fname, fcls, definer)
            elif isinstance(b, PersistentMeta):
                raise TypeError(f"{b!r} cannot be a base class of a persistent structure")
            else:
                ref = _class_ref(b)
                try:
                    importable = "<locals>" not in ref and _import_ref(ref) is b
                except Exception:
                    importable = False
                if not importable:
                    raise TypeError(f"Cannot use the non-pickleable volatile class {b!r} as a base class in "
                                    f"the definition of the persistent structure <persistent class '{name}'>")
                desc_bases.append({"import": ref})
                for klass in b.__mro__:
                    for attr, value in vars(klass).items():
                        if isinstance(value, PersistentMeta):
                            warnings.warn(f"{attr!r} of the volatile base class {klass.__qualname__} is a "
                                          f"persistent type; it is ignored (not a field of {name})",
                                          stacklevel=3)
        for fname, fcls in own:
            if not self._owns(fcls):
                raise TypeError(f"field {fname!r} of {name} has the type {fcls!r}, which is not a "
                                f"persistent class of this storage")
            self._merge_field(fields, fname, fcls, None)
        desc = {"kind": "Structure", "name": name, "bases": desc_bases, "constants": constants,
                "fields": [[fname, _info(fcls).ptid, None if d is None else _info(d).ptid]
                           for fname, (fcls, d) in fields.items()]}
        return self._build(desc, mcs=mcs, ns=ns, bases=bases)

    @staticmethod
    def _merge_field(fields, fname, new, definer):
        if fname not in fields:
            fields[fname] = (new, definer)
            return
        old, old_definer = fields[fname]
        if new is old or _is_subtype(old, new):
            return                   # the same type or a base of it: nothing changes
        if _is_subtype(new, old):
            fields[fname] = (new, definer)
            return
        raise TypeError(f"Cannot re-define field {fname!r} defined in {old_definer!r} as {old!r} "
                        f"to be of type {new!r}!")

    # -- building types from descriptions (new files and reopened ones) --------

    def _build(self, desc, mcs=None, ns=None, bases=None):
        """Create the schema class and TypeInfo a description names and give
        it the next ptid.  `mcs`, `ns` and `bases` come from a class statement;
        when reopening a file they are rebuilt from the description."""
        kind, name = desc.get("kind"), desc.get("name")
        hidden = bool(desc.get("hidden"))
        ptid = len(self._types)
        if kind not in _o.KINDS or not isinstance(name, str) or not name.isidentifier():
            raise self._damaged(f"type {ptid} has a bad kind or name")
        if not hidden and hasattr(self.schema, name):
            raise TypeError(f"a persistent type called {name!r} is already defined in this storage")
        ti = _o.TypeInfo(_o.KINDS[kind], ptid, name)
        ti.session = self._session
        clsns = {"__module__": "schema", "__qualname__": name, "_pt_info": ti,
                 "_pt_storage": weakref.ref(self)}
        meta = PersistentMeta
        clsbases = ()
        if kind == "Structure":
            meta = StructureMeta
            if name == "Structure" and ptid == BUILTIN_TYPES.index("Structure"):
                ti.abstract = True
                fields = {}
            else:
                fields, clsbases, ancestors = self._structure_parts(desc, bases)
                ti.ancestors = frozenset(ancestors | {ptid})
                ti.set_fields([(fname, _info(fcls)) for fname, (fcls, _) in fields.items()])
            clsns["_pt_fields"] = fields
            if ns is None:
                clsns.update(desc.get("constants", {}))
                clsns.update({fname: fcls for fname, (fcls, _) in fields.items()})
            else:
                clsns = {**ns, **clsns, "__module__": ns.get("__module__", "schema"),
                         "__qualname__": ns.get("__qualname__", name)}
        elif kind in _PARAM_COUNT:
            params = desc.get("params")
            if not isinstance(params, list) or len(params) != _PARAM_COUNT[kind]:
                raise self._damaged(f"type {name} has bad parameters")
            ptis = [None if p is None and i in _NONE_PARAMS.get(kind, ()) else self._type_at(p, ptid)
                    for i, p in enumerate(params)]
            if kind == "Node":
                ti.value = ptis[0]
            else:
                ti.item = ptis[0]
            if kind in ("Dict", "Edge"):
                ti.value = ptis[-1]
            if kind == "Edge":
                ti.target = ptis[1]
                if ti.item.kind != _o.KINDS["Node"] or ti.target.kind != _o.KINDS["Node"]:
                    raise self._damaged(f"edge type {name} connects types that are not nodes")
            if kind in _KIND_MODULES:
                # the module of the kind registers its proxy class and constructor
                importlib.import_module(_KIND_MODULES[kind]).build_type(ti, desc)
        cls = type.__new__(mcs or meta, name, clsbases if bases is None else bases, clsns)
        if kind == "Structure" and ns is not None:
            for fname, (fcls, definer) in list(fields.items()):
                if definer is None:
                    fields[fname] = (fcls, cls)
        ti.cls = cls
        self._types.append(ti)
        self._descs.append(desc)
        if not hidden:
            setattr(self.schema, name, cls)
        return cls

    def _structure_parts(self, desc, bases):
        """Fields, bases and ancestor ptids of a structure description."""
        ptid = len(self._types)
        ancestors = {BUILTIN_TYPES.index("Structure")}
        clsbases = []
        for b in desc.get("bases") or [{"ptid": BUILTIN_TYPES.index("Structure")}]:
            if "ptid" in b:
                base_ti = self._type_at(b["ptid"], ptid)
                if base_ti.kind != _o.KINDS["Structure"]:
                    raise self._damaged(f"structure {desc['name']} derives from {base_ti.name}")
                ancestors |= base_ti.ancestors
                clsbases.append(base_ti.cls)
            elif bases is None:
                clsbases.append(self._import_base(b.get("import"), desc["name"]))
        fields = {}
        for entry in desc.get("fields", []):
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)):
                raise self._damaged(f"structure {desc['name']} has a bad field description")
            fname, fptid, dptid = entry
            definer = None if dptid is None else self._type_at(dptid, ptid).cls
            fields[fname] = (self._type_at(fptid, ptid).cls, definer)
        return fields, tuple(clsbases), ancestors

    def _import_base(self, ref, name):
        if not isinstance(ref, str) or ":" not in ref:
            raise self._damaged(f"structure {name} has a bad volatile base class name")
        try:
            cls = _import_ref(ref)
        except Exception as e:
            raise TypeError(f"cannot import the volatile base class {ref} of the persistent structure "
                            f"<persistent class '{name}'>: {e}") from None
        if not isinstance(cls, type):
            raise TypeError(f"the volatile base class {ref} of <persistent class '{name}'> is not a class")
        return cls

    def _type_at(self, ptid, before):
        if not isinstance(ptid, int) or not 0 <= ptid < before:
            raise self._damaged(f"type {before} refers to an unknown type {ptid!r}")
        return self._types[ptid]

    def _damaged(self, what):
        return InvalidPoolError(_errno.EINVAL, f"damaged ptypes schema: {what}", self.fileName)

    def _load_schema(self, text):
        try:
            data = json.loads(text)
        except ValueError:
            raise self._damaged("the stored schema is not JSON") from None
        if not isinstance(data, dict) or data.get("format") != SCHEMA_FORMAT:
            raise self._damaged("the stored schema has an unknown format")
        if data.get("version") != SCHEMA_VERSION:
            raise InvalidPoolError(_errno.EINVAL, f"ptypes schema version {data.get('version')!r} is not "
                                   f"supported (this library reads version {SCHEMA_VERSION})", self.fileName)
        descs = data.get("types")
        if not isinstance(descs, list) or len(descs) < len(BUILTIN_TYPES) + 1:
            raise self._damaged("the stored schema lists too few types")
        for i, desc in enumerate(descs):
            if not isinstance(desc, dict):
                raise self._damaged(f"type {i} is not described")
            if i < len(BUILTIN_TYPES) and (desc.get("kind"), desc.get("name")) != (BUILTIN_TYPES[i],) * 2:
                raise self._damaged(f"type {i} is not the built-in {BUILTIN_TYPES[i]}")
            self._build(desc)
        if not isinstance(getattr(self.schema, "Root", None), StructureMeta):
            raise self._damaged("the stored schema has no Root structure")
