/* SPDX-License-Identifier: MIT */
/*
 * The io_uring glue of the user engine: ring setup with the data area as
 * fixed buffers and the target as fixed files, SQE allocation for targets,
 * submission (with the waiting folded into the same io_uring_enter()), and
 * reaping io_uring CQEs back to commands.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include "internal.h"

#define UD_DOORBELL	UINT64_MAX
#define UD_CANCEL	(UINT64_MAX - 1)

/* Registered-buffer index that covers [off, off + len) of the data area. */
uint16_t unified_fixed_index(const struct unified_engine *e, uint64_t off, uint32_t len)
{
	if (e->tgt.fixed_window)
		return (uint16_t)((off + (len ? len : 1) - 1) / 4096);
	return (uint16_t)(off / UNIFIED_FIXED_CHUNK);
}

/*
 * Record an engine error for the next unified_kick()/unified_enter() (each
 * reported once; an application waiting in unified_enter() is woken).  A
 * @sticky one (the engine failed, not the application's ring) is also kept
 * for unified_unregister(): the first one.
 */
void unified_engine_note_err(struct unified_engine *e, int err, bool sticky)
{
	int zero = 0;

	if (sticky && !e->first_err)
		e->first_err = err;
	if (__atomic_compare_exchange_n(&e->pending_err, &zero, err, false, __ATOMIC_RELEASE,
					__ATOMIC_RELAXED))
		unified_app_wake(e);
}

/* An SQE of the engine's ring, zeroed when 128 bytes (SQE128), or NULL
 * when the ring has no room even after submitting what is queued. */
struct io_uring_sqe *unified_uring_sqe(struct unified_engine *e)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);

	if (!sqe) {
		io_uring_submit(&e->ring);
		sqe = io_uring_get_sqe(&e->ring);
		if (!sqe)
			return NULL;
	}
	if (e->tgt.ring_flags & IORING_SETUP_SQE128)
		memset(sqe, 0, 2 * sizeof(*sqe));
	return sqe;
}

struct io_uring_sqe *unified_engine_get_sqe(struct unified_engine *e, struct unified_cmd *cmd)
{
	struct io_uring_sqe *sqe = unified_uring_sqe(e);

	if (!sqe)
		return NULL;
	sqe->user_data = (uint64_t)(cmd - e->cmds);
	cmd->pending++;
	return sqe;
}

void unified_engine_sq_room(struct unified_engine *e, unsigned n)
{
	if (io_uring_sq_space_left(&e->ring) < n)
		io_uring_submit(&e->ring);
}

void unified_uring_arm_doorbell(struct unified_engine *e)
{
	struct io_uring_sqe *sqe;

	if (e->doorbell_fd < 0 || e->doorbell_armed)
		return;
	sqe = io_uring_get_sqe(&e->ring);
	if (!sqe) {
		io_uring_submit(&e->ring);
		sqe = io_uring_get_sqe(&e->ring);
		if (!sqe)
			return;
	}
	io_uring_prep_read(sqe, e->doorbell_fd, &e->doorbell_val, sizeof(e->doorbell_val), 0);
	sqe->user_data = UD_DOORBELL;
	e->doorbell_armed = true;
}

/* Queue an IORING_OP_ASYNC_CANCEL of everything in flight (teardown). */
void unified_uring_cancel_all(struct unified_engine *e)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);

	if (sqe) {
		io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY);
		sqe->user_data = UD_CANCEL;
	}
}

/*
 * Submit what is queued and, if @wait_nr, wait for that many io_uring
 * completions in the same system call (bounded by @ts if not NULL).
 * Returns 0, or -EINTR when a signal interrupted the wait.  Transient
 * refusals (-EAGAIN, -EBUSY: retried on the next pass) and the timeout are
 * not errors; anything else is recorded with unified_engine_note_err() and
 * returned.
 */
int unified_uring_submit(struct unified_engine *e, uint32_t wait_nr, struct __kernel_timespec *ts)
{
	struct io_uring_cqe *cqe;
	int r;

	if (!wait_nr)
		r = io_uring_submit(&e->ring);
	else if (ts)
		r = io_uring_submit_and_wait_timeout(&e->ring, &cqe, wait_nr, ts, NULL);
	else
		r = io_uring_submit_and_wait(&e->ring, wait_nr);
	if (r >= 0 || r == -EAGAIN || r == -EBUSY || r == -ETIME)
		return 0;
	if (r == -EINTR)
		return r;
	unified_engine_note_err(e, r, true);
	return r;
}

