/* SPDX-License-Identifier: MIT */
/*
 * The kernel engine's client: on a kernel with IORING_REGISTER_UNIFIED_IFQ
 * (kernel/patches/, docs/unified-nvme-interface.rst) io_uring itself
 * consumes the unified SQ and writes the unified CQ, so the NVMe hop costs
 * no system call of its own: unified_kick() is one io_uring_enter(2) with
 * IORING_ENTER_UNIFIED, and unified_enter() sleeps in io_uring_enter(2)
 * until the kernel's wake-up CQE (IO_UNIFIED_WAKE_USER_DATA).
 *
 * The library registers the kernel engine on its own io_uring (the one the
 * user engine would use: 128-byte SQEs, 32-byte CQEs) with the region it
 * already mapped, as user memory.  The kernel serves NVMe generic char
 * devices in kick mode, without IOPOLL (the driver's controller node
 * cannot poll, so admin commands would fail there), network rings or the
 * destructive admin option; everything else, and any registration the
 * kernel refuses (e.g. without CAP_SYS_ADMIN), stays with the user engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "internal.h"

static int sys_enter(int fd, unsigned int to_submit, unsigned int min, unsigned int flags,
		     void *arg, size_t argsz)
{
	long r = syscall(__NR_io_uring_enter, fd, to_submit, min, flags, arg, argsz);

	return r < 0 ? -errno : (int)r;
}

/* Why the kernel engine does not serve this registration, or NULL.
 * @required: the caller takes the kernel engine's own rules (IOPOLL with
 * admin commands failing) rather than the user engine. */
static const char *not_served(const struct unified_ctx *ctx, const struct unified_opts *o,
			      bool has_net, bool required)
{
	if (o->flags & UNIFIED_OPT_USER_ENGINE)
		return "UNIFIED_OPT_USER_ENGINE";
	if (ctx->eng.tgt.kind != UNIFIED_TARGET_NVME)
		return "the target is not an NVMe generic char device";
	if (o->mode != UNIFIED_MODE_KICK)
		return "thread mode runs the library's engine thread";
	if (ctx->eng.tgt.iopoll && !required)
		return "an IOPOLL ring (the NVMe driver cannot poll admin commands, which the kernel "
		       "engine would then fail)";
	if (has_net)
		return "network rings (no zcrx in the kernel engine)";
	if (o->flags & UNIFIED_OPT_ADMIN_DESTRUCTIVE)
		return "UNIFIED_OPT_ADMIN_DESTRUCTIVE (the kernel engine refuses those commands)";
	if (o->ctrl_path)
		return "an explicit controller path";
	if (ctx->data_size > (1ull << 32) - 8192)
		return "a data area of 4 GiB or more";
	return NULL;
}

/*
 * Hand the rings to the kernel: IORING_REGISTER_UNIFIED_IFQ on the engine's
 * io_uring with the region as user memory.  Returns 0 when the kernel
 * engine runs, 1 when the user engine stays (not served, or the kernel
 * refused), or -errno when the caller demanded the
 * kernel engine (UNIFIED_REQUIRE_KERNEL_ENGINE=1 in the environment, which
 * also puts IOPOLL rings on the kernel engine, where admin commands then
 * complete with Internal Error and res -EOPNOTSUPP).
 */
int unified_kern_register(struct unified_ctx *ctx, const struct unified_opts *o, bool has_net)
{
	struct unified_engine *e = &ctx->eng;
	const char *req = secure_getenv("UNIFIED_REQUIRE_KERNEL_ENGINE");
	bool required = req && !strcmp(req, "1");
	struct io_unified_region_desc rd;
	struct io_unified_reg reg;
	const char *no;
	long r;

	no = ctx->kernel_engine ? not_served(ctx, o, has_net, required) :
				  "the kernel has no unified engine";
	if (no) {
		if (required)
			return unified_set_err(EOPNOTSUPP, "the kernel engine was required "
					       "(UNIFIED_REQUIRE_KERNEL_ENGINE=1) but: %s", no);
		return 1;
	}
	memset(&rd, 0, sizeof(rd));
	rd.user_addr = (uintptr_t)ctx->region;
	rd.size = ctx->region_size;
	rd.flags = IO_UNIFIED_REGION_USER;
	memset(&reg, 0, sizeof(reg));
	reg.region_ptr = (uintptr_t)&rd;
	reg.nvme_dev_path = (uintptr_t)e->tgt.path;
	reg.sq_entries = ctx->sq_entries;
	reg.cq_entries = ctx->cq_entries;
	reg.buffer_entries = ctx->buf_entries;
	reg.buffer_entry_size = ctx->buf_size;
	r = syscall(__NR_io_uring_register, e->ring.ring_fd, IORING_REGISTER_UNIFIED_IFQ, &reg, 1);
	if (r < 0) {
		int err = errno;

		if (required)
			return unified_set_err(err, "the kernel engine was required "
					       "(UNIFIED_REQUIRE_KERNEL_ENGINE=1) but the kernel "
					       "refused the registration: %s", strerror(err));
		return 1;
	}
	if (memcmp(&reg.offsets, &ctx->off, sizeof(reg.offsets)) || reg.cq_entries != ctx->cq_entries) {
		/* Both sides compute the layout by the same rules: a mismatch
		 * is a bug, and the kernel must let go of the rings at once. */
		syscall(__NR_io_uring_register, e->ring.ring_fd, IORING_UNREGISTER_UNIFIED_IFQ, NULL, 0);
		return unified_set_err(EPROTO, "the kernel engine laid the region out differently "
				       "from the library (sq_entries at %llu, buffers at %llu vs %llu)",
				       (unsigned long long)reg.offsets.sq_entries,
				       (unsigned long long)reg.offsets.buffers,
				       (unsigned long long)ctx->off.buffers);
	}
	e->kern = true;
	return 0;
}

