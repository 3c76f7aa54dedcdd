/* SPDX-License-Identifier: MIT */
/*
 * What unified-bench's parts share: the configuration from the command
 * line, the target's geometry as the workload sees it, one engine's run
 * result, and small helpers.
 */
#ifndef BENCH_H
#define BENCH_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "hist.h"

#define NSEC_PER_SEC		1000000000ull
#define DEFAULT_FILE_SIZE	(1ull << 30)
#define MAX_REPORTED_ERRORS	5

enum rw_kind { RW_RANDREAD, RW_RANDWRITE, RW_READ, RW_WRITE };

/* --engine: which libunified engine our run must get. */
enum bench_lib_engine { LIB_ENGINE_AUTO, LIB_ENGINE_KERNEL, LIB_ENGINE_USER };

extern const char *const rw_names[4];

struct bench_cfg {
	const char *target;	/* as given, NULL = embedded default namespace */
	char path[PATH_MAX];	/* the path every engine opens */
	enum rw_kind rw;
	uint32_t bs, qd, batch;
	uint32_t interleave;	/* slices per run, alternating engines */
	double runtime;
	uint64_t size;		/* span requested, 0 = whole target */
	uint32_t mode;		/* enum unified_engine_mode */
	uint32_t spin_us;	/* thread mode idle spin, 0 = library default */
	uint32_t enter_spin_us;	/* thread mode unified_enter() CQ polling, 0 = library default */
	uint32_t baselines;	/* bit k: unified-bench's engine_table[k] runs */
	uint32_t sqpoll_idle_ms;	/* SQPOLL baseline: sq_thread_idle */
	int sqpoll_cpu;		/* SQPOLL baseline: sq_thread_cpu, -1 = not pinned */
	uint64_t seed;
	uint32_t lib_engine;	/* enum bench_lib_engine, for ours */
	bool iopoll, baseline_only, prefill, json;
	bool count_syscalls;	/* --count-syscalls: counted per slice */
	uint32_t count_method;	/* its enum syscount_method, SYSCOUNT_NONE = perf if it
				 * can, else ptrace */
};

/* The target as the workload sees it (probed through libunified). */
struct bench_target {
	uint32_t kind;		/* enum unified_target_kind */
	uint32_t nsid;
	uint32_t lba_shift;
	uint32_t iopoll;	/* our engine polls: the baselines poll too */
	uint32_t max_xfer;	/* largest transfer in bytes */
	uint64_t capacity;	/* bytes */
	uint64_t span;		/* bytes used, a multiple of bs */
	uint64_t nblocks;	/* span / bs */
};

/* One engine's result, summed over its slices. */
struct bench_run {
	const char *engine;	/* the engine's name, as printed */
	const char *mode;	/* its variant ("kick", "thread") or "" */
	bool done;
	bool failed;		/* setup or wait failure (not CQE errors) */
	bool has_engine_stats;	/* kicks and sleeps mean something (JSON has them) */
	uint64_t ios;		/* completions counted inside the runtime */
	uint64_t errors;	/* completions with an error, drain included */
	uint64_t ns;		/* measured time */
	double cpu_s;		/* user + system CPU time of the process */
	double app_cpu_s;	/* CPU time of the thread running the workload loop */
	double helper_cpu_s;	/* CPU time of the engine's own thread (helper_tid) */
	const char *helper_label; /* the engine runs a thread of its own, or NULL */
	int helper_tid;		/* that thread, 0 = none (or not found) */
	char helper_comm[16];	/* its name, as in /proc/self/task/TID/comm */
	uint64_t kicks, sleeps;	/* engine stats (ours) */
	char lib_engine[16];	/* libunified's runs: the engine it got ("kernel",
				 * "user", unified_target_info()), else "" */
	struct hist *h;
	char err[256];		/* first error seen */
};

/* Set by SIGINT/SIGTERM: runs stop counting and drain. */
extern volatile sig_atomic_t bench_interrupted;

/* Count a failed command of @r; prints the first few, keeps the first. */
void bench_note_error(struct bench_run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline bool is_read(const struct bench_cfg *c)
{
	return c->rw == RW_RANDREAD || c->rw == RW_READ;
}

/* User + system CPU time of the process, in seconds. */
double cpu_seconds(void);
/* CPU time of the calling thread, in seconds. */
double thread_cpu_seconds(void);
/*
 * The thread of this process whose name starts with @prefix and is none of
 * the @nskip threads in @skip; its name goes to @comm (16 bytes).  Returns
 * its TID, or 0 if there is none.
 */
int find_thread(const char *prefix, const int *skip, int nskip, char *comm);
/* CPU time (user + system) of thread @tid of this process, or -1 if gone. */
double task_cpu_seconds(int tid);
/* Poll @cond(@arg) every millisecond until true (returns true) or @max_ms pass. */
bool bench_wait_until(bool (*cond)(const void *arg), const void *arg, uint32_t max_ms);
/* Smallest power of two >= @v (capped at 2^31). */
uint32_t pow2_at_least(uint64_t v);
/* Fill a data buffer with a pattern that is not zeroes. */
void fill_pattern(void *buf, size_t len, uint64_t seed);
/* "file", "block", "nvme". */
const char *kind_name(uint32_t kind);
/* The text of a failed libunified call that returned @ret. */
const char *bench_errmsg(int ret);

#endif
