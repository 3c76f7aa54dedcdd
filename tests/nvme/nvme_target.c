/* SPDX-License-Identifier: MIT */
/*
 * NVMe passthrough target tests.  They need a real NVMe controller: they
 * run inside the QEMU guest (tests/qemu/), whose emulated controller has
 * namespace 1 with 512-byte LBAs (256 MiB) and namespace 2 with 4096-byte
 * LBAs (64 MiB), mdts=5 and serial "iounified01".  Outside such a machine
 * every case SKIPs and says why.
 *
 *   nvme_target [NG_512 NG_4K CTRL]   default: the /dev/ng0nX of nsid 1 and 2, /dev/nvme0
 *
 * The namespaces are found by nsid, not by name: newer kernels (6.12) scan
 * namespaces in parallel and name them in the order the scans finish, so on
 * 6.12 /dev/ng0n1 is nsid 2 in some boots.
 *
 * Error cases assert the controller's own statuses (IO_UNIFIED_CQE_F_HOST
 * clear), except where the engine must stop a command before the device
 * (transfer over MDTS), which is host-made (F_HOST set).
 */
#include <fcntl.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/nvme_ioctl.h>
#include "helpers.h"

static const char *ng512 = "/dev/ng0n1", *ng4k = "/dev/ng0n2", *ctrl = "/dev/nvme0";
static char ng_found[2][32];

