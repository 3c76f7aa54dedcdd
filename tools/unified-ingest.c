/* SPDX-License-Identifier: MIT */
/*
 * unified-ingest: a crash-safe network-to-NVMe log ingest server
 * (docs/ingest.md, man unified-ingest(1)).
 *
 *   unified-ingest serve  [--target PATH] [--listen [ADDR:]PORT] [--relp [ADDR:]PORT]
 *                         [--udp [ADDR:]PORT] [--json] ...
 *   unified-ingest dump   [--target PATH] [--from SEQ]
 *   unified-ingest verify [--target PATH]
 *   unified-ingest format [--target PATH]
 *
 * Syslog messages arrive over TCP (RFC 6587 octet counting or LF framing),
 * RELP or UDP into the region's buffers through libunified's network
 * rings.  They are stored in place: the group commit writes the received
 * stream bytes straight from those buffers into data regions of the
 * journal (NVMe Writes of the very memory the socket wrote), flushes, and
 * writes an index extent (FUA) that names every message by address,
 * length and CRC32C.  Only then are RELP messages acknowledged and the
 * buffers given back to receive.  No user-space copy of a payload byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "libunified.h"
#include "bench.h"
#include "crc32c.h"
#include "framing.h"
#include "hist.h"
#include "journal.h"
#include "relp.h"

#define FUA		(1u << 30)	/* NVMe Write CDW12 bit 30: Force Unit Access */
#define NO_BUF		(-1)
#define TX_RESERVE	64u		/* buffers kept out of FILL for RELP responses */
#define RELP_MAX_UNANSWERED 65536u	/* frames of one client without their response yet */
#define RELP_MAX_TX	1u		/* TX entries of one client in the ring: the ring
					 * serves in order, so a client that does not read
					 * must not hold entries behind its blocked send */
#define MAX_EXT		16u		/* index extents per commit, written as one run */
#define EXT_AREA	(MAX_EXT * UJ_EXTENT_BLOCKS * UJ_BLOCK)	/* 1 MiB: where they are encoded */

enum proto { P_TCP = 1, P_RELP, P_UDP };
enum { UD_DATA = 1, UD_FLUSH, UD_INDEX, UD_SYNC };	/* NVMe user_data tags (<< 56) */

/* ------------------------------------------------------------ options */

