/* SPDX-License-Identifier: MIT */
/*
 * The user engine: serves the unified rings on a stock io_uring.
 *
 * One pass: take SQEs (each copied to private memory before it is looked
 * at, so a hostile writer cannot change it under us), validate them, hand
 * them to the target which queues io_uring operations, submit, reap io_uring
 * completions, write unified CQEs and publish them.  An SQE is only taken
 * when the CQ has a slot reserved for its completion, so no completion can
 * ever be dropped: entries in equal completions out.
 */
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include "internal.h"

#define UD_DOORBELL	UINT64_MAX
#define UD_CANCEL	(UINT64_MAX - 1)
#define NO_CMD		UINT32_MAX

static long futex_op(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

uint32_t unified_cmd_index(struct unified_engine *e, const struct unified_cmd *cmd)
{
	return (uint32_t)(cmd - e->cmds);
}

/* Registered-buffer index that covers [off, off + len) of the data area. */
uint16_t unified_fixed_index(const struct unified_engine *e, uint64_t off, uint32_t len)
{
	if (e->tgt.fixed_window)
		return (uint16_t)((off + (len ? len : 1) - 1) / 4096);
	return (uint16_t)(off / UNIFIED_FIXED_CHUNK);
}

/* ---------------------------------------------------------------- CQ side */

/*
 * Free CQ slots as the engine sees them; 0 if the consumer index is corrupt.
 * The application's consumer index is re-read only when the cached view
 * shows no more than @need free slots (AF_XDP's xskq_prod_nb_free() way).
 */
static uint32_t cq_free(struct unified_engine *e, uint32_t need)
{
	uint32_t used = e->cq.cached_prod - e->cq.cached_cons;

	if (used > e->cq.size || e->cq.size - used <= need) {
		/* Acquire pairs with the application's release of the consumer:
		 * it has finished reading the CQEs we are about to overwrite. */
		uint32_t cons = unified_load_acquire(e->cq.consumer);

		used = e->cq.cached_prod - cons;
		if (used > e->cq.size) {
			/* The consumer moved backwards or jumped: do not trust it. */
			STAT_ADD(e->stats.ring_errors, 1);
			return 0;
		}
		e->cq.cached_cons = cons;
	}
	return e->cq.size - used;
}

static void cq_write(struct unified_engine *e, const struct unified_cmd *cmd)
{
	struct io_unified_cqe *cqe = &e->cqes[e->cq.cached_prod & e->cq.mask];

	cqe->user_data = cmd->user_data;
	cqe->result = cmd->result;
	cqe->dma_addr = cmd->buf_offset;
	cqe->len = cmd->status ? 0 : cmd->len;
	cqe->status = cmd->status;
	cqe->flags = cmd->cqe_flags;
	cqe->res = cmd->res;
	cqe->__resv0 = 0;
	cqe->__resv[0] = cqe->__resv[1] = cqe->__resv[2] = 0;
	e->cq.cached_prod++;
	e->cq_unpublished++;
	STAT_ADD(e->stats.cqes, 1);
	if (cmd->status)
		STAT_ADD(e->stats.errors, 1);
}

static void cmd_release(struct unified_engine *e, struct unified_cmd *cmd)
{
	if (cmd->cmp_slot >= 0)
		e->cmp_busy &= ~(1u << cmd->cmp_slot);
	cmd->cmp_slot = -1;
	cmd->next_free = e->free_head;
	e->free_head = unified_cmd_index(e, cmd);
	e->inflight--;
}

/* Write the CQE for a finished command, or queue it until the CQ has room. */
void unified_cmd_finish(struct unified_engine *e, struct unified_cmd *cmd)
{
	if (!e->done_count && cq_free(e, 0)) {
		cq_write(e, cmd);
		cmd_release(e, cmd);
		return;
	}
	e->done[(e->done_head + e->done_count) % e->ncmds] = unified_cmd_index(e, cmd);
	e->done_count++;
}

static void flush_done(struct unified_engine *e)
{
	while (e->done_count && cq_free(e, 0)) {
		struct unified_cmd *cmd = &e->cmds[e->done[e->done_head]];

		e->done_head = (e->done_head + 1) % e->ncmds;
		e->done_count--;
		cq_write(e, cmd);
		cmd_release(e, cmd);
	}
}

static void cq_publish(struct unified_engine *e)
{
	if (!e->cq_unpublished)
		return;
	e->cq_unpublished = 0;
	/* Release: CQE contents are visible before the new producer index;
	 * pairs with the application's load-acquire in unified_cq_peek(). */
	unified_store_release(e->cq.producer, e->cq.cached_prod);
	if (e->mode == UNIFIED_MODE_THREAD) {
		/* Full barrier between publishing and reading the waiter flag,
		 * pairing with the one in unified_enter() (Dekker style). */
		unified_smp_mb();
		if (unified_load_relaxed(e->cq.flags) & IO_UNIFIED_RING_NEED_WAKEUP)
			futex_op(e->cq.producer, FUTEX_WAKE, INT_MAX, NULL);
	}
}

/* ---------------------------------------------------------------- SQ side */

/* Entries ready in the SQ, or -EBADMSG if the producer index is corrupt. */
static int sq_ready(struct unified_engine *e)
{
	uint32_t prod, n;

	if (e->sq.cached_prod != e->sq.cached_cons)
		return (int)(e->sq.cached_prod - e->sq.cached_cons);
	/* Acquire pairs with the application's store-release in
	 * unified_sq_submit(): the SQE contents are visible once it is. */
	prod = unified_load_acquire(e->sq.producer);
	n = prod - e->sq.cached_cons;
	if (n > e->sq.size) {
		/* Moved backwards or by more than the ring holds: refuse it. */
		STAT_ADD(e->stats.ring_errors, 1);
		return -EBADMSG;
	}
	e->sq.cached_prod = prod;
	return (int)n;
}

struct io_uring_sqe *unified_engine_get_sqe(struct unified_engine *e, struct unified_cmd *cmd)
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
	sqe->user_data = unified_cmd_index(e, cmd);
	cmd->pending++;
	return sqe;
}

