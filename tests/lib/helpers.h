/* SPDX-License-Identifier: MIT */
/*
 * The test library: what the test programs share, compiled once into
 * libtest.a from the .c files of tests/lib and linked into every test program.
 *
 *   env.c      the skip convention, temp directory, random data, clocks,
 *              /proc helpers
 *   ctx.c      one context helper: open, submit/queue/reap/exec, CQE checks,
 *              raw access to the target behind the engine
 *   loopdev.c  loop devices (losetup) over files in the temp directory
 *   matrix.c   the target matrix runner of tests/target (file and loop
 *              targets x kick and thread mode)
 *   harness.c  PASS/FAIL/SKIP lines (harness.h)
 *
 * Skip convention: a helper that depends on the environment returns 0 when
 * it worked, TH_SKIP when the environment cannot do it (no disk file
 * system, not root, no losetup...), or a negative errno on a real failure;
 * in both non-zero cases th_why() says why.  A case writes NEED(call) to
 * continue, skip or fail accordingly.
 */
#ifndef UNIFIED_TEST_HELPERS_H
#define UNIFIED_TEST_HELPERS_H

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "libunified.h"
#include "harness.h"

/* ------------------------------------------------------- skip convention */

#define TH_SKIP 1

/* Why the last helper returned non-zero. */
const char *th_why(void);
/* Set th_why() and return TH_SKIP. */
int th_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Set th_why() and return @err (a negative errno). */
int th_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* In a case: go on if @call returned 0, SKIP on TH_SKIP, else FAIL. */
#define NEED(call) do {									\
	int need_ = (call);								\
	if (need_ > 0)									\
		SKIP("%s", th_why());							\
	REQUIRE(need_ == 0, "%s", th_why());						\
} while (0)

/* ------------------------------------------------------- environment */

/*
 * The program's private directory on a disk file system that supports
 * O_DIRECT ($UNIFIED_TEST_DIR, else $TMPDIR, else /var/tmp, else the current
 * directory; tmpfs/ramfs skipped), created on first use and removed with
 * everything in it at exit.  NULL if there is none (th_need_tmpdir says why).
 */
const char *th_tmpdir(void);
/* 0 if th_tmpdir() exists, else TH_SKIP. */
int th_need_tmpdir(void);
/* "<tmpdir>/@name" (8 rotating static buffers). */
const char *th_path(const char *name);
/* Does FIEMAP tell allocated from deallocated ranges in th_tmpdir()? */
bool th_holes_ok(void);
/* Is [off, off+len) of @path without any extent?  1, 0 or -errno. */
int th_path_range_unmapped(const char *path, uint64_t off, uint64_t len);

/* Pseudo-random numbers (splitmix64): per-state, or the program's seed. */
uint64_t th_rand_next(uint64_t *state);
extern uint64_t th_seed;		/* th_rand()'s state; UNIFIED_TEST_SEED in th_main */
uint64_t th_rand(void);
uint64_t th_rand_below(uint64_t n);	/* in [0, n) */
/* Fill @len bytes with a pattern derived from @seed (never all zeros). */
void th_fill(void *buf, size_t len, uint64_t seed);
/* Offset of the first byte where @a and @b differ, or -1. */
long th_diff(const void *a, const void *b, size_t len);
/* Offset of the first non-zero byte, or -1. */
long th_nonzero(const void *buf, size_t len);

uint64_t th_now_ns(void);		/* CLOCK_MONOTONIC */
uint64_t th_now_ms(void);

/* Address ranges of /proc/self/maps, to prove a failed call mapped nothing. */
#define TH_MAX_MAPS 4096
struct th_maps {
	int n;
	uintptr_t lo[TH_MAX_MAPS], hi[TH_MAX_MAPS];
};
void th_maps_read(struct th_maps *m);
/* Bytes of the largest mapping of at least @min bytes not in @before; 0 if none. */
uint64_t th_maps_new_bytes(const struct th_maps *before, uint64_t min);

/* Open file descriptors of the process, or -1. */
int th_count_fds(void);

/*
 * Threads (threads.c).  th_engine_threads(): the thread ids of the process
 * other than its main thread, io_uring's iou-* workers and the watchdog
 * (with one context in thread mode and no test threads: its engine thread);
 * how many there are, at most @max stored.  th_task_ticks(): user + system
 * CPU time of a thread in clock ticks, or -1.  th_task_sigblk(): its blocked
 * signal mask (0 or -1).
 */
int th_engine_threads(int *tids, int max);
long th_task_ticks(int tid);
int th_task_sigblk(int tid, unsigned long long *mask);
/* A case that used to hang: after @secs print "FAIL: @name: hung" and end
 * the program, unless th_unwatch() came first.  One at a time. */
void th_watch(const char *name, unsigned secs);
void th_unwatch(void);

/* A number in a /proc or /sys file, or -1; write one (0 or -errno). */
long th_read_long(const char *path);
int th_write_long(const char *path, long v);

/* ------------------------------------------------------- targets */

