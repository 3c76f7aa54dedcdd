/* SPDX-License-Identifier: MIT */
/* Target: a regular file as an NVMe namespace (the embedded default). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include "internal.h"

#define DEFAULT_FILE_SIZE (1ull << 30)
#define TMPFS_MAGIC_NR	0x01021994

/*
 * Direct-I/O alignment of @fd (statx STATX_DIOALIGN, Linux 6.1): *mem for
 * buffer addresses, *off for file offsets and lengths.  Without it, the
 * logical block size of the device under the file system.
 */
int unified_dio_align(int fd, const struct stat *st, uint32_t *mem, uint32_t *off)
{
	struct statx sx;
	char p[96];
	uint64_t v;

	memset(&sx, 0, sizeof(sx));
	if (!statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) && (sx.stx_mask & STATX_DIOALIGN) &&
	    sx.stx_dio_offset_align) {
		*mem = sx.stx_dio_mem_align;
		*off = sx.stx_dio_offset_align;
		return 0;
	}
	if (statx(fd, "", AT_EMPTY_PATH, 0, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN))
		return -EINVAL;	/* reported, and 0: no direct I/O on this file */
	*mem = *off = 512;
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/queue/logical_block_size",
		 major(st->st_dev), minor(st->st_dev));
	if (unified_read_u64_file(p, &v)) {
		snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/../queue/logical_block_size",
			 major(st->st_dev), minor(st->st_dev));
		if (unified_read_u64_file(p, &v))
			v = 512;
	}
	if (v >= 512 && v <= 65536 && !(v & (v - 1)))
		*mem = *off = (uint32_t)v;
	return 0;
}

/* Wait until @deadline (ns), through signals, for the CQE with user_data 1
 * (the probe read): 0 with its result in *@res, or -ETIME. */
static int probe_wait(struct io_uring *ring, uint64_t deadline, int *res)
{
	struct io_uring_cqe *cqe;

	for (;;) {
		uint64_t now = unified_now_ns();
		struct __kernel_timespec ts;
		int r;

		if (now >= deadline)
			return -ETIME;
		ts.tv_sec = (long long)((deadline - now) / 1000000000ull);
		ts.tv_nsec = (long long)((deadline - now) % 1000000000ull);
		r = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
		if (r == -EINTR)
			continue;
		if (r)
			return -ETIME;
		if (cqe->user_data == 1) {
			*res = cqe->res;
			io_uring_cqe_seen(ring, cqe);
			return 0;
		}
		io_uring_cqe_seen(ring, cqe);	/* the cancel's own completion */
	}
}

/*
 * The buffer alignment the kernel really accepts for this file with
 * registered buffers.  statx gives the DMA alignment (@mem), but before
 * some kernel version (6.1 and 6.12 refuse it, 6.18 accepts it) the block
 * layer also wants every page-split segment of a fixed buffer to be a
 * multiple of the logical block size, which makes the real rule @off.
 * Find out with one READ_FIXED of one block from offset 0 into a private
 * buffer that starts @mem bytes before a page end (nothing in the region is
 * touched).  Bounded: a device that does not answer in 5 s gets the strict
 * rule; the read is cancelled, and if it still has not ended, its buffer is
 * kept, never freed under it.  Returns the alignment to require.
 */
uint32_t unified_dio_probe(int fd, uint32_t mem, uint32_t off)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct iovec iov;
	void *buf;
	int res = -EINVAL, r = -EIO;

	if (mem >= off || off > 4096 || mem >= 4096)
		return mem > off ? mem : off;
	if (posix_memalign(&buf, 4096, 2 * 4096))
		return off;
	if (io_uring_queue_init(2, &ring, 0)) {
		free(buf);
		return off;
	}
	iov.iov_base = buf;
	iov.iov_len = 2 * 4096;
	if (!io_uring_register_buffers(&ring, &iov, 1) && (sqe = io_uring_get_sqe(&ring))) {
		io_uring_prep_read_fixed(sqe, fd, (uint8_t *)buf + 4096 - mem, off, 0, 0);
		sqe->user_data = 1;
		if (io_uring_submit(&ring) == 1) {
			r = probe_wait(&ring, unified_now_ns() + 5000000000ull, &res);
			if (r && (sqe = io_uring_get_sqe(&ring))) {
				io_uring_prep_cancel64(sqe, 1, 0);
				sqe->user_data = 2;
				io_uring_submit(&ring);
				if (!probe_wait(&ring, unified_now_ns() + 1000000000ull, &res))
					r = -ECANCELED;	/* ended: the buffer is free again */
			}
		}
	}
	io_uring_queue_exit(&ring);
	if (r == -ETIME)
		unified_keep(buf);	/* the read may still write it */
	else
		free(buf);
	return r == 0 && res != -EINVAL ? mem : off;
}

