# Type stub of the package: the names pmemobj/__init__.py re-exports, spelled out.
from pmemobj._core import (LAYOUT_NAME as LAYOUT_NAME, LAYOUT_VERSION as LAYOUT_VERSION,
                           MIN_POOL_SIZE as MIN_POOL_SIZE, OID_NULL as OID_NULL,
                           POBJECT_TYPE_NUM as POBJECT_TYPE_NUM, RAW_TYPE_NUM as RAW_TYPE_NUM,
                           InvalidPoolError as InvalidPoolError, PersistentBase as PersistentBase,
                           PoolFullError as PoolFullError, PoolInUseError as PoolInUseError,
                           TransactionError as TransactionError, UnknownClassError as UnknownClassError,
                           check_file as check_file, stable_hash as stable_hash)
from pmemobj.collections.dict import PersistentDict as PersistentDict
from pmemobj.collections.list import PersistentList as PersistentList
from pmemobj.collections.object import PersistentObject as PersistentObject
from pmemobj.collections.set import PersistentFrozenSet as PersistentFrozenSet, PersistentSet as PersistentSet
from pmemobj.collections.tuple import PersistentTuple as PersistentTuple
from pmemobj.gcreport import GCResult as GCResult
from pmemobj.convert import to_builtin as to_builtin
from pmemobj.persistent import Persistent as Persistent
from pmemobj.pool import (DEFAULT_GROW_BY as DEFAULT_GROW_BY, DEFAULT_POOL_SIZE as DEFAULT_POOL_SIZE,
                          MemoryManager as MemoryManager,
                          PersistentObjectPool as PersistentObjectPool, create as create, open as open)

__all__: list[str]
