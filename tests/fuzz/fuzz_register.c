/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: unified_register() with fuzzed struct io_unified_reg,
 * struct io_unified_region_desc and struct unified_opts, on targets inside
 * a private temp directory, then unified_unregister().
 *
 * Input (every number is "a value": one selector byte, then for a selector
 * of 0xf0 or more a little-endian u32 (or u64 for 64-bit fields) read
 * raw; else an edge value from a table, chosen by selector % table size):
 *   [0]  target: 0 NULL (the default namespace, pointed into the temp dir
 *        by UNIFIED_DEFAULT_FILE), 1 an existing 1 MiB file, 2 a missing
 *        file, 3 a read-only file, 4 a symlink to the 1 MiB file, 5 a
 *        directory, 6 an empty file, 7 a 1000-byte file, 8 a FIFO,
 *        9 "", 10 a path of 300 bytes, 11 a missing file whose path is 255
 *        bytes long, 12 a name in the temp dir taken from the input's last
 *        bytes (a length byte, then one byte per character)
 *   [1]  reserved-field mask: bit 0 reg.__resv0, 1 reg.__resv[i], 2 desc.__resv[i],
 *        3 desc.mmap_offset, 4 opts.__resv[i], 5 reg.offsets pre-filled with
 *        garbage (an output), 6 desc.user_addr/size set without USER,
 *        7 opts == NULL
 *   [2]  i, the reserved word the mask bits above set (i % 4)
 *   values: reg.sq_entries, reg.cq_entries, reg.buffer_entries,
 *           reg.buffer_entry_size, reg.flags, desc.flags, desc.numa_node,
 *           USER memory size (added to the layout's size as a signed
 *           delta when the selector is even, else the value), USER address
 *           offset from a page (u32 value % 8192), opts.mode, opts.flags,
 *           opts.lba_size, opts.idle_spin_us, opts.file_size (64-bit),
 *           opts.ctrl_path (odd: a path in the temp dir, else NULL)
 *   then a byte: 0, or 1 + how many new file descriptors (% 8) the call
 *   may open (RLIMIT_NOFILE is lowered for the call, so the target open,
 *   io_uring_setup() or the eventfd fail and their failure paths run)
 * USER memory is always a real buffer of that size (at most 16 MiB, between
 * guard pages); no pointer comes from the input.  Data areas over 4 MiB
 * that the limits would accept are scaled down to 4 MiB, to keep each run
 * fast and memory use small.
 *
 * Oracles:
 *  - the return value is 0 or a negative errno;
 *  - a registration the documented rules call invalid fails (reserved
 *    fields and flags, geometry limits, USER memory not 4 KiB aligned or
 *    smaller than the layout, NUMA with USER, user_addr/size without USER,
 *    unknown engine mode or option flags);
 *  - on failure: *reg and *desc are unchanged byte for byte, USER memory is
 *    unchanged, unified_errmsg() is not empty, the temp directory holds the
 *    same files with the same sizes and modes (a file the call created or
 *    grew is removed or shrunk back), no file descriptor is left open, and
 *    no mapping is left behind (the total size of the process's mappings
 *    does not grow; a growth is confirmed by repeating the call, so a
 *    one-time allocation of the sanitizer runtime is not reported);
 *  - on success: the offsets are in order, page aligned, the buffers
 *    aligned to buffer_entry_size when larger than a page, and everything
 *    fits in desc.size; desc.user_addr/size describe unified_region();
 *    USER memory is used where it was given; cq_entries 0 became
 *    min(2 * sq_entries, IO_UNIFIED_MAX_ENTRIES); the ring headers carry the
 *    geometry; then unified_unregister() returns 0 or a negative errno and
 *    leaves no file descriptor open.
 */
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "fuzz_common.h"

