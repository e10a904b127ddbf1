/*
 * The physical limit: the same pool work as benchmarks/workloads_pmemobj.py,
 * done straight on libpmemobj from C, with the core's allocation classes
 * (pmemobj/_heap.pxi).  The collection workloads mirror the on-media layout
 * and the snapshots of PersistentDict (include/pyp_hashtable.h: entries with
 * packed tags and implicit order links, in segments past 512 entries, and a
 * linear-probing index; per insertion one index slot and the header
 * snapshotted, the new entry flushed) and PersistentList (include/pyp_list.h:
 * slots packed eight to a group, in small arrays then 16 KiB blocks).
 *
 * Uses the function API of transactions (pmemobj_tx_begin with no jmp_buf,
 * pmemobj_tx_commit, pmemobj_tx_end), the way a compiled extension calls it.
 *
 *   bench_pmemobj --list
 *   bench_pmemobj WORKLOAD [--dir DIR] [-n N] [--repeats R]
 *
 * Prints one JSON object on stdout, like the Python workload scripts.
 * Build: cc -O2 bench_pmemobj.c $(pkg-config --cflags --libs libpmemobj libpmem)
 * (xxhash.h, the hash of str and bytes keys, is used header-only.)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <libpmem.h>
#include <libpmemobj.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define POOL_SIZE (256u << 20) /* as common.POOL_SIZE */
#define LAYOUT "pmemobj-bench-c"
#define TYPE_NUM_RAW 2 /* the core's type number for raw allocations */
#define TYPE_NUM_OBJECT 1 /* the core's type number for objects */
#define TAG_EMPTY 0
#define TAG_INT 4      /* the core's slot tag for an inline int */
#define TAG_REF 6      /* the core's slot tag for a reference */
#define T_STR 4        /* the core's type id of a str object */
#define T_BYTES 5      /* ... and of a bytes object */

/* Same shape as the core's root object: a header of 12 words, then the
 * user's root value as a 16-byte {tag, payload} slot. */
struct slot {
	uint64_t tag;
	uint64_t payload;
};

struct root {
	uint64_t header[12];
	struct slot root;
};

static PMEMobjpool *pop;
static struct root *rootp;

static void die(const char *what)
{
	fprintf(stderr, "bench_pmemobj: %s: %s\n", what, pmemobj_errormsg());
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Commits when the work stage was reached without error, then ends. */
static void tx_finish(const char *what)
{
	if (pmemobj_tx_stage() == TX_STAGE_WORK)
		pmemobj_tx_commit();
	if (pmemobj_tx_end() != 0)
		die(what);
}

static void empty_tx(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		if (pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE) != 0)
			die("pmemobj_tx_begin");
		tx_finish("empty transaction");
	}
}

static void alloc_free_64(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		if (pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE) != 0)
			die("pmemobj_tx_begin");
		PMEMoid oid = pmemobj_tx_alloc(64, TYPE_NUM_RAW);
		if (!OID_IS_NULL(oid))
			pmemobj_tx_free(oid);
		tx_finish("alloc+free");
	}
}

static void root_assign_int(uint64_t n)
{
	struct slot *s = &rootp->root;
	for (uint64_t i = 0; i < n; i++) {
		if (pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE) != 0)
			die("pmemobj_tx_begin");
		if (pmemobj_tx_add_range_direct(s, sizeof(*s)) == 0) {
			s->tag = TAG_INT;
			s->payload = i;
		}
		tx_finish("root assignment");
	}
}

/* ---- the core's allocation classes (pmemobj/_heap.pxi) ---- */

#define NCLASSES 64
#define CLASS_MAX 16384
static uint32_t class_usable[NCLASSES];
static unsigned class_id[NCLASSES];

