/* SPDX-License-Identifier: MIT */
/*
 * Target tests: teardown and registration failure on the emulated targets.
 *  - unified_drain() with SQEs queued: each completes with ABORT_REQUESTED
 *    or (if the engine already took it) normally; CQEs == SQEs; aborted
 *    writes never reach the device, completed ones do.
 *  - A full CQ: drain cannot lose an entry; after the CQ is emptied the
 *    rest is aborted.
 *  - unified_unregister() with commands queued, in flight, or a full CQ:
 *    returns promptly, no crash, no leaked descriptors.
 *  - Registration failures: -ENOENT for a missing path with a message that
 *    names it, the caller's structures restored, nothing leaked.
 */
#include "helpers.h"

#define WR_NLB_BYTES	16384u

/*
 * Put a pattern on @n chunks of WR_NLB_BYTES at @base (raw), then build @n
 * write SQEs that would overwrite them with a different pattern.
 */
static bool prep_writes(struct th_ctx *c, struct io_unified_sqe *s, uint32_t n, uint64_t base,
			uint64_t *old_seed, uint64_t ud0)
{
	uint32_t nlb = WR_NLB_BYTES / c->lba, i;

	*old_seed = th_rand();
	for (i = 0; i < n; i++) {
		if (th_raw_pattern(c, base + (uint64_t)i * nlb, nlb, *old_seed + i))
			return false;
		th_fill(c->buf + (uint64_t)i * WR_NLB_BYTES, WR_NLB_BYTES, ~(*old_seed + i));
		th_prep_write(c, &s[i], base + (uint64_t)i * nlb, nlb, (uint64_t)i * WR_NLB_BYTES,
			     ud0 + i);
	}
	return true;
}

/* Chunk @i holds the new pattern if the write completed, else the old one. */
static void check_chunk(struct th_ctx *c, uint64_t base, uint32_t i, uint64_t old_seed, bool written)
{
	uint32_t nlb = WR_NLB_BYTES / c->lba;
	uint8_t got[WR_NLB_BYTES], want[WR_NLB_BYTES];

	CHECK(th_raw_read(c, base + (uint64_t)i * nlb, nlb, got) == 0, "raw read");
	th_fill(want, WR_NLB_BYTES, written ? ~(old_seed + i) : old_seed + i);
	CHECK(!memcmp(got, want, WR_NLB_BYTES), "chunk %u: device holds %s data", i,
	      written ? "old (completed write lost)" : "new (aborted write happened)");
}

/*
 * Reap @n CQEs for SQEs with user_data ud0..ud0+n-1: each exactly once,
 * status OK or ABORT_REQUESTED.  @done[i] = completed normally.
 * Returns the number aborted, or -1.
 */
static int reap_mixed(struct th_ctx *c, const struct io_unified_sqe *s, uint32_t n, uint64_t ud0,
		      bool *done)
{
	struct io_unified_cqe *q = calloc(n, sizeof(*q));
	bool *seen = calloc(n, sizeof(*seen));
	uint32_t got, i;
	int aborted = 0;

	if (!q || !seen) {
		free(q);
		free(seen);
		return -1;
	}
	got = th_reap(c, q, n);
	CHECK(got == n, "%u CQEs for %u SQEs", got, n);
	for (i = 0; i < got; i++) {
		uint64_t j = q[i].user_data - ud0;

		if (j >= n || seen[j]) {
			CHECK(0, "unknown or duplicate user_data 0x%" PRIx64, (uint64_t)q[i].user_data);
			continue;
		}
		seen[j] = true;
		done[j] = q[i].status == ST_OK;
		if (q[i].status == ST_ABORTED) {
			aborted++;
			EXPECT_CQE(&q[i], &s[j], ST_ABORTED, 0);
			CHECK(q[i].flags & IO_UNIFIED_CQE_F_HOST, "aborted CQE without HOST flag");
		} else {
			EXPECT_CQE(&q[i], &s[j], ST_OK, s[j].len);
		}
	}
	free(q);
	free(seen);
	return got == n ? aborted : -1;
}

