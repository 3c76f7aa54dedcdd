/* SPDX-License-Identifier: MIT */
/*
 * Network provider: AF_XDP for UDP (libxdp and libbpf from the
 * distribution).  The UMEM is the data area itself, in 4 KiB frames (one
 * buffer each), so a FILL buffer goes to the socket's fill ring as it is
 * and a received frame is a buffer of the region: the RX entry points at
 * the UDP payload inside it.  An XDP program (bpf/xsk_udp_port.bpf.c,
 * embedded) sends only the chosen UDP port to the socket; ARP and every
 * other packet stay with the kernel.  Zero-copy is asked for first; a
 * driver without it (veth, virtio-net) gets copy mode and one line saying
 * so in unified_errmsg()'s place (unified_net_xdp_mode()).
 *
 * Readiness reaches the engine as an io_uring poll on the socket, so the
 * same wait covers NVMe completions, sockets and AF_XDP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/if_xdp.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <poll.h>
#include "internal.h"

#ifdef UNIFIED_HAVE_XDP
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

/* the XDP program, compiled by the build (Makefile: ld -r -b binary) */
extern const unsigned char _binary_xsk_udp_port_bpf_o_start[];
extern const unsigned char _binary_xsk_udp_port_bpf_o_end[];

#define XSK_FRAME	4096u
#define XSK_RING	2048u

struct unified_xdp {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_ring_cons rx;
	struct xdp_program *prog;
	struct bpf_object *obj;	/* ours: xdp_program__from_bpf_obj() does not take it */
	int ifindex;
	enum xdp_attach_mode mode;
	bool zerocopy;
	bool attached;
	uint64_t bad_frames;
};

static void xdp_destroy(struct unified_xdp *x)
{
	if (x->xsk)
		xsk_socket__delete(x->xsk);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->prog) {
		if (x->attached)
			xdp_program__detach(x->prog, x->ifindex, x->mode, 0);
		xdp_program__close(x->prog);
	}
	if (x->obj)
		bpf_object__close(x->obj);
	free(x);
}

/* Close the socket; the frames the kernel still had (its fill and RX
 * rings) go back to the pool, the receive side's again. */
void unified_net_xdp_free(struct unified_net *n)
{
	uint64_t b, nbufs = n->data_size >> n->buf_shift;

	if (!n->xdp)
		return;
	xdp_destroy(n->xdp);
	n->xdp = NULL;
	n->xdp_line[0] = 0;
	for (b = 0; b < nbufs; b++)
		if (n->buf_state[b] == UNIFIED_BUF_XSK) {
			n->buf_state[b] = 1;	/* BUF_RX */
			n->pool[(n->pool_head + n->pool_count++) % (uint32_t)nbufs] = b << n->buf_shift;
		}
}

/* The UDP payload of the frame at @p (@len bytes): its offset, its length
 * and the sender, or false for a frame the program should not have sent.
 * The frame is the network's: headers are copied out (they sit at any
 * alignment) and every length is checked against @len. */
static bool udp_payload(const uint8_t *p, uint32_t len, uint32_t *off, uint32_t *plen,
			struct io_unified_net_desc *d)
{
	struct ethhdr eth;
	struct udphdr udp;
	uint32_t l4, ulen;

	if (len < sizeof(eth))
		return false;
	memcpy(&eth, p, sizeof(eth));
	if (eth.h_proto == htons(ETH_P_IP)) {
		struct iphdr ip;

		if (len < sizeof(eth) + sizeof(ip))
			return false;
		memcpy(&ip, p + sizeof(eth), sizeof(ip));
		if (ip.ihl != 5 || ip.protocol != IPPROTO_UDP)
			return false;
		d->peer_family = AF_INET;
		memcpy(d->peer_addr, &ip.saddr, 4);
		l4 = sizeof(eth) + sizeof(ip);
	} else if (eth.h_proto == htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (len < sizeof(eth) + sizeof(ip6))
			return false;
		memcpy(&ip6, p + sizeof(eth), sizeof(ip6));
		if (ip6.nexthdr != IPPROTO_UDP)
			return false;
		d->peer_family = AF_INET6;
		memcpy(d->peer_addr, &ip6.saddr, 16);
		l4 = sizeof(eth) + sizeof(ip6);
	} else {
		return false;
	}
	if (len < l4 + sizeof(udp))
		return false;
	memcpy(&udp, p + l4, sizeof(udp));
	ulen = ntohs(udp.len);
	*off = l4 + (uint32_t)sizeof(udp);
	if (ulen < sizeof(udp) || ulen - sizeof(udp) > len - *off)
		return false;
	*plen = ulen - (uint32_t)sizeof(udp);
	d->peer_port = ntohs(udp.source);
	return true;
}

