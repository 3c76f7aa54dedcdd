/* SPDX-License-Identifier: MIT */
/*
 * The network rings (ABI 2): FILL and TX consumed, RX and COMPLETION
 * produced, the connection table and the ownership of every buffer.
 *
 * Ownership, per buffer (buf_state, plus nvme_refs for NVMe commands):
 *   BUF_APP    the application's: it may give it to FILL or TX, or name it
 *              in NVMe commands
 *   BUF_RX     the receive side's, from its FILL entry until the RX entry
 *              without IO_UNIFIED_NET_RX_MORE that names it
 *   BUF_TX     a send's, from its TX entry until its COMPLETION entry
 * An NVMe command in flight counts in nvme_refs; a FILL or TX entry naming
 * a buffer that is not BUF_APP, or one with NVMe commands in flight, is
 * refused (an RX error entry for FILL, a COMPLETION entry with an error for
 * TX) and changes nothing; an NVMe command naming a BUF_RX or BUF_TX buffer
 * completes with Invalid Field, except a Write that names only bytes of
 * one TCP or UDP receive buffer already announced on RX (announced[], rounded up
 * to the logical block): those bytes never change again, so the
 * application can make a stream durable before its buffer is full.  Everything the application wrote is read
 * once (one copy of each entry) and bound-checked.
 *
 * TCP receive: each connection holds at most one buffer and has at most
 * one receive in flight (two would race for the stream's order); bytes are
 * received at the buffer's fill position, so a returned buffer is a dense,
 * page-aligned run of the stream.  When FILL runs dry a connection waits
 * with no receive posted: the socket's buffer fills and TCP throttles the
 * peer, and no byte is lost.  UDP: datagrams are packed the same way while
 * at least 64 KiB are left; a datagram longer than what is left is
 * truncated and flagged (IO_UNIFIED_NET_RX_TRUNC), which only happens with
 * buffers under 64 KiB.  Drops in the socket's queue while FILL is empty
 * are the kernel's: read them with unified_net_get_stats().
 *
 * Connection ids are gen << 16 | slot.  A slot is freed once its last RX
 * entry is published, and every use of a slot publishes at least two RX
 * entries (NEW_CONN or the listen/connect call's id, and the last one), so
 * while one RX entry naming an id is unconsumed the slot can be reused at
 * most rx_entries / 2 <= 16384 times: the 16-bit generation cannot wrap to
 * the same id.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/sock_diag.h>
#include "internal.h"

enum { BUF_APP = 0, BUF_RX = 1, BUF_TX = 2 };

#define UDP_MIN_ROOM	65536u

static void send_step(struct unified_engine *e, struct unified_net *n, struct unified_conn *c);
static bool send_cancel(struct unified_engine *e, struct unified_net *n, struct unified_conn *c,
			uint64_t ud, bool abortive);
static void work_add(struct unified_net *n, struct unified_conn *c);
static void unified_net_inc_release(struct unified_engine *e, struct unified_net *n,
				    struct unified_conn *c);

static inline uint32_t conn_id(const struct unified_net *n, const struct unified_conn *c)
{
	return (uint32_t)c->gen << 16 | (uint32_t)(c - n->conns);
}

/* The connection an id names, or NULL. */
static struct unified_conn *conn_lookup(struct unified_net *n, uint32_t id)
{
	uint32_t slot = id & 0xffff;
	struct unified_conn *c;

	if (slot >= n->max_conns)
		return NULL;
	c = &n->conns[slot];
	if (c->kind == CONN_FREE || c->gen != (id >> 16) || c->final_sent)
		return NULL;
	return c;
}

static void ring_setup(struct unified_net_ring *r, void *region, uint64_t hdr, uint64_t entries,
		       uint32_t size)
{
	struct io_unified_ring *h = (void *)((uint8_t *)region + hdr);

	r->producer = &h->producer;
	r->consumer = &h->consumer;
	r->size = size;
	r->mask = size - 1;
	r->cached_prod = r->cached_cons = 0;
	r->entries = (uint8_t *)region + entries;
}

/* Zero the network part and write its ring geometry (registration can no
 * longer fail).  The library keeps its own copy and never reads it back. */
void unified_net_init_rings(struct unified_ctx *ctx)
{
	const struct io_unified_net_reg *nr = &ctx->net_reg;
	uint64_t end = nr->comp_desc + (uint64_t)nr->comp_entries * sizeof(struct io_unified_net_comp);
	uint64_t hdr[4] = { nr->fill_ring, nr->rx_ring, nr->tx_ring, nr->comp_ring };
	uint32_t cnt[4] = { nr->fill_entries, nr->rx_entries, nr->tx_entries, nr->comp_entries };
	int i;

	memset((uint8_t *)ctx->region + nr->fill_ring, 0, end - nr->fill_ring);
	for (i = 0; i < 4; i++) {
		struct io_unified_ring *r = (void *)((uint8_t *)ctx->region + hdr[i]);

		r->ring_entries = cnt[i];
		r->ring_mask = cnt[i] - 1;
	}
}

/* A page for an incremental provided-buffer ring of UNIFIED_INC_BUFS
 * entries, registered as buffer group @bgid; NULL if the kernel refuses
 * (before 6.12 the flag is unknown: EINVAL). */
static void *inc_ring_register(struct unified_engine *e, uint16_t bgid)
{
	struct io_uring_buf_reg reg = { 0 };
	void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED)
		return NULL;
	reg.ring_addr = (uintptr_t)mem;
	reg.ring_entries = UNIFIED_INC_BUFS;
	reg.bgid = bgid;
	reg.pad = IOU_PBUF_RING_INC;	/* the kernel's "flags" */
	if (io_uring_register_buf_ring(&e->ring, &reg, 0)) {
		munmap(mem, 4096);
		return NULL;
	}
	return mem;
}

/* Does the kernel take incremental provided-buffer rings?  One registered
 * and removed at once, before any connection uses a buffer group. */
static bool inc_supported(struct unified_engine *e)
{
	void *mem = inc_ring_register(e, 0);

	if (!mem)
		return false;
	io_uring_unregister_buf_ring(&e->ring, 0);
	munmap(mem, 4096);
	return true;
}

