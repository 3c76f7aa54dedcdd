/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the unit and stress tests: a private temp directory on
 * a disk file system (O_DIRECT does not work on tmpfs), registration of a
 * small file-backed target, one-command round trips, and a scan of
 * /proc/self/maps to prove that a failed call left no mapping behind.
 *
 * The temp directory is created under $TMPDIR when that is a disk file
 * system (tests/run.sh points TMPDIR at its own mktemp -d directory), else
 * under /var/tmp, else the current directory.  Everything in it is removed
 * at exit.
 */
#ifndef UNIFIED_TESTUTIL_H
#define UNIFIED_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include "libunified.h"

#ifndef TU_TMPFS_MAGIC
#define TU_TMPFS_MAGIC 0x01021994
#define TU_RAMFS_MAGIC 0x858458f6
#endif

static char tu_dir[512];

static inline int tu_is_disk_fs(const char *dir)
{
	struct statfs sf;

	if (!dir || !*dir || statfs(dir, &sf))
		return 0;
	return sf.f_type != TU_TMPFS_MAGIC && sf.f_type != TU_RAMFS_MAGIC;
}

static inline void tu_rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[1024];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (strlen(dir) + strlen(de->d_name) + 2 > sizeof(p))
			continue;
		strcpy(p, dir);
		strcat(p, "/");
		strcat(p, de->d_name);
		if (unlink(p) && errno == EISDIR)
			tu_rm_tree(p);
	}
	closedir(d);
	rmdir(dir);
}

static inline void tu_cleanup(void)
{
	if (tu_dir[0])
		tu_rm_tree(tu_dir);
	tu_dir[0] = '\0';
}

/* The test's private directory (created on first use), or NULL. */
static inline const char *tu_tmpdir(void)
{
	const char *cands[3] = { getenv("TMPDIR"), "/var/tmp", "." };
	int i;

	if (tu_dir[0])
		return tu_dir;
	for (i = 0; i < 3; i++) {
		if (!tu_is_disk_fs(cands[i]))
			continue;
		snprintf(tu_dir, sizeof(tu_dir), "%s/unified-test.XXXXXX", cands[i]);
		if (mkdtemp(tu_dir)) {
			atexit(tu_cleanup);
			return tu_dir;
		}
	}
	tu_dir[0] = '\0';
	return NULL;
}

/* A path named @name inside the private directory. */
static inline const char *tu_path(const char *name)
{
	static char p[8][640];
	static int n;
	const char *d = tu_tmpdir();
	char *s = p[n++ % 8];

	snprintf(s, sizeof(p[0]), "%s/%s", d ? d : ".", name);
	return s;
}

/* Everything a test needs to drive one registered context. */
struct tu_ctx {
	struct unified_ctx *ctx;
	struct io_unified_region_desc desc;
	struct io_unified_reg reg;
	struct unified_sq sq;
	struct unified_cq cq;
	struct unified_target_info info;
	uint8_t *buf;
	uint64_t next_ud;
};

struct tu_geom {
	uint32_t sq, cq, nbuf, bufsz;
	uint32_t mode;			/* UNIFIED_MODE_* */
	uint64_t file_size;		/* bytes; 0 = 16 MiB */
	const char *file;		/* file name inside the temp dir; NULL = "target.img" */
	uint32_t lba_size;		/* 0 = the library default (4096) */
	uint32_t idle_spin_us;		/* thread mode; 0 = the library default */
	const char *path;		/* an existing target (device); NULL = a file in the temp dir */
	uint32_t flags;			/* extra UNIFIED_OPT_* flags */
};

