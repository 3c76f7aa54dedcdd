/* SPDX-License-Identifier: MIT */
/*
 * Issue 6, the cases that need real devices or file systems (root, losetup,
 * dmsetup, mkfs.ext4, mount): the default namespace and UNIFIED_OPT_CREATE
 * against planted links and foreign files (item 1), a bounded drain and no
 * spinning while the device does not complete (items 3, 4d: a device-mapper
 * device suspended with I/O queued), and the NVMe semantics of the
 * emulated targets (item 10).  Without root or the tools, cases SKIP and
 * say why.  Each case failed on the library before the fix.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include "helpers.h"

static struct io_unified_sqe s;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fflush(stdout);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int need_root_tool(const char *tool)
{
	if (geteuid() != 0)
		return th_skip("needs root");
	if (sh("command -v %s >/dev/null 2>&1", tool))
		return th_skip("%s is not installed", tool);
	return th_need_tmpdir();
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ------------------------------------------------ item 1 */

static int reg_path(const char *path, uint32_t flags, struct unified_ctx **ctx)
{
	struct io_unified_region_desc d = { 0 };
	struct io_unified_reg r = { .region_ptr = (uintptr_t)&d, .sq_entries = 8,
				    .buffer_entries = 16, .buffer_entry_size = 4096 };
	struct unified_opts o = { .flags = flags, .file_size = 16 << 20 };

	r.nvme_dev_path = (uintptr_t)path;
	return unified_register(&r, &o, ctx);
}

static void victim_intact(const char *victim, const char *what)
{
	char buf[64] = "";
	struct stat st;
	int fd = open(victim, O_RDONLY);

	CHECK(fd >= 0 && read(fd, buf, sizeof(buf) - 1) == 9 && !strcmp(buf, "precious\n"),
	      "%s: the victim's contents changed", what);
	CHECK(!stat(victim, &st) && st.st_size == 9, "%s: the victim is now %lld bytes", what,
	      (long long)st.st_size);
	if (fd >= 0)
		close(fd);
}

