/* SPDX-License-Identifier: MIT */
/*
 * Ours: libunified in kick or thread mode.  submit publishes the batch with
 * one reserve/submit pair and, in thread mode, kicks only an engine thread
 * that sleeps; wait is unified_enter(), which in kick mode starts with the
 * kick; reap is unified_cq_peek/release.
 *
 * Two table entries share this code: "unified" (ours; the engine the
 * library chooses, or the one --engine demands) and the baseline
 * "unified-user" (key "user"), registered with UNIFIED_OPT_USER_ENGINE, so
 * that the kernel engine and libunified's user engine run side by side.
 * Each run records the engine it really got (unified_target_info()), and
 * a run that must have one engine and got the other fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_engine.h"
#include "target_probe.h"

#define REQUIRE_ENV	"UNIFIED_REQUIRE_KERNEL_ENGINE"

struct ours_variant {
	bool user;	/* UNIFIED_OPT_USER_ENGINE, whatever --engine says */
};

struct ours {
	struct io_unified_region_desc desc;
	struct unified_target_info info;
	struct unified_ctx *ctx;
	struct unified_sq sq;
	struct unified_cq cq;
	uint64_t *bufoff;	/* per slot */
	uint32_t qd, bs, nlb;
	bool thread, rd;
};

static const char *ours_mode(const struct bench_cfg *c)
{
	return c->mode == UNIFIED_MODE_THREAD ? "thread" : "kick";
}

/* Thread mode: libunified's engine thread (lib/wake.c names it). */
static const char *ours_helper(const struct bench_cfg *c)
{
	return c->mode == UNIFIED_MODE_THREAD ? "unified-engine" : NULL;
}

static bool engine_sleeps(const void *arg)
{
	const struct ours *o = arg;

	return unified_sq_needs_wakeup(&o->sq);
}

/* Thread mode: the engine spins --spin-us (default at most 50 us) after
 * its last SQE, then sleeps and says so in the SQ flags. */
static bool ours_settle(void *priv, const struct bench_cfg *c)
{
	const struct ours *o = priv;

	return !o->thread || bench_wait_until(engine_sleeps, o, c->spin_us / 1000 + 500);
}

static void ours_close(void *priv, struct bench_run *r)
{
	struct ours *o = priv;
	struct unified_stats st;
	int ret;

	if (!o)
		return;
	if (o->ctx) {
		if (!unified_get_stats(o->ctx, &st)) {
			r->kicks = st.kicks;
			r->sleeps = st.sleeps;
		}
		ret = unified_unregister(o->ctx);
		if (ret) {
			fprintf(stderr, "unified_unregister: %s\n", strerror(-ret));
			r->failed = true;
		}
	}
	free(o->bufoff);
	free(o);
}

/*
 * Register with $UNIFIED_REQUIRE_KERNEL_ENGINE set to @env (NULL: unset)
 * for this call only: the library reads it at registration.  "1" demands
 * the kernel engine, also on an IOPOLL ring; unset, the user engine's
 * registration is not refused because the caller's environment demands
 * the kernel engine for ours.
 */
static int register_env(const struct bench_cfg *c, uint32_t flags, const char *env, struct ours *o)
{
	const char *was = getenv(REQUIRE_ENV);
	char *saved = was ? strdup(was) : NULL;
	int ret;

	if (was && !saved)
		return -ENOMEM;
	if (env)
		setenv(REQUIRE_ENV, env, 1);
	else
		unsetenv(REQUIRE_ENV);
	ret = bench_register(c, c->qd, c->bs, c->mode, flags, &o->desc, &o->ctx);
	if (saved)
		setenv(REQUIRE_ENV, saved, 1);
	else
		unsetenv(REQUIRE_ENV);
	free(saved);
	return ret;
}

static int ours_open(const struct bench_cfg *c, const struct bench_target *t, const void *variant,
		     struct bench_run *r, void **priv)
{
	const struct ours_variant *v = variant;
	struct ours *o = calloc(1, sizeof(*o));
	const char *want = NULL;
	uint32_t i;
	int ret;