/*
 * Bytes a known command transfers by its own definition, whatever len says
 * (0 for commands whose length is not fixed this way).
 */
static uint64_t fixed_xfer_bytes(const struct io_unified_nvme_cmd *nc, bool admin)
{
	if (admin && nc->opcode == IO_UNIFIED_NVME_ADMIN_IDENTIFY)
		return 4096;
	if (admin && nc->opcode == IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE)	/* NUMDU:NUMDL, 0-based dwords */
		return ((((uint64_t)(nc->cdw11 & 0xffff) << 16) | (nc->cdw10 >> 16)) + 1) * 4;
	if (!admin && nc->opcode == IO_UNIFIED_NVME_CMD_DSM)		/* NR, 0-based ranges */
		return ((nc->cdw10 & 0xff) + 1) * 16ull;
	return 0;
}

/*
 * Checks shared by every target.  On failure the command's status is set
 * and 1 is returned; 0 means the target may look at it.
 */
static int validate(struct unified_engine *e, struct unified_cmd *cmd, const struct io_unified_sqe *s)
{
	const struct io_unified_nvme_cmd *nc = &s->nvme_cmd;
	const struct unified_target *t = &e->tgt;
	uint64_t len = s->len, off = s->buf_offset, fixed;
	bool admin = s->flags & IO_UNIFIED_SQE_F_ADMIN;
	bool rw = !admin && (nc->opcode == IO_UNIFIED_NVME_CMD_READ ||
			     nc->opcode == IO_UNIFIED_NVME_CMD_WRITE ||
			     nc->opcode == IO_UNIFIED_NVME_CMD_COMPARE);

	if (s->flags & ~IO_UNIFIED_SQE_F_MASK || s->__resv[0] || s->__resv[1] || s->__resv[2] ||
	    s->__resv[3] || nc->flags || nc->rsvd1 || nc->rsvd2 || nc->metadata ||
	    nc->metadata_len) {
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EINVAL);
		return 1;
	}
	if (nc->data_len && len && nc->data_len != len) {
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EINVAL);
		return 1;
	}
	if (!len)
		len = nc->data_len;
	if (!len && rw)
		len = unified_rw_bytes(s, t->lba_shift);
	fixed = fixed_xfer_bytes(nc, admin);
	if (!len)
		len = fixed;
	if (len < fixed) {
		/* A command whose transfer size the command itself fixes
		 * (Identify, Get Log Page, DSM) gets at least that much buffer,
		 * or the controller would DMA past it. */
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EINVAL);
		return 1;
	}
	if (rw && len != unified_rw_bytes(s, t->lba_shift)) {
		/* The data length must match the blocks the command moves, or a
		 * device could DMA past the buffer. */
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EINVAL);
		return 1;
	}
	if (len) {
		if (len > t->max_xfer) {
			unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -E2BIG);
			return 1;
		}
		if (off > e->data_size || len > e->data_size - off) {
			unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EFAULT);
			return 1;
		}
		if (off & (t->buf_align - 1)) {
			unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EINVAL);
			return 1;
		}
		if (off / UNIFIED_FIXED_CHUNK != (off + len - 1) / UNIFIED_FIXED_CHUNK) {
			unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD, -EXDEV);
			return 1;
		}
	}
	if (!admin && nc->nsid != t->nsid &&
	    !(nc->opcode == IO_UNIFIED_NVME_CMD_FLUSH && nc->nsid == 0xffffffffu)) {
		unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_NS, -ENXIO);
		return 1;
	}
	cmd->len = (uint32_t)len;
	return 0;
}