/* 16..256 by 16, then eight steps per doubling up to 16 KiB; runs of one chunk */
static void register_classes(void)
{
	int c = 0;
	for (uint32_t s = 16; s <= 256; s += 16)
		class_usable[c++] = s;
	for (uint32_t lo = 256, step = 32; lo < CLASS_MAX; lo *= 2, step *= 2)
		for (uint32_t s = lo + step; s <= 2 * lo; s += step)
			class_usable[c++] = s;
	for (c = 0; c < NCLASSES; c++) {
		struct pobj_alloc_class_desc d = {class_usable[c] + 16, 0, 1, POBJ_HEADER_COMPACT, 0};
		char name[64];
		snprintf(name, sizeof(name), "heap.alloc_class.%d.desc", 128 + c);
		class_id[c] = 128 + c;
		if (pmemobj_ctl_set(pop, name, &d) != 0) { /* as libpmemobj's own class of that size */
			class_id[c] = 0;
			for (unsigned j = 1; j < 128 && !class_id[c]; j++) {
				snprintf(name, sizeof(name), "heap.alloc_class.%u.desc", j);
				if (pmemobj_ctl_get(pop, name, &d) == 0 && d.unit_size == class_usable[c] + 16 &&
				    d.unit_size * d.units_per_block <= (256u << 10))
					class_id[c] = j;
			}
		}
	}
	long long cache = CLASS_MAX - 256;
	pmemobj_ctl_set(pop, "tx.cache.size", &cache);
}

static uint64_t class_flags(size_t n)
{
	if (n > CLASS_MAX)
		return 0;
	int c = 0;
	while (class_usable[c] < n)
		c++;
	return POBJ_CLASS_ID(class_id[c]);
}

/* ---- collections: PersistentDict's hash table, PersistentList's slots ---- */

struct header {
	uint64_t refcount;
	uint64_t type_id;
};

struct ht { /* pyp_ht_t */
	uint64_t used, nentries, free, log2_size, capacity, index, entries, first, last;
};

struct dict { /* pyp_dict_t */
	struct header h;
	struct ht ht;
};

struct entry { /* pyp_ht_entry_t: tags in meta, links in order */
	uint64_t meta, key, value, order;
};

struct text { /* pyp_bytes_t: a str or bytes object */
	struct header h;
	uint64_t size;
	char data[];
};

struct group { /* eight packed slots of a list */
	uint8_t tags[8];
	uint64_t payloads[8];
};

struct list { /* pyp_list_t */
	struct header h;
	uint64_t size, capacity, items;
};

#define HT_LOG2_MIN 3
#define HT_FLAT_LOG2 10
#define HT_USABLE(log2) ((log2) <= HT_FLAT_LOG2 ? (uint64_t)1 << ((log2) - 1) : (((uint64_t)1 << (log2)) << 2) / 5)
#define HT_ENTRY_MASK(log2) ((log2) + 4 < 32 ? ((uint64_t)1 << ((log2) + 4)) - 1 : 0xFFFFFFFFull)
/* an index slot: 1 + the entry number, the fingerprint of the hash above it */
#define HT_IX_VALUE(log2, hash, n) \
	((((n) + 1) | (((hash) ^ ((hash) >> 24)) & ~HT_ENTRY_MASK(log2))) & 0xFFFFFFFFull)
#define HT_SEG_SHIFT 9
#define HT_SEG 512
#define HT_IX_SEG_SHIFT 12
#define HT_IX_SEG 4096
#define HASH_MASK (((uint64_t)1 << 48) - 1)
#define GOLDEN 0x9E3779B97F4A7C15ull
#define LIST_BLOCK 1816
#define LIST_BLOCK_BYTES 16384
#define KEY_LEN 20 /* the str/bytes keys: "k" and 19 digits, as in Python */

static void *at(uint64_t off)
{
	return (char *)pop + off;
}

static void add_range(void *p, size_t n)
{
	if (pmemobj_tx_add_range_direct(p, n) != 0)
		die("pmemobj_tx_add_range_direct");
}

static uint64_t tx_alloc(size_t n, uint64_t type_num, int zero)
{
	PMEMoid oid = pmemobj_tx_xalloc(n, type_num, (zero ? POBJ_XALLOC_ZERO : 0) | class_flags(n));
	if (OID_IS_NULL(oid))
		die("pmemobj_tx_xalloc");
	return oid.off;
}

static void tx_free(uint64_t off)
{
	PMEMoid oid = {pmemobj_oid(rootp).pool_uuid_lo, off};
	if (pmemobj_tx_free(oid) != 0)
		die("pmemobj_tx_free");
}

static void tx_begin(void)
{
	if (pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE) != 0)
		die("pmemobj_tx_begin");
}

/* CPython's hash of an int (the core's stable hash of ints), for |i| < 2**61 - 1 */
static uint64_t int_hash(int64_t i)
{
	return (uint64_t)(i == -1 ? -2 : i);
}

static int slot_is_text(uint64_t tag, uint64_t off, uint64_t tid, const char *s, size_t n)
{
	if (tag != TAG_REF)
		return 0;
	const struct text *t = at(off);
	return t->h.type_id == tid && t->size == n && memcmp(t->data, s, n) == 0;
}

