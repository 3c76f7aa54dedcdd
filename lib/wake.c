/* SPDX-License-Identifier: MIT */
/*
 * Thread mode: the engine thread and the whole sleep/wake protocol, in one
 * place.
 *
 * Every word a decision depends on is private (in the context, not the
 * region): the shared SQ flag NEED_WAKEUP is only a hint the engine keeps up
 * to date for unified_sq_needs_wakeup(); an application that overwrites it
 * costs itself nothing but extra kicks.
 *
 * Engine going to sleep                     Application kicking
 *   seq = kick_seq                            (publish SQ producer)
 *   sleeping = 1                              full barrier
 *   full barrier                              if (sleeping) {
 *   if (work visible) -> do not sleep             kick_seq++
 *   wait until kick_seq != seq, or an             ring the doorbell
 *     io_uring completion                     }
 *   sleeping = 0
 *
 * Both sides store, fence, then load the other's word (Dekker): either the
 * engine sees the new SQE, or the kicker sees sleeping and bumps kick_seq,
 * which the engine waits on with the value it read *before* announcing its
 * sleep, so a kick in any window ends the wait at once.  On an ordinary
 * ring the wait happens inside io_uring (an eventfd read is armed as the
 * doorbell, so a completion or a kick ends it); on an IOPOLL ring, which
 * cannot hold the read, on a futex on kick_seq, and only with no I/O in
 * flight (polling must go on otherwise).
 *
 * The engine never sleeps without a bound while something is blocked on
 * the application: with completions waiting for CQ room it re-checks the
 * CQ consumer every UNIFIED_CQ_FULL_POLL_NS (so an application that
 * releases CQEs without kicking is still served), and with the head SQE
 * refused by the target for lack of resources (-EBUSY) it sleeps until a
 * completion frees them instead of spinning.
 *
 * The application's own waits in unified_enter() use the mirror protocol on
 * app_waiting / cq_seq.
 */
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include "internal.h"

#define NO_CMD UINT32_MAX

static long futex_wait(uint32_t *uaddr, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, FUTEX_WAIT_PRIVATE, val, ts, NULL, 0);
}