uint32_t unified_uring_reap(struct unified_engine *e)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&e->ring, head, cqe) {
		n++;
		if (cqe->user_data == UD_DOORBELL) {
			e->doorbell_armed = false;
			continue;
		}
		if ((cqe->user_data & ~UD_NET_SLOT_MASK & ~(0xffull << UD_NET_OP_SHIFT)) == UD_NET) {
			unified_net_complete(e, cqe);
			continue;
		}
		if (cqe->user_data >= e->ncmds)
			continue;	/* UD_CANCEL */
		{
			struct unified_cmd *cmd = &e->cmds[cqe->user_data];

			e->tgt.ops->complete(e, cmd, cqe);
			if (cmd->pending && --cmd->pending == 0)
				unified_cmd_finish(e, cmd);
		}
	}
	if (n) {
		io_uring_cq_advance(&e->ring, n);
		e->sq_blocked = false;	/* a completion may have freed what the target lacked */
	}
	return n;
}

/* The fixed-buffer table for the data area (see unified_target.fixed_window). */
static int register_data(struct unified_ctx *ctx)
{
	struct unified_engine *e = &ctx->eng;
	struct iovec *iov;
	uint32_t nchunks, i;
	int ret;

	if (e->tgt.fixed_window && (ctx->data_size + 4095) / 4096 > UNIFIED_MAX_WINDOWS)
		e->tgt.no_fixed = true;
	if (e->tgt.no_fixed)
		return 0;
	if (e->tgt.fixed_window) {
		/* Window k ends at page k + 1 and is fixed_window bytes long (or
		 * shorter at the start), so any transfer up to the target's
		 * max_xfer fits in the window ending at its last page, with no
		 * more pages after its start than the device allows. */
		nchunks = (uint32_t)((ctx->data_size + 4095) / 4096);
		iov = calloc(nchunks, sizeof(*iov));
		if (!iov)
			return unified_set_err(ENOMEM, "no memory for %u buffer windows", nchunks);
		for (i = 0; i < nchunks; i++) {
			uint64_t end = (uint64_t)(i + 1) * 4096, start;

			if (end > ctx->data_size)
				end = ctx->data_size;	/* a last, partial page */
			start = (uint64_t)i * 4096 + 4096 > e->tgt.fixed_window ?
				(uint64_t)i * 4096 + 4096 - e->tgt.fixed_window : 0;
			iov[i].iov_base = ctx->buffers + start;
			iov[i].iov_len = end - start;
		}
	} else {
		nchunks = (uint32_t)((ctx->data_size + UNIFIED_FIXED_CHUNK - 1) / UNIFIED_FIXED_CHUNK);
		iov = calloc(nchunks, sizeof(*iov));
		if (!iov)
			return unified_set_err(ENOMEM, "no memory for %u buffer chunks", nchunks);
		for (i = 0; i < nchunks; i++) {
			uint64_t o = (uint64_t)i * UNIFIED_FIXED_CHUNK, l = ctx->data_size - o;

			iov[i].iov_base = ctx->buffers + o;
			iov[i].iov_len = l < UNIFIED_FIXED_CHUNK ? l : UNIFIED_FIXED_CHUNK;
		}
	}
	ret = io_uring_register_buffers(&e->ring, iov, nchunks);
	free(iov);
	if (ret < 0)
		return unified_set_err(-ret, "registering the %llu-byte data area as fixed buffers failed: %s%s",
				       (unsigned long long)ctx->data_size, strerror(-ret),
				       ret == -ENOMEM ? " (RLIMIT_MEMLOCK too low?)" : "");
	return 0;
}

int unified_uring_setup(struct unified_ctx *ctx)
{
	struct unified_engine *e = &ctx->eng;
	struct io_uring_params p;
	uint32_t entries = 512;
	int fds[2], ret;

	while (entries < 2 * e->ncmds && entries < 4096)
		entries <<= 1;
	memset(&p, 0, sizeof(p));
	p.flags = e->tgt.ring_flags | IORING_SETUP_CQSIZE;
	/* Room for a completion of every command in flight, so the kernel's
	 * overflow list is not needed in the common case. */
	p.cq_entries = entries * 2;
	while (p.cq_entries < 2 * e->ncmds && p.cq_entries < 65536)
		p.cq_entries <<= 1;
	ret = io_uring_queue_init_params(entries, &e->ring, &p);
	if (ret < 0)
		return unified_set_err(-ret, "io_uring_setup(%u, flags 0x%x) failed: %s", entries,
				       p.flags, strerror(-ret));
	e->ring_ready = true;
	ret = register_data(ctx);
	if (ret)
		return ret;
	/* Fixed file 0: the data path; 1: the NVMe controller (admin). */
	fds[0] = e->tgt.fd;
	fds[1] = e->tgt.ctrl_fd;
	ret = io_uring_register_files(&e->ring, fds, e->tgt.ctrl_fd >= 0 ? 2 : 1);
	if (ret < 0)
		return unified_set_err(-ret, "registering the target file failed: %s", strerror(-ret));
	return 0;
}