static void cmd_init(struct unified_cmd *cmd, const struct io_unified_sqe *s)
{
	cmd->user_data = s->user_data;
	cmd->buf_offset = s->buf_offset;
	cmd->result = 0;
	cmd->len = 0;
	cmd->pending = 0;
	cmd->res = 0;
	cmd->status = 0;
	cmd->cqe_flags = 0;
	cmd->opcode = s->nvme_cmd.opcode;
	cmd->admin = !!(s->flags & IO_UNIFIED_SQE_F_ADMIN);
	cmd->cmp_slot = -1;
}

/* Take SQEs while a command slot and a reserved CQ slot are available. */
static int consume_sq(struct unified_engine *e, uint32_t *taken)
{
	bool draining = __atomic_load_n(&e->draining, __ATOMIC_ACQUIRE);
	uint32_t start = e->sq.cached_cons, budget = e->sq.size;
	int ready = 0, ret = 0;

	while (budget--) {
		struct io_unified_sqe snap;
		struct unified_cmd *cmd;

		if (!ready) {
			ready = sq_ready(e);
			if (ready <= 0) {
				ret = ready;
				break;
			}
		}
		/* A CQ slot must stay reserved for every command in flight. */
		if (e->free_head == NO_CMD || cq_free(e, e->inflight) <= e->inflight)
			break;
		memcpy(&snap, &e->sqes[e->sq.cached_cons & e->sq.mask], sizeof(snap));
		cmd = &e->cmds[e->free_head];
		cmd_init(cmd, &snap);
		if (draining) {
			unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_ABORT_REQUESTED,
					   -ECANCELED);
			STAT_ADD(e->stats.aborted, 1);
		} else if (!validate(e, cmd, &snap)) {
			int r = e->tgt.ops->submit(e, cmd, &snap);

			if (r == -EBUSY && !cmd->pending) {
				/* Target out of resources: retry this SQE later. */
				if (cmd->cmp_slot >= 0)
					e->cmp_busy &= ~(1u << cmd->cmp_slot);
				cmd->cmp_slot = -1;
				break;
			}
			if (r < 0 && !cmd->status)
				unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INTERNAL, r);
		}
		e->free_head = cmd->next_free;
		e->inflight++;
		e->sq.cached_cons++;
		ready--;
		if (!cmd->pending)
			unified_cmd_finish(e, cmd);
	}
	*taken = e->sq.cached_cons - start;
	if (*taken) {
		/* Release: we are done reading those SQEs (they were copied);
		 * pairs with the application's acquire in unified_sq_nb_free(). */
		unified_store_release(e->sq.consumer, e->sq.cached_cons);
		STAT_ADD(e->stats.sqes, *taken);
	}
	return ret;
}

/* ------------------------------------------------------------ io_uring side */

static void arm_doorbell(struct unified_engine *e)
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

