/* SPDX-License-Identifier: MIT */
/*
 * Shared code of the libFuzzer harnesses in tests/fuzz/: a private temp
 * directory on a disk file system, an input reader, the oracle failure
 * path, guarded memory, and the SQE rules the engine documents.
 *
 * An oracle failure prints "ORACLE FAILED: <why>" and aborts, so libFuzzer
 * saves the input as a crash artifact and tests/fuzz/run.sh reports it.
 */
#ifndef UNIFIED_FUZZ_COMMON_H
#define UNIFIED_FUZZ_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <libunified.h>

#define FZ_PAGE 4096u

/* libFuzzer's entry points, declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static inline void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void fz_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ORACLE FAILED: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

/* The oracle: @cond must hold for every input. */
#define FZ_CHECK(cond, ...) do { if (!(cond)) fz_fail(__VA_ARGS__); } while (0)

/* Setup that must work for the harness to mean anything. */
#define FZ_SETUP(cond, ...) do { if (!(cond)) { \
	fprintf(stderr, "fuzz setup failed: "); fprintf(stderr, __VA_ARGS__); \
	fprintf(stderr, " (%s)\n", unified_errmsg()); exit(2); } } while (0)

/* ------------------------------------------------------------ input reader */

struct fz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz_in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

static inline uint32_t fz_u32(struct fz_in *in)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v |= (uint32_t)fz_u8(in) << (8 * i);
	return v;
}

static inline uint64_t fz_u64(struct fz_in *in)
{
	uint64_t lo = fz_u32(in);

	return lo | (uint64_t)fz_u32(in) << 32;
}

/* ------------------------------------------------------------ temp directory */

static char fz_dir[256];

