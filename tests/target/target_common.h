/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the target test programs in tests/target.
 *
 * Every program runs its cases against a matrix of emulated targets:
 *
 *   file512   regular file, 512-byte LBAs   (unified_opts.lba_size + CREATE)
 *   file4096  regular file, 4096-byte LBAs
 *   loop512   loop device, 512-byte sectors  (losetup --direct-io=on)
 *   loop4096  loop device, 4096-byte sectors (losetup --sector-size 4096)
 *
 * and, for each target, in both engine modes (kick and thread).  Files live
 * in a mkdtemp() directory on a disk file system: $UNIFIED_TEST_DIR, else
 * $TMPDIR, else /var/tmp, else the current directory, skipping tmpfs/ramfs
 * and file systems without O_DIRECT.  Loop devices are attached by the test
 * (losetup) and detached at the end, also on failure, on a signal, on the
 * watchdog and, in sanitizer builds, when a sanitizer ends the program.
 * Without root or losetup the loop targets are skipped with the reason.
 *
 * Each case runs through tt_trampoline(): it registers a fresh context on the
 * target, runs the body, then checks that the entries submitted equal the
 * completions reaped (test counters and engine statistics agree), that no
 * stray CQE is left, and unregisters.
 *
 *   usage: PROGRAM [SUBSTRING]   runs only cases whose full name
 *                                ("file512/kick/rw_sizes") contains SUBSTRING
 * Environment: UNIFIED_TEST_DIR, UNIFIED_TEST_SEED (random pattern seed).
 */
#ifndef UNIFIED_TARGET_COMMON_H
#define UNIFIED_TARGET_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include "libunified.h"
#include "harness.h"

extern char **environ;

#define TT_DEV_BYTES	(64ull << 20)	/* size of every test namespace */
#define TT_TIMEOUT_MS	10000		/* longest wait for one completion batch */
#define TT_CASE_SECS	120		/* watchdog per case */
#define TT_MAX_XFER	(1u << 20)	/* MDTS of the emulated targets */

/* Expected NVMe status field values (DNR set: the emulation never retries). */
#define ST_OK		0x0000
#define ST_INV_OPCODE	0x4001
#define ST_INV_FIELD	0x4002
#define ST_INTERNAL	0x4006
#define ST_ABORTED	0x4007
#define ST_INV_NS	0x400b
#define ST_LBA_RANGE	0x4080
#define ST_CMP_FAILED	0x4285

enum tt_kind { TT_FILE = 1, TT_LOOP = 2 };

struct tt_target {
	const char *name;
	enum tt_kind kind;
	uint32_t lba_size;
	bool ready;		/* set up and usable */
	char path[PATH_MAX];	/* what unified_register() opens */
	char backing[PATH_MAX];	/* loop: the file behind the device */
	char loopdev[64];	/* loop: /dev/loopN */
};

static struct tt_target tt_targets[] = {
	{ .name = "file512",  .kind = TT_FILE, .lba_size = 512 },
	{ .name = "file4096", .kind = TT_FILE, .lba_size = 4096 },
	{ .name = "loop512",  .kind = TT_LOOP, .lba_size = 512 },
	{ .name = "loop4096", .kind = TT_LOOP, .lba_size = 4096 },
};
#define TT_NTARGETS (sizeof(tt_targets) / sizeof(tt_targets[0]))

/* Global run state (also read by the signal handler: fixed arrays only). */
static char tt_dir[PATH_MAX];		/* mkdtemp directory, "" if none */
static char tt_dir_why[512];		/* why there is none */
static char tt_case_name[160];		/* current case, for the watchdog */
static const struct tt_target *tt_cur;	/* current target */
static uint32_t tt_mode;		/* current engine mode */
static uint64_t tt_seed = 0x5eed1234abcdull;
static bool tt_holes_ok;		/* the test fs reports extents via FIEMAP */
static int tt_immutable_fd = -1;	/* a file made immutable by a test, or -1 */

/* ------------------------------------------------------------ small utils */

static inline uint64_t tt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* xorshift64*: reproducible pseudo-random numbers. */
static inline uint64_t tt_rand_next(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static inline uint64_t tt_rand(void)
{
	return tt_rand_next(&tt_seed);
}

/* Uniform-ish number in [0, n). */
static inline uint64_t tt_rand_below(uint64_t n)
{
	return n ? tt_rand() % n : 0;
}

/* Fill @len bytes with a pattern derived from @seed (never all zeros). */
static inline void tt_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1, v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!(i & 7))
			v = tt_rand_next(&s) | 0x0101010101010101ull;
		p[i] = (uint8_t)(v >> ((i & 7) * 8));
	}
}

/* Offset of the first byte where @a and @b differ, or -1 if equal. */
static inline long tt_diff(const void *a, const void *b, size_t len)
{
	const uint8_t *x = a, *y = b;
	size_t i;

	if (!memcmp(a, b, len))
		return -1;
	for (i = 0; i < len; i++)
		if (x[i] != y[i])
			return (long)i;
	return -1;
}

