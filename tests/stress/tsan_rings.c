/* SPDX-License-Identifier: MIT */
/*
 * Concurrency stress for ThreadSanitizer (build-tsan/tests/stress/tsan_rings).
 *
 *  1. A producer thread and a consumer thread exchange millions of SQEs
 *     through the inline helpers over one shared ring: random batch sizes,
 *     reserve/cancel, partial releases, un-peeks, indices starting just
 *     below 2^32 so they wrap, a NEED_WAKEUP sleep/kick protocol, and every
 *     entry checked by sequence number.
 *  2. The same with CQE-sized entries (the engine -> application direction).
 *  3. The real engine in UNIFIED_MODE_THREAD (engine thread + this thread)
 *     serving many reads of a small file, every byte checked.
 *
 *   tsan_rings [RING_ENTRIES [ENGINE_READS [SEED]]]
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include "helpers.h"

static uint64_t n_entries = 2000000;
static uint64_t n_reads = 40000;
static uint64_t seed;

/* ------------------------------------------------------------ shared ring */

struct shared {
	struct io_unified_ring hdr __attribute__((aligned(64)));
	void *entries;
	uint32_t size;
	size_t esize;		/* 128 (SQE) or 64 (CQE) */
	uint64_t total;
	uint64_t prod_seed, cons_seed;
	/* results */
	uint64_t consumed, bad, first_bad_seq, wakeups, sleeps, cancels, unpeeks;
	uint32_t start;
};

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static void fill(struct shared *sh, void *e, uint64_t seq)
{
	if (sh->esize == sizeof(struct io_unified_sqe)) {
		struct io_unified_sqe *s = e;

		unified_prep_read(s, (uint32_t)seq, seq * 7, 1 + (uint32_t)(seq % 64), ~seq,
				  (uint32_t)(seq * 3), seq);
		s->__resv[3] = seq ^ 0x5555;
	} else {
		struct io_unified_cqe *c = e;

		memset(c, 0, sizeof(*c));
		c->user_data = seq;
		c->result = ~seq;
		c->dma_addr = seq * 5;
		c->len = (uint32_t)seq;
		c->status = (uint16_t)seq;
		c->res = -(int32_t)(seq & 0xffff);
		c->__resv[2] = seq ^ 0xaaaa;
	}
}

static int check(const struct shared *sh, const void *e, uint64_t seq)
{
	if (sh->esize == sizeof(struct io_unified_sqe)) {
		const struct io_unified_sqe *s = e;

		return s->user_data == seq && s->buf_offset == ~seq && s->len == (uint32_t)(seq * 3) &&
		       s->nvme_cmd.nsid == (uint32_t)seq && s->nvme_cmd.cdw10 == (uint32_t)(seq * 7) &&
		       s->nvme_cmd.cdw12 == (uint32_t)(seq % 64) && s->__resv[3] == (seq ^ 0x5555);
	} else {
		const struct io_unified_cqe *c = e;

		return c->user_data == seq && c->result == ~seq && c->dma_addr == seq * 5 &&
		       c->len == (uint32_t)seq && c->status == (uint16_t)seq &&
		       c->res == -(int32_t)(seq & 0xffff) && c->__resv[2] == (seq ^ 0xaaaa);
	}
}

static void *entry_at(const struct shared *sh, void *base, uint32_t idx, uint32_t mask)
{
	return (uint8_t *)base + (size_t)(idx & mask) * sh->esize;
}

