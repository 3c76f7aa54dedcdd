/* SPDX-License-Identifier: MIT */
/*
 * unified-netbench: network to storage, side by side in one run.  A sender
 * process streams --bytes over TCP (loopback, or over a veth pair from a
 * second network namespace with --veth); the receiver stores the stream in
 * a file or device target, each way in turn:
 *
 *   unified     libunified's network rings: the stream lands in region
 *               buffers, each full buffer is written with an NVMe Write of
 *               that same memory (O_DIRECT, fixed buffers), no user copy
 *   recvcopy    recv() into a staging buffer, memcpy into an aligned
 *               buffer, pwrite(O_DIRECT) when it is full
 *   recvdirect  recv(MSG_WAITALL) straight into an aligned buffer, then
 *               pwrite(O_DIRECT); no copy, but no overlap either
 *   splice      splice() socket -> pipe -> file (buffered), fdatasync
 *
 * Every way ends with fdatasync of the target, inside the timing.
 * Receiver CPU is the receiving process's user + system time (its
 * io_uring workers included); the sender is another process.  Payload
 * bytes copied by user space: counted by each way (the library reports
 * its own, always 0).
 *
 *   unified-netbench [--target PATH] [--bytes N] [--ways LIST] [--veth]
 *                    [--runs N] [--buf BYTES]
 * Exit status 0 if every way stored every byte (first and last MiB
 * checked against the sent pattern).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "libunified.h"

#define MIB (1ull << 20)

static uint64_t opt_bytes = 1ull << 30;
static uint32_t opt_buf = 1u << 20;
static const char *opt_target;
static char target_path[512];
static bool opt_veth, opt_inc;
static char veth_ns[64];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* The stream's byte at offset @i: periodic over 64 MiB, so the sender sends
 * from a precomputed copy and its own CPU never limits the run. */
#define PERIOD (64ull << 20)
static inline uint8_t pattern(uint64_t i)
{
	uint64_t p = (i % PERIOD) >> 12;

	return (uint8_t)((p * 0x9du) ^ (p >> 8) ^ ((i & 0xfff) * 7u));
}

/* ------------------------------------------------------------- sender */

static pid_t sender_start(uint16_t port)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	{
		uint8_t *buf = malloc(PERIOD + MIB);
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
		uint64_t sent = 0, i;
		int fd;

		if (!buf)
			_exit(2);
		for (i = 0; i < PERIOD + MIB; i++)
			buf[i] = pattern(i);
		if (opt_veth) {
			char p[128];
			int nfd;

			snprintf(p, sizeof(p), "/run/netns/%s", veth_ns);
			nfd = open(p, O_RDONLY | O_CLOEXEC);
			if (nfd < 0 || setns(nfd, CLONE_NEWNET))
				_exit(3);
			inet_pton(AF_INET, "10.202.0.1", &to.sin_addr);
		} else {
			inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
		}
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof(to)))
			_exit(4);
		while (sent < opt_bytes) {
			uint32_t n = opt_bytes - sent < MIB ? (uint32_t)(opt_bytes - sent) : (uint32_t)MIB;
			ssize_t w = send(fd, buf + sent % PERIOD, n, MSG_NOSIGNAL);

			if (w <= 0)
				_exit(5);
			sent += (uint64_t)w;
		}
		close(fd);
		_exit(0);
	}
}

static int listen_socket(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, opt_veth ? "10.202.0.1" : "127.0.0.1", &a.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)&a, &l))
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

/* ------------------------------------------------------------- the ways */

struct result {
	double secs, cpu;
	uint64_t bytes, copied;
	bool ok;
};

static int open_direct(void)
{
	return open(target_path, O_RDWR | O_DIRECT | O_CLOEXEC);
}

/* The end of a way: its time and CPU, the sender reaped, the descriptors closed. */
static void way_end(struct result *r, double c0, uint64_t t0, pid_t pid, int fd, int lfd, int out)
{
	r->secs = (now_ns() - t0) / 1e9;
	r->cpu = cpu_s() - c0;
	waitpid(pid, NULL, 0);
	close(fd);
	close(lfd);
	close(out);
}