/* SQEs queued (not kicked), then drain: all aborted in kick mode. */
static void td_drain_queued(struct th_ctx *c)
{
	enum { N = 64 };
	struct io_unified_sqe s[N];
	bool done[N] = { false };
	uint64_t base = th_rand_below(c->nlba / 2), old;
	struct io_unified_sqe more;
	struct io_unified_cqe q;
	int ret, ab;
	uint32_t i;

	base -= base % (WR_NLB_BYTES / c->lba);
	REQUIRE(prep_writes(c, s, N, base, &old, 0x7d000), "set-up failed");
	REQUIRE(th_queue(c, s, N) == 0, "queue");
	ret = unified_drain(c->ctx);
	REQUIRE(ret >= 0, "unified_drain: %s", strerror(-ret));
	if (th_mode == UNIFIED_MODE_KICK)
		CHECK(ret == N, "drain aborted %d of %d queued SQEs (none was kicked)", ret, N);
	ab = reap_mixed(c, s, N, 0x7d000, done);
	CHECK(ab == ret, "drain returned %d, %d CQEs say aborted", ret, ab);
	for (i = 0; i < N && !h_case_failed; i++)
		check_chunk(c, base, i, old, done[i]);
	/* After drain, SQEs are no longer accepted. */
	th_prep_read(c, &more, 0, 1, 0, 0x7d999);
	REQUIRE(th_exec(c, &more, &q) == 0, "no CQE for an SQE after drain");
	EXPECT_CQE(&q, &more, ST_ABORTED, 0);
	/* A second drain has nothing left to do. */
	ret = unified_drain(c->ctx);
	CHECK(ret == 0, "second drain returned %d", ret);
}

/* Half in flight, half queued: in-flight ones complete, queued ones abort. */
static void td_drain_mixed(struct th_ctx *c)
{
	enum { N = 64, H = 32 };
	struct io_unified_sqe s[N];
	bool done[N] = { false };
	uint64_t base = th_rand_below(c->nlba / 2), old;
	int ret, ab;
	uint32_t i;

	base -= base % (WR_NLB_BYTES / c->lba);
	REQUIRE(prep_writes(c, s, N, base, &old, 0x7e000), "set-up failed");
	REQUIRE(th_submit(c, s, H) == 0, "submit");
	REQUIRE(th_queue(c, s + H, N - H) == 0, "queue");
	ret = unified_drain(c->ctx);
	REQUIRE(ret >= 0, "unified_drain: %s", strerror(-ret));
	if (th_mode == UNIFIED_MODE_KICK)
		CHECK(ret == N - H, "drain aborted %d, expected the %d not kicked", ret, N - H);
	ab = reap_mixed(c, s, N, 0x7e000, done);
	CHECK(ab == ret, "drain returned %d, %d CQEs say aborted", ret, ab);
	if (th_mode == UNIFIED_MODE_KICK)
		for (i = 0; i < H; i++)
			CHECK(done[i], "kicked SQE %u was aborted instead of completed", i);
	for (i = 0; i < N && !h_case_failed; i++)
		check_chunk(c, base, i, old, done[i]);
}

/* A full CQ: drain must not drop completions; the queued SQEs are aborted
 * once the application has made room. */
