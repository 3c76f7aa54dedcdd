/* SPDX-License-Identifier: MIT */
/*
 * Issue 6, "make every contract true": one case (or more) per fault kind
 * that needs no special device (the device ones are in
 * tests/target/contracts_dev.c).  Each case failed on the library before
 * the fix; the case name carries the item number.
 *
 * Scenarios that hung or crashed the old library run in a child process
 * with a time limit, so a regression is a FAIL, not a hung suite.  Where a
 * kernel answer is forced with a seccomp filter (a real filter on the real
 * system call: io_uring_enter failing, a kernel that answers the engine
 * probe differently), the case says so.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include "helpers.h"

#define NR_URING_ENTER		426
#define NR_URING_REGISTER	427

static struct io_unified_sqe s;

static int open_ctx(struct th_ctx *c, uint32_t mode, uint32_t sq, uint32_t cq, uint32_t spin)
{
	struct th_opts o = { .mode = mode, .sq = sq, .cq = cq, .idle_spin_us = spin,
			     .file_size = 16 << 20 };

	memset(c, 0, sizeof(*c));
	return th_open(c, &o);
}

/* Run @fn in a child with a @secs limit: its exit code, or 128+signal. */
static int in_child(int (*fn)(void *), void *arg, unsigned secs)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		alarm(secs);
		_exit(fn(arg));
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * A seccomp filter on x86-64: system call @nr (with args[0]... no: with
 * args[1] == @arg1 when @arg1 >= 0) gets @action; everything else runs.
 */
static int seccomp_filter(long nr, long arg1, uint32_t action)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)arg1, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, arg1 >= 0 ? SECCOMP_RET_ALLOW : action),
		BPF_STMT(BPF_RET | BPF_K, action),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) ? -errno : 0;
}

/* Wait up to @ms for @n CQEs by polling the CQ only (never kicking). */
static uint32_t poll_cq(struct th_ctx *c, uint32_t n, uint64_t ms)
{
	uint64_t end = th_now_ms() + ms;
	uint32_t got = 0, idx, k;

	while (got < n && th_now_ms() < end) {
		k = unified_cq_peek(&c->cq, n - got, &idx);
		if (!k) {
			usleep(200);
			continue;
		}
		unified_cq_release(&c->cq, k);
		got += k;
	}
	return got;
}

/* ------------------------------------------------ item 2: fork */

static int child_unregisters(void *p)
{
	struct th_ctx *c = p;
	int k = unified_kick(c->ctx);

	if (k != -EPERM)
		return 10;
	return unified_unregister(c->ctx) == 0 ? 0 : 11;
}

/* Every call that takes an inherited context refuses it in a child. */
static int child_calls_everything(void *p)
{
	struct th_ctx *c = p;
	struct unified_target_info ti;
	struct unified_stats st;
	struct unified_sq sq;
	struct unified_cq cq;
	uint64_t off;
	int bad = 0;

#define MUST(expr) do { if (!(expr)) { printf("  child: %s\n", #expr); bad++; } } while (0)
	MUST(unified_kick(c->ctx) == -EPERM);
	MUST(unified_enter(c->ctx, 1, 10) == -EPERM);
	MUST(unified_drain(c->ctx) == -EPERM);
	MUST(unified_sq_init(c->ctx, &sq) == -EPERM);
	MUST(unified_cq_init(c->ctx, &cq) == -EPERM);
	MUST(unified_buf_alloc(c->ctx, &off) == -EPERM);
	MUST(unified_buf_free(c->ctx, 0) == -EPERM);
	MUST(unified_buf_off(c->ctx, c->buf, &off) == -EPERM);
	MUST(unified_buf_ptr(c->ctx, 0) == NULL);
	MUST(unified_buf_count(c->ctx) == 0);
	MUST(unified_region(c->ctx) == NULL);
	MUST(unified_region_size(c->ctx) == 0);
	MUST(unified_buffers(c->ctx) == NULL);
	MUST(unified_target_info(c->ctx, &ti) == -EPERM);
	MUST(unified_get_stats(c->ctx, &st) == -EPERM);
	MUST(strstr(unified_errmsg(), "belongs to process") != NULL);
	MUST(unified_unregister(c->ctx) == 0);
#undef MUST
	return bad;
}

static void t_item2_every_call_refused_in_child(void)
{
	struct th_ctx c;
	int r;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_THREAD, 8, 0, 0) == 0, "open");
	r = in_child(child_calls_everything, &c, 10);
	CHECK(r == 0, "%d calls in the child did not refuse the parent's context (139: crashed)", r);
	th_prep_read(&c, &s, 0, 1, 0, 0x2f0);
	EXEC_EXPECT(&c, &s, ST_OK, c.lba);	/* the parent's context is intact */
	th_close(&c);
}