int unified_net_start(struct unified_ctx *ctx, const struct io_unified_net_reg *nr)
{
	struct unified_engine *e = &ctx->eng;
	struct unified_net *n = NULL;
	uint32_t i;

	if (e->tgt.ring_flags & IORING_SETUP_IOPOLL)
		return unified_set_err(EOPNOTSUPP, "the network rings share the engine's io_uring, "
				       "which cannot hold socket operations with an IOPOLL target: "
				       "register without UNIFIED_OPT_IOPOLL");
	n = calloc(1, sizeof(*n));
	if (!n)
		return unified_set_err(ENOMEM, "no memory");
	e->net = n;
	pthread_mutex_init(&n->lock, NULL);
	n->ops = &unified_net_socket_ops;
	{
		struct io_uring_probe *probe = io_uring_get_probe_ring(&e->ring);

		n->send_zc = probe && io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
		if (probe)
			io_uring_free_probe(probe);
	}
	n->max_conns = nr->max_conns;
	n->inc = (nr->flags & IO_UNIFIED_NET_F_INC_RECV) && inc_supported(e);
	n->data_size = ctx->data_size;
	n->buf_shift = (uint32_t)__builtin_ctz(ctx->buf_size);
	n->conns = calloc(n->max_conns, sizeof(*n->conns));
	for (i = 0; n->conns && i < n->max_conns; i++)
		n->conns[i].fd = -1;	/* closed at teardown if >= 0 */
	n->free_slots = calloc(n->max_conns, sizeof(*n->free_slots));
	n->work = calloc(n->max_conns, sizeof(*n->work));
	n->buf_state = calloc(ctx->buf_entries, 1);
	n->nvme_refs = calloc(ctx->buf_entries, sizeof(*n->nvme_refs));
	n->announced = calloc(ctx->buf_entries, sizeof(*n->announced));
	n->pool = calloc(ctx->buf_entries, sizeof(*n->pool));
	n->comp_pending = calloc(nr->comp_entries, sizeof(*n->comp_pending));
	if (!n->conns || !n->free_slots || !n->work || !n->buf_state || !n->nvme_refs || !n->announced ||
	    !n->pool ||
	    !n->comp_pending)
		return unified_set_err(ENOMEM, "no memory for %u connections and %u buffers",
				       n->max_conns, ctx->buf_entries);
	for (i = 0; i < n->max_conns; i++)
		n->free_slots[n->max_conns - 1 - i] = i;	/* slot 0 first */
	n->nfree = n->max_conns;
	ring_setup(&n->fill, ctx->region, nr->fill_ring, nr->fill_desc, nr->fill_entries);
	ring_setup(&n->rx, ctx->region, nr->rx_ring, nr->rx_desc, nr->rx_entries);
	ring_setup(&n->tx, ctx->region, nr->tx_ring, nr->tx_desc, nr->tx_entries);
	ring_setup(&n->comp, ctx->region, nr->comp_ring, nr->comp_desc, nr->comp_entries);
	return 0;
}

