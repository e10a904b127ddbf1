/* Power-loss simulator, loaded with LD_PRELOAD into one child process.
 *
 * The file named by PWRLOSS_FILE is the page cache: everything the process
 * writes to it (through shared mappings, pwrite, posix_fallocate, ...) lands
 * there at once.  The shadow file PWRLOSS_SHADOW is the medium: a page of the
 * file reaches it only at a durability point of the file, i.e.
 *   - msync(MS_SYNC) of a range of a shared mapping of the file: those pages
 *     (libpmem's pmem_msync, which libpmemobj uses for every flush on a file
 *     that is not persistent memory, rounds to pages and calls msync);
 *   - fsync/fdatasync of a descriptor of the file, sync(), syncfs(): all pages.
 * Each also makes the file's size durable.  Calls that make data durable on
 * real persistent memory only (pmem_drain, pmem_persist, pmem_memcpy/
 * memmove/memset without PMEM_F_MEM_NODRAIN, as libpmemobj calls them with
 * PMEM_IS_PMEM_FORCE=1) are durability points that carry no page: they are
 * counted and can be cut, but nothing reaches the medium through them.
 *
 * At the PWRLOSS_CUT-th point the power fails: of the pages that point would
 * make durable, a random subset reaches the medium (each page with
 * probability 1/2, the size too); each other page that differs from the
 * medium reaches it with probability PWRLOSS_P (the kernel writing back
 * early), and so does the size; then the process ends with _exit(113).
 * Without PWRLOSS_CUT the shadow holds, at exit, what a power failure right
 * after the process ended would leave.
 *
 * With PWRLOSS_IMAGES=DIR the process does not end: at each point listed in
 * PWRLOSS_AT ("all" or "N,M,...", ascending) it writes DIR/cut-N.img, the
 * medium that a power failure at point N would leave (the same as the shadow
 * after PWRLOSS_CUT=N with the same seed), appends "N RECORD_SIZE" to
 * DIR/index (RECORD_SIZE: the size of the file PWRLOSS_RECORD at that moment,
 * where the workload notes what it has seen return), and goes on.  It keeps
 * at most PWRLOSS_PENDING (default 8) images that the reader has not deleted.
 *
 * PWRLOSS_SEED seeds the choices (they depend on the seed and the point only);
 * PWRLOSS_COUNT names a file that receives the number of points at exit;
 * PWRLOSS_DROP=N makes every N-th point bring nothing to the medium (a
 * device that loses flushes: shows that the checks see lost flushes).
 * Without PWRLOSS_FILE the library does nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define POWER_LOST 113                  /* exit status after the simulated power failure */
#define GAVE_UP 112                     /* exit status when the simulator cannot go on */
#define PMEM_F_MEM_NODRAIN (1U << 0)    /* libpmem.h */
#define PMEM_F_MEM_NOFLUSH (1U << 5)    /* (implies NODRAIN) */
#define CHUNK (1 << 20)

struct mapping { char *addr; size_t len; off_t off; };
struct range { off_t off, len; };

static struct {
    int on;
    const char *path, *shadow_path, *images, *record, *count_path;
    long cut, drop, events, images_written;
    double p;
    uint64_t seed;
    int image_all;
    long *image_at;
    size_t n_image_at, next_image;
    long *ring;                 /* points of the last images written, for the reader's pace */
    int pending;
    int known;
    dev_t dev;
    ino_t ino;
    int src, shadow;            /* the file (read-only, our own descriptor) and the medium */
    size_t page;
    off_t durable_size;
    struct mapping *maps;
    size_t nmaps, cap;
} S = { .src = -1, .shadow = -1 };

