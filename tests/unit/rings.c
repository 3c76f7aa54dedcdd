/* SPDX-License-Identifier: MIT */
/*
 * The inline ring helpers of libunified.h on ring views built over plain
 * memory (no engine): empty/full, wrap-around of the free-running 32-bit
 * indices, all-or-nothing reserve, cancel, batches, short peeks, release,
 * NEED_WAKEUP, and the SQE prep helpers.
 */
#include "helpers.h"

#define N 8u	/* ring entries */

/* A ring as the region holds it: header page + entries. */
struct test_ring {
	struct io_unified_ring hdr __attribute__((aligned(64)));
	struct io_unified_sqe sqes[N];
	struct io_unified_cqe cqes[N];
};

static struct test_ring R;

/*
 * Start both indices at @start.  @sq: producer view over SQEs; @cq:
 * consumer view over the same ring's indices (entries as CQEs), the way
 * unified_sq_init()/unified_cq_init() build them.
 */
static void ring_init(uint32_t start, struct unified_sq *sq, struct unified_cq *cq)
{
	memset(&R, 0, sizeof(R));
	R.hdr.ring_entries = N;
	R.hdr.ring_mask = N - 1;
	R.hdr.producer = R.hdr.consumer = start;
	sq->r = (struct unified_ring_view){ .cached_prod = start, .cached_cons = start + N,
					    .mask = N - 1, .size = N, .producer = &R.hdr.producer,
					    .consumer = &R.hdr.consumer, .flags = &R.hdr.flags,
					    .entries = R.sqes };
	cq->r = (struct unified_ring_view){ .cached_prod = start, .cached_cons = start,
					    .mask = N - 1, .size = N, .producer = &R.hdr.producer,
					    .consumer = &R.hdr.consumer, .flags = &R.hdr.flags,
					    .entries = R.cqes };
}

/* The consumer side reads SQEs by ring index (peek/release are type-agnostic). */
static const struct io_unified_sqe *sqe_at(uint32_t idx)
{
	return &R.sqes[idx & (N - 1)];
}

static void t_empty_and_full(void)
{
	struct unified_sq sq;
	struct unified_cq cq;
	uint32_t idx = 12345, i;

	ring_init(0, &sq, &cq);
	CHECK(unified_sq_nb_free(&sq, 1) == N, "empty ring: %u free", unified_sq_nb_free(&sq, 1));
	CHECK(unified_cq_peek(&cq, N, &idx) == 0 && idx == 12345, "peek on an empty ring");
	CHECK(unified_sq_reserve(&sq, N, &idx) == N && idx == 0, "reserve the whole ring");
	for (i = 0; i < N; i++)
		unified_sq_entry(&sq, idx + i)->user_data = 100 + i;
	CHECK(unified_sq_nb_free(&sq, 1) == 0, "full ring: %u free", unified_sq_nb_free(&sq, 1));
	CHECK(unified_sq_reserve(&sq, 1, &idx) == 0, "reserve on a full ring");
	CHECK(unified_cq_peek(&cq, N, &idx) == 0, "peek sees unsubmitted entries");
	unified_sq_submit(&sq, N);
	CHECK(R.hdr.producer == N, "producer %u", R.hdr.producer);
	CHECK(unified_cq_peek(&cq, 2 * N, &idx) == N && idx == 0, "peek a full ring");
	for (i = 0; i < N; i++)
		CHECK(sqe_at(idx + i)->user_data == 100 + i, "entry %u holds %llu", i,
		      (unsigned long long)sqe_at(idx + i)->user_data);
	CHECK(unified_cq_peek(&cq, 1, &idx) == 0, "peek past the producer");
	/* Not yet released: the producer still sees a full ring. */
	CHECK(unified_sq_nb_free(&sq, 1) == 0, "free before release");
	unified_cq_release(&cq, N);
	CHECK(R.hdr.consumer == N, "consumer %u", R.hdr.consumer);
	CHECK(unified_sq_nb_free(&sq, 1) == N, "free after release: %u", unified_sq_nb_free(&sq, 1));
}

