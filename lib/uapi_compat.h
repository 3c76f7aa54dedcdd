/* SPDX-License-Identifier: MIT */
/*
 * Kernel uapi definitions libunified needs, with fallbacks for older system
 * headers (Debian 12 ships the 6.1 uapi and liburing 2.3).  Values checked
 * against the kernel's include/uapi/linux/{io_uring,nvme_ioctl,falloc}.h.
 */
#ifndef UNIFIED_UAPI_COMPAT_H
#define UNIFIED_UAPI_COMPAT_H

#include <linux/io_uring.h>
#include <linux/nvme_ioctl.h>
#include <linux/falloc.h>
#include "io_unified.h"

#ifndef IORING_SETUP_SQE128
#define IORING_SETUP_SQE128		(1U << 10)	/* 5.19 */
#endif
#ifndef IORING_SETUP_CQE32
#define IORING_SETUP_CQE32		(1U << 11)	/* 5.19 */
#endif
#ifndef IORING_URING_CMD_FIXED
#define IORING_URING_CMD_FIXED		(1U << 0)	/* 6.1 */
#endif
#ifndef IORING_OP_URING_CMD
#define IORING_OP_URING_CMD		46
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE		0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE		0x02
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE		0x10
#endif

/* Our NVMe command is the kernel's passthrough command, byte for byte. */
_Static_assert(sizeof(struct nvme_uring_cmd) == sizeof(struct io_unified_nvme_cmd),
	       "io_unified_nvme_cmd must match nvme_uring_cmd");
_Static_assert(__builtin_offsetof(struct nvme_uring_cmd, addr) ==
	       __builtin_offsetof(struct io_unified_nvme_cmd, addr), "addr offset");
_Static_assert(__builtin_offsetof(struct nvme_uring_cmd, timeout_ms) ==
	       __builtin_offsetof(struct io_unified_nvme_cmd, timeout_ms), "timeout offset");
_Static_assert(NVME_URING_CMD_IO == 0xc0484e80u, "NVME_URING_CMD_IO value");
_Static_assert(NVME_URING_CMD_ADMIN == 0xc0484e82u, "NVME_URING_CMD_ADMIN value");

#endif