/* recursive: libc may call back into an interposed function while we hold it */
static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static void *(*real_mremap)(void *, size_t, size_t, int, ...);
static int (*real_msync)(void *, size_t, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static void (*real_sync)(void);
static int (*real_syncfs)(int);

static void resolve(void)
{
    *(void **)&real_mmap = dlsym(RTLD_NEXT, "mmap");
    *(void **)&real_munmap = dlsym(RTLD_NEXT, "munmap");
    *(void **)&real_mremap = dlsym(RTLD_NEXT, "mremap");
    *(void **)&real_msync = dlsym(RTLD_NEXT, "msync");
    *(void **)&real_fsync = dlsym(RTLD_NEXT, "fsync");
    *(void **)&real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    *(void **)&real_sync = dlsym(RTLD_NEXT, "sync");
    *(void **)&real_syncfs = dlsym(RTLD_NEXT, "syncfs");
}

#define REAL(name) (real_##name ? real_##name : (resolve(), real_##name))

static void die(const char *what)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "powerloss simulator: %s: %s\n", what, strerror(errno));
    if (write(2, buf, (size_t)n) < 0) { /* nothing more to say */ }
    _exit(GAVE_UP);
}

/* -- random choices: splitmix64, seeded by the seed and the point -------- */

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int chance(uint64_t *s, double p)
{
    return (double)(mix(s) >> 11) * (1.0 / 9007199254740992.0) < p;
}

/* -- file helpers ------------------------------------------------------- */