static void td_drain_cq_full(struct th_ctx *c)
{
	enum { N = 32 };
	struct th_opts o = th_case_opts();
	struct io_unified_sqe s[2 * N];
	bool done[2 * N] = { false };
	uint64_t old;
	int ret, r1, r2, ab, tries;
	uint32_t i;

	o.sq = o.cq = N;
	o.nbuf = 2 * N * (WR_NLB_BYTES / 4096);
	o.bufsz = 4096;
	ret = th_open(c, &o);
	REQUIRE(ret == 0, "unified_register: %s (%s)", strerror(-ret), unified_errmsg());
	REQUIRE(prep_writes(c, s, 2 * N, 0, &old, 0x7f000), "set-up failed");
	/* Fill the CQ: N writes complete, none reaped. */
	REQUIRE(th_submit(c, s, N) == 0, "submit");
	for (tries = 0; tries < 5000; tries++) {
		struct unified_stats st;

		unified_kick(c->ctx);
		unified_get_stats(c->ctx, &st);
		if (st.cqes == N)
			break;
		usleep(1000);
	}
	/* N more queued: the SQ has room again, the CQ has none. */
	REQUIRE(th_queue(c, s + N, N) == 0, "queue");
	r1 = unified_drain(c->ctx);
	REQUIRE(r1 >= 0, "unified_drain: %s", strerror(-r1));
	CHECK(r1 == 0, "drain aborted %d SQEs with no room in the CQ", r1);
	/* Make room: the first batch completed normally. */
	ab = reap_mixed(c, s, N, 0x7f000, done);
	CHECK(ab == 0, "%d of the first batch aborted", ab);
	for (i = 0; i < N; i++)
		CHECK(done[i], "write %u of the first batch did not complete", i);
	r2 = unified_drain(c->ctx);
	REQUIRE(r2 >= 0, "second unified_drain: %s", strerror(-r2));
	ab = reap_mixed(c, s + N, N, 0x7f000 + N, done + N);
	CHECK(r1 + r2 == N, "drains aborted %d + %d, expected %d", r1, r2, N);
	CHECK(ab == N, "%d of the queued SQEs aborted, expected all %d", ab, N);
	for (i = 0; i < 2 * N && !h_case_failed; i++)
		check_chunk(c, 0, i, old, done[i]);
	th_check_accounting(c);
	ret = th_close(c);
	CHECK(ret == 0, "unified_unregister: %s", strerror(-ret));
}

/* Unregister with work in every state: no hang, no crash, no fd leak. */
static void td_unregister_busy(struct th_ctx *c)
{
	struct th_opts o = th_case_opts();
	int fds0 = th_count_fds(), round;

	for (round = 0; round < 12 && !h_case_failed; round++) {
		struct io_unified_sqe s[64];
		uint64_t t0, old;
		uint32_t i, n = 64;
		int ret;

		ret = th_open(c, &o);
		REQUIRE(ret == 0, "unified_register: %s (%s)", strerror(-ret), unified_errmsg());
		REQUIRE(prep_writes(c, s, 32, 0, &old, 0x1000), "set-up failed");
		for (i = 32; i < n; i++)	/* 256 KiB reads */
			th_prep_read(c, &s[i], (uint64_t)i * (262144 / c->lba), 262144 / c->lba,
				    2u << 20, 0x2000 + i);
		switch (round % 4) {
		case 0:		/* all in flight */
			REQUIRE(th_submit(c, s, n) == 0, "submit");
			break;
		case 1:		/* queued, never kicked */
			REQUIRE(th_queue(c, s, n) == 0, "queue");
			break;
		case 2:		/* half in flight, half queued */
			REQUIRE(th_submit(c, s, n / 2) == 0, "submit");
			REQUIRE(th_queue(c, s + n / 2, n / 2) == 0, "queue");
			break;
		case 3:		/* completed but never reaped, then more queued */
			REQUIRE(th_submit(c, s, n) == 0, "submit");
			usleep(20000);
			unified_kick(c->ctx);
			th_queue(c, s, n / 2);
			break;
		}
		t0 = th_now_ms();
		ret = th_close(c);
		CHECK(ret == 0, "round %d: unified_unregister: %s", round, strerror(-ret));
		CHECK(th_now_ms() - t0 < 5000, "round %d: unregister took %" PRIu64 " ms", round,
		      th_now_ms() - t0);
	}
	/* An idle context whose engine thread is asleep. */
	REQUIRE(th_open(c, &o) == 0, "unified_register");
	usleep(50000);
	CHECK(th_close(c) == 0, "unregister of an idle context");
	CHECK(th_count_fds() == fds0, "%d file descriptors open after, %d before", th_count_fds(), fds0);
}

static int try_register(const struct th_target *t, const char *path, uint32_t lba, bool create,
			struct unified_ctx **ctx)
{
	struct io_unified_region_desc desc, desc0;
	struct io_unified_reg reg, reg0;
	struct th_opts to = { .target = t, .mode = UNIFIED_MODE_KICK };
	struct unified_opts o;
	int ret;

