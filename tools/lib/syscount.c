/* SPDX-License-Identifier: MIT */
/* Exact system call counts with ptrace(2): see syscount.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "syscount.h"

#define SYSCOUNT_MAGIC	0x53797363ull	/* "Sysc", in the high half of the mark's 3rd argument */

struct syscount *syscount_new(void)
{
	void *p = mmap(NULL, sizeof(struct syscount), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	struct syscount *sc = p;

	if (p == MAP_FAILED)
		return NULL;
	sc->cur = -1;
	sc->perf_all = sc->perf_enter = -1;
	return sc;
}

/* ------------------------------------------------------------------- perf */

static char perf_why[256];

/* The id of tracepoint @event ("raw_syscalls/sys_enter"), or -errno. */
static long tp_id(const char *event)
{
	static const char *const dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[160];
	unsigned int i;
	long id = -ENOENT;
	FILE *f;

	for (i = 0; i < 2 && id < 0; i++) {
		snprintf(path, sizeof(path), "%s/events/%s/id", dirs[i], event);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%ld", &id) != 1)
			id = -EINVAL;
		fclose(f);
	}
	if (id < 0)
		snprintf(perf_why, sizeof(perf_why), "no tracepoint %s (the kernel needs "
			 "CONFIG_FTRACE_SYSCALLS, and tracefs mounted at /sys/kernel/tracing)", event);
	return id;
}

/* A counting (not sampling) tracepoint event on @pid and its future
 * threads and children; with @on_exec disabled until @pid calls exec. */
static int perf_open(const char *event, pid_t pid, bool on_exec)
{
	struct perf_event_attr a;
	long id = tp_id(event);
	int fd;

	if (id < 0)
		return (int)id;
	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_TRACEPOINT;
	a.size = sizeof(a);
	a.config = (uint64_t)id;
	a.inherit = 1;
	a.disabled = on_exec;
	a.enable_on_exec = on_exec;
	fd = (int)syscall(SYS_perf_event_open, &a, pid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		snprintf(perf_why, sizeof(perf_why), "perf_event_open(%s): %s", event, strerror(-fd));
	}
	return fd;
}

static uint64_t perf_value(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		v = 0;
	return v;
}

const char *syscount_perf_why(void)
{
	return perf_why;
}

static void perf_close(struct syscount *sc)
{
	if (sc->perf_all >= 0)
		close(sc->perf_all);
	if (sc->perf_enter >= 0)
		close(sc->perf_enter);
	sc->perf_all = sc->perf_enter = -1;
}

/* Open both counters on @pid into @sc. */
static int perf_open_both(struct syscount *sc, pid_t pid, bool on_exec)
{
	sc->perf_all = perf_open("raw_syscalls/sys_enter", pid, on_exec);
	if (sc->perf_all < 0) {
		int ret = sc->perf_all;

		sc->perf_all = -1;
		return ret;
	}
	sc->perf_enter = perf_open("syscalls/sys_enter_io_uring_enter", pid, on_exec);
	if (sc->perf_enter < 0) {
		int ret = sc->perf_enter;

		sc->perf_enter = -1;
		perf_close(sc);
		return ret;
	}
	return 0;
}

int syscount_perf_self(struct syscount *sc)
{
	int ret = perf_open_both(sc, 0, false);

	if (!ret)
		sc->method = SYSCOUNT_PERF;
	return ret;
}

/* Both counters are read at syscount_begin() and syscount_end(), "all"
 * first: the "all" delta then includes the begin's second read and the
 * end's first read. */
#define PERF_OWN_CALLS	2

static void count_perf(struct syscount_window *w, uint64_t all, uint64_t enter)
{
	uint64_t nr = syscount_nr_io_uring_enter();

	w->total += all;
	if (nr < SYSCOUNT_NR)
		w->nr[nr] += enter;
}

/* --------------------------------------------------------------- windows */

static void syscount_mark(unsigned int w, bool end, uint64_t ios)
{
	int saved = errno;

	syscall(SYS_fcntl, -1, F_GETFD, (unsigned long)(SYSCOUNT_MAGIC << 32 | (uint64_t)w << 1 | end),
		(unsigned long)ios);
	errno = saved;
}

void syscount_begin(struct syscount *sc, unsigned int w)
{
	if (w >= SYSCOUNT_MAX_WINDOWS)
		return;
	if (sc->method == SYSCOUNT_PTRACE) {
		syscount_mark(w, false, 0);
	} else if (sc->method == SYSCOUNT_PERF) {
		sc->win[w].opened++;
		sc->snap_all = perf_value(sc->perf_all);
		sc->snap_enter = perf_value(sc->perf_enter);
	}
}

void syscount_end(struct syscount *sc, unsigned int w, uint64_t ios)
{
	uint64_t all, enter;

	if (w >= SYSCOUNT_MAX_WINDOWS)
		return;
	if (sc->method == SYSCOUNT_PTRACE) {
		syscount_mark(w, true, ios);
	} else if (sc->method == SYSCOUNT_PERF) {
		all = perf_value(sc->perf_all) - sc->snap_all;
		enter = perf_value(sc->perf_enter) - sc->snap_enter;
		all = all > PERF_OWN_CALLS ? all - PERF_OWN_CALLS : 0;
		count_perf(&sc->win[w], all, enter);
		count_perf(&sc->win[SYSCOUNT_ALL], all, enter);
		sc->win[w].ios += ios;
	}
}

uint64_t syscount_nr_io_uring_enter(void)
{
	return SYS_io_uring_enter;
}

/* ------------------------------------------------------------ the tracer */

static pid_t traced_child;

/* SIGTERM/SIGHUP to the tracer go to the traced program, which decides. */
static void forward_signal(int sig)
{
	if (traced_child > 0)
		kill(traced_child, sig);
}

static void count_in(struct syscount_window *w, uint64_t nr)
{
	w->total++;
	if (nr < SYSCOUNT_NR)
		w->nr[nr]++;
	else
		w->other++;
}

/* A syscall stop of @pid: count an entry, or act on a mark. */
static int on_syscall(struct syscount *sc, pid_t pid, uint32_t *arch)
{
	struct __ptrace_syscall_info si;
	uint64_t nr;

	memset(&si, 0, sizeof(si));
	if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(si), &si) < 0)
		return errno == ESRCH ? 0 : -errno;	/* ESRCH: killed meanwhile */
	if (si.op != PTRACE_SYSCALL_INFO_ENTRY)
		return 0;
	/* The first call fixes the native architecture; a call of another
	 * (a 32-bit int 0x80 from a 64-bit program) counts as "other". */
	if (!*arch)
		*arch = si.arch;
	nr = si.arch == *arch ? si.entry.nr : UINT64_MAX;
	if (nr == SYS_fcntl && (int)si.entry.args[0] == -1 && si.entry.args[1] == F_GETFD &&
	    si.entry.args[2] >> 32 == SYSCOUNT_MAGIC) {
		uint32_t w = (uint32_t)(si.entry.args[2] >> 1) & 0x7fffffff;

		if (w >= SYSCOUNT_MAX_WINDOWS)
			return 0;
		if (si.entry.args[2] & 1) {
			sc->win[w].ios += si.entry.args[3];
			if (sc->cur == (int32_t)w)
				sc->cur = -1;
		} else {
			sc->win[w].opened++;
			sc->cur = (int32_t)w;
		}
		return 0;
	}
	count_in(&sc->win[SYSCOUNT_ALL], nr);
	if (sc->cur >= 0)
		count_in(&sc->win[sc->cur], nr);
	return 0;
}