/* First non-zero byte offset, or -1 if all zero. */
static inline long tt_nonzero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return (long)i;
	return -1;
}

/* ------------------------------------------------- cleanup on every exit */

/* Detach every loop device we attached and remove our files.  Safe from a
 * signal handler (open/ioctl/close/unlink/rmdir only). */
static inline void tt_cleanup_signal_safe(void)
{
	size_t i;

	if (tt_immutable_fd >= 0) {
		int fl = 0;

		/* undo a test's chattr +i, or the file could not be removed */
		if (!ioctl(tt_immutable_fd, FS_IOC_GETFLAGS, &fl)) {
			fl &= ~FS_IMMUTABLE_FL;
			ioctl(tt_immutable_fd, FS_IOC_SETFLAGS, &fl);
		}
		tt_immutable_fd = -1;
	}
	for (i = 0; i < TT_NTARGETS; i++) {
		struct tt_target *t = &tt_targets[i];

		if (t->loopdev[0]) {
			int fd = open(t->loopdev, O_RDONLY | O_CLOEXEC);

			if (fd >= 0) {
				/* If someone still holds the device this only
				 * sets autoclear; it goes when they exit. */
				ioctl(fd, LOOP_CLR_FD, 0);
				close(fd);
			}
			t->loopdev[0] = '\0';
		}
		if (t->backing[0])
			unlink(t->backing);
		if (t->kind == TT_FILE && t->path[0])
			unlink(t->path);
	}
	if (tt_dir[0])
		rmdir(tt_dir);
}

static inline void tt_write_str(const char *s)
{
	ssize_t r = write(STDOUT_FILENO, s, strlen(s));

	(void)r;
}

static inline void tt_on_signal(int sig)
{
	tt_write_str("FAIL: ");
	tt_write_str(tt_case_name);
	if (sig == SIGALRM)
		tt_write_str(": watchdog: the case did not finish in time (hang?)\n");
	else if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGABRT)
		tt_write_str(": crashed\n");
	else
		tt_write_str(": killed by a signal\n");
	tt_cleanup_signal_safe();
	if (sig == SIGALRM)
		_exit(1);
	/* Die of the same signal so the exit status still tells what happened. */
	signal(sig, SIG_DFL);
	raise(sig);
	_exit(1);
}

#if defined(__SANITIZE_ADDRESS__)
void __sanitizer_set_death_callback(void (*callback)(void));
#endif

/*
 * Run @argv (PATH lookup), stdin from /dev/null, stdout+stderr into @out
 * (NUL-terminated, truncated).  Return the wait status, or -errno if the
 * program could not be started (-ENOENT: not found).
 */
static inline int tt_spawn(char *const argv[], char *out, size_t outlen)
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
		if (out && used + 1 < outlen) {
			size_t k = (size_t)n < outlen - 1 - used ? (size_t)n : outlen - 1 - used;

			memcpy(out + used, tmp, k);
			used += k;
		}
	}
	close(pfd[0]);
	if (out && outlen)
		out[used] = '\0';
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return st;
}

/* Strip trailing newlines/spaces in place. */
static inline char *tt_chomp(char *s)
{
	size_t l = strlen(s);

	while (l && (s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == ' '))
		s[--l] = '\0';
	return s;
}

static inline void tt_cleanup(void)
{
	size_t i;

	for (i = 0; i < TT_NTARGETS; i++) {
		struct tt_target *t = &tt_targets[i];

		if (t->loopdev[0]) {
			char out[512];
			char *argv[] = { "losetup", "-d", t->loopdev, NULL };
			int st = tt_spawn(argv, out, sizeof(out));

			if (st != 0)
				printf("# warning: losetup -d %s failed (%d: %s); detaching by ioctl\n",
				       t->loopdev, st, tt_chomp(out));
			else
				t->loopdev[0] = '\0';
		}
	}
	tt_cleanup_signal_safe();
}

/* Is [off, off+len) of @fd without any extent (see tt_is_hole)? */
static inline int tt_fd_range_unmapped(int fd, uint64_t off, uint64_t len)
{
	union {
		struct fiemap fm;
		uint8_t raw[sizeof(struct fiemap) + 4 * sizeof(struct fiemap_extent)];
	} u;

	memset(&u, 0, sizeof(u));
	u.fm.fm_start = off;
	u.fm.fm_length = len;
	u.fm.fm_flags = FIEMAP_FLAG_SYNC;
	u.fm.fm_extent_count = 4;
	if (ioctl(fd, FS_IOC_FIEMAP, &u.fm))
		return -errno;
	return u.fm.fm_mapped_extents == 0;
}

/* ------------------------------------------------------- test directory */

