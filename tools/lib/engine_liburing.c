/* SPDX-License-Identifier: MIT */
/*
 * The baseline: plain liburing, set up to match our engine in every detail
 * (see docs/benchmarks.md): the same open flags, the target as fixed file
 * 0, one registered buffer (index 0) holding every slot, READ/WRITE_FIXED
 * on files and block devices, and NVMe passthrough (IORING_OP_URING_CMD on
 * an SQE128|CQE32 ring) on /dev/ngXnY.  submit fills SQEs, wait is
 * io_uring_submit_and_wait(), reap walks the CQ.
 *
 * A variant of this engine (say, another ring setup flag) is one more ops
 * struct at the end with its own struct liburing_variant.
 *
 * The SQPOLL variant ("liburing-sqpoll") adds IORING_SETUP_SQPOLL with
 * sq_thread_idle = --sqpoll-idle-ms (and SQ_AFF + sq_thread_cpu with
 * --sqpoll-cpu), and waits the way an SQPOLL application does:
 * io_uring_submit() only publishes the SQ tail and enters the kernel just
 * to wake a sleeping SQ thread (IORING_SQ_NEED_WAKEUP); the caller enters
 * to wait only when fewer completions than it wants are ready.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <liburing.h>
#include "libunified.h"
#include "uapi_compat.h"	/* the one copy of newer io_uring/NVMe uapi constants */
#include "bench_engine.h"

struct liburing_variant {
	uint32_t setup_flags;	/* IORING_SETUP_* added to what the target needs */
};

struct base {
	struct io_uring ring;
	bool ring_up;
	int fd;
	uint8_t *bufs;
	size_t bufsz, area;
	uint32_t qd, bs, nsid, lba_shift;
	bool nvme, rd, sqpoll;
};

static void base_close(void *priv, struct bench_run *r)
{
	struct base *b = priv;

	(void)r;
	if (!b)
		return;
	if (b->ring_up)
		io_uring_queue_exit(&b->ring);
	if (b->bufs != MAP_FAILED)
		munmap(b->bufs, b->area);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}

static int base_open(const struct bench_cfg *c, const struct bench_target *t, const void *variant,
		     struct bench_run *r, void **priv)
{
	const struct liburing_variant *v = variant;
	struct base *b = calloc(1, sizeof(*b));
	struct io_uring_params p;
	struct iovec iov;
	uint32_t i;
	int ret;

	*priv = NULL;
	if (!b) {
		fprintf(stderr, "out of memory\n");
		return -1;
	}
	b->bufs = MAP_FAILED;
	b->qd = c->qd;
	b->bs = c->bs;
	b->nsid = t->nsid;
	b->lba_shift = t->lba_shift;
	b->nvme = t->kind == UNIFIED_TARGET_NVME;
	b->rd = is_read(c);
	/* The same open as libunified's targets: O_DIRECT for files and block
	 * devices; the NVMe char device has no page cache. */
	b->fd = open(c->path, O_RDWR | O_CLOEXEC | (b->nvme ? 0 : O_DIRECT));
	if (b->fd < 0) {
		fprintf(stderr, "liburing: cannot open %s: %s\n", c->path, strerror(errno));
		goto fail;
	}
	memset(&p, 0, sizeof(p));
	p.flags = v ? v->setup_flags : 0;
	if (p.flags & IORING_SETUP_SQPOLL) {
		b->sqpoll = true;
		p.sq_thread_idle = c->sqpoll_idle_ms;
		if (c->sqpoll_cpu >= 0) {
			p.flags |= IORING_SETUP_SQ_AFF;
			p.sq_thread_cpu = (uint32_t)c->sqpoll_cpu;
		}
	}
	if (b->nvme)
		p.flags |= IORING_SETUP_SQE128 | IORING_SETUP_CQE32;
	if (t->iopoll)
		p.flags |= IORING_SETUP_IOPOLL;
	ret = io_uring_queue_init_params(pow2_at_least(2ull * c->qd), &b->ring, &p);
	if (ret < 0) {
		fprintf(stderr, "liburing: io_uring_queue_init(flags 0x%x): %s\n", p.flags,
			strerror(-ret));
		goto fail;
	}
	b->ring_up = true;
	b->bufsz = pow2_at_least(c->bs);
	b->area = b->bufsz * c->qd;
	b->bufs = mmap(NULL, b->area, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->bufs == MAP_FAILED) {
		fprintf(stderr, "liburing: no memory for buffers\n");
		goto fail;
	}
	for (i = 0; i < c->qd; i++)
		fill_pattern(b->bufs + i * b->bufsz, c->bs, i + 1);
	/* One registered buffer (index 0) holding every slot, like the
	 * engine's registered data area. */
	iov.iov_base = b->bufs;
	iov.iov_len = b->area;
	ret = io_uring_register_buffers(&b->ring, &iov, 1);
	if (ret < 0) {
		fprintf(stderr, "liburing: io_uring_register_buffers: %s\n", strerror(-ret));
		goto fail;
	}
	ret = io_uring_register_files(&b->ring, &b->fd, 1);
	if (ret < 0) {
		fprintf(stderr, "liburing: io_uring_register_files: %s\n", strerror(-ret));
		goto fail;
	}
	*priv = b;
	return 0;
fail:
	base_close(b, r);
	return -1;
}

