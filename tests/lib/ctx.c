/* SPDX-License-Identifier: MIT */
/* One context helper: open, submit and complete, CQE checks, raw access. */
#include <fcntl.h>
#include "helpers.h"

/* ------------------------------------------------------- open and close */

/*
 * UNIFIED_TEST_ENGINE=kernel (the kernel tier, on a kernel with
 * IORING_REGISTER_UNIFIED_IFQ): let the library choose the kernel engine,
 * and require it wherever it serves (root, an NVMe generic node, kick
 * mode, no network rings, no destructive admin option).  Otherwise the
 * tests pin the user engine.
 */
static bool kernel_engine_wanted(void)
{
	const char *v = getenv("UNIFIED_TEST_ENGINE");

	return v && !strcmp(v, "kernel");
}

/* CAP_SYS_ADMIN (bit 21) in the effective set, as the kernel engine needs. */
static bool have_sys_admin(void)
{
	char line[256];
	unsigned long long caps = 0;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	if (f)
		fclose(f);
	return caps & (1ull << 21);
}

static bool kernel_engine_serves(const struct th_opts *o, const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return have_sys_admin() && !strncmp(base, "ng", 2) && o->mode == UNIFIED_MODE_KICK &&
	       !o->net && !(o->flags & (UNIFIED_OPT_ADMIN_DESTRUCTIVE | UNIFIED_OPT_USER_ENGINE |
					UNIFIED_OPT_IOPOLL));
}

void th_unified_opts(const struct th_opts *o, struct unified_opts *uo)
{
	const struct th_target *t = o->target;
	bool create = t ? t->kind == TH_FILE : !o->path;

	memset(uo, 0, sizeof(*uo));
	uo->mode = o->mode;
	uo->lba_size = o->lba_size ? o->lba_size : t && t->kind == TH_FILE ? t->lba_size : 0;
	uo->idle_spin_us = o->idle_spin_us;
	uo->flags = o->flags | (kernel_engine_wanted() ? 0 : UNIFIED_OPT_USER_ENGINE) |
		    (create ? UNIFIED_OPT_CREATE : 0);
	uo->file_size = o->file_size ? o->file_size : t ? (t->kind == TH_FILE ? TH_DEV_BYTES : 0)
						      : 16ull << 20;
}

/* The ring, buffer and target views of the registered c->ctx. */
static void fill_views(struct th_ctx *c)
{
	unified_sq_init(c->ctx, &c->sq);
	unified_cq_init(c->ctx, &c->cq);
	unified_target_info(c->ctx, &c->info);
	c->buf = unified_buffers(c->ctx);
	c->buf_bytes = (uint64_t)c->reg.buffer_entries * c->reg.buffer_entry_size;
	c->nlba = c->info.nlba;
	c->lba = c->info.lba_size;
	c->nsid = c->info.nsid;
	c->next_ud = 0x1000;
}

void th_attach(struct th_ctx *c, struct unified_ctx *ctx, const struct io_unified_reg *reg,
	       const struct io_unified_region_desc *desc)
{
	memset(c, 0, sizeof(*c));
	c->raw_fd = -1;
	c->ctx = ctx;
	c->reg = *reg;
	c->desc = *desc;
	fill_views(c);
}

int th_open(struct th_ctx *c, const struct th_opts *o)
{
	struct unified_opts uo;
	const char *path;
	int ret, i;

	memset(c, 0, sizeof(*c));
	c->raw_fd = -1;
	path = o->target ? o->target->path : o->path;
	if (!path) {
		if (!th_tmpdir())
			return -ENOENT;
		path = th_path(o->file ? o->file : "target.img");
	}
	th_unified_opts(o, &uo);
	c->reg.region_ptr = (uintptr_t)&c->desc;
	c->reg.nvme_dev_path = (uintptr_t)path;
	c->reg.sq_entries = o->sq ? o->sq : 64;
	c->reg.cq_entries = o->cq;
	c->reg.buffer_entries = o->nbuf ? o->nbuf : 1024;
	c->reg.buffer_entry_size = o->bufsz ? o->bufsz : 4096;
	c->reg.net_ptr = (uintptr_t)o->net;
	ret = unified_register(&c->reg, &uo, &c->ctx);
	/* Without CAP_IPC_LOCK the fixed buffers count against RLIMIT_MEMLOCK,
	 * and the kernel returns the previous context's pages asynchronously:
	 * give it a moment before calling it a failure. */
	for (i = 0; ret == -ENOMEM && geteuid() != 0 && i < 200; i++) {
		usleep(5000);
		ret = unified_register(&c->reg, &uo, &c->ctx);
	}
	if (ret) {
		printf("  unified_register(%s): %s (%s)\n", path, strerror(-ret), unified_errmsg());
		c->ctx = NULL;
		return ret;
	}
	fill_views(c);
	if (kernel_engine_wanted() && kernel_engine_serves(o, path) &&
	    strcmp(c->info.engine, "kernel")) {
		printf("  unified_register(%s): engine \"%s\", the kernel engine was expected\n",
		       path, c->info.engine);
		unified_unregister(c->ctx);
		c->ctx = NULL;
		return -EPROTO;
	}
	return 0;
}

int th_close(struct th_ctx *c)
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

/* ------------------------------------------------------- submit, complete */

int th_queue(struct th_ctx *c, const struct io_unified_sqe *sqes, uint32_t n)
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

