/* SPDX-License-Identifier: MIT */
/*
 * Regression tests for defects a review found: each case fails on the code
 * before its fix.
 */
#include <fcntl.h>
#include <sys/resource.h>
#include "helpers.h"

/* Wait for @n CQEs and release them all. */
static int reap_all(struct th_ctx *t, uint32_t n)
{
	uint32_t got = 0, idx, k;

	while (got < n) {
		int r = unified_enter(t->ctx, n - got, 5000);

		if (r <= 0)
			return r ? r : -ETIME;
		k = unified_cq_peek(&t->cq, n - got, &idx);
		unified_cq_release(&t->cq, k);
		got += k;
	}
	return 0;
}

static void queue_reads(struct th_ctx *t, uint32_t n)
{
	uint32_t idx = 0, i;

	if (unified_sq_reserve(&t->sq, n, &idx) != n)
		return;
	for (i = 0; i < n; i++)
		unified_prep_read(unified_sq_entry(&t->sq, idx + i), t->info.nsid, i, 1,
				  (uint64_t)i * 4096, 4096, i);
	unified_sq_submit(&t->sq, n);
}

/*
 * The engine's view of the CQ consumer went stale: after the application
 * released every CQE, one kick took only 4 of 12 SQEs.
 */
static void t_cq_reservation_uses_fresh_consumer(void)
{
	struct th_opts g = { .sq = 16, .cq = 16, .nbuf = 16, .bufsz = 4096 };
	struct unified_stats st0, st1;
	struct th_ctx t;
	int round;

	REQUIRE(th_open(&t, &g) == 0, "register");
	for (round = 0; round < 4; round++) {
		unified_get_stats(t.ctx, &st0);
		queue_reads(&t, 12);
		REQUIRE(unified_kick(t.ctx) == 0, "kick");
		unified_get_stats(t.ctx, &st1);
		CHECK(st1.sqes - st0.sqes == 12, "round %d: one kick took %llu of 12 SQEs", round,
		      (unsigned long long)(st1.sqes - st0.sqes));
		REQUIRE(reap_all(&t, 12) == 0, "reap round %d", round);
	}
	th_close(&t);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * Thread mode with a full CQ and queued SQEs: the engine thread spun a
 * whole core.  It must sleep, and resume once the application frees room.
 */
static void t_thread_sleeps_while_cq_full(void)
{
	struct th_opts g = { .sq = 8, .cq = 8, .nbuf = 8, .bufsz = 4096, .mode = UNIFIED_MODE_THREAD };
	struct th_ctx t;
	double c0, c1;
	uint32_t idx, n;
	int r;

	REQUIRE(th_open(&t, &g) == 0, "register");
	queue_reads(&t, 8);
	unified_kick(t.ctx);
	r = unified_enter(t.ctx, 8, 5000);
	REQUIRE(r == 8, "first 8 completions: %d", r);
	queue_reads(&t, 8);		/* CQ full: these must wait */
	unified_kick(t.ctx);
	c0 = cpu_seconds();
	usleep(400 * 1000);
	c1 = cpu_seconds();
	CHECK(c1 - c0 < 0.1, "engine used %.2f s of CPU in 0.4 s while blocked on a full CQ", c1 - c0);
	n = unified_cq_peek(&t.cq, 8, &idx);
	unified_cq_release(&t.cq, n);
	REQUIRE(reap_all(&t, 8) == 0, "the 8 waiting SQEs did not complete after the CQ was freed");
	th_close(&t);
}

/* The lowest free descriptor number (RLIMIT_NOFILE limits numbers, not counts). */
static int lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd >= 0)
		close(fd);
	return fd;
}

/* A failed registration must not leave a created (or grown) file behind. */
static void t_failed_register_leaves_no_file(void)
{
	struct io_unified_region_desc rd = { 0 };
	struct io_unified_reg reg = { .region_ptr = (uintptr_t)&rd, .sq_entries = 8,
				      .buffer_entries = 4, .buffer_entry_size = 4096 };
	struct unified_opts o = { .flags = UNIFIED_OPT_CREATE, .file_size = 1000 };
	const char *path = th_path("fail-create.img");
	struct unified_ctx *ctx = NULL;
	struct rlimit old, lim;
	struct stat st;
	int ret, fd;

	NEED(th_need_tmpdir());
	reg.nvme_dev_path = (uintptr_t)path;
	ret = unified_register(&reg, &o, &ctx);
	CHECK(ret == -EINVAL, "odd file size: %d", ret);
	CHECK(stat(path, &st) != 0, "the file was left behind after -EINVAL");

	/* Fail after the file was opened: no descriptor left for io_uring. */
	o.file_size = 1 << 20;
	REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0, "getrlimit");
	lim = old;
	lim.rlim_cur = (rlim_t)lowest_free_fd() + 1;	/* room for the file, not the ring */
	REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit");
	ret = unified_register(&reg, &o, &ctx);
	setrlimit(RLIMIT_NOFILE, &old);
	CHECK(ret == -EMFILE, "expected -EMFILE, got %d (%s)", ret, unified_errmsg());
	CHECK(stat(path, &st) != 0, "a created file was left behind after %d", ret);

	/* An existing smaller file is grown, then shrunk back on failure. */
	fd = open(path, O_CREAT | O_RDWR, 0600);
	REQUIRE(fd >= 0 && ftruncate(fd, 8192) == 0, "make small file");
	close(fd);
	REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit");
	ret = unified_register(&reg, &o, &ctx);
	setrlimit(RLIMIT_NOFILE, &old);
	CHECK(ret == -EMFILE, "expected -EMFILE, got %d", ret);
	CHECK(stat(path, &st) == 0 && st.st_size == 8192, "existing file size now %lld, was 8192",
	      (long long)st.st_size);
	unlink(path);
}

