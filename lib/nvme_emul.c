/* SPDX-License-Identifier: MIT */
/*
 * NVMe command semantics over a file or block device (the emulated
 * targets), following the NVMe Base and NVM Command Set specifications:
 *   I/O:   Read, Write (FUA = data-sync write), Flush, Write Zeroes (FUA and
 *          DEAC honoured), Dataset Management deallocate, Compare;
 *   admin: Identify CNS 00h/01h/02h/03h, Get Log Page (Error Information,
 *          SMART / Health Information, Firmware Slot Information), Get and
 *          Set Features for the mandatory features (Volatile Write Cache
 *          really switches writes to write-through).
 * Anything else completes with Invalid Command Opcode.  Host conditions map
 * to the status a controller would give: ENOSPC/EDQUOT -> Capacity
 * Exceeded, a read-only target -> Namespace is Write Protected, EIO ->
 * Unrecovered Read Error / Write Fault.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "internal.h"

#ifndef RWF_DSYNC
#define RWF_DSYNC 0x00000002
#endif

#define CDW12_FUA	(1u << 30)
#define CDW12_DEAC	(1u << 25)	/* Write Zeroes: deallocate allowed */
#define DSM_AD		(1u << 2)	/* Dataset Management: attribute deallocate */
#define CMP_SLOTS	2		/* Compare reads into target-owned scratch */
#define NFEAT		0x0c		/* features 01h..0Bh are kept here */

struct emul {
	void *cmp_buf[CMP_SLOTS];
	uint32_t cmp_busy;		/* bitmask of slots in use */
	uint32_t feat[NFEAT];		/* current values (CDW11) */
	bool wce;			/* volatile write cache enabled */
	uint8_t nguid[16];
	uint64_t bytes_read, bytes_written, reads, writes;
};

static void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_le32(uint8_t *p, uint32_t v) { put_le16(p, (uint16_t)v); put_le16(p + 2, (uint16_t)(v >> 16)); }
static void put_le64(uint8_t *p, uint64_t v) { put_le32(p, (uint32_t)v); put_le32(p + 4, (uint32_t)(v >> 32)); }

static void put_str(uint8_t *p, size_t n, const char *s)
{
	size_t l = strlen(s);

	memset(p, ' ', n);
	memcpy(p, s, l < n ? l : n);
}

static struct emul *emul_of(const struct unified_target *t)
{
	return t->priv;
}

/* Default feature values (NVMe Base 2.0, 5.27.1): temperature threshold
 * 343 K; volatile write cache enabled. */
static uint32_t feat_default(uint8_t fid)
{
	return fid == 0x04 ? 0x157 : fid == 0x06 ? 1 : 0;
}

int unified_emul_init(struct unified_target *t)
{
	struct emul *m = calloc(1, sizeof(*m));
	struct stat st;
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t i;

	if (!m)
		return unified_set_err(ENOMEM, "no memory for the emulated controller");
	t->priv = m;
	for (i = 0; i < CMP_SLOTS; i++)
		if (posix_memalign(&m->cmp_buf[i], 4096, t->max_xfer))
			return unified_set_err(ENOMEM, "no memory for compare buffers");
	for (i = 1; i < NFEAT; i++)
		m->feat[i] = feat_default(i);
	m->wce = true;
	/* A stable namespace GUID from the backing object's identity (FNV-1a). */
	if (!fstat(t->fd, &st)) {
		uint64_t v[2] = { S_ISBLK(st.st_mode) ? (uint64_t)st.st_rdev : (uint64_t)st.st_dev,
				  S_ISBLK(st.st_mode) ? 0 : (uint64_t)st.st_ino };

		for (i = 0; i < 16; i++) {
			h ^= (uint8_t)(v[i / 8] >> (8 * (i % 8)));
			h *= 0x100000001b3ull;
			m->nguid[i] = (uint8_t)(h >> 56);
		}
		m->nguid[0] |= 1;	/* never all zeroes (which means "none") */
	}
	return 0;
}

