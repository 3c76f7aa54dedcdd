/* SPDX-License-Identifier: MIT */
/*
 * libunified-fio: a fio ioengine that runs a job through io_unified.
 *
 *   ioengine=external:/path/to/libunified-fio.so
 *
 * fio's I/O buffers live in the unified region's buffer area (fio asks the
 * engine for its I/O memory, iomem_alloc), so every io_u is a 128-byte
 * submission entry naming an offset in that area: "fixedbufs" is always
 * on.  Reads and Writes become NVMe Read/Write, fsync/fdatasync a Flush,
 * trims a Dataset Management (deallocate) whose range is written into the
 * io_u's own buffer.  Completions are reaped from the 64-byte CQ; a
 * non-zero NVMe status becomes an fio error (EIO, or the host errno the
 * CQE carries) and fio prints the status through errdetails.
 *
 * Targets: a regular file or block device (the library's NVMe-like
 * targets) or an NVMe generic node /dev/ngXnY.  One file per job (use
 * numjobs or several jobs for more).  Engine options: see options[] and
 * libunified-fio(7).
 *
 * Built against Debian's fio 3.33 source (fio/build.sh): the ioengine ABI
 * (FIO_IOOPS_VERSION, struct thread_data) is fio's internal one, so the
 * engine checks at init that it runs inside the fio it was built for.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "fio.h"
#include "optgroup.h"

#include <libunified.h>

#ifndef FIO_BUILD_VERSION
#error "FIO_BUILD_VERSION (the fio version string built against) must be defined"
#endif

extern const char fio_version_string[];

enum ufio_mode { UFIO_MODE_KICK = 0, UFIO_MODE_THREAD = 1 };
enum ufio_engine { UFIO_ENGINE_AUTO = 0, UFIO_ENGINE_USER = 1 };

struct ufio_options {
	void *pad;		/* fio: an option at offset 0 is "no offset" */
	unsigned int hipri;
	unsigned int fixedbufs;
	unsigned int sqpoll;
	unsigned int mode;
	unsigned int engine;
	unsigned int lba_size;
	unsigned int idle_spin_us;
};

/* Per io_u (by io_u->index): the io_u and its last completion's result. */
struct ufio_slot {
	struct io_u *io_u;
	uint32_t status;	/* NVMe status */
	int32_t res;		/* host errno behind it (CQE res) */
};

struct ufio_data {
	struct unified_ctx *ctx;
	struct unified_sq sq;
	struct unified_cq cq;
	struct unified_target_info info;
	struct fio_file *file;	/* the registered target */
	uint8_t *region;	/* our mapping (IO_UNIFIED_REGION_USER) */
	size_t region_len;
	uint8_t *buffers;	/* region + offsets.buffers: fio's orig_buffer */
	uint64_t buf_bytes;
	struct io_unified_reg reg;
	struct ufio_slot *slot;	/* by io_u->index */
	struct io_u **events;	/* reaped, for ->event() */
	struct io_u **pending;	/* queued since the last commit, in order */
	uint8_t *ranges;	/* DSM range lists: a 4 KiB slot per io_u, in the
				 * buffer area after fio's buffers (never in them:
				 * fio reuses write buffers unless refill_buffers) */
	unsigned int nr_io_us;
	unsigned int queued;	/* written since the last commit */
	unsigned int inflight;	/* committed, not reaped */
	struct fio_file *reregister;	/* registered when fio freed the I/O memory */
};

/* errdetails() gets only the io_u; the job's state is per thread. */
static __thread struct ufio_data *ufio_current;