static void conn_close_fd(struct unified_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void unified_net_close_fds(struct unified_engine *e)
{
	struct unified_net *n = e->net;
	uint32_t i;

	for (i = 0; n && n->conns && i < n->max_conns; i++) {
		struct unified_conn *c = &n->conns[i];

		conn_close_fd(c);
		if (c->has_event && c->ev_op == NET_OP_ACCEPT && c->ev_res >= 0) {
			close(c->ev_res);	/* an accepted socket parked for RX room */
			c->has_event = false;
		}
	}
}

void unified_net_free(struct unified_engine *e)
{
	struct unified_net *n = e->net;

	if (!n)
		return;
	unified_net_xdp_free(n);
	unified_net_close_fds(e);
	for (uint32_t i = 0; n->conns && i < n->max_conns; i++)
		if (n->conns[i].br)	/* the ring that used it is gone by now */
			munmap(n->conns[i].br, 4096);
	pthread_mutex_destroy(&n->lock);
	free(n->conns);
	free(n->free_slots);
	free(n->work);
	free(n->buf_state);
	free(n->nvme_refs);
	free(n->announced);
	free(n->pool);
	free(n->comp_pending);
	free(n);
	e->net = NULL;
}

/* Teardown: no new operations; shutting the sockets down ends the ones in
 * flight (a receive returns 0, an accept an error), so the drain ends. */
void unified_net_stop(struct unified_engine *e)
{
	struct unified_net *n = e->net;
	uint32_t i;

	if (!n || !n->conns)
		return;
	pthread_mutex_lock(&n->lock);
	for (i = 0; i < n->max_conns; i++) {
		struct unified_conn *c = &n->conns[i];

		if (c->kind == CONN_FREE)
			continue;
		c->closing = true;
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
		work_add(n, c);	/* an AF_XDP socket's poll is removed by a pass */
	}
	pthread_mutex_unlock(&n->lock);
}

/* Wait (at most the drain timeout) until no network operation is in the
 * io_uring; cancel them at half of it. */
int unified_net_drain(struct unified_engine *e)
{
	struct unified_net *n = e->net;
	uint64_t start = unified_now_ns(), limit = (uint64_t)e->drain_timeout_ms * 1000000ull;
	bool cancelled = false;

	if (!n)
		return 0;
	while (__atomic_load_n(&n->ops_inflight, __ATOMIC_RELAXED)) {
		struct __kernel_timespec ts = { 0, 20 * 1000 * 1000 };
		struct io_uring_cqe *cqe;
		uint64_t el = unified_now_ns() - start;

		if (el >= limit)
			return -ETIMEDOUT;
		if (!cancelled && el >= limit / 2) {
			unified_uring_cancel_all(e);
			cancelled = true;
		}
		unified_net_pass(e);	/* removes AF_XDP polls of closing sockets */
		io_uring_submit_and_wait_timeout(&e->ring, &cqe, 1, &ts, NULL);
		unified_uring_reap(e);
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Rings.
 */

static uint32_t prod_free(struct unified_net_ring *r)
{
	uint32_t cons = unified_load_acquire(r->consumer);
	uint32_t used = r->cached_prod - cons;

	return used > r->size ? 0 : r->size - used;	/* corrupt consumer: full */
}

static void prod_publish(struct unified_net *n, struct unified_net_ring *r)
{
	if (*r->producer != r->cached_prod) {
		unified_store_release(r->producer, r->cached_prod);
		n->published = true;
	}
}

/* Entries ready to consume (0 for a corrupt producer index: nothing taken). */
static uint32_t cons_ready(struct unified_net_ring *r)
{
	uint32_t prod = unified_load_acquire(r->producer), n = prod - r->cached_cons;

	return n > r->size ? 0 : n;
}

/* Append @d to RX (published at the end of the pass); false when RX is full. */
bool unified_net_rx_put(struct unified_net *n, const struct io_unified_net_desc *d)
{
	if (!prod_free(&n->rx)) {
		n->wait_rx = true;	/* the application must consume RX first */
		return false;
	}
	memcpy(&((struct io_unified_net_desc *)n->rx.entries)[n->rx.cached_prod & n->rx.mask], d,
	       sizeof(*d));
	n->rx.cached_prod++;
	return true;
}

/*
 * Every TX entry taken holds a COMPLETION slot (consume_tx() takes one only
 * while tx_reserved < free slots), so the ring has room here unless the
 * application corrupted its consumer index; then the entry waits, and
 * comp_pending, sized for every slot, cannot overflow.
 */
/* An SQE on the engine's ring for a network operation (@ud set), or NULL
 * when the ring has no room even after submitting what is queued. */
struct io_uring_sqe *unified_net_sqe(struct unified_engine *e, uint64_t ud)
{
	struct io_uring_sqe *sqe = unified_uring_sqe(e);

	if (sqe)
		sqe->user_data = ud;
	return sqe;
}

static bool comp_put(struct unified_net *n, uint64_t addr, uint32_t len, int32_t err)
{
	struct io_unified_net_comp c = { addr, len, err };

	n->tx_reserved--;
	if (n->comp_pending_count || !prod_free(&n->comp)) {
		if (n->comp_pending_count < n->comp.size)
			n->comp_pending[n->comp_pending_count++] = c;
		return false;
	}
	((struct io_unified_net_comp *)n->comp.entries)[n->comp.cached_prod++ & n->comp.mask] = c;
	return true;
}

static void comp_flush(struct unified_net *n)
{
	uint32_t i = 0;

	while (i < n->comp_pending_count && prod_free(&n->comp)) {
		((struct io_unified_net_comp *)n->comp.entries)[n->comp.cached_prod++ & n->comp.mask] =
			n->comp_pending[i++];
	}
	if (i) {
		memmove(n->comp_pending, n->comp_pending + i,
			(n->comp_pending_count - i) * sizeof(*n->comp_pending));
		n->comp_pending_count -= i;
	}
}

static void peer_fill(struct io_unified_net_desc *d, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		d->peer_family = AF_INET;
		d->peer_port = ntohs(in->sin_port);
		memcpy(d->peer_addr, &in->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		d->peer_family = AF_INET6;
		d->peer_port = ntohs(in6->sin6_port);
		memcpy(d->peer_addr, &in6->sin6_addr, 16);
	}
}

/* ------------------------------------------------------------------------
 * Connections.
 */

static void work_queue(struct unified_net *n, struct unified_conn *c)
{
	if (c->queued)
		return;
	c->queued = true;
	n->work[(n->work_head + n->work_count++) % n->max_conns] = (uint32_t)(c - n->conns);
}

/* @c has something new to do (a completion, a call, a state change): the
 * next pass must run it, so unified_net_has_work() says so.  A connection
 * that only waits goes back with work_queue() and wakes nobody. */
static void work_add(struct unified_net *n, struct unified_conn *c)
{
	work_queue(n, c);
	n->work_new = true;
}

static struct unified_conn *conn_alloc(struct unified_net *n, int fd, int kind, uint64_t user_data)
{
	struct unified_conn *c;

	if (!n->nfree)
		return NULL;
	c = &n->conns[n->free_slots[--n->nfree]];
	c->gen++;
	if (conn_id(n, c) == IO_UNIFIED_NET_NO_CONN)
		c->gen++;	/* slot 0xffff, generation 0xffff: skip the "none" id */
	c->fd = fd;
	c->kind = (uint8_t)kind;
	c->user_data = user_data;
	c->buf = IO_UNIFIED_NET_NO_ADDR;
	c->pos = 0;
	c->recv_inflight = c->accept_inflight = c->send_inflight = c->tx_active = false;
	c->zc_notifs = 0;
	c->closing = c->final_sent = c->has_event = false;
	c->final_flags = 0;
	c->final_err = 0;
	c->backoff_until = 0;
	c->poll_remove_sent = false;
	c->send_cancel_sent = false;
	c->inc_failed = false;
	c->br = NULL;
	return c;
}

struct unified_conn *unified_net_conn_new(struct unified_net *n, int fd, int kind, uint64_t user_data)
{
	struct unified_conn *c = conn_alloc(n, fd, kind, user_data);

	if (c) {
		if (kind == CONN_XSK)
			n->xdp_slot = (uint32_t)(c - n->conns);
		work_add(n, c);
	}
	return c;
}

static void conn_release(struct unified_engine *e, struct unified_net *n, struct unified_conn *c)
{
	if (c->kind == CONN_XSK)
		unified_net_xdp_free(n);
	unified_net_inc_release(e, n, c);
	conn_close_fd(c);
	c->kind = CONN_FREE;
	c->final_sent = false;
	n->free_slots[n->nfree++] = (uint32_t)(c - n->conns);
}

static uint64_t buf_index(const struct unified_net *n, uint64_t addr)
{
	return addr >> n->buf_shift;
}

/* Publish the connection's last RX entry (returning a held buffer). */
static bool conn_finish(struct unified_net *n, struct unified_conn *c, uint32_t flags, int32_t err)
{
	struct io_unified_net_desc d = { 0 };

	d.addr = IO_UNIFIED_NET_NO_ADDR;
	d.conn = conn_id(n, c);
	d.user_data = c->user_data;
	d.flags = flags;
	d.error = err;
	if (c->buf != IO_UNIFIED_NET_NO_ADDR) {
		d.addr = c->buf;
		d.len = 0;
	}
	if (!unified_net_rx_put(n, &d)) {
		c->final_flags = flags;
		c->final_err = err;
		return false;
	}
	if (c->buf != IO_UNIFIED_NET_NO_ADDR)
		n->buf_state[buf_index(n, c->buf)] = BUF_APP;
	c->buf = IO_UNIFIED_NET_NO_ADDR;
	c->final_sent = true;
	/* Not closed yet: an SQE naming the fd may be queued and unsubmitted,
	 * and a new socket could get its number.  conn_release() closes it
	 * once nothing is in flight; shutdown ends what is. */
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	work_add(n, c);	/* released by the next pass once nothing is in flight */
	return true;
}

/* A received chunk (@res bytes at the fill position), or the end. */
static bool conn_received(struct unified_net *n, struct unified_conn *c, int32_t res)
{
	struct io_unified_net_desc d = { 0 };
	uint32_t room;

	if (res <= 0) {
		if (c->closing)
			return conn_finish(n, c, IO_UNIFIED_NET_RX_CLOSED, 0);
		if (res == 0 && c->kind == CONN_TCP)
			return conn_finish(n, c, IO_UNIFIED_NET_RX_EOF, 0);
		if (res == 0)	/* an empty UDP datagram: nothing to announce */
			return true;
		return conn_finish(n, c, IO_UNIFIED_NET_RX_ERROR, res);
	}
	d.addr = c->buf + c->pos;
	d.len = (uint32_t)res;
	d.conn = conn_id(n, c);
	d.user_data = c->user_data;
	room = (1u << n->buf_shift) - c->pos - (uint32_t)res;
	if (c->kind == CONN_UDP) {
		peer_fill(&d, &c->peer);
		if (c->msg.msg_flags & MSG_TRUNC)
			d.flags |= IO_UNIFIED_NET_RX_TRUNC;
		if (room >= UDP_MIN_ROOM)
			d.flags |= IO_UNIFIED_NET_RX_MORE;
	} else if (room) {
		d.flags |= IO_UNIFIED_NET_RX_MORE;
	}
	if (!unified_net_rx_put(n, &d))
		return false;
	n->rx_bytes += (uint32_t)res;
	c->pos += (uint32_t)res;
	__atomic_store_n(&n->announced[buf_index(n, c->buf)], c->pos, __ATOMIC_RELAXED);
	if (!(d.flags & IO_UNIFIED_NET_RX_MORE)) {
		n->buf_state[buf_index(n, c->buf)] = BUF_APP;
		c->buf = IO_UNIFIED_NET_NO_ADDR;
		c->pos = 0;
	}
	return true;
}

/* A completed accept: announce the new connection (NEW_CONN). */
static bool conn_accepted(struct unified_net *n, struct unified_conn *l, int32_t res)
{
	struct io_unified_net_desc d = { 0 };
	struct unified_conn *c;

	if (res < 0) {
		if (l->closing)
			return conn_finish(n, l, IO_UNIFIED_NET_RX_CLOSED, 0);
		if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM)
			l->backoff_until = unified_now_ns() + 10 * 1000000ull;	/* out of something */
		if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM ||
		    res == -ECONNABORTED || res == -EINTR)
			return true;	/* transient: accept again (later, for a lack of resources) */
		return conn_finish(n, l, IO_UNIFIED_NET_RX_ERROR, res);
	}
	if (!prod_free(&n->rx) || !n->nfree) {
		if (!n->nfree) {	/* table full: refuse this one, keep listening */
			close(res);
			return true;
		}
		return false;
	}
	c = conn_alloc(n, res, CONN_TCP, l->user_data);
	d.addr = IO_UNIFIED_NET_NO_ADDR;
	d.conn = conn_id(n, c);
	d.user_data = c->user_data;
	d.flags = IO_UNIFIED_NET_RX_NEW_CONN;
	peer_fill(&d, &l->peer);
	memcpy(&c->peer, &l->peer, sizeof(c->peer));
	unified_net_rx_put(n, &d);
	n->accepted++;
	work_add(n, c);
	return true;
}

/* Apply a completion, or keep it for when RX has room. */
static void conn_event(struct unified_net *n, struct unified_conn *c, uint8_t op, int32_t res)
{
	bool done;

	switch (op) {
	case NET_OP_RECV:
		done = conn_received(n, c, res);
		break;
	case NET_OP_ACCEPT:
		done = conn_accepted(n, c, res);
		break;
	default:
		done = true;
	}
	if (!done) {
		c->has_event = true;
		c->ev_op = op;
		c->ev_res = res;
	}
	work_add(n, c);
}

/* Take a receive buffer for @c: its own, or one from the pool. */
static bool conn_buffer(struct unified_net *n, struct unified_conn *c)
{
	if (c->buf != IO_UNIFIED_NET_NO_ADDR)
		return true;
	if (!n->pool_count) {
		n->wait_buf = true;	/* FILL is dry */
		return false;
	}
	c->buf = n->pool[n->pool_head];
	n->pool_head = (n->pool_head + 1) % (uint32_t)(n->data_size >> n->buf_shift);
	n->pool_count--;
	c->pos = 0;
	return true;
}

/*
 * Move @c on as far as it can go now.  Returns true when it is done for
 * the moment (an operation in flight, or finished); false when it waits
 * for something a later pass may bring (RX room, a FILL buffer, an SQE).
 */
/* ------------------------------------------------------------------------
 * TCP through an incremental provided-buffer ring (6.12+): one ring per
 * connection (buffer group = its slot), so each buffer holds one stream,
 * filled back to back by one multishot receive.
 */

static void inc_buffer_back(struct unified_net *n, uint64_t buf)
{
	/* never announced: back to the pool (still the receive side's) */
	n->pool[(n->pool_head + n->pool_count++) % (uint32_t)(n->data_size >> n->buf_shift)] = buf;
}

/* Register @c's buffer ring; false (and the plain path) if the kernel says no. */
static bool inc_setup(struct unified_engine *e, struct unified_net *n, struct unified_conn *c)
{
	uint32_t i;

	c->br = inc_ring_register(e, (uint16_t)(c - n->conns));
	if (!c->br)
		return false;
	io_uring_buf_ring_init(c->br);
	for (i = 0; i < UNIFIED_INC_BUFS; i++)
		c->inc_buf[i] = IO_UNIFIED_NET_NO_ADDR;
	c->inc_given = 0;
	c->evq_n = 0;
	c->inc_end = 0;
	return true;
}

static void unified_net_inc_release(struct unified_engine *e, struct unified_net *n,
				    struct unified_conn *c)
{
	uint32_t i;

	if (!c->br)
		return;
	io_uring_unregister_buf_ring(&e->ring, (int)(c - n->conns));
	munmap(c->br, 4096);
	c->br = NULL;
	for (i = 0; i < UNIFIED_INC_BUFS; i++)
		if (c->inc_buf[i] != IO_UNIFIED_NET_NO_ADDR)
			inc_buffer_back(n, c->inc_buf[i]);
}

/* A multishot completion: merged into the queue of what RX must announce. */
static void inc_complete(struct unified_net *n, struct unified_conn *c, const struct io_uring_cqe *cqe)
{
	uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	struct unified_inc_ev *last = c->evq_n ? &c->evq[c->evq_n - 1] : NULL;
	bool retire = !(cqe->flags & IORING_CQE_F_BUF_MORE);

	if (!(cqe->flags & IORING_CQE_F_MORE)) {	/* the multishot receive ended */
		c->recv_inflight = false;
		n->ops_inflight--;
	}
	if (cqe->res == -ENOBUFS)
		return;		/* ring empty: posted again once topped up */
	if (cqe->res <= 0) {
		c->inc_end = cqe->res ? cqe->res : 1;
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER) || bid >= UNIFIED_INC_BUFS ||
	    c->inc_buf[bid] == IO_UNIFIED_NET_NO_ADDR ||
	    c->inc_pos[bid] + (uint32_t)cqe->res > (1u << n->buf_shift)) {
		c->inc_end = -EIO;	/* the kernel named a buffer we did not give */
		return;
	}
	if (last && last->bid == bid && !last->retire) {	/* more bytes right after */
		last->len += (uint32_t)cqe->res;
		last->retire = retire;
	} else if (c->evq_n < UNIFIED_INC_BUFS + 1) {
		c->evq[c->evq_n++] = (struct unified_inc_ev){ (uint16_t)bid, retire, c->inc_pos[bid],
							      (uint32_t)cqe->res };
	} else {
		c->inc_end = -EIO;	/* cannot happen: ids are filled in ring order */
		return;
	}
	c->inc_pos[bid] += (uint32_t)cqe->res;
}