void unified_emul_fini(struct unified_target *t)
{
	struct emul *m = emul_of(t);
	int i;

	if (!m)
		return;
	for (i = 0; i < CMP_SLOTS; i++)
		free(m->cmp_buf[i]);
	free(m);
	t->priv = NULL;
}

bool unified_emul_supports(bool admin, uint8_t opcode)
{
	if (admin)
		return opcode == IO_UNIFIED_NVME_ADMIN_IDENTIFY ||
		       opcode == IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE ||
		       opcode == IO_UNIFIED_NVME_ADMIN_GET_FEATURES ||
		       opcode == IO_UNIFIED_NVME_ADMIN_SET_FEATURES;
	return opcode == IO_UNIFIED_NVME_CMD_FLUSH || opcode == IO_UNIFIED_NVME_CMD_WRITE ||
	       opcode == IO_UNIFIED_NVME_CMD_READ || opcode == IO_UNIFIED_NVME_CMD_COMPARE ||
	       opcode == IO_UNIFIED_NVME_CMD_WRITE_ZEROES || opcode == IO_UNIFIED_NVME_CMD_DSM;
}

void unified_emul_release(struct unified_target *t, struct unified_cmd *cmd)
{
	if (cmd->tgt_slot >= 0)
		emul_of(t)->cmp_busy &= ~(1u << cmd->tgt_slot);
}

/* Blocks in use: what the file system allocated (thin), else all. */
static uint64_t nuse(const struct unified_target *t)
{
	struct stat st;
	uint64_t n;

	if (!t->thin || fstat(t->fd, &st))
		return t->nlba;
	n = ((uint64_t)st.st_blocks * 512 + (1u << t->lba_shift) - 1) >> t->lba_shift;
	return n < t->nlba ? n : t->nlba;
}

/* Identify data for CNS 00h (namespace), 01h (controller), 02h (active ns
 * list), 03h (namespace identification descriptors). */
void unified_emul_identify(const struct unified_target *t, uint8_t cns, uint32_t nsid, uint8_t *out)
{
	const struct emul *m = emul_of(t);

	memset(out, 0, 4096);
	switch (cns) {
	case 0x00:
		put_le64(out + 0, t->nlba);	/* NSZE */
		put_le64(out + 8, t->nlba);	/* NCAP */
		put_le64(out + 16, nuse(t));	/* NUSE */
		out[24] = t->thin ? 1 : 0;	/* NSFEAT: THINP */
		out[25] = 0;			/* NLBAF: one format */
		out[26] = 0;			/* FLBAS: format 0 */
		out[33] = 0x09;			/* DLFEAT: deallocated reads zero; WZ may deallocate */
		out[99] = t->read_only ? 1 : 0;	/* NSATTR: write protected */
		memcpy(out + 104, m->nguid, 16);	/* NGUID */
		put_le32(out + 128, t->lba_shift << 16); /* LBAF0: LBADS, no metadata */
		break;
	case 0x01: {
		uint32_t mdts = 0;

		while ((4096u << mdts) < t->max_xfer)
			mdts++;
		put_le16(out + 0, 0x1de5);	/* VID: none assigned; a fixed marker */
		put_le16(out + 2, 0x1de5);
		put_str(out + 4, 20, t->kind == UNIFIED_TARGET_BLOCK ? "unified-blk" : "unified-file");
		put_str(out + 24, 40, "io_unified emulated NVMe namespace");
		put_str(out + 64, 8, UNIFIED_VERSION_STR);	/* FR */
		out[77] = (uint8_t)mdts;	/* MDTS in units of 4 KiB */
		put_le16(out + 78, 1);		/* CNTLID */
		put_le32(out + 80, 0x00010400);	/* VER 1.4 */
		out[111] = 1;			/* CNTRLTYPE: I/O controller */
		out[260] = 0x03;		/* FRMW: 1 slot, slot 1 read-only */
		out[262] = 0;			/* ELPE: one error log entry */
		out[512] = 0x66;		/* SQES */
		out[513] = 0x44;		/* CQES */
		put_le32(out + 516, 1);		/* NN */
		/* ONCS: Compare, DSM, Write Zeroes, Save/Select in features */
		put_le16(out + 520, (1u << 0) | (1u << 2) | (1u << 3) | (1u << 4));
		out[525] = 1;			/* VWC present: Flush matters */
		break;
	}
	case 0x02:
		if (nsid < t->nsid)
			put_le32(out, t->nsid);
		break;
	case 0x03:
		out[0] = 0x02;			/* NIDT: NGUID */
		out[1] = 16;			/* NIDL */
		memcpy(out + 4, m->nguid, 16);
		break;
	}
}

