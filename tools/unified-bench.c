/* SPDX-License-Identifier: MIT */
/*
 * unified-bench: a t/io_uring-style I/O benchmark of libunified, with an
 * optional run of the identical workload on baseline engines (plain
 * liburing, liburing with SQPOLL, libunified's user engine) in the same
 * invocation, so they can be compared as a ratio.
 *
 *   unified-bench [--target PATH] [--rw randread|randwrite|read|write]
 *                 [--bs BYTES] [--qd N] [--batch N] [--runtime SEC]
 *                 [--size BYTES] [--mode kick|thread] [--spin-us N] [--enter-spin-us N]
 *                 [--engine auto|kernel|user] [--iopoll] [--prefill] [--baseline]
 *                 [--sqpoll-baseline] [--baselines LIST] [--baseline-only]
 *                 [--sqpoll-idle-ms N] [--sqpoll-cpu N] [--interleave N] [--seed N]
 *                 [--count-syscalls[=perf|ptrace]] [--series-ms N] [--json]
 *
 * One workload loop serves every engine of the table below (an engine is a
 * struct bench_engine_ops, tools/lib/bench_engine.h): QD commands kept in
 * flight; each loop publishes as many new commands as there are free
 * slots, then waits until BATCH of them (or all in flight, if fewer) have
 * completed, then reaps everything that is ready.  Offsets come from a
 * seeded generator that each engine starts from the same seed, so all
 * issue the same offsets in the same order.  --interleave N alternates the
 * engines in N slices (ABBA) so that a drifting device affects all alike.
 * Latency is submit -> reap on CLOCK_MONOTONIC, taken once per loop (every
 * command published in one loop shares the stamp of that publish, every
 * command reaped shares the stamp of that reap), recorded in a
 * preallocated histogram (tools/lib/hist.h): the hot loop never allocates.
 * The target's geometry is probed once through libunified
 * (tools/lib/target_probe.h) and handed to every engine.
 *
 * CPU time per I/O is taken per thread over the measured time only: the
 * thread running this loop (CLOCK_THREAD_CPUTIME_ID) and, for an engine
 * with a thread of its own (libunified's engine thread in thread mode, the
 * SQPOLL thread), that thread, found by name in /proc/self/task.  Before
 * each slice the other engines' threads are left to go to sleep, so that
 * an idle poller does not take a CPU from the engine being measured.
 *
 * --json adds, per run, the latency percentiles of the histogram and an
 * IOPS series: each slice is cut into intervals of about --series-ms
 * (the first reap at or after each boundary closes one, the slice's end
 * closes the last, shorter one), each with its start since the first
 * slice began, its length and its completions, so the series adds up to
 * the run's I/Os exactly and shows where the other engines' slices were.
 *
 * --count-syscalls counts each engine's system calls (tools/lib/syscount.h:
 * perf tracepoint counters, or ptrace where the kernel has no syscall
 * tracepoints): each slice is a counting window from before its first
 * submission to after its drain, so every system call of the window
 * belongs to a command that was submitted and completed in it.  Counting
 * slows the run down (ptrace a lot, and it then changes how many
 * completions each wait finds): take IOPS from a run without it.
 *
 * Exit status: 0 on success; 1 if setup failed or any command completed
 * with an error; 2 for bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "libunified.h"
#include "bench.h"
#include "bench_engine.h"
#include "hist.h"
#include "syscount.h"
#include "target_probe.h"

#define DEFAULT_SEED		0x756e6966696564ull	/* "unified" */
#define DRAIN_TIMEOUT_MS	30000

/*
 * The engines, in the order they run in each slice: ours first, then the
 * baselines.  The ratios printed are ours / each baseline.
 */
static const struct bench_engine_ops *const engine_table[] = {
	&engine_unified,
	&engine_liburing,
	&engine_liburing_sqpoll,
	&engine_unified_user,
};
#define NR_ENGINES	(sizeof(engine_table) / sizeof(engine_table[0]))

/* --count-syscalls: the counters (perf or ptrace), window k = eng[k]. */
static struct syscount *syscalls;

/* The IOPS series (JSON): interval and the start of the first slice. */
#define SERIES_MS_DEFAULT	100
#define SERIES_MAX_DEFAULT	1000	/* points per run: the default interval grows */
#define SERIES_MAX		10000	/* points per run: any interval grows */
static uint64_t series_ns;
static uint64_t run_t0;

/* The percentiles of "lat_pct_us". */
static const double lat_pcts[] = { 1, 5, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99 };

/* --------------------------------------------------------------- workload */

static void on_signal(int sig)
{
	(void)sig;
	bench_interrupted = 1;
}

/* Offset generator: splitmix64, reduced to [0, nblocks) by multiply-high. */
struct gen {
	uint64_t state;
	uint64_t nblocks;
	uint64_t seq;
	bool random;
};

