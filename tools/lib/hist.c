/* SPDX-License-Identifier: MIT */
/* Latency histogram: see hist.h. */
#include <stdlib.h>
#include "hist.h"

struct hist *hist_new(void)
{
	struct hist *h = calloc(1, sizeof(*h));

	if (h)
		h->min_ns = UINT64_MAX;
	return h;
}

/* Middle of bucket @idx, in ns. */
static double hist_value(unsigned int idx)
{
	unsigned int shift;
	uint64_t lo;

	if (idx < 2 * HIST_VAL)
		return idx;
	shift = idx / HIST_VAL - 1;
	lo = (uint64_t)(idx - shift * HIST_VAL) << shift;
	return (double)lo + (double)(1ull << shift) / 2.0;
}

double hist_pct_us(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;
	unsigned int i;

	if (!h->n)
		return 0.0;
	rank = (uint64_t)(p / 100.0 * (double)h->n + 0.999999);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_NR; i++) {
		seen += h->bucket[i];
		if (seen >= rank)
			return hist_value(i) / 1000.0;
	}
	return (double)h->max_ns / 1000.0;
}

double hist_mean_us(const struct hist *h)
{
	return h->n ? (double)h->sum_ns / (double)h->n / 1000.0 : 0.0;
}

double hist_min_us(const struct hist *h)
{
	return h->n ? (double)h->min_ns / 1000.0 : 0.0;
}

double hist_max_us(const struct hist *h)
{
	return (double)h->max_ns / 1000.0;
}