static int emul_identify(struct unified_engine *e, struct unified_cmd *cmd,
			 const struct io_unified_nvme_cmd *nc)
{
	uint8_t cns = nc->cdw10 & 0xff;

	if (nc->cdw10 >> 8) {
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EINVAL);
		return 0;
	}
	switch (cns) {
	case 0x00:
	case 0x03:
		if (nc->nsid != e->tgt.nsid) {
			unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_NS, -ENXIO);
			return 0;
		}
		break;
	case 0x01:
		break;
	case 0x02:
		if (nc->nsid >= 0xfffffffeu) {
			unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_NS, -ENXIO);
			return 0;
		}
		break;
	default:
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EINVAL);
		return 0;
	}
	unified_emul_identify(&e->tgt, cns, nc->nsid, unified_engine_data(e, cmd->buf_offset));
	cmd->len = 4096;
	return 0;
}

/* 128-bit little-endian counter (SMART data units and command counts). */
static void put_le128(uint8_t *p, uint64_t v)
{
	put_le64(p, v);
	put_le64(p + 8, 0);
}

static int emul_log_page(struct unified_engine *e, struct unified_cmd *cmd,
			 const struct io_unified_nvme_cmd *nc)
{
	const struct emul *m = emul_of(&e->tgt);
	uint8_t page[512];
	uint8_t lid = nc->cdw10 & 0xff;
	uint64_t off = ((uint64_t)nc->cdw13 << 32) | nc->cdw12;	/* LPOU:LPOL */
	uint64_t want = ((((uint64_t)(nc->cdw11 & 0xffff) << 16) | (nc->cdw10 >> 16)) + 1) * 4;
	uint64_t size, n;
	uint8_t *dst = unified_engine_data(e, cmd->buf_offset);

	memset(page, 0, sizeof(page));
	switch (lid) {
	case 0x01:			/* Error Information: one entry, no errors */
		size = 64;
		break;
	case 0x02:			/* SMART / Health Information */
		size = 512;
		put_le16(page + 1, 298);	/* composite temperature, K */
		page[3] = 100;			/* available spare, % */
		page[4] = 10;			/* available spare threshold, % */
		/* data units: thousands of 512-byte units, rounded up */
		put_le128(page + 32, (m->bytes_read / 512 + 999) / 1000);
		put_le128(page + 48, (m->bytes_written / 512 + 999) / 1000);
		put_le128(page + 64, m->reads);
		put_le128(page + 80, m->writes);
		put_le128(page + 112, 1);	/* power cycles */
		break;
	case 0x03:			/* Firmware Slot Information */
		size = 512;
		page[0] = 0x01;			/* AFI: slot 1 active */
		put_str(page + 8, 8, UNIFIED_VERSION_STR);
		break;
	default:
		unified_cmd_status(cmd, IO_UNIFIED_SCT_CMD_SPECIFIC, IO_UNIFIED_SC_INVALID_LOG_PAGE,
				   -EINVAL);
		return 0;
	}
	if ((off & 3) || off > size) {
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EINVAL);
		return 0;
	}
	n = size - off < want ? size - off : want;
	memcpy(dst, page + off, n);
	memset(dst + n, 0, want - n);	/* past the page: zeroes */
	cmd->len = (uint32_t)want;
	return 0;
}

