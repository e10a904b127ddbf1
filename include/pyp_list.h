/*
 * On-media layout of PersistentList and PersistentTuple.
 *
 * Both are objects (PYP_TYPE_NUM_OBJECT) starting with pyp_header_t; their
 * type id is the class's entry in the pool's type table.  Items are value
 * slots (pyp_slot_t): each REF slot holds one reference to its object.
 */
#ifndef PYP_LIST_H
#define PYP_LIST_H

#include "pyp_layout.h"

/*
 * PersistentList: the items live in a separate raw allocation
 * (PYP_TYPE_NUM_RAW, owned by the list) of `capacity` slots, of which the
 * first `size` hold values; the rest are unused and never read.  The array
 * grows by doubling, so appending is amortized O(1).
 * Invariants: size <= capacity; items == 0 iff capacity == 0.
 * size, capacity and items are adjacent so one snapshot covers all three.
 */
typedef struct {
	pyp_header_t h;
	uint64_t size;     /* number of items */
	uint64_t capacity; /* number of slots in the items array */
	uint64_t items;    /* offset of the pyp_slot_t[capacity] array, or 0 */
} pyp_list_t;

/* PersistentTuple: immutable, so its items live inline after the size. */
typedef struct {
	pyp_header_t h;
	uint64_t size;      /* number of items */
	pyp_slot_t items[]; /* size slots */
} pyp_tuple_t;

#endif
