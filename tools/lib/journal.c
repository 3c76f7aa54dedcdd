/* SPDX-License-Identifier: MIT */
/* unified-ingest's journal format and its recovery walk (journal.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "crc32c.h"
#include "journal.h"

_Static_assert(sizeof(struct uj_super) == 64, "superblock layout");
_Static_assert(sizeof(struct uj_extent_hdr) == 64, "extent header layout");
_Static_assert(sizeof(struct uj_record) == 48, "record layout");

static const char super_magic[8] = { 'U', 'N', 'I', 'F', 'J', 'N', 'L', '1' };
static const char extent_magic[8] = { 'U', 'N', 'I', 'F', 'I', 'D', 'X', '1' };

static uint32_t super_crc(const struct uj_super *sb)
{
	struct uj_super c = *sb;

	c.crc = 0;
	return unified_crc32c(0, &c, sizeof(c));
}

void uj_super_init(struct uj_super *sb, uint64_t nblocks, uint32_t lba, uint64_t journal_id,
		   uint64_t created_ns)
{
	memset(sb, 0, sizeof(*sb));
	memcpy(sb->magic, super_magic, sizeof(sb->magic));
	sb->version = UJ_VERSION;
	sb->block = UJ_BLOCK;
	sb->lba = lba;
	sb->nblocks = nblocks;
	sb->journal_id = journal_id;
	sb->created_ns = created_ns;
	sb->first_extent = UJ_FIRST_EXTENT;
	sb->crc = super_crc(sb);
}

int uj_super_check(const struct uj_super *sb, uint64_t nblocks, const char **why)
{
	const char *w = NULL;

	if (memcmp(sb->magic, super_magic, sizeof(sb->magic)))
		w = "no journal superblock (wrong magic)";
	else if (sb->crc != super_crc(sb))
		w = "superblock CRC32C mismatch";
	else if (sb->version != UJ_VERSION)
		w = "unknown journal format version";
	else if (sb->block != UJ_BLOCK || (sb->lba != 512 && sb->lba != 4096))
		w = "unsupported block or LBA size";
	else if (sb->nblocks != nblocks)
		w = "the journal was made for a namespace of another size";
	else if (sb->first_extent < UJ_FIRST_EXTENT ||
		 sb->first_extent > nblocks - UJ_EXTENT_BLOCKS)
		w = "first extent outside the journal";
	if (why)
		*why = w;
	return w ? -EBADMSG : 0;
}

uint32_t uj_extent_encode(void *buf, uint64_t journal_id, uint64_t commit_seq, uint64_t next_extent,
			  uint32_t next_room, const struct uj_record *recs, uint32_t n)
{
	struct uj_extent_hdr *h = buf;
	uint32_t bytes, nblocks;

	if (n > UJ_RECS_PER_EXTENT)
		n = (uint32_t)UJ_RECS_PER_EXTENT;
	bytes = (uint32_t)(sizeof(*h) + (size_t)n * sizeof(*recs));
	nblocks = (bytes + UJ_BLOCK - 1) / UJ_BLOCK;
	memset(buf, 0, (size_t)nblocks * UJ_BLOCK);
	memcpy(h->magic, extent_magic, sizeof(h->magic));
	h->journal_id = journal_id;
	h->commit_seq = commit_seq;
	h->next_extent = next_extent;
	h->next_room = next_room;
	h->first_rec_seq = n ? recs[0].seq : 0;
	h->nrec = n;
	h->nblocks = nblocks;
	memcpy(h + 1, recs, (size_t)n * sizeof(*recs));
	h->crc = unified_crc32c(0, buf, (size_t)nblocks * UJ_BLOCK);
	return nblocks;
}

/* Is the extent at @buf (all its used blocks read) the valid successor? */
static const char *extent_check(uint8_t *buf, const struct uj_state *st, uint64_t at)
{
	struct uj_extent_hdr *h = (void *)buf;
	const struct uj_record *r = (const void *)(h + 1);
	uint64_t bytes = st->sb.nblocks * UJ_BLOCK;
	uint32_t crc, i;

	if (memcmp(h->magic, extent_magic, sizeof(h->magic)))
		return "no extent (wrong magic): the end of the journal";
	if (h->journal_id != st->sb.journal_id)
		return "an extent of another journal (stale)";
	if (h->commit_seq != st->next_commit_seq)
		return "commit sequence does not follow";
	if (!h->nblocks || h->nblocks > UJ_EXTENT_BLOCKS ||
	    h->nrec > UJ_RECS_PER_EXTENT ||
	    sizeof(*h) + (uint64_t)h->nrec * sizeof(*r) > (uint64_t)h->nblocks * UJ_BLOCK)
		return "extent sizes out of range";
	crc = h->crc;
	h->crc = 0;
	if (unified_crc32c(0, buf, (size_t)h->nblocks * UJ_BLOCK) != crc)
		return "extent CRC32C mismatch (torn or never completed)";
	h->crc = crc;
	if (h->next_extent <= at || h->next_extent > st->sb.nblocks - UJ_EXTENT_BLOCKS)
		return "next extent outside the journal or not after this one";
	if (!h->next_room || h->next_room > UJ_MAX_RUN || h->next_extent + h->next_room > st->sb.nblocks)
		return "room at the next extent out of range";
	for (i = 0; i < h->nrec; i++) {
		if (r[i].seq != st->next_rec_seq + i)
			return "record sequence does not follow";
		if (r[i].addr1 >= bytes || r[i].addr2 >= bytes)
			return "a record points outside the journal";
		if (r[i].len > UJ_MAX_MSG)
			return "a record longer than any receive buffer";
		if (!r[i].len1 || r[i].len1 > r[i].len || (r[i].len1 < r[i].len) != !!r[i].addr2 ||
		    r[i].len1 > bytes - r[i].addr1 || r[i].len - r[i].len1 > bytes - r[i].addr2)
			return "a record's parts do not fit the journal";
	}
	return NULL;
}