static void t_wraparound(void)
{
	static const uint32_t starts[] = { UINT32_MAX - 2, UINT32_MAX, UINT32_MAX - N, 0x80000000u - 3 };
	size_t s;

	for (s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
		struct unified_sq sq;
		struct unified_cq cq;
		uint64_t seq = 0, got = 0;
		uint32_t round, idx, i, n;

		ring_init(starts[s], &sq, &cq);
		for (round = 0; round < 50; round++) {
			uint32_t want = 1 + round % N;

			n = unified_sq_reserve(&sq, want, &idx);
			CHECK(n == want, "start %u round %u: reserved %u of %u", starts[s], round, n, want);
			for (i = 0; i < n; i++) {
				CHECK(unified_sq_entry(&sq, idx + i) == &R.sqes[(idx + i) % N],
				      "entry of index %u is not slot %u", idx + i, (idx + i) % N);
				unified_sq_entry(&sq, idx + i)->user_data = seq++;
			}
			unified_sq_submit(&sq, n);
			while ((n = unified_cq_peek(&cq, 3, &idx))) {
				for (i = 0; i < n; i++) {
					CHECK(sqe_at(idx + i)->user_data == got, "start %u: got %llu want %llu",
					      starts[s], (unsigned long long)sqe_at(idx + i)->user_data,
					      (unsigned long long)got);
					got++;
				}
				unified_cq_release(&cq, n);
			}
		}
		CHECK(got == seq, "start %u: consumed %llu of %llu", starts[s], (unsigned long long)got,
		      (unsigned long long)seq);
		CHECK(R.hdr.producer == starts[s] + (uint32_t)seq, "producer did not wrap to %u: %u",
		      starts[s] + (uint32_t)seq, R.hdr.producer);
		CHECK(R.hdr.consumer == R.hdr.producer, "consumer %u producer %u", R.hdr.consumer,
		      R.hdr.producer);
		if (starts[s] > UINT32_MAX - 2 * N)
			CHECK(R.hdr.producer < starts[s], "start %u: the indices never wrapped", starts[s]);
		CHECK(unified_sq_nb_free(&sq, N) == N, "free after wrap: %u", unified_sq_nb_free(&sq, N));
	}
}

static void t_full_across_wrap(void)
{
	struct unified_sq sq;
	struct unified_cq cq;
	uint32_t idx;

	/* producer - consumer spans the 2^32 boundary while the ring is full. */
	ring_init(UINT32_MAX - 3, &sq, &cq);
	CHECK(unified_sq_reserve(&sq, N, &idx) == N && idx == UINT32_MAX - 3, "reserve");
	unified_sq_submit(&sq, N);
	CHECK(R.hdr.producer == N - 4, "producer %u", R.hdr.producer);
	CHECK(unified_sq_nb_free(&sq, 1) == 0 && unified_sq_reserve(&sq, 1, &idx) == 0,
	      "full ring across the wrap accepts more");
	CHECK(unified_cq_peek(&cq, N, &idx) == N && idx == UINT32_MAX - 3, "peek across the wrap");
	unified_cq_release(&cq, 5);
	CHECK(unified_sq_nb_free(&sq, 5) == 5, "free %u", unified_sq_nb_free(&sq, 5));
	CHECK(unified_sq_reserve(&sq, 5, &idx) == 5 && idx == N - 4, "reserve after the wrap: idx %u", idx);
}