static void t_item1_default_namespace_and_create(void)
{
	char tmp[1024], victim[1024], dir[1100], p[1200], old_tmp[PATH_MAX] = "";
	const char *e = getenv("TMPDIR");
	struct unified_ctx *ctx = NULL;
	struct stat st;
	int ret;

	NEED(need_root_tool("true"));
	if (e)
		snprintf(old_tmp, sizeof(old_tmp), "%s", e);
	snprintf(tmp, sizeof(tmp), "%s", th_path("sticky"));
	snprintf(victim, sizeof(victim), "%s", th_path("victim"));
	REQUIRE(!mkdir(tmp, 0777) && !chmod(tmp, 01777), "mkdir %s", tmp);
	REQUIRE(sh("printf 'precious\\n' > %s && chmod 600 %s", victim, victim) == 0, "victim");
	/* Another user (65534) plants links where the default would go: the
	 * private directory itself, and the old shared name. */
	snprintf(dir, sizeof(dir), "%s/unified-%u", tmp, (unsigned)geteuid());
	REQUIRE(!mkdir(dir, 0777) && !chmod(dir, 0777) && !chown(dir, 65534, 65534), "attacker dir");
	snprintf(p, sizeof(p), "%s/default.img", dir);
	REQUIRE(!symlink(victim, p), "symlink");
	snprintf(p, sizeof(p), "%s/unified-default.img", tmp);
	REQUIRE(!symlink(victim, p), "symlink 2");
	setenv("TMPDIR", tmp, 1);
	unsetenv("UNIFIED_DEFAULT_FILE");
	ret = reg_path(NULL, 0, &ctx);
	CHECK(ret == -EPERM, "default namespace with a planted directory: %d (%s), want -EPERM", ret,
	      unified_errmsg());
	if (!ret)
		unified_unregister(ctx);
	victim_intact(victim, "planted default");
	/* An empty UNIFIED_DEFAULT_FILE means "not set" for the path and for
	 * the privacy check alike (the environment is read once). */
	setenv("UNIFIED_DEFAULT_FILE", "", 1);
	ret = reg_path(NULL, 0, &ctx);
	CHECK(ret == -EPERM, "UNIFIED_DEFAULT_FILE=\"\" with a planted directory: %d (%s)", ret,
	      unified_errmsg());
	if (!ret)
		unified_unregister(ctx);
	unsetenv("UNIFIED_DEFAULT_FILE");
	victim_intact(victim, "planted default, empty UNIFIED_DEFAULT_FILE");
	/* Without the plant: a private directory and file are made. */
	REQUIRE(sh("rm -rf %s", dir) == 0, "rm");
	ret = reg_path(NULL, 0, &ctx);
	CHECK(ret == 0, "default namespace: %d (%s)", ret, unified_errmsg());
	if (!ret) {
		unified_unregister(ctx);
		CHECK(!lstat(dir, &st) && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700 &&
		      st.st_uid == geteuid(), "default directory mode %o owner %u", st.st_mode & 0777,
		      (unsigned)st.st_uid);
		snprintf(p, sizeof(p), "%s/default.img", dir);
		CHECK(!lstat(p, &st) && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600,
		      "default file mode %o", st.st_mode & 0777);
	}
	if (old_tmp[0])
		setenv("TMPDIR", old_tmp, 1);
	else
		unsetenv("TMPDIR");
	/* UNIFIED_OPT_CREATE on what is not the caller's plain file */
	snprintf(p, sizeof(p), "%s/link.img", tmp);
	REQUIRE(!symlink(victim, p), "symlink 3");
	ret = reg_path(p, UNIFIED_OPT_CREATE, &ctx);
	CHECK(ret == -ELOOP, "CREATE on a symbolic link: %d, want -ELOOP", ret);
	victim_intact(victim, "CREATE on a link");
	REQUIRE(!chmod(victim, 0444), "chmod");
	ret = reg_path(victim, UNIFIED_OPT_CREATE, &ctx);
	CHECK(ret == -EACCES, "CREATE on a 0444 file as root: %d, want -EACCES", ret);
	victim_intact(victim, "CREATE on 0444");
	REQUIRE(!chmod(victim, 0600) && !chown(victim, 65534, 65534), "chown");
	ret = reg_path(victim, UNIFIED_OPT_CREATE, &ctx);
	CHECK(ret == -EPERM, "CREATE on another user's file: %d, want -EPERM", ret);
	victim_intact(victim, "CREATE on a foreign file");
	REQUIRE(!chown(victim, 0, 0), "chown back");
	snprintf(p, sizeof(p), "%s/hardlink.img", tmp);
	REQUIRE(!link(victim, p), "link");
	ret = reg_path(victim, UNIFIED_OPT_CREATE, &ctx);
	CHECK(ret == -EPERM, "CREATE on a file with two links: %d, want -EPERM", ret);
	victim_intact(victim, "CREATE on a hard-linked file");
	if (ret == 0)
		unified_unregister(ctx);
	sh("rm -rf %s", tmp);
}

/* ------------------------------------------------ items 3 and 4d */

/* A loop device with @lba-byte sectors holding a fresh ext4, mounted at @mnt. */
static int mount_ext4(struct th_target *t, uint32_t lba, char *mnt, size_t mlen)
{
	int r;

	t->name = lba == 4096 ? "fs4k" : "fs512";
	t->kind = TH_LOOP;
	t->lba_size = lba;
	r = th_loop_attach(t);
	if (r)
		return r;
	snprintf(mnt, mlen, "%s/mnt-%s", th_tmpdir(), t->name);
	mkdir(mnt, 0700);
	if (sh("mkfs.ext4 -q -F -b 4096 %s >/dev/null 2>&1", t->loopdev) ||
	    mount(t->loopdev, mnt, "ext4", 0, NULL)) {
		th_loop_detach(t);
		return th_skip("cannot make and mount an ext4 on %s", t->loopdev);
	}
	return 0;
}

static void unmount_ext4(struct th_target *t, const char *mnt)
{
	sh("fsfreeze -u %s >/dev/null 2>&1", mnt);
	umount2(mnt, MNT_DETACH);
	th_loop_detach(t);
	unlink(t->backing);
}

