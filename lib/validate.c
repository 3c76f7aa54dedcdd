/* SPDX-License-Identifier: MIT */
/*
 * The trust boundary: every rule a submission entry must satisfy before
 * anything is issued.  The SQE given here is the engine's private copy
 * (copied once out of shared memory), so each field is read once.  The
 * rules are written down in docs/security.md; the kernel engine enforces
 * the same list.
 *
 * Data direction (NVMe Base Specification 2.0, 5.x opcode tables: bits 1:0
 * of every opcode): 00b no data, 01b host to controller, 10b controller to
 * host, 11b bidirectional.  A command with no data must not carry a buffer,
 * a data-moving command must carry one, and wherever the command's own
 * fields define how much it moves, the buffer must hold at least that much,
 * so the device never reads or writes past the buffer it was given.
 */
#include "internal.h"

/* I/O command set opcodes with a command-defined transfer size. */
#define NVM_IO_MGMT_RECV	0x12
#define NVM_IO_MGMT_SEND	0x1d
#define NVM_RESV_REGISTER	0x0d
#define NVM_RESV_REPORT		0x0e
#define NVM_RESV_ACQUIRE	0x11
#define NVM_RESV_RELEASE	0x15
#define NVM_COPY		0x19
#define NVM_ZONE_MGMT_SEND	0x79
#define NVM_ZONE_MGMT_RECV	0x7a
#define NVM_ZONE_APPEND		0x7d

/* Admin opcodes (NVMe Base Specification 2.0, Figure 28). */
#define ADM_DELETE_SQ		0x00
#define ADM_CREATE_SQ		0x01
#define ADM_GET_LOG_PAGE	0x02
#define ADM_DELETE_CQ		0x04
#define ADM_CREATE_CQ		0x05
#define ADM_IDENTIFY		0x06
#define ADM_ABORT		0x08
#define ADM_SET_FEATURES	0x09
#define ADM_GET_FEATURES	0x0a
#define ADM_ASYNC_EVENT		0x0c
#define ADM_FW_DOWNLOAD		0x11
#define ADM_KEEP_ALIVE		0x18
#define ADM_DIRECTIVE_RECV	0x1a
#define ADM_DOORBELL_CFG	0x7c
#define ADM_SECURITY_SEND	0x81
#define ADM_SECURITY_RECV	0x82
#define ADM_GET_LBA_STATUS	0x86
#define ADM_NS_MGMT		0x0d
#define ADM_NS_ATTACH		0x15
#define ADM_DIRECTIVE_SEND	0x19

enum admin_class { ADMIN_ALLOWED, ADMIN_DESTRUCTIVE, ADMIN_DRIVER_OWNED };

/*
 * Set Features by feature: the few a user may set without the option
 * (Temperature Threshold 04h, Timestamp 0Eh: they change no data and no
 * driver state), the ones the kernel driver owns on a real controller
 * (emulated targets have none: there they are allowed) (Number of Queues 07h,
 * Interrupt Coalescing 08h, Interrupt Vector Configuration 09h,
 * Asynchronous Event Configuration 0Bh, Autonomous Power State Transition
 * 0Ch, Host Memory Buffer 0Dh (the controller would DMA to host addresses
 * from the command), Keep Alive Timer 0Fh, Host Behavior Support 16h), and
 * all others (Volatile Write Cache, Power Management, Write Protection
 * Config, vendor...), which change durability, power or data access for
 * every user of the controller and need the option.  Saving (SV) always
 * needs it.
 */
static enum admin_class set_features_class(uint32_t cdw10, bool driver)
{
	uint8_t fid = cdw10 & 0xff;

	switch (fid) {
	case 0x07: case 0x08: case 0x09: case 0x0b: case 0x0c: case 0x0d: case 0x0f: case 0x16:
		/* an emulated controller has no driver to disturb */
		return driver ? ADMIN_DRIVER_OWNED : (cdw10 & (1u << 31)) ? ADMIN_DESTRUCTIVE :
		       ADMIN_ALLOWED;
	case 0x04: case 0x0e:
		return (cdw10 & (1u << 31)) ? ADMIN_DESTRUCTIVE : ADMIN_ALLOWED;
	}
	return ADMIN_DESTRUCTIVE;
}

