# The journal: durability "power" on a file that is not persistent memory,
# at one flush of the disk per commit.
#
# libpmemobj orders its writes with drains: an undo entry is durable before
# the data it covers changes, the data before the log is discarded.  Each
# drain on a disk file is an msync that waits for the device: three or more
# per transaction.  A journal pool keeps those rules without a device wait
# per drain:
#   - its mapping is private (copy on write): nothing libpmemobj writes
#     reaches the pool file behind the core's back, so the file changes only
#     as the core says;
#   - a drain copies what was flushed since the last one (its current bytes)
#     into a record being built: the state a power loss right after that
#     drain would leave on persistent memory;
#   - the end of every outermost transaction writes the record into the
#     journal (a block of the pool's own heap, named by the root's `journal`
#     field) and waits for the disk once (fdatasync).  A record is checksummed
#     whole: after a power loss it is there entirely or not at all, so the
#     state on the disk moves from one commit to the next, never between;
#   - when the journal is half full, at close() and before a backup, a
#     checkpoint writes the pages the records touched into the pool file,
#     waits for the disk, and starts a new epoch (records of other epochs are
#     never replayed);
#   - opening a pool replays the records of the current epoch into the file
#     (in order: later bytes win) before libpmemobj or any check reads it.
# A transaction that flushes more than half the journal writes its records
# as it goes (each cut at a drain, a state libpmemobj recovers from); one
# drain bigger than the whole journal goes straight into the pool file after
# the journal's records, drain by drain, each waited for: libpmemobj's own
# order, as without a journal.
# PMEMOBJ_JOURNAL=0 opens pools without one (an msync per drain, merged as
# _durability.pxi says); PMEMOBJ_JOURNAL_SIZE sets the size of new journals.
# (included by _core.pyx, after _durability.pxi whose flush functions call it)