/*
 * Trace @child (stopped by its own SIGSTOP after PTRACE_TRACEME) and every
 * thread and process it creates until none is left.  Returns 0 with the
 * child's wait status in *status, or -errno.
 */
static int trace(struct syscount *sc, pid_t child, int *status)
{
	long opts = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
		    PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
	uint32_t arch = 0;
	int st, err = 0;
	pid_t pid;

	while ((pid = waitpid(child, &st, __WALL)) < 0 && errno == EINTR)
		;
	if (pid < 0)
		return -errno;
	if (!WIFSTOPPED(st)) {
		*status = st;
		return -ECHILD;		/* it could not make itself traced */
	}
	if (ptrace(PTRACE_SETOPTIONS, child, NULL, (void *)opts) < 0 ||
	    ptrace(PTRACE_SYSCALL, child, NULL, NULL) < 0) {
		err = -errno;
		kill(child, SIGKILL);
	}
	*status = 0;
	for (;;) {
		int sig, inject = 0;
		siginfo_t info;

		pid = waitpid(-1, &st, __WALL);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD && !err)
				err = -errno;
			break;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (pid == child)
				*status = st;
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		sig = WSTOPSIG(st);
		if (sig == (SIGTRAP | 0x80)) {
			int ret = on_syscall(sc, pid, &arch);

			if (ret && !err) {
				err = ret;
				sc->error = -ret;
			}
		} else if (st >> 16) {
			/* a PTRACE_EVENT stop (clone, fork, exec): nothing to deliver */
		} else if (sig == SIGSTOP) {
			/* a new thread's or process's first stop (or a group stop) */
		} else if (!ptrace(PTRACE_GETSIGINFO, pid, NULL, &info)) {
			inject = sig;	/* a signal on its way: deliver it */
		}
		/* else a group stop: resume (a traced run cannot be suspended) */
		ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)inject);
	}
	return err;
}

