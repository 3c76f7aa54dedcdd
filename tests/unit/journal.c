/* SPDX-License-Identifier: MIT */
/*
 * unified-ingest's journal format (tools/lib/journal.c) on a namespace in
 * memory: commits are found again in order, and recovery stops exactly at
 * the first extent that a crash (torn write, never written), a stale
 * journal or damage left behind; the spare superblock copy takes over.
 */
#include "helpers.h"
#include "crc32c.h"
#include "journal.h"

#define NBLK 512u

static uint8_t disk[NBLK * UJ_BLOCK];

static int rd(void *arg, uint64_t blk, uint32_t n, void *buf)
{
	(void)arg;
	if (blk + n > NBLK)
		return -EIO;
	memcpy(buf, disk + blk * UJ_BLOCK, (size_t)n * UJ_BLOCK);
	return 0;
}

struct seen {
	uint64_t n, last;
	bool order_ok;
};

static void on_rec(void *arg, const struct uj_record *r)
{
	struct seen *s = arg;

	if (r->seq != s->last + 1)
		s->order_ok = false;
	s->last = r->seq;
	s->n++;
}

static uint64_t jid = 0x1234abcd5678ef00ull;

/* Format, then @commits commits of @per records each; returns the block of
 * each extent in @ext. */
static void build(uint32_t commits, uint32_t per, uint64_t *ext)
{
	static uint8_t ebuf[UJ_EXTENT_BLOCKS * UJ_BLOCK] __attribute__((aligned(UJ_BLOCK)));
	struct uj_super sb;
	uint64_t at = UJ_FIRST_EXTENT, cursor = UJ_FIRST_EXTENT + UJ_EXTENT_BLOCKS, seq = 1;

	memset(disk, 0, sizeof(disk));
	uj_super_init(&sb, NBLK, 4096, jid, 1);
	memcpy(disk, &sb, sizeof(sb));
	memcpy(disk + UJ_BLOCK, &sb, sizeof(sb));
	for (uint32_t c = 0; c < commits; c++) {
		struct uj_record recs[64];
		uint64_t data = cursor, next;
		uint32_t nb;

		cursor += 2;	/* a data region of 2 blocks for this commit's messages */
		next = cursor;
		cursor += UJ_EXTENT_BLOCKS;
		for (uint32_t i = 0; i < per; i++) {
			uint8_t *m = disk + data * UJ_BLOCK + i * 100;

			memset(m, (int)(seq & 0xff), 100);
			recs[i] = (struct uj_record){ .seq = seq++, .time_ns = 5, .source = 1, .len = 100,
						      .len1 = 100,
						      .crc = unified_crc32c(0, m, 100),
						      .addr1 = data * UJ_BLOCK + i * 100 };
		}
		nb = uj_extent_encode(ebuf, jid, c + 1, next, UJ_EXTENT_BLOCKS, recs, per);
		memcpy(disk + at * UJ_BLOCK, ebuf, (size_t)nb * UJ_BLOCK);
		ext[c] = at;
		at = next;
	}
}

static void t_commits_found_in_order(void)
{
	uint64_t ext[8];
	struct seen s = { .order_ok = true };
	struct uj_state st;

	if (!unified_crc32c_available())
		SKIP("no CRC32C instruction");
	build(5, 40, ext);
	REQUIRE(!uj_recover(NBLK, rd, NULL, on_rec, NULL, &s, &st), "recover: %s", st.end_why);
	CHECK(st.extents == 5 && st.records == 200 && st.first_seq == 1 && st.last_seq == 200,
	      "%" PRIu64 " extents, %" PRIu64 " records, %" PRIu64 "..%" PRIu64, st.extents, st.records,
	      st.first_seq, st.last_seq);
	CHECK(s.n == 200 && s.order_ok, "callback saw %" PRIu64 " records in order %d", s.n, s.order_ok);
	CHECK(st.next_commit_seq == 6 && st.next_rec_seq == 201, "sequences continue at %" PRIu64
	      "/%" PRIu64, st.next_commit_seq, st.next_rec_seq);
	CHECK(st.next_extent > ext[4] && st.high_water >= st.next_extent + UJ_EXTENT_BLOCKS,
	      "next extent %" PRIu64 ", high water %" PRIu64, st.next_extent, st.high_water);
}

