"""Persistent Python objects in libpmemobj pools.

    import pmemobj
    with pmemobj.create('data.pool') as pool:
        pool.root = pool.new(pmemobj.PersistentDict)
        with pool.transaction():
            pool.root['answer'] = 42
"""
from ._core import (LAYOUT_NAME, LAYOUT_VERSION, MIN_POOL_SIZE, OID_NULL, POBJECT_TYPE_NUM, RAW_TYPE_NUM,
                    InvalidPoolError, PersistentBase, PoolFullError, PoolInUseError, TransactionError,
                    UnknownClassError, check_file, stable_hash)
from .gcreport import GCResult
from .persistent import Persistent
from .pool import DEFAULT_GROW_BY, DEFAULT_POOL_SIZE, MemoryManager, PersistentObjectPool, create, open
from .collections import (PersistentDict, PersistentFrozenSet, PersistentList, PersistentObject,
                          PersistentSet, PersistentTuple)
from .convert import to_builtin

__all__ = ["create", "open", "PersistentObjectPool", "MemoryManager", "Persistent", "PersistentBase",
           "MIN_POOL_SIZE", "DEFAULT_POOL_SIZE", "DEFAULT_GROW_BY", "OID_NULL", "POBJECT_TYPE_NUM", "RAW_TYPE_NUM", "LAYOUT_NAME", "LAYOUT_VERSION",
           "PoolFullError", "TransactionError", "InvalidPoolError", "PoolInUseError", "UnknownClassError", "stable_hash", "check_file",
           "PersistentDict", "PersistentFrozenSet", "PersistentList", "PersistentObject", "PersistentSet",
           "PersistentTuple", "GCResult", "to_builtin"]