static const char *opt_target;
static const char *opt_listen, *opt_relp, *opt_udp;
static uint32_t opt_bufsz = 64u << 10, opt_nbufs = 1280, opt_max_conns = 1024;
static uint32_t opt_commit_us = 1000, opt_commit_bytes = 4u << 20;
static uint32_t opt_max_msg;		/* 0 = the buffer size */
static double opt_stats_s = 5, opt_duration_s, opt_frame_timeout_s = 30;
static bool opt_json, opt_quiet, opt_format, opt_thread, opt_chain, opt_inject_torn;
static uint64_t opt_from = 1, opt_size;

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One log line on stderr (connections opened and closed, refusals). */
static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("unified-ingest: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("unified-ingest: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* ------------------------------------------------------------ the context */

struct iconn;

struct ibuf {
	struct iconn *owner;	/* a response buffer's connection */
	uint32_t seen;		/* bytes announced on RX */
	uint32_t written;	/* bytes of it durable or being written */
	uint32_t recs;		/* uncommitted records naming it */
	uint64_t region;	/* journal block of its data region, 0 = none yet */
	bool in_net;		/* FILL or the receive side holds it */
	bool returned;		/* the receive side gave it back (RX without MORE) */
	bool pinned;		/* its connection's message may still start in it */
	bool writing;		/* a data write of it is in flight */
	bool listed;		/* on the commit's dirty list */
	bool tx;		/* a RELP response buffer (staging or in a send) */
	bool promised;		/* journal space is counted for its region */
};

struct rsp {			/* a RELP response waiting for its turn */
	uint32_t txnr;
	uint8_t kind;		/* RELP_SYSLOG (ack once rec_seq is durable), RELP_OPEN, RELP_CLOSE, RELP_OTHER */
	uint64_t rec_seq;
};

struct iconn {
	bool ended, closing;
	uint8_t proto;
	uint32_t id;		/* the library's connection id */
	char peer[128];
	struct unified_framer fr;
	struct relp_parser rp;
	uint64_t stream;	/* stream offset of the next byte */
	int32_t cur, prev;	/* buffers: receiving, and the one before (full) */
	uint64_t cur_base, prev_base;
	uint64_t last_rx_ns;
	uint64_t msgs;
	/* RELP */
	struct rsp *rq;		/* responses in order */
	uint32_t rq_head, rq_n, rq_cap;
	int32_t txb;		/* staging buffer, NO_BUF if none */
	uint32_t txlen;
	uint32_t tx_inflight;	/* TX entries given to the ring (at most RELP_MAX_TX) */
	uint64_t tx_since;	/* when the one in flight was given */
	bool opened, close_sent, on_rsp_list;
	bool in_table;		/* the table's entry for its slot (else a predecessor
				 * whose slot the library reused: only its TX ends remain) */
};

struct prec {			/* a message not yet committed */
	struct uj_record r;	/* addr1/addr2 filled at commit */
	int32_t b1, b2;
	uint32_t off1, off2;
	uint64_t arrival_ns;	/* monotonic, for the ack latency */
};

struct ingest {
	struct unified_ctx *ctx;
	struct unified_sq sq;
	struct unified_cq cq;
	struct unified_net_rings rings;
	struct unified_target_info ti;
	uint8_t *area;
	uint32_t nbufs, bufsz, lba, lba_shift, rb;	/* rb: region blocks per buffer */
	struct ibuf *b;
	int32_t *freel;
	uint32_t nfree;
	uint32_t in_net;
	/* connections, by the library's slot (id & 0xffff) */
	struct iconn **c;
	uint32_t max_conns;
	uint32_t nconns, listeners, udp_open;
	uint32_t lid[3];
	uint16_t port[3];
	struct iconn **rsp_list;	/* RELP connections with responses to send */
	uint32_t rsp_n, rsp_cap;
	uint32_t tx_bufs, tx_inflight;	/* response buffers taken; TX entries out */
	/* the journal */
	struct uj_state js;
	uint64_t nblocks;
	uint64_t cursor;		/* next free block */
	uint64_t ext_at;		/* where the next extent goes (reserved) */
	uint32_t ext_room;		/* blocks free there (16, or less after a torn run) */
	uint64_t commit_seq, rec_seq;	/* next ones */
	uint64_t durable_seq;		/* records up to this one are durable */
	uint64_t promised;		/* regions promised to buffers in the network */
	bool full_logged, pause_logged;
	/* pending records (ring) */
	struct prec *pr;
	uint32_t pr_cap, pr_head, pr_n;
	uint64_t pr_bytes;
	/* the commit in flight */
	int cstate;			/* 0 idle, 1 data, 2 flush, 3 index */
	uint32_t c_writes, c_nrec, c_next, c_index_writes;	/* c_next: index blocks */
	uint64_t c_commit_seqs;		/* extents (commit sequence numbers) it uses */
	bool c_torn;			/* --inject-torn-run: only its first extent is written */
	uint32_t *dirty, ndirty;
	uint32_t *cbufs, n_cbufs;	/* the buffers the commit's data writes read */
	uint32_t ext_bufs;		/* buffers 0.. hold the extents being written (EXT_AREA) */
	uint64_t batch_mono, batch_real;	/* arrival time of the RX entries being read */
	struct uj_record *recbuf;
	uint64_t c_next_ext;
	/* statistics */
	uint64_t msgs, bytes, commits, bad_conns;
	struct hist *lat;		/* this interval */
	struct hist *lat_all;
	uint64_t iv_msgs, iv_bytes, iv_t0;
	double cpu0;
	uint64_t t0;
};

static struct ingest G;

static void conn_try_release(struct ingest *g, struct iconn *c);

/* ------------------------------------------------------------ registration */

static void open_target(struct ingest *g, bool net, uint32_t nbufs)
{
	static struct io_unified_region_desc desc;
	static struct io_unified_net_reg nr;
	struct io_unified_reg reg = { 0 };
	struct unified_opts o = { 0 };
	uint32_t fill = 1;

	while (fill < nbufs)
		fill <<= 1;
	memset(&desc, 0, sizeof(desc));
	memset(&nr, 0, sizeof(nr));
	reg.region_ptr = (uintptr_t)&desc;
	reg.nvme_dev_path = (uintptr_t)opt_target;	/* 0: the embedded default */
	reg.sq_entries = 1024;
	reg.cq_entries = 2048;
	reg.buffer_entries = nbufs;
	reg.buffer_entry_size = g->bufsz;
	if (net) {
		reg.net_ptr = (uintptr_t)&nr;
		nr.fill_entries = fill;
		nr.rx_entries = 8192;
		nr.tx_entries = 1024;
		nr.comp_entries = 1024;
		nr.max_conns = opt_max_conns + 4;
	}
	o.mode = opt_thread ? UNIFIED_MODE_THREAD : UNIFIED_MODE_KICK;
	if (!opt_target || opt_size) {
		o.flags |= UNIFIED_OPT_CREATE;
		o.file_size = opt_size;
	}
	if (unified_register(&reg, &o, &g->ctx))
		die("cannot open the target %s: %s", opt_target ? opt_target : "(embedded default)",
		    unified_errmsg());
	unified_sq_init(g->ctx, &g->sq);
	unified_cq_init(g->ctx, &g->cq);
	if (net && unified_net_rings_init(g->ctx, &g->rings))
		die("network rings: %s", unified_errmsg());
	unified_target_info(g->ctx, &g->ti);
	g->area = unified_buf_ptr(g->ctx, 0);
	g->nbufs = nbufs;
	g->lba = g->ti.lba_size;
	g->lba_shift = g->ti.lba_shift;
	if (g->lba > UJ_BLOCK || g->lba < 512)
		die("%s: logical blocks of %u bytes; the journal needs 512..4096", g->ti.path, g->lba);
	if (g->ti.max_xfer < UJ_BLOCK)
		die("%s: largest transfer %u bytes, under one journal block", g->ti.path, g->ti.max_xfer);
	g->nblocks = (g->ti.nlba << g->lba_shift) / UJ_BLOCK;
	g->rb = g->bufsz / UJ_BLOCK;
}

static inline uint64_t blk_lba(const struct ingest *g, uint64_t blk)
{
	return blk << (12 - g->lba_shift);
}

/* One NVMe command, waited for (start-up, dump, verify: nothing else in flight). */
static int sync_cmd(struct ingest *g, struct io_unified_sqe *s)
{
	uint32_t idx;
	int ret;

	if (!unified_sq_reserve(&g->sq, 1, &idx))
		return -EBUSY;
	*unified_sq_entry(&g->sq, idx) = *s;
	unified_sq_submit(&g->sq, 1);
	for (;;) {
		ret = unified_enter(g->ctx, 1, 10000);
		if (ret < 0 && ret != -EINTR && ret != -ETIME)
			return ret;
		if (unified_cq_peek(&g->cq, 1, &idx)) {
			const struct io_unified_cqe *c = unified_cq_entry(&g->cq, idx);
			uint16_t st = c->status;

			ret = c->res;
			unified_cq_release(&g->cq, 1);
			if (st) {
				fprintf(stderr, "unified-ingest: NVMe status %#x (%s)\n", st,
					unified_status_str(st));
				return ret < 0 ? ret : -EIO;
			}
			return 0;
		}
	}
}

/* Read or write @n journal blocks at @blk through buffer @buf (n * 4 KiB at most its size). */
static int sync_rw(struct ingest *g, bool write, uint64_t blk, uint32_t n, uint32_t buf, bool fua)
{
	struct io_unified_sqe s;
	uint32_t nlb = n << (12 - g->lba_shift);

	if (write)
		unified_prep_write(&s, g->ti.nsid, blk_lba(g, blk), nlb, (uint64_t)buf * g->bufsz,
				   n * UJ_BLOCK, UD_SYNC);
	else
		unified_prep_read(&s, g->ti.nsid, blk_lba(g, blk), nlb, (uint64_t)buf * g->bufsz,
				  n * UJ_BLOCK, UD_SYNC);
	if (fua)
		s.nvme_cmd.cdw12 |= FUA;
	return sync_cmd(g, &s);
}

/* uj_recover()'s reader: through buffer 0, in transfers the target takes. */
static int journal_read(void *arg, uint64_t blk, uint32_t n, void *dst)
{
	struct ingest *g = arg;
	uint32_t per = g->bufsz / UJ_BLOCK, max = g->ti.max_xfer / UJ_BLOCK;

	if (per > max)
		per = max;
	if (blk + n > g->nblocks)
		return -ERANGE;
	while (n) {
		uint32_t k = n < per ? n : per;
		int ret = sync_rw(g, false, blk, k, 0, false);

		if (ret)
			return ret;
		memcpy(dst, g->area, (size_t)k * UJ_BLOCK);	/* metadata, not payload */
		dst = (uint8_t *)dst + (size_t)k * UJ_BLOCK;
		blk += k;
		n -= k;
	}
	return 0;
}

/* Is the start of the namespace all zeros (never written)? */
static bool blank_start(struct ingest *g)
{
	uint8_t *p = g->area;

	if (sync_rw(g, false, 0, 2, 0, false))
		die("cannot read the superblocks");
	for (uint32_t i = 0; i < 2 * UJ_BLOCK; i++)
		if (p[i])
			return false;
	return true;
}

/* Write a new journal: both superblock copies, FUA. */
static void format_journal(struct ingest *g)
{
	struct uj_super sb;
	uint64_t id;

	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		die("getrandom: %s", strerror(errno));
	uj_super_init(&sb, g->nblocks, g->lba, id, real_ns());
	for (uint32_t copy = 0; copy < 2; copy++) {
		memset(g->area, 0, UJ_BLOCK);
		memcpy(g->area, &sb, sizeof(sb));
		if (sync_rw(g, true, copy, 1, 0, true))
			die("cannot write the superblock");
	}
	logf_("new journal on %s: %" PRIu64 " blocks of 4 KiB, id %016" PRIx64, g->ti.path,
	      g->nblocks, id);
}

/* Recovery: the end of valid data, and where to continue. */
static void open_journal(struct ingest *g, bool may_format)
{
	int ret = uj_recover(g->nblocks, journal_read, g, NULL, NULL, NULL, &g->js);

	if (ret == -EBADMSG) {
		if (!may_format)
			die("%s holds no journal (%s)", g->ti.path, g->js.end_why ? g->js.end_why : "");
		if (!opt_format && !blank_start(g))
			die("%s holds no journal and is not blank; --format to make one there (its "
			    "data is lost)", g->ti.path);
		format_journal(g);
		ret = uj_recover(g->nblocks, journal_read, g, NULL, NULL, NULL, &g->js);
	}
	if (ret)
		die("cannot read the journal: %s", strerror(-ret));
	/* A damaged superblock copy is rewritten from the good one. */
	if (may_format && g->js.super_copy == 1) {
		memset(g->area, 0, UJ_BLOCK);
		memcpy(g->area, &g->js.sb, sizeof(g->js.sb));
		if (sync_rw(g, true, 0, 1, 0, true))
			die("cannot repair the superblock");
		logf_("superblock copy 0 was damaged: rewritten from copy 1");
	}
	g->ext_at = g->js.next_extent;
	g->ext_room = g->js.next_room;
	g->cursor = g->js.high_water > g->ext_at + g->ext_room ? g->js.high_water :
		    g->ext_at + g->ext_room;
	g->commit_seq = g->js.next_commit_seq;
	g->rec_seq = g->js.next_rec_seq;
	g->durable_seq = g->rec_seq - 1;
}

/* ------------------------------------------------------------ buffers */

static uint64_t buf_off(const struct ingest *g, int32_t b)
{
	return (uint64_t)b * g->bufsz;
}

static uint8_t *buf_ptr(const struct ingest *g, int32_t b)
{
	return g->area + buf_off(g, b);
}

static void buf_free(struct ingest *g, int32_t b)
{
	struct ibuf *ib = &g->b[b];

	if (ib->promised && !ib->region)
		g->promised--;
	memset(ib, 0, sizeof(*ib));
	g->freel[g->nfree++] = b;
}

/* Back to the free list once nothing needs its memory any more. */
static void buf_maybe_free(struct ingest *g, int32_t b)
{
	struct ibuf *ib = &g->b[b];

	if (b == NO_BUF || !ib->returned || ib->pinned || ib->writing || ib->recs || ib->tx)
		return;
	buf_free(g, b);
}

/*
 * Journal space for one more buffer's region?  Every buffer in the network
 * has its whole region promised, plus room for the next reservation and
 * one commit's extents.  Commits keep taking index blocks, so the promise
 * can still run short at the very end: messages that then do not fit are
 * never acknowledged (commit_start()), and nothing acknowledged is lost.
 */
static bool space_for_one(struct ingest *g)
{
	return g->cursor + (g->promised + 1) * g->rb + 3 * UJ_EXTENT_BLOCKS <= g->nblocks;
}

/* Give free buffers to FILL, keeping the free ones RELP responses may need. */
static void fill_up(struct ingest *g)
{
	uint32_t idx;

	while (g->nfree > TX_RESERVE - g->tx_bufs) {
		int32_t b;

		if (!space_for_one(g)) {
			if (!g->in_net && !g->pause_logged)
				logf_("journal full (%" PRIu64 " of %" PRIu64 " blocks in use or promised): "
				      "receiving paused, TCP holds the senders back; nothing acknowledged is "
				      "dropped", g->cursor + g->promised * g->rb, g->nblocks);
			g->pause_logged = !g->in_net;
			break;
		}
		if (!unified_ring_reserve(&g->rings.fill, 1, &idx))
			break;
		b = g->freel[--g->nfree];
		g->b[b].in_net = true;
		g->b[b].promised = true;
		g->promised++;
		*unified_fill_addr(&g->rings.fill, idx) = buf_off(g, b);
		unified_ring_submit(&g->rings.fill, 1);
		g->in_net++;
	}
}

/* ------------------------------------------------------------ RELP responses */

static void conn_refuse(struct ingest *g, struct iconn *c, const char *why, uint64_t at);

/*
 * Double the capacity of a FIFO of @n entries of @size bytes stored from
 * *@head in an array of *@cap (0: none yet; @first entries then),
 * straightening it so it starts at 0.  Dies without memory.
 */
static void *fifo_grow(void *arr, size_t size, uint32_t *cap, uint32_t *head, uint32_t n,
		       uint32_t first)
{
	uint32_t ncap = *cap ? *cap * 2 : first, i;
	uint8_t *q = malloc((size_t)ncap * size);

	if (!q)
		die("out of memory");
	for (i = 0; i < n; i++)
		memcpy(q + (size_t)i * size, (uint8_t *)arr + (size_t)((*head + i) % *cap) * size, size);
	free(arr);
	*cap = ncap;
	*head = 0;
	return q;
}

static void rsp_list_add(struct ingest *g, struct iconn *c)
{
	if (c->on_rsp_list)
		return;
	if (g->rsp_n == g->rsp_cap) {
		uint32_t cap = g->rsp_cap ? g->rsp_cap * 2 : 256;
		struct iconn **l = realloc(g->rsp_list, cap * sizeof(*l));

		if (!l)
			die("out of memory");
		g->rsp_list = l;
		g->rsp_cap = cap;
	}
	c->on_rsp_list = true;
	g->rsp_list[g->rsp_n++] = c;
}

static void rsp_push(struct ingest *g, struct iconn *c, uint32_t txnr, uint8_t kind, uint64_t seq)
{
	if (c->rq_n >= RELP_MAX_UNANSWERED) {
		conn_refuse(g, c, "65536 RELP frames unanswered (the client does not read its responses)",
			    c->stream);
		return;
	}
	if (c->rq_n == c->rq_cap)
		c->rq = fifo_grow(c->rq, sizeof(*c->rq), &c->rq_cap, &c->rq_head, c->rq_n, 64);
	c->rq[(c->rq_head + c->rq_n++) % c->rq_cap] = (struct rsp){ txnr, kind, seq };
	rsp_list_add(g, c);
}

/* Give the staged responses to TX, if the ring has room and the
 * connection's previous send is done. */
static void tx_send(struct ingest *g, struct iconn *c)
{
	struct io_unified_net_desc *d;
	uint32_t idx;

	if (c->txb == NO_BUF || !c->txlen || c->tx_inflight >= RELP_MAX_TX)
		return;
	if (!unified_ring_reserve(&g->rings.tx, 1, &idx))
		return;	/* TX full: sent on a later turn */
	d = unified_net_desc(&g->rings.tx, idx);
	memset(d, 0, sizeof(*d));
	d->addr = buf_off(g, c->txb);
	d->len = c->txlen;
	d->conn = c->id;
	unified_ring_submit(&g->rings.tx, 1);
	if (!c->tx_inflight)
		c->tx_since = now_ns();
	c->tx_inflight++;
	g->tx_inflight++;
	c->txb = NO_BUF;
	c->txlen = 0;
}

/* Stage the responses that may go now and send them; true when nothing is
 * left to do for the connection until its next frame or commit. */
static bool rsp_pump(struct ingest *g, struct iconn *c)
{
	static const char open_ok[] = "200 OK\nrelp_version=0\nrelp_software=unified-ingest\n"
				      "commands=syslog";

	while (c->rq_n && !c->ended) {
		struct rsp *r = &c->rq[c->rq_head];
		char line[160];
		int len;

		if (r->kind == RELP_SYSLOG && r->rec_seq > g->durable_seq)
			break;	/* not durable yet: this one and all after it wait */
		if (r->kind == RELP_SYSLOG)
			len = snprintf(line, sizeof(line), "%u rsp 6 200 OK\n", r->txnr);
		else if (r->kind == RELP_OPEN)
			len = snprintf(line, sizeof(line), "%u rsp %zu %s\n", r->txnr,
				       sizeof(open_ok) - 1, open_ok);
		else if (r->kind == RELP_CLOSE)
			len = snprintf(line, sizeof(line), "%u rsp 0\n", r->txnr);
		else
			len = snprintf(line, sizeof(line), "%u rsp 23 500 command not supported\n",
				       r->txnr);
		if (c->txb != NO_BUF && c->txlen + (uint32_t)len > g->bufsz) {
			tx_send(g, c);
			if (c->txb != NO_BUF)
				return false;	/* staged and full: after the send in flight */
		}
		if (c->txb == NO_BUF) {
			/* Response buffers come from TX_RESERVE, shared. */
			if (!g->nfree || g->tx_bufs >= TX_RESERVE)
				return false;	/* later, when a buffer is back */
			c->txb = g->freel[--g->nfree];
			g->b[c->txb].tx = true;
			g->b[c->txb].owner = c;
			g->tx_bufs++;
			c->txlen = 0;
		}
		memcpy(buf_ptr(g, c->txb) + c->txlen, line, (size_t)len);	/* protocol, not payload */
		c->txlen += (uint32_t)len;
		if (r->kind == RELP_CLOSE)
			c->close_sent = true;
		c->rq_head = (c->rq_head + 1) % c->rq_cap;
		c->rq_n--;
	}
	tx_send(g, c);
	return c->ended || (c->txb == NO_BUF && !c->rq_n);
}

static void rsp_pump_all(struct ingest *g)
{
	uint32_t i, keep = 0, n = g->rsp_n;

	for (i = 0; i < n; i++) {
		struct iconn *c = g->rsp_list[i];

		if (!rsp_pump(g, c)) {
			g->rsp_list[keep++] = c;
		} else {
			c->on_rsp_list = false;
			conn_try_release(g, c);
		}
	}
	g->rsp_n = keep;	/* a pump adds no connection to the list */
}

/* A response buffer is back from TX (its COMPLETION entry). */
static void tx_done(struct ingest *g, int32_t b, int32_t err)
{
	struct iconn *c = g->b[b].owner;

	g->b[b].tx = false;
	g->b[b].owner = NULL;
	g->b[b].returned = true;
	g->tx_bufs--;
	g->tx_inflight--;
	buf_maybe_free(g, b);
	if (!c)
		return;
	c->tx_inflight--;
	c->tx_since = now_ns();
	if (err && !c->ended)
		logf_("connection %s: sending responses failed: %s", c->peer, strerror(-err));
	if (c->close_sent && !c->tx_inflight && c->txb == NO_BUF && !c->closing && !c->ended) {
		c->closing = true;	/* RELP close answered */
		unified_net_close(g->ctx, c->id);
	}
	if (!c->ended && (c->txb != NO_BUF || c->rq_n))
		rsp_list_add(g, c);	/* staged responses waited for this send */
	conn_try_release(g, c);
}

/* ------------------------------------------------------------ messages */

static void conn_refuse(struct ingest *g, struct iconn *c, const char *why, uint64_t at)
{
	if (c->closing || c->ended)
		return;
	logf_("connection %s: %s at stream offset %" PRIu64 "; closing it (other connections go on)",
	      c->peer, why, at);
	g->bad_conns++;
	c->closing = true;
	unified_net_close(g->ctx, c->id);
}

/* A complete message of connection @c at stream offset @off. */
static void add_record(struct ingest *g, struct iconn *c, uint64_t off, uint32_t len, uint64_t *seq)
{
	struct prec *p;
	const uint8_t *m1, *m2 = NULL;
	uint32_t len1 = len;

	if (g->pr_n == g->pr_cap)
		g->pr = fifo_grow(g->pr, sizeof(*g->pr), &g->pr_cap, &g->pr_head, g->pr_n, 4096);
	p = &g->pr[(g->pr_head + g->pr_n) % g->pr_cap];
	memset(p, 0, sizeof(*p));
	p->b2 = NO_BUF;
	if (off >= c->cur_base) {
		p->b1 = c->cur;
		p->off1 = (uint32_t)(off - c->cur_base);
	} else {
		/* starts in the previous buffer (a message is never longer than one) */
		p->b1 = c->prev;
		p->off1 = (uint32_t)(off - c->prev_base);
		len1 = (uint32_t)(c->prev_base + g->b[c->prev].seen - off);
		if (len1 < len) {
			p->b2 = c->cur;
			p->off2 = 0;
			m2 = buf_ptr(g, c->cur);
		} else {
			len1 = len;
		}
	}
	m1 = buf_ptr(g, p->b1) + p->off1;
	p->r.seq = g->rec_seq++;
	p->r.time_ns = g->batch_real;
	p->r.source = c->id;
	p->r.len = len;
	p->r.len1 = len1;
	/* CRC32C reads the bytes where the network put them; it copies nothing */
	p->r.crc = unified_crc32c(unified_crc32c(0, m1, len1), m2, m2 ? len - len1 : 0);
	p->arrival_ns = g->batch_mono;
	g->b[p->b1].recs++;
	if (p->b2 != NO_BUF)
		g->b[p->b2].recs++;
	g->pr_n++;
	g->pr_bytes += len;
	g->msgs++;
	g->bytes += len;
	c->msgs++;
	if (seq)
		*seq = p->r.seq;
}

struct emit_arg {
	struct ingest *g;
	struct iconn *c;
};

static void tcp_emit(void *arg, uint64_t off, uint32_t len)
{
	struct emit_arg *a = arg;

	add_record(a->g, a->c, off, len, NULL);
}

static void relp_frame(void *arg, uint32_t txnr, enum relp_cmd cmd, uint64_t off, uint32_t len)
{
	struct emit_arg *a = arg;
	struct iconn *c = a->c;
	uint64_t seq;

	if (c->closing)
		return;
	if (!c->opened && cmd != RELP_OPEN) {
		conn_refuse(a->g, c, "RELP command before open", off);
		return;
	}
	switch (cmd) {
	case RELP_OPEN:
		if (c->opened) {
			conn_refuse(a->g, c, "RELP open twice", off);
			return;
		}
		c->opened = true;
		rsp_push(a->g, c, txnr, RELP_OPEN, 0);
		break;
	case RELP_SYSLOG:
		if (!len) {
			rsp_push(a->g, c, txnr, RELP_OTHER, 0);
			break;
		}
		add_record(a->g, c, off, len, &seq);
		rsp_push(a->g, c, txnr, RELP_SYSLOG, seq);
		break;
	case RELP_CLOSE:
		rsp_push(a->g, c, txnr, RELP_CLOSE, 0);
		break;
	default:
		rsp_push(a->g, c, txnr, RELP_OTHER, 0);
		break;
	}
}

/* ------------------------------------------------------------ connections */

static struct iconn *conn_of(struct ingest *g, uint32_t id)
{
	struct iconn *c;

	if ((id & 0xffff) >= g->max_conns)
		return NULL;
	c = g->c[id & 0xffff];
	return c && c->id == id ? c : NULL;
}

static void peer_str(char *out, size_t n, const struct io_unified_net_desc *d)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (d->peer_family == AF_INET)
		inet_ntop(AF_INET, d->peer_addr, ip, sizeof(ip));
	else if (d->peer_family == AF_INET6)
		inet_ntop(AF_INET6, d->peer_addr, ip, sizeof(ip));
	snprintf(out, n, "%s:%u", ip, d->peer_port);
}