static struct fio_option options[] = {
	{
		.name	= "hipri",
		.lname	= "Polled completions",
		.type	= FIO_OPT_STR_SET,
		.off1	= offsetof(struct ufio_options, hipri),
		.help	= "Poll for completions (an IOPOLL ring, UNIFIED_OPT_IOPOLL)",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "fixedbufs",
		.lname	= "Fixed buffers",
		.type	= FIO_OPT_STR_SET,
		.off1	= offsetof(struct ufio_options, fixedbufs),
		.help	= "Accepted for io_uring job files; always on (buffers are the region's)",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "sqthread_poll",
		.lname	= "Engine thread",
		.type	= FIO_OPT_STR_SET,
		.off1	= offsetof(struct ufio_options, sqpoll),
		.help	= "Same as unified_mode=thread (an engine thread polls the SQ)",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "unified_mode",
		.lname	= "io_unified engine mode",
		.type	= FIO_OPT_STR,
		.off1	= offsetof(struct ufio_options, mode),
		.help	= "Who consumes the SQ",
		.def	= "kick",
		.posval = {
			{ .ival = "kick", .oval = UFIO_MODE_KICK,
			  .help = "fio kicks the engine at commit (unified_kick)" },
			{ .ival = "thread", .oval = UFIO_MODE_THREAD,
			  .help = "an engine thread polls the SQ (UNIFIED_MODE_THREAD)" },
		},
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "unified_engine",
		.lname	= "io_unified engine",
		.type	= FIO_OPT_STR,
		.off1	= offsetof(struct ufio_options, engine),
		.help	= "Kernel engine when the kernel has it, or always the library's",
		.def	= "auto",
		.posval = {
			{ .ival = "auto", .oval = UFIO_ENGINE_AUTO,
			  .help = "IORING_REGISTER_UNIFIED_IFQ when available and applicable" },
			{ .ival = "user", .oval = UFIO_ENGINE_USER,
			  .help = "the library's engine (UNIFIED_OPT_USER_ENGINE)" },
		},
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "unified_lba_size",
		.lname	= "LBA size of a file target",
		.type	= FIO_OPT_INT,
		.off1	= offsetof(struct ufio_options, lba_size),
		.help	= "Regular-file target: LBA size in bytes, 512 or 4096 (default 4096)",
		.def	= "0",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "unified_idle_spin_us",
		.lname	= "Engine thread spin",
		.type	= FIO_OPT_INT,
		.off1	= offsetof(struct ufio_options, idle_spin_us),
		.help	= "Thread mode: microseconds the engine thread polls before it sleeps (0 = library default)",
		.def	= "0",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= NULL,
	},
};

static uint32_t roundup_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* Map a region (ours, IO_UNIFIED_REGION_USER) with at least @total bytes of
 * buffers, so that it exists before fio lays out the target file
 * (registration comes at open time). */
static int ufio_alloc_region(struct thread_data *td, struct ufio_data *ld, uint64_t total)
{
	uint32_t bsz = 4096;
	uint64_t nbuf, size, fio_bytes = (total + 4095) & ~4095ull;
	void *p;
	int ret;

	/* fio's buffers, then a 4 KiB slot per io_u for DSM range lists. */
	total = fio_bytes + (uint64_t)ld->nr_io_us * 4096;
	nbuf = (total + bsz - 1) / bsz;
	while (nbuf > IO_UNIFIED_MAX_BUF_ENTRIES && bsz < IO_UNIFIED_MAX_BUF_SIZE) {
		bsz <<= 1;
		nbuf = (total + bsz - 1) / bsz;
	}
	memset(&ld->reg, 0, sizeof(ld->reg));
	ld->reg.sq_entries = roundup_pow2(ld->nr_io_us);
	ld->reg.buffer_entries = (uint32_t)(nbuf > IO_UNIFIED_MAX_BUF_ENTRIES ?
					     IO_UNIFIED_MAX_BUF_ENTRIES + 1ull : nbuf);
	ld->reg.buffer_entry_size = bsz;
	ret = unified_region_layout(&ld->reg, &size);
	if (ret) {
		log_err("libunified-fio: %llu bytes of I/O buffers (iodepth %u): %s\n",
			(unsigned long long)total, td->o.iodepth, unified_errmsg());
		return 1;
	}
	size = (size + 4095) & ~4095ull;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_err("libunified-fio: mmap of a %llu-byte region: %s\n",
			(unsigned long long)size, strerror(errno));
		return 1;
	}
	ld->region = p;
	ld->region_len = size;
	ld->buffers = ld->region + ld->reg.offsets.buffers;
	ld->buf_bytes = (uint64_t)ld->reg.buffer_entries * bsz;
	ld->ranges = ld->buffers + fio_bytes;
	return 0;
}