	(void)t;
	*priv = NULL;
	if (!o || !(o->bufoff = calloc(c->qd, sizeof(*o->bufoff)))) {
		fprintf(stderr, "out of memory\n");
		free(o);
		return -1;
	}
	o->qd = c->qd;
	o->bs = c->bs;
	o->thread = c->mode == UNIFIED_MODE_THREAD;
	o->rd = is_read(c);
	if ((v && v->user) || c->lib_engine == LIB_ENGINE_USER) {
		want = "user";
		ret = register_env(c, UNIFIED_OPT_USER_ENGINE, NULL, o);
	} else if (c->lib_engine == LIB_ENGINE_KERNEL) {
		want = "kernel";
		ret = register_env(c, 0, "1", o);
	} else {
		ret = bench_register(c, c->qd, c->bs, c->mode, 0, &o->desc, &o->ctx);
	}
	if (ret) {
		if (want)
			fprintf(stderr, "%s: the %s engine was required and could not be had\n",
				r->engine, want);
		goto fail;
	}
	unified_target_info(o->ctx, &o->info);
	snprintf(r->lib_engine, sizeof(r->lib_engine), "%s", o->info.engine);
	if (want && strcmp(o->info.engine, want)) {
		fprintf(stderr, "%s: the %s engine was required but libunified runs the %s engine: "
			"refusing to report it as the %s engine\n", r->engine, want, o->info.engine,
			want);
		goto fail;
	}
	o->nlb = c->bs >> o->info.lba_shift;
	unified_sq_init(o->ctx, &o->sq);
	unified_cq_init(o->ctx, &o->cq);
	for (i = 0; i < c->qd; i++) {
		if (unified_buf_alloc(o->ctx, &o->bufoff[i])) {
			fprintf(stderr, "unified_buf_alloc: %s\n", unified_errmsg());
			goto fail;
		}
		fill_pattern(unified_buf_ptr(o->ctx, o->bufoff[i]), c->bs, i + 1);
	}
	*priv = o;
	return 0;
fail:
	ours_close(o, r);
	return -1;
}

static int ours_submit(void *priv, const struct bench_io *io, uint32_t n)
{
	struct ours *o = priv;
	uint32_t i, idx, shift = o->info.lba_shift, nsid = o->info.nsid;

	if (unified_sq_reserve(&o->sq, n, &idx) != n) {
		fprintf(stderr, "unified: SQ has no room for %u entries\n", n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct io_unified_sqe *sqe = unified_sq_entry(&o->sq, idx + i);
		uint32_t s = io[i].slot;

		if (o->rd)
			unified_prep_read(sqe, nsid, io[i].off >> shift, o->nlb, o->bufoff[s], o->bs, s);
		else
			unified_prep_write(sqe, nsid, io[i].off >> shift, o->nlb, o->bufoff[s], o->bs, s);
	}
	unified_sq_submit(&o->sq, n);
	/* Thread mode: wake the engine only if it sleeps.  Kick mode:
	 * unified_enter() in wait starts with the kick. */
	if (o->thread && unified_sq_needs_wakeup(&o->sq))
		unified_kick(o->ctx);
	return 0;
}

static int ours_wait(void *priv, uint32_t min_complete, int timeout_ms)
{
	struct ours *o = priv;
	int ret = unified_enter(o->ctx, min_complete, timeout_ms);

	if (ret == -EINTR)
		return 0;	/* a signal (SIGINT stops the run): the loop looks again */
	if (ret < 0) {
		fprintf(stderr, "unified_enter: %s\n", bench_errmsg(ret));
		return -1;
	}
	return 0;
}

static uint32_t ours_reap(void *priv, struct bench_run *r, uint32_t *slots, uint32_t max)
{
	struct ours *o = priv;
	uint32_t i, idx, got = unified_cq_peek(&o->cq, max, &idx);

	for (i = 0; i < got; i++) {
		const struct io_unified_cqe *cqe = unified_cq_entry(&o->cq, idx + i);

		slots[i] = UINT32_MAX;
		if (cqe->user_data >= o->qd) {
			bench_note_error(r, "CQE with unknown user_data %" PRIu64,
					 (uint64_t)cqe->user_data);
			continue;
		}
		if (cqe->status)
			bench_note_error(r, "command failed: NVMe status 0x%04x (%s)%s%s", cqe->status,
					 unified_status_str(cqe->status), cqe->res ? ", " : "",
					 cqe->res ? strerror(-cqe->res) : "");
		else if (cqe->len != o->bs)
			bench_note_error(r, "short transfer: %u of %u bytes", cqe->len, o->bs);
		slots[i] = (uint32_t)cqe->user_data;
	}
	if (got)
		unified_cq_release(&o->cq, got);
	return got;
}

/* Every entry is the same code: only the engine demanded differs. */
#define UNIFIED_CALLS							\
	.engine_stats = true, .mode = ours_mode, .helper = ours_helper,	\
	.helper_label = "engine", .settle = ours_settle, .open = ours_open, \
	.submit = ours_submit, .wait = ours_wait, .reap = ours_reap,	\
	.close = ours_close

static const struct ours_variant user_engine = { .user = true };

const struct bench_engine_ops engine_unified = {
	.name = "unified",
	.baseline = false,
	UNIFIED_CALLS,
};

const struct bench_engine_ops engine_unified_user = {
	.name = "unified-user",
	.key = "user",
	.baseline = true,
	.variant = &user_engine,
	UNIFIED_CALLS,
};
