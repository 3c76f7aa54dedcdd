/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: batches of SQEs through the user engine (kick mode) on
 * a file target, with the shared ring indices corrupted between kicks.
 *
 * Input: a 20-byte header, then up to 64 SQEs of 128 bytes each.
 *   [0]      bit 0: target with 512-byte LBAs (else 4096)
 *   [1]      SQEs per submission round: 1 + [1] % 16
 *   [2..4]   three corruption events; each byte: bits 0-1 which word
 *            (0 none, 1 SQ producer, 2 SQ consumer, 3 CQ consumer),
 *            bits 2-4 the rounds it happens in (round mod 8), bits 5-6 how (0 add,
 *            1 set, 2 xor, 3 add a signed byte), bit 7 unused
 *   [5..7]   unused
 *   [8..19]  the three events' values (little-endian u32)
 * The harness overwrites each SQE's user_data with a unique value.  The
 * SQE bytes are also copied to the start of the data area before the first
 * round, so the input controls what commands read from their buffers (DSM
 * range lists, Compare data, what Write stores).
 *
 * Each round: publish SQEs, consume every published CQE, corrupt a word,
 * kick, check, restore the word.  Then drain with sane indices.
 *
 * Oracles (abort with "ORACLE FAILED" when one does not hold):
 *  - every SQE the engine consumed yields exactly one CQE with its
 *    user_data; no CQE has a user_data that was never consumed; after the
 *    drain the engine's stats say sqes == cqes and everything published
 *    was consumed;
 *  - an SQE with a documented-invalid field completes with a non-zero status
 *    (fuzz_common.h: fz_sqe_must_fail()); a failed CQE reports len 0;
 *    dma_addr echoes buf_offset; the CQE's reserved fields are zero;
 *  - unified_kick() returns 0, or -EBADMSG only when the SQ producer is
 *    insane (moved backwards or by more than the ring holds); the engine
 *    never consumes past what was published nor holds more CQEs than the
 *    CQ has room for;
 *  - nothing outside the data area changes unless the engine owns it: the
 *    SQE array, the ring words the application owns (SQ producer, CQ
 *    consumer), the rings' geometry and padding, the rest of the header
 *    pages, the gaps between the region parts, the caller memory after
 *    the region and CQE slots that were not published are all compared with
 *    a copy; the region lies between PROT_NONE guard pages.
 */
#include "fuzz_common.h"

#define SQ_N	16u
#define CQ_N	32u
#define NBUF	16u
#define BSZ	4096u
#define AREA	((uint64_t)NBUF * BSZ)
#define FILE_BYTES (1u << 20)
#define SLACK	FZ_PAGE		/* caller memory after the layout */
#define HDR	20u
#define MAX_SQES 64u
#define NEVENTS	3
#define MAX_UD	(SQ_N + MAX_SQES)
#define UD_TAG	0x5a5e000000000000ull

struct ud_info {
	const char *must_fail;	/* why it must fail, or NULL */
	uint64_t buf_offset;
	uint32_t consumed;	/* times the engine consumed it */
	uint32_t completed;	/* CQEs seen with it */
};

struct tgt {
	struct unified_ctx *ctx;
	struct io_unified_reg reg;
	struct io_unified_region_desc rd;
	struct unified_target_info ti;
	uint8_t *region;
	size_t region_size;
	struct io_unified_ring *sqr, *cqr;
	struct io_unified_sqe *sqes;
	struct io_unified_cqe *cqes;
	uint8_t *data;
	/* copies of what only the application may change */
	uint8_t hdr_copy[2][IO_UNIFIED_RING_HDR_SIZE];
	struct io_unified_sqe sq_copy[SQ_N];
	struct io_unified_cqe cq_copy[CQ_N];
	uint8_t gap_seed;
	/* the application's side of the rings */
	uint32_t prod;		/* SQ producer published */
	uint32_t cq_cons;	/* CQ consumer */
	uint32_t cq_prod_seen;	/* CQ producer last seen */
};