static void way_recvcopy(struct result *r, bool copy)
{
	uint16_t port;
	int lfd = listen_socket(&port), fd, out = open_direct();
	uint8_t *stage = malloc(256 << 10 | 64), *aligned = NULL;
	uint64_t off = 0;
	uint32_t fill = 0;
	pid_t pid;
	double c0 = cpu_s();
	uint64_t t0 = now_ns();

	if (lfd < 0 || out < 0 || !stage || posix_memalign((void **)&aligned, 4096, opt_buf))
		return;
	pid = sender_start(port);
	fd = accept(lfd, NULL, NULL);
	for (;;) {
		ssize_t n;

		if (copy) {
			n = recv(fd, stage + 1, 256 << 10, 0);	/* misaligned on purpose */
			if (n <= 0)
				break;
			for (ssize_t done = 0; done < n;) {
				uint32_t take = opt_buf - fill < (uint32_t)(n - done) ? opt_buf - fill :
						(uint32_t)(n - done);

				memcpy(aligned + fill, stage + 1 + done, take);
				r->copied += take;
				fill += take;
				done += take;
				if (fill == opt_buf) {
					if (pwrite(out, aligned, opt_buf, (off_t)off) != (ssize_t)opt_buf)
						goto out;
					off += opt_buf;
					fill = 0;
				}
			}
		} else {
			n = recv(fd, aligned + fill, opt_buf - fill, MSG_WAITALL);
			if (n <= 0)
				break;
			fill += (uint32_t)n;
			if (fill == opt_buf) {
				if (pwrite(out, aligned, opt_buf, (off_t)off) != (ssize_t)opt_buf)
					goto out;
				off += opt_buf;
				fill = 0;
			}
		}
		r->bytes += (uint64_t)n;
	}
	if (fill) {
		uint32_t len = (fill + 4095) & ~4095u;

		if (pwrite(out, aligned, len, (off_t)off) != (ssize_t)len)
			goto out;
	}
	fdatasync(out);
	r->ok = r->bytes == opt_bytes;
out:
	way_end(r, c0, t0, pid, fd, lfd, out);
	free(stage);
	free(aligned);
}

static void way_splice(struct result *r)
{
	uint16_t port;
	int lfd = listen_socket(&port), fd, out = open(target_path, O_RDWR | O_CLOEXEC), p[2];
	loff_t off = 0;
	pid_t pid;
	double c0 = cpu_s();
	uint64_t t0 = now_ns();

	if (lfd < 0 || out < 0 || pipe2(p, O_CLOEXEC))
		return;
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	pid = sender_start(port);
	fd = accept(lfd, NULL, NULL);
	for (;;) {
		ssize_t n = splice(fd, NULL, p[1], NULL, 1 << 20, SPLICE_F_MOVE | SPLICE_F_MORE);

		if (n <= 0)
			break;
		while (n > 0) {
			ssize_t w = splice(p[0], NULL, out, &off, (size_t)n, SPLICE_F_MOVE);

			if (w <= 0)
				goto out;
			n -= w;
			r->bytes += (uint64_t)w;
		}
	}
	fdatasync(out);
	r->ok = r->bytes == opt_bytes;
out:
	way_end(r, c0, t0, pid, fd, lfd, out);
	close(p[0]);
	close(p[1]);
}

#define UNBUF 64