static uint32_t reap(struct unified_engine *e)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&e->ring, head, cqe) {
		n++;
		if (cqe->user_data == UD_DOORBELL) {
			e->doorbell_armed = false;
			continue;
		}
		if (cqe->user_data >= e->ncmds)
			continue;	/* UD_CANCEL and friends */
		{
			struct unified_cmd *cmd = &e->cmds[cqe->user_data];

			e->tgt.ops->complete(e, cmd, cqe);
			if (cmd->pending && --cmd->pending == 0)
				unified_cmd_finish(e, cmd);
		}
	}
	if (n)
		io_uring_cq_advance(&e->ring, n);
	return n;
}

/*
 * One engine pass.  @want: CQEs the caller wants unconsumed in the CQ (0 =
 * never block).  After taking SQEs, if fewer are there, the io_uring_enter()
 * that submits also waits for the missing number of io_uring completions,
 * capped by the commands still in io_uring (each brings at least one), and
 * bounded by @ts if not NULL: submit and wait cost one system call, not
 * one plus one per completion.  Returns the number of SQEs taken plus
 * io_uring completions reaped, or -EBADMSG for a corrupt SQ.
 */
static int engine_pass(struct unified_engine *e, uint32_t want, struct __kernel_timespec *ts)
{
	uint32_t taken = 0, reaped, wait_nr = 0;
	int ret, sret;

	flush_done(e);
	ret = consume_sq(e, &taken);
	if (want && e->inflight > e->done_count) {
		/* CQEs written (published or not) and not yet consumed. */
		uint32_t ready = e->cq.cached_prod - unified_load_relaxed(e->cq.consumer);
		uint32_t busy = e->inflight - e->done_count;

		if (ready < want)
			wait_nr = want - ready < busy ? want - ready : busy;
		/* A polled ring polls past any timeout: poll once per pass. */
		if (ts && (e->ring.flags & IORING_SETUP_IOPOLL))
			wait_nr = 0;
	}
	if (e->inflight > e->done_count || io_uring_sq_ready(&e->ring)) {
		struct io_uring_cqe *cqe;

		if (!wait_nr)
			sret = io_uring_submit(&e->ring);
		else if (ts)
			sret = io_uring_submit_and_wait_timeout(&e->ring, &cqe, wait_nr, ts, NULL);
		else
			sret = io_uring_submit_and_wait(&e->ring, wait_nr);
		if (sret < 0 && sret != -EINTR && sret != -EAGAIN && sret != -EBUSY && sret != -ETIME)
			if (!e->thread_err)
				e->thread_err = sret;	/* the first one is the cause */
	}
	reaped = reap(e);
	flush_done(e);
	cq_publish(e);
	if (ret < 0)
		return ret;
	return (int)(taken + reaped);
}

/* With @wait_one, block until one more completion than the CQ holds now. */
int unified_engine_pass(struct unified_engine *e, bool wait_one)
{
	return engine_pass(e, wait_one ? e->cq.cached_prod - unified_load_relaxed(e->cq.consumer) + 1 : 0,
			   NULL);
}

/* ------------------------------------------------------------ engine thread */

/*
 * Could a pass do anything now?  Queued SQEs count only if a command slot
 * and a CQ slot are there for them; finished commands only if the CQ has
 * room.  A CQ the application keeps full therefore lets the thread sleep:
 * unified_enter()/unified_kick() wake it after the application released CQEs.
 * Commands waiting for a compare slot have others in flight, whose
 * completions wake the thread.
 */
static bool can_progress(struct unified_engine *e)
{
	if (e->done_count)
		return cq_free(e, 0) > 0;
	return sq_ready(e) > 0 && e->free_head != NO_CMD && cq_free(e, e->inflight) > e->inflight;
}