#define TH_DEV_BYTES	(64ull << 20)	/* size of the matrix targets */
#define TH_MAX_XFER	(1u << 20)	/* MDTS of the emulated targets */
#define TH_TIMEOUT_MS	10000		/* longest wait for one completion batch */

enum th_kind { TH_FILE = 1, TH_LOOP = 2 };

/* A namespace set up by the test: a file, or a loop device over one. */
struct th_target {
	const char *name;
	enum th_kind kind;
	uint32_t lba_size;
	bool ready;		/* set up and usable */
	char path[PATH_MAX];	/* what unified_register() opens */
	char backing[PATH_MAX];	/* loop: the file behind the device */
	char loopdev[64];	/* loop: /dev/loopN */
};

/*
 * Attach a loop device with @t->lba_size sectors and direct I/O over a new
 * TH_DEV_BYTES file in th_tmpdir(); fills backing, loopdev and path.  0,
 * TH_SKIP (not root, no losetup, no loop driver...) or -1, with th_why().
 */
int th_loop_attach(struct th_target *t);
/* Detach with losetup (prints a warning if it fails; the ioctl in
 * th_loop_detach_signal_safe() is the fallback).  0 or -1. */
int th_loop_detach(struct th_target *t);
void th_loop_detach_signal_safe(struct th_target *t);
/* Is [off, off+len) of the file behind @t deallocated?  1, 0 or -errno. */
int th_is_hole(const struct th_target *t, uint64_t off, uint64_t len);

/* ------------------------------------------------------- contexts */

/*
 * How to open a context.  Zero means the default:
 *   target   a th_target (path, LBA size and file creation from it), or
 *   path     an existing target (device or file), or neither: a file named
 *            @file ("target.img") in th_tmpdir(), created with @file_size
 *            (16 MiB)
 *   sq, cq, nbuf, bufsz   64, the library's (2 x sq), 1024, 4096
 *   lba_size, mode, idle_spin_us   passed to unified_opts
 *   flags    extra UNIFIED_OPT_*; USER_ENGINE is always set
 */
struct th_opts {
	const struct th_target *target;
	const char *path;
	const char *file;
	uint64_t file_size;
	uint32_t sq, cq, nbuf, bufsz;
	uint32_t lba_size;
	uint32_t mode;			/* UNIFIED_MODE_* */
	uint32_t flags;
	uint32_t idle_spin_us;
	struct io_unified_net_reg *net;	/* network rings (reg.net_ptr), or NULL */
};

/* Everything a test needs to drive one registered context. */
struct th_ctx {
	struct unified_ctx *ctx;
	struct io_unified_region_desc desc;
	struct io_unified_reg reg;	/* as unified_register() left it */
	struct unified_sq sq;
	struct unified_cq cq;
	struct unified_target_info info;
	uint8_t *buf;			/* the buffer area */
	uint64_t buf_bytes;
	uint64_t nlba;			/* info.nlba, info.lba_size, info.nsid */
	uint32_t lba;
	uint32_t nsid;
	uint64_t next_ud;		/* a user_data counter for the test's use */
	uint64_t sqes, cqes;		/* SQEs submitted, CQEs reaped by th_* */
	uint64_t errs, aborted;		/* reaped CQEs with a status, with ABORT_REQUESTED */
	int raw_fd;			/* O_DIRECT view of the target (th_raw_*) */
	uint8_t *raw_buf;
};

/* The unified_opts th_open() would pass for @o (for tests that register by hand). */
void th_unified_opts(const struct th_opts *o, struct unified_opts *uo);
/*
 * Register a context as @o says (retrying -ENOMEM a while as non-root: the
 * kernel returns locked pages of an earlier context asynchronously).  0, or
 * the negative errno of unified_register() (printed, with unified_errmsg());
 * -ENOENT without a temp dir.
 */
int th_open(struct th_ctx *c, const struct th_opts *o);
/* Fill @c for a context the test registered itself with @reg and @desc. */
void th_attach(struct th_ctx *c, struct unified_ctx *ctx, const struct io_unified_reg *reg,
	       const struct io_unified_region_desc *desc);
/* Unregister (if open) and release the raw view.  unified_unregister's result. */
int th_close(struct th_ctx *c);

/* Copy @n SQEs into the SQ (all or nothing, else -EAGAIN) without / with a kick. */
int th_queue(struct th_ctx *c, const struct io_unified_sqe *sqes, uint32_t n);
int th_submit(struct th_ctx *c, const struct io_unified_sqe *sqes, uint32_t n);
/* Take the CQEs ready now, at most @max, into @out. */
uint32_t th_take(struct th_ctx *c, struct io_unified_cqe *out, uint32_t max);
/* Wait up to TH_TIMEOUT_MS for @n CQEs into @out; how many arrived. */
uint32_t th_reap(struct th_ctx *c, struct io_unified_cqe *out, uint32_t n);
/* Submit one SQE and wait for its CQE: 0, -EAGAIN (SQ full), -ETIME or the kick's errno. */
int th_exec(struct th_ctx *c, const struct io_unified_sqe *sqe, struct io_unified_cqe *cqe);
/* Read or write @nlb blocks at @slba through buffer offset @off (user_data next_ud++). */
int th_rw(struct th_ctx *c, uint8_t opcode, uint64_t slba, uint32_t nlb, uint64_t off,
	  struct io_unified_cqe *cqe);