/*
 * A write that the device will not complete: the file system under the
 * target file is frozen (FIFREEZE), so the write waits in the kernel and
 * cannot be cancelled until the thaw.
 */
static void t_item3_drain_is_bounded(void)
{
	struct io_unified_region_desc desc = { 0 };
	struct io_unified_reg reg = { .region_ptr = (uintptr_t)&desc, .sq_entries = 8,
				      .buffer_entries = 16, .buffer_entry_size = 4096 };
	struct unified_opts o = { .flags = UNIFIED_OPT_USER_ENGINE | UNIFIED_OPT_CREATE,
				  .file_size = 8 << 20, .drain_timeout_ms = 500 };
	struct unified_ctx *ctx = NULL;
	struct unified_sq sq;
	struct th_target t;
	char mnt[PATH_MAX], file[PATH_MAX + 16];
	uint64_t t0, el;
	uint32_t idx;
	int r;

	NEED(need_root_tool("fsfreeze"));
	NEED(need_root_tool("mkfs.ext4"));
	NEED(mount_ext4(&t, 512, mnt, sizeof(mnt)));
	snprintf(file, sizeof(file), "%s/frozen.img", mnt);
	reg.nvme_dev_path = (uintptr_t)file;
	r = unified_register(&reg, &o, &ctx);
	if (r) {
		unmount_ext4(&t, mnt);
		REQUIRE(0, "register %s: %d %s", file, r, unified_errmsg());
	}
	unified_sq_init(ctx, &sq);
	REQUIRE(sh("fsfreeze -f %s", mnt) == 0, "fsfreeze");
	REQUIRE(unified_sq_reserve(&sq, 1, &idx) == 1, "reserve");
	unified_prep_write(unified_sq_entry(&sq, idx), 1, 0, 1, 0, 4096, 0x3d);
	unified_sq_submit(&sq, 1);
	th_watch("t_item3_drain_is_bounded", 20);
	CHECK(unified_kick(ctx) == 0, "kick");
	t0 = th_now_ms();
	r = unified_drain(ctx);
	el = th_now_ms() - t0;
	CHECK(r == -ETIMEDOUT, "drain with a write stuck in the kernel: %d after %llu ms (%s)", r,
	      (unsigned long long)el, unified_errmsg());
	CHECK(el >= 400 && el < 5000, "drain took %llu ms for a 500 ms bound", (unsigned long long)el);
	CHECK(strstr(unified_errmsg(), "in flight") != NULL, "errmsg '%s'", unified_errmsg());
	r = unified_unregister(ctx);
	CHECK(r == -ETIMEDOUT, "unregister: %d, want -ETIMEDOUT (%s)", r, unified_errmsg());
	th_unwatch();
	unmount_ext4(&t, mnt);
}

/* The engine thread's CPU time in clock ticks, or -1. */
static long engine_ticks(void)
{
	int tid;

	return th_engine_threads(&tid, 1) == 1 ? th_task_ticks(tid) : -1;
}

/*
 * 4(d): a queue of 1 MiB Compares: two are in flight (the scratch slots)
 * and the one at the head of the SQ waits for a slot (-EBUSY).  The engine
 * thread must sleep until a completion frees a slot, not spin: its CPU
 * time stays well under the wall time the Compares take.
 */