/*
 * Admin commands a registration may send without UNIFIED_OPT_ADMIN_DESTRUCTIVE:
 * the ones that only read state, and Set Features of the harmless features.
 * Queue management, asynchronous events, the doorbell buffer and the
 * driver's features belong to the kernel driver and are refused always;
 * everything else (Format NVM, Sanitize, Namespace Management/Attachment,
 * Firmware Commit/Download, Security Send, Device Self-test, Directive
 * Send, Virtualization and vendor commands, other Set Features) can
 * destroy data or change the controller and needs the option.
 */
static enum admin_class admin_class(uint8_t opcode, uint32_t cdw10, bool driver)
{
	switch (opcode) {
	case ADM_SET_FEATURES:
		return set_features_class(cdw10, driver);
	case ADM_GET_LOG_PAGE:
	case ADM_IDENTIFY:
	case ADM_GET_FEATURES:
	case ADM_KEEP_ALIVE:
	case ADM_DIRECTIVE_RECV:
	case ADM_SECURITY_RECV:
	case ADM_GET_LBA_STATUS:
		return ADMIN_ALLOWED;
	case ADM_DELETE_SQ:
	case ADM_CREATE_SQ:
	case ADM_DELETE_CQ:
	case ADM_CREATE_CQ:
	case ADM_ABORT:
	case ADM_ASYNC_EVENT:
	case ADM_DOORBELL_CFG:
		return ADMIN_DRIVER_OWNED;
	default:
		return ADMIN_DESTRUCTIVE;
	}
}

/*
 * Get/Set Features identifiers whose feature has no data structure (the
 * value travels in CDW11 and the result): Arbitration, Power Management,
 * Temperature Threshold, Error Recovery, Volatile Write Cache, Number of
 * Queues, Interrupt Coalescing, Interrupt Vector Configuration, Write
 * Atomicity Normal, Asynchronous Event Configuration, Keep Alive Timer,
 * Non-Operational Power State Config, Software Progress Marker,
 * Reservation Notification Mask, Reservation Persistence.
 */
static bool feature_has_no_data(uint8_t fid)
{
	switch (fid) {
	case 0x01: case 0x02: case 0x04: case 0x05: case 0x06: case 0x07: case 0x08:
	case 0x09: case 0x0a: case 0x0b: case 0x0f: case 0x11: case 0x80: case 0x82:
	case 0x83:
		return true;
	}
	return false;
}

/* Bytes of a feature's data structure: the known ones, else a 4 KiB page
 * (the largest any defined feature uses). */
static uint64_t feature_bytes(uint8_t fid)
{
	switch (fid) {
	case 0x0c: return 256;	/* Autonomous Power State Transition */
	case 0x0e: return 8;	/* Timestamp */
	case 0x16: return 512;	/* Host Behavior Support */
	case 0x81: return 16;	/* Host Identifier (extended) */
	}
	return 4096;
}

/*
 * What the command itself says it moves, in bytes: sets *need and returns
 * true when the command's fields define it, false when only the SQE's len
 * can say (vendor and unknown opcodes).  *optional is set for commands
 * whose data depends on a field and may be absent (features without data).
 */
