/*
 * The physical limit: the same pool work as benchmarks/workloads_pmemobj.py,
 * done straight on libpmemobj from C.  The collection workloads mirror the
 * on-media layout and the snapshots of PersistentDict (include/pyp_hashtable.h:
 * a dense entry array and a sparse index, snapshotting one index slot, one
 * entry and the counters per insertion) and PersistentList (include/pyp_list.h:
 * a slot array grown by doubling).
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

/* ---- collections: PersistentDict's hash table, PersistentList's array ---- */

struct header {
	uint64_t refcount;
	uint64_t type_id;
};

struct ht { /* pyp_ht_t */
	uint64_t used, nentries, fill, log2_size, capacity, index, entries;
};

struct dict { /* pyp_dict_t */
	struct header h;
	struct ht ht;
};

struct entry { /* pyp_ht_entry_t */
	uint64_t hash;
	struct slot key;
	struct slot value;
};

struct text { /* pyp_bytes_t: a str or bytes object */
	struct header h;
	uint64_t hash;
	uint64_t size;
	char data[];
};

struct list { /* pyp_list_t */
	struct header h;
	uint64_t size, capacity, items;
};

#define HT_LOG2_MIN 3
#define HT_USABLE(log2) ((((uint64_t)1 << (log2)) << 1) / 3)
#define IX_DUMMY UINT32_MAX /* 32-bit index slots: tables below 2**33 slots */
#define LIST_MIN_CAPACITY 8
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
	PMEMoid oid = zero ? pmemobj_tx_zalloc(n, type_num) : pmemobj_tx_alloc(n, type_num);
	if (OID_IS_NULL(oid))
		die("pmemobj_tx_alloc");
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

static int slot_is_text(const struct slot *k, uint64_t tid, const char *s, size_t n)
{
	if (k->tag != TAG_REF)
		return 0;
	const struct text *t = at(k->payload);
	return t->h.type_id == tid && t->size == n && memcmp(t->data, s, n) == 0;
}

/* The entry number of a key, or -1: an int key (s == NULL) or a text key. */
static int64_t ht_find(const struct ht *h, uint64_t hash, int64_t ikey, uint64_t tid, const char *s, size_t n)
{
	if (!h->index)
		return -1;
	const uint32_t *ix = at(h->index);
	const struct entry *en = at(h->entries);
	uint64_t mask = ((uint64_t)1 << h->log2_size) - 1, i = hash & mask, perturb = hash;
	for (;;) {
		uint32_t v = ix[i];
		if (v == 0)
			return -1;
		if (v != IX_DUMMY) {
			const struct entry *e = &en[v - 1];
			if (e->hash == hash && e->key.tag != TAG_EMPTY &&
			    (s ? slot_is_text(&e->key, tid, s, n)
			       : e->key.tag == TAG_INT && (int64_t)e->key.payload == ikey))
				return v - 1;
		}
		perturb >>= 5;
		i = (i * 5 + perturb + 1) & mask;
	}
}

static uint64_t ht_free_slot(const uint32_t *ix, uint64_t mask, uint64_t hash)
{
	uint64_t i = hash & mask, perturb = hash;
	while (ix[i] != 0 && ix[i] != IX_DUMMY) {
		perturb >>= 5;
		i = (i * 5 + perturb + 1) & mask;
	}
	return i;
}

/* Rebuild with room for `minused` entries, as ht_resize: new arrays, the
 * 56-byte header snapshotted, the old arrays freed. */
static void ht_resize(struct ht *h, uint64_t minused)
{
	uint64_t log2 = HT_LOG2_MIN;
	while (HT_USABLE(log2) < minused)
		log2++;
	uint64_t cap = HT_USABLE(log2), mask = ((uint64_t)1 << log2) - 1, j = 0;
	uint64_t new_ix = tx_alloc((mask + 1) * 4, TYPE_NUM_RAW, 1);
	uint64_t new_en = tx_alloc(cap * sizeof(struct entry), TYPE_NUM_RAW, 0);
	uint32_t *ix = at(new_ix);
	struct entry *en = at(new_en);
	if (h->index) {
		const struct entry *old = at(h->entries);
		for (uint64_t i = 0; i < h->nentries; i++) {
			if (old[i].key.tag == TAG_EMPTY)
				continue;
			en[j] = old[i];
			ix[ht_free_slot(ix, mask, old[i].hash)] = (uint32_t)(j + 1);
			j++;
		}
	}
	uint64_t old_ix = h->index, old_en = h->entries;
	add_range(h, sizeof(*h));
	h->nentries = h->fill = j;
	h->log2_size = log2;
	h->capacity = cap;
	h->index = new_ix;
	h->entries = new_en;
	if (old_ix) {
		tx_free(old_ix);
		tx_free(old_en);
	}
}

/* Append an entry for an absent key, as ht_insert: one index slot, one entry
 * and the three counters snapshotted. */
