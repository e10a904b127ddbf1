"""Typed structs, arrays and mappings packed into files, buffers and pool
allocations, read in place through proxies (no deserialization).

The binary format is described in include/sharedbuffers_format.h.
"""
from sharedbuffers._structs import (
    CorruptedBufferError, RESERVED_TYPECODES, Schema, StructProxy, mapped_object)
from sharedbuffers._arrays import MappedArrayProxyBase
from sharedbuffers._idmappers import (
    ApproxStringIdMultiMapper, IdMapperBase, NumericIdMapper, NumericIdMultiMapper, StringIdMapper,
    StringIdMultiMapper, string_hash)
from sharedbuffers._mappings import MappedMappingProxyBase, MappedMultiMappingProxyBase

# the public home of the exception (tracebacks name it sharedbuffers.mapped_struct.CorruptedBufferError)
CorruptedBufferError.__module__ = __name__


def __getattr__(name):
    # pool-backed storage needs the pmemobj core: imported on first use
    if name == "PooledBuffer":
        from sharedbuffers._pooled import PooledBuffer
        return PooledBuffer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ApproxStringIdMultiMapper", "CorruptedBufferError", "IdMapperBase", "MappedArrayProxyBase",
    "MappedMappingProxyBase", "MappedMultiMappingProxyBase", "NumericIdMapper",
    "NumericIdMultiMapper", "RESERVED_TYPECODES", "Schema", "StringIdMapper",
    "StringIdMultiMapper", "StructProxy", "mapped_object", "string_hash", "PooledBuffer",
]