static int emul_features(struct unified_engine *e, struct unified_cmd *cmd,
			 const struct io_unified_nvme_cmd *nc)
{
	struct emul *m = emul_of(&e->tgt);
	uint8_t fid = nc->cdw10 & 0xff;
	bool set = nc->opcode == IO_UNIFIED_NVME_ADMIN_SET_FEATURES;

	if (fid == 0 || fid >= NFEAT || fid == 0x03) {	/* 03h LBA Range Type: not kept */
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EINVAL);
		return 0;
	}
	cmd->len = 0;
	if (set) {
		if (nc->cdw10 & (1u << 31)) {	/* SV: nothing is saveable here */
			unified_cmd_status(cmd, IO_UNIFIED_SCT_CMD_SPECIFIC,
					   IO_UNIFIED_SC_FID_NOT_SAVEABLE, -EINVAL);
			return 0;
		}
		if (fid == 0x07) {		/* Number of Queues: one of each */
			cmd->result = 0;
			return 0;
		}
		m->feat[fid] = nc->cdw11;
		if (fid == 0x06)
			m->wce = nc->cdw11 & 1;
		return 0;
	}
	switch ((nc->cdw10 >> 8) & 7) {	/* SEL */
	case 0:				/* current */
		cmd->result = fid == 0x07 ? 0 : m->feat[fid];
		break;
	case 1:				/* default */
	case 2:				/* saved: none, so the default */
		cmd->result = feat_default(fid);
		break;
	case 3:				/* supported capabilities: changeable */
		cmd->result = fid == 0x07 ? 0 : 1u << 2;
		break;
	default:
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EINVAL);
	}
	return 0;
}

static int emul_admin(struct unified_engine *e, struct unified_cmd *cmd,
		      const struct io_unified_sqe *s)
{
	const struct io_unified_nvme_cmd *nc = &s->nvme_cmd;

	switch (nc->opcode) {
	case IO_UNIFIED_NVME_ADMIN_IDENTIFY:
		return emul_identify(e, cmd, nc);
	case IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE:
		return emul_log_page(e, cmd, nc);
	case IO_UNIFIED_NVME_ADMIN_GET_FEATURES:
	case IO_UNIFIED_NVME_ADMIN_SET_FEATURES:
		return emul_features(e, cmd, nc);
	}
	unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_OPCODE, 0);
	return 0;
}

/* slba + nlb inside the namespace, without overflow. */
static bool range_ok(const struct unified_target *t, uint64_t slba, uint64_t nlb)
{
	return slba < t->nlba && nlb <= t->nlba - slba;
}

static int lba_range_error(struct unified_cmd *cmd)
{
	unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_LBA_RANGE, -ERANGE);
	return 0;
}

static int write_protected(struct unified_cmd *cmd)
{
	unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_NS_WRITE_PROTECTED, -EROFS);
	return 0;
}

/* The io_uring SQ is full even after a submit: retry the SQE later if
 * nothing of this command was queued yet, else fail it (DSM mid-way). */
static int no_sqe(struct unified_target *t, struct unified_cmd *cmd)
{
	if (!cmd->pending) {
		unified_emul_release(t, cmd);	/* hold nothing while waiting */
		cmd->tgt_slot = -1;
		return -EBUSY;
	}
	unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INTERNAL, -EAGAIN);
	return 0;
}

/*
 * Deallocation: punch a hole (reads back zeroes, as DLFEAT promises).  A
 * block device that can neither discard-zero nor write-zeroes refuses that,
 * so there deallocation is carried out as zeroing, which keeps the promise.
 */
static int dealloc_mode(const struct unified_target *t)
{
	return t->no_punch ? FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE :
			     FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
}