static void ht_insert(struct ht *h, uint64_t hash, struct slot key, struct slot value)
{
	if (!h->index || h->nentries >= h->capacity || h->fill >= h->capacity)
		ht_resize(h, h->used ? h->used * 2 : 1);
	uint32_t *ix = at(h->index);
	uint64_t n = h->nentries, s = ht_free_slot(ix, ((uint64_t)1 << h->log2_size) - 1, hash);
	int fresh = ix[s] == 0;
	add_range(&ix[s], 4);
	ix[s] = (uint32_t)(n + 1);
	struct entry *e = (struct entry *)at(h->entries) + n;
	add_range(e, sizeof(*e));
	e->hash = hash;
	e->key = key;
	e->value = value;
	add_range(h, 3 * sizeof(uint64_t));
	h->used++;
	h->nentries = n + 1;
	if (fresh)
		h->fill++;
}

static uint64_t new_text(uint64_t tid, const char *s, size_t n, uint64_t hash)
{
	uint64_t off = tx_alloc(offsetof(struct text, data) + n + 1, TYPE_NUM_OBJECT, 0);
	struct text *t = at(off);
	t->h.refcount = 1;
	t->h.type_id = tid;
	t->hash = hash;
	t->size = n;
	memcpy(t->data, s, n);
	t->data[n] = 0;
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
		if (ht_find(h, hash, i, 0, NULL, 0) < 0) {
			struct slot kv = {TAG_INT, (uint64_t)i};
			ht_insert(h, hash, kv, kv);
		}
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
		if (ht_find(h, hash, 0, T_STR, key, len) < 0) {
			struct slot ks = {TAG_REF, new_text(T_STR, key, len, hash)};
			struct slot vs = {TAG_INT, i};
			ht_insert(h, hash, ks, vs);
		}
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
		struct slot vs = {TAG_INT, i};
		if (tid) {
			size_t len = text_key(read_keys[i], i);
			uint64_t hash = XXH3_64bits(read_keys[i], len);
			struct slot ks = {TAG_REF, new_text(tid, read_keys[i], len, hash)};
			ht_insert(&cur_dict->ht, hash, ks, vs);
		} else {
			ht_insert(&cur_dict->ht, int_hash((int64_t)i), vs, vs);
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
	const struct entry *en = at(h->entries);
	int64_t sum = 0;
	for (uint64_t k = 0; k < n; k++) {
		int64_t i = (int64_t)((k * READ_STRIDE) % read_size);
		int64_t e = ht_find(h, int_hash(i), i, 0, NULL, 0);
		if (e < 0)
			die("dict_get_int: missing key");
		sum += (int64_t)en[e].value.payload;
	}
	sink = sum;
}

static void dict_get_bytes(uint64_t n)
{
	const struct ht *h = &cur_dict->ht;
	const struct entry *en = at(h->entries);
	int64_t sum = 0;
	for (uint64_t k = 0; k < n; k++) {
		const char *key = read_keys[(k * READ_STRIDE) % read_size];
		int64_t e = ht_find(h, XXH3_64bits(key, KEY_LEN), 0, T_BYTES, key, KEY_LEN);
		if (e < 0)
			die("dict_get_bytes: missing key");
		sum += (int64_t)en[e].value.payload;
	}
	sink = sum;
}

static struct list *cur_list;

static void list_free(void)
{
	if (!cur_list)
		return;
	tx_begin();
	if (cur_list->items)
		tx_free(cur_list->items);
	tx_free(pmemobj_oid(cur_list).off);
	tx_finish("list free");
	cur_list = NULL;
}

static void list_append_one(struct list *l, int64_t v)
{
	if (l->size == l->capacity) { /* as _grow_in_tx: doubled, copied, header snapshotted */
		uint64_t cap = 2 * l->capacity > LIST_MIN_CAPACITY ? 2 * l->capacity : LIST_MIN_CAPACITY;
		uint64_t items = tx_alloc(cap * sizeof(struct slot), TYPE_NUM_RAW, 0);
		if (l->size)
			memcpy(at(items), at(l->items), l->size * sizeof(struct slot));
		if (l->items)
			tx_free(l->items);
		add_range(&l->size, 3 * sizeof(uint64_t));
		l->capacity = cap;
		l->items = items;
	}
	struct slot *s = (struct slot *)at(l->items) + l->size;
	add_range(s, sizeof(*s));
	s->tag = TAG_INT;
	s->payload = (uint64_t)v;
	add_range(&l->size, 8);
	l->size++;
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
	const struct slot *s = at(cur_list->items);
	int64_t sum = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (s[i].tag != TAG_INT)
			die("list_iter: not an int");
		sum += (int64_t)s[i].payload;
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
};

#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

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
	int is_pmem = pmem_is_pmem(rootp, sizeof(*rootp));

	/* warm up: fault in the pool, the lanes and the allocator's caches */
	uint64_t warm = n / 10 < 10000 ? (n / 10 ? n / 10 : 1) : 10000;
	if (workloads[w].prepare)
		workloads[w].prepare((uint64_t)n);
	workloads[w].run(warm);

	uint64_t best = UINT64_MAX;
	double all[64];
	int kept = 0;
	for (long long r = 0; r < repeats; r++) {
		if (workloads[w].prepare)
			workloads[w].prepare((uint64_t)n);
		uint64_t t0 = now_ns();
		workloads[w].run(n);
		uint64_t dt = now_ns() - t0;
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
	printf("], \"durability\": \"%s\"}\n",
	       is_pmem ? "CPU cache flushes" : "msync per flush");
	return 0;
}
