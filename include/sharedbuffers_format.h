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
 * An object value is one typecode byte followed by its payload.  The
 * letters are those sharedbuffers 1.2.3 reserves for its builtin types, so
 * that a typecode registered there is free here too; control bytes are ours.
 */
#define SB_TC_NONE '\x00'      /* no payload */
#define SB_TC_BIGINT '\x01'    /* size, then signed two's complement bytes */
#define SB_TC_DATETIME_TZ '\x02' /* aware datetime: sb_datetime_tz_t */
#define SB_TC_BOOL 'T'         /* uint8_t 0 or 1 */
#define SB_TC_U8 'B'           /* integers, each the smallest code holding it */
#define SB_TC_I8 'b'
#define SB_TC_U16 'H'
#define SB_TC_I16 'h'
#define SB_TC_U32 'I'
#define SB_TC_I32 'i'
#define SB_TC_U64 'Q'
#define SB_TC_INT 'q'          /* int64_t */
#define SB_TC_FLOAT 'd'        /* double */
#define SB_TC_FLOAT32 'f'      /* float */
#define SB_TC_BYTES 's'        /* size, then the bytes */
#define SB_TC_STR 'u'          /* size, then UTF-8 (lone surrogates passed through) */
#define SB_TC_TUPLE 't'        /* sequence */
#define SB_TC_LIST 'e'         /* sequence */
#define SB_TC_FROZENSET 'Z'    /* sequence (sets are stored as frozensets) */
#define SB_TC_DICT 'm'         /* dict */
#define SB_TC_DATETIME 'v'     /* naive datetime: int64_t microseconds since the
                                  epoch, UTC (the naive value taken as local time) */
#define SB_TC_DATE 'V'         /* int32_t proleptic Gregorian ordinal */
#define SB_TC_DECIMAL 'F'      /* size, then its str() in ASCII */
#define SB_TC_NDARRAY 'n'      /* ndarray */
#define SB_TC_BUFFER 'r'       /* uint64_t size, then the bytes */
#define SB_TC_PTUPLE 'W'       /* sequence, read back as a proxied_tuple */
#define SB_TC_PLIST 'E'        /* sequence, read back as a proxied_list */
#define SB_TC_PDICT 'M'        /* dict, read back as a proxied_dict */
#define SB_TC_PFROZENSET 'z'   /* sequence, read back as a proxied_frozenset */
#define SB_TC_OBJECT 'o'       /* reserved (upstream's nested mapped_object) */
/* Any other typecode names a struct schema registered by the user
 * (mapped_object.register_schema); its payload is a struct record. */

/* A sequence is: size (number of items), one item-kind byte, the items.
 * A frozenset's items of kind int or float are sorted ascending (found by
 * binary search); other items keep the set's iteration order.            */
#define SB_SEQ_INT 'q'    /* int64_t[n]: every item an int (not bool) of 64 bits */
#define SB_SEQ_U8 'B'     /* the same in the narrowest table that holds them all: */
#define SB_SEQ_I8 'b'     /*   uint8_t[n], int8_t[n], */
#define SB_SEQ_U16 'H'    /*   uint16_t[n], int16_t[n], */
#define SB_SEQ_I16 'h'
#define SB_SEQ_U32 'I'    /*   uint32_t[n], int32_t[n] */
#define SB_SEQ_I32 'i'
#define SB_SEQ_FLOAT 'd'  /* double[n]: every item a float */
#define SB_SEQ_OBJECT 'o' /* int64_t[n] offsets, relative to the sequence's
                             first byte, of object values (typecode + payload) */

/* A dict is: size n, int64_t offset of the value sequence (relative to the
 * dict's first byte), uint64_t hashes[n] ascending, then the key sequence
 * (n items, in hash order), and the value sequence (n items, same order).
 * Hashes are sharedbuffers' stable hash (_stable_hash: equal numbers hash
 * alike, str by XXH64 of UTF-8, tuples and frozensets by their items).    */

/* An aware datetime: microseconds since the epoch (UTC), and the offset
 * from UTC in minutes.  Packed, 10 bytes. */
#pragma pack(push, 1)
typedef struct {
	int64_t micros;
	int16_t utc_offset_min;
} sb_datetime_tz_t;
#pragma pack(pop)

/* An ndarray is: size + ASCII dtype descriptor (numpy's dtype.str, or the
 * repr of its descr list for structured dtypes), uint8_t ndim,
 * uint64_t shape[ndim], uint64_t nbytes, then the data, C order. */

/* ---- struct records --------------------------------------------------
 * A schema orders its slots by name.  A record is:
 *   present   ceil(nslots / 8) bytes; bit i (byte i/8, bit i%8) is set when
 *             slot i was set on the packed object (an unset slot reads as
 *             AttributeError, as the object did)
 *   none      ceil(nslots / 8) bytes; bit i set: slot i holds None
 *   fields    one fixed-size field per slot, in slot order
 *   data      the variable-size values the fields point to
 * Fixed-size fields by slot type:
 */