static void way_unified(struct result *r)
{
	struct io_unified_region_desc desc = { 0 };
	struct io_unified_net_reg nr = { 0 };
	struct io_unified_reg reg = { 0 };
	struct unified_opts opts = { 0 };
	struct unified_ctx *ctx;
	struct unified_sq sq;
	struct unified_cq cq;
	struct unified_net_rings rings;
	struct unified_target_info info;
	struct unified_net_stats st;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	uint64_t free_bufs[UNBUF], filled[UNBUF] = { 0 }, next_lba = 0;
	uint32_t nfree = 0, inflight = 0, lid, i;
	bool ended = false;
	pid_t pid;
	double c0;
	uint64_t t0;

	reg.region_ptr = (uintptr_t)&desc;
	reg.nvme_dev_path = (uintptr_t)target_path;
	reg.sq_entries = UNBUF;
	reg.buffer_entries = UNBUF;
	reg.buffer_entry_size = opt_buf;
	reg.net_ptr = (uintptr_t)&nr;
	nr.fill_entries = UNBUF;
	nr.rx_entries = 4096;
	nr.tx_entries = 16;
	nr.comp_entries = 16;
	nr.max_conns = 16;
	nr.flags = opt_inc ? IO_UNIFIED_NET_F_INC_RECV : 0;
	if (unified_register(&reg, &opts, &ctx)) {
		fprintf(stderr, "unified_register: %s\n", unified_errmsg());
		return;
	}
	unified_sq_init(ctx, &sq);
	unified_cq_init(ctx, &cq);
	unified_net_rings_init(ctx, &rings);
	unified_target_info(ctx, &info);
	if (info.max_xfer < opt_buf)
		fprintf(stderr, "note: the target's largest transfer is %u bytes: buffers of %u bytes "
			"will fail\n", info.max_xfer, opt_buf);
	for (i = 0; i < UNBUF; i++)
		free_bufs[nfree++] = (uint64_t)i * opt_buf;
	inet_pton(AF_INET, opt_veth ? "10.202.0.1" : "127.0.0.1", &sa.sin_addr);
	if (unified_net_listen(ctx, SOCK_STREAM, (struct sockaddr *)&sa, sizeof(sa), 0, &lid) ||
	    unified_net_local_addr(ctx, lid, (struct sockaddr *)&sa, &sl)) {
		fprintf(stderr, "listen: %s\n", unified_errmsg());
		unified_unregister(ctx);
		return;
	}
	c0 = cpu_s();
	t0 = now_ns();
	pid = sender_start(ntohs(sa.sin_port));
	r->ok = true;
	while (!ended || inflight) {
		uint32_t idx, sidx, n, fills = 0;

		while (nfree && unified_ring_reserve(&rings.fill, 1, &idx)) {
			*unified_fill_addr(&rings.fill, idx) = free_bufs[--nfree];
			unified_ring_submit(&rings.fill, 1);
			fills++;
		}
		if (unified_enter(ctx, 1, 1000) < 0 && errno != ETIME) {
			/* a timeout or a signal: look again */
		}
		n = unified_ring_peek(&rings.rx, 4096, &idx);
		for (i = 0; i < n; i++) {
			const struct io_unified_net_desc *d = unified_net_desc(&rings.rx, idx + i);
			uint32_t b;

			if (d->flags & IO_UNIFIED_NET_RX_NEW_CONN)
				continue;
			if (d->conn == IO_UNIFIED_NET_NO_CONN) {	/* a refused FILL entry: our bug */
				fprintf(stderr, "FILL entry %#llx refused: %s\n", (unsigned long long)d->addr,
					strerror(-d->error));
				r->ok = false;
				continue;
			}
			if (d->flags & (IO_UNIFIED_NET_RX_EOF | IO_UNIFIED_NET_RX_ERROR |
					IO_UNIFIED_NET_RX_CLOSED)) {
				ended = true;
				if (d->flags & IO_UNIFIED_NET_RX_ERROR)
					r->ok = false;
			}
			if (d->addr == IO_UNIFIED_NET_NO_ADDR)
				continue;
			b = (uint32_t)(d->addr / opt_buf);
			filled[b] += d->len;
			r->bytes += d->len;
			if (!(d->flags & IO_UNIFIED_NET_RX_MORE)) {
				uint64_t buf = unified_net_buffer_of(d->addr, opt_buf);

				if (!filled[b]) {
					free_bufs[nfree++] = buf;
					continue;
				}
				if (!unified_sq_reserve(&sq, 1, &sidx)) {
					r->ok = false;
					continue;
				}
				unified_prep_write_rx(unified_sq_entry(&sq, sidx), info.nsid, next_lba, buf,
						      (uint32_t)filled[b], info.lba_shift, buf);
				next_lba += (filled[b] + info.lba_size - 1) >> info.lba_shift;
				filled[b] = 0;
				unified_sq_submit(&sq, 1);
				inflight++;
			}
		}
		if (n)
			unified_ring_release(&rings.rx, n);
		if (inflight || fills)
			unified_kick(ctx);
		while ((n = unified_cq_peek(&cq, 64, &idx))) {
			for (i = 0; i < n; i++) {
				const struct io_unified_cqe *c = unified_cq_entry(&cq, idx + i);

				if (c->status)
					r->ok = false;
				free_bufs[nfree++] = c->user_data;
				inflight--;
			}
			unified_cq_release(&cq, n);
		}
	}
	{
		int fd = open(target_path, O_RDWR | O_CLOEXEC);	/* the same durability as the others */

		if (fd >= 0) {
			fdatasync(fd);
			close(fd);
		}
	}
	r->secs = (now_ns() - t0) / 1e9;
	r->cpu = cpu_s() - c0;
	waitpid(pid, NULL, 0);
	unified_net_get_stats(ctx, &st);
	r->copied = st.copied_bytes;
	if (r->bytes != opt_bytes)
		r->ok = false;
	unified_unregister(ctx);
}