static void t_item2_fork_child_cannot_take_parent_io(void)
{
	struct th_ctx c;
	struct io_unified_sqe q[32];
	uint32_t got = 0;
	int i, r;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_KICK, 64, 64, 0) == 0, "open");
	REQUIRE(th_raw_pattern(&c, 0, 32 * 4096 / c.lba, 7) == 0, "prefill");
	for (i = 0; i < 32; i++)
		th_prep_read(&c, &q[i], (uint64_t)i * (4096 / c.lba), 4096 / c.lba, 4096ull * i,
			     0x200 + i);
	REQUIRE(th_queue(&c, q, 32) == 0, "queue");
	REQUIRE(unified_kick(c.ctx) == 0, "kick");	/* in io_uring now */
	th_watch("t_item2_fork_child_cannot_take_parent_io", 20);
	r = in_child(child_unregisters, &c, 10);
	CHECK(r == 0, "child: code %d (10: kick not refused, 11: unregister failed)", r);
	/* All 32 completions still arrive here, then our own unregister
	 * returns (it hung before the fix). */
	while (got < 32) {
		uint32_t idx, k;

		r = unified_enter(c.ctx, 1, 3000);
		if (r < 0)
			break;
		k = unified_cq_peek(&c.cq, 32, &idx);
		unified_cq_release(&c.cq, k);
		got += k;
	}
	CHECK(got == 32, "the parent got %u of its 32 completions (enter %d)", got, r);
	CHECK(th_close(&c) == 0, "unregister");
	th_unwatch();
}

/* A child made by the raw fork system call (no atfork handlers run) is
 * still a foreign process for the context. */
static void t_item2_raw_fork_child_refused(void)
{
	struct th_ctx c;
	pid_t pid;
	int st;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_KICK, 8, 0, 0) == 0, "open");
	fflush(stdout);
	pid = (pid_t)syscall(SYS_fork);
	if (pid == 0) {
		int k = unified_kick(c.ctx), e = unified_enter(c.ctx, 1, 100), d = unified_drain(c.ctx);

		syscall(SYS_exit_group, k == -EPERM && e == -EPERM && d == -EPERM ? 0 : 1);
	}
	REQUIRE(pid > 0 && waitpid(pid, &st, 0) == pid, "fork");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a raw-fork child could drive the context (0x%x)", st);
	th_close(&c);
}

/* The child's unregister must not unmap what the child put where the
 * (not inherited) region was. */
static int child_maps_then_unregisters(void *p)
{
	struct th_ctx *c = p;
	size_t len = c->desc.size;	/* noted by the parent: the child may not ask */
	uint8_t *want = (uint8_t *)(uintptr_t)c->desc.user_addr;
	uint8_t *m = mmap(want, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (m != want)
		return 2;	/* the range was inherited after all */
	m[0] = 0x5a;
	if (unified_unregister(c->ctx))
		return 3;
	return m[0] == 0x5a ? 0 : 4;	/* SIGSEGV if it was unmapped */
}

static void t_item2_child_unregister_leaves_child_memory(void)
{
	struct th_ctx c;
	int r;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_KICK, 8, 0, 0) == 0, "open");
	r = in_child(child_maps_then_unregisters, &c, 10);
	CHECK(r == 0, "child: code %d (139: its own mapping was unmapped, 2: region inherited)", r);
	th_close(&c);
}

static void t_item2_region_not_inherited(void)
{
	struct th_ctx c;
	pid_t pid;
	int st;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_KICK, 8, 0, 0) == 0, "open");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* MADV_DONTFORK: touching the region in the child faults. */
		signal(SIGSEGV, SIG_DFL);
		*(volatile uint8_t *)c.buf = 1;
		_exit(0);
	}
	REQUIRE(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
	      "the child could touch the region (status 0x%x)", st);
	th_close(&c);
}

/* ------------------------------------------------ item 3: EINTR */

static void on_alarm(int sig)
{
	(void)sig;
}

static void arm_signal_ms(int ms)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct itimerval it = { .it_value = { ms / 1000, (ms % 1000) * 1000 } };

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
}

