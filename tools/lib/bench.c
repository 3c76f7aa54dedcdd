/* SPDX-License-Identifier: MIT */
/* Helpers shared by unified-bench's parts: see bench.h. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include "libunified.h"
#include "bench.h"

const char *const rw_names[4] = { "randread", "randwrite", "read", "write" };

volatile sig_atomic_t bench_interrupted;

void bench_note_error(struct bench_run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->errors < MAX_REPORTED_ERRORS) {
		va_start(ap, fmt);
		fprintf(stderr, "%s: ", r->engine);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	if (!r->err[0]) {
		va_start(ap, fmt);
		vsnprintf(r->err, sizeof(r->err), fmt, ap);
		va_end(ap);
	}
	r->errors++;
}

double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

double thread_cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int find_thread(const char *prefix, const int *skip, int nskip, char *comm)
{
	char path[64], name[16];
	struct dirent *d;
	DIR *dir = opendir("/proc/self/task");
	int tid, found = 0, i;
	FILE *f;

	if (!dir)
		return 0;
	while (!found && (d = readdir(dir))) {
		tid = atoi(d->d_name);
		for (i = 0; i < nskip && skip[i] != tid; i++)
			;
		if (tid <= 0 || i < nskip)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f)) {
			name[strcspn(name, "\n")] = 0;
			if (!strncmp(name, prefix, strlen(prefix))) {
				found = tid;
				memcpy(comm, name, sizeof(name));
			}
		}
		fclose(f);
	}
	closedir(dir);
	return found;
}

/*
 * The thread's CPU clock: the clockid glibc's pthread_getcpuclockid() makes
 * from a TID (the kernel's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)), valid
 * for any thread of the calling process and exact to the nanosecond.  Only
 * if the kernel refuses it, utime + stime from /proc (clock ticks).
 */
double task_cpu_seconds(int tid)
{
	clockid_t clk = (clockid_t)((~(unsigned int)tid << 3) | 4 | 2);
	unsigned long long ut, st;
	struct timespec ts;
	char path[64], buf[512], *p;
	size_t n;
	FILE *f;

	if (!clock_gettime(clk, &ts))
		return (double)ts.tv_sec + ts.tv_nsec / 1e9;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Fields 14 and 15, counted after the name, which may hold anything. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

bool bench_wait_until(bool (*cond)(const void *arg), const void *arg, uint32_t max_ms)
{
	const struct timespec ms = { .tv_nsec = 1000000 };
	uint64_t deadline = now_ns() + (uint64_t)max_ms * 1000000;

	while (!cond(arg)) {
		if (now_ns() >= deadline)
			return false;
		nanosleep(&ms, NULL);
	}
	return true;
}

uint32_t pow2_at_least(uint64_t v)
{
	uint32_t p = 1;

	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

void fill_pattern(void *buf, size_t len, uint64_t seed)
{
	uint64_t *p = buf;
	size_t i;

	for (i = 0; i < len / sizeof(*p); i++)
		p[i] = (seed + i) * 0x9e3779b97f4a7c15ull | 1;
}

const char *kind_name(uint32_t kind)
{
	switch (kind) {
	case UNIFIED_TARGET_FILE: return "file";
	case UNIFIED_TARGET_BLOCK: return "block";
	case UNIFIED_TARGET_NVME: return "nvme";
	}
	return "unknown";
}

const char *bench_errmsg(int ret)
{
	return unified_errmsg()[0] ? unified_errmsg() : strerror(-ret);
}
