/* SPDX-License-Identifier: MIT */
/* Registration, teardown, accessors and error reporting. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "internal.h"

#define UNIFIED_VERSION_STR "0.1.0"

static __thread char errbuf[512];

int unified_set_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return -err;
}

void unified_clear_err(void)
{
	errbuf[0] = '\0';
}

UNIFIED_EXPORT const char *unified_errmsg(void)
{
	return errbuf;
}

UNIFIED_EXPORT const char *unified_version(void)
{
	return UNIFIED_VERSION_STR;
}

UNIFIED_EXPORT const char *unified_status_str(uint16_t status)
{
	uint8_t sct = IO_UNIFIED_STATUS_SCT(status), sc = IO_UNIFIED_STATUS_SC(status);

	if (!(status & 0x7ff))
		return "Success";
	if (sct == IO_UNIFIED_SCT_GENERIC) {
		switch (sc) {
		case 0x01: return "Invalid Command Opcode";
		case 0x02: return "Invalid Field in Command";
		case 0x03: return "Command ID Conflict";
		case 0x04: return "Data Transfer Error";
		case 0x05: return "Commands Aborted due to Power Loss";
		case 0x06: return "Internal Error";
		case 0x07: return "Command Abort Requested";
		case 0x0b: return "Invalid Namespace or Format";
		case 0x80: return "LBA Out of Range";
		case 0x81: return "Capacity Exceeded";
		case 0x82: return "Namespace Not Ready";
		}
	} else if (sct == IO_UNIFIED_SCT_CMD_SPECIFIC) {
		switch (sc) {
		case 0x00: return "Completion Queue Invalid";
		case 0x01: return "Invalid Queue Identifier";
		case 0x02: return "Invalid Queue Size";
		case 0x0d: return "Feature Identifier Not Saveable";
		case 0x0e: return "Feature Not Changeable";
		case 0x09: return "Invalid Log Page";
		}
		return "Command Specific Error";
	} else if (sct == IO_UNIFIED_SCT_MEDIA) {
		switch (sc) {
		case 0x80: return "Write Fault";
		case 0x81: return "Unrecovered Read Error";
		case 0x85: return "Compare Failure";
		case 0x86: return "Access Denied";
		case 0x87: return "Deallocated or Unwritten Logical Block";
		}
		return "Media Error";
	}
	return "Unknown Status";
}

UNIFIED_EXPORT int unified_default_path(char *buf, size_t len)
{
	const char *env = getenv("UNIFIED_DEFAULT_FILE"), *dir = getenv("TMPDIR");
	int n;

	if (!buf)
		return -EINVAL;
	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else
		n = snprintf(buf, len, "%s/unified-default.img", dir && *dir ? dir : "/var/tmp");
	if (n < 0 || (size_t)n >= len)
		return unified_set_err(ENAMETOOLONG, "default namespace path is too long");
	return 0;
}

UNIFIED_EXPORT int unified_kernel_engine_available(void)
{
	struct io_uring ring;
	int ret;

	ret = io_uring_queue_init(1, &ring, 0);
	if (ret < 0)
		return ret;
	/* A stock kernel rejects the unknown opcode with -EINVAL before looking
	 * at the argument; a kernel with the unified engine tries to copy the
	 * (NULL) argument and fails with -EFAULT. */
	ret = (int)syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_UNIFIED_IFQ, NULL, 1);
	ret = ret < 0 ? -errno : ret;
	io_uring_queue_exit(&ring);
	return ret == -EFAULT ? 1 : 0;
}

static int copy_path(struct unified_ctx *ctx, uint64_t uptr)
{
	const char *p = (const char *)(uintptr_t)uptr;
	size_t l;

	if (!p)
		return 0;
	l = strnlen(p, sizeof(ctx->info.path));
	if (l == sizeof(ctx->info.path))
		return unified_set_err(ENAMETOOLONG, "nvme_dev_path is longer than %zu bytes",
				       sizeof(ctx->info.path) - 1);
	memcpy(ctx->info.path, p, l + 1);
	return 0;
}

static void ctx_free(struct unified_ctx *ctx)
{
	unified_engine_stop(ctx);
	unified_buffers_fini(ctx);
	unified_region_unmap(ctx);
	free(ctx);
}

UNIFIED_EXPORT int unified_register(struct io_unified_reg *reg, const struct unified_opts *opts,
				    struct unified_ctx **ctxp)
{
	static const struct unified_opts defaults;
	struct io_unified_region_desc *desc, saved_desc;
	struct io_unified_reg saved_reg;
	struct unified_ctx *ctx;
	const struct unified_engine *e;
	int ret;

	unified_clear_err();
	if (!reg || !ctxp)
		return unified_set_err(EINVAL, "reg and ctxp are required");
	if (!opts)
		opts = &defaults;
	if (opts->mode > UNIFIED_MODE_THREAD)
		return unified_set_err(EINVAL, "unknown engine mode %u", opts->mode);
	if (opts->flags & ~UNIFIED_OPT_MASK)
		return unified_set_err(EINVAL, "unknown option flags 0x%x", opts->flags & ~UNIFIED_OPT_MASK);
	if (opts->__resv[0] || opts->__resv[1] || opts->__resv[2] || opts->__resv[3])
		return unified_set_err(EINVAL, "unified_opts reserved fields must be zero");
	desc = (struct io_unified_region_desc *)(uintptr_t)reg->region_ptr;
	if (!desc)
		return unified_set_err(EINVAL, "reg.region_ptr must point to a struct io_unified_region_desc");