	th_unified_opts(&to, &o);
	o.lba_size = lba;
	if (!create)
		o.flags &= ~UNIFIED_OPT_CREATE;
	memset(&desc, 0, sizeof(desc));
	memset(&reg, 0, sizeof(reg));
	reg.region_ptr = (uintptr_t)&desc;
	reg.nvme_dev_path = (uintptr_t)path;
	reg.sq_entries = 32;
	reg.buffer_entries = 16;
	reg.buffer_entry_size = 4096;
	desc0 = desc;
	reg0 = reg;
	*ctx = NULL;
	ret = unified_register(&reg, &o, ctx);
	if (ret) {
		CHECK(!memcmp(&reg, &reg0, sizeof(reg)), "failed registration changed reg");
		CHECK(!memcmp(&desc, &desc0, sizeof(desc)), "failed registration changed the desc");
		CHECK(unified_errmsg()[0], "no unified_errmsg() text for %d", ret);
	}
	return ret;
}

/* Registration failures: exact errno, a message, nothing left behind. */
static void td_register_errors(struct th_ctx *c)
{
	struct unified_ctx *ctx;
	char missing[PATH_MAX + 64];
	int fds0 = th_count_fds(), ret;

	(void)c;
	snprintf(missing, sizeof(missing), "%s/no-such-namespace.img", th_tmpdir());
	ret = try_register(th_cur, missing, th_cur->kind == TH_FILE ? th_cur->lba_size : 0, false, &ctx);
	CHECK(ret == -ENOENT, "missing path: %d (%s), expected -ENOENT", ret, strerror(-ret));
	CHECK(strstr(unified_errmsg(), missing), "message '%s' does not name the path", unified_errmsg());
	if (!ret)
		unified_unregister(ctx);
	CHECK(access(missing, F_OK) != 0, "a failed registration created %s", missing);

	/* CREATE in a directory that does not exist: still ENOENT. */
	snprintf(missing, sizeof(missing), "%s/no-such-dir/ns.img", th_tmpdir());
	ret = try_register(&th_targets[0], missing, 512, true, &ctx);
	CHECK(ret == -ENOENT, "CREATE in a missing directory: %d, expected -ENOENT", ret);
	if (!ret)
		unified_unregister(ctx);

	/* A directory is no target. */
	ret = try_register(th_cur, th_tmpdir(), 0, false, &ctx);
	CHECK(ret == -EISDIR, "a directory as target: %d (%s), expected -EISDIR", ret, strerror(-ret));
	if (!ret)
		unified_unregister(ctx);

	/* LBA size the target cannot have. */
	if (th_cur->kind == TH_FILE) {
		ret = try_register(th_cur, th_cur->path, 1024, true, &ctx);
		CHECK(ret == -EINVAL, "file with 1024-byte LBAs: %d, expected -EINVAL", ret);
	} else {
		ret = try_register(th_cur, th_cur->path, th_cur->lba_size == 512 ? 4096 : 512, false, &ctx);
		CHECK(ret == -EINVAL, "%u-byte device opened with another LBA size: %d, expected -EINVAL",
		      th_cur->lba_size, ret);
	}
	if (!ret)
		unified_unregister(ctx);
	CHECK(strstr(unified_errmsg(), "LBA") || strstr(unified_errmsg(), "logical block"),
	      "LBA size message: '%s'", unified_errmsg());

	/* After all that, the target registers fine and the message is cleared. */
	ret = try_register(th_cur, th_cur->path, th_cur->kind == TH_FILE ? th_cur->lba_size : 0, true, &ctx);
	CHECK(ret == 0, "registration after failures: %d (%s)", ret, unified_errmsg());
	if (!ret) {
		CHECK(unified_errmsg()[0] == '\0', "errmsg '%s' after a success", unified_errmsg());
		CHECK(unified_unregister(ctx) == 0, "unregister");
	}
	CHECK(th_count_fds() == fds0, "%d file descriptors open after, %d before", th_count_fds(), fds0);
}

int main(int argc, char **argv)
{
	static const struct th_case cases[] = {
		{ "drain_queued", td_drain_queued, false },
		{ "drain_mixed", td_drain_mixed, false },
		{ "drain_cq_full", td_drain_cq_full, true },
		{ "unregister_busy", td_unregister_busy, true },
		{ "register_errors", td_register_errors, true },
	};

	return th_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