/* The generic node /dev/ng0nX of namespace @nsid, or NULL. */
static const char *ng_of_nsid(int nsid, char *out, size_t len)
{
	for (int i = 1; i <= 16; i++) {
		int fd, id;

		snprintf(out, len, "/dev/ng0n%d", i);
		fd = open(out, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		id = ioctl(fd, NVME_IOCTL_ID);
		close(fd);
		if (id == nsid)
			return out;
	}
	return NULL;
}

/* "/dev/ngXnY" -> "nvmeXnY": the block device (and /sys/block name) of the
 * same namespace. */
static const char *blk_name(const char *ng, char *out, size_t len)
{
	const char *b = strrchr(ng, '/');

	b = b ? b + 1 : ng;
	snprintf(out, len, "nvme%s", strncmp(b, "ng", 2) ? b : b + 2);
	return out;
}

/* Linux release as major * 1000 + minor (6.12 -> 6012); 0 if unknown. */
static int kernel_version(void)
{
	struct utsname u;
	int ma, mi;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return 0;
	return ma * 1000 + mi;
}

/* The guest tests drive contexts through the shared test helpers. */
static int t_open(struct th_ctx *t, const char *path, uint32_t mode, uint32_t flags)
{
	struct th_opts g = { .sq = 64, .cq = 128, .nbuf = 256, .bufsz = 4096, .mode = mode,
			     .path = path, .flags = flags };

	return th_open(t, &g);
}

/* Submit the prepared entry, wait for its completion, check user_data. */
static int run1(struct th_ctx *t, const struct io_unified_sqe *in, struct io_unified_cqe *out)
{
	struct io_unified_sqe s = *in;
	int ret;

	s.user_data = ++t->next_ud;
	ret = th_exec(t, &s, out);
	if (ret)
		return ret;
	return out->user_data == t->next_ud ? 0 : -EPROTO;
}

/* 0, or TH_SKIP outside the QEMU guest. */
static int need_nvme(void)
{
	struct stat st;

	if (stat(ng512, &st) == 0 && S_ISCHR(st.st_mode) && geteuid() == 0)
		return 0;
	return th_skip("no NVMe generic node %s (or not root): this test runs in the QEMU guest, "
		       "see tests/qemu/", ng512);
}

#define NEED_NVME() NEED(need_nvme())

/* Write @nlb blocks at @slba from buffer 0.., read into buffer 128.., compare. */
static void wrv(struct th_ctx *t, uint64_t slba, uint32_t nlb, uint32_t seed)
{
	uint32_t len = nlb * t->info.lba_size;
	struct io_unified_sqe s;
	struct io_unified_cqe c;

	th_fill(t->buf, len, seed);
	memset(t->buf + 128 * 4096, 0xee, len);
	unified_prep_write(&s, t->info.nsid, slba, nlb, 0, len, 0);
	REQUIRE(run1(t, &s, &c) == 0, "write did not complete");
	REQUIRE(c.status == 0, "write status 0x%x %s res %d", c.status, unified_status_str(c.status), c.res);
	CHECK(c.len == len, "write len %u != %u", c.len, len);
	unified_prep_read(&s, t->info.nsid, slba, nlb, 128 * 4096, len, 0);
	REQUIRE(run1(t, &s, &c) == 0, "read did not complete");
	REQUIRE(c.status == 0, "read status 0x%x %s", c.status, unified_status_str(c.status));
	CHECK(c.dma_addr == 128 * 4096, "dma_addr %llu", (unsigned long long)c.dma_addr);
	CHECK(memcmp(t->buf, t->buf + 128 * 4096, len) == 0, "data read back differs (slba %llu nlb %u)",
	      (unsigned long long)slba, nlb);
}

static void identify_checks(const char *ng, uint32_t want_lbs, uint64_t want_nlba)
{
	struct io_unified_sqe s;
	struct io_unified_cqe c;
	struct th_ctx t;
	uint64_t nsze;
	uint32_t nsid, list[4];
	uint8_t *id;

	REQUIRE(t_open(&t, ng, UNIFIED_MODE_KICK, 0) == 0, "register %s", ng);
	CHECK(t.info.kind == UNIFIED_TARGET_NVME, "kind %u", t.info.kind);
	CHECK(t.info.lba_size == want_lbs, "lba_size %u, want %u", t.info.lba_size, want_lbs);
	CHECK(t.info.nlba == want_nlba, "nlba %llu, want %llu", (unsigned long long)t.info.nlba,
	      (unsigned long long)want_nlba);
	CHECK(t.info.max_xfer == 128 * 1024, "max_xfer %u, want 128 KiB (mdts=5)", t.info.max_xfer);
	nsid = t.info.nsid;
	id = t.buf + 8 * 4096;

	unified_prep_identify(&s, 0x01, 0, 8 * 4096, 0);
	REQUIRE(run1(&t, &s, &c) == 0 && c.status == 0, "identify ctrl status 0x%x", c.status);
	CHECK(memcmp(id + 4, "iounified01", 11) == 0, "serial '%.20s'", (char *)id + 4);
	CHECK(memcmp(id + 24, "QEMU NVMe Ctrl", 14) == 0, "model '%.40s'", (char *)id + 24);
	CHECK(id[77] == 5, "mdts %u, QEMU was told 5", id[77]);
	CHECK(!(c.flags & IO_UNIFIED_CQE_F_HOST), "identify answered by host, not controller");

	unified_prep_identify(&s, 0x00, nsid, 8 * 4096, 0);
	REQUIRE(run1(&t, &s, &c) == 0 && c.status == 0, "identify ns status 0x%x", c.status);
	memcpy(&nsze, id, 8);
	CHECK(nsze == want_nlba, "NSZE %llu", (unsigned long long)nsze);
	CHECK((1u << id[128 + 4 * (id[26] & 0xf) + 2]) == want_lbs, "LBADS");

	unified_prep_identify(&s, 0x02, 0, 8 * 4096, 0);
	REQUIRE(run1(&t, &s, &c) == 0 && c.status == 0, "active ns list status 0x%x", c.status);
	memcpy(list, id, sizeof(list));
	CHECK(list[0] == 1 && list[1] == 2 && list[2] == 0, "active ns list %u %u %u", list[0],
	      list[1], list[2]);
	th_close(&t);
}

static void test_identify_512(void) { NEED_NVME(); identify_checks(ng512, 512, (256u << 20) / 512); }
static void test_identify_4k(void) { NEED_NVME(); identify_checks(ng4k, 4096, (64u << 20) / 4096); }

static void rw_checks(const char *ng, uint32_t mode)
{
	struct th_ctx t;

	REQUIRE(t_open(&t, ng, mode, 0) == 0, "register %s", ng);
	wrv(&t, 0, 1, 1);
	wrv(&t, 100, 8 * 512 / t.info.lba_size ? 8 * 512 / t.info.lba_size : 1, 2);
	wrv(&t, 1000, (128 * 1024) / t.info.lba_size, 3);		/* exactly MDTS */
	wrv(&t, t.info.nlba - 1, 1, 4);					/* last LBA */
	th_close(&t);
}

static void test_rw_512_kick(void) { NEED_NVME(); rw_checks(ng512, UNIFIED_MODE_KICK); }
static void test_rw_4k_kick(void) { NEED_NVME(); rw_checks(ng4k, UNIFIED_MODE_KICK); }
static void test_rw_512_thread(void) { NEED_NVME(); rw_checks(ng512, UNIFIED_MODE_THREAD); }
static void test_rw_4k_thread(void) { NEED_NVME(); rw_checks(ng4k, UNIFIED_MODE_THREAD); }

/* 32 commands of 4 KiB at LBA 2000.., buffer @first_buf.., in one batch;
 * returns how many completed with a non-zero status, or -1 on a stall. */
static int batch32(struct th_ctx *t, uint8_t opcode, uint32_t first_buf)
{
	uint32_t nlb = 4096 / t->info.lba_size, idx, i, got = 0, bad = 0;

	if (unified_sq_reserve(&t->sq, 32, &idx) != 32)
		return -1;
	for (i = 0; i < 32; i++)
		unified_prep_rw(unified_sq_entry(&t->sq, idx + i), opcode, t->info.nsid, 2000 + i * nlb,
				nlb, (uint64_t)(first_buf + i) * 4096, 4096, i);
	unified_sq_submit(&t->sq, 32);
	while (got < 32) {
		uint32_t n;

		if (unified_enter(t->ctx, 1, 10000) <= 0)
			return -1;
		n = unified_cq_peek(&t->cq, 64, &idx);
		for (i = 0; i < n; i++)
			bad += unified_cq_entry(&t->cq, idx + i)->status != 0;
		unified_cq_release(&t->cq, n);
		got += n;
	}
	return (int)bad;
}

static void test_batch_qd32(void)
{
	struct th_ctx t;
	uint32_t i;
	int bad;

	NEED_NVME();
	REQUIRE(t_open(&t, ng4k, UNIFIED_MODE_KICK, 0) == 0, "register");
	for (i = 0; i < 32; i++)
		th_fill(t.buf + i * 4096, 4096, 100 + i);
	bad = batch32(&t, IO_UNIFIED_NVME_CMD_WRITE, 0);
	CHECK(bad == 0, "QD32 writes: %d failed (-1 = stalled)", bad);
	memset(t.buf + 64 * 4096, 0, 32 * 4096);
	bad = batch32(&t, IO_UNIFIED_NVME_CMD_READ, 64);
	CHECK(bad == 0, "QD32 reads: %d failed (-1 = stalled)", bad);
	CHECK(memcmp(t.buf, t.buf + 64 * 4096, 32 * 4096) == 0, "QD32 data mismatch");
	th_close(&t);
}

static void cmds_checks(const char *ng)
{
	struct io_unified_sqe s;
	struct io_unified_cqe c;
	struct unified_dsm_range *r;
	struct th_ctx t;
	uint32_t lbs, nlb8k;
	uint8_t zero[8192] = { 0 };

	REQUIRE(t_open(&t, ng, UNIFIED_MODE_KICK, 0) == 0, "register");
	lbs = t.info.lba_size;
	nlb8k = 8192 / lbs;

	/* Flush. */
	unified_prep_flush(&s, t.info.nsid, 0);
	REQUIRE(run1(&t, &s, &c) == 0, "flush");
	CHECK(c.status == 0, "flush status 0x%x", c.status);

	/* A command the kernel itself refuses: a broadcast-NSID Flush passes our
	 * checks (NVMe allows it), but the 6.1 driver rejects any NSID other than
	 * the node's own with -EINVAL.  The entry must come back as a host error
	 * carrying that errno, not vanish. */
	unified_prep_flush(&s, 0xffffffffu, 0);
	REQUIRE(run1(&t, &s, &c) == 0, "broadcast flush lost");
	CHECK(c.status == (IO_UNIFIED_STATUS_DNR | IO_UNIFIED_SC_INTERNAL) &&
	      (c.flags & IO_UNIFIED_CQE_F_HOST) && (c.flags & IO_UNIFIED_CQE_F_ERRNO) && c.res < 0,
	      "kernel refusal: status 0x%x flags 0x%x res %d", c.status, c.flags, c.res);
	printf("  %s: kernel-refused command -> status 0x%x (%s), res %d (%s)\n", ng, c.status,
	       unified_status_str(c.status), c.res, strerror(-c.res));

	/* Write Zeroes over written data, then read zeros. */
	wrv(&t, 4000, nlb8k, 9);
	unified_prep_write_zeroes(&s, t.info.nsid, 4000, nlb8k, 0);
	REQUIRE(run1(&t, &s, &c) == 0, "write zeroes");
	CHECK(c.status == 0, "write zeroes status 0x%x %s", c.status, unified_status_str(c.status));
	unified_prep_read(&s, t.info.nsid, 4000, nlb8k, 128 * 4096, 8192, 0);
	REQUIRE(run1(&t, &s, &c) == 0 && c.status == 0, "read after wz 0x%x", c.status);
	CHECK(memcmp(t.buf + 128 * 4096, zero, 8192) == 0, "write zeroes left data");

	/* Dataset Management deallocate. */
	wrv(&t, 5000, nlb8k, 10);
	r = (void *)(t.buf + 16 * 4096);
	memset(r, 0, 4096);
	r[0].nlb = nlb8k;
	r[0].slba = 5000;
	unified_prep_dsm_deallocate(&s, t.info.nsid, 1, 16 * 4096, 0);
	REQUIRE(run1(&t, &s, &c) == 0, "dsm");
	CHECK(c.status == 0, "dsm status 0x%x %s", c.status, unified_status_str(c.status));

	/* Compare: match, then mismatch (the controller's Compare Failure). */
	wrv(&t, 6000, nlb8k, 11);
	unified_prep_rw(&s, IO_UNIFIED_NVME_CMD_COMPARE, t.info.nsid, 6000, nlb8k, 0, 8192, 0);
	REQUIRE(run1(&t, &s, &c) == 0, "compare");
	CHECK(c.status == 0, "compare (match) status 0x%x %s", c.status, unified_status_str(c.status));
	t.buf[100] ^= 0xff;
	REQUIRE(run1(&t, &s, &c) == 0, "compare 2");
	CHECK(IO_UNIFIED_STATUS_SCT(c.status) == IO_UNIFIED_SCT_MEDIA &&
	      IO_UNIFIED_STATUS_SC(c.status) == IO_UNIFIED_SC_COMPARE_FAILED,
	      "compare (mismatch) status 0x%x %s", c.status, unified_status_str(c.status));
	CHECK(!(c.flags & IO_UNIFIED_CQE_F_HOST), "compare failure should come from the controller");

	/* Read past the last LBA: the controller's LBA Out of Range. */
	unified_prep_read(&s, t.info.nsid, t.info.nlba - 1, 2, 0, 2 * lbs, 0);
	REQUIRE(run1(&t, &s, &c) == 0, "read past end");
	CHECK(IO_UNIFIED_STATUS_SC(c.status) == IO_UNIFIED_SC_LBA_RANGE &&
	      IO_UNIFIED_STATUS_SCT(c.status) == 0, "past-end status 0x%x %s", c.status,
	      unified_status_str(c.status));
	CHECK(!(c.flags & IO_UNIFIED_CQE_F_HOST), "LBA range status should come from the controller");
	printf("  %s: past-end status 0x%x (%s)\n", ng, c.status, unified_status_str(c.status));

	/* An opcode nobody implements: passed through, the controller says no. */
	unified_prep_nvme(&s, 0x7c, t.info.nsid, 0, 0, 0);
	REQUIRE(run1(&t, &s, &c) == 0, "invalid opcode");
	CHECK(IO_UNIFIED_STATUS_SC(c.status) == IO_UNIFIED_SC_INVALID_OPCODE &&
	      IO_UNIFIED_STATUS_SCT(c.status) == 0, "invalid opcode status 0x%x %s", c.status,
	      unified_status_str(c.status));
	CHECK(!(c.flags & IO_UNIFIED_CQE_F_HOST), "invalid opcode status should come from the controller");
	printf("  %s: invalid-opcode status 0x%x (%s)\n", ng, c.status, unified_status_str(c.status));

	/* Over MDTS: stopped by the engine before the device. */
	unified_prep_read(&s, t.info.nsid, 0, (256 * 1024) / lbs, 0, 256 * 1024, 0);
	REQUIRE(run1(&t, &s, &c) == 0, "over mdts");
	CHECK(IO_UNIFIED_STATUS_SC(c.status) == IO_UNIFIED_SC_INVALID_FIELD, "over-MDTS status 0x%x", c.status);
	CHECK((c.flags & IO_UNIFIED_CQE_F_HOST) && c.res == -E2BIG, "over-MDTS flags 0x%x res %d",
	      c.flags, c.res);
	th_close(&t);
}

static void test_cmds_512(void) { NEED_NVME(); cmds_checks(ng512); }
static void test_cmds_4k(void) { NEED_NVME(); cmds_checks(ng4k); }

static void test_admin(void)
{
	struct io_unified_sqe s;
	struct io_unified_cqe c;
	struct th_ctx t;
	uint32_t tmp;

	NEED_NVME();
	REQUIRE(t_open(&t, ng512, UNIFIED_MODE_KICK, 0) == 0, "register");
	/* Get Log Page: SMART / health (LID 02h, 512 bytes = 128 dwords). */
	unified_prep_nvme(&s, IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE, 0xffffffffu, 4 * 4096, 512, 0);
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	s.nvme_cmd.cdw10 = (127u << 16) | 0x02;
	memset(t.buf + 4 * 4096, 0xa5, 512);
	REQUIRE(run1(&t, &s, &c) == 0, "smart log");
	CHECK(c.status == 0, "smart log status 0x%x %s", c.status, unified_status_str(c.status));
	memcpy(&tmp, t.buf + 4 * 4096 + 1, 2);
	tmp &= 0xffff;	/* composite temperature, Kelvin */
	CHECK(tmp > 200 && tmp < 400, "SMART composite temperature %u K", tmp);
	/* Error log (LID 01h, one 64-byte entry). */
	unified_prep_nvme(&s, IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE, 0xffffffffu, 4 * 4096, 64, 0);
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	s.nvme_cmd.cdw10 = (15u << 16) | 0x01;
	REQUIRE(run1(&t, &s, &c) == 0, "error log");
	CHECK(c.status == 0, "error log status 0x%x", c.status);
	/* Get Features: number of queues (FID 07h), result in DW0. */
	unified_prep_nvme(&s, IO_UNIFIED_NVME_ADMIN_GET_FEATURES, 0, 0, 0, 0);
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	s.nvme_cmd.cdw10 = 0x07;
	REQUIRE(run1(&t, &s, &c) == 0, "get features");
	CHECK(c.status == 0 && c.result != 0, "get features status 0x%x result 0x%llx", c.status,
	      (unsigned long long)c.result);
	printf("  number of queues (DW0) 0x%llx\n", (unsigned long long)c.result);
	/* Set Features: temperature threshold (FID 04h), then read it back. */
	unified_prep_nvme(&s, IO_UNIFIED_NVME_ADMIN_SET_FEATURES, 0, 0, 0, 0);
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	s.nvme_cmd.cdw10 = 0x04;
	s.nvme_cmd.cdw11 = 350;
	REQUIRE(run1(&t, &s, &c) == 0, "set features");
	CHECK(c.status == 0, "set features status 0x%x %s", c.status, unified_status_str(c.status));
	unified_prep_nvme(&s, IO_UNIFIED_NVME_ADMIN_GET_FEATURES, 0, 0, 0, 0);
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	s.nvme_cmd.cdw10 = 0x04;
	REQUIRE(run1(&t, &s, &c) == 0, "get features 2");
	CHECK(c.status == 0 && (c.result & 0xffff) == 350, "temperature threshold 0x%llx",
	      (unsigned long long)c.result);
	th_close(&t);
}

/* Submit @s on @t and expect @want with IO_UNIFIED_CQE_F_HOST (made by the
 * engine, before the device) and errno @err. */
static void expect_host(struct th_ctx *t, struct io_unified_sqe *s, uint16_t want, int err,
			const char *what)
{
	struct io_unified_cqe c;

	if (run1(t, s, &c)) {
		CHECK(0, "%s: no completion", what);
		return;
	}
	CHECK(c.status == want && (c.flags & IO_UNIFIED_CQE_F_HOST) && c.res == err,
	      "%s: status 0x%x flags 0x%x res %d, want 0x%x from the host with %d", what, c.status,
	      c.flags, c.res, want, err);
}

/*
 * Issue 6 item 6, the trust boundary on real passthrough: the data-direction
 * rule (opcode bits 1:0) for every opcode, command-defined sizes for the ones
 * the engine knows, and the admin policy.  Before the fix all of these went
 * to the controller as they were (Format NVM and Sanitize included).
 */
static void test_trust_boundary(void)
{
	struct io_unified_sqe s;
	struct io_unified_cqe c;
	struct th_ctx t;
	uint8_t keep[4096];
	uint32_t nlb;

	NEED_NVME();
	REQUIRE(t_open(&t, ng512, UNIFIED_MODE_KICK, 0) == 0, "register");
	nlb = 4096 / t.info.lba_size;
	th_fill(t.buf, 4096, 606);
	memcpy(keep, t.buf, 4096);
	unified_prep_write(&s, t.info.nsid, 600, nlb, 0, 4096, 0);
	REQUIRE(run1(&t, &s, &c) == 0 && c.status == 0, "write the witness block");
	/* data-moving opcodes without a buffer (opcodes whose size the
	 * command defines, like Zone Append, derive len from it instead) */
	unified_prep_nvme(&s, 0x81, t.info.nsid, 0, 0, 0);	/* vendor, 01b */
	expect_host(&t, &s, ST_INV_FIELD, -EINVAL, "vendor 81h without a buffer");
	unified_prep_nvme(&s, 0x82, t.info.nsid, 0, 0, 0);	/* vendor, 10b */
	expect_host(&t, &s, ST_INV_FIELD, -EINVAL, "vendor 82h without a buffer");
	/* a buffer smaller than the command's own size: Reservation Report
	 * of NUMD 1023 (4 KiB) into 16 bytes */
	unified_prep_nvme(&s, 0x0e, t.info.nsid, 4096, 16, 0);
	s.nvme_cmd.cdw10 = 1023;
	expect_host(&t, &s, ST_INV_FIELD, -EINVAL, "Reservation Report into a short buffer");
	/* I/O Management Receive of NUMD 1023 (4 KiB) into 4 bytes */
	unified_prep_nvme(&s, 0x12, t.info.nsid, 4096, 4, 0);
	s.nvme_cmd.cdw11 = 1023;
	expect_host(&t, &s, ST_INV_FIELD, -EINVAL, "I/O Management Receive into a short buffer");
	/* a no-data command with a buffer */
	unified_prep_flush(&s, t.info.nsid, 0);
	s.len = 4096;
	expect_host(&t, &s, ST_INV_FIELD, -EINVAL, "Flush with a buffer");
	/* destructive and driver-owned admin commands, other namespaces */
	unified_prep_nvme(&s, 0x80, t.info.nsid, 0, 0, 0);	/* Format NVM */
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	expect_host(&t, &s, ST_ACCESS_DENIED, -EPERM, "Format NVM");
	unified_prep_nvme(&s, 0x84, 0, 0, 0, 0);		/* Sanitize */
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	s.nvme_cmd.cdw10 = 2;	/* block erase */
	expect_host(&t, &s, ST_ACCESS_DENIED, -EPERM, "Sanitize");
	unified_prep_nvme(&s, 0x01, 0, 0, 0, 0);		/* Create I/O SQ */
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	expect_host(&t, &s, ST_ACCESS_DENIED, -EPERM, "Create I/O Submission Queue");
	unified_prep_nvme(&s, IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE, 2, 8192, 512, 0);
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	s.nvme_cmd.cdw10 = (127u << 16) | 0x02;
	expect_host(&t, &s, ST_ACCESS_DENIED, -EPERM, "SMART log of another namespace");
	/* Set Features: the driver's features and the controller-wide ones */
	unified_prep_nvme(&s, IO_UNIFIED_NVME_ADMIN_SET_FEATURES, 0, 0, 0, 0);
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	s.nvme_cmd.cdw10 = 0x0d;	/* Host Memory Buffer: DMA to addresses in the command */
	s.nvme_cmd.cdw11 = 1;
	expect_host(&t, &s, ST_ACCESS_DENIED, -EPERM, "Set Features Host Memory Buffer");
	s.nvme_cmd.cdw10 = 0x06;	/* Volatile Write Cache */
	s.nvme_cmd.cdw11 = 0;
	expect_host(&t, &s, ST_ACCESS_DENIED, -EPERM, "Set Features Volatile Write Cache");
	s.nvme_cmd.cdw10 = 0x04 | (1u << 31);	/* Temperature Threshold, saved */
	expect_host(&t, &s, ST_ACCESS_DENIED, -EPERM, "Set Features with Save");
	/* Zone Management Send, Set Zone Descriptor Extension, with less than
	 * one extension (len 0 would derive the minimum, 64 bytes) */
	unified_prep_nvme(&s, 0x79, t.info.nsid, 0, 16, 0);
	s.nvme_cmd.cdw13 = 0x10;
	expect_host(&t, &s, ST_INV_FIELD, -EINVAL, "Zone Management Send ZSA 10h with 16 bytes");
	/* the data is still there: nothing reached the device */
	unified_prep_read(&s, t.info.nsid, 600, nlb, 8192, 4096, 0);
	REQUIRE(run1(&t, &s, &c) == 0 && c.status == 0, "read back");
	CHECK(!memcmp(t.buf + 8192, keep, 4096), "the witness block changed");
	th_close(&t);
	/* With UNIFIED_OPT_ADMIN_DESTRUCTIVE other namespaces are reachable. */
	REQUIRE(t_open(&t, ng512, UNIFIED_MODE_KICK, UNIFIED_OPT_ADMIN_DESTRUCTIVE) == 0, "register 2");
	unified_prep_nvme(&s, IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE, 2, 8192, 512, 0);
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	s.nvme_cmd.cdw10 = (127u << 16) | 0x02;
	REQUIRE(run1(&t, &s, &c) == 0, "smart log ns 2");
	CHECK(!(c.flags & IO_UNIFIED_CQE_F_HOST), "with the option the engine still refused: 0x%x",
	      c.status);
	th_close(&t);
}

/*
 * Issue 6 item 10: the 4 KiB namespace as a block device (/dev/nvme0nX),
 * a buffer aligned to 512 only.  On 6.1 the block layer refuses such a
 * fixed buffer (-EINVAL, which became Internal Error); now the engine
 * answers PRP Offset Invalid before issuing anything there, and where the
 * kernel accepts it (6.12) the read works.
 */
static void test_block_alignment(void)
{
	struct io_unified_sqe s;
	struct io_unified_cqe c;
	char blk[32], dev[48];
	struct th_ctx t;

	NEED_NVME();
	snprintf(dev, sizeof(dev), "/dev/%s", blk_name(ng4k, blk, sizeof(blk)));
	REQUIRE(t_open(&t, dev, UNIFIED_MODE_KICK, 0) == 0, "register %s", dev);
	unified_prep_read(&s, t.info.nsid, 0, 1, 4096 + 512, 4096, 0);
	REQUIRE(run1(&t, &s, &c) == 0, "read");
	printf("  kernel %d.%d: 4 KiB-LBA block device, buffer at +512: status 0x%x res %d\n",
	       kernel_version() / 1000, kernel_version() % 1000, c.status, c.res);
	CHECK(c.status == 0 || c.status == ST_PRP_OFFSET, "status 0x%x (%s) res %d: want success or "
	      "PRP Offset Invalid before the device", c.status, unified_status_str(c.status), c.res);
	if (kernel_version() && kernel_version() < 6012)
		CHECK(c.status == ST_PRP_OFFSET, "6.1 refuses this buffer: want 0x%x", ST_PRP_OFFSET);
	th_close(&t);
}

/*
 * Issue 6 item 4(a): on an IOPOLL ring the engine thread sleeps on a futex;
 * it used to read the futex value after its last look at the SQ, so a kick
 * in between was lost until a 100 ms timeout.  Round trips submit + kick
 * (no enter) + poll must never stall like that.
 */
static void test_iopoll_thread_wakeups(void)
{
	struct th_opts g = { .sq = 8, .cq = 16, .nbuf = 16, .bufsz = 4096, .mode = UNIFIED_MODE_THREAD,
			     .flags = UNIFIED_OPT_IOPOLL, .idle_spin_us = 1 };
	struct io_unified_sqe s;
	struct th_ctx t;
	uint64_t worst = 0;
	int i, slow = 0;

	NEED_NVME();
	g.path = ng512;
	REQUIRE(th_open(&t, &g) == 0, "register");
	if (!t.info.iopoll) {
		th_close(&t);
		SKIP("no poll queues: the engine sleeps in io_uring, not on the futex");
	}
	for (i = 0; i < 300; i++) {
		uint64_t t0 = th_now_ns(), dt;
		uint32_t idx;

		unified_prep_read(&s, t.info.nsid, (uint64_t)i, 1, 0, t.info.lba_size, (uint64_t)i);
		REQUIRE(th_queue(&t, &s, 1) == 0, "queue");
		REQUIRE(unified_kick(t.ctx) == 0, "kick");
		while (!unified_cq_peek(&t.cq, 1, &idx)) {
			if (th_now_ns() - t0 > 3000000000ull)
				break;
			usleep(i % 7 * 10);	/* vary the phase against the engine */
		}
		dt = th_now_ns() - t0;
		REQUIRE(dt <= 3000000000ull, "round trip %d never completed", i);
		unified_cq_release(&t.cq, 1);
		worst = dt > worst ? dt : worst;
		slow += dt > 90000000ull;
		usleep(i % 5 * 20);	/* let the engine go to sleep */
	}
	printf("  300 IOPOLL round trips, worst %.1f ms, %d over 90 ms\n", worst / 1e6, slow);
	CHECK(!slow, "%d round trips stalled over 90 ms (a lost wake-up waits for a timeout)", slow);
	th_close(&t);
}

static long nvme_io_irqs(void)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[512];
	long total = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *q = strstr(line, "nvme0q");
		long a = 0, b = 0;

		if (!q || strstr(line, "nvme0q0"))
			continue;	/* q0 is the admin queue */
		if (sscanf(line, "%*[^:]: %ld %ld", &a, &b) >= 1)
			total += a + b;
	}
	fclose(f);
	return total;
}