/* A crash leaves the last extent torn: recovery ends before it. */
static void t_torn_last_extent(void)
{
	uint64_t ext[8];
	struct uj_state st;

	if (!unified_crc32c_available())
		SKIP("no CRC32C instruction");
	build(4, 40, ext);
	disk[ext[3] * UJ_BLOCK + 900] ^= 0x40;	/* inside a record of the last extent */
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover");
	CHECK(st.extents == 3 && st.last_seq == 120 && st.next_extent == ext[3] &&
	      strstr(st.end_why, "CRC32C"), "%" PRIu64 " extents, last %" PRIu64 ", end: %s", st.extents,
	      st.last_seq, st.end_why);
}

/*
 * A commit's run of extents torn after its first: E1 names E2's place and
 * the room left there (8 blocks, then the commit's data).  Recovery ends at
 * E2's place and reports that room, so the next extent is not written over
 * the data E1's records name; a room of 0 or past the end is refused.
 */
static void t_torn_run_reports_its_room(void)
{
	static uint8_t ebuf[UJ_EXTENT_BLOCKS * UJ_BLOCK] __attribute__((aligned(UJ_BLOCK)));
	uint64_t ext[8], e1, data;
	struct uj_state st, st2;
	struct uj_record r;

	if (!unified_crc32c_available())
		SKIP("no CRC32C instruction");
	build(2, 10, ext);
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover");
	e1 = st.next_extent;
	data = e1 + 1 + 8;
	memset(disk + data * UJ_BLOCK, 7, 100);
	r = (struct uj_record){ .seq = st.next_rec_seq, .len = 100, .len1 = 100,
				.crc = unified_crc32c(0, disk + data * UJ_BLOCK, 100),
				.addr1 = data * UJ_BLOCK };
	uj_extent_encode(ebuf, jid, st.next_commit_seq, e1 + 1, 8, &r, 1);
	memcpy(disk + e1 * UJ_BLOCK, ebuf, UJ_BLOCK);
	memset(disk + (e1 + 1) * UJ_BLOCK, 0, 8 * UJ_BLOCK);	/* E2 never landed */
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st2), "recover");
	CHECK(st2.extents == 3 && st2.next_extent == e1 + 1 && st2.next_room == 8 &&
	      st2.high_water >= data + 1, "%" PRIu64 " extents, next %" PRIu64 " (want %" PRIu64
	      ") room %u (want 8), high water %" PRIu64, st2.extents, st2.next_extent, e1 + 1,
	      st2.next_room, st2.high_water);
	for (int k = 0; k < 2; k++) {
		uj_extent_encode(ebuf, jid, st.next_commit_seq, e1 + 1, k ? NBLK : 0, &r, 1);
		memcpy(disk + e1 * UJ_BLOCK, ebuf, UJ_BLOCK);
		REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st2), "recover");
		CHECK(st2.extents == 2 && strstr(st2.end_why, "room"), "room %u accepted: %s",
		      k ? NBLK : 0, st2.end_why);
	}
}

/* A stale extent of an older journal where the next one would be. */
static void t_stale_journal_extent(void)
{
	static uint8_t ebuf[UJ_EXTENT_BLOCKS * UJ_BLOCK] __attribute__((aligned(UJ_BLOCK)));
	uint64_t ext[8];
	struct uj_state st;
	struct uj_record r = { .seq = 121, .len = 10, .len1 = 10, .addr1 = 0 };

	if (!unified_crc32c_available())
		SKIP("no CRC32C instruction");
	build(3, 40, ext);
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover");
	uj_extent_encode(ebuf, jid ^ 1, 4, st.next_extent + 20, UJ_EXTENT_BLOCKS, &r, 1);
	memcpy(disk + st.next_extent * UJ_BLOCK, ebuf, UJ_BLOCK);
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover");
	CHECK(st.extents == 3 && strstr(st.end_why, "another journal"), "end: %s", st.end_why);
	/* the right journal id but a commit sequence that does not follow */
	uj_extent_encode(ebuf, jid, 9, st.next_extent + 20, UJ_EXTENT_BLOCKS, &r, 1);
	memcpy(disk + st.next_extent * UJ_BLOCK, ebuf, UJ_BLOCK);
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover");
	CHECK(st.extents == 3 && strstr(st.end_why, "commit sequence"), "end: %s", st.end_why);
}

