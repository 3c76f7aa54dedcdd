/* SPDX-License-Identifier: MIT */
/* Target: a block device (loop, virtio, nvmeXnY...) as an NVMe namespace. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/fs.h>
#include "internal.h"


static int block_init(struct unified_target *t, const struct stat *st, const struct unified_opts *o)
{
	uint32_t mem_align = 0, off_align = 0;
	uint64_t bytes = 0, wz = 0;
	int lbs = 0, ro = 0, fl;
	char sys[96];

	if (ioctl(t->fd, BLKSSZGET, &lbs) || ioctl(t->fd, BLKGETSIZE64, &bytes))
		return unified_set_err(errno, "%s: cannot read the block geometry: %s", t->path,
				       strerror(errno));
	if (lbs < 512 || (lbs & (lbs - 1)))
		return unified_set_err(EINVAL, "%s: odd logical block size %d", t->path, lbs);
	if (o->lba_size && o->lba_size != (uint32_t)lbs)
		return unified_set_err(EINVAL, "%s has %d-byte logical blocks, not the requested %u",
				       t->path, lbs, o->lba_size);
	fl = fcntl(t->fd, F_GETFL);
	if (fl < 0 || fcntl(t->fd, F_SETFL, fl | O_DIRECT))
		return unified_set_err(errno, "%s: cannot use direct I/O: %s", t->path, strerror(errno));
	if (!ioctl(t->fd, BLKROGET, &ro) && ro)
		t->read_only = true;
	/* Buffers: the DMA alignment, or the logical block size where the
	 * kernel wants page-split segments in block multiples (see
	 * unified_dio_probe()); otherwise the kernel answers -EINVAL. */
	if (unified_dio_align(t->fd, st, &mem_align, &off_align))
		mem_align = off_align = (uint32_t)lbs;
	t->buf_align = unified_dio_probe(t->fd, mem_align, (uint32_t)lbs);
	t->lba_shift = (uint32_t)__builtin_ctz((unsigned)lbs);
	t->nlba = bytes >> t->lba_shift;
	if (!t->nlba)
		return unified_set_err(EINVAL, "%s is empty", t->path);
	/* PUNCH_HOLE on a block device is a zero-out that must not fall back
	 * to writing zeroes: it needs write-zeroes support. */
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/queue/write_zeroes_max_bytes",
		 major(st->st_rdev), minor(st->st_rdev));
	if (unified_read_u64_file(sys, &wz))
		wz = 0;
	t->no_punch = wz == 0;
	t->nsid = 1;
	t->max_xfer = UNIFIED_EMUL_MAX_XFER;
	t->ring_flags = 0;
	return unified_emul_init(t);
}

const struct unified_target_ops unified_target_block_ops = {
	.name = "block",
	.init = block_init,
	.close = unified_emul_fini,
	.submit = unified_emul_submit,
	.complete = unified_emul_complete,
	.release = unified_emul_release,
	.supports = unified_emul_supports,
};