static int flat(uint64_t log2)
{
	return log2 <= HT_FLAT_LOG2;
}

static struct entry *ht_entry(const struct ht *h, uint64_t i)
{
	if (flat(h->log2_size))
		return (struct entry *)at(h->entries) + i;
	const uint64_t *dir = at(h->entries);
	return (struct entry *)at(dir[i >> HT_SEG_SHIFT]) + (i & (HT_SEG - 1));
}

static uint32_t *ix_slot(uint64_t log2, uint64_t index, uint64_t i)
{
	if (log2 <= HT_IX_SEG_SHIFT)
		return (uint32_t *)at(index) + i;
	const uint64_t *dir = at(index);
	return (uint32_t *)at(dir[i >> HT_IX_SEG_SHIFT]) + (i & (HT_IX_SEG - 1));
}

static uint64_t home(uint64_t hash, uint64_t log2)
{
	return ((hash & HASH_MASK) * GOLDEN) >> (64 - log2);
}

/* The entry number of a key, or -1: an int key (s == NULL) or a text key. */
static int64_t ht_find(const struct ht *h, uint64_t hash, int64_t ikey, uint64_t tid, const char *s, size_t n)
{
	if (!h->index)
		return -1;
	uint64_t mask = ((uint64_t)1 << h->log2_size) - 1, i = home(hash, h->log2_size);
	uint64_t emask = HT_ENTRY_MASK(h->log2_size), tag;
	hash &= HASH_MASK;
	tag = HT_IX_VALUE(h->log2_size, hash, 0) & ~emask;
	for (;;) {
		uint32_t v = *ix_slot(h->log2_size, h->index, i);
		if (v == 0)
			return -1;
		if ((v & ~emask) == tag) { /* else another key's fingerprint */
			const struct entry *e = ht_entry(h, (v & emask) - 1);
			uint64_t ktag = (e->meta >> 48) & 0xFF;
			if ((e->meta & HASH_MASK) == hash && ktag &&
			    (s ? slot_is_text(ktag, e->key, tid, s, n) : ktag == TAG_INT && (int64_t)e->key == ikey))
				return (v & emask) - 1;
		}
		i = (i + 1) & mask;
	}
}

static uint64_t free_slot(uint64_t log2, uint64_t index, uint64_t hash)
{
	uint64_t mask = ((uint64_t)1 << log2) - 1, i = home(hash, log2);
	while (*ix_slot(log2, index, i) != 0)
		i = (i + 1) & mask;
	return i;
}

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

static uint64_t new_index(uint64_t log2)
{
	if (log2 <= HT_IX_SEG_SHIFT)
		return tx_alloc(((uint64_t)4) << log2, TYPE_NUM_RAW, 1);
	uint64_t nsegs = ((uint64_t)1 << log2) >> HT_IX_SEG_SHIFT, off = tx_alloc(nsegs * 8, TYPE_NUM_RAW, 0);
	for (uint64_t k = 0; k < nsegs; k++)
		((uint64_t *)at(off))[k] = tx_alloc(HT_IX_SEG * 4, TYPE_NUM_RAW, 1);
	return off;
}

static void free_index(uint64_t log2, uint64_t index)
{
	if (log2 > HT_IX_SEG_SHIFT)
		for (uint64_t k = 0; k < ((uint64_t)1 << log2) >> HT_IX_SEG_SHIFT; k++)
			tx_free(((uint64_t *)at(index))[k]);
	tx_free(index);
}

/* Rebuild with room for `minused` entries, as ht_rebuild: new storage, the
 * entries copied in order, the header snapshotted, the old storage freed.
 * (The workloads only insert: no free entries, the order is the array's.) */