void th_prep_read(const struct th_ctx *c, struct io_unified_sqe *s, uint64_t slba, uint32_t nlb,
		  uint64_t off, uint64_t ud);
void th_prep_write(const struct th_ctx *c, struct io_unified_sqe *s, uint64_t slba, uint32_t nlb,
		   uint64_t off, uint64_t ud);
/* Engine read/write with the CQE checked (EXEC_EXPECT): the status, or -1. */
int th_read(struct th_ctx *c, uint64_t slba, uint32_t nlb, uint64_t off);
int th_write(struct th_ctx *c, uint64_t slba, uint32_t nlb, uint64_t off);

/* Expected NVMe status fields (DNR set on failures a retry cannot fix;
 * an abort by teardown is transient: no DNR). */
#define ST_OK		0x0000
#define ST_INV_OPCODE	0x4001
#define ST_INV_FIELD	0x4002
#define ST_INTERNAL	0x4006
#define ST_ABORTED	0x0007
#define ST_PRP_OFFSET	0x4013
#define ST_WRITE_PROT	0x4020
#define ST_CAP_EXCEEDED	0x4081
#define ST_ACCESS_DENIED 0x4286
#define ST_INV_NS	0x400b
#define ST_LBA_RANGE	0x4080
#define ST_CMP_FAILED	0x4285

/*
 * NULL if @cqe is the right answer to @sqe, else what is wrong, in @why:
 * user_data echoed, exact status, dma_addr == buf_offset, len (@want_len on
 * success, 0 on error), host flag and errno/res coherence, reserved zero.
 */
const char *th_cqe_problem(const struct io_unified_cqe *cqe, const struct io_unified_sqe *sqe,
			   uint16_t want_status, uint32_t want_len, char *why, size_t wl);

/* CHECK a CQE (see th_cqe_problem), with the caller's file:line. */
#define EXPECT_CQE(cqe, sqe, st, len) do {						\
	char w_[320];									\
	const char *p_ = th_cqe_problem((cqe), (sqe), (uint16_t)(st), (uint32_t)(len), w_, sizeof(w_)); \
	CHECK(!p_, "%s", p_ ? p_ : "");							\
} while (0)

/* Run one command and check its completion: the CQE status, or -1 (failed). */
#define EXEC_EXPECT(c, sqe, st, len) ({						\
	struct io_unified_cqe cq_;							\
	int r_ = th_exec((c), (sqe), &cq_);						\
	CHECK(r_ == 0, "no completion for opcode 0x%02x within %d ms (%d)",		\
	      (sqe)->nvme_cmd.opcode, TH_TIMEOUT_MS, r_);				\
	if (r_ == 0)									\
		EXPECT_CQE(&cq_, (sqe), (st), (len));					\
	r_ == 0 ? (int)cq_.status : -1;							\
})

/* CHECK that every SQE gave one CQE, none is stray, and the engine agrees. */
void th_check_accounting(struct th_ctx *c);

/* The target behind the engine through a separate O_DIRECT descriptor
 * (info.path): read, write, or fill with th_fill(@seed).  0 or -errno. */
int th_raw_read(struct th_ctx *c, uint64_t slba, uint32_t nlb, void *dst);
int th_raw_write(struct th_ctx *c, uint64_t slba, uint32_t nlb, const void *src);
int th_raw_pattern(struct th_ctx *c, uint64_t slba, uint32_t nlb, uint64_t seed);

/* ------------------------------------------------------- target matrix */

/*
 * th_main() runs every case on file512, file4096, loop512 and loop4096
 * (loop: root and losetup, else skipped), each in kick and thread mode.
 * Each target's set-up is a case of its own ("loop512/setup").  A case body
 * gets a fresh context opened with th_case_opts() and afterwards its
 * accounting is checked (th_check_accounting) and it is closed; with
 * own_ctx it gets a zeroed context and opens its own.  A watchdog fails a
 * case after 120 s; loop devices are detached on every exit.
 *
 *   usage: PROGRAM [SUBSTRING]   only cases whose "target/mode/case" name
 *                                contains SUBSTRING
 */
struct th_case {
	const char *name;
	void (*body)(struct th_ctx *c);
	bool own_ctx;
};

extern struct th_target th_targets[4];
extern const struct th_target *th_cur;	/* the running case's target */
extern uint32_t th_mode;		/* and engine mode */
extern int th_immutable_fd;		/* a file a case made immutable (undone on exit), or -1 */

/* Options for a context on the current target and mode, default geometry. */
struct th_opts th_case_opts(void);
int th_main(int argc, char **argv, const struct th_case *cases, size_t ncases);

#endif