static void t_item3_enter_returns_eintr(void)
{
	struct th_ctx c;
	uint64_t t0;
	int r;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_THREAD, 8, 0, 0) == 0, "open");
	t0 = th_now_ms();
	arm_signal_ms(200);
	r = unified_enter(c.ctx, 1, 3000);
	CHECK(r == -EINTR, "enter with a signal at 200 ms returned %d after %llu ms, want -EINTR", r,
	      (unsigned long long)(th_now_ms() - t0));
	CHECK(th_now_ms() - t0 < 1500, "returned after %llu ms", (unsigned long long)(th_now_ms() - t0));
	CHECK(strstr(unified_errmsg(), "signal") != NULL, "errmsg '%s'", unified_errmsg());
	th_watch("t_item3_enter_returns_eintr", 5);
	arm_signal_ms(200);
	r = unified_enter(c.ctx, 1, -1);
	CHECK(r == -EINTR, "enter(-1) with a signal returned %d", r);
	/* A handler with SA_RESTART (what signal() installs) too, as io_uring_enter. */
	{
		struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
		struct itimerval it = { .it_value = { 0, 200 * 1000 } };

		sigaction(SIGALRM, &sa, NULL);
		setitimer(ITIMER_REAL, &it, NULL);
		r = unified_enter(c.ctx, 1, -1);
		CHECK(r == -EINTR, "enter(-1) with an SA_RESTART signal returned %d", r);
	}
	th_unwatch();
	th_close(&c);
}

/* ------------------------------------------------ item 4: wake-up protocol */

static void t_item4b_shared_flag_cannot_strand_engine(void)
{
	struct th_ctx c;
	struct io_unified_ring *sqr;
	struct unified_stats st;
	int i, slow = 0;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_THREAD, 8, 0, 1) == 0, "open");
	sqr = unified_region(c.ctx);
	for (i = 0; i < 20; i++) {
		struct io_unified_cqe q;
		uint64_t t0, end = th_now_ms() + 1000;
		int r;

		/* Let the engine go to sleep, then wipe its (shared) flag. */
		do {
			unified_get_stats(c.ctx, &st);
			usleep(1000);
		} while (!(unified_load_relaxed(&sqr->flags) & IO_UNIFIED_RING_NEED_WAKEUP) &&
			 th_now_ms() < end);
		__atomic_store_n(&sqr->flags, 0, __ATOMIC_RELAXED);
		th_prep_read(&c, &s, 0, 1, 0, 0x400 + i);
		REQUIRE(th_queue(&c, &s, 1) == 0, "queue");
		t0 = th_now_ms();
		r = unified_enter(c.ctx, 1, 2000);
		REQUIRE(r >= 1, "round %d: enter returned %d after %llu ms: the engine was not woken",
			i, r, (unsigned long long)(th_now_ms() - t0));
		if (th_now_ms() - t0 > 500)
			slow++;
		REQUIRE(th_take(&c, &q, 1) == 1, "take");
	}
	CHECK(!slow, "%d of 20 round trips took over 500 ms", slow);
	th_close(&c);
}

static void t_item4c_full_cq_without_kick(void)
{
	struct th_ctx c;
	struct io_unified_sqe q[16];
	uint32_t got;
	int i;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_THREAD, 16, 8, 1) == 0, "open");
	for (i = 0; i < 16; i++)
		th_prep_read(&c, &q[i], (uint64_t)i, 1, 4096ull * i, 0x500 + i);
	REQUIRE(th_submit(&c, q, 16) == 0, "submit");
	/* An application that never kicks again, only consumes. */
	got = poll_cq(&c, 16, 2000);
	CHECK(got == 16, "%u of 16 completions arrived in 2 s without a kick", got);
	th_close(&c);
}

/* ------------------------------------------------ item 5: failed registration */

static int bad_user_memory(void *p)
{
	struct io_unified_region_desc d;
	struct io_unified_reg r;
	struct unified_ctx *ctx = NULL;
	void *none = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	const uint64_t addrs[] = { (uintptr_t)none, 0x7ffffff00000ull, 0xffff800000000000ull };
	size_t i;
	int ret, bad = 0;

	(void)p;
	if (none == MAP_FAILED)
		return 2;
	for (i = 0; i < 3; i++) {
		memset(&d, 0, sizeof(d));
		memset(&r, 0, sizeof(r));
		d.flags = IO_UNIFIED_REGION_USER;
		d.user_addr = addrs[i];
		d.size = 1 << 20;
		r.region_ptr = (uintptr_t)&d;
		r.nvme_dev_path = (uintptr_t)th_path("t5.img");
		r.sq_entries = 8;
		r.buffer_entries = 16;
		r.buffer_entry_size = 4096;
		ret = unified_register(&r, &(struct unified_opts){ .flags = UNIFIED_OPT_CREATE |
				       UNIFIED_OPT_USER_ENGINE, .file_size = 1 << 20 }, &ctx);
		if (ret != -EFAULT) {
			printf("  user memory 0x%llx: %d, want -EFAULT (%s)\n",
			       (unsigned long long)addrs[i], ret, unified_errmsg());
			bad++;
		}
		if (!ret)
			unified_unregister(ctx);
	}
	munmap(none, 1 << 20);
	return bad ? 1 : 0;
}

