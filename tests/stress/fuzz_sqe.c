/* SPDX-License-Identifier: MIT */
/*
 * SQE fuzzer: random submission entries through a real engine on a file
 * target (small data area), first in kick mode, then in thread mode.
 *
 *   fuzz_sqe [COUNT [SEED]]     COUNT SQEs per mode (default 200000)
 *
 * Three generators: pure random bytes; random bytes with a known opcode
 * and the right nsid; structured commands that are mostly valid with one
 * field broken now and then (to reach the targets' code).  Checks: every
 * SQE gives exactly one CQE with its user_data; every SQE the rules say is
 * invalid fails; the structured valid ones succeed; failed CQEs report no
 * length; dma_addr echoes buf_offset.  Then the shared indices are
 * corrupted: a bad SQ producer makes unified_kick() return -EBADMSG and
 * nothing is consumed until it is restored; a bad CQ consumer stops the
 * engine from taking SQEs, and once restored no CQE is lost.
 */
#include <time.h>
#include "helpers.h"

#define NBUF 64u
#define BSZ 4096u
#define AREA ((uint64_t)NBUF * BSZ)
#define SQ_N 64u
#define CQ_N 128u

static uint64_t count = 200000, seed;

struct fz {
	struct th_ctx t;
	uint64_t rs;
	uint64_t n;		/* SQEs to send */
	uint64_t sent, done;
	uint64_t *ud;		/* expected user_data per sequence number */
	uint64_t *off;		/* buf_offset per sequence number */
	uint8_t *want;		/* per seq: 0 unknown, 1 must fail, 2 must succeed, |4 done */
	uint64_t bad_ud, dup, must_fail_ok, must_fail_bad, must_ok_bad, failed_len, bad_dma;
	uint64_t first_problem_seq;
	char first_problem[256];
	uint64_t gen[3], statuses_nonzero;
};

static void problem(struct fz *f, uint64_t seq, const char *what, const struct io_unified_sqe *s,
		    const struct io_unified_cqe *c)
{
	if (f->first_problem[0])
		return;
	f->first_problem_seq = seq;
	snprintf(f->first_problem, sizeof(f->first_problem),
		 "seq %llu: %s (opcode 0x%x flags 0x%x nsid %u len %u data_len %u off 0x%llx -> "
		 "status 0x%x res %d)", (unsigned long long)seq, what, s ? s->nvme_cmd.opcode : 0,
		 s ? s->flags : 0, s ? s->nvme_cmd.nsid : 0, s ? s->len : 0,
		 s ? s->nvme_cmd.data_len : 0, s ? (unsigned long long)s->buf_offset : 0ull,
		 c ? c->status : 0, c ? c->res : 0);
}

static int known_io_opcode(uint8_t op)
{
	return op == IO_UNIFIED_NVME_CMD_FLUSH || op == IO_UNIFIED_NVME_CMD_WRITE ||
	       op == IO_UNIFIED_NVME_CMD_READ || op == IO_UNIFIED_NVME_CMD_COMPARE ||
	       op == IO_UNIFIED_NVME_CMD_WRITE_ZEROES || op == IO_UNIFIED_NVME_CMD_DSM;
}