/* Announce queued bytes; false if RX is full. */
static bool inc_announce(struct unified_net *n, struct unified_conn *c)
{
	while (c->evq_n) {
		struct unified_inc_ev *ev = &c->evq[0];
		struct io_unified_net_desc d = { 0 };

		d.addr = c->inc_buf[ev->bid] + ev->off;
		d.len = ev->len;
		d.conn = conn_id(n, c);
		d.user_data = c->user_data;
		d.flags = ev->retire ? 0 : IO_UNIFIED_NET_RX_MORE;
		if (!unified_net_rx_put(n, &d))
			return false;
		n->rx_bytes += ev->len;
		__atomic_store_n(&n->announced[buf_index(n, c->inc_buf[ev->bid])], ev->off + ev->len,
				 __ATOMIC_RELAXED);
		if (ev->retire) {
			n->buf_state[buf_index(n, c->inc_buf[ev->bid])] = BUF_APP;
			c->inc_buf[ev->bid] = IO_UNIFIED_NET_NO_ADDR;
			c->inc_given--;
		}
		memmove(&c->evq[0], &c->evq[1], --c->evq_n * sizeof(c->evq[0]));
	}
	return true;
}

static bool inc_advance(struct unified_engine *e, struct unified_net *n, struct unified_conn *c,
			uint64_t ud)
{
	uint32_t i, added = 0, want;
	struct io_uring_sqe *sqe;

	if (!inc_announce(n, c))
		return false;
	if (c->inc_end || c->closing) {
		if (c->recv_inflight)
			return true;	/* shutdown ends it; its last completion comes */
		/* The partly filled buffer (its bytes announced) goes back with
		 * the last entry; the unused ones to the pool. */
		for (i = 0; i < UNIFIED_INC_BUFS; i++) {
			if (c->inc_buf[i] == IO_UNIFIED_NET_NO_ADDR)
				continue;
			if (c->inc_pos[i] && c->buf == IO_UNIFIED_NET_NO_ADDR)
				c->buf = c->inc_buf[i];
			else
				inc_buffer_back(n, c->inc_buf[i]);
			c->inc_buf[i] = IO_UNIFIED_NET_NO_ADDR;
		}
		c->inc_given = 0;
		return conn_finish(n, c, c->closing ? IO_UNIFIED_NET_RX_CLOSED :
				   c->inc_end > 0 ? IO_UNIFIED_NET_RX_EOF : IO_UNIFIED_NET_RX_ERROR,
				   c->closing || c->inc_end > 0 ? 0 : c->inc_end);
	}
	/* One buffer while the connection is idle (an idle one must not sit on
	 * many: plain receive holds one too), a second once bytes flow, so
	 * the kernel moves on without a stop when the first is full. */
	want = 1;
	for (i = 0; i < UNIFIED_INC_BUFS; i++)
		if (c->inc_buf[i] != IO_UNIFIED_NET_NO_ADDR && c->inc_pos[i])
			want = UNIFIED_INC_GIVE;
	for (i = 0; i < UNIFIED_INC_BUFS && c->inc_given < want && n->pool_count; i++) {
		uint64_t buf;

		if (c->inc_buf[i] != IO_UNIFIED_NET_NO_ADDR)
			continue;
		buf = n->pool[n->pool_head];
		n->pool_head = (n->pool_head + 1) % (uint32_t)(n->data_size >> n->buf_shift);
		n->pool_count--;
		c->inc_buf[i] = buf;
		c->inc_pos[i] = 0;
		c->inc_given++;
		io_uring_buf_ring_add(c->br, e->data + buf, 1u << n->buf_shift, (unsigned short)i,
				      io_uring_buf_ring_mask(UNIFIED_INC_BUFS), (int)added++);
	}
	if (added)
		io_uring_buf_ring_advance(c->br, (int)added);
	if (!c->inc_given) {
		n->wait_buf = true;	/* FILL is dry: TCP throttles the peer */
		return false;
	}
	if (c->recv_inflight)
		return true;
	sqe = unified_net_sqe(e, ud | (uint64_t)NET_OP_RECV << UD_NET_OP_SHIFT);
	if (!sqe) {
		n->need_sqe = true;
		return false;
	}
	io_uring_prep_recv(sqe, c->fd, NULL, 0, 0);
	sqe->ioprio |= IORING_RECV_MULTISHOT;
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = (uint16_t)(c - n->conns);
	c->recv_inflight = true;
	n->ops_inflight++;
	return true;
}