#define SB_FIELD_INT 8   /* int, int64, uint64: int64_t / uint64_t */
#define SB_FIELD_FLOAT 8 /* float, float64: double; float32: float (4) */
#define SB_FIELD_BOOL 1  /* bool: uint8_t 0 or 1; (u)byte 1, (u)short 2, (u)int32 4 */
#define SB_FIELD_DATETIME 8 /* datetime (and _local, _utc): int64_t as SB_TC_DATETIME;
                               datetime_tz(_local): sb_datetime_tz_t (10);
                               date: int32_t (4) */
#define SB_FIELD_REF 8   /* any other type: int64_t offset of the value,
                            relative to the record's first byte.  With an idmap
                            it may point backwards to a value shared with an
                            earlier record. */
/* Payloads of typed slots carry no typecode: bytes, str, decimal, buffer,
 * ndarray and dict as above, tuple/list/frozenset (mapped or proxied) as a
 * sequence, a registered struct type as a record, `object` as an object
 * value (typecode + payload). */

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
	SB_KIND_U8,
	SB_KIND_I8,
	SB_KIND_U16,
	SB_KIND_I16,
	SB_KIND_U32,
	SB_KIND_I32,
	SB_KIND_U64,
	SB_KIND_F32,
	SB_KIND_DATETIME,
	SB_KIND_DATETIME_LOCAL,
	SB_KIND_DATETIME_UTC,
	SB_KIND_DATETIME_TZ,
	SB_KIND_DATETIME_TZ_LOCAL,
	SB_KIND_DATE,
	SB_KIND_DECIMAL,
	SB_KIND_DICT,
	SB_KIND_BUFFER,
	SB_KIND_NDARRAY,
	SB_KIND_PTUPLE,
	SB_KIND_PLIST,
	SB_KIND_PFROZENSET,
	SB_KIND_PDICT,
};

/* ---- arrays of structs (MappedArrayProxyBase) ------------------------
 * header, records (in build order), padding to 8, index, the schema.
 * index: count entries of index_width bytes (4 or 8): the offset of each
 * record relative to the array's first byte; 0 stands for None.
 * schema: size + the pickled Schema (what a reader without a schema of its
 * own uses); schema_pos 0 when the schema could not be pickled.
 */
#define SB_ARRAY_MAGIC 0x3259415252414253ULL /* "SBARRAY2" */
typedef struct {
	uint64_t magic;
	uint64_t count;
	uint64_t index_pos;   /* relative to the array's first byte */
	uint64_t size;        /* bytes of the whole array, header included */
	uint64_t schema_pos;  /* relative to the array's first byte, or 0 */
	uint32_t index_width; /* 4 or 8 */
	uint16_t version;     /* of the writer (MappedArrayProxyBase._CURRENT_VERSION) */
	uint16_t min_reader;  /* the oldest reader version that can read it */
} sb_array_header_t;

/* ---- id mappers (StringIdMapper, NumericIdMapper and variants) -------
 * header, then, contiguous, each of count entries of `width` bytes (4 or 8;
 * positions relative to the id mapper's first byte):
 *   keys      ascending; equal keys in insertion order.  SB_KEYS_UINT64: the
 *             key itself.  SB_KEYS_STRING, SB_KEYS_HASH: XXH3_64bits (seed 0)
 *             of the key's bytes (UTF-8 for str), its low 32 bits when width
 *             is 4; an int key of SB_KEYS_HASH is its own hash.
 *             SB_KEYS_OBJECT: the stable hash (_stable_hash), masked alike.
 *   key_offs  SB_KEYS_STRING and SB_KEYS_OBJECT only: the offset of each
 *             entry's key, an object value (typecode + payload: 'u' str or
 *             's' bytes for string keys), each distinct key stored once
 *   values    the value of each entry (for mappings, an index in the value array)
 * then the keys.  With key_offs, the three tables read as the columns of a
 * (count, 3) array (hash, key offset, value), otherwise of a (count, 2) one.
 * Multi-mappers use the same format as simple ones (a simple one answers
 * with the first entry of a key, a multi one with all of them); an
 * approximate mapper reads SB_KEYS_STRING or SB_KEYS_HASH tables, using
 * the hashes alone.
 */
#define SB_IDMAP_MAGIC 0x3250414d44494253ULL /* "SBIDMAP2" */
enum {
	SB_KEYS_UINT64 = 1,
	SB_KEYS_STRING = 2,
	SB_KEYS_HASH = 3,
	SB_KEYS_OBJECT = 4,
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
#define SB_MAPPING_MAGIC 0x32474e5050414d53ULL /* "SMAPPNG2" */
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