/* Register g->path, or a file target created under the temp dir.  0 or -errno. */
static inline int tu_open(struct tu_ctx *t, const struct tu_geom *g)
{
	struct unified_opts o = { 0 };
	int ret;

	memset(t, 0, sizeof(*t));
	if (!g->path && !tu_tmpdir())
		return -ENOENT;
	t->reg.region_ptr = (uintptr_t)&t->desc;
	t->reg.nvme_dev_path = (uintptr_t)(g->path ? g->path : tu_path(g->file ? g->file : "target.img"));
	t->reg.sq_entries = g->sq;
	t->reg.cq_entries = g->cq;
	t->reg.buffer_entries = g->nbuf;
	t->reg.buffer_entry_size = g->bufsz;
	o.mode = g->mode;
	o.lba_size = g->lba_size;
	o.idle_spin_us = g->idle_spin_us;
	o.flags = g->flags | UNIFIED_OPT_USER_ENGINE | (g->path ? 0 : UNIFIED_OPT_CREATE);
	o.file_size = g->file_size ? g->file_size : (16ull << 20);
	ret = unified_register(&t->reg, &o, &t->ctx);
	if (ret) {
		printf("  unified_register: %s (%s)\n", strerror(-ret), unified_errmsg());
		t->ctx = NULL;
		return ret;
	}
	unified_sq_init(t->ctx, &t->sq);
	unified_cq_init(t->ctx, &t->cq);
	unified_target_info(t->ctx, &t->info);
	t->buf = unified_buffers(t->ctx);
	t->next_ud = 0x1000;
	return 0;
}

static inline void tu_close(struct tu_ctx *t)
{
	if (t->ctx)
		unified_unregister(t->ctx);
	t->ctx = NULL;
}

/*
 * Submit one prepared SQE and wait (5 s) for its CQE.  0 with *@out filled,
 * -ETIME, or the negative errno of unified_kick/enter.
 */
static inline int tu_submit1(struct tu_ctx *t, const struct io_unified_sqe *sqe,
			     struct io_unified_cqe *out)
{
	uint32_t idx;
	int ret, i;

	for (i = 0; !unified_sq_reserve(&t->sq, 1, &idx); i++) {
		if (i > 5000)
			return -EAGAIN;
		unified_kick(t->ctx);
		usleep(1000);
	}
	*unified_sq_entry(&t->sq, idx) = *sqe;
	unified_sq_submit(&t->sq, 1);
	ret = unified_enter(t->ctx, 1, 5000);
	if (ret < 0)
		return ret;
	if (!unified_cq_peek(&t->cq, 1, &idx))
		return -ETIME;
	*out = *unified_cq_entry(&t->cq, idx);
	unified_cq_release(&t->cq, 1);
	return 0;
}

/* Read or write @nlb blocks at @slba through buffer offset @off. */
static inline int tu_rw(struct tu_ctx *t, uint8_t opcode, uint64_t slba, uint32_t nlb,
			uint64_t off, struct io_unified_cqe *out)
{
	struct io_unified_sqe sqe;

	unified_prep_rw(&sqe, opcode, t->info.nsid, slba, nlb, off, nlb * t->info.lba_size,
			t->next_ud++);
	return tu_submit1(t, &sqe, out);
}

/* Deterministic per-seed generator (splitmix64). */
static inline uint64_t tu_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t tu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------- mappings */

#define TU_MAX_MAPS 4096

struct tu_maps {
	int n;
	uintptr_t lo[TU_MAX_MAPS], hi[TU_MAX_MAPS];
};

static inline void tu_maps_read(struct tu_maps *m)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	m->n = 0;
	if (!f)
		return;
	while (m->n < TU_MAX_MAPS && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
			m->lo[m->n] = lo;
			m->hi[m->n] = hi;
			m->n++;
		}
	}
	fclose(f);
}

/*
 * Bytes of the largest address range mapped now that was not mapped in
 * @before (any mapping of at least @min bytes counts).  0 means nothing of
 * that size appeared.
 */
static inline uint64_t tu_maps_new_bytes(const struct tu_maps *before, uint64_t min)
{
	struct tu_maps *now = malloc(sizeof(*now));
	uint64_t worst = 0;
	int i, j;

	if (!now)
		return 0;
	tu_maps_read(now);
	for (i = 0; i < now->n; i++) {
		uint64_t sz = now->hi[i] - now->lo[i];
		int covered = 0;

		if (sz < min)
			continue;
		for (j = 0; j < before->n; j++) {
			if (now->lo[i] >= before->lo[j] && now->hi[i] <= before->hi[j]) {
				covered = 1;
				break;
			}
		}
		if (!covered && sz > worst)
			worst = sz;
	}
	free(now);
	return worst;
}

/* Value of a /proc/sys file as a number, or -1. */
static inline long tu_read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static inline int tu_write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -errno;
	ok = fprintf(f, "%ld\n", v) > 0;
	ok = (fclose(f) == 0) && ok;
	return ok ? 0 : -EIO;
}

#endif
