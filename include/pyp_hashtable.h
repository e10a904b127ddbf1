/*
 * On-media layout of the hashed collections: PersistentDict, PersistentSet,
 * PersistentFrozenSet and the attribute table of PersistentObject.
 *
 * One hash table design serves all of them, the one of CPython's compact
 * dict: a dense array of entries in insertion order ({hash, key, value}, or
 * {hash, key} for sets) and a sparse open-addressing index whose slots hold
 * "entry number + 1".  Deleting an entry empties its key slot in place (a
 * hole, skipped by iteration) and turns its index slot into a dummy; holes
 * and dummies disappear when the table is rebuilt on growth or shrinkage.
 *
 * Both arrays are raw allocations (PYP_TYPE_NUM_RAW) owned by the object.
 * An empty table owns no arrays (index == entries == 0, log2_size == 0).
 */
#ifndef PYP_HASHTABLE_H
#define PYP_HASHTABLE_H

#include <stdint.h>
#include "pyp_layout.h"

/* Index slots: 0 is an empty slot, all ones a dummy (deleted entry), any
 * other value n refers to entry n - 1.  Tables of up to 2**32 index slots use
 * 32-bit index slots, bigger ones 64-bit slots. */
#define PYP_HT_IX_EMPTY 0
#define PYP_HT_IX_DUMMY32 UINT32_MAX
#define PYP_HT_IX_DUMMY64 UINT64_MAX
#define PYP_HT_LOG2_WIDE 33 /* from this log2_size on, index slots are 64-bit */
#define PYP_HT_LOG2_MIN 3   /* smallest index: 8 slots, 5 entries */
#define PYP_HT_LOG2_MAX 56

/* The usable entries (and used index slots) of an index of 2**log2 slots:
 * two thirds of it, so that probing always meets an empty slot. */
#define PYP_HT_USABLE(log2) ((((uint64_t)1 << (log2)) << 1) / 3)

typedef struct {
	/* the counters first: an insertion snapshots these three words;
	 * used <= nentries <= capacity and used <= fill <= capacity */
	uint64_t used;      /* live entries (the length of the collection) */
	uint64_t nentries;  /* entries written, holes included */
	uint64_t fill;      /* index slots in use (entries and dummies): popping
	                     * the last entry shortens the entries but leaves a
	                     * dummy, and an insertion may reuse a dummy. */
	uint64_t log2_size; /* the index has 1 << log2_size slots (0: no table) */
	uint64_t capacity;  /* entries the entries array holds */
	uint64_t index;     /* offset of the index array (raw), 0 if none */
	uint64_t entries;   /* offset of the entries array (raw), 0 if none */
} pyp_ht_t;

/* An entry of a mapping.  A hole has key.tag == PYP_TAG_EMPTY (and an empty
 * value); its hash is left as it was. */
typedef struct {
	uint64_t hash; /* the stable hash of the key */
	pyp_slot_t key;
	pyp_slot_t value;
} pyp_ht_entry_t;

/* An entry of a set: the first two fields of pyp_ht_entry_t. */
typedef struct {
	uint64_t hash;
	pyp_slot_t key;
} pyp_ht_key_t;

/* PersistentDict */
typedef struct {
	pyp_header_t h;
	pyp_ht_t ht; /* entries: pyp_ht_entry_t */
} pyp_dict_t;

/* PersistentSet and PersistentFrozenSet */
typedef struct {
	pyp_header_t h;
	pyp_ht_t ht;     /* entries: pyp_ht_key_t */
	uint64_t frozen; /* 1 once a PersistentFrozenSet was filled by __init__ */
	uint64_t reserved;
} pyp_set_t;

/* PersistentObject (and its Python subclasses): the persistent attributes,
 * a table of str names to values. */
typedef struct {
	pyp_header_t h;
	pyp_ht_t attrs; /* entries: pyp_ht_entry_t */
} pyp_object_t;

#endif
