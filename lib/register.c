/* SPDX-License-Identifier: MIT */
/* Registration, teardown, accessors and error reporting. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include "internal.h"


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

/*
 * Ask the kernel on @ring_fd whether it serves the unified rings: the
 * probe is IORING_REGISTER_UNIFIED_IFQ with IO_UNIFIED_REG_F_PROBE, which a
 * kernel with the engine answers with its ABI version (> 0) and nothing
 * else.  A stock kernel answers -EINVAL (unknown opcode); any other answer
 * (another meaning of the opcode on some kernel, a filter) is "absent".
 */
static int probe_kernel_engine(int ring_fd)
{
	struct io_unified_reg reg;
	long r;

	memset(&reg, 0, sizeof(reg));
	reg.flags = IO_UNIFIED_REG_F_PROBE;
	r = syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_UNIFIED_IFQ, &reg, 1);
	return r >= 1 && r <= IO_UNIFIED_ABI_VERSION ? 1 : 0;	/* every version serves the NVMe rings */
}

UNIFIED_EXPORT int unified_kernel_engine_available(void)
{
	struct io_uring ring;
	int ret;

	ret = io_uring_queue_init(1, &ring, 0);
	if (ret < 0)
		return unified_set_err(-ret, "io_uring_setup failed: %s", strerror(-ret));
	ret = probe_kernel_engine(ring.ring_fd);
	io_uring_queue_exit(&ring);
	return ret;
}

/* ---------------------------------------------------------------- fork */

/*
 * Which process a context belongs to, checked with one load on every call:
 * a page marked MADV_WIPEONFORK (Linux 4.14) holds the registering
 * process's token, and the kernel hands every child of any fork (fork(),
 * a raw fork or clone system call without CLONE_VM, no atfork handler
 * needed) a zeroed copy.  A child that registers a context of its own sets
 * its own token; inherited contexts keep the parent's and stay foreign.
 */
static volatile uint64_t *owner_token;
static pthread_once_t owner_once = PTHREAD_ONCE_INIT;

static void owner_init(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED && !madvise(p, 4096, MADV_WIPEONFORK))
		owner_token = p;
	else if (p != MAP_FAILED)
		munmap(p, 4096);
}

/* This process's token: random (a reused pid cannot match it), set at
 * the process's first registration. */
static uint64_t current_token(void)
{
	uint64_t t = 0;

	pthread_once(&owner_once, owner_init);
	if (!owner_token)
		return (uint64_t)getpid();	/* no WIPEONFORK: a system call per check */
	if (!*owner_token) {
		if (getrandom(&t, sizeof(t), 0) != sizeof(t))
			t = (uint64_t)getpid() << 32 ^ unified_now_ns();
		*owner_token = t | 1;	/* never 0, the wiped value */
	}
	return *owner_token;
}

static bool foreign(const struct unified_ctx *ctx)
{
	if (owner_token)
		return *owner_token != ctx->token;
	return (uint64_t)getpid() != ctx->token;
}

int unified_ctx_check(const struct unified_ctx *ctx, const char *fn)
{
	if (!ctx)
		return unified_set_err(EINVAL, "%s: ctx is NULL", fn);
	if (foreign(ctx))
		return unified_set_err(EPERM, "%s: this context belongs to process %d; a child of "
				       "fork() may only unified_unregister() it, which releases "
				       "the child's copies", fn, (int)ctx->owner);
	return 0;
}