cdef extern from *:
    """
    #include <fcntl.h>
    #include <sys/file.h>
    #include <sys/random.h>
    #include <sys/stat.h>
    #include <sys/vfs.h>
    #include <time.h>
    #include <xxhash.h>

    #define PYP_J_HDR_MAGIC 0x314c4e524a505950ULL     /* "PYPJRNL1" */
    #define PYP_J_REC_MAGIC 0x3143455250595950ULL     /* "PYYPREC1" */
    #define PYP_J_HDR 64
    #define PYP_J_PAGE 4096
    #define PYP_J_GAP 64            /* noted ranges this close are merged (the bytes between go too) */

    typedef struct { uint64_t magic, self, cap, epoch, pad[3], check; } pyp_jhdr_t;
    /* a record: this header, then entries {off, len, bytes padded to 8}; `check`
     * covers the first four words and the entries */
    typedef struct { uint64_t magic, epoch, seq, len, check, pad[3]; } pyp_jrec_t;
    typedef struct { uint64_t off, len; } pyp_jent_t;
    typedef struct { char *lo, *hi; } pyp_jrange_t;

    typedef struct {
        int on;
        int fd;
        char *base;
        size_t size;
        uint64_t joff, cap;         /* the journal block: header at joff, records after it */
        uint64_t epoch, seq, used;  /* used: bytes of records in this epoch */
        size_t nodrop;              /* pages below this stay private at a checkpoint (the descriptor) */
        pyp_jrange_t *noted;        /* flushed since the last drain */
        size_t nnoted, capnoted;
        char *pend;                 /* the record being built: header, then what the drains copied */
        size_t npend, cappend;
        size_t *groups;             /* where each drain's entries end in pend */
        size_t ngroups, capgroups;
        char *jmem;                 /* the records of this epoch, as written */
        uint8_t *dirty;             /* a bit per page changed since the last checkpoint */
        void *keep;                 /* a page of libpmemobj's shared mapping: holds its lock on the file */
        size_t npages;
        long records, checkpoints, spills, syncs;
        pthread_mutex_t lock;
    } pyp_jrnl_t;

    static pyp_jrnl_t pyp_jrnl[PYP_DUR_POOLS];

    static void pyp_j_fatal(const char *what) {
        /* as libpmemobj does when a flush fails: the pool can no longer keep its promise */
        perror(what);
        abort();
    }

    static int pyp_j_pwrite(int fd, const char *p, size_t n, uint64_t off) {
        while (n) {
            ssize_t w = pwrite(fd, p, n, (off_t)off);
            if (w < 0) {
                if (errno == EINTR) continue;
                return -1;
            }
            p += w; n -= (size_t)w; off += (uint64_t)w;
        }
        return 0;
    }

    static int pyp_j_pread(int fd, char *p, size_t n, uint64_t off) {
        while (n) {
            ssize_t r = pread(fd, p, n, (off_t)off);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) { if (r == 0) errno = EIO; return -1; }
            p += r; n -= (size_t)r; off += (uint64_t)r;
        }
        return 0;
    }

    static int pyp_j_sync(int fd) {
        while (fdatasync(fd) != 0)
            if (errno != EINTR) return -1;
        return 0;
    }

    static uint64_t pyp_j_nonce(uint64_t old) {
        uint64_t r = 0;
        struct timespec ts;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) r = 0;
        clock_gettime(CLOCK_REALTIME, &ts);
        r ^= XXH64(&ts, sizeof ts, old ^ ((uint64_t)getpid() << 17));
        return (r == 0 || r == old) ? r + 1 : r;
    }

    static uint64_t pyp_j_rec_check(const char *rec, uint64_t len) {
        return XXH64(rec + PYP_J_HDR, len, XXH64(rec, 4 * sizeof(uint64_t), 0));
    }

    static int pyp_j_write_header(int fd, uint64_t joff, uint64_t cap, uint64_t epoch) {
        pyp_jhdr_t h;
        memset(&h, 0, sizeof h);
        h.magic = PYP_J_HDR_MAGIC;
        h.self = joff;
        h.cap = cap;
        h.epoch = epoch;
        h.check = XXH64(&h, offsetof(pyp_jhdr_t, check), 0);
        if (pyp_j_pwrite(fd, (const char *)&h, sizeof h, joff) != 0) return -1;
        return pyp_j_sync(fd);
    }

    /* The entries of a record body into the file; -2 if one lies outside it
     * or on the journal itself. */
    static int pyp_j_apply(int fd, const char *p, uint64_t n, uint64_t fsize, uint64_t jlo, uint64_t jhi) {
        uint64_t i = 0;
        while (i < n) {
            pyp_jent_t e;
            if (n - i < sizeof e) return -2;
            memcpy(&e, p + i, sizeof e);
            i += sizeof e;
            uint64_t padded = (e.len + 7) & ~(uint64_t)7;
            if (e.len == 0 || padded < e.len || padded > n - i || e.off > fsize || e.len > fsize - e.off
                || (e.off < jhi && e.off + e.len > jlo))
                return -2;
            if (pyp_j_pwrite(fd, p + i, e.len, e.off) != 0) return -1;
            i += padded;
        }
        return 0;
    }

    /* Replay the journal of a pool file that is not open: the records of the
     * current epoch into the file, then a new epoch.  Returns the number of
     * records replayed; -1 with errno on an I/O error; -2 for a record that
     * passes its checksum but names bytes outside the file; -3 when another
     * open file holds the pool (libpmemobj's lock): nothing is touched. */
    static long pyp_j_replay(const char *path, uint64_t root_at, uint64_t field) {
        long count = 0;
        char *buf = NULL;
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) return -1;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            errno = e;
            return e == EWOULDBLOCK ? -3 : -1;
        }
        struct stat st;
        uint64_t root = 0, joff = 0, fsize;
        pyp_jhdr_t h;
        if (fstat(fd, &st) != 0) goto io;
        fsize = (uint64_t)st.st_size;
        if (fsize < 8192 + PYP_J_HDR) goto done;
        if (pyp_j_pread(fd, (char *)&root, 8, root_at) != 0) goto io;
        if (root < 8192 || root % 8 || root > fsize - field - 8) goto done;
        if (pyp_j_pread(fd, (char *)&joff, 8, root + field) != 0) goto io;
        if (joff < 8192 || joff % 8 || joff > fsize - PYP_J_HDR) goto done;
        if (pyp_j_pread(fd, (char *)&h, sizeof h, joff) != 0) goto io;
        if (h.magic != PYP_J_HDR_MAGIC || h.self != joff || h.check != XXH64(&h, offsetof(pyp_jhdr_t, check), 0)
            || h.cap == 0 || h.cap > fsize - joff - PYP_J_HDR)
            goto done;                  /* no journal (or a header torn at its creation: nothing written after it) */
        buf = malloc(h.cap);
        if (buf == NULL) { errno = ENOMEM; goto io; }
        if (pyp_j_pread(fd, buf, h.cap, joff + PYP_J_HDR) != 0) goto io;
        uint64_t pos = 0;
        while (h.cap - pos >= PYP_J_HDR) {
            pyp_jrec_t r;
            memcpy(&r, buf + pos, sizeof r);
            if (r.magic != PYP_J_REC_MAGIC || r.epoch != h.epoch || r.seq != (uint64_t)count
                || r.len > h.cap - pos - PYP_J_HDR || r.check != pyp_j_rec_check(buf + pos, r.len))
                break;                  /* the end: never written, torn, or of an older epoch */
            int rc = pyp_j_apply(fd, buf + pos + PYP_J_HDR, r.len, fsize, joff, joff + PYP_J_HDR + h.cap);
            if (rc == -2) { count = -2; goto done; }
            if (rc != 0) goto io;
            pos += PYP_J_HDR + r.len;
            count++;
        }
        if (count > 0 && (pyp_j_sync(fd) != 0 || pyp_j_write_header(fd, joff, h.cap, pyp_j_nonce(h.epoch)) != 0))
            goto io;
    done:
        free(buf);
        close(fd);                      /* (drops the lock) */
        return count;
    io:
        {
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
        }
        return -1;
    }

    static int pyp_j_grow(void **p, size_t *cap, size_t need, size_t item) {
        if (need <= *cap) return 0;
        size_t c = *cap ? *cap : 16;
        while (c < need) c *= 2;
        void *q = realloc(*p, c * item);
        if (q == NULL) return -1;
        *p = q;
        *cap = c;
        return 0;
    }

    /* (the functions below run with j->lock held) */

    static void pyp_j_mark(pyp_jrnl_t *j, uint64_t off, uint64_t len) {
        for (uint64_t pg = off / PYP_J_PAGE; pg <= (off + len - 1) / PYP_J_PAGE && pg < j->npages; pg++)
            j->dirty[pg / 8] |= (uint8_t)(1u << (pg % 8));
    }

    static int pyp_j_cmp(const void *a, const void *b) {
        const pyp_jrange_t *x = a, *y = b;
        return x->lo < y->lo ? -1 : x->lo > y->lo;
    }

    /* One range's bytes as they are now, appended to the record being built. */
    static void pyp_j_emit(pyp_jrnl_t *j, const char *lo, const char *hi) {
        if (lo >= hi) return;
        uint64_t off = (uint64_t)(lo - j->base), len = (uint64_t)(hi - lo);
        uint64_t padded = (len + 7) & ~(uint64_t)7;
        if (pyp_j_grow((void **)&j->pend, &j->cappend, j->npend + sizeof(pyp_jent_t) + padded, 1) != 0)
            pyp_j_fatal("pmemobj: no memory for the journal");
        pyp_jent_t e = {off, len};
        memcpy(j->pend + j->npend, &e, sizeof e);
        memcpy(j->pend + j->npend + sizeof e, lo, len);
        memset(j->pend + j->npend + sizeof e + len, 0, padded - len);
        j->npend += sizeof e + padded;
        pyp_j_mark(j, off, len);
    }

    /* What was flushed since the last drain, copied into the record being built. */
    static void pyp_j_capture(pyp_jrnl_t *j) {
        if (j->nnoted == 0) return;
        if (j->nnoted > 1) qsort(j->noted, j->nnoted, sizeof *j->noted, pyp_j_cmp);
        size_t k = 0;
        for (size_t i = 1; i < j->nnoted; i++) {
            if (j->noted[i].lo <= j->noted[k].hi + PYP_J_GAP) {
                if (j->noted[i].hi > j->noted[k].hi) j->noted[k].hi = j->noted[i].hi;
            } else {
                j->noted[++k] = j->noted[i];
            }
        }
        /* (nothing flushes the journal's own bytes; were a range to reach
         * them, they are left out: a record never names the journal) */
        const char *jlo = j->base + j->joff, *jhi = jlo + PYP_J_HDR + j->cap;
        for (size_t i = 0; i <= k; i++) {
            const char *lo = j->noted[i].lo, *hi = j->noted[i].hi;
            if (lo < jhi && hi > jlo) {
                pyp_j_emit(j, lo, jlo);
                pyp_j_emit(j, jhi, hi);
            } else {
                pyp_j_emit(j, lo, hi);
            }
        }
        j->nnoted = 0;
        if (pyp_j_grow((void **)&j->groups, &j->capgroups, j->ngroups + 1, sizeof(size_t)) != 0)
            pyp_j_fatal("pmemobj: no memory for the journal");
        j->groups[j->ngroups++] = j->npend;
    }

    /* The record being built into the journal, waited for. */
    static void pyp_j_write_record(pyp_jrnl_t *j) {
        pyp_jrec_t r;
        memset(&r, 0, sizeof r);
        r.magic = PYP_J_REC_MAGIC;
        r.epoch = j->epoch;
        r.seq = j->seq;
        r.len = j->npend - PYP_J_HDR;
        memcpy(j->pend, &r, sizeof r);
        r.check = pyp_j_rec_check(j->pend, r.len);
        memcpy(j->pend, &r, sizeof r);
        if (pyp_j_pwrite(j->fd, j->pend, j->npend, j->joff + PYP_J_HDR + j->used) != 0 || pyp_j_sync(j->fd) != 0)
            pyp_j_fatal("pmemobj: writing the journal of a pool failed");
        memcpy(j->jmem + j->used, j->pend, j->npend);
        j->used += j->npend;
        j->seq++;
        j->records++;
        j->syncs++;
        j->npend = PYP_J_HDR;
        j->ngroups = 0;
    }

    static void pyp_j_new_epoch(pyp_jrnl_t *j) {
        j->epoch = pyp_j_nonce(j->epoch);
        if (pyp_j_write_header(j->fd, j->joff, j->cap, j->epoch) != 0)
            pyp_j_fatal("pmemobj: writing the journal of a pool failed");
        j->used = 0;
        j->seq = 0;
        j->syncs++;
    }

    /* Make room in the journal at any drain: its records into the pool file
     * (the bytes they hold: the pages themselves may hold more recent,
     * undrained changes), then a new epoch. */
    static void pyp_j_apply_records(pyp_jrnl_t *j) {
        uint64_t pos = 0, jlo = j->joff, jhi = j->joff + PYP_J_HDR + j->cap;
        while (pos < j->used) {
            pyp_jrec_t r;
            memcpy(&r, j->jmem + pos, sizeof r);
            if (pyp_j_apply(j->fd, j->jmem + pos + PYP_J_HDR, r.len, j->size, jlo, jhi) != 0)
                pyp_j_fatal("pmemobj: writing a pool's journal into the pool failed");
            pos += PYP_J_HDR + r.len;
        }
        if (j->used) {
            if (pyp_j_sync(j->fd) != 0) pyp_j_fatal("pmemobj: writing a pool's journal into the pool failed");
            j->syncs++;
            pyp_j_new_epoch(j);
        }
    }

    /* A transaction's record has grown past half the journal (at a drain). */
    static void pyp_j_spill(pyp_jrnl_t *j) {
        uint64_t len = j->npend;
        j->spills++;
        if (j->used + len <= j->cap) { pyp_j_write_record(j); return; }
        pyp_j_apply_records(j);
        if (len <= j->cap) { pyp_j_write_record(j); return; }
        /* bigger than the journal: drain by drain into the pool file, in order */
        size_t start = PYP_J_HDR;
        for (size_t g = 0; g < j->ngroups; g++) {
            if (pyp_j_apply(j->fd, j->pend + start, j->groups[g] - start, j->size, j->joff,
                            j->joff + PYP_J_HDR + j->cap) != 0 || pyp_j_sync(j->fd) != 0)
                pyp_j_fatal("pmemobj: writing a pool failed");
            j->syncs++;
            start = j->groups[g];
        }
        j->npend = PYP_J_HDR;
        j->ngroups = 0;
    }

    /* At a moment between transactions with nothing pending: the pages the
     * records touched, from the mapping, into the pool file; then a new epoch,
     * and the private copies of those pages dropped (the file holds them now). */
    static void pyp_j_checkpoint(pyp_jrnl_t *j) {
        size_t pg = 0, wrote = 0;
        while (pg < j->npages) {
            if (j->dirty[pg / 8] == 0) { pg = (pg / 8 + 1) * 8; continue; }     /* eight clean pages */
            if (!(j->dirty[pg / 8] & (1u << (pg % 8)))) { pg++; continue; }
            size_t end = pg;
            while (end < j->npages && (j->dirty[end / 8] & (1u << (end % 8)))) end++;
            uint64_t off = (uint64_t)pg * PYP_J_PAGE, len = (uint64_t)(end - pg) * PYP_J_PAGE;
            if (off + len > j->size) len = j->size - off;
            /* never the journal's own bytes: the mapping's copy of a page it
             * shares with a heap block is stale there */
            uint64_t jlo = j->joff, jhi = j->joff + PYP_J_HDR + j->cap;
            uint64_t a1 = off, e1 = off + len < jlo ? off + len : jlo;
            uint64_t a2 = off > jhi ? off : jhi, e2 = off + len;
            if ((a1 < e1 && pyp_j_pwrite(j->fd, j->base + a1, e1 - a1, a1) != 0)
                || (a2 < e2 && pyp_j_pwrite(j->fd, j->base + a2, e2 - a2, a2) != 0))
                pyp_j_fatal("pmemobj: writing a pool's checkpoint failed");
            wrote = 1;
            pg = end;
        }
        if (wrote) {
            if (pyp_j_sync(j->fd) != 0) pyp_j_fatal("pmemobj: writing a pool's checkpoint failed");
            j->syncs++;
        }
        pyp_j_new_epoch(j);
        for (pg = 0; pg < j->npages; ) {
            if (j->dirty[pg / 8] == 0) { pg = (pg / 8 + 1) * 8; continue; }
            if (pg < j->nodrop || !(j->dirty[pg / 8] & (1u << (pg % 8)))) { pg++; continue; }
            size_t end = pg;
            while (end < j->npages && (j->dirty[end / 8] & (1u << (end % 8)))) end++;
            madvise(j->base + (uint64_t)pg * PYP_J_PAGE, (end - pg) * PYP_J_PAGE, MADV_DONTNEED);
            pg = end;
        }
        memset(j->dirty, 0, (j->npages + 7) / 8);
        j->checkpoints++;
    }

    /* -- called by the flush functions of _durability.pxi ------------------ */

    static int pyp_jrnl_note(int slot, const char *a, const char *e) {
        pyp_jrnl_t *j = &pyp_jrnl[slot];
        if (!__atomic_load_n(&j->on, __ATOMIC_ACQUIRE))
            return 0;
        if (a >= e) return 1;
        pthread_mutex_lock(&j->lock);
        if (j->nnoted && a >= j->noted[j->nnoted - 1].lo && a <= j->noted[j->nnoted - 1].hi + PYP_J_GAP) {
            if (e > j->noted[j->nnoted - 1].hi) j->noted[j->nnoted - 1].hi = (char *)e;
        } else {
            if (pyp_j_grow((void **)&j->noted, &j->capnoted, j->nnoted + 1, sizeof *j->noted) != 0)
                pyp_j_fatal("pmemobj: no memory for the journal");
            j->noted[j->nnoted].lo = (char *)a;
            j->noted[j->nnoted].hi = (char *)e;
            j->nnoted++;
        }
        pthread_mutex_unlock(&j->lock);
        return 1;
    }

    static void pyp_jrnl_drain(int slot) {
        pyp_jrnl_t *j = &pyp_jrnl[slot];
        if (!__atomic_load_n(&j->on, __ATOMIC_ACQUIRE)) return;
        pthread_mutex_lock(&j->lock);
        pyp_j_capture(j);
        if (j->npend > j->cap / 2)
            pyp_j_spill(j);
        pthread_mutex_unlock(&j->lock);
    }

    /* -- called by the core ------------------------------------------------ */

    /* The end of an outermost transaction (or any write between them): what
     * it drained, durable in one record. */
    static void pyp_jrnl_commit(int slot) {
        if (slot < 0 || !__atomic_load_n(&pyp_jrnl[slot].on, __ATOMIC_ACQUIRE)) return;
        pyp_jrnl_t *j = &pyp_jrnl[slot];
        pthread_mutex_lock(&j->lock);
        pyp_j_capture(j);
        if (j->npend > PYP_J_HDR) {
            if (j->used + j->npend > j->cap)
                pyp_j_apply_records(j);
            if (j->npend > j->cap)
                pyp_j_spill(j);
            else
                pyp_j_write_record(j);
        }
        if (j->used > j->cap / 2)
            pyp_j_checkpoint(j);
        pthread_mutex_unlock(&j->lock);
    }

    /* Everything into the pool file (close, backup, sync). */
    static void pyp_jrnl_checkpoint(int slot) {
        if (slot < 0 || !__atomic_load_n(&pyp_jrnl[slot].on, __ATOMIC_ACQUIRE)) return;
        pyp_jrnl_t *j = &pyp_jrnl[slot];
        pyp_jrnl_commit(slot);
        pthread_mutex_lock(&j->lock);
        pyp_j_checkpoint(j);
        pthread_mutex_unlock(&j->lock);
    }

    /* Start journaling a pool that has the "power" functions of _durability.pxi
     * in `slot`: a new epoch in the block at joff, then the mapping made private.
     * 0, or -1 with errno (nothing changed). */
    static int pyp_jrnl_start(int slot, const char *path, char *base, size_t size, uint64_t joff,
                              uint64_t cap, size_t nodrop) {
        pyp_jrnl_t *j = &pyp_jrnl[slot];
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) return -1;
        size_t npages = (size + PYP_J_PAGE - 1) / PYP_J_PAGE;
        char *jmem = malloc(cap), *pend = malloc(PYP_J_HDR + 65536);
        uint8_t *dirty = calloc((npages + 7) / 8, 1);
        uint64_t epoch = pyp_j_nonce(0);
        void *priv = MAP_FAILED, *keep = MAP_FAILED;
        if (jmem == NULL || pend == NULL || dirty == NULL) { errno = ENOMEM; goto fail; }
        if (pyp_j_write_header(fd, joff, cap, epoch) != 0) goto fail;
        /* a private mapping of the same file, then moved over libpmemobj's
         * (mremap replaces it in one step, or fails leaving it in place).
         * libpmemobj's lock on the file (flock, which keeps other processes
         * from opening the pool) lives as long as its open file does, which
         * its mapping holds: one page of that mapping is kept, elsewhere. */
        priv = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
        if (priv == MAP_FAILED) goto fail;
        keep = mmap(NULL, PYP_J_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (keep == MAP_FAILED) goto fail;
        if (mremap(base, PYP_J_PAGE, PYP_J_PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, keep) == MAP_FAILED) {
            munmap(keep, PYP_J_PAGE);
            keep = MAP_FAILED;
            goto fail;
        }
        if (mremap(priv, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, base) == MAP_FAILED) {
            int e = errno;
            if (mremap(keep, PYP_J_PAGE, PYP_J_PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, base) == MAP_FAILED)
                pyp_j_fatal("pmemobj: cannot restore the mapping of a pool");
            errno = e;
            goto fail;
        }
        pthread_mutex_destroy(&j->lock);
        memset(j, 0, sizeof *j);
        pthread_mutex_init(&j->lock, NULL);
        j->fd = fd;
        j->base = base;
        j->size = size;
        j->joff = joff;
        j->cap = cap;
        j->epoch = epoch;
        j->nodrop = nodrop;
        j->jmem = jmem;
        j->pend = pend;
        j->cappend = PYP_J_HDR + 65536;
        j->npend = PYP_J_HDR;
        j->dirty = dirty;
        j->npages = npages;
        j->keep = keep;
        j->syncs = 1;
        __atomic_add_fetch(&pyp_jrnl_pools, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&j->on, 1, __ATOMIC_RELEASE);
        return 0;
    fail:
        {
            int e = errno;
            if (priv != MAP_FAILED) munmap(priv, size);
            free(jmem); free(pend); free(dirty);
            close(fd);
            errno = e;
        }
        return -1;
    }

    /* Stop journaling (the pool is closing): everything into the file first
     * when `checkpoint`. */
    static void pyp_jrnl_stop(int slot, int checkpoint) {
        if (slot < 0 || !__atomic_load_n(&pyp_jrnl[slot].on, __ATOMIC_ACQUIRE)) return;
        pyp_jrnl_t *j = &pyp_jrnl[slot];
        if (checkpoint) pyp_jrnl_checkpoint(slot);
        pthread_mutex_lock(&j->lock);
        __atomic_store_n(&j->on, 0, __ATOMIC_RELEASE);
        __atomic_sub_fetch(&pyp_jrnl_pools, 1, __ATOMIC_RELAXED);
        close(j->fd);
        munmap(j->keep, PYP_J_PAGE);       /* (the pool is closing: its lock goes) */
        free(j->noted); free(j->pend); free(j->groups); free(j->jmem); free(j->dirty);
        j->noted = NULL; j->pend = NULL; j->groups = NULL; j->jmem = NULL; j->dirty = NULL;
        j->nnoted = j->npend = j->ngroups = 0;
        j->capnoted = j->cappend = j->capgroups = 0;
        pthread_mutex_unlock(&j->lock);
    }

    /* 1 if the file lies in memory (tmpfs, ramfs): no medium to wait for */
    static int pyp_j_in_memory(const char *path) {
        struct statfs s;
        if (statfs(path, &s) != 0) return 0;
        return s.f_type == 0x01021994 || s.f_type == (typeof(s.f_type))0x858458f6;
    }

    static int pyp_jrnl_on(int slot) { return slot >= 0 && __atomic_load_n(&pyp_jrnl[slot].on, __ATOMIC_ACQUIRE); }

    #define PYP_JOURNAL_IN_ROOT offsetof(pyp_root_t, journal)
    """
    ctypedef struct pyp_jrnl_t:
        uint64_t joff, cap, used
        long records, checkpoints, spills, syncs
    pyp_jrnl_t pyp_jrnl[64]
    size_t PYP_JOURNAL_IN_ROOT
    size_t PYP_J_HDR_SIZE "PYP_J_HDR"
    uint64_t PYP_J_HDR_MAGIC
    long pyp_j_replay(const char *path, uint64_t root_at, uint64_t field) nogil
    void pyp_jrnl_commit(int slot) nogil
    void pyp_jrnl_checkpoint(int slot) nogil
    int pyp_jrnl_start(int slot, const char *path, char *base, size_t size, uint64_t joff, uint64_t cap,
                       size_t nodrop) nogil
    void pyp_jrnl_stop(int slot, int checkpoint) nogil
    int pyp_jrnl_on(int slot) nogil
    int pyp_j_in_memory(const char *path) nogil