static struct tgt tg[2];
static bool verbose;	/* UNIFIED_FUZZ_VERBOSE=1: one line per CQE (for reading a corpus) */
static struct ud_info uds[MAX_UD];
static uint64_t ud_base, ud_next;

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static void tgt_setup(struct tgt *t, uint32_t lba, const char *name)
{
	struct unified_opts o = { .mode = UNIFIED_MODE_KICK, .flags = UNIFIED_OPT_CREATE,
				  .lba_size = lba, .file_size = FILE_BYTES };
	char path[512];
	uint64_t total = align_up(align_up(2 * FZ_PAGE + SQ_N * 128ull, FZ_PAGE) + CQ_N * 64ull,
				  FZ_PAGE) + AREA;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", fz_tmpdir(), name);
	t->region_size = total + SLACK;
	t->region = fz_guarded_alloc(t->region_size);
	t->rd = (struct io_unified_region_desc){ .user_addr = (uintptr_t)t->region,
						 .size = t->region_size,
						 .flags = IO_UNIFIED_REGION_USER };
	t->reg = (struct io_unified_reg){ .region_ptr = (uintptr_t)&t->rd,
					  .nvme_dev_path = (uintptr_t)path,
					  .sq_entries = SQ_N, .cq_entries = CQ_N,
					  .buffer_entries = NBUF, .buffer_entry_size = BSZ };
	ret = unified_register(&t->reg, &o, &t->ctx);
	FZ_SETUP(ret == 0, "unified_register(%s, lba %u): %d", path, lba, ret);
	FZ_SETUP(t->reg.offsets.buffers + AREA == total, "layout: buffers at %llu",
		 (unsigned long long)t->reg.offsets.buffers);
	unified_target_info(t->ctx, &t->ti);
	t->sqr = (void *)(t->region + t->reg.offsets.sq_ring);
	t->cqr = (void *)(t->region + t->reg.offsets.cq_ring);
	t->sqes = (void *)(t->region + t->reg.offsets.sq_entries);
	t->cqes = (void *)(t->region + t->reg.offsets.cq_entries);
	t->data = t->region + t->reg.offsets.buffers;

	/* Canaries where nothing may write: the ring padding and the rest of
	 * the header pages, the gaps between the parts, the slack at the end. */
	t->gap_seed = (uint8_t)(lba >> 4);
	for (int r = 0; r < 2; r++) {
		struct io_unified_ring *ring = r ? t->cqr : t->sqr;

		fz_canary_fill((uint8_t *)ring->__pad0, sizeof(ring->__pad0), 0x10);
		fz_canary_fill((uint8_t *)ring->__pad1, sizeof(ring->__pad1), 0x20);
		fz_canary_fill((uint8_t *)ring->__resv, sizeof(ring->__resv), 0x30);
		fz_canary_fill((uint8_t *)ring + sizeof(*ring),
			       IO_UNIFIED_RING_HDR_SIZE - sizeof(*ring), 0x40);
		memcpy(t->hdr_copy[r], ring, IO_UNIFIED_RING_HDR_SIZE);
	}
	fz_canary_fill((uint8_t *)(t->sqes + SQ_N),
		       t->reg.offsets.cq_entries - t->reg.offsets.sq_entries - SQ_N * 128ull, 0x50);
	fz_canary_fill((uint8_t *)(t->cqes + CQ_N),
		       t->reg.offsets.buffers - t->reg.offsets.cq_entries - CQ_N * 64ull, 0x60);
	fz_canary_fill(t->region + total, SLACK, 0x70);
	memcpy(t->cq_copy, t->cqes, sizeof(t->cq_copy));
}

static void check_region(struct tgt *t, const char *when)
{
	uint64_t total = t->reg.offsets.buffers + AREA;
	long bad;
	int r;

	for (r = 0; r < 2; r++) {
		struct io_unified_ring *ring = r ? t->cqr : t->sqr;
		struct io_unified_ring *copy = (void *)t->hdr_copy[r];
		const char *nm = r ? "CQ" : "SQ";

		FZ_CHECK(ring->ring_entries == copy->ring_entries && ring->ring_mask == copy->ring_mask,
			 "%s: %s ring geometry changed to entries %u mask %u", when, nm,
			 ring->ring_entries, ring->ring_mask);
		FZ_CHECK(!memcmp(ring->__pad0, copy->__pad0, sizeof(ring->__pad0)) &&
			 !memcmp(ring->__pad1, copy->__pad1, sizeof(ring->__pad1)) &&
			 !memcmp(ring->__resv, copy->__resv, sizeof(ring->__resv)),
			 "%s: %s ring header padding changed", when, nm);
		FZ_CHECK(!memcmp((uint8_t *)ring + sizeof(*ring), t->hdr_copy[r] + sizeof(*ring),
				 IO_UNIFIED_RING_HDR_SIZE - sizeof(*ring)),
			 "%s: %s ring header page beyond the header changed", when, nm);
	}
	FZ_CHECK(!memcmp(t->sqes, t->sq_copy, sizeof(t->sq_copy)),
		 "%s: the engine modified the SQE array", when);
	FZ_CHECK(!memcmp(t->cqes, t->cq_copy, sizeof(t->cq_copy)),
		 "%s: a CQE slot changed that was not published", when);
	bad = fz_canary_check((uint8_t *)(t->sqes + SQ_N),
			      t->reg.offsets.cq_entries - t->reg.offsets.sq_entries - SQ_N * 128ull, 0x50);
	FZ_CHECK(bad < 0, "%s: gap after the SQEs changed at +%ld", when, bad);
	bad = fz_canary_check((uint8_t *)(t->cqes + CQ_N),
			      t->reg.offsets.buffers - t->reg.offsets.cq_entries - CQ_N * 64ull, 0x60);
	FZ_CHECK(bad < 0, "%s: gap after the CQEs changed at +%ld", when, bad);
	bad = fz_canary_check(t->region + total, SLACK, 0x70);
	FZ_CHECK(bad < 0, "%s: caller memory after the data area changed at +%ld", when, bad);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	verbose = getenv("UNIFIED_FUZZ_VERBOSE") && *getenv("UNIFIED_FUZZ_VERBOSE") == '1';
	tgt_setup(&tg[0], 4096, "sqe-4k.dat");
	tgt_setup(&tg[1], 512, "sqe-512.dat");
	return 0;
}