static void t_item5_bad_user_memory_is_efault(void)
{
	int r;

	NEED(th_need_tmpdir());
	r = in_child(bad_user_memory, NULL, 20);
	CHECK(r == 0, "PROT_NONE, unmapped or kernel USER memory: code %d (139: crashed)", r);
}

/*
 * USER memory full of a pattern and of an earlier run's ring state (5 SQEs
 * queued); registrations that fail at each later step (here: too few file
 * descriptors left, so the eventfd or io_uring cannot be made) write
 * nothing to it.
 */
static void t_item5_failed_registration_writes_nothing(void)
{
	size_t len = 4 << 20;
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *ref = malloc(len);
	struct rlimit old, lim;
	int spare, fails = 0, eventfd_fail = 0, base;

	NEED(th_need_tmpdir());
	REQUIRE(mem != MAP_FAILED && ref, "memory");
	th_fill(mem, len, 0x5555);
	/* an earlier run's SQ: producer 5, consumer 0, entries after the headers */
	((struct io_unified_ring *)mem)->producer = 5;
	((struct io_unified_ring *)mem)->consumer = 0;
	memcpy(ref, mem, len);
	getrlimit(RLIMIT_NOFILE, &old);
	base = th_count_fds();
	REQUIRE(base > 0, "count fds");
	for (spare = 0; spare <= 6; spare++) {
		struct io_unified_region_desc d = { .flags = IO_UNIFIED_REGION_USER,
						    .user_addr = (uintptr_t)mem, .size = len };
		struct io_unified_reg r = { .region_ptr = (uintptr_t)&d, .sq_entries = 8,
					    .buffer_entries = 64, .buffer_entry_size = 4096 };
		struct unified_opts o = { .mode = UNIFIED_MODE_THREAD, .file_size = 1 << 20,
					  .flags = UNIFIED_OPT_CREATE | UNIFIED_OPT_USER_ENGINE };
		struct unified_ctx *ctx = NULL;
		const char *path = th_path("t5b.img");
		int ret;

		r.nvme_dev_path = (uintptr_t)path;
		lim = old;
		lim.rlim_cur = (rlim_t)(base + spare);
		setrlimit(RLIMIT_NOFILE, &lim);
		ret = unified_register(&r, &o, &ctx);
		setrlimit(RLIMIT_NOFILE, &old);
		if (!ret) {
			unified_unregister(ctx);
			memcpy(mem, ref, len);
			continue;
		}
		fails++;
		if (strstr(unified_errmsg(), "eventfd"))
			eventfd_fail++;
		CHECK(th_diff(mem, ref, len) < 0, "%d spare fds: registration failed (%d, %s) but "
		      "wrote caller memory at offset %ld", spare, ret, unified_errmsg(),
		      th_diff(mem, ref, len));
		memcpy(mem, ref, len);
		CHECK(access(path, F_OK) != 0, "failed registration left %s behind", path);
	}
	CHECK(fails > 0 && eventfd_fail > 0, "no registration failed at the eventfd (%d failures)", fails);
	munmap(mem, len);
	free(ref);
}

/* A failed registration of the default namespace removes the private
 * directory it made (and nothing else). */
static void t_item5_failed_default_leaves_no_directory(void)
{
	char tmp[600], dir[700], *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	struct rlimit lim, save;
	struct stat st;
	int spare, fails = 0, base;

	NEED(th_need_tmpdir());
	snprintf(tmp, sizeof(tmp), "%s", th_path("deftmp"));
	REQUIRE(mkdir(tmp, 0700) == 0, "mkdir");
	snprintf(dir, sizeof(dir), "%s/unified-%u", tmp, (unsigned)geteuid());
	setenv("TMPDIR", tmp, 1);
	unsetenv("UNIFIED_DEFAULT_FILE");
	getrlimit(RLIMIT_NOFILE, &save);
	base = th_count_fds();
	for (spare = 0; spare <= 6; spare++) {
		struct io_unified_region_desc d = { 0 };
		struct io_unified_reg r = { .region_ptr = (uintptr_t)&d, .sq_entries = 8,
					    .buffer_entries = 16, .buffer_entry_size = 4096 };
		struct unified_opts o = { .mode = UNIFIED_MODE_THREAD, .file_size = 1 << 20 };
		struct unified_ctx *ctx = NULL;
		int ret;

		lim = save;
		lim.rlim_cur = (rlim_t)(base + spare);
		setrlimit(RLIMIT_NOFILE, &lim);
		ret = unified_register(&r, &o, &ctx);
		setrlimit(RLIMIT_NOFILE, &save);
		if (!ret) {
			unified_unregister(ctx);
			break;
		}
		fails++;
		CHECK(stat(dir, &st) != 0, "%d spare fds: failed registration (%s) left %s", spare,
		      unified_errmsg(), dir);
	}
	CHECK(fails > 0, "no registration failed");
	if (old) {
		setenv("TMPDIR", old, 1);
		free(old);
	}
}