/* The documented rules: 1 if @s must fail, 0 if it may succeed. */
static int must_fail(const struct th_ctx *t, const struct io_unified_sqe *s)
{
	const struct io_unified_nvme_cmd *nc = &s->nvme_cmd;
	int admin = s->flags & IO_UNIFIED_SQE_F_ADMIN;
	int rw = !admin && (nc->opcode == IO_UNIFIED_NVME_CMD_READ ||
			    nc->opcode == IO_UNIFIED_NVME_CMD_WRITE ||
			    nc->opcode == IO_UNIFIED_NVME_CMD_COMPARE);
	uint64_t len = s->len, rwb = ((uint64_t)(nc->cdw12 & 0xffff) + 1) * t->info.lba_size;
	uint64_t slba = ((uint64_t)nc->cdw11 << 32) | nc->cdw10;

	if (s->flags & ~IO_UNIFIED_SQE_F_MASK || s->__resv[0] || s->__resv[1] || s->__resv[2] ||
	    s->__resv[3] || nc->flags || nc->rsvd1 || nc->rsvd2 || nc->metadata || nc->metadata_len)
		return 1;
	if (nc->data_len && len && nc->data_len != len)
		return 1;
	if (admin) {
		/* the emulated admin set (docs/interface.md); others are Invalid Opcode */
		if (nc->opcode == IO_UNIFIED_NVME_ADMIN_IDENTIFY)
			return (nc->cdw10 & 0xff) > 3 || (nc->cdw10 >> 8);
		return nc->opcode != IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE &&
		       nc->opcode != IO_UNIFIED_NVME_ADMIN_GET_FEATURES &&
		       nc->opcode != IO_UNIFIED_NVME_ADMIN_SET_FEATURES;
	}
	if (!known_io_opcode(nc->opcode))
		return 1;
	/* data direction: Flush and Write Zeroes (bits 1:0 = 00b) carry no buffer */
	if ((nc->opcode == IO_UNIFIED_NVME_CMD_FLUSH || nc->opcode == IO_UNIFIED_NVME_CMD_WRITE_ZEROES) &&
	    (len || nc->data_len))
		return 1;
	if (nc->nsid != t->info.nsid &&
	    !(nc->opcode == IO_UNIFIED_NVME_CMD_FLUSH && nc->nsid == 0xffffffffu))
		return 1;
	if (!len)
		len = nc->data_len;
	if (!len && rw)
		len = rwb;
	if (rw && len != rwb)
		return 1;
	if (len > t->info.max_xfer)
		return 1;
	if (len && (s->buf_offset > AREA || len > AREA - s->buf_offset || s->buf_offset % 512))
		return 1;
	if ((rw || nc->opcode == IO_UNIFIED_NVME_CMD_WRITE_ZEROES) &&
	    (slba >= t->info.nlba || rwb / t->info.lba_size > t->info.nlba - slba))
		return 1;
	return 0;
}

static void gen_random(struct fz *f, struct io_unified_sqe *s)
{
	uint64_t *w = (uint64_t *)s;
	size_t i;

	for (i = 0; i < sizeof(*s) / 8; i++)
		w[i] = th_rand_next(&f->rs);
}

static const uint8_t io_ops[] = { 0x00, 0x01, 0x02, 0x05, 0x08, 0x09 };

static void gen_random_valid_op(struct fz *f, struct io_unified_sqe *s)
{
	uint64_t r = th_rand_next(&f->rs);

	gen_random(f, s);
	s->nvme_cmd.opcode = io_ops[r % sizeof(io_ops)];
	s->nvme_cmd.nsid = (r >> 8) % 16 ? f->t.info.nsid : 0xffffffffu;
	if ((r >> 12) % 4)
		s->flags = (r >> 16) % 8 ? 0 : IO_UNIFIED_SQE_F_ADMIN;
	if ((r >> 20) % 2)
		memset(s->__resv, 0, sizeof(s->__resv));
}

