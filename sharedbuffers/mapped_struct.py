"""Typed structs, arrays and mappings packed into files, buffers and pool
allocations, read in place through proxies (no deserialization).

The binary format is described in include/sharedbuffers_format.h.
"""
from sharedbuffers._structs import (
    BufferRef, CorruptedBufferError, RESERVED_TYPECODES, Schema, SlotField, StructProxy, _stable_hash,
    byte, cmp, double, float32, float64, int8, int16, int32, int64, mapped_bytes, mapped_date,
    mapped_datetime, mapped_datetime_local, mapped_datetime_tz, mapped_datetime_tz_local,
    mapped_datetime_utc, mapped_decimal, mapped_dict, mapped_frozenset, mapped_list, mapped_object,
    mapped_object_with_schema, mapped_tuple, mapped_unicode, proxied_buffer, proxied_dict,
    proxied_frozenset, proxied_list, proxied_ndarray, proxied_tuple, safe_utf8, short, ubyte, uint8,
    uint16, uint32, uint64, ushort)
from sharedbuffers._arrays import MappedArrayProxyBase
from sharedbuffers._idmappers import (
    ApproxStringIdMultiMapper, IdMapperBase, NumericIdMapper, NumericIdMultiMapper, StringIdMapper,
    StringIdMultiMapper, string_hash)
from sharedbuffers._mappings import MappedMappingProxyBase, MappedMultiMappingProxyBase

# the public home of the exception (tracebacks name it sharedbuffers.mapped_struct.CorruptedBufferError)
CorruptedBufferError.__module__ = __name__

# upstream's names for the proxy base class
BufferProxyObject = StructProxy


def __getattr__(name):
    # pool-backed storage needs the pmemobj core: imported on first use
    if name == "PooledBuffer":
        from sharedbuffers._pooled import PooledBuffer
        return PooledBuffer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ApproxStringIdMultiMapper", "BufferProxyObject", "CorruptedBufferError", "IdMapperBase",
    "MappedArrayProxyBase", "MappedMappingProxyBase", "MappedMultiMappingProxyBase",
    "NumericIdMapper", "NumericIdMultiMapper", "RESERVED_TYPECODES", "Schema", "StringIdMapper",
    "StringIdMultiMapper", "StructProxy", "byte", "cmp", "double", "float32", "float64", "int8",
    "int16", "int32", "int64", "mapped_bytes", "mapped_date", "mapped_datetime",
    "mapped_datetime_local", "mapped_datetime_tz", "mapped_datetime_tz_local", "mapped_datetime_utc",
    "mapped_decimal", "mapped_dict", "mapped_frozenset", "mapped_list", "mapped_object",
    "mapped_object_with_schema", "mapped_tuple", "mapped_unicode", "proxied_buffer", "proxied_dict",
    "proxied_frozenset", "proxied_list", "proxied_ndarray", "proxied_tuple", "safe_utf8", "short",
    "string_hash", "ubyte", "uint8", "uint16", "uint32", "uint64", "ushort", "PooledBuffer",
]


# TEMPORARY placeholders (replaced by the 32-bit and object id mappers)
class NumericId32Mapper(NumericIdMapper): pass
class NumericId32MultiMapper(NumericIdMultiMapper): pass
class StringId32Mapper(StringIdMapper): pass
class StringId32MultiMapper(StringIdMultiMapper): pass
class ApproxStringId32MultiMapper(ApproxStringIdMultiMapper): pass
class ObjectIdMapper(NumericIdMapper): pass
