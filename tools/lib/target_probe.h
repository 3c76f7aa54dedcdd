/* SPDX-License-Identifier: MIT */
/*
 * The target through libunified: registration with the benchmark's options,
 * the geometry every engine uses (so no engine decodes Identify itself),
 * and the prefill.
 */
#ifndef BENCH_TARGET_PROBE_H
#define BENCH_TARGET_PROBE_H

#include "libunified.h"
#include "bench.h"

/*
 * Register a context on the configured target with @qd buffers of at least
 * @bufsz bytes, engine @mode, --iopoll and --spin-us, plus the UNIFIED_OPT_*
 * @flags; a missing file is created sparse.  Prints why on failure.
 * Return 0 or -errno.
 */
int bench_register(const struct bench_cfg *c, uint32_t qd, uint32_t bufsz, uint32_t mode,
		   uint32_t flags, struct io_unified_region_desc *desc, struct unified_ctx **ctxp);

/*
 * Fill @t from a short-lived kick-mode context (sized for the prefill when
 * c->prefill) and check bs and the span against it.  Returns the context
 * for target_prefill() (the caller unregisters it), or NULL (printed).
 */
struct unified_ctx *target_probe(const struct bench_cfg *c, struct bench_target *t);

/*
 * Write the span once so that reads reach allocated blocks; skipped for a
 * regular file whose span has no hole.  @ctx comes from target_probe().
 * Return 0 or -1 (printed).
 */
int target_prefill(const struct bench_cfg *c, struct unified_ctx *ctx,
		   const struct bench_target *t);

#endif