/* Commands the kernel took that have no CQE yet (its SQ consumer runs
 * ahead of its CQ producer by exactly those). */
static uint32_t kern_inflight(struct unified_engine *e)
{
	uint32_t taken = unified_load_acquire(e->sq.consumer);

	return taken - unified_load_acquire(e->cq.producer);
}

/* CQEs ready for the application, clamped: the consumer index is its own. */
static uint32_t kern_cq_ready(struct unified_engine *e)
{
	uint32_t n = unified_load_acquire(e->cq.producer) - unified_load_relaxed(e->cq.consumer);

	return n > e->cq.size ? e->cq.size : n;
}

static int kern_err(int ret)
{
	if (ret == -EBADMSG || ret == -EINTR)
		return unified_pass_err(ret);
	return unified_set_err(-ret, "io_uring_enter(IORING_ENTER_UNIFIED) failed: %s",
			       strerror(-ret));
}

/* unified_kick(): the kernel takes what the SQ holds.  Returns the number
 * of entries it took (>= 0) or -errno. */
int unified_kern_kick(struct unified_engine *e)
{
	int ret;

	if (e->kern_unreg)
		return 0;	/* nothing takes entries any more: only wait */
	STAT_ADD(e->stats.kicks, 1);
	ret = sys_enter(e->ring.ring_fd, 0, 0, IORING_ENTER_UNIFIED, NULL, 0);
	if (ret < 0)
		return kern_err(ret);
	return ret;
}

/* Throw away the io_uring CQEs: only wake-ups arrive there. */
static void kern_reap(struct unified_engine *e)
{
	unsigned int n = io_uring_cq_ready(&e->ring);

	if (n)
		io_uring_cq_advance(&e->ring, n);
}

/*
 * Sleep until the kernel publishes a completion or the deadline passes:
 * NEED_WAKEUP on the unified CQ, then a check (the kernel may have
 * published in between), then io_uring_enter(2) waits for the wake-up CQE.
 * @kick: the SQ holds entries: the same call hands them to the kernel
 * (IORING_ENTER_UNIFIED with IORING_ENTER_GETEVENTS), so submitting and
 * waiting cost one system call, as with io_uring_submit_and_wait().
 */
