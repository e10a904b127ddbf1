"""A small typed program using the public API; tests/test_typing.py runs mypy
on it (and runs it).  Every annotation below must agree with the stubs."""
import os
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

import pmemobj
from pmemobj import (InvalidPoolError, MemoryManager, PersistentDict, PersistentFrozenSet, PersistentList,
                     PersistentObject, PersistentSet, PersistentTuple, PoolFullError, check_file, stable_hash)
from pmemobj._core import OID_NULL
from sharedbuffers.mapped_struct import NumericIdMapper, Schema, StructProxy, string_hash


class Point(PersistentObject):
    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y

    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)


def fill(mm: MemoryManager) -> PersistentDict[str, object]:
    d: PersistentDict[str, object] = mm.new(PersistentDict)
    names: PersistentList[str] = mm.new(PersistentList, ["a", "b"])
    names.append("c")
    names.sort(key=len, reverse=True)
    first: str = names[0]
    plain: List[str] = names.copy() + names[1:]
    tags: PersistentSet[int] = mm.new(PersistentSet, {1, 2})
    tags.add(3)
    union: Set[int] = tags | {4}
    frozen: PersistentFrozenSet[str] = mm.new(PersistentFrozenSet, {first})
    fz: FrozenSet[str] = frozen.copy()
    pair: PersistentTuple[int] = mm.new(PersistentTuple, (1, 2))
    t: Tuple[int, ...] = pair[:1]
    d["names"] = names
    d["tags"] = tags
    d["frozen"] = frozen
    d["pair"] = pair
    d["point"] = mm.new(Point, 3, -4)
    d["sizes"] = len(plain) + len(union) + len(fz) + len(t)
    snapshot: Dict[str, object] = d.copy()
    assert "names" in snapshot
    return d


def example(directory: str) -> int:
    path = os.path.join(directory, "typed.pool")
    with pmemobj.create(path) as pool:
        mm: MemoryManager = pool.mm
        with mm.transaction():
            root = fill(mm)
            pool.root = root
        point = root["point"]
        assert isinstance(point, Point)
        total = point.norm1()
        oid: Tuple[int, int] = point._p_oid
        assert oid != OID_NULL
        assert mm.refcount(oid) == 1
        missing: Optional[object] = root.get("missing")
        assert missing is None
    consistent: bool = check_file(path)
    assert consistent
    h: int = stable_hash("key") ^ string_hash("key")
    schema = Schema.from_typed_slots({"a": int, "b": str})
    packed: bytearray = schema.pack({"a": 1, "b": "x"})
    proxy: StructProxy = schema.unpack_from(packed)
    ids = NumericIdMapper.build([(1, 10), (2, 20)])
    value: int = ids[2]
    errors: Tuple[type, ...] = (InvalidPoolError, PoolFullError)
    assert proxy._asdict() == {"a": 1, "b": "x"} and value == 20 and errors
    return total + (h & 0)


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        print(example(tmp))
