/* SPDX-License-Identifier: MIT */
/*
 * The engine pass and the calls that drive it: unified_kick(),
 * unified_enter() and unified_drain().
 */
#include <string.h>
#include "internal.h"


/*
 * One engine pass.  @want: CQEs the caller wants unconsumed in the CQ (0 =
 * never block).  After taking SQEs, if fewer are there, the io_uring_enter()
 * that submits also waits for the missing number of io_uring completions,
 * capped by the commands still in io_uring (each brings at least one), and
 * bounded by @ts if not NULL: submit and wait cost one system call, not
 * one plus one per completion.  Returns the number of SQEs taken plus
 * io_uring completions reaped, -EBADMSG for a corrupt SQ producer, or
 * -EINTR when a signal interrupted the wait (the pass is complete
 * otherwise).  io_uring errors are recorded for the next kick or enter.
 */
/* One pass (see unified_engine_pass()), taking at most @max SQEs; sets
 * *@published when it made CQEs visible.  The caller wakes the application. */
static int pass(struct unified_engine *e, uint32_t want, struct __kernel_timespec *ts, uint32_t max,
		bool *published)
{
	struct __kernel_timespec timer_ts = { 0, 10 * 1000 * 1000 };
	uint32_t taken = 0, reaped, wait_nr = 0;
	int ret, sret = 0;

	unified_cq_flush_done(e);
	ret = unified_sq_consume(e, &taken, max);
	if (e->net)
		*published |= unified_net_pass(e);	/* FILL, TX, receives to post */
	if (want) {
		/* CQEs written (published or not) and not yet consumed. */
		uint32_t ready = e->cq.cached_prod - unified_load_relaxed(e->cq.consumer);
		uint32_t busy = e->inflight - e->done_count;

		if (ready < want && busy)
			wait_nr = want - ready < busy ? want - ready : busy;
		/* Network rings: any event may be what the caller waits for,
		 * so the wait ends at the first io_uring completion; none if
		 * something is already there or the network has work queued
		 * that only a pass (not a completion) moves on. */
		if (ready < want && e->net && e->net->ops_inflight)
			wait_nr = 1;
		if (ready >= want || (e->net && (unified_net_app_ready(e) || e->net->need_sqe)))
			wait_nr = 0;
		/* A polled ring polls past any timeout: poll once per pass. */
		if (ts && (e->ring.flags & IORING_SETUP_IOPOLL))
			wait_nr = 0;
		/* A listener pausing after EMFILE: wake up to accept again. */
		if (wait_nr && e->net && e->net->wait_timer &&
		    (!ts || ts->tv_sec || ts->tv_nsec > timer_ts.tv_nsec))
			ts = &timer_ts;
	}
	if (e->inflight > e->done_count || io_uring_sq_ready(&e->ring) || wait_nr)
		sret = unified_uring_submit(e, wait_nr, ts);
	reaped = unified_uring_reap(e);
	unified_cq_flush_done(e);
	*published |= unified_cq_publish(e);
	if (e->net) {
		/* Publish what the completions brought, post the next receives. */
		*published |= unified_net_pass(e);
		if (io_uring_sq_ready(&e->ring))
			unified_uring_submit(e, 0, NULL);
	}
	if (ret < 0)
		return ret;
	if (sret == -EINTR)
		return sret;
	return (int)(taken + reaped);
}

int unified_engine_pass(struct unified_engine *e, uint32_t want, struct __kernel_timespec *ts)
{
	bool published = false;
	int n = pass(e, want, ts, UINT32_MAX, &published);

	if (published)
		unified_app_wake(e);
	return n;
}

/*
 * The engine thread's pass: the SQ in rounds of UNIFIED_THREAD_CHUNK SQEs,
 * each submitted, reaped and published before the next is taken, so the
 * application sees the first completions (and can reuse their buffers)
 * while the rest are still being issued.  At most one ring's worth.
 */
int unified_engine_pass_chunked(struct unified_engine *e)
{
	uint32_t rounds = e->sq.size / UNIFIED_THREAD_CHUNK + 1;
	bool published = false;
	int n, total = 0;

	/* Each round publishes and wakes a sleeping application: waking it
	 * only after the last round was measured at 0.20x instead of 0.59x of
	 * liburing on the CPU-bound case (it then sleeps through the pass). */
	while (rounds--) {
		published = false;
		n = pass(e, 0, NULL, UNIFIED_THREAD_CHUNK, &published);
		if (published)
			unified_app_wake(e);
		if (n < 0) {
			if (!total)
				total = n;
			break;
		}
		total += n;
		if (n < UNIFIED_THREAD_CHUNK)
			break;
	}
	return total;
}

