/* SPDX-License-Identifier: MIT */
/*
 * Network provider: io_uring socket operations on the engine's ring, every
 * kernel from 6.1.  TCP receives land at the connection's fill position in
 * a FILL buffer of the data area (IORING_OP_RECV), so the bytes are where
 * an NVMe write of the same buffer reads them: one kernel copy, socket to
 * region, and none in user space.  UDP uses IORING_OP_RECVMSG for the
 * sender's address.  Sends go out of the region: IORING_OP_SEND_ZC (6.0)
 * for TCP sends of at least UNIFIED_NET_ZC_MIN bytes, IORING_OP_SEND
 * otherwise (pinning pages and the extra notification cost more than
 * copying a small send).
 */
#include <string.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include "internal.h"

static int sock_open(int kind, const struct sockaddr *sa, socklen_t len, bool do_connect)
{
	int type = kind == CONN_UDP ? SOCK_DGRAM : SOCK_STREAM, one = 1, fd, err;
	const char *what;

	fd = socket(sa->sa_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return unified_set_err(errno, "socket: %s", strerror(errno));
	if (do_connect) {
		what = "connect";
		if (connect(fd, sa, len))
			goto fail;
		if (type == SOCK_STREAM)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		return fd;
	}
	what = "setsockopt(SO_REUSEADDR)";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto fail;
	what = "bind";
	if (bind(fd, sa, len))
		goto fail;
	if (type == SOCK_STREAM) {
		what = "listen";
		if (listen(fd, SOMAXCONN))
			goto fail;
	}
	return fd;
fail:
	err = errno;
	close(fd);
	return unified_set_err(err, "%s: %s", what, strerror(err));
}


static bool sock_prep_recv(struct unified_engine *e, struct unified_conn *c, void *dst, uint32_t len,
			   uint64_t ud)
{
	struct io_uring_sqe *sqe = unified_net_sqe(e, ud);

	if (!sqe)
		return false;
	if (c->kind == CONN_UDP) {
		memset(&c->msg, 0, sizeof(c->msg));
		c->iov.iov_base = dst;
		c->iov.iov_len = len;
		c->msg.msg_name = &c->peer;
		c->msg.msg_namelen = sizeof(c->peer);
		c->msg.msg_iov = &c->iov;
		c->msg.msg_iovlen = 1;
		io_uring_prep_recvmsg(sqe, c->fd, &c->msg, 0);
	} else {
		io_uring_prep_recv(sqe, c->fd, dst, len, 0);
	}
	sqe->user_data = ud;
	return true;
}

static bool sock_prep_accept(struct unified_engine *e, struct unified_conn *c, uint64_t ud)
{
	struct io_uring_sqe *sqe = unified_net_sqe(e, ud);

	if (!sqe)
		return false;
	c->peer_len = sizeof(c->peer);
	io_uring_prep_accept(sqe, c->fd, (struct sockaddr *)&c->peer, &c->peer_len, SOCK_CLOEXEC);
	sqe->user_data = ud;
	return true;
}

static bool sock_prep_send(struct unified_engine *e, struct unified_conn *c, const void *src,
			   uint32_t len, uint64_t ud, bool zc)
{
	struct io_uring_sqe *sqe = unified_net_sqe(e, ud);

	if (!sqe)
		return false;
	if (zc)
		io_uring_prep_send_zc(sqe, c->fd, src, len, MSG_NOSIGNAL, 0);
	else
		io_uring_prep_send(sqe, c->fd, src, len, MSG_NOSIGNAL);
	sqe->user_data = ud;
	return true;
}

const struct unified_net_ops unified_net_socket_ops = {
	.name = "io_uring sockets",
	.open = sock_open,
	.prep_recv = sock_prep_recv,
	.prep_accept = sock_prep_accept,
	.prep_send = sock_prep_send,
};