/* Commands whose transfer size the command fixes need at least that much. */
static void t_fixed_size_commands_need_their_length(void)
{
	struct th_opts g = { .sq = 8, .cq = 8, .nbuf = 8, .bufsz = 4096 };
	struct io_unified_sqe s;
	struct io_unified_cqe c;
	struct th_ctx t;

	REQUIRE(th_open(&t, &g) == 0, "register");
	unified_prep_identify(&s, 0x01, 0, 0, 1);
	s.len = 8;
	REQUIRE(th_exec(&t, &s, &c) == 0, "identify");
	CHECK(c.status == (IO_UNIFIED_STATUS_DNR | IO_UNIFIED_SC_INVALID_FIELD) && c.res == -EINVAL,
	      "identify with len 8: status 0x%x res %d", c.status, c.res);
	/* Get Log Page of 512 bytes (NUMD 127) into a 64-byte buffer. */
	unified_prep_nvme(&s, IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE, 0xffffffffu, 0, 64, 2);
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	s.nvme_cmd.cdw10 = (127u << 16) | 0x02;
	REQUIRE(th_exec(&t, &s, &c) == 0, "get log page");
	CHECK(c.status == (IO_UNIFIED_STATUS_DNR | IO_UNIFIED_SC_INVALID_FIELD) && c.res == -EINVAL,
	      "short get log page: status 0x%x res %d", c.status, c.res);
	/* DSM of 4 ranges with a 32-byte list. */
	unified_prep_dsm_deallocate(&s, t.info.nsid, 4, 0, 3);
	s.len = 32;
	REQUIRE(th_exec(&t, &s, &c) == 0, "dsm");
	CHECK(c.status == (IO_UNIFIED_STATUS_DNR | IO_UNIFIED_SC_INVALID_FIELD), "short dsm: 0x%x",
	      c.status);
	th_close(&t);
}

/* unified_enter() never reports more than the CQ holds, whatever the app wrote. */
static void t_enter_clamps_corrupt_consumer(void)
{
	struct th_opts g = { .sq = 8, .cq = 8, .nbuf = 8, .bufsz = 4096 };
	struct io_unified_ring *cq;
	struct th_ctx t;
	uint32_t saved;
	int r;

	REQUIRE(th_open(&t, &g) == 0, "register");
	cq = (void *)((uint8_t *)unified_region(t.ctx) + t.reg.offsets.cq_ring);
	saved = cq->consumer;
	cq->consumer = saved + 1;	/* consumer ahead of the producer */
	r = unified_enter(t.ctx, 0, 0);
	CHECK(r >= 0 && r <= 8, "unified_enter returned %d with a corrupt consumer", r);
	cq->consumer = saved;
	th_close(&t);
}

/* unified_prep_write_rx(): a length that does not fit the SQE's 32-bit
 * len wrapped (65536 blocks of 64 KiB gave len 0, "derive it") and a shift
 * of 32 or more was undefined; both must be refused (marked to fail). */
static void t_prep_write_rx_refuses_unrepresentable(void)
{
	struct io_unified_sqe s;

	memset(&s, 0, sizeof(s));
	CHECK(unified_prep_write_rx(&s, 1, 0, 0, 4096, 12, 1) == 0 && s.len == 4096 &&
	      s.nvme_cmd.cdw12 == 0 && !(s.flags & UNIFIED_SQE_F_PREP_ERROR), "4 KiB write: len %u", s.len);
	memset(&s, 0, sizeof(s));
	CHECK(unified_prep_write_rx(&s, 1, 0, 0, 100, 9, 1) == 0 && s.len == 512 && s.nvme_cmd.cdw12 == 0,
	      "100 bytes on 512 B LBAs: len %u nlb-1 %u", s.len, s.nvme_cmd.cdw12);
	memset(&s, 0, sizeof(s));
	CHECK(unified_prep_write_rx(&s, 1, 0, 0, 0xffffffffu, 16, 1) == -EINVAL &&
	      (s.flags & UNIFIED_SQE_F_PREP_ERROR), "4 GiB - 1 on 64 KiB LBAs accepted: len %u", s.len);
	memset(&s, 0, sizeof(s));
	CHECK(unified_prep_write_rx(&s, 1, 0, 0, 4096, 32, 1) == -EINVAL &&
	      (s.flags & UNIFIED_SQE_F_PREP_ERROR), "lba_shift 32 accepted");
	memset(&s, 0, sizeof(s));
	CHECK(unified_prep_write_rx(&s, 1, 0, 0, 4096, 8, 1) == -EINVAL &&
	      (s.flags & UNIFIED_SQE_F_PREP_ERROR), "lba_shift 8 (256-byte blocks) accepted");
}

int main(void)
{
	RUN(t_cq_reservation_uses_fresh_consumer);
	RUN(t_thread_sleeps_while_cq_full);
	RUN(t_failed_register_leaves_no_file);
	RUN(t_fixed_size_commands_need_their_length);
	RUN(t_enter_clamps_corrupt_consumer);
	RUN(t_prep_write_rx_refuses_unrepresentable);
	return harness_done();
}
