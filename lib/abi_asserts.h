/* SPDX-License-Identifier: MIT */
/*
 * Compile-time checks of the ABI header's layouts (include/io_unified.h).
 * They live here, not in the header, so the header stays identical to the
 * kernel's include/uapi/linux/io_unified.h, which carries no assertions
 * (the kernel checks the same layouts with BUILD_BUG_ON in
 * io_uring/unified.c).
 */
#ifndef UNIFIED_ABI_ASSERTS_H
#define UNIFIED_ABI_ASSERTS_H
#include "io_unified.h"

/* C and C++ spell the compile-time assertion differently (the kernel is C). */
#ifdef __cplusplus
#define IO_UNIFIED_ASSERT(c, m) static_assert(c, m)
#else
#define IO_UNIFIED_ASSERT(c, m) _Static_assert(c, m)
#endif
IO_UNIFIED_ASSERT(sizeof(struct io_unified_ring) == 192, "ring header size");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_ring, consumer) == 64, "consumer line");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_ring, flags) == 128, "flags line");
IO_UNIFIED_ASSERT(sizeof(struct io_unified_nvme_cmd) == 72, "nvme cmd = nvme_uring_cmd");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_nvme_cmd, addr) == 24, "addr");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_nvme_cmd, cdw10) == 40, "cdw10");
IO_UNIFIED_ASSERT(sizeof(struct io_unified_sqe) == 128, "sqe size");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_sqe, user_data) == 72, "sqe user_data");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_sqe, buf_offset) == 80, "sqe buf_offset");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_sqe, __resv) == 96, "sqe resv");
IO_UNIFIED_ASSERT(sizeof(struct io_unified_cqe) == 64, "cqe size");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_cqe, status) == 28, "cqe status");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_cqe, res) == 32, "cqe res");
IO_UNIFIED_ASSERT(sizeof(struct io_unified_region_desc) == 64, "region desc size");
IO_UNIFIED_ASSERT(sizeof(struct io_unified_offsets) == 64, "offsets size");
IO_UNIFIED_ASSERT(sizeof(struct io_unified_reg) == 136, "reg size");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_reg, offsets) == 40, "reg offsets");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_reg, net_ptr) == 104, "reg net_ptr");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_offsets, net) == 40, "offsets net");
IO_UNIFIED_ASSERT(sizeof(struct io_unified_net_reg) == 112, "net reg size");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_net_reg, fill_ring) == 48, "net reg out");
IO_UNIFIED_ASSERT(sizeof(struct io_unified_net_desc) == 64, "net desc size");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_net_desc, flags) == 24, "net desc flags");
IO_UNIFIED_ASSERT(__builtin_offsetof(struct io_unified_net_desc, peer_addr) == 40, "net desc peer");
IO_UNIFIED_ASSERT(sizeof(struct io_unified_net_comp) == 16, "net comp size");
#undef IO_UNIFIED_ASSERT

#endif