static bool command_bytes(const struct io_unified_nvme_cmd *nc, bool admin, uint32_t lba_shift,
			  uint64_t *need, bool *optional)
{
	uint64_t dw;

	*optional = false;
	if (admin) {
		switch (nc->opcode) {
		case ADM_IDENTIFY:
			*need = 4096;
			return true;
		case ADM_GET_LOG_PAGE:	/* NUMDU:NUMDL, 0-based dwords */
			dw = ((uint64_t)(nc->cdw11 & 0xffff) << 16) | (nc->cdw10 >> 16);
			*need = (dw + 1) * 4;
			return true;
		case ADM_GET_FEATURES:
		case ADM_SET_FEATURES:
			*optional = feature_has_no_data(nc->cdw10 & 0xff);
			*need = *optional ? 0 : feature_bytes(nc->cdw10 & 0xff);
			return true;
		case ADM_FW_DOWNLOAD:	/* NUMD, 0-based dwords */
		case ADM_DIRECTIVE_RECV:
		case ADM_DIRECTIVE_SEND:
			*need = ((uint64_t)nc->cdw10 + 1) * 4;
			return true;
		case ADM_NS_ATTACH:	/* a controller list */
			*need = 4096;
			return true;
		case ADM_NS_MGMT:	/* SEL 0h create: the host structure; 1h delete: none */
			*optional = (nc->cdw10 & 0xf) != 0;
			*need = *optional ? 0 : 4096;
			return true;
		case ADM_SECURITY_SEND:	/* TL / AL: bytes */
		case ADM_SECURITY_RECV:
			*need = nc->cdw11;
			return true;
		case ADM_GET_LBA_STATUS:	/* MNDW, 0-based dwords */
			*need = ((uint64_t)nc->cdw12 + 1) * 4;
			return true;
		}
		return false;
	}
	switch (nc->opcode) {
	case IO_UNIFIED_NVME_CMD_READ:
	case IO_UNIFIED_NVME_CMD_WRITE:
	case IO_UNIFIED_NVME_CMD_COMPARE:
	case NVM_ZONE_APPEND:	/* NLB, 0-based */
		*need = ((uint64_t)(nc->cdw12 & 0xffff) + 1) << lba_shift;
		return true;
	case IO_UNIFIED_NVME_CMD_DSM:	/* NR, 0-based 16-byte ranges */
		*need = ((nc->cdw10 & 0xff) + 1) * 16ull;
		return true;
	case NVM_COPY:		/* NR 0-based; format 0: 32-byte, 1: 40-byte entries */
		*need = ((nc->cdw12 & 0xff) + 1ull) * (((nc->cdw12 >> 8) & 0xf) ? 40 : 32);
		return true;
	case NVM_RESV_REGISTER:
	case NVM_RESV_ACQUIRE:
		*need = 16;
		return true;
	case NVM_RESV_RELEASE:
		*need = 8;
		return true;
	case NVM_RESV_REPORT:	/* NUMD, 0-based dwords */
		*need = ((uint64_t)nc->cdw10 + 1) * 4;
		return true;
	case NVM_ZONE_MGMT_RECV:	/* NUMD, 0-based dwords */
		*need = ((uint64_t)nc->cdw12 + 1) * 4;
		return true;
	case NVM_IO_MGMT_RECV:	/* NUMD, 0-based dwords */
		*need = ((uint64_t)nc->cdw11 + 1) * 4;
		return true;
	case NVM_IO_MGMT_SEND:	/* MO 1h: (MOS + 1) placement handles of 2 bytes;
				 * other operations are not defined: a page */
		*need = (nc->cdw10 & 0xff) == 1 ? (((uint64_t)(nc->cdw10 >> 16)) + 1) * 2 : 4096;
		return true;
	case NVM_ZONE_MGMT_SEND:
		/* ZSA 10h (Set Zone Descriptor Extension) sends one extension,
		 * whose size (ZDES, a multiple of 64 bytes) only the ZNS
		 * Identify knows: at least 64; other actions move no data. */
		*optional = (nc->cdw13 & 0xff) != 0x10;
		*need = *optional ? 0 : 64;
		return true;
	}
	return false;
}

static int fail(struct unified_cmd *cmd, uint8_t sct, uint8_t sc, int err)
{
	unified_cmd_status(cmd, sct, sc, err);
	return 1;
}

static int invalid_field(struct unified_cmd *cmd, int err)
{
	return fail(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, err);
}