/* The first and last MiB of the target against the pattern. */
static bool verify(void)
{
	uint8_t *p = malloc(MIB);
	int fd = open(target_path, O_RDONLY | O_CLOEXEC);
	uint64_t offs[2] = { 0, opt_bytes - MIB }, i;
	bool ok = fd >= 0 && p;

	for (int k = 0; ok && k < 2; k++) {
		if (pread(fd, p, MIB, (off_t)offs[k]) != (ssize_t)MIB) {
			ok = false;
			break;
		}
		for (i = 0; i < MIB; i++)
			if (p[i] != pattern(offs[k] + i)) {
				ok = false;
				break;
			}
	}
	if (fd >= 0)
		close(fd);
	free(p);
	return ok;
}

static void wipe(void)
{
	int fd = open(target_path, O_RDWR | O_CLOEXEC);

	if (fd >= 0) {	/* zero the first and last MiB: a way that stores nothing must fail */
		uint8_t *z = calloc(1, MIB);

		if (z) {
			if (pwrite(fd, z, MIB, 0) < 0 || pwrite(fd, z, MIB, (off_t)(opt_bytes - MIB)) < 0) {
				/* verify() will say */
			}
			free(z);
		}
		fsync(fd);
		close(fd);
	}
}

static int veth_setup(void)
{
	char cmd[1024];

	snprintf(veth_ns, sizeof(veth_ns), "unb-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "ip netns add %s && ip link add unb0 type veth peer name unb1 netns %s && "
		 "ip addr add 10.202.0.1/24 dev unb0 && ip link set unb0 up && "
		 "ip -n %s addr add 10.202.0.2/24 dev unb1 && ip -n %s link set unb1 up",
		 veth_ns, veth_ns, veth_ns, veth_ns);
	return system(cmd) ? -1 : 0;
}