static int copy_path(struct unified_ctx *ctx, uint64_t uptr)
{
	const char *p = (const char *)(uintptr_t)uptr;
	size_t l;

	if (!p)
		return 0;
	if (!*p)
		return unified_set_err(EINVAL, "nvme_dev_path is the empty string; pass 0 for the "
				       "embedded default namespace");
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

static int check_opts(const struct unified_opts *opts)
{
	if (opts->mode > UNIFIED_MODE_THREAD)
		return unified_set_err(EINVAL, "unknown engine mode %u", opts->mode);
	if (opts->flags & ~UNIFIED_OPT_MASK)
		return unified_set_err(EINVAL, "unknown option flags 0x%x", opts->flags & ~UNIFIED_OPT_MASK);
	if (opts->__resv[0] || opts->__resv[1] || opts->__resv[2])
		return unified_set_err(EINVAL, "unified_opts reserved fields must be zero");
	if (opts->idle_spin_us > UNIFIED_MAX_SPIN_US)
		return unified_set_err(EINVAL, "idle_spin_us %u is over the %u us limit (an idle engine "
				       "would burn a core that long)", opts->idle_spin_us,
				       UNIFIED_MAX_SPIN_US);
	if (opts->enter_spin_us > UNIFIED_MAX_SPIN_US)
		return unified_set_err(EINVAL, "enter_spin_us %u is over the %u us limit",
				       opts->enter_spin_us, UNIFIED_MAX_SPIN_US);
	return 0;
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
	ret = check_opts(opts);
	if (ret)
		return ret;
	desc = (struct io_unified_region_desc *)(uintptr_t)reg->region_ptr;
	if (!desc)
		return unified_set_err(EINVAL, "reg.region_ptr must point to a struct io_unified_region_desc");
	if (reg->flags & IO_UNIFIED_REG_F_PROBE)
		return unified_set_err(EINVAL, "IO_UNIFIED_REG_F_PROBE is for the kernel engine's "
				       "probe; use unified_kernel_engine_available()");
	/* Aligned: the engine keeps the words both of its threads touch on
	 * cache lines of their own. */
	if (posix_memalign((void **)&ctx, UNIFIED_CACHELINE, sizeof(*ctx)))
		return unified_set_err(ENOMEM, "no memory");
	memset(ctx, 0, sizeof(*ctx));
	/* ctx_free() runs the engine teardown even when registration failed
	 * before unified_engine_start(): fd 0 is not "no fd". */
	ctx->eng.tgt.fd = ctx->eng.tgt.ctrl_fd = ctx->eng.tgt.dir_fd = ctx->eng.doorbell_fd = -1;
	ctx->token = current_token();
	ctx->owner = getpid();
	saved_reg = *reg;
	saved_desc = *desc;
	/* Everything that can fail comes first; the region is not written
	 * until nothing can (unified_region_init_rings()), and the engine
	 * thread, if any, waits at its gate until then. */
	ret = copy_path(ctx, reg->nvme_dev_path);
	if (!ret && reg->net_ptr) {
		/* Read once into private memory; written back on success only. */
		memcpy(&ctx->net_reg, (const void *)(uintptr_t)reg->net_ptr, sizeof(ctx->net_reg));
	}
	if (!ret)
		ret = unified_region_map(ctx, reg, desc);
	if (!ret)
		ret = unified_buffers_init(ctx);
	if (!ret)
		ret = unified_engine_start(ctx, opts);
	if (!ret && reg->net_ptr)
		ret = unified_net_start(ctx, &ctx->net_reg);
	if (!ret && !(opts->flags & UNIFIED_OPT_USER_ENGINE))
		ctx->kernel_engine = probe_kernel_engine(ctx->eng.ring.ring_fd);
	if (!ret) {
		unified_region_init_rings(ctx);
		ctx->eng.rings_live = true;
		ret = unified_kern_register(ctx, opts, reg->net_ptr != 0);
		if (ret > 0)
			ret = 0;	/* the user engine serves them */
	}
	if (!ret)
		unified_thread_go(&ctx->eng);
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
	if (reg->net_ptr)
		memcpy((void *)(uintptr_t)reg->net_ptr, &ctx->net_reg, sizeof(ctx->net_reg));
	unified_target_commit(&ctx->eng.tgt);	/* from now on a created target file stays */
	ctx->info.kind = e->tgt.kind;
	ctx->info.nsid = e->tgt.nsid;
	ctx->info.lba_shift = e->tgt.lba_shift;
	ctx->info.lba_size = 1u << e->tgt.lba_shift;
	ctx->info.nlba = e->tgt.nlba;
	ctx->info.max_xfer = e->tgt.max_xfer;
	ctx->info.iopoll = e->tgt.iopoll;
	snprintf(ctx->info.path, sizeof(ctx->info.path), "%s", e->tgt.path);
	snprintf(ctx->info.engine, sizeof(ctx->info.engine), "%s", e->kern ? "kernel" : "user");
	*ctxp = ctx;
	return 0;
}

/*
 * A child of fork() releasing an inherited context: close its descriptor
 * copies and free its memory copies, never touching the shared io_uring
 * (no drain, no submit: those would take the parent's completions), the
 * parent's engine thread (it does not exist here) or the target file.
 */
static void release_foreign(struct unified_ctx *ctx)
{
	struct unified_engine *e = &ctx->eng;

	if (e->ring_ready)
		io_uring_queue_exit(&e->ring);	/* munmap + close of our copies only */
	if (e->doorbell_fd >= 0)
		close(e->doorbell_fd);
	/* Committed: closes the descriptors and frees the target's heap
	 * state, no I/O, nothing undone on the file. */
	unified_target_close(&e->tgt);
	/* The region is left alone: a library mapping is MADV_DONTFORK, so
	 * its range is not ours here (and may hold something else by now);
	 * USER memory is the caller's. */
	free(e->cmds);
	free(e->done);
	unified_buffers_fini(ctx);
	free(ctx);
}

UNIFIED_EXPORT int unified_unregister(struct unified_ctx *ctx)
{
	int err;

	if (!ctx)
		return unified_set_err(EINVAL, "unified_unregister: ctx is NULL");
	if (foreign(ctx)) {
		release_foreign(ctx);
		return 0;
	}
	unified_engine_stop(ctx);	/* joins the thread and drains */
	err = ctx->leak_on_free ? -ETIMEDOUT : ctx->eng.first_err;
	ctx_free(ctx);
	if (err == -ETIMEDOUT)
		return unified_set_err(ETIMEDOUT, "unified_unregister: commands were still in flight "
				       "after the drain timeout; the context is freed, but the device "
				       "may still write into the data area until they complete");
	if (err)
		return unified_set_err(-err, "unified_unregister: the engine had failed: %s",
				       strerror(-err));
	return 0;
}

UNIFIED_EXPORT void *unified_region(const struct unified_ctx *ctx)
{
	return unified_ctx_check(ctx, "unified_region") ? NULL : ctx->region;
}

UNIFIED_EXPORT size_t unified_region_size(const struct unified_ctx *ctx)
{
	return unified_ctx_check(ctx, "unified_region_size") ? 0 : ctx->region_size;
}

UNIFIED_EXPORT void *unified_buffers(const struct unified_ctx *ctx)
{
	return unified_ctx_check(ctx, "unified_buffers") ? NULL : ctx->buffers;
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
	int ret = unified_ctx_check(ctx, "unified_sq_init");

	if (ret)
		return ret;
	if (!sq)
		return unified_set_err(EINVAL, "unified_sq_init: sq is NULL");
	ring_view(ctx, &sq->r, ctx->off.sq_ring, ctx->off.sq_entries, ctx->sq_entries, true);
	return 0;
}

UNIFIED_EXPORT int unified_cq_init(struct unified_ctx *ctx, struct unified_cq *cq)
{
	int ret = unified_ctx_check(ctx, "unified_cq_init");

	if (ret)
		return ret;
	if (!cq)
		return unified_set_err(EINVAL, "unified_cq_init: cq is NULL");
	ring_view(ctx, &cq->r, ctx->off.cq_ring, ctx->off.cq_entries, ctx->cq_entries, false);
	return 0;
}

UNIFIED_EXPORT int unified_target_info(const struct unified_ctx *ctx, struct unified_target_info *info)
{
	int ret = unified_ctx_check(ctx, "unified_target_info");

	if (ret)
		return ret;
	if (!info)
		return unified_set_err(EINVAL, "unified_target_info: info is NULL");
	*info = ctx->info;
	return 0;
}

UNIFIED_EXPORT int unified_get_stats(const struct unified_ctx *ctx, struct unified_stats *st)
{
	const struct unified_stats *s;

	int ret = unified_ctx_check(ctx, "unified_get_stats");

	if (ret)
		return ret;
	if (!st)
		return unified_set_err(EINVAL, "unified_get_stats: st is NULL");
	s = &ctx->eng.stats;
	st->sqes = __atomic_load_n(&s->sqes, __ATOMIC_RELAXED);
	st->cqes = __atomic_load_n(&s->cqes, __ATOMIC_RELAXED);
	st->errors = __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
	st->aborted = __atomic_load_n(&s->aborted, __ATOMIC_RELAXED);
	st->kicks = __atomic_load_n(&s->kicks, __ATOMIC_RELAXED) +
		    __atomic_load_n(&ctx->eng.app_kicks, __ATOMIC_RELAXED);
	st->sleeps = __atomic_load_n(&s->sleeps, __ATOMIC_RELAXED);
	st->ring_errors = __atomic_load_n(&s->ring_errors, __ATOMIC_RELAXED);
	/* What the kernel engine took and completed (it keeps no counters:
	 * its ring indices are the counts; errors are not counted there). */
	if (ctx->eng.kern) {
		st->sqes += unified_load_acquire(ctx->eng.sq.consumer);
		st->cqes += unified_load_acquire(ctx->eng.cq.producer);
	} else {
		st->sqes += ctx->eng.kern_sqes;
		st->cqes += ctx->eng.kern_cqes;
	}
	return 0;
}
