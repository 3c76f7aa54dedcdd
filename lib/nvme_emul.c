/* SPDX-License-Identifier: MIT */
/*
 * NVMe command semantics over a file or block device (the emulated
 * targets): Read, Write (FUA = data-sync write), Flush, Write Zeroes,
 * Dataset Management deallocate, Compare, and Identify synthesised from the
 * geometry.  Anything else completes with Invalid Command Opcode.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#ifndef RWF_DSYNC
#define RWF_DSYNC 0x00000002
#endif

#define CDW12_FUA	(1u << 30)
#define CDW12_DEAC	(1u << 25)	/* Write Zeroes: deallocate allowed */
#define DSM_AD		(1u << 2)	/* Dataset Management: attribute deallocate */

static void put_le16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put_le32(uint8_t *p, uint32_t v) { put_le16(p, v); put_le16(p + 2, v >> 16); }
static void put_le64(uint8_t *p, uint64_t v) { put_le32(p, v); put_le32(p + 4, v >> 32); }

static void put_str(uint8_t *p, size_t n, const char *s)
{
	size_t l = strlen(s);

	memset(p, ' ', n);
	memcpy(p, s, l < n ? l : n);
}

/* Identify data for CNS 00h (namespace), 01h (controller), 02h (active ns list). */
void unified_emul_identify(const struct unified_target *t, uint8_t cns, uint32_t nsid, uint8_t *out)
{
	memset(out, 0, 4096);
	switch (cns) {
	case 0x00:
		put_le64(out + 0, t->nlba);	/* NSZE */
		put_le64(out + 8, t->nlba);	/* NCAP */
		put_le64(out + 16, t->nlba);	/* NUSE */
		out[25] = 0;			/* NLBAF: one format */
		out[26] = 0;			/* FLBAS: format 0 */
		out[33] = 0x09;			/* DLFEAT: deallocated reads zero; WZ may deallocate */
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
		put_str(out + 64, 8, "0.1.0");
		out[77] = (uint8_t)mdts;	/* MDTS in units of 4 KiB */
		put_le16(out + 78, 1);		/* CNTLID */
		put_le32(out + 80, 0x00010400);	/* VER 1.4 */
		out[111] = 1;			/* CNTRLTYPE: I/O controller */
		out[512] = 0x66;		/* SQES */
		out[513] = 0x44;		/* CQES */
		put_le32(out + 516, 1);		/* NN */
		put_le16(out + 520, (1u << 0) | (1u << 2) | (1u << 3)); /* ONCS: Compare, DSM, WZ */
		out[525] = 1;			/* VWC present: Flush matters */
		break;
	}
	case 0x02:
		if (nsid < t->nsid)
			put_le32(out, t->nsid);
		break;
	}
}