	/* The kernel engine is a later step; until a kernel has it, and unless
	 * the caller forbids it, say which engine runs in the info. */
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return unified_set_err(ENOMEM, "no memory");
	/* ctx_free() runs the engine teardown even when registration failed
	 * before unified_engine_start(): fd 0 is not "no fd". */
	ctx->eng.tgt.fd = ctx->eng.tgt.ctrl_fd = ctx->eng.doorbell_fd = -1;
	saved_reg = *reg;
	saved_desc = *desc;
	ret = copy_path(ctx, reg->nvme_dev_path);
	if (!ret)
		ret = unified_region_map(ctx, reg, desc);
	if (!ret)
		ret = unified_buffers_init(ctx);
	if (!ret)
		ret = unified_engine_start(ctx, opts);
	if (!ret) {
		unified_region_init_rings(ctx);
		ret = unified_engine_run(ctx);
	}
	if (ret) {
		/* Leave no half state: undo everything, restore the caller's structs. */
		char keep[sizeof(errbuf)];

		memcpy(keep, errbuf, sizeof(keep));
		ctx_free(ctx);
		*reg = saved_reg;
		*desc = saved_desc;
		memcpy(errbuf, keep, sizeof(keep));
		return ret;
	}
	e = &ctx->eng;
	ctx->eng.tgt.committed = true;	/* from now on a created target file stays */
	ctx->info.kind = e->tgt.kind;
	ctx->info.nsid = e->tgt.nsid;
	ctx->info.lba_shift = e->tgt.lba_shift;
	ctx->info.lba_size = 1u << e->tgt.lba_shift;
	ctx->info.nlba = e->tgt.nlba;
	ctx->info.max_xfer = e->tgt.max_xfer;
	ctx->info.iopoll = e->tgt.iopoll;
	snprintf(ctx->info.path, sizeof(ctx->info.path), "%s", e->tgt.path);
	snprintf(ctx->info.engine, sizeof(ctx->info.engine), "user");
	*ctxp = ctx;
	return 0;
}

UNIFIED_EXPORT int unified_drain(struct unified_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	return unified_engine_drain(&ctx->eng);
}

UNIFIED_EXPORT int unified_unregister(struct unified_ctx *ctx)
{
	int err;

	if (!ctx)
		return -EINVAL;
	unified_engine_stop(ctx);	/* joins the thread and drains */
	err = ctx->eng.thread_err;
	ctx_free(ctx);
	return err < 0 ? err : 0;
}

UNIFIED_EXPORT void *unified_region(const struct unified_ctx *ctx)
{
	return ctx ? ctx->region : NULL;
}

UNIFIED_EXPORT size_t unified_region_size(const struct unified_ctx *ctx)
{
	return ctx ? ctx->region_size : 0;
}

UNIFIED_EXPORT void *unified_buffers(const struct unified_ctx *ctx)
{
	return ctx ? ctx->buffers : NULL;
}

static void ring_view(struct unified_ctx *ctx, struct unified_ring_view *v, uint64_t hdr,
		      uint64_t entries, uint32_t n, bool producer)
{
	struct io_unified_ring *r = (void *)((uint8_t *)ctx->region + hdr);

	v->producer = &r->producer;
	v->consumer = &r->consumer;
	v->flags = &r->flags;
	v->mask = n - 1;
	v->size = n;
	v->entries = (uint8_t *)ctx->region + entries;
	v->cached_prod = unified_load_relaxed(&r->producer);
	v->cached_cons = unified_load_relaxed(&r->consumer) + (producer ? n : 0);
}

UNIFIED_EXPORT int unified_sq_init(struct unified_ctx *ctx, struct unified_sq *sq)
{
	if (!ctx || !sq)
		return -EINVAL;
	ring_view(ctx, &sq->r, ctx->off.sq_ring, ctx->off.sq_entries, ctx->sq_entries, true);
	return 0;
}

UNIFIED_EXPORT int unified_cq_init(struct unified_ctx *ctx, struct unified_cq *cq)
{
	if (!ctx || !cq)
		return -EINVAL;
	ring_view(ctx, &cq->r, ctx->off.cq_ring, ctx->off.cq_entries, ctx->cq_entries, false);
	return 0;
}

UNIFIED_EXPORT int unified_target_info(const struct unified_ctx *ctx, struct unified_target_info *info)
{
	if (!ctx || !info)
		return -EINVAL;
	*info = ctx->info;
	return 0;
}

UNIFIED_EXPORT int unified_get_stats(const struct unified_ctx *ctx, struct unified_stats *st)
{
	const struct unified_stats *s;

	if (!ctx || !st)
		return -EINVAL;
	s = &ctx->eng.stats;
	st->sqes = __atomic_load_n(&s->sqes, __ATOMIC_RELAXED);
	st->cqes = __atomic_load_n(&s->cqes, __ATOMIC_RELAXED);
	st->errors = __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
	st->aborted = __atomic_load_n(&s->aborted, __ATOMIC_RELAXED);
	st->kicks = __atomic_load_n(&s->kicks, __ATOMIC_RELAXED);
	st->sleeps = __atomic_load_n(&s->sleeps, __ATOMIC_RELAXED);
	st->ring_errors = __atomic_load_n(&s->ring_errors, __ATOMIC_RELAXED);
	return 0;
}
