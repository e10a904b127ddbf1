/*
 * On-media layout of the core: the one definition of every byte the pmemobj
 * core writes to a pool.  Collections, ptypes and sharedbuffers keep their own
 * layouts in headers beside this one and build on these types.
 *
 * All integers are little-endian native uint64_t; a reference to another
 * allocation is its offset from the pool base (the pool uuid is implied).
 */
#ifndef PYP_LAYOUT_H
#define PYP_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define PYP_LAYOUT_NAME "pmemobj-python"
#define PYP_MAGIC 0x4a424f4d454d5950ULL /* "PYMEMOBJ" */
/* 2: str/bytes objects without a stored hash; hash tables and lists in
 * segments of at most a few KiB, their slots packed (pyp_hashtable.h,
 * pyp_list.h); blocks from the allocation classes of pmemobj/_heap.pxi */
#define PYP_LAYOUT_VERSION 2

/* libpmemobj type numbers: gc uses them to tell objects from raw memory */
#define PYP_TYPE_NUM_OBJECT 1 /* starts with pyp_header_t */
#define PYP_TYPE_NUM_RAW 2    /* substructure owned by exactly one object */

/* Every object: a reference count and a type id. */
typedef struct {
	uint64_t refcount;
	uint64_t type_id;
} pyp_header_t;

/* A value slot: small immutable values inline, the rest by reference. */
enum {
	PYP_TAG_EMPTY = 0, /* no value (free dict entry, unset field) */
	PYP_TAG_NONE = 1,
	PYP_TAG_FALSE = 2,
	PYP_TAG_TRUE = 3,
	PYP_TAG_INT = 4,   /* payload: int64_t */
	PYP_TAG_FLOAT = 5, /* payload: the bits of a double */
	PYP_TAG_REF = 6,   /* payload: offset of an object (one reference held) */
};

typedef struct {
	uint64_t tag;
	uint64_t payload;
} pyp_slot_t;

/* Type ids below PYP_T_FIRST_CLASS are the core's value types; the others
 * index the pool's type table (class names) at type_id - PYP_T_FIRST_CLASS. */
enum {
	PYP_T_BOX = 1,       /* pyp_box_t: one inline value given an oid */
	PYP_T_BIGINT = 2,    /* pyp_bytes_t: signed little-endian two's complement */
	PYP_T_COMPLEX = 3,   /* pyp_complex_t */
	PYP_T_STR = 4,       /* pyp_bytes_t: UTF-8 (surrogates passed through) */
	PYP_T_BYTES = 5,     /* pyp_bytes_t */
	PYP_T_TUPLE = 6,     /* pyp_seq_t */
	PYP_T_FROZENSET = 7, /* pyp_seq_t */
	PYP_T_PICKLE = 8,    /* pyp_bytes_t: a pickle of a nominated type */
	PYP_T_FIRST_CLASS = 64,
};

typedef struct {
	pyp_header_t h;
	pyp_slot_t value;
} pyp_box_t;

typedef struct {
	pyp_header_t h;
	uint64_t size; /* bytes in data (no terminating NUL) */
	char data[];
} pyp_bytes_t;

typedef struct {
	pyp_header_t h;
	double real;
	double imag;
} pyp_complex_t;

typedef struct {
	pyp_header_t h;
	uint64_t size; /* number of items */
	pyp_slot_t items[];
} pyp_seq_t;

/* The pool's type table (raw memory): offsets of pyp_bytes_t STR objects
 * holding "module:qualname" of each persistent class, by type id. */
typedef struct {
	uint64_t count;
	uint64_t capacity;
	uint64_t names[];
} pyp_typetable_t;

/* libpmemobj's root object. */
typedef struct {
	uint64_t magic;
	uint64_t version;
	uint64_t clean;      /* 1 after a clean close, reset to 0 at every open */
	uint64_t type_table; /* offset of the pyp_typetable_t */
	uint64_t opens;      /* how many times the pool was opened */
	uint64_t orphans;    /* pyp_offsets_t: objects at count 0 (a proxy held them), or 0 */
	uint64_t candidates; /* pyp_offsets_t: possible roots of garbage cycles, or 0 */
	uint64_t flags;      /* PYP_FLAG_*: what the next open must do beyond the records */
	uint64_t journal;    /* the journal block (pmemobj/_journal.pxi), or 0 */
	uint64_t reserved[2];
	uint64_t unsynced;   /* nonzero (the boot's id): a "process"-durability session wrote since its last sync */
	pyp_slot_t root;     /* the user's root value */
} pyp_root_t;

/* The collector's records (raw memory): offsets of objects, in no order.
 * Kept exact by every transaction (pmemobj/_collect.pxi), so that close()
 * and the recovery of a crashed pool look at what changed, not at the heap. */
typedef struct {
	uint64_t count;
	uint64_t capacity;
	uint64_t offs[];
} pyp_offsets_t;
enum {
	PYP_FLAG_DEFERRED = 1, /* committed garbage whose free was deferred (full log) */
	PYP_FLAG_SWEEPING = 2, /* a collection spanning several transactions is under way */
	PYP_FLAG_BY_HAND = 4,  /* blocks allocated by hand (mm.alloc): only a walk finds them unreferenced */
	PYP_FLAG_STALE = 8,    /* the records still name blocks freed since (rewritten after the commit) */
};
/* Sizes of the fixed parts (the arrays above are flexible members). */
#define PYP_BYTES_DATA offsetof(pyp_bytes_t, data)          /* 24 */
#define PYP_SEQ_ITEMS offsetof(pyp_seq_t, items)            /* 24 */
#define PYP_TYPETABLE_NAMES offsetof(pyp_typetable_t, names) /* 16 */
#define PYP_OFFSETS_OFFS offsetof(pyp_offsets_t, offs)       /* 16 */

#endif