static int emul_dsm(struct unified_engine *e, struct unified_cmd *cmd,
		    const struct io_unified_sqe *s)
{
	const struct unified_target *t = &e->tgt;
	uint32_t nr = (s->nvme_cmd.cdw10 & 0xff) + 1, i;
	struct unified_dsm_range r[256];

	cmd->len = 0;	/* DSM moves no data back */
	if (!(s->nvme_cmd.cdw11 & DSM_AD))
		return 0;	/* only hints: nothing to do */
	if (t->read_only)
		return write_protected(cmd);
	/* The range list is copied once out of shared memory (validate()
	 * made sure nr * 16 bytes lie in the data area); only the copy is
	 * checked and used, so a concurrent writer cannot slip a range in. */
	memcpy(r, unified_engine_data(e, cmd->buf_offset), nr * sizeof(r[0]));
	for (i = 0; i < nr; i++) {
		r[i].nlb = le32toh(r[i].nlb);
		r[i].slba = le64toh(r[i].slba);
		if (r[i].nlb && !range_ok(t, r[i].slba, r[i].nlb))
			return lba_range_error(cmd);
	}
	for (i = 0; i < nr; i++) {
		struct io_uring_sqe *sqe;

		if (!r[i].nlb)
			continue;
		sqe = unified_engine_get_sqe(e, cmd);
		if (!sqe)
			return no_sqe(&e->tgt, cmd);
		io_uring_prep_fallocate(sqe, 0, dealloc_mode(t), r[i].slba << t->lba_shift,
					(uint64_t)r[i].nlb << t->lba_shift);
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	return 0;
}

static void *cmp_slot(struct emul *m, struct unified_cmd *cmd)
{
	int i;

	for (i = 0; i < CMP_SLOTS; i++) {
		if (m->cmp_busy & (1u << i))
			continue;
		m->cmp_busy |= 1u << i;
		cmd->tgt_slot = (int16_t)i;
		return m->cmp_buf[i];
	}
	return NULL;
}

/* Flush after an operation (Write Zeroes with FUA, or a disabled write cache). */
static int link_flush(struct unified_engine *e, struct unified_cmd *cmd, struct io_uring_sqe *prev)
{
	struct io_uring_sqe *sqe;

	prev->flags |= IOSQE_IO_LINK;
	sqe = unified_engine_get_sqe(e, cmd);
	if (!sqe) {
		/* Cannot happen after a successful get (the SQ had room);
		 * fail the command rather than lose the durability promise. */
		prev->flags &= (uint8_t)~IOSQE_IO_LINK;
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INTERNAL, -EAGAIN);
		return 0;
	}
	io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
	sqe->flags |= IOSQE_FIXED_FILE;
	return 0;
}

int unified_emul_submit(struct unified_engine *e, struct unified_cmd *cmd,
			const struct io_unified_sqe *s)
{
	const struct io_unified_nvme_cmd *nc = &s->nvme_cmd;
	struct unified_target *t = &e->tgt;
	struct emul *m = emul_of(t);
	uint64_t slba = unified_rw_slba(s), nlb = (nc->cdw12 & 0xffff) + 1ull;
	struct io_uring_sqe *sqe;
	uint8_t *buf;
	int fixed = (int)(cmd->buf_offset / UNIFIED_FIXED_CHUNK);
	bool durable = (nc->cdw12 & CDW12_FUA) || !m->wce;

	if (cmd->admin)
		return emul_admin(e, cmd, s);

	switch (nc->opcode) {
	case IO_UNIFIED_NVME_CMD_READ:
	case IO_UNIFIED_NVME_CMD_WRITE:
	case IO_UNIFIED_NVME_CMD_COMPARE:
		if (!range_ok(t, slba, nlb))
			return lba_range_error(cmd);
		if (nc->opcode == IO_UNIFIED_NVME_CMD_WRITE && t->read_only)
			return write_protected(cmd);
		if (nc->opcode == IO_UNIFIED_NVME_CMD_COMPARE && !cmp_slot(m, cmd))
			return -EBUSY;	/* both slots busy: retry after a completion */
		sqe = unified_engine_get_sqe(e, cmd);
		if (!sqe)
			return no_sqe(t, cmd);
		buf = unified_engine_data(e, cmd->buf_offset);	/* validated: len > 0 */
		if (nc->opcode == IO_UNIFIED_NVME_CMD_READ) {
			io_uring_prep_read_fixed(sqe, 0, buf, cmd->len, slba << t->lba_shift, fixed);
		} else if (nc->opcode == IO_UNIFIED_NVME_CMD_WRITE) {
			io_uring_prep_write_fixed(sqe, 0, buf, cmd->len, slba << t->lba_shift, fixed);
			if (durable)
				sqe->rw_flags = RWF_DSYNC;
		} else {
			io_uring_prep_read(sqe, 0, m->cmp_buf[cmd->tgt_slot], cmd->len,
					   slba << t->lba_shift);
		}
		sqe->flags |= IOSQE_FIXED_FILE;
		return 0;
	case IO_UNIFIED_NVME_CMD_FLUSH:
		cmd->len = 0;
		if (t->read_only)
			return 0;	/* nothing can be dirty */
		sqe = unified_engine_get_sqe(e, cmd);
		if (!sqe)
			return no_sqe(t, cmd);
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
		sqe->flags |= IOSQE_FIXED_FILE;
		return 0;
	case IO_UNIFIED_NVME_CMD_WRITE_ZEROES:
		cmd->len = 0;
		if (!range_ok(t, slba, nlb))
			return lba_range_error(cmd);
		if (t->read_only)
			return write_protected(cmd);
		unified_engine_sq_room(e, 2);	/* the pair goes in together */
		sqe = unified_engine_get_sqe(e, cmd);
		if (!sqe)
			return no_sqe(t, cmd);
		io_uring_prep_fallocate(sqe, 0, (nc->cdw12 & CDW12_DEAC) ? dealloc_mode(t) :
					FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					slba << t->lba_shift, nlb << t->lba_shift);
		sqe->flags |= IOSQE_FIXED_FILE;
		return durable ? link_flush(e, cmd, sqe) : 0;
	case IO_UNIFIED_NVME_CMD_DSM:
		return emul_dsm(e, cmd, s);
	default:
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_OPCODE, 0);
		return 0;
	}
}

