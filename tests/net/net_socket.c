/* SPDX-License-Identifier: MIT */
/*
 * The network rings with the io_uring socket provider, on real sockets in a
 * private network namespace (loopback) and over a veth pair into a second
 * namespace.  Received bytes go to a file target through NVMe writes of the
 * very buffers they arrived in, are read back and compared with what the
 * senders sent.  Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for namespaces):
 * every case skips, saying so, without it.
 *
 *   usage: net_socket [SUBSTRING]   only the cases whose name contains it
 *
 * Environment (the QEMU tier uses both): UNIFIED_NET_TARGET=/dev/ngXnY
 * writes to that NVMe namespace instead of a file; UNIFIED_NET_SCALE=N
 * divides the stream sizes by N (TCG guests are slow).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "helpers.h"

#define BUFSZ		(64u << 10)
#define NBUF		64u
#define LBA		4096u
#define SCRATCH		(NBUF - 1)	/* never given to FILL: the read-back buffer */

static bool have_netns;
static const char *net_target;	/* UNIFIED_NET_TARGET, or NULL: a file */
static uint64_t scale = 1;	/* UNIFIED_NET_SCALE */
static bool inc_recv;		/* IO_UNIFIED_NET_F_INC_RECV for the t_inc_* cases */
static char veth_ns[64];	/* the sender's namespace for the veth cases, "" if none */

/* ------------------------------------------------------------ environment */

static int lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) || (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr)))
		ret = -errno;
	close(fd);
	return ret;
}

/* Our own network namespace (so nothing of the host's is touched), with
 * loopback up, and a veth pair to a second, named one. */
static void net_setup(void)
{
	char cmd[1024];

	if (geteuid() != 0)
		return;
	if (unshare(CLONE_NEWNET) || lo_up())
		return;
	have_netns = true;
	snprintf(veth_ns, sizeof(veth_ns), "unet-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "ip netns add %s && ip link add uv0 type veth peer name uv1 netns %s && "
		 "ip addr add 10.201.0.1/24 dev uv0 && ip link set uv0 up && "
		 "ip -n %s addr add 10.201.0.2/24 dev uv1 && ip -n %s link set uv1 up && "
		 "ip -n %s link set lo up",
		 veth_ns, veth_ns, veth_ns, veth_ns, veth_ns);
	if (system(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", veth_ns);
		if (system(cmd)) {
			/* nothing more to undo */
		}
		veth_ns[0] = 0;
	}
}

static void net_teardown(void)
{
	char cmd[128];

	if (veth_ns[0]) {
		snprintf(cmd, sizeof(cmd), "ip netns del %s", veth_ns);
		if (system(cmd)) {
			/* the namespace dies with its last user anyway */
		}
	}
}

#define NEED_NETNS() do {								\
	if (!have_netns)								\
		SKIP("needs root for a private network namespace (CAP_SYS_ADMIN, "	\
		     "CAP_NET_ADMIN)");							\
} while (0)

/* ------------------------------------------------------------ data */

static inline uint8_t pattern(uint32_t stream, uint64_t i)
{
	uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ull + stream * 0xbf58476d1ce4e5b9ull;

	return (uint8_t)((x >> 29) ^ i);
}

/* ------------------------------------------------------------ senders */

struct sender {
	pthread_t th;
	struct sockaddr_storage to;
	socklen_t tolen;
	int type;		/* SOCK_STREAM / SOCK_DGRAM */
	uint32_t stream;	/* pattern id */
	uint64_t total;		/* bytes to send */
	uint32_t chunk;		/* bytes per send() (datagram size for UDP) */
	bool reset;		/* TCP: end with RST (SO_LINGER 0) instead of FIN */
	bool half_close;	/* TCP: shutdown(SHUT_WR), then wait for the server to close */
	const char *netns;	/* setns() into it first, or NULL */
	int err;		/* 0 or errno */
	uint64_t sent;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	uint8_t *buf = malloc(s->chunk > 65536 ? s->chunk : 65536);
	int fd = -1, one = 1;

