/* SPDX-License-Identifier: MIT */
/*
 * The AF_XDP provider on a real veth pair (copy mode: veth has no AF_XDP
 * zero-copy): UDP datagrams to the chosen port arrive as RX entries
 * pointing at their payload inside region buffers, content checked; a
 * datagram to another port still reaches an ordinary socket (the XDP
 * program steers one port only, so ARP and the rest keep working); the
 * socket's drops are counted.  Needs root; skips, saying why, otherwise
 * or when the library was built without libxdp.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include "helpers.h"

#define PORT	9777
#define NDGRAM	1000
#define DSIZE	1000

static char ns[64];
static bool have_veth;

static void setup(void)
{
	char cmd[768];

	if (geteuid() != 0 || unshare(CLONE_NEWNET))
		return;
	snprintf(ns, sizeof(ns), "uxdp-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "ip link set lo up && ip netns add %s && ip link add ux0 type veth peer name ux1 netns %s && "
		 "ip addr add 10.203.0.1/24 dev ux0 && ip link set ux0 up && "
		 "ip -n %s addr add 10.203.0.2/24 dev ux1 && ip -n %s link set ux1 up",
		 ns, ns, ns, ns);
	have_veth = system(cmd) == 0;
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns);
	if (ns[0] && system(cmd)) {
		/* gone with the process anyway */
	}
}

static uint8_t dbyte(uint32_t k, uint32_t i)
{
	return (uint8_t)(k * 31 + i * 7 + (i >> 8));
}

struct udp_sender {
	pthread_t th;
	uint16_t port;
	uint32_t count;
	int err;
};

static void *udp_send(void *arg)
{
	struct udp_sender *s = arg;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(s->port) };
	uint8_t buf[DSIZE];
	char p[128];
	int fd, nfd;

	snprintf(p, sizeof(p), "/run/netns/%s", ns);
	nfd = open(p, O_RDONLY | O_CLOEXEC);
	if (nfd < 0 || setns(nfd, CLONE_NEWNET)) {
		s->err = errno;
		return NULL;
	}
	close(nfd);
	inet_pton(AF_INET, "10.203.0.1", &to.sin_addr);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (uint32_t k = 0; k < s->count; k++) {
		memcpy(buf, &k, 4);
		for (uint32_t i = 4; i < DSIZE; i++)
			buf[i] = dbyte(k, i);
		if (sendto(fd, buf, DSIZE, 0, (struct sockaddr *)&to, sizeof(to)) != DSIZE)
			s->err = errno;
		if (k % 32 == 31)
			usleep(500);	/* paced: content is checked, not drops */
	}
	close(fd);
	return NULL;
}