static int sysfs_int(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* UserBufs of the one io_uring in this process (/proc/self/fdinfo), or -1. */
static int uring_user_bufs(void)
{
	char path[300], link[64], line[128];
	struct dirent *de;
	int n = -1, rings = 0;
	DIR *d = opendir("/proc/self/fd");

	while (d && (de = readdir(d))) {
		ssize_t l;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		l = readlink(path, link, sizeof(link) - 1);
		if (l <= 0)
			continue;
		link[l] = '\0';
		if (strcmp(link, "anon_inode:[io_uring]"))
			continue;
		rings++;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", de->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "UserBufs: %d", &n) == 1)
				break;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return rings == 1 ? n : -1;
}

/*
 * The fixed-buffer registration the kernel version calls for.  Before 6.12 a
 * fixed-buffer passthrough fails with -EINVAL when the registered buffer has
 * more pages after the I/O start than the queue's max_segments, so the
 * library registers one small window per page there; from 6.12 it registers
 * the data area as plain 1 GiB chunks.  Register a 4 MiB area (1024 pages,
 * far more than max_segments), check which layout the ring holds, then move
 * MDTS-sized transfers at the start, the middle (page- and 512-aligned) and
 * the end of the area: on 6.12 these are exactly the transfers that the
 * window workaround exists for.
 */
static void test_fixed_registration(void)
{
	static const uint64_t offs[] = { 0, (2u << 20) + 3 * 4096, (1u << 20) + 512,
					 (4u << 20) - 2 * 128 * 1024 };
	struct th_opts g = { .sq = 64, .cq = 128, .nbuf = 1024, .bufsz = 4096,
			     .mode = UNIFIED_MODE_KICK, .path = ng512 };
	const uint32_t len = 128 * 1024;
	struct io_unified_sqe s;
	struct io_unified_cqe c;
	char blk[32], sys[96];
	struct th_ctx t;
	int kv = kernel_version(), nbufs, maxseg;
	uint32_t nlb;

	NEED_NVME();
	snprintf(sys, sizeof(sys), "/sys/block/%s/queue/max_segments", blk_name(ng512, blk, sizeof(blk)));
	maxseg = sysfs_int(sys);
	REQUIRE(th_open(&t, &g) == 0, "register 4 MiB: %s", unified_errmsg());
	nlb = len / t.info.lba_size;
	nbufs = uring_user_bufs();
	printf("  kernel %d.%d, max_segments %d: %d registered buffer(s) for a 4 MiB area (%s)\n",
	       kv / 1000, kv % 1000, maxseg, nbufs,
	       kv >= 6012 ? "6.12+: plain 1 GiB chunks" : "before 6.12: per-page windows");
	if (kv >= 6012)
		CHECK(nbufs == 1, "6.12+: %d registered buffers, want one 1 GiB chunk", nbufs);
	else
		CHECK(nbufs > 1 || nbufs == 0, "before 6.12: %d registered buffers, want windows", nbufs);
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		uint64_t w = offs[i], r = w + len;	/* read back into the next 128 KiB */

		th_fill(t.buf + w, len, 300 + i);
		memset(t.buf + r, 0xee, len);
		unified_prep_write(&s, t.info.nsid, 10000 + i * nlb, nlb, w, len, 0);
		REQUIRE(run1(&t, &s, &c) == 0, "write at buffer offset %llu lost", (unsigned long long)w);
		CHECK(c.status == 0, "128 KiB write at buffer offset %llu: status 0x%x %s res %d",
		      (unsigned long long)w, c.status, unified_status_str(c.status), c.res);
		unified_prep_read(&s, t.info.nsid, 10000 + i * nlb, nlb, r, len, 0);
		REQUIRE(run1(&t, &s, &c) == 0, "read at buffer offset %llu lost", (unsigned long long)r);
		CHECK(c.status == 0, "128 KiB read at buffer offset %llu: status 0x%x %s res %d",
		      (unsigned long long)r, c.status, unified_status_str(c.status), c.res);
		CHECK(c.status || memcmp(t.buf + w, t.buf + r, len) == 0,
		      "data read at buffer offset %llu differs", (unsigned long long)r);
	}
	th_close(&t);
}

static void test_iopoll(void)
{
	struct io_unified_sqe s;
	struct io_unified_cqe c;
	struct th_ctx t;
	long before, after;
	int i, io_poll;

	char blk[32], sys[96];

	NEED_NVME();
	snprintf(sys, sizeof(sys), "/sys/block/%s/queue/io_poll", blk_name(ng512, blk, sizeof(blk)));
	io_poll = sysfs_int(sys);
	REQUIRE(t_open(&t, ng512, UNIFIED_MODE_KICK, UNIFIED_OPT_IOPOLL) == 0, "register iopoll");
	if (io_poll != 1) {
		/* No poll queues: the clean fallback is interrupts, said in info. */
		CHECK(t.info.iopoll == 0, "iopoll %u without poll queues", t.info.iopoll);
		before = nvme_io_irqs();
		wrv(&t, 7000, 8, 21);
		after = nvme_io_irqs();
		printf("  no poll queues (io_poll=%d): fell back to interrupts, %ld IRQs for 2 I/Os\n",
		       io_poll, after - before);
		CHECK(after - before >= 2, "no interrupts seen although not polled");
		th_close(&t);
		return;
	}
	CHECK(t.info.iopoll == 1, "poll queues present but iopoll not used");
	wrv(&t, 7000, 8, 21);
	before = nvme_io_irqs();
	for (i = 0; i < 200; i++) {
		unified_prep_read(&s, t.info.nsid, 7000, 8, 128 * 4096, 4096, 0);
		REQUIRE(run1(&t, &s, &c) == 0 && c.status == 0, "polled read %d status 0x%x", i, c.status);
	}
	after = nvme_io_irqs();
	printf("  200 polled reads: %ld I/O-queue interrupts\n", after - before);
	CHECK(after - before < 20, "%ld interrupts for 200 polled reads: not polled", after - before);
	/* An admin command on a polled context goes around the polled ring. */
	unified_prep_identify(&s, 0x01, 0, 8 * 4096, 0);
	REQUIRE(run1(&t, &s, &c) == 0, "identify on iopoll ctx");
	CHECK(c.status == 0, "identify on iopoll ctx status 0x%x res %d", c.status, c.res);
	th_close(&t);

	REQUIRE(t_open(&t, ng4k, UNIFIED_MODE_THREAD, UNIFIED_OPT_IOPOLL) == 0, "register iopoll thread");
	CHECK(t.info.iopoll == 1, "4k namespace not polled");
	wrv(&t, 300, 2, 22);
	th_close(&t);
}

static void test_nvme_cli_crosscheck(void)
{
	struct io_unified_sqe s;
	struct io_unified_cqe c;
	char cmd[256], line[256], blk[32];
	uint8_t back[4096];
	struct th_ctx t;
	FILE *f;
	int mdts = -1, fd;

	NEED_NVME();
	if (access("/usr/sbin/nvme", X_OK) && access("/usr/bin/nvme", X_OK) && access("/sbin/nvme", X_OK))
		SKIP("nvme-cli not in this environment");
	f = popen("nvme id-ctrl /dev/nvme0 2>&1", "r");
	REQUIRE(f, "popen");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "mdts", 4))
			sscanf(line, "mdts %*[: ] %d", &mdts);
	pclose(f);
	CHECK(mdts == 5, "nvme-cli says mdts %d", mdts);

	REQUIRE(t_open(&t, ng4k, UNIFIED_MODE_KICK, 0) == 0, "register");
	th_fill(t.buf, 4096, 77);
	unified_prep_write(&s, t.info.nsid, 1234, 1, 0, 4096, 0);
	REQUIRE(run1(&t, &s, &c) == 0 && c.status == 0, "write");
	snprintf(cmd, sizeof(cmd), "nvme read /dev/%s --start-block=1234 --block-count=0 "
		 "--data-size=4096 --data=/tmp/cli.bin >/dev/null 2>&1", blk_name(ng4k, blk, sizeof(blk)));
	REQUIRE(system(cmd) == 0, "nvme read failed: %s", cmd);
	fd = open("/tmp/cli.bin", O_RDONLY);
	REQUIRE(fd >= 0, "open cli.bin");
	CHECK(read(fd, back, sizeof(back)) == 4096, "short cli.bin");
	close(fd);
	CHECK(memcmp(back, t.buf, 4096) == 0, "nvme-cli reads different data than we wrote");
	th_close(&t);
}