/*
 * Two registrations of the same default namespace at once, one failing
 * after it created the file: the failure must not take the file (or its
 * directory) from the one that succeeds.
 */
struct racer {
	pthread_barrier_t *go;
	uint32_t lba;		/* 1024: refused after the file exists */
	int ret;
	struct unified_ctx *ctx;
};

static void *race_register(void *p)
{
	struct racer *r = p;
	struct io_unified_region_desc d = { 0 };
	struct io_unified_reg reg = { .region_ptr = (uintptr_t)&d, .sq_entries = 8,
				      .buffer_entries = 16, .buffer_entry_size = 4096 };
	struct unified_opts o = { .file_size = 1 << 20, .lba_size = r->lba };

	pthread_barrier_wait(r->go);
	r->ret = unified_register(&reg, &o, &r->ctx);
	return NULL;
}

static void t_item5_concurrent_default_registrations(void)
{
	char tmp[600], file[700], *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	int i, lost = 0, spurious = 0, ok = 0;
	pthread_barrier_t go;

	NEED(th_need_tmpdir());
	snprintf(tmp, sizeof(tmp), "%s", th_path("racetmp"));
	REQUIRE(mkdir(tmp, 0700) == 0, "mkdir");
	snprintf(file, sizeof(file), "%s/unified-%u/default.img", tmp, (unsigned)geteuid());
	setenv("TMPDIR", tmp, 1);
	unsetenv("UNIFIED_DEFAULT_FILE");
	pthread_barrier_init(&go, NULL, 2);
	for (i = 0; i < 300; i++) {
		struct racer a = { &go, 1024, 0, NULL }, b = { &go, 4096, 0, NULL };
		pthread_t ta, tb;

		pthread_create(&ta, NULL, race_register, &a);
		pthread_create(&tb, NULL, race_register, &b);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		if (!a.ret)
			unified_unregister(a.ctx);
		if (b.ret) {
			spurious++;
			continue;
		}
		ok++;
		if (access(file, F_OK))
			lost++;	/* a live context on a file that is gone */
		unified_unregister(b.ctx);
		unlink(file);
	}
	pthread_barrier_destroy(&go);
	if (old) {
		setenv("TMPDIR", old, 1);
		free(old);
	}
	printf("  300 rounds: %d fine, %d lost, %d spurious\n", ok, lost, spurious);
	CHECK(!lost && !spurious, "of 300 rounds: %d registrations kept a removed file, %d failed "
	      "spuriously (%d fine)", lost, spurious, ok);
}

/* ------------------------------------------------ item 7: 1-based counts */

static void t_item7_zero_counts_refused(void)
{
	struct th_ctx c;
	struct unified_dsm_range *rg;
	uint8_t *before, *after;
	uint32_t nlb;
	int i;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_KICK, 8, 0, 0) == 0, "open");
	nlb = (uint32_t)(1 << 20) / c.lba;
	before = malloc(1 << 20);
	after = malloc(1 << 20);
	REQUIRE(before && after, "malloc");
	th_fill(before, 1 << 20, 77);
	REQUIRE(th_raw_write(&c, 0, nlb, before) == 0, "raw write");
	CHECK(unified_prep_write_zeroes(&s, c.nsid, 0, 0, 0x700) == -EINVAL,
	      "prep_write_zeroes(nlb 0) did not return -EINVAL");
	EXEC_EXPECT(&c, &s, ST_INV_FIELD, 0);
	CHECK(unified_prep_write_zeroes(&s, c.nsid, 0, 65537, 0x701) == -EINVAL, "nlb 65537");
	EXEC_EXPECT(&c, &s, ST_INV_FIELD, 0);
	CHECK(unified_prep_read(&s, c.nsid, 0, 0, 0, 0, 0x702) == -EINVAL, "prep_read(nlb 0)");
	EXEC_EXPECT(&c, &s, ST_INV_FIELD, 0);
	/* stale ranges in the buffer must not be applied by nr = 0 */
	rg = (struct unified_dsm_range *)c.buf;
	for (i = 0; i < 256; i++) {
		rg[i].cattr = 0;
		rg[i].nlb = 8;
		rg[i].slba = (uint64_t)i * 8 % (nlb - 8);
	}
	CHECK(unified_prep_dsm_deallocate(&s, c.nsid, 0, 0, 0x703) == -EINVAL, "dsm(nr 0)");
	EXEC_EXPECT(&c, &s, ST_INV_FIELD, 0);
	CHECK(unified_prep_dsm_deallocate(&s, c.nsid, 257, 0, 0x704) == -EINVAL, "dsm(nr 257)");
	REQUIRE(th_raw_read(&c, 0, nlb, after) == 0, "raw read");
	CHECK(th_diff(before, after, 1 << 20) < 0, "data changed at %ld", th_diff(before, after, 1 << 20));
	free(before);
	free(after);
	th_close(&c);
}