static void *engine_thread(void *arg)
{
	struct unified_engine *e = arg;
	uint64_t spin_ns = (uint64_t)e->idle_spin_us * 1000, idle_since = now_ns();

	while (!__atomic_load_n(&e->stop, __ATOMIC_ACQUIRE)) {
		int n = unified_engine_pass(e, false);

		/* n < 0: the SQ producer index is corrupt.  Treat it as idle, so
		 * the thread sleeps until kicked instead of spinning a core. */
		if (n > 0) {
			idle_since = now_ns();
			continue;
		}
		if (now_ns() - idle_since < spin_ns)
			continue;
		/* Going to sleep: announce it, then look once more so a producer
		 * that raced with us is not missed (it checks the flag after
		 * publishing; both sides have a full barrier in between). */
		__atomic_store_n(e->sq.flags, IO_UNIFIED_RING_NEED_WAKEUP, __ATOMIC_RELAXED);
		unified_smp_mb();
		if (can_progress(e) || __atomic_load_n(&e->stop, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(e->sq.flags, 0, __ATOMIC_RELAXED);
			continue;
		}
		STAT_ADD(e->stats.sleeps, 1);
		if (e->doorbell_fd >= 0) {
			/* Sleep in io_uring: a completion or the doorbell wakes us. */
			arm_doorbell(e);
			io_uring_submit_and_wait(&e->ring, 1);
		} else if (e->inflight == 0) {
			/* IOPOLL rings cannot hold the doorbell read: sleep on the
			 * SQ producer word, unified_kick() wakes it. */
			struct timespec ts = { 0, 100 * 1000 * 1000 };

			/* Wait on the value there now: a corrupt or unconsumable
			 * producer must not turn the wait into a spin. */
			futex_op(e->sq.producer, FUTEX_WAIT, unified_load_relaxed(e->sq.producer), &ts);
		}
		__atomic_store_n(e->sq.flags, 0, __ATOMIC_RELAXED);
		idle_since = now_ns();
	}
	return NULL;
}

/* ------------------------------------------------------------ start / stop */

static const struct unified_target_ops *pick_target(const char *path, const struct unified_opts *o,
						      uint32_t *kind)
{
	struct stat st;

	if (stat(path, &st)) {
		int err = errno;

		if (err == ENOENT && (o->flags & UNIFIED_OPT_CREATE)) {
			*kind = UNIFIED_TARGET_FILE;
			return &unified_target_file_ops;
		}
		unified_set_err(err, "cannot open target %s: %s", path, strerror(err));
		errno = err;	/* the caller returns -errno */
		return NULL;
	}
	if (S_ISREG(st.st_mode)) {
		*kind = UNIFIED_TARGET_FILE;
		return &unified_target_file_ops;
	}
	if (S_ISBLK(st.st_mode)) {
		*kind = UNIFIED_TARGET_BLOCK;
		return &unified_target_block_ops;
	}
	if (S_ISCHR(st.st_mode)) {
		*kind = UNIFIED_TARGET_NVME;
		return &unified_target_nvme_ops;
	}
	unified_set_err(ENODEV, "target %s is neither a file, a block device nor an NVMe char device",
			path);
	errno = ENODEV;	/* the caller returns -errno; do not leak a stale one */
	return NULL;
}

static int setup_ring(struct unified_ctx *ctx)
{
	struct unified_engine *e = &ctx->eng;
	struct io_uring_params p;
	struct iovec *iov;
	uint32_t entries = 512, nchunks, i;
	int ret;

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

	/* Register the whole data area as fixed buffers (1 GiB chunks) so the
	 * device DMAs straight into the region without per-I/O pinning. */
	if (e->tgt.fixed_window && (ctx->data_size + 4095) / 4096 > UNIFIED_MAX_WINDOWS)
		e->tgt.no_fixed = true;
	if (e->tgt.no_fixed)
		goto files;
	if (e->tgt.fixed_window) {
		/* Window k ends at page k + 1 and is fixed_window bytes long (or
		 * shorter at the start), so any transfer up to the target's
		 * max_xfer fits in the window ending at its last page, with no
		 * more pages after its start than the device allows. */
		nchunks = (uint32_t)((ctx->data_size + 4095) / 4096);
		iov = calloc(nchunks, sizeof(*iov));
		if (!iov)
			return unified_set_err(ENOMEM, "no memory");
		for (i = 0; i < nchunks; i++) {
			uint64_t end = (uint64_t)(i + 1) * 4096;

			if (end > ctx->data_size)
				end = ctx->data_size;	/* a last, partial page */
			uint64_t start = (uint64_t)i * 4096 + 4096 > e->tgt.fixed_window ?
					 (uint64_t)i * 4096 + 4096 - e->tgt.fixed_window : 0;

			iov[i].iov_base = ctx->buffers + start;
			iov[i].iov_len = end - start;
		}
	} else {
		nchunks = (uint32_t)((ctx->data_size + UNIFIED_FIXED_CHUNK - 1) / UNIFIED_FIXED_CHUNK);
		iov = calloc(nchunks, sizeof(*iov));
		if (!iov)
			return unified_set_err(ENOMEM, "no memory");
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
files:
	{
		/* Fixed file 0: the data path; 1: the NVMe controller (admin). */
		int fds[2] = { e->tgt.fd, e->tgt.ctrl_fd };

		ret = io_uring_register_files(&e->ring, fds, e->tgt.ctrl_fd >= 0 ? 2 : 1);
	}
	if (ret < 0)
		return unified_set_err(-ret, "registering the target file failed: %s", strerror(-ret));
	return 0;
}

int unified_engine_start(struct unified_ctx *ctx, const struct unified_opts *o)
{
	struct unified_engine *e = &ctx->eng;
	struct io_unified_ring *sqr = (void *)((uint8_t *)ctx->region + ctx->off.sq_ring);
	struct io_unified_ring *cqr = (void *)((uint8_t *)ctx->region + ctx->off.cq_ring);
	char defpath[256];
	const char *path = ctx->info.path;
	uint32_t i, kind = 0;
	struct unified_opts opts = *o;
	int ret;

	memset(e, 0, sizeof(*e));
	e->tgt.fd = e->tgt.ctrl_fd = e->doorbell_fd = -1;
	e->tgt.old_size = -1;
	e->mode = o->mode;
	/* Spinning only pays when a core is spare: on two CPUs or fewer the
	 * engine thread's spin steals time from the kernel's own I/O workers
	 * (measured: 0.88x of raw liburing on a loop device at 50 us, 0.99x at
	 * 2 us), so the default is short there. */
	e->idle_spin_us = o->idle_spin_us ? o->idle_spin_us :
			  sysconf(_SC_NPROCESSORS_ONLN) <= 2 ? 2 : 50;
	e->sq = (struct unified_engine_ring){ &sqr->producer, &sqr->consumer, &sqr->flags,
					      ctx->sq_entries - 1, ctx->sq_entries, 0, 0 };
	e->cq = (struct unified_engine_ring){ &cqr->producer, &cqr->consumer, &cqr->flags,
					      ctx->cq_entries - 1, ctx->cq_entries, 0, 0 };
	e->sqes = (void *)((uint8_t *)ctx->region + ctx->off.sq_entries);
	e->cqes = (void *)((uint8_t *)ctx->region + ctx->off.cq_entries);
	e->data = ctx->buffers;
	e->data_size = ctx->data_size;

	if (!path[0]) {
		ret = unified_default_path(defpath, sizeof(defpath));
		if (ret)
			return ret;
		path = defpath;
		opts.flags |= UNIFIED_OPT_CREATE;
	}
	e->tgt.ops = pick_target(path, &opts, &kind);
	if (!e->tgt.ops)
		return -errno ? -errno : -ENODEV;
	e->tgt.kind = kind;
	snprintf(e->tgt.path, sizeof(e->tgt.path), "%s", path);
	ret = e->tgt.ops->open(&e->tgt, path, &opts);
	if (ret)
		return ret;

	e->ncmds = ctx->cq_entries;
	e->cmds = calloc(e->ncmds, sizeof(*e->cmds));
	e->done = calloc(e->ncmds, sizeof(*e->done));
	if (!e->cmds || !e->done)
		return unified_set_err(ENOMEM, "no memory for %u command slots", e->ncmds);
	for (i = 0; i < e->ncmds; i++) {
		e->cmds[i].next_free = i + 1 < e->ncmds ? i + 1 : NO_CMD;
		e->cmds[i].cmp_slot = -1;
	}
	e->free_head = 0;

	ret = setup_ring(ctx);
	if (ret)
		return ret;

	/* Emulated Compare reads into scratch: allocated now, not per command
	 * (virtual memory until the first Compare touches it). */
	if (e->tgt.ops->submit == unified_emul_submit) {
		for (i = 0; i < UNIFIED_CMP_SLOTS; i++)
			if (posix_memalign(&e->cmp_buf[i], 4096, e->tgt.max_xfer)) {
				e->cmp_buf[i] = NULL;
				return unified_set_err(ENOMEM, "no memory for compare buffers");
			}
	}
	return 0;
}

/* Start the engine thread (thread mode), after the rings are initialised. */
int unified_engine_run(struct unified_ctx *ctx)
{
	struct unified_engine *e = &ctx->eng;
	int ret;

	if (e->mode == UNIFIED_MODE_THREAD) {
		if (!e->tgt.iopoll) {
			e->doorbell_fd = eventfd(0, EFD_CLOEXEC);
			if (e->doorbell_fd < 0)
				return unified_set_err(errno, "eventfd: %s", strerror(errno));
		}
		ret = pthread_create(&e->thread, NULL, engine_thread, e);
		if (ret)
			return unified_set_err(ret, "cannot start the engine thread: %s", strerror(ret));
		e->thread_running = true;
	}
	return 0;
}

static void stop_thread(struct unified_engine *e)
{
	uint64_t one = 1;

	if (!e->thread_running)
		return;
	__atomic_store_n(&e->stop, 1, __ATOMIC_RELEASE);
	if (e->doorbell_fd >= 0 && write(e->doorbell_fd, &one, sizeof(one)) < 0) {
		/* eventfd writes of 1 cannot fail short of overflow */
	}
	futex_op(e->sq.producer, FUTEX_WAKE, INT_MAX, NULL);
	pthread_join(e->thread, NULL);
	e->thread_running = false;
	e->mode = UNIFIED_MODE_KICK;
}

/*
 * Abort queued SQEs and wait for everything in flight.  After a grace
 * period, in-flight operations are cancelled through io_uring.
 */
int unified_engine_drain(struct unified_engine *e)
{
	uint64_t before = e->stats.aborted, deadline = now_ns() + 10ull * 1000000000ull;
	bool cancelled = false;

	stop_thread(e);
	__atomic_store_n(&e->draining, 1, __ATOMIC_RELEASE);
	if (!e->ring_ready)
		return 0;
	for (;;) {
		int n = unified_engine_pass(e, false);

		if (e->inflight == e->done_count && (n <= 0 || sq_ready(e) <= 0 || !cq_free(e, 0)))
			break;
		if (e->inflight > e->done_count) {
			struct __kernel_timespec ts = { 0, 50 * 1000 * 1000 };
			struct io_uring_cqe *cqe;

			if (!cancelled && now_ns() > deadline) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);

				if (sqe) {
					io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY);
					sqe->user_data = UD_CANCEL;
				}
				cancelled = true;
			}
			io_uring_submit(&e->ring);
			io_uring_wait_cqe_timeout(&e->ring, &cqe, &ts);
		}
	}
	return (int)(e->stats.aborted - before);
}

