/* SPDX-License-Identifier: MIT */
/*
 * The network half inside the library (ABI 2): the FILL/RX/TX/COMPLETION
 * rings of the region, the connection table, buffer ownership, and the
 * operations table a receive/send provider implements (net_socket.c).
 *
 * The rings are served by whichever thread runs engine passes (the
 * application's in kick mode, the engine thread in thread mode); the
 * network's io_uring operations share the engine's ring, so one wait
 * covers NVMe completions and network events.  The connection table is
 * guarded by n->lock, which the passes, the completions and the
 * application's calls (unified_net_listen() and friends) all take; none
 * of them holds it across a system call that blocks.
 */
#ifndef UNIFIED_NET_H
#define UNIFIED_NET_H

#include <pthread.h>
#include <sys/socket.h>
#include <netinet/in.h>

struct unified_engine;
struct unified_net;
struct unified_conn;

/* io_uring user_data of network operations: tag, operation, slot. */
#define UD_NET		(1ull << 62)
#define UD_NET_OP_SHIFT	40
#define UD_NET_SLOT_MASK 0xffffffffull

/* Buffers a TCP connection's incremental buffer ring holds at most (its
 * ring has this many entries), and gets topped up to. */
#define UNIFIED_INC_BUFS	4
#define UNIFIED_INC_GIVE	2

/* buf_state of a frame in the AF_XDP socket's rings (net_xdp.c); the
 * others are in net.c */
#define UNIFIED_BUF_XSK		3

/* Smallest TCP send that goes out with SEND_ZC (net_socket.c). */
#define UNIFIED_NET_ZC_MIN	(16u << 10)

enum unified_net_op {
	NET_OP_RECV = 1,
	NET_OP_ACCEPT = 2,
	NET_OP_SEND = 3,
	NET_OP_POLL = 4,	/* AF_XDP: readiness of the socket */
	NET_OP_POLL_REMOVE = 5,
	NET_OP_CANCEL = 6,	/* cancels a send blocked on a peer that does not read */
};

enum unified_conn_kind {
	CONN_FREE = 0,
	CONN_LISTEN,		/* TCP listener: accepts */
	CONN_TCP,		/* connected TCP stream: receives, sends */
	CONN_UDP,		/* UDP socket (bound, maybe connected): receives, sends */
	CONN_XSK,		/* AF_XDP socket (net_xdp.c): receives UDP on one port */
};

/* A ring of the network part, from the library's side. */
struct unified_net_ring {
	uint32_t *producer;
	uint32_t *consumer;
	uint32_t mask, size;
	uint32_t cached_prod;	/* we produce: next index to write; we consume: last seen */
	uint32_t cached_cons;	/* we consume: next index to read */
	void *entries;
};

struct unified_conn {
	int fd;
	uint8_t kind;		/* enum unified_conn_kind */
	uint16_t gen;		/* id = gen << 16 | slot (net.c: never reused while named) */
	uint64_t user_data;
	/* receive side */
	uint64_t buf;		/* buffer held for receive, IO_UNIFIED_NET_NO_ADDR if none */
	uint32_t pos;		/* bytes of it already received and announced */
	bool recv_inflight, accept_inflight, send_inflight;
	bool queued;		/* on the work list */
	bool closing;		/* unified_net_close() or teardown: no new operations */
	bool final_sent;	/* its last RX entry is published: free when idle */
	bool has_event;		/* a completion waits for RX room */
	int32_t ev_res;		/* that completion's result */
	uint8_t ev_op;
	uint32_t final_flags;	/* the last entry's flags when it is pending */
	int32_t final_err;
	/* UDP receive and accept: the peer's address */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	struct msghdr msg;
	struct iovec iov;
	/* the TX entry being served (from its TX entry to its COMPLETION) */
	bool tx_active;
	uint64_t tx_addr;
	uint32_t tx_len, tx_done;
	int32_t tx_err;
	uint32_t zc_notifs;	/* SEND_ZC notifications still to come */
	uint64_t backoff_until;	/* listener: no accept before (descriptors ran out) */
	bool poll_remove_sent;	/* AF_XDP: its poll is being removed (closing) */
	bool send_cancel_sent;	/* closing: its send in flight is being cancelled */
	/* TCP with an incremental provided-buffer ring (n->inc, 6.12+): the
	 * kernel fills this connection's buffers back to back through one
	 * multishot receive.  Buffer ids index inc_buf. */
	struct io_uring_buf_ring *br;
	uint64_t inc_buf[UNIFIED_INC_BUFS];	/* buffer offset, NO_ADDR if the id is free */
	uint32_t inc_pos[UNIFIED_INC_BUFS];	/* bytes in it so far */
	uint32_t inc_given;			/* ids in the ring or being filled */
	/* completions waiting for RX room, merged per buffer (bounded by
	 * UNIFIED_INC_BUFS + 1: the kernel fills the ids in ring order) */
	struct unified_inc_ev { uint16_t bid; bool retire; uint32_t off, len; } evq[UNIFIED_INC_BUFS + 1];
	uint32_t evq_n;
	int32_t inc_end;			/* 0, or the last completion's end: 1 EOF, -errno */
	bool inc_failed;			/* no ring for it: the plain path */
};