static int ufio_register(struct thread_data *td, struct fio_file *f);

/* fio's I/O memory (allocate_io_mem) is the region's buffer area. */
static int ufio_iomem_alloc(struct thread_data *td, size_t total)
{
	struct ufio_data *ld = td->io_ops_data;

	if (ufio_alloc_region(td, ld, total))
		return 1;
	td->orig_buffer = (char *)ld->buffers;
	/* fio frees and allocates the I/O memory again in the middle of a
	 * job when a replayed log needs larger buffers (iolog, blktrace):
	 * the open file goes on in the new region. */
	if (ld->reregister) {
		struct fio_file *f = ld->reregister;

		ld->reregister = NULL;
		if (ufio_register(td, f))
			return 1;
	}
	return 0;
}

static void ufio_unregister(struct thread_data *td, struct ufio_data *ld)
{
	int ret;

	if (!ld->ctx)
		return;
	ret = unified_unregister(ld->ctx);
	if (ret)
		log_err("libunified-fio: unified_unregister: %s\n", strerror(-ret));
	ld->ctx = NULL;
	ld->file = NULL;
	(void)td;
}

static void ufio_iomem_free(struct thread_data *td)
{
	struct ufio_data *ld = td->io_ops_data;

	if (!ld)
		return;
	/* The library must be done with caller memory before it goes. */
	if (ld->ctx && ld->file)
		ld->reregister = ld->file;
	ufio_unregister(td, ld);
	if (ld->region)
		munmap(ld->region, ld->region_len);
	ld->region = NULL;
	ld->buffers = NULL;
	td->orig_buffer = NULL;
}

/* Register the job's file with io_unified (once per job). */
static int ufio_register(struct thread_data *td, struct fio_file *f)
{
	struct ufio_data *ld = td->io_ops_data;
	struct ufio_options *o = td->eo;
	struct io_unified_region_desc desc = { 0 };
	struct unified_opts uo = { 0 };
	int ret;

	if (ld->ctx) {
		if (ld->file == f)
			return 0;
		log_err("libunified-fio: one file per job (%s is registered, %s is not); use "
			"numjobs or one job per file\n", ld->file->file_name, f->file_name);
		return EINVAL;
	}
	if (!ld->region) {
		/* No data buffers (a trim-only job): the region holds only the
		 * Dataset Management range slots. */
		if (ufio_alloc_region(td, ld, 0))
			return ENOMEM;
	}
	desc.flags = IO_UNIFIED_REGION_USER;
	desc.user_addr = (uintptr_t)ld->region;
	desc.size = ld->region_len;
	ld->reg.region_ptr = (uintptr_t)&desc;
	ld->reg.nvme_dev_path = (uintptr_t)f->file_name;
	uo.mode = (o->mode == UFIO_MODE_THREAD || o->sqpoll) ? UNIFIED_MODE_THREAD : UNIFIED_MODE_KICK;
	uo.flags = (o->hipri ? UNIFIED_OPT_IOPOLL : 0) |
		   (o->engine == UFIO_ENGINE_USER ? UNIFIED_OPT_USER_ENGINE : 0);
	uo.lba_size = o->lba_size;
	uo.idle_spin_us = o->idle_spin_us;
	ret = unified_register(&ld->reg, &uo, &ld->ctx);
	ld->reg.region_ptr = 0;
	ld->reg.nvme_dev_path = 0;
	if (ret) {
		log_err("libunified-fio: register %s: %s\n", f->file_name, unified_errmsg());
		ld->ctx = NULL;
		return -ret;
	}
	if (unified_sq_init(ld->ctx, &ld->sq) || unified_cq_init(ld->ctx, &ld->cq) ||
	    unified_target_info(ld->ctx, &ld->info)) {
		log_err("libunified-fio: %s: ring setup: %s\n", f->file_name, unified_errmsg());
		ufio_unregister(td, ld);
		return EINVAL;
	}
	if (o->hipri && !ld->info.iopoll) {
		log_err("libunified-fio: hipri: %s cannot poll completions (no poll queues, or not "
			"an NVMe namespace)\n", f->file_name);
		ufio_unregister(td, ld);
		return EOPNOTSUPP;
	}
	ld->file = f;
	/* Which engine serves the job, in fio's normal output only (a line in
	 * JSON or terse output would break their parsers); flushed, since a
	 * job process leaves with _exit(). */
	if (output_format & FIO_OUTPUT_NORMAL) {
		log_info("libunified-fio: %s: nsid %u, %u-byte LBAs, %llu blocks, %s engine, %s "
			 "mode%s\n", f->file_name, ld->info.nsid, ld->info.lba_size,
			 (unsigned long long)ld->info.nlba, ld->info.engine,
			 uo.mode == UNIFIED_MODE_THREAD ? "thread" : "kick",
			 ld->info.iopoll ? ", polled" : "");
		fflush(f_out);
	}
	return 0;
}