static int emul_admin(struct unified_engine *e, struct unified_cmd *cmd,
		      const struct io_unified_sqe *s)
{
	const struct io_unified_nvme_cmd *nc = &s->nvme_cmd;
	uint8_t cns = nc->cdw10 & 0xff;

	if (nc->opcode != IO_UNIFIED_NVME_ADMIN_IDENTIFY) {
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_OPCODE, 0);
		return 0;
	}
	if (cmd->len != 4096 || (nc->cdw10 >> 8)) {
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EINVAL);
		return 0;
	}
	switch (cns) {
	case 0x00:
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
	unified_emul_identify(&e->tgt, cns, nc->nsid, e->data + cmd->buf_offset);
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

/* The io_uring SQ is full even after a submit: retry the SQE later if
 * nothing of this command was queued yet, else fail it (DSM mid-way). */
static int no_sqe(struct unified_cmd *cmd)
{
	if (!cmd->pending)
		return -EBUSY;
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
	struct unified_dsm_range r;
	const uint8_t *src = e->data + cmd->buf_offset;

	/* validate() made sure the range list (nr * 16 bytes) lies in the data area. */
	if (!(s->nvme_cmd.cdw11 & DSM_AD)) {
		cmd->len = 0;	/* like the AD path: DSM moves no data */
		return 0;	/* only hints: nothing to do */
	}
	/* Check every range before changing anything.  Each entry is copied
	 * once out of shared memory and only the copy is used. */
	for (i = 0; i < nr; i++) {
		memcpy(&r, src + 16 * i, sizeof(r));
		r.nlb = le32toh(r.nlb);
		r.slba = le64toh(r.slba);
		if (r.nlb && !range_ok(t, r.slba, r.nlb))
			return lba_range_error(cmd);
	}
	for (i = 0; i < nr; i++) {
		struct io_uring_sqe *sqe;
		uint64_t slba, nlb;

		memcpy(&r, src + 16 * i, sizeof(r));
		slba = le64toh(r.slba);
		nlb = le32toh(r.nlb);
		if (!nlb || !range_ok(t, slba, nlb))
			continue;	/* changed under us: skip, never go out of range */
		sqe = unified_engine_get_sqe(e, cmd);
		if (!sqe)
			return no_sqe(cmd);
		io_uring_prep_fallocate(sqe, 0, dealloc_mode(t), slba << t->lba_shift,
					nlb << t->lba_shift);
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	cmd->len = 0;
	return 0;
}

static void *cmp_slot(struct unified_engine *e, struct unified_cmd *cmd)
{
	int i;

	for (i = 0; i < UNIFIED_CMP_SLOTS; i++) {
		if (e->cmp_busy & (1u << i))
			continue;
		e->cmp_busy |= 1u << i;
		cmd->cmp_slot = (int16_t)i;
		return e->cmp_buf[i];
	}
	return NULL;
}

int unified_emul_submit(struct unified_engine *e, struct unified_cmd *cmd,
			const struct io_unified_sqe *s)
{
	const struct io_unified_nvme_cmd *nc = &s->nvme_cmd;
	const struct unified_target *t = &e->tgt;
	uint64_t slba = unified_rw_slba(s), nlb = (nc->cdw12 & 0xffff) + 1ull;
	struct io_uring_sqe *sqe;
	void *buf;

	if (cmd->admin)
		return emul_admin(e, cmd, s);

	switch (nc->opcode) {
	case IO_UNIFIED_NVME_CMD_READ:
	case IO_UNIFIED_NVME_CMD_WRITE:
	case IO_UNIFIED_NVME_CMD_COMPARE:
		if (!range_ok(t, slba, nlb))
			return lba_range_error(cmd);
		if (nc->opcode == IO_UNIFIED_NVME_CMD_COMPARE) {
			buf = cmp_slot(e, cmd);
			if (!buf)
				return -EBUSY;	/* both slots busy: retry this SQE later */
		}
		sqe = unified_engine_get_sqe(e, cmd);
		if (!sqe)
			return no_sqe(cmd);
		buf = e->data + cmd->buf_offset;
		if (nc->opcode == IO_UNIFIED_NVME_CMD_READ) {
			io_uring_prep_read_fixed(sqe, 0, buf, cmd->len, slba << t->lba_shift,
						 (int)(cmd->buf_offset / UNIFIED_FIXED_CHUNK));
		} else if (nc->opcode == IO_UNIFIED_NVME_CMD_WRITE) {
			io_uring_prep_write_fixed(sqe, 0, buf, cmd->len, slba << t->lba_shift,
						  (int)(cmd->buf_offset / UNIFIED_FIXED_CHUNK));
			if (nc->cdw12 & CDW12_FUA)
				sqe->rw_flags = RWF_DSYNC;
		} else {
			io_uring_prep_read(sqe, 0, e->cmp_buf[cmd->cmp_slot], cmd->len,
					   slba << t->lba_shift);
		}
		sqe->flags |= IOSQE_FIXED_FILE;
		return 0;
	case IO_UNIFIED_NVME_CMD_FLUSH:
		sqe = unified_engine_get_sqe(e, cmd);
		if (!sqe)
			return no_sqe(cmd);
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
		sqe->flags |= IOSQE_FIXED_FILE;
		cmd->len = 0;
		return 0;
	case IO_UNIFIED_NVME_CMD_WRITE_ZEROES:
		if (!range_ok(t, slba, nlb))
			return lba_range_error(cmd);
		sqe = unified_engine_get_sqe(e, cmd);
		if (!sqe)
			return no_sqe(cmd);
		io_uring_prep_fallocate(sqe, 0, (nc->cdw12 & CDW12_DEAC) ? dealloc_mode(t) :
					FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					slba << t->lba_shift, nlb << t->lba_shift);
		sqe->flags |= IOSQE_FIXED_FILE;
		cmd->len = 0;
		return 0;
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
	bool xfer = cmd->opcode == IO_UNIFIED_NVME_CMD_READ || cmd->opcode == IO_UNIFIED_NVME_CMD_WRITE ||
		    cmd->opcode == IO_UNIFIED_NVME_CMD_COMPARE;

	if (cqe->res < 0) {
		if (cqe->res == -EIO && cmd->opcode == IO_UNIFIED_NVME_CMD_READ)
			unified_cmd_status(cmd, IO_UNIFIED_SCT_MEDIA, 0x81, cqe->res); /* Unrecovered Read Error */
		else if (cqe->res == -EIO && cmd->opcode == IO_UNIFIED_NVME_CMD_WRITE)
			unified_cmd_status(cmd, IO_UNIFIED_SCT_MEDIA, 0x80, cqe->res); /* Write Fault */
		else
			unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INTERNAL, cqe->res);
		return;
	}
	if (xfer && (uint32_t)cqe->res != cmd->len) {
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_DATA_XFER_ERROR, -EIO);
		return;
	}
	if (cmd->opcode == IO_UNIFIED_NVME_CMD_COMPARE && !cmd->admin &&
	    memcmp(e->cmp_buf[cmd->cmp_slot], e->data + cmd->buf_offset, cmd->len))
		unified_cmd_status(cmd, IO_UNIFIED_SCT_MEDIA, IO_UNIFIED_SC_COMPARE_FAILED, 0);
}
