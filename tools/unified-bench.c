/* SPDX-License-Identifier: MIT */
/*
 * unified-bench: a t/io_uring-style I/O benchmark of libunified, with an
 * optional run of the identical workload on plain liburing in the same
 * invocation, so the two can be compared as a ratio.
 *
 *   unified-bench [--target PATH] [--rw randread|randwrite|read|write]
 *                 [--bs BYTES] [--qd N] [--batch N] [--runtime SEC]
 *                 [--size BYTES] [--mode kick|thread] [--spin-us N]
 *                 [--iopoll] [--prefill] [--baseline | --baseline-only]
 *                 [--interleave N] [--seed N] [--json]
 *
 * Workload, the same for both engines: QD commands kept in flight; each
 * loop publishes as many new commands as there are free slots, then waits
 * until BATCH of them (or all in flight, if fewer) have completed, then
 * reaps everything that is ready.  Offsets come from a seeded generator
 * that each engine starts from the same seed, so both issue the same
 * offsets in the same order.  --interleave N alternates the engines in N
 * slices (ABBA) so that a drifting device affects both alike.  Latency is submit -> reap on CLOCK_MONOTONIC, taken once
 * per loop (every command published in one loop shares the stamp of that
 * publish, every command reaped shares the stamp of that reap), recorded in
 * a preallocated log-linear histogram: the hot loop never allocates.
 *
 * Exit status: 0 on success; 1 if setup failed or any command completed
 * with an error; 2 for bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include <linux/nvme_ioctl.h>
#include <liburing.h>
#include "libunified.h"
#include "uapi_compat.h"	/* the one copy of newer io_uring/NVMe uapi constants */

#define NSEC_PER_SEC		1000000000ull
#define DEFAULT_SEED		0x756e6966696564ull	/* "unified" */
#define DEFAULT_FILE_SIZE	(1ull << 30)
#define PREFILL_CHUNK		(1u << 20)
#define PREFILL_QD		4u
#define DRAIN_TIMEOUT_MS	30000
#define MAX_REPORTED_ERRORS	5

enum rw_kind { RW_RANDREAD, RW_RANDWRITE, RW_READ, RW_WRITE };

static const char *const rw_names[] = { "randread", "randwrite", "read", "write" };

struct bench_cfg {
	const char *target;	/* as given, NULL = embedded default namespace */
	char path[PATH_MAX];	/* the path both engines open */
	enum rw_kind rw;
	uint32_t bs, qd, batch;
	uint32_t interleave;	/* slices per run, alternating engines */
	double runtime;
	uint64_t size;		/* span requested, 0 = whole target */
	uint32_t mode;		/* enum unified_engine_mode */
	uint32_t spin_us;	/* thread mode idle spin, 0 = library default */
	uint64_t seed;
	bool iopoll, baseline, baseline_only, prefill, json;
};

/* The target as the workload sees it. */
struct geom {
	uint32_t kind;		/* enum unified_target_kind */
	uint32_t nsid;
	uint32_t lba_shift;
	uint32_t iopoll;	/* our engine polled: the baseline polls too */
	uint64_t capacity;	/* bytes */
	uint64_t span;		/* bytes used, a multiple of bs */
	uint64_t nblocks;	/* span / bs */
};

/* --------------------------------------------------------------- histogram */

/*
 * Log-linear latency histogram (the scheme fio uses): values below 128 ns
 * have a bucket each; above, every power of two is split into 64 equal
 * buckets, so a bucket is never wider than 1/64 of its value (error under
 * 1.6 %).  Covers the whole uint64_t range in HIST_NR buckets.
 */
#define HIST_BITS	6
#define HIST_VAL	(1u << HIST_BITS)
#define HIST_NR		((64 - HIST_BITS) * HIST_VAL)

struct hist {
	uint64_t bucket[HIST_NR];
	uint64_t n, sum_ns, min_ns, max_ns;
};

static inline unsigned int hist_index(uint64_t v)
{
	unsigned int shift;

	if (v < 2 * HIST_VAL)
		return (unsigned int)v;
	shift = (unsigned int)(63 - __builtin_clzll(v)) - HIST_BITS;
	return shift * HIST_VAL + (unsigned int)(v >> shift);
}

/* Middle of bucket @idx, in ns. */
static double hist_value(unsigned int idx)
{
	unsigned int shift;
	uint64_t lo;

	if (idx < 2 * HIST_VAL)
		return idx;
	shift = idx / HIST_VAL - 1;
	lo = (uint64_t)(idx - shift * HIST_VAL) << shift;
	return (double)lo + (double)(1ull << shift) / 2.0;
}