static int ufio_init(struct thread_data *td)
{
	struct ufio_data *ld;

	if (strcmp(fio_version_string, FIO_BUILD_VERSION)) {
		log_err("libunified-fio: built for %s, running in %s: rebuild it against this fio's "
			"source (fio/build.sh)\n", FIO_BUILD_VERSION, fio_version_string);
		return 1;
	}
	if (td->files_index > 1 || td->o.nr_files > 1) {
		log_err("libunified-fio: one file per job (this job has %u); use numjobs or one "
			"job per file\n", td->files_index > td->o.nr_files ? td->files_index :
			td->o.nr_files);
		return 1;
	}
	ld = calloc(1, sizeof(*ld));
	if (!ld)
		return 1;
	ld->nr_io_us = td->o.iodepth ? td->o.iodepth : 1;
	ld->slot = calloc(ld->nr_io_us, sizeof(*ld->slot));
	ld->events = calloc(ld->nr_io_us, sizeof(*ld->events));
	ld->pending = calloc(ld->nr_io_us, sizeof(*ld->pending));
	if (!ld->slot || !ld->events || !ld->pending) {
		free(ld->slot);
		free(ld->events);
		free(ld->pending);
		free(ld);
		return 1;
	}
	td->io_ops_data = ld;
	ufio_current = ld;
	return 0;
}

static void ufio_cleanup(struct thread_data *td)
{
	struct ufio_data *ld = td->io_ops_data;

	if (!ld)
		return;
	ufio_unregister(td, ld);
	if (ld->region)
		munmap(ld->region, ld->region_len);
	free(ld->slot);
	free(ld->events);
	free(ld->pending);
	free(ld);
	td->io_ops_data = NULL;
	td->orig_buffer = NULL;
	if (ufio_current == ld)
		ufio_current = NULL;
}

static int ufio_io_u_init(struct thread_data *td, struct io_u *io_u)
{
	struct ufio_data *ld = td->io_ops_data;

	if (io_u->index >= ld->nr_io_us)
		return EINVAL;
	ld->slot[io_u->index].io_u = io_u;
	return 0;
}

/* After fio carved its io_u buffers out of the region (init_io_u_buffers):
 * each must lie in the buffer area. */
static int ufio_post_init(struct thread_data *td)
{
	struct ufio_data *ld = td->io_ops_data;
	unsigned long long bs = td_max_bs(td);
	unsigned int i;

	for (i = 0; i < ld->nr_io_us; i++) {
		struct io_u *io_u = ld->slot[i].io_u;
		uint64_t off;

		if (!io_u || !io_u->buf)
			continue;
		off = (uint64_t)((uint8_t *)io_u->buf - ld->buffers);
		if (!ld->buffers || (uint8_t *)io_u->buf < ld->buffers || off + bs > ld->buf_bytes) {
			log_err("libunified-fio: io_u %u's buffer is outside the region (mem= or "
				"iomem= set? the engine provides the I/O memory)\n", i);
			return 1;
		}
		/* The library serves the buffer area as 1 GiB fixed-buffer
		 * chunks; a transfer may not straddle two. */
		if (bs && off >> 30 != (off + bs - 1) >> 30) {
			log_err("libunified-fio: iodepth %u x bs %llu: an I/O buffer straddles a "
				"1 GiB boundary of the buffer area; use a smaller iodepth or bs\n",
				td->o.iodepth, bs);
			return 1;
		}
	}
	return 0;
}