int unified_validate(const struct unified_engine *e, struct unified_cmd *cmd,
		     const struct io_unified_sqe *s)
{
	const struct io_unified_nvme_cmd *nc = &s->nvme_cmd;
	const struct unified_target *t = &e->tgt;
	uint64_t len = s->len, off = s->buf_offset, need = 0;
	bool admin = s->flags & IO_UNIFIED_SQE_F_ADMIN, optional, known;
	unsigned dir = nc->opcode & 3;
	bool rw = !admin && (nc->opcode == IO_UNIFIED_NVME_CMD_READ ||
			     nc->opcode == IO_UNIFIED_NVME_CMD_WRITE ||
			     nc->opcode == IO_UNIFIED_NVME_CMD_COMPARE);

	if (s->flags & ~IO_UNIFIED_SQE_F_MASK || s->__resv[0] || s->__resv[1] || s->__resv[2] ||
	    s->__resv[3] || nc->flags || nc->rsvd1 || nc->rsvd2 || nc->metadata ||
	    nc->metadata_len)
		return invalid_field(cmd, -EINVAL);
	if (!(t->opcodes[admin][nc->opcode / 64] & (1ull << (nc->opcode & 63))))
		return fail(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_OPCODE, 0);
	if (admin) {
		enum admin_class c = admin_class(nc->opcode, nc->cdw10,
						 t->kind == UNIFIED_TARGET_NVME);

		if (c == ADMIN_DRIVER_OWNED ||
		    (c == ADMIN_DESTRUCTIVE && !(t->opt_flags & UNIFIED_OPT_ADMIN_DESTRUCTIVE)))
			return fail(cmd, IO_UNIFIED_SCT_MEDIA, IO_UNIFIED_SC_ACCESS_DENIED, -EPERM);
		/* Without the option, admin commands name no namespace, the
		 * registered one, or all (read-only commands); Identify's NSID
		 * is a starting point for lists, so any value is fine there. */
		if (!(t->opt_flags & UNIFIED_OPT_ADMIN_DESTRUCTIVE) && nc->opcode != ADM_IDENTIFY &&
		    nc->nsid && nc->nsid != t->nsid &&
		    !(nc->nsid == 0xffffffffu && nc->opcode != ADM_SET_FEATURES))
			return fail(cmd, IO_UNIFIED_SCT_MEDIA, IO_UNIFIED_SC_ACCESS_DENIED, -EPERM);
	}
	if (nc->data_len && len && nc->data_len != len)
		return invalid_field(cmd, -EINVAL);
	if (!len)
		len = nc->data_len;
	known = command_bytes(nc, admin, t->lba_shift, &need, &optional);
	if (!len)
		len = need;
	if (dir == 0 && len)
		return invalid_field(cmd, -EINVAL);	/* no-data command with a buffer */
	if (dir != 0 && !len && !optional)
		return invalid_field(cmd, -EINVAL);	/* data-moving command, no buffer */
	if (known && len < need)
		return invalid_field(cmd, -EINVAL);	/* the device would go past the buffer */
	if (rw && len != need)
		return invalid_field(cmd, -EINVAL);	/* must match the blocks moved */
	if (len) {
		if (len > t->max_xfer)
			return invalid_field(cmd, -E2BIG);
		if (off > e->data_size || len > e->data_size - off)
			return invalid_field(cmd, -EFAULT);
		if (off & (t->buf_align - 1))
			return fail(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_PRP_OFFSET_INVALID, -EINVAL);
		if (off / UNIFIED_FIXED_CHUNK != (off + len - 1) / UNIFIED_FIXED_CHUNK)
			return invalid_field(cmd, -EXDEV);
	}
	if (!admin && nc->nsid != t->nsid &&
	    !(nc->opcode == IO_UNIFIED_NVME_CMD_FLUSH && nc->nsid == 0xffffffffu))
		return fail(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_NS, -ENXIO);
	cmd->len = (uint32_t)len;
	return 0;
}
