/* SPDX-License-Identifier: MIT */
/*
 * Regression cases of the network rings' review: each one failed before
 * its fix (the numbers are the review's).  Loopback in a private network
 * namespace; root, else every case skips.
 *
 *   1  an NVMe command the target retried (-EBUSY) kept its buffer counted
 *   2  COMPLETION entries waiting for room overflowed their array (ASan)
 *   3  thread mode: the engine thread spun while FILL was dry
 *   4  kick mode: unified_enter() slept past a CQE it had written
 *   5  an accepted socket parked for RX room was never closed
 *   6  kick mode: receives that found the io_uring SQ full waited for the
 *      next call
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include "helpers.h"

static bool have_netns;

struct rt {
	struct th_ctx c;
	struct io_unified_net_reg nr;
	struct unified_net_rings r;
};

static int rt_open(struct rt *t, uint32_t mode, uint32_t nbuf, uint32_t bufsz, uint32_t fill,
		   uint32_t rx, uint32_t tx, uint32_t comp)
{
	struct th_opts o = { 0 };

	memset(&t->nr, 0, sizeof(t->nr));
	t->nr = (struct io_unified_net_reg){ .fill_entries = fill, .rx_entries = rx, .tx_entries = tx,
					     .comp_entries = comp, .max_conns = 1024 };
	o.nbuf = nbuf;
	o.bufsz = bufsz;
	o.mode = mode;
	o.net = &t->nr;
	o.file_size = 64ull << 20;
	if (th_open(&t->c, &o) || unified_net_rings_init(t->c.ctx, &t->r))
		return -1;
	return 0;
}

static void fill_put(struct rt *t, uint64_t off)
{
	uint32_t idx;

	if (unified_ring_reserve(&t->r.fill, 1, &idx)) {
		*unified_fill_addr(&t->r.fill, idx) = off;
		unified_ring_submit(&t->r.fill, 1);
	}
}

static bool tx_put(struct rt *t, uint64_t addr, uint32_t len, uint32_t conn)
{
	struct io_unified_net_desc *d;
	uint32_t idx;

	if (!unified_ring_reserve(&t->r.tx, 1, &idx))
		return false;
	d = unified_net_desc(&t->r.tx, idx);
	memset(d, 0, sizeof(*d));
	d->addr = addr;
	d->len = len;
	d->conn = conn;
	unified_ring_submit(&t->r.tx, 1);
	return true;
}

/* A plain listening socket on 127.0.0.1 (its address in @a). */
static int plain_server(struct sockaddr_in *a, int rcvbuf)
{
	socklen_t l = sizeof(*a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (rcvbuf)
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (s < 0 || bind(s, (struct sockaddr *)a, sizeof(*a)) || listen(s, 1024) ||
	    getsockname(s, (struct sockaddr *)a, &l)) {
		if (s >= 0)
			close(s);
		return -1;
	}
	return s;
}

#define NEED_NETNS() do { if (!have_netns) SKIP("needs root for a private network namespace"); } while (0)

/* 1: four Compares on one buffer (the emulated target has two compare
 * slots, so some are retried); once all completed, FILL must take it. */
static void t_busy_retry_releases_buffer(void)
{
	struct rt t;
	struct io_unified_sqe s[4];
	struct io_unified_cqe cq[4];
	uint32_t i, idx;

	NEED_NETNS();
	REQUIRE(!rt_open(&t, UNIFIED_MODE_KICK, 8, 65536, 8, 64, 8, 8), "registration");
	for (i = 0; i < 4; i++) {
		unified_prep_nvme(&s[i], IO_UNIFIED_NVME_CMD_COMPARE, t.c.nsid, 0, t.c.lba, 100 + i);
		s[i].nvme_cmd.cdw10 = i;
	}
	REQUIRE(!th_submit(&t.c, s, 4), "submit");
	CHECK(th_reap(&t.c, cq, 4) == 4, "4 Compare completions");
	fill_put(&t, 0);
	unified_kick(t.c.ctx);
	CHECK(unified_ring_peek(&t.r.rx, 4, &idx) == 0, "FILL of the idle buffer was refused");
	th_close(&t.c);
}

/* 2: sends in flight while COMPLETION (1 slot) fills with refusals: with
 * the reservation no TX entry is taken without a slot (ASan build: no
 * overflow), and every entry still completes once room is made. */
static void t_completion_room_reserved(void)
{
	struct rt t;
	struct sockaddr_in a;
	uint32_t conn, idx, got = 0, k;
	int srv = plain_server(&a, 4096), peer;
	bool last;
	static char b[1 << 16];

	NEED_NETNS();
	REQUIRE(srv >= 0, "server");
	REQUIRE(!rt_open(&t, UNIFIED_MODE_KICK, 8, 1 << 20, 8, 64, 1, 1), "registration");
	REQUIRE(!unified_net_connect(t.c.ctx, SOCK_STREAM, (struct sockaddr *)&a, sizeof(a), 1, &conn),
		"connect");
	peer = accept(srv, NULL, NULL);
	fcntl(peer, F_SETFL, fcntl(peer, F_GETFL) | O_NONBLOCK);
	/* TX and COMPLETION hold one entry each: one step at a time */
	tx_put(&t, 0, 1 << 20, conn);		/* stays in flight: the peer does not read */
	for (k = 0; k < 10; k++) {
		unified_kick(t.c.ctx);
		usleep(2000);
	}
	tx_put(&t, 0, 0, 0xdead0000u);		/* refused: fills COMPLETION */
	for (k = 0; k < 10; k++) {
		unified_kick(t.c.ctx);
		usleep(2000);
	}
	last = tx_put(&t, 0, 0, 0xdead0000u);	/* refused: no room for its entry */
	for (k = 0; k < 10; k++) {
		unified_kick(t.c.ctx);
		usleep(2000);
	}
	for (k = 0; k < 2000 && got < 3; k++) {
		while (recv(peer, b, sizeof(b), 0) > 0) {
			/* drain */
		}
		if (!last)	/* the TX ring (1 entry) had no room for it yet */
			last = tx_put(&t, 0, 0, 0xdead0000u);
		unified_enter(t.c.ctx, 1, 5);
		if (unified_ring_peek(&t.r.comp, 1, &idx)) {
			unified_ring_release(&t.r.comp, 1);
			got++;
		}
	}
	CHECK(got == 3, "%u of 3 COMPLETION entries", got);
	close(peer);
	close(srv);
	th_close(&t.c);
}

/* 3: thread mode, a connection waiting for FILL: the engine thread sleeps. */
static void t_thread_sleeps_while_fill_dry(void)
{
	struct rt t;
	struct sockaddr_in a;
	uint32_t conn;
	int srv = plain_server(&a, 0), peer, tids[8], n;
	long t0, t1;

	NEED_NETNS();
	REQUIRE(srv >= 0, "server");
	REQUIRE(!rt_open(&t, UNIFIED_MODE_THREAD, 8, 65536, 8, 64, 8, 8), "registration");
	REQUIRE(!unified_net_connect(t.c.ctx, SOCK_STREAM, (struct sockaddr *)&a, sizeof(a), 1, &conn),
		"connect");
	peer = accept(srv, NULL, NULL);
	REQUIRE(send(peer, "x", 1, 0) == 1, "send");	/* data waits: no FILL buffer */
	usleep(100000);
	n = th_engine_threads(tids, 8);
	REQUIRE(n >= 1, "no engine thread found");
	t0 = th_task_ticks(tids[0]);
	usleep(1000000);
	t1 = th_task_ticks(tids[0]);
	printf("  engine thread: %ld ticks in 1 s with FILL dry\n", t1 - t0);
	CHECK(t0 >= 0 && t1 - t0 < 30, "the engine thread used %ld ticks in 1 s (spinning)", t1 - t0);
	close(peer);
	close(srv);
	th_close(&t.c);
}

/* 4: a command refused inside the pass (its buffer is FILL's) while a
 * listener waits: unified_enter() returns its CQE at once. */
static void t_enter_returns_written_cqe(void)
{
	struct rt t;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct io_unified_sqe s;
	uint32_t lid, idx;
	uint64_t t0;
	int r;

	NEED_NETNS();
	REQUIRE(!rt_open(&t, UNIFIED_MODE_KICK, 8, 65536, 8, 64, 8, 8), "registration");
	fill_put(&t, 0);
	REQUIRE(!unified_net_listen(t.c.ctx, SOCK_STREAM, (struct sockaddr *)&a, sizeof(a), 1, &lid),
		"listen");
	th_prep_write(&t.c, &s, 0, 1, 0, 7);
	REQUIRE(!th_queue(&t.c, &s, 1), "queue");
	t0 = th_now_ns();
	r = unified_enter(t.c.ctx, 1, 3000);
	CHECK(r == 1 && th_now_ns() - t0 < 1000000000ull, "unified_enter: %d after %.3f s", r,
	      (th_now_ns() - t0) / 1e9);
	CHECK(unified_cq_peek(&t.c.cq, 1, &idx) == 1, "no CQE");
	th_close(&t.c);
}

/* 5: RX of one entry, two clients: the second accepted socket waits for RX
 * room; unregistering closes it (its client sees the close). */
static void t_parked_accept_closed(void)
{
	struct rt t;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	struct pollfd p;
	uint32_t lid;
	int c1, c2, i;

	NEED_NETNS();
	REQUIRE(!rt_open(&t, UNIFIED_MODE_KICK, 8, 65536, 8, 1, 8, 8), "registration");
	REQUIRE(!unified_net_listen(t.c.ctx, SOCK_STREAM, (struct sockaddr *)&a, sizeof(a), 1, &lid) &&
		!unified_net_local_addr(t.c.ctx, lid, (struct sockaddr *)&a, &l), "listen");
	c1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	REQUIRE(!connect(c1, (struct sockaddr *)&a, sizeof(a)) &&
		!connect(c2, (struct sockaddr *)&a, sizeof(a)), "connect");
	for (i = 0; i < 20; i++) {
		unified_kick(t.c.ctx);
		usleep(5000);
	}
	th_close(&t.c);
	p = (struct pollfd){ .fd = c2, .events = POLLIN };
	CHECK(poll(&p, 1, 1000) == 1, "client 2's socket was not closed (leaked accepted socket)");
	p.fd = c1;
	CHECK(poll(&p, 1, 1000) == 1, "client 1's socket was not closed");
	close(c1);
	close(c2);
}

/* 6: 600 connections get their receives in one pass, more than the
 * io_uring SQ holds: data on the last one arrives in the first enter. */
static void t_receives_past_a_full_sq(void)
{
	enum { N = 600 };
	struct rt t;
	struct sockaddr_in a;
	static uint32_t conn[N];
	static int peer[N];
	struct rlimit rl = { 8192, 8192 };
	uint32_t idx, i, n = 0;
	int srv;

	NEED_NETNS();
	setrlimit(RLIMIT_NOFILE, &rl);
	srv = plain_server(&a, 0);
	REQUIRE(srv >= 0, "server");
	REQUIRE(!rt_open(&t, UNIFIED_MODE_KICK, 1024, 4096, 1024, 4096, 8, 8), "registration");
	for (i = 0; i < N; i++) {
		REQUIRE(!unified_net_connect(t.c.ctx, SOCK_STREAM, (struct sockaddr *)&a, sizeof(a), i,
					     &conn[i]), "connect %u: %s", i, unified_errmsg());
		peer[i] = accept(srv, NULL, NULL);
	}
	for (i = 0; i < N; i++)
		fill_put(&t, (uint64_t)i * 4096);
	REQUIRE(send(peer[N - 1], "hello", 5, 0) == 5, "send");
	for (i = 0; i < 3 && !n; i++) {
		unified_enter(t.c.ctx, 1, 3000);
		n = unified_ring_peek(&t.r.rx, 16, &idx);
		CHECK(n || i > 0, "the first unified_enter() returned without the data");
	}
	CHECK(n == 1, "%u RX entries", n);
	for (i = 0; i < N; i++)
		close(peer[i]);
	close(srv);
	th_close(&t.c);
}

/* 7 (second review): a connection closed while it waited for FILL (no
 * receive posted) kept its slot: with max_conns 1, listening again failed. */
static void t_closed_slot_is_freed(void)
{
	struct th_ctx c;
	struct th_opts o = { 0 };
	struct io_unified_net_reg nr = { .max_conns = 1 };
	struct unified_net_rings r;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint32_t conn, idx, n;
	uint64_t end;

	NEED_NETNS();
	o.nbuf = 16;
	o.bufsz = 4096;
	o.net = &nr;
	REQUIRE(!th_open(&c, &o) && !unified_net_rings_init(c.ctx, &r), "registration");
	REQUIRE(!unified_net_listen(c.ctx, SOCK_DGRAM, (struct sockaddr *)&a, sizeof(a), 1, &conn),
		"listen: %s", unified_errmsg());
	unified_enter(c.ctx, 1, 20);	/* no FILL: it waits with no receive posted */
	REQUIRE(!unified_net_close(c.ctx, conn), "close");
	for (end = th_now_ns() + 200000000ull; th_now_ns() < end;)
		unified_enter(c.ctx, 1, 10);
	n = unified_ring_peek(&r.rx, 8, &idx);
	CHECK(n == 1 && (unified_net_desc(&r.rx, idx)->flags & IO_UNIFIED_NET_RX_CLOSED), "CLOSED entry");
	unified_ring_release(&r.rx, n);
	CHECK(!unified_net_listen(c.ctx, SOCK_DGRAM, (struct sockaddr *)&a, sizeof(a), 2, &conn),
	      "listen again with max_conns 1: %s", unified_errmsg());
	th_close(&c);
}

int main(int argc, char **argv)
{
	harness_args(argc, argv);
	if (geteuid() == 0 && !unshare(CLONE_NEWNET)) {
		struct ifreq ifr = { 0 };
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
		if (fd >= 0 && !ioctl(fd, SIOCGIFFLAGS, &ifr)) {
			ifr.ifr_flags |= IFF_UP;
			have_netns = !ioctl(fd, SIOCSIFFLAGS, &ifr);
		}
		if (fd >= 0)
			close(fd);
	}
	RUN(t_busy_retry_releases_buffer);
	RUN(t_completion_room_reserved);
	RUN(t_thread_sleeps_while_fill_dry);
	RUN(t_enter_returns_written_cqe);
	RUN(t_parked_accept_closed);
	RUN(t_receives_past_a_full_sq);
	RUN(t_closed_slot_is_freed);
	return harness_done();
}
