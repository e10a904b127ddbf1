/*
 * On-media layout of ptypes objects: the one definition of every byte the
 * schema layer writes to a pool.  Builds on the core's layout (pyp_layout.h).
 *
 * Every ptypes object is one core object (pyp_header_t first, its core type id
 * naming the compiled proxy class) followed by `ptid`, the index of its type in
 * the storage's schema.  Every reference an object holds is a pyp_slot_t, and
 * each object records how many slots it has, so that reference counting and gc
 * never need the schema.
 */
#ifndef PTYPES_LAYOUT_H
#define PTYPES_LAYOUT_H

#include <stdint.h>
#include "pyp_layout.h"

#define PT_STORAGE_MAGIC 0x5254534550595450ULL /* "PTYPESTR" */
/* Version 2 added skip lists, graph nodes and edges; a version 1 storage
 * holds none of them and is read as it is (its version never changes). */
#define PT_LAYOUT_VERSION 2
#define PT_LAYOUT_VERSION_MIN 1

/* The storage root: the pool's root value refers to it. */
typedef struct {
	pyp_header_t h;
	uint64_t magic;
	uint64_t version;
	pyp_slot_t schema;   /* a str (PYP_T_STR): the schema as JSON data */
	pyp_slot_t root;     /* the Root structure, or PYP_TAG_NONE before first use */
	pyp_slot_t registry; /* the string registry (a pt_dict_t without values) */
} pt_storage_t;

/* The prefix every ptypes object shares. */
typedef struct {
	pyp_header_t h;
	uint64_t ptid; /* index of the object's type in the stored schema */
} pt_head_t;

/* A structure: one slot per field, in the order the schema lists them.
 * Int fields are PYP_TAG_INT slots, Float fields PYP_TAG_FLOAT slots, the
 * other fields PYP_TAG_REF (or PYP_TAG_NONE while unset). */
typedef struct {
	pyp_header_t h;
	uint64_t ptid;
	uint64_t nfields;
	pyp_slot_t fields[];
} pt_struct_t;

/* A byte string: immutable once created; `hash` is XXH3-64 of the data. */
typedef struct {
	pyp_header_t h;
	uint64_t ptid;
	uint64_t hash;
	uint64_t size;
	char data[]; /* size bytes and a terminating NUL */
} pt_bytes_t;

/* A list: `items` is a raw allocation of `capacity` slots, the first `size`
 * of which are in use (slots past `size` hold nothing). */
typedef struct {
	pyp_header_t h;
	uint64_t ptid;
	uint64_t size;
	uint64_t capacity;
	uint64_t items; /* offset of pyp_slot_t[capacity], 0 when capacity is 0 */
} pt_list_t;

/* A hash table entry.  key.tag PYP_TAG_EMPTY: never used; PT_TAG_DELETED: a
 * removed entry (probing continues past it).  Sets leave `value` empty. */
typedef struct {
	uint64_t hash;
	pyp_slot_t key;
	pyp_slot_t value;
} pt_entry_t;

#define PT_TAG_DELETED PYP_TAG_NONE /* keys are never None */

/* A dict or set: open addressing in a raw table of mask + 1 entries (a power
 * of two); `used` live entries, `fill` live plus deleted ones. */
typedef struct {
	pyp_header_t h;
	uint64_t ptid;
	uint64_t used;
	uint64_t fill;
	uint64_t mask;
	uint64_t table; /* offset of pt_entry_t[mask + 1] */
} pt_dict_t;

/* A buffer: a C-contiguous copy of an exporter's memory with its shape.
 * After the fixed part: shape[ndim], strides[ndim] (int64), the struct
 * format string (fmtlen bytes and a NUL); the data starts at data_off from
 * the start of the object (16-byte aligned). */
typedef struct {
	pyp_header_t h;
	uint64_t ptid;
	uint64_t nbytes;
	uint64_t itemsize;
	uint64_t ndim;
	uint64_t fmtlen;
	uint64_t data_off;
	int64_t dims[];
} pt_buffer_t;

#define PT_MAX_NDIM 64

/* A skip list: items in ascending order of their sort key, linked at every
 * level.  Each item is a node (a raw allocation the list owns); the list
 * holds the first node of each level.  A node of level L is linked at levels
 * 0..L-1.  Level 0 links every node. */
#define PT_SKIP_MAXLEVEL 32

typedef struct {
	pyp_header_t h;
	uint64_t ptid;
	uint64_t size;                    /* number of items */
	uint64_t levels;                  /* levels in use, 0 while empty */
	uint64_t head[PT_SKIP_MAXLEVEL];  /* offset of the first node of each level, 0: none */
} pt_skiplist_t;

/* A node: the item, the sort key taken from it when it was inserted (nkeys
 * slots: Int and Float parts inline, ByteString parts referenced; none when
 * the item is its own key), then `level` next offsets. */
typedef struct {
	uint64_t level;
	uint64_t nkeys;
	pyp_slot_t value;
	pyp_slot_t keys[];  /* nkeys slots, then uint64_t next[level] */
} pt_skipnode_t;

/* A graph node: its contents and the edge types that touch it. */
typedef struct {
	pyp_header_t h;
	uint64_t ptid;
	pyp_slot_t value;   /* the contents */
	uint64_t kinds;     /* offset of the first pt_edgekind_t, 0: no edges */
} pt_node_t;

/* The edges of one type at one node (a raw allocation the node owns): the
 * first edge leaving it and the first entering it; each edge links on. */
typedef struct {
	uint64_t ptid;      /* the edge type */
	pyp_slot_t out;     /* the newest edge leaving the node, or PYP_TAG_NONE */
	pyp_slot_t in;      /* the newest edge entering the node, or PYP_TAG_NONE */
	uint64_t next;      /* the node's next pt_edgekind_t, 0: the last */
} pt_edgekind_t;

/* A directed edge.  It holds its nodes, and each edge list holds the next
 * edge: every link is a counted reference, so gc sees the whole graph. */
typedef struct {
	pyp_header_t h;
	uint64_t ptid;
	pyp_slot_t from;
	pyp_slot_t to;
	pyp_slot_t value;     /* the contents */
	pyp_slot_t next_out;  /* the next (older) edge of this type leaving `from` */
	pyp_slot_t next_in;   /* the next (older) edge of this type entering `to` */
} pt_edge_t;

#endif