/* A directory for test files on a file system that supports O_DIRECT. */
static inline void tt_pick_dir(void)
{
	const char *cands[] = { getenv("UNIFIED_TEST_DIR"), getenv("TMPDIR"), "/var/tmp", "." };
	size_t i, w = 0;

	tt_dir_why[0] = '\0';
	for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		const char *d = cands[i];
		char probe[PATH_MAX + 32];
		struct statfs sf;
		int fd;

		if (!d || !*d)
			continue;
		if (statfs(d, &sf)) {
			w += (size_t)snprintf(tt_dir_why + w, sizeof(tt_dir_why) - w, "%s: %s; ", d,
					      strerror(errno));
			goto next;
		}
		if ((unsigned long)sf.f_type == TMPFS_MAGIC || (unsigned long)sf.f_type == RAMFS_MAGIC) {
			w += (size_t)snprintf(tt_dir_why + w, sizeof(tt_dir_why) - w,
					      "%s is tmpfs/ramfs; ", d);
			goto next;
		}
		snprintf(tt_dir, sizeof(tt_dir), "%s/unified-target.XXXXXX", d);
		if (!mkdtemp(tt_dir)) {
			w += (size_t)snprintf(tt_dir_why + w, sizeof(tt_dir_why) - w, "%s: mkdtemp: %s; ",
					      d, strerror(errno));
			tt_dir[0] = '\0';
			goto next;
		}
		snprintf(probe, sizeof(probe), "%s/probe", tt_dir);
		fd = open(probe, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
		if (fd < 0) {
			w += (size_t)snprintf(tt_dir_why + w, sizeof(tt_dir_why) - w,
					      "%s: no O_DIRECT (%s); ", d, strerror(errno));
			rmdir(tt_dir);
			tt_dir[0] = '\0';
			goto next;
		}
		/* Does FIEMAP tell allocated from unallocated ranges here?  A
		 * sparse 1 MiB file has no extent; after writing 4 KiB it has. */
		tt_holes_ok = false;
		if (!ftruncate(fd, 1 << 20) && tt_fd_range_unmapped(fd, 0, 1 << 20) == 1) {
			void *blk;

			if (!posix_memalign(&blk, 4096, 4096)) {
				memset(blk, 1, 4096);
				tt_holes_ok = pwrite(fd, blk, 4096, 8192) == 4096 &&
					      tt_fd_range_unmapped(fd, 8192, 4096) == 0;
				free(blk);
			}
		}
		close(fd);
		unlink(probe);
		return;
next:
		if (w >= sizeof(tt_dir_why))
			w = sizeof(tt_dir_why) - 1;
	}
}

/* ------------------------------------------------------- target set-up */

static inline int tt_read_sysfs_int(const char *dev, const char *attr, long *val)
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

/*
 * Attach a loop device over a fresh backing file.  Returns 0, or 1 with
 * @why set if the environment cannot do it (skip), or -1 on a real failure.
 */
