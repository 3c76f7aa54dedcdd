/* SPDX-License-Identifier: MIT */
/* The harness state and case runner (see harness.h). */
#include <string.h>
#include <stdarg.h>
#include "harness.h"

int h_failed_total, h_passed_total, h_skipped_total;
int h_case_failed, h_case_skipped;
char h_case_why[512];

void h_fail(const char *file, int line, const char *fmt, ...)
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

static const char *h_only;

void harness_args(int argc, char **argv)
{
	h_only = argc > 1 ? argv[1] : NULL;
}

void h_run(const char *name, void (*fn)(void))
{
	if (h_only && !strstr(name, h_only))
		return;
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

int harness_done(void)
{
	return h_failed_total ? 1 : 0;
}
