/* SPDX-License-Identifier: MIT */
/*
 * syscount: run a command traced and count its system calls (all threads
 * and child processes) with the counter of unified-bench --count-syscalls
 * (tools/lib/syscount.h), so that another program (fio) is counted the
 * same way.  tests/kernel/bench.sh runs it in the guest.
 *
 *   syscount [-m perf|ptrace] [-o FILE] [--] COMMAND [ARG...]
 *
 * -m: the method (syscount.h; default perf): perf counts the calls with
 * the kernel's syscall tracepoints at nearly no cost to the command, ptrace
 * stops it twice per call (slow, but names every call).
 * Writes to FILE (default: standard error), one "NAME COUNT" per line:
 * "method perf|ptrace", "calls" (every system call), "io_uring_enter",
 * then with ptrace each system call made, the most frequent first (unknown
 * numbers as nr_N).  Exit status: the command's, 128 + N if signal N ended
 * it, 125 if it could not be counted, 2 for bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "syscount.h"

static void report(const struct syscount_window *w, uint32_t method, FILE *f)
{
	uint64_t enter = syscount_nr_io_uring_enter(), max = UINT64_MAX;
	uint32_t k;

	fprintf(f, "method %s\n", method == SYSCOUNT_PERF ? "perf" : "ptrace");
	fprintf(f, "calls %llu\n", (unsigned long long)w->total);
	fprintf(f, "io_uring_enter %llu\n", (unsigned long long)(enter < SYSCOUNT_NR ? w->nr[enter] : 0));
	/* by count, descending: one pass per distinct count (few of them) */
	while (method == SYSCOUNT_PTRACE) {
		uint64_t next = 0;

		for (k = 0; k < SYSCOUNT_NR; k++)
			if (w->nr[k] < max && w->nr[k] > next)
				next = w->nr[k];
		if (!next)
			break;
		for (k = 0; k < SYSCOUNT_NR; k++) {
			const char *name = syscount_name(k);

			if (w->nr[k] != next)
				continue;
			if (name)
				fprintf(f, "%s %llu\n", name, (unsigned long long)next);
			else
				fprintf(f, "nr_%u %llu\n", k, (unsigned long long)next);
		}
		max = next;
	}
	if (w->other)
		fprintf(f, "other %llu\n", (unsigned long long)w->other);
}

int main(int argc, char **argv)
{
	uint32_t method = SYSCOUNT_PERF;
	const char *out = NULL;
	struct syscount *sc;
	int i = 1, st = 0;
	FILE *f = stderr;

	while (i + 1 < argc && (!strcmp(argv[i], "-o") || !strcmp(argv[i], "-m"))) {
		if (argv[i][1] == 'o')
			out = argv[i + 1];
		else if (!strcmp(argv[i + 1], "ptrace"))
			method = SYSCOUNT_PTRACE;
		else if (strcmp(argv[i + 1], "perf"))
			i = argc;	/* bad method: usage */
		i += 2;
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc || argv[i][0] == '-') {
		fprintf(stderr, "usage: syscount [-m perf|ptrace] [-o FILE] [--] COMMAND [ARG...]\n");
		return 2;
	}
	sc = syscount_new();
	if (!sc) {
		fprintf(stderr, "syscount: no memory\n");
		return 125;
	}
	if (syscount_run(sc, method, argv + i, &st))
		return 125;
	if (out && !(f = fopen(out, "w"))) {
		perror(out);
		return 125;
	}
	report(&sc->win[SYSCOUNT_ALL], method, f);
	if (sc->error)
		fprintf(f, "error %d\n", sc->error);
	if (f != stderr && fclose(f)) {
		perror(out);
		return 125;
	}
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