static inline int tt_setup_loop(struct tt_target *t, char *why, size_t wl)
{
	char out[1024], sz[16];
	char *argv[10];
	int fd, st, n = 0;
	long v = 0;

	if (geteuid() != 0) {
		snprintf(why, wl, "loop devices need root (euid %u)", (unsigned)geteuid());
		return 1;
	}
	if (!tt_dir[0]) {
		snprintf(why, wl, "no disk file system for the backing file: %.400s", tt_dir_why);
		return 1;
	}
	if (snprintf(t->backing, sizeof(t->backing), "%s/%s.img", tt_dir, t->name) >=
	    (int)sizeof(t->backing)) {
		snprintf(why, wl, "test directory path too long");
		t->backing[0] = '\0';
		return -1;
	}
	fd = open(t->backing, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, wl, "cannot create %s: %s", t->backing, strerror(errno));
		t->backing[0] = '\0';
		return -1;
	}
	if (ftruncate(fd, (off_t)TT_DEV_BYTES)) {
		snprintf(why, wl, "ftruncate %s: %s", t->backing, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);

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
	st = tt_spawn(argv, out, sizeof(out));
	if (st == -ENOENT) {
		snprintf(why, wl, "losetup not found in PATH");
		return 1;
	}
	if (st < 0) {
		snprintf(why, wl, "cannot run losetup: %s", strerror(-st));
		return 1;
	}
	tt_chomp(out);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || strncmp(out, "/dev/", 5)) {
		/* No loop driver, no free device, an old losetup without
		 * --direct-io/--sector-size...: an environment limit. */
		snprintf(why, wl, "losetup failed (status 0x%x): %.300s", st, out);
		return 1;
	}
	if (strchr(out, '\n'))
		*strchr(out, '\n') = '\0';
	snprintf(t->loopdev, sizeof(t->loopdev), "%s", out);
	snprintf(t->path, sizeof(t->path), "%s", t->loopdev);

	/* The device must be what we asked for. */
	if (!tt_read_sysfs_int(t->loopdev, "queue/logical_block_size", &v) && v != (long)t->lba_size) {
		snprintf(why, wl, "%s has %ld-byte sectors, asked for %u", t->loopdev, v, t->lba_size);
		return -1;
	}
	if (!tt_read_sysfs_int(t->loopdev, "loop/dio", &v) && v != 1) {
		snprintf(why, wl, "%s: direct I/O is off although --direct-io=on was given",
			 t->loopdev);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------- contexts */

struct tt_ctx {
	struct unified_ctx *ctx;
	struct io_unified_region_desc desc;
	struct io_unified_reg reg;
	struct unified_sq sq;
	struct unified_cq cq;
	struct unified_target_info info;
	uint8_t *buf;		/* the buffer area */
	uint64_t buf_bytes;
	uint64_t nlba;
	uint32_t lba;		/* LBA size in bytes */
	uint32_t nsid;
	uint64_t sqes;		/* SQEs submitted by the test */
	uint64_t cqes;		/* CQEs reaped by the test */
	uint64_t errs;		/* reaped CQEs with a non-zero status */
	uint64_t aborted;	/* reaped CQEs with ABORT_REQUESTED */
	int raw_fd;		/* independent O_DIRECT view of the target */
	uint8_t *raw_buf;	/* aligned bounce buffer for raw_fd */
};

static inline void tt_fill_opts(struct unified_opts *o, const struct tt_target *t, uint32_t mode)
{
	memset(o, 0, sizeof(*o));
	o->mode = mode;
	o->flags = UNIFIED_OPT_USER_ENGINE;
	if (t->kind == TT_FILE) {
		o->flags |= UNIFIED_OPT_CREATE;
		o->lba_size = t->lba_size;
		o->file_size = TT_DEV_BYTES;
	}
}

/*
 * Register a context on @t.  @cq_entries 0 = 2 x sq.  Returns 0 or the
 * negative errno of unified_register() (message in unified_errmsg()).
 */
static inline int tt_open_geo(struct tt_ctx *c, const struct tt_target *t, uint32_t mode,
			      uint32_t sq_entries, uint32_t cq_entries, uint32_t nbufs, uint32_t bufsz)
{
	struct unified_opts o;
	int ret, i;

	memset(c, 0, sizeof(*c));
	c->raw_fd = -1;
	tt_fill_opts(&o, t, mode);
	c->reg.region_ptr = (uintptr_t)&c->desc;
	c->reg.nvme_dev_path = (uintptr_t)t->path;
	c->reg.sq_entries = sq_entries;
	c->reg.cq_entries = cq_entries;
	c->reg.buffer_entries = nbufs;
	c->reg.buffer_entry_size = bufsz;
	ret = unified_register(&c->reg, &o, &c->ctx);
	/* Without CAP_IPC_LOCK the fixed buffers count against RLIMIT_MEMLOCK,
	 * and the kernel returns the previous context's pages asynchronously:
	 * give it a moment before calling it a failure. */
	for (i = 0; ret == -ENOMEM && geteuid() != 0 && i < 200; i++) {
		usleep(5000);
		ret = unified_register(&c->reg, &o, &c->ctx);
	}
	if (ret) {
		c->ctx = NULL;
		return ret;
	}
	unified_sq_init(c->ctx, &c->sq);
	unified_cq_init(c->ctx, &c->cq);
	unified_target_info(c->ctx, &c->info);
	c->buf = unified_buffers(c->ctx);
	c->buf_bytes = (uint64_t)nbufs * bufsz;
	c->nlba = c->info.nlba;
	c->lba = c->info.lba_size;
	c->nsid = c->info.nsid;
	return 0;
}

/* The default geometry of the cases: SQ 64, CQ 128, 1024 x 4 KiB buffers. */
static inline int tt_open(struct tt_ctx *c, const struct tt_target *t, uint32_t mode)
{
	return tt_open_geo(c, t, mode, 64, 0, 1024, 4096);
}

static inline int tt_close(struct tt_ctx *c)
{
	int ret = 0;

	if (c->ctx)
		ret = unified_unregister(c->ctx);
	c->ctx = NULL;
	if (c->raw_fd >= 0)
		close(c->raw_fd);
	c->raw_fd = -1;
	free(c->raw_buf);
	c->raw_buf = NULL;
	return ret;
}

/* ------------------------------------------------ independent raw access */

static inline int tt_raw_open(struct tt_ctx *c)
{
	if (c->raw_fd >= 0)
		return 0;
	c->raw_fd = open(tt_cur->path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (c->raw_fd < 0)
		return -errno;
	if (posix_memalign((void **)&c->raw_buf, 4096, TT_MAX_XFER)) {
		close(c->raw_fd);
		c->raw_fd = -1;
		return -ENOMEM;
	}
	return 0;
}

/* Read @nlb LBAs at @slba through a separate O_DIRECT descriptor (not the
 * engine) into @dst.  Returns 0 or -errno. */
static inline int tt_raw_read(struct tt_ctx *c, uint64_t slba, uint32_t nlb, void *dst)
{
	uint64_t off = slba * c->lba, len = (uint64_t)nlb * c->lba, done = 0;
	int ret = tt_raw_open(c);

	if (ret)
		return ret;
	while (done < len) {
		size_t chunk = len - done > TT_MAX_XFER ? TT_MAX_XFER : (size_t)(len - done);
		ssize_t n = pread(c->raw_fd, c->raw_buf, chunk, (off_t)(off + done));

		if (n != (ssize_t)chunk)
			return n < 0 ? -errno : -EIO;
		memcpy((uint8_t *)dst + done, c->raw_buf, chunk);
		done += chunk;
	}
	return 0;
}

static inline int tt_raw_write(struct tt_ctx *c, uint64_t slba, uint32_t nlb, const void *src)
{
	uint64_t off = slba * c->lba, len = (uint64_t)nlb * c->lba, done = 0;
	int ret = tt_raw_open(c);

	if (ret)
		return ret;
	while (done < len) {
		size_t chunk = len - done > TT_MAX_XFER ? TT_MAX_XFER : (size_t)(len - done);
		ssize_t n;

		memcpy(c->raw_buf, (const uint8_t *)src + done, chunk);
		n = pwrite(c->raw_fd, c->raw_buf, chunk, (off_t)(off + done));
		if (n != (ssize_t)chunk)
			return n < 0 ? -errno : -EIO;
		done += chunk;
	}
	return 0;
}

/* Fill @nlb LBAs at @slba with the pattern of @seed through the raw fd. */
static inline int tt_raw_pattern(struct tt_ctx *c, uint64_t slba, uint32_t nlb, uint64_t seed)
{
	size_t len = (size_t)nlb * c->lba;
	void *p = malloc(len);
	int ret;

	if (!p)
		return -ENOMEM;
	tt_fill(p, len, seed);
	ret = tt_raw_write(c, slba, nlb, p);
	free(p);
	return ret;
}

/*
 * Is the byte range [off, off+len) of the file behind the target
 * deallocated?  1 yes, 0 no, -errno if it cannot be told.  File targets:
 * the file itself; loop targets: the backing file.  FIEMAP is used, not
 * SEEK_HOLE: file systems report unwritten (zeroed but allocated) extents
 * as holes to SEEK_HOLE, which would not tell Write Zeroes from a
 * deallocation.
 */
static inline int tt_is_hole(const struct tt_target *t, uint64_t off, uint64_t len)
{
	const char *p = t->kind == TT_FILE ? t->path : t->backing;
	int fd = open(p, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = tt_fd_range_unmapped(fd, off, len);
	close(fd);
	return r;
}

/* ------------------------------------------------ submit and complete */

/* Copy @n SQEs into the SQ (all or nothing) and tell the engine. */
static inline int tt_submit(struct tt_ctx *c, const struct io_unified_sqe *sqes, uint32_t n)
{
	uint32_t idx, i;

	if (unified_sq_reserve(&c->sq, n, &idx) != n)
		return -EAGAIN;
	for (i = 0; i < n; i++)
		*unified_sq_entry(&c->sq, idx + i) = sqes[i];
	unified_sq_submit(&c->sq, n);
	c->sqes += n;
	return unified_kick(c->ctx);
}

/* Copy @n SQEs into the SQ without telling the engine. */
static inline int tt_queue(struct tt_ctx *c, const struct io_unified_sqe *sqes, uint32_t n)
{
	uint32_t idx, i;

	if (unified_sq_reserve(&c->sq, n, &idx) != n)
		return -EAGAIN;
	for (i = 0; i < n; i++)
		*unified_sq_entry(&c->sq, idx + i) = sqes[i];
	unified_sq_submit(&c->sq, n);
	c->sqes += n;
	return 0;
}

/* Take whatever CQEs are ready now, at most @max, into @out. */
static inline uint32_t tt_take(struct tt_ctx *c, struct io_unified_cqe *out, uint32_t max)
{
	uint32_t idx, k, i;

	k = unified_cq_peek(&c->cq, max, &idx);
	for (i = 0; i < k; i++) {
		out[i] = *unified_cq_entry(&c->cq, idx + i);
		if (out[i].status)
			c->errs++;
		if (out[i].status == ST_ABORTED)
			c->aborted++;
	}
	if (k)
		unified_cq_release(&c->cq, k);
	c->cqes += k;
	return k;
}

/* Wait for @n CQEs (TT_TIMEOUT_MS at most) and copy them to @out.
 * Returns how many arrived. */
static inline uint32_t tt_reap(struct tt_ctx *c, struct io_unified_cqe *out, uint32_t n)
{
	uint64_t deadline = tt_now_ms() + TT_TIMEOUT_MS;
	uint32_t got = 0;

	while (got < n) {
		uint64_t now;
		int r;

		got += tt_take(c, out + got, n - got);
		if (got == n)
			break;
		now = tt_now_ms();
		if (now >= deadline)
			break;
		r = unified_enter(c->ctx, 1, (int)(deadline - now));
		if (r < 0 && r != -ETIME && r != -EINTR)
			break;
		if (r == 0)
			usleep(100);	/* kick mode, nothing in flight: avoid a hot spin */
	}
	return got;
}

/* Submit one SQE and wait for its CQE.  Returns 0 or -1 (no completion). */
static inline int tt_exec(struct tt_ctx *c, const struct io_unified_sqe *sqe, struct io_unified_cqe *cqe)
{
	memset(cqe, 0xee, sizeof(*cqe));
	if (tt_submit(c, sqe, 1))
		return -1;
	return tt_reap(c, cqe, 1) == 1 ? 0 : -1;
}

/*
 * Check one CQE against the SQE that produced it.  @want_len is the byte
 * count a success reports.  Returns NULL if fine, else a description in
 * @why.  Checked: user_data echoed, exact status, dma_addr == buf_offset,
 * len (bytes on success, 0 on error), host flag and errno/res coherence on
 * errors, reserved fields zero.
 */
static inline const char *tt_cqe_problem(const struct io_unified_cqe *cqe, const struct io_unified_sqe *sqe,
					 uint16_t want_status, uint32_t want_len, char *why, size_t wl)
{
	if (cqe->user_data != sqe->user_data)
		snprintf(why, wl, "user_data 0x%" PRIx64 " != submitted 0x%" PRIx64,
			 (uint64_t)cqe->user_data, (uint64_t)sqe->user_data);
	else if (cqe->status != want_status)
		snprintf(why, wl, "status 0x%04x (%s, res %d) != expected 0x%04x (%s)", cqe->status,
			 unified_status_str(cqe->status), cqe->res, want_status,
			 unified_status_str(want_status));
	else if (cqe->dma_addr != sqe->buf_offset)
		snprintf(why, wl, "dma_addr 0x%" PRIx64 " != buf_offset 0x%" PRIx64,
			 (uint64_t)cqe->dma_addr, (uint64_t)sqe->buf_offset);
	else if (cqe->len != (want_status ? 0 : want_len))
		snprintf(why, wl, "len %u != expected %u (status 0x%04x)", cqe->len,
			 want_status ? 0 : want_len, cqe->status);
	else if (want_status && !(cqe->flags & IO_UNIFIED_CQE_F_HOST))
		snprintf(why, wl, "emulated status 0x%04x without IO_UNIFIED_CQE_F_HOST (flags 0x%x)",
			 cqe->status, cqe->flags);
	else if (cqe->flags & ~(IO_UNIFIED_CQE_F_HOST | IO_UNIFIED_CQE_F_ERRNO))
		snprintf(why, wl, "unknown CQE flags 0x%x", cqe->flags);
	else if ((cqe->flags & IO_UNIFIED_CQE_F_ERRNO) ? cqe->res >= 0 : cqe->res != 0)
		snprintf(why, wl, "res %d does not match flags 0x%x", cqe->res, cqe->flags);
	else if (!want_status && cqe->flags)
		snprintf(why, wl, "successful CQE with flags 0x%x", cqe->flags);
	else if (cqe->__resv0 || cqe->__resv[0] || cqe->__resv[1] || cqe->__resv[2])
		snprintf(why, wl, "reserved CQE fields are not zero");
	else
		return NULL;
	return why;
}

/* CHECK a CQE (see tt_cqe_problem), with the caller's file:line. */
#define EXPECT_CQE(cqe, sqe, st, len) do {						\
	char w_[320];									\
	const char *p_ = tt_cqe_problem((cqe), (sqe), (uint16_t)(st), (uint32_t)(len), w_, sizeof(w_)); \
	CHECK(!p_, "%s", p_ ? p_ : "");							\
} while (0)

/*
 * Run one command and check its completion.  Returns the CQE status, or
 * -1 if no completion came (the case is failed then).
 */
#define EXEC_EXPECT(c, sqe, st, len) ({						\
	struct io_unified_cqe cq_;							\
	int r_ = tt_exec((c), (sqe), &cq_);						\
	CHECK(r_ == 0, "no completion for opcode 0x%02x within %d ms",			\
	      (sqe)->nvme_cmd.opcode, TT_TIMEOUT_MS);					\
	if (r_ == 0)									\
		EXPECT_CQE(&cq_, (sqe), (st), (len));					\
	r_ == 0 ? (int)cq_.status : -1;							\
})