/* Mostly valid commands; returns 2 if it built one that must succeed. */
static int gen_structured(struct fz *f, struct io_unified_sqe *s)
{
	uint64_t r = th_rand_next(&f->rs), r2 = th_rand_next(&f->rs);
	uint32_t lba = f->t.info.lba_size, nlb = 1 + (uint32_t)(r % 8);
	uint64_t nlba = f->t.info.nlba, slba = (r >> 8) % nlba;
	uint64_t off = ((r >> 32) % NBUF) * BSZ;
	int valid = 1;

	if (slba + nlb > nlba)
		slba = nlba - nlb;
	if (off + (uint64_t)nlb * lba > AREA)
		off = AREA - (uint64_t)nlb * lba;
	switch ((r >> 40) % 8) {
	case 0: case 1: case 2:
		unified_prep_read(s, f->t.info.nsid, slba, nlb, off, nlb * lba, 0);
		break;
	case 3: case 4:
		unified_prep_write(s, f->t.info.nsid, slba, nlb, off, nlb * lba, 0);
		if ((r2 >> 50) % 4 == 0)
			s->nvme_cmd.cdw12 |= 1u << 30;	/* FUA */
		break;
	case 5:
		unified_prep_flush(s, (r2 >> 50) % 2 ? 0xffffffffu : f->t.info.nsid, 0);
		break;
	case 6:
		unified_prep_write_zeroes(s, f->t.info.nsid, slba, nlb, 0);
		break;
	default:
		unified_prep_identify(s, (uint8_t)((r2 >> 40) % 3), f->t.info.nsid,
				      ((r >> 32) % NBUF) * BSZ, 0);
		break;
	}
	if ((r2 % 4) == 0) {
		/* Break one thing. */
		valid = 0;
		switch ((r2 >> 8) % 12) {
		case 0: s->buf_offset += 1 + (r2 >> 20) % 511; break;
		case 1: s->buf_offset = AREA - 512 + ((r2 >> 20) % 3) * 512; break;
		case 2: s->buf_offset = UINT64_MAX - ((r2 >> 20) % 8192); break;
		case 3: s->len = (uint32_t)(r2 >> 20); break;
		case 4: s->nvme_cmd.data_len = s->len + 512; break;
		case 5: s->nvme_cmd.nsid = (uint32_t)(r2 >> 32) | 2; break;
		case 6: s->__resv[(r2 >> 20) % 4] = r2 | 1; break;
		case 7: s->nvme_cmd.cdw10 = (uint32_t)(nlba - (r2 >> 20) % 4); break;
		case 8: s->nvme_cmd.cdw12 = (uint32_t)(r2 >> 20); break;
		case 9: s->nvme_cmd.opcode = (uint8_t)(r2 >> 20); break;
		case 10: s->flags ^= 1u << ((r2 >> 20) % 32); break;
		default: s->nvme_cmd.metadata = r2 | 1; break;
		}
	}
	return valid ? 2 : 0;
}

static void reap(struct fz *f)
{
	uint32_t idx, n, k;

	while ((n = unified_cq_peek(&f->t.cq, 32, &idx))) {
		for (k = 0; k < n; k++) {
			const struct io_unified_cqe *c = unified_cq_entry(&f->t.cq, idx + k);
			uint64_t seq = c->user_data & 0xffffffffu;

			if (seq >= f->n || f->ud[seq] != c->user_data) {
				f->bad_ud++;
				problem(f, seq, "unknown user_data", NULL, c);
				continue;
			}
			if (f->want[seq] & 4) {
				f->dup++;
				problem(f, seq, "second CQE", NULL, c);
				continue;
			}
			f->done++;
			if (c->status)
				f->statuses_nonzero++;
			if ((f->want[seq] & 3) == 1 && !c->status) {
				f->must_fail_bad++;
				problem(f, seq, "invalid SQE succeeded", NULL, c);
			} else if ((f->want[seq] & 3) == 1) {
				f->must_fail_ok++;
			}
			if ((f->want[seq] & 3) == 2 && c->status) {
				f->must_ok_bad++;
				problem(f, seq, "valid SQE failed", NULL, c);
			}
			if (c->status && c->len) {
				f->failed_len++;
				problem(f, seq, "failed CQE with a length", NULL, c);
			}
			if (c->dma_addr != f->off[seq]) {
				f->bad_dma++;
				problem(f, seq, "dma_addr != buf_offset", NULL, c);
			}
			f->want[seq] |= 4;
		}
		unified_cq_release(&f->t.cq, n);
	}
}

static int fz_open(struct fz *f, uint32_t mode, uint32_t lba_size, uint64_t n)
{
	struct th_opts g = { .sq = SQ_N, .cq = CQ_N, .nbuf = NBUF, .bufsz = BSZ, .mode = mode,
			     .file_size = 8 << 20, .lba_size = lba_size, .idle_spin_us = 30,
			     .file = mode ? "fuzz-thread.img" : "fuzz-kick.img" };

	memset(f, 0, sizeof(*f));
	f->n = n;
	f->rs = seed ^ (mode * 0x1234567ull);
	f->ud = calloc(n ? n : 1, sizeof(*f->ud));
	f->off = calloc(n ? n : 1, sizeof(*f->off));
	f->want = calloc(n ? n : 1, 1);
	if (!f->ud || !f->off || !f->want || !th_tmpdir())
		return -ENOMEM;
	return th_open(&f->t, &g);
}