static bool conn_advance(struct unified_engine *e, struct unified_net *n, struct unified_conn *c)
{
	uint64_t ud = UD_NET | (uint64_t)(c - n->conns);

	if (c->kind == CONN_FREE)
		return true;
	if (c->has_event) {
		bool done = c->ev_op == NET_OP_RECV ? conn_received(n, c, c->ev_res) :
			    conn_accepted(n, c, c->ev_res);

		if (!done)
			return false;
		c->has_event = false;
	}
	if (c->final_flags && !c->final_sent) {
		if (!conn_finish(n, c, c->final_flags, c->final_err))
			return false;
	}
	if (c->tx_active && !c->send_inflight) {
		send_step(e, n, c);	/* a send that found no SQE, or ends now */
		if (c->tx_active && !c->send_inflight && !c->zc_notifs)
			return false;
	}
	if (c->final_sent) {
		if (!send_cancel(e, n, c, ud, c->closing))
			return false;
		if (c->recv_inflight || c->accept_inflight || c->tx_active)
			return true;	/* freed when the last one completes */
		conn_release(e, n, c);
		return true;
	}
	if (c->kind == CONN_TCP && n->inc && !c->br && !c->inc_failed && c->buf == IO_UNIFIED_NET_NO_ADDR &&
	    !c->recv_inflight)
		c->inc_failed = !inc_setup(e, n, c);	/* the plain path then */
	if (c->br)
		return inc_advance(e, n, c, ud);
	if (c->closing) {
		if (c->kind == CONN_XSK && c->recv_inflight && !c->poll_remove_sent) {
			/* its readiness poll ends only when removed */
			uint64_t rud = ud | (uint64_t)NET_OP_POLL_REMOVE << UD_NET_OP_SHIFT;
			struct io_uring_sqe *sqe = unified_net_sqe(e, rud);

			if (!sqe) {
				n->need_sqe = true;
				return false;
			}
			io_uring_prep_poll_remove(sqe, ud | (uint64_t)NET_OP_POLL << UD_NET_OP_SHIFT);
			sqe->user_data = rud;
			c->poll_remove_sent = true;
			n->ops_inflight++;
		}
		if (!send_cancel(e, n, c, ud, true))
			return false;
		if (!c->recv_inflight && !c->accept_inflight && !c->tx_active && !c->poll_remove_sent)
			return conn_finish(n, c, IO_UNIFIED_NET_RX_CLOSED, 0);
		return true;
	}
	if (c->kind == CONN_XSK) {
		/* the poll in flight counts as its receive (recv_inflight) */
		return unified_net_xdp_advance(e, n, c, ud | (uint64_t)NET_OP_POLL << UD_NET_OP_SHIFT);
	}
	if (c->kind == CONN_LISTEN) {
		if (c->accept_inflight)
			return true;
		c->peer_len = sizeof(c->peer);
		if (c->backoff_until && unified_now_ns() < c->backoff_until) {
			n->wait_timer = true;	/* out of descriptors: accept again later */
			return false;
		}
		c->backoff_until = 0;
		if (!n->ops->prep_accept(e, c, ud | (uint64_t)NET_OP_ACCEPT << UD_NET_OP_SHIFT)) {
			n->need_sqe = true;
			return false;
		}
		c->accept_inflight = true;
		n->ops_inflight++;
		return true;
	}
	if (c->recv_inflight)
		return true;
	if (!conn_buffer(n, c))
		return false;	/* FILL is dry: no receive, TCP throttles the peer */
	if (!n->ops->prep_recv(e, c, e->data + c->buf + c->pos, (1u << n->buf_shift) - c->pos,
			       ud | (uint64_t)NET_OP_RECV << UD_NET_OP_SHIFT)) {
		n->need_sqe = true;
		return false;
	}
	c->recv_inflight = true;
	n->ops_inflight++;
	return true;
}

/* Post (the rest of) the active send: SEND_ZC when the kernel has it and
 * the send is large enough to be worth pinning, SEND otherwise. */
static bool post_send(struct unified_engine *e, struct unified_net *n, struct unified_conn *c)
{
	uint32_t left = c->tx_len - c->tx_done;
	bool zc = n->send_zc && c->kind == CONN_TCP && left >= UNIFIED_NET_ZC_MIN;

	if (!n->ops->prep_send(e, c, e->data + c->tx_addr + c->tx_done, left,
			       UD_NET | (uint64_t)(c - n->conns) | (uint64_t)NET_OP_SEND << UD_NET_OP_SHIFT,
			       zc))
		return false;
	c->send_inflight = true;
	n->ops_inflight++;
	if (zc)
		n->tx_zc_bytes += left;
	return true;
}