/* ------------------------------------------------ command builders */

static inline void tt_sqe_read(const struct tt_ctx *c, struct io_unified_sqe *s, uint64_t slba,
			       uint32_t nlb, uint64_t off, uint64_t ud)
{
	unified_prep_read(s, c->nsid, slba, nlb, off, nlb * c->lba, ud);
}

static inline void tt_sqe_write(const struct tt_ctx *c, struct io_unified_sqe *s, uint64_t slba,
				uint32_t nlb, uint64_t off, uint64_t ud)
{
	unified_prep_write(s, c->nsid, slba, nlb, off, nlb * c->lba, ud);
}

/* Engine write of @nlb LBAs from buffer offset @off; checks the CQE. */
static inline int tt_write(struct tt_ctx *c, uint64_t slba, uint32_t nlb, uint64_t off)
{
	struct io_unified_sqe s;

	tt_sqe_write(c, &s, slba, nlb, off, 0x57000000u + slba);
	return EXEC_EXPECT(c, &s, ST_OK, nlb * c->lba);
}

/* Engine read of @nlb LBAs into buffer offset @off; checks the CQE. */
static inline int tt_read(struct tt_ctx *c, uint64_t slba, uint32_t nlb, uint64_t off)
{
	struct io_unified_sqe s;

	tt_sqe_read(c, &s, slba, nlb, off, 0x52000000u + slba);
	return EXEC_EXPECT(c, &s, ST_OK, nlb * c->lba);
}