/*
 * Without CAP_SYS_ADMIN.  Linux 6.1 refuses every passthrough command then,
 * so registration must fail and say what is missing.  From 6.2 on (commit
 * "nvme: fine-granular CAP_SYS_ADMIN for nvme io commands") the kernel lets
 * an unprivileged caller send Identify and, on a node opened for writing,
 * the I/O commands the controller's Commands Supported and Effects log marks
 * as harmless; other admin commands stay CAP_SYS_ADMIN only.  That is a
 * legitimate kernel difference, so on 6.2+ registration must succeed, I/O
 * must work, and a refused admin command must come back as a host error
 * carrying the kernel's -EACCES.
 */
static void no_cap_child(int out)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	struct io_unified_sqe s;
	struct io_unified_cqe c;
	char msg[512];
	struct th_ctx t;
	int ret, rc = 0;

	if (syscall(SYS_capget, &hdr, data))
		_exit(3);
	data[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
	data[CAP_SYS_ADMIN / 32].permitted &= ~(1u << (CAP_SYS_ADMIN % 32));
	if (syscall(SYS_capset, &hdr, data))
		_exit(4);
	ret = t_open(&t, ng512, UNIFIED_MODE_KICK, 0);
	if (kernel_version() < 6002) {
		snprintf(msg, sizeof(msg), "%s", unified_errmsg());
		rc = ret == -EACCES ? 0 : ret == 0 ? 6 : 7;
	} else if (ret) {
		snprintf(msg, sizeof(msg), "registration failed (%d): %s", ret, unified_errmsg());
		rc = 8;
	} else {
		th_fill(t.buf, 4096, 55);
		unified_prep_write(&s, t.info.nsid, 8000, 4096 / t.info.lba_size, 0, 4096, 0);
		ret = run1(&t, &s, &c);
		if (ret || c.status) {
			snprintf(msg, sizeof(msg), "unprivileged write: ret %d status 0x%x res %d", ret,
				 c.status, c.res);
			rc = 9;
		} else {
			unified_prep_read(&s, t.info.nsid, 8000, 4096 / t.info.lba_size, 4096, 4096, 0);
			ret = run1(&t, &s, &c);
			if (ret || c.status || memcmp(t.buf, t.buf + 4096, 4096)) {
				snprintf(msg, sizeof(msg), "unprivileged read: ret %d status 0x%x res %d%s",
					 ret, c.status, c.res, ret || c.status ? "" : ", data differs");
				rc = 10;
			}
		}
		if (!rc) {
			unified_prep_nvme(&s, IO_UNIFIED_NVME_ADMIN_GET_FEATURES, 0, 0, 0, 0);
			s.flags = IO_UNIFIED_SQE_F_ADMIN;
			s.nvme_cmd.cdw10 = 0x07;
			ret = run1(&t, &s, &c);
			snprintf(msg, sizeof(msg), "registered and did I/O without CAP_SYS_ADMIN (kernel "
				 "6.2+); admin Get Features: status 0x%x flags 0x%x res %d (%s)", c.status,
				 c.flags, c.res, c.res < 0 ? strerror(-c.res) : "-");
			if (ret || !(c.flags & IO_UNIFIED_CQE_F_HOST) || !(c.flags & IO_UNIFIED_CQE_F_ERRNO) ||
			    c.res != -EACCES)
				rc = 11;
		}
		th_close(&t);
	}
	if (write(out, msg, strlen(msg)) < 0)
		_exit(5);
	_exit(rc);
}