int uj_recover(uint64_t nblocks, uj_read_fn rd, void *rd_arg, uj_record_fn rec,
	       uj_extent_fn ext, void *rec_arg, struct uj_state *st)
{
	uint8_t *buf = aligned_alloc(UJ_BLOCK, (size_t)UJ_EXTENT_BLOCKS * UJ_BLOCK);
	const char *why0 = NULL, *why1 = NULL;
	uint64_t at;
	int ret, copy;

	memset(st, 0, sizeof(*st));
	if (!buf)
		return -ENOMEM;
	if (nblocks < UJ_FIRST_EXTENT + UJ_EXTENT_BLOCKS) {
		free(buf);
		return -EBADMSG;
	}
	for (copy = 0; copy < 2; copy++) {
		ret = rd(rd_arg, (uint64_t)copy, 1, buf);
		if (ret) {
			free(buf);
			return ret;
		}
		memcpy(&st->sb, buf, sizeof(st->sb));
		if (!uj_super_check(&st->sb, nblocks, copy ? &why1 : &why0))
			break;
	}
	if (copy == 2) {
		st->end_why = why0;
		free(buf);
		return -EBADMSG;
	}
	st->super_copy = copy;
	st->next_commit_seq = 1;
	st->next_rec_seq = 1;
	at = st->sb.first_extent;
	st->next_room = UJ_EXTENT_BLOCKS;
	st->high_water = at + UJ_EXTENT_BLOCKS;
	for (;;) {
		struct uj_extent_hdr *h = (void *)buf;
		const struct uj_record *r = (const void *)(h + 1);
		uint32_t i, n;

		ret = rd(rd_arg, at, 1, buf);
		if (ret)
			break;
		n = h->nblocks;
		if (!memcmp(h->magic, extent_magic, sizeof(h->magic)) && n > 1 && n <= UJ_EXTENT_BLOCKS) {
			ret = rd(rd_arg, at + 1, n - 1, buf + UJ_BLOCK);
			if (ret)
				break;
		}
		st->end_why = extent_check(buf, st, at);
		if (st->end_why)
			break;
		if (ext)
			ext(rec_arg, at, h);
		for (i = 0; i < h->nrec; i++) {
			/* first block past each part: nothing the chain names is free */
			uint64_t end1 = (r[i].addr1 + r[i].len1 - 1) / UJ_BLOCK + 1;
			uint64_t end2 = (r[i].addr2 + (r[i].len - r[i].len1) - 1) / UJ_BLOCK + 1;

			if (rec)
				rec(rec_arg, &r[i]);
			if (end1 > st->high_water)
				st->high_water = end1;
			if (r[i].addr2 && end2 > st->high_water)
				st->high_water = end2;
		}
		if (h->nrec) {
			if (!st->records)
				st->first_seq = h->first_rec_seq;
			st->last_seq = h->first_rec_seq + h->nrec - 1;
		}
		st->records += h->nrec;
		st->next_rec_seq += h->nrec;
		st->next_commit_seq++;
		st->extents++;
		at = h->next_extent;
		st->next_room = h->next_room;
		if (at + h->next_room > st->high_water)
			st->high_water = at + h->next_room;
	}
	st->next_extent = at;
	free(buf);
	return ret;
}
