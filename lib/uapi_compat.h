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

/*
 * io_uring zero-copy receive (zcrx), Linux 6.15+ (include/uapi/linux/io_uring.h
 * of 6.18).  Our own names, so newer system headers do not collide;
 * tests/net/zcrx_probe.c checks size and member offsets against the running
 * kernel's BTF.
 */
#define UNIFIED_IORING_REGISTER_ZCRX_IFQ	32
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER	(1U << 12)	/* 6.0 */
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN	(1U << 13)	/* 6.1 */
#endif

struct unified_zcrx_offsets {		/* struct io_uring_zcrx_offsets, 32 B */
	__u32	head;
	__u32	tail;
	__u32	rqes;
	__u32	__resv2;
	__u64	__resv[2];
};

struct unified_zcrx_area_reg {		/* struct io_uring_zcrx_area_reg, 48 B */
	__u64	addr;
	__u64	len;
	__u64	rq_area_token;		/* out */
	__u32	flags;
	__u32	dmabuf_fd;		/* 6.16+ */
	__u64	__resv2[2];
};

struct unified_zcrx_region_desc {	/* struct io_uring_region_desc, 64 B */
	__u64	user_addr;
	__u64	size;
	__u32	flags;			/* IORING_MEM_REGION_TYPE_USER = 1 */
	__u32	id;
	__u64	mmap_offset;
	__u64	__resv[4];
};

struct unified_zcrx_ifq_reg {		/* struct io_uring_zcrx_ifq_reg, 96 B */
	__u32	if_idx;
	__u32	if_rxq;
	__u32	rq_entries;
	__u32	flags;			/* 0 before 6.19 */
	__u64	area_ptr;
	__u64	region_ptr;
	struct unified_zcrx_offsets offsets;	/* out */
	__u32	zcrx_id;		/* out (6.16+) */
	__u32	__resv2;		/* rx_buf_len in 7.0 */
	__u64	__resv[3];
};

_Static_assert(sizeof(struct unified_zcrx_ifq_reg) == 96, "zcrx ifq reg");
_Static_assert(sizeof(struct unified_zcrx_area_reg) == 48, "zcrx area reg");
_Static_assert(sizeof(struct unified_zcrx_region_desc) == 64, "region desc");

/* Provided-buffer rings: incremental consumption (6.12), the flag of a
 * partially consumed buffer; struct io_uring_buf_reg's "pad" is "flags". */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC		2
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE		(1U << 4)
#endif
#ifndef IORING_RECV_MULTISHOT
#define IORING_RECV_MULTISHOT		(1U << 1)
#endif

#endif