static void t_xdp_udp_copy_mode_on_veth(void)
{
	struct th_ctx c;
	struct th_opts o = { 0 };
	struct io_unified_net_reg nr = { .fill_entries = 1024, .rx_entries = 1024, .tx_entries = 8,
					  .comp_entries = 8 };
	struct unified_net_rings r;
	struct udp_sender s = { .port = PORT, .count = NDGRAM };
	struct unified_net_stats st;
	static uint8_t seen[NDGRAM];
	uint32_t conn, idx, i, got = 0, refilled = 0;
	uint64_t deadline;
	const char *mode;
	int ret;

	if (!have_veth)
		SKIP("needs root and iproute2 for a veth pair in a second network namespace");
	o.nbuf = 1024;
	o.bufsz = 4096;
	o.net = &nr;
	REQUIRE(!th_open(&c, &o), "registration");
	REQUIRE(!unified_net_rings_init(c.ctx, &r), "rings");
	ret = unified_net_xdp_bind(c.ctx, "ux0", 0, PORT, 42, &conn);
	if (ret == -EOPNOTSUPP) {
		th_close(&c);
		SKIP("%s", unified_errmsg());
	}
	REQUIRE(!ret, "unified_net_xdp_bind: %s", unified_errmsg());
	mode = unified_net_xdp_mode(c.ctx);
	printf("  %s\n", mode ? mode : "(no mode line)");
	CHECK(mode && strstr(mode, "copy mode"), "veth should give copy mode: %s", mode ? mode : "");
	for (i = 0; i < 1024; i++) {	/* every buffer to FILL */
		REQUIRE(unified_ring_reserve(&r.fill, 1, &idx) == 1, "FILL full");
		*unified_fill_addr(&r.fill, idx) = (uint64_t)i * 4096;
		unified_ring_submit(&r.fill, 1);
	}
	unified_kick(c.ctx);
	REQUIRE(!pthread_create(&s.th, NULL, udp_send, &s), "sender");
	deadline = th_now_ns() + 20ull * 1000000000ull;
	while (got < NDGRAM && th_now_ns() < deadline && !h_case_failed) {
		uint32_t n;

		unified_enter(c.ctx, 1, 50);
		n = unified_ring_peek(&r.rx, 256, &idx);
		for (i = 0; i < n; i++) {
			const struct io_unified_net_desc *d = unified_net_desc(&r.rx, idx + i);
			const uint8_t *p = c.buf + d->addr;
			uint32_t k, j;

			REQUIRE(d->conn == conn && d->user_data == 42 && d->len == DSIZE &&
				!(d->flags & IO_UNIFIED_NET_RX_MORE), "entry: conn %#x ud %" PRIu64 " len %u "
				"flags %#x", d->conn, (uint64_t)d->user_data, d->len, d->flags);
			CHECK(d->peer_family == AF_INET && d->peer_addr[3] == 2, "sender address");
			memcpy(&k, p, 4);
			REQUIRE(k < NDGRAM && !seen[k], "datagram %u unknown or twice", k);
			seen[k] = 1;
			for (j = 4; j < DSIZE; j++)
				if (p[j] != dbyte(k, j)) {
					CHECK(0, "datagram %u byte %u differs", k, j);
					break;
				}
			got++;
			/* the buffer is ours again: back to FILL */
			{
				uint32_t fidx;

				if (unified_ring_reserve(&r.fill, 1, &fidx)) {
					*unified_fill_addr(&r.fill, fidx) = d->addr & ~4095ull;
					unified_ring_submit(&r.fill, 1);
					refilled++;
				}
			}
		}
		if (n) {
			unified_ring_release(&r.rx, n);
			unified_kick(c.ctx);
		}
	}
	pthread_join(s.th, NULL);
	CHECK(!s.err, "sender: %s", strerror(s.err));
	REQUIRE(!unified_net_get_stats(c.ctx, &st), "stats");
	printf("  %u of %u datagrams received (%u buffers refilled), %" PRIu64 " dropped\n", got, NDGRAM,
	       refilled, st.udp_dropped);
	CHECK(got + st.udp_dropped >= NDGRAM && got > NDGRAM / 2,
	      "%u received + %" PRIu64 " dropped of %u", got, st.udp_dropped, NDGRAM);
	CHECK(st.copied_bytes == 0, "copies");
	CHECK(th_close(&c) == 0, "unregister: %s", unified_errmsg());
}

/* Other ports stay with the kernel while the program is attached. */
static void t_xdp_other_port_reaches_kernel(void)
{
	struct th_ctx c;
	struct th_opts o = { 0 };
	struct io_unified_net_reg nr = { 0 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT + 1) };
	struct udp_sender s = { .port = PORT + 1, .count = 5 };
	struct timeval tv = { 5, 0 };
	uint8_t buf[DSIZE];
	uint32_t conn;
	int fd, ret;

	if (!have_veth)
		SKIP("needs root and iproute2 for a veth pair in a second network namespace");
	o.nbuf = 64;
	o.bufsz = 4096;
	o.net = &nr;
	REQUIRE(!th_open(&c, &o), "registration");
	ret = unified_net_xdp_bind(c.ctx, "ux0", 0, PORT, 1, &conn);
	if (ret == -EOPNOTSUPP) {
		th_close(&c);
		SKIP("%s", unified_errmsg());
	}
	REQUIRE(!ret, "bind: %s", unified_errmsg());
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	inet_pton(AF_INET, "10.203.0.1", &a.sin_addr);
	REQUIRE(!bind(fd, (struct sockaddr *)&a, sizeof(a)), "bind plain socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	REQUIRE(!pthread_create(&s.th, NULL, udp_send, &s), "sender");
	CHECK(recv(fd, buf, sizeof(buf), 0) == DSIZE, "a datagram to another port did not reach its socket");
	pthread_join(s.th, NULL);
	close(fd);
	CHECK(unified_net_xdp_bind(c.ctx, "ux0", 0, PORT, 1, &conn) == -EBUSY, "a second bind");
	th_close(&c);
}

/* Datagrams into the namespace: @raw sends UDP headers whose length field
 * claims 65535 bytes (malformed), else ordinary datagrams of 100 bytes. */
struct burst {
	int raw;
	uint32_t count;
	int err;
};