/*
 * Move the active send on: post the rest, or, once every byte went (or it
 * failed) and the kernel released the buffer (no SEND_ZC notification to
 * come), give the buffer back with its COMPLETION entry.  A send that finds
 * no SQE is retried by conn_advance().
 */
/*
 * A connection that ends cancels its send in flight: shutdown() does not end
 * a send that waits for room a peer which never reads would never make.
 * @abortive (unified_net_close()): when only a SEND_ZC notification is left,
 * the socket is reset so that the kernel lets the buffer go.  False when no
 * SQE was free (the pass tries again).
 */
static bool send_cancel(struct unified_engine *e, struct unified_net *n, struct unified_conn *c,
			uint64_t ud, bool abortive)
{
	uint64_t cud = ud | (uint64_t)NET_OP_CANCEL << UD_NET_OP_SHIFT;
	struct io_uring_sqe *sqe;

	if (abortive && !c->send_inflight && c->tx_active && c->zc_notifs && c->fd >= 0 && !c->recv_inflight &&
	    !c->accept_inflight && !c->poll_remove_sent) {
		/* What waits is a SEND_ZC notification: the kernel lets the pages
		 * go when the socket frees them, which a peer that never reads
		 * delays forever.  Nothing in flight names the descriptor, so it
		 * is closed now, abortively (RST, the unsent bytes dropped): the
		 * notification follows, and with it the buffer. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		conn_close_fd(c);
		return true;
	}
	if (!c->send_inflight || c->send_cancel_sent)
		return true;
	sqe = unified_net_sqe(e, cud);
	if (!sqe) {
		n->need_sqe = true;
		return false;
	}
	io_uring_prep_cancel64(sqe, ud | (uint64_t)NET_OP_SEND << UD_NET_OP_SHIFT, 0);
	sqe->user_data = cud;
	c->send_cancel_sent = true;
	n->ops_inflight++;
	return true;
}

static void send_step(struct unified_engine *e, struct unified_net *n, struct unified_conn *c)
{
	if (!c->tx_active || c->send_inflight)
		return;
	if (!c->tx_err && c->tx_done < c->tx_len) {
		if (c->closing || c->final_sent)
			c->tx_err = -EPIPE;
		else if (post_send(e, n, c))
			return;
		else {
			n->need_sqe = true;
			work_add(n, c);	/* no SQE now */
			return;
		}
	}
	if (c->zc_notifs)
		return;
	n->tx_bytes += c->tx_done;
	n->buf_state[buf_index(n, c->tx_addr)] = BUF_APP;
	comp_put(n, c->tx_addr, c->tx_done, c->tx_err);
	c->tx_active = false;
	work_add(n, c);
}

void unified_net_complete(struct unified_engine *e, const struct io_uring_cqe *cqe)
{
	struct unified_net *n = e->net;
	uint32_t slot = (uint32_t)(cqe->user_data & UD_NET_SLOT_MASK);
	uint8_t op = (uint8_t)(cqe->user_data >> UD_NET_OP_SHIFT);
	struct unified_conn *c;

	if (!n || slot >= n->max_conns)
		return;
	pthread_mutex_lock(&n->lock);
	c = &n->conns[slot];
	if (op == NET_OP_RECV && c->br) {
		inc_complete(n, c, cqe);	/* counts its multishot itself */
		work_add(n, c);
		pthread_mutex_unlock(&n->lock);
		return;
	}
	if (op != NET_OP_SEND)
		n->ops_inflight--;	/* sends count their CQEs themselves (SEND_ZC has two) */
	switch (op) {
	case NET_OP_RECV:
		c->recv_inflight = false;
		conn_event(n, c, op, cqe->res);
		break;
	case NET_OP_ACCEPT:
		c->accept_inflight = false;
		conn_event(n, c, op, cqe->res);
		break;
	case NET_OP_POLL:
		c->recv_inflight = false;	/* the AF_XDP socket is readable */
		work_add(n, c);
		break;
	case NET_OP_POLL_REMOVE:
		c->poll_remove_sent = false;
		work_add(n, c);
		break;
	case NET_OP_CANCEL:	/* the send's own CQE (-ECANCELED, or its result) ends it */
		work_add(n, c);
		break;
	case NET_OP_SEND:
		if (cqe->flags & IORING_CQE_F_NOTIF) {	/* SEND_ZC: the kernel let go of the bytes */
			c->zc_notifs--;
			n->ops_inflight--;
			send_step(e, n, c);
			break;
		}
		c->send_inflight = false;
		if (cqe->flags & IORING_CQE_F_MORE)
			c->zc_notifs++;		/* its notification keeps counting as in flight */
		else
			n->ops_inflight--;
		if (cqe->res > 0)
			c->tx_done += (uint32_t)cqe->res;
		else
			c->tx_err = cqe->res ? cqe->res : -EPIPE;
		send_step(e, n, c);
		break;
	}
	pthread_mutex_unlock(&n->lock);
}

/* ------------------------------------------------------------------------
 * FILL and TX consumption.
 */

/* Is [addr, addr + len) inside one buffer the application owns? */
static int app_owns(struct unified_net *n, uint64_t addr, uint64_t len, bool whole)
{
	uint64_t b;

	if (addr >= n->data_size || len > n->data_size - addr)
		return -EINVAL;
	if (whole && (addr & ((1ull << n->buf_shift) - 1)))
		return -EINVAL;
	if (!whole && len && buf_index(n, addr) != buf_index(n, addr + len - 1))
		return -EINVAL;	/* a send spans one buffer */
	b = buf_index(n, addr);
	if (n->buf_state[b] != BUF_APP || n->nvme_refs[b])
		return -EBUSY;
	return 0;
}

static void consume_fill(struct unified_net *n)
{
	uint32_t ready = cons_ready(&n->fill), nbufs = (uint32_t)(n->data_size >> n->buf_shift);

	if (n->bad_fill_pending) {
		struct io_unified_net_desc d = { 0 };

		d.addr = n->bad_fill_addr;
		d.conn = IO_UNIFIED_NET_NO_CONN;
		d.flags = IO_UNIFIED_NET_RX_ERROR;
		d.error = n->bad_fill_err;
		if (!unified_net_rx_put(n, &d))
			return;
		n->bad_fill_pending = 0;
	}
	while (ready--) {
		uint64_t addr = __atomic_load_n(&((uint64_t *)n->fill.entries)[n->fill.cached_cons &
										n->fill.mask],
						 __ATOMIC_RELAXED);
		int err = app_owns(n, addr, 1ull << n->buf_shift, true);

		n->fill.cached_cons++;
		if (err) {
			struct io_unified_net_desc d = { 0 };

			n->fill_refused++;
			d.addr = addr;
			d.conn = IO_UNIFIED_NET_NO_CONN;
			d.flags = IO_UNIFIED_NET_RX_ERROR;
			d.error = err;
			if (!unified_net_rx_put(n, &d)) {
				n->bad_fill_pending = 1;
				n->bad_fill_addr = addr;
				n->bad_fill_err = err;
				break;
			}
			continue;
		}
		n->buf_state[buf_index(n, addr)] = BUF_RX;
		__atomic_store_n(&n->announced[buf_index(n, addr)], 0, __ATOMIC_RELAXED);
		n->pool[(n->pool_head + n->pool_count++) % nbufs] = addr;
		if (n->xdp)	/* the AF_XDP socket takes buffers outside its poll */
			work_add(n, &n->conns[n->xdp_slot]);
	}
	unified_store_release(n->fill.consumer, n->fill.cached_cons);
}