/* A provider: how sockets are made and operations queued on the ring. */
struct unified_net_ops {
	const char *name;
	/* Create a socket for @kind bound (LISTEN, UDP) or connected (TCP)
	 * to @sa; returns the fd or -errno with the error message set. */
	int (*open)(int kind, const struct sockaddr *sa, socklen_t len, bool connect);
	/* Queue one operation on the engine's io_uring for @c; false when the
	 * ring has no room (retried on a later pass). */
	bool (*prep_recv)(struct unified_engine *e, struct unified_conn *c, void *dst, uint32_t len,
			  uint64_t ud);
	bool (*prep_accept)(struct unified_engine *e, struct unified_conn *c, uint64_t ud);
	/* @zc: IORING_OP_SEND_ZC (the buffer is the kernel's until the
	 * notification CQE) instead of IORING_OP_SEND. */
	bool (*prep_send)(struct unified_engine *e, struct unified_conn *c, const void *src,
			  uint32_t len, uint64_t ud, bool zc);
};

extern const struct unified_net_ops unified_net_socket_ops;

struct unified_net {
	pthread_mutex_t lock;
	const struct unified_net_ops *ops;
	struct unified_net_ring fill, rx, tx, comp;
	uint32_t max_conns;
	struct unified_conn *conns;
	uint32_t *free_slots, nfree;	/* stack of free connection slots */
	uint32_t *work, work_head, work_count;	/* FIFO of queued slots (size max_conns) */
	uint8_t *buf_state;		/* per buffer: enum in net.c */
	uint16_t *nvme_refs;		/* per buffer: NVMe commands in flight naming it */
	uint32_t *announced;		/* per BUF_RX buffer (TCP, UDP): bytes from its start
					 * announced on RX (stable: only appended to) */
	uint64_t *pool;			/* FILL buffers not yet given to a connection */
	uint32_t pool_count, pool_head;
	uint32_t ops_inflight;		/* network operations in the io_uring */
	struct io_unified_net_comp *comp_pending;	/* COMPLETION entries waiting for room */
	uint32_t comp_pending_count;
	uint32_t bad_fill_pending;	/* refused FILL entries waiting for RX room */
	uint64_t bad_fill_addr;
	int32_t bad_fill_err;
	bool published;			/* RX/COMPLETION entries made visible this pass */
	/* what the last pass found itself waiting for (unified_net_has_work()) */
	bool wait_rx, wait_buf, wait_comp, need_sqe, wait_timer, tx_head_busy;
	bool work_new;			/* work_add() since the last pass began */
	bool xdp_binding;		/* unified_net_xdp_bind() in progress */
	char xdp_line[200];		/* unified_net_xdp_mode() */
	uint32_t tx_reserved;		/* TX entries taken whose COMPLETION is not written */
	struct unified_xdp *xdp;	/* the AF_XDP socket, if any (net_xdp.c) */
	uint32_t xdp_slot;
	bool send_zc;			/* the kernel has IORING_OP_SEND_ZC */
	bool inc;			/* incremental buffer rings (IOU_PBUF_RING_INC, 6.12+) */
	uint64_t data_size;
	uint32_t buf_shift;
	/* statistics (unified_net_get_stats()) */
	uint64_t rx_bytes, tx_bytes, tx_zc_bytes, accepted, udp_dropped, fill_refused, tx_refused;
};

/* net.c, for the providers */
struct unified_conn *unified_net_conn_new(struct unified_net *n, int fd, int kind, uint64_t user_data);
struct io_uring_sqe *unified_net_sqe(struct unified_engine *e, uint64_t ud);
bool unified_net_rx_put(struct unified_net *n, const struct io_unified_net_desc *d);

/* net_xdp.c (stubs without libxdp) */
bool unified_net_xdp_advance(struct unified_engine *e, struct unified_net *n, struct unified_conn *c,
			     uint64_t ud);
void unified_net_xdp_free(struct unified_net *n);
uint64_t unified_net_xdp_dropped(struct unified_net *n);

/* net.c, called by the engine */
int unified_net_start(struct unified_ctx *ctx, const struct io_unified_net_reg *nr);
void unified_net_init_rings(struct unified_ctx *ctx);
void unified_net_stop(struct unified_engine *e);	/* close sockets, before the drain */
void unified_net_free(struct unified_engine *e);
void unified_net_close_fds(struct unified_engine *e);	/* every socket, nothing else */
int unified_net_drain(struct unified_engine *e);	/* -ETIMEDOUT if operations stay */
bool unified_net_pass(struct unified_engine *e);	/* returns true if it published */
void unified_net_complete(struct unified_engine *e, const struct io_uring_cqe *cqe);
bool unified_net_app_ready(struct unified_engine *e);	/* RX or COMPLETION entries for the app */
bool unified_net_has_work(struct unified_engine *e);	/* could a pass do something now */
bool unified_net_waits(struct unified_engine *e);	/* waits for the app or a timer */

#endif
