/* SPDX-License-Identifier: MIT */
/*
 * Network to NVMe with no copy: TCP streams are received into buffers of
 * the unified region and each returned buffer is written to the namespace
 * from that same memory, then given back to FILL.  The namespace becomes
 * an append-only log of whole buffers (each stream's bytes in order; a
 * stream's last buffer is padded to a logical block).
 *
 *   net_to_nvme [-t TARGET] [-p PORT] [-n CONNECTIONS] [-q]
 *     TARGET        /dev/ngXnY, a block device or a file (default: the
 *                   embedded file-backed namespace)
 *     PORT          TCP port on 127.0.0.1 (default 5514; 0 picks one)
 *     CONNECTIONS   exit after this many connections ended (default 1)
 *     -q            print only the final line
 *
 * Prints "listening on 127.0.0.1:PORT" once ready, and at the end the bytes
 * received, the bytes written, the blocks used and the payload bytes the
 * library copied (0).  Exit status 0 if every write succeeded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "libunified.h"

#define NBUF	64
#define BUFSZ	(256u << 10)

struct app {
	struct unified_ctx *ctx;
	struct unified_sq sq;
	struct unified_cq cq;
	struct unified_net_rings r;
	struct unified_target_info info;
	uint64_t free_bufs[NBUF];
	uint32_t nfree;
	uint64_t filled[NBUF];	/* bytes received in each buffer */
	uint64_t next_lba;
	uint64_t rx_bytes, written;
	uint32_t inflight, ended, failed;
};

static void give_fill(struct app *a)
{
	uint32_t idx, n = 0;

	while (a->nfree && unified_ring_reserve(&a->r.fill, 1, &idx)) {
		*unified_fill_addr(&a->r.fill, idx) = a->free_bufs[--a->nfree];
		unified_ring_submit(&a->r.fill, 1);
		n++;
	}
	if (n)
		unified_kick(a->ctx);
}

/* A buffer came back from the receive side: append it to the log. */
static void write_buffer(struct app *a, uint64_t buf)
{
	uint32_t b = (uint32_t)(buf / BUFSZ), idx;
	uint64_t bytes = a->filled[b];
	struct io_unified_sqe *sqe;

	a->filled[b] = 0;
	if (!bytes) {
		a->free_bufs[a->nfree++] = buf;
		return;
	}
	if (!unified_sq_reserve(&a->sq, 1, &idx)) {	/* SQ = NBUF entries: cannot happen */
		fprintf(stderr, "SQ full\n");
		a->failed++;
		a->free_bufs[a->nfree++] = buf;
		return;
	}
	sqe = unified_sq_entry(&a->sq, idx);
	unified_prep_write_rx(sqe, a->info.nsid, a->next_lba, buf, (uint32_t)bytes, a->info.lba_shift,
			      buf);
	a->next_lba += (bytes + a->info.lba_size - 1) >> a->info.lba_shift;
	if (a->next_lba > a->info.nlba) {
		fprintf(stderr, "the namespace is full\n");
		a->failed++;
	}
	unified_sq_submit(&a->sq, 1);
	a->inflight++;
	a->written += bytes;
}