/* ------------------------------------------------ case runner */

typedef void (*tt_body_fn)(struct tt_ctx *c);

struct tt_case {
	const char *name;
	tt_body_fn body;
	bool own_ctx;		/* the body opens/closes contexts itself */
};

static tt_body_fn tt_body;
static bool tt_body_own;

/*
 * Entries in == completions out: every SQE the test submitted gave exactly
 * one CQE, no stray CQE follows, and the engine's counters agree.
 */
static inline void tt_check_accounting(struct tt_ctx *c)
{
	struct unified_stats st;
	struct io_unified_cqe extra[4];

	if (!c->ctx)
		return;
	if (c->sqes == c->cqes) {
		unified_enter(c->ctx, 0, 0);
		usleep(1000);
		unified_kick(c->ctx);
		CHECK(tt_take(c, extra, 4) == 0, "a CQE arrived that no SQE asked for");
	}
	CHECK(c->sqes == c->cqes, "entries in %" PRIu64 " != completions out %" PRIu64,
	      c->sqes, c->cqes);
	unified_get_stats(c->ctx, &st);
	CHECK(st.sqes == c->sqes && st.cqes == c->cqes,
	      "engine counted %" PRIu64 " SQEs / %" PRIu64 " CQEs, test %" PRIu64 " / %" PRIu64,
	      (uint64_t)st.sqes, (uint64_t)st.cqes, c->sqes, c->cqes);
	CHECK(st.errors == c->errs, "engine counted %" PRIu64 " errors, test saw %" PRIu64,
	      (uint64_t)st.errors, c->errs);
	CHECK(st.aborted == c->aborted, "engine counted %" PRIu64 " aborted, test saw %" PRIu64,
	      (uint64_t)st.aborted, c->aborted);
	CHECK(st.ring_errors == 0, "%" PRIu64 " ring errors", (uint64_t)st.ring_errors);
}

