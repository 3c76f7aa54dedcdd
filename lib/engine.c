/* SPDX-License-Identifier: MIT */
/* Engine start and stop: target, command slots, io_uring, thread. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

/* Memory kept after a timed-out drain, until the process ends. */
static void **kept;
static size_t nkept;
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

void unified_keep(void *p)
{
	void **k;

	if (!p)
		return;
	pthread_mutex_lock(&kept_lock);
	k = realloc(kept, (nkept + 1) * sizeof(*kept));
	if (k) {
		kept = k;
		kept[nkept++] = p;
	}
	pthread_mutex_unlock(&kept_lock);
}

uint64_t unified_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Everything that can fail, in an order that writes nothing to the region:
 * the target, command slots, the io_uring with the data area registered,
 * and in thread mode the engine thread parked at its gate.  The rings are
 * initialised and the thread released by unified_register() afterwards.
 */
int unified_engine_start(struct unified_ctx *ctx, const struct unified_opts *o)
{
	struct unified_engine *e = &ctx->eng;
	struct io_unified_ring *sqr = (void *)((uint8_t *)ctx->region + ctx->off.sq_ring);
	struct io_unified_ring *cqr = (void *)((uint8_t *)ctx->region + ctx->off.cq_ring);
	char defpath[256];
	const char *path = ctx->info.path;
	bool is_default = false, named = false, small;
	uint32_t i;
	int ret;

	e->mode = o->mode;
	/* Spinning only pays when a core is spare: on two CPUs or fewer the
	 * engine thread's spin steals time from the kernel's own I/O workers
	 * (measured: 0.88x of raw liburing on a loop device at 50 us, 0.99x at
	 * 2 us), so while I/O is in flight the default there is short.  With
	 * nothing in flight the application is between batches: 10 us there
	 * catches its next one without a wake-up (CPU-bound thread mode 0.10x
	 * -> 0.54x of liburing) and costs QD1 little (docs/benchmarks.md). */
	small = sysconf(_SC_NPROCESSORS_ONLN) <= 2;
	e->busy_spin_us = o->idle_spin_us ? o->idle_spin_us : small ? 2 : 50;
	e->idle_spin_us = o->idle_spin_us ? o->idle_spin_us : small ? 10 : 50;
	e->app_spin_us = o->enter_spin_us ? o->enter_spin_us : 50;
	e->app_spin_credit = 16;	/* poll from the first wait on */
	e->drain_timeout_ms = o->drain_timeout_ms ? o->drain_timeout_ms : UNIFIED_DRAIN_TIMEOUT_MS;
	e->sq = (struct unified_engine_ring){ &sqr->producer, &sqr->consumer, &sqr->flags,
					      ctx->sq_entries - 1, ctx->sq_entries, 0, 0 };
	e->cq = (struct unified_engine_ring){ &cqr->producer, &cqr->consumer, &cqr->flags,
					      ctx->cq_entries - 1, ctx->cq_entries, 0, 0 };
	e->sqes = (void *)((uint8_t *)ctx->region + ctx->off.sq_entries);
	e->cqes = (void *)((uint8_t *)ctx->region + ctx->off.cq_entries);
	e->app_cq_producer = e->cq.producer;
	e->app_cq_consumer = e->cq.consumer;
	e->app_cq_size = e->cq.size;
	e->data = ctx->buffers;
	e->data_size = ctx->data_size;

	if (!path[0]) {
		ret = unified_default_path_named(defpath, sizeof(defpath), &named);
		if (ret)
			return ret;
		path = defpath;
		is_default = true;
	}
	ret = unified_target_open(&e->tgt, path, is_default, is_default && !named, o);
	if (ret)
		return ret;

	e->ncmds = ctx->cq_entries;
	e->cmds = calloc(e->ncmds, sizeof(*e->cmds));
	e->done = calloc(e->ncmds, sizeof(*e->done));
	if (!e->cmds || !e->done)
		return unified_set_err(ENOMEM, "no memory for %u command slots", e->ncmds);
	for (i = 0; i < e->ncmds; i++) {
		e->cmds[i].next_free = i + 1 < e->ncmds ? i + 1 : UINT32_MAX;
		e->cmds[i].tgt_slot = -1;
	}
	e->free_head = 0;

	ret = unified_uring_setup(ctx);
	if (ret)
		return ret;
	if (e->mode == UNIFIED_MODE_THREAD)
		return unified_thread_prepare(e);
	return 0;
}

/*
 * Stop the thread, drain (when the rings were ever live), tear down.  If
 * the drain timed out with commands still in flight, memory those commands
 * may still be written into by the device (target scratch buffers) is
 * left allocated rather than freed under them; the kernel holds its own
 * references to the files, the ring and the pinned data pages.
 */
void unified_engine_stop(struct unified_ctx *ctx)
{
	struct unified_engine *e = &ctx->eng;

	unified_thread_stop(e);
	if (e->ring_ready) {
		unified_net_stop(e);	/* shut the sockets: their operations end */
		if (unified_engine_drain(e) == -ETIMEDOUT)
			ctx->leak_on_free = true;
		if (unified_net_drain(e))
			ctx->leak_on_free = true;
		io_uring_queue_exit(&e->ring);
		e->ring_ready = false;
	}
	if (ctx->leak_on_free) {
		/* Scratch may still be written by I/O in flight: keep it,
		 * reachable (so leak checkers see it is kept on purpose). */
		unified_keep(e->tgt.priv);
		e->tgt.priv = NULL;
	}
	unified_target_close(&e->tgt);
	if (e->doorbell_fd >= 0)
		close(e->doorbell_fd);
	e->doorbell_fd = -1;
	free(e->cmds);
	free(e->done);
	e->cmds = NULL;
	e->done = NULL;
	if (ctx->leak_on_free && e->net) {
		/* Operations may still be in flight: keep their memory (UDP
		 * message headers), but close the sockets (the kernel holds
		 * its own references) so no port stays bound. */
		unified_net_close_fds(e);
		unified_net_xdp_free(e->net);	/* socket, UMEM pin, XDP program */
		unified_keep(e->net);
		e->net = NULL;
	}
	unified_net_free(e);
}