void unified_engine_stop(struct unified_ctx *ctx)
{
	struct unified_engine *e = &ctx->eng;
	uint32_t i;

	stop_thread(e);
	if (e->ring_ready) {
		unified_engine_drain(e);
		io_uring_queue_exit(&e->ring);
		e->ring_ready = false;
	}
	if (e->tgt.ops && e->tgt.ops->close)
		e->tgt.ops->close(&e->tgt);
	e->tgt.ops = NULL;
	if (e->doorbell_fd >= 0)
		close(e->doorbell_fd);
	e->doorbell_fd = -1;
	for (i = 0; i < UNIFIED_CMP_SLOTS; i++) {
		free(e->cmp_buf[i]);
		e->cmp_buf[i] = NULL;
	}
	free(e->cmds);
	free(e->done);
	e->cmds = NULL;
	e->done = NULL;
}

/* ------------------------------------------------------------ public calls */

UNIFIED_EXPORT int unified_kick(struct unified_ctx *ctx)
{
	struct unified_engine *e;
	int ret;

	if (!ctx)
		return -EINVAL;
	e = &ctx->eng;
	STAT_ADD(e->stats.kicks, 1);
	if (e->thread_running) {
		/* Full barrier: our producer store is visible before we read
		 * the engine's flag (pairs with the engine's sleep path). */
		unified_smp_mb();
		if (unified_load_relaxed(e->sq.flags) & IO_UNIFIED_RING_NEED_WAKEUP) {
			uint64_t one = 1;

			if (e->doorbell_fd >= 0) {
				if (write(e->doorbell_fd, &one, sizeof(one)) < 0)
					return -errno;
			} else {
				futex_op(e->sq.producer, FUTEX_WAKE, 1, NULL);
			}
		}
		return 0;
	}
	ret = unified_engine_pass(e, false);
	return ret < 0 ? ret : 0;
}

