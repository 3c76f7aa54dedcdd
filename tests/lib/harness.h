/* SPDX-License-Identifier: MIT */
/*
 * Minimal test harness.  Each test program runs cases and prints one line
 * per case: "PASS: name", "FAIL: name: why" or "SKIP: name: why".
 * tests/run.sh counts those lines across programs.  A program exits 0 when
 * nothing failed, 1 otherwise.
 *
 *   static void t_something(void) { CHECK(x == 1, "x is %d", x); }
 *   int main(void) { RUN(t_something); return harness_done(); }
 *
 * The state lives in harness.c (compiled once into libtest.a), so helpers
 * in the test library can CHECK too.
 */
#ifndef UNIFIED_TEST_HARNESS_H
#define UNIFIED_TEST_HARNESS_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

extern int h_failed_total, h_passed_total, h_skipped_total;
extern int h_case_failed, h_case_skipped;	/* state of the running case */
extern char h_case_why[512];

/* Fail the running case with a reason (the first reason is kept). */
void h_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Run one case and print its PASS/FAIL/SKIP line. */
void h_run(const char *name, void (*fn)(void));
/* PROGRAM [SUBSTRING]: RUN() then runs only the cases whose name contains
 * SUBSTRING (call from main before the RUN()s). */
void harness_args(int argc, char **argv);
/* The program's exit status: 1 if a case failed, else 0. */
int harness_done(void);

/* Fail the current case (and keep going) if @cond is false. */
#define CHECK(cond, ...) do { if (!(cond)) h_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
/* Fail and leave the current case function. */
#define REQUIRE(cond, ...) do { if (!(cond)) { h_fail(__FILE__, __LINE__, __VA_ARGS__); return; } } while (0)
/* Skip the current case with a reason, and leave it. */
#define SKIP(...) do { h_case_skipped = 1; snprintf(h_case_why, sizeof(h_case_why), __VA_ARGS__); return; } while (0)

#define RUN(fn) h_run(#fn, fn)

#endif