static void ht_rebuild(struct ht *h, uint64_t minused)
{
	uint64_t log2 = HT_LOG2_MIN, cap;
	while (HT_USABLE(log2) < minused)
		log2++;
	struct ht n = {h->used, h->used, 0, log2, 0, new_index(log2), 0, h->used ? 1 : 0, h->used};
	if (flat(log2)) {
		cap = HT_USABLE(log2);
		n.entries = tx_alloc(cap * sizeof(struct entry), TYPE_NUM_RAW, 1);
	} else {
		uint64_t nsegs = h->used / HT_SEG + 1;
		n.entries = tx_alloc(pow2_at_least(nsegs) * 8, TYPE_NUM_RAW, 1);
		for (uint64_t k = 0; k < nsegs; k++)
			((uint64_t *)at(n.entries))[k] = tx_alloc(HT_SEG * sizeof(struct entry), TYPE_NUM_RAW, 1);
		cap = nsegs * HT_SEG;
	}
	n.capacity = cap;
	for (uint64_t i = 0; i < h->used; i++) {
		struct entry *d = ht_entry(&n, i);
		*d = *ht_entry(h, i);
		d->order = 0;
		*ix_slot(log2, n.index, free_slot(log2, n.index, d->meta)) =
			(uint32_t)HT_IX_VALUE(log2, d->meta & HASH_MASK, i);
	}
	if (h->index) {
		free_index(h->log2_size, h->index);
		if (!flat(h->log2_size))
			for (uint64_t k = 0; k < h->capacity >> HT_SEG_SHIFT; k++)
				tx_free(((uint64_t *)at(h->entries))[k]);
		tx_free(h->entries);
	}
	add_range(h, sizeof(*h));
	*h = n;
}

/* A larger table's new index, as ht_grow_index. */
static void ht_grow_index(struct ht *h, uint64_t minused)
{
	uint64_t log2 = HT_LOG2_MIN;
	while (HT_USABLE(log2) < minused)
		log2++;
	uint64_t index = new_index(log2);
	for (uint64_t i = 0; i < h->nentries; i++) {
		const struct entry *e = ht_entry(h, i);
		*ix_slot(log2, index, free_slot(log2, index, e->meta)) =
			(uint32_t)HT_IX_VALUE(log2, e->meta & HASH_MASK, i);
	}
	free_index(h->log2_size, h->index);
	add_range(&h->log2_size, 3 * sizeof(uint64_t));
	h->log2_size = log2;
	h->index = index;
}

/* A new segment, as ht_add_segment. */
static void ht_add_segment(struct ht *h)
{
	uint64_t nsegs = h->capacity >> HT_SEG_SHIFT, dircap = pow2_at_least(nsegs);
	uint64_t seg = tx_alloc(HT_SEG * sizeof(struct entry), TYPE_NUM_RAW, 1);
	if (nsegs == dircap) {
		uint64_t dir = tx_alloc(2 * dircap * 8, TYPE_NUM_RAW, 1);
		memcpy(at(dir), at(h->entries), nsegs * 8);
		((uint64_t *)at(dir))[nsegs] = seg;
		tx_free(h->entries);
		add_range(&h->capacity, 3 * sizeof(uint64_t));
		h->entries = dir;
	} else {
		uint64_t *dir = at(h->entries);
		if (pmemobj_tx_xadd_range_direct(&dir[nsegs], 8, POBJ_XADD_NO_SNAPSHOT) != 0)
			die("pmemobj_tx_xadd_range_direct");
		dir[nsegs] = seg;
		add_range(&h->capacity, 8);
	}
	h->capacity += HT_SEG;
}

/* Add an entry for an absent key, as ht_insert: one index slot snapshotted, the
 * entry (never written: only flushed), the header snapshotted. */
static void ht_insert(struct ht *h, uint64_t hash, uint64_t ktag, uint64_t key, uint64_t vtag, uint64_t value)
{
	if (!h->index)
		ht_rebuild(h, 1);
	else if (h->used + 1 > HT_USABLE(h->log2_size)) {
		if (flat(h->log2_size))
			ht_rebuild(h, h->used * 2);
		else
			ht_grow_index(h, h->used * 2);
	}
	if (h->nentries >= h->capacity) {
		if (flat(h->log2_size))
			ht_rebuild(h, h->used ? h->used * 2 : 1);
		else
			ht_add_segment(h);
	}
	uint64_t n = h->nentries, s = free_slot(h->log2_size, h->index, hash);
	struct entry *e = ht_entry(h, n);
	if (pmemobj_tx_xadd_range_direct(e, sizeof(*e), POBJ_XADD_NO_SNAPSHOT) != 0)
		die("pmemobj_tx_xadd_range_direct");
	uint32_t *ix = ix_slot(h->log2_size, h->index, s);
	add_range(ix, 4);
	*ix = (uint32_t)HT_IX_VALUE(h->log2_size, hash & HASH_MASK, n);
	e->meta = (hash & HASH_MASK) | (ktag << 48) | (vtag << 56);
	e->key = key;
	e->value = value;
	e->order = 0; /* appended after the last: its links are implicit */
	add_range(h, sizeof(*h));
	h->used++;
	h->nentries = n + 1;
	if (!h->first)
		h->first = n + 1;
	h->last = n + 1;
}