static void *producer(void *arg)
{
	struct shared *sh = arg;
	struct unified_sq sq = { { sh->start, sh->start + sh->size, sh->size - 1, sh->size,
				   &sh->hdr.producer, &sh->hdr.consumer, &sh->hdr.flags, sh->entries } };
	uint64_t seq = 0, rs = sh->prod_seed;

	while (seq < sh->total) {
		uint64_t r = th_rand_next(&rs);
		uint32_t want = 1 + (uint32_t)(r % sh->size), idx, i, n;

		if (want > sh->total - seq)
			want = (uint32_t)(sh->total - seq);
		n = unified_sq_reserve(&sq, want, &idx);
		if (!n) {
			/* All or nothing: take what is free, or wait. */
			uint32_t f = unified_sq_nb_free(&sq, want);

			if (f > want)
				f = want;
			if (!f || !(n = unified_sq_reserve(&sq, f, &idx))) {
				sched_yield();
				continue;
			}
		}
		/* Sometimes reserve more than we fill, then give the rest back. */
		if ((r >> 20) % 8 == 0 && n > 1) {
			uint32_t back = 1 + (uint32_t)((r >> 32) % (n - 1));

			unified_sq_cancel(&sq, back);
			n -= back;
			sh->cancels++;
		}
		for (i = 0; i < n; i++)
			fill(sh, sh->esize == sizeof(struct io_unified_sqe) ?
				 (void *)unified_sq_entry(&sq, idx + i) :
				 entry_at(sh, sq.r.entries, idx + i, sq.r.mask), seq + i);
		unified_sq_submit(&sq, n);
		seq += n;
		if (unified_sq_needs_wakeup(&sq)) {
			futex(sq.r.producer, FUTEX_WAKE, 1, NULL);
			sh->wakeups++;
		}
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct shared *sh = arg;
	struct unified_cq cq = { { sh->start, sh->start, sh->size - 1, sh->size,
				   &sh->hdr.producer, &sh->hdr.consumer, &sh->hdr.flags, sh->entries } };
	uint64_t seq = 0, rs = sh->cons_seed;
	uint32_t empty = 0;

	while (seq < sh->total) {
		uint64_t r = th_rand_next(&rs);
		uint32_t want = 1 + (uint32_t)(r % sh->size), idx, i, n;

		n = unified_cq_peek(&cq, want, &idx);
		if (!n) {
			if (++empty < 64) {
				sched_yield();
				continue;
			}
			/* Sleep: announce it, re-check (the producer checks the
			 * flag after publishing; full barriers on both sides). */
			__atomic_store_n(cq.r.flags, IO_UNIFIED_RING_NEED_WAKEUP, __ATOMIC_RELAXED);
			unified_smp_mb();
			if (unified_load_acquire(cq.r.producer) == cq.r.cached_cons) {
				struct timespec ts = { 0, 2 * 1000 * 1000 };

				futex(cq.r.producer, FUTEX_WAIT, cq.r.cached_cons, &ts);
				sh->sleeps++;
			}
			__atomic_store_n(cq.r.flags, 0, __ATOMIC_RELAXED);
			empty = 0;
			continue;
		}
		empty = 0;
		for (i = 0; i < n; i++) {
			const void *e = sh->esize == sizeof(struct io_unified_sqe) ?
				entry_at(sh, cq.r.entries, idx + i, cq.r.mask) :
				(const void *)unified_cq_entry(&cq, idx + i);

			if (!check(sh, e, seq + i) && !sh->bad++)
				sh->first_bad_seq = seq + i;
		}
		/* Sometimes hand some back unread (un-peek) and see them again. */
		if ((r >> 24) % 8 == 0 && n > 1) {
			uint32_t back = 1 + (uint32_t)((r >> 32) % (n - 1));

			unified_cq_cancel(&cq, back);
			n -= back;
			sh->unpeeks++;
		}
		/* Release in one or two steps. */
		if ((r >> 40) & 1 && n > 1) {
			unified_cq_release(&cq, n / 2);
			unified_cq_release(&cq, n - n / 2);
		} else {
			unified_cq_release(&cq, n);
		}
		seq += n;
	}
	sh->consumed = seq;
	return NULL;
}

static void run_ring(size_t esize, uint32_t size, uint64_t total)
{
	struct shared *sh = calloc(1, sizeof(*sh));
	pthread_t p, c;
	uint64_t t0 = th_now_ns();

	REQUIRE(sh, "no memory");
	sh->esize = esize;
	sh->size = size;
	sh->total = total;
	sh->start = UINT32_MAX - 3 * size - 5;	/* wraps after a few rounds */
	sh->hdr.producer = sh->hdr.consumer = sh->start;
	sh->hdr.ring_entries = size;
	sh->hdr.ring_mask = size - 1;
	sh->entries = calloc(size, esize);
	sh->prod_seed = seed * 2 + 1;
	sh->cons_seed = seed * 2 + 2;
	REQUIRE(sh->entries, "no memory");
	REQUIRE(pthread_create(&c, NULL, consumer, sh) == 0, "consumer thread");
	REQUIRE(pthread_create(&p, NULL, producer, sh) == 0, "producer thread");
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	printf("  %zu-byte entries, ring %u: %llu entries in %.2f s, %llu cancels, %llu un-peeks, "
	       "%llu sleeps, %llu wakeups\n", esize, size, (unsigned long long)sh->consumed,
	       (th_now_ns() - t0) / 1e9, (unsigned long long)sh->cancels,
	       (unsigned long long)sh->unpeeks, (unsigned long long)sh->sleeps,
	       (unsigned long long)sh->wakeups);
	CHECK(sh->consumed == total, "consumed %llu of %llu", (unsigned long long)sh->consumed,
	      (unsigned long long)total);
	CHECK(!sh->bad, "%llu entries corrupt, first at seq %llu", (unsigned long long)sh->bad,
	      (unsigned long long)sh->first_bad_seq);
	CHECK(sh->hdr.producer == sh->start + (uint32_t)total && sh->hdr.consumer == sh->hdr.producer,
	      "final indices %u/%u", sh->hdr.producer, sh->hdr.consumer);
	CHECK(total < 4ull * size || sh->hdr.producer < sh->start, "indices did not wrap");
	free(sh->entries);
	free(sh);
}

static void t_sqe_ring_two_threads(void)
{
	run_ring(sizeof(struct io_unified_sqe), 256, n_entries);
}

static void t_cqe_ring_two_threads(void)
{
	run_ring(sizeof(struct io_unified_cqe), 32, n_entries / 2);
}

/* ------------------------------------------------------------ real engine */

#define E_NBUF 64u
#define E_LBAS 256u	/* 1 MiB file of 4 KiB blocks */

static int make_file(const char *path)
{
	uint32_t blk[1024], lba, i;
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	for (lba = 0; lba < E_LBAS; lba++) {
		for (i = 0; i < 1024; i++)
			blk[i] = lba * 0x10001u ^ i;
		if (pwrite(fd, blk, sizeof(blk), (off_t)lba * 4096) != (ssize_t)sizeof(blk)) {
			close(fd);
			return -EIO;
		}
	}
	fsync(fd);
	close(fd);
	return 0;
}

static void t_engine_thread_mode(void)
{
	struct io_unified_region_desc desc = { 0 };
	struct io_unified_reg reg = { .region_ptr = (uintptr_t)&desc, .sq_entries = 32,
				      .cq_entries = 64, .buffer_entries = E_NBUF,
				      .buffer_entry_size = 4096 };
	struct unified_opts o = { .mode = UNIFIED_MODE_THREAD, .flags = UNIFIED_OPT_USER_ENGINE,
				  .idle_spin_us = 20 };
	const char *path = th_path("tsan-small.img");
	struct unified_ctx *ctx = NULL;
	struct unified_sq sq;
	struct unified_cq cq;
	struct unified_stats st;
	uint32_t free_bufs[E_NBUF], nfree = E_NBUF, i;
	uint64_t sent = 0, done = 0, bad = 0, rs = seed ^ 0x77, kicks = 0, t0 = th_now_ns();
	uint8_t *bufs, *seen;
	int ret;

	NEED(th_need_tmpdir());
	REQUIRE(make_file(path) == 0, "cannot write %s", path);
	seen = calloc(n_reads / 8 + 1, 1);
	REQUIRE(seen, "no memory");
	reg.nvme_dev_path = (uintptr_t)path;
	ret = unified_register(&reg, &o, &ctx);
	if (ret) {
		free(seen);
		REQUIRE(0, "register: %d (%s)", ret, unified_errmsg());
	}
	unified_sq_init(ctx, &sq);
	unified_cq_init(ctx, &cq);
	bufs = unified_buffers(ctx);
	for (i = 0; i < E_NBUF; i++)
		free_bufs[i] = i;

	while (done < n_reads) {
		uint64_t r = th_rand_next(&rs);
		uint32_t want = 1 + (uint32_t)(r % 16), idx, n, k;
		int waitret;

		if (want > nfree)
			want = nfree;
		if (want > n_reads - sent)
			want = (uint32_t)(n_reads - sent);
		if (want && (n = unified_sq_reserve(&sq, want, &idx))) {
			for (k = 0; k < n; k++) {
				uint32_t b = free_bufs[--nfree], lba = (uint32_t)((r >> (8 + k)) % E_LBAS);
				uint64_t ud = (sent << 24) | ((uint64_t)lba << 8) | b;

				memset(bufs + (size_t)b * 4096, 0xee, 8);
				unified_prep_read(unified_sq_entry(&sq, idx + k), 1, lba, 1,
						  (uint64_t)b * 4096, 4096, ud);
				sent++;
			}
			unified_sq_submit(&sq, n);
			if (unified_sq_needs_wakeup(&sq)) {
				unified_kick(ctx);
				kicks++;
			}
		}
		/* Now and then go idle long enough for the engine to sleep. */
		if ((r >> 40) % 64 == 0)
			usleep(300);
		waitret = unified_enter(ctx, nfree == 0 || sent == n_reads ? 1 : 0, 2000);
		if (waitret == -ETIME) {
			CHECK(0, "no completion within 2 s (%llu sent, %llu done)", (unsigned long long)sent,
			      (unsigned long long)done);
			break;
		}
		while ((n = unified_cq_peek(&cq, 16, &idx))) {
			for (k = 0; k < n; k++) {
				const struct io_unified_cqe *c = unified_cq_entry(&cq, idx + k);
				uint64_t s = c->user_data >> 24;
				uint32_t b = c->user_data & 0xff, lba = (c->user_data >> 8) & 0xffff;
				const uint32_t *w = (const uint32_t *)(bufs + (size_t)b * 4096);

				if (s >= n_reads || b >= E_NBUF || (seen[s / 8] & (1u << (s % 8)))) {
					bad++;
					continue;
				}
				seen[s / 8] |= (uint8_t)(1u << (s % 8));
				if (c->status || c->len != 4096 || c->dma_addr != (uint64_t)b * 4096 ||
				    w[0] != (lba * 0x10001u ^ 0) || w[1] != (lba * 0x10001u ^ 1) ||
				    w[1023] != (lba * 0x10001u ^ 1023))
					bad++;
				free_bufs[nfree++] = b;
				done++;
			}
			unified_cq_release(&cq, n);
		}
	}
	CHECK(unified_get_stats(ctx, &st) == 0, "stats");
	printf("  engine thread: %llu reads in %.2f s, %llu kicks, %llu engine sleeps\n",
	       (unsigned long long)done, (th_now_ns() - t0) / 1e9, (unsigned long long)kicks,
	       (unsigned long long)st.sleeps);
	CHECK(done == n_reads, "%llu of %llu reads completed", (unsigned long long)done,
	      (unsigned long long)n_reads);
	CHECK(!bad, "%llu bad completions", (unsigned long long)bad);
	CHECK(st.sqes == sent && st.cqes == sent && st.errors == 0, "stats sqes %llu cqes %llu errors %llu",
	      (unsigned long long)st.sqes, (unsigned long long)st.cqes, (unsigned long long)st.errors);
	CHECK(st.sleeps > 0, "the engine thread never slept: NEED_WAKEUP path not exercised");
	CHECK(unified_unregister(ctx) == 0, "unregister");
	free(seen);
	unlink(path);
}

/* Drain and unregister while the engine thread is busy with queued work. */
static void t_engine_thread_teardown(void)
{
	struct th_ctx t;
	struct th_opts g = { .sq = 32, .cq = 64, .nbuf = 32, .bufsz = 4096, .mode = UNIFIED_MODE_THREAD,
			     .file_size = 1 << 20, .file = "tsan-td.img" };
	int round;

	for (round = 0; round < 20; round++) {
		uint32_t idx, n, k, got = 0;
		int ret;

		REQUIRE(th_open(&t, &g) == 0, "register");
		n = unified_sq_reserve(&t.sq, 32, &idx);
		for (k = 0; k < n; k++)
			unified_prep_read(unified_sq_entry(&t.sq, idx + k), 1, k, 1, (uint64_t)k * 4096,
					  4096, k);
		unified_sq_submit(&t.sq, n);
		unified_kick(t.ctx);
		if (round & 1) {
			ret = unified_drain(t.ctx);
			CHECK(ret >= 0, "drain: %d", ret);
			while ((k = unified_cq_peek(&t.cq, 64, &idx))) {
				got += k;
				unified_cq_release(&t.cq, k);
			}
			CHECK(got == n, "round %d: %u CQEs after drain for %u SQEs", round, got, n);
		}
		th_close(&t);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1)
		n_entries = strtoull(argv[1], NULL, 0);
	if (argc > 2)
		n_reads = strtoull(argv[2], NULL, 0);
	seed = argc > 3 ? strtoull(argv[3], NULL, 0) : (uint64_t)time(NULL);
	printf("tsan_rings: %llu ring entries, %llu engine reads, seed %llu\n",
	       (unsigned long long)n_entries, (unsigned long long)n_reads, (unsigned long long)seed);
	RUN(t_sqe_ring_two_threads);
	RUN(t_cqe_ring_two_threads);
	RUN(t_engine_thread_mode);
	RUN(t_engine_thread_teardown);
	return harness_done();
}
