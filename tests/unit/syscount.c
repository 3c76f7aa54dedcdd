/* SPDX-License-Identifier: MIT */
/*
 * The system call counter of unified-bench --count-syscalls and of
 * tests/bench/syscount (tools/lib/syscount.h), both methods: it must count
 * exactly what a program does inside its windows, in every thread, and not
 * the calls that open and close the windows; and count a command with its
 * children.  The ptrace cases SKIP where ptrace(2) is not allowed, the perf
 * cases where the kernel has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS,
 * tracefs mounted) or perf_event_open(2) is refused.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "helpers.h"
#include "syscount.h"

#define CALLS		1000
#define THREAD_CALLS	100
#define CHILD_CALLS	300

static void getppid_n(int n)
{
	int i;

	for (i = 0; i < n; i++)
		syscall(SYS_getppid);
}

static void *thread_fn(void *arg)
{
	(void)arg;
	getppid_n(THREAD_CALLS);
	return NULL;
}

/* Can this process trace a child at all?  (Containers may forbid it.) */
static bool method_works(uint32_t method)
{
	struct syscount *sc = syscount_new();
	char *argv[] = { "true", NULL };
	int st = 0, ret;

	if (!sc)
		return false;
	ret = syscount_run(sc, method, argv, &st);
	munmap(sc, sizeof(*sc));
	return ret == 0;
}

/*
 * The counted program: window 0 holds exactly CALLS getppid(2), window 1 a
 * thread's THREAD_CALLS (plus what creating and joining it costs), and the
 * calls between the windows count in neither.  Exit status: the number of
 * the first check that failed, 0 if none did.  (perf counts only the total
 * and io_uring_enter: getppid is then the total.)
 */
static int counted_program(struct syscount *sc)
{
	bool ptrace = sc->method == SYSCOUNT_PTRACE;
	pthread_t th;

	syscount_begin(sc, 0);
	getppid_n(CALLS);
	syscount_end(sc, 0, 42);
	getppid_n(CALLS);			/* outside every window */
	syscount_begin(sc, 1);
	if (pthread_create(&th, NULL, thread_fn, NULL))
		return 10;
	pthread_join(th, NULL);
	syscount_end(sc, 1, 7);
	syscount_begin(sc, 0);			/* a second opening of window 0 */
	syscount_end(sc, 0, 8);
	if (sc->error)
		return 1;
	if (sc->win[0].total != CALLS || (ptrace && sc->win[0].nr[SYS_getppid] != CALLS))
		return 2;
	if (sc->win[0].ios != 50 || sc->win[0].opened != 2)
		return 3;
	if ((ptrace && sc->win[1].nr[SYS_getppid] != THREAD_CALLS) || sc->win[1].ios != 7)
		return 4;
	if (sc->win[1].total <= THREAD_CALLS)	/* clone, futex, mmap... count too */
		return 5;
	if (ptrace && sc->win[SYSCOUNT_ALL].nr[SYS_getppid] != 2 * CALLS + THREAD_CALLS)
		return 6;
	if (ptrace && sc->win[SYSCOUNT_ALL].nr[SYS_fcntl])	/* the marks are not counted */
		return 7;
	return 0;
}

static void report_windows(struct syscount *sc, int st)
{
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "counted program: check %d failed "
	      "(window 0: %" PRIu64 " calls, %" PRIu64 " getppid, ios %" PRIu64 ", opened %" PRIu64
	      "; window 1: %" PRIu64 " getppid, %" PRIu64 " calls)", WIFEXITED(st) ?
	      WEXITSTATUS(st) : -1, sc->win[0].total, sc->win[0].nr[SYS_getppid], sc->win[0].ios,
	      sc->win[0].opened, sc->win[1].nr[SYS_getppid], sc->win[1].total);
}

static void t_perf_windows_and_threads(void)
{
	struct syscount *sc = syscount_new();
	pid_t pid;
	int st;

	REQUIRE(sc, "syscount_new");
	if (syscount_perf_self(sc))
		SKIP("%s", syscount_perf_why());
	/* in a child, so that this process keeps no counters */
	fflush(NULL);
	pid = fork();
	REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (!pid)
		_exit(counted_program(sc));
	REQUIRE(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
	report_windows(sc, st);
	munmap(sc, sizeof(*sc));
}

static void t_ptrace_windows_and_threads(void)
{
	struct syscount *sc;
	pid_t pid;
	int st;

	if (!method_works(SYSCOUNT_PTRACE))
		SKIP("ptrace(2) is not allowed here");
	sc = syscount_new();
	REQUIRE(sc, "syscount_new");
	fflush(NULL);
	pid = fork();
	REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (!pid) {
		/* This process becomes the tracer, its child the traced program. */
		if (syscount_trace_self(sc))
			_exit(100);
		_exit(counted_program(sc));
	}
	REQUIRE(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
	report_windows(sc, st);
	munmap(sc, sizeof(*sc));
}

static const char *self_exe;

/* A command, its forked child and its exit status, all counted. */
static void command_and_children(uint32_t method)
{
	char *argv[] = { (char *)self_exe, "--calls", NULL };
	const struct syscount_window *w;
	struct syscount *sc;
	int st = 0;

	sc = syscount_new();
	REQUIRE(sc, "syscount_new");
	REQUIRE(!syscount_run(sc, method, argv, &st), "syscount_run");
	w = &sc->win[SYSCOUNT_ALL];
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3, "exit status %#x, want 3", st);
	if (method == SYSCOUNT_PTRACE) {
		CHECK(w->nr[SYS_getppid] == CALLS + CHILD_CALLS, "getppid counted %" PRIu64
		      ", want %d", w->nr[SYS_getppid], CALLS + CHILD_CALLS);
		CHECK(w->nr[SYS_execve] == 1, "execve counted %" PRIu64, w->nr[SYS_execve]);
	}
	/* the start-up of a dynamic or static program: some dozens of calls */
	CHECK(w->total >= CALLS + CHILD_CALLS && w->total < CALLS + CHILD_CALLS + 400,
	      "%" PRIu64 " calls in all, want %d and a start-up", w->total, CALLS + CHILD_CALLS);
	CHECK(!strcmp(syscount_name(SYS_io_uring_enter), "io_uring_enter") &&
	      syscount_nr_io_uring_enter() == SYS_io_uring_enter, "names");
	munmap(sc, sizeof(*sc));
}

static void t_ptrace_command_and_children(void)
{
	if (!method_works(SYSCOUNT_PTRACE))
		SKIP("ptrace(2) is not allowed here");
	command_and_children(SYSCOUNT_PTRACE);
}

static void t_perf_command_and_children(void)
{
	if (!method_works(SYSCOUNT_PERF))
		SKIP("%s", syscount_perf_why());
	command_and_children(SYSCOUNT_PERF);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--calls")) {
		/* run by t_command_and_children */
		pid_t pid = fork();

		if (!pid) {
			getppid_n(CHILD_CALLS);
			_exit(0);
		}
		getppid_n(CALLS);
		waitpid(pid, NULL, 0);
		fflush(NULL);
		_exit(3);	/* no exit handlers: LeakSanitizer cannot run traced */
	}
	self_exe = "/proc/self/exe";
	harness_args(argc, argv);
	RUN(t_perf_windows_and_threads);
	RUN(t_ptrace_windows_and_threads);
	RUN(t_perf_command_and_children);
	RUN(t_ptrace_command_and_children);
	return harness_done();
}
