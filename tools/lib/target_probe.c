/* SPDX-License-Identifier: MIT */
/* The target through libunified: see target_probe.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "target_probe.h"

#define PREFILL_CHUNK		(1u << 20)
#define PREFILL_QD		4u
#define PREFILL_TIMEOUT_MS	30000

static void set_opts(const struct bench_cfg *c, uint32_t mode, struct unified_opts *o)
{
	struct stat st;

	memset(o, 0, sizeof(*o));
	o->mode = mode;
	o->idle_spin_us = c->spin_us;
	o->enter_spin_us = c->enter_spin_us;
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

int bench_register(const struct bench_cfg *c, uint32_t qd, uint32_t bufsz, uint32_t mode,
		   uint32_t flags, struct io_unified_region_desc *desc, struct unified_ctx **ctxp)
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
	set_opts(c, mode, &o);
	o.flags |= flags;
	ret = unified_register(&reg, &o, ctxp);
	if (ret)
		fprintf(stderr, "unified_register(%s): %s\n", c->path, bench_errmsg(ret));
	return ret;
}

/* Span used by the workload: --size or the whole target, whole blocks of bs. */
static int set_span(const struct bench_cfg *c, struct bench_target *t)
{
	uint64_t want = c->size ? c->size : t->capacity;

	if (c->bs & ((1u << t->lba_shift) - 1)) {
		fprintf(stderr, "--bs %u is not a multiple of the target's %u-byte LBA\n", c->bs,
			1u << t->lba_shift);
		return -EINVAL;
	}
	if (want > t->capacity) {
		fprintf(stderr, "--size %" PRIu64 " exceeds the target's %" PRIu64 " bytes\n", want,
			t->capacity);
		return -EINVAL;
	}
	t->nblocks = want / c->bs;
	t->span = t->nblocks * c->bs;
	if (!t->nblocks) {
		fprintf(stderr, "the span (%" PRIu64 " bytes) holds no %u-byte block\n", want, c->bs);
		return -EINVAL;
	}
	if (t->max_xfer && c->bs > t->max_xfer) {
		fprintf(stderr, "--bs %u exceeds the target's largest transfer (%u bytes)\n", c->bs,
			t->max_xfer);
		return -EINVAL;
	}
	return 0;
}

struct unified_ctx *target_probe(const struct bench_cfg *c, struct bench_target *t)
{
	struct io_unified_region_desc desc;
	struct unified_target_info info;
	struct unified_ctx *ctx;

	memset(t, 0, sizeof(*t));
	if (bench_register(c, c->prefill ? PREFILL_QD : 1,
			   c->prefill ? PREFILL_CHUNK : 4096u, UNIFIED_MODE_KICK, 0,
			   &desc, &ctx))
		return NULL;
	unified_target_info(ctx, &info);
	t->kind = info.kind;
	t->nsid = info.nsid;
	t->lba_shift = info.lba_shift;
	t->capacity = info.nlba << info.lba_shift;
	t->iopoll = info.iopoll;
	t->max_xfer = info.max_xfer;
	if (set_span(c, t)) {
		unified_unregister(ctx);
		return NULL;
	}
	return ctx;
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
 * In 1 MiB commands (or MDTS if smaller) at QD4 through libunified: a read
 * of a hole in a sparse file is served by the file system without touching
 * the disk, which flatters any engine.
 */
int target_prefill(const struct bench_cfg *c, struct unified_ctx *ctx,
		   const struct bench_target *t)
{
	struct unified_target_info info;
	struct unified_sq sq;
	struct unified_cq cq;
	uint64_t off[PREFILL_QD], pos = 0, t0, done_bytes = 0, chunk = PREFILL_CHUNK;
	uint32_t slot_free[PREFILL_QD], nfree = PREFILL_QD, inflight = 0, i, idx;
	int ret;

	unified_target_info(ctx, &info);
	if (info.kind == UNIFIED_TARGET_FILE && file_allocated(info.path, t->span)) {
		if (!c->json)
			printf("prefill: %s: first %" PRIu64 " MiB already allocated, skipped\n",
			       info.path, t->span >> 20);
		return 0;
	}
	/* Stay within the device's largest transfer (MDTS on NVMe). */
	if (info.max_xfer && info.max_xfer < chunk)
		chunk = info.max_xfer & ~((uint64_t)info.lba_size - 1);
	unified_sq_init(ctx, &sq);
	unified_cq_init(ctx, &cq);
	for (i = 0; i < PREFILL_QD; i++) {
		if (unified_buf_alloc(ctx, &off[i])) {
			fprintf(stderr, "prefill: unified_buf_alloc: %s\n", unified_errmsg());
			return -1;
		}
		fill_pattern(unified_buf_ptr(ctx, off[i]), PREFILL_CHUNK, i + 1);
		slot_free[i] = i;
	}
	t0 = now_ns();
	while (pos < t->span || inflight) {
		uint32_t got;

		while (nfree && pos < t->span && !bench_interrupted) {
			uint64_t len = t->span - pos < chunk ? t->span - pos : chunk;
			uint32_t s = slot_free[--nfree];

			if (!unified_sq_reserve(&sq, 1, &idx)) {
				fprintf(stderr, "prefill: SQ full\n");
				return -1;
			}
			unified_prep_write(unified_sq_entry(&sq, idx), info.nsid, pos >> info.lba_shift,
					   (uint32_t)(len >> info.lba_shift), off[s], (uint32_t)len, s);
			unified_sq_submit(&sq, 1);
			pos += len;
			inflight++;
		}
		if (bench_interrupted && !inflight)
			break;
		ret = unified_enter(ctx, 1, PREFILL_TIMEOUT_MS);
		if (ret < 0 && ret != -EINTR) {
			fprintf(stderr, "prefill: unified_enter: %s\n", bench_errmsg(ret));
			return -1;
		}
		while ((got = unified_cq_peek(&cq, PREFILL_QD, &idx))) {
			for (i = 0; i < got; i++) {
				const struct io_unified_cqe *cqe = unified_cq_entry(&cq, idx + i);

				if (cqe->status || cqe->user_data >= PREFILL_QD) {
					fprintf(stderr, "prefill: write failed: status 0x%x (%s), res %d\n",
						cqe->status, unified_status_str(cqe->status), cqe->res);
					unified_cq_release(&cq, got);
					return -1;
				}
				slot_free[nfree++] = (uint32_t)cqe->user_data;
				done_bytes += cqe->len;
			}
			unified_cq_release(&cq, got);
			inflight -= got;
		}
	}
	if (bench_interrupted) {
		fprintf(stderr, "prefill: interrupted\n");
		return -1;
	}
	if (!c->json) {
		double s = (double)(now_ns() - t0) / 1e9;

		printf("prefill: wrote %" PRIu64 " MiB of %s in %.2f s (%.0f MiB/s)\n", done_bytes >> 20,
		       info.path, s, (double)(done_bytes >> 20) / (s > 0 ? s : 1));
	}
	return 0;
}