void unified_emul_complete(struct unified_engine *e, struct unified_cmd *cmd,
			   const struct io_uring_cqe *cqe)
{
	struct emul *m = emul_of(&e->tgt);
	bool xfer = cmd->opcode == IO_UNIFIED_NVME_CMD_READ || cmd->opcode == IO_UNIFIED_NVME_CMD_WRITE ||
		    cmd->opcode == IO_UNIFIED_NVME_CMD_COMPARE;

	if (cqe->res < 0) {
		if (cqe->res == -EIO && cmd->opcode == IO_UNIFIED_NVME_CMD_READ)
			unified_cmd_status(cmd, IO_UNIFIED_SCT_MEDIA, 0x81, cqe->res); /* Unrecovered Read Error */
		else if (cqe->res == -EIO && cmd->opcode == IO_UNIFIED_NVME_CMD_WRITE)
			unified_cmd_status(cmd, IO_UNIFIED_SCT_MEDIA, 0x80, cqe->res); /* Write Fault */
		else if (cqe->res == -ENOSPC || cqe->res == -EDQUOT)
			unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_CAPACITY_EXCEEDED,
					   cqe->res);
		else if (cqe->res == -EROFS || cqe->res == -EPERM)
			unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_NS_WRITE_PROTECTED,
					   cqe->res);
		else
			unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INTERNAL, cqe->res);
		return;
	}
	if (xfer && (uint32_t)cqe->res != cmd->len) {
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_DATA_XFER_ERROR, -EIO);
		return;
	}
	if (cmd->opcode == IO_UNIFIED_NVME_CMD_READ) {
		m->bytes_read += cmd->len;
		m->reads++;
	} else if (cmd->opcode == IO_UNIFIED_NVME_CMD_WRITE) {
		m->bytes_written += cmd->len;
		m->writes++;
	}
	if (cmd->opcode == IO_UNIFIED_NVME_CMD_COMPARE &&
	    memcmp(m->cmp_buf[cmd->tgt_slot], unified_engine_data(e, cmd->buf_offset), cmd->len))
		unified_cmd_status(cmd, IO_UNIFIED_SCT_MEDIA, IO_UNIFIED_SC_COMPARE_FAILED, 0);
}
