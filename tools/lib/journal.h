/* SPDX-License-Identifier: MIT */
/*
 * unified-ingest's journal format (docs/ingest.md): a superblock (twice),
 * then a chain of index extents that describe messages kept in place in
 * data regions.  This file encodes and decodes the on-disk structures and
 * walks the chain; it does no I/O itself: the caller reads blocks through
 * a callback (pread on a file, NVMe reads through libunified, a test's
 * memory).  Everything read is treated as hostile: magic, version, sizes,
 * CRC32C and sequence numbers are all checked before a field is used.
 */
#ifndef UNIFIED_JOURNAL_H
#define UNIFIED_JOURNAL_H

#include <stdint.h>

#define UJ_BLOCK		4096u
#define UJ_EXTENT_BLOCKS	16u	/* blocks reserved per index extent */
#define UJ_FIRST_EXTENT		2u	/* after the two superblock copies */
#define UJ_VERSION		1u

struct uj_super {
	char	magic[8];	/* "UNIFJNL1" */
	uint32_t version;	/* UJ_VERSION */
	uint32_t block;		/* UJ_BLOCK */
	uint32_t lba;		/* the namespace's LBA size */
	uint32_t __resv0;
	uint64_t nblocks;	/* journal size in blocks (the namespace's) */
	uint64_t journal_id;	/* random: tells this journal's extents from stale ones */
	uint64_t created_ns;
	uint64_t first_extent;	/* block of the first index extent */
	uint32_t crc;		/* CRC32C of the struct with this field 0 */
	uint32_t __resv1;
};

struct uj_extent_hdr {
	char	magic[8];	/* "UNIFIDX1" */
	uint64_t journal_id;
	uint64_t commit_seq;	/* 1, 2, ... along the chain */
	uint64_t next_extent;	/* block reserved for the next extent */
	uint64_t first_rec_seq;	/* sequence of the first record (nrec > 0) */
	uint32_t nrec;
	uint32_t nblocks;	/* blocks of this extent that are used (1..16) */
	uint32_t crc;		/* CRC32C of the used blocks with this field 0 */
	uint32_t next_room;	/* blocks free at next_extent for the next extents:
				 * UJ_EXTENT_BLOCKS (the reservation), or, inside one
				 * commit's run of extents, those of the rest of the run */
	uint32_t __resv[2];
};

struct uj_record {
	uint64_t seq;		/* consecutive along the journal */
	uint64_t time_ns;	/* arrival time */
	uint32_t source;	/* connection id */
	uint32_t len;		/* message bytes */
	uint32_t crc;		/* CRC32C of the message bytes */
	uint32_t len1;		/* bytes of the first part: len, or less with a second part */
	uint64_t addr1;		/* journal byte address of the message (first part) */
	uint64_t addr2;		/* second part (len - len1 bytes in the next buffer's region), or 0 */
};

#define UJ_MAX_RUN	256u	/* blocks of one commit's run of extents, at most */
#define UJ_MAX_MSG	(2u << 20)	/* a message is never longer than a receive buffer */

#define UJ_RECS_PER_EXTENT \
	((UJ_EXTENT_BLOCKS * UJ_BLOCK - sizeof(struct uj_extent_hdr)) / sizeof(struct uj_record))

/* Fill @sb (and its CRC). */
void uj_super_init(struct uj_super *sb, uint64_t nblocks, uint32_t lba, uint64_t journal_id,
		   uint64_t created_ns);
/* 0 if @sb is a valid superblock of a namespace of @nblocks blocks, else
 * -EBADMSG with *@why set. */
int uj_super_check(const struct uj_super *sb, uint64_t nblocks, const char **why);

/*
 * Encode an extent into @buf (UJ_EXTENT_BLOCKS blocks): the header, then
 * @n records (at most UJ_RECS_PER_EXTENT), the CRC over the blocks used.
 * @next_room: the blocks free at @next_extent (1..UJ_MAX_RUN).
 * Returns the number of blocks to write.
 */
uint32_t uj_extent_encode(void *buf, uint64_t journal_id, uint64_t commit_seq, uint64_t next_extent,
			  uint32_t next_room, const struct uj_record *recs, uint32_t n);

/* Reads @nblocks blocks at block @blk into @buf: 0 or -errno. */
typedef int (*uj_read_fn)(void *arg, uint64_t blk, uint32_t nblocks, void *buf);
/* Called for each valid record, in order (may be NULL). */
typedef void (*uj_record_fn)(void *arg, const struct uj_record *rec);
/* Called for each valid extent, before its records (may be NULL). */
typedef void (*uj_extent_fn)(void *arg, uint64_t at, const struct uj_extent_hdr *h);

/* What recovery found. */
struct uj_state {
	struct uj_super sb;
	uint64_t extents;		/* valid extents in the chain */
	uint64_t records;
	uint64_t first_seq, last_seq;	/* of the records (0 if none) */
	uint64_t next_extent;		/* where the next commit's extent goes */
	uint32_t next_room;		/* blocks free there (a torn run leaves fewer than 16) */
	uint64_t next_commit_seq;
	uint64_t next_rec_seq;
	uint64_t high_water;		/* first block past everything the chain names */
	int super_copy;			/* 0 or 1: the superblock copy used */
	const char *end_why;		/* why the chain ended there */
};

/*
 * Walk the journal on a namespace of @nblocks blocks: the superblock (copy
 * 0, else 1), then the chain of extents until the first one that is not
 * valid (wrong magic, journal id, CRC, commit or record sequence, sizes,
 * or addresses outside the journal).  @ext runs for every valid extent
 * and @rec for each of its records, both with @rec_arg.  Returns 0 (*@st filled), -EBADMSG if neither superblock
 * copy is valid, or the read callback's -errno.
 */
int uj_recover(uint64_t nblocks, uj_read_fn rd, void *rd_arg, uj_record_fn rec,
	       uj_extent_fn ext, void *rec_arg, struct uj_state *st);

#endif