static void t_item4d_busy_target_does_not_spin(void)
{
	struct th_opts o = { .mode = UNIFIED_MODE_THREAD, .sq = 1024, .cq = 1024, .nbuf = 512,
			     .file_size = 256 << 20 };
	struct io_unified_sqe *q;
	struct io_unified_cqe *cq;
	struct th_ctx c;
	uint64_t w0, w1;
	long t0, t1, hz = sysconf(_SC_CLK_TCK);
	uint32_t nlb, i, n = 1024;

	NEED(th_need_tmpdir());
	memset(&c, 0, sizeof(c));
	REQUIRE(th_open(&c, &o) == 0, "register");
	nlb = (1u << 20) / c.lba;
	q = calloc(n, sizeof(*q));
	cq = calloc(n, sizeof(*cq));
	REQUIRE(q && cq, "calloc");
	for (i = 0; i < 128; i++)	/* real data, so each Compare reads the disk */
		REQUIRE(th_raw_pattern(&c, (uint64_t)i * nlb, nlb, i + 1) == 0, "prefill");
	for (i = 0; i < n; i++)
		unified_prep_rw(&q[i], IO_UNIFIED_NVME_CMD_COMPARE, c.nsid, (uint64_t)(i % 128) * nlb, nlb,
				(uint64_t)(i % 2) << 20, 1u << 20, 0xc000 + i);
	t0 = engine_ticks();
	w0 = th_now_ns();
	REQUIRE(th_submit(&c, q, n) == 0, "submit");
	CHECK(th_reap(&c, cq, n) == n, "not all Compares completed");
	w1 = th_now_ns();
	t1 = engine_ticks();
	printf("  %u Compares of 1 MiB in %.0f ms; engine thread CPU %ld ms\n", n, (w1 - w0) / 1e6,
	       (t1 - t0) * 1000 / hz);
	CHECK(t0 >= 0 && (double)(t1 - t0) / hz < 0.5 * (double)(w1 - w0) / 1e9 + 0.05,
	      "the engine thread used %ld ms of CPU in %.0f ms while waiting for Compare slots",
	      (t1 - t0) * 1000 / hz, (w1 - w0) / 1e6);
	free(q);
	free(cq);
	th_close(&c);
}

/* ------------------------------------------------ item 10: semantics */

/* Flush requests the block layer completed for @dev (field 16 of stat), or -1. */
static long flushes(const char *dev)
{
	char p[128];
	long v[18] = { 0 };
	FILE *f;
	int n = 0;

	snprintf(p, sizeof(p), "/sys/block/%s/stat", strrchr(dev, '/') + 1);
	f = fopen(p, "re");
	if (!f)
		return -1;
	while (n < 17 && fscanf(f, "%ld", &v[n + 1]) == 1)
		n++;
	fclose(f);
	return n >= 16 ? v[16] : -1;	/* flush I/Os (Documentation/block/stat.rst) */
}

static void t_item10_write_zeroes_fua_flushes(void)
{
	struct th_target t = { .name = "fua", .kind = TH_LOOP, .lba_size = 512 };
	/* the write cache is the controller's: switching it needs the option */
	struct th_opts o = { .target = &t, .flags = UNIFIED_OPT_ADMIN_DESTRUCTIVE };
	struct th_ctx c;
	long f0, f1, f2, f3;

	NEED(need_root_tool("losetup"));
	NEED(th_loop_attach(&t));
	memset(&c, 0, sizeof(c));
	if (th_open(&c, &o)) {
		th_loop_detach(&t);
		REQUIRE(0, "register");
	}
	f0 = flushes(t.loopdev);
	if (f0 < 0) {
		th_close(&c);
		th_loop_detach(&t);
		SKIP("no flush counters in /sys/block/*/stat");
	}
	unified_prep_write_zeroes(&s, c.nsid, 16, 8, 0x10a);
	EXEC_EXPECT(&c, &s, ST_OK, 0);
	f1 = flushes(t.loopdev);
	unified_prep_write_zeroes(&s, c.nsid, 16, 8, 0x10b);
	s.nvme_cmd.cdw12 |= 1u << 30;	/* FUA */
	EXEC_EXPECT(&c, &s, ST_OK, 0);
	f2 = flushes(t.loopdev);
	CHECK(f2 > f1, "Write Zeroes with FUA caused no flush (%ld -> %ld)", f1, f2);
	/* Volatile write cache off: every write is made durable. */
	unified_prep_nvme(&s, IO_UNIFIED_NVME_ADMIN_SET_FEATURES, 0, 0, 0, 0x10c);
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	s.nvme_cmd.cdw10 = 0x06;
	s.nvme_cmd.cdw11 = 0;
	EXEC_EXPECT(&c, &s, ST_OK, 0);
	th_prep_write(&c, &s, 64, 8, 0, 0x10d);
	EXEC_EXPECT(&c, &s, ST_OK, 4096);
	f3 = flushes(t.loopdev);
	CHECK(f3 > f2, "a write with the write cache disabled caused no flush (%ld -> %ld)", f2, f3);
	(void)f0;
	th_close(&c);
	th_loop_detach(&t);
}

