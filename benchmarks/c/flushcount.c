/*
 * Counts the calls that make writes durable: a shared library preloaded
 * (LD_PRELOAD) into a benchmark process by benchmarks/durable_commits.py.
 * Each wrapper counts, then calls the C library's function.
 *
 *   flushcount_read(out)  out[0..4]: msync, fsync, fdatasync, sync_file_range,
 *                         syncfs + sync, as counted so far in this process
 *   flushcount_mark(s)    writes "# s" into the trace
 *
 * With FLUSHCOUNT_TRACE=PATH every msync is also written to PATH as
 * "msync ADDR LEN" (hex), and every pmem_msync (libpmemobj's flush of a range
 * on a file that is not persistent memory, before libpmem rounds it to pages)
 * as "pmem_msync ADDR LEN", so each can be placed in the pool's layout.
 *
 * Build: cc -O2 -shared -fPIC -o flushcount.so flushcount.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { C_MSYNC, C_FSYNC, C_FDATASYNC, C_SYNC_FILE_RANGE, C_SYNCFS, NCOUNTS };

static unsigned long long counts[NCOUNTS];
static int trace_fd = -1;

static void count(int which)
{
	__atomic_fetch_add(&counts[which], 1, __ATOMIC_RELAXED);
}

static void *next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);
	if (f == NULL) {
		fprintf(stderr, "flushcount: no %s after this library\n", name);
		abort();
	}
	return f;
}

__attribute__((constructor)) static void flushcount_init(void)
{
	const char *path = getenv("FLUSHCOUNT_TRACE");
	if (path && *path)
		trace_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

void flushcount_read(unsigned long long out[NCOUNTS])
{
	for (int i = 0; i < NCOUNTS; i++)
		out[i] = __atomic_load_n(&counts[i], __ATOMIC_RELAXED);
}

void flushcount_mark(const char *s)
{
	if (trace_fd < 0)
		return;
	char line[256];
	int n = snprintf(line, sizeof(line), "# %s\n", s);
	if (n > 0)
		(void)!write(trace_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void trace(const char *what, const void *addr, size_t len)
{
	char line[80];
	int n = snprintf(line, sizeof(line), "%s %lx %zx\n", what, (unsigned long)(uintptr_t)addr, len);
	if (n > 0)
		(void)!write(trace_fd, line, (size_t)n);
}

/* libpmem's: only traced, its msync is counted.  A Python extension loads
 * libpmem privately (RTLD_LOCAL), out of RTLD_NEXT's reach: then it is found
 * by its name, already loaded since its caller is. */
int pmem_msync(const void *addr, size_t len)
{
	static int (*real)(const void *, size_t);
	if (!real) {
		void *h = dlopen("libpmem.so.1", RTLD_LAZY | RTLD_NOLOAD);
		real = (int (*)(const void *, size_t))(h ? dlsym(h, "pmem_msync") : next("pmem_msync"));
		if (!real)
			real = (int (*)(const void *, size_t))next("pmem_msync");
	}
	if (trace_fd >= 0)
		trace("pmem_msync", addr, len);
	return real(addr, len);
}

int msync(void *addr, size_t len, int flags)
{
	static int (*real)(void *, size_t, int);
	if (!real)
		real = (int (*)(void *, size_t, int))next("msync");
	count(C_MSYNC);
	if (trace_fd >= 0)
		trace("msync", addr, len);
	return real(addr, len, flags);
}

int fsync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))next("fsync");
	count(C_FSYNC);
	return real(fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))next("fdatasync");
	count(C_FDATASYNC);
	return real(fd);
}

int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags)
{
	static int (*real)(int, off_t, off_t, unsigned int);
	if (!real)
		real = (int (*)(int, off_t, off_t, unsigned int))next("sync_file_range");
	count(C_SYNC_FILE_RANGE);
	return real(fd, offset, nbytes, flags);
}

int syncfs(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))next("syncfs");
	count(C_SYNCFS);
	return real(fd);
}

void sync(void)
{
	static void (*real)(void);
	if (!real)
		real = (void (*)(void))next("sync");
	count(C_SYNCFS);
	real();
}