/* The size of an NVMe generic node, which stat() does not give: register
 * briefly (the library's own small region, its engine) and read the
 * namespace size from Identify.  fio asks in its main process, before the
 * job has an engine context. */
static int ufio_ng_size(struct fio_file *f, uint64_t *bytes)
{
	struct io_unified_region_desc desc = { 0 };
	struct io_unified_reg reg = { 0 };
	struct unified_opts uo = { .flags = UNIFIED_OPT_USER_ENGINE };
	struct unified_target_info info;
	struct unified_ctx *ctx;
	int ret;

	reg.region_ptr = (uintptr_t)&desc;
	reg.nvme_dev_path = (uintptr_t)f->file_name;
	reg.sq_entries = 1;
	reg.buffer_entries = 1;
	reg.buffer_entry_size = 4096;
	ret = unified_register(&reg, &uo, &ctx);
	if (ret) {
		log_err("libunified-fio: %s: %s\n", f->file_name, unified_errmsg());
		return -ret;
	}
	ret = unified_target_info(ctx, &info);
	*bytes = info.nlba << info.lba_shift;
	unified_unregister(ctx);
	return ret ? EINVAL : 0;
}

static int ufio_get_file_size(struct thread_data *td, struct fio_file *f)
{
	uint64_t bytes;
	int ret;

	if (fio_file_size_known(f))
		return 0;
	if (f->filetype != FIO_TYPE_CHAR)
		return generic_get_file_size(td, f);
	ret = ufio_ng_size(f, &bytes);
	if (ret) {
		td_verror(td, ret, "libunified-fio namespace size");
		return 1;
	}
	f->real_file_size = bytes;
	fio_file_set_size_known(f);
	return 0;
}

static int ufio_open_file(struct thread_data *td, struct fio_file *f)
{
	int ret = generic_open_file(td, f);

	/* fio also opens files from its main process (sizes, layout) where
	 * the job has no engine context yet: only the job registers. */
	if (ret || !td->io_ops_data)
		return ret;
	ret = ufio_register(td, f);
	if (ret) {
		(void)!generic_close_file(td, f);
		td_verror(td, ret, "libunified-fio register");
		return 1;
	}
	return 0;
}

/* Fail @io_u at queue time, with the host-made status fio will print. */
static enum fio_q_status ufio_refuse(struct ufio_data *ld, struct io_u *io_u, int err)
{
	fio_gettime(&io_u->issue_time, NULL);	/* FIO_ASYNCIO_SETS_ISSUE_TIME */
	ld->slot[io_u->index].status = IO_UNIFIED_STATUS(IO_UNIFIED_SCT_GENERIC,
						    IO_UNIFIED_SC_INVALID_FIELD) | IO_UNIFIED_STATUS_DNR;
	ld->slot[io_u->index].res = -err;
	io_u->error = err;
	return FIO_Q_COMPLETED;
}

/* Fill @io_u's result from @cqe. */
static void ufio_complete(struct ufio_data *ld, struct io_u *io_u, const struct io_unified_cqe *cqe)
{
	ld->slot[io_u->index].status = cqe->status;
	ld->slot[io_u->index].res = cqe->res;
	if (cqe->status) {
		io_u->error = (cqe->flags & IO_UNIFIED_CQE_F_ERRNO) && cqe->res < 0 ? -cqe->res : EIO;
	} else {
		io_u->error = 0;
		if (io_u->ddir == DDIR_READ || io_u->ddir == DDIR_WRITE)
			io_u->resid = cqe->len < io_u->xfer_buflen ? io_u->xfer_buflen - cqe->len : 0;
	}
}