static void admin(struct io_unified_sqe *q, uint8_t op, uint32_t nsid, uint32_t cdw10, uint64_t off,
		  uint32_t len)
{
	unified_prep_nvme(q, op, nsid, off, len, 0x2000 + op);
	q->flags = IO_UNIFIED_SQE_F_ADMIN;
	q->nvme_cmd.cdw10 = cdw10;
}

static void t_item10_identify_logs_features(void)
{
	struct th_opts o = { .file_size = 64 << 20 };
	struct io_unified_cqe q;
	struct th_ctx c;
	uint64_t units0, units1, nsze, nuse;

	NEED(th_need_tmpdir());
	/* Without UNIFIED_OPT_ADMIN_DESTRUCTIVE only harmless features may be
	 * set (docs/security.md): the write cache is refused, the temperature
	 * threshold is not; a driver-owned feature is refused always. */
	memset(&c, 0, sizeof(c));
	REQUIRE(th_open(&c, &o) == 0, "register");
	admin(&s, IO_UNIFIED_NVME_ADMIN_SET_FEATURES, 0, 0x06, 0, 0);
	EXEC_EXPECT(&c, &s, ST_ACCESS_DENIED, 0);
	admin(&s, IO_UNIFIED_NVME_ADMIN_SET_FEATURES, 0, 0x04, 0, 0);
	s.nvme_cmd.cdw11 = 350;
	EXEC_EXPECT(&c, &s, ST_OK, 0);
	th_close(&c);
	o.flags = UNIFIED_OPT_ADMIN_DESTRUCTIVE;
	memset(&c, 0, sizeof(c));
	REQUIRE(th_open(&c, &o) == 0, "register with the option");
	/* an emulated controller has no kernel driver: Number of Queues
	 * answers as a controller does (one of each: 0-based 0) */
	admin(&s, IO_UNIFIED_NVME_ADMIN_SET_FEATURES, 0, 0x07, 0, 0);
	s.nvme_cmd.cdw11 = 0x00070007;
	REQUIRE(th_exec(&c, &s, &q) == 0, "set queues");
	CHECK(q.status == 0 && q.result == 0, "Set Features Number of Queues: 0x%x 0x%llx", q.status,
	      (unsigned long long)q.result);
	/* CNS 03h: a namespace identification descriptor, the NGUID of CNS 00h */
	admin(&s, IO_UNIFIED_NVME_ADMIN_IDENTIFY, c.nsid, 0x03, 0, 4096);
	EXEC_EXPECT(&c, &s, ST_OK, 4096);
	admin(&s, IO_UNIFIED_NVME_ADMIN_IDENTIFY, c.nsid, 0x00, 8192, 4096);
	EXEC_EXPECT(&c, &s, ST_OK, 4096);
	CHECK(c.buf[0] == 2 && c.buf[1] == 16 && th_nonzero(c.buf + 4, 16) >= 0 &&
	      !memcmp(c.buf + 4, c.buf + 8192 + 104, 16), "descriptor NIDT %u NIDL %u, NGUID mismatch",
	      c.buf[0], c.buf[1]);
	nsze = le64(c.buf + 8192);
	nuse = le64(c.buf + 8192 + 16);
	CHECK((c.buf[8192 + 24] & 1) && nuse < nsze, "a sparse file: THINP %u, NUSE %llu of %llu",
	      c.buf[8192 + 24] & 1, (unsigned long long)nuse, (unsigned long long)nsze);
	/* log pages: error information, SMART / health, firmware slot */
	admin(&s, IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE, 0xffffffffu, (15u << 16) | 0x01, 0, 64);
	EXEC_EXPECT(&c, &s, ST_OK, 64);
	admin(&s, IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE, 0xffffffffu, (127u << 16) | 0x02, 0, 512);
	EXEC_EXPECT(&c, &s, ST_OK, 512);
	CHECK(le16(c.buf + 1) > 200 && c.buf[3] == 100, "SMART temperature %u spare %u",
	      le16(c.buf + 1), c.buf[3]);
	units0 = le64(c.buf + 48);
	th_fill(c.buf + 65536, 1 << 20, 5);
	th_prep_write(&c, &s, 0, (1 << 20) / c.lba, 65536, 0x2100);
	EXEC_EXPECT(&c, &s, ST_OK, 1 << 20);
	admin(&s, IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE, 0, (127u << 16) | 0x02, 0, 512);
	EXEC_EXPECT(&c, &s, ST_OK, 512);
	units1 = le64(c.buf + 48);
	CHECK(units1 >= units0 + 2, "data units written %llu -> %llu after 1 MiB",
	      (unsigned long long)units0, (unsigned long long)units1);
	admin(&s, IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE, 0, (127u << 16) | 0x03, 0, 512);
	EXEC_EXPECT(&c, &s, ST_OK, 512);
	CHECK(c.buf[0] == 1, "firmware slot AFI %u", c.buf[0]);
	admin(&s, IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE, 0, (127u << 16) | 0x0f, 0, 512);
	EXEC_EXPECT(&c, &s, 0x4109, 0);	/* Invalid Log Page */
	/* features: volatile write cache, number of queues, Save refused */
	admin(&s, IO_UNIFIED_NVME_ADMIN_GET_FEATURES, 0, 0x06, 0, 0);
	REQUIRE(th_exec(&c, &s, &q) == 0, "get vwc");
	CHECK(q.status == 0 && q.result == 1, "VWC: status 0x%x result %llu", q.status,
	      (unsigned long long)q.result);
	admin(&s, IO_UNIFIED_NVME_ADMIN_SET_FEATURES, 0, 0x06, 0, 0);
	EXEC_EXPECT(&c, &s, ST_OK, 0);
	admin(&s, IO_UNIFIED_NVME_ADMIN_GET_FEATURES, 0, 0x06, 0, 0);
	REQUIRE(th_exec(&c, &s, &q) == 0, "get vwc 2");
	CHECK(q.status == 0 && q.result == 0, "VWC after disabling: %llu", (unsigned long long)q.result);
	admin(&s, IO_UNIFIED_NVME_ADMIN_GET_FEATURES, 0, 0x07, 0, 0);
	REQUIRE(th_exec(&c, &s, &q) == 0, "get queues");
	CHECK(q.status == 0 && q.result == 0, "number of queues: 0x%x 0x%llx", q.status,
	      (unsigned long long)q.result);
	admin(&s, IO_UNIFIED_NVME_ADMIN_SET_FEATURES, 0, 0x04 | (1u << 31), 0, 0);
	EXEC_EXPECT(&c, &s, 0x410d, 0);	/* Feature Identifier Not Saveable */
	admin(&s, IO_UNIFIED_NVME_ADMIN_GET_FEATURES, 0, 0x03, 0, 0);	/* data feature, no buffer */
	EXEC_EXPECT(&c, &s, ST_INV_FIELD, 0);
	th_close(&c);
}

