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
	teardown();
	return harness_done();
}