/* Fork a child that is traced from its first instruction on; the parent
 * returns its pid once it stopped, the child returns 0. */
static pid_t fork_traced(struct syscount *sc)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid)
		return pid;
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) {
		sc->error = errno;
		_exit(127);
	}
	raise(SIGSTOP);
	return 0;
}

static const int tracer_sigs[4] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT };

/* The tracer's signals (the old actions to @old): SIGTERM and SIGHUP go on
 * to the child; a terminal's SIGINT and SIGQUIT reach the child anyway, and
 * it decides what to do. */
static void tracer_signals(pid_t child, struct sigaction *old)
{
	struct sigaction sa;
	int i;

	traced_child = child;
	memset(&sa, 0, sizeof(sa));
	for (i = 0; i < 4; i++) {
		sa.sa_handler = i < 2 ? forward_signal : SIG_IGN;
		sigaction(tracer_sigs[i], &sa, &old[i]);
	}
}

int syscount_trace_self(struct syscount *sc)
{
	pid_t child;

	sc->method = SYSCOUNT_PTRACE;
	child = fork_traced(sc);
	struct sigaction old[4];
	int ret, st = 0;

	if (child < 0) {
		ret = -errno;
		fprintf(stderr, "syscount: fork: %s\n", strerror(-ret));
		return ret;
	}
	if (!child)
		return 0;
	tracer_signals(child, old);
	ret = trace(sc, child, &st);
	if (ret == -ECHILD && sc->error) {
		fprintf(stderr, "syscount: ptrace(PTRACE_TRACEME): %s\n", strerror(sc->error));
		return -sc->error;
	}
	if (ret)
		fprintf(stderr, "syscount: tracing failed: %s%s\n", strerror(-ret),
			ret == -EIO ? " (PTRACE_GET_SYSCALL_INFO needs Linux 5.3)" : "");
	fflush(NULL);
	if (WIFSIGNALED(st))
		_exit(128 + WTERMSIG(st));
	_exit(ret && !WEXITSTATUS(st) ? 1 : WEXITSTATUS(st));
}