static uint64_t engine_sqes(struct tgt *t)
{
	struct unified_stats st;

	unified_get_stats(t->ctx, &st);
	return st.sqes;
}

/* Write @s into the next SQ slot with a fresh user_data; not yet published. */
static void put_sqe(struct tgt *t, uint32_t idx, const struct io_unified_sqe *s)
{
	struct io_unified_sqe *dst = &t->sqes[idx & (SQ_N - 1)];
	uint64_t ud = UD_TAG | ud_next;
	struct ud_info *u;

	FZ_CHECK(ud_next - ud_base < MAX_UD, "harness: too many user_data values");
	u = &uds[ud_next - ud_base];
	ud_next++;
	*dst = *s;
	dst->user_data = ud;
	t->sq_copy[idx & (SQ_N - 1)] = *dst;
	u->must_fail = fz_sqe_must_fail(dst, &t->ti, AREA);
	u->buf_offset = dst->buf_offset;
	u->consumed = u->completed = 0;
}

static struct ud_info *ud_lookup(uint64_t ud)
{
	if ((ud & 0xffff000000000000ull) != UD_TAG)
		return NULL;
	ud &= ~0xffff000000000000ull;
	if (ud < ud_base || ud >= ud_next)
		return NULL;
	return &uds[ud - ud_base];
}

/* Consume every published CQE and check it. */
static void reap(struct tgt *t, const char *when)
{
	uint32_t prod = __atomic_load_n(&t->cqr->producer, __ATOMIC_ACQUIRE);

	FZ_CHECK(prod - t->cq_cons <= CQ_N, "%s: CQ producer %u is %u ahead of consumer %u (CQ has %u)",
		 when, prod, prod - t->cq_cons, t->cq_cons, CQ_N);
	for (; t->cq_cons != prod; t->cq_cons++) {
		const struct io_unified_cqe *c = &t->cqes[t->cq_cons & (CQ_N - 1)];
		struct ud_info *u = ud_lookup(c->user_data);

		FZ_CHECK(u, "%s: CQE with user_data 0x%llx that no SQE had", when,
			 (unsigned long long)c->user_data);
		u->completed++;
		if (verbose)
			fprintf(stderr, "%s: CQE user_data +%llu status 0x%04x (%s) res %d len %u%s%s\n",
				when, (unsigned long long)(c->user_data & 0xffffffffffffull) - ud_base,
				c->status, unified_status_str(c->status), c->res, c->len,
				u->must_fail ? " must fail: " : "", u->must_fail ? u->must_fail : "");
		FZ_CHECK(u->completed <= u->consumed,
			 "%s: CQE #%u for user_data 0x%llx, consumed %u times", when, u->completed,
			 (unsigned long long)c->user_data, u->consumed);
		FZ_CHECK(!u->must_fail || c->status,
			 "%s: SQE with a documented-invalid field (%s) completed with status 0", when,
			 u->must_fail);
		FZ_CHECK(!c->status || !c->len, "%s: failed CQE (status 0x%x) reports len %u", when,
			 c->status, c->len);
		FZ_CHECK(c->dma_addr == u->buf_offset, "%s: dma_addr 0x%llx != buf_offset 0x%llx", when,
			 (unsigned long long)c->dma_addr, (unsigned long long)u->buf_offset);
		FZ_CHECK(!c->__resv0 && !c->__resv[0] && !c->__resv[1] && !c->__resv[2],
			 "%s: CQE reserved fields non-zero", when);
	}
	t->cq_prod_seen = prod;
	__atomic_store_n(&t->cqr->consumer, t->cq_cons, __ATOMIC_RELEASE);
}

