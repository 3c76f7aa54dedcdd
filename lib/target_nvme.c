/* SPDX-License-Identifier: MIT */
/*
 * Target: an NVMe namespace through its generic char device (/dev/ngXnY).
 *
 * I/O commands go to the namespace as IORING_OP_URING_CMD/NVME_URING_CMD_IO
 * on an SQE128|CQE32 ring with the data in the registered buffer area
 * (IORING_URING_CMD_FIXED), so the controller DMAs straight into the region.
 * Admin commands go to the controller node (/dev/nvmeX) as
 * NVME_URING_CMD_ADMIN; on an IOPOLL ring, where the kernel refuses admin
 * passthrough, they are issued synchronously with NVME_IOCTL_ADMIN64_CMD
 * instead, so they never touch the polled ring.
 *
 * The controller's status and result pass through unchanged; a negative
 * errno from the kernel becomes a host-side status in the unified CQE.
 * Opcodes the engine does not know are passed through after the buffer
 * checks (vendor and unusual commands are the point of passthrough).
 */
#include <dirent.h>
#include <endian.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include "internal.h"

#define NVME_FIXED_FILE_NS	0
#define NVME_FIXED_FILE_CTRL	1

struct nvme_priv {
	int ctrl_idx;
	int ns_idx;
	uint8_t mdts;
};

static bool kernel_older_than(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return true;	/* unknown: the windows work everywhere */
	return ma < major || (ma == major && mi < minor);
}

/* "/dev/ng0n1" -> ctrl 0, ns 1; also accepts the multipath form "ng0c1n1"? no:
 * the generic node is always ng<ctrl>n<ns> for the namespace head. */
static int parse_ng_name(const char *path, int *ctrl, int *ns)
{
	const char *base = strrchr(path, '/');
	char tail;

	base = base ? base + 1 : path;
	if (sscanf(base, "ng%dn%d%c", ctrl, ns, &tail) != 2)
		return -1;
	return 0;
}

/*
 * The controller node for admin commands.  /dev/ngXnY's X is the subsystem
 * instance under native multipath, not a controller number, so ask sysfs:
 * the generic node's device is either the controller (nvmeN) or the
 * subsystem, whose directory lists its controllers.  Falls back to /dev/nvmeX.
 */
static void find_ctrl(const char *base, int ctrl_idx, char *out, size_t len)
{
	char p[128], rp[PATH_MAX];
	const char *b;
	int n;
	char tail;

	snprintf(out, len, "/dev/nvme%d", ctrl_idx);
	snprintf(p, sizeof(p), "/sys/class/nvme-generic/%s/device", base);
	if (!realpath(p, rp))
		return;
	b = strrchr(rp, '/');
	b = b ? b + 1 : rp;
	if (sscanf(b, "nvme%d%c", &n, &tail) == 1) {
		snprintf(out, len, "/dev/nvme%d", n);
	} else if (!strncmp(b, "nvme-subsys", 11)) {
		DIR *d = opendir(rp);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			if (sscanf(de->d_name, "nvme%d%c", &n, &tail) == 1) {
				snprintf(out, len, "/dev/nvme%d", n);
				break;
			}
		}
		if (d)
			closedir(d);
	}
}

static int admin_ioctl(int fd, uint8_t opcode, uint32_t nsid, uint32_t cdw10, void *buf,
		       uint32_t len, uint64_t *result)
{
	struct nvme_passthru_cmd64 c;
	int r;

	memset(&c, 0, sizeof(c));
	c.opcode = opcode;
	c.nsid = nsid;
	c.cdw10 = cdw10;
	c.addr = (uintptr_t)buf;
	c.data_len = len;
	c.timeout_ms = UNIFIED_DRAIN_TIMEOUT_MS;	/* registration waits no longer than a drain */
	r = ioctl(fd, NVME_IOCTL_ADMIN64_CMD, &c);
	if (r < 0)
		return -errno;
	if (result)
		*result = c.result;
	return r;	/* > 0: NVMe status from the controller */
}

