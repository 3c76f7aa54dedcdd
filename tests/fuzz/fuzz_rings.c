/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the inline ring helpers of libunified.h
 * (unified_sq_reserve/submit/cancel/nb_free, unified_cq_peek/release/cancel)
 * on the rings of a registered context, with the producer and consumer
 * words of the ring headers overwritten by the input, as a hostile or
 * broken peer could.  The engine never runs here (kick mode, no kick).
 *
 * Input: a sequence of operations, 5 bytes each: an opcode byte (% 14),
 * then a little-endian u32 argument.
 *   0/1   store arg in the SQ producer / SQ consumer word
 *   2/3   store arg in the CQ producer / CQ consumer word
 *   4/5   unified_sq_init() / unified_cq_init() (views read the header)
 *   6     unified_sq_reserve(1 + arg % 128), write the reserved SQEs
 *   7/8   unified_sq_submit / unified_sq_cancel of up to arg reserved slots
 *   9     unified_cq_peek(1 + arg % 64), read the peeked CQEs
 *   10/11 unified_cq_release / unified_cq_cancel of up to arg peeked entries
 *   12    peek/release loop, 1 + arg % 64 at a time, until peek returns 0
 *   13    unified_sq_nb_free(1 + arg % 128) and unified_sq_needs_wakeup()
 *
 * Oracles (issue 6, item 12: the helpers must not trust the peer):
 *  - unified_sq_reserve() returns 0 or exactly what was asked, and never more
 *    than the ring holds; unified_sq_nb_free() never reports more free slots
 *    than the ring holds;
 *  - unified_cq_peek() returns at most what was asked and at most the ring
 *    size;
 *  - a peek/release loop terminates: it hands out at most one ring's worth
 *    of entries (the producer does not move during the loop).
 */
#include "fuzz_common.h"

#define SQ_N	32u
#define CQ_N	16u
#define OP_LEN	5u

static struct unified_ctx *ctx;
static struct unified_sq sq;
static struct unified_cq cq;
static struct io_unified_ring *sqr, *cqr;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct io_unified_region_desc rd;
	struct unified_opts o = { .mode = UNIFIED_MODE_KICK, .flags = UNIFIED_OPT_CREATE,
				  .file_size = 1u << 20 };
	struct io_unified_reg reg = { .region_ptr = (uintptr_t)&rd, .sq_entries = SQ_N,
				      .cq_entries = CQ_N, .buffer_entries = 4,
				      .buffer_entry_size = 4096 };
	static char path[512];
	int ret;

	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "%s/rings.dat", fz_tmpdir());
	reg.nvme_dev_path = (uintptr_t)path;
	ret = unified_register(&reg, &o, &ctx);
	FZ_SETUP(ret == 0, "unified_register(%s): %d", path, ret);
	sqr = (void *)((uint8_t *)unified_region(ctx) + reg.offsets.sq_ring);
	cqr = (void *)((uint8_t *)unified_region(ctx) + reg.offsets.cq_ring);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint32_t reserved = 0, peeked = 0, idx, n, i;

	/* A fresh, empty ring pair for every input. */
	sqr->producer = sqr->consumer = cqr->producer = cqr->consumer = 0;
	unified_sq_init(ctx, &sq);
	unified_cq_init(ctx, &cq);

	while (in.n >= OP_LEN) {
		uint8_t op = fz_u8(&in) % 14;
		uint32_t arg = fz_u32(&in);

		switch (op) {
		case 0: __atomic_store_n(&sqr->producer, arg, __ATOMIC_RELEASE); break;
		case 1: __atomic_store_n(&sqr->consumer, arg, __ATOMIC_RELEASE); break;
		case 2: __atomic_store_n(&cqr->producer, arg, __ATOMIC_RELEASE); break;
		case 3: __atomic_store_n(&cqr->consumer, arg, __ATOMIC_RELEASE); break;
		case 4: unified_sq_init(ctx, &sq); reserved = 0; break;
		case 5: unified_cq_init(ctx, &cq); peeked = 0; break;
		case 6: {
			uint32_t nb = 1 + arg % 128;

			n = unified_sq_reserve(&sq, nb, &idx);
			FZ_CHECK(n == 0 || n == nb, "unified_sq_reserve(%u) returned %u", nb, n);
			FZ_CHECK(n <= SQ_N,
				 "unified_sq_reserve(%u) returned %u on a %u-entry ring (producer %u, consumer %u)",
				 nb, n, SQ_N, sqr->producer, sqr->consumer);
			for (i = 0; i < n; i++)
				unified_prep_flush(unified_sq_entry(&sq, idx + i), 1, i);
			reserved += n;
			break;
		}
		case 7:
			n = reserved < arg ? reserved : arg;
			unified_sq_submit(&sq, n);
			reserved -= n;
			break;
		case 8:
			n = reserved < arg ? reserved : arg;
			unified_sq_cancel(&sq, n);
			reserved -= n;
			break;
		case 9: {
			uint32_t nb = 1 + arg % 64;
			volatile uint64_t sink = 0;

			n = unified_cq_peek(&cq, nb, &idx);
			FZ_CHECK(n <= nb, "unified_cq_peek(%u) returned %u", nb, n);
			FZ_CHECK(n <= CQ_N,
				 "unified_cq_peek(%u) returned %u on a %u-entry ring (producer %u, consumer %u)",
				 nb, n, CQ_N, cqr->producer, cqr->consumer);
			for (i = 0; i < n; i++)
				sink += unified_cq_entry(&cq, idx + i)->user_data;
			(void)sink;
			peeked += n;
			break;
		}
		case 10:
			n = peeked < arg ? peeked : arg;
			unified_cq_release(&cq, n);
			peeked -= n;
			break;
		case 11:
			n = peeked < arg ? peeked : arg;
			unified_cq_cancel(&cq, n);
			peeked -= n;
			break;
		case 12: {
			uint32_t nb = 1 + arg % 64, total = 0;

			/* Nothing produces during the loop, so a sane helper hands out
			 * what its cached view still holds (at most one ring) plus
			 * what one fresh look at the producer adds (at most one ring:
			 * after releases, a producer up to a ring ahead is legal). */
			while ((n = unified_cq_peek(&cq, nb, &idx))) {
				total += n;
				FZ_CHECK(n <= CQ_N && total <= 2 * CQ_N,
					 "peek/release loop (%u at a time) handed out %u entries of a %u-entry "
					 "ring and goes on (producer %u, consumer %u)",
					 nb, total, CQ_N, cqr->producer, cqr->consumer);
				unified_cq_release(&cq, n);
			}
			break;
		}
		case 13: {
			uint32_t nb = 1 + arg % 128, f = unified_sq_nb_free(&sq, nb);

			FZ_CHECK(f <= SQ_N, "unified_sq_nb_free(%u) returned %u on a %u-entry ring "
				 "(producer %u, consumer %u)", nb, f, SQ_N, sqr->producer, sqr->consumer);
			(void)unified_sq_needs_wakeup(&sq);
			break;
		}
		}
	}
	return 0;
}