static void fz_close(struct fz *f)
{
	th_close(&f->t);
	free(f->ud);
	free(f->off);
	free(f->want);
	f->ud = f->off = NULL;
	f->want = NULL;
}

/* Put one SQE at ring index @idx with sequence number f->sent. */
static void put(struct fz *f, uint32_t idx, struct io_unified_sqe *s, int want)
{
	uint64_t seq = f->sent++;

	s->user_data = (th_rand_next(&f->rs) << 32) | seq;
	f->ud[seq] = s->user_data;
	f->off[seq] = s->buf_offset;
	f->want[seq] = (uint8_t)(must_fail(&f->t, s) ? 1 : want);
	if (want == 2 && f->want[seq] == 1)
		problem(f, seq, "generator/rules disagree (test bug)", s, NULL);
	*unified_sq_entry(&f->t.sq, idx) = *s;
}

static int wait_some(struct fz *f, uint32_t min)
{
	int ret = unified_enter(f->t.ctx, min, 5000);

	if (ret == -ETIME && min) {
		problem(f, f->sent, "no completion within 5 s", NULL, NULL);
		return -1;
	}
	return ret < 0 && ret != -ETIME ? ret : 0;
}

static void fuzz_loop(struct fz *f, uint32_t mode)
{
	uint64_t t0 = th_now_ns();

	while (f->done < f->n) {
		uint64_t r = th_rand_next(&f->rs);
		uint32_t want = 1 + (uint32_t)(r % 32), idx, k, n = 0;
		int ret;

		if (want > f->n - f->sent)
			want = (uint32_t)(f->n - f->sent);
		if (want)
			n = unified_sq_reserve(&f->t.sq, want, &idx);
		for (k = 0; k < n; k++) {
			struct io_unified_sqe s;
			int g = (int)((th_rand_next(&f->rs) >> 7) % 10), w = 0;

			if (g < 4) {
				gen_random(f, &s);
				f->gen[0]++;
			} else if (g < 7) {
				gen_random_valid_op(f, &s);
				f->gen[1]++;
			} else {
				w = gen_structured(f, &s);
				f->gen[2]++;
			}
			put(f, idx + k, &s, w);
		}
		if (n)
			unified_sq_submit(&f->t.sq, n);
		if (mode == UNIFIED_MODE_KICK || unified_sq_needs_wakeup(&f->t.sq)) {
			ret = unified_kick(f->t.ctx);
			if (ret) {
				problem(f, f->sent, "unified_kick failed", NULL, NULL);
				break;
			}
		}
		/* Wait when we cannot submit more (SQ full or all sent). */
		if (wait_some(f, !n ? 1 : 0))
			break;
		reap(f);
		if (f->bad_ud + f->dup > 100)
			break;
	}
	printf("  mode %s: %llu SQEs (%llu random, %llu random+opcode, %llu structured), "
	       "%llu failed as they must, %llu errors total, %.2f s\n", mode ? "thread" : "kick",
	       (unsigned long long)f->sent, (unsigned long long)f->gen[0], (unsigned long long)f->gen[1],
	       (unsigned long long)f->gen[2], (unsigned long long)f->must_fail_ok,
	       (unsigned long long)f->statuses_nonzero, (th_now_ns() - t0) / 1e9);
}

static void check_fz(struct fz *f)
{
	struct unified_stats st;
	uint32_t idx;

	CHECK(!f->first_problem[0], "%s", f->first_problem);
	CHECK(f->sent == f->n && f->done == f->sent, "%llu sent, %llu completed of %llu",
	      (unsigned long long)f->sent, (unsigned long long)f->done, (unsigned long long)f->n);
	CHECK(!f->bad_ud && !f->dup, "%llu unknown and %llu duplicate CQEs", (unsigned long long)f->bad_ud,
	      (unsigned long long)f->dup);
	CHECK(!f->must_fail_bad, "%llu invalid SQEs succeeded", (unsigned long long)f->must_fail_bad);
	CHECK(!f->must_ok_bad, "%llu valid SQEs failed", (unsigned long long)f->must_ok_bad);
	CHECK(!f->failed_len && !f->bad_dma, "%llu failed CQEs with len, %llu wrong dma_addr",
	      (unsigned long long)f->failed_len, (unsigned long long)f->bad_dma);
	CHECK(unified_get_stats(f->t.ctx, &st) == 0, "stats");
	CHECK(st.sqes == f->sent && st.cqes == f->done, "engine: %llu SQEs in, %llu CQEs out; test: %llu/%llu",
	      (unsigned long long)st.sqes, (unsigned long long)st.cqes, (unsigned long long)f->sent,
	      (unsigned long long)f->done);
	CHECK(st.errors == f->statuses_nonzero, "engine counted %llu errors, CQEs had %llu",
	      (unsigned long long)st.errors, (unsigned long long)f->statuses_nonzero);
	CHECK(unified_cq_peek(&f->t.cq, 1, &idx) == 0, "CQE left over");
}

