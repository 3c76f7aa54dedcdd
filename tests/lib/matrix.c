/* SPDX-License-Identifier: MIT */
/*
 * The target matrix of tests/target: every case on file512, file4096 (a
 * regular file with 512- or 4096-byte LBAs, created by the library),
 * loop512 and loop4096 (a loop device with direct I/O), in kick and thread
 * mode.  Loop devices are detached at the end, also on failure, on a
 * signal, on the watchdog and, in ASan builds, when the sanitizer ends the
 * program.
 */
#include <signal.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include "helpers.h"

#define CASE_SECS 120		/* watchdog per case */

struct th_target th_targets[4] = {
	{ .name = "file512",  .kind = TH_FILE, .lba_size = 512 },
	{ .name = "file4096", .kind = TH_FILE, .lba_size = 4096 },
	{ .name = "loop512",  .kind = TH_LOOP, .lba_size = 512 },
	{ .name = "loop4096", .kind = TH_LOOP, .lba_size = 4096 },
};
#define NTARGETS (sizeof(th_targets) / sizeof(th_targets[0]))

const struct th_target *th_cur;
uint32_t th_mode;
int th_immutable_fd = -1;

/* Also read by the signal handler: fixed arrays only. */
static char case_name[160];
static const struct th_case *cur_case;
static struct th_target *setup_target;

struct th_opts th_case_opts(void)
{
	struct th_opts o = { .target = th_cur, .mode = th_mode };

	return o;
}

/* Undo a test's chattr +i, detach loop devices, remove the files.  Safe in
 * a signal handler (open/ioctl/close/unlink/rmdir only). */
static void cleanup_signal_safe(void)
{
	size_t i;

	if (th_immutable_fd >= 0) {
		int fl = 0;

		if (!ioctl(th_immutable_fd, FS_IOC_GETFLAGS, &fl)) {
			fl &= ~FS_IMMUTABLE_FL;
			ioctl(th_immutable_fd, FS_IOC_SETFLAGS, &fl);
		}
		th_immutable_fd = -1;
	}
	for (i = 0; i < NTARGETS; i++) {
		struct th_target *t = &th_targets[i];

		th_loop_detach_signal_safe(t);
		if (t->kind == TH_FILE && t->path[0])
			unlink(t->path);
	}
	if (th_tmpdir())
		rmdir(th_tmpdir());
}

static void cleanup(void)
{
	size_t i;

	for (i = 0; i < NTARGETS; i++)
		th_loop_detach(&th_targets[i]);
	cleanup_signal_safe();
}

static void write_str(const char *s)
{
	ssize_t r = write(STDOUT_FILENO, s, strlen(s));

	(void)r;
}

static void on_signal(int sig)
{
	write_str("FAIL: ");
	write_str(case_name);
	if (sig == SIGALRM)
		write_str(": watchdog: the case did not finish in time (hang?)\n");
	else if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGABRT)
		write_str(": crashed\n");
	else
		write_str(": killed by a signal\n");
	cleanup_signal_safe();
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

/* Runs the case body in a fresh context, then checks the entries and
 * completions accounting and unregisters. */
static void trampoline(void)
{
	struct th_opts o = th_case_opts();
	struct th_ctx c;
	int ret;

	if (cur_case->own_ctx) {
		memset(&c, 0, sizeof(c));
		c.raw_fd = -1;
		cur_case->body(&c);
		th_close(&c);
		return;
	}
	ret = th_open(&c, &o);
	REQUIRE(ret == 0, "unified_register(%s): %s (%s)", th_cur->path, strerror(-ret),
		unified_errmsg());
	CHECK(c.info.lba_size == th_cur->lba_size && c.nlba == TH_DEV_BYTES / th_cur->lba_size,
	      "geometry %u x %" PRIu64 ", expected %u x %llu", c.info.lba_size, c.nlba,
	      th_cur->lba_size, TH_DEV_BYTES / th_cur->lba_size);
	cur_case->body(&c);
	th_check_accounting(&c);
	ret = th_close(&c);
	CHECK(ret == 0, "unified_unregister: %s", strerror(-ret));
}

