/* SPDX-License-Identifier: MIT */
/*
 * Not a program: a translation unit that names every struct of the ABI
 * header (include/io_unified.h) and every public struct and enum of the API
 * header (include/libunified.h), so that its debug info holds all of them.
 * tests/abi_check.sh compiles it with -g (never links it) and prints the
 * layouts with pahole; abi/io_unified.pahole is the stored result.
 *
 * abidw only describes the types reachable from the library's exported
 * functions, and the rings' entries (io_unified_sqe, io_unified_cqe,
 * io_unified_net_desc, ...) are reached through void pointers into shared
 * memory, not through any signature: this file is what checks them.
 *
 * A struct or enum added to either header belongs here too: the check
 * takes its list of types from the headers, and fails for one that this
 * file does not name (pahole would not find it).
 */
#include "libunified.h"

/* The shared-memory ABI, shared with the kernel. */
struct io_unified_ring abi_io_unified_ring;
struct io_unified_nvme_cmd abi_io_unified_nvme_cmd;
struct io_unified_sqe abi_io_unified_sqe;
struct io_unified_cqe abi_io_unified_cqe;
struct io_unified_region_desc abi_io_unified_region_desc;
struct io_unified_offsets abi_io_unified_offsets;
struct io_unified_reg abi_io_unified_reg;
struct io_unified_net_reg abi_io_unified_net_reg;
struct io_unified_net_desc abi_io_unified_net_desc;
struct io_unified_net_comp abi_io_unified_net_comp;

/* The library's public structs (the caller allocates them). */
struct unified_ring_view abi_unified_ring_view;
struct unified_sq abi_unified_sq;
struct unified_cq abi_unified_cq;
struct unified_dsm_range abi_unified_dsm_range;
struct unified_opts abi_unified_opts;
struct unified_target_info abi_unified_target_info;
struct unified_stats abi_unified_stats;
struct unified_net_rings abi_unified_net_rings;
struct unified_net_stats abi_unified_net_stats;

/* Public enums: their values are ABI too (stored in unified_opts.mode,
 * unified_target_info.kind). */
enum unified_engine_mode abi_unified_engine_mode;
enum unified_target_kind abi_unified_target_kind;