static void futex_wake(uint32_t *uaddr, int n)
{
	syscall(SYS_futex, uaddr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Could a pass do anything now? */
static bool can_progress(struct unified_engine *e)
{
	if (io_uring_cq_ready(&e->ring))
		return true;
	if (e->net && unified_net_has_work(e))
		return true;
	if (e->done_count)
		return unified_cq_free(e, 0) > 0;
	if (e->sq_blocked)
		return false;	/* only a completion helps */
	return unified_sq_ready(e) > 0 && e->free_head != NO_CMD &&
	       unified_cq_free(e, e->inflight) > e->inflight;
}

static void engine_sleep(struct unified_engine *e)
{
	uint32_t seq = __atomic_load_n(&e->kick_seq, __ATOMIC_ACQUIRE);
	bool bounded;

	__atomic_store_n(&e->sleeping, 1, __ATOMIC_RELAXED);
	__atomic_store_n(e->sq.flags, IO_UNIFIED_RING_NEED_WAKEUP, __ATOMIC_RELAXED);	/* hint */
	unified_smp_mb();
	if (can_progress(e) || __atomic_load_n(&e->stop, __ATOMIC_ACQUIRE))
		goto out;
	/* Waiting for the application to release CQ, RX or COMPLETION
	 * entries (which does not kick us), or for a network timer: a
	 * bounded sleep, then look again. */
	bounded = e->cq_blocked || (e->net && unified_net_waits(e));
	STAT_ADD(e->stats.sleeps, 1);
	if (e->doorbell_fd >= 0) {
		unified_uring_arm_doorbell(e);
		/* no SQE for the doorbell read (the io_uring SQ is full): then
		 * a kick could not end the wait, so it must end by itself */
		if (bounded || !e->doorbell_armed) {
			struct __kernel_timespec ts = { 0, UNIFIED_CQ_FULL_POLL_NS };

			unified_uring_submit(e, 1, &ts);
		} else {
			unified_uring_submit(e, 1, NULL);
		}
	} else if (e->inflight == e->done_count || bounded) {
		struct timespec ts = { 0, UNIFIED_CQ_FULL_POLL_NS };

		futex_wait(&e->kick_seq, seq, bounded ? &ts : NULL);
	}
out:
	__atomic_store_n(&e->sleeping, 0, __ATOMIC_RELAXED);
	__atomic_store_n(e->sq.flags, 0, __ATOMIC_RELAXED);
}

static void *engine_thread(void *arg)
{
	struct unified_engine *e = arg;
	uint64_t idle_ns = (uint64_t)e->idle_spin_us * 1000, busy_ns = (uint64_t)e->busy_spin_us * 1000;
	uint64_t idle_since;
	bool reg_fd;
	uint32_t g;

	/* Wait until registration can no longer fail (or is undone). */
	while ((g = __atomic_load_n(&e->gate, __ATOMIC_ACQUIRE)) == 0)
		futex_wait(&e->gate, 0, NULL);
	if (g != 1)
		return NULL;
	/* Only this thread enters the ring while it runs: a registered ring
	 * fd spares each io_uring_enter() the file lookup (io_uring_register(2)
	 * IORING_REGISTER_RING_FDS, 5.18).  Registered per task, so it is
	 * dropped before the thread ends and others enter again. */
	reg_fd = io_uring_register_ring_fd(&e->ring) == 1;
	idle_since = unified_now_ns();
	while (!__atomic_load_n(&e->stop, __ATOMIC_ACQUIRE)) {
		int n = unified_engine_pass_chunked(e);

		/* n < 0: corrupt SQ producer: report it to the application
		 * (the next kick or enter, which is woken), then idle until
		 * kicked, no spinning.  A pending engine error counts as idle. */
		if (n < 0) {
			unified_engine_note_err(e, n, false);
		} else if (__atomic_load_n(&e->pending_err, __ATOMIC_RELAXED) == -EBADMSG) {
			/* sane again before anyone was told: nothing to report */
			int bad = -EBADMSG;

			__atomic_compare_exchange_n(&e->pending_err, &bad, 0, false, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED);
		}
		if (n > 0 && !__atomic_load_n(&e->pending_err, __ATOMIC_RELAXED)) {
			/* Busy: no clock read here (4 % of the engine's time
			 * when it was one per pass); idling starts being timed
			 * at the first pass that finds nothing. */
			idle_since = 0;
			continue;
		}
		if (!idle_since)
			idle_since = unified_now_ns();
		/* With I/O in flight the device's completion will wake us in
		 * io_uring: spin only briefly (busy_spin_us; spinning takes the
		 * CPU that completions need on small machines).  With nothing
		 * in flight the application is between batches: spin
		 * idle_spin_us to catch its next one without a wake-up. */
		if (n >= 0 && !e->sq_blocked && unified_now_ns() - idle_since <
		    (e->inflight > e->done_count ? busy_ns : idle_ns))
			continue;
		engine_sleep(e);
		idle_since = unified_now_ns();
	}
	if (reg_fd)
		io_uring_unregister_ring_fd(&e->ring);
	return NULL;
}

/*
 * Create the engine thread (and its doorbell), parked at a gate: nothing
 * is served until unified_thread_go(), so a registration that fails after
 * this leaves the region untouched.  The thread blocks every signal: they
 * belong to the application's threads.  Returns 0 or -errno.
 */
int unified_thread_prepare(struct unified_engine *e)
{
	sigset_t all, old;
	int ret;

	if (!e->tgt.iopoll) {
		e->doorbell_fd = eventfd(0, EFD_CLOEXEC);
		if (e->doorbell_fd < 0)
			return unified_set_err(errno, "cannot create the engine thread's doorbell "
					       "(eventfd): %s", strerror(errno));
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&e->thread, NULL, engine_thread, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return unified_set_err(ret, "cannot start the engine thread: %s", strerror(ret));
	pthread_setname_np(e->thread, "unified-engine");
	e->thread_running = true;
	return 0;
}

void unified_thread_go(struct unified_engine *e)
{
	if (!e->thread_running)
		return;
	__atomic_store_n(&e->gate, 1, __ATOMIC_RELEASE);
	futex_wake(&e->gate, 1);
}

void unified_thread_stop(struct unified_engine *e)
{
	if (!e->thread_running)
		return;
	if (__atomic_load_n(&e->gate, __ATOMIC_ACQUIRE) == 0) {
		__atomic_store_n(&e->gate, 2, __ATOMIC_RELEASE);
		futex_wake(&e->gate, 1);
	} else {
		__atomic_store_n(&e->stop, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&e->sleeping, 1, __ATOMIC_RELAXED);	/* force the wake below */
		unified_thread_wake(e);
	}
	pthread_join(e->thread, NULL);
	e->thread_running = false;
	e->mode = UNIFIED_MODE_KICK;
}

/* Wake the engine thread if it sleeps or is about to (see the top). */
void unified_thread_wake(struct unified_engine *e)
{
	uint64_t one = 1;

	/* Full barrier: the SQ producer store is visible before we read
	 * sleeping (pairs with the one in engine_sleep()). */
	unified_smp_mb();
	if (!__atomic_load_n(&e->sleeping, __ATOMIC_RELAXED))
		return;
	__atomic_fetch_add(&e->kick_seq, 1, __ATOMIC_RELEASE);
	if (e->doorbell_fd >= 0) {
		if (write(e->doorbell_fd, &one, sizeof(one)) < 0) {
			/* only fails on counter overflow: the thread is awake then */
		}
	} else {
		futex_wake(&e->kick_seq, 1);
	}
}

/* After a CQ publication or an engine error: wake an application waiting
 * in unified_enter(), and one that waits on the CQ producer word itself
 * (CQ NEED_WAKEUP). */
void unified_app_wake(struct unified_engine *e)
{
	if (e->mode != UNIFIED_MODE_THREAD)
		return;		/* kick mode: the waiter is the one running the pass */
	unified_smp_mb();
	if (__atomic_load_n(&e->app_waiting, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&e->cq_seq, 1, __ATOMIC_RELEASE);
		futex_wake(&e->cq_seq, INT_MAX);
	}
	if (unified_load_relaxed(e->cq.flags) & IO_UNIFIED_RING_NEED_WAKEUP)
		syscall(SYS_futex, e->cq.producer, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/*
 * Sleep until the engine publishes completions after cq_seq read @seen
 * (the caller read it before its last look at the CQ), or @deadline
 * (UINT64_MAX: none).  Returns 0 (woken or spurious: look again), -ETIME,
 * or -EINTR if a signal arrived.
 */
int unified_app_wait(struct unified_engine *e, uint32_t seen, uint64_t deadline)
{
	/* Always with a timeout, even when waiting forever: an interrupted
	 * timed futex wait ends in EINTR whatever the handler's SA_RESTART
	 * (an untimed one would be restarted), which is io_uring_enter()'s
	 * rule, so unified_enter() follows it. */
	uint64_t left = 3600ull * 1000000000ull;
	struct timespec ts;
	long r;

	if (deadline != UINT64_MAX) {
		uint64_t now = unified_now_ns();

		if (now >= deadline)
			return -ETIME;
		if (deadline - now < left)
			left = deadline - now;
	}
	ts.tv_sec = (time_t)(left / 1000000000ull);
	ts.tv_nsec = (long)(left % 1000000000ull);
	r = futex_wait(&e->cq_seq, seen, &ts);
	if (r < 0 && errno == EINTR)
		return -EINTR;
	return 0;
}
