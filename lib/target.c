/* SPDX-License-Identifier: MIT */
/*
 * Opening a target.  The path is opened exactly once; the kind of target is
 * decided by fstat() of that descriptor (never stat() then open(), which a
 * swapped path could turn into a different file).  With UNIFIED_OPT_CREATE
 * and for the embedded default namespace, nothing outside the caller's
 * control is trusted: no symbolic links, only regular files the caller owns
 * with a single link, and the default lives in a private per-user directory.
 */
#include <fcntl.h>
#include <libgen.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

int unified_read_u64_file(const char *path, uint64_t *v)
{
	char buf[64], *end;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*v = strtoull(buf, &end, 10);
	return end == buf ? -EIO : 0;
}

/* The default path, and in *@named whether UNIFIED_DEFAULT_FILE chose it
 * (the environment is read once, here, for both answers). */
int unified_default_path_named(char *buf, size_t len, bool *named)
{
	const char *env = secure_getenv("UNIFIED_DEFAULT_FILE"), *dir = secure_getenv("TMPDIR");
	int n;

	if (!buf || !len)
		return unified_set_err(EINVAL, "unified_default_path: buf is NULL or len is 0");
	*named = env && *env;
	if (*named)
		n = snprintf(buf, len, "%s", env);
	else
		n = snprintf(buf, len, "%s/unified-%u/default.img", dir && *dir ? dir : "/var/tmp",
			     (unsigned)geteuid());
	if (n < 0 || (size_t)n >= len)
		return unified_set_err(ENAMETOOLONG, "the default namespace path needs %d bytes, "
				       "the buffer has %zu", n, len);
	return 0;
}

UNIFIED_EXPORT int unified_default_path(char *buf, size_t len)
{
	bool named;

	return unified_default_path_named(buf, len, &named);
}

/* The private directory of the default namespace: ours, mode 0700. */
static int private_dir(struct unified_target *t, const char *dir)
{
	struct stat st;
	int dfd;

	if (!mkdir(dir, 0700))
		snprintf(t->made_dir, sizeof(t->made_dir), "%s", dir);	/* removed on failure */
	else if (errno != EEXIST)
		return unified_set_err(errno, "cannot create %s for the default namespace: %s", dir,
				       strerror(errno));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return unified_set_err(errno == ELOOP ? EPERM : errno, "%s: %s%s", dir, strerror(errno),
				       errno == ELOOP ? " (a symbolic link: refused)" : "");
	if (fstat(dfd, &st) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		close(dfd);
		return unified_set_err(EPERM, "%s is not a private directory of user %u (owner %u, "
				       "mode %03o): refusing to keep the default namespace there",
				       dir, (unsigned)geteuid(), (unsigned)st.st_uid,
				       (unsigned)(st.st_mode & 0777));
	}
	return dfd;
}

/* UNIFIED_OPT_CREATE on an existing file: is it safe to use and grow? */
static int check_existing(const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return unified_set_err(EPERM, "%s exists and is not a regular file; UNIFIED_OPT_CREATE "
				       "only reuses regular files", path);
	if (st->st_uid != geteuid())
		return unified_set_err(EPERM, "%s belongs to user %u, not to the caller (%u): "
				       "UNIFIED_OPT_CREATE refuses it", path, (unsigned)st->st_uid,
				       (unsigned)geteuid());
	if (st->st_nlink != 1)
		return unified_set_err(EPERM, "%s has %lu hard links: UNIFIED_OPT_CREATE refuses it",
				       path, (unsigned long)st->st_nlink);
	if (!(st->st_mode & S_IWUSR))
		return unified_set_err(EACCES, "%s is not writable by its owner (mode %03o)", path,
				       (unsigned)(st->st_mode & 0777));
	return 0;
}

