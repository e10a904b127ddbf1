"""Typed structs, arrays and mappings packed into files, buffers and pool
allocations, read in place through proxies (no deserialization).

The binary format is described in include/sharedbuffers_format.h.
"""
from sharedbuffers._structs import (
    BufferRef, CorruptedBufferError, NumberRangeError, NumberTypeError, RESERVED_TYPECODES, Schema, SlotField, StrongIdMap, StructProxy,
    _stable_hash,
    byte, cmp, double, float32, float64, int8, int16, int32, int64, mapped_bytes, mapped_date,
    mapped_datetime, mapped_datetime_local, mapped_datetime_tz, mapped_datetime_tz_local,
    mapped_datetime_utc, mapped_decimal, mapped_dict, mapped_frozenset, mapped_list, mapped_object,
    mapped_object_with_schema, mapped_tuple, mapped_unicode, proxied_buffer, proxied_dict,
    proxied_frozenset, proxied_list, proxied_ndarray, proxied_tuple, safe_utf8, short, ubyte, uint8,
    uint16, uint32, uint64, ushort)
from sharedbuffers._arrays import MappedArrayProxyBase
from sharedbuffers._idmappers import (
    ApproxStringId32MultiMapper, ApproxStringIdMultiMapper, IdMapperBase, NumericId32Mapper,
    NumericId32MultiMapper, NumericIdMapper, NumericIdMultiMapper, ObjectIdMapper, StringId32Mapper,
    StringId32MultiMapper, StringIdMapper, StringIdMultiMapper, string_hash)
from sharedbuffers._sorted import (
    bsearch, hinted_bsearch, hinted_sorted_contains, index_merge, sorted_contains)
from sharedbuffers._files import BufferIO, GenericFileMapper
from sharedbuffers._mappings import MappedMappingProxyBase, MappedMultiMappingProxyBase

# the public home of the exception (tracebacks name it sharedbuffers.mapped_struct.CorruptedBufferError)
CorruptedBufferError.__module__ = NumberRangeError.__module__ = NumberTypeError.__module__ = __name__

# upstream's names for the proxy base class
BufferProxyObject = StructProxy


def __getattr__(name):
    # pool-backed storage needs the pmemobj core: imported on first use
    if name == "PooledBuffer":
        from sharedbuffers._pooled import PooledBuffer
        return PooledBuffer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NumberRangeError", "NumberTypeError",
    "ApproxStringId32MultiMapper", "NumericId32Mapper", "NumericId32MultiMapper", "ObjectIdMapper",
    "StringId32Mapper", "StringId32MultiMapper", "bsearch", "hinted_bsearch", "hinted_sorted_contains",
    "index_merge", "sorted_contains", "BufferIO", "GenericFileMapper", "mapped_object_with_schema",
    "StrongIdMap", "ApproxStringIdMultiMapper", "BufferProxyObject", "CorruptedBufferError", "IdMapperBase",
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

