/*
 * The physical limit for the foundation workloads: the same pool work as
 * benchmarks/workloads_pmemobj.py, done straight on libpmemobj from C.
 *
 * Uses the function API of transactions (pmemobj_tx_begin with no jmp_buf,
 * pmemobj_tx_commit, pmemobj_tx_end), the way a compiled extension calls it.
 *
 *   bench_pmemobj --list
 *   bench_pmemobj WORKLOAD [--dir DIR] [-n N] [--repeats R]
 *
 * Prints one JSON object on stdout, like the Python workload scripts.
 * Build: cc -O2 bench_pmemobj.c $(pkg-config --cflags --libs libpmemobj libpmem)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <libpmem.h>
#include <libpmemobj.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL_SIZE (64u << 20)
#define LAYOUT "pmemobj-bench-c"
#define TYPE_NUM_RAW 2 /* the core's type number for raw allocations */
#define TAG_INT 4      /* the core's slot tag for an inline int */

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

static const struct {
	const char *name;
	void (*run)(uint64_t n);
} workloads[] = {
	{"empty_tx", empty_tx},
	{"alloc_free_64", alloc_free_64},
	{"root_assign_int", root_assign_int},
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
	workloads[w].run(warm);

	uint64_t best = UINT64_MAX;
	double all[64];
	int kept = 0;
	for (long long r = 0; r < repeats; r++) {
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