/* Runs tt_body in a fresh context, then checks the entries/completions
 * accounting and unregisters. */
static inline void tt_trampoline(void)
{
	struct tt_ctx c;
	int ret;

	if (tt_body_own) {
		memset(&c, 0, sizeof(c));
		c.raw_fd = -1;
		tt_body(&c);
		tt_close(&c);
		return;
	}
	ret = tt_open(&c, tt_cur, tt_mode);
	REQUIRE(ret == 0, "unified_register(%s): %s (%s)", tt_cur->path, strerror(-ret),
		unified_errmsg());
	CHECK(c.info.lba_size == tt_cur->lba_size && c.nlba == TT_DEV_BYTES / tt_cur->lba_size,
	      "geometry %u x %" PRIu64 ", expected %u x %llu", c.info.lba_size, c.nlba,
	      tt_cur->lba_size, TT_DEV_BYTES / tt_cur->lba_size);
	tt_body(&c);
	tt_check_accounting(&c);
	ret = tt_close(&c);
	CHECK(ret == 0, "unified_unregister: %s", strerror(-ret));
}

/* Per-target set-up as a case of its own ("file512/setup"). */
static bool tt_setup_ok;
static struct tt_target *tt_setup_target;

static inline void tt_setup_case(void)
{
	struct tt_target *t = tt_setup_target;
	char why[512] = "";
	struct tt_ctx c;
	struct stat st;
	int r;

	tt_setup_ok = false;
	if (t->kind == TT_LOOP) {
		r = tt_setup_loop(t, why, sizeof(why));
		if (r > 0)
			SKIP("%s", why);
		REQUIRE(r == 0, "%s", why);
	} else {
		if (!tt_dir[0])
			SKIP("no disk file system for test files: %.400s", tt_dir_why);
		REQUIRE(snprintf(t->path, sizeof(t->path), "%s/%s.img", tt_dir, t->name) <
			(int)sizeof(t->path), "test directory path too long");
	}
	/* First registration: for files this creates the namespace file. */
	r = tt_open(&c, t, UNIFIED_MODE_KICK);
	REQUIRE(r == 0, "unified_register(%s): %s (%s)", t->path, strerror(-r), unified_errmsg());
	CHECK(c.info.kind == (t->kind == TT_FILE ? UNIFIED_TARGET_FILE : UNIFIED_TARGET_BLOCK),
	      "target kind %u", c.info.kind);
	CHECK(c.info.lba_size == t->lba_size, "lba_size %u, expected %u", c.info.lba_size, t->lba_size);
	CHECK((1u << c.info.lba_shift) == t->lba_size, "lba_shift %u", c.info.lba_shift);
	CHECK(c.info.nlba == TT_DEV_BYTES / t->lba_size, "nlba %" PRIu64 ", expected %llu",
	      (uint64_t)c.info.nlba, TT_DEV_BYTES / t->lba_size);
	CHECK(c.info.nsid == 1, "nsid %u", c.info.nsid);
	CHECK(c.info.max_xfer == TT_MAX_XFER, "max_xfer %u", c.info.max_xfer);
	CHECK(!strcmp(c.info.path, t->path), "info.path '%s' != '%s'", c.info.path, t->path);
	CHECK(!strcmp(c.info.engine, "user"), "engine '%s'", c.info.engine);
	tt_close(&c);
	if (t->kind == TT_FILE) {
		REQUIRE(!stat(t->path, &st), "stat %s: %s", t->path, strerror(errno));
		CHECK((uint64_t)st.st_size == TT_DEV_BYTES, "created file has %lld bytes",
		      (long long)st.st_size);
	}
	if (!h_case_failed)
		tt_setup_ok = true;
	t->ready = tt_setup_ok;
}