static void veth_teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "ip link del unb0 2>/dev/null; ip netns del %s 2>/dev/null", veth_ns);
	if (system(cmd)) {
		/* best effort */
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "target", required_argument, NULL, 't' }, { "bytes", required_argument, NULL, 'b' },
		{ "ways", required_argument, NULL, 'w' }, { "veth", no_argument, NULL, 'v' },
		{ "runs", required_argument, NULL, 'r' }, { "buf", required_argument, NULL, 'B' },
		{ "inc-recv", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *ways = "unified,recvcopy,recvdirect,splice", *names[] = { "unified", "recvcopy",
		"recvdirect", "splice" };
	struct result res[4][16];
	int runs = 2, opt, w, k, bad = 0;
	bool made = false;

	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 't': opt_target = optarg; break;
		case 'b': opt_bytes = strtoull(optarg, NULL, 0) << 20; break;
		case 'w': ways = optarg; break;
		case 'v': opt_veth = true; break;
		case 'r': runs = atoi(optarg); break;
		case 'B': opt_buf = (uint32_t)strtoul(optarg, NULL, 0) << 10; break;
		case 'P': opt_inc = true; break;
		default:
			printf("usage: unified-netbench [--target PATH] [--bytes MIB] [--ways LIST] [--veth]\n"
			       "                        [--runs N] [--buf KIB] [--inc-recv]\n"
			       "  ways: unified,recvcopy,recvdirect,splice (all by default)\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (runs < 1 || runs > 16 || opt_bytes < 2 * MIB || opt_buf < 4096 || (opt_buf & (opt_buf - 1))) {
		fprintf(stderr, "bad --runs, --bytes (at least 2 MiB) or --buf (a power of two >= 4 KiB)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (opt_target) {
		int fd;

		snprintf(target_path, sizeof(target_path), "%s", opt_target);
		fd = open(target_path, O_RDWR | O_DIRECT | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "cannot open %s for O_DIRECT writes: %s\n", target_path, strerror(errno));
			return 1;
		}
		close(fd);
	} else {
		const char *t = getenv("TMPDIR");
		int fd;

		snprintf(target_path, sizeof(target_path), "%s/unified-netbench-%d.img",
			 t && *t ? t : "/var/tmp", (int)getpid());
		fd = open(target_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || fallocate(fd, 0, 0, (off_t)(opt_bytes + 64 * MIB))) {
			fprintf(stderr, "cannot create %s: %s\n", target_path, strerror(errno));
			return 1;
		}
		close(fd);
		made = true;
	}
	if (opt_veth && veth_setup()) {
		fprintf(stderr, "--veth needs root and iproute2 (ip netns, veth)\n");
		veth_teardown();
		return 1;
	}
	printf("unified-netbench: %" PRIu64 " MiB over %s to %s, buffers of %u KiB, %d runs, ways "
	       "interleaved%s\n", opt_bytes >> 20, opt_veth ? "veth (sender in another namespace)" :
	       "loopback", target_path, opt_buf >> 10, runs,
	       opt_inc ? "; unified: incremental buffer rings (--inc-recv)" : "");
	memset(res, 0, sizeof(res));
	for (k = 0; k < runs; k++) {
		for (w = 0; w < 4; w++) {
			struct result *r = &res[w][k];

			if (!strstr(ways, names[w]))
				continue;
			wipe();
			if (w == 0)
				way_unified(r);
			else if (w == 1)
				way_recvcopy(r, true);
			else if (w == 2)
				way_recvcopy(r, false);
			else
				way_splice(r);
			if (r->ok && !verify()) {
				fprintf(stderr, "  %s: the target does not hold the stream\n", names[w]);
				r->ok = false;
			} else if (!r->ok) {
				fprintf(stderr, "  %s: %" PRIu64 " of %" PRIu64 " bytes stored\n", names[w],
					r->bytes, opt_bytes);
			}
			if (!r->ok)
				bad++;
			printf("  run %d %-10s %8.0f MB/s  %6.3f CPU-s/GiB  copied %" PRIu64 " bytes%s\n", k + 1,
			       names[w], r->bytes / r->secs / 1e6, r->cpu / (r->bytes / (double)(1 << 30)),
			       r->copied, r->ok ? "" : "  FAILED (bytes missing or wrong)");
			fflush(stdout);
		}
	}
	printf("summary (mean of %d runs; ratios against recvcopy = recv + memcpy + pwrite(O_DIRECT)):\n",
	       runs);
	{
		double base_t = 0, base_c = 0;

		for (k = 0; k < runs; k++) {
			base_t += res[1][k].bytes / res[1][k].secs / runs;
			base_c += res[1][k].cpu / (res[1][k].bytes / (double)(1 << 30)) / runs;
		}
		for (w = 0; w < 4; w++) {
			double t = 0, c = 0;
			uint64_t cp = 0;

			if (!strstr(ways, names[w]))
				continue;
			for (k = 0; k < runs; k++) {
				t += res[w][k].bytes / res[w][k].secs / runs;
				c += res[w][k].cpu / (res[w][k].bytes / (double)(1 << 30)) / runs;
				cp += res[w][k].copied;
			}
			printf("  %-10s %8.0f MB/s  %6.3f CPU-s/GiB  user-space payload copies %" PRIu64
			       " bytes", names[w], t / 1e6, c, cp / (uint64_t)runs);
			if (base_t > 0 && strstr(ways, "recvcopy"))
				printf("  throughput %.2fx, CPU %.2fx", t / base_t, c / base_c);
			printf("\n");
		}
	}
	if (opt_veth)
		veth_teardown();
	if (made)
		unlink(target_path);
	return bad ? 1 : 0;
}