/*
 * One engine call (kick, or enter waiting for one CQE), then the checks
 * that hold right after it.  @max_cons is the furthest the engine may
 * consume to; @sq_prod_sane says whether the SQ producer word is sane.
 */
static int step(struct tgt *t, bool enter, uint32_t max_cons, bool sq_prod_sane, const char *when)
{
	uint32_t prod_word = t->sqr->producer, cq_cons_word = t->cqr->consumer;
	uint32_t cq_prod0 = t->cqr->producer, cq_prod1;
	uint64_t c0 = engine_sqes(t), c1, j;
	int ret;

	ret = enter ? unified_enter(t->ctx, 1, 2000) : unified_kick(t->ctx);
	c1 = engine_sqes(t);
	if (enter)
		/* -EINTR: libFuzzer's timer signal (SIGALRM) interrupted the wait */
		FZ_CHECK(ret >= 0 || ret == -ETIME || ret == -EBADMSG || ret == -EINTR,
			 "%s: unified_enter returned %d", when, ret);
	else
		FZ_CHECK(ret == 0 || ret == -EBADMSG, "%s: unified_kick returned %d", when, ret);
	FZ_CHECK(ret != -EBADMSG || (uint32_t)(prod_word - (uint32_t)c1) > SQ_N,
		 "%s: -EBADMSG with a sane SQ producer %u (consumer %u)", when, prod_word,
		 (uint32_t)c1);
	FZ_CHECK(ret != -EBADMSG || !sq_prod_sane, "%s: -EBADMSG although the producer is sane", when);
	FZ_CHECK(c1 - c0 <= (uint32_t)(max_cons - (uint32_t)c0),
		 "%s: engine consumed %llu SQEs, only %u were published", when,
		 (unsigned long long)(c1 - c0), max_cons - (uint32_t)c0);
	FZ_CHECK(t->sqr->producer == prod_word, "%s: the engine wrote the SQ producer (%u -> %u)",
		 when, prod_word, t->sqr->producer);
	FZ_CHECK(t->cqr->consumer == cq_cons_word, "%s: the engine wrote the CQ consumer (%u -> %u)",
		 when, cq_cons_word, t->cqr->consumer);
	if (c1 != c0)
		FZ_CHECK(t->sqr->consumer == (uint32_t)c1, "%s: SQ consumer %u, engine consumed to %u",
			 when, t->sqr->consumer, (uint32_t)c1);
	for (j = c0; j < c1; j++) {
		struct ud_info *u = ud_lookup(t->sq_copy[j & (SQ_N - 1)].user_data);

		FZ_CHECK(u, "%s: consumed slot %llu holds no SQE of this input", when,
			 (unsigned long long)j);
		u->consumed++;
	}
	cq_prod1 = __atomic_load_n(&t->cqr->producer, __ATOMIC_ACQUIRE);
	FZ_CHECK(cq_prod1 - t->cq_cons <= CQ_N, "%s: CQ producer %u overruns consumer %u", when,
		 cq_prod1, t->cq_cons);
	for (j = 0; j < (uint32_t)(cq_prod1 - cq_prod0) && j < CQ_N; j++) {
		uint32_t slot = (cq_prod0 + (uint32_t)j) & (CQ_N - 1);

		t->cq_copy[slot] = t->cqes[slot];
	}
	check_region(t, when);
	return ret;
}

