/* SPDX-License-Identifier: MIT */
/*
 * Log-linear latency histogram (the scheme fio uses): values below 128 ns
 * have a bucket each; above, every power of two is split into 64 equal
 * buckets, so a bucket is never wider than 1/64 of its value (error under
 * 1.6 %).  It covers the whole uint64_t range in HIST_NR buckets and is
 * allocated once: adding a value never allocates.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_BITS	6
#define HIST_VAL	(1u << HIST_BITS)
#define HIST_NR		((64 - HIST_BITS) * HIST_VAL)

struct hist {
	uint64_t bucket[HIST_NR];
	uint64_t n, sum_ns, min_ns, max_ns;
};

/* An empty histogram, or NULL without memory.  Free it with free(). */
struct hist *hist_new(void);

static inline unsigned int hist_index(uint64_t v)
{
	unsigned int shift;

	if (v < 2 * HIST_VAL)
		return (unsigned int)v;
	shift = (unsigned int)(63 - __builtin_clzll(v)) - HIST_BITS;
	return shift * HIST_VAL + (unsigned int)(v >> shift);
}

static inline void hist_add(struct hist *h, uint64_t ns)
{
	h->bucket[hist_index(ns)]++;
	h->n++;
	h->sum_ns += ns;
	if (ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

/* Percentile @p (0..100) in microseconds, 0 if the histogram is empty. */
double hist_pct_us(const struct hist *h, double p);
/* Mean, smallest and largest value in microseconds, 0 if empty. */
double hist_mean_us(const struct hist *h);
double hist_min_us(const struct hist *h);
double hist_max_us(const struct hist *h);

#endif