/* perf: the child waits until its counters are open, then execs. */
static int perf_run(struct syscount *sc, char *const argv[], int *status)
{
	int go[2], ret;
	pid_t child;
	char c = 0;

	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	child = fork();
	if (child < 0) {
		ret = -errno;
		close(go[0]);
		close(go[1]);
		return ret;
	}
	if (!child) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(127);	/* the parent could not open the counters */
		execvp(argv[0], argv);
		fprintf(stderr, "syscount: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(go[0]);
	ret = perf_open_both(sc, child, true);
	if (!ret && write(go[1], &c, 1) != 1)
		ret = -errno;
	close(go[1]);
	while (waitpid(child, status, 0) < 0 && errno == EINTR)
		;
	if (ret) {
		fprintf(stderr, "syscount: %s\n", perf_why);
		return ret;
	}
	/* Every descendant is gone: its counts are folded into these. */
	count_perf(&sc->win[SYSCOUNT_ALL], perf_value(sc->perf_all), perf_value(sc->perf_enter));
	perf_close(sc);
	return 0;
}

int syscount_run(struct syscount *sc, uint32_t method, char *const argv[], int *status)
{
	struct sigaction old[4];
	pid_t child;
	int ret, i;

	sc->method = method;
	if (method == SYSCOUNT_PERF)
		return perf_run(sc, argv, status);
	child = fork_traced(sc);

	if (child < 0) {
		ret = -errno;
		fprintf(stderr, "syscount: fork: %s\n", strerror(-ret));
		return ret;
	}
	if (!child) {
		execvp(argv[0], argv);
		fprintf(stderr, "syscount: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	tracer_signals(child, old);
	ret = trace(sc, child, status);
	for (i = 0; i < 4; i++)
		sigaction(tracer_sigs[i], &old[i], NULL);
	traced_child = 0;
	if (ret == -ECHILD && sc->error) {
		fprintf(stderr, "syscount: ptrace(PTRACE_TRACEME): %s\n", strerror(sc->error));
		return -sc->error;
	}
	if (ret)
		fprintf(stderr, "syscount: tracing failed: %s\n", strerror(-ret));
	return ret;
}

/* ------------------------------------------------------------------ names */

struct sc_name {
	uint64_t nr;
	const char *name;
};

/* The calls a benchmark, its libraries or fio are likely to make. */
static const struct sc_name names[] = {
#define N(x) { SYS_##x, #x },
#ifdef SYS_read
	N(read)
#endif
#ifdef SYS_write
	N(write)
#endif
#ifdef SYS_open
	N(open)
#endif
	N(openat) N(close) N(lseek) N(mmap) N(munmap) N(mprotect) N(brk) N(madvise)
	N(rt_sigaction) N(rt_sigprocmask) N(rt_sigreturn) N(ioctl) N(pread64) N(pwrite64)
	N(readv) N(writev) N(sched_yield) N(nanosleep) N(clock_nanosleep) N(clock_gettime)
	N(gettimeofday) N(getpid) N(gettid) N(getrusage) N(futex) N(clone) N(exit) N(exit_group)
	N(wait4) N(kill) N(tgkill) N(io_uring_setup) N(io_uring_enter) N(io_uring_register)
	N(ppoll) N(pselect6) N(epoll_pwait) N(fcntl) N(getdents64) N(prctl) N(sched_getaffinity)
	N(sched_setaffinity) N(set_robust_list) N(timer_create) N(timer_settime) N(setitimer)
	N(shmget) N(shmat) N(shmdt) N(shmctl) N(fadvise64) N(fallocate) N(fsync) N(fdatasync)
	N(times) N(sysinfo) N(uname) N(readlinkat) N(faccessat) N(newfstatat) N(fstat) N(statfs)
	N(fstatfs) N(execve) N(pipe2) N(dup3) N(prlimit64) N(getpriority) N(setpriority)
	N(mremap) N(set_tid_address) N(getrandom) N(membarrier) N(getcpu)
#ifdef SYS_poll
	N(poll)
#endif
#ifdef SYS_select
	N(select)
#endif
#ifdef SYS_stat
	N(stat) N(lstat) N(access) N(readlink) N(arch_prctl) N(fork) N(vfork) N(pipe)
#endif
#ifdef SYS_rseq
	N(rseq)
#endif
#ifdef SYS_clone3
	N(clone3)
#endif
#ifdef SYS_statx
	N(statx)
#endif
#ifdef SYS_faccessat2
	N(faccessat2)
#endif
#undef N
};

const char *syscount_name(uint64_t nr)
{
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].nr == nr)
			return names[i].name;
	return NULL;
}