/* ------------------------------------------------ item 8: error reporting */

static void t_item8_errmsg_is_the_latest_failure(void)
{
	struct th_ctx c;
	struct io_unified_ring *sqr;
	uint64_t off;
	int r;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_KICK, 8, 0, 0) == 0, "open");
	CHECK(unified_register(NULL, NULL, NULL) == -EINVAL && *unified_errmsg(), "first failure");
	r = unified_buf_off(c.ctx, (uint8_t *)c.buf - 1, &off);
	CHECK(r == -EFAULT && strstr(unified_errmsg(), "outside"), "buf_off: %d '%s'", r,
	      unified_errmsg());
	CHECK(unified_sq_init(c.ctx, NULL) == -EINVAL && strstr(unified_errmsg(), "sq is NULL"),
	      "sq_init(NULL): '%s'", unified_errmsg());
	CHECK(unified_buf_alloc(NULL, &off) == -EINVAL && strstr(unified_errmsg(), "buf_alloc"),
	      "buf_alloc(NULL): '%s'", unified_errmsg());
	CHECK(!unified_buf_ptr(c.ctx, c.buf_bytes) && strstr(unified_errmsg(), "buf_ptr"),
	      "buf_ptr past the area: '%s'", unified_errmsg());
	CHECK(!unified_region(NULL) && strstr(unified_errmsg(), "unified_region"),
	      "unified_region(NULL): '%s'", unified_errmsg());
	sqr = unified_region(c.ctx);
	__atomic_store_n(&sqr->producer, sqr->consumer - 5, __ATOMIC_RELEASE);
	r = unified_kick(c.ctx);
	CHECK(r == -EBADMSG && strstr(unified_errmsg(), "corrupt"), "kick on a corrupt SQ: %d '%s'",
	      r, unified_errmsg());
	__atomic_store_n(&sqr->producer, sqr->consumer, __ATOMIC_RELEASE);
	th_close(&c);
}

static int kick_with_failing_enter(void *p)
{
	struct th_ctx c;
	int r;

	(void)p;
	if (open_ctx(&c, UNIFIED_MODE_KICK, 8, 0, 0))
		return 2;
	/* Real fault injection: every io_uring_enter(2) now fails with EIO. */
	if (seccomp_filter(NR_URING_ENTER, -1, SECCOMP_RET_ERRNO | EIO))
		return 3;
	th_prep_read(&c, &s, 0, 1, 0, 0x800);
	if (th_queue(&c, &s, 1))
		return 4;
	r = unified_kick(c.ctx);
	if (r != -EIO || !strstr(unified_errmsg(), "io_uring")) {
		printf("  kick: %d '%s'\n", r, unified_errmsg());
		return 5;
	}
	r = unified_enter(c.ctx, 1, 100);
	return r == -EIO || r == -ETIME ? 0 : 6;	/* the context is not unregistered: exit */
}

/* Thread mode reports a corrupt SQ producer too, and wakes a waiting enter. */
static void t_item8_thread_mode_reports_corrupt_sq(void)
{
	struct th_ctx c;
	struct io_unified_ring *sqr;
	uint64_t t0;
	int r;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_THREAD, 8, 0, 0) == 0, "open");
	sqr = unified_region(c.ctx);
	__atomic_store_n(&sqr->producer, sqr->consumer + 1000, __ATOMIC_RELEASE);
	t0 = th_now_ms();
	r = unified_enter(c.ctx, 1, 2000);
	CHECK(r == -EBADMSG && strstr(unified_errmsg(), "corrupt"), "enter on a corrupt SQ in thread "
	      "mode: %d after %llu ms '%s'", r, (unsigned long long)(th_now_ms() - t0), unified_errmsg());
	CHECK(th_now_ms() - t0 < 1000, "took %llu ms", (unsigned long long)(th_now_ms() - t0));
	__atomic_store_n(&sqr->producer, sqr->consumer, __ATOMIC_RELEASE);
	th_close(&c);
}

static void t_item8_submit_errors_surface(void)
{
	int r;

	NEED(th_need_tmpdir());
	r = in_child(kick_with_failing_enter, NULL, 10);
	CHECK(r == 0, "with io_uring_enter failing (seccomp), the kick did not report it: code %d", r);
}

/* ------------------------------------------------ item 9: double fetch */

struct flipper {
	struct unified_dsm_range *r;
	uint64_t good, bad;
	int stop;	/* atomic */
};

