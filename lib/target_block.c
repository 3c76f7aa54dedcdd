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

static int block_open(struct unified_target *t, const char *path, const struct unified_opts *o)
{
	uint64_t bytes = 0;
	int lbs = 0;

	t->fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (t->fd < 0)
		return unified_set_err(errno, "cannot open block device %s: %s", path, strerror(errno));
	if (ioctl(t->fd, BLKSSZGET, &lbs) || ioctl(t->fd, BLKGETSIZE64, &bytes))
		return unified_set_err(errno, "%s: cannot read the block geometry: %s", path,
				       strerror(errno));
	if (lbs < 512 || (lbs & (lbs - 1)))
		return unified_set_err(EINVAL, "%s: odd logical block size %d", path, lbs);
	if (o->lba_size && o->lba_size != (uint32_t)lbs)
		return unified_set_err(EINVAL, "%s has %d-byte logical blocks, not the requested %u",
				       path, lbs, o->lba_size);
	t->lba_shift = (uint32_t)__builtin_ctz((unsigned)lbs);
	t->nlba = bytes >> t->lba_shift;
	if (!t->nlba)
		return unified_set_err(EINVAL, "%s is empty", path);
	{
		/* PUNCH_HOLE on a block device is a zero-out that must not fall
		 * back to writing zeroes: it needs write-zeroes support. */
		struct stat st;
		char sys[96];
		FILE *f;
		unsigned long long wz = 0;

		if (!fstat(t->fd, &st)) {
			snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/queue/write_zeroes_max_bytes",
				 major(st.st_rdev), minor(st.st_rdev));
			f = fopen(sys, "r");
			if (f) {
				if (fscanf(f, "%llu", &wz) != 1)
					wz = 0;
				fclose(f);
			}
		}
		t->no_punch = wz == 0;
	}
	t->nsid = 1;
	t->max_xfer = UNIFIED_EMUL_MAX_XFER;
	t->buf_align = 512;
	t->ring_flags = 0;
	return 0;
}

static void block_close(struct unified_target *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

const struct unified_target_ops unified_target_block_ops = {
	.name = "block",
	.open = block_open,
	.close = block_close,
	.submit = unified_emul_submit,
	.complete = unified_emul_complete,
};