static void t_fuzz_kick(void)
{
	struct fz f;

	REQUIRE(fz_open(&f, UNIFIED_MODE_KICK, 4096, count) == 0, "register");
	fuzz_loop(&f, UNIFIED_MODE_KICK);
	check_fz(&f);
	fz_close(&f);
}

static void t_fuzz_thread(void)
{
	struct fz f;

	REQUIRE(fz_open(&f, UNIFIED_MODE_THREAD, 512, count) == 0, "register");
	fuzz_loop(&f, UNIFIED_MODE_THREAD);
	check_fz(&f);
	fz_close(&f);
}

/* ------------------------------------------------------------ corrupt indices */

/* Valid read of LBA seq%64 into buffer seq%NBUF. */
static void put_read(struct fz *f, uint32_t idx)
{
	struct io_unified_sqe s;
	uint64_t seq = f->sent;

	unified_prep_read(&s, f->t.info.nsid, seq % 64, 1, (seq % NBUF) * BSZ, f->t.info.lba_size, 0);
	put(f, idx, &s, 2);
}

static void wait_all(struct fz *f)
{
	int spins = 0;

	while (f->done < f->sent && spins++ < 200) {
		if (wait_some(f, 1))
			break;
		reap(f);
	}
}

static void corrupt_sq(uint32_t mode)
{
	static const int64_t deltas[] = { SQ_N + 1, 3 * SQ_N, 0x80000000ll, -1, -(int64_t)SQ_N, -2 * SQ_N - 7 };
	struct unified_stats st0, st;
	struct fz f;
	uint32_t idx, k, cons, prod, cqprod;
	size_t i;

	REQUIRE(fz_open(&f, mode, 4096, 1000) == 0, "register");
	/* Some traffic first so the indices are not at 0. */
	for (k = 0; k < 3; k++) {
		uint32_t n = unified_sq_reserve(&f.t.sq, 20, &idx), j;

		for (j = 0; j < n; j++)
			put_read(&f, idx + j);
		unified_sq_submit(&f.t.sq, n);
		unified_kick(f.t.ctx);
		wait_all(&f);
	}
	REQUIRE(f.done == f.sent, "warm-up: %llu of %llu", (unsigned long long)f.done,
		(unsigned long long)f.sent);
	/* Five SQEs written but published only through corrupt values. */
	REQUIRE(unified_sq_reserve(&f.t.sq, 5, &idx) == 5, "reserve");
	for (k = 0; k < 5; k++)
		put_read(&f, idx + k);
	prod = __atomic_load_n(f.t.sq.r.producer, __ATOMIC_RELAXED);
	cons = __atomic_load_n(f.t.sq.r.consumer, __ATOMIC_ACQUIRE);
	cqprod = __atomic_load_n(f.t.cq.r.producer, __ATOMIC_ACQUIRE);
	CHECK(prod == cons, "SQ not idle");
	unified_get_stats(f.t.ctx, &st0);
	for (i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		uint32_t bad = (uint32_t)(prod + (uint32_t)deltas[i]);
		int ret;

		__atomic_store_n(f.t.sq.r.producer, bad, __ATOMIC_RELEASE);
		ret = unified_kick(f.t.ctx);
		if (mode == UNIFIED_MODE_KICK) {
			CHECK(ret == -EBADMSG, "producer %+lld: kick returned %d, want -EBADMSG",
			      (long long)deltas[i], ret);
			ret = unified_enter(f.t.ctx, 1, 100);
			CHECK(ret == -EBADMSG, "producer %+lld: enter returned %d, want -EBADMSG",
			      (long long)deltas[i], ret);
		} else {
			/* the engine thread finds it asynchronously: this kick or a
			 * later one (or a waiting enter) reports -EBADMSG */
			CHECK(ret == 0 || ret == -EBADMSG, "thread mode kick: %d", ret);
			usleep(20000);	/* let the engine thread look at it */
			ret = unified_enter(f.t.ctx, 1, 100);
			CHECK(ret == -EBADMSG, "producer %+lld: thread mode enter returned %d, want -EBADMSG",
			      (long long)deltas[i], ret);
		}
		CHECK(__atomic_load_n(f.t.sq.r.consumer, __ATOMIC_ACQUIRE) == cons,
		      "producer %+lld: the engine consumed SQEs", (long long)deltas[i]);
		CHECK(__atomic_load_n(f.t.cq.r.producer, __ATOMIC_ACQUIRE) == cqprod,
		      "producer %+lld: CQEs appeared", (long long)deltas[i]);
	}
	unified_get_stats(f.t.ctx, &st);
	CHECK(st.sqes == st0.sqes && st.cqes == st0.cqes, "engine consumed %llu SQEs from a corrupt ring",
	      (unsigned long long)(st.sqes - st0.sqes));
	CHECK(st.ring_errors > st0.ring_errors, "ring_errors did not count the corruption");
	/* Restore (publishing the five real entries) and continue. */
	__atomic_store_n(f.t.sq.r.producer, prod + 5, __ATOMIC_RELEASE);
	i = unified_kick(f.t.ctx) == 0 || (mode == UNIFIED_MODE_THREAD && unified_kick(f.t.ctx) == 0);
	CHECK(i, "kick after restore");	/* thread mode: at most one late report */
	wait_all(&f);
	CHECK(f.done == f.sent, "after restore: %llu of %llu completed", (unsigned long long)f.done,
	      (unsigned long long)f.sent);
	/* And the ring keeps working. */
	{
		uint32_t n = unified_sq_reserve(&f.t.sq, 30, &idx), j;

		for (j = 0; j < n; j++)
			put_read(&f, idx + j);
		unified_sq_submit(&f.t.sq, n);
		unified_kick(f.t.ctx);
		wait_all(&f);
	}
	f.n = f.sent;
	check_fz(&f);
	fz_close(&f);
}