static uint64_t new_text(uint64_t tid, const char *s, size_t n)
{
	uint64_t off = tx_alloc(offsetof(struct text, data) + n, TYPE_NUM_OBJECT, 0);
	struct text *t = at(off);
	t->h.refcount = 1;
	t->h.type_id = tid;
	t->size = n;
	memcpy(t->data, s, n);
	return off;
}

static struct dict *new_dict(void)
{
	tx_begin();
	uint64_t off = tx_alloc(sizeof(struct dict), TYPE_NUM_OBJECT, 1);
	((struct dict *)at(off))->h.refcount = 1;
	tx_finish("new dict");
	return at(off);
}

static struct dict *cur_dict;
static uint64_t next_key; /* keys stay new across repeats */

static void dict_fresh(uint64_t n)
{
	(void)n;
	cur_dict = new_dict();
}

/* d[i] = i, each its own transaction */
static void dict_insert_int(uint64_t n)
{
	struct ht *h = &cur_dict->ht;
	for (uint64_t k = 0; k < n; k++) {
		int64_t i = (int64_t)next_key++;
		uint64_t hash = int_hash(i);
		tx_begin();
		if (ht_find(h, hash, i, 0, NULL, 0) < 0)
			ht_insert(h, hash, TAG_INT, (uint64_t)i, TAG_INT, (uint64_t)i);
		tx_finish("dict insert");
	}
}

static size_t text_key(char *buf, uint64_t i)
{
	return (size_t)snprintf(buf, KEY_LEN + 1, "k%019llu", (unsigned long long)i);
}

/* d["k%019d" % i] = i, each its own transaction: the key becomes a str object */
static void dict_insert_str(uint64_t n)
{
	struct ht *h = &cur_dict->ht;
	char key[KEY_LEN + 1];
	for (uint64_t k = 0; k < n; k++) {
		uint64_t i = next_key++;
		size_t len = text_key(key, i);
		uint64_t hash = XXH3_64bits(key, len);
		tx_begin();
		if (ht_find(h, hash, 0, T_STR, key, len) < 0)
			ht_insert(h, hash, TAG_REF, new_text(T_STR, key, len), TAG_INT, i);
		tx_finish("dict insert");
	}
}

/* The read workloads look up keys of a dict of min(n, READ_KEYS) entries in
 * the order (i * READ_STRIDE) % size, like workloads_pmemobj.py. */
#define READ_KEYS 100000
#define READ_STRIDE 7919

static uint64_t read_size;
static char (*read_keys)[KEY_LEN + 1];
static volatile int64_t sink;

static void dict_fill(uint64_t n, uint64_t tid)
{
	if (cur_dict)
		return;
	cur_dict = new_dict();
	read_size = n < READ_KEYS ? n : READ_KEYS;
	if (tid)
		read_keys = malloc(read_size * sizeof(*read_keys));
	tx_begin();
	for (uint64_t i = 0; i < read_size; i++) {
		if (tid) {
			size_t len = text_key(read_keys[i], i);
			uint64_t hash = XXH3_64bits(read_keys[i], len);
			ht_insert(&cur_dict->ht, hash, TAG_REF, new_text(tid, read_keys[i], len), TAG_INT, i);
		} else {
			ht_insert(&cur_dict->ht, int_hash((int64_t)i), TAG_INT, i, TAG_INT, i);
		}
	}
	tx_finish("dict fill");
}

static void dict_fill_int(uint64_t n)
{
	dict_fill(n, 0);
}

static void dict_fill_bytes(uint64_t n)
{
	dict_fill(n, T_BYTES);
}

static void dict_get_int(uint64_t n)
{
	const struct ht *h = &cur_dict->ht;
	int64_t sum = 0;
	for (uint64_t k = 0; k < n; k++) {
		int64_t i = (int64_t)((k * READ_STRIDE) % read_size);
		int64_t e = ht_find(h, int_hash(i), i, 0, NULL, 0);
		if (e < 0)
			die("dict_get_int: missing key");
		sum += (int64_t)ht_entry(h, (uint64_t)e)->value;
	}
	sink = sum;
}

