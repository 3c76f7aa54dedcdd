/* SPDX-License-Identifier: MIT */
/* libunified private definitions: context, user engine, target table. */
#ifndef UNIFIED_INTERNAL_H
#define UNIFIED_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <liburing.h>
#include "libunified.h"
#include "uapi_compat.h"

#define UNIFIED_EXPORT __attribute__((visibility("default")))

/* Fixed-buffer chunks: io_uring limits one registered buffer to 1 GiB. */
#define UNIFIED_FIXED_CHUNK	(1ull << 30)
/* Most registered buffers an io_uring takes (IORING_MAX_REG_BUFFERS). */
#define UNIFIED_MAX_WINDOWS	16384u

/* Emulated targets: largest transfer (reported as MDTS) and compare slots. */
#define UNIFIED_EMUL_MAX_XFER	(1u << 20)
#define UNIFIED_CMP_SLOTS	2

/* Statistics are written by one thread and may be read by another. */
#define STAT_ADD(field, n) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)

/* Records a sentence for unified_errmsg() and returns -err. */
int unified_set_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void unified_clear_err(void);

struct unified_engine;
struct unified_target;

/* One command between SQE consumption and CQE publication. */
struct unified_cmd {
	uint64_t user_data;
	uint64_t buf_offset;
	uint64_t result;
	uint32_t len;		/* bytes reported on success */
	uint32_t pending;	/* io_uring operations still outstanding */
	int32_t res;		/* first host errno, 0 if none */
	uint16_t status;	/* NVMe status so far */
	uint16_t cqe_flags;
	uint8_t opcode;
	uint8_t admin;
	int16_t cmp_slot;	/* compare scratch slot, -1 if none */
	uint32_t next_free;
};

/*
 * A target: one file implements one of these (the xNVMe way).  submit()
 * either queues io_uring operations for @cmd (setting cmd->pending) and
 * returns 0, completes @cmd inline (status set, pending 0) and returns 0,
 * or returns -EBUSY to be called again later with the same SQE.
 * complete() receives each io_uring CQE that belongs to @cmd.
 */
struct unified_target_ops {
	const char *name;
	int (*open)(struct unified_target *t, const char *path, const struct unified_opts *o);
	void (*close)(struct unified_target *t);
	int (*submit)(struct unified_engine *e, struct unified_cmd *cmd,
		      const struct io_unified_sqe *sqe);
	void (*complete)(struct unified_engine *e, struct unified_cmd *cmd,
			 const struct io_uring_cqe *cqe);
};

struct unified_target {
	const struct unified_target_ops *ops;
	int fd;			/* data path: file, block device or /dev/ngXnY */
	int ctrl_fd;		/* NVMe controller node for admin, -1 if none */
	uint32_t kind;		/* enum unified_target_kind */
	uint32_t nsid;
	uint32_t lba_shift;
	uint32_t max_xfer;
	uint32_t buf_align;	/* required alignment of buf_offset */
	uint32_t ring_flags;	/* io_uring setup flags the target needs */
	uint32_t iopoll;
	/*
	 * Fixed-buffer registration mode.  0: the data area in 1 GiB chunks.
	 * Non-zero: overlapping windows of this many bytes, window k ending at
	 * page k + 1, for kernels before 6.12 whose NVMe passthrough rejects a
	 * registered buffer with more pages left after the I/O start than the
	 * queue's max_segments (block/blk-map.c blk_rq_map_user_bvec).
	 */
	uint32_t fixed_window;
	bool no_fixed;		/* too many windows: pass user addresses instead */
	bool no_punch;		/* block device cannot deallocate: zero instead */
	bool created;		/* file target: the file was created by open() */
	bool committed;		/* registration succeeded: close() undoes nothing */
	int64_t old_size;	/* file target: size before open() grew it, or -1 */
	uint64_t nlba;
	char path[256];
	void *priv;
};

extern const struct unified_target_ops unified_target_file_ops;
extern const struct unified_target_ops unified_target_block_ops;
extern const struct unified_target_ops unified_target_nvme_ops;

/* Private mirror of a ring the engine serves; never trusts shared fields. */
struct unified_engine_ring {
	uint32_t *producer;
	uint32_t *consumer;
	uint32_t *flags;
	uint32_t mask;
	uint32_t size;
	uint32_t cached_prod;	/* SQ: last sane producer; CQ: next slot to write */
	uint32_t cached_cons;	/* SQ: next to consume; CQ: last consumer seen */
};

