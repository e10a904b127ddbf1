/*
 * On-media layout of PersistentList and PersistentTuple.
 *
 * Both are objects (PYP_TYPE_NUM_OBJECT) starting with pyp_header_t; their
 * type id is the class's entry in the pool's type table.  Each REF slot holds
 * one reference to its object.
 */
#ifndef PYP_LIST_H
#define PYP_LIST_H

#include "pyp_layout.h"

/*
 * PersistentList: its value slots are packed in groups of eight, the eight
 * tags first, then the eight payloads (72 bytes instead of 128), in raw
 * allocations (PYP_TYPE_NUM_RAW) owned by the list.  The first `size` slots
 * hold values; the others are unused and never read.
 * - A small list (capacity <= PYP_LIST_BLOCK) has one array of capacity / 8
 *   groups, allocated as the power of two bytes they fill: capacities 8, 24,
 *   56, 112, 224, 448, 904 and PYP_LIST_BLOCK slots; it grows and shrinks
 *   by moving to the next array.
 * - A larger list has blocks of PYP_LIST_BLOCK slots (16 KiB allocations) and
 *   `items` is a directory of their offsets with room for the next power of
 *   two of blocks; it grows and shrinks a block at a time.  The last array of
 *   a small list becomes the first block of a large one (and back).
 * No allocation is larger than 16 KiB until the directory holds more than
 * 2048 blocks (3.7 million items).
 * Invariants: size <= capacity; items == 0 iff capacity == 0; capacity is
 * one of the small capacities or a multiple of PYP_LIST_BLOCK.
 * size, capacity and items are adjacent so one snapshot covers all three.
 */
#define PYP_LIST_GROUP 8            /* slots per group */
#define PYP_LIST_GROUP_BYTES 72     /* uint8_t tags[8]; uint64_t payloads[8] */
#define PYP_LIST_BLOCK 1816         /* slots per block: 227 groups */
#define PYP_LIST_BLOCK_BYTES 16384  /* the allocation of a block (16344 bytes used) */

typedef struct {
	uint8_t tags[PYP_LIST_GROUP];
	uint64_t payloads[PYP_LIST_GROUP];
} pyp_slot_group_t;

typedef struct {
	pyp_header_t h;
	uint64_t size;     /* number of items */
	uint64_t capacity; /* slots the array or the blocks hold */
	uint64_t items;    /* offset of the array or of the block directory, or 0 */
} pyp_list_t;

/* PersistentTuple: immutable, so its items live inline after the size. */
typedef struct {
	pyp_header_t h;
	uint64_t size;      /* number of items */
	pyp_slot_t items[]; /* size slots */
} pyp_tuple_t;

#endif