static void t_corrupt_sq_producer_kick(void)
{
	corrupt_sq(UNIFIED_MODE_KICK);
}

static void t_corrupt_sq_producer_thread(void)
{
	corrupt_sq(UNIFIED_MODE_THREAD);
}

static void corrupt_cq(uint32_t mode)
{
	static const int64_t deltas[] = { 5, CQ_N, 0x80000000ll, -1, -(int64_t)CQ_N - 3 };
	struct unified_stats st0, st;
	struct fz f;
	uint32_t idx, k, cons, cqprod, sqcons;
	size_t i;
	int spins;

	REQUIRE(fz_open(&f, mode, 4096, 4000) == 0, "register");
	/* Fill the CQ without consuming: CQ_N completions. */
	for (spins = 0; f.sent < CQ_N && spins < 1000; spins++) {
		uint32_t want = CQ_N - (uint32_t)f.sent, n;

		n = unified_sq_reserve(&f.t.sq, want > 16 ? 16 : want, &idx);
		for (k = 0; k < n; k++)
			put_read(&f, idx + k);
		unified_sq_submit(&f.t.sq, n);
		unified_kick(f.t.ctx);
		if (!n)
			usleep(1000);
	}
	for (spins = 0; spins < 500; spins++) {
		if (__atomic_load_n(f.t.cq.r.producer, __ATOMIC_ACQUIRE) -
		    __atomic_load_n(f.t.cq.r.consumer, __ATOMIC_RELAXED) == CQ_N)
			break;
		unified_enter(f.t.ctx, CQ_N, 10);
	}
	cqprod = __atomic_load_n(f.t.cq.r.producer, __ATOMIC_ACQUIRE);
	cons = __atomic_load_n(f.t.cq.r.consumer, __ATOMIC_RELAXED);
	REQUIRE(cqprod - cons == CQ_N, "CQ holds %u, not full", cqprod - cons);
	/* More SQEs that cannot be taken while the CQ is full. */
	REQUIRE(unified_sq_reserve(&f.t.sq, 10, &idx) == 10, "reserve");
	for (k = 0; k < 10; k++)
		put_read(&f, idx + k);
	unified_sq_submit(&f.t.sq, 10);
	unified_kick(f.t.ctx);
	usleep(10000);
	sqcons = __atomic_load_n(f.t.sq.r.consumer, __ATOMIC_ACQUIRE);
	unified_get_stats(f.t.ctx, &st0);
	for (i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		uint32_t bad = deltas[i] > 0 ? cqprod + (uint32_t)deltas[i] : cons + (uint32_t)deltas[i];

		__atomic_store_n(f.t.cq.r.consumer, bad, __ATOMIC_RELEASE);
		CHECK(unified_kick(f.t.ctx) == 0, "kick with a corrupt CQ consumer");
		usleep(mode == UNIFIED_MODE_THREAD ? 20000 : 0);
		CHECK(__atomic_load_n(f.t.cq.r.producer, __ATOMIC_ACQUIRE) == cqprod,
		      "consumer %+lld: the engine overwrote unread CQEs", (long long)deltas[i]);
		CHECK(__atomic_load_n(f.t.sq.r.consumer, __ATOMIC_ACQUIRE) == sqcons,
		      "consumer %+lld: SQEs taken without CQ room", (long long)deltas[i]);
	}
	unified_get_stats(f.t.ctx, &st);
	CHECK(st.ring_errors > st0.ring_errors, "ring_errors did not count the corrupt CQ consumer");
	CHECK(st.cqes == st0.cqes, "CQEs written while the consumer was corrupt");
	/* Restore and drain: every CQE, old and new, arrives exactly once. */
	__atomic_store_n(f.t.cq.r.consumer, cons, __ATOMIC_RELEASE);
	wait_all(&f);
	for (spins = 0; f.done < f.sent && spins < 100; spins++) {
		unified_kick(f.t.ctx);
		reap(&f);
		usleep(1000);
	}
	f.n = f.sent;
	check_fz(&f);
	fz_close(&f);
}