/* The engine error not yet reported, as unified_kick()/unified_enter()'s answer. */

static int take_pending_err(struct unified_engine *e)
{
	int err;

	if (!__atomic_load_n(&e->pending_err, __ATOMIC_RELAXED))
		return 0;	/* the common case: no locked instruction */
	err = __atomic_exchange_n(&e->pending_err, 0, __ATOMIC_ACQ_REL);
	if (!err)
		return 0;
	if (err == -EBADMSG)
		return unified_pass_err(err);
	return unified_set_err(-err, "the engine's io_uring submission failed: %s", strerror(-err));
}

int unified_pass_err(int ret)
{
	if (ret == -EBADMSG)
		return unified_set_err(EBADMSG, "the SQ producer index is corrupt (moved back or by more "
				       "than the ring holds): nothing is consumed until it is sane");
	if (ret == -EINTR)
		return unified_set_err(EINTR, "interrupted by a signal");
	return ret;
}

UNIFIED_EXPORT int unified_kick(struct unified_ctx *ctx)
{
	struct unified_engine *e;
	int ret;

	ret = unified_ctx_check(ctx, "unified_kick");
	if (ret)
		return ret;
	e = &ctx->eng;
	if (e->kern) {
		ret = unified_kern_kick(e);
		return ret < 0 ? ret : 0;
	}
	if (e->thread_running) {
		STAT_ADD(e->app_kicks, 1);	/* not stats: the engine thread writes there */
		unified_thread_wake(e);
		return take_pending_err(e);
	}
	STAT_ADD(e->stats.kicks, 1);
	ret = unified_engine_pass(e, 0, NULL);
	if (ret < 0)
		return unified_pass_err(ret);
	return take_pending_err(e);
}

/* CQEs ready for the application, clamped: the consumer index is its to corrupt. */
static uint32_t cq_ready_app(struct unified_engine *e)
{
	uint32_t n = unified_load_acquire(e->app_cq_producer) - unified_load_relaxed(e->app_cq_consumer);

	return n > e->app_cq_size ? e->app_cq_size : n;
}

/*
 * unified_enter() in kick mode.  Each pass submits and, in the same
 * io_uring_enter(), waits for the completions still missing, no longer
 * than the deadline (UINT64_MAX = none).
 */
static int enter_kick_mode(struct unified_engine *e, uint32_t min_complete, uint64_t deadline)
{
	struct __kernel_timespec ts;
	uint32_t ready;
	int ret, n;

	STAT_ADD(e->stats.kicks, 1);
	for (;;) {
		uint64_t left = UINT64_MAX;

		if (deadline != UINT64_MAX) {	/* no clock read when waiting forever */
			uint64_t now = unified_now_ns();

			left = deadline > now ? deadline - now : 0;
			ts.tv_sec = (long long)(left / 1000000000ull);
			ts.tv_nsec = (long long)(left % 1000000000ull);
		}
		/* Out of time: one more pass that does not block. */
		n = unified_engine_pass(e, left ? min_complete : 0,
					deadline == UINT64_MAX ? NULL : &ts);
		if (n < 0)
			return unified_pass_err(n);
		ret = take_pending_err(e);
		if (ret)
			return ret;
		ready = cq_ready_app(e);
		if (ready >= min_complete || (e->net && unified_net_app_ready(e)))
			return (int)ready;
		/* Nothing in flight and nothing queued means waiting would
		 * never end; report what is there. */
		if (n == 0 && e->inflight == e->done_count && !(e->net && e->net->ops_inflight))
			return (int)ready;
		if (deadline != UINT64_MAX && unified_now_ns() >= deadline)
			return unified_set_err(ETIME, "timed out with %u of %u completions", ready,
					       min_complete);
	}
}