/*
 * A trim is Dataset Management (deallocate), run alone and waited for, as
 * fio's io_uring engine runs its trims (FIO_ASYNCIO_SYNC_TRIM): NVMe does
 * not order a deallocate against a write of the same blocks, and fio's
 * trimwrite issues exactly that.  The 16-byte range goes into the io_u's
 * slot after fio's buffers.
 */
static enum fio_q_status ufio_trim(struct thread_data *td, struct ufio_data *ld, struct io_u *io_u,
				   uint64_t slba, uint64_t nlb)
{
	struct unified_dsm_range *r = (void *)(ld->ranges + (uint64_t)io_u->index * 4096);
	uint32_t idx, n;
	int ret;

	if (ld->queued || ld->inflight)
		return FIO_Q_BUSY;	/* fio reaps what is in flight, then retries */
	if (nlb > UINT32_MAX)
		return ufio_refuse(ld, io_u, EINVAL);
	if (unified_sq_reserve(&ld->sq, 1, &idx) != 1)
		return FIO_Q_BUSY;
	r->cattr = 0;
	r->nlb = (uint32_t)nlb;
	r->slba = slba;
	unified_prep_dsm_deallocate(unified_sq_entry(&ld->sq, idx), ld->info.nsid, 1,
				    (uint64_t)((uint8_t *)r - ld->buffers), io_u->index);
	unified_sq_submit(&ld->sq, 1);
	for (;;) {
		ret = unified_enter(ld->ctx, 1, -1);
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			td_verror(td, -ret, "unified_enter (trim)");
			io_u->error = -ret;
			return FIO_Q_COMPLETED;
		}
		n = unified_cq_peek(&ld->cq, 1, &idx);
		if (n) {
			const struct io_unified_cqe *cqe = unified_cq_entry(&ld->cq, idx);
			bool ours = cqe->user_data == io_u->index;

			if (ours)
				ufio_complete(ld, io_u, cqe);
			else
				log_err("libunified-fio: a completion with unexpected user_data "
					"%llu during a trim\n", (unsigned long long)cqe->user_data);
			unified_cq_release(&ld->cq, 1);
			if (ours)
				break;
		} else if (!ret) {
			log_err("libunified-fio: the trim's completion never came\n");
			return ufio_refuse(ld, io_u, EIO);
		}
	}
	io_u_mark_submit(td, 1);
	io_u_mark_complete(td, 1);
	return FIO_Q_COMPLETED;
}

static enum fio_q_status ufio_queue(struct thread_data *td, struct io_u *io_u)
{
	struct ufio_data *ld = td->io_ops_data;
	uint32_t shift = ld->info.lba_shift, idx;
	uint64_t off = (uint64_t)((uint8_t *)io_u->xfer_buf - ld->buffers);
	uint64_t len = io_u->xfer_buflen, slba = io_u->offset >> shift;
	struct io_unified_sqe *sqe;
	int ret = 0;