static void base_prep(const struct base *b, struct io_uring_sqe *sqe, const struct bench_io *io)
{
	void *buf = b->bufs + io->slot * b->bufsz;

	if (b->nvme) {
		/* NVMe passthrough on the registered /dev/ngXnY (fixed file 0),
		 * data in registered buffer 0: SQE128 carries the 72-byte
		 * struct nvme_uring_cmd from byte 48 (sqe->cmd). */
		struct nvme_uring_cmd *nc = (struct nvme_uring_cmd *)sqe->cmd;
		uint64_t slba = io->off >> b->lba_shift;

		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, 0, NULL, 0, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
		sqe->cmd_op = NVME_URING_CMD_IO;
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = 0;
		memset(sqe->cmd, 0, 80);
		nc->opcode = b->rd ? IO_UNIFIED_NVME_CMD_READ : IO_UNIFIED_NVME_CMD_WRITE;
		nc->nsid = b->nsid;
		nc->addr = (uintptr_t)buf;
		nc->data_len = b->bs;
		nc->cdw10 = (uint32_t)slba;
		nc->cdw11 = (uint32_t)(slba >> 32);
		nc->cdw12 = (b->bs >> b->lba_shift) - 1;
	} else if (b->rd) {
		io_uring_prep_read_fixed(sqe, 0, buf, b->bs, io->off, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
	} else {
		io_uring_prep_write_fixed(sqe, 0, buf, b->bs, io->off, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	sqe->user_data = io->slot;
}

static int base_submit(void *priv, const struct bench_io *io, uint32_t n)
{
	struct base *b = priv;
	uint32_t i;

	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

		if (!sqe) {
			fprintf(stderr, "liburing: SQ has no room\n");
			return -1;
		}
		base_prep(b, sqe, &io[i]);
	}
	return 0;
}

/* SQPOLL: publish (waking the SQ thread only if it sleeps), then enter to
 * wait only if fewer than @min_complete completions are ready. */
static int sqpoll_wait(struct base *b, uint32_t min_complete)
{
	struct io_uring_cqe *cqe;
	int ret = io_uring_submit(&b->ring);

	if (ret < 0) {
		fprintf(stderr, "liburing: io_uring_submit: %s\n", strerror(-ret));
		return -1;
	}
	if (io_uring_cq_ready(&b->ring) >= min_complete)
		return 0;
	do {
		ret = io_uring_wait_cqe_nr(&b->ring, &cqe, min_complete);
	} while (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY);
	if (ret < 0) {
		fprintf(stderr, "liburing: io_uring_wait_cqe_nr: %s\n", strerror(-ret));
		return -1;
	}
	return 0;
}

static int base_wait(void *priv, uint32_t min_complete, int timeout_ms)
{
	struct base *b = priv;
	int ret;

	(void)timeout_ms;	/* unbounded, as io_uring_submit_and_wait() is */
	if (b->sqpoll)
		return sqpoll_wait(b, min_complete);
	do {
		ret = io_uring_submit_and_wait(&b->ring, min_complete);
	} while (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY);
	if (ret < 0) {
		fprintf(stderr, "liburing: io_uring_submit_and_wait: %s\n", strerror(-ret));
		return -1;
	}
	return 0;
}

static uint32_t base_reap(void *priv, struct bench_run *r, uint32_t *slots, uint32_t max)
{
	struct base *b = priv;
	struct io_uring_cqe *cqe;
	unsigned int head;
	uint32_t got = 0;

	io_uring_for_each_cqe(&b->ring, head, cqe) {
		if (got == max)
			break;
		slots[got] = UINT32_MAX;
		if (cqe->user_data >= b->qd) {
			bench_note_error(r, "CQE with unknown user_data %" PRIu64,
					 (uint64_t)cqe->user_data);
		} else {
			if (b->nvme) {
				/* uring_cmd: 0 = success, > 0 NVMe status, < 0 -errno. */
				if (cqe->res > 0)
					bench_note_error(r, "command failed: NVMe status 0x%04x (%s)",
							 cqe->res, unified_status_str((uint16_t)cqe->res));
				else if (cqe->res < 0)
					bench_note_error(r, "command failed: %s", strerror(-cqe->res));
			} else if (cqe->res < 0) {
				bench_note_error(r, "command failed: %s", strerror(-cqe->res));
			} else if ((uint32_t)cqe->res != b->bs) {
				bench_note_error(r, "short transfer: %d of %u bytes", cqe->res, b->bs);
			}
			slots[got] = (uint32_t)cqe->user_data;
		}
		got++;
	}
	io_uring_cq_advance(&b->ring, got);
	return got;
}

/* The SQ thread has gone to sleep (it sets NEED_WAKEUP when it does). */
static bool sq_thread_sleeps(const void *arg)
{
	const struct base *b = arg;

	return IO_URING_READ_ONCE(*b->ring.sq.kflags) & IORING_SQ_NEED_WAKEUP;
}

/* It polls for sq_thread_idle after its last SQE, then sleeps. */
static bool sqpoll_settle(void *priv, const struct bench_cfg *c)
{
	return bench_wait_until(sq_thread_sleeps, priv, c->sqpoll_idle_ms + 500);
}

/* The kernel names the SQ thread "iou-sqp-<pid>". */
static const char *sqpoll_helper(const struct bench_cfg *c)
{
	(void)c;
	return "iou-sqp-";
}

static const struct liburing_variant plain = { .setup_flags = 0 };
static const struct liburing_variant sqpoll = { .setup_flags = IORING_SETUP_SQPOLL };

/* Every variant is the same code: only the setup flags differ. */
#define LIBURING_CALLS							\
	.open = base_open, .submit = base_submit, .wait = base_wait,	\
	.reap = base_reap, .close = base_close

const struct bench_engine_ops engine_liburing = {
	.name = "liburing",
	.key = "liburing",
	.baseline = true,
	.variant = &plain,
	LIBURING_CALLS,
};

const struct bench_engine_ops engine_liburing_sqpoll = {
	.name = "liburing-sqpoll",
	.key = "sqpoll",
	.baseline = true,
	.variant = &sqpoll,
	.helper = sqpoll_helper,
	.helper_label = "sq thread",
	.settle = sqpoll_settle,
	LIBURING_CALLS,
};