static int kern_sleep(struct unified_engine *e, uint32_t have, uint64_t deadline, bool kick)
{
	struct io_uring_getevents_arg arg;
	struct __kernel_timespec ts;
	unsigned int flags = IORING_ENTER_GETEVENTS | (kick ? IORING_ENTER_UNIFIED : 0);
	int ret;

	__atomic_store_n(e->cq.flags, IO_UNIFIED_RING_NEED_WAKEUP, __ATOMIC_RELAXED);
	/* Pairs with the kernel's barrier between publishing and reading the
	 * flag: either it sees the flag or we see its completion. */
	unified_smp_mb();
	if (kern_cq_ready(e) != have) {
		__atomic_store_n(e->cq.flags, 0, __ATOMIC_RELAXED);
		return kick ? unified_kern_kick(e) : 0;
	}
	if (kick)
		STAT_ADD(e->stats.kicks, 1);
	memset(&arg, 0, sizeof(arg));
	if (deadline != UINT64_MAX) {
		uint64_t now = unified_now_ns(), left = deadline > now ? deadline - now : 0;

		ts.tv_sec = (long long)(left / 1000000000ull);
		ts.tv_nsec = (long long)(left % 1000000000ull);
		arg.ts = (uintptr_t)&ts;
		flags |= IORING_ENTER_EXT_ARG;
	}
	ret = sys_enter(e->ring.ring_fd, 0, 1, flags, flags & IORING_ENTER_EXT_ARG ? &arg : NULL,
			flags & IORING_ENTER_EXT_ARG ? sizeof(arg) : 0);
	__atomic_store_n(e->cq.flags, 0, __ATOMIC_RELAXED);
	kern_reap(e);
	if (ret == -ETIME || ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
		return 0;	/* the caller looks at the CQ and the clock */
	return ret < 0 ? ret : 0;
}

/* Entries the application published that the kernel has not taken. */
static bool kern_sq_pending(struct unified_engine *e)
{
	return !e->kern_unreg &&
	       unified_load_acquire(e->sq.producer) != unified_load_acquire(e->sq.consumer);
}

/* unified_enter() with the kernel engine: kick, then wait for @min_complete
 * CQEs in the unified CQ (or the deadline). */
int unified_kern_enter(struct unified_engine *e, uint32_t min_complete, uint64_t deadline)
{
	for (;;) {
		uint32_t ready = kern_cq_ready(e);
		bool pending = kern_sq_pending(e);
		int ret;

		/* Enough already, or nothing in flight and nothing to hand
		 * over (waiting would never end: an entry the kernel did not
		 * take waits for CQ room the application must make): hand
		 * over what is queued, if anything, and report. */
		if (ready >= min_complete || (!pending && !kern_inflight(e)) ||
		    (deadline != UINT64_MAX && unified_now_ns() >= deadline)) {
			if (pending) {
				ret = unified_kern_kick(e);
				if (ret < 0)
					return ret;
				ready = kern_cq_ready(e);
			}
			if (ready >= min_complete || !kern_inflight(e) || deadline == UINT64_MAX)
				return (int)ready;
			return unified_set_err(ETIME, "timed out with %u of %u completions", ready,
					       min_complete);
		}
		ret = kern_sleep(e, ready, deadline, pending);
		if (ret < 0)
			return kern_err(ret);
	}
}

/*
 * Give the rings back to the user engine (unified_drain(), unregistration):
 * IORING_UNREGISTER_UNIFIED_IFQ, on which the kernel completes what the SQ
 * still holds with Abort Requested (as far as the CQ has room), then wait
 * for the commands in flight, which the kernel still completes into the
 * CQ, at most drain_timeout_ms.  Only then does the user engine take over
 * the indices: one producer on the CQ at a time.  Returns the number of
 * entries the kernel aborted, or -ETIMEDOUT (the kernel keeps the region's
 * pages pinned until its commands are done; the user engine does not take
 * over).
 */
int unified_kern_takeover(struct unified_engine *e)
{
	uint64_t start = unified_now_ns(), limit = (uint64_t)e->drain_timeout_ms * 1000000ull;
	uint32_t before, aborted = 0;
	long r;

	if (!e->kern)
		return 0;
	if (!e->kern_unreg) {	/* a drain that timed out unregistered already */
		before = unified_load_acquire(e->sq.consumer);
		r = syscall(__NR_io_uring_register, e->ring.ring_fd, IORING_UNREGISTER_UNIFIED_IFQ,
			    NULL, 0);
		if (r < 0)
			return unified_set_err(errno, "IORING_UNREGISTER_UNIFIED_IFQ failed: %s",
					       strerror(errno));
		e->kern_unreg = true;
		aborted = unified_load_acquire(e->sq.consumer) - before;
		STAT_ADD(e->stats.aborted, aborted);
		STAT_ADD(e->stats.errors, aborted);
	}
	while (kern_inflight(e)) {
		int ret;

		if (unified_now_ns() - start >= limit)
			return unified_set_err(ETIMEDOUT, "%u commands still in flight after %u ms "
					       "(the device does not complete them); they stay "
					       "in flight", kern_inflight(e), e->drain_timeout_ms);
		ret = kern_sleep(e, kern_cq_ready(e), start + limit, false);
		if (ret < 0)
			return kern_err(ret);
	}
	/* The user engine continues from the kernel's indices. */
	e->sq.cached_cons = e->sq.cached_prod = unified_load_acquire(e->sq.consumer);
	e->cq.cached_prod = unified_load_acquire(e->cq.producer);
	e->cq.cached_cons = unified_load_relaxed(e->cq.consumer);
	e->kern_sqes = e->sq.cached_cons;
	e->kern_cqes = e->cq.cached_prod;
	e->kern = false;
	/* Nothing in flight: this lets the kernel drop the registration
	 * (unpin the region, close the device) now rather than at ring exit;
	 * it answers -ENXIO. */
	sys_enter(e->ring.ring_fd, 0, 0, IORING_ENTER_UNIFIED, NULL, 0);
	return (int)aborted;
}
