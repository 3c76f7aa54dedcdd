/* SPDX-License-Identifier: MIT */
/* The skip convention, the temp directory, random data, clocks, /proc. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <time.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include "helpers.h"

/* ------------------------------------------------------- skip convention */

static char why_buf[640];

const char *th_why(void)
{
	return why_buf;
}

int th_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
	va_end(ap);
	return TH_SKIP;
}

int th_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
	va_end(ap);
	return err;
}

/* ------------------------------------------------------- temp directory */

static char dir[PATH_MAX];		/* "" until created */
static char dir_why[512];		/* why there is none */
static bool dir_tried, holes_ok;

int th_path_range_unmapped(const char *path, uint64_t off, uint64_t len)
{
	union {
		struct fiemap fm;
		uint8_t raw[sizeof(struct fiemap) + 4 * sizeof(struct fiemap_extent)];
	} u;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	memset(&u, 0, sizeof(u));
	u.fm.fm_start = off;
	u.fm.fm_length = len;
	u.fm.fm_flags = FIEMAP_FLAG_SYNC;
	u.fm.fm_extent_count = 4;
	if (ioctl(fd, FS_IOC_FIEMAP, &u.fm))
		r = -errno;
	close(fd);
	return r ? r : u.fm.fm_mapped_extents == 0;
}

/* Does FIEMAP tell a hole from data in @probe (a new file)?  A sparse
 * 1 MiB file has no extent; after writing 4 KiB it has. */
static bool probe_holes(const char *probe, int fd)
{
	void *blk;
	bool ok;

	if (ftruncate(fd, 1 << 20) || th_path_range_unmapped(probe, 0, 1 << 20) != 1)
		return false;
	if (posix_memalign(&blk, 4096, 4096))
		return false;
	memset(blk, 1, 4096);
	ok = pwrite(fd, blk, 4096, 8192) == 4096 && th_path_range_unmapped(probe, 8192, 4096) == 0;
	free(blk);
	return ok;
}

static void rm_tree(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *de;
	char p[PATH_MAX];

	if (!dp)
		return;
	while ((de = readdir(dp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", d, de->d_name) >= (int)sizeof(p))
			continue;
		if (unlink(p) && errno == EISDIR)
			rm_tree(p);
	}
	closedir(dp);
	rmdir(d);
}

static void remove_dir(void)
{
	if (dir[0])
		rm_tree(dir);
	dir[0] = '\0';
}

/* Try @d as the parent of the directory; append the reason if it is not. */
static bool try_parent(const char *d, size_t *w)
{
	char probe[PATH_MAX + 32];
	struct statfs sf;
	int fd;

	if (statfs(d, &sf)) {
		*w += (size_t)snprintf(dir_why + *w, sizeof(dir_why) - *w, "%s: %s; ", d, strerror(errno));
		return false;
	}
	if ((unsigned long)sf.f_type == TMPFS_MAGIC || (unsigned long)sf.f_type == RAMFS_MAGIC) {
		*w += (size_t)snprintf(dir_why + *w, sizeof(dir_why) - *w, "%s is tmpfs/ramfs; ", d);
		return false;
	}
	snprintf(dir, sizeof(dir), "%s/unified-test.XXXXXX", d);
	if (!mkdtemp(dir)) {
		*w += (size_t)snprintf(dir_why + *w, sizeof(dir_why) - *w, "%s: mkdtemp: %s; ", d,
				       strerror(errno));
		dir[0] = '\0';
		return false;
	}
	snprintf(probe, sizeof(probe), "%s/probe", dir);
	fd = open(probe, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0) {
		*w += (size_t)snprintf(dir_why + *w, sizeof(dir_why) - *w, "%s: no O_DIRECT (%s); ", d,
				       strerror(errno));
		rmdir(dir);
		dir[0] = '\0';
		return false;
	}
	holes_ok = probe_holes(probe, fd);
	close(fd);
	unlink(probe);
	return true;
}

const char *th_tmpdir(void)
{
	const char *cands[] = { getenv("UNIFIED_TEST_DIR"), getenv("TMPDIR"), "/var/tmp", "." };
	size_t i, w = 0;

	if (dir[0] || dir_tried)
		return dir[0] ? dir : NULL;
	dir_tried = true;
	for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		if (!cands[i] || !*cands[i])
			continue;
		if (try_parent(cands[i], &w)) {
			atexit(remove_dir);
			return dir;
		}
		if (w >= sizeof(dir_why))
			w = sizeof(dir_why) - 1;
	}
	return NULL;
}

int th_need_tmpdir(void)
{
	if (th_tmpdir())
		return 0;
	return th_skip("no disk file system for test files: %.400s", dir_why);
}

const char *th_path(const char *name)
{
	static char p[8][PATH_MAX + 64];
	static int n;
	const char *d = th_tmpdir();
	char *s = p[n++ % 8];

	snprintf(s, sizeof(p[0]), "%s/%s", d ? d : ".", name);
	return s;
}

bool th_holes_ok(void)
{
	return th_tmpdir() && holes_ok;
}

/* ------------------------------------------------------- random data */

uint64_t th_seed = 0x5eed1234abcdull;

uint64_t th_rand_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t th_rand(void)
{
	return th_rand_next(&th_seed);
}

uint64_t th_rand_below(uint64_t n)
{
	return n ? th_rand() % n : 0;
}

void th_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t s = seed, v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!(i & 7))
			v = th_rand_next(&s) | 0x0101010101010101ull;
		p[i] = (uint8_t)(v >> ((i & 7) * 8));
	}
}

long th_diff(const void *a, const void *b, size_t len)
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

long th_nonzero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return (long)i;
	return -1;
}

/* ------------------------------------------------------- clocks, /proc */

uint64_t th_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t th_now_ms(void)
{
	return th_now_ns() / 1000000u;
}

void th_maps_read(struct th_maps *m)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];

	m->n = 0;
	if (!f)
		return;
	while (m->n < TH_MAX_MAPS && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
			m->lo[m->n] = lo;
			m->hi[m->n] = hi;
			m->n++;
		}
	}
	fclose(f);
}

uint64_t th_maps_new_bytes(const struct th_maps *before, uint64_t min)
{
	struct th_maps *now = malloc(sizeof(*now));
	uint64_t worst = 0;
	int i, j;

	if (!now)
		return 0;
	th_maps_read(now);
	for (i = 0; i < now->n; i++) {
		uint64_t sz = now->hi[i] - now->lo[i];
		int covered = 0;

		if (sz < min)
			continue;
		for (j = 0; j < before->n && !covered; j++)
			covered = now->lo[i] >= before->lo[j] && now->hi[i] <= before->hi[j];
		if (!covered && sz > worst)
			worst = sz;
	}
	free(now);
	return worst;
}

int th_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

long th_read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

int th_write_long(const char *path, long v)
{
	FILE *f = fopen(path, "we");
	int ok;

	if (!f)
		return -errno;
	ok = fprintf(f, "%ld\n", v) > 0;
	ok = (fclose(f) == 0) && ok;
	return ok ? 0 : -EIO;
}
