/* SPDX-License-Identifier: MIT */
/* Helpers shared by unified-bench's parts: see bench.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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