static void t_item10_lba_size_follows_dio_alignment(void)
{
	struct th_target t;
	char mnt[PATH_MAX], file[PATH_MAX + 16];
	struct unified_ctx *ctx = NULL;
	int r;

	NEED(need_root_tool("mkfs.ext4"));
	NEED(mount_ext4(&t, 4096, mnt, sizeof(mnt)));
	snprintf(file, sizeof(file), "%s/ns.img", mnt);
	{
		struct io_unified_region_desc d = { 0 };
		struct io_unified_reg reg = { .region_ptr = (uintptr_t)&d, .sq_entries = 8,
					      .buffer_entries = 16, .buffer_entry_size = 4096 };
		struct unified_opts o = { .flags = UNIFIED_OPT_CREATE, .file_size = 8 << 20,
					  .lba_size = 512 };

		reg.nvme_dev_path = (uintptr_t)file;
		r = unified_register(&reg, &o, &ctx);
		CHECK(r == -EINVAL && strstr(unified_errmsg(), "4096"),
		      "512-byte LBAs on a file system with 4 KiB direct I/O: %d (%s)", r, unified_errmsg());
		if (!r)
			unified_unregister(ctx);
		o.lba_size = 4096;
		memset(&reg.offsets, 0, sizeof(reg.offsets));
		reg.cq_entries = 0;
		memset(&d, 0, sizeof(d));
		r = unified_register(&reg, &o, &ctx);
		CHECK(r == 0, "4 KiB LBAs there: %d (%s)", r, unified_errmsg());
		if (!r)
			unified_unregister(ctx);
	}
	unmount_ext4(&t, mnt);
}