	fio_ro_check(td, io_u);
	if (!ld->ctx)
		return ufio_refuse(ld, io_u, ENXIO);
	ld->slot[io_u->index].status = 0;
	ld->slot[io_u->index].res = 0;
	if (io_u->ddir == DDIR_READ || io_u->ddir == DDIR_WRITE || io_u->ddir == DDIR_TRIM) {
		if ((io_u->offset | len) & ((1ull << shift) - 1) || !len) {
			log_err("libunified-fio: %s of %llu bytes at %llu is not a whole number of "
				"%u-byte LBAs\n", io_ddir_name(io_u->ddir), io_u->xfer_buflen,
				io_u->offset, ld->info.lba_size);
			return ufio_refuse(ld, io_u, EINVAL);
		}
	}
	if ((io_u->ddir == DDIR_READ || io_u->ddir == DDIR_WRITE) && len > ld->info.max_xfer) {
		log_err("libunified-fio: a %llu-byte transfer is over the target's limit of %u "
			"bytes (MDTS): use a smaller bs\n", io_u->xfer_buflen, ld->info.max_xfer);
		return ufio_refuse(ld, io_u, E2BIG);
	}
	if (io_u->ddir == DDIR_TRIM)
		return ufio_trim(td, ld, io_u, slba, len >> shift);
	if (unified_sq_reserve(&ld->sq, 1, &idx) != 1)
		return FIO_Q_BUSY;
	sqe = unified_sq_entry(&ld->sq, idx);
	switch (io_u->ddir) {
	case DDIR_READ:
		ret = unified_prep_read(sqe, ld->info.nsid, slba, (uint32_t)(len >> shift), off,
					(uint32_t)len, io_u->index);
		break;
	case DDIR_WRITE:
		ret = unified_prep_write(sqe, ld->info.nsid, slba, (uint32_t)(len >> shift), off,
					 (uint32_t)len, io_u->index);
		break;
	case DDIR_SYNC:
	case DDIR_DATASYNC:
		unified_prep_flush(sqe, ld->info.nsid, io_u->index);
		break;
	default:
		unified_sq_cancel(&ld->sq, 1);
		log_err("libunified-fio: unsupported data direction %s\n", io_ddir_name(io_u->ddir));
		return ufio_refuse(ld, io_u, EINVAL);
	}
	if (ret) {
		/* unified_prep_* marked the entry to fail (e.g. over 65536
		 * blocks): it still goes out and completes with Invalid Field. */
		dprint(FD_IO, "libunified-fio: entry marked to fail\n");
	}
	ld->pending[ld->queued++] = io_u;
	return FIO_Q_QUEUED;
}

static int ufio_commit(struct thread_data *td)
{
	struct ufio_data *ld = td->io_ops_data;
	struct timespec now;
	unsigned int i, n = ld->queued;
	int ret;

	if (!n)
		return 0;
	unified_sq_submit(&ld->sq, n);
	ld->queued = 0;
	ld->inflight += n;
	/* Kick mode: one engine pass issues them (kernel engine: one
	 * io_uring_enter).  Thread mode: wakes the engine thread only if it
	 * sleeps (NEED_WAKEUP). */
	ret = unified_kick(ld->ctx);
	/* Issue time after the kick, as fio's io_uring engine stamps it after
	 * io_uring_enter (FIO_ASYNCIO_SETS_ISSUE_TIME): the kick's cost is
	 * submission latency, not lost between slat and clat. */
	if (fio_fill_issue_time(td)) {
		fio_gettime(&now, NULL);
		for (i = 0; i < n; i++) {
			memcpy(&ld->pending[i]->issue_time, &now, sizeof(now));
			io_u_queued(td, ld->pending[i]);
		}
		if (td->o.read_iolog_file)
			memcpy(&td->last_issue, &now, sizeof(now));
	}
	io_u_mark_submit(td, n);
	if (ret < 0 && ret != -EINTR) {
		td_verror(td, -ret, "unified_kick");
		return ret;
	}
	return 0;
}

/* Move up to @max ready CQEs into ld->events; how many. */
static unsigned int ufio_reap(struct ufio_data *ld, unsigned int have, unsigned int max)
{
	uint32_t idx, n, i;

	n = unified_cq_peek(&ld->cq, max - have, &idx);
	for (i = 0; i < n; i++) {
		const struct io_unified_cqe *cqe = unified_cq_entry(&ld->cq, idx + i);
		uint64_t ud = cqe->user_data;
		struct io_u *io_u;

		if (ud >= ld->nr_io_us || !ld->slot[ud].io_u) {
			log_err("libunified-fio: a completion with unknown user_data %llu\n",
				(unsigned long long)ud);
			continue;
		}
		io_u = ld->slot[ud].io_u;
		ufio_complete(ld, io_u, cqe);
		ld->events[have++] = io_u;
		if (ld->inflight)
			ld->inflight--;
	}
	unified_cq_release(&ld->cq, n);
	return have;
}