static int nvme_init(struct unified_target *t, const struct stat *st, const struct unified_opts *o)
{
	const char *path = t->path;
	struct nvme_priv *p;
	char ctrl_path[64], sys[128];
	uint8_t *id;
	uint64_t v;
	int nsid, r, flbas;

	p = calloc(1, sizeof(*p));
	if (!p)
		return unified_set_err(ENOMEM, "no memory");
	t->priv = p;
	if (parse_ng_name(path, &p->ctrl_idx, &p->ns_idx))
		return unified_set_err(ENODEV, "%s is a character device but not an NVMe generic "
				       "namespace node (/dev/ngXnY)", path);
	(void)st;
	if (t->read_only)
		return unified_set_err(EACCES, "%s: NVMe passthrough needs the node open for writing",
				       path);
	nsid = ioctl(t->fd, NVME_IOCTL_ID);
	if (nsid <= 0)
		return unified_set_err(ENODEV, "%s: NVME_IOCTL_ID failed: %s", path, strerror(errno));
	t->nsid = (uint32_t)nsid;

	if (o->ctrl_path) {
		snprintf(ctrl_path, sizeof(ctrl_path), "%s", o->ctrl_path);
	} else {
		const char *base = strrchr(path, '/');

		find_ctrl(base ? base + 1 : path, p->ctrl_idx, ctrl_path, sizeof(ctrl_path));
	}
	t->ctrl_fd = open(ctrl_path, O_RDWR | O_CLOEXEC);
	if (t->ctrl_fd < 0)
		return unified_set_err(errno, "cannot open the controller node %s for admin commands: %s",
				       ctrl_path, strerror(errno));

	/* Identify the namespace and the controller: LBA size, capacity, MDTS. */
	if (posix_memalign((void **)&id, 4096, 4096))
		return unified_set_err(ENOMEM, "no memory");
	r = admin_ioctl(t->fd, IO_UNIFIED_NVME_ADMIN_IDENTIFY, t->nsid, 0x00, id, 4096, NULL);
	if (r == -EACCES || r == -EPERM) {
		free(id);
		return unified_set_err(EACCES, "%s: NVMe passthrough needs CAP_SYS_ADMIN on this kernel "
				       "(Identify was refused with %s); run as root or grant "
				       "CAP_SYS_ADMIN", path, strerror(-r));
	}
	if (r) {
		free(id);
		return unified_set_err(r < 0 ? -r : EIO, "%s: Identify Namespace failed: %s", path,
				       r < 0 ? strerror(-r) : unified_status_str((uint16_t)r));
	}
	memcpy(&t->nlba, id + 0, 8);
	t->nlba = le64toh(t->nlba);
	flbas = (id[26] & 0x0f) | ((id[26] >> 1) & 0x30);
	t->lba_shift = id[128 + 4 * flbas + 2];
	if (id[128 + 4 * flbas] | id[128 + 4 * flbas + 1]) {
		/* Metadata per block (extended LBA or separate): the data length
		 * checks would be wrong and a separate buffer is not supported. */
		unsigned ms = id[128 + 4 * flbas] | (id[128 + 4 * flbas + 1] << 8);

		free(id);
		return unified_set_err(EOPNOTSUPP, "%s: the namespace is formatted with %u bytes of "
				       "metadata per block, which this target does not support yet",
				       path, ms);
	}
	if (t->lba_shift < 9 || t->lba_shift > 16) {
		free(id);
		return unified_set_err(EOPNOTSUPP, "%s: unsupported LBA data size 2^%u", path, t->lba_shift);
	}
	r = admin_ioctl(t->fd, IO_UNIFIED_NVME_ADMIN_IDENTIFY, 0, 0x01, id, 4096, NULL);
	if (r) {
		free(id);
		return unified_set_err(r < 0 ? -r : EIO, "%s: Identify Controller failed", ctrl_path);
	}
	p->mdts = id[77];
	free(id);
	/* MDTS is in units of the minimum memory page size (4 KiB on every
	 * controller Linux drives by default); 0 means no limit.  The kernel's
	 * own limit (max_hw_sectors_kb) applies on top. */
	t->max_xfer = p->mdts ? (p->mdts >= 20 ? 1u << 31 : 4096u << p->mdts) : 1u << 31;
	snprintf(sys, sizeof(sys), "/sys/block/nvme%dn%d/queue/max_hw_sectors_kb", p->ctrl_idx,
		 p->ns_idx);
	if (!unified_read_u64_file(sys, &v) && v && v * 1024 < t->max_xfer)
		t->max_xfer = (uint32_t)(v * 1024);

	/* Before Linux 6.12 a fixed-buffer passthrough fails with -EINVAL when
	 * the registered buffer has more pages after the I/O start than the
	 * queue's max_segments: register per-I/O-sized windows there. */
	if (kernel_older_than(6, 12))
		t->fixed_window = t->max_xfer + 4096;
	t->buf_align = 4;	/* NVMe needs dword-aligned data; page-aligned avoids bounces */
	t->ring_flags = IORING_SETUP_SQE128 | IORING_SETUP_CQE32;
	if (o->flags & UNIFIED_OPT_IOPOLL) {
		snprintf(sys, sizeof(sys), "/sys/block/nvme%dn%d/queue/io_poll", p->ctrl_idx, p->ns_idx);
		if (!unified_read_u64_file(sys, &v) && v == 1) {
			t->ring_flags |= IORING_SETUP_IOPOLL;
			t->iopoll = 1;
		}
		/* else: no poll queues (nvme.poll_queues=0); interrupts it is,
		 * and unified_target_info() reports iopoll = 0. */
	}
	return 0;
}