/*
 * The socket's share of a pass: FILL buffers to its fill ring, received
 * frames to RX entries, a poll armed for the next ones.  False when it
 * waits for something only a later pass brings (RX room, an SQE).
 */
/* Pool buffers (whole 4 KiB frames) into the kernel's fill ring; they
 * are BUF_XSK until a datagram in them is delivered, or the socket closes. */
static void xdp_fill(struct unified_net *n, struct unified_xdp *x)
{
	uint32_t idx;

	while (n->pool_count && xsk_ring_prod__reserve(&x->fill, 1, &idx) == 1) {
		uint64_t frame = n->pool[n->pool_head];

		*xsk_ring_prod__fill_addr(&x->fill, idx) = frame;
		n->pool_head = (n->pool_head + 1) % (uint32_t)(n->data_size >> n->buf_shift);
		n->pool_count--;
		n->buf_state[frame >> n->buf_shift] = UNIFIED_BUF_XSK;
		xsk_ring_prod__submit(&x->fill, 1);
	}
	if (xsk_ring_prod__needs_wakeup(&x->fill))
		recvfrom(xsk_socket__fd(x->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

bool unified_net_xdp_advance(struct unified_engine *e, struct unified_net *n, struct unified_conn *c,
			     uint64_t ud)
{
	struct unified_xdp *x = n->xdp;
	uint32_t idx, got, i;

	xdp_fill(n, x);
	got = xsk_ring_cons__peek(&x->rx, 64, &idx);
	for (i = 0; i < got; i++) {
		const struct xdp_desc *xd = xsk_ring_cons__rx_desc(&x->rx, idx + i);
		uint64_t addr = xd->addr, frame = addr & ~(uint64_t)(XSK_FRAME - 1);
		struct io_unified_net_desc d = { 0 };
		uint32_t off, plen;

		if (addr >= n->data_size || n->buf_state[frame >> n->buf_shift] != UNIFIED_BUF_XSK) {
			/* a frame we never gave: a broken kernel or ring; never reused */
			x->bad_frames++;
			continue;
		}
		if (xd->len > XSK_FRAME - (addr - frame) ||
		    !udp_payload(e->data + addr, xd->len, &off, &plen, &d)) {
			/* not a datagram for us after all: the frame goes back (refilled below) */
			x->bad_frames++;
			n->buf_state[frame >> n->buf_shift] = 1;	/* BUF_RX, in the pool */
			n->pool[(n->pool_head + n->pool_count++) % (uint32_t)(n->data_size >> n->buf_shift)] = frame;
			continue;
		}
		d.addr = addr + off;
		d.len = plen;
		d.conn = (uint32_t)c->gen << 16 | (uint32_t)(c - n->conns);
		d.user_data = c->user_data;
		if (!unified_net_rx_put(n, &d))
			break;		/* RX full: this one and the rest stay in the ring */
		n->rx_bytes += plen;
		n->buf_state[frame >> n->buf_shift] = 0;	/* BUF_APP: the application's */
	}
	if (i < got)	/* not taken: peeked again by the next pass */
		xsk_ring_cons__cancel(&x->rx, got - i);
	if (i)
		xsk_ring_cons__release(&x->rx, i);
	xdp_fill(n, x);		/* frames of refused datagrams, at once */
	if (i < got)
		return false;
	if (!c->recv_inflight) {
		struct io_uring_sqe *sqe = unified_net_sqe(e, ud);

		if (!sqe) {
			n->need_sqe = true;
			return false;
		}
		io_uring_prep_poll_add(sqe, xsk_socket__fd(x->xsk), POLLIN);
		sqe->user_data = ud;
		c->recv_inflight = true;
		n->ops_inflight++;
	}
	return true;
}

uint64_t unified_net_xdp_dropped(struct unified_net *n)
{
	struct xdp_statistics st;
	socklen_t l = sizeof(st);

	if (!n->xdp || getsockopt(xsk_socket__fd(n->xdp->xsk), SOL_XDP, XDP_STATISTICS, &st, &l))
		return 0;
	return st.rx_dropped + st.rx_ring_full + (n->xdp ? n->xdp->bad_frames : 0);
}

UNIFIED_EXPORT int unified_net_xdp_bind(struct unified_ctx *ctx, const char *ifname, uint32_t queue,
					uint16_t udp_port, uint64_t user_data, uint32_t *conn)
{
	struct xsk_umem_config ucfg = { XSK_RING, XSK_RING, XSK_FRAME, 0, 0 };
	struct xsk_socket_config scfg = { 0 };
	DECLARE_LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "unified_xsk_udp");
	struct unified_net *n;
	struct unified_conn *c;
	struct unified_xdp *x;
	struct bpf_object *obj;
	uint32_t key = 0, port = htons(udp_port);
	int ret = unified_ctx_check(ctx, "unified_net_xdp_bind"), map_fd;

	if (ret)
		return ret;
	n = ctx->eng.net;
	if (!n)
		return unified_set_err(EINVAL, "unified_net_xdp_bind: registered without network rings");
	if (!ifname || !conn || !udp_port)
		return unified_set_err(EINVAL, "unified_net_xdp_bind: ifname, conn and a port are required");
	if (ctx->buf_size != XSK_FRAME)
		return unified_set_err(EINVAL, "AF_XDP frames are 4 KiB: register with "
				       "buffer_entry_size 4096 (it is %u)", ctx->buf_size);
	pthread_mutex_lock(&n->lock);
	ret = n->xdp || n->xdp_binding ? -EBUSY : 0;
	n->xdp_binding = !ret;
	pthread_mutex_unlock(&n->lock);
	if (ret)
		return unified_set_err(EBUSY, "one AF_XDP socket per context (its UMEM is the data area)");
	x = calloc(1, sizeof(*x));
	if (!x) {
		n->xdp_binding = false;
		return unified_set_err(ENOMEM, "no memory");
	}
	x->ifindex = (int)if_nametoindex(ifname);
	if (!x->ifindex) {
		free(x);
		n->xdp_binding = false;
		return unified_set_err(ENODEV, "AF_XDP: no interface %s", ifname);
	}
	obj = bpf_object__open_mem(_binary_xsk_udp_port_bpf_o_start,
				   (size_t)(_binary_xsk_udp_port_bpf_o_end - _binary_xsk_udp_port_bpf_o_start),
				   &oo);
	x->obj = libbpf_get_error(obj) ? NULL : obj;
	x->prog = x->obj ? xdp_program__from_bpf_obj(x->obj, "xdp") : NULL;
	if (!x->prog || libxdp_get_error(x->prog)) {
		ret = x->prog ? (int)libxdp_get_error(x->prog) : -ENOMEM;
		x->prog = NULL;
		xdp_destroy(x);
		n->xdp_binding = false;
		return unified_set_err(-ret, "AF_XDP: the embedded XDP program does not open: %s",
				       strerror(-ret));
	}
	/* native XDP where the driver has it, else generic (skb) mode */
	x->mode = XDP_MODE_NATIVE;
	ret = xdp_program__attach(x->prog, x->ifindex, x->mode, 0);
	if (ret) {
		x->mode = XDP_MODE_SKB;
		ret = xdp_program__attach(x->prog, x->ifindex, x->mode, 0);
	}
	if (ret) {
		xdp_destroy(x);
		n->xdp_binding = false;
		return unified_set_err(-ret, "AF_XDP: attaching the XDP program to %s failed: %s%s",
				       ifname, strerror(-ret),
				       ret == -EPERM ? " (needs CAP_NET_ADMIN and CAP_BPF)" : "");
	}
	x->attached = true;
	map_fd = bpf_object__find_map_fd_by_name(xdp_program__bpf_obj(x->prog), "unified_port");
	if (map_fd < 0 || bpf_map_update_elem(map_fd, &key, &port, BPF_ANY)) {
		xdp_destroy(x);
		n->xdp_binding = false;
		return unified_set_err(EIO, "AF_XDP: cannot set the port in the XDP program's map");
	}
	/* the UMEM is the whole data area: frame k is buffer k */
	ret = xsk_umem__create(&x->umem, ctx->buffers, ctx->data_size, &x->fill, &x->comp, &ucfg);
	if (ret) {
		xdp_destroy(x);
		n->xdp_binding = false;
		return unified_set_err(-ret, "AF_XDP: registering the data area as UMEM failed: %s",
				       strerror(-ret));
	}
	scfg.rx_size = XSK_RING;
	scfg.tx_size = 0;
	scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
	/* A socket closed just before on this queue is released by the
	 * kernel a little later (deferred pool teardown): EBUSY for a while. */
	for (int tries = 0; tries < 25; tries++) {
		scfg.bind_flags = XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP;
		ret = xsk_socket__create(&x->xsk, ifname, queue, x->umem, &x->rx, NULL, &scfg);
		x->zerocopy = !ret;
		if (ret && ret != -EBUSY) {
			scfg.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP;
			ret = xsk_socket__create(&x->xsk, ifname, queue, x->umem, &x->rx, NULL, &scfg);
		}
		if (ret != -EBUSY)
			break;
		usleep(20 * 1000);
	}
	if (ret) {
		x->xsk = NULL;
		xdp_destroy(x);
		n->xdp_binding = false;
		return unified_set_err(-ret, "AF_XDP: socket on %s queue %u: %s", ifname, queue,
				       strerror(-ret));
	}
	map_fd = bpf_object__find_map_fd_by_name(xdp_program__bpf_obj(x->prog), "unified_xsks");
	if (map_fd < 0 || xsk_socket__update_xskmap(x->xsk, map_fd)) {
		xdp_destroy(x);
		n->xdp_binding = false;
		return unified_set_err(EIO, "AF_XDP: cannot put the socket in the XDP program's map");
	}
	snprintf(n->xdp_line, sizeof(n->xdp_line), "AF_XDP on %s queue %u, UDP port %u: %s, %s XDP", ifname,
		 queue, udp_port, x->zerocopy ? "zero-copy" :
		 "copy mode (the driver offers no zero-copy)", x->mode == XDP_MODE_NATIVE ? "native" :
		 "generic");
	pthread_mutex_lock(&n->lock);
	c = unified_net_conn_new(n, -1, CONN_XSK, user_data);
	if (c) {
		n->xdp = x;
		*conn = (uint32_t)c->gen << 16 | (uint32_t)(c - n->conns);
	}
	n->xdp_binding = false;
	pthread_mutex_unlock(&n->lock);
	if (!c) {
		xdp_destroy(x);
		n->xdp_binding = false;
		return unified_set_err(EMFILE, "AF_XDP: all connection slots are in use");
	}
	unified_kick(ctx);
	return 0;
}

UNIFIED_EXPORT const char *unified_net_xdp_mode(const struct unified_ctx *ctx)
{
	/* the line lives in the context, not in the socket's state, which the
	 * engine thread frees when the socket closes */
	if (unified_ctx_check(ctx, "unified_net_xdp_mode") || !ctx->eng.net ||
	    !ctx->eng.net->xdp_line[0])
		return NULL;
	return ctx->eng.net->xdp_line;
}

#else	/* built without libxdp */

void unified_net_xdp_free(struct unified_net *n)
{
	(void)n;
}

bool unified_net_xdp_advance(struct unified_engine *e, struct unified_net *n, struct unified_conn *c,
			     uint64_t ud)
{
	(void)e, (void)n, (void)c, (void)ud;
	return true;
}

uint64_t unified_net_xdp_dropped(struct unified_net *n)
{
	(void)n;
	return 0;
}

UNIFIED_EXPORT int unified_net_xdp_bind(struct unified_ctx *ctx, const char *ifname, uint32_t queue,
					uint16_t udp_port, uint64_t user_data, uint32_t *conn)
{
	(void)ifname, (void)queue, (void)udp_port, (void)user_data, (void)conn;
	int ret = unified_ctx_check(ctx, "unified_net_xdp_bind");

	if (ret)
		return ret;	/* -EINVAL (NULL) or -EPERM (another process's) */
	return unified_set_err(EOPNOTSUPP, "AF_XDP: this libunified was built without libxdp "
			       "(install libxdp-dev, libbpf-dev and clang, then rebuild)");
}

UNIFIED_EXPORT const char *unified_net_xdp_mode(const struct unified_ctx *ctx)
{
	(void)ctx;
	return NULL;
}
#endif
