/* SPDX-License-Identifier: MIT */
/* Loop devices over files in the test directory, attached with losetup. */
#include <fcntl.h>
#include <spawn.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include "helpers.h"

extern char **environ;

/*
 * Run @argv (PATH lookup), stdin from /dev/null, stdout+stderr into @out
 * (NUL-terminated, truncated).  The wait status, or -errno if the program
 * could not be started (-ENOENT: not found).
 */
static int spawn(char *const argv[], char *out, size_t outlen)
{
	posix_spawn_file_actions_t fa;
	int pfd[2], st = 0, r;
	size_t used = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDERR_FILENO);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (r) {
		close(pfd[0]);
		return -r;
	}
	for (;;) {
		char tmp[256];
		ssize_t n = read(pfd[0], tmp, sizeof(tmp));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (used + 1 < outlen) {
			size_t k = (size_t)n < outlen - 1 - used ? (size_t)n : outlen - 1 - used;

			memcpy(out + used, tmp, k);
			used += k;
		}
	}
	close(pfd[0]);
	out[used] = '\0';
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return st;
}

/* Strip trailing newlines and spaces in place. */
static char *chomp(char *s)
{
	size_t l = strlen(s);

	while (l && (s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == ' '))
		s[--l] = '\0';
	return s;
}

static int read_sysfs_int(const char *dev, const char *attr, long *val)
{
	char p[256], buf[64];
	const char *base = strrchr(dev, '/');
	FILE *f;

	snprintf(p, sizeof(p), "/sys/block/%s/%s", base ? base + 1 : dev, attr);
	f = fopen(p, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*val = strtol(buf, NULL, 10);
	return 0;
}

/* A new TH_DEV_BYTES sparse file at @t->backing.  0 or -1. */
static int make_backing(struct th_target *t)
{
	int fd = open(t->backing, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		th_fail(-1, "cannot create %s: %s", t->backing, strerror(errno));
		t->backing[0] = '\0';
		return -1;
	}
	if (ftruncate(fd, (off_t)TH_DEV_BYTES)) {
		th_fail(-1, "ftruncate %s: %s", t->backing, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int th_loop_attach(struct th_target *t)
{
	char out[1024], sz[16];
	char *argv[10];
	int st, n = 0;
	long v = 0;

	if (geteuid() != 0)
		return th_skip("loop devices need root (euid %u)", (unsigned)geteuid());
	if (th_need_tmpdir())
		return TH_SKIP;
	if (snprintf(t->backing, sizeof(t->backing), "%s/%s.img", th_tmpdir(), t->name) >=
	    (int)sizeof(t->backing)) {
		t->backing[0] = '\0';
		return th_fail(-1, "test directory path too long");
	}
	if (make_backing(t))
		return -1;

	snprintf(sz, sizeof(sz), "%u", t->lba_size);
	argv[n++] = "losetup";
	argv[n++] = "-f";
	argv[n++] = "--show";
	argv[n++] = "--direct-io=on";
	if (t->lba_size != 512) {
		argv[n++] = "--sector-size";
		argv[n++] = sz;
	}
	argv[n++] = t->backing;
	argv[n] = NULL;
	st = spawn(argv, out, sizeof(out));
	if (st == -ENOENT)
		return th_skip("losetup not found in PATH");
	if (st < 0)
		return th_skip("cannot run losetup: %s", strerror(-st));
	chomp(out);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || strncmp(out, "/dev/", 5))
		/* No loop driver, no free device, an old losetup without
		 * --direct-io/--sector-size...: an environment limit. */
		return th_skip("losetup failed (status 0x%x): %.300s", st, out);
	if (strchr(out, '\n'))
		*strchr(out, '\n') = '\0';
	snprintf(t->loopdev, sizeof(t->loopdev), "%s", out);
	snprintf(t->path, sizeof(t->path), "%s", t->loopdev);

	/* The device must be what we asked for. */
	if (!read_sysfs_int(t->loopdev, "queue/logical_block_size", &v) && v != (long)t->lba_size)
		return th_fail(-1, "%s has %ld-byte sectors, asked for %u", t->loopdev, v, t->lba_size);
	if (!read_sysfs_int(t->loopdev, "loop/dio", &v) && v != 1)
		return th_fail(-1, "%s: direct I/O is off although --direct-io=on was given",
			       t->loopdev);
	return 0;
}

int th_loop_detach(struct th_target *t)
{
	char out[512];
	char *argv[] = { "losetup", "-d", t->loopdev, NULL };
	int st;

	if (!t->loopdev[0])
		return 0;
	st = spawn(argv, out, sizeof(out));
	if (st != 0) {
		printf("# warning: losetup -d %s failed (%d: %s); detaching by ioctl\n", t->loopdev,
		       st, chomp(out));
		return -1;
	}
	t->loopdev[0] = '\0';
	return 0;
}

/* open/ioctl/close/unlink only: callable from a signal handler. */
void th_loop_detach_signal_safe(struct th_target *t)
{
	if (t->loopdev[0]) {
		int fd = open(t->loopdev, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			/* If someone still holds the device this only sets
			 * autoclear; it goes when they exit. */
			ioctl(fd, LOOP_CLR_FD, 0);
			close(fd);
		}
		t->loopdev[0] = '\0';
	}
	if (t->backing[0])
		unlink(t->backing);
}

int th_is_hole(const struct th_target *t, uint64_t off, uint64_t len)
{
	return th_path_range_unmapped(t->kind == TH_FILE ? t->path : t->backing, off, len);
}
