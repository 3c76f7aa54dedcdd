/* SPDX-License-Identifier: MIT */
/*
 * An engine of unified-bench: something that can keep cfg->qd commands of
 * cfg->bs bytes in flight on the target.  The workload loop (in
 * unified-bench.c) is the same for every engine: it hands an engine a batch
 * of commands, waits for some, reaps what is ready, and does all timing,
 * offsets and latency itself.  An engine only translates.
 *
 * Adding a baseline is one `const struct bench_engine_ops` in its own file
 * under tools/lib/ and one line in unified-bench.c's engine table; its key
 * names it in --baselines.
 */
#ifndef BENCH_ENGINE_H
#define BENCH_ENGINE_H

#include "bench.h"

/* One command of a batch. */
struct bench_io {
	uint64_t off;		/* byte offset in the target, a multiple of bs */
	uint32_t slot;		/* 0..qd-1: the buffer to use; reap gives it back */
};

struct bench_engine_ops {
	const char *name;	/* as printed: "unified", "liburing", ... */
	const char *key;	/* baselines: its name in --baselines LIST */
	bool baseline;		/* a baseline (else: ours); see --baselines */
	bool engine_stats;	/* close reports kicks and sleeps */
	const void *variant;	/* engine-specific constant handed to open (lets one
				 * implementation serve several table entries) */

	/* The variant name the configuration selects ("kick"), or NULL. */
	const char *(*mode)(const struct bench_cfg *c);

	/*
	 * An engine that runs a thread of its own (libunified's engine thread,
	 * the SQPOLL thread): the prefix of that thread's name in
	 * /proc/self/task/TID/comm once open has run, or NULL.  Its CPU time
	 * is reported apart from the application thread's, as helper_label.
	 */
	const char *(*helper)(const struct bench_cfg *c);
	const char *helper_label;

	/*
	 * Wait (bounded) until that thread has stopped polling and sleeps, so
	 * it takes no CPU from another engine's slice.  false if it still
	 * polls.  NULL: nothing to wait for.
	 */
	bool (*settle)(void *priv, const struct bench_cfg *c);

	/*
	 * Set up for cfg->qd commands of cfg->bs bytes on @t, with one data
	 * buffer per slot filled by fill_pattern(buf, bs, slot + 1).  Prints
	 * why on failure and returns -1; *priv is then NULL.
	 */
	int (*open)(const struct bench_cfg *c, const struct bench_target *t, const void *variant,
		    struct bench_run *r, void **priv);

	/* Queue @n commands (n <= free slots); 0 or -1 (printed). */
	int (*submit)(void *priv, const struct bench_io *io, uint32_t n);

	/*
	 * Make everything queued visible to the target and wait until at least
	 * @min_complete completions are ready, or @timeout_ms (-1 = forever)
	 * passes.  0 or -1 (printed).
	 */
	int (*wait)(void *priv, uint32_t min_complete, int timeout_ms);

	/*
	 * Consume up to @max ready completions: each one's slot goes to
	 * slots[], or UINT32_MAX if it carried no valid slot; failed commands
	 * are counted with bench_note_error(@r).  Returns how many were
	 * consumed, 0 when none is ready.
	 */
	uint32_t (*reap)(void *priv, struct bench_run *r, uint32_t *slots, uint32_t max);

	/* Copy engine counters to @r, tear down (r->failed on error), free @priv. */
	void (*close)(void *priv, struct bench_run *r);
};

extern const struct bench_engine_ops engine_unified;
extern const struct bench_engine_ops engine_unified_user;
extern const struct bench_engine_ops engine_liburing;
extern const struct bench_engine_ops engine_liburing_sqpoll;

#endif
