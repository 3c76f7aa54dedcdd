/* SPDX-License-Identifier: MIT */
/*
 * Minimal test harness.  Each test program runs cases and prints one line
 * per case: "PASS: name", "FAIL: name: why" or "SKIP: name: why".
 * tests/run.sh counts those lines across programs.  A program exits 0 when
 * nothing failed, 1 otherwise.
 *
 *   static void t_something(void) { CHECK(x == 1, "x is %d", x); }
 *   int main(void) { RUN(t_something); return harness_done(); }
 */
#ifndef UNIFIED_TEST_HARNESS_H
#define UNIFIED_TEST_HARNESS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

static int h_failed_total, h_passed_total, h_skipped_total;
static int h_case_failed, h_case_skipped;
static char h_case_why[512];

static inline void h_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void h_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (h_case_failed++)
		return;		/* keep the first reason */
	n = snprintf(h_case_why, sizeof(h_case_why), "%s:%d: ", file, line);
	va_start(ap, fmt);
	vsnprintf(h_case_why + n, sizeof(h_case_why) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Fail the current case (and keep going) if @cond is false. */
#define CHECK(cond, ...) do { if (!(cond)) h_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
/* Fail and leave the current case function. */
#define REQUIRE(cond, ...) do { if (!(cond)) { h_fail(__FILE__, __LINE__, __VA_ARGS__); return; } } while (0)
/* Skip the current case with a reason, and leave it. */
#define SKIP(...) do { h_case_skipped = 1; snprintf(h_case_why, sizeof(h_case_why), __VA_ARGS__); return; } while (0)

static inline void h_run(const char *name, void (*fn)(void))
{
	h_case_failed = h_case_skipped = 0;
	h_case_why[0] = '\0';
	fn();
	if (h_case_failed) {
		h_failed_total++;
		printf("FAIL: %s: %s\n", name, h_case_why);
	} else if (h_case_skipped) {
		h_skipped_total++;
		printf("SKIP: %s: %s\n", name, h_case_why);
	} else {
		h_passed_total++;
		printf("PASS: %s\n", name);
	}
	fflush(stdout);
}

#define RUN(fn) h_run(#fn, fn)

static inline int harness_done(void)
{
	return h_failed_total ? 1 : 0;
}

#endif