static void *burst_send(void *arg)
{
	struct burst *b = arg;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	uint8_t buf[100];
	char p[128];
	int fd, nfd;

	snprintf(p, sizeof(p), "/run/netns/%s", ns);
	nfd = open(p, O_RDONLY | O_CLOEXEC);
	if (nfd < 0 || setns(nfd, CLONE_NEWNET)) {
		b->err = errno;
		return NULL;
	}
	close(nfd);
	inet_pton(AF_INET, "10.203.0.1", &to.sin_addr);
	fd = b->raw ? socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP) :
		      socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (uint32_t k = 0; fd >= 0 && k < b->count; k++) {
		memset(buf, 0xab, sizeof(buf));
		if (b->raw) {
			uint16_t h[4] = { htons(40000), htons(PORT), htons(0xffff), 0 };

			memcpy(buf, h, sizeof(h));
			to.sin_port = 0;
		}
		if (sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&to, sizeof(to)) != sizeof(buf))
			b->err = errno;
		usleep(2000);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void burst(int raw, uint32_t count)
{
	struct burst b = { raw, count, 0 };
	pthread_t th;

	if (!pthread_create(&th, NULL, burst_send, &b))
		pthread_join(th, NULL);
}

static void pump(struct th_ctx *c, int ms)
{
	uint64_t end = th_now_ns() + (uint64_t)ms * 1000000ull;

	while (th_now_ns() < end)
		unified_enter(c->ctx, 1, 10);
}

/* A context of 64 4 KiB buffers with an AF_XDP socket on ux0 (port PORT,
 * user_data 7): 0, TH_SKIP (no veth, or built without libxdp) or -errno. */
static int xdp_open(struct th_ctx *c, struct io_unified_net_reg *nr, struct unified_net_rings *r,
		    uint32_t mode, uint32_t *conn)
{
	struct th_opts o = { 0 };
	int ret;

	if (!have_veth)
		return th_skip("needs root and iproute2 for a veth pair in a second network namespace");
	*nr = (struct io_unified_net_reg){ .fill_entries = 64, .rx_entries = 8, .tx_entries = 8,
					   .comp_entries = 8 };
	o.nbuf = 64;
	o.bufsz = 4096;
	o.mode = mode;
	o.net = nr;
	if (th_open(c, &o) || unified_net_rings_init(c->ctx, r))
		return th_fail(-EINVAL, "registration");
	ret = unified_net_xdp_bind(c->ctx, "ux0", 0, PORT, 7, conn);
	if (ret) {
		ret = ret == -EOPNOTSUPP ? th_skip("%s", unified_errmsg()) :
		      th_fail(ret, "bind: %s", unified_errmsg());
		th_close(c);
	}
	return ret;
}

/* Review finding 1: frames of refused (malformed) datagrams went to the
 * pool but not back to the kernel, and the socket starved: 16 malformed
 * datagrams on 16 frames, then good ones must still arrive. */
static void t_xdp_malformed_datagrams_do_not_starve(void)
{
	struct th_ctx c;
	struct io_unified_net_reg nr;
	struct unified_net_rings r;
	uint32_t conn, idx, i, n, got = 0;

	NEED(xdp_open(&c, &nr, &r, UNIFIED_MODE_KICK, &conn));
	for (i = 0; i < 16; i++) {
		REQUIRE(unified_ring_reserve(&r.fill, 1, &idx) == 1, "FILL");
		*unified_fill_addr(&r.fill, idx) = (uint64_t)i * 4096;
		unified_ring_submit(&r.fill, 1);
	}
	unified_kick(c.ctx);
	pump(&c, 50);
	burst(1, 16);
	pump(&c, 200);
	burst(0, 8);
	pump(&c, 300);
	n = unified_ring_peek(&r.rx, 64, &idx);
	for (i = 0; i < n; i++)
		if (unified_net_desc(&r.rx, idx + i)->len == 100)
			got++;
	unified_ring_release(&r.rx, n);
	CHECK(got == 8, "%u of 8 good datagrams after 16 malformed ones", got);
	th_close(&c);
}

/* Review findings 2-4: closing the AF_XDP socket finishes (CLOSED entry,
 * slot freed, program detached: a new bind works), the frames it held
 * come back to the receive side, and unregistering does not wait for the
 * drain timeout. */