	if (!buf) {
		s->err = ENOMEM;
		return NULL;
	}
	if (s->netns) {
		char p[128];
		int nfd;

		snprintf(p, sizeof(p), "/run/netns/%s", s->netns);
		nfd = open(p, O_RDONLY | O_CLOEXEC);
		if (nfd < 0 || setns(nfd, CLONE_NEWNET)) {
			s->err = errno;
			goto out;
		}
		close(nfd);
	}
	fd = socket(s->to.ss_family, s->type | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&s->to, s->tolen)) {
		s->err = errno;
		goto out;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (s->sent < s->total) {
		uint32_t n = s->total - s->sent < s->chunk ? (uint32_t)(s->total - s->sent) : s->chunk;
		ssize_t w;
		uint32_t i;

		for (i = 0; i < n; i++)
			buf[i] = pattern(s->stream, s->sent + i);
		if (s->type == SOCK_DGRAM && n >= 4) {	/* the datagram's index first */
			uint32_t k = (uint32_t)(s->sent / s->chunk);

			memcpy(buf, &k, 4);
		}
		w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (s->type == SOCK_DGRAM && (errno == ENOBUFS || errno == ECONNREFUSED)) {
				usleep(100);
				continue;
			}
			s->err = errno;
			goto out;
		}
		s->sent += (uint64_t)w;
		if (s->type == SOCK_DGRAM && (s->sent / s->chunk) % 64 == 0)
			usleep(200);	/* pace datagrams: the test checks content, not drops */
	}
	if (s->reset) {
		struct linger l = { 1, 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	} else if (s->half_close && s->type == SOCK_STREAM) {
		char c;

		shutdown(fd, SHUT_WR);
		while (recv(fd, &c, 1, 0) > 0) {
			/* until the server closes */
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static void sender_start(struct sender *s, const struct sockaddr *to, socklen_t len)
{
	memcpy(&s->to, to, len);
	s->tolen = len;
	if (pthread_create(&s->th, NULL, sender_main, s))
		s->err = EAGAIN;
}

/* ------------------------------------------------------------ the sink */

/* Per connection: where its stream goes in the target, what arrived. */
struct sconn {
	uint32_t id;
	uint32_t stream;	/* pattern id (from the listener's user_data + accept order) */
	uint64_t base;		/* byte offset of the stream in the target */
	uint64_t got;		/* bytes announced */
	bool ended;
	uint32_t end_flags;
	int32_t end_err;
};

/* Per buffer: whose bytes, from where in the stream, how many. */
struct sbuf {
	int conn;		/* index in sink.conns, -1 if none */
	uint64_t stream_off;
	uint32_t filled;
	bool at_app, in_fill, in_nvme;
};

struct sink {
	struct th_ctx c;
	struct unified_net_rings r;
	struct io_unified_net_reg nr;
	struct sconn conns[256];
	uint32_t nconns;
	struct sbuf bufs[NBUF];
	uint32_t fill_limit;	/* FILL at most this many at a time (0 = all) */
	uint32_t in_fill;
	uint64_t span;		/* target bytes per connection */
	uint32_t ended;
	uint32_t nvme_inflight;
	uint32_t rx_errors_noconn;	/* refused FILL entries seen */
	int32_t last_fill_err;
	uint64_t last_fill_addr;
	uint32_t udp_datagrams;
	bool udp;		/* datagrams: each entry is one message */
	uint8_t *udp_seen;	/* UDP: datagram index -> seen */
	uint32_t udp_size, udp_count;
};

static int sink_open(struct sink *k, uint32_t mode, uint64_t file_size)
{
	struct th_opts o = { 0 };

	memset(&k->nr, 0, sizeof(k->nr));
	k->nr.fill_entries = 64;
	k->nr.rx_entries = 1024;
	k->nr.tx_entries = 64;
	k->nr.comp_entries = 64;
	k->nr.flags = inc_recv ? IO_UNIFIED_NET_F_INC_RECV : 0;
	o.file_size = file_size;
	o.path = net_target;
	o.nbuf = NBUF;
	o.bufsz = BUFSZ;
	o.sq = 64;
	o.mode = mode;
	o.net = &k->nr;
	if (th_open(&k->c, &o))
		return -1;
	if (unified_net_rings_init(k->c.ctx, &k->r))
		return -1;
	for (uint32_t i = 0; i < NBUF; i++)
		k->bufs[i] = (struct sbuf){ .conn = -1, .at_app = true };
	return 0;
}

static struct sconn *sink_conn(struct sink *k, uint32_t id)
{
	for (uint32_t i = 0; i < k->nconns; i++)
		if (k->conns[i].id == id)
			return &k->conns[i];
	return NULL;
}

static void sink_fill(struct sink *k)
{
	uint32_t idx, i, n = 0;

	for (i = 0; i < SCRATCH; i++) {	/* the last buffer stays ours: sink_verify() */
		if (!k->bufs[i].at_app || (k->fill_limit && k->in_fill >= k->fill_limit))
			continue;
		if (!unified_ring_reserve(&k->r.fill, 1, &idx))
			break;
		*unified_fill_addr(&k->r.fill, idx) = (uint64_t)i * BUFSZ;
		unified_ring_submit(&k->r.fill, 1);
		k->bufs[i].at_app = false;
		k->bufs[i].in_fill = true;
		k->bufs[i].conn = -1;
		k->bufs[i].filled = 0;
		k->in_fill++;
		n++;
	}
	if (n)
		unified_kick(k->c.ctx);
}

/* A buffer came back from the receive side: write its bytes to the target. */
static void sink_write(struct sink *k, uint32_t b)
{
	struct sbuf *sb = &k->bufs[b];
	struct io_unified_sqe sqe;
	uint32_t nlb;

	sb->in_fill = false;
	k->in_fill--;
	if (sb->conn < 0 || !sb->filled || k->udp) {
		sb->at_app = true;
		return;
	}
	nlb = (sb->filled + k->c.lba - 1) / k->c.lba;
	th_prep_write(&k->c, &sqe, (k->conns[sb->conn].base + sb->stream_off) / k->c.lba, nlb,
		      (uint64_t)b * BUFSZ, b);
	CHECK(!th_queue(&k->c, &sqe, 1), "SQ full");
	sb->in_nvme = true;
	k->nvme_inflight++;
}

static void sink_rx(struct sink *k, const struct io_unified_net_desc *d)
{
	struct sconn *sc;

	if (d->conn == IO_UNIFIED_NET_NO_CONN) {
		k->rx_errors_noconn++;
		k->last_fill_err = d->error;
		k->last_fill_addr = d->addr;
		CHECK(d->flags == IO_UNIFIED_NET_RX_ERROR && d->error < 0 && !d->len,
		      "a no-connection entry must be a refused FILL entry");
		return;
	}
	if (d->flags & IO_UNIFIED_NET_RX_NEW_CONN) {
		CHECK(k->nconns < 256, "too many connections");
		CHECK(d->addr == IO_UNIFIED_NET_NO_ADDR && !d->len, "NEW_CONN carries bytes");
		CHECK(d->peer_family == AF_INET || d->peer_family == AF_INET6, "NEW_CONN without peer");
		sc = &k->conns[k->nconns];
		*sc = (struct sconn){ .id = d->conn, .stream = k->nconns,
				      .base = (uint64_t)k->nconns * k->span };
		k->nconns++;
		return;
	}
	sc = sink_conn(k, d->conn);
	if (!sc && k->udp) {
		/* the UDP socket itself: its id came from unified_net_listen() */
		sc = &k->conns[0];
	}
	REQUIRE(sc, "RX entry for unknown connection %#x", d->conn);
	REQUIRE(!sc->ended, "RX entry after the last one of connection %#x", d->conn);
	if (d->addr != IO_UNIFIED_NET_NO_ADDR) {
		uint64_t b = d->addr / BUFSZ;
		struct sbuf *sb;

		REQUIRE(b < NBUF && k->bufs[b].in_fill, "RX names buffer %" PRIu64 " not given to FILL", b);
		sb = &k->bufs[b];
		if (d->len) {
			if (k->udp) {
				uint32_t seq, j;
				const uint8_t *p = k->c.buf + d->addr;

				REQUIRE(d->len == k->udp_size, "datagram of %u bytes, sent %u", d->len,
					k->udp_size);
				CHECK(d->peer_family == AF_INET && d->peer_port, "datagram without its sender");
				memcpy(&seq, p, 4);
				REQUIRE(seq < k->udp_count && !k->udp_seen[seq], "datagram %u: unknown or twice",
					seq);
				k->udp_seen[seq] = 1;
				for (j = 4; j < d->len; j++)
					if (p[j] != pattern(5, (uint64_t)seq * k->udp_size + j)) {
						CHECK(0, "datagram %u byte %u differs", seq, j);
						break;
					}
				k->udp_datagrams++;
			} else {
				if (sb->conn < 0) {	/* the buffer's first bytes */
					sb->conn = (int)(sc - k->conns);
					sb->stream_off = sc->got;
					CHECK(d->addr == b * BUFSZ, "a fresh buffer must start at its beginning");
				}
				CHECK(sb->conn == (int)(sc - k->conns), "two connections in one buffer");
				CHECK(d->addr == b * BUFSZ + sb->filled, "bytes not dense in the buffer: at %"
				      PRIu64 ", want %" PRIu64, (uint64_t)d->addr, b * BUFSZ + sb->filled);
				sb->filled += d->len;
			}
			sc->got += d->len;
		}
		if (!(d->flags & IO_UNIFIED_NET_RX_MORE))
			sink_write(k, (uint32_t)b);
	}
	if (d->flags & (IO_UNIFIED_NET_RX_EOF | IO_UNIFIED_NET_RX_ERROR | IO_UNIFIED_NET_RX_CLOSED)) {
		sc->ended = true;
		sc->end_flags = d->flags;
		sc->end_err = d->error;
		k->ended++;
	}
}

/* Serve until @conns connections ended and every write completed (UDP:
 * until @udp_bytes datagrams were received or counted dropped), at most
 * @secs seconds. */
static void sink_run(struct sink *k, uint32_t conns, uint64_t udp_bytes, int secs)
{
	uint64_t deadline = th_now_ns() + (uint64_t)secs * 1000000000ull;

	for (;;) {
		struct io_unified_cqe cqes[64];
		uint32_t idx, n, i;
		int ret;

		sink_fill(k);
		n = unified_ring_peek(&k->r.rx, 256, &idx);
		for (i = 0; i < n; i++) {
			struct io_unified_net_desc d = *unified_net_desc(&k->r.rx, idx + i);

			sink_rx(k, &d);
		}
		if (n)
			unified_ring_release(&k->r.rx, n);
		if (k->nvme_inflight)
			unified_kick(k->c.ctx);
		n = th_take(&k->c, cqes, 64);
		for (i = 0; i < n; i++) {
			uint32_t b = (uint32_t)cqes[i].user_data;

			CHECK(cqes[i].status == 0, "NVMe write of buffer %u: status 0x%x (%s)", b,
			      cqes[i].status, unified_status_str(cqes[i].status));
			if (b < NBUF) {
				k->bufs[b].in_nvme = false;
				k->bufs[b].at_app = true;
			}
			k->nvme_inflight--;
		}
		if (h_case_failed)
			return;
		if (k->udp) {
			struct unified_net_stats st;

			/* every datagram sent is either received or counted dropped */
			if (!unified_net_get_stats(k->c.ctx, &st) &&
			    k->udp_datagrams + st.udp_dropped >= udp_bytes)
				return;
		} else if (k->ended >= conns && !k->nvme_inflight) {
			return;
		}
		if (th_now_ns() > deadline) {
			CHECK(0, "timed out: %u of %u connections ended, %u writes in flight", k->ended,
			      conns, k->nvme_inflight);
			return;
		}
		ret = unified_enter(k->c.ctx, 1, 50);
		REQUIRE(ret >= 0 || ret == -ETIME || ret == -EINTR, "unified_enter: %s (%s)",
			strerror(-ret), unified_errmsg());
	}
}

/* Read the target back through the engine (any target: file or NVMe) and
 * compare every connection's stream, in the buffer FILL never gets. */
static void sink_verify(struct sink *k, const uint64_t *want_bytes)
{
	const uint8_t *p = k->c.buf + (uint64_t)SCRATCH * BUFSZ;

	for (uint32_t c = 0; c < k->nconns && !h_case_failed; c++) {
		struct sconn *sc = &k->conns[c];
		uint64_t off = 0;

		CHECK(sc->got == want_bytes[c], "connection %u: %" PRIu64 " bytes arrived, %" PRIu64
		      " sent", c, sc->got, want_bytes[c]);
		while (off < sc->got && !h_case_failed) {
			uint64_t n = sc->got - off < BUFSZ ? sc->got - off : BUFSZ;
			uint32_t nlb = (uint32_t)((n + k->c.lba - 1) / k->c.lba);

			REQUIRE(th_read(&k->c, (sc->base + off) / k->c.lba, nlb, (uint64_t)SCRATCH * BUFSZ) == 0,
				"read back at %" PRIu64, sc->base + off);
			for (uint64_t i = 0; i < n; i++)
				if (p[i] != pattern(sc->stream, off + i)) {
					CHECK(0, "connection %u: byte %" PRIu64 " is %#x, sent %#x", c,
					      off + i, p[i], pattern(sc->stream, off + i));
					break;
				}
			off += n;
		}
	}
}

static void sink_close(struct sink *k)
{
	struct unified_net_stats st;

	if (!k->c.ctx)
		return;
	if (!unified_net_get_stats(k->c.ctx, &st)) {
		CHECK(st.copied_bytes == 0, "the library copied %" PRIu64 " payload bytes", st.copied_bytes);
		if (k->nconns && !k->udp)
			printf("  TCP receive: %s\n", st.tcp_receive);
	}
	CHECK(th_close(&k->c) == 0, "unregister: %s", unified_errmsg());
}

static void sin4(struct sockaddr_in *a, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	inet_pton(AF_INET, ip, &a->sin_addr);
}

/* Listen on @ip port 0; the port picked goes to *@port. */
static int sink_listen(struct sink *k, int type, const char *ip, uint16_t *port, uint32_t *id)
{
	struct sockaddr_storage ss;
	struct sockaddr_in a;
	socklen_t l = sizeof(ss);
	int ret;

	sin4(&a, ip, 0);
	ret = unified_net_listen(k->c.ctx, type, (struct sockaddr *)&a, sizeof(a), 7, id);
	if (ret)
		return ret;
	ret = unified_net_local_addr(k->c.ctx, *id, (struct sockaddr *)&ss, &l);
	*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ret;
}

/* ------------------------------------------------------------ cases */

/* @n TCP senders of @bytes each through @ip (a veth namespace if @ns). */
static void tcp_to_nvme(uint32_t mode, uint32_t n, uint64_t bytes, uint32_t chunk, const char *ip,
			const char *ns, uint32_t fill_limit)
{
	struct sink k = { 0 };
	struct sender *s = calloc(n, sizeof(*s));
	uint64_t *want = calloc(n, sizeof(*want));
	struct sockaddr_in to;
	uint32_t lid, i;
	uint16_t port;

	REQUIRE(s && want, "no memory");
	bytes = bytes / scale ? bytes / scale : 1;
	k.span = (bytes + BUFSZ + LBA) & ~(uint64_t)(LBA - 1);
	k.fill_limit = fill_limit;
	REQUIRE(!sink_open(&k, mode, k.span * n + (1 << 20)), "registration with network rings failed");
	REQUIRE(!sink_listen(&k, SOCK_STREAM, ns ? "10.201.0.1" : ip, &port, &lid), "listen: %s",
		unified_errmsg());
	sin4(&to, ns ? "10.201.0.1" : ip, port);
	/* One at a time, so accept order (NEW_CONN order) is stream order. */
	for (i = 0; i < n; i++) {
		s[i] = (struct sender){ .type = SOCK_STREAM, .stream = i, .total = bytes, .chunk = chunk,
					.netns = ns };
		want[i] = bytes;
		sender_start(&s[i], (struct sockaddr *)&to, sizeof(to));
		while (k.nconns <= i && !h_case_failed) {
			sink_run(&k, 0, 0, 10);	/* returns at once: waits below */
			unified_enter(k.c.ctx, 1, 20);
			if (s[i].err)
				break;
		}
	}
	sink_run(&k, n, 0, 120);
	for (i = 0; i < n; i++) {
		pthread_join(s[i].th, NULL);
		CHECK(!s[i].err, "sender %u: %s", i, strerror(s[i].err));
	}
	for (i = 0; i < k.nconns; i++)
		CHECK(k.conns[i].end_flags & IO_UNIFIED_NET_RX_EOF, "connection %u ended with flags %#x "
		      "error %d, not EOF", i, k.conns[i].end_flags, k.conns[i].end_err);
	if (!h_case_failed)
		sink_verify(&k, want);
	sink_close(&k);
	free(s);
	free(want);
}

static void t_tcp_256mib_loopback_to_nvme_kick(void)
{
	NEED_NETNS();
	tcp_to_nvme(UNIFIED_MODE_KICK, 1, 256ull << 20, 1 << 20, "127.0.0.1", NULL, 0);
}

static void t_tcp_64mib_loopback_to_nvme_thread(void)
{
	NEED_NETNS();
	tcp_to_nvme(UNIFIED_MODE_THREAD, 1, 64ull << 20, 256 << 10, "127.0.0.1", NULL, 0);
}

static void t_tcp_256mib_veth_to_nvme(void)
{
	NEED_NETNS();
	if (!veth_ns[0])
		SKIP("no veth pair (ip netns / ip link failed)");
	tcp_to_nvme(UNIFIED_MODE_KICK, 1, 256ull << 20, 1 << 20, NULL, veth_ns, 0);
}

static void t_tcp_many_connections(void)
{
	NEED_NETNS();
	tcp_to_nvme(UNIFIED_MODE_KICK, 200, 200 << 10, 16 << 10, "127.0.0.1", NULL, 0);
}

static void t_tcp_one_byte_at_a_time(void)
{
	NEED_NETNS();
	tcp_to_nvme(UNIFIED_MODE_KICK, 1, 20000, 1, "127.0.0.1", NULL, 0);
}

/* FILL nearly dry: two buffers at a time for 32 MiB; nothing may be lost. */
static void t_tcp_fill_exhaustion_loses_nothing(void)
{
	NEED_NETNS();
	tcp_to_nvme(UNIFIED_MODE_KICK, 2, 32ull << 20, 1 << 20, "127.0.0.1", NULL, 2);
}

/* IPv6: a listener on ::1, 4 MiB written to the target and read back. */
static void t_tcp_ipv6(void)
{
	struct sink k = { 0 };
	struct sender s = { .type = SOCK_STREAM, .stream = 0, .chunk = 64 << 10 };
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	uint64_t want;
	uint32_t lid;

	NEED_NETNS();
	s.total = (4u << 20) / scale;
	want = s.total;
	k.span = 8u << 20;
	REQUIRE(!sink_open(&k, UNIFIED_MODE_KICK, 16u << 20), "registration failed");
	if (unified_net_listen(k.c.ctx, SOCK_STREAM, (struct sockaddr *)&a, sizeof(a), 6, &lid)) {
		sink_close(&k);
		SKIP("no IPv6 loopback here: %s", unified_errmsg());
	}
	REQUIRE(!unified_net_local_addr(k.c.ctx, lid, (struct sockaddr *)&ss, &l), "local addr");
	sender_start(&s, (struct sockaddr *)&ss, l);
	sink_run(&k, 1, 0, 60);
	pthread_join(s.th, NULL);
	CHECK(!s.err, "sender: %s", strerror(s.err));
	REQUIRE(k.nconns == 1, "%u connections", k.nconns);
	sink_verify(&k, &want);
	sink_close(&k);
}

/* The peer resets, or half-closes: every byte it sent before arrives, then
 * one last entry with the reason. */
static void peer_end(bool reset)
{
	struct sink k = { 0 };
	struct sender s = { .type = SOCK_STREAM, .total = (3u << 20) / scale, .chunk = 64 << 10 };
	struct sockaddr_in to;
	uint64_t want;
	uint32_t lid;
	uint16_t port;

	NEED_NETNS();
	k.span = 8u << 20;
	s.reset = reset;
	s.half_close = !reset;
	REQUIRE(!sink_open(&k, UNIFIED_MODE_KICK, 16u << 20), "registration failed");
	REQUIRE(!sink_listen(&k, SOCK_STREAM, "127.0.0.1", &port, &lid), "listen: %s", unified_errmsg());
	sin4(&to, "127.0.0.1", port);
	sender_start(&s, (struct sockaddr *)&to, sizeof(to));
	sink_run(&k, 1, 0, 60);
	pthread_join(s.th, NULL);
	CHECK(!s.err, "sender: %s", strerror(s.err));
	REQUIRE(k.nconns == 1, "%u connections", k.nconns);
	if (reset)
		CHECK((k.conns[0].end_flags & IO_UNIFIED_NET_RX_ERROR) &&
		      k.conns[0].end_err == -ECONNRESET, "reset ended with flags %#x error %d",
		      k.conns[0].end_flags, k.conns[0].end_err);
	else
		CHECK(k.conns[0].end_flags & IO_UNIFIED_NET_RX_EOF, "half-close ended with flags %#x",
		      k.conns[0].end_flags);
	/* A reset may discard what the peer sent but we had not read: the
	 * kernel's, not ours to keep.  What did arrive must be right. */
	want = reset ? k.conns[0].got : s.total;
	sink_verify(&k, &want);
	sink_close(&k);
}

static void t_tcp_peer_reset(void)
{
	peer_end(true);
}

static void t_tcp_peer_half_close(void)
{
	peer_end(false);
}

/* UDP datagrams, packed into buffers, each checked against the pattern.
 * First 2000 are sent before any FILL buffer exists: the socket's queue
 * keeps some, drops the rest, and the drops show in the stats (received +
 * dropped = sent).  Then 2000 more while receiving, at a pace where none
 * should drop. */
static void t_udp_datagrams_and_drops(void)
{
	struct sink k = { 0 };
	struct sender s = { .type = SOCK_DGRAM, .stream = 5, .chunk = 1200 };
	struct unified_net_stats st;
	struct sockaddr_in to;
	uint32_t uid, before;
	uint16_t port;

	NEED_NETNS();
	s.total = 2000ull * s.chunk;
	k.udp = true;
	k.udp_size = s.chunk;
	k.udp_count = 4000;
	k.udp_seen = calloc(4000, 1);
	k.span = 1 << 20;
	REQUIRE(k.udp_seen, "no memory");
	REQUIRE(!sink_open(&k, UNIFIED_MODE_KICK, 4u << 20), "registration failed");
	REQUIRE(!sink_listen(&k, SOCK_DGRAM, "127.0.0.1", &port, &uid), "bind: %s", unified_errmsg());
	k.conns[0] = (struct sconn){ .id = uid };
	k.nconns = 1;
	sin4(&to, "127.0.0.1", port);
	sender_start(&s, (struct sockaddr *)&to, sizeof(to));	/* no FILL entry yet */
	pthread_join(s.th, NULL);
	CHECK(!s.err, "sender: %s", strerror(s.err));
	sink_run(&k, 0, 2000, 30);	/* the first FILL entries go out now */
	REQUIRE(!unified_net_get_stats(k.c.ctx, &st), "stats");
	printf("  phase 1: %u received, %" PRIu64 " dropped by the socket queue before FILL\n",
	       k.udp_datagrams, st.udp_dropped);
	CHECK(k.udp_datagrams + st.udp_dropped == 2000 && st.udp_dropped > 0 && k.udp_datagrams > 0,
	      "%u received + %" PRIu64 " dropped != 2000 sent", k.udp_datagrams, st.udp_dropped);
	before = k.udp_datagrams;
	{
		/* datagram indexes 2000.. : the sender numbers from sent / chunk */
		struct sender s2 = s;

		s2.total = 4000ull * 1200;
		s2.sent = 2000ull * 1200;
		sender_start(&s2, (struct sockaddr *)&to, sizeof(to));
		sink_run(&k, 0, 4000, 60);
		pthread_join(s2.th, NULL);
		CHECK(!s2.err, "sender: %s", strerror(s2.err));
	}
	REQUIRE(!unified_net_get_stats(k.c.ctx, &st), "stats");
	printf("  phase 2: %u received in all, %" PRIu64 " dropped in all\n", k.udp_datagrams,
	       st.udp_dropped);
	CHECK(k.udp_datagrams + st.udp_dropped == 4000, "%u + %" PRIu64 " != 4000", k.udp_datagrams,
	      st.udp_dropped);
	CHECK(k.udp_datagrams > before, "nothing received while receiving");
	sink_close(&k);
	free(k.udp_seen);
}

/* Bad FILL entries: refused one by one with an RX error entry, and the
 * good ones around them still work. */
static void t_fill_bad_offsets(void)
{
	struct sink k = { 0 };
	uint64_t bad[] = { 1, BUFSZ + 512, (uint64_t)NBUF * BUFSZ, ~0ull, 3 * BUFSZ };
	int32_t want[] = { -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EBUSY };
	uint32_t idx, i, n;

	NEED_NETNS();
	k.span = 1 << 20;
	REQUIRE(!sink_open(&k, UNIFIED_MODE_KICK, 4u << 20), "registration failed");
	/* buffer 3 goes to FILL first, so the last bad entry names it twice */
	REQUIRE(unified_ring_reserve(&k.r.fill, 1, &idx) == 1, "FILL full");
	*unified_fill_addr(&k.r.fill, idx) = 3 * BUFSZ;
	unified_ring_submit(&k.r.fill, 1);
	for (i = 0; i < 5; i++) {
		REQUIRE(unified_ring_reserve(&k.r.fill, 1, &idx) == 1, "FILL full");
		*unified_fill_addr(&k.r.fill, idx) = bad[i];
		unified_ring_submit(&k.r.fill, 1);
	}
	unified_kick(k.c.ctx);
	n = unified_ring_peek(&k.r.rx, 16, &idx);
	CHECK(n == 5, "%u RX entries for 5 bad FILL entries", n);
	for (i = 0; i < n && i < 5; i++) {
		const struct io_unified_net_desc *d = unified_net_desc(&k.r.rx, idx + i);

		CHECK(d->conn == IO_UNIFIED_NET_NO_CONN && d->flags == IO_UNIFIED_NET_RX_ERROR &&
		      d->addr == bad[i] && d->error == want[i], "entry %u: conn %#x flags %#x addr %#"
		      PRIx64 " error %d, want addr %#" PRIx64 " error %d", i, d->conn, d->flags, (uint64_t)d->addr,
		      d->error, bad[i], want[i]);
	}
	unified_ring_release(&k.r.rx, n);
	{
		struct unified_net_stats st;

		CHECK(!unified_net_get_stats(k.c.ctx, &st) && st.fill_refused == 5 &&
		      st.fill_buffers == 1, "stats: %" PRIu64 " refused, %u FILL buffers", st.fill_refused,
		      st.fill_buffers);
	}
	/* An NVMe write naming the buffer the receive side holds is refused. */
	{
		struct io_unified_sqe sqe;

		th_prep_write(&k.c, &sqe, 0, 1, 3 * BUFSZ, 99);
		EXEC_EXPECT(&k.c, &sqe, 0x0002, 0);	/* Invalid Field, -EBUSY: no DNR */
		th_prep_write(&k.c, &sqe, 0, 1, 4 * BUFSZ, 98);
		EXEC_EXPECT(&k.c, &sqe, ST_OK, k.c.lba);
	}
	sink_close(&k);
}

/* Wait (kick mode) for the next RX entry of connection @conn that carries
 * bytes; copies it to *@d.  False after 10 s. */
static bool rx_next_bytes(struct sink *k, struct io_unified_net_desc *d)
{
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t idx, n, i;
		bool got = false;

		unified_enter(k->c.ctx, 0, 10000);
		n = unified_ring_peek(&k->r.rx, 1, &idx);
		for (i = 0; i < n; i++) {
			*d = *unified_net_desc(&k->r.rx, idx + i);
			got = d->len > 0;
		}
		if (n)
			unified_ring_release(&k->r.rx, n);
		if (got)
			return true;
	}
	return false;
}

/*
 * A Write may name bytes of a buffer the receive side still holds, once
 * they are announced: up to the logical block holding the last announced
 * byte, and no further; a Read into that buffer, or a Write past those
 * bytes, completes with Invalid Field.  Reading the target back gives the
 * bytes sent (unified-ingest commits a stream this way before its buffer
 * is full).
 */
static void t_nvme_write_of_announced_bytes(void)
{
	struct sink k = { 0 };
	struct io_unified_sqe sqe;
	struct io_unified_net_desc d;
	struct sockaddr_in to;
	uint8_t *msg, *buf0, *scratch;
	uint32_t lid, idx, lba, first, total;
	uint16_t port;
	int fd = -1;

	NEED_NETNS();
	REQUIRE(!sink_open(&k, UNIFIED_MODE_KICK, 4u << 20), "registration failed");
	lba = k.c.lba;
	total = 5 * lba + 100;	/* ends inside the sixth block */
	msg = malloc(total);
	REQUIRE(msg, "malloc");
	buf0 = k.c.buf;
	scratch = buf0 + (uint64_t)SCRATCH * BUFSZ;
	for (uint32_t i = 0; i < total; i++)
		msg[i] = pattern(9, i);
	REQUIRE(!sink_listen(&k, SOCK_STREAM, "127.0.0.1", &port, &lid), "listen: %s", unified_errmsg());
	REQUIRE(unified_ring_reserve(&k.r.fill, 1, &idx) == 1, "FILL full");
	*unified_fill_addr(&k.r.fill, idx) = 0;	/* buffer 0 */
	unified_ring_submit(&k.r.fill, 1);
	sin4(&to, "127.0.0.1", port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	REQUIRE(fd >= 0 && !connect(fd, (struct sockaddr *)&to, sizeof(to)), "connect: %s",
		strerror(errno));
	first = lba + lba / 2;	/* one block and a half */
	REQUIRE(write(fd, msg, first) == (ssize_t)first, "send");
	REQUIRE(rx_next_bytes(&k, &d), "no RX entry with bytes");
	REQUIRE(d.addr == 0 && d.len == first && (d.flags & IO_UNIFIED_NET_RX_MORE),
		"RX addr %" PRIu64 " len %u flags %#x", (uint64_t)d.addr, d.len, d.flags);

	/* The announced bytes, rounded up to whole blocks: accepted. */
	th_prep_write(&k.c, &sqe, 0, 2, 0, 1);
	EXEC_EXPECT(&k.c, &sqe, ST_OK, 2 * lba);
	/* One block further: not announced, refused. */
	th_prep_write(&k.c, &sqe, 4, 3, 0, 2);
	EXEC_EXPECT(&k.c, &sqe, 0x0002, 0);
	/* Starting past the announced bytes: refused. */
	th_prep_write(&k.c, &sqe, 4, 1, 2 * lba, 3);
	EXEC_EXPECT(&k.c, &sqe, 0x0002, 0);
	/* A Read into the held buffer would change bytes under the stream. */
	th_prep_read(&k.c, &sqe, 0, 1, 0, 4);
	EXEC_EXPECT(&k.c, &sqe, 0x0002, 0);
	REQUIRE(!memcmp(buf0, msg, first), "the held buffer changed");
	/* What reached the target is what was sent. */
	REQUIRE(th_read(&k.c, 0, 2, (uint64_t)SCRATCH * BUFSZ) == 0, "read back");
	CHECK(!memcmp(scratch, msg, first), "target bytes differ from the sent ones");

	/* More bytes: the announced part grows, and so does what may be written. */
	REQUIRE(write(fd, msg + first, total - first) == (ssize_t)(total - first), "send");
	{
		uint32_t have = first;

		while (have < total) {
			REQUIRE(rx_next_bytes(&k, &d), "no RX entry after %u bytes", have);
			REQUIRE(d.addr == have, "RX addr %" PRIu64 ", want %u", (uint64_t)d.addr, have);
			have += d.len;
		}
	}
	th_prep_write(&k.c, &sqe, 1, 5, lba, 5);	/* blocks 1..5: the sixth ends the bytes */
	EXEC_EXPECT(&k.c, &sqe, ST_OK, 5 * lba);
	REQUIRE(th_read(&k.c, 0, 6, (uint64_t)SCRATCH * BUFSZ) == 0, "read back");
	CHECK(!memcmp(scratch, msg, total), "target bytes differ after the second write");
	free(msg);
	close(fd);
	sink_close(&k);
}

/* A plain listening socket on loopback, and a library connection to it in
 * *@conn; the listening fd, or -1. */
static int connect_to_plain_server(struct sink *k, uint32_t *conn)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin4(&a, "127.0.0.1", 0);
	if (srv < 0 || bind(srv, (struct sockaddr *)&a, sizeof(a)) || listen(srv, 4) ||
	    getsockname(srv, (struct sockaddr *)&a, &l) ||
	    unified_net_connect(k->c.ctx, SOCK_STREAM, (struct sockaddr *)&a, sizeof(a), 3, conn)) {
		printf("  plain server / connect: %s (%s)\n", strerror(errno), unified_errmsg());
		if (srv >= 0)
			close(srv);
		return -1;
	}
	return srv;
}

/* TX: bad entries complete with an error; a good one sends its bytes. */
static void t_tx_errors_and_send(void)
{
	struct sink k = { 0 };
	int srv, peer;
	uint32_t conn, idx, i;
	struct { uint64_t addr; uint32_t len, conn; int32_t err; } tx[] = {
		{ 0, 100, 0xdead0000u, -EBADF },		/* no such connection */
		{ (uint64_t)NBUF * BUFSZ, 100, 0, -EINVAL },	/* past the data area */
		{ BUFSZ - 10, 100, 0, -EINVAL },		/* spans two buffers */
		{ 0, 0, 0, -EINVAL },				/* empty */
		{ 2 * BUFSZ, 5000, 0, 0 },			/* good */
	};
	uint8_t got[5000];

	NEED_NETNS();
	k.span = 1 << 20;
	REQUIRE(!sink_open(&k, UNIFIED_MODE_KICK, 4u << 20), "registration failed");
	srv = connect_to_plain_server(&k, &conn);
	REQUIRE(srv >= 0, "plain server socket or unified_net_connect failed");
	peer = accept(srv, NULL, NULL);
	REQUIRE(peer >= 0, "accept: %s", strerror(errno));
	for (i = 0; i < 5000; i++)
		k.c.buf[2 * BUFSZ + i] = pattern(9, i);
	for (i = 0; i < 5; i++) {
		struct io_unified_net_desc *d;

		REQUIRE(unified_ring_reserve(&k.r.tx, 1, &idx) == 1, "TX full");
		d = unified_net_desc(&k.r.tx, idx);
		memset(d, 0, sizeof(*d));
		d->addr = tx[i].addr;
		d->len = tx[i].len;
		d->conn = tx[i].conn ? tx[i].conn : conn;
		unified_ring_submit(&k.r.tx, 1);
	}
	unified_kick(k.c.ctx);
	{
		uint32_t first = k.r.comp.cached_cons, m = 0, tries = 0;

		while (m < 5 && tries++ < 100) {
			unified_enter(k.c.ctx, 1, 50);
			m += unified_ring_peek(&k.r.comp, 5 - m, &idx);
		}
		CHECK(m == 5, "%u COMPLETION entries for 5 TX entries", m);
		for (i = 0; i < m; i++) {
			const struct io_unified_net_comp *c = unified_comp_entry(&k.r.comp, first + i);

			CHECK(c->addr == tx[i].addr && c->error == tx[i].err &&
			      c->len == (tx[i].err ? 0 : tx[i].len), "completion %u: addr %#" PRIx64
			      " len %u error %d, want error %d", i, (uint64_t)c->addr, c->len, c->error, tx[i].err);
		}
		unified_ring_release(&k.r.comp, m);
	}
	for (i = 0; i < sizeof(got);) {
		ssize_t r = recv(peer, got + i, sizeof(got) - i, 0);

		REQUIRE(r > 0, "recv: %zd", r);
		i += (uint32_t)r;
	}
	for (i = 0; i < sizeof(got); i++)
		if (got[i] != pattern(9, i)) {
			CHECK(0, "sent byte %u is %#x, want %#x", i, got[i], pattern(9, i));
			break;
		}
	close(peer);
	close(srv);
	sink_close(&k);
}

struct reader {
	pthread_t th;
	int fd;
	uint8_t *buf;
	uint64_t want, got;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	while (r->got < r->want) {
		ssize_t n = recv(r->fd, r->buf + r->got, r->want - r->got, 0);

		if (n <= 0)
			break;
		r->got += (uint64_t)n;
	}
	return NULL;
}

/*
 * A stream sent from region buffers: 8 MiB in 64 KiB TX entries over 8
 * buffers, each buffer overwritten with the next chunk as soon as its
 * COMPLETION entry arrives.  If a buffer came back before the kernel was
 * done with it (SEND_ZC's notification), the peer would see later bytes.
 */
static void t_tx_stream_zerocopy(void)
{
	struct sink k = { 0 };
	struct reader rd = { 0 };
	struct unified_net_stats st;
	const uint32_t chunk = BUFSZ, nchunks = 128, nb = 8;
	uint32_t conn, sent = 0, done = 0, idx, i, inflight = 0;
	uint32_t queue[8], qh = 0, qn = 0;
	int srv;

	NEED_NETNS();
	k.span = 1 << 20;
	REQUIRE(!sink_open(&k, UNIFIED_MODE_KICK, 4u << 20), "registration failed");
	srv = connect_to_plain_server(&k, &conn);
	REQUIRE(srv >= 0, "plain server socket or unified_net_connect failed");
	rd.fd = accept(srv, NULL, NULL);
	rd.want = (uint64_t)chunk * nchunks;
	rd.buf = malloc(rd.want);
	REQUIRE(rd.fd >= 0 && rd.buf, "accept / memory");
	REQUIRE(!pthread_create(&rd.th, NULL, reader_main, &rd), "reader thread");
	for (i = 0; i < nb; i++)
		queue[qn++] = i + 8;	/* buffers 8..15 */
	while (done < nchunks && !h_case_failed) {
		while (qn && sent < nchunks) {
			uint32_t b = queue[qh];
			struct io_unified_net_desc *d;

			for (uint32_t j = 0; j < chunk; j++)
				k.c.buf[(uint64_t)b * BUFSZ + j] = pattern(4, (uint64_t)sent * chunk + j);
			REQUIRE(unified_ring_reserve(&k.r.tx, 1, &idx) == 1, "TX full");
			d = unified_net_desc(&k.r.tx, idx);
			memset(d, 0, sizeof(*d));
			d->addr = (uint64_t)b * BUFSZ;
			d->len = chunk;
			d->conn = conn;
			unified_ring_submit(&k.r.tx, 1);
			qh = (qh + 1) % 8;
			qn--;
			sent++;
			inflight++;
		}
		unified_kick(k.c.ctx);
		unified_enter(k.c.ctx, 1, 100);
		{
			uint32_t n = unified_ring_peek(&k.r.comp, 16, &idx);

			for (i = 0; i < n; i++) {
				const struct io_unified_net_comp *c = unified_comp_entry(&k.r.comp, idx + i);

				CHECK(c->error == 0 && c->len == chunk, "completion: len %u error %d", c->len,
				      c->error);
				/* reuse at once: overwritten by the next loop */
				queue[(qh + qn) % 8] = (uint32_t)(c->addr / BUFSZ);
				qn++;
				done++;
				inflight--;
			}
			if (n)
				unified_ring_release(&k.r.comp, n);
		}
	}
	pthread_join(rd.th, NULL);
	CHECK(rd.got == rd.want, "peer got %" PRIu64 " of %" PRIu64 " bytes", rd.got, rd.want);
	for (uint64_t j = 0; j < rd.got; j++)
		if (rd.buf[j] != pattern(4, j)) {
			CHECK(0, "peer byte %" PRIu64 " is %#x, sent %#x", j, rd.buf[j], pattern(4, j));
			break;
		}
	REQUIRE(!unified_net_get_stats(k.c.ctx, &st), "stats");
	printf("  %" PRIu64 " bytes sent, %" PRIu64 " of them with SEND_ZC\n", st.tx_bytes, st.tx_zc_bytes);
	CHECK(st.tx_bytes == rd.want, "stats: %" PRIu64 " bytes sent", st.tx_bytes);
	close(rd.fd);
	close(srv);
	free(rd.buf);
	sink_close(&k);
}

/* Registration: the network part is validated, nothing is written on
 * failure, and an ABI-1 registration (net_ptr 0) has no network part. */
static void t_registration(void)
{
	struct th_ctx c;
	struct th_opts o = { 0 };
	struct io_unified_net_reg nr, saved;
	struct {
		const char *what;
		void (*mod)(struct io_unified_net_reg *);
	} bad[] = {
		{ "flags", NULL }, { "resv", NULL }, { "fill 3", NULL }, { "rx 65536", NULL },
		{ "max_conns 65537", NULL },
	};
	int i, ret;

	o.nbuf = 16;
	o.bufsz = BUFSZ;
	o.path = net_target;
	REQUIRE(!th_open(&c, &o), "plain registration");
	CHECK(c.reg.offsets.net == 0, "no network part, offsets.net %" PRIu64, (uint64_t)c.reg.offsets.net);
	CHECK(unified_net_rings_init(c.ctx, &(struct unified_net_rings){ 0 }) == -EINVAL,
	      "network calls without network rings must fail");
	th_close(&c);
	for (i = 0; i < 5; i++) {
		memset(&nr, 0, sizeof(nr));
		switch (i) {
		case 0: nr.flags = 1u << 1; break;
		case 1: nr.__resv[2] = 1; break;
		case 2: nr.fill_entries = 3; break;
		case 3: nr.rx_entries = 65536; break;
		case 4: nr.max_conns = 65537; break;
		}
		saved = nr;
		o.net = &nr;
		ret = th_open(&c, &o);
		CHECK(ret == -EINVAL, "%s: %d, want -EINVAL", bad[i].what, ret);
		CHECK(!memcmp(&nr, &saved, sizeof(nr)), "%s: the caller's net_reg was written", bad[i].what);
		if (!ret)
			th_close(&c);
	}
	memset(&nr, 0, sizeof(nr));
	o.net = &nr;
	REQUIRE(!th_open(&c, &o), "registration with default network rings: %s", unified_errmsg());
	CHECK(nr.fill_entries == 1024 && nr.max_conns == 1024, "defaults not reported");
	CHECK(c.reg.offsets.net == nr.fill_ring && nr.fill_ring >= c.reg.offsets.buffers + 16 * BUFSZ &&
	      !(nr.fill_ring % 4096) && nr.comp_desc + 1024 * 16 <= c.desc.size,
	      "network part misplaced: fill_ring %" PRIu64 ", region %" PRIu64, (uint64_t)nr.fill_ring,
	      (uint64_t)c.desc.size);
	{
		struct io_unified_ring *rx = (void *)((uint8_t *)unified_region(c.ctx) + nr.rx_ring);

		CHECK(rx->ring_entries == 1024 && rx->ring_mask == 1023, "RX header geometry");
	}
	th_close(&c);
}

/* The TCP cases again through incremental buffer rings and multishot
 * receives (6.12+; on older kernels the flag falls back to the same plain
 * path, which the printed "TCP receive" line shows). */
#define INC(name, fn) static void name(void) { inc_recv = true; fn(); inc_recv = false; }
INC(t_inc_tcp_peer_reset, t_tcp_peer_reset)
INC(t_inc_tcp_peer_half_close, t_tcp_peer_half_close)
INC(t_inc_tcp_one_byte_at_a_time, t_tcp_one_byte_at_a_time)
INC(t_inc_tcp_many_connections, t_tcp_many_connections)
INC(t_inc_tcp_fill_exhaustion_loses_nothing, t_tcp_fill_exhaustion_loses_nothing)
INC(t_inc_tcp_64mib_loopback_to_nvme_thread, t_tcp_64mib_loopback_to_nvme_thread)
INC(t_inc_tcp_256mib_loopback_to_nvme_kick, t_tcp_256mib_loopback_to_nvme_kick)

int main(int argc, char **argv)
{
	const char *sc = getenv("UNIFIED_NET_SCALE");

	harness_args(argc, argv);
	net_target = getenv("UNIFIED_NET_TARGET");
	if (sc && atoi(sc) > 0)
		scale = (uint64_t)atoi(sc);
	net_setup();
	RUN(t_registration);
	RUN(t_fill_bad_offsets);
	RUN(t_nvme_write_of_announced_bytes);
	RUN(t_tx_errors_and_send);
	RUN(t_tx_stream_zerocopy);
	RUN(t_udp_datagrams_and_drops);
	RUN(t_tcp_ipv6);
	RUN(t_tcp_peer_reset);
	RUN(t_tcp_peer_half_close);
	RUN(t_tcp_one_byte_at_a_time);
	RUN(t_tcp_many_connections);
	RUN(t_tcp_fill_exhaustion_loses_nothing);
	RUN(t_tcp_64mib_loopback_to_nvme_thread);
	RUN(t_tcp_256mib_loopback_to_nvme_kick);
	RUN(t_tcp_256mib_veth_to_nvme);
	RUN(t_inc_tcp_peer_reset);
	RUN(t_inc_tcp_peer_half_close);
	RUN(t_inc_tcp_one_byte_at_a_time);
	RUN(t_inc_tcp_many_connections);
	RUN(t_inc_tcp_fill_exhaustion_loses_nothing);
	RUN(t_inc_tcp_64mib_loopback_to_nvme_thread);
	RUN(t_inc_tcp_256mib_loopback_to_nvme_kick);
	net_teardown();
	return harness_done();
}
