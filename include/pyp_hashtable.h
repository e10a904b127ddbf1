/*
 * On-media layout of the hashed collections: PersistentDict, PersistentSet,
 * PersistentFrozenSet and the attribute table of PersistentObject.
 *
 * One hash table design serves all of them: an array of entries (a slab:
 * a deleted entry goes on a free list and the next insertion takes it
 * back), a doubly linked list through the live entries in insertion order,
 * and a linear-probing index whose slots hold "entry number + 1" (and bits of a
 * fingerprint of the key's hash: see PYP_HT_ENTRY_BITS).  Deleting
 * shifts the following slots of the index back (no dummies), so a table
 * whose entries were deleted takes as many insertions again without any
 * new memory: a full pool where data was deleted can be filled again.
 *
 * No part of a table is one large allocation, so a table never needs a
 * large free block to grow (the heap of a full pool has none):
 * - a small table (log2_size <= PYP_HT_FLAT_LOG2) has its index and its
 *   entries in one array each, both rebuilt when either is full;
 * - in a larger table the entries live in segments of PYP_HT_SEG_ENTRIES and
 *   `entries` is a directory of their offsets; entries grow one segment at a
 *   time and never move; an index of more than PYP_HT_IX_SEG_SLOTS slots is
 *   a directory of segments of that many slots, rebuilt (from the stored
 *   hashes) when it fills up.
 * A directory is a raw array of offsets: the index directory has exactly
 * 2**log2_size / PYP_HT_IX_SEG_SLOTS of them, the entry directory room for
 * the next power of two of segments.  Every array, segment and directory is
 * at most 16 KiB until a directory holds more than 2048 offsets (more than a
 * million entries, or an index of more than 8 million slots).
 *
 * Entries are packed: the slots' tags share a word with the key's hash
 * (48 bits), and the links of the insertion order share another, so a
 * mapping entry is four words and a set entry three.  A table holds fewer
 * than 2**32 - 1 entries (the index slots and the links are 32-bit).
 *
 * All arrays, directories and segments are raw allocations (PYP_TYPE_NUM_RAW)
 * owned by the object.  An empty table owns none (index == entries == 0,
 * log2_size == 0) unless it had entries before (its storage is kept).
 */
#ifndef PYP_HASHTABLE_H
#define PYP_HASHTABLE_H

#include <stdint.h>
#include "pyp_layout.h"

#define PYP_HT_LOG2_MIN 3         /* smallest index: 8 slots, 5 entries */
#define PYP_HT_LOG2_MAX 33        /* largest index: its usable part exceeds the 32-bit entry numbers */

#define PYP_HT_FLAT_LOG2 10       /* up to 1024 index slots and 512 entries: one array each */
#define PYP_HT_SEG_SHIFT 9
#define PYP_HT_SEG_ENTRIES 512    /* entries per segment: 16 KiB for a mapping, 12 KiB for a set */
#define PYP_HT_IX_SEG_SHIFT 12
#define PYP_HT_IX_SEG_SLOTS 4096  /* 32-bit index slots per index segment: 16 KiB */
#define PYP_HT_MAX_ENTRIES 0xFFFFFFFEull

/* The usable entries of an index of 2**log2 slots: half of it in a small
 * table (its index and entries are then blocks of a power of two bytes, the
 * sizes of the segments and directories: few allocation classes, see
 * pmemobj/_heap.pxi), four fifths in a larger one. */
#define PYP_HT_USABLE(log2) ((log2) <= PYP_HT_FLAT_LOG2 ? (uint64_t)1 << ((log2) - 1) \
                             : (((uint64_t)1 << (log2)) << 2) / 5)

/* An index slot holds 1 + an entry number in its low PYP_HT_ENTRY_BITS bits and,
 * above them, the same bits of the fingerprint of the key's hash, so that a
 * probe rarely reads an entry that does not hold the key.  (A table's
 * capacity stays below the largest entry number its index can hold.) */
#define PYP_HT_ENTRY_BITS(log2) ((log2) + 4 < 32 ? (log2) + 4 : 32)
#define PYP_HT_ENTRY_MASK(log2) ((((uint64_t)1) << PYP_HT_ENTRY_BITS(log2)) - 1)
#define PYP_HT_FINGERPRINT(hash48) ((hash48) ^ ((hash48) >> 24))

/* An index slot's home: the top log2 bits of the 48-bit hash times the golden
 * ratio (Fibonacci hashing), so that ints, which hash to themselves, spread. */
#define PYP_HT_GOLDEN 0x9E3779B97F4A7C15ull
#define PYP_HT_HOME(hash48, log2) (((hash48) * PYP_HT_GOLDEN) >> (64 - (log2)))

typedef struct {
	/* invariants: used <= nentries <= capacity; free, first, last <= nentries;
	 * used <= PYP_HT_USABLE(log2_size); used == 0 iff first == 0 iff last == 0 */
	uint64_t used;      /* live entries (the length of the collection) */
	uint64_t nentries;  /* entries taken so far: the live ones and those on the free list */
	uint64_t free;      /* 1 + the first entry of the free list, 0 if it is empty */
	uint64_t log2_size; /* the index has 1 << log2_size slots (0: no table) */
	uint64_t capacity;  /* entries the array or the segments hold: PYP_HT_USABLE(log2_size)
	                     * for a small table, a multiple of PYP_HT_SEG_ENTRIES for a larger one */
	uint64_t index;     /* offset of the index array or of the index directory, 0 if none */
	uint64_t entries;   /* offset of the entry array or of the entry directory, 0 if none */
	uint64_t first;     /* 1 + the oldest live entry, 0 if none */
	uint64_t last;      /* 1 + the newest live entry, 0 if none */
} pyp_ht_t;

/* The word of an entry that holds the key's hash and the tags of its slots:
 * bits 0-47 the low 48 bits of the key's stable hash, 48-55 the key's tag,
 * 56-63 the value's (mappings).  A free entry has key tag PYP_TAG_EMPTY. */
#define PYP_HT_HASH_MASK (((uint64_t)1 << 48) - 1)
#define PYP_HT_KEY_TAG_SHIFT 48
#define PYP_HT_VALUE_TAG_SHIFT 56

/* The last word of an entry: its neighbours in insertion order, low 32 bits
 * 1 + the previous entry, high 32 bits 1 + the next one; 0 stands for the
 * entry just before (or after) it in the array, which is what an appended
 * entry has, so appending writes no other entry.  The links of the first
 * (last) live entry's previous (next) neighbour mean nothing.  On a free
 * entry the word is 1 + the next entry of the free list (0: the end). */

/* An entry of a mapping. */
typedef struct {
	uint64_t meta;
	uint64_t key;
	uint64_t value;
	uint64_t order;
} pyp_ht_entry_t;

/* An entry of a set. */
typedef struct {
	uint64_t meta;
	uint64_t key;
	uint64_t order;
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