/* CQEs ready for the application, clamped: the consumer index is its to corrupt. */
static uint32_t cq_ready_app(struct unified_engine *e)
{
	uint32_t n = unified_load_acquire(e->cq.producer) - unified_load_relaxed(e->cq.consumer);

	return n > e->cq.size ? e->cq.size : n;
}

/*
 * unified_enter() in kick mode.  Each pass submits and, in the same
 * io_uring_enter(), waits for the completions still missing, no longer
 * than the deadline (UINT64_MAX = none).
 */
static int enter_kick_mode(struct unified_engine *e, uint32_t min_complete, uint64_t deadline)
{
	struct __kernel_timespec ts;
	uint32_t ready;
	int ret;

	STAT_ADD(e->stats.kicks, 1);
	for (;;) {
		uint64_t left = UINT64_MAX;

		if (deadline != UINT64_MAX) {	/* no clock read when waiting forever */
			uint64_t now = now_ns();

			left = deadline > now ? deadline - now : 0;
			ts.tv_sec = (long long)(left / 1000000000ull);
			ts.tv_nsec = (long long)(left % 1000000000ull);
		}
		/* Out of time: one more pass that does not block. */
		ret = engine_pass(e, left ? min_complete : 0, deadline == UINT64_MAX ? NULL : &ts);
		if (ret < 0)
			return ret;
		ready = cq_ready_app(e);
		if (ready >= min_complete)
			return (int)ready;
		/* Nothing in flight and nothing queued means waiting would
		 * never end; report what is there. */
		if (ret == 0 && e->inflight == e->done_count)
			return (int)ready;
		if (deadline != UINT64_MAX && now_ns() >= deadline)
			return -ETIME;
	}
}