static void *flip(void *p)
{
	struct flipper *f = p;

	while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED)) {
		__atomic_store_n(&f->r->slba, f->bad, __ATOMIC_RELAXED);
		__atomic_store_n(&f->r->slba, f->good, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void t_item9_dsm_ranges_read_once(void)
{
	struct th_ctx c;
	struct flipper f;
	pthread_t th;
	uint8_t *pat, *rd;
	int i, wrong = 0, ok = 0, range = 0;
	uint32_t n8;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_KICK, 8, 0, 0) == 0, "open");
	n8 = 8;
	pat = malloc(8 * 4096);
	rd = malloc(8 * 4096);
	REQUIRE(pat && rd, "malloc");
	f.r = (struct unified_dsm_range *)(c.buf + 65536);
	f.good = 64;
	f.bad = c.nlba + 100;
	f.r->cattr = 0;
	f.r->nlb = n8;
	f.r->slba = f.good;
	f.stop = 0;
	REQUIRE(pthread_create(&th, NULL, flip, &f) == 0, "thread");
	for (i = 0; i < 1000; i++) {
		struct io_unified_cqe q;

		th_fill(pat, n8 * c.lba, (uint64_t)i + 1);
		REQUIRE(th_raw_write(&c, 64, n8, pat) == 0, "raw write");
		unified_prep_dsm_deallocate(&s, c.nsid, 1, 65536, 0x900 + i);
		REQUIRE(th_exec(&c, &s, &q) == 0, "exec");
		REQUIRE(th_raw_read(&c, 64, n8, rd) == 0, "raw read");
		if (q.status == ST_OK) {
			ok++;
			if (th_nonzero(rd, n8 * c.lba) >= 0)
				wrong++;	/* success, yet the range kept its data */
		} else {
			range++;
			CHECK(q.status == ST_LBA_RANGE, "status 0x%x", q.status);
			if (th_diff(rd, pat, n8 * c.lba) >= 0)
				wrong++;	/* refused, yet something changed */
		}
	}
	f.stop = 1;
	pthread_join(th, NULL);
	CHECK(!wrong, "%d of 1000 DSM commands did not do what their status says (%d ok, %d out of "
	      "range)", wrong, ok, range);
	free(pat);
	free(rd);
	th_close(&c);
}

/* ------------------------------------------------ item 11: smaller ones */

static void t_item11_engine_thread_blocks_signals(void)
{
	struct th_ctx c;
	unsigned long long m = 0;
	sigset_t none;
	int tid, n;

	NEED(th_need_tmpdir());
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	REQUIRE(open_ctx(&c, UNIFIED_MODE_THREAD, 8, 0, 0) == 0, "open");
	/* one command through the thread, so it has surely started (a new
	 * thread shows all signals blocked until glibc's start code ran) */
	th_prep_read(&c, &s, 0, 1, 0, 0xb00);
	EXEC_EXPECT(&c, &s, ST_OK, c.lba);
	n = th_engine_threads(&tid, 1);
	REQUIRE(n == 1, "%d engine threads found", n);
	REQUIRE(th_task_sigblk(tid, &m) == 0, "SigBlk of thread %d", tid);
	/* every signal but SIGKILL and SIGSTOP (unblockable) and glibc's
	 * internal 32 and 33 (it never lets them be blocked) */
	CHECK((m | 1ull << (SIGKILL - 1) | 1ull << (SIGSTOP - 1) | 1ull << 31 | 1ull << 32) == ~0ull,
	      "engine thread %d: SigBlk %016llx", tid, m);
	th_close(&c);
}

static int probe_with_filter(void *p)
{
	(void)p;
	/* A kernel that answers the opcode with -EFAULT (what the old probe
	 * took for "present"); faked with seccomp on the real system call. */
	if (seccomp_filter(NR_URING_REGISTER, IORING_REGISTER_UNIFIED_IFQ, SECCOMP_RET_ERRNO | EFAULT))
		return 2;
	return unified_kernel_engine_available() == 0 ? 0 : 1;
}

static void t_item11_kernel_engine_probe_is_real(void)
{
	int r = in_child(probe_with_filter, NULL, 10);

	CHECK(r == 0, "a kernel answering -EFAULT was taken for one with the engine (code %d)", r);
	CHECK(unified_kernel_engine_available() == 0, "this stock kernel reported the engine");
}

static int register_with_probe_killed(void *p)
{
	struct th_ctx c;
	struct th_opts o = { .file_size = 16 << 20 };

	(void)p;
	/* Any probe of the kernel engine kills the process: only a
	 * registration that never probes survives. */
	if (seccomp_filter(NR_URING_REGISTER, IORING_REGISTER_UNIFIED_IFQ, SECCOMP_RET_KILL_PROCESS))
		return 2;
	memset(&c, 0, sizeof(c));
	if (th_open(&c, &o))	/* th_open always sets UNIFIED_OPT_USER_ENGINE */
		return 3;
	th_close(&c);
	return 0;
}

