/* SPDX-License-Identifier: MIT */
/*
 * Counting system calls exactly, per counting window, two ways:
 *
 *   perf:   two perf_event_open(2) counters on the tracepoints
 *           raw_syscalls:sys_enter (every system call) and
 *           syscalls:sys_enter_io_uring_enter, on this process and the
 *           threads it creates (inherit).  The kernel adds one to a counter
 *           per call and the program runs at nearly its own speed.  Needs a
 *           kernel with CONFIG_FTRACE_SYSCALLS and tracefs mounted at
 *           /sys/kernel/tracing (or debugfs at /sys/kernel/debug).  Gives
 *           the total and io_uring_enter(2), not the other calls one by one.
 *   ptrace: syscount_trace_self() forks; the parent becomes the tracer and
 *           counts every syscall-entry stop of every thread per system call
 *           number, the child returns and goes on, traced.  Works on any
 *           kernel (PTRACE_GET_SYSCALL_INFO: 5.3), gives every call by name,
 *           but costs two stops per call: a program whose loop adapts to
 *           timing (waits for "at least N" completions) then finds more
 *           completions ready per wait and makes FEWER calls per I/O than
 *           when it runs untraced.  Exact for the traced run only.
 *
 * Windows: the program brackets what it wants counted with syscount_begin()
 * and syscount_end(); the calls those two make are not counted.  Only calls
 * made (by any thread) while window W is open count for W, and syscount_end()
 * adds the I/Os the window completed.  syscount_run() counts a whole command
 * with its children (window SYSCOUNT_ALL).  The counters live in a shared
 * anonymous mapping that a tracer and the traced program both see.
 *
 * The ptrace window mark is the system call fcntl(-1, F_GETFD,
 * MAGIC|window|end, ios): it fails with EBADF and changes nothing.
 */
#ifndef SYSCOUNT_H
#define SYSCOUNT_H

#include <stdbool.h>
#include <stdint.h>

#define SYSCOUNT_NR		1024	/* system call numbers counted one by one */
#define SYSCOUNT_MAX_WINDOWS	16
#define SYSCOUNT_ALL		SYSCOUNT_MAX_WINDOWS	/* everything (syscount_run) */

struct syscount_window {
	uint64_t total;			/* system calls, marks excluded */
	uint64_t ios;			/* sum of the closing marks' I/O counts */
	uint64_t opened;		/* times the window was opened */
	uint64_t other;			/* numbers >= SYSCOUNT_NR */
	uint64_t nr[SYSCOUNT_NR];
};

enum syscount_method { SYSCOUNT_NONE, SYSCOUNT_PERF, SYSCOUNT_PTRACE };

struct syscount {
	uint32_t method;		/* enum syscount_method */
	int32_t cur;			/* ptrace: open window, -1 = none (tracer's view) */
	int32_t error;			/* the tracer could not count (errno), 0 = fine */
	int perf_all, perf_enter;	/* perf: the counters' descriptors */
	uint64_t snap_all, snap_enter;	/* perf: their values at syscount_begin() */
	struct syscount_window win[SYSCOUNT_MAX_WINDOWS + 1];	/* + SYSCOUNT_ALL */
};

/* A zeroed struct syscount in memory shared with children, or NULL. */
struct syscount *syscount_new(void);

/*
 * perf: count this process and the threads it creates from now on.
 * Returns 0, or -errno (-ENOENT: no syscall tracepoints; not printed: see
 * syscount_perf_why()).
 */
int syscount_perf_self(struct syscount *sc);
/* Why syscount_perf_self() or a perf syscount_run() failed. */
const char *syscount_perf_why(void);

/*
 * ptrace: fork; the parent traces the child and exits (never returns) with
 * the child's exit status, or 128 + signal.  Returns 0 in the traced child,
 * or -errno (printed) if nothing was forked or the tracer could not attach.
 */
int syscount_trace_self(struct syscount *sc);

/*
 * Run argv[0] (searched in PATH) with argv, counted with @method (perf or
 * ptrace) into window SYSCOUNT_ALL, children and threads included.
 * *status gets the wait status of the command.  Returns 0 or -errno
 * (printed).
 */
int syscount_run(struct syscount *sc, uint32_t method, char *const argv[], int *status);

/* Open window @w; close it, adding @ios. */
void syscount_begin(struct syscount *sc, unsigned int w);
void syscount_end(struct syscount *sc, unsigned int w, uint64_t ios);

/* The name of system call @nr on this architecture, or NULL if unknown here. */
const char *syscount_name(uint64_t nr);

/* The number of io_uring_enter(2) on this architecture. */
uint64_t syscount_nr_io_uring_enter(void);

#endif