static void t_corrupt_cq_consumer_kick(void)
{
	corrupt_cq(UNIFIED_MODE_KICK);
}

static void t_corrupt_cq_consumer_thread(void)
{
	corrupt_cq(UNIFIED_MODE_THREAD);
}

/* Random SQEs queued and in flight at unregister: no crash, no leak. */
static void t_unregister_with_random_work(void)
{
	int round;

	for (round = 0; round < 10; round++) {
		struct fz f;
		uint32_t idx, n, k;

		REQUIRE(fz_open(&f, round % 2, 4096, 200) == 0, "register");
		while (f.sent < f.n && (n = unified_sq_reserve(&f.t.sq, 32, &idx))) {
			for (k = 0; k < n && f.sent < f.n; k++) {
				struct io_unified_sqe s;

				if (k % 2)
					gen_random_valid_op(&f, &s);
				else
					gen_structured(&f, &s);
				put(&f, idx + k, &s, 0);
			}
			unified_sq_cancel(&f.t.sq, n - k);
			unified_sq_submit(&f.t.sq, k);
			unified_kick(f.t.ctx);
			if (round % 3 == 0)
				break;
		}
		fz_close(&f);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1)
		count = strtoull(argv[1], NULL, 0);
	seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
	if (count > 0xffffffffull)
		count = 0xffffffffull;
	printf("fuzz_sqe: %llu SQEs per mode, seed %llu (rerun: fuzz_sqe %llu %llu)\n",
	       (unsigned long long)count, (unsigned long long)seed, (unsigned long long)count,
	       (unsigned long long)seed);
	RUN(t_fuzz_kick);
	RUN(t_fuzz_thread);
	RUN(t_corrupt_sq_producer_kick);
	RUN(t_corrupt_sq_producer_thread);
	RUN(t_corrupt_cq_consumer_kick);
	RUN(t_corrupt_cq_consumer_thread);
	RUN(t_unregister_with_random_work);
	return harness_done();
}