static int ufio_getevents(struct thread_data *td, unsigned int min, unsigned int max,
			  const struct timespec *t)
{
	struct ufio_data *ld = td->io_ops_data;
	unsigned int have = 0;
	int timeout_ms = t ? (int)(t->tv_sec * 1000 + t->tv_nsec / 1000000) : -1;

	if (max > ld->nr_io_us)
		max = ld->nr_io_us;
	for (;;) {
		int ret;

		have = ufio_reap(ld, have, max);
		if (have >= min || have == max)
			return (int)have;
		ret = unified_enter(ld->ctx, min - have, timeout_ms);
		if (ret == -ETIME)
			return (int)ufio_reap(ld, have, max);
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			td_verror(td, -ret, "unified_enter");
			return ret;
		}
		if (ret == 0) {
			unsigned int now = ufio_reap(ld, have, max);

			if (now != have) {
				have = now;
				continue;
			}
			/* unified_enter() returns early only when nothing is in
			 * flight: waiting on would spin for ever. */
			log_err("libunified-fio: fio waits for %u completions, the engine has none "
				"in flight (%u committed and not reaped)\n", min - have, ld->inflight);
			td_verror(td, EIO, "libunified-fio getevents");
			return -EIO;
		}
	}
}

static struct io_u *ufio_event(struct thread_data *td, int event)
{
	struct ufio_data *ld = td->io_ops_data;

	return ld->events[event];
}

static char *ufio_errdetails(struct io_u *io_u)
{
	struct ufio_data *ld = ufio_current;
	char *msg = malloc(160);
	uint32_t st;

	if (!msg)
		return NULL;
	if (!ld || io_u->index >= ld->nr_io_us) {
		snprintf(msg, 160, "io_unified: no status");
		return msg;
	}
	st = ld->slot[io_u->index].status;
	snprintf(msg, 160, "io_unified: NVMe status 0x%04x (SCT 0x%x SC 0x%02x%s: %s)%s%s", st,
		 IO_UNIFIED_STATUS_SCT(st), IO_UNIFIED_STATUS_SC(st),
		 st & IO_UNIFIED_STATUS_DNR ? ", DNR" : "", unified_status_str((uint16_t)st),
		 ld->slot[io_u->index].res ? ", host errno " : "",
		 ld->slot[io_u->index].res ? strerror(-ld->slot[io_u->index].res) : "");
	return msg;
}

static int ufio_invalidate(struct thread_data *td, struct fio_file *f)
{
	/* The library opens every target with O_DIRECT or passthrough: there
	 * is no page cache of ours to drop. */
	(void)td;
	(void)f;
	return 0;
}

/* fio finds the engine by this symbol name (ioengines.c, dlopen_ioengine). */
struct ioengine_ops ioengine = {
	.name			= "libunified",
	.version		= FIO_IOOPS_VERSION,
	/* SYNC_TRIM: trims run alone (ufio_trim); SETS_ISSUE_TIME: commit
	 * stamps the issue time after the kick; NO_OFFLOAD: an offload
	 * worker would be another thread_data without the registration. */
	.flags			= FIO_MEMALIGN | FIO_RAWIO | FIO_ASYNCIO_SYNC_TRIM |
				  FIO_ASYNCIO_SETS_ISSUE_TIME | FIO_NO_OFFLOAD,
	.init			= ufio_init,
	.io_u_init		= ufio_io_u_init,
	.post_init		= ufio_post_init,
	.queue			= ufio_queue,
	.commit			= ufio_commit,
	.getevents		= ufio_getevents,
	.event			= ufio_event,
	.errdetails		= ufio_errdetails,
	.cleanup		= ufio_cleanup,
	.open_file		= ufio_open_file,
	.close_file		= generic_close_file,
	.get_file_size		= ufio_get_file_size,
	.invalidate		= ufio_invalidate,
	.iomem_alloc		= ufio_iomem_alloc,
	.iomem_free		= ufio_iomem_free,
	.option_struct_size	= sizeof(struct ufio_options),
	.options		= options,
};