static void consume_tx(struct unified_engine *e, struct unified_net *n)
{
	uint32_t ready = cons_ready(&n->tx);

	while (ready) {
		struct io_unified_net_desc d;
		struct unified_conn *c;
		int err;

		/* A COMPLETION slot for it first: every entry taken gets one. */
		if (n->tx_reserved + n->comp_pending_count >= prod_free(&n->comp)) {
			n->wait_comp = true;
			break;
		}
		memcpy(&d, &((struct io_unified_net_desc *)n->tx.entries)[n->tx.cached_cons &
									   n->tx.mask], sizeof(d));
		c = conn_lookup(n, d.conn);
		n->tx_head_busy = c && c->tx_active;
		if (n->tx_head_busy)
			break;	/* one send per connection at a time, in ring order: its CQE moves on */
		n->tx_reserved++;
		if (d.flags & ~IO_UNIFIED_NET_TX_MASK || d.user_data || d.error || d.peer_family ||
		    d.peer_port || d.__resv0 || d.__resv1 || !d.len)
			err = -EINVAL;
		else if (!c || c->closing || (c->kind != CONN_TCP && c->kind != CONN_UDP))
			err = -EBADF;
		else
			err = app_owns(n, d.addr, d.len, false);
		if (!err) {
			c->tx_active = true;
			c->tx_addr = d.addr;
			c->tx_len = d.len;
			c->tx_done = 0;
			c->tx_err = 0;
			n->buf_state[buf_index(n, d.addr)] = BUF_TX;
			send_step(e, n, c);	/* no SQE now: conn_advance() posts it */
		} else {
			n->tx_refused++;
			comp_put(n, d.addr, 0, err);
		}
		n->tx.cached_cons++;
		ready--;
	}
	unified_store_release(n->tx.consumer, n->tx.cached_cons);
}

/* One network pass: returns true if RX or COMPLETION entries were published. */
bool unified_net_pass(struct unified_engine *e)
{
	struct unified_net *n = e->net;
	uint32_t i, count;

	pthread_mutex_lock(&n->lock);
	n->published = false;
	n->wait_rx = n->wait_buf = n->need_sqe = n->wait_timer = n->wait_comp = false;
	n->work_new = false;
	comp_flush(n);
	consume_fill(n);
	/* Each queued connection once; those still waiting go to the back. */
	count = n->work_count;
	for (i = 0; i < count; i++) {
		struct unified_conn *c = &n->conns[n->work[n->work_head]];

		n->work_head = (n->work_head + 1) % n->max_conns;
		n->work_count--;
		c->queued = false;
		if (!conn_advance(e, n, c))
			work_queue(n, c);	/* waits: what it waits for wakes the engine */
	}
	consume_tx(e, n);
	prod_publish(n, &n->rx);
	prod_publish(n, &n->comp);
	pthread_mutex_unlock(&n->lock);
	return n->published;
}

/* ------------------------------------------------------------------------
 * NVMe commands and buffer ownership.
 */

int unified_net_nvme_take(struct unified_engine *e, struct unified_cmd *cmd)
{
	struct unified_net *n = e->net;
	uint64_t b, first = buf_index(n, cmd->buf_offset), last = buf_index(n, cmd->buf_offset + cmd->len - 1);

	cmd->net_len = cmd->len;
	for (b = first; b <= last; b++) {
		uint8_t st = __atomic_load_n(&n->buf_state[b], __ATOMIC_RELAXED);
		uint64_t in_buf, stable, lba = 1ull << e->tgt.lba_shift;

		if (st == BUF_APP)
			continue;
		/* A Write of announced bytes of a receive buffer: the device
		 * only reads them, and the receive side only appends. */
		if (st != BUF_RX || first != last || cmd->admin ||
		    cmd->opcode != IO_UNIFIED_NVME_CMD_WRITE)
			return -EBUSY;
		in_buf = cmd->buf_offset & ((1ull << n->buf_shift) - 1);
		stable = __atomic_load_n(&n->announced[b], __ATOMIC_RELAXED);
		if (in_buf >= stable || in_buf + cmd->len > ((stable + lba - 1) & ~(lba - 1)))
			return -EBUSY;
	}
	for (b = first; b <= last; b++)
		__atomic_fetch_add(&n->nvme_refs[b], 1, __ATOMIC_RELAXED);
	cmd->net_held = 1;
	return 0;
}

void unified_net_nvme_put(struct unified_engine *e, struct unified_cmd *cmd)
{
	struct unified_net *n = e->net;
	uint64_t b, first = buf_index(n, cmd->buf_offset), last = buf_index(n, cmd->buf_offset + cmd->net_len - 1);

	for (b = first; b <= last; b++)
		__atomic_fetch_sub(&n->nvme_refs[b], 1, __ATOMIC_RELAXED);
	cmd->net_held = 0;
}

/* ------------------------------------------------------------------------
 * Waiting.
 */

bool unified_net_app_ready(struct unified_engine *e)
{
	struct unified_net *n = e->net;

	return unified_load_acquire(n->rx.producer) != unified_load_relaxed(n->rx.consumer) ||
	       unified_load_acquire(n->comp.producer) != unified_load_relaxed(n->comp.consumer);
}

/*
 * Could a pass do something now?  Connections that wait (for FILL, for RX
 * or COMPLETION room, for the end of a descriptor back-off) stay on the
 * work list but count only once what they wait for is there, so a
 * throttled server does not keep the engine thread spinning.
 */
bool unified_net_has_work(struct unified_engine *e)
{
	struct unified_net *n = e->net;
	bool work;

	pthread_mutex_lock(&n->lock);
	work = n->work_new || cons_ready(&n->fill) || n->need_sqe ||
	       (n->wait_buf && n->pool_count) ||
	       (n->wait_rx && prod_free(&n->rx)) ||
	       (n->comp_pending_count && prod_free(&n->comp)) ||
	       (cons_ready(&n->tx) && !n->wait_comp && !n->tx_head_busy) ||
	       (n->wait_comp && prod_free(&n->comp) > n->tx_reserved + n->comp_pending_count);
	pthread_mutex_unlock(&n->lock);
	return work;
}

/* Is the network waiting for the application (RX or COMPLETION room) or a
 * timer?  The engine thread then sleeps a bounded time, as with a full CQ:
 * releasing ring entries does not kick it. */
bool unified_net_waits(struct unified_engine *e)
{
	struct unified_net *n = e->net;

	return n->wait_rx || n->wait_comp || n->comp_pending_count || n->wait_timer;
}