static void dict_get_bytes(uint64_t n)
{
	const struct ht *h = &cur_dict->ht;
	int64_t sum = 0;
	for (uint64_t k = 0; k < n; k++) {
		const char *key = read_keys[(k * READ_STRIDE) % read_size];
		int64_t e = ht_find(h, XXH3_64bits(key, KEY_LEN), 0, T_BYTES, key, KEY_LEN);
		if (e < 0)
			die("dict_get_bytes: missing key");
		sum += (int64_t)ht_entry(h, (uint64_t)e)->value;
	}
	sink = sum;
}

static struct list *cur_list;

/* the capacities of a small list: the groups that fill 128 << k bytes */
static uint64_t small_cap(int k)
{
	return (128u << k) / sizeof(struct group) * 8;
}

static struct group *list_group(const struct list *l, uint64_t i)
{
	if (l->capacity <= LIST_BLOCK)
		return (struct group *)at(l->items) + (i >> 3);
	uint64_t b = i / LIST_BLOCK;
	return (struct group *)at(((uint64_t *)at(l->items))[b]) + ((i - b * LIST_BLOCK) >> 3);
}

static void list_free(void)
{
	if (!cur_list)
		return;
	tx_begin();
	if (cur_list->capacity > LIST_BLOCK)
		for (uint64_t k = 0; k < cur_list->capacity / LIST_BLOCK; k++)
			tx_free(((uint64_t *)at(cur_list->items))[k]);
	if (cur_list->items)
		tx_free(cur_list->items);
	tx_free(pmemobj_oid(cur_list).off);
	tx_finish("list free");
	cur_list = NULL;
}

/* The first slot of the storage the current transaction allocated for the list
 * (as PersistentList.fresh_from): appends there need no snapshot. */
static uint64_t list_fresh_from = UINT64_MAX;

/* Room for one more item, as _reserve: the next small array, or a block. */
static void list_reserve(struct list *l)
{
	uint64_t cap = l->capacity, items;
	if (cap < LIST_BLOCK) {
		int k = 0;
		while (small_cap(k) <= cap)
			k++;
		items = tx_alloc(128u << k, TYPE_NUM_RAW, 0);
		if (l->size)
			memcpy(at(items), at(l->items), (l->size + 7) / 8 * sizeof(struct group));
		if (l->items)
			tx_free(l->items);
		add_range(&l->size, 3 * sizeof(uint64_t));
		l->capacity = small_cap(k);
		l->items = items;
		list_fresh_from = 0;
		return;
	}
	uint64_t nb = cap / LIST_BLOCK, dircap = pow2_at_least(nb), dir = l->items;
	if (cap == LIST_BLOCK) { /* the small array becomes the first block */
		dir = tx_alloc(2 * 8, TYPE_NUM_RAW, 1);
		((uint64_t *)at(dir))[0] = l->items;
	} else if (nb + 1 > dircap) {
		dir = tx_alloc(2 * dircap * 8, TYPE_NUM_RAW, 1);
		memcpy(at(dir), at(l->items), nb * 8);
		tx_free(l->items);
	} else {
		add_range((uint64_t *)at(dir) + nb, 8);
	}
	((uint64_t *)at(dir))[nb] = tx_alloc(LIST_BLOCK_BYTES, TYPE_NUM_RAW, 0);
	add_range(&l->size, 3 * sizeof(uint64_t));
	l->capacity = cap + LIST_BLOCK;
	l->items = dir;
	list_fresh_from = cap;
}

static void list_append_one(struct list *l, int64_t v)
{
	if (l->size == l->capacity)
		list_reserve(l);
	uint64_t n = l->size, j = n & 7;
	struct group *g = list_group(l, n);
	if (n < list_fresh_from)
		add_range(g, sizeof(*g)); /* the whole group, as append */
	g->tags[j] = TAG_INT;
	g->payloads[j] = (uint64_t)v;
	add_range(&l->size, 8);
	l->size = n + 1;
}

static void list_new(uint64_t n)
{
	(void)n;
	list_free();
}

/* n appends of small ints to a new list, all in one transaction */
static void list_append_tx(uint64_t n)
{
	tx_begin();
	list_fresh_from = UINT64_MAX;
	uint64_t off = tx_alloc(sizeof(struct list), TYPE_NUM_OBJECT, 1);
	cur_list = at(off);
	cur_list->h.refcount = 1;
	for (uint64_t i = 0; i < n; i++)
		list_append_one(cur_list, (int64_t)(i & 1023));
	tx_finish("list appends");
}