static int no_direct_io(const char *path, int fd)
{
	struct statfs sf;
	unsigned long type = fstatfs(fd, &sf) ? 0 : (unsigned long)sf.f_type;

	if (type == TMPFS_MAGIC_NR)
		return unified_set_err(EINVAL, "%s is on tmpfs, which has no direct I/O (O_DIRECT); "
				       "put the file on a disk file system", path);
	return unified_set_err(EINVAL, "%s: its file system (type 0x%lx) does not support direct "
			       "I/O (O_DIRECT); put the file on one that does", path, type);
}

static int file_init(struct unified_target *t, const struct stat *st0, const struct unified_opts *o)
{
	uint32_t lba = o->lba_size ? o->lba_size : 4096, mem_align, off_align;
	uint64_t want = o->file_size ? o->file_size : DEFAULT_FILE_SIZE;
	bool create = o->flags & UNIFIED_OPT_CREATE;
	struct stat st = *st0;
	int fl;

	/* Every check that can fail without touching the file comes first; what
	 * we create or grow is undone by unified_target_close() until the
	 * registration has succeeded (no half state). */
	if (lba != 512 && lba != 4096)
		return unified_set_err(EINVAL, "file target LBA size %u must be 512 or 4096", lba);
	if (create && (want % lba || want / lba == 0))
		return unified_set_err(EINVAL, "file size %llu is not a positive multiple of the LBA size %u",
				       (unsigned long long)want, lba);
	fl = fcntl(t->fd, F_GETFL);
	if (fl < 0 || fcntl(t->fd, F_SETFL, fl | O_DIRECT))
		return no_direct_io(t->path, t->fd);
	if (unified_dio_align(t->fd, &st, &mem_align, &off_align))
		return no_direct_io(t->path, t->fd);
	if (lba < off_align)
		return unified_set_err(EINVAL, "%s: its file system needs direct I/O aligned to %u bytes, "
				       "so %u-byte LBAs cannot work; use an LBA size of %u or more",
				       t->path, off_align, lba, off_align > 4096 ? off_align : 4096);
	if (create && (uint64_t)st.st_size < want) {
		if (!t->created)
			t->old_size = st.st_size;
		if (ftruncate(t->fd, (off_t)want))
			return unified_set_err(errno, "cannot size %s to %llu bytes: %s", t->path,
					       (unsigned long long)want, strerror(errno));
		st.st_size = (off_t)want;
	}
	t->lba_shift = lba == 512 ? 9 : 12;
	t->nlba = (uint64_t)st.st_size >> t->lba_shift;
	if (!t->nlba)
		return unified_set_err(EINVAL, "%s is smaller than one %u-byte LBA", t->path, lba);
	t->nsid = 1;
	t->max_xfer = UNIFIED_EMUL_MAX_XFER;
	t->buf_align = unified_dio_probe(t->fd, mem_align, off_align);
	t->ring_flags = 0;
	t->thin = true;		/* a file's blocks are allocated as they are written */
	return unified_emul_init(t);
}

const struct unified_target_ops unified_target_file_ops = {
	.name = "file",
	.init = file_init,
	.close = unified_emul_fini,
	.submit = unified_emul_submit,
	.complete = unified_emul_complete,
	.release = unified_emul_release,
	.supports = unified_emul_supports,
};
