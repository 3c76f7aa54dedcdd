/* SPDX-License-Identifier: MIT */
/*
 * zcrx (io_uring zero-copy receive, Linux 6.15+): detection.  The area
 * would be a page-aligned slice of at most 1 GiB of the data area, its
 * refill ring fed from FILL.  Whether a queue of an interface can do it is
 * only known by asking: IORING_REGISTER_ZCRX_IFQ on a ring set up as zcrx
 * requires (DEFER_TASKRUN, SINGLE_ISSUER, CQE32).  The probe registers an
 * area of its own, not the data area: while registered, the NIC's page
 * pool may fill any page of the area, and the data area's pages belong to
 * the application and the engine.
 * Without a NIC that splits headers and serves page pools (veth, lo,
 * virtio-net) the kernel answers EOPNOTSUPP after every other check has
 * passed, which also shows the request itself was well formed.
 *
 * The zcrx receive path itself (RECV_ZC, refill) is not in the library
 * yet: no machine it is tested on has such a NIC.  A successful
 * registration is therefore undone and reported, and the io_uring socket
 * provider keeps receiving.
 */
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include "internal.h"

#define ZCRX_PROBE_AREA	(256u << 10)	/* the probe's own area */
#define ZCRX_RQ_ENTRIES	256u

static bool kernel_at_least(int maj, int min)
{
	struct utsname u;
	int a = 0, b = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &a, &b) != 2)
		return true;	/* unknown: ask the kernel */
	return a > maj || (a == maj && b >= min);
}

UNIFIED_EXPORT int unified_net_zcrx_probe(struct unified_ctx *ctx, const char *ifname, uint32_t rxq)
{
	struct unified_zcrx_area_reg area;
	struct unified_zcrx_region_desc rd;
	struct unified_zcrx_ifq_reg reg;
	struct io_uring_params p;
	struct io_uring ring;
	unsigned int ifindex;
	size_t rsz = 2 * 4096;
	void *rmem, *amem;
	long r;
	int ret = unified_ctx_check(ctx, "unified_net_zcrx_probe"), err;

	if (ret)
		return ret;
	if (!ctx->eng.net)
		return unified_set_err(EINVAL, "unified_net_zcrx_probe: registered without network rings");
	if (!ifname)
		return unified_set_err(EINVAL, "unified_net_zcrx_probe: ifname is NULL");
	ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return unified_set_err(ENODEV, "zcrx: no interface %s in this network namespace", ifname);
	if (!kernel_at_least(6, 15))
		return unified_set_err(EOPNOTSUPP, "zcrx: this kernel has no zero-copy receive "
				       "(IORING_REGISTER_ZCRX_IFQ is 6.15 and newer); receiving with "
				       "io_uring sockets");
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQE32;
	ret = io_uring_queue_init_params(8, &ring, &p);
	if (ret < 0)
		return unified_set_err(-ret, "zcrx: a DEFER_TASKRUN|CQE32 ring cannot be set up: %s",
				       strerror(-ret));
	rmem = mmap(NULL, rsz + ZCRX_PROBE_AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (rmem == MAP_FAILED) {
		err = errno;
		io_uring_queue_exit(&ring);
		return unified_set_err(err, "zcrx: no memory for the probe");
	}
	amem = (uint8_t *)rmem + rsz;
	memset(&area, 0, sizeof(area));
	area.addr = (uintptr_t)amem;
	area.len = ZCRX_PROBE_AREA;
	memset(&rd, 0, sizeof(rd));
	rd.user_addr = (uintptr_t)rmem;
	rd.size = rsz;
	rd.flags = 1;	/* IORING_MEM_REGION_TYPE_USER */
	memset(&reg, 0, sizeof(reg));
	reg.if_idx = ifindex;
	reg.if_rxq = rxq;
	reg.rq_entries = ZCRX_RQ_ENTRIES;
	reg.area_ptr = (uintptr_t)&area;
	reg.region_ptr = (uintptr_t)&rd;
	r = syscall(__NR_io_uring_register, ring.ring_fd, UNIFIED_IORING_REGISTER_ZCRX_IFQ, &reg, 1);
	err = r < 0 ? errno : 0;
	io_uring_queue_exit(&ring);	/* undoes a registration, if one happened */
	munmap(rmem, rsz + ZCRX_PROBE_AREA);
	switch (err) {
	case 0:
		return unified_set_err(EOPNOTSUPP, "zcrx: %s queue %u accepted a zero-copy receive area, "
				       "but libunified's zcrx receive path is not written yet (no NIC "
				       "to test it on); receiving with io_uring sockets", ifname, rxq);
	case EOPNOTSUPP:
		return unified_set_err(EOPNOTSUPP, "zcrx: %s queue %u cannot do zero-copy receive (the "
				       "driver offers no header split or page pool, as veth, lo and "
				       "virtio-net); receiving with io_uring sockets", ifname, rxq);
	case EPERM:
		return unified_set_err(EPERM, "zcrx: registering an interface queue needs CAP_NET_ADMIN");
	case EINVAL:
		return unified_set_err(EINVAL, "zcrx: the kernel refused the request as malformed "
				       "(EINVAL: an older or newer zcrx ABI than 6.15-6.19?)");
	default:
		return unified_set_err(err, "zcrx: IORING_REGISTER_ZCRX_IFQ on %s queue %u: %s", ifname,
				       rxq, strerror(err));
	}
}