struct unified_engine {
	struct io_uring ring;
	bool ring_ready;
	struct unified_target tgt;
	struct unified_engine_ring sq;
	struct unified_engine_ring cq;
	struct io_unified_sqe *sqes;
	struct io_unified_cqe *cqes;
	uint8_t *data;		/* start of the buffer area */
	uint64_t data_size;

	struct unified_cmd *cmds;
	uint32_t ncmds;
	uint32_t free_head;	/* free list of cmds, UINT32_MAX = empty */
	uint32_t inflight;	/* consumed, CQE not yet written */
	uint32_t cq_unpublished; /* CQEs written past the published producer */
	uint32_t *done;		/* finished cmds waiting for CQ room (FIFO) */
	uint32_t done_head, done_count;

	void *cmp_buf[UNIFIED_CMP_SLOTS];
	uint32_t cmp_busy;	/* bitmask of compare slots in use */

	/* Engine thread (UNIFIED_MODE_THREAD). */
	uint32_t mode;
	pthread_t thread;
	bool thread_running;
	int stop;		/* atomic */
	int draining;		/* atomic: abort queued SQEs */
	int doorbell_fd;	/* eventfd read armed in the ring to wake the thread */
	uint64_t doorbell_val;
	bool doorbell_armed;
	uint32_t idle_spin_us;
	int thread_err;

	struct unified_stats stats;
};

struct unified_ctx {
	void *region;
	size_t region_size;
	bool region_owned;	/* we mmap'ed it */
	struct io_unified_offsets off;
	uint32_t sq_entries, cq_entries, buf_entries, buf_size;
	uint8_t *buffers;
	uint64_t data_size;

	/* Buffer allocator: a stack of free buffer indices + a bitmap. */
	uint32_t *buf_stack;
	uint32_t buf_top;
	uint64_t *buf_used;

	struct unified_engine eng;
	struct unified_target_info info;
};

/* region.c */
int unified_layout(struct io_unified_reg *reg, uint64_t *total);
int unified_region_map(struct unified_ctx *ctx, struct io_unified_reg *reg,
		       struct io_unified_region_desc *desc);
void unified_region_unmap(struct unified_ctx *ctx);
void unified_region_init_rings(struct unified_ctx *ctx);

/* buffers.c */
int unified_buffers_init(struct unified_ctx *ctx);
void unified_buffers_fini(struct unified_ctx *ctx);

/* engine.c */
int unified_engine_start(struct unified_ctx *ctx, const struct unified_opts *o);
int unified_engine_run(struct unified_ctx *ctx);
void unified_engine_stop(struct unified_ctx *ctx);
int unified_engine_drain(struct unified_engine *e);
int unified_engine_pass(struct unified_engine *e, bool wait_one);
void unified_cmd_finish(struct unified_engine *e, struct unified_cmd *cmd);
struct io_uring_sqe *unified_engine_get_sqe(struct unified_engine *e, struct unified_cmd *cmd);
uint32_t unified_cmd_index(struct unified_engine *e, const struct unified_cmd *cmd);
uint16_t unified_fixed_index(const struct unified_engine *e, uint64_t off, uint32_t len);

static inline void unified_cmd_status(struct unified_cmd *cmd, uint8_t sct, uint8_t sc, int err)
{
	if (cmd->status)
		return;		/* keep the first failure */
	cmd->status = IO_UNIFIED_STATUS(sct, sc) | IO_UNIFIED_STATUS_DNR;
	cmd->cqe_flags |= IO_UNIFIED_CQE_F_HOST;
	if (err) {
		cmd->res = err;
		cmd->cqe_flags |= IO_UNIFIED_CQE_F_ERRNO;
	}
}

/* nvme_emul.c: NVMe semantics over a file or block device. */
int unified_emul_submit(struct unified_engine *e, struct unified_cmd *cmd,
			const struct io_unified_sqe *sqe);
void unified_emul_complete(struct unified_engine *e, struct unified_cmd *cmd,
			   const struct io_uring_cqe *cqe);
void unified_emul_identify(const struct unified_target *t, uint8_t cns, uint32_t nsid, uint8_t *out);

/* Length in bytes of Read/Write/Compare from NLB, or 0. */
static inline uint64_t unified_rw_bytes(const struct io_unified_sqe *sqe, uint32_t lba_shift)
{
	return ((uint64_t)(sqe->nvme_cmd.cdw12 & 0xffff) + 1) << lba_shift;
}

static inline uint64_t unified_rw_slba(const struct io_unified_sqe *sqe)
{
	return ((uint64_t)sqe->nvme_cmd.cdw11 << 32) | sqe->nvme_cmd.cdw10;
}

#endif