static void test_no_cap_sys_admin(void)
{
	int pipefd[2], status;
	char msg[512] = "";
	ssize_t n;
	pid_t pid;

	NEED_NVME();
	REQUIRE(pipe(pipefd) == 0, "pipe");
	pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		close(pipefd[0]);
		no_cap_child(pipefd[1]);
	}
	close(pipefd[1]);
	n = read(pipefd[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
	REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d (6 = registered "
	      "without CAP_SYS_ADMIN on a kernel before 6.2, 7 = other error, 8-11 = 6.2+ unprivileged "
	      "registration, I/O or admin refusal wrong): %s", WEXITSTATUS(status), msg);
	if (kernel_version() < 6002)
		CHECK(strstr(msg, "CAP_SYS_ADMIN") != NULL, "message does not name CAP_SYS_ADMIN: '%s'", msg);
	printf("  without CAP_SYS_ADMIN: %s\n", msg);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Random-byte SQEs against the real controller: every entry completes. */
static void test_storm(void)
{
	static const uint8_t ops[] = { 0x00, 0x01, 0x02, 0x05, 0x08, 0x09, 0x04, 0x0c, 0x7c, 0x81 };
	const uint32_t total = 5000;
	uint32_t sent = 0, got = 0, errors = 0, idx;
	struct th_ctx t;
	int ret;

	NEED_NVME();
	REQUIRE(t_open(&t, ng4k, UNIFIED_MODE_KICK, 0) == 0, "register");
	printf("  storm seed 0x%llx\n", (unsigned long long)rng_state);
	while (got < total) {
		while (sent < total && unified_sq_reserve(&t.sq, 1, &idx) == 1) {
			struct io_unified_sqe *s = unified_sq_entry(&t.sq, idx);
			uint64_t *w = (uint64_t *)s;

			for (unsigned k = 0; k < sizeof(*s) / 8; k++)
				w[k] = rnd();
			if (sent % 2) {
				/* Valid shape, random content: reaches the device.
				 * I/O only: random admin commands could format it. */
				uint64_t r = rnd();

				memset(s->__resv, 0, sizeof(s->__resv));
				s->flags = 0;
				s->nvme_cmd.flags = 0;
				s->nvme_cmd.rsvd1 = s->nvme_cmd.rsvd2 = 0;
				s->nvme_cmd.metadata = 0;
				s->nvme_cmd.metadata_len = 0;
				s->nvme_cmd.data_len = 0;
				s->nvme_cmd.timeout_ms = 0;
				s->nvme_cmd.opcode = ops[r % sizeof(ops)];
				s->nvme_cmd.nsid = (r >> 8) % 4 ? t.info.nsid : (uint32_t)(r >> 16);
				s->nvme_cmd.cdw11 = (r >> 20) % 8 ? 0 : s->nvme_cmd.cdw11;
				s->nvme_cmd.cdw12 &= (r >> 24) % 2 ? 0x3 : 0xffffffffu;
				s->buf_offset = (r >> 30) % 3 ? (rnd() % 256) * 4096 : rnd();
				s->len = (r >> 40) % 3 ? 0 : (uint32_t)rnd() % (64 * 1024);
			}
			s->user_data = sent++;
			unified_sq_submit(&t.sq, 1);
		}
		ret = unified_enter(t.ctx, 1, 10000);
		REQUIRE(ret > 0, "enter returned %d after %u/%u completions", ret, got, total);
		{
			uint32_t n = unified_cq_peek(&t.cq, 256, &idx);

			for (uint32_t k = 0; k < n; k++)
				errors += unified_cq_entry(&t.cq, idx + k)->status != 0;
			unified_cq_release(&t.cq, n);
			got += n;
		}
	}
	printf("  storm: %u SQEs in, %u CQEs out, %u with an error status\n", sent, got, errors);
	CHECK(sent == got, "entries in %u != completions out %u", sent, got);
	CHECK(errors > total / 2, "too few errors (%u) for random input", errors);
	th_close(&t);
}

/*
 * The kernel engine: a drain that times out with commands in flight, then
 * drains again until it succeeds; every command completes exactly once.
 * (The second drain used to fail with -ENXIO: the first had unregistered
 * the kernel engine already.)  Only meaningful on the kernel engine.
 */
static void test_kernel_drain_retry(void)
{
	enum { N = 64, LEN = 128 * 1024 };
	struct io_unified_region_desc desc;
	struct io_unified_reg reg;
	struct unified_opts o;
	struct unified_target_info info;
	struct unified_ctx *ctx = NULL;
	struct unified_sq sq;
	struct unified_cq cq;
	uint32_t idx, i, got = 0, tries;
	static uint8_t seen[N];
	int ret;

	NEED_NVME();
	memset(&desc, 0, sizeof(desc));
	memset(&reg, 0, sizeof(reg));
	memset(&o, 0, sizeof(o));
	memset(seen, 0, sizeof(seen));
	reg.region_ptr = (uintptr_t)&desc;
	reg.nvme_dev_path = (uintptr_t)ng512;
	reg.sq_entries = N;
	reg.buffer_entries = N;
	reg.buffer_entry_size = LEN;
	o.drain_timeout_ms = 1;
	ret = unified_register(&reg, &o, &ctx);
	REQUIRE(ret == 0, "register: %s", unified_errmsg());
	unified_target_info(ctx, &info);
	if (strcmp(info.engine, "kernel")) {
		unified_unregister(ctx);
		SKIP("the user engine serves this registration (no kernel engine here)");
	}
	unified_sq_init(ctx, &sq);
	unified_cq_init(ctx, &cq);
	REQUIRE(unified_sq_reserve(&sq, N, &idx) == N, "reserve");
	for (i = 0; i < N; i++) {
		struct io_unified_sqe *s = unified_sq_entry(&sq, idx + i);

		memset(s, 0, sizeof(*s));
		s->nvme_cmd.opcode = IO_UNIFIED_NVME_CMD_WRITE;
		s->nvme_cmd.nsid = info.nsid;
		s->nvme_cmd.cdw10 = i * (LEN / 512);
		s->nvme_cmd.cdw12 = LEN / 512 - 1;
		s->buf_offset = (uint64_t)i * LEN;
		s->len = LEN;
		s->user_data = i;
	}
	unified_sq_submit(&sq, N);
	REQUIRE(unified_kick(ctx) == 0, "kick: %s", unified_errmsg());
	/* 64 x 128 KiB under emulation take far longer than 1 ms. */
	ret = unified_drain(ctx);
	CHECK(ret == -ETIMEDOUT || ret == 0, "first drain: %d (%s)", ret, unified_errmsg());
	for (tries = 0; ret == -ETIMEDOUT && tries < 20000; tries++)
		ret = unified_drain(ctx);
	CHECK(ret == 0, "drain after a timed-out one: %d (%s)", ret, unified_errmsg());
	while (got < N) {
		uint32_t n = unified_cq_peek(&cq, N, &idx);

		if (!n)
			break;
		for (i = 0; i < n; i++) {
			const struct io_unified_cqe *c = unified_cq_entry(&cq, idx + i);

			CHECK(c->user_data < N && !seen[c->user_data]++ && c->status == 0,
			      "CQE user_data %llu status 0x%x", (unsigned long long)c->user_data,
			      c->status);
		}
		unified_cq_release(&cq, n);
		got += n;
	}
	CHECK(got == N, "%u of %u completions", got, N);
	printf("  drain retried %u times; %u completions, each once\n", tries, got);
	CHECK(unified_unregister(ctx) == 0, "unregister: %s", unified_errmsg());
}

int main(int argc, char **argv)
{
	if (argc == 4) {
		ng512 = argv[1];
		ng4k = argv[2];
		ctrl = argv[3];
	} else if (ng_of_nsid(1, ng_found[0], sizeof(ng_found[0])) &&
		   ng_of_nsid(2, ng_found[1], sizeof(ng_found[1]))) {
		ng512 = ng_found[0];
		ng4k = ng_found[1];
	}
	printf("  namespaces: nsid 1 (512 B LBAs) %s, nsid 2 (4 KiB LBAs) %s\n", ng512, ng4k);
	if (argc == 3 && !strcmp(argv[1], "--only")) {
		/* One case, e.g. the IOPOLL fallback on a guest without poll queues. */
		if (!strcmp(argv[2], "iopoll"))
			RUN(test_iopoll);
		else
			printf("FAIL: unknown case %s\n", argv[2]), h_failed_total++;
		return harness_done();
	}
	(void)ctrl;
	RUN(test_no_cap_sys_admin);
	RUN(test_identify_512);
	RUN(test_identify_4k);
	RUN(test_rw_512_kick);
	RUN(test_rw_4k_kick);
	RUN(test_rw_512_thread);
	RUN(test_rw_4k_thread);
	RUN(test_batch_qd32);
	RUN(test_fixed_registration);
	RUN(test_cmds_512);
	RUN(test_cmds_4k);
	RUN(test_admin);
	RUN(test_iopoll);
	RUN(test_trust_boundary);
	RUN(test_block_alignment);
	RUN(test_iopoll_thread_wakeups);
	RUN(test_nvme_cli_crosscheck);
	RUN(test_storm);
	RUN(test_kernel_drain_retry);
	return harness_done();
}