static void t_reserve_all_or_nothing(void)
{
	struct unified_sq sq;
	struct unified_cq cq;
	uint32_t idx = 777, before;

	ring_init(100, &sq, &cq);
	CHECK(unified_sq_reserve(&sq, N - 3, &idx) == N - 3 && idx == 100, "reserve N-3");
	unified_sq_submit(&sq, N - 3);
	before = sq.r.cached_prod;
	idx = 777;
	CHECK(unified_sq_reserve(&sq, 4, &idx) == 0, "reserve 4 with 3 free succeeded");
	CHECK(idx == 777 && sq.r.cached_prod == before, "a failed reserve changed state");
	CHECK(unified_sq_reserve(&sq, N + 1, &idx) == 0, "reserve more than the ring");
	CHECK(unified_sq_reserve(&sq, 3, &idx) == 3 && idx == 100 + N - 3, "reserve exactly 3");
	CHECK(unified_sq_reserve(&sq, 1, &idx) == 0, "reserve on a full ring");
	CHECK(unified_sq_reserve(&sq, 0, &idx) == 0, "reserve 0 returns 0");
}

static void t_cancel(void)
{
	struct unified_sq sq;
	struct unified_cq cq;
	uint32_t idx, idx2;

	ring_init(UINT32_MAX - 1, &sq, &cq);
	CHECK(unified_sq_reserve(&sq, 4, &idx) == 4, "reserve 4");
	unified_sq_entry(&sq, idx)->user_data = 1;
	unified_sq_entry(&sq, idx + 1)->user_data = 2;
	unified_sq_cancel(&sq, 2);
	unified_sq_submit(&sq, 2);
	CHECK(R.hdr.producer == UINT32_MAX - 1 + 2, "producer %u after submit of 2", R.hdr.producer);
	CHECK(unified_sq_reserve(&sq, 1, &idx2) == 1 && idx2 == idx + 2, "reserve after cancel at %u, want %u",
	      idx2, idx + 2);
	unified_sq_cancel(&sq, 1);
	CHECK(unified_sq_nb_free(&sq, N - 2) == N - 2, "free after cancel %u", unified_sq_nb_free(&sq, 1));
	CHECK(unified_cq_peek(&cq, N, &idx2) == 2 && sqe_at(idx2)->user_data == 1 &&
	      sqe_at(idx2 + 1)->user_data == 2, "consumer sees the 2 submitted entries only");
	/* cq cancel: un-peek, the next peek returns the same entries. */
	unified_cq_cancel(&cq, 2);
	CHECK(unified_cq_peek(&cq, 1, &idx) == 1 && idx == idx2, "re-peek after cancel at %u, want %u", idx,
	      idx2);
	unified_cq_cancel(&cq, 1);
	CHECK(unified_cq_peek(&cq, N, &idx) == 2 && idx == idx2, "re-peek of both");
	unified_cq_release(&cq, 2);
	CHECK(R.hdr.consumer == R.hdr.producer, "released");
}

static void t_batch_reserve_and_peek(void)
{
	struct unified_sq sq;
	struct unified_cq cq;
	uint32_t idx, i, n;

	ring_init(UINT32_MAX - 5, &sq, &cq);
	/* Move the ring so that a batch straddles the array end and the 2^32 wrap. */
	CHECK(unified_sq_reserve(&sq, 3, &idx) == 3, "reserve 3");
	unified_sq_submit(&sq, 3);
	CHECK(unified_cq_peek(&cq, 3, &idx) == 3, "peek 3");
	unified_cq_release(&cq, 3);
	CHECK(unified_sq_reserve(&sq, 7, &idx) == 7 && idx == UINT32_MAX - 2, "batch of 7 at %u", idx);
	for (i = 0; i < 7; i++) {
		struct io_unified_sqe *s = unified_sq_entry(&sq, idx + i);

		CHECK(s == &R.sqes[(idx + i) & (N - 1)], "batch entry %u in slot %ld", i,
		      (long)(s - R.sqes));
		s->user_data = 0xb000 + i;
	}
	unified_sq_submit(&sq, 7);
	CHECK(unified_cq_peek(&cq, 7, &idx) == 7, "peek the batch");
	for (i = 0; i < 7; i++)
		CHECK(sqe_at(idx + i)->user_data == 0xb000 + i, "batch entry %u", i);
	unified_cq_release(&cq, 7);
	/* Peek caps at nb and continues where it left. */
	CHECK(unified_sq_reserve(&sq, 6, &idx) == 6, "reserve 6");
	for (i = 0; i < 6; i++)
		unified_sq_entry(&sq, idx + i)->user_data = i;
	unified_sq_submit(&sq, 6);
	n = unified_cq_peek(&cq, 4, &idx);
	CHECK(n == 4 && sqe_at(idx)->user_data == 0, "peek 4 of 6 gave %u", n);
	n = unified_cq_peek(&cq, 4, &idx);
	CHECK(n == 2 && sqe_at(idx)->user_data == 4, "peek the remaining 2 gave %u", n);
	unified_cq_release(&cq, 6);
}