/* Per-target set-up as a case of its own ("file512/setup"). */
static void setup_case(void)
{
	struct th_target *t = setup_target;
	struct th_opts o = { .target = t, .mode = UNIFIED_MODE_KICK };
	struct th_ctx c;
	struct stat st;
	int r;

	if (t->kind == TH_LOOP) {
		NEED(th_loop_attach(t));
	} else {
		NEED(th_need_tmpdir());
		REQUIRE(snprintf(t->path, sizeof(t->path), "%s/%s.img", th_tmpdir(), t->name) <
			(int)sizeof(t->path), "test directory path too long");
	}
	/* First registration: for files this creates the namespace file. */
	r = th_open(&c, &o);
	REQUIRE(r == 0, "unified_register(%s): %s (%s)", t->path, strerror(-r), unified_errmsg());
	CHECK(c.info.kind == (t->kind == TH_FILE ? UNIFIED_TARGET_FILE : UNIFIED_TARGET_BLOCK),
	      "target kind %u", c.info.kind);
	CHECK(c.info.lba_size == t->lba_size, "lba_size %u, expected %u", c.info.lba_size, t->lba_size);
	CHECK((1u << c.info.lba_shift) == t->lba_size, "lba_shift %u", c.info.lba_shift);
	CHECK(c.info.nlba == TH_DEV_BYTES / t->lba_size, "nlba %" PRIu64 ", expected %llu",
	      (uint64_t)c.info.nlba, TH_DEV_BYTES / t->lba_size);
	CHECK(c.info.nsid == 1, "nsid %u", c.info.nsid);
	CHECK(c.info.max_xfer == TH_MAX_XFER, "max_xfer %u", c.info.max_xfer);
	CHECK(!strcmp(c.info.path, t->path), "info.path '%s' != '%s'", c.info.path, t->path);
	CHECK(!strcmp(c.info.engine, "user"), "engine '%s'", c.info.engine);
	th_close(&c);
	if (t->kind == TH_FILE) {
		REQUIRE(!stat(t->path, &st), "stat %s: %s", t->path, strerror(errno));
		CHECK((uint64_t)st.st_size == TH_DEV_BYTES, "created file has %lld bytes",
		      (long long)st.st_size);
	}
	t->ready = !h_case_failed;
}

static const char *mode_name(uint32_t mode)
{
	return mode == UNIFIED_MODE_THREAD ? "thread" : "kick";
}

/* Signals, memlock limit, seed, test directory; prints the header lines. */
static void prepare(const char *prog)
{
	static const int sigs[] = {
		SIGINT, SIGTERM, SIGHUP, SIGALRM, SIGQUIT, SIGPIPE,
#if !defined(__SANITIZE_ADDRESS__)
		/* sanitizer builds keep their own handlers (death callback below) */
		SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT,
#endif
	};
	const char *seed_env = getenv("UNIFIED_TEST_SEED");
	struct sigaction sa;
	struct rlimit rl;
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Fixed buffers are locked memory: use all the limit we are allowed. */
	if (!getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &rl);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	if (seed_env && *seed_env)
		th_seed = strtoull(seed_env, NULL, 0);
	printf("# %s: seed 0x%" PRIx64 " (UNIFIED_TEST_SEED)\n", prog, th_seed);
	snprintf(case_name, sizeof(case_name), "setup");
	/* The directory first: its removal at exit then runs after cleanup(). */
	if (th_need_tmpdir() == 0)
		printf("# test directory %s (deallocation %s)\n", th_tmpdir(),
		       th_holes_ok() ? "checked with FIEMAP" : "not checked: no FIEMAP");
	else
		printf("# no test directory: %s\n", th_why());
	atexit(cleanup);
#if defined(__SANITIZE_ADDRESS__)
	__sanitizer_set_death_callback(cleanup_signal_safe);
#endif
}

/* Is any case of @t selected by @filter? */
static bool target_selected(const struct th_target *t, const struct th_case *cases, size_t ncases,
			    const char *filter)
{
	char name[160];
	size_t k, m;

	for (m = 0; m < 2; m++)
		for (k = 0; k < ncases; k++) {
			snprintf(name, sizeof(name), "%s/%s/%s", t->name, mode_name((uint32_t)m),
				 cases[k].name);
			if (!filter || strstr(name, filter))
				return true;
		}
	return false;
}

int th_main(int argc, char **argv, const struct th_case *cases, size_t ncases)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	size_t i, k, m;

	prepare(argv[0]);
	for (i = 0; i < NTARGETS; i++) {
		struct th_target *t = &th_targets[i];

		/* Set up a target only if one of its cases is selected. */
		if (!target_selected(t, cases, ncases, filter))
			continue;
		snprintf(case_name, sizeof(case_name), "%s/setup", t->name);
		setup_target = t;
		alarm(CASE_SECS);
		h_run(case_name, setup_case);
		alarm(0);
		if (!t->ready)
			continue;
		if (t->loopdev[0])
			printf("# %s is %s (backing file %s)\n", t->name, t->loopdev, t->backing);
		th_cur = t;
		for (m = 0; m < 2; m++) {
			th_mode = (uint32_t)m;
			for (k = 0; k < ncases; k++) {
				snprintf(case_name, sizeof(case_name), "%s/%s/%s", t->name,
					 mode_name(th_mode), cases[k].name);
				if (filter && !strstr(case_name, filter))
					continue;
				cur_case = &cases[k];
				alarm(CASE_SECS);
				h_run(case_name, trampoline);
				alarm(0);
			}
		}
	}
	snprintf(case_name, sizeof(case_name), "cleanup");
	cleanup();
	printf("# %d passed, %d failed, %d skipped\n", h_passed_total, h_failed_total, h_skipped_total);
	return harness_done();
}