static void pread_all(int fd, char *buf, size_t len, off_t off)
{
    while (len) {
        ssize_t n = pread(fd, buf, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("pread");
        if (n == 0) {               /* past the end: reads as zeros */
            memset(buf, 0, len);
            return;
        }
        buf += n, len -= (size_t)n, off += n;
    }
}

static void pwrite_all(int fd, const char *buf, size_t len, off_t off)
{
    while (len) {
        ssize_t n = pwrite(fd, buf, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("pwrite");
        buf += n, len -= (size_t)n, off += n;
    }
}

static off_t size_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/* Copy the data of `from` into `to` (same size), leaving holes as holes. */
static void copy_sparse(int from, int to)
{
    static char buf[CHUNK];
    off_t end = size_of(from), data = 0, hole;
    if (ftruncate(to, end) != 0)
        die("ftruncate");
    while (data < end && (data = lseek(from, data, SEEK_DATA)) >= 0) {
        hole = lseek(from, data, SEEK_HOLE);
        if (hole < 0)
            hole = end;
        while (data < hole) {
            size_t n = (size_t)(hole - data < CHUNK ? hole - data : CHUNK);
            pread_all(from, buf, n, data);
            pwrite_all(to, buf, n, data);
            data += (off_t)n;
        }
    }
}

/* -- which descriptors and mappings are the file ------------------------ */

static int is_file(int fd)
{
    struct stat st;
    if (!S.known) {
        if (stat(S.path, &st) != 0)
            return 0;
        S.dev = st.st_dev, S.ino = st.st_ino, S.known = 1;
    }
    return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == S.dev && st.st_ino == S.ino;
}

static int source(void)
{
    if (S.src < 0 && (S.src = open(S.path, O_RDONLY | O_CLOEXEC)) < 0 && errno != ENOENT)
        die("open the file");
    return S.src;
}

/* Forget [addr, addr+len) from the table: trim or split what overlaps it. */
static void forget(char *addr, size_t len)
{
    char *end = addr + len;
    for (size_t i = 0; i < S.nmaps; i++) {
        struct mapping m = S.maps[i];
        char *mend = m.addr + m.len;
        if (mend <= addr || m.addr >= end)
            continue;
        if (m.addr < addr && mend > end && S.nmaps == S.cap)
            continue;               /* no room to split (never happens with the table's size) */
        S.maps[i] = S.maps[--S.nmaps];
        if (m.addr < addr)
            S.maps[S.nmaps++] = (struct mapping){ m.addr, (size_t)(addr - m.addr), m.off };
        if (mend > end)
            S.maps[S.nmaps++] = (struct mapping){ end, (size_t)(mend - end), m.off + (end - m.addr) };
        i--;
    }
}

static void remember(char *addr, size_t len, off_t off)
{
    if (S.nmaps == S.cap) {
        S.cap = S.cap ? 2 * S.cap : 16;
        S.maps = realloc(S.maps, S.cap * sizeof *S.maps);
        if (S.maps == NULL)
            die("realloc");
    }
    S.maps[S.nmaps++] = (struct mapping){ addr, len, off };
}

/* The pages of the file that [addr, addr+len) maps: into r (at most S.nmaps). */
static size_t file_ranges(char *addr, size_t len, struct range *r)
{
    size_t n = 0;
    char *end = addr + len;
    for (size_t i = 0; i < S.nmaps; i++) {
        struct mapping m = S.maps[i];
        char *a = addr > m.addr ? addr : m.addr, *b = end < m.addr + m.len ? end : m.addr + m.len;
        if (a >= b)
            continue;
        off_t off = m.off + (a - m.addr), stop = m.off + (b - m.addr);
        off -= off % (off_t)S.page;
        stop += (off_t)((S.page - (size_t)stop % S.page) % S.page);
        r[n++] = (struct range){ off, stop - off };
    }
    return n;
}

/* -- durability points -------------------------------------------------- */

static int in_ranges(off_t off, const struct range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (off >= r[i].off && off < r[i].off + r[i].len)
            return 1;
    return 0;
}

/* Bring pages of [off, off+len) of the file that differ from the medium into
 * `out`, each with probability p (1: all of them). */
static void settle(int out, off_t off, off_t len, double p, uint64_t *rng,
                   const struct range *skip, size_t nskip)
{
    static char a[CHUNK], b[CHUNK];
    int src = source();
    for (off_t at = off; at < off + len; at += CHUNK) {
        size_t n = (size_t)(off + len - at < CHUNK ? off + len - at : CHUNK);
        pread_all(src, a, n, at);
        pread_all(S.shadow, b, n, at);
        for (size_t i = 0; i < n; i += S.page) {
            size_t k = n - i < S.page ? n - i : S.page;
            if (memcmp(a + i, b + i, k) == 0 || in_ranges(at + (off_t)i, skip, nskip))
                continue;
            if (p >= 1 || chance(rng, p))
                pwrite_all(out, a + i, k, at + (off_t)i);
        }
    }
}

/* What the medium holds if the power fails during point `e`, whose own
 * pages are r[0..n): written over `out`, which holds the medium. */
static void power_fails(long e, const struct range *r, size_t n, int out)
{
    uint64_t rng = S.seed ^ ((uint64_t)e * 0xd1342543de82ef95ULL);
    off_t size = source() >= 0 ? size_of(S.src) : 0, durable = S.durable_size;
    for (size_t i = 0; i < n; i++) {
        off_t end = r[i].off + r[i].len < size ? r[i].off + r[i].len : size;
        if (end > r[i].off)
            settle(out, r[i].off, end - r[i].off, 0.5, &rng, NULL, 0);
    }
    if (size != durable && chance(&rng, n ? 0.5 : 0.0))
        durable = size;
    if (size != durable && chance(&rng, S.p))
        durable = size;
    if (S.p > 0 && size > 0)
        settle(out, 0, size, S.p, &rng, r, n);
    if (ftruncate(out, durable) != 0)
        die("ftruncate");
}

static int wanted(long e)
{
    if (S.image_all)
        return 1;
    while (S.next_image < S.n_image_at && S.image_at[S.next_image] < e)
        S.next_image++;
    return S.next_image < S.n_image_at && S.image_at[S.next_image] == e;
}

static void image_name(char *buf, size_t size, long e)
{
    snprintf(buf, size, "%s/cut-%08ld.img", S.images, e);
}

/* Wait until the reader has taken all but PWRLOSS_PENDING - 1 of the images. */
static void pace(void)
{
    char name[4096];
    if (S.images_written < S.pending)
        return;
    image_name(name, sizeof name, S.ring[S.images_written % S.pending]);
    for (int waited = 0; access(name, F_OK) == 0; waited++) {
        if (waited > 600 * 1000) {
            errno = ETIMEDOUT;
            die("nobody takes the images");
        }
        usleep(1000);
    }
}

static void write_image(long e, const struct range *r, size_t n)
{
    char name[4096], tmp[4200], line[64];
    pace();
    image_name(name, sizeof name, e);
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        die("create an image");
    copy_sparse(S.shadow, fd);
    power_fails(e, r, n, fd);
    close(fd);
    if (rename(tmp, name) != 0)
        die("rename an image");
    struct stat st;
    long record = S.record && stat(S.record, &st) == 0 ? (long)st.st_size : -1;
    int len = snprintf(line, sizeof line, "%ld %ld\n", e, record);
    char index[4200];
    snprintf(index, sizeof index, "%s/index", S.images);
    fd = open(index, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, line, (size_t)len) != len)       /* one short line: one write */
        die("write the index");
    close(fd);
    S.ring[S.images_written % S.pending] = e;
    S.images_written++;
}

/* A durability point whose own pages are r[0..n) (n == 0: none). */
static void point(const struct range *r, size_t n)
{
    long e = ++S.events;
    if (e == S.cut) {
        power_fails(e, r, n, S.shadow);
        _exit(POWER_LOST);
    }
    if (S.images && wanted(e))
        write_image(e, r, n);
    if (n == 0 || (S.drop > 0 && e % S.drop == 0))
        return;
    off_t size = source() >= 0 ? size_of(S.src) : 0;
    uint64_t unused = 0;
    for (size_t i = 0; i < n; i++) {
        off_t end = r[i].off + r[i].len < size ? r[i].off + r[i].len : size;
        if (end > r[i].off)
            settle(S.shadow, r[i].off, end - r[i].off, 1, &unused, NULL, 0);
    }
    if (S.durable_size != size && ftruncate(S.shadow, size) != 0)
        die("ftruncate the shadow");
    S.durable_size = size;
}

static void whole_file_point(void)
{
    if (source() < 0)
        return;
    struct range all = { 0, size_of(S.src) };
    point(&all, 1);
}

/* -- set-up --------------------------------------------------------------- */

static long *parse_points(const char *s, size_t *n)
{
    size_t cap = 16;
    long *v = malloc(cap * sizeof *v);
    *n = 0;
    while (v && *s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s)
            break;
        if (*n == cap && !(v = realloc(v, (cap *= 2) * sizeof *v)))
            break;
        v[(*n)++] = x;
        s = *end == ',' ? end + 1 : end;
    }
    return v;
}