static int register_probing(void *p)
{
	struct io_unified_region_desc d = { 0 };
	struct io_unified_reg r = { .region_ptr = (uintptr_t)&d, .sq_entries = 8,
				    .buffer_entries = 16, .buffer_entry_size = 4096 };
	struct unified_ctx *ctx;

	(void)p;
	r.nvme_dev_path = (uintptr_t)th_path("t11.img");
	if (seccomp_filter(NR_URING_REGISTER, IORING_REGISTER_UNIFIED_IFQ, SECCOMP_RET_KILL_PROCESS))
		return 2;
	if (unified_register(&r, &(struct unified_opts){ .flags = UNIFIED_OPT_CREATE,
			     .file_size = 1 << 20 }, &ctx))
		return 3;
	unified_unregister(ctx);
	return 0;
}

static void t_item11_user_engine_option_has_effect(void)
{
	int with, without;

	NEED(th_need_tmpdir());
	with = in_child(register_with_probe_killed, NULL, 10);
	without = in_child(register_probing, NULL, 10);
	CHECK(with == 0, "with UNIFIED_OPT_USER_ENGINE the kernel engine was probed (code %d)", with);
	CHECK(without == 128 + SIGSYS, "without it no probe was made (code %d)", without);
}

/* ------------------------------------------------ item 12: hostile indices */

static void t_item12_ring_helpers_clamp(void)
{
	struct th_ctx c;
	struct io_unified_ring *sqr, *cqr;
	uint32_t idx, n, loops = 0;

	NEED(th_need_tmpdir());
	REQUIRE(open_ctx(&c, UNIFIED_MODE_KICK, 32, 16, 0) == 0, "open");
	sqr = unified_region(c.ctx);
	cqr = (void *)((uint8_t *)sqr + c.reg.offsets.cq_ring);
	/* consumer ahead of the producer */
	__atomic_store_n(&sqr->consumer, sqr->producer + 64, __ATOMIC_RELEASE);
	unified_sq_init(c.ctx, &c.sq);
	n = unified_sq_reserve(&c.sq, 96, &idx);
	CHECK(n == 0, "reserve(96) on a 32-entry ring returned %u", n);
	CHECK(unified_sq_nb_free(&c.sq, 1) <= 32, "nb_free %u", unified_sq_nb_free(&c.sq, 1));
	/* a producer 2^31 ahead */
	__atomic_store_n(&cqr->producer, cqr->consumer + (1u << 31), __ATOMIC_RELEASE);
	unified_cq_init(c.ctx, &c.cq);
	n = unified_cq_peek(&c.cq, UINT32_MAX, &idx);
	CHECK(n <= 16, "peek returned %u entries of a 16-entry ring", n);
	while ((n = unified_cq_peek(&c.cq, 8, &idx)) && loops < 100000) {
		unified_cq_release(&c.cq, n);
		loops++;
	}
	CHECK(loops < 100000, "a peek/release loop did not end");
	/* put sane indices back so teardown is clean */
	__atomic_store_n(&cqr->producer, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&cqr->consumer, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&sqr->consumer, sqr->producer, __ATOMIC_RELEASE);
	th_close(&c);
}

/* usage: PROGRAM [SUBSTRING]: only the cases whose name contains it */
int main(int argc, char **argv)
{
	harness_args(argc, argv);
	RUN(t_item2_fork_child_cannot_take_parent_io);
	RUN(t_item2_raw_fork_child_refused);
	RUN(t_item2_every_call_refused_in_child);
	RUN(t_item2_child_unregister_leaves_child_memory);
	RUN(t_item2_region_not_inherited);
	RUN(t_item3_enter_returns_eintr);
	RUN(t_item4b_shared_flag_cannot_strand_engine);
	RUN(t_item4c_full_cq_without_kick);
	RUN(t_item5_bad_user_memory_is_efault);
	RUN(t_item5_failed_registration_writes_nothing);
	RUN(t_item5_failed_default_leaves_no_directory);
	RUN(t_item5_concurrent_default_registrations);
	RUN(t_item7_zero_counts_refused);
	RUN(t_item8_errmsg_is_the_latest_failure);
	RUN(t_item8_thread_mode_reports_corrupt_sq);
	RUN(t_item8_submit_errors_surface);
	RUN(t_item9_dsm_ranges_read_once);
	RUN(t_item11_engine_thread_blocks_signals);
	RUN(t_item11_kernel_engine_probe_is_real);
	RUN(t_item11_user_engine_option_has_effect);
	RUN(t_item12_ring_helpers_clamp);
	return harness_done();
}
