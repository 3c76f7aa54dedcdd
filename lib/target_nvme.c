/* SPDX-License-Identifier: MIT */
/* Target: NVMe namespace generic char device (/dev/ngXnY), passthrough. */
#include "internal.h"

static int nvme_open(struct unified_target *t, const char *path, const struct unified_opts *o)
{
	(void)t; (void)o;
	return unified_set_err(EOPNOTSUPP, "%s: NVMe passthrough target not built yet", path);
}

static int nvme_submit(struct unified_engine *e, struct unified_cmd *cmd, const struct io_unified_sqe *s)
{
	(void)e; (void)s;
	unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_OPCODE, 0);
	return 0;
}

static void nvme_complete(struct unified_engine *e, struct unified_cmd *cmd, const struct io_uring_cqe *cqe)
{
	(void)e; (void)cmd; (void)cqe;
}

const struct unified_target_ops unified_target_nvme_ops = {
	.name = "nvme",
	.open = nvme_open,
	.submit = nvme_submit,
	.complete = nvme_complete,
};