static int fz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void fz_rm_dir(void)
{
	if (fz_dir[0])
		nftw(fz_dir, fz_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/*
 * A private directory on a disk file system (O_DIRECT does not work on
 * tmpfs): under $TMPDIR if that is a disk, else under /var/tmp.  Removed at
 * exit (libFuzzer exits normally at the end of a timed run).
 */
static inline const char *fz_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	struct statfs sf;

	if (fz_dir[0])
		return fz_dir;
	if (!base || !*base || statfs(base, &sf) || sf.f_type == 0x01021994 /* tmpfs */ ||
	    sf.f_type == 0x858458f6 /* ramfs */)
		base = "/var/tmp";
	snprintf(fz_dir, sizeof(fz_dir), "%s/unified-fuzz.XXXXXX", base);
	FZ_SETUP(mkdtemp(fz_dir), "mkdtemp %s: %s", fz_dir, strerror(errno));
	atexit(fz_rm_dir);
	return fz_dir;
}

/* ------------------------------------------------------------ guarded memory */

/*
 * @len bytes (a page multiple) of read-write memory between two PROT_NONE
 * guard pages: a write just outside faults.
 */
static inline uint8_t *fz_guarded_alloc(size_t len)
{
	uint8_t *res = mmap(NULL, len + 2 * FZ_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	FZ_SETUP(res != MAP_FAILED, "mmap of %zu bytes", len);
	FZ_SETUP(!mprotect(res + FZ_PAGE, len, PROT_READ | PROT_WRITE), "mprotect");
	return res + FZ_PAGE;
}

static inline void fz_guarded_free(uint8_t *p, size_t len)
{
	munmap(p - FZ_PAGE, len + 2 * FZ_PAGE);
}

/*
 * Canary bytes: a pattern that depends on the position in its page and on a
 * seed, written and compared a page at a time (fast on large buffers).
 */
static inline const uint8_t *fz_canary_page(uint8_t seed)
{
	static uint8_t page[FZ_PAGE];
	static int have = -1;
	size_t i;

	if (have != seed) {
		for (i = 0; i < FZ_PAGE; i++)
			page[i] = (uint8_t)((i * 131u + 7u) ^ seed);
		have = seed;
	}
	return page;
}

static inline void fz_canary_fill(uint8_t *p, size_t len, uint8_t seed)
{
	const uint8_t *pat = fz_canary_page(seed);
	size_t o, n;

	for (o = 0; o < len; o += n) {
		n = len - o < FZ_PAGE ? len - o : FZ_PAGE;
		memcpy(p + o, pat, n);
	}
}

/* Offset of the first changed byte, or -1 if the canary is intact. */
static inline long fz_canary_check(const uint8_t *p, size_t len, uint8_t seed)
{
	const uint8_t *pat = fz_canary_page(seed);
	size_t o, n, i;

	for (o = 0; o < len; o += n) {
		n = len - o < FZ_PAGE ? len - o : FZ_PAGE;
		if (memcmp(p + o, pat, n))
			for (i = 0; i < n; i++)
				if (p[o + i] != pat[i])
					return (long)(o + i);
	}
	return -1;
}

/* ------------------------------------------------------------ SQE rules */

static inline int fz_known_io_opcode(uint8_t op)
{
	return op == IO_UNIFIED_NVME_CMD_FLUSH || op == IO_UNIFIED_NVME_CMD_WRITE ||
	       op == IO_UNIFIED_NVME_CMD_READ || op == IO_UNIFIED_NVME_CMD_COMPARE ||
	       op == IO_UNIFIED_NVME_CMD_WRITE_ZEROES || op == IO_UNIFIED_NVME_CMD_DSM;
}

/*
 * Why an SQE must fail by the documented rules (include/io_unified.h,
 * docs/interface.md "Statuses the host makes"), or NULL if the rules allow
 * it to succeed.  Only rules that hold on today's emulated targets and on
 * every planned fix are here: reserved fields and flags, the NVMe fields
 * that must be zero, data_len against len, the transfer length of
 * Read/Write/Compare, buffers outside the data area (with the length
 * derived as documented when len and data_len are 0), the namespace of an
 * I/O command, and unknown I/O opcodes on an emulated target.
 */
static inline const char *fz_sqe_must_fail(const struct io_unified_sqe *s,
					   const struct unified_target_info *ti, uint64_t area)
{
	const struct io_unified_nvme_cmd *nc = &s->nvme_cmd;
	int admin = s->flags & IO_UNIFIED_SQE_F_ADMIN;
	int rw = !admin && (nc->opcode == IO_UNIFIED_NVME_CMD_READ ||
			    nc->opcode == IO_UNIFIED_NVME_CMD_WRITE ||
			    nc->opcode == IO_UNIFIED_NVME_CMD_COMPARE);
	uint64_t rwb = ((uint64_t)(nc->cdw12 & 0xffff) + 1) * ti->lba_size, len = s->len;

	if (s->flags & ~IO_UNIFIED_SQE_F_MASK)
		return "unknown SQE flag";
	if (s->__resv[0] || s->__resv[1] || s->__resv[2] || s->__resv[3])
		return "SQE reserved field non-zero";
	if (nc->flags || nc->rsvd1 || nc->rsvd2)
		return "nvme_cmd flags/rsvd non-zero";
	if (nc->metadata || nc->metadata_len)
		return "metadata/metadata_len non-zero";
	if (nc->data_len && len && nc->data_len != len)
		return "data_len != len";
	if (!len)
		len = nc->data_len;
	if (!len && rw)
		len = rwb;
	if (!len && admin && nc->opcode == IO_UNIFIED_NVME_ADMIN_IDENTIFY)
		len = 4096;
	if (!len && admin && nc->opcode == IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE)
		len = ((((uint64_t)(nc->cdw11 & 0xffff) << 16) | (nc->cdw10 >> 16)) + 1) * 4;
	if (!len && !admin && nc->opcode == IO_UNIFIED_NVME_CMD_DSM)
		len = ((nc->cdw10 & 0xff) + 1) * 16ull;
	if (rw && len != rwb)
		return "len != NLB x LBA size";
	if (!admin && nc->nsid != ti->nsid &&
	    !(nc->opcode == IO_UNIFIED_NVME_CMD_FLUSH && nc->nsid == 0xffffffffu))
		return "I/O command for another namespace";
	if (len && (s->buf_offset > area || len > area - s->buf_offset))
		return "buf_offset/len outside the data area";
	if (!admin && !fz_known_io_opcode(nc->opcode) &&
	    (ti->kind == UNIFIED_TARGET_FILE || ti->kind == UNIFIED_TARGET_BLOCK))
		return "unknown I/O opcode on an emulated target";
	return NULL;
}

#endif /* UNIFIED_FUZZ_COMMON_H */
