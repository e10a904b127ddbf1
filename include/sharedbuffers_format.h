/*
 * Binary format of sharedbuffers: typed mapped structs, arrays of structs,
 * id mappers and mappings, in buffers, files and pool allocations.
 *
 * Everything is little-endian and unaligned: readers load fields with memcpy,
 * so records are packed without padding (only sections are 8-byte aligned).
 * Every position is relative (to a record, an array or a mapping), so a
 * structure can be copied or mapped anywhere unchanged.  Readers validate
 * every size and offset against the buffer before following it.
 */
#ifndef SHAREDBUFFERS_FORMAT_H
#define SHAREDBUFFERS_FORMAT_H

#include <stdint.h>

/* ---- sizes -----------------------------------------------------------
 * A size (a length in bytes or a number of items) is one byte b:
 *   b < 0xFD  the size is b
 *   0xFD      a uint16_t follows;  0xFE: a uint32_t;  0xFF: a uint64_t
 */
#define SB_SIZE_U16 0xFD
#define SB_SIZE_U32 0xFE
#define SB_SIZE_U64 0xFF

/* ---- values of `object` slots and sequence items ---------------------
 * An object value is one typecode byte followed by its payload:
 */
#define SB_TC_NONE 'n'      /* no payload */
#define SB_TC_TRUE 'T'      /* no payload */
#define SB_TC_FALSE 'F'     /* no payload */
#define SB_TC_INT 'q'       /* int64_t */
#define SB_TC_BIGINT 'L'    /* size, then signed two's complement bytes */
#define SB_TC_FLOAT 'd'     /* double */
#define SB_TC_BYTES 'b'     /* size, then the bytes */
#define SB_TC_STR 'u'       /* size, then UTF-8 (lone surrogates passed through) */
#define SB_TC_TUPLE 't'     /* sequence */
#define SB_TC_LIST 'l'      /* sequence */
#define SB_TC_FROZENSET 'e' /* sequence (sets are stored as frozensets) */
/* Any other typecode names a struct schema registered by the user
 * (mapped_object.register_schema); its payload is a struct record. */

/* A sequence is: size (number of items), one item-kind byte, the items.   */
#define SB_SEQ_INT 'q'    /* int64_t[n]: every item an int (not bool) of 64 bits */
#define SB_SEQ_FLOAT 'd'  /* double[n]: every item a float */
#define SB_SEQ_OBJECT 'o' /* int64_t[n] offsets, relative to the sequence's
                             first byte, of object values (typecode + payload) */

/* ---- struct records --------------------------------------------------
 * A schema orders its slots by name.  A record is:
 *   bitmap    ceil(nslots / 8) bytes; bit i (byte i/8, bit i%8) is set when
 *             slot i holds a value (an unset bit reads as None)
 *   fields    one fixed-size field per slot, in slot order
 *   data      the variable-size values the fields point to
 * Fixed-size fields by slot type:
 */
#define SB_FIELD_INT 8   /* int: int64_t */
#define SB_FIELD_FLOAT 8 /* float: double */
#define SB_FIELD_BOOL 1  /* bool: uint8_t 0 or 1 */
#define SB_FIELD_REF 8   /* any other type: int64_t offset of the value,
                            relative to the record's first byte.  With an idmap
                            it may point backwards to a value shared with an
                            earlier record. */
/* Payloads of typed slots carry no typecode: bytes and str as above,
 * tuple/list/frozenset as a sequence, a registered struct type as a record,
 * `object` as an object value (typecode + payload). */

/* Slot kinds of a schema (in memory only, not stored). */
enum {
	SB_KIND_INT = 1,
	SB_KIND_FLOAT,
	SB_KIND_BOOL,
	SB_KIND_BYTES,
	SB_KIND_STR,
	SB_KIND_TUPLE,
	SB_KIND_LIST,
	SB_KIND_FROZENSET,
	SB_KIND_OBJECT,
	SB_KIND_STRUCT,
};

/* ---- arrays of structs (MappedArrayProxyBase) ------------------------
 * header, records (in build order), padding to 8, index.
 * index: count entries of index_width bytes (4 or 8): the offset of each
 * record relative to the array's first byte; 0 stands for None.
 */
#define SB_ARRAY_MAGIC 0x3159415252414253ULL /* "SBARRAY1" */
typedef struct {
	uint64_t magic;
	uint64_t count;
	uint64_t index_pos;   /* relative to the array's first byte */
	uint64_t size;        /* bytes of the whole array, header included */
	uint32_t index_width; /* 4 or 8 */
	uint32_t reserved;
} sb_array_header_t;

/* ---- id mappers (StringIdMapper, NumericIdMapper and variants) -------
 * header, then (each section 8-byte aligned, positions relative to the
 * id mapper's first byte):
 *   keys      uint64_t[count], ascending; equal keys in insertion order.
 *             SB_KEYS_UINT64: the key itself.  SB_KEYS_STRING and
 *             SB_KEYS_HASH: the 64-bit XXH3 hash (XXH3_64bits, seed 0) of
 *             the key's UTF-8 bytes.
 *   values    count entries of `width` bytes (4 or 8): the value of each
 *             entry (for mappings, an index in the value array)
 *   key_offs  SB_KEYS_STRING only: count entries of `width` bytes, the
 *             offset of each key (size + UTF-8 bytes), each distinct key
 *             stored once
 * Multi-mappers use the same format as simple ones (a simple one answers
 * with the first entry of a key, a multi one with all of them); an
 * approximate mapper reads SB_KEYS_STRING or SB_KEYS_HASH tables, using
 * the hashes alone.
 */
#define SB_IDMAP_MAGIC 0x3150414d44494253ULL /* "SBIDMAP1" */
enum {
	SB_KEYS_UINT64 = 1,
	SB_KEYS_STRING = 2,
	SB_KEYS_HASH = 3,
};
typedef struct {
	uint64_t magic;
	uint32_t key_kind;
	uint32_t width;
	uint64_t count; /* entries */
	uint64_t nkeys; /* distinct keys (distinct hashes for SB_KEYS_HASH) */
	uint64_t size;  /* bytes of the whole id mapper */
} sb_idmap_header_t;

/* ---- mappings (MappedMappingProxyBase and the multi variant) ---------
 * header, a value array, an id mapper whose values index the array.
 */
#define SB_MAPPING_MAGIC 0x31474e5050414d53ULL /* "SMAPPNG1" */
typedef struct {
	uint64_t magic;
	uint64_t size;       /* bytes of the whole mapping */
	uint64_t values_pos; /* the sb_array, relative to the mapping's first byte */
	uint64_t idmap_pos;  /* the id mapper, relative to the mapping's first byte */
} sb_mapping_header_t;

/* ---- pool-backed storage ---------------------------------------------
 * A PersistentBase object (type "sharedbuffers._pooled:PooledBuffer") that
 * owns one raw allocation holding a packed struct, array or mapping in the
 * formats above.  Immutable once built; freed with the object.
 */
#include "pyp_layout.h"
enum {
	SB_POOLED_STRUCT = 1,
	SB_POOLED_ARRAY = 2,
	SB_POOLED_MAPPING = 3,
};
typedef struct {
	pyp_header_t h;
	uint64_t kind;         /* SB_POOLED_* */
	uint64_t data;         /* offset of the raw allocation (PYP_TYPE_NUM_RAW) */
	uint64_t size;         /* bytes of packed data in it */
	pyp_slot_t proxy_type; /* str "module:qualname" of the proxy class
	                          (array, mapping) or of the registered struct class */
} sb_pooled_t;

#endif