/*
 * A new connection in the library's slot @id & 0xffff.  The library may
 * reuse a slot as soon as the last RX entry of its previous connection is
 * out, while that connection still waits here for its last sends: it then
 * leaves the table and lives on until they end (conn_try_release()).
 */
static struct iconn *conn_new(struct ingest *g, uint32_t id, uint8_t proto)
{
	uint32_t slot = id & 0xffff;
	struct iconn *c;

	if (slot >= g->max_conns)
		die("connection id %#x outside the table", id);
	if (g->c[slot]) {
		g->c[slot]->in_table = false;
		g->c[slot] = NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		die("out of memory");
	c->id = id;
	c->proto = proto;
	c->cur = c->prev = NO_BUF;
	c->txb = NO_BUF;
	c->last_rx_ns = now_ns();
	c->in_table = true;
	unified_framer_init(&c->fr, opt_max_msg);
	relp_init(&c->rp, opt_max_msg);
	g->c[slot] = c;
	g->nconns++;
	return c;
}

static void conn_unpin(struct ingest *g, int32_t *b)
{
	if (*b == NO_BUF)
		return;
	g->b[*b].pinned = false;
	buf_maybe_free(g, *b);
	*b = NO_BUF;
}

/* Free an ended connection once no send and no response needs it. */
static void conn_try_release(struct ingest *g, struct iconn *c)
{
	if (!c->ended || c->tx_inflight || c->on_rsp_list)
		return;
	if (c->txb != NO_BUF) {	/* staged, never sent */
		g->b[c->txb].tx = false;
		g->b[c->txb].owner = NULL;
		g->b[c->txb].returned = true;
		g->tx_bufs--;
		buf_maybe_free(g, c->txb);
		c->txb = NO_BUF;
	}
	if (c->in_table)
		g->c[c->id & 0xffff] = NULL;
	free(c->rq);
	free(c);
	g->nconns--;
}

/* The connection's last RX entry. */
static void conn_end(struct ingest *g, struct iconn *c, const struct io_unified_net_desc *d)
{
	bool idle = c->proto == P_RELP ? relp_idle(&c->rp) : unified_framer_idle(&c->fr);

	if (c->proto != P_UDP && !c->closing && !idle && c->stream)
		logf_("connection %s: closed in the middle of a frame; its unfinished frame is dropped "
		      "(never acknowledged)", c->peer);
	if ((d->flags & IO_UNIFIED_NET_RX_ERROR) && d->error != -ECONNRESET)
		logf_("connection %s: receive error %s", c->peer, strerror(-d->error));
	if (!opt_quiet && c->proto != P_UDP)
		logf_("connection %s: ended after %" PRIu64 " messages", c->peer, c->msgs);
	c->ended = true;
	c->rq_n = 0;
	if (c->proto == P_UDP)
		g->udp_open--;
	conn_unpin(g, &c->prev);
	conn_unpin(g, &c->cur);
	conn_try_release(g, c);
}

/* One RX entry. */
static void on_rx(struct ingest *g, const struct io_unified_net_desc *dd)
{
	struct io_unified_net_desc d = *dd;	/* read once */
	struct iconn *c;
	int32_t b = NO_BUF;

	if (d.conn == IO_UNIFIED_NET_NO_CONN)
		die("a FILL entry was refused (%s): a bug", strerror(-d.error));
	if (d.addr != IO_UNIFIED_NET_NO_ADDR) {
		if (d.addr >= (uint64_t)g->nbufs * g->bufsz || d.len > g->bufsz - d.addr % g->bufsz)
			die("RX entry outside the buffer area: a bug");
		b = (int32_t)(d.addr / g->bufsz);
	}
	if (d.flags & IO_UNIFIED_NET_RX_NEW_CONN) {
		uint32_t l = (uint32_t)d.user_data;

		c = conn_new(g, d.conn, (uint8_t)l);
		peer_str(c->peer, sizeof(c->peer), &d);
		if (!opt_quiet && g->nconns <= 16)
			logf_("connection %s: accepted (%s)", c->peer, l == P_RELP ? "RELP" : "TCP syslog");
		return;
	}
	c = conn_of(g, d.conn);
	if (!c) {
		if (d.flags & (IO_UNIFIED_NET_RX_EOF | IO_UNIFIED_NET_RX_ERROR | IO_UNIFIED_NET_RX_CLOSED))
			return;	/* a listener's end */
		die("RX entry for an unknown connection %#x: a bug", d.conn);
	}
	if (b != NO_BUF) {
		struct ibuf *ib = &g->b[b];

		if (c->proto == P_UDP) {
			/* one datagram, one message, in place */
			if (d.len) {
				if (c->cur != b) {	/* datagrams packed in a new buffer */
					c->cur = b;
					c->cur_base = c->stream;
				}
				ib->seen = (uint32_t)(d.addr - buf_off(g, b)) + d.len;
				c->stream = c->cur_base + ib->seen;
				add_record(g, c, c->stream - d.len, d.len, NULL);
			}
		} else if (d.len) {
			struct emit_arg ea = { g, c };
			int ret;

			if (c->cur == NO_BUF) {
				c->cur = b;
				c->cur_base = c->stream;
				ib->pinned = true;
			}
			if (b != c->cur || d.addr != buf_off(g, b) + ib->seen)
				die("RX bytes out of stream order: a bug");
			ib->seen += d.len;
			c->last_rx_ns = g->batch_mono;
			if (!c->closing) {
				if (c->proto == P_RELP)
					ret = relp_feed(&c->rp, g->area + d.addr, d.len, c->stream, relp_frame,
							&ea);
				else
					ret = unified_framer_feed(&c->fr, g->area + d.addr, d.len, c->stream,
								  tcp_emit, &ea);
				if (ret)
					conn_refuse(g, c, c->proto == P_RELP ? c->rp.err : c->fr.err,
						    c->proto == P_RELP ? c->rp.err_off : c->fr.err_off);
			}
			c->stream += d.len;
			/* The previous buffer stays only while the message being
			 * read started in it. */
			if (c->prev != NO_BUF) {
				uint64_t start;
				bool partial = c->proto == P_RELP ? relp_partial(&c->rp, &start) :
						unified_framer_partial(&c->fr, &start);

				if (c->closing || !partial || start >= c->cur_base)
					conn_unpin(g, &c->prev);
			}
		}
		if (!(d.flags & IO_UNIFIED_NET_RX_MORE)) {
			ib->returned = true;
			ib->in_net = false;
			g->in_net--;
			if (c->proto == P_UDP || c->cur != b) {
				if (c->cur == b)
					c->cur = NO_BUF;
				buf_maybe_free(g, b);
			} else {
				/* full: the message being read, if it started here,
				 * ends in the next buffer; else nothing needs it */
				uint64_t start;
				bool partial = c->proto == P_RELP ? relp_partial(&c->rp, &start) :
						unified_framer_partial(&c->fr, &start);

				conn_unpin(g, &c->prev);
				c->prev = c->cur;
				c->prev_base = c->cur_base;
				c->cur = NO_BUF;
				if (c->closing || !partial || start >= c->prev_base + ib->seen)
					conn_unpin(g, &c->prev);
			}
		}
	}
	if (d.flags & (IO_UNIFIED_NET_RX_EOF | IO_UNIFIED_NET_RX_ERROR | IO_UNIFIED_NET_RX_CLOSED))
		conn_end(g, c, &d);
}

/* ------------------------------------------------------------ group commit */

static void sq_put(struct ingest *g, const struct io_unified_sqe *s)
{
	uint32_t idx;

	while (!unified_sq_reserve(&g->sq, 1, &idx)) {
		/* SQ full: let the engine take some (each takes a CQ slot later) */
		int ret = unified_enter(g->ctx, 0, 1);

		if (ret < 0 && ret != -ETIME && ret != -EINTR)
			die("engine: %s", strerror(-ret));
	}
	*unified_sq_entry(&g->sq, idx) = *s;
	unified_sq_submit(&g->sq, 1);
}

/* The data writes of buffer @b: its bytes not yet written, in whole LBAs
 * (the last one again if it was partial).  True if any was queued. */
static bool write_buffer(struct ingest *g, int32_t b)
{
	struct ibuf *ib = &g->b[b];
	uint32_t start = ib->written & ~(g->lba - 1);
	uint32_t end = (ib->seen + g->lba - 1) & ~(g->lba - 1);
	uint32_t max = g->ti.max_xfer & ~(g->lba - 1);

	if (ib->seen <= ib->written)
		return false;
	if (!ib->region) {
		/* a buffer already given back is final: its region needs only its bytes */
		ib->region = g->cursor;
		g->cursor += ib->returned ? (ib->seen + UJ_BLOCK - 1) / UJ_BLOCK : g->rb;
		if (ib->promised)
			g->promised--;
		ib->promised = false;
	}
	while (start < end) {
		struct io_unified_sqe s;
		uint32_t n = end - start < max ? end - start : max;

		unified_prep_write_rx(&s, g->ti.nsid, blk_lba(g, ib->region) + (start >> g->lba_shift),
				      buf_off(g, b) + start, n, g->lba_shift,
				      (uint64_t)UD_DATA << 56 | (uint32_t)b);
		sq_put(g, &s);
		g->c_writes++;
		start += n;
	}
	ib->written = ib->seen;
	ib->writing = true;
	return true;
}

static void commit_flush(struct ingest *g)
{
	struct io_unified_sqe s;

	unified_prep_flush(&s, g->ti.nsid, (uint64_t)UD_FLUSH << 56);
	sq_put(g, &s);
	g->cstate = 2;
}

static uint32_t extent_blocks(uint32_t nrec)
{
	return (uint32_t)((sizeof(struct uj_extent_hdr) + nrec * sizeof(struct uj_record) + UJ_BLOCK - 1) /
			  UJ_BLOCK);
}

/* Blocks of a run of extents holding @n records. */
static uint32_t run_blocks(uint32_t n)
{
	uint32_t i, used = 0;

	for (i = 0; i < n; i += (uint32_t)UJ_RECS_PER_EXTENT)
		used += extent_blocks(n - i < UJ_RECS_PER_EXTENT ? n - i : (uint32_t)UJ_RECS_PER_EXTENT);
	return used;
}

static void commit_start(struct ingest *g)
{
	/*
	 * The place the last commit reserved for this one's extents has
	 * ext_room blocks (16, or fewer when recovery found a torn run of
	 * extents, whose data follows it).  Nothing is allocated between
	 * commits, so when nothing lies after that place either, a big commit
	 * writes several extents there, back to back, each naming the next.
	 */
	bool fresh = g->cursor == g->ext_at + g->ext_room;
	uint32_t room = g->ext_room < UJ_EXTENT_BLOCKS ? g->ext_room : UJ_EXTENT_BLOCKS;
	uint32_t max = fresh ? MAX_EXT * (uint32_t)UJ_RECS_PER_EXTENT :
		       (uint32_t)((room * UJ_BLOCK - sizeof(struct uj_extent_hdr)) / sizeof(struct uj_record));
	uint32_t i, n = 0, used, lim = g->pr_n < max ? g->pr_n : max;
	uint64_t need = 0;

	/* The longest prefix of the pending records whose data regions and
	 * extents fit, leaving room for the next reservation. */
	for (i = 0; i < lim; i++) {
		struct prec *p = &g->pr[(g->pr_head + i) % g->pr_cap];
		uint64_t extra = 0, base;
		int k;

		for (k = 0; k < 2; k++) {
			int32_t b = k ? p->b2 : p->b1;

			if (b != NO_BUF && !g->b[b].listed && !g->b[b].region)
				extra += g->rb;
		}
		base = fresh ? g->ext_at + run_blocks(i + 1) : g->cursor;
		if (base + need + extra + UJ_EXTENT_BLOCKS > g->nblocks)
			break;
		need += extra;
		for (k = 0; k < 2; k++) {
			int32_t b = k ? p->b2 : p->b1;

			if (b == NO_BUF || g->b[b].listed)
				continue;
			g->b[b].listed = true;
			g->dirty[g->ndirty++] = (uint32_t)b;
		}
		n = i + 1;
	}
	if (n < lim && !g->full_logged) {
		logf_("journal full: %u messages cannot be stored and are not acknowledged",
		      g->pr_n - n);
		g->full_logged = true;
	}
	if (!n)
		return;
	used = run_blocks(n);
	if (fresh)	/* the extents take the blocks they use, no more */
		g->cursor = g->ext_at + used;
	g->c_nrec = n;
	g->c_next = used;
	g->c_writes = 0;
	g->cstate = 1;
	g->n_cbufs = 0;
	for (i = 0; i < g->ndirty; i++) {
		g->b[g->dirty[i]].listed = false;
		if (write_buffer(g, (int32_t)g->dirty[i]))
			g->cbufs[g->n_cbufs++] = g->dirty[i];
	}
	g->ndirty = 0;
	/* Addresses are known now; the next extent goes after the regions. */
	for (i = 0; i < n; i++) {
		struct prec *p = &g->pr[(g->pr_head + i) % g->pr_cap];

		g->recbuf[i] = p->r;
		g->recbuf[i].addr1 = g->b[p->b1].region * UJ_BLOCK + p->off1;
		g->recbuf[i].addr2 = p->b2 != NO_BUF ? g->b[p->b2].region * UJ_BLOCK + p->off2 : 0;
	}
	g->c_next_ext = g->cursor;
	g->cursor += UJ_EXTENT_BLOCKS;
	if (!g->c_writes)	/* every byte already written: flush, then the index */
		commit_flush(g);
}

/* The commit's extents, one run of blocks at the reserved place, with FUA. */
static void commit_index(struct ingest *g)
{
	uint8_t *area = buf_ptr(g, 0);
	uint32_t i, at = 0, max = (g->ti.max_xfer & ~(UJ_BLOCK - 1)) / UJ_BLOCK;
	uint64_t seq = g->commit_seq;

	for (i = 0; i < g->c_nrec || (!i && !g->c_nrec); i += (uint32_t)UJ_RECS_PER_EXTENT, seq++) {
		uint32_t k = g->c_nrec - i < UJ_RECS_PER_EXTENT ? g->c_nrec - i : (uint32_t)UJ_RECS_PER_EXTENT;
		uint32_t nb = extent_blocks(k);
		bool last = at + nb == g->c_next;
		uint64_t next = last ? g->c_next_ext : g->ext_at + at + nb;

		/* inside the run, the room at the next extent is the rest of the
		 * run: what recovery may reuse if the run is torn there */
		uj_extent_encode(area + (size_t)at * UJ_BLOCK, g->js.sb.journal_id, seq, next,
				 last ? UJ_EXTENT_BLOCKS : g->c_next - (at + nb), g->recbuf + i, k);
		at += nb;
	}
	g->c_index_writes = 0;
	/* --inject-torn-run: a run of several extents reaches the target only
	 * up to its first, and the server stops there, as after a power cut */
	g->c_torn = opt_inject_torn && extent_blocks(g->c_nrec < UJ_RECS_PER_EXTENT ? g->c_nrec :
						     (uint32_t)UJ_RECS_PER_EXTENT) < g->c_next;
	for (i = 0; i < (g->c_torn ? extent_blocks((uint32_t)UJ_RECS_PER_EXTENT) : g->c_next); i += max) {
		struct io_unified_sqe s;
		uint32_t nb = g->c_next - i < max ? g->c_next - i : max;

		if (g->c_torn && nb > extent_blocks((uint32_t)UJ_RECS_PER_EXTENT) - i)
			nb = extent_blocks((uint32_t)UJ_RECS_PER_EXTENT) - i;

		unified_prep_write(&s, g->ti.nsid, blk_lba(g, g->ext_at + i), nb << (12 - g->lba_shift),
				   (uint64_t)i * UJ_BLOCK, nb * UJ_BLOCK, (uint64_t)UD_INDEX << 56);
		s.nvme_cmd.cdw12 |= FUA;
		sq_put(g, &s);
		g->c_index_writes++;
	}
	g->c_commit_seqs = seq - g->commit_seq;
	g->cstate = 3;
}

static void commit_done(struct ingest *g)
{
	uint64_t t = now_ns();
	uint32_t i;

	for (i = 0; i < g->c_nrec; i++) {
		struct prec *p = &g->pr[g->pr_head];

		hist_add(g->lat, t - p->arrival_ns);
		hist_add(g->lat_all, t - p->arrival_ns);
		g->b[p->b1].recs--;
		buf_maybe_free(g, p->b1);
		if (p->b2 != NO_BUF) {
			g->b[p->b2].recs--;
			buf_maybe_free(g, p->b2);
		}
		g->pr_bytes -= p->r.len;
		g->pr_head = (g->pr_head + 1) % g->pr_cap;
		g->pr_n--;
	}
	g->durable_seq += g->c_nrec;
	g->commit_seq += g->c_commit_seqs;
	g->commits++;
	g->ext_at = g->c_next_ext;
	g->ext_room = UJ_EXTENT_BLOCKS;
	g->cstate = 0;
}

static void on_cqe(struct ingest *g, const struct io_unified_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	uint16_t st = cqe->status;

	if (st)
		die("NVMe command failed: status %#x (%s), res %d; stopping with nothing acknowledged "
		    "that is not durable", st, unified_status_str(st), cqe->res);
	switch (ud >> 56) {
	case UD_DATA:
		if (--g->c_writes)
			break;
		/* every data write of this commit is done: flush, then the index */
		for (uint32_t i = 0; i < g->n_cbufs; i++) {
			g->b[g->cbufs[i]].writing = false;
			buf_maybe_free(g, (int32_t)g->cbufs[i]);
		}
		g->n_cbufs = 0;
		commit_flush(g);
		break;
	case UD_FLUSH:
		commit_index(g);
		break;
	case UD_INDEX:
		if (--g->c_index_writes)
			break;
		if (g->c_torn) {
			fprintf(stderr, "unified-ingest: --inject-torn-run: only the first of the %" PRIu64
				" extents of commit %" PRIu64 " written; stopping as after a power cut\n",
				g->c_commit_seqs, g->commit_seq);
			_exit(3);
		}
		commit_done(g);
		break;
	default:
		die("unexpected completion %#" PRIx64, ud);
	}
}

/* ------------------------------------------------------------ serve */

/* "[ADDR:]PORT", ADDR numeric IPv4 or [IPv6]; @def_host without ADDR. */
static int parse_addr(const char *spec, const char *def_host, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	const char *colon = strrchr(spec, ':');
	char host[INET6_ADDRSTRLEN + 2];
	long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (colon) {
		size_t n = (size_t)(colon - spec);

		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec, n);
		host[n] = 0;
		if (host[0] == '[' && n > 1 && host[n - 1] == ']') {
			memmove(host, host + 1, n - 2);
			host[n - 2] = 0;
		}
		spec = colon + 1;
	} else {
		snprintf(host, sizeof(host), "%s", def_host);
	}
	errno = 0;
	port = strtol(spec, &end, 10);
	if (errno || end == spec || *end || port < 0 || port > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	return 0;
}

static void start_listener(struct ingest *g, const char *spec, int type, uint8_t proto)
{
	struct sockaddr_storage ss;
	socklen_t len;
	uint32_t id;
	char shown[96];

	if (parse_addr(spec, "0.0.0.0", &ss, &len))
		die("bad address '%s' (want [ADDR:]PORT)", spec);
	if (unified_net_listen(g->ctx, type, (struct sockaddr *)&ss, len, proto, &id))
		die("cannot listen on %s: %s", spec, unified_errmsg());
	len = sizeof(ss);
	unified_net_local_addr(g->ctx, id, (struct sockaddr *)&ss, &len);
	{
		char ip[INET6_ADDRSTRLEN];

		inet_ntop(ss.ss_family, ss.ss_family == AF_INET ?
			  (void *)&((struct sockaddr_in *)&ss)->sin_addr :
			  (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip));
		snprintf(shown, sizeof(shown), "%s:%u", ip, ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
	g->lid[g->listeners] = id;
	g->port[g->listeners++] = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (proto == P_UDP) {
		struct iconn *c = conn_new(g, id, P_UDP);

		g->udp_open++;

		snprintf(c->peer, sizeof(c->peer), "udp %s", shown);
	}
	logf_("listening: %s on %s", proto == P_RELP ? "RELP" : proto == P_UDP ? "UDP syslog" :
	      "TCP syslog (octet counting or LF)", shown);
}

static void stats_line(struct ingest *g, bool final)
{
	uint64_t t = now_ns();
	double dt = (t - (final ? g->t0 : g->iv_t0)) / 1e9;
	uint64_t m = final ? g->msgs : g->msgs - g->iv_msgs;
	uint64_t by = final ? g->bytes : g->bytes - g->iv_bytes;
	struct hist *h = final ? g->lat_all : g->lat;
	struct unified_net_stats ns = { 0 };
	double cpu = cpu_seconds() - g->cpu0;

	unified_net_get_stats(g->ctx, &ns);
	if (dt <= 0)
		dt = 1e-9;
	if (opt_json)
		printf("{\"type\":\"%s\",\"seconds\":%.3f,\"messages\":%" PRIu64 ",\"msgs_per_s\":%.0f,"
		       "\"mb_per_s\":%.2f,\"buffers_in_use\":%u,\"buffers\":%u,\"ack_p50_us\":%.0f,"
		       "\"ack_p99_us\":%.0f,\"connections\":%u,\"commits\":%" PRIu64 ",\"stored\":%" PRIu64
		       ",\"not_stored\":%u,\"records\":%" PRIu64 ",\"udp_dropped\":%" PRIu64 ",\"bad_connections\":%" PRIu64
		       ",\"cpu_s\":%.3f,\"cpu_us_per_msg\":%.3f,\"copied_bytes\":%" PRIu64 ","
		       "\"journal_used_blocks\":%" PRIu64 ",\"journal_blocks\":%" PRIu64 "}\n",
		       final ? "summary" : "stats", dt, m, m / dt, by / dt / 1e6, g->nbufs - 1 - g->nfree - ns.fill_buffers,
		       g->nbufs, hist_pct_us(h, 50), hist_pct_us(h, 99), g->nconns - g->udp_open,
		       g->commits, g->durable_seq - g->js.next_rec_seq + 1, g->pr_n, g->durable_seq,
		       ns.udp_dropped, g->bad_conns, cpu,
		       g->msgs ? cpu * 1e6 / (double)g->msgs : 0, ns.copied_bytes, g->cursor, g->nblocks);
	else if (final)
		fprintf(stderr, "unified-ingest: %" PRIu64 " messages, %.1f MB in %.2f s: %.0f msg/s, "
			"%.2f MB/s; CPU %.2f s = %.3f us/msg; ack latency p50 %.0f us p99 %.0f us; %"
			PRIu64 " commits; payload bytes copied by user space: %" PRIu64 "; UDP dropped %"
			PRIu64 "; journal %" PRIu64 "/%" PRIu64 " blocks, last sequence %" PRIu64 "\n",
			m, by / 1e6, dt, m / dt, by / dt / 1e6, cpu,
			g->msgs ? cpu * 1e6 / (double)g->msgs : 0, hist_pct_us(h, 50), hist_pct_us(h, 99),
			g->commits, ns.copied_bytes, ns.udp_dropped, g->cursor, g->nblocks,
			g->durable_seq);
	else
		fprintf(stderr, "unified-ingest: %.0f msg/s %.2f MB/s | buffers %u/%u | ack p50 %.0f us "
			"p99 %.0f us | %u connections | %" PRIu64 " durable\n", m / dt, by / dt / 1e6,
			g->nbufs - 1 - g->nfree - ns.fill_buffers, g->nbufs, hist_pct_us(h, 50), hist_pct_us(h, 99),
			g->nconns - g->udp_open, g->durable_seq);
	fflush(stdout);
	if (!final) {
		memset(g->lat, 0, sizeof(*g->lat));
		g->lat->min_ns = UINT64_MAX;
		g->iv_msgs = g->msgs;
		g->iv_bytes = g->bytes;
		g->iv_t0 = t;
	}
}

/* Connections that have sat in the middle of a frame, or have not read
 * their RELP responses, for --frame-timeout seconds. */
static void frame_timeouts(struct ingest *g, uint64_t t)
{
	uint64_t lim = (uint64_t)(opt_frame_timeout_s * 1e9);

	for (uint32_t i = 0; i < g->max_conns; i++) {
		struct iconn *c = g->c[i];
		char why[96];
		bool idle;

		if (!c || c->ended || c->closing || c->proto == P_UDP)
			continue;
		idle = c->proto == P_RELP ? relp_idle(&c->rp) : unified_framer_idle(&c->fr);
		if (!idle && t - c->last_rx_ns > lim) {
			snprintf(why, sizeof(why), "an unfinished frame, no byte for %.0f s",
				 opt_frame_timeout_s);
			conn_refuse(g, c, why, c->stream);
		} else if (c->tx_inflight && t - c->tx_since > lim) {
			snprintf(why, sizeof(why), "its RELP responses not read for %.0f s",
				 opt_frame_timeout_s);
			conn_refuse(g, c, why, c->stream);
		}
	}
}

static int cmd_serve(void)
{
	struct ingest *g = &G;
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t t_stats, t_frames, t_end = 0, commit_ns = (uint64_t)opt_commit_us * 1000;
	uint64_t first_pending_ns = 0;
	bool stopping = false;
	uint64_t stop_deadline = 0;
	uint32_t i;

	if (!opt_listen && !opt_relp && !opt_udp)
		opt_listen = "127.0.0.1:10514";
	/* a descriptor per connection: raise the soft limit to the hard one */
	{
		struct rlimit rl;

		if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	g->bufsz = opt_bufsz;
	if (!opt_max_msg || opt_max_msg > opt_bufsz)
		opt_max_msg = opt_bufsz;
	if (opt_nbufs < opt_max_conns + TX_RESERVE + 8 + EXT_AREA / opt_bufsz)
		opt_nbufs = opt_max_conns + TX_RESERVE + 8 + EXT_AREA / opt_bufsz;
	open_target(g, true, opt_nbufs);
	open_journal(g, true);
	logf_("journal on %s: %" PRIu64 " records (sequence %" PRIu64 "..%" PRIu64 ") in %" PRIu64
	      " commits; continuing at sequence %" PRIu64 "; %s", g->ti.path, g->js.records,
	      g->js.first_seq, g->js.last_seq, g->js.extents, g->rec_seq,
	      g->js.end_why ? g->js.end_why : "");
	g->b = calloc(g->nbufs, sizeof(*g->b));
	g->freel = calloc(g->nbufs, sizeof(*g->freel));
	g->dirty = calloc(g->nbufs, sizeof(*g->dirty));
	g->cbufs = calloc(g->nbufs, sizeof(*g->cbufs));
	g->max_conns = opt_max_conns + 4;
	g->c = calloc(g->max_conns, sizeof(*g->c));
	g->pr_cap = 4096;
	g->pr = calloc(g->pr_cap, sizeof(*g->pr));
	g->recbuf = calloc(MAX_EXT * UJ_RECS_PER_EXTENT, sizeof(*g->recbuf));
	g->lat = hist_new();
	g->lat_all = hist_new();
	if (!g->b || !g->freel || !g->dirty || !g->cbufs || !g->c || !g->pr ||
	    !g->recbuf || !g->lat || !g->lat_all)
		die("out of memory");
	/* the first buffers hold the index extents being written */
	g->ext_bufs = EXT_AREA > g->bufsz ? EXT_AREA / g->bufsz : 1;
	for (i = g->nbufs; i-- > g->ext_bufs;)
		g->freel[g->nfree++] = (int32_t)i;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (opt_listen)
		start_listener(g, opt_listen, SOCK_STREAM, P_TCP);
	if (opt_relp)
		start_listener(g, opt_relp, SOCK_STREAM, P_RELP);
	if (opt_udp)
		start_listener(g, opt_udp, SOCK_DGRAM, P_UDP);
	if (opt_json) {
		printf("{\"type\":\"ready\",\"target\":\"%s\",\"next_seq\":%" PRIu64, g->ti.path,
		       g->rec_seq);
		i = 0;
		if (opt_listen)
			printf(",\"tcp_port\":%u", g->port[i++]);
		if (opt_relp)
			printf(",\"relp_port\":%u", g->port[i++]);
		if (opt_udp)
			printf(",\"udp_port\":%u", g->port[i++]);
		printf("}\n");
	}
	else
		logf_("ready");
	fflush(stdout);
	g->t0 = g->iv_t0 = now_ns();
	g->cpu0 = cpu_seconds();
	t_stats = g->t0 + (uint64_t)(opt_stats_s * 1e9);
	t_frames = g->t0 + 1000000000ull;
	if (opt_duration_s > 0)
		t_end = g->t0 + (uint64_t)(opt_duration_s * 1e9);
	for (;;) {
		uint32_t idx, n;
		uint64_t t;
		int timeout, ret;

		if (!stopping && (stop_signal || (t_end && now_ns() >= t_end))) {
			stopping = true;
			stop_deadline = now_ns() + 10000000000ull;
			logf_("stopping (%s): no new connections; making what was received durable",
			      stop_signal == SIGINT ? "SIGINT" : stop_signal ? "SIGTERM" : "--duration");
			for (i = 0; i < g->listeners; i++)
				unified_net_close(g->ctx, g->lid[i]);
		}
		if (!stopping)
			fill_up(g);
		/* How long may we wait?  Not past the commit deadline. */
		if (g->pr_n && !g->cstate) {
			t = now_ns();
			timeout = t - first_pending_ns >= commit_ns ? 0 :
				  (int)((commit_ns - (t - first_pending_ns) + 999999) / 1000000);
		} else {
			timeout = g->cstate ? 100 : 200;
		}
		ret = unified_enter(g->ctx, 1, timeout);
		if (ret < 0 && ret != -ETIME && ret != -EINTR)
			die("engine: %s", strerror(-ret));
		while ((n = unified_ring_peek(&g->rings.rx, 256, &idx))) {
			g->batch_mono = now_ns();	/* one arrival time per batch of entries */
			g->batch_real = real_ns();
			for (i = 0; i < n; i++) {
				bool had = g->pr_n != 0;

				on_rx(g, unified_net_desc(&g->rings.rx, idx + i));
				if (!had && g->pr_n)
					first_pending_ns = g->batch_mono;
			}
			unified_ring_release(&g->rings.rx, n);
		}
		while ((n = unified_ring_peek(&g->rings.comp, 256, &idx))) {
			for (i = 0; i < n; i++) {
				const struct io_unified_net_comp *e = unified_comp_entry(&g->rings.comp, idx + i);
				uint64_t addr = e->addr;
				int32_t err = e->error;

				if (addr >= (uint64_t)g->nbufs * g->bufsz || !g->b[addr / g->bufsz].tx)
					die("COMPLETION for a buffer not sent: a bug");
				tx_done(g, (int32_t)(addr / g->bufsz), err);
			}
			unified_ring_release(&g->rings.comp, n);
		}
		while ((n = unified_cq_peek(&g->cq, 64, &idx))) {
			for (i = 0; i < n; i++)
				on_cqe(g, unified_cq_entry(&g->cq, idx + i));
			unified_cq_release(&g->cq, n);
		}
		if (g->pr_n && !g->cstate) {
			t = now_ns();
			if (t - first_pending_ns >= commit_ns || g->pr_bytes >= opt_commit_bytes ||
			    g->pr_n >= MAX_EXT * UJ_RECS_PER_EXTENT || stopping) {
				commit_start(g);
				first_pending_ns = t;
			}
		}
		if (g->rsp_n)
			rsp_pump_all(g);
		t = now_ns();
		if (opt_stats_s > 0 && t >= t_stats) {
			stats_line(g, false);
			t_stats = t + (uint64_t)(opt_stats_s * 1e9);
		}
		if (t >= t_frames) {
			frame_timeouts(g, t);
			t_frames = t + 1000000000ull;
		}
		if (stopping && !g->cstate && (!g->pr_n || g->full_logged)) {
			if ((!g->rsp_n && !g->tx_inflight) || t >= stop_deadline)
				break;
		}
	}
	stats_line(g, true);
	if (g->pr_n)
		logf_("%u messages could not be stored (journal full) and were never acknowledged",
		      g->pr_n);
	unified_unregister(g->ctx);
	return 0;
}

/* ------------------------------------------------------------ dump and verify */

struct reader {
	struct ingest *g;
	uint64_t win_blk;	/* journal block of the window, UINT64_MAX if none */
	uint32_t win_blocks;
	uint8_t *out;		/* message assembly (dump: a copy is fine here) */
	uint64_t damaged;
	bool print;
	int err;
};

/* @n bytes at journal byte address @addr into @dst, through a window of
 * buffer 1 (one read of up to a buffer, or the target's largest transfer). */
static int read_bytes(struct reader *r, uint64_t addr, uint32_t n, uint8_t *dst)
{
	struct ingest *g = r->g;

	while (n) {
		uint64_t blk = addr / UJ_BLOCK, end;
		uint32_t k;

		if (r->win_blk == UINT64_MAX || blk < r->win_blk || blk >= r->win_blk + r->win_blocks) {
			uint32_t per = g->bufsz / UJ_BLOCK, max = g->ti.max_xfer / UJ_BLOCK;
			uint32_t want = per < max ? per : max;
			int ret;

			if (blk >= g->nblocks)
				return -ERANGE;
			if (blk + want > g->nblocks)
				want = (uint32_t)(g->nblocks - blk);
			ret = sync_rw(g, false, blk, want, 1, false);
			if (ret)
				return ret;
			r->win_blk = blk;
			r->win_blocks = want;
		}
		end = (r->win_blk + r->win_blocks) * UJ_BLOCK;
		k = end - addr < n ? (uint32_t)(end - addr) : n;
		memcpy(dst, buf_ptr(g, 1) + (addr - r->win_blk * UJ_BLOCK), k);
		addr += k;
		dst += k;
		n -= k;
	}
	return 0;
}

/* verify --chain: one line per extent. */
static void each_extent(void *arg, uint64_t at, const struct uj_extent_hdr *h)
{
	(void)arg;
	printf("extent at block %" PRIu64 ": commit %" PRIu64 ", %u records from %" PRIu64
	       ", %u blocks; next at %" PRIu64 " (room %u)\n", at, h->commit_seq, h->nrec,
	       h->first_rec_seq, h->nblocks, h->next_extent, h->next_room);
}

static void each_record(void *arg, const struct uj_record *rec)
{
	struct reader *r = arg;
	int ret;

	if (r->err || (r->print && rec->seq < opt_from))
		return;
	ret = read_bytes(r, rec->addr1, rec->len1, r->out);
	if (!ret && rec->len > rec->len1)
		ret = read_bytes(r, rec->addr2, rec->len - rec->len1, r->out + rec->len1);
	if (ret) {
		r->err = ret;
		return;
	}
	if (unified_crc32c(0, r->out, rec->len) != rec->crc) {
		r->damaged++;
		printf("damage: record %" PRIu64 " (%u bytes at %#" PRIx64 "): CRC32C mismatch\n",
		       rec->seq, rec->len, rec->addr1);
		return;
	}
	if (!r->print)
		return;
	fwrite(r->out, 1, rec->len, stdout);
	if (!rec->len || r->out[rec->len - 1] != '\n')
		putchar('\n');
}

static int cmd_read(bool verify)
{
	struct ingest *g = &G;
	struct reader r = { .g = g, .win_blk = UINT64_MAX, .print = !verify };
	int ret;

	g->bufsz = 1u << 20;
	open_target(g, false, 2);
	r.out = malloc(UJ_MAX_MSG);	/* recovery refuses longer records */
	if (!r.out)
		die("out of memory");
	ret = uj_recover(g->nblocks, journal_read, g, each_record, opt_chain ? each_extent : NULL, &r,
			 &g->js);
	if (ret == -EBADMSG) {
		printf("no journal on %s: %s\n", g->ti.path, g->js.end_why ? g->js.end_why : "");
		unified_unregister(g->ctx);
		free(r.out);
		return 1;
	}
	if (ret || r.err) {
		fprintf(stderr, "unified-ingest: reading the journal: %s\n", strerror(-(ret ? ret : r.err)));
		unified_unregister(g->ctx);
		free(r.out);
		return 2;
	}
	if (verify)
		printf("journal %s: %" PRIu64 " records, sequence %" PRIu64 "..%" PRIu64 ", %" PRIu64
		       " commits, %" PRIu64 " of %" PRIu64 " blocks used; superblock copy %d; end: %s; "
		       "damage: %" PRIu64 "\n", g->ti.path, g->js.records, g->js.first_seq,
		       g->js.last_seq, g->js.extents, g->js.high_water, g->nblocks, g->js.super_copy,
		       g->js.end_why ? g->js.end_why : "?", r.damaged);
	unified_unregister(g->ctx);
	free(r.out);
	return r.damaged ? 1 : 0;
}

/* ------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fputs("usage: unified-ingest serve  [--target PATH] [--listen [ADDR:]PORT] [--relp [ADDR:]PORT]\n"
	      "                             [--udp [ADDR:]PORT] [--json] [--stats-interval S] [--quiet]\n"
	      "                             [--commit-us US] [--commit-bytes N] [--buffer-size N]\n"
	      "                             [--buffers N] [--max-conns N] [--max-msg N]\n"
	      "                             [--frame-timeout S] [--duration S] [--size BYTES]\n"
	      "                             [--format] [--thread]\n"
	      "       unified-ingest dump   [--target PATH] [--from SEQ]\n"
	      "       unified-ingest verify [--target PATH] [--chain]\n"
	      "       unified-ingest format [--target PATH] [--size BYTES]   (discards what is stored)\n"
	      "Without --target: the embedded default namespace file.  See unified-ingest(1).\n", f);
}

static uint64_t num(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		die("bad %s '%s'", what, s);
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	else if (*end == 'g' || *end == 'G')
		v <<= 30, end++;
	if (*end)
		die("bad %s '%s'", what, s);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "target", required_argument, NULL, 't' },
		{ "listen", required_argument, NULL, 'l' },
		{ "relp", required_argument, NULL, 'r' },
		{ "udp", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "stats-interval", required_argument, NULL, 's' },
		{ "commit-us", required_argument, NULL, 'c' },
		{ "commit-bytes", required_argument, NULL, 'C' },
		{ "buffer-size", required_argument, NULL, 'b' },
		{ "buffers", required_argument, NULL, 'B' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "max-msg", required_argument, NULL, 'M' },
		{ "frame-timeout", required_argument, NULL, 'T' },
		{ "duration", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 'S' },
		{ "format", no_argument, NULL, 'F' },
		{ "thread", no_argument, NULL, 'H' },
		{ "from", required_argument, NULL, 'f' },
		{ "chain", no_argument, NULL, 'X' },
		{ "inject-torn-run", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd;
	int o;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	argv++;
	argc--;
	while ((o = getopt_long(argc, argv, "t:h", lo, NULL)) != -1) {
		switch (o) {
		case 't': opt_target = optarg; break;
		case 'l': opt_listen = optarg; break;
		case 'r': opt_relp = optarg; break;
		case 'u': opt_udp = optarg; break;
		case 'j': opt_json = true; break;
		case 'q': opt_quiet = true; break;
		case 's': opt_stats_s = strtod(optarg, NULL); break;
		case 'c': opt_commit_us = (uint32_t)num(optarg, "--commit-us"); break;
		case 'C': opt_commit_bytes = (uint32_t)num(optarg, "--commit-bytes"); break;
		case 'b': opt_bufsz = (uint32_t)num(optarg, "--buffer-size"); break;
		case 'B': opt_nbufs = (uint32_t)num(optarg, "--buffers"); break;
		case 'm': opt_max_conns = (uint32_t)num(optarg, "--max-conns"); break;
		case 'M': opt_max_msg = (uint32_t)num(optarg, "--max-msg"); break;
		case 'T': opt_frame_timeout_s = strtod(optarg, NULL); break;
		case 'd': opt_duration_s = strtod(optarg, NULL); break;
		case 'S': opt_size = num(optarg, "--size"); break;
		case 'F': opt_format = true; break;
		case 'H': opt_thread = true; break;
		case 'f': opt_from = num(optarg, "--from"); break;
		case 'X': opt_chain = true; break;
		case 'I': opt_inject_torn = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc)
		die("unexpected argument '%s'", argv[optind]);
	if (opt_bufsz < (64u << 10) || opt_bufsz > (2u << 20) || (opt_bufsz & (opt_bufsz - 1)))
		die("--buffer-size must be a power of two from 64K to 2M");
	if (opt_max_conns < 1 || opt_max_conns > 65000)
		die("--max-conns must be 1..65000");
	if (!unified_crc32c_available())
		die("this CPU has no CRC32C instruction (x86-64 SSE4.2, arm64 CRC32), which the journal's "
		    "checksums use (a QEMU guest needs -cpu max or a host model)");
	if (!strcmp(cmd, "serve"))
		return cmd_serve();
	if (!strcmp(cmd, "dump"))
		return cmd_read(false);
	if (!strcmp(cmd, "verify"))
		return cmd_read(true);
	if (!strcmp(cmd, "format")) {
		G.bufsz = 64u << 10;
		open_target(&G, false, 2);
		format_journal(&G);	/* a new journal id: every old extent is stale */
		unified_unregister(G.ctx);
		return 0;
	}
	usage(stderr);
	return 2;
}