static void list_fill(uint64_t n)
{
	if (cur_list && cur_list->size >= n)
		return;
	list_free();
	list_append_tx(n);
}

/* reads every item of a list of n small ints */
static void list_iter(uint64_t n)
{
	int64_t sum = 0;
	for (uint64_t i = 0; i < n; i++) {
		const struct group *g = list_group(cur_list, i);
		if (g->tags[i & 7] != TAG_INT)
			die("list_iter: not an int");
		sum += (int64_t)g->payloads[i & 7];
	}
	sink = sum;
}

/* an 8-byte field += 1, its own transaction (ptypes' Int.inc()) */
static void field_inc(uint64_t n)
{
	uint64_t *field = &rootp->root.payload;
	for (uint64_t i = 0; i < n; i++) {
		tx_begin();
		add_range(field, 8);
		*field += 1;
		tx_finish("field increment");
	}
}

/* The durable-commit workloads (benchmarks/durable_commits.py): an overwrite
 * d[k] = v of an existing key of a dict of OVERWRITE_KEYS entries, and ten
 * inserts of new keys in one transaction. */
#define OVERWRITE_KEYS 1000
#define MULTI_WRITES 10

static void dict_fill_small(uint64_t n)
{
	(void)n;
	dict_fill(OVERWRITE_KEYS, 0);
}

/* d[k] = k + 1 for an existing key, each its own transaction: as ht_set, the
 * entry's meta, key and value snapshotted, the value written */
static void dict_overwrite_int(uint64_t n)
{
	struct ht *h = &cur_dict->ht;
	for (uint64_t k = 0; k < n; k++) {
		int64_t i = (int64_t)((k * READ_STRIDE) % read_size);
		tx_begin();
		int64_t e = ht_find(h, int_hash(i), i, 0, NULL, 0);
		if (e < 0)
			die("dict_overwrite_int: missing key");
		struct entry *p = ht_entry(h, (uint64_t)e);
		add_range(p, 3 * sizeof(uint64_t));
		p->value = (uint64_t)k + 1;
		tx_finish("dict overwrite");
	}
}

/* ten d[i] = i for new keys in one transaction; n counts transactions */
static void dict_insert10_tx(uint64_t n)
{
	struct ht *h = &cur_dict->ht;
	for (uint64_t k = 0; k < n; k++) {
		tx_begin();
		for (int j = 0; j < MULTI_WRITES; j++) {
			int64_t i = (int64_t)next_key++;
			uint64_t hash = int_hash(i);
			if (ht_find(h, hash, i, 0, NULL, 0) < 0)
				ht_insert(h, hash, TAG_INT, (uint64_t)i, TAG_INT, (uint64_t)i);
		}
		tx_finish("dict insert x10");
	}
}

/* prepare (may be NULL) runs untimed before every trial, with its n */
static const struct {
	const char *name;
	void (*run)(uint64_t n);
	void (*prepare)(uint64_t n);
} workloads[] = {
	{"empty_tx", empty_tx, NULL},
	{"alloc_free_64", alloc_free_64, NULL},
	{"root_assign_int", root_assign_int, NULL},
	{"dict_insert_int", dict_insert_int, dict_fresh},
	{"dict_insert_str", dict_insert_str, dict_fresh},
	{"dict_get_int", dict_get_int, dict_fill_int},
	{"dict_get_bytes", dict_get_bytes, dict_fill_bytes},
	{"list_append_tx", list_append_tx, list_new},
	{"list_iter", list_iter, list_fill},
	{"field_inc", field_inc, NULL},
	{"dict_overwrite_int", dict_overwrite_int, dict_fill_small},
	{"dict_insert10_tx", dict_insert10_tx, dict_fresh},
};

#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

/* Present when benchmarks/c/flushcount.c is preloaded: the msync, fsync,
 * fdatasync, sync_file_range and syncfs calls so far. */