int th_submit(struct th_ctx *c, const struct io_unified_sqe *sqes, uint32_t n)
{
	int ret = th_queue(c, sqes, n);

	return ret ? ret : unified_kick(c->ctx);
}

uint32_t th_take(struct th_ctx *c, struct io_unified_cqe *out, uint32_t max)
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

uint32_t th_reap(struct th_ctx *c, struct io_unified_cqe *out, uint32_t n)
{
	uint64_t deadline = th_now_ms() + TH_TIMEOUT_MS;
	uint32_t got = 0;

	while (got < n) {
		uint64_t now;
		int r;

		got += th_take(c, out + got, n - got);
		if (got == n)
			break;
		now = th_now_ms();
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

int th_exec(struct th_ctx *c, const struct io_unified_sqe *sqe, struct io_unified_cqe *cqe)
{
	int ret;

	memset(cqe, 0xee, sizeof(*cqe));
	ret = th_submit(c, sqe, 1);
	if (ret)
		return ret;
	return th_reap(c, cqe, 1) == 1 ? 0 : -ETIME;
}

int th_rw(struct th_ctx *c, uint8_t opcode, uint64_t slba, uint32_t nlb, uint64_t off,
	  struct io_unified_cqe *cqe)
{
	struct io_unified_sqe sqe;

	unified_prep_rw(&sqe, opcode, c->nsid, slba, nlb, off, nlb * c->lba, c->next_ud++);
	return th_exec(c, &sqe, cqe);
}

void th_prep_read(const struct th_ctx *c, struct io_unified_sqe *s, uint64_t slba, uint32_t nlb,
		  uint64_t off, uint64_t ud)
{
	unified_prep_read(s, c->nsid, slba, nlb, off, nlb * c->lba, ud);
}

void th_prep_write(const struct th_ctx *c, struct io_unified_sqe *s, uint64_t slba, uint32_t nlb,
		   uint64_t off, uint64_t ud)
{
	unified_prep_write(s, c->nsid, slba, nlb, off, nlb * c->lba, ud);
}

int th_write(struct th_ctx *c, uint64_t slba, uint32_t nlb, uint64_t off)
{
	struct io_unified_sqe s;

	th_prep_write(c, &s, slba, nlb, off, 0x57000000u + slba);
	return EXEC_EXPECT(c, &s, ST_OK, nlb * c->lba);
}

int th_read(struct th_ctx *c, uint64_t slba, uint32_t nlb, uint64_t off)
{
	struct io_unified_sqe s;

	th_prep_read(c, &s, slba, nlb, off, 0x52000000u + slba);
	return EXEC_EXPECT(c, &s, ST_OK, nlb * c->lba);
}

/* ------------------------------------------------------- checks */

const char *th_cqe_problem(const struct io_unified_cqe *cqe, const struct io_unified_sqe *sqe,
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

void th_check_accounting(struct th_ctx *c)
{
	struct unified_stats st;
	struct io_unified_cqe extra[4];

	if (!c->ctx)
		return;
	if (c->sqes == c->cqes) {
		unified_enter(c->ctx, 0, 0);
		usleep(1000);
		unified_kick(c->ctx);
		CHECK(th_take(c, extra, 4) == 0, "a CQE arrived that no SQE asked for");
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

/* ------------------------------------------------------- raw access */

static int raw_open(struct th_ctx *c)
{
	if (c->raw_fd >= 0)
		return 0;
	c->raw_fd = open(c->info.path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (c->raw_fd < 0)
		return -errno;
	if (posix_memalign((void **)&c->raw_buf, 4096, TH_MAX_XFER)) {
		close(c->raw_fd);
		c->raw_fd = -1;
		return -ENOMEM;
	}
	return 0;
}

/* Move @nlb LBAs at @slba between @mem and the target, in bounce-buffer chunks. */
static int raw_io(struct th_ctx *c, uint64_t slba, uint32_t nlb, void *mem, bool write)
{
	uint64_t off = slba * c->lba, len = (uint64_t)nlb * c->lba, done = 0;
	int ret = raw_open(c);

	if (ret)
		return ret;
	while (done < len) {
		size_t chunk = len - done > TH_MAX_XFER ? TH_MAX_XFER : (size_t)(len - done);
		ssize_t n;

		if (write) {
			memcpy(c->raw_buf, (uint8_t *)mem + done, chunk);
			n = pwrite(c->raw_fd, c->raw_buf, chunk, (off_t)(off + done));
		} else {
			n = pread(c->raw_fd, c->raw_buf, chunk, (off_t)(off + done));
		}
		if (n != (ssize_t)chunk)
			return n < 0 ? -errno : -EIO;
		if (!write)
			memcpy((uint8_t *)mem + done, c->raw_buf, chunk);
		done += chunk;
	}
	return 0;
}

int th_raw_read(struct th_ctx *c, uint64_t slba, uint32_t nlb, void *dst)
{
	return raw_io(c, slba, nlb, dst, false);
}

int th_raw_write(struct th_ctx *c, uint64_t slba, uint32_t nlb, const void *src)
{
	return raw_io(c, slba, nlb, (void *)(uintptr_t)src, true);
}

int th_raw_pattern(struct th_ctx *c, uint64_t slba, uint32_t nlb, uint64_t seed)
{
	size_t len = (size_t)nlb * c->lba;
	void *p = malloc(len);
	int ret;

	if (!p)
		return -ENOMEM;
	th_fill(p, len, seed);
	ret = th_raw_write(c, slba, nlb, p);
	free(p);
	return ret;
}