static void gen_init(struct gen *g, const struct bench_cfg *c, const struct bench_target *t)
{
	g->state = c->seed;
	g->nblocks = t->nblocks;
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

/*
 * An engine's IOPS series, preallocated: point i started t_ns[i] after the
 * first slice began, lasted dur_ns[i] and counted ios[i] completions, in
 * slice slice[i].  t0 and ios0: the open point's start and h->n there.
 */
struct series {
	uint32_t n, cap;
	uint64_t *t_ns, *dur_ns, *ios;
	uint32_t *slice;
	uint64_t t0, ios0;
};

/* One engine of this invocation: its ops, state, result and workload state. */
struct bench_engine {
	const struct bench_engine_ops *ops;
	void *priv;		/* from ops->open, NULL when not open */
	struct bench_run run;
	struct gen gen;
	uint32_t *free;		/* stack of free slot numbers */
	uint32_t nfree;
	uint64_t *t_submit;	/* ns, per slot */
	struct bench_io *io;	/* the batch handed to submit */
	uint32_t *done;		/* slots given back by reap */
	double slice_iops;	/* of the last slice */
	double *pair;		/* baselines: per-slice ratios ours / this */
	int npair;
	double ratio;		/* baselines: ours / this over the whole run */
	bool unsettled;		/* its thread once kept polling into another's slice */
	unsigned int idx;	/* its place in this invocation: its syscount window */
	struct series series;
};

static int engine_alloc(struct bench_engine *e, const struct bench_engine_ops *ops,
			const struct bench_cfg *c)
{
	uint32_t i;

	e->ops = ops;
	e->run.engine = ops->name;
	e->run.mode = ops->mode ? ops->mode(c) : "";
	e->run.has_engine_stats = ops->engine_stats;
	e->run.helper_label = ops->helper && ops->helper(c) ? ops->helper_label : NULL;
	e->run.h = hist_new();
	e->free = calloc(c->qd, sizeof(*e->free));
	e->t_submit = calloc(c->qd, sizeof(*e->t_submit));
	e->io = calloc(c->qd, sizeof(*e->io));
	e->done = calloc(c->qd, sizeof(*e->done));
	e->pair = calloc(c->interleave, sizeof(*e->pair));
	/* Every point but a slice's last lasts at least series_ns and ends
	 * before the slice's deadline. */
	e->series.cap = c->interleave * (uint32_t)((uint64_t)(c->runtime * 1e9 / c->interleave) /
						   series_ns + 1);
	e->series.t_ns = calloc(e->series.cap, sizeof(*e->series.t_ns));
	e->series.dur_ns = calloc(e->series.cap, sizeof(*e->series.dur_ns));
	e->series.ios = calloc(e->series.cap, sizeof(*e->series.ios));
	e->series.slice = calloc(e->series.cap, sizeof(*e->series.slice));
	if (!e->run.h || !e->free || !e->t_submit || !e->io || !e->done || !e->pair ||
	    !e->series.t_ns || !e->series.dur_ns || !e->series.ios || !e->series.slice)
		return -ENOMEM;
	for (i = 0; i < c->qd; i++)
		e->free[i] = c->qd - 1 - i;
	e->nfree = c->qd;
	return 0;
}

static void engine_free(struct bench_engine *e)
{
	free(e->run.h);
	free(e->free);
	free(e->t_submit);
	free(e->io);
	free(e->done);
	free(e->pair);
	free(e->series.t_ns);
	free(e->series.dur_ns);
	free(e->series.ios);
	free(e->series.slice);
}

/* Close @e's open series point at @now (in slice @slice) and open the next. */
static void series_point(struct bench_engine *e, uint32_t slice, uint64_t now)
{
	struct series *s = &e->series;
	uint64_t ios = e->run.h->n - s->ios0, dur = now - s->t0;

	if (s->n == s->cap && s->n) {
		/* not reached with the cap of engine_alloc; the sums stay right */
		s->dur_ns[s->n - 1] += dur;
		s->ios[s->n - 1] += ios;
	} else if (dur || ios) {
		s->t_ns[s->n] = s->t0 - run_t0;
		s->dur_ns[s->n] = dur;
		s->ios[s->n] = ios;
		s->slice[s->n++] = slice;
	}
	s->t0 = now;
	s->ios0 = e->run.h->n;
}

/* CPU clocks at the start of a measured slice. */
struct cpu_mark {
	double proc, app, helper;
};

static void cpu_mark(const struct bench_run *r, struct cpu_mark *m)
{
	m->proc = cpu_seconds();
	m->app = thread_cpu_seconds();
	m->helper = r->helper_tid ? task_cpu_seconds(r->helper_tid) : 0;
}

/* Add the CPU time since @m to @r; a helper thread that went away is dropped. */
static void cpu_account(struct bench_run *r, const struct cpu_mark *m)
{
	struct cpu_mark now;

	cpu_mark(r, &now);
	r->cpu_s += now.proc - m->proc;
	r->app_cpu_s += now.app - m->app;
	if (r->helper_tid && (now.helper < 0 || m->helper < 0))
		r->helper_tid = 0;
	else
		r->helper_cpu_s += now.helper - m->helper;
}

/*
 * One timed slice (number @slice) of @ns nanoseconds on engine @e: it
 * starts with nothing in flight and ends by draining (uncounted).  Returns
 * the IOPS of the slice, or -1 if the engine failed.
 */
static double run_slice(const struct bench_cfg *c, struct bench_engine *e, uint32_t slice,
			uint64_t ns)
{
	const struct bench_engine_ops *ops = e->ops;
	struct bench_run *r = &e->run;
	uint64_t t0, deadline, now, ios0 = r->h->n, completed = 0;
	uint32_t inflight = 0, i, got, wait_nr;
	bool counting = true;
	struct cpu_mark cpu0;
	double secs = 0;

	cpu_mark(r, &cpu0);
	if (syscalls)
		syscount_begin(syscalls, e->idx);
	t0 = now = now_ns();
	deadline = t0 + ns;
	e->series.t0 = t0;
	e->series.ios0 = ios0;
	for (;;) {
		if (counting && (now >= deadline || bench_interrupted)) {
			counting = false;
			r->ns += now - t0;
			cpu_account(r, &cpu0);
			secs = (double)(now - t0) / 1e9;
			series_point(e, slice, now);
		} else if (counting && now - e->series.t0 >= series_ns) {
			series_point(e, slice, now);
		}
		if (!counting && !inflight)
			break;
		/* Publish one command per free slot, all at once. */
		if (counting && e->nfree) {
			uint32_t n = e->nfree;

			for (i = 0; i < n; i++) {
				uint32_t s = e->free[--e->nfree];

				e->io[i].slot = s;
				e->io[i].off = gen_next(&e->gen) * c->bs;
				e->t_submit[s] = now;
			}
			if (ops->submit(e->priv, e->io, n))
				return -1;
			inflight += n;
		}
		wait_nr = counting ? (c->batch < inflight ? c->batch : inflight) : inflight;
		if (ops->wait(e->priv, wait_nr, counting ? -1 : DRAIN_TIMEOUT_MS))
			return -1;
		now = now_ns();
		while ((got = ops->reap(e->priv, r, e->done, c->qd))) {
			for (i = 0; i < got; i++) {
				uint32_t s = e->done[i];

				if (s == UINT32_MAX)
					continue;
				if (counting)
					hist_add(r->h, now - e->t_submit[s]);
				e->free[e->nfree++] = s;
			}
			inflight -= got;
			completed += got;
		}
	}
	/* Every command of the window was submitted and completed in it. */
	if (syscalls)
		syscount_end(syscalls, e->idx, completed);
	r->ios = r->h->n;
	return secs > 0 ? (double)(r->h->n - ios0) / secs : 0.0;
}

/* ------------------------------------------------------------- reporting */

static double iops_of(const struct bench_run *r)
{
	return r->ns ? (double)r->ios * 1e9 / (double)r->ns : 0.0;
}

/* Microseconds of CPU per counted I/O. */
static double per_io_us(const struct bench_run *r, double cpu_s)
{
	return r->ios ? cpu_s * 1e6 / (double)r->ios : 0.0;
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

/* Window @w's system call numbers with a count, the most frequent first
 * (at most @max of them). */
static int top_calls(const struct syscount_window *w, uint32_t *nrs, int max)
{
	int n = 0, i;
	uint32_t k;

	for (k = 0; k < SYSCOUNT_NR; k++) {
		if (!w->nr[k])
			continue;
		/* insert into the sorted nrs[0..n); the smallest falls off a full list */
		i = n < max ? n++ : max;
		for (; i > 0 && w->nr[nrs[i - 1]] < w->nr[k]; i--)
			if (i < max)
				nrs[i] = nrs[i - 1];
		if (i < max)
			nrs[i] = k;
	}
	return n;
}

static void call_name(uint32_t nr, char *buf, size_t len)
{
	const char *name = syscount_name(nr);

	if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "nr_%u", nr);
}

static double per(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

/* "  syscalls: ..." of eng[@idx] (--count-syscalls). */
static void print_syscalls(unsigned int idx)
{
	const struct syscount_window *w = &syscalls->win[idx];
	uint64_t enter = syscount_nr_io_uring_enter(), shown = 0;
	uint32_t nrs[6];
	int n = top_calls(w, nrs, 6), i;
	char name[32];

	if (syscalls->error) {
		printf("  syscalls: not counted: the tracer failed (%s)\n", strerror(syscalls->error));
		return;
	}
	printf("  syscalls (%s): %.3f per I/O (%" PRIu64 " in %" PRIu64 " I/Os; io_uring_enter %.3f "
	       "per I/O", syscalls->method == SYSCOUNT_PERF ? "perf" : "ptrace",
	       per(w->total, w->ios), w->total, w->ios,
	       per(enter < SYSCOUNT_NR ? w->nr[enter] : 0, w->ios));
	for (i = 0; i < n; i++) {
		if (nrs[i] == enter)
			continue;
		call_name(nrs[i], name, sizeof(name));
		printf(", %s %" PRIu64, name, w->nr[nrs[i]]);
		shown += w->nr[nrs[i]];
	}
	if (enter < SYSCOUNT_NR)
		shown += w->nr[enter];
	if (w->total > shown)
		printf(", others %" PRIu64, w->total - shown);
	printf(")\n");
}

static void print_run(const struct bench_cfg *c, const struct bench_run *r, unsigned int idx)
{
	double iops = iops_of(r), secs = (double)r->ns / 1e9;
	char name[32];

	snprintf(name, sizeof(name), "%s%s%s", r->engine, r->mode[0] ? " " : "", r->mode);
	printf("[%s] target=%s rw=%s bs=%u qd=%u batch=%u", name, c->path, rw_names[c->rw], c->bs,
	       c->qd, c->batch);
	if (r->lib_engine[0])
		printf(" engine=%s", r->lib_engine);
	putchar('\n');
	printf("  IOPS=%.0f  BW=%.1f MiB/s  ios=%" PRIu64 " in %.2f s  errors=%" PRIu64
	       "  cpu=%.0f%%\n", iops, iops * c->bs / 1048576.0, r->ios, secs, r->errors,
	       secs > 0 ? 100.0 * r->cpu_s / secs : 0.0);
	printf("  lat(us) p50=%.1f p99=%.1f p99.9=%.1f mean=%.1f max=%.1f\n",
	       hist_pct_us(r->h, 50), hist_pct_us(r->h, 99), hist_pct_us(r->h, 99.9),
	       hist_mean_us(r->h), hist_max_us(r->h));
	printf("  cpu/io: app %.3f us", per_io_us(r, r->app_cpu_s));
	if (r->helper_label && r->helper_tid)
		printf(", %s %.3f us", r->helper_label, per_io_us(r, r->helper_cpu_s));
	else if (r->helper_label)
		printf(", %s n/a", r->helper_label);
	printf(" (process %.3f us)\n", per_io_us(r, r->cpu_s));
	if (r->kicks)
		printf("  engine: %" PRIu64 " kicks, %" PRIu64 " sleeps\n", r->kicks, r->sleeps);
	if (syscalls)
		print_syscalls(idx);
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

/* ,"syscalls":{...} of eng[@idx] (--count-syscalls). */
static void json_syscalls(unsigned int idx)
{
	const struct syscount_window *w = &syscalls->win[idx];
	uint64_t enter = syscount_nr_io_uring_enter(), n_enter;
	uint32_t nrs[16];
	int n = top_calls(w, nrs, 16), i;
	char name[32];

	n_enter = enter < SYSCOUNT_NR ? w->nr[enter] : 0;
	if (syscalls->error) {
		printf(",\"syscalls\":null");
		return;
	}
	printf(",\"syscalls\":{\"ios\":%" PRIu64 ",\"calls\":%" PRIu64 ",\"per_io\":%.4f,"
	       "\"io_uring_enter\":%" PRIu64 ",\"io_uring_enter_per_io\":%.4f,\"by_call\":{",
	       w->ios, w->total, per(w->total, w->ios), n_enter, per(n_enter, w->ios));
	for (i = 0; i < n; i++) {
		call_name(nrs[i], name, sizeof(name));
		printf("%s\"%s\":%" PRIu64, i ? "," : "", name, w->nr[nrs[i]]);
	}
	printf("}}");
}

/* ,"lat_pct_us":[[p,us],...] of @r's histogram. */
static void json_lat_pct(const struct bench_run *r)
{
	size_t i;

	printf(",\"lat_pct_us\":[");
	for (i = 0; i < sizeof(lat_pcts) / sizeof(lat_pcts[0]); i++)
		printf("%s[%g,%.2f]", i ? "," : "", lat_pcts[i], hist_pct_us(r->h, lat_pcts[i]));
	printf("]");
}

/* ,"iops_series":{...} of @s. */
static void json_series(const struct series *s)
{
	uint32_t i;

	printf(",\"iops_series\":{\"interval_ms\":%.3f,\"t_s\":[", (double)series_ns / 1e6);
	for (i = 0; i < s->n; i++)
		printf("%s%.6f", i ? "," : "", (double)s->t_ns[i] / 1e9);
	printf("],\"dur_s\":[");
	for (i = 0; i < s->n; i++)
		printf("%s%.6f", i ? "," : "", (double)s->dur_ns[i] / 1e9);
	printf("],\"ios\":[");
	for (i = 0; i < s->n; i++)
		printf("%s%" PRIu64, i ? "," : "", s->ios[i]);
	printf("],\"iops\":[");
	for (i = 0; i < s->n; i++)
		printf("%s%.1f", i ? "," : "",
		       s->dur_ns[i] ? (double)s->ios[i] * 1e9 / (double)s->dur_ns[i] : 0.0);
	printf("],\"slice\":[");
	for (i = 0; i < s->n; i++)
		printf("%s%u", i ? "," : "", s->slice[i]);
	printf("]}");
}

static void json_run(const struct bench_cfg *c, const struct bench_engine *e)
{
	const struct bench_run *r = &e->run;
	double iops = iops_of(r), secs = (double)r->ns / 1e9;

	printf("{\"engine\":");
	json_str(r->engine);
	printf(",\"mode\":");
	json_str(r->mode);
	if (r->lib_engine[0]) {
		printf(",\"unified_engine\":");
		json_str(r->lib_engine);
	}
	printf(",\"ok\":%s,\"ios\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"seconds\":%.6f,"
	       "\"iops\":%.1f,\"mib_s\":%.2f,\"cpu_pct\":%.1f,", !r->failed && !r->errors ? "true" : "false",
	       r->ios, r->errors, secs, iops, iops * c->bs / 1048576.0,
	       secs > 0 ? 100.0 * r->cpu_s / secs : 0.0);
	printf("\"lat_us\":{\"p50\":%.2f,\"p99\":%.2f,\"p99_9\":%.2f,\"mean\":%.2f,\"min\":%.2f,"
	       "\"max\":%.2f}", hist_pct_us(r->h, 50), hist_pct_us(r->h, 99),
	       hist_pct_us(r->h, 99.9), hist_mean_us(r->h), hist_min_us(r->h), hist_max_us(r->h));
	json_lat_pct(r);
	json_series(&e->series);
	printf(",\"cpu_per_io_us\":{\"process\":%.4f,\"app\":%.4f,\"helper\":",
	       per_io_us(r, r->cpu_s), per_io_us(r, r->app_cpu_s));
	if (r->helper_tid)
		printf("%.4f},\"helper_thread\":", per_io_us(r, r->helper_cpu_s));
	else
		printf("null},\"helper_thread\":");
	if (r->helper_tid)
		json_str(r->helper_comm);
	else
		printf("null");
	if (r->has_engine_stats)
		printf(",\"kicks\":%" PRIu64 ",\"sleeps\":%" PRIu64, r->kicks, r->sleeps);
	if (r->err[0]) {
		printf(",\"first_error\":");
		json_str(r->err);
	}
	if (syscalls)
		json_syscalls(e->idx);
	printf("}");
}

/* "ratio_iops":..,"slice_ratios_sorted":[..] of ours / @base (NULL: none). */
static void json_ratio(const struct bench_engine *base)
{
	int i;

	printf("\"ratio_iops\":");
	if (base && base->ratio > 0)
		printf("%.4f", base->ratio);
	else
		printf("null");
	printf(",\"slice_ratios_sorted\":[");
	for (i = 0; base && i < base->npair; i++)
		printf("%s%.4f", i ? "," : "", base->pair[i]);
	printf("]");
}

/*
 * ratio_iops and slice_ratios_sorted compare ours with the first baseline;
 * ratios[] with each baseline (@has_ours: eng[0] is ours).
 */
static void json_report(const struct bench_cfg *c, const struct bench_target *t,
			const struct bench_engine *eng, int neng, bool has_ours)
{
	int i;

	printf("{\"tool\":\"unified-bench\",\"version\":");
	json_str(unified_version());
	printf(",\"target\":");
	json_str(c->path);
	if (syscalls)
		printf(",\"count_syscalls\":\"%s\"", syscalls->method == SYSCOUNT_PERF ? "perf" : "ptrace");
	printf(",\"target_kind\":\"%s\",\"rw\":\"%s\",\"bs\":%u,\"qd\":%u,\"batch\":%u,"
	       "\"runtime_s\":%.3f,\"span_bytes\":%" PRIu64 ",\"seed\":%" PRIu64 ",\"iopoll\":%s,"
	       "\"prefill\":%s,\"interleave\":%u,\"runs\":[", kind_name(t->kind), rw_names[c->rw],
	       c->bs, c->qd, c->batch, c->runtime, t->span, c->seed, t->iopoll ? "true" : "false",
	       c->prefill ? "true" : "false", c->interleave);
	for (i = 0; i < neng; i++) {
		if (i)
			putchar(',');
		json_run(c, &eng[i]);
	}
	printf("],");
	json_ratio(has_ours && neng > 1 ? &eng[1] : NULL);
	printf(",\"ratios\":[");
	for (i = 1; has_ours && i < neng; i++) {
		printf("%s{\"baseline\":", i > 1 ? "," : "");
		json_str(eng[i].run.engine);
		putchar(',');
		json_ratio(&eng[i]);
		putchar('}');
	}
	printf("]}\n");
}

static void text_report(const struct bench_cfg *c, const struct bench_target *t,
			const struct bench_engine *eng, int neng, bool has_ours)
{
	int i;

	if (t->span)
		printf("unified-bench %s: %s target %s, span %" PRIu64 " MiB, %s bs=%u qd=%u "
		       "batch=%u runtime=%.1fs seed=%" PRIu64 "%s%s\n", unified_version(),
		       kind_name(t->kind), c->path, t->span >> 20, rw_names[c->rw], c->bs, c->qd,
		       c->batch, c->runtime, c->seed, t->iopoll ? " iopoll" : "",
		       c->interleave > 1 ? " (interleaved)" : "");
	for (i = 0; i < neng; i++)
		if (eng[i].run.done)
			print_run(c, &eng[i].run, eng[i].idx);
	for (i = has_ours ? 1 : neng; i < neng; i++) {
		const struct bench_engine *b = &eng[i];

		if (b->ratio > 0)
			printf("ratio ours/%s IOPS: %.2fx\n", b->run.engine, b->ratio);
		if (b->npair > 1)
			printf("  per-slice ratios over %d slices: min %.2f, median %.2f, max %.2f\n",
			       b->npair, b->pair[0], median(b->pair, b->npair), b->pair[b->npair - 1]);
	}
	for (i = 0; i < neng; i++)
		if (eng[i].run.errors)
			fprintf(stderr, "%s: %" PRIu64 " command(s) failed; first: %s\n",
				eng[i].run.engine, eng[i].run.errors, eng[i].run.err);
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: unified-bench [options]\n"
		"  --target PATH     file, block device or /dev/ngXnY (default: the embedded\n"
		"                    default namespace, a sparse 1 GiB file at\n"
		"                    $UNIFIED_DEFAULT_FILE or $TMPDIR/unified-<uid>/default.img)\n"
		"  --rw MODE         randread (default), randwrite, read, write\n"
		"  --bs BYTES        block size, k/m suffixes (default 4k)\n"
		"  --qd N            commands kept in flight (default 32)\n"
		"  --batch N         completions waited for per loop (default qd/4, at least 1)\n"
		"  --runtime SEC     measured time per run (default 5)\n"
		"  --size BYTES      span of the target to use (default: all of it); also the\n"
		"                    size of a file created for a missing target (default 1 GiB)\n"
		"  --mode kick|thread  libunified engine mode (default kick)\n"
		"  --spin-us N       thread mode: engine busy-polls N us before sleeping\n"
		"                    (default: the library's: 50; on <= 2 CPUs 10 with\n"
		"                    nothing in flight, 2 with I/O in flight)\n"
		"  --enter-spin-us N thread mode: unified_enter() polls the CQ at most N us\n"
		"                    while the engine is awake, before it sleeps (default:\n"
		"                    the library's, 50)\n"
		"  --engine auto|kernel|user  the libunified engine our run must get: the\n"
		"                    library's choice (default), the kernel engine (with\n"
		"                    UNIFIED_REQUIRE_KERNEL_ENGINE=1 for its registration, so\n"
		"                    also on IOPOLL rings; fails rather than fall back), or\n"
		"                    the user engine (UNIFIED_OPT_USER_ENGINE)\n"
		"  --iopoll          polled completions (NVMe target with poll queues)\n"
		"  --prefill         write the span once before measuring (reads of a sparse\n"
		"                    file's holes never reach the disk)\n"
		"  --baseline        then run the identical workload on plain liburing\n"
		"  --sqpoll-baseline ... and on liburing with IORING_SETUP_SQPOLL\n"
		"  --baselines LIST  the baselines to run, a comma list of liburing, sqpoll,\n"
		"                    user (libunified with UNIFIED_OPT_USER_ENGINE: beside\n"
		"                    ours on the kernel engine); adds to --baseline and\n"
		"                    --sqpoll-baseline\n"
		"  --baseline-only   run only the baselines (plain liburing if none is chosen)\n"
		"  --sqpoll-idle-ms N  SQPOLL baseline: sq_thread_idle (default 1000)\n"
		"  --sqpoll-cpu N    SQPOLL baseline: pin the SQ thread to CPU N (default: not\n"
		"                    pinned, the scheduler places it)\n"
		"  --interleave N    split each run into N slices and alternate the engines\n"
		"                    slice by slice (ABBA order), so device drift cancels out\n"
		"  --seed N          offset generator seed (default %llu)\n"
		"  --count-syscalls[=perf|ptrace]  count each engine's system calls per\n"
		"                    I/O, from the first submission of a slice to the end of\n"
		"                    its drain: with perf counters on the syscall tracepoints\n"
		"                    (the default where the kernel has them), else ptrace,\n"
		"                    which slows every call down so much that waits find\n"
		"                    more completions ready; take IOPS from another run\n"
		"  --json            print one JSON object instead of text; each run has\n"
		"                    latency percentiles (lat_pct_us) and an IOPS series\n"
		"                    (iops_series)\n"
		"  --series-ms N     interval of the JSON IOPS series, in ms (default 100,\n"
		"                    raised to runtime/1000; any value to runtime/10000)\n",
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

/* Add the baselines named in the comma list @list to @mask (bit k: engine_table[k]). */
static int parse_baselines(const char *list, uint32_t *mask)
{
	const char *p = list;
	size_t len;
	uint32_t k;

	do {
		len = strcspn(p, ",");
		for (k = 0; k < NR_ENGINES; k++) {
			const struct bench_engine_ops *ops = engine_table[k];

			if (ops->baseline && ((strlen(ops->key) == len && !strncmp(p, ops->key, len)) ||
					      (strlen(ops->name) == len && !strncmp(p, ops->name, len))))
				break;
		}
		if (k == NR_ENGINES) {
			fprintf(stderr, "--baselines: unknown baseline '%.*s'; there are:", (int)len, p);
			for (k = 0; k < NR_ENGINES; k++)
				if (engine_table[k]->baseline)
					fprintf(stderr, " %s", engine_table[k]->key);
			fputc('\n', stderr);
			return -1;
		}
		*mask |= 1u << k;
		p += len;
	} while (*p++);
	return 0;
}

/*
 * Before a slice of @cur: let every other engine's own thread go to sleep
 * (the SQPOLL thread polls for sq_thread_idle after its last SQE), so it
 * takes no CPU from @cur.  Says once per engine if one would not.
 */
static void settle_others(const struct bench_cfg *c, struct bench_engine *eng, int neng,
			  const struct bench_engine *cur)
{
	int i;

	for (i = 0; i < neng; i++) {
		struct bench_engine *e = &eng[i];

		if (e == cur || !e->ops->settle || e->ops->settle(e->priv, c) || e->unsettled)
			continue;
		e->unsettled = true;
		fprintf(stderr, "note: %s: its %s still polled after the wait; it may have taken "
			"CPU from %s's slices\n", e->run.engine, e->run.helper_label ?
			e->run.helper_label : "thread", cur->run.engine);
	}
}

struct helper_search {
	const char *prefix;
	const int *skip;
	int nskip;
	struct bench_run *r;
};

static bool helper_found(const void *arg)
{
	const struct helper_search *hs = arg;

	hs->r->helper_tid = find_thread(hs->prefix, hs->skip, hs->nskip, hs->r->helper_comm);
	return hs->r->helper_tid;
}

/*
 * Find each open engine's own thread by name (each thread counted once).
 * The SQPOLL thread names itself when it first runs, so a freshly set up
 * ring may take a moment to show it.
 */
static void find_helpers(const struct bench_cfg *c, struct bench_engine *eng, int neng)
{
	int tids[NR_ENGINES], ntid = 0, i;

	for (i = 0; i < neng; i++) {
		struct helper_search hs = { .skip = tids, .nskip = ntid, .r = &eng[i].run };
		struct bench_run *r = &eng[i].run;

		if (!r->helper_label)
			continue;
		hs.prefix = eng[i].ops->helper(c);
		if (bench_wait_until(helper_found, &hs, 1000))
			tids[ntid++] = r->helper_tid;
		else
			fprintf(stderr, "note: %s: no thread named %s* in /proc/self/task; its %s "
				"CPU is not reported\n", r->engine, hs.prefix, r->helper_label);
	}
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
		{ "sqpoll-baseline", no_argument, NULL, 'Q' },
		{ "baselines", required_argument, NULL, 'l' },
		{ "sqpoll-idle-ms", required_argument, NULL, 'i' },
		{ "sqpoll-cpu", required_argument, NULL, 'c' },
		{ "baseline-only", no_argument, NULL, 'O' },
		{ "seed", required_argument, NULL, 'S' },
		{ "interleave", required_argument, NULL, 'I' },
		{ "spin-us", required_argument, NULL, 'W' },
		{ "enter-spin-us", required_argument, NULL, 'E' },
		{ "json", no_argument, NULL, 'j' },
		{ "engine", required_argument, NULL, 'e' },
		{ "count-syscalls", optional_argument, NULL, 'C' },
		{ "series-ms", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct bench_cfg cfg = {
		.rw = RW_RANDREAD, .bs = 4096, .qd = 32, .runtime = 5.0,
		.mode = UNIFIED_MODE_KICK, .seed = DEFAULT_SEED, .interleave = 1,
		.sqpoll_idle_ms = 1000, .sqpoll_cpu = -1,
	};
	struct bench_engine eng[NR_ENGINES];
	struct bench_target geo = { 0 };
	struct unified_ctx *probe;
	struct sigaction sa;
	uint64_t slice_ns, min_series_ns;
	uint32_t series_ms = 0;
	bool has_ours;
	int opt, rc = 0, i, neng = 0;
	uint32_t k;
	uint64_t v;
	char *end;

	memset(eng, 0, sizeof(eng));
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
		case 'Q':
		case 'l':
			if (parse_baselines(opt == 'l' ? optarg : opt == 'L' ? "liburing" : "sqpoll",
					    &cfg.baselines))
				return 2;
			break;
		case 'i':
			if (parse_u32(optarg, &k, 1, 3600000)) {
				fprintf(stderr, "--sqpoll-idle-ms must be 1 .. 3600000\n");
				return 2;
			}
			cfg.sqpoll_idle_ms = k;
			break;
		case 'c':
			if (parse_u32(optarg, &k, 0, CPU_SETSIZE - 1)) {
				fprintf(stderr, "--sqpoll-cpu must be a CPU number\n");
				return 2;
			}
			cfg.sqpoll_cpu = (int)k;
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
		case 'E':
			if (parse_u32(optarg, &cfg.enter_spin_us, 1, 10000000)) {
				fprintf(stderr, "--enter-spin-us must be 1 .. 10000000\n");
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
		case 'M':
			if (parse_u32(optarg, &series_ms, 1, 3600000)) {
				fprintf(stderr, "--series-ms must be 1 .. 3600000\n");
				return 2;
			}
			break;
		case 'e':
			if (!strcmp(optarg, "auto")) {
				cfg.lib_engine = LIB_ENGINE_AUTO;
			} else if (!strcmp(optarg, "kernel")) {
				cfg.lib_engine = LIB_ENGINE_KERNEL;
			} else if (!strcmp(optarg, "user")) {
				cfg.lib_engine = LIB_ENGINE_USER;
			} else {
				fprintf(stderr, "--engine must be auto, kernel or user\n");
				return 2;
			}
			break;
		case 'C':
			cfg.count_syscalls = true;
			if (!optarg)
				cfg.count_method = SYSCOUNT_NONE;
			else if (!strcmp(optarg, "perf"))
				cfg.count_method = SYSCOUNT_PERF;
			else if (!strcmp(optarg, "ptrace"))
				cfg.count_method = SYSCOUNT_PTRACE;
			else {
				fprintf(stderr, "--count-syscalls takes perf or ptrace\n");
				return 2;
			}
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
	/* The series interval, so that a run has at most SERIES_MAX(_DEFAULT) points. */
	series_ns = (uint64_t)(series_ms ? series_ms : SERIES_MS_DEFAULT) * 1000000;
	min_series_ns = (uint64_t)(cfg.runtime * 1e9 / (series_ms ? SERIES_MAX : SERIES_MAX_DEFAULT));
	if (series_ns < min_series_ns)
		series_ns = min_series_ns;
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

	/* Counters on this process before any engine starts a thread.  With
	 * ptrace, from here on the parent only counts (and exits with our
	 * status), we go on in the child. */
	if (cfg.count_syscalls) {
		syscalls = syscount_new();
		if (!syscalls) {
			fprintf(stderr, "--count-syscalls: no memory for the counters\n");
			return 1;
		}
		if (cfg.count_method != SYSCOUNT_PTRACE && syscount_perf_self(syscalls)) {
			if (cfg.count_method == SYSCOUNT_PERF) {
				fprintf(stderr, "--count-syscalls=perf: %s\n", syscount_perf_why());
				return 1;
			}
			fprintf(stderr, "note: --count-syscalls: %s; counting with ptrace instead, "
				"which changes the timing (fewer calls per I/O than untraced)\n",
				syscount_perf_why());
		}
		if (syscalls->method != SYSCOUNT_PERF && syscount_trace_self(syscalls))
			return 1;
		if (!cfg.json)
			printf("note: --count-syscalls (%s): IOPS and latencies of this run are not "
			       "comparable with a run without it\n",
			       syscalls->method == SYSCOUNT_PERF ? "perf" : "ptrace");
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Ours unless --baseline-only; the baselines chosen (plain liburing
	 * with --baseline-only alone). */
	if (cfg.baseline_only && !cfg.baselines)
		parse_baselines("liburing", &cfg.baselines);
	for (k = 0; k < NR_ENGINES; k++) {
		const struct bench_engine_ops *ops = engine_table[k];

		if (ops->baseline ? !(cfg.baselines & 1u << k) : cfg.baseline_only)
			continue;
		eng[neng].idx = (unsigned int)neng;
		if (engine_alloc(&eng[neng++], ops, &cfg)) {
			fprintf(stderr, "out of memory\n");
			rc = 1;
			goto out;
		}
	}
	has_ours = neng && !eng[0].ops->baseline;

	/* The geometry every engine uses, and the prefill, through libunified. */
	probe = target_probe(&cfg, &geo);
	if (!probe) {
		for (i = 0; i < neng; i++)
			eng[i].run.failed = true;
		goto done;
	}
	if (cfg.prefill && target_prefill(&cfg, probe, &geo)) {
		unified_unregister(probe);
		rc = 1;
		goto out;
	}
	unified_unregister(probe);
	if (bench_interrupted) {
		rc = 1;
		goto out;
	}
	if (cfg.iopoll && !geo.iopoll && !cfg.json)
		printf("note: --iopoll requested, but the %s target is not polled; the baseline "
		       "will not poll either\n", kind_name(geo.kind));
	for (i = 0; i < neng; i++) {
		struct bench_engine *e = &eng[i];

		if (e->ops->open(&cfg, &geo, e->ops->variant, &e->run, &e->priv)) {
			e->run.failed = true;
			goto done;
		}
		gen_init(&e->gen, &cfg, &geo);
	}
	find_helpers(&cfg, eng, neng);

	/*
	 * Run the slices.  With --interleave 1: each engine in table order.
	 * With N slices the order reverses every other slice (ours, lib, lib,
	 * ours, ours, ...) so a slow drift of the device hits all alike.
	 */
	slice_ns = (uint64_t)(cfg.runtime * 1e9 / cfg.interleave);
	run_t0 = now_ns();
	for (k = 0; k < cfg.interleave && !bench_interrupted; k++) {
		for (i = 0; i < neng; i++) {
			struct bench_engine *e = &eng[k & 1 ? neng - 1 - i : i];

			settle_others(&cfg, eng, neng, e);
			e->slice_iops = run_slice(&cfg, e, k, slice_ns);
			if (e->slice_iops < 0) {
				e->run.failed = true;
				goto done;
			}
		}
		for (i = 1; has_ours && i < neng; i++)
			if (eng[0].slice_iops > 0 && eng[i].slice_iops > 0)
				eng[i].pair[eng[i].npair++] = eng[0].slice_iops / eng[i].slice_iops;
	}
	for (i = 0; i < neng; i++)
		eng[i].run.done = true;
done:
	for (i = 0; i < neng; i++) {
		struct bench_engine *e = &eng[i];

		e->ops->close(e->priv, &e->run);
		e->priv = NULL;
		if (e->run.failed || e->run.errors || !e->run.done)
			rc = 1;
		if (i && has_ours && eng[0].run.done && e->run.done && iops_of(&e->run) > 0)
			e->ratio = iops_of(&eng[0].run) / iops_of(&e->run);
		qsort(e->pair, e->npair, sizeof(*e->pair), cmp_double);
	}
	if (cfg.json)
		json_report(&cfg, &geo, eng, neng, has_ours);
	else
		text_report(&cfg, &geo, eng, neng, has_ours);
out:
	for (i = 0; i < neng; i++)
		engine_free(&eng[i]);
	return rc;
}