__attribute__((constructor)) static void init(void)
{
    const char *s;
    S.path = getenv("PWRLOSS_FILE");
    S.shadow_path = getenv("PWRLOSS_SHADOW");
    if (!S.path || !S.shadow_path)
        return;
    S.page = (size_t)sysconf(_SC_PAGESIZE);
    S.cut = (s = getenv("PWRLOSS_CUT")) ? atol(s) : 0;
    S.drop = (s = getenv("PWRLOSS_DROP")) ? atol(s) : 0;
    S.p = (s = getenv("PWRLOSS_P")) ? atof(s) : 0.0;
    S.seed = (s = getenv("PWRLOSS_SEED")) ? strtoull(s, NULL, 10) : 0;
    S.images = getenv("PWRLOSS_IMAGES");
    S.record = getenv("PWRLOSS_RECORD");
    S.count_path = getenv("PWRLOSS_COUNT");
    S.pending = (s = getenv("PWRLOSS_PENDING")) && atoi(s) > 0 ? atoi(s) : 8;
    if (S.images) {
        s = getenv("PWRLOSS_AT");
        S.image_all = !s || strcmp(s, "all") == 0;
        if (!S.image_all)
            S.image_at = parse_points(s, &S.n_image_at);
        S.ring = calloc((size_t)S.pending, sizeof *S.ring);
        if (!S.ring)
            die("calloc");
    }
    /* the medium starts as a copy of the file if it exists (as if synced), else empty */
    S.shadow = open(S.shadow_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (S.shadow < 0)
        die("create the shadow file");
    if (source() >= 0) {
        copy_sparse(S.src, S.shadow);
        S.durable_size = size_of(S.src);
    }
    resolve();
    S.on = 1;
}

__attribute__((destructor)) static void fini(void)
{
    if (!S.on || !S.count_path)
        return;
    FILE *f = fopen(S.count_path, "w");
    if (f) {
        fprintf(f, "%ld\n", S.events);
        fclose(f);
    }
}

/* -- the interposed calls -------------------------------------------------- */

#define LOCKED(body) do { int saved = errno; pthread_mutex_lock(&lock); body; \
                          pthread_mutex_unlock(&lock); errno = saved; } while (0)