static inline const char *tt_mode_name(uint32_t mode)
{
	return mode == UNIFIED_MODE_THREAD ? "thread" : "kick";
}

/*
 * The program's main: for every target, set it up, then run every case in
 * both engine modes.  Returns the exit status.
 */
static inline int tt_main(int argc, char **argv, const struct tt_case *cases, size_t ncases)
{
	static const int sigs[] = {
		SIGINT, SIGTERM, SIGHUP, SIGALRM, SIGQUIT, SIGPIPE,
#if !defined(__SANITIZE_ADDRESS__)
		/* sanitizer builds keep their own handlers (death callback below) */
		SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT,
#endif
	};
	const char *filter = argc > 1 ? argv[1] : NULL;
	const char *seed_env = getenv("UNIFIED_TEST_SEED");
	struct sigaction sa;
	struct rlimit rl;
	size_t i, k, m;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Fixed buffers are locked memory: use all the limit we are allowed. */
	if (!getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &rl);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tt_on_signal;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	atexit(tt_cleanup);
#if defined(__SANITIZE_ADDRESS__)
	__sanitizer_set_death_callback(tt_cleanup_signal_safe);
#endif
	if (seed_env && *seed_env)
		tt_seed = strtoull(seed_env, NULL, 0);
	printf("# %s: seed 0x%" PRIx64 " (UNIFIED_TEST_SEED)\n", argv[0], tt_seed);
	snprintf(tt_case_name, sizeof(tt_case_name), "setup");
	tt_pick_dir();
	if (tt_dir[0])
		printf("# test directory %s (deallocation %s)\n", tt_dir,
		       tt_holes_ok ? "checked with FIEMAP" : "not checked: no FIEMAP");
	else
		printf("# no test directory: %s\n", tt_dir_why);

	for (i = 0; i < TT_NTARGETS; i++) {
		struct tt_target *t = &tt_targets[i];
		char name[160];
		bool any = false;

		/* Set up a target only if one of its cases is selected. */
		for (m = 0; m < 2 && !any; m++)
			for (k = 0; k < ncases && !any; k++) {
				snprintf(name, sizeof(name), "%s/%s/%s", t->name, tt_mode_name((uint32_t)m),
					 cases[k].name);
				any = !filter || strstr(name, filter);
			}
		if (!any)
			continue;
		snprintf(tt_case_name, sizeof(tt_case_name), "%s/setup", t->name);
		tt_setup_target = t;
		alarm(TT_CASE_SECS);
		h_run(tt_case_name, tt_setup_case);
		alarm(0);
		if (!tt_setup_ok)
			continue;
		if (t->loopdev[0])
			printf("# %s is %s (backing file %s)\n", t->name, t->loopdev, t->backing);
		tt_cur = t;
		for (m = 0; m < 2; m++) {
			tt_mode = (uint32_t)m;
			for (k = 0; k < ncases; k++) {
				snprintf(tt_case_name, sizeof(tt_case_name), "%s/%s/%s", t->name,
					 tt_mode_name(tt_mode), cases[k].name);
				if (filter && !strstr(tt_case_name, filter))
					continue;
				tt_body = cases[k].body;
				tt_body_own = cases[k].own_ctx;
				alarm(TT_CASE_SECS);
				h_run(tt_case_name, tt_trampoline);
				alarm(0);
			}
		}
	}
	snprintf(tt_case_name, sizeof(tt_case_name), "cleanup");
	tt_cleanup();
	printf("# %d passed, %d failed, %d skipped\n", h_passed_total, h_failed_total, h_skipped_total);
	return harness_done();
}

#endif