static void t_peek_fewer_than_asked(void)
{
	struct unified_sq sq;
	struct unified_cq cq;
	uint32_t idx;

	ring_init(42, &sq, &cq);
	CHECK(unified_sq_reserve(&sq, 3, &idx) == 3, "reserve");
	unified_sq_submit(&sq, 3);
	CHECK(unified_cq_peek(&cq, 8, &idx) == 3 && idx == 42, "peek 8 of 3");
	CHECK(unified_cq_peek(&cq, 8, &idx) == 0, "second peek");
	/* Entries submitted after a peek are seen by the next peek. */
	CHECK(unified_sq_reserve(&sq, 2, &idx) == 2, "reserve");
	unified_sq_submit(&sq, 2);
	CHECK(unified_cq_peek(&cq, 8, &idx) == 2 && idx == 45, "peek of the late 2 at %u", idx);
	unified_cq_release(&cq, 5);
	CHECK(R.hdr.consumer == 47, "consumer %u", R.hdr.consumer);
}

static void t_release_and_cached_consumer(void)
{
	struct unified_sq sq;
	struct unified_cq cq;
	uint32_t idx;

	ring_init(0, &sq, &cq);
	CHECK(unified_sq_reserve(&sq, N, &idx) == N, "fill");
	unified_sq_submit(&sq, N);
	CHECK(unified_cq_peek(&cq, N, &idx) == N, "peek all");
	unified_cq_release(&cq, 2);
	CHECK(R.hdr.consumer == 2, "partial release: consumer %u", R.hdr.consumer);
	CHECK(unified_sq_nb_free(&sq, 1) == 2, "producer sees the 2 released slots: %u",
	      unified_sq_nb_free(&sq, 1));
	unified_cq_release(&cq, 6);
	/* The producer's cache says 2 free: asking for 1 does not refresh... */
	CHECK(unified_sq_nb_free(&sq, 1) == 2, "cached free count %u", unified_sq_nb_free(&sq, 1));
	/* ...asking for more than the cache holds does. */
	CHECK(unified_sq_nb_free(&sq, 3) == N, "refreshed free count %u", unified_sq_nb_free(&sq, 3));
	/* The producer index the engine sees only moves on submit. */
	CHECK(unified_sq_reserve(&sq, 2, &idx) == 2 && R.hdr.producer == N, "reserve moved producer");
	unified_sq_submit(&sq, 2);
	CHECK(R.hdr.producer == N + 2, "producer %u", R.hdr.producer);
}

static void t_needs_wakeup(void)
{
	struct unified_sq sq;
	struct unified_cq cq;

	ring_init(0, &sq, &cq);
	CHECK(unified_sq_needs_wakeup(&sq) == 0, "flag clear");
	R.hdr.flags = IO_UNIFIED_RING_NEED_WAKEUP;
	CHECK(unified_sq_needs_wakeup(&sq) != 0, "NEED_WAKEUP not reported");
	R.hdr.flags = ~IO_UNIFIED_RING_NEED_WAKEUP;
	CHECK(unified_sq_needs_wakeup(&sq) == 0, "other flag bits reported as NEED_WAKEUP");
	R.hdr.flags = 0;
	CHECK(unified_sq_needs_wakeup(&sq) == 0, "flag cleared");
}