UNIFIED_EXPORT int unified_enter(struct unified_ctx *ctx, uint32_t min_complete, int timeout_ms)
{
	struct unified_engine *e;
	uint64_t deadline;
	uint32_t ready;
	int ret;

	if (!ctx)
		return -EINVAL;
	e = &ctx->eng;
	deadline = timeout_ms < 0 ? UINT64_MAX : now_ns() + (uint64_t)timeout_ms * 1000000ull;
	if (min_complete > e->cq.size)
		min_complete = e->cq.size;
	if (!e->thread_running)
		return enter_kick_mode(e, min_complete, deadline);
	ret = unified_kick(ctx);
	if (ret < 0)
		return ret;
	for (;;) {
		ready = cq_ready_app(e);
		if (ready >= min_complete)
			return (int)ready;
		if (now_ns() >= deadline)
			return -ETIME;
		if (e->thread_running) {
			uint32_t seen = unified_load_acquire(e->cq.producer);
			uint64_t left = deadline - now_ns();
			struct timespec ts = { 0, 0 };

			if (left > 100ull * 1000000ull)
				left = 100ull * 1000000ull;
			ts.tv_nsec = (long)left;
			__atomic_store_n(e->cq.flags, IO_UNIFIED_RING_NEED_WAKEUP, __ATOMIC_RELAXED);
			/* Full barrier pairs with the engine's in cq_publish(). */
			unified_smp_mb();
			if (cq_ready_app(e) < min_complete)
				futex_op(e->cq.producer, FUTEX_WAIT, seen, &ts);
			__atomic_store_n(e->cq.flags, 0, __ATOMIC_RELAXED);
			unified_kick(ctx);
			continue;
		}
		/* Kick mode: nothing in flight and nothing queued means waiting
		 * would never end; report what is there. */
		ret = unified_engine_pass(e, e->inflight > e->done_count);
		if (ret < 0)
			return ret;
		if (ret == 0 && e->inflight == e->done_count)
			return (int)cq_ready_app(e);
	}
}