static int enter_thread_mode(struct unified_engine *e, uint32_t min_complete, uint64_t deadline)
{
	uint64_t spin_end = 0;
	uint32_t ready;
	int ret;

	/*
	 * Poll the CQ first, but only while the engine thread is awake: then
	 * it is issuing or reaping and answers within microseconds, less than
	 * a sleep and a wake-up cost.  An engine asleep waits for the device
	 * (or for us); polling then would only take the CPU the device's
	 * completions need.  At most enter_spin_us.  Polls that end without
	 * the completions (the device is the slow part) make the next ones
	 * rarer: the credit halves, and only every 16th wait polls at 0.
	 */
	if (e->app_spin_credit || !(++e->app_waits & 15)) {
		bool got = false;

		while (!__atomic_load_n(&e->pending_err, __ATOMIC_RELAXED) &&
		       !__atomic_load_n(&e->sleeping, __ATOMIC_RELAXED)) {
			uint64_t now;

			if (cq_ready_app(e) >= min_complete || (e->net && unified_net_app_ready(e))) {
				got = true;
				break;
			}
			now = unified_now_ns();
			if (!spin_end)
				spin_end = now + (uint64_t)e->app_spin_us * 1000;
			else if (now >= spin_end)
				break;
			unified_cpu_relax();
		}
		e->app_spin_credit = got ? 16 : e->app_spin_credit / 2;
	}
	for (;;) {
		uint32_t seq = __atomic_load_n(&e->cq_seq, __ATOMIC_ACQUIRE);

		__atomic_store_n(&e->app_waiting, 1, __ATOMIC_RELAXED);
		/* Full barrier pairs with the engine's in unified_app_wake(). */
		unified_smp_mb();
		ready = cq_ready_app(e);
		if (ready >= min_complete || (e->net && unified_net_app_ready(e))) {
			__atomic_store_n(&e->app_waiting, 0, __ATOMIC_RELAXED);
			return (int)ready;
		}
		if (__atomic_load_n(&e->pending_err, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&e->app_waiting, 0, __ATOMIC_RELAXED);
			return take_pending_err(e);
		}
		unified_thread_wake(e);
		ret = unified_app_wait(e, seq, deadline);
		__atomic_store_n(&e->app_waiting, 0, __ATOMIC_RELAXED);
		if (!ret)
			ret = take_pending_err(e);
		if (ret == -ETIME)
			return unified_set_err(ETIME, "timed out with %u of %u completions", ready,
					       min_complete);
		if (ret)
			return unified_pass_err(ret);
	}
}

UNIFIED_EXPORT int unified_enter(struct unified_ctx *ctx, uint32_t min_complete, int timeout_ms)
{
	struct unified_engine *e;
	uint64_t deadline;
	int ret;

	ret = unified_ctx_check(ctx, "unified_enter");
	if (ret)
		return ret;
	e = &ctx->eng;
	deadline = timeout_ms < 0 ? UINT64_MAX : unified_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	if (min_complete > e->app_cq_size)
		min_complete = e->app_cq_size;
	if (e->kern)
		return unified_kern_enter(e, min_complete, deadline);
	if (!e->thread_running)
		return enter_kick_mode(e, min_complete, deadline);
	ret = unified_kick(ctx);
	if (ret < 0)
		return ret;
	return enter_thread_mode(e, min_complete, deadline);
}

/*
 * Abort queued SQEs and wait for everything in flight, at most
 * e->drain_timeout_ms: io_uring is asked to cancel what is in flight at
 * half of it, and at the end -ETIMEDOUT is returned with the commands
 * still in flight (NVMe passthrough commands cannot be cancelled).
 */
int unified_engine_drain(struct unified_engine *e)
{
	uint64_t before = e->stats.aborted, start = unified_now_ns();
	uint64_t limit = (uint64_t)e->drain_timeout_ms * 1000000ull;
	bool cancelled = false;

	unified_thread_stop(e);
	__atomic_store_n(&e->draining, 1, __ATOMIC_RELEASE);
	if (!e->ring_ready || !e->rings_live)
		return 0;
	if (e->kern) {
		/* The kernel aborts what it has not taken and finishes what
		 * it has; the rest of the drain is the user engine's. */
		int r = unified_kern_takeover(e);

		if (r < 0)
			return r;
	}
	for (;;) {
		int n = unified_engine_pass(e, 0, NULL);

		if (e->inflight == e->done_count &&
		    (n <= 0 || unified_sq_ready(e) <= 0 || !unified_cq_free(e, 0)))
			break;
		if (e->inflight > e->done_count) {
			uint64_t el = unified_now_ns() - start, left;
			struct __kernel_timespec ts = { 0, 50 * 1000 * 1000 };
			struct io_uring_cqe *cqe;

			if (el >= limit)
				return unified_set_err(ETIMEDOUT, "%u commands still in flight after %u ms "
						       "(the device does not complete them); they stay "
						       "in flight", e->inflight - e->done_count,
						       e->drain_timeout_ms);
			if (!cancelled && el >= limit / 2) {
				unified_uring_cancel_all(e);
				cancelled = true;
			}
			left = limit - el;
			if (left < (uint64_t)ts.tv_nsec)
				ts.tv_nsec = (long long)left;
			io_uring_submit(&e->ring);
			io_uring_wait_cqe_timeout(&e->ring, &cqe, &ts);
		}
	}
	return (int)(e->stats.aborted - before);
}

UNIFIED_EXPORT int unified_drain(struct unified_ctx *ctx)
{
	int ret = unified_ctx_check(ctx, "unified_drain");

	if (ret)
		return ret;
	return unified_engine_drain(&ctx->eng);
}