int main(int argc, char **argv)
{
	struct io_unified_region_desc desc = { 0 };
	struct io_unified_net_reg nr = { 0 };
	struct io_unified_reg reg = { 0 };
	struct unified_opts opts = { 0 };
	struct unified_net_stats st;
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);
	const char *target = NULL;
	uint32_t want_conns = 1, lid, i;
	int port = 5514, quiet = 0, opt, ret;
	struct app a = { 0 };

	while ((opt = getopt(argc, argv, "t:p:n:q")) != -1) {
		switch (opt) {
		case 't': target = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': want_conns = (uint32_t)atoi(optarg); break;
		case 'q': quiet = 1; break;
		default:
			fprintf(stderr, "usage: net_to_nvme [-t TARGET] [-p PORT] [-n CONNECTIONS] [-q]\n");
			return 2;
		}
	}
	reg.region_ptr = (uintptr_t)&desc;
	reg.nvme_dev_path = (uintptr_t)target;
	reg.sq_entries = NBUF;
	reg.buffer_entries = NBUF;
	reg.buffer_entry_size = BUFSZ;
	reg.net_ptr = (uintptr_t)&nr;
	nr.fill_entries = NBUF;
	nr.rx_entries = 1024;
	nr.tx_entries = 16;
	nr.comp_entries = 16;
	ret = unified_register(&reg, &opts, &a.ctx);
	if (ret) {
		fprintf(stderr, "unified_register: %s\n", unified_errmsg());
		return 1;
	}
	unified_sq_init(a.ctx, &a.sq);
	unified_cq_init(a.ctx, &a.cq);
	unified_net_rings_init(a.ctx, &a.r);
	unified_target_info(a.ctx, &a.info);
	for (i = 0; i < NBUF; i++)
		a.free_bufs[a.nfree++] = (uint64_t)(NBUF - 1 - i) * BUFSZ;

	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (unified_net_listen(a.ctx, SOCK_STREAM, (struct sockaddr *)&sa, sizeof(sa), 1, &lid) ||
	    unified_net_local_addr(a.ctx, lid, (struct sockaddr *)&sa, &sl)) {
		fprintf(stderr, "listen: %s\n", unified_errmsg());
		unified_unregister(a.ctx);
		return 1;
	}
	printf("listening on 127.0.0.1:%u, writing to %s\n", ntohs(sa.sin_port), a.info.path);
	fflush(stdout);

	while (a.ended < want_conns || a.inflight) {
		uint32_t idx, n;

		give_fill(&a);
		ret = unified_enter(a.ctx, 1, 1000);
		if (ret < 0 && ret != -ETIME && ret != -EINTR) {
			fprintf(stderr, "unified_enter: %s\n", unified_errmsg());
			a.failed++;
			break;
		}
		n = unified_ring_peek(&a.r.rx, 256, &idx);
		for (i = 0; i < n; i++) {
			const struct io_unified_net_desc *d = unified_net_desc(&a.r.rx, idx + i);

			if (d->flags & IO_UNIFIED_NET_RX_NEW_CONN) {
				if (!quiet)
					printf("connection %#x\n", d->conn);
				continue;
			}
			if (d->addr == IO_UNIFIED_NET_NO_ADDR) {
				if (d->flags & (IO_UNIFIED_NET_RX_EOF | IO_UNIFIED_NET_RX_ERROR))
					a.ended++;
				continue;
			}
			if (d->conn == IO_UNIFIED_NET_NO_CONN) {	/* a refused FILL entry: a bug here */
				fprintf(stderr, "FILL entry %#" PRIx64 " refused: %s\n", (uint64_t)d->addr,
					strerror(-d->error));
				a.failed++;
				continue;
			}
			a.filled[d->addr / BUFSZ] += d->len;
			a.rx_bytes += d->len;
			if (!(d->flags & IO_UNIFIED_NET_RX_MORE))
				write_buffer(&a, unified_net_buffer_of(d->addr, BUFSZ));
			if (d->flags & (IO_UNIFIED_NET_RX_EOF | IO_UNIFIED_NET_RX_ERROR)) {
				if (d->flags & IO_UNIFIED_NET_RX_ERROR && !quiet)
					printf("connection %#x: %s\n", d->conn, strerror(-d->error));
				a.ended++;
			}
		}
		if (n)
			unified_ring_release(&a.r.rx, n);
		if (a.inflight)
			unified_kick(a.ctx);
		while ((n = unified_cq_peek(&a.cq, 64, &idx))) {
			for (i = 0; i < n; i++) {
				const struct io_unified_cqe *cqe = unified_cq_entry(&a.cq, idx + i);

				if (cqe->status) {
					fprintf(stderr, "write: %s\n", unified_status_str(cqe->status));
					a.failed++;
				}
				a.free_bufs[a.nfree++] = cqe->user_data;
				a.inflight--;
			}
			unified_cq_release(&a.cq, n);
		}
	}
	unified_net_get_stats(a.ctx, &st);
	printf("received %" PRIu64 " bytes, wrote %" PRIu64 " bytes in %" PRIu64 " blocks of %u, "
	       "payload bytes copied by the library: %" PRIu64 "\n", a.rx_bytes, a.written, a.next_lba,
	       a.info.lba_size, st.copied_bytes);
	if (unified_unregister(a.ctx))
		a.failed++;
	return a.failed ? 1 : 0;
}