/* ------------------------------------------------------------------------
 * The application's calls.
 */

static int net_of(struct unified_ctx *ctx, const char *fn, struct unified_net **np)
{
	int ret = unified_ctx_check(ctx, fn);

	if (ret)
		return ret;
	if (!ctx->eng.net)
		return unified_set_err(EINVAL, "%s: registered without network rings (reg.net_ptr)", fn);
	*np = ctx->eng.net;
	return 0;
}

static int open_conn(struct unified_ctx *ctx, const char *fn, int type, const struct sockaddr *sa,
		     socklen_t len, uint64_t user_data, uint32_t *conn, bool connect)
{
	struct unified_net *n = NULL;
	struct unified_conn *c;
	int ret = net_of(ctx, fn, &n), kind, fd;

	if (ret)
		return ret;
	if (!sa || !conn)
		return unified_set_err(EINVAL, "%s: sa and conn are required", fn);
	if (!((sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) ||
	      (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))))
		return unified_set_err(EAFNOSUPPORT, "%s: an AF_INET or AF_INET6 address is required", fn);
	if (type == SOCK_STREAM)
		kind = connect ? CONN_TCP : CONN_LISTEN;
	else if (type == SOCK_DGRAM)
		kind = CONN_UDP;
	else
		return unified_set_err(EINVAL, "%s: type must be SOCK_STREAM or SOCK_DGRAM", fn);
	fd = n->ops->open(kind, sa, len, connect);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&n->lock);
	c = conn_alloc(n, fd, kind, user_data);
	if (c) {
		*conn = conn_id(n, c);
		work_add(n, c);
	}
	pthread_mutex_unlock(&n->lock);
	if (!c) {
		close(fd);
		return unified_set_err(EMFILE, "%s: all %u connection slots are in use", fn, n->max_conns);
	}
	unified_kick(ctx);	/* start receiving (thread mode: wake the engine) */
	return 0;
}

UNIFIED_EXPORT int unified_net_listen(struct unified_ctx *ctx, int type, const struct sockaddr *sa,
				      socklen_t len, uint64_t user_data, uint32_t *conn)
{
	return open_conn(ctx, "unified_net_listen", type, sa, len, user_data, conn, false);
}

UNIFIED_EXPORT int unified_net_connect(struct unified_ctx *ctx, int type, const struct sockaddr *sa,
				       socklen_t len, uint64_t user_data, uint32_t *conn)
{
	return open_conn(ctx, "unified_net_connect", type, sa, len, user_data, conn, true);
}

UNIFIED_EXPORT int unified_net_close(struct unified_ctx *ctx, uint32_t conn)
{
	struct unified_net *n = NULL;
	struct unified_conn *c;
	int ret = net_of(ctx, "unified_net_close", &n);

	if (ret)
		return ret;
	pthread_mutex_lock(&n->lock);
	c = conn_lookup(n, conn);
	if (c && !c->closing) {
		c->closing = true;
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);	/* ends a receive or accept in flight */
		work_add(n, c);
	}
	pthread_mutex_unlock(&n->lock);
	if (!c)
		return unified_set_err(EBADF, "unified_net_close: no open connection %#x", conn);
	unified_kick(ctx);
	return 0;
}

UNIFIED_EXPORT int unified_net_local_addr(struct unified_ctx *ctx, uint32_t conn,
					  struct sockaddr *sa, socklen_t *len)
{
	struct unified_net *n = NULL;
	struct unified_conn *c;
	int ret = net_of(ctx, "unified_net_local_addr", &n);

	if (ret)
		return ret;
	if (!sa || !len)
		return unified_set_err(EINVAL, "unified_net_local_addr: sa and len are required");
	pthread_mutex_lock(&n->lock);
	c = conn_lookup(n, conn);
	ret = !c ? -EBADF : getsockname(c->fd, sa, len) ? -errno : 0;
	pthread_mutex_unlock(&n->lock);
	if (ret)
		return unified_set_err(-ret, "unified_net_local_addr: %s", strerror(-ret));
	return 0;
}

UNIFIED_EXPORT int unified_net_rings_init(struct unified_ctx *ctx, struct unified_net_rings *r)
{
	struct unified_net *n = NULL;
	const struct unified_net_ring *src[4];
	struct unified_ring_view *dst[4];
	int i, ret = net_of(ctx, "unified_net_rings_init", &n);

	if (ret)
		return ret;
	if (!r)
		return unified_set_err(EINVAL, "unified_net_rings_init: r is NULL");
	src[0] = &n->fill, src[1] = &n->rx, src[2] = &n->tx, src[3] = &n->comp;
	dst[0] = &r->fill, dst[1] = &r->rx, dst[2] = &r->tx, dst[3] = &r->comp;
	for (i = 0; i < 4; i++) {
		bool producer = i == 0 || i == 2;	/* the application produces FILL and TX */

		dst[i]->producer = src[i]->producer;
		dst[i]->consumer = src[i]->consumer;
		dst[i]->flags = src[i]->producer + 32;	/* the header's flags word */
		dst[i]->mask = src[i]->mask;
		dst[i]->size = src[i]->size;
		dst[i]->entries = src[i]->entries;
		dst[i]->cached_prod = unified_load_relaxed(src[i]->producer);
		dst[i]->cached_cons = unified_load_relaxed(src[i]->consumer) + (producer ? src[i]->size : 0);
	}
	return 0;
}

UNIFIED_EXPORT int unified_net_get_stats(const struct unified_ctx *ctx, struct unified_net_stats *st)
{
	struct unified_net *n = NULL;
	uint32_t i;
	int ret = net_of((struct unified_ctx *)ctx, "unified_net_get_stats", &n);

	if (ret)
		return ret;
	if (!st)
		return unified_set_err(EINVAL, "unified_net_get_stats: st is NULL");
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&n->lock);
	st->rx_bytes = n->rx_bytes;
	st->tx_bytes = n->tx_bytes;
	st->tx_zc_bytes = n->tx_zc_bytes;
	st->accepted = n->accepted;
	st->fill_refused = n->fill_refused;
	st->tx_refused = n->tx_refused;
	st->copied_bytes = 0;	/* no path of the library copies payload */
	for (i = 0; i < n->max_conns; i++) {
		struct unified_conn *c = &n->conns[i];
		uint32_t mi[SK_MEMINFO_VARS];
		socklen_t l = sizeof(mi);

		/* The socket's own drop counter (sk_drops): datagrams its
		 * queue could not take while no receive was posted. */
		if (c->kind == CONN_UDP && c->fd >= 0 &&
		    !getsockopt(c->fd, SOL_SOCKET, SO_MEMINFO, mi, &l) && l > SK_MEMINFO_DROPS * 4)
			st->udp_dropped += mi[SK_MEMINFO_DROPS];
		if (c->kind != CONN_FREE && !c->final_sent)
			st->conns++;
	}
	st->fill_buffers = n->pool_count;
	st->udp_dropped += unified_net_xdp_dropped(n);
	pthread_mutex_unlock(&n->lock);
	st->provider = n->ops->name;
	st->tcp_receive = n->inc ? "multishot receive, incremental buffer rings" :
		       "one receive at a time at the fill position";
	return 0;
}