/* The mapping-growth oracle needs freed memory to be unmapped at once. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=0:thread_local_quarantine_size_kb=0";
}

#define MAX_USER	(16ull << 20)
#define MAX_DATA	(4ull << 20)

static char dir[300], defpath[400];
static char paths[12][400];

static const uint32_t edge32[] = {
	0, 1, 2, 3, 4, 8, 16, 31, 32, 64, 511, 512, 513, 1024, 4095, 4096, 4097, 8192,
	16384, 32767, 32768, 32769, 65536, 1u << 20, 2u << 20, (2u << 20) + 1, 1u << 24,
	(1u << 24) + 1, 0x7fffffffu, 0x80000000u, 0xffffffffu,
};

static uint32_t val32(struct fz_in *in)
{
	uint8_t sel = fz_u8(in);

	if (sel >= 0xf0)
		return fz_u32(in);
	return edge32[sel % (sizeof(edge32) / sizeof(edge32[0]))];
}

static uint64_t val64(struct fz_in *in)
{
	static const uint64_t edge64[] = {
		0, 1, 512, 4096, 4097, 1ull << 20, 16ull << 20, 1ull << 30, 1ull << 40,
		(1ull << 63) - 4096, 1ull << 63, UINT64_MAX,
	};
	uint8_t sel = fz_u8(in);

	if (sel >= 0xf0)
		return fz_u64(in);
	return edge64[sel % (sizeof(edge64) / sizeof(edge64[0]))];
}

/* ------------------------------------------------------------ fixtures */

static void make_file(const char *name, size_t size, mode_t mode)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
	fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	FZ_SETUP(fd >= 0, "create %s: %s", p, strerror(errno));
	FZ_SETUP(!ftruncate(fd, (off_t)size), "size %s", p);
	close(fd);
	FZ_SETUP(!chmod(p, mode), "chmod %s", p);
}

struct fixture {
	const char *name;
	size_t size;
	mode_t mode;		/* 0: not a regular file */
};

static const struct fixture fixtures[] = {
	{ "f.dat", 1u << 20, 0600 },
	{ "ro.dat", 64u << 10, 0444 },
	{ "empty.dat", 0, 0600 },
	{ "odd.dat", 1000, 0600 },
};

/* Put the temp directory back as the fixtures want it. */
static void reset_dir(void)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	char p[600];
	struct stat st;
	size_t i;

	FZ_SETUP(d, "opendir %s", dir);
	while ((de = readdir(d))) {
		bool keep = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
			    !strcmp(de->d_name, "link.dat") || !strcmp(de->d_name, "sub") ||
			    !strcmp(de->d_name, "fifo");

		for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
			keep |= !strcmp(de->d_name, fixtures[i].name);
		if (keep)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		FZ_SETUP(!unlink(p), "unlink %s: %s", p, strerror(errno));
	}
	closedir(d);
	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, fixtures[i].name);
		if (lstat(p, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size != fixtures[i].size ||
		    (st.st_mode & 07777) != fixtures[i].mode)
			make_file(fixtures[i].name, fixtures[i].size, fixtures[i].mode);
	}
}

/* What the directory holds: names, kinds, sizes, modes. */
struct dsnap {
	int n;
	struct { char name[256]; mode_t mode; off_t size; } e[64];
};

static void dir_snap(struct dsnap *s)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	char p[600];
	struct stat st;

	FZ_SETUP(d, "opendir %s", dir);
	s->n = 0;
	while ((de = readdir(d)) && s->n < 64) {
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st))
			continue;
		snprintf(s->e[s->n].name, sizeof(s->e[s->n].name), "%s", de->d_name);
		s->e[s->n].mode = st.st_mode;
		s->e[s->n].size = S_ISREG(st.st_mode) ? st.st_size : 0;
		s->n++;
	}
	closedir(d);
}