/* Hostile contents: records out of range, sizes out of range. */
static void t_hostile_extent(void)
{
	static uint8_t ebuf[UJ_EXTENT_BLOCKS * UJ_BLOCK] __attribute__((aligned(UJ_BLOCK)));
	uint64_t ext[8];
	struct uj_state st;
	struct uj_record r = { .seq = 41, .len = 10, .len1 = 10, .addr1 = (uint64_t)NBLK * UJ_BLOCK };

	if (!unified_crc32c_available())
		SKIP("no CRC32C instruction");
	build(1, 40, ext);
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover");
	uj_extent_encode(ebuf, jid, 2, st.next_extent + 20, UJ_EXTENT_BLOCKS, &r, 1);
	memcpy(disk + st.next_extent * UJ_BLOCK, ebuf, UJ_BLOCK);
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover");
	CHECK(st.extents == 1 && strstr(st.end_why, "outside"), "end: %s", st.end_why);
	r.addr1 = 0;
	r.seq = 41;
	uj_extent_encode(ebuf, jid, 2, NBLK - 1, UJ_EXTENT_BLOCKS, &r, 1);	/* next extent past the end */
	memcpy(disk + st.next_extent * UJ_BLOCK, ebuf, UJ_BLOCK);
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover");
	CHECK(st.extents == 1 && strstr(st.end_why, "next extent"), "end: %s", st.end_why);
}

/* A message in two parts, its second far past the extents: recovery's
 * high water covers the last byte of each part, so no later data region
 * can be placed over it. */
static void t_high_water_covers_both_parts(void)
{
	static uint8_t ebuf[UJ_EXTENT_BLOCKS * UJ_BLOCK] __attribute__((aligned(UJ_BLOCK)));
	uint64_t ext[8];
	struct uj_state st;
	struct uj_record r = { .seq = 11, .len = 6000, .len1 = 1000,
			       .addr1 = 100ull * UJ_BLOCK + 3096, .addr2 = 300ull * UJ_BLOCK };

	if (!unified_crc32c_available())
		SKIP("no CRC32C instruction");
	build(1, 10, ext);
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover");
	uj_extent_encode(ebuf, jid, 2, st.next_extent + UJ_EXTENT_BLOCKS, UJ_EXTENT_BLOCKS, &r, 1);
	memcpy(disk + st.next_extent * UJ_BLOCK, ebuf, UJ_BLOCK);
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover: %s", st.end_why);
	CHECK(st.extents == 2 && st.high_water == 302, "high water %" PRIu64 " (the second part "
	      "ends in block 301)", st.high_water);
	r.len1 = 6000;	/* claims one part but names a second */
	build(1, 10, ext);
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover");
	uj_extent_encode(ebuf, jid, 2, st.next_extent + UJ_EXTENT_BLOCKS, UJ_EXTENT_BLOCKS, &r, 1);
	memcpy(disk + st.next_extent * UJ_BLOCK, ebuf, UJ_BLOCK);
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover");
	CHECK(st.extents == 1 && strstr(st.end_why, "parts"), "end: %s", st.end_why);
}

/* Superblock copy 0 damaged: copy 1 is used; both damaged: refused. */
static void t_superblock_copies(void)
{
	uint64_t ext[8];
	struct uj_state st;

	if (!unified_crc32c_available())
		SKIP("no CRC32C instruction");
	build(2, 10, ext);
	disk[20] ^= 1;
	REQUIRE(!uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st), "recover with copy 1");
	CHECK(st.super_copy == 1 && st.extents == 2, "copy %d, %" PRIu64 " extents", st.super_copy,
	      st.extents);
	disk[UJ_BLOCK + 20] ^= 1;
	CHECK(uj_recover(NBLK, rd, NULL, NULL, NULL, NULL, &st) == -EBADMSG, "both copies damaged: accepted");
	build(2, 10, ext);
	CHECK(uj_recover(NBLK - 8, rd, NULL, NULL, NULL, NULL, &st) == -EBADMSG &&
	      strstr(st.end_why, "another size"), "a journal of another size: %s", st.end_why);
}

int main(int argc, char **argv)
{
	harness_args(argc, argv);
	RUN(t_commits_found_in_order);
	RUN(t_torn_last_extent);
	RUN(t_torn_run_reports_its_room);
	RUN(t_stale_journal_extent);
	RUN(t_hostile_extent);
	RUN(t_high_water_covers_both_parts);
	RUN(t_superblock_copies);
	return harness_done();
}