static void t_item10_capacity_and_write_protect(void)
{
	struct th_target t;
	char mnt[PATH_MAX], file[PATH_MAX + 16];
	struct th_opts o = { .file_size = 256 << 20 };
	struct io_unified_cqe q;
	struct th_ctx c;
	int i, st = 0;

	NEED(need_root_tool("mkfs.ext4"));
	NEED(mount_ext4(&t, 512, mnt, sizeof(mnt)));
	snprintf(file, sizeof(file), "%s/thin.img", mnt);
	o.path = file;
	o.flags = UNIFIED_OPT_CREATE;
	memset(&c, 0, sizeof(c));
	if (th_open(&c, &o)) {
		unmount_ext4(&t, mnt);
		REQUIRE(0, "register a 256 MiB file on a 64 MiB file system");
	}
	/* Fill until the file system is full: Capacity Exceeded, not Internal Error. */
	th_fill(c.buf, 1 << 20, 9);
	for (i = 0; i < 256 && !st; i++) {
		th_prep_write(&c, &s, (uint64_t)i * ((1 << 20) / c.lba), (1 << 20) / c.lba, 0, 0x3000 + i);
		REQUIRE(th_exec(&c, &s, &q) == 0, "write %d lost", i);
		st = q.status;
	}
	CHECK(st == ST_CAP_EXCEEDED, "a full file system gave status 0x%x (%s), want Capacity Exceeded",
	      st, unified_status_str((uint16_t)st));
	th_close(&c);
	/* Read-only: Namespace is Write Protected. */
	/* the ring's files are let go asynchronously after unregister */
	for (i = 0; i < 50 && mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL); i++)
		usleep(100 * 1000);
	REQUIRE(i < 50, "remount ro: %s", strerror(errno));
	memset(&c, 0, sizeof(c));
	o.flags = 0;
	if (!th_open(&c, &o)) {
		th_prep_write(&c, &s, 0, 8, 0, 0x3100);
		EXEC_EXPECT(&c, &s, ST_WRITE_PROT, 0);
		unified_prep_write_zeroes(&s, c.nsid, 0, 8, 0x3101);
		EXEC_EXPECT(&c, &s, ST_WRITE_PROT, 0);
		th_prep_read(&c, &s, 0, 8, 0, 0x3102);
		EXEC_EXPECT(&c, &s, ST_OK, 8 * c.lba);
		admin(&s, IO_UNIFIED_NVME_ADMIN_IDENTIFY, c.nsid, 0x00, 8192, 4096);
		EXEC_EXPECT(&c, &s, ST_OK, 4096);
		CHECK(c.buf[8192 + 99] & 1, "NSATTR does not say write protected");
		th_close(&c);
	} else {
		CHECK(0, "a file on a read-only file system could not be registered: %s", unified_errmsg());
	}
	unmount_ext4(&t, mnt);
}

/*
 * Items 3 and 5: registering a 4 KiB-sector device runs one probe read
 * (the direct-I/O alignment rule).  With the device's reads throttled to
 * 1 byte/s (cgroup v1 blkio), and a signal arriving meanwhile, registration
 * must still end, in bounded time, and must not free memory the read will
 * write (it used to wait forever, or free the buffer on EINTR).
 */
static void on_sigalrm(int sig)
{
	(void)sig;
}