static int open_create(struct unified_target *t, const char *path, int dfd, const char *name)
{
	t->fd = openat(dfd, name, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (t->fd >= 0) {
		t->created = true;
		return 0;
	}
	if (errno != EEXIST)
		return unified_set_err(errno, "cannot create %s: %s", path, strerror(errno));
	t->fd = openat(dfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (t->fd < 0 && errno == ELOOP)
		return unified_set_err(ELOOP, "%s is a symbolic link: UNIFIED_OPT_CREATE does not "
				       "follow links", path);
	if (t->fd < 0)
		return unified_set_err(errno, "cannot open %s: %s", path, strerror(errno));
	return 0;
}

/*
 * A file we may create or grow is shared with every other registration of
 * the same path (the default namespace of one user, above all): each holds
 * a shared flock for as long as it has the file open, and a failed
 * registration undoes its creation or growth only if it can take the lock
 * exclusively, i.e. nobody else uses the file.  Taking the shared lock
 * waits at most about a second for a holder of an exclusive one; then the
 * name must still be this file (a failed registration may have removed
 * it meanwhile), else -EAGAIN: open again.
 */
static int lock_name(struct unified_target *t, int dfd, const char *name, const char *path)
{
	struct stat a, b;
	int i;

	for (i = 0; flock(t->fd, LOCK_SH | LOCK_NB); i++) {
		if (errno != EWOULDBLOCK || i >= 100)
			return unified_set_err(errno == EWOULDBLOCK ? EBUSY : errno, "%s is locked "
					       "exclusively by another process (flock)", path);
		usleep(10 * 1000);
	}
	t->locked = true;
	if (fstat(t->fd, &a) || fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return -EAGAIN;
	return 0;
}

static int open_existing(struct unified_target *t, const char *path)
{
	/* O_NONBLOCK: a FIFO or a device must not hang the open; cleared below. */
	t->fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (t->fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
		t->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (t->fd >= 0)
			t->read_only = true;
	}
	if (t->fd < 0)
		return unified_set_err(errno, "cannot open target %s: %s", path, strerror(errno));
	return 0;
}

int unified_target_open(struct unified_target *t, const char *path, bool is_default,
			bool private, const struct unified_opts *o)
{
	bool create = is_default || (o->flags & UNIFIED_OPT_CREATE);
	struct unified_opts opts = *o;
	char dir[256], name[256];
	int dfd = AT_FDCWD, ret, fl, attempt;
	struct stat st;

	t->fd = t->ctrl_fd = t->dir_fd = -1;
	t->old_size = -1;
	t->opt_flags = o->flags;
	snprintf(t->path, sizeof(t->path), "%s", path);
	if (strlen(path) >= sizeof(t->path))
		return unified_set_err(ENAMETOOLONG, "target path is longer than %zu bytes",
				       sizeof(t->path) - 1);
	snprintf(name, sizeof(name), "%s", path);
	if (private)
		snprintf(name, sizeof(name), "%s", strrchr(path, '/') + 1);
	if (!create) {
		ret = open_existing(t, path);
		if (ret)
			return ret;
	}
	/*
	 * Create or reuse, racing with other registrations of the same path:
	 * a concurrent failed one may remove the private directory or the
	 * file between our steps; then start again (a few times).
	 */
	for (attempt = 0; create; attempt++) {
		dfd = AT_FDCWD;
		ret = 0;
		if (private) {
			snprintf(dir, sizeof(dir), "%s", path);
			ret = private_dir(t, dirname(dir));
			if (ret >= 0) {
				dfd = ret;
				ret = 0;
			}
		}
		/* The directory, to remove a file we create through it (and
		 * only while the name still is that file), before anything
		 * is created: a failure to get it must leave nothing behind. */
		if (!ret) {
			snprintf(dir, sizeof(dir), "%s", path);
			if (t->dir_fd >= 0)
				close(t->dir_fd);
			t->dir_fd = open(dirname(dir), O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (t->dir_fd < 0)
				ret = unified_set_err(errno, "cannot open the directory of %s: %s", path,
						      strerror(errno));
		}
		if (!ret)
			ret = open_create(t, path, dfd, name);
		if (!ret)
			ret = lock_name(t, dfd, name, path);
		if (dfd != AT_FDCWD)
			close(dfd);
		if (!ret)
			break;
		if ((ret != -EAGAIN && ret != -ENOENT) || attempt >= 8) {
			if (ret == -EAGAIN)
				ret = unified_set_err(EAGAIN, "%s kept changing under us", path);
			return ret;
		}
		if (t->fd >= 0)
			close(t->fd);	/* drops our lock; nothing of ours to undo */
		t->fd = -1;
		t->created = t->locked = false;
	}
	snprintf(t->name, sizeof(t->name), "%s", strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
	if (fstat(t->fd, &st))
		return unified_set_err(errno, "fstat %s: %s", path, strerror(errno));
	if (create && !t->created) {
		ret = check_existing(path, &st);
		if (ret)
			return ret;
	}
	fl = fcntl(t->fd, F_GETFL);
	if (fl < 0 || fcntl(t->fd, F_SETFL, fl & ~O_NONBLOCK))
		return unified_set_err(errno, "fcntl %s: %s", path, strerror(errno));
	if (S_ISREG(st.st_mode)) {
		t->kind = UNIFIED_TARGET_FILE;
		t->ops = &unified_target_file_ops;
	} else if (S_ISBLK(st.st_mode)) {
		t->kind = UNIFIED_TARGET_BLOCK;
		t->ops = &unified_target_block_ops;
	} else if (S_ISCHR(st.st_mode)) {
		t->kind = UNIFIED_TARGET_NVME;
		t->ops = &unified_target_nvme_ops;
	} else {
		return unified_set_err(ENODEV, "target %s is neither a regular file, a block device "
				       "nor an NVMe generic char device", path);
	}
	if (create)
		opts.flags |= UNIFIED_OPT_CREATE;
	for (fl = 0; fl < 512; fl++)
		if (!t->ops->supports || t->ops->supports(fl >= 256, (uint8_t)fl))
			t->opcodes[fl >= 256][(fl & 255) / 64] |= 1ull << (fl & 63);
	return t->ops->init(t, &st, &opts);
}

/* Let go of the target's directory; before commit, remove it if this call
 * made it (rmdir: only if empty, so never anything but ours). */
static void drop_dir(struct unified_target *t)
{
	if (t->dir_fd >= 0)
		close(t->dir_fd);
	t->dir_fd = -1;
	if (!t->committed && t->made_dir[0])
		rmdir(t->made_dir);
	t->made_dir[0] = '\0';
}

/* Registration succeeded: from now on the target stays as it is. */
void unified_target_commit(struct unified_target *t)
{
	t->committed = true;
	drop_dir(t);
}

/*
 * Close the target.  Until registration has succeeded (t->committed), a
 * file we created is removed and one we grew is shrunk back: no half state.
 */
void unified_target_close(struct unified_target *t)
{
	if (t->fd >= 0 && !t->committed && (t->created || t->old_size >= 0) &&
	    !flock(t->fd, LOCK_EX | LOCK_NB)) {
		/* Nobody else has the file open through a registration: undo
		 * what we did to it (the exclusive lock keeps newcomers out
		 * until the name is gone; they then open again). */
		struct stat mine, there;

		if (t->created && t->dir_fd >= 0 && !fstat(t->fd, &mine) &&
		    !fstatat(t->dir_fd, t->name, &there, AT_SYMLINK_NOFOLLOW) &&
		    mine.st_dev == there.st_dev && mine.st_ino == there.st_ino)
			unlinkat(t->dir_fd, t->name, 0);
		else if (!t->created && t->old_size >= 0 && ftruncate(t->fd, t->old_size))
			t->old_size = -1;	/* best effort; nothing else to do */
	}
	drop_dir(t);
	if (t->ops && t->ops->close)
		t->ops->close(t);
	t->ops = NULL;
	if (t->fd >= 0)
		close(t->fd);
	if (t->ctrl_fd >= 0)
		close(t->ctrl_fd);
	t->fd = t->ctrl_fd = -1;
}