static void t_prep_helpers(void)
{
	struct io_unified_sqe s, zero;
	const struct unified_dsm_range *rng;

	memset(&zero, 0, sizeof(zero));
	memset(&s, 0xff, sizeof(s));
	unified_prep_read(&s, 1, 0x123456789aull, 8, 4096, 32768, 77);
	CHECK(s.nvme_cmd.opcode == IO_UNIFIED_NVME_CMD_READ && s.nvme_cmd.nsid == 1, "read opcode/nsid");
	CHECK(s.nvme_cmd.cdw10 == 0x3456789a && s.nvme_cmd.cdw11 == 0x12 && s.nvme_cmd.cdw12 == 7,
	      "read cdw10-12 %x %x %x", s.nvme_cmd.cdw10, s.nvme_cmd.cdw11, s.nvme_cmd.cdw12);
	CHECK(s.buf_offset == 4096 && s.len == 32768 && s.user_data == 77 && s.flags == 0, "read fields");
	CHECK(!memcmp(s.__resv, zero.__resv, sizeof(s.__resv)) && !s.nvme_cmd.flags &&
	      !s.nvme_cmd.rsvd1 && !s.nvme_cmd.rsvd2 && !s.nvme_cmd.metadata && !s.nvme_cmd.addr &&
	      !s.nvme_cmd.metadata_len && !s.nvme_cmd.data_len, "reserved fields not zeroed");
	unified_prep_write(&s, 2, 5, 65536, 0, 1 << 20, 1);
	CHECK(s.nvme_cmd.opcode == IO_UNIFIED_NVME_CMD_WRITE && s.nvme_cmd.cdw12 == 0xffff,
	      "write nlb 65536 -> cdw12 %x", s.nvme_cmd.cdw12);
	unified_prep_flush(&s, 0xffffffffu, 9);
	CHECK(s.nvme_cmd.opcode == IO_UNIFIED_NVME_CMD_FLUSH && s.len == 0 && s.user_data == 9 &&
	      s.nvme_cmd.nsid == 0xffffffffu, "flush");
	unified_prep_write_zeroes(&s, 1, 10, 4, 3);
	CHECK(s.nvme_cmd.opcode == IO_UNIFIED_NVME_CMD_WRITE_ZEROES && s.nvme_cmd.cdw10 == 10 &&
	      s.nvme_cmd.cdw12 == 3 && s.len == 0, "write zeroes");
	unified_prep_dsm_deallocate(&s, 1, 256, 8192, 4);
	CHECK(s.nvme_cmd.opcode == IO_UNIFIED_NVME_CMD_DSM && s.nvme_cmd.cdw10 == 255 &&
	      s.nvme_cmd.cdw11 == 4 && s.len == 4096 && s.buf_offset == 8192, "dsm");
	unified_prep_identify(&s, 1, 0, 4096, 5);
	CHECK(s.nvme_cmd.opcode == IO_UNIFIED_NVME_ADMIN_IDENTIFY && s.nvme_cmd.cdw10 == 1 &&
	      s.flags == IO_UNIFIED_SQE_F_ADMIN && s.len == 4096, "identify");
	CHECK(sizeof(*rng) == 16, "dsm range entry is %zu bytes", sizeof(*rng));
}

int main(void)
{
	RUN(t_empty_and_full);
	RUN(t_wraparound);
	RUN(t_full_across_wrap);
	RUN(t_reserve_all_or_nothing);
	RUN(t_cancel);
	RUN(t_batch_reserve_and_peek);
	RUN(t_peek_fewer_than_asked);
	RUN(t_release_and_cached_consumer);
	RUN(t_needs_wakeup);
	RUN(t_prep_helpers);
	return harness_done();
}