static void t_item3_probe_is_bounded(void)
{
	struct th_target t = { .name = "slow4k", .kind = TH_LOOP, .lba_size = 4096 };
	char cg[128], knob[192], dev[32], msg[256] = "";
	struct stat st;
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	NEED(need_root_tool("losetup"));
	if (access("/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device", W_OK))
		SKIP("no cgroup v1 blkio throttling here");
	NEED(th_loop_attach(&t));
	REQUIRE(!stat(t.loopdev, &st), "stat %s", t.loopdev);
	snprintf(dev, sizeof(dev), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	snprintf(cg, sizeof(cg), "/sys/fs/cgroup/blkio/unified-test-%d", (int)getpid());
	REQUIRE(!mkdir(cg, 0755) || errno == EEXIST, "mkdir %s", cg);
	snprintf(knob, sizeof(knob), "%s/blkio.throttle.read_bps_device", cg);
	REQUIRE(sh("echo '%s 1' > %s", dev, knob) == 0, "throttle");
	REQUIRE(pipe(pfd) == 0, "pipe");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = on_sigalrm };
		struct unified_ctx *ctx = NULL;
		uint64_t t0;
		int r;

		close(pfd[0]);
		sh("echo %d > %s/cgroup.procs", (int)getpid(), cg);
		sigaction(SIGALRM, &sa, NULL);
		alarm(1);
		t0 = th_now_ms();
		r = reg_path(t.loopdev, 0, &ctx);
		snprintf(msg, sizeof(msg), "%d %llu", r, (unsigned long long)(th_now_ms() - t0));
		if (write(pfd[1], msg, strlen(msg)) < 0)
			_exit(3);
		close(pfd[1]);
		if (!r)
			unified_unregister(ctx);
		_exit(0);	/* exit waits for the throttled read; the parent lifts it */
	}
	close(pfd[1]);
	th_watch("t_item3_probe_is_bounded", 30);
	n = read(pfd[0], msg, sizeof(msg) - 1);
	th_unwatch();
	msg[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	sh("echo '%s 0' > %s", dev, knob);
	waitpid(pid, &status, 0);
	sh("rmdir %s", cg);
	th_loop_detach(&t);
	{
		int r = -1;
		unsigned long long ms = 0;

		CHECK(sscanf(msg, "%d %llu", &r, &ms) == 2 && r == 0 && ms < 10000,
		      "registration of a device that does not answer: '%s' (want 0 within 10 s)", msg);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
		printf("  registration with the probe read stuck: %d after %llu ms\n", r, ms);
	}
}

/* Item 11: the hint for a file system without direct I/O names the real one. */
static void t_item11_no_odirect_hint(void)
{
	char mnt[PATH_MAX], file[PATH_MAX + 16];
	struct unified_ctx *ctx = NULL;
	int r;

	NEED(need_root_tool("true"));
	snprintf(mnt, sizeof(mnt), "%s/ramfs", th_tmpdir());
	REQUIRE(mkdir(mnt, 0700) == 0, "mkdir");
	if (mount("none", mnt, "ramfs", 0, NULL)) {
		rmdir(mnt);
		SKIP("cannot mount ramfs: %s", strerror(errno));
	}
	snprintf(file, sizeof(file), "%s/ns.img", mnt);
	r = reg_path(file, UNIFIED_OPT_CREATE, &ctx);
	CHECK(r == -EINVAL && strstr(unified_errmsg(), "direct I/O") && !strstr(unified_errmsg(), "tmpfs"),
	      "a file on ramfs: %d '%s' (want -EINVAL naming direct I/O, not tmpfs)", r, unified_errmsg());
	if (!r)
		unified_unregister(ctx);
	CHECK(access(file, F_OK) != 0, "the failed registration left %s behind", file);
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
}

int main(int argc, char **argv)
{
	harness_args(argc, argv);	/* PROGRAM [SUBSTRING]: only matching cases */
	RUN(t_item1_default_namespace_and_create);
	RUN(t_item3_drain_is_bounded);
	RUN(t_item3_probe_is_bounded);
	RUN(t_item4d_busy_target_does_not_spin);
	RUN(t_item10_write_zeroes_fua_flushes);
	RUN(t_item10_identify_logs_features);
	RUN(t_item10_lba_size_follows_dio_alignment);
	RUN(t_item10_capacity_and_write_protect);
	RUN(t_item11_no_odirect_hint);
	return harness_done();
}