static void nvme_close(struct unified_target *t)
{
	free(t->priv);
	t->priv = NULL;
}

static void fill_cmd(struct io_unified_nvme_cmd *dst, const struct io_unified_nvme_cmd *src,
		     uint64_t addr, uint32_t len)
{
	*dst = *src;
	/* Never forward user pointers: the data address is ours. */
	dst->addr = len ? addr : 0;
	dst->data_len = len;
	dst->metadata = 0;
	dst->metadata_len = 0;
}

static void host_error(struct unified_cmd *cmd, int err)
{
	unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INTERNAL, err);
}

static int nvme_submit(struct unified_engine *e, struct unified_cmd *cmd,
		       const struct io_unified_sqe *s)
{
	struct unified_target *t = &e->tgt;
	uint8_t *data = cmd->len ? unified_engine_data(e, cmd->buf_offset) : NULL;
	struct io_uring_sqe *sqe;

	if (cmd->admin && t->iopoll) {
		/* Admin commands never go on the polled ring. */
		struct nvme_passthru_cmd64 c;
		int r;

		memset(&c, 0, sizeof(c));
		fill_cmd((struct io_unified_nvme_cmd *)&c, &s->nvme_cmd, (uintptr_t)data, cmd->len);
		c.result = 0;
		/* This blocks the engine: never longer than a drain may wait
		 * (0 would be the driver's admin_timeout, 60 s by default). */
		if (!c.timeout_ms || c.timeout_ms > e->drain_timeout_ms)
			c.timeout_ms = e->drain_timeout_ms;
		r = ioctl(t->ctrl_fd, NVME_IOCTL_ADMIN64_CMD, &c);
		if (r < 0)
			host_error(cmd, -errno);
		else if (r > 0)
			cmd->status = (uint16_t)r;
		cmd->result = c.result;
		return 0;
	}
	sqe = unified_engine_get_sqe(e, cmd);
	if (!sqe)
		return -EBUSY;	/* io_uring SQ full: take this SQE again later */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = cmd->admin ? NVME_FIXED_FILE_CTRL : NVME_FIXED_FILE_NS;
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = cmd->admin ? NVME_URING_CMD_ADMIN : NVME_URING_CMD_IO;
	if (cmd->len && !t->no_fixed) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = unified_fixed_index(e, cmd->buf_offset, cmd->len);
	}
	fill_cmd((struct io_unified_nvme_cmd *)sqe->cmd, &s->nvme_cmd, (uintptr_t)data, cmd->len);
	return 0;
}

static void nvme_complete(struct unified_engine *e, struct unified_cmd *cmd,
			  const struct io_uring_cqe *cqe)
{
	(void)e;
	if (cqe->res < 0) {
		host_error(cmd, cqe->res);
		return;
	}
	/* 0 = success, > 0 = the controller's status field, unchanged. */
	cmd->status = (uint16_t)cqe->res;
	cmd->result = cqe->big_cqe[0];
}

const struct unified_target_ops unified_target_nvme_ops = {
	.name = "nvme",
	.init = nvme_init,
	.close = nvme_close,
	.submit = nvme_submit,
	.complete = nvme_complete,
};