static const char *dir_diff(const struct dsnap *a, const struct dsnap *b)
{
	static char why[400];
	int i, j;

	for (i = 0; i < b->n; i++) {
		for (j = 0; j < a->n; j++)
			if (!strcmp(a->e[j].name, b->e[i].name))
				break;
		if (j == a->n) {
			snprintf(why, sizeof(why), "%s was left behind", b->e[i].name);
			return why;
		}
		if (a->e[j].mode != b->e[i].mode || a->e[j].size != b->e[i].size) {
			snprintf(why, sizeof(why), "%s changed from mode 0%o size %lld to mode 0%o size %lld",
				 b->e[i].name, a->e[j].mode, (long long)a->e[j].size, b->e[i].mode,
				 (long long)b->e[i].size);
			return why;
		}
	}
	if (a->n != b->n) {
		snprintf(why, sizeof(why), "%d entries before, %d after", a->n, b->n);
		return why;
	}
	return NULL;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	FZ_SETUP(d, "opendir /proc/self/fd");
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static uint64_t mapped_bytes(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	uint64_t sum = 0;

	FZ_SETUP(f, "open /proc/self/maps");
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;

		if (sscanf(line, "%llx-%llx", &a, &b) == 2)
			sum += b - a;
	}
	fclose(f);
	return sum;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char p[600];
	size_t l;

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/reg", fz_tmpdir());
	FZ_SETUP(!mkdir(dir, 0700), "mkdir %s", dir);
	snprintf(p, sizeof(p), "%s/sub", dir);
	FZ_SETUP(!mkdir(p, 0700), "mkdir %s", p);
	snprintf(p, sizeof(p), "%s/fifo", dir);
	FZ_SETUP(!mkfifo(p, 0600), "mkfifo %s", p);
	snprintf(p, sizeof(p), "%s/link.dat", dir);
	FZ_SETUP(!symlink("f.dat", p), "symlink %s", p);
	reset_dir();
	snprintf(defpath, sizeof(defpath), "%s/default.dat", dir);
	setenv("UNIFIED_DEFAULT_FILE", defpath, 1);

	snprintf(paths[1], sizeof(paths[1]), "%s/f.dat", dir);
	snprintf(paths[2], sizeof(paths[2]), "%s/missing.dat", dir);
	snprintf(paths[3], sizeof(paths[3]), "%s/ro.dat", dir);
	snprintf(paths[4], sizeof(paths[4]), "%s/link.dat", dir);
	snprintf(paths[5], sizeof(paths[5]), "%s/sub", dir);
	snprintf(paths[6], sizeof(paths[6]), "%s/empty.dat", dir);
	snprintf(paths[7], sizeof(paths[7]), "%s/odd.dat", dir);
	snprintf(paths[8], sizeof(paths[8]), "%s/fifo", dir);
	paths[9][0] = '\0';
	l = (size_t)snprintf(paths[10], sizeof(paths[10]), "%s/", dir);
	memset(paths[10] + l, 'a', 300 - l);
	paths[10][300] = '\0';
	l = (size_t)snprintf(paths[11], sizeof(paths[11]), "%s/", dir);
	FZ_SETUP(l < 200, "temp dir path too long: %s", dir);
	memset(paths[11] + l, 'b', 255 - l);
	paths[11][255] = '\0';
	return 0;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* The region size a layout needs (for choosing USER sizes near it). */
static uint64_t layout_size(const struct io_unified_reg *r)
{
	uint64_t sq = r->sq_entries, b;
	uint64_t cq = r->cq_entries ? r->cq_entries :
		      sq >= IO_UNIFIED_MAX_ENTRIES ? sq : 2 * sq;	/* the documented default */

	b = align_up(align_up(2 * FZ_PAGE + sq * 128, FZ_PAGE) + cq * 64, FZ_PAGE);
	if (r->buffer_entry_size > FZ_PAGE && r->buffer_entry_size <= (1u << 30))
		b = align_up(b, r->buffer_entry_size);
	return b + (uint64_t)r->buffer_entries * r->buffer_entry_size;
}

struct call {
	struct io_unified_reg reg;
	struct io_unified_region_desc desc;
	struct unified_opts opts;
	bool no_opts;
	char name[64];
	uint8_t *ubuf;		/* USER memory, canary-filled */
	size_t ubuf_len;
	uint8_t seed;
	uint8_t fd_room;	/* 0: no limit; else 1 + the new fds the call may open */
};

/*
 * Register, with RLIMIT_NOFILE lowered for the call if the input asks:
 * then opening the target, io_uring_setup() or the eventfd fail, and the
 * failure paths after each step run.
 */
static int do_register(struct call *c, struct unified_ctx **ctx)
{
	struct rlimit old, lim;
	int ret, first_free;

	c->reg.region_ptr = (uintptr_t)&c->desc;
	if (!c->fd_room)
		return unified_register(&c->reg, c->no_opts ? NULL : &c->opts, ctx);
	first_free = dup(0);
	FZ_SETUP(first_free >= 0, "dup");
	close(first_free);
	FZ_SETUP(!getrlimit(RLIMIT_NOFILE, &old), "getrlimit");
	lim = old;
	lim.rlim_cur = (rlim_t)first_free + (c->fd_room - 1u) % 8u;
	FZ_SETUP(!setrlimit(RLIMIT_NOFILE, &lim), "setrlimit");
	ret = unified_register(&c->reg, c->no_opts ? NULL : &c->opts, ctx);
	FZ_SETUP(!setrlimit(RLIMIT_NOFILE, &old), "setrlimit");
	return ret;
}

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/*
 * Why the registration must fail by the documented rules (include/
 * io_unified.h, include/libunified.h, docs/interface.md "Region"), or NULL.
 */
static const char *must_fail(const struct call *c)
{
	const struct io_unified_reg *r = &c->reg;
	const struct io_unified_region_desc *d = &c->desc;
	const struct unified_opts *o = &c->opts;
	uint64_t data = (uint64_t)r->buffer_entries * r->buffer_entry_size;

	if (r->flags & ~IO_UNIFIED_REG_F_MASK)
		return "unknown reg.flags";
	if (r->nvme_dev_path && !*(const char *)(uintptr_t)r->nvme_dev_path)
		return "empty nvme_dev_path";
	if (r->__resv0 || r->__resv[0] || r->__resv[1] || r->__resv[2])
		return "reg reserved field set";
	if (!pow2(r->sq_entries) || r->sq_entries > IO_UNIFIED_MAX_ENTRIES)
		return "sq_entries not a power of two up to the limit";
	if (r->cq_entries && (!pow2(r->cq_entries) || r->cq_entries > IO_UNIFIED_MAX_ENTRIES))
		return "cq_entries not a power of two up to the limit";
	if (!pow2(r->buffer_entry_size) || r->buffer_entry_size < IO_UNIFIED_MIN_BUF_SIZE ||
	    r->buffer_entry_size > IO_UNIFIED_MAX_BUF_SIZE)
		return "buffer_entry_size not a power of two in 512 B..2 MiB";
	if (!r->buffer_entries || r->buffer_entries > IO_UNIFIED_MAX_BUF_ENTRIES)
		return "buffer_entries not in 1..2^24";
	if (data > IO_UNIFIED_MAX_DATA_BYTES)
		return "data area over 64 GiB";
	if (d->flags & ~IO_UNIFIED_REGION_F_MASK)
		return "unknown region flags";
	if (d->mmap_offset || d->__resv[0] || d->__resv[1] || d->__resv[2] || d->__resv[3])
		return "region descriptor reserved field set";
	if ((d->flags & IO_UNIFIED_REGION_USER) && (d->flags & IO_UNIFIED_REGION_NUMA))
		return "NUMA with USER memory";
	if (d->flags & IO_UNIFIED_REGION_USER) {
		if (d->user_addr % FZ_PAGE)
			return "USER memory not 4 KiB aligned";
		if (d->size < layout_size(r))
			return "USER memory smaller than the layout";
	} else if (d->user_addr || d->size) {
		return "user_addr/size set without USER";
	}
	if (!c->no_opts) {
		if (o->mode > UNIFIED_MODE_THREAD)
			return "unknown engine mode";
		if (o->flags & ~UNIFIED_OPT_MASK)
			return "unknown option flags";
		if (o->__resv[0] || o->__resv[1] || o->__resv[2])
			return "unified_opts reserved field set";
		if (o->idle_spin_us > 1000000 || o->enter_spin_us > 1000000)
			return "a spin over the 1 s limit";
	}
	return NULL;
}

static void check_success(const struct call *in, const struct call *c, struct unified_ctx *ctx)
{
	const struct io_unified_reg *r = &c->reg;
	const struct io_unified_offsets *o = &r->offsets;
	uint64_t data = (uint64_t)r->buffer_entries * r->buffer_entry_size;
	uint32_t want_cq = in->reg.cq_entries ? in->reg.cq_entries :
			   in->reg.sq_entries * 2 > IO_UNIFIED_MAX_ENTRIES ? IO_UNIFIED_MAX_ENTRIES :
			   in->reg.sq_entries * 2;
	const struct io_unified_ring *sqr, *cqr;

	FZ_CHECK(ctx, "success without a context");
	FZ_CHECK(r->cq_entries == want_cq, "cq_entries %u in, %u out (want %u)", in->reg.cq_entries,
		 r->cq_entries, want_cq);
	FZ_CHECK(r->sq_entries == in->reg.sq_entries && r->buffer_entries == in->reg.buffer_entries &&
		 r->buffer_entry_size == in->reg.buffer_entry_size && r->flags == in->reg.flags &&
		 r->nvme_dev_path == in->reg.nvme_dev_path, "registration changed an input field");
	FZ_CHECK(o->sq_ring == 0 && o->cq_ring == IO_UNIFIED_RING_HDR_SIZE &&
		 o->sq_entries == 2ull * IO_UNIFIED_RING_HDR_SIZE,
		 "ring offsets %llu/%llu/%llu", (unsigned long long)o->sq_ring,
		 (unsigned long long)o->cq_ring, (unsigned long long)o->sq_entries);
	FZ_CHECK(o->cq_entries % FZ_PAGE == 0 && o->buffers % FZ_PAGE == 0,
		 "offsets not page aligned: cq %llu buffers %llu", (unsigned long long)o->cq_entries,
		 (unsigned long long)o->buffers);
	FZ_CHECK(o->cq_entries >= o->sq_entries + (uint64_t)r->sq_entries * sizeof(struct io_unified_sqe),
		 "CQEs at %llu overlap %u SQEs", (unsigned long long)o->cq_entries, r->sq_entries);
	FZ_CHECK(o->buffers >= o->cq_entries + (uint64_t)r->cq_entries * sizeof(struct io_unified_cqe),
		 "buffers at %llu overlap %u CQEs", (unsigned long long)o->buffers, r->cq_entries);
	FZ_CHECK(r->buffer_entry_size <= FZ_PAGE || o->buffers % r->buffer_entry_size == 0,
		 "buffers at %llu not aligned to %u", (unsigned long long)o->buffers,
		 r->buffer_entry_size);
	FZ_CHECK(o->buffers <= c->desc.size && data <= c->desc.size - o->buffers,
		 "buffers end at %llu, region is %llu bytes", (unsigned long long)(o->buffers + data),
		 (unsigned long long)c->desc.size);
	FZ_CHECK(!o->__resv[0] && !o->__resv[1] && !o->net, "offsets reserved fields set (or net without net_ptr)");
	FZ_CHECK(c->desc.user_addr == (uintptr_t)unified_region(ctx) &&
		 c->desc.size == unified_region_size(ctx), "desc does not describe the region");
	FZ_CHECK(c->desc.user_addr % FZ_PAGE == 0, "region at 0x%llx not page aligned",
		 (unsigned long long)c->desc.user_addr);
	FZ_CHECK((uint8_t *)unified_buffers(ctx) == (uint8_t *)unified_region(ctx) + o->buffers,
		 "unified_buffers() is not region + offsets.buffers");
	if (in->desc.flags & IO_UNIFIED_REGION_USER)
		FZ_CHECK(c->desc.user_addr == in->desc.user_addr && c->desc.size == in->desc.size,
			 "USER memory 0x%llx+%llu became 0x%llx+%llu",
			 (unsigned long long)in->desc.user_addr, (unsigned long long)in->desc.size,
			 (unsigned long long)c->desc.user_addr, (unsigned long long)c->desc.size);
	sqr = (const void *)((const uint8_t *)unified_region(ctx) + o->sq_ring);
	cqr = (const void *)((const uint8_t *)unified_region(ctx) + o->cq_ring);
	FZ_CHECK(sqr->ring_entries == r->sq_entries && sqr->ring_mask == r->sq_entries - 1 &&
		 cqr->ring_entries == r->cq_entries && cqr->ring_mask == r->cq_entries - 1,
		 "ring headers do not carry the geometry");
}

/* Build the call from the input; false if the input is too short. */
static bool parse(struct fz_in *in, struct call *c)
{
	uint8_t path_sel, mask, ri;
	uint64_t data, usize;
	uint32_t uoff;

	memset(c, 0, sizeof(*c));
	if (in->n < 3)
		return false;
	path_sel = fz_u8(in) % 13;
	mask = fz_u8(in);
	ri = fz_u8(in) % 4;
	c->reg.sq_entries = val32(in);
	c->reg.cq_entries = val32(in);
	c->reg.buffer_entries = val32(in);
	c->reg.buffer_entry_size = val32(in);
	c->reg.flags = val32(in);
	c->desc.flags = val32(in);
	c->desc.numa_node = (int32_t)val32(in);
	{
		uint8_t sel = in->n ? in->p[0] : 0;

		usize = val32(in);
		c->seed = sel;
		if (!(sel & 1))	/* a signed delta around the layout's size */
			usize = (uint64_t)((int64_t)layout_size(&c->reg) + (int32_t)(uint32_t)usize);
	}
	uoff = val32(in) % 8192;
	c->opts.mode = val32(in);
	c->opts.flags = val32(in);
	c->opts.lba_size = val32(in);
	c->opts.idle_spin_us = val32(in);
	c->opts.file_size = val64(in);
	if (val32(in) & 1) {
		static char ctrl[512];

		snprintf(ctrl, sizeof(ctrl), "%s/ctrl", dir);
		c->opts.ctrl_path = ctrl;
	}
	c->fd_room = fz_u8(in);

	if (mask & 1)
		c->reg.__resv0 = 1;
	if (mask & 2)
		c->reg.__resv[ri % 3] = 1ull << 40;	/* net_ptr (ABI 2) took the old [0] */
	if (mask & 4)
		c->desc.__resv[ri] = 1;
	if (mask & 8)
		c->desc.mmap_offset = 4096;
	if (mask & 16) {
		if (ri == 3)
			c->opts.enter_spin_us = 2000000;	/* over the limit */
		else
			c->opts.__resv[ri] = 1;
	}
	if (mask & 32)
		memset(&c->reg.offsets, 0xa5, sizeof(c->reg.offsets));
	c->no_opts = mask & 128;

	/* Keep memory use small: scale down data areas the limits accept. */
	data = (uint64_t)c->reg.buffer_entries * c->reg.buffer_entry_size;
	if (data > MAX_DATA && data <= IO_UNIFIED_MAX_DATA_BYTES && c->reg.buffer_entry_size)
		c->reg.buffer_entries = (uint32_t)(MAX_DATA / c->reg.buffer_entry_size) ?
					(uint32_t)(MAX_DATA / c->reg.buffer_entry_size) : 1;

	if (c->desc.flags & IO_UNIFIED_REGION_USER) {
		/* Real caller memory of the fuzzed size, never an input pointer. */
		if (usize > MAX_USER)
			usize = MAX_USER;
		c->ubuf_len = align_up(usize + uoff, FZ_PAGE);
		if (!c->ubuf_len)
			c->ubuf_len = FZ_PAGE;
		c->ubuf = fz_guarded_alloc(c->ubuf_len);
		fz_canary_fill(c->ubuf, c->ubuf_len, c->seed);
		c->desc.user_addr = (uintptr_t)(c->ubuf + uoff);
		c->desc.size = usize;
	} else if (mask & 64) {
		c->desc.user_addr = 4096;
		c->desc.size = 4096;
	}

	switch (path_sel) {
	case 0:
		c->reg.nvme_dev_path = 0;
		break;
	case 12: {
		/* A name from the input, inside the temp directory. */
		static const char cs[] = "abcdefghijklmnopqrstuvwxyz0123456789._-";
		uint8_t n = fz_u8(in) % 32 + 1, i;
		static char p[600];
		size_t l = (size_t)snprintf(p, sizeof(p), "%s/", dir);

		for (i = 0; i < n; i++)
			p[l + i] = cs[fz_u8(in) % (sizeof(cs) - 1)];
		p[l + n] = '\0';
		if (p[l] == '.')
			p[l] = 'x';	/* never "." or ".." */
		c->reg.nvme_dev_path = (uintptr_t)p;
		break;
	}
	default:
		c->reg.nvme_dev_path = (uintptr_t)paths[path_sel];
		break;
	}
	c->reg.region_ptr = (uintptr_t)&c->desc;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct call c, saved;
	struct unified_ctx *ctx = NULL;
	struct dsnap before, after;
	uint64_t maps0, maps1;
	int fds0, ret;
	const char *why;

	if (!parse(&in, &c))
		return 0;
	reset_dir();
	saved = c;
	dir_snap(&before);
	fds0 = count_fds();
	maps0 = mapped_bytes();
	ret = do_register(&c, &ctx);
	FZ_CHECK(ret == 0 || (ret < 0 && ret >= -4095), "unified_register returned %d", ret);
	why = must_fail(&saved);
	FZ_CHECK(ret != 0 || !why, "registration succeeded although it is documented invalid: %s", why);
	if (ret == 0) {
		check_success(&saved, &c, ctx);
		ret = unified_unregister(ctx);
		FZ_CHECK(ret == 0 || (ret < 0 && ret >= -4095), "unified_unregister returned %d", ret);
		FZ_CHECK(count_fds() == fds0, "unregister left %d file descriptors open",
			 count_fds() - fds0);
	} else {
		long bad;

		FZ_CHECK(unified_errmsg()[0], "registration failed with %d and no unified_errmsg()", ret);
		FZ_CHECK(!memcmp(&c.reg, &saved.reg, sizeof(c.reg)),
			 "failed registration (%d: %s) changed *reg", ret, unified_errmsg());
		FZ_CHECK(!memcmp(&c.desc, &saved.desc, sizeof(c.desc)),
			 "failed registration (%d: %s) changed the region descriptor", ret,
			 unified_errmsg());
		if (c.ubuf) {
			bad = fz_canary_check(c.ubuf, c.ubuf_len, c.seed);
			FZ_CHECK(bad < 0, "failed registration (%d: %s) wrote USER memory at +%ld", ret,
				 unified_errmsg(), bad);
		}
		dir_snap(&after);
		why = dir_diff(&before, &after);
		FZ_CHECK(!why, "failed registration (%d: %s) left the target directory changed: %s",
			 ret, unified_errmsg(), why);
		FZ_CHECK(count_fds() == fds0, "failed registration (%d: %s) left %d file descriptors open",
			 ret, unified_errmsg(), count_fds() - fds0);
		maps1 = mapped_bytes();
		if (maps1 > maps0) {
			/* Confirm: the same failing call again, from the same state. */
			struct call again = saved;

			if (again.ubuf)
				fz_canary_fill(again.ubuf, again.ubuf_len, again.seed);
			reset_dir();
			maps0 = mapped_bytes();
			ret = do_register(&again, &ctx);
			if (ret == 0) {
				unified_unregister(ctx);
			} else {
				maps1 = mapped_bytes();
				FZ_CHECK(maps1 <= maps0,
					 "failed registration (%d: %s) left %llu bytes mapped, twice", ret,
					 unified_errmsg(), (unsigned long long)(maps1 - maps0));
			}
		}
	}
	if (c.ubuf)
		fz_guarded_free(c.ubuf, c.ubuf_len);
	reset_dir();
	return 0;
}