#define NFLUSHCOUNTS 5
extern void flushcount_read(unsigned long long out[NFLUSHCOUNTS]) __attribute__((weak));

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s --list | WORKLOAD [--dir DIR] [-n N] [--repeats R]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		printf("[");
		for (size_t w = 0; w < NWORKLOADS; w++)
			printf("%s\"%s\"", w ? ", " : "", workloads[w].name);
		printf("]\n");
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-')
		usage(argv[0]);
	size_t w = 0;
	while (w < NWORKLOADS && strcmp(workloads[w].name, argv[1]) != 0)
		w++;
	if (w == NWORKLOADS) {
		fprintf(stderr, "bench_pmemobj: unknown workload %s\n", argv[1]);
		return 2;
	}
	/* threads share one arena, as in the core */
	enum pobj_arenas_assignment_type global = POBJ_ARENAS_ASSIGNMENT_GLOBAL;
	pmemobj_ctl_set(NULL, "heap.arenas_assignment_type", &global);
	/* the same options as the Python workload scripts */
	const char *dir = "/dev/shm";
	long long n = 200000, repeats = 3;
	for (int a = 2; a < argc; a++) {
		if (a + 1 == argc)
			usage(argv[0]);
		if (strcmp(argv[a], "--dir") == 0)
			dir = argv[++a];
		else if (strcmp(argv[a], "-n") == 0)
			n = atoll(argv[++a]);
		else if (strcmp(argv[a], "--repeats") == 0)
			repeats = atoll(argv[++a]);
		else
			usage(argv[0]);
	}
	if (n < 1 || repeats < 1) {
		fprintf(stderr, "bench_pmemobj: -n and --repeats must be positive\n");
		return 2;
	}

	char path[4096];
	snprintf(path, sizeof(path), "%s/bench-c-%s-%ld.pool", dir,
		 workloads[w].name, (long)getpid());
	pop = pmemobj_create(path, LAYOUT, POOL_SIZE, 0600);
	if (pop == NULL)
		die(path);
	PMEMoid root = pmemobj_root(pop, sizeof(struct root));
	if (OID_IS_NULL(root))
		die("pmemobj_root");
	rootp = pmemobj_direct(root);
	register_classes();
	int is_pmem = pmem_is_pmem(rootp, sizeof(*rootp));

	/* warm up: fault in the pool, the lanes and the allocator's caches */
	uint64_t warm = n / 10 < 10000 ? (n / 10 ? n / 10 : 1) : 10000;
	if (workloads[w].prepare)
		workloads[w].prepare((uint64_t)n);
	workloads[w].run(warm);

	unsigned long long flushes[NFLUSHCOUNTS] = {0};
	uint64_t best = UINT64_MAX;
	double all[64];
	int kept = 0;
	for (long long r = 0; r < repeats; r++) {
		if (workloads[w].prepare)
			workloads[w].prepare((uint64_t)n);
		unsigned long long before[NFLUSHCOUNTS], after[NFLUSHCOUNTS];
		if (flushcount_read)
			flushcount_read(before);
		uint64_t t0 = now_ns();
		workloads[w].run(n);
		uint64_t dt = now_ns() - t0;
		if (flushcount_read) {
			flushcount_read(after);
			for (int c = 0; c < NFLUSHCOUNTS; c++)
				flushes[c] += after[c] - before[c];
		}
		if (dt == 0)
			dt = 1;
		if (dt < best)
			best = dt;
		if (kept < 64)
			all[kept++] = (double)dt / (double)n;
	}
	pmemobj_close(pop);
	unlink(path);

	const char *force = getenv("PMEM_IS_PMEM_FORCE");
	printf("{\"system\": \"c\", \"workload\": \"%s\", \"n\": %llu, "
	       "\"repeats\": %lld, \"best_ns\": %llu, \"ns_per_op\": %.3f, "
	       "\"ops_per_s\": %.1f, \"is_pmem\": %s, \"pmem_is_pmem_force\": ",
	       workloads[w].name, (unsigned long long)n, repeats,
	       (unsigned long long)best, (double)best / (double)n,
	       (double)n * 1e9 / (double)best, is_pmem ? "true" : "false");
	if (force && force[0] && strspn(force, "0123456789") == strlen(force))
		printf("\"%s\"", force);
	else
		printf("null");
	printf(", \"all_ns_per_op\": [");
	for (int i = 0; i < kept; i++)
		printf("%s%.3f", i ? ", " : "", all[i]);
	printf("]");
	if (flushcount_read) /* over every timed repeat */
		printf(", \"flush_calls\": [%llu, %llu, %llu, %llu, %llu]", flushes[0], flushes[1],
		       flushes[2], flushes[3], flushes[4]);
	printf(", \"durability\": \"%s\"}\n",
	       is_pmem ? "CPU cache flushes" : "msync per flush");
	return 0;
}