static uint32_t corrupt(uint32_t v, uint8_t how, uint32_t val)
{
	switch (how) {
	case 0: return v + val;
	case 1: return val;
	case 2: return v ^ val;
	default: return v + (uint32_t)(int32_t)(int8_t)val;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct tgt *t;
	uint8_t opt, chunk, sel[NEVENTS];
	uint32_t val[NEVENTS], nsqe, i, done = 0, round;
	int k;

	if (size < HDR)
		return 0;
	opt = fz_u8(&in);
	chunk = (uint8_t)(1 + fz_u8(&in) % SQ_N);
	for (k = 0; k < NEVENTS; k++)
		sel[k] = fz_u8(&in);
	for (k = 0; k < 3; k++)
		fz_u8(&in);	/* unused */
	for (k = 0; k < NEVENTS; k++)
		val[k] = fz_u32(&in);
	nsqe = (uint32_t)(in.n / sizeof(struct io_unified_sqe));
	if (nsqe > MAX_SQES)
		nsqe = MAX_SQES;
	t = &tg[opt & 1];

	memcpy(t->data, in.p, in.n < AREA ? in.n : AREA);
	/* Every slot gets a fresh filler (Flush of namespace 0: must fail), so
	 * whatever a corrupt producer makes the engine consume is known. */
	ud_base = ud_next;
	for (i = 0; i < SQ_N; i++) {
		struct io_unified_sqe filler = { .nvme_cmd = { .opcode = IO_UNIFIED_NVME_CMD_FLUSH } };

		put_sqe(t, i, &filler);
	}
	check_region(t, "input start");

	for (round = 0; done < nsqe && round < 4 * MAX_SQES; round++) {
		uint32_t cons = (uint32_t)engine_sqes(t), n = chunk, max_cons;
		bool sane = true;
		char when[64];

		snprintf(when, sizeof(when), "round %u", round);
		if (n > nsqe - done)
			n = nsqe - done;
		if (n > SQ_N - (t->prod - cons))
			n = SQ_N - (t->prod - cons);
		for (i = 0; i < n; i++) {
			struct io_unified_sqe s;

			memcpy(&s, in.p + (size_t)(done + i) * sizeof(s), sizeof(s));
			put_sqe(t, t->prod + i, &s);
		}
		done += n;
		t->prod += n;
		__atomic_store_n(&t->sqr->producer, t->prod, __ATOMIC_RELEASE);
		/* The CQ is empty when a word is corrupted: a consumer that lies
		 * about CQEs the application has not read would lose them by its
		 * own doing, not the engine's. */
		reap(t, when);
		max_cons = t->prod;
		for (k = 0; k < NEVENTS; k++) {
			uint8_t what = sel[k] & 3, how = (sel[k] >> 5) & 3;
			uint32_t *w;

			if (!what || ((sel[k] >> 2) & 7) != (round & 7))
				continue;
			w = what == 1 ? &t->sqr->producer : what == 2 ? &t->sqr->consumer : &t->cqr->consumer;
			__atomic_store_n(w, corrupt(*w, how, val[k]), __ATOMIC_RELEASE);
		}
		if (t->sqr->producer != t->prod) {
			uint32_t p = t->sqr->producer;

			sane = p - cons <= SQ_N;
			/* A sane-looking producer publishes whatever the slots
			 * hold; from then on the application owns that value. */
			if (sane && p - cons > t->prod - cons)
				max_cons = p;
		}
		step(t, false, max_cons, sane && t->sqr->producer == t->prod, when);
		if (max_cons != t->prod) {
			/* Published by the corrupt producer: the slots are the
			 * application's again only once consumed, so only the
			 * fillers' copies are kept. */
			t->prod = max_cons;
		}
		/* Restore the sane words. */
		__atomic_store_n(&t->sqr->producer, t->prod, __ATOMIC_RELEASE);
		__atomic_store_n(&t->cqr->consumer, t->cq_cons, __ATOMIC_RELEASE);
		if (t->sqr->consumer != (uint32_t)engine_sqes(t))
			__atomic_store_n(&t->sqr->consumer, (uint32_t)engine_sqes(t), __ATOMIC_RELEASE);
		reap(t, when);
	}

	/* Drain with sane indices: everything published completes once. */
	for (i = 0; i < 1000; i++) {
		struct unified_stats st;

		reap(t, "drain");
		unified_get_stats(t->ctx, &st);
		if ((uint32_t)st.sqes == t->prod && st.sqes == st.cqes &&
		    t->cqr->producer == t->cq_cons)
			break;
		FZ_CHECK(step(t, true, t->prod, true, "drain") != -EBADMSG, "drain: -EBADMSG");
	}
	{
		struct unified_stats st;

		unified_get_stats(t->ctx, &st);
		FZ_CHECK((uint32_t)st.sqes == t->prod,
			 "drain: engine consumed to %u, %u were published", (uint32_t)st.sqes, t->prod);
		FZ_CHECK(st.sqes == st.cqes, "drain: engine stats sqes %llu != cqes %llu",
			 (unsigned long long)st.sqes, (unsigned long long)st.cqes);
	}
	for (i = 0; i < ud_next - ud_base; i++)
		FZ_CHECK(uds[i].completed == uds[i].consumed,
			 "user_data 0x%llx consumed %u times, %u CQEs", (unsigned long long)(UD_TAG | (ud_base + i)),
			 uds[i].consumed, uds[i].completed);
	check_region(t, "after drain");
	return 0;
}
