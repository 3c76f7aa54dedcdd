/* SPDX-License-Identifier: MIT */
/* The process's threads as /proc shows them, and a watchdog for cases that used to hang. */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include "helpers.h"

static int watch_done;		/* atomic */
static const char *watch_name;
static unsigned watch_secs;
static pthread_t watch_thread;

static void *watchdog(void *p)
{
	unsigned i;

	(void)p;
	for (i = 0; i < watch_secs * 10 && !__atomic_load_n(&watch_done, __ATOMIC_ACQUIRE); i++)
		usleep(100 * 1000);
	if (!__atomic_load_n(&watch_done, __ATOMIC_ACQUIRE)) {
		printf("FAIL: %s: hung for %u s\n", watch_name, watch_secs);
		fflush(stdout);
		_exit(1);
	}
	return NULL;
}

void th_watch(const char *name, unsigned secs)
{
	sigset_t all, old;

	watch_name = name;
	watch_secs = secs;
	__atomic_store_n(&watch_done, 0, __ATOMIC_RELEASE);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);	/* signals stay with the test's thread */
	pthread_create(&watch_thread, NULL, watchdog, NULL);
	pthread_setname_np(watch_thread, "th-watchdog");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void th_unwatch(void)
{
	__atomic_store_n(&watch_done, 1, __ATOMIC_RELEASE);
	pthread_join(watch_thread, NULL);
}

/* Read /proc/self/task/@tid/@file's first line starting with @key into @out. */
static int task_line(int tid, const char *file, const char *key, char *out, size_t len)
{
	char p[96];
	FILE *f;
	int found = 0;

	snprintf(p, sizeof(p), "/proc/self/task/%d/%s", tid, file);
	f = fopen(p, "re");
	while (f && !found && fgets(out, (int)len, f))
		found = !strncmp(out, key, strlen(key));
	if (f)
		fclose(f);
	return found ? 0 : -1;
}

int th_engine_threads(int *tids, int max)
{
	struct dirent *de;
	char comm[64];
	int n = 0;
	DIR *d = opendir("/proc/self/task");

	while (d && (de = readdir(d))) {
		int tid = atoi(de->d_name);

		if (tid <= 0 || tid == getpid() || task_line(tid, "comm", "", comm, sizeof(comm)))
			continue;
		if (!strncmp(comm, "iou-", 4) || !strncmp(comm, "th-watchdog", 11))
			continue;
		if (n < max)
			tids[n] = tid;
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

long th_task_ticks(int tid)
{
	char line[1024], *q;
	unsigned long ut, st;

	if (task_line(tid, "stat", "", line, sizeof(line)))
		return -1;
	q = strrchr(line, ')');
	if (!q || sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

int th_task_sigblk(int tid, unsigned long long *mask)
{
	char line[256];

	if (task_line(tid, "status", "SigBlk:", line, sizeof(line)))
		return -1;
	*mask = strtoull(line + 7, NULL, 16);
	return 0;
}
