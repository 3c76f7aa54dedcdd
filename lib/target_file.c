/* SPDX-License-Identifier: MIT */
/* Target: a regular file as an NVMe namespace (the embedded default). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "internal.h"

#define DEFAULT_FILE_SIZE (1ull << 30)

static int file_open(struct unified_target *t, const char *path, const struct unified_opts *o)
{
	uint32_t lba = o->lba_size ? o->lba_size : 4096;
	uint64_t want = o->file_size ? o->file_size : DEFAULT_FILE_SIZE;
	int flags = O_RDWR | O_DIRECT | O_CLOEXEC;
	bool create = o->flags & UNIFIED_OPT_CREATE;
	struct stat st;

	/* Every check that can fail without touching the file comes first; what
	 * open() creates or grows is undone by file_close() until the
	 * registration has succeeded (no half state). */
	if (lba != 512 && lba != 4096)
		return unified_set_err(EINVAL, "file target LBA size %u must be 512 or 4096", lba);
	if (create && (want % lba || want / lba == 0))
		return unified_set_err(EINVAL, "file size %llu is not a positive multiple of the LBA size %u",
				       (unsigned long long)want, lba);
	if (create) {
		t->fd = open(path, flags | O_CREAT | O_EXCL, 0600);
		if (t->fd >= 0) {
			t->created = true;
		} else if (errno == EINVAL) {
			/* O_EXCL made the file, then O_DIRECT was refused: remove it. */
			unlink(path);
			errno = EINVAL;
		} else if (errno == EEXIST) {
			t->fd = open(path, flags);
		}
	} else {
		t->fd = open(path, flags);
	}
	if (t->fd < 0) {
		int err = errno;

		if (err == EINVAL)
			return unified_set_err(err, "%s: the file system does not support O_DIRECT "
					       "(tmpfs?); put the file on a disk file system", path);
		return unified_set_err(err, "cannot open %s: %s", path, strerror(err));
	}
	if (fstat(t->fd, &st))
		return unified_set_err(errno, "fstat %s: %s", path, strerror(errno));
	if (create && (uint64_t)st.st_size < want) {
		if (!t->created)
			t->old_size = st.st_size;
		if (ftruncate(t->fd, (off_t)want))
			return unified_set_err(errno, "cannot size %s to %llu bytes: %s", path,
					       (unsigned long long)want, strerror(errno));
		st.st_size = (off_t)want;
	}
	t->lba_shift = lba == 512 ? 9 : 12;
	t->nlba = (uint64_t)st.st_size >> t->lba_shift;
	if (!t->nlba)
		return unified_set_err(EINVAL, "%s is smaller than one %u-byte LBA", path, lba);
	t->nsid = 1;
	t->max_xfer = UNIFIED_EMUL_MAX_XFER;
	t->buf_align = 512;
	t->ring_flags = 0;
	return 0;
}

static void file_close(struct unified_target *t)
{
	if (t->fd >= 0 && !t->committed) {
		/* Registration failed: leave the file as it was found. */
		if (t->created)
			unlink(t->path);
		else if (t->old_size >= 0 && ftruncate(t->fd, t->old_size))
			t->old_size = -1;	/* best effort; nothing else to do */
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

const struct unified_target_ops unified_target_file_ops = {
	.name = "file",
	.open = file_open,
	.close = file_close,
	.submit = unified_emul_submit,
	.complete = unified_emul_complete,
};