static int shared(int flags)
{
    int type = flags & MAP_TYPE;
    return type == MAP_SHARED || type == MAP_SHARED_VALIDATE;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *r = REAL(mmap)(addr, len, prot, flags, fd, off);
    if (S.on && r != MAP_FAILED)
        LOCKED(forget(r, len);
               if (fd >= 0 && !(flags & MAP_ANONYMOUS) && shared(flags) && is_file(fd))
                   remember(r, len, off));
    return r;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
    __attribute__((alias("mmap")));

int munmap(void *addr, size_t len)
{
    int r = REAL(munmap)(addr, len);
    if (S.on && r == 0)
        LOCKED(forget(addr, len));
    return r;
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *want = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        want = va_arg(ap, void *);
        va_end(ap);
    }
    void *r = REAL(mremap)(old, old_len, new_len, flags, want);
    if (S.on && r != MAP_FAILED)
        LOCKED(off_t off = -1;
               for (size_t i = 0; i < S.nmaps; i++)
                   if ((char *)old >= S.maps[i].addr && (char *)old < S.maps[i].addr + S.maps[i].len)
                       off = S.maps[i].off + ((char *)old - S.maps[i].addr);
               forget(old, old_len);
               forget(r, new_len);
               if (off >= 0)
                   remember(r, new_len, off));
    return r;
}

int msync(void *addr, size_t len, int flags)
{
    int r = REAL(msync)(addr, len, flags);
    if (S.on && r == 0 && (flags & MS_SYNC))
        LOCKED(struct range *rs = S.nmaps ? malloc(S.nmaps * sizeof *rs) : NULL;
               size_t n = rs ? file_ranges(addr, len, rs) : 0;
               if (n)
                   point(rs, n);
               free(rs));
    return r;
}

int fsync(int fd)
{
    int r = REAL(fsync)(fd);
    if (S.on && r == 0)
        LOCKED(if (is_file(fd)) whole_file_point());
    return r;
}

int fdatasync(int fd)
{
    int r = REAL(fdatasync)(fd);
    if (S.on && r == 0)
        LOCKED(if (is_file(fd)) whole_file_point());
    return r;
}

void sync(void)
{
    REAL(sync)();
    if (S.on)
        LOCKED(whole_file_point());
}

int syncfs(int fd)
{
    int r = REAL(syncfs)(fd);
    if (S.on && r == 0)
        LOCKED(whole_file_point());
    return r;
}

/* libpmem's durability points on persistent memory (libpmemobj calls them
 * when the file is taken for persistent memory, e.g. PMEM_IS_PMEM_FORCE=1) */

/* libpmem is loaded by a Python extension without RTLD_GLOBAL, out of
 * RTLD_NEXT's reach: look the real functions up in it by name. */
static void *libpmem(const char *name)
{
    static void *handle;
    if (!handle)
        handle = dlopen("libpmem.so.1", RTLD_LAZY | RTLD_NOLOAD);
    void *f = handle ? dlsym(handle, name) : NULL;
    if (!f) {
        errno = ENOENT;
        die(name);
    }
    return f;
}

#define DRAINS(f) (!((f) & (PMEM_F_MEM_NODRAIN | PMEM_F_MEM_NOFLUSH)))

#define FORWARD(ret, name, params, args, is_point)                         \
    ret name params                                                         \
    {                                                                       \
        static ret (*real) params;                                          \
        if (!real)                                                          \
            *(void **)&real = libpmem(#name);                               \
        ret r = real args;                                                  \
        if (S.on && (is_point))                                             \
            LOCKED(point(NULL, 0));                                         \
        return r;                                                           \
    }

FORWARD(void *, pmem_memcpy, (void *d, const void *s, size_t n, unsigned f), (d, s, n, f), DRAINS(f))
FORWARD(void *, pmem_memmove, (void *d, const void *s, size_t n, unsigned f), (d, s, n, f), DRAINS(f))
FORWARD(void *, pmem_memset, (void *d, int c, size_t n, unsigned f), (d, c, n, f), DRAINS(f))

void pmem_persist(const void *addr, size_t len)
{
    static void (*real)(const void *, size_t);
    if (!real)
        *(void **)&real = libpmem("pmem_persist");
    real(addr, len);
    if (S.on)
        LOCKED(point(NULL, 0));
}

void pmem_drain(void)
{
    static void (*real)(void);
    if (!real)
        *(void **)&real = libpmem("pmem_drain");
    real();
    if (S.on)
        LOCKED(point(NULL, 0));
}