static inline void hist_add(struct hist *h, uint64_t ns)
{
	h->bucket[hist_index(ns)]++;
	h->n++;
	h->sum_ns += ns;
	if (ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

/* Percentile @p (0..100) in microseconds, 0 if the histogram is empty. */
static double hist_pct_us(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;
	unsigned int i;

	if (!h->n)
		return 0.0;
	rank = (uint64_t)(p / 100.0 * (double)h->n + 0.999999);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_NR; i++) {
		seen += h->bucket[i];
		if (seen >= rank)
			return hist_value(i) / 1000.0;
	}
	return (double)h->max_ns / 1000.0;
}

/* --------------------------------------------------------------- workload */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Offset generator: splitmix64, reduced to [0, nblocks) by multiply-high. */
struct gen {
	uint64_t state;
	uint64_t nblocks;
	uint64_t seq;
	bool random;
};

static void gen_init(struct gen *g, const struct bench_cfg *c, const struct geom *geo)
{
	g->state = c->seed;
	g->nblocks = geo->nblocks;
	g->seq = 0;
	g->random = c->rw == RW_RANDREAD || c->rw == RW_RANDWRITE;
}

static inline uint64_t gen_next(struct gen *g)
{
	uint64_t z, b;

	if (g->random) {
		z = (g->state += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		return (uint64_t)(((unsigned __int128)z * g->nblocks) >> 64);
	}
	b = g->seq;
	if (++g->seq == g->nblocks)
		g->seq = 0;
	return b;
}

static inline bool is_read(const struct bench_cfg *c)
{
	return c->rw == RW_RANDREAD || c->rw == RW_READ;
}

/* Per-slot state of one engine: a stack of free slots and submit stamps. */
struct slots {
	uint32_t *free;		/* stack of free slot numbers */
	uint32_t nfree;
	uint64_t *t_submit;	/* ns, per slot */
};

static int slots_init(struct slots *s, uint32_t qd)
{
	uint32_t i;

	s->free = calloc(qd, sizeof(*s->free));
	s->t_submit = calloc(qd, sizeof(*s->t_submit));
	if (!s->free || !s->t_submit)
		return -ENOMEM;
	for (i = 0; i < qd; i++)
		s->free[i] = qd - 1 - i;
	s->nfree = qd;
	return 0;
}

static void slots_fini(struct slots *s)
{
	free(s->free);
	free(s->t_submit);
	s->free = NULL;
	s->t_submit = NULL;
	s->nfree = 0;
}

struct run_result {
	const char *engine;	/* "unified" or "liburing" */
	const char *mode;	/* "kick", "thread" or "" */
	bool done;
	bool failed;		/* setup or wait failure (not CQE errors) */
	uint64_t ios;		/* completions counted inside the runtime */
	uint64_t errors;	/* completions with an error, drain included */
	uint64_t ns;		/* measured time */
	double cpu_s;		/* user + system CPU time of the process */
	uint64_t kicks, sleeps;	/* engine stats (ours) */
	struct hist *h;
	char err[256];		/* first error seen */
};

static void note_error(struct run_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note_error(struct run_result *r, const char *fmt, ...)
{
	va_list ap;

	if (r->errors < MAX_REPORTED_ERRORS) {
		va_start(ap, fmt);
		fprintf(stderr, "%s: ", r->engine);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	if (!r->err[0]) {
		va_start(ap, fmt);
		vsnprintf(r->err, sizeof(r->err), fmt, ap);
		va_end(ap);
	}
	r->errors++;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static uint32_t pow2_at_least(uint64_t v)
{
	uint32_t p = 1;

	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

static void fill_pattern(void *buf, size_t len, uint64_t seed)
{
	uint64_t *p = buf;
	size_t i;

	for (i = 0; i < len / sizeof(*p); i++)
		p[i] = (seed + i) * 0x9e3779b97f4a7c15ull | 1;
}

static const char *kind_name(uint32_t kind)
{
	switch (kind) {
	case UNIFIED_TARGET_FILE: return "file";
	case UNIFIED_TARGET_BLOCK: return "block";
	case UNIFIED_TARGET_NVME: return "nvme";
	}
	return "unknown";
}

/* Span used by the workload: --size or the whole target, whole blocks of bs. */
static int set_span(const struct bench_cfg *c, struct geom *g)
{
	uint64_t want = c->size ? c->size : g->capacity;

	if (c->bs & ((1u << g->lba_shift) - 1)) {
		fprintf(stderr, "--bs %u is not a multiple of the target's %u-byte LBA\n", c->bs,
			1u << g->lba_shift);
		return -EINVAL;
	}
	if (want > g->capacity) {
		fprintf(stderr, "--size %" PRIu64 " exceeds the target's %" PRIu64 " bytes\n", want,
			g->capacity);
		return -EINVAL;
	}
	g->nblocks = want / c->bs;
	g->span = g->nblocks * c->bs;
	if (!g->nblocks) {
		fprintf(stderr, "the span (%" PRIu64 " bytes) holds no %u-byte block\n", want, c->bs);
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------- libunified side */

static void set_opts(const struct bench_cfg *c, struct unified_opts *o)
{
	struct stat st;

	memset(o, 0, sizeof(*o));
	o->mode = c->mode;
	o->idle_spin_us = c->spin_us;
	if (c->iopoll)
		o->flags |= UNIFIED_OPT_IOPOLL;
	/* A missing file is created (sparse), like the default namespace. */
	if (!c->target) {
		o->file_size = c->size > DEFAULT_FILE_SIZE ? c->size : 0;
	} else if (stat(c->path, &st) && errno == ENOENT) {
		o->flags |= UNIFIED_OPT_CREATE;
		o->file_size = c->size ? c->size : DEFAULT_FILE_SIZE;
	}
}

static int ours_register(const struct bench_cfg *c, uint32_t qd, uint32_t bufsz, uint32_t mode,
			 struct io_unified_region_desc *desc, struct unified_ctx **ctxp)
{
	struct io_unified_reg reg;
	struct unified_opts o;
	uint32_t entries = pow2_at_least(2ull * qd);
	int ret;

	memset(desc, 0, sizeof(*desc));
	memset(&reg, 0, sizeof(reg));
	reg.region_ptr = (uintptr_t)desc;
	reg.nvme_dev_path = (uintptr_t)c->target;	/* NULL: the embedded default */
	reg.sq_entries = entries;
	reg.cq_entries = entries;
	reg.buffer_entries = qd;
	reg.buffer_entry_size = bufsz < IO_UNIFIED_MIN_BUF_SIZE ? IO_UNIFIED_MIN_BUF_SIZE :
				pow2_at_least(bufsz);
	set_opts(c, &o);
	o.mode = mode;
	ret = unified_register(&reg, &o, ctxp);
	if (ret)
		fprintf(stderr, "unified_register(%s): %s\n", c->path, unified_errmsg()[0] ?
			unified_errmsg() : strerror(-ret));
	return ret;
}

static void geom_from_info(const struct unified_target_info *info, struct geom *g)
{
	g->kind = info->kind;
	g->nsid = info->nsid;
	g->lba_shift = info->lba_shift;
	g->capacity = info->nlba << info->lba_shift;
	g->iopoll = info->iopoll;
}

/* Is [0, span) of the regular file @path allocated already? */
static bool file_allocated(const char *path, uint64_t span)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t hole;

	if (fd < 0)
		return false;
	hole = lseek(fd, 0, SEEK_HOLE);
	close(fd);
	return hole >= 0 && (uint64_t)hole >= span;
}

/*
 * Write the span once, in 1 MiB commands through libunified, so that reads
 * later hit allocated blocks (a read of a hole in a sparse file is served
 * by the file system without touching the disk, which flatters any engine).
 * Skipped for a regular file whose span has no hole.
 */
static int prefill(struct bench_cfg *c)
{
	struct io_unified_region_desc desc;
	struct unified_target_info info;
	struct unified_ctx *ctx = NULL;
	struct unified_sq sq;
	struct unified_cq cq;
	struct geom g;
	uint64_t off[PREFILL_QD], pos = 0, t0, done_bytes = 0, chunk = PREFILL_CHUNK;
	uint32_t slot_free[PREFILL_QD], nfree = PREFILL_QD, inflight = 0, i, idx;
	int ret, rc = 1;

	if (ours_register(c, PREFILL_QD, PREFILL_CHUNK, UNIFIED_MODE_KICK, &desc, &ctx))
		return 1;
	unified_target_info(ctx, &info);
	geom_from_info(&info, &g);
	if (set_span(c, &g))
		goto out;
	if (info.kind == UNIFIED_TARGET_FILE && file_allocated(info.path, g.span)) {
		if (!c->json)
			printf("prefill: %s: first %" PRIu64 " MiB already allocated, skipped\n",
			       info.path, g.span >> 20);
		rc = 0;
		goto out;
	}
	/* Stay within the device's largest transfer (MDTS on NVMe). */
	if (info.max_xfer && info.max_xfer < chunk)
		chunk = info.max_xfer & ~((uint64_t)info.lba_size - 1);
	unified_sq_init(ctx, &sq);
	unified_cq_init(ctx, &cq);
	for (i = 0; i < PREFILL_QD; i++) {
		if (unified_buf_alloc(ctx, &off[i])) {
			fprintf(stderr, "prefill: unified_buf_alloc: %s\n", unified_errmsg());
			goto out;
		}
		fill_pattern(unified_buf_ptr(ctx, off[i]), PREFILL_CHUNK, i + 1);
		slot_free[i] = i;
	}
	t0 = now_ns();
	while (pos < g.span || inflight) {
		uint32_t got;

		while (nfree && pos < g.span && !interrupted) {
			uint64_t len = g.span - pos < chunk ? g.span - pos : chunk;
			uint32_t s = slot_free[--nfree];

			if (!unified_sq_reserve(&sq, 1, &idx)) {
				fprintf(stderr, "prefill: SQ full\n");
				goto out;
			}
			unified_prep_write(unified_sq_entry(&sq, idx), info.nsid, pos >> info.lba_shift,
					   (uint32_t)(len >> info.lba_shift), off[s], (uint32_t)len, s);
			unified_sq_submit(&sq, 1);
			pos += len;
			inflight++;
		}
		if (interrupted && !inflight)
			break;
		ret = unified_enter(ctx, 1, DRAIN_TIMEOUT_MS);
		if (ret < 0) {
			fprintf(stderr, "prefill: unified_enter: %s\n",
				unified_errmsg()[0] ? unified_errmsg() : strerror(-ret));
			goto out;
		}
		while ((got = unified_cq_peek(&cq, PREFILL_QD, &idx))) {
			for (i = 0; i < got; i++) {
				const struct io_unified_cqe *cqe = unified_cq_entry(&cq, idx + i);

				if (cqe->status || cqe->user_data >= PREFILL_QD) {
					fprintf(stderr, "prefill: write failed: status 0x%x (%s), res %d\n",
						cqe->status, unified_status_str(cqe->status), cqe->res);
					unified_cq_release(&cq, got);
					goto out;
				}
				slot_free[nfree++] = (uint32_t)cqe->user_data;
				done_bytes += cqe->len;
			}
			unified_cq_release(&cq, got);
			inflight -= got;
		}
	}
	if (interrupted) {
		fprintf(stderr, "prefill: interrupted\n");
		goto out;
	}
	if (!c->json) {
		double s = (double)(now_ns() - t0) / 1e9;

		printf("prefill: wrote %" PRIu64 " MiB of %s in %.2f s (%.0f MiB/s)\n", done_bytes >> 20,
		       info.path, s, (double)(done_bytes >> 20) / (s > 0 ? s : 1));
	}
	rc = 0;
out:
	if (ctx)
		unified_unregister(ctx);
	return rc;
}

/* Count a CQE of ours; returns the slot it frees, or UINT32_MAX if bogus. */
static inline uint32_t ours_check(const struct bench_cfg *c, struct run_result *r,
				  const struct io_unified_cqe *cqe)
{
	if (cqe->user_data >= c->qd) {
		note_error(r, "CQE with unknown user_data %" PRIu64, (uint64_t)cqe->user_data);
		return UINT32_MAX;
	}
	if (cqe->status)
		note_error(r, "command failed: NVMe status 0x%04x (%s)%s%s", cqe->status,
			   unified_status_str(cqe->status), cqe->res ? ", " : "",
			   cqe->res ? strerror(-cqe->res) : "");
	else if (cqe->len != c->bs)
		note_error(r, "short transfer: %u of %u bytes", cqe->len, c->bs);
	return (uint32_t)cqe->user_data;
}

/*
 * Our engine, set up once; a run is one or more timed slices.  Each slice
 * starts with nothing in flight and ends by draining (uncounted).
 */
struct ours {
	struct io_unified_region_desc desc;
	struct unified_target_info info;
	struct unified_ctx *ctx;
	struct unified_sq sq;
	struct unified_cq cq;
	struct slots sl;
	struct gen gen;
	uint64_t *bufoff;
};

static void ours_fini(struct ours *o, struct run_result *r)
{
	struct unified_stats st;
	int ret;

	free(o->bufoff);
	o->bufoff = NULL;
	slots_fini(&o->sl);
	if (!o->ctx)
		return;
	if (!unified_get_stats(o->ctx, &st)) {
		r->kicks = st.kicks;
		r->sleeps = st.sleeps;
	}
	ret = unified_unregister(o->ctx);
	o->ctx = NULL;
	if (ret) {
		fprintf(stderr, "unified_unregister: %s\n", strerror(-ret));
		r->failed = true;
	}
}

static int ours_init(const struct bench_cfg *c, struct geom *g, struct ours *o,
		     struct run_result *r)
{
	uint32_t i;

	memset(o, 0, sizeof(*o));
	r->engine = "unified";
	r->mode = c->mode == UNIFIED_MODE_THREAD ? "thread" : "kick";
	if (ours_register(c, c->qd, c->bs, c->mode, &o->desc, &o->ctx))
		goto fail;
	unified_target_info(o->ctx, &o->info);
	geom_from_info(&o->info, g);
	if (set_span(c, g))
		goto fail;
	if (o->info.max_xfer && c->bs > o->info.max_xfer) {
		fprintf(stderr, "--bs %u exceeds the target's largest transfer (%u bytes)\n", c->bs,
			o->info.max_xfer);
		goto fail;
	}
	if (c->iopoll && !o->info.iopoll && !c->json)
		printf("note: --iopoll requested, but the %s target is not polled; the baseline "
		       "will not poll either\n", kind_name(o->info.kind));
	unified_sq_init(o->ctx, &o->sq);
	unified_cq_init(o->ctx, &o->cq);
	o->bufoff = calloc(c->qd, sizeof(*o->bufoff));
	if (!o->bufoff || slots_init(&o->sl, c->qd)) {
		fprintf(stderr, "out of memory\n");
		goto fail;
	}
	for (i = 0; i < c->qd; i++) {
		if (unified_buf_alloc(o->ctx, &o->bufoff[i])) {
			fprintf(stderr, "unified_buf_alloc: %s\n", unified_errmsg());
			goto fail;
		}
		fill_pattern(unified_buf_ptr(o->ctx, o->bufoff[i]), c->bs, i + 1);
	}
	gen_init(&o->gen, c, g);
	return 0;
fail:
	ours_fini(o, r);
	r->failed = true;
	return -1;
}

/* One timed slice of @ns nanoseconds; returns the IOPS of the slice or -1. */
static double ours_slice(const struct bench_cfg *c, struct ours *o, struct run_result *r,
			 uint64_t ns)
{
	struct slots *sl = &o->sl;
	uint64_t t0, deadline, now, nlb, ios0 = r->h->n;
	uint32_t inflight = 0, i, idx, got, wait_nr, lba_shift = o->info.lba_shift;
	uint32_t nsid = o->info.nsid;
	bool thread = c->mode == UNIFIED_MODE_THREAD, counting = true, rd = is_read(c);
	double cpu0, secs = 0;
	int ret;

	nlb = c->bs >> lba_shift;
	cpu0 = cpu_seconds();
	t0 = now = now_ns();
	deadline = t0 + ns;
	for (;;) {
		if (counting && (now >= deadline || interrupted)) {
			counting = false;
			r->ns += now - t0;
			r->cpu_s += cpu_seconds() - cpu0;
			secs = (double)(now - t0) / 1e9;
		}
		if (!counting && !inflight)
			break;
		/* Publish one command per free slot, all at once. */
		if (counting && sl->nfree) {
			uint32_t n = sl->nfree;

			if (unified_sq_reserve(&o->sq, n, &idx) != n) {
				fprintf(stderr, "unified: SQ has no room for %u entries\n", n);
				return -1;
			}
			for (i = 0; i < n; i++) {
				uint32_t s = sl->free[--sl->nfree];
				uint64_t slba = (gen_next(&o->gen) * c->bs) >> lba_shift;
				struct io_unified_sqe *sqe = unified_sq_entry(&o->sq, idx + i);

				if (rd)
					unified_prep_read(sqe, nsid, slba, (uint32_t)nlb, o->bufoff[s],
							  c->bs, s);
				else
					unified_prep_write(sqe, nsid, slba, (uint32_t)nlb, o->bufoff[s],
							   c->bs, s);
				sl->t_submit[s] = now;
			}
			unified_sq_submit(&o->sq, n);
			inflight += n;
			/* Thread mode: wake the engine only if it sleeps.  Kick mode:
			 * unified_enter() below starts with the kick. */
			if (thread && unified_sq_needs_wakeup(&o->sq))
				unified_kick(o->ctx);
		}
		wait_nr = counting ? (c->batch < inflight ? c->batch : inflight) : inflight;
		ret = unified_enter(o->ctx, wait_nr, counting ? -1 : DRAIN_TIMEOUT_MS);
		if (ret < 0) {
			fprintf(stderr, "unified_enter: %s\n",
				unified_errmsg()[0] ? unified_errmsg() : strerror(-ret));
			return -1;
		}
		now = now_ns();
		while ((got = unified_cq_peek(&o->cq, c->qd, &idx))) {
			for (i = 0; i < got; i++) {
				uint32_t s = ours_check(c, r, unified_cq_entry(&o->cq, idx + i));

				if (s == UINT32_MAX)
					continue;
				if (counting)
					hist_add(r->h, now - sl->t_submit[s]);
				sl->free[sl->nfree++] = s;
			}
			unified_cq_release(&o->cq, got);
			inflight -= got;
		}
	}
	r->ios = r->h->n;
	return secs > 0 ? (double)(r->h->n - ios0) / secs : 0.0;
}

/* --------------------------------------------------------- liburing side */

/* Geometry without libunified (for --baseline-only). */
static int probe_geometry(const struct bench_cfg *c, struct geom *g)
{
	struct stat st;
	int fd;

	memset(g, 0, sizeof(*g));
	if (stat(c->path, &st) && errno == ENOENT) {
		/* Same as libunified: a missing file becomes a sparse file. */
		uint64_t sz = c->size > DEFAULT_FILE_SIZE ? c->size : DEFAULT_FILE_SIZE;

		if (c->target && c->size)
			sz = c->size;
		fd = open(c->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)sz)) {
			fprintf(stderr, "cannot create %s: %s\n", c->path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	if (stat(c->path, &st)) {
		fprintf(stderr, "%s: %s\n", c->path, strerror(errno));
		return -1;
	}
	g->nsid = 1;
	if (S_ISREG(st.st_mode)) {
		g->kind = UNIFIED_TARGET_FILE;
		g->lba_shift = 12;
		g->capacity = (uint64_t)st.st_size & ~4095ull;
		return 0;
	}
	fd = open(c->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "cannot open %s: %s\n", c->path, strerror(errno));
		return -1;
	}
	if (S_ISBLK(st.st_mode)) {
		int lbs = 0;

		g->kind = UNIFIED_TARGET_BLOCK;
		if (ioctl(fd, BLKSSZGET, &lbs) || ioctl(fd, BLKGETSIZE64, &g->capacity) || lbs < 512) {
			fprintf(stderr, "%s: cannot read the block geometry: %s\n", c->path,
				strerror(errno));
			close(fd);
			return -1;
		}
		g->lba_shift = (uint32_t)__builtin_ctz((unsigned int)lbs);
	} else if (S_ISCHR(st.st_mode)) {
		/* /dev/ngXnY: NSID by ioctl, LBA size and size from Identify Namespace. */
		struct nvme_admin_cmd cmd;
		uint8_t *id = NULL;
		unsigned int fmt, lbads;
		int nsid = ioctl(fd, NVME_IOCTL_ID);

		g->kind = UNIFIED_TARGET_NVME;
		if (nsid <= 0) {
			fprintf(stderr, "%s: NVME_IOCTL_ID failed: %s\n", c->path, strerror(errno));
			close(fd);
			return -1;
		}
		if (posix_memalign((void **)&id, 4096, 4096)) {
			fprintf(stderr, "out of memory\n");
			close(fd);
			return -1;
		}
		memset(&cmd, 0, sizeof(cmd));
		cmd.opcode = 0x06;	/* Identify, CNS 00h: namespace */
		cmd.nsid = (uint32_t)nsid;
		cmd.addr = (uintptr_t)id;
		cmd.data_len = 4096;
		if (ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd)) {
			fprintf(stderr, "%s: Identify Namespace failed: %s\n", c->path, strerror(errno));
			free(id);
			close(fd);
			return -1;
		}
		fmt = (id[26] & 0xf) | ((unsigned int)(id[26] >> 5) & 0x3) << 4;	/* FLBAS */
		lbads = id[128 + 4 * fmt + 2];
		g->nsid = (uint32_t)nsid;
		g->lba_shift = lbads;
		g->capacity = 0;
		for (int i = 7; i >= 0; i--)
			g->capacity = g->capacity << 8 | id[i];	/* NSZE, little endian */
		g->capacity <<= lbads;
		g->iopoll = c->iopoll;
		free(id);
		if (lbads < 9 || lbads > 16) {
			fprintf(stderr, "%s: odd LBA data size 2^%u\n", c->path, lbads);
			close(fd);
			return -1;
		}
	} else {
		fprintf(stderr, "%s is neither a file, a block device nor an NVMe char device\n",
			c->path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Count a CQE of the baseline; returns the slot it frees. */
static inline uint32_t base_check(const struct bench_cfg *c, const struct geom *g,
				  struct run_result *r, const struct io_uring_cqe *cqe)
{
	if (cqe->user_data >= c->qd) {
		note_error(r, "CQE with unknown user_data %" PRIu64, (uint64_t)cqe->user_data);
		return UINT32_MAX;
	}
	if (g->kind == UNIFIED_TARGET_NVME) {
		/* uring_cmd: 0 = success, > 0 NVMe status, < 0 -errno. */
		if (cqe->res > 0)
			note_error(r, "command failed: NVMe status 0x%04x (%s)", cqe->res,
				   unified_status_str((uint16_t)cqe->res));
		else if (cqe->res < 0)
			note_error(r, "command failed: %s", strerror(-cqe->res));
	} else if (cqe->res < 0) {
		note_error(r, "command failed: %s", strerror(-cqe->res));
	} else if ((uint32_t)cqe->res != c->bs) {
		note_error(r, "short transfer: %d of %u bytes", cqe->res, c->bs);
	}
	return (uint32_t)cqe->user_data;
}

static void base_prep(const struct bench_cfg *c, const struct geom *g, struct io_uring_sqe *sqe,
		      void *buf, uint64_t off, uint32_t slot)
{
	if (g->kind == UNIFIED_TARGET_NVME) {
		/* NVMe passthrough on the registered /dev/ngXnY (fixed file 0),
		 * data in registered buffer 0: SQE128 carries the 72-byte
		 * struct nvme_uring_cmd from byte 48 (sqe->cmd). */
		struct nvme_uring_cmd *nc = (struct nvme_uring_cmd *)sqe->cmd;
		uint64_t slba = off >> g->lba_shift;

		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, 0, NULL, 0, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
		sqe->cmd_op = NVME_URING_CMD_IO;
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = 0;
		memset(sqe->cmd, 0, 80);
		nc->opcode = is_read(c) ? 0x02 : 0x01;
		nc->nsid = g->nsid;
		nc->addr = (uintptr_t)buf;
		nc->data_len = c->bs;
		nc->cdw10 = (uint32_t)slba;
		nc->cdw11 = (uint32_t)(slba >> 32);
		nc->cdw12 = (c->bs >> g->lba_shift) - 1;
	} else if (is_read(c)) {
		io_uring_prep_read_fixed(sqe, 0, buf, c->bs, off, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
	} else {
		io_uring_prep_write_fixed(sqe, 0, buf, c->bs, off, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	sqe->user_data = slot;
}

/* The plain liburing engine, set up once, run in slices like ours. */
struct base {
	struct io_uring ring;
	bool ring_up;
	int fd;
	uint8_t *bufs;
	size_t bufsz, area;
	struct slots sl;
	struct gen gen;
};

static void base_fini(struct base *b)
{
	slots_fini(&b->sl);
	if (b->ring_up)
		io_uring_queue_exit(&b->ring);
	b->ring_up = false;
	if (b->bufs != MAP_FAILED)
		munmap(b->bufs, b->area);
	b->bufs = MAP_FAILED;
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

static int base_init(const struct bench_cfg *c, const struct geom *g, struct base *b,
		     struct run_result *r)
{
	struct io_uring_params p;
	struct iovec iov;
	uint32_t i;
	int ret;

	memset(b, 0, sizeof(*b));
	b->bufs = MAP_FAILED;
	r->engine = "liburing";
	r->mode = "";
	/* The same open as libunified's targets: O_DIRECT for files and block
	 * devices; the NVMe char device has no page cache. */
	if (g->kind == UNIFIED_TARGET_NVME)
		b->fd = open(c->path, O_RDWR | O_CLOEXEC);
	else
		b->fd = open(c->path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (b->fd < 0) {
		fprintf(stderr, "liburing: cannot open %s: %s\n", c->path, strerror(errno));
		goto fail;
	}
	memset(&p, 0, sizeof(p));
	if (g->kind == UNIFIED_TARGET_NVME)
		p.flags |= IORING_SETUP_SQE128 | IORING_SETUP_CQE32;
	if (g->iopoll)
		p.flags |= IORING_SETUP_IOPOLL;
	ret = io_uring_queue_init_params(pow2_at_least(2ull * c->qd), &b->ring, &p);
	if (ret < 0) {
		fprintf(stderr, "liburing: io_uring_queue_init(flags 0x%x): %s\n", p.flags,
			strerror(-ret));
		goto fail;
	}
	b->ring_up = true;
	b->bufsz = pow2_at_least(c->bs);
	b->area = b->bufsz * c->qd;
	b->bufs = mmap(NULL, b->area, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->bufs == MAP_FAILED) {
		fprintf(stderr, "liburing: no memory for buffers\n");
		goto fail;
	}
	for (i = 0; i < c->qd; i++)
		fill_pattern(b->bufs + i * b->bufsz, c->bs, i + 1);
	/* One registered buffer (index 0) holding every slot, like the
	 * engine's registered data area. */
	iov.iov_base = b->bufs;
	iov.iov_len = b->area;
	ret = io_uring_register_buffers(&b->ring, &iov, 1);
	if (ret < 0) {
		fprintf(stderr, "liburing: io_uring_register_buffers: %s\n", strerror(-ret));
		goto fail;
	}
	ret = io_uring_register_files(&b->ring, &b->fd, 1);
	if (ret < 0) {
		fprintf(stderr, "liburing: io_uring_register_files: %s\n", strerror(-ret));
		goto fail;
	}
	if (slots_init(&b->sl, c->qd)) {
		fprintf(stderr, "out of memory\n");
		goto fail;
	}
	gen_init(&b->gen, c, g);
	return 0;
fail:
	base_fini(b);
	r->failed = true;
	return -1;
}

static double base_slice(const struct bench_cfg *c, const struct geom *g, struct base *b,
			 struct run_result *r, uint64_t ns)
{
	struct slots *sl = &b->sl;
	struct io_uring_cqe *cqe;
	uint64_t t0, deadline, now, ios0 = r->h->n;
	uint32_t inflight = 0, i, wait_nr;
	unsigned int head, got;
	bool counting = true;
	double cpu0, secs = 0;
	int ret;

	cpu0 = cpu_seconds();
	t0 = now = now_ns();
	deadline = t0 + ns;
	for (;;) {
		if (counting && (now >= deadline || interrupted)) {
			counting = false;
			r->ns += now - t0;
			r->cpu_s += cpu_seconds() - cpu0;
			secs = (double)(now - t0) / 1e9;
		}
		if (!counting && !inflight)
			break;
		if (counting && sl->nfree) {
			uint32_t n = sl->nfree;

			for (i = 0; i < n; i++) {
				uint32_t s = sl->free[--sl->nfree];
				struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

				if (!sqe) {
					fprintf(stderr, "liburing: SQ has no room\n");
					return -1;
				}
				base_prep(c, g, sqe, b->bufs + s * b->bufsz, gen_next(&b->gen) * c->bs, s);
				sl->t_submit[s] = now;
			}
			inflight += n;
		}
		wait_nr = counting ? (c->batch < inflight ? c->batch : inflight) : inflight;
		do {
			ret = io_uring_submit_and_wait(&b->ring, wait_nr);
		} while (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY);
		if (ret < 0) {
			fprintf(stderr, "liburing: io_uring_submit_and_wait: %s\n", strerror(-ret));
			return -1;
		}
		now = now_ns();
		got = 0;
		io_uring_for_each_cqe(&b->ring, head, cqe) {
			uint32_t s = base_check(c, g, r, cqe);

			got++;
			if (s == UINT32_MAX)
				continue;
			if (counting)
				hist_add(r->h, now - sl->t_submit[s]);
			sl->free[sl->nfree++] = s;
		}
		io_uring_cq_advance(&b->ring, got);
		inflight -= got;
	}
	r->ios = r->h->n;
	return secs > 0 ? (double)(r->h->n - ios0) / secs : 0.0;
}

/* ------------------------------------------------------------- reporting */

static double iops_of(const struct run_result *r)
{
	return r->ns ? (double)r->ios * 1e9 / (double)r->ns : 0.0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of the sorted array @v of @n > 0 values. */
static double median(const double *v, int n)
{
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static void print_run(const struct bench_cfg *c, const struct run_result *r)
{
	double iops = iops_of(r), secs = (double)r->ns / 1e9;
	char name[32];

	snprintf(name, sizeof(name), "%s%s%s", r->engine, r->mode[0] ? " " : "", r->mode);
	printf("[%s] target=%s rw=%s bs=%u qd=%u batch=%u\n", name, c->path, rw_names[c->rw], c->bs,
	       c->qd, c->batch);
	printf("  IOPS=%.0f  BW=%.1f MiB/s  ios=%" PRIu64 " in %.2f s  errors=%" PRIu64
	       "  cpu=%.0f%%\n", iops, iops * c->bs / 1048576.0, r->ios, secs, r->errors,
	       secs > 0 ? 100.0 * r->cpu_s / secs : 0.0);
	printf("  lat(us) p50=%.1f p99=%.1f p99.9=%.1f mean=%.1f max=%.1f\n",
	       hist_pct_us(r->h, 50), hist_pct_us(r->h, 99), hist_pct_us(r->h, 99.9),
	       r->h->n ? (double)r->h->sum_ns / (double)r->h->n / 1000.0 : 0.0,
	       (double)r->h->max_ns / 1000.0);
	if (r->kicks)
		printf("  engine: %" PRIu64 " kicks, %" PRIu64 " sleeps\n", r->kicks, r->sleeps);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void json_run(const struct bench_cfg *c, const struct run_result *r)
{
	double iops = iops_of(r), secs = (double)r->ns / 1e9;

	printf("{\"engine\":");
	json_str(r->engine);
	printf(",\"mode\":");
	json_str(r->mode);
	printf(",\"ok\":%s,\"ios\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"seconds\":%.6f,"
	       "\"iops\":%.1f,\"mib_s\":%.2f,\"cpu_pct\":%.1f,", !r->failed && !r->errors ? "true" : "false",
	       r->ios, r->errors, secs, iops, iops * c->bs / 1048576.0,
	       secs > 0 ? 100.0 * r->cpu_s / secs : 0.0);
	printf("\"lat_us\":{\"p50\":%.2f,\"p99\":%.2f,\"p99_9\":%.2f,\"mean\":%.2f,\"min\":%.2f,"
	       "\"max\":%.2f}", hist_pct_us(r->h, 50), hist_pct_us(r->h, 99),
	       hist_pct_us(r->h, 99.9), r->h->n ? (double)r->h->sum_ns / (double)r->h->n / 1000.0 : 0.0,
	       r->h->n ? (double)r->h->min_ns / 1000.0 : 0.0, (double)r->h->max_ns / 1000.0);
	if (!strcmp(r->engine, "unified"))
		printf(",\"kicks\":%" PRIu64 ",\"sleeps\":%" PRIu64, r->kicks, r->sleeps);
	if (r->err[0]) {
		printf(",\"first_error\":");
		json_str(r->err);
	}
	printf("}");
}

static void json_report(const struct bench_cfg *c, const struct geom *g, struct run_result *runs,
			bool has_ours, bool has_base, double ratio, const double *pair, int npair)
{
	int i;

	printf("{\"tool\":\"unified-bench\",\"version\":");
	json_str(unified_version());
	printf(",\"target\":");
	json_str(c->path);
	printf(",\"target_kind\":\"%s\",\"rw\":\"%s\",\"bs\":%u,\"qd\":%u,\"batch\":%u,"
	       "\"runtime_s\":%.3f,\"span_bytes\":%" PRIu64 ",\"seed\":%" PRIu64 ",\"iopoll\":%s,"
	       "\"prefill\":%s,\"interleave\":%u,\"runs\":[", kind_name(g->kind), rw_names[c->rw],
	       c->bs, c->qd, c->batch, c->runtime, g->span, c->seed, g->iopoll ? "true" : "false",
	       c->prefill ? "true" : "false", c->interleave);
	if (has_ours)
		json_run(c, &runs[0]);
	if (has_base) {
		if (has_ours)
			putchar(',');
		json_run(c, &runs[1]);
	}
	printf("],\"ratio_iops\":");
	if (ratio > 0)
		printf("%.4f", ratio);
	else
		printf("null");
	printf(",\"slice_ratios_sorted\":[");
	for (i = 0; i < npair; i++)
		printf("%s%.4f", i ? "," : "", pair[i]);
	printf("]}\n");
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: unified-bench [options]\n"
		"  --target PATH     file, block device or /dev/ngXnY (default: the embedded\n"
		"                    default namespace, a sparse 1 GiB file at\n"
		"                    $UNIFIED_DEFAULT_FILE or $TMPDIR/unified-default.img)\n"
		"  --rw MODE         randread (default), randwrite, read, write\n"
		"  --bs BYTES        block size, k/m suffixes (default 4k)\n"
		"  --qd N            commands kept in flight (default 32)\n"
		"  --batch N         completions waited for per loop (default qd/4, at least 1)\n"
		"  --runtime SEC     measured time per run (default 5)\n"
		"  --size BYTES      span of the target to use (default: all of it); also the\n"
		"                    size of a file created for a missing target (default 1 GiB)\n"
		"  --mode kick|thread  libunified engine mode (default kick)\n"
		"  --spin-us N       thread mode: engine busy-polls N us before sleeping\n"
		"                    (default: the library's: 50, 2 on <= 2 CPUs)\n"
		"  --iopoll          polled completions (NVMe target with poll queues)\n"
		"  --prefill         write the span once before measuring (reads of a sparse\n"
		"                    file's holes never reach the disk)\n"
		"  --baseline        then run the identical workload on plain liburing\n"
		"  --baseline-only   run only the liburing workload\n"
		"  --interleave N    split each run into N slices and alternate the engines\n"
		"                    slice by slice (ABBA order), so device drift cancels out\n"
		"  --seed N          offset generator seed (default %llu)\n"
		"  --json            print one JSON object instead of text\n",
		(unsigned long long)DEFAULT_SEED);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	case 't': case 'T': mul = 1ull << 40; end++; break;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end || (v && mul > UINT64_MAX / v))
		return -1;
	*out = v * mul;
	return 0;
}

static int parse_u32(const char *s, uint32_t *out, uint32_t min, uint32_t max)
{
	uint64_t v;

	if (parse_size(s, &v) || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "rw", required_argument, NULL, 'r' },
		{ "bs", required_argument, NULL, 'b' },
		{ "qd", required_argument, NULL, 'q' },
		{ "batch", required_argument, NULL, 'B' },
		{ "runtime", required_argument, NULL, 'T' },
		{ "size", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "iopoll", no_argument, NULL, 'p' },
		{ "prefill", no_argument, NULL, 'P' },
		{ "baseline", no_argument, NULL, 'L' },
		{ "baseline-only", no_argument, NULL, 'O' },
		{ "seed", required_argument, NULL, 'S' },
		{ "interleave", required_argument, NULL, 'I' },
		{ "spin-us", required_argument, NULL, 'W' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct bench_cfg cfg = {
		.rw = RW_RANDREAD, .bs = 4096, .qd = 32, .runtime = 5.0,
		.mode = UNIFIED_MODE_KICK, .seed = DEFAULT_SEED, .interleave = 1,
	};
	struct run_result runs[2];
	struct geom geo = { 0 };
	struct sigaction sa;
	struct ours ours;
	struct base base;
	double ratio = 0.0, *pair;
	uint64_t slice_ns;
	bool has_ours, has_base;
	int opt, rc = 0, i, npair = 0;
	uint32_t k;
	uint64_t v;
	char *end;

	memset(runs, 0, sizeof(runs));
	/* Both engines start "torn down", so every exit path may call fini. */
	memset(&ours, 0, sizeof(ours));
	memset(&base, 0, sizeof(base));
	base.fd = -1;
	base.bufs = MAP_FAILED;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 't':
			cfg.target = optarg;
			break;
		case 'r':
			for (i = 0; i < 4 && strcmp(optarg, rw_names[i]); i++)
				;
			if (i == 4) {
				fprintf(stderr, "--rw must be randread, randwrite, read or write\n");
				return 2;
			}
			cfg.rw = (enum rw_kind)i;
			break;
		case 'b':
			if (parse_u32(optarg, &cfg.bs, 512, IO_UNIFIED_MAX_BUF_SIZE)) {
				fprintf(stderr, "--bs must be 512 .. %u bytes\n", IO_UNIFIED_MAX_BUF_SIZE);
				return 2;
			}
			break;
		case 'q':
			if (parse_u32(optarg, &cfg.qd, 1, IO_UNIFIED_MAX_ENTRIES / 2)) {
				fprintf(stderr, "--qd must be 1 .. %u\n", IO_UNIFIED_MAX_ENTRIES / 2);
				return 2;
			}
			break;
		case 'B':
			if (parse_u32(optarg, &cfg.batch, 1, IO_UNIFIED_MAX_ENTRIES)) {
				fprintf(stderr, "--batch must be a positive number\n");
				return 2;
			}
			break;
		case 'T':
			cfg.runtime = strtod(optarg, &end);
			if (*end || end == optarg || !(cfg.runtime > 0) || cfg.runtime > 86400) {
				fprintf(stderr, "--runtime must be a positive number of seconds\n");
				return 2;
			}
			break;
		case 's':
			if (parse_size(optarg, &cfg.size) || !cfg.size) {
				fprintf(stderr, "--size must be a positive byte count\n");
				return 2;
			}
			break;
		case 'm':
			if (!strcmp(optarg, "kick")) {
				cfg.mode = UNIFIED_MODE_KICK;
			} else if (!strcmp(optarg, "thread")) {
				cfg.mode = UNIFIED_MODE_THREAD;
			} else {
				fprintf(stderr, "--mode must be kick or thread\n");
				return 2;
			}
			break;
		case 'p':
			cfg.iopoll = true;
			break;
		case 'P':
			cfg.prefill = true;
			break;
		case 'L':
			cfg.baseline = true;
			break;
		case 'O':
			cfg.baseline_only = true;
			break;
		case 'S':
			if (parse_size(optarg, &v)) {
				fprintf(stderr, "--seed must be a number\n");
				return 2;
			}
			cfg.seed = v;
			break;
		case 'W':
			if (parse_u32(optarg, &cfg.spin_us, 1, 10000000)) {
				fprintf(stderr, "--spin-us must be 1 .. 10000000\n");
				return 2;
			}
			break;
		case 'I':
			if (parse_u32(optarg, &cfg.interleave, 1, 1000)) {
				fprintf(stderr, "--interleave must be 1 .. 1000\n");
				return 2;
			}
			break;
		case 'j':
			cfg.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!cfg.batch)
		cfg.batch = cfg.qd >= 4 ? cfg.qd / 4 : 1;
	if (cfg.batch > cfg.qd) {
		fprintf(stderr, "--batch %u is larger than --qd %u\n", cfg.batch, cfg.qd);
		return 2;
	}
	if (cfg.target) {
		if (strlen(cfg.target) >= sizeof(cfg.path)) {
			fprintf(stderr, "--target path is too long\n");
			return 2;
		}
		strcpy(cfg.path, cfg.target);
	} else if (unified_default_path(cfg.path, sizeof(cfg.path))) {
		fprintf(stderr, "%s\n", unified_errmsg());
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (cfg.baseline_only && probe_geometry(&cfg, &geo))
		return 1;
	if (cfg.prefill && prefill(&cfg))
		return 1;
	if (interrupted)
		return 1;

	for (i = 0; i < 2; i++) {
		runs[i].h = calloc(1, sizeof(*runs[i].h));
		if (!runs[i].h) {
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		runs[i].h->min_ns = UINT64_MAX;
	}
	pair = calloc(cfg.interleave, sizeof(*pair));
	if (!pair) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	has_ours = !cfg.baseline_only;
	has_base = cfg.baseline || cfg.baseline_only;
	if (has_ours && ours_init(&cfg, &geo, &ours, &runs[0]))
		goto done;
	if (!has_ours && set_span(&cfg, &geo))
		goto done;
	if (has_base && base_init(&cfg, &geo, &base, &runs[1]))
		goto done;

	/*
	 * Run the slices.  With --interleave 1: ours, then liburing.  With N
	 * slices the order alternates (ours, lib, lib, ours, ours, ...) so a
	 * slow drift of the device hits both engines alike.
	 */
	slice_ns = (uint64_t)(cfg.runtime * 1e9 / cfg.interleave);
	for (k = 0; k < cfg.interleave && !interrupted; k++) {
		double iops[2] = { 0, 0 };
		int first = (k & 1) && has_ours && has_base;

		for (i = 0; i < 2; i++) {
			int e = i ^ first;

			if (e == 0 && has_ours)
				iops[0] = ours_slice(&cfg, &ours, &runs[0], slice_ns);
			else if (e == 1 && has_base)
				iops[1] = base_slice(&cfg, &geo, &base, &runs[1], slice_ns);
			if (iops[e] < 0) {
				runs[e].failed = true;
				goto done;
			}
		}
		if (iops[0] > 0 && iops[1] > 0)
			pair[npair++] = iops[0] / iops[1];
	}
	runs[0].done = has_ours;
	runs[1].done = has_base;
done:
	if (has_ours)
		ours_fini(&ours, &runs[0]);
	if (has_base)
		base_fini(&base);
	for (i = 0; i < 2; i++)
		if ((i == 0 ? has_ours : has_base) &&
		    (runs[i].failed || runs[i].errors || !runs[i].done))
			rc = 1;
	if (runs[0].done && runs[1].done && iops_of(&runs[1]) > 0)
		ratio = iops_of(&runs[0]) / iops_of(&runs[1]);
	qsort(pair, npair, sizeof(*pair), cmp_double);

	if (cfg.json) {
		json_report(&cfg, &geo, runs, has_ours, has_base, ratio, pair, npair);
	} else {
		if (geo.span)
			printf("unified-bench %s: %s target %s, span %" PRIu64 " MiB, %s bs=%u qd=%u "
			       "batch=%u runtime=%.1fs seed=%" PRIu64 "%s%s\n", unified_version(),
			       kind_name(geo.kind), cfg.path, geo.span >> 20, rw_names[cfg.rw], cfg.bs,
			       cfg.qd, cfg.batch, cfg.runtime, cfg.seed, geo.iopoll ? " iopoll" : "",
			       cfg.interleave > 1 ? " (interleaved)" : "");
		for (i = 0; i < 2; i++)
			if (runs[i].done)
				print_run(&cfg, &runs[i]);
		if (ratio > 0)
			printf("ratio ours/liburing IOPS: %.2fx\n", ratio);
		if (npair > 1)
			printf("  per-slice ratios over %d slices: min %.2f, median %.2f, max %.2f\n",
			       npair, pair[0], median(pair, npair), pair[npair - 1]);
		for (i = 0; i < 2; i++)
			if (runs[i].errors)
				fprintf(stderr, "%s: %" PRIu64 " command(s) failed; first: %s\n",
					runs[i].engine, runs[i].errors, runs[i].err);
	}
	free(pair);
	for (i = 0; i < 2; i++)
		free(runs[i].h);
	return rc;
}