# PMEMOBJ_JOURNAL: "auto" (the default) journals pools at "power" on a disk,
# not those in memory (tmpfs: an msync there costs a system call, no wait);
# "0" none (an msync per drain instead); "1" every pool at "power" that is
# not persistent memory, in memory too (for tests)
_JOURNAL_MODE = os.environ.get("PMEMOBJ_JOURNAL", "auto")


cdef uint64_t _journal_size(uint64_t pool_size):
    """The records a new journal holds: about a 64th of the pool, up to 64 MiB,
    in a block that fills whole chunks of 256 KiB (libpmemobj's 16-byte
    header included); in a pool under 16 MiB, seven units of the largest
    run class (_heap.pxi) instead of a chunk.  PMEMOBJ_JOURNAL_SIZE, in
    bytes, sets it (for tests)."""
    want = os.environ.get("PMEMOBJ_JOURNAL_SIZE")
    if want:
        return max(int(want), 4096) // 8 * 8
    cdef uint64_t chunk = 256 << 10
    cdef uint64_t chunks = min(pool_size // 64 // chunk, 256)
    if chunks == 0:
        return 114784 - PYP_J_HDR_SIZE      # (_heap.pxi's MULTI_MAX)
    return chunks * chunk - 16 - PYP_J_HDR_SIZE


def _in_memory(path):
    """Whether *path* lies on a file system in memory (tmpfs, ramfs)."""
    cdef bytes p = os.fsencode(path)
    return bool(pyp_j_in_memory(p))


def _replay_journal(filename):
    """Before anything reads a pool file: the commits its journal holds, into
    the file.  Returns how many records it replayed; a file that is not a
    regular file, or a pool open anywhere (libpmemobj's lock), is left alone."""
    if not os.path.isfile(filename):
        return 0
    cdef bytes path = os.fsencode(filename)
    cdef const char *cpath = path
    cdef long n
    cdef uint64_t root_at = _ROOT_OFFSET_AT
    with nogil:
        n = pyp_j_replay(cpath, root_at, PYP_JOURNAL_IN_ROOT)
    if n == -1:
        if errno in (_errno.EACCES, _errno.EPERM, _errno.EROFS):
            return 0            # a file this process cannot write: the open says so
        raise OSError(errno, f"cannot replay the journal of the pool: {os.strerror(errno)}", filename)
    if n == -2:
        raise InvalidPoolError(EINVAL, "damaged pool: a record of its journal names bytes outside the pool",
                               filename)
    return max(n, 0)            # -3: open elsewhere, left alone (the open then says so)


cdef int _mm_journal_start(MemoryManager self) except -1:
    """After the open: give a pool at "power" on a disk its journal (the
    block is created at the first such open and kept)."""
    self.jslot = -1
    if (_JOURNAL_MODE == "0" or self.durability != "power" or self.is_pmem or self.max_size
            or self.dur_slot < 0):
        return 0
    cdef bytes path = os.fsencode(self.filename)
    cdef const char *cpath = path
    if _JOURNAL_MODE != "1" and pyp_j_in_memory(cpath):
        return 0
    cdef uint64_t joff = self.rootp.journal
    cdef uint64_t cap
    if joff:
        usable = self.usable_size(joff)
        cap = _journal_cap_in(self, joff)
        if cap == 0 or cap + PYP_J_HDR_SIZE > usable:
            cap = usable - PYP_J_HDR_SIZE if usable > PYP_J_HDR_SIZE + 4096 else 0
        if cap == 0:
            return 0
    else:
        cap = _journal_size(self.pool_size)
        self.begin()
        try:
            self.snapshot(&self.rootp.journal, 8)
            joff = self.alloc(cap + PYP_J_HDR_SIZE, PYP_TYPE_NUM_RAW, False)
            self.rootp.journal = joff
        except PoolFullError:
            self.end(False)
            return 0                    # no room: flushes per drain, as without a journal
        except BaseException:
            self.end(False)
            raise
        self.end(True)
    cdef uint64_t lanes = (<uint64_t *>(self.base + 4096 + 1024))[0]
    cdef int rc
    with nogil:
        rc = pyp_jrnl_start(self.dur_slot, cpath, self.base, self.pool_size, joff, cap, lanes // 4096)
    if rc != 0:
        return 0                # (no memory for a private mapping): flushes per drain, as without one
    self.jslot = self.dur_slot
    return 0


cdef uint64_t _journal_cap_in(MemoryManager self, uint64_t joff) except? 0:
    """The capacity an existing journal block's header gives (0 if it has none)."""
    cdef uint64_t *h = <uint64_t *>self.ptr(joff, PYP_J_HDR_SIZE)
    if h[0] != PYP_J_HDR_MAGIC or h[1] != joff:
        return 0
    return h[2]


cdef int _mm_journal_checkpoint(MemoryManager self) except -1:
    if self.jslot >= 0:
        with nogil:
            pyp_jrnl_checkpoint(self.jslot)
    return 0


cdef int _mm_journal_stop(MemoryManager self, bint checkpoint) except -1:
    if self.jslot >= 0:
        with nogil:
            pyp_jrnl_stop(self.jslot, checkpoint)
        self.jslot = -1
    return 0


cdef dict _mm_journal_info(MemoryManager self):
    if self.jslot < 0 or not pyp_jrnl_on(self.jslot):
        return None
    cdef pyp_jrnl_t *j = &pyp_jrnl[self.jslot]
    return {"offset": j.joff, "capacity": j.cap, "used": j.used, "records": j.records,
            "checkpoints": j.checkpoints, "spills": j.spills, "syncs": j.syncs}