static void close_and_rebind(uint32_t mode)
{
	struct th_ctx c;
	struct io_unified_net_reg nr;
	struct unified_net_rings r;
	struct unified_net_stats st;
	uint32_t conn, idx, i, n, closed = 0;
	uint64_t t0;
	int ret;

	NEED(xdp_open(&c, &nr, &r, mode, &conn));
	for (i = 0; i < 32; i++) {
		REQUIRE(unified_ring_reserve(&r.fill, 1, &idx) == 1, "FILL");
		*unified_fill_addr(&r.fill, idx) = (uint64_t)i * 4096;
		unified_ring_submit(&r.fill, 1);
	}
	unified_kick(c.ctx);
	pump(&c, 50);
	REQUIRE(!unified_net_close(c.ctx, conn), "close");
	pump(&c, 200);
	n = unified_ring_peek(&r.rx, 64, &idx);
	for (i = 0; i < n; i++)
		closed += !!(unified_net_desc(&r.rx, idx + i)->flags & IO_UNIFIED_NET_RX_CLOSED);
	unified_ring_release(&r.rx, n);
	pump(&c, 50);
	REQUIRE(!unified_net_get_stats(c.ctx, &st), "stats");
	CHECK(closed == 1 && st.conns == 0, "%u CLOSED entries, %u connections left", closed, st.conns);
	CHECK(st.fill_buffers == 32, "%u of the 32 FILL buffers back with the receive side", st.fill_buffers);
	CHECK(unified_net_xdp_mode(c.ctx) == NULL, "a mode line after close");
	ret = unified_net_xdp_bind(c.ctx, "ux0", 0, PORT, 8, &conn);
	CHECK(ret == 0, "bind after close: %d (%s)", ret, unified_errmsg());
	t0 = th_now_ns();
	CHECK(th_close(&c) == 0, "unregister");
	CHECK(th_now_ns() - t0 < 2000000000ull, "unregister with a bound AF_XDP socket took %.2f s",
	      (th_now_ns() - t0) / 1e9);
}

static void t_xdp_close_and_rebind_kick(void)
{
	close_and_rebind(UNIFIED_MODE_KICK);
}

static void t_xdp_close_and_rebind_thread(void)
{
	close_and_rebind(UNIFIED_MODE_THREAD);
}

/* Descriptors found while RX is full stay in the socket's ring for the
 * next pass: with RX of 8 entries and 40 datagrams waiting, every one is
 * received once the application drains RX, or counted dropped. */
static void t_xdp_rx_full_keeps_descriptors(void)
{
	struct th_ctx c;
	struct io_unified_net_reg nr;
	struct unified_net_rings r;
	struct unified_net_stats st;
	uint32_t conn, idx, i, n, got = 0;

	NEED(xdp_open(&c, &nr, &r, UNIFIED_MODE_KICK, &conn));
	(void)nr;
	for (i = 0; i < 48; i++) {
		REQUIRE(unified_ring_reserve(&r.fill, 1, &idx) == 1, "FILL");
		*unified_fill_addr(&r.fill, idx) = (uint64_t)i * 4096;
		unified_ring_submit(&r.fill, 1);
	}
	unified_kick(c.ctx);
	pump(&c, 20);
	burst(0, 40);	/* RX (8 entries in xdp_open) is not read meanwhile */
	pump(&c, 50);
	for (int round = 0; round < 200 && got < 40; round++) {
		n = unified_ring_peek(&r.rx, 4, &idx);	/* a few at a time */
		for (i = 0; i < n; i++)
			got += unified_net_desc(&r.rx, idx + i)->len == 100;
		if (n)
			unified_ring_release(&r.rx, n);
		unified_enter(c.ctx, 1, 5);
	}
	REQUIRE(!unified_net_get_stats(c.ctx, &st), "stats");
	CHECK(got + st.udp_dropped == 40, "%u received + %" PRIu64 " dropped of 40 sent", got,
	      st.udp_dropped);
	th_close(&c);
}

static void t_xdp_needs_4k_buffers(void)
{
	struct th_ctx c;
	struct th_opts o = { 0 };
	struct io_unified_net_reg nr = { 0 };
	uint32_t conn;
	int ret;

	o.nbuf = 16;
	o.bufsz = 65536;
	o.net = &nr;
	REQUIRE(!th_open(&c, &o), "registration");
	ret = unified_net_xdp_bind(c.ctx, "lo", 0, PORT, 1, &conn);
	CHECK(ret == -EINVAL || ret == -EOPNOTSUPP, "64 KiB buffers: %d", ret);
	th_close(&c);
}

int main(int argc, char **argv)
{
	harness_args(argc, argv);
	setup();
	RUN(t_xdp_needs_4k_buffers);
	RUN(t_xdp_udp_copy_mode_on_veth);
	RUN(t_xdp_other_port_reaches_kernel);
	RUN(t_xdp_malformed_datagrams_do_not_starve);
	RUN(t_xdp_close_and_rebind_kick);
	RUN(t_xdp_close_and_rebind_thread);
	RUN(t_xdp_rx_full_keeps_descriptors);
	teardown();
	return harness_done();
}
