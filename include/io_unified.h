/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * io_unified ABI: one memory region holding AF_XDP-style submission and
 * completion rings that carry NVMe commands, plus the data buffers those
 * commands (and network receive) use.
 *
 * This header is shared byte for byte by the user-space library (libunified)
 * and the kernel patch (IORING_REGISTER_UNIFIED_IFQ).  Everything in it is
 * fixed-width and explicitly padded (the layouts are checked at compile time
 * by both sides: lib/abi_asserts.h and the kernel's BUILD_BUG_ONs), so that
 * a 64-bit user space and kernel agree without any translation.
 *
 * Region layout (every part page aligned, offsets reported in reg.offsets):
 *
 *   +--------------------+ 0
 *   | SQ ring header     |  struct io_unified_ring, one 4 KiB page
 *   +--------------------+ 4096
 *   | CQ ring header     |  struct io_unified_ring, one 4 KiB page
 *   +--------------------+ 8192
 *   | SQEs               |  sq_entries x 128 B (struct io_unified_sqe)
 *   +--------------------+ page aligned
 *   | CQEs               |  cq_entries x 64 B (struct io_unified_cqe)
 *   +--------------------+ page aligned
 *   | data buffers       |  buffer_entries x buffer_entry_size
 *   +--------------------+ page aligned  (ABI 2, only with reg.net_ptr)
 *   | network rings      |  FILL, RX, TX, COMPLETION headers (4 KiB each),
 *   |                    |  then their entries (struct io_unified_net_*)
 *   +--------------------+
 *
 * The network part follows the buffers, so the NVMe rings and the buffer
 * area sit where ABI 1 put them, with or without it.
 *
 * Rules every implementation follows:
 *  - Data is addressed by offset into the buffer area (buf_offset, dma_addr),
 *    never by pointer.  A pointer written into the NVMe command (addr,
 *    metadata) is ignored: the engine derives the data address from
 *    buf_offset and len after bounds-checking them.
 *  - Reserved fields must be zero and unknown flags are rejected.
 *  - Every SQE consumed produces exactly one CQE, in every path including
 *    teardown (IO_UNIFIED_SC_ABORT_REQUESTED).
 *  - Rings are single-producer/single-consumer with free-running 32-bit
 *    indices; the producer store-releases its index after writing entries,
 *    the consumer load-acquires it before reading them, and vice versa.
 */
#ifndef IO_UNIFIED_H
#define IO_UNIFIED_H

#include <linux/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* io_uring_register(2) opcode of the kernel engine (patched kernels only).
 * Stock kernels answer -EINVAL, and libunified then runs its own engine.
 */
#define IORING_REGISTER_UNIFIED_IFQ	64
#define IORING_UNREGISTER_UNIFIED_IFQ	65

/*
 * io_uring_enter(2) flag of the kernel engine: consume the unified SQ now
 * (a ring without SQPOLL), or wake the SQPOLL thread that consumes it.
 * Bit 31, far from the flags mainline adds from bit 0 upwards.
 */
#define IORING_ENTER_UNIFIED		(1U << 31)

/*
 * user_data of the io_uring CQE the kernel engine posts after publishing
 * unified completions while the unified CQ has IO_UNIFIED_RING_NEED_WAKEUP
 * set: an application sleeping in io_uring_enter(2) or on the ring's
 * eventfd wakes up.  It carries no other information (res is 0).
 */
#define IO_UNIFIED_WAKE_USER_DATA	0xfffffffffffffffeULL

/* 2: the optional network rings (reg.net_ptr).  Version 1 programs, which
 * leave that field zero, are served exactly as before.
 */
#define IO_UNIFIED_ABI_VERSION		2

/* Size of each ring header page in the region. */
#define IO_UNIFIED_RING_HDR_SIZE	4096u

/* Limits (checked by every implementation; violations give -EINVAL). */
#define IO_UNIFIED_MAX_ENTRIES		32768u	/* sq_entries, cq_entries */
#define IO_UNIFIED_MIN_BUF_SIZE		512u	/* buffer_entry_size */
#define IO_UNIFIED_MAX_BUF_SIZE		(2u << 20)
#define IO_UNIFIED_MAX_BUF_ENTRIES	(1u << 24)
#define IO_UNIFIED_MAX_DATA_BYTES	(1ull << 36)	/* 64 GiB data area */

/*
 * Ring header.  Producer and consumer each sit on their own 64-byte cache
 * line so the two sides do not false-share; the read-mostly fields follow on
 * a third line.  The header occupies a whole 4 KiB page of the region.
 */
struct io_unified_ring {
	__u32	producer;	/* written by the producing side only */
	__u32	__pad0[15];
	__u32	consumer;	/* written by the consuming side only */
	__u32	__pad1[15];
	__u32	flags;		/* IO_UNIFIED_RING_* (written by the consumer) */
	__u32	ring_mask;	/* ring_entries - 1 */
	__u32	ring_entries;	/* power of two */
	__u32	__resv[13];
};

/*
 * SQ ring flags.  NEED_WAKEUP: the engine sleeps and must be kicked
 * (unified_kick(); for the kernel engine with SQPOLL, io_uring_enter(2)
 * with IORING_ENTER_UNIFIED) to see new entries.
 * CQ ring flags.  NEED_WAKEUP: the application is about to sleep and must
 * be woken after new completions are published (user engine: a futex wake
 * on the CQ producer word; kernel engine: an io_uring CQE with
 * IO_UNIFIED_WAKE_USER_DATA).
 */
#define IO_UNIFIED_RING_NEED_WAKEUP	(1u << 0)

/*
 * The NVMe command inside a submission entry.
 *
 * Layout choice: this is the kernel's 72-byte passthrough command
 * (struct nvme_uring_cmd, include/uapi/linux/nvme_ioctl.h, 5.19 and newer),
 * not the 64-byte NVMe wire SQE.  Reasons: (1) the wire SQE's PRP/SGL and
 * command-identifier fields belong to the driver, which builds them itself,
 * so user space could never set them meaningfully; (2) the passthrough
 * layout is the stable uapi the NVMe driver already validates, so the user
 * engine copies it into an IORING_OP_URING_CMD SQE and the kernel engine
 * hands it to the same driver path without a second format; (3) it carries
 * data_len and timeout_ms, which the wire format has no place for.  `addr`
 * (the seed design's data pointer) and `metadata` keep their names, but the
 * engine never dereferences or forwards them: it overwrites the data
 * address with region + buffers + buf_offset.
 */
struct io_unified_nvme_cmd {
	__u8	opcode;		/* NVMe opcode */
	__u8	flags;		/* must be 0 (PSDT/FUSE are the driver's) */
	__u16	rsvd1;		/* must be 0 */
	__u32	nsid;		/* namespace id (I/O: must match the target) */
	__u32	cdw2;
	__u32	cdw3;
	__u64	metadata;	/* separate metadata is unsupported: must be 0 */
	__u64	addr;		/* advisory only; ignored (see above) */
	__u32	metadata_len;	/* must be 0 */
	__u32	data_len;	/* 0, or equal to the SQE's len */
	__u32	cdw10;
	__u32	cdw11;
	__u32	cdw12;
	__u32	cdw13;
	__u32	cdw14;
	__u32	cdw15;
	__u32	timeout_ms;	/* 0 = driver default */
	__u32	rsvd2;		/* must be 0 */
};

/*
 * Submission entry, 128 bytes.
 * len == 0 means "derive it": nvme_cmd.data_len if that is set; else for
 * Read, Write and Compare (NLB + 1) * LBA size, for Identify 4096, for Get
 * Log Page (NUMD + 1) * 4, for Dataset Management (NR + 1) * 16; otherwise
 * no data.  For those commands a len below what the command moves is
 * rejected (Invalid Field), so a device never writes past the buffer.
 */
struct io_unified_sqe {
	struct io_unified_nvme_cmd nvme_cmd;	/*  0: 72 bytes */
	__u64	user_data;	/* 72: returned unchanged in the CQE */
	__u64	buf_offset;	/* 80: data offset inside the buffer area */
	__u32	len;		/* 88: data length in bytes */
	__u32	flags;		/* 92: IO_UNIFIED_SQE_F_* */
	__u64	__resv[4];	/* 96: must be zero */
};

/* The command is an admin command (controller queue), not an I/O command. */
#define IO_UNIFIED_SQE_F_ADMIN		(1u << 0)
#define IO_UNIFIED_SQE_F_MASK		(IO_UNIFIED_SQE_F_ADMIN)

/*
 * Completion entry, 64 bytes.
 * status is the NVMe status field as Linux reports it (phase bit stripped):
 * bits 0-7 status code, 8-10 status code type, 11-12 CRD, 13 More, 14 DNR.
 * 0 means success.  When the status was produced on the host (validation by
 * the engine, an emulated target, a kernel errno) IO_UNIFIED_CQE_F_HOST is
 * set and res may hold the negative errno that explains it.
 */
struct io_unified_cqe {
	__u64	user_data;	/*  0 */
	__u64	result;		/*  8: NVMe completion DW0/DW1 */
	__u64	dma_addr;	/* 16: buffer-area offset of the data (= buf_offset) */
	__u32	len;		/* 24: bytes transferred on success, else 0 */
	__u16	status;		/* 28: NVMe status field, 0 = success */
	__u16	flags;		/* 30: IO_UNIFIED_CQE_F_* */
	__s32	res;		/* 32: 0, or -errno behind a host-side status */
	__u32	__resv0;	/* 36 */
	__u64	__resv[3];	/* 40 */
};

#define IO_UNIFIED_CQE_F_HOST		(1u << 0)	/* status made by the host */
#define IO_UNIFIED_CQE_F_ERRNO		(1u << 1)	/* res holds a kernel/host errno */

/* NVMe status helpers (values as in the NVMe base specification). */
#define IO_UNIFIED_SCT_GENERIC		0x0
#define IO_UNIFIED_SCT_CMD_SPECIFIC	0x1
#define IO_UNIFIED_SCT_MEDIA		0x2
#define IO_UNIFIED_STATUS(sct, sc)	((__u16)((((sct) & 0x7) << 8) | ((sc) & 0xff)))
#define IO_UNIFIED_STATUS_DNR		0x4000
#define IO_UNIFIED_STATUS_SC(s)		((s) & 0xff)
#define IO_UNIFIED_STATUS_SCT(s)	(((s) >> 8) & 0x7)

#define IO_UNIFIED_SC_SUCCESS		0x00
#define IO_UNIFIED_SC_INVALID_OPCODE	0x01
#define IO_UNIFIED_SC_INVALID_FIELD	0x02
#define IO_UNIFIED_SC_DATA_XFER_ERROR	0x04
#define IO_UNIFIED_SC_INTERNAL		0x06
#define IO_UNIFIED_SC_ABORT_REQUESTED	0x07
#define IO_UNIFIED_SC_INVALID_NS	0x0b
#define IO_UNIFIED_SC_PRP_OFFSET_INVALID 0x13	/* generic: data buffer misaligned */
#define IO_UNIFIED_SC_NS_WRITE_PROTECTED 0x20	/* generic: Namespace is Write Protected */
#define IO_UNIFIED_SC_LBA_RANGE		0x80	/* generic: LBA Out of Range */
#define IO_UNIFIED_SC_CAPACITY_EXCEEDED	0x81	/* generic: Capacity Exceeded */
#define IO_UNIFIED_SC_INVALID_LOG_PAGE	0x09	/* command specific (Get Log Page) */
#define IO_UNIFIED_SC_FID_NOT_SAVEABLE	0x0d	/* command specific (Set Features) */
#define IO_UNIFIED_SC_COMPARE_FAILED	0x85	/* media: Compare Failure */
#define IO_UNIFIED_SC_ACCESS_DENIED	0x86	/* media: Access Denied (refused by policy) */

/* Region descriptor, pointed to by io_unified_reg.region_ptr. */
struct io_unified_region_desc {
	__u64	user_addr;	/* in: caller memory (USER) / out: mapping address */
	__u64	size;		/* in: size of caller memory / out: region size */
	__u32	flags;		/* IO_UNIFIED_REGION_* */
	__s32	numa_node;	/* with IO_UNIFIED_REGION_NUMA */
	__u64	mmap_offset;	/* out: kernel engine mmap offset (0 for user engine) */
	__u64	__resv[4];	/* must be zero */
};

#define IO_UNIFIED_REGION_USER		(1u << 0)	/* memory is caller-provided */
#define IO_UNIFIED_REGION_HUGE_2M	(1u << 1)	/* back with 2 MiB huge pages */
#define IO_UNIFIED_REGION_NUMA		(1u << 2)	/* bind to numa_node */
#define IO_UNIFIED_REGION_F_MASK	(IO_UNIFIED_REGION_USER | IO_UNIFIED_REGION_HUGE_2M | \
					 IO_UNIFIED_REGION_NUMA)

/* Offsets of the region parts, filled in by registration. */
struct io_unified_offsets {
	__u64	sq_ring;
	__u64	cq_ring;
	__u64	sq_entries;
	__u64	cq_entries;
	__u64	buffers;
	__u64	net;		/* ABI 2: the network part (its FILL ring header),
				 * 0 when reg.net_ptr was 0
				 */
	__u64	__resv[2];
};

/* Registration: IORING_REGISTER_UNIFIED_IFQ's argument, and unified_register()'s. */
struct io_unified_reg {
	__u64	region_ptr;		/* pointer to struct io_unified_region_desc */
	__u64	nvme_dev_path;		/* pointer to a NUL-terminated path, or 0 */
	__u32	sq_entries;		/* power of two, 1..IO_UNIFIED_MAX_ENTRIES */
	__u32	cq_entries;		/* power of two; 0 = sq_entries * 2 (at most the limit) */
	__u32	buffer_entries;		/* number of data buffers, >= 1 */
	__u32	buffer_entry_size;	/* power of two, 512 B .. 2 MiB */
	__u32	flags;			/* IO_UNIFIED_REG_* */
	__u32	__resv0;		/* must be zero */
	struct io_unified_offsets offsets;	/* out */
	__u64	net_ptr;		/* ABI 2: pointer to a struct io_unified_net_reg
					 * to add the network rings; 0 = none
					 */
	__u64	__resv[3];		/* must be zero */
};

/*
 * PROBE: only ask whether the kernel engine exists.  A kernel with
 * IORING_REGISTER_UNIFIED_IFQ answers IO_UNIFIED_ABI_VERSION and does
 * nothing else (every other field must be zero); a stock kernel answers
 * -EINVAL for the unknown opcode.  No flag is accepted by a registration:
 * any set bit there is rejected with -EINVAL.
 */
#define IO_UNIFIED_REG_F_PROBE		(1u << 0)
#define IO_UNIFIED_REG_F_MASK		0u

/*
 * The network part (ABI 2): AF_XDP's four rings over the same data buffers.
 *
 *   FILL        application -> network: __u64 buffer offsets given to receive
 *   RX          network -> application: struct io_unified_net_desc
 *   TX          application -> network: struct io_unified_net_desc
 *   COMPLETION  network -> application: struct io_unified_net_comp
 *
 * Same ring header, indices and ordering rules as the NVMe rings.  Buffers
 * are named by their offset in the buffer area and always whole: a FILL
 * entry is a multiple of buffer_entry_size.  A buffer belongs to exactly
 * one party at a time: the application, the receive side (from FILL until
 * the RX entry that returns it), an NVMe command in flight, or a send in
 * flight (from TX until its COMPLETION entry).  One exception: an NVMe
 * Write may name the bytes of a TCP or UDP receive buffer announced on
 * RX (they never change again), up to the logical block holding the last
 * of them, while the receive side keeps appending after them.
 */
struct io_unified_net_reg {
	__u32	fill_entries;	/* power of two, 1..IO_UNIFIED_MAX_ENTRIES */
	__u32	rx_entries;	/* the same, for each ring */
	__u32	tx_entries;
	__u32	comp_entries;
	__u32	max_conns;	/* connection table, 1..65536; 0 = 1024 */
	__u32	flags;		/* IO_UNIFIED_NET_F_* */
	__u64	__resv[3];	/* must be zero */
	/* out: offsets in the region */
	__u64	fill_ring;
	__u64	rx_ring;
	__u64	tx_ring;
	__u64	comp_ring;
	__u64	fill_desc;	/* fill_entries x __u64 */
	__u64	rx_desc;	/* rx_entries x struct io_unified_net_desc */
	__u64	tx_desc;	/* tx_entries x struct io_unified_net_desc */
	__u64	comp_desc;	/* comp_entries x struct io_unified_net_comp */
};

/*
 * RX and TX descriptor, 64 bytes.
 * RX: @addr/@len are received bytes (a TCP stream's next bytes, or one UDP
 * datagram).  An entry without IO_UNIFIED_NET_RX_MORE returns the buffer
 * holding @addr to the application; with it the receive side keeps the
 * buffer and appends the connection's next bytes right after @len.  Entries
 * that carry no bytes have @len 0 and @addr IO_UNIFIED_NET_NO_ADDR unless
 * they return a buffer.  @peer: the remote address (NEW_CONN, UDP), else 0.
 * TX: @addr/@len the bytes to send on connection @conn; @user_data, @peer,
 * @error and unknown @flags must be 0.
 */
struct io_unified_net_desc {
	__u64	addr;		/* buffer-area offset */
	__u32	len;		/* bytes */
	__u32	conn;		/* connection id (IO_UNIFIED_NET_NO_CONN: none) */
	__u64	user_data;	/* RX: the connection's user_data */
	__u32	flags;		/* IO_UNIFIED_NET_RX_* / IO_UNIFIED_NET_TX_* */
	__s32	error;		/* RX with IO_UNIFIED_NET_RX_ERROR: -errno */
	__u16	peer_family;	/* AF_INET, AF_INET6 or 0 */
	__u16	peer_port;	/* host byte order */
	__u32	__resv0;
	__u8	peer_addr[16];	/* IPv4 in the first 4 bytes */
	__u64	__resv1;
};

/* Completion of a TX descriptor, 16 bytes: the buffer is the application's
 * again.  @error is 0 with @len the bytes sent, or -errno (a refused
 * descriptor: -EINVAL, -EBADF for an unknown connection, -EBUSY for a
 * buffer the application does not own; a failed send: its errno).
 */
struct io_unified_net_comp {
	__u64	addr;
	__u32	len;
	__s32	error;
};

/*
 * Registration flags (io_unified_net_reg.flags).  INC_RECV: TCP receives
 * through a multishot receive into a per-connection incremental
 * provided-buffer ring where the kernel has them (IOU_PBUF_RING_INC, 6.12+;
 * elsewhere the flag changes nothing).  Without it, one receive at a time
 * at the connection's fill position, on every kernel.  Both fill buffers
 * back to back; measured here the plain path cost about 10 % less CPU
 * (docs/benchmarks.md), so it is the default.
 */
#define IO_UNIFIED_NET_F_INC_RECV	(1u << 0)
#define IO_UNIFIED_NET_F_MASK		IO_UNIFIED_NET_F_INC_RECV

#define IO_UNIFIED_NET_NO_CONN		0xffffffffu
#define IO_UNIFIED_NET_NO_ADDR		(~0ull)

#define IO_UNIFIED_NET_RX_MORE		(1u << 0)	/* the receive side keeps the buffer */
#define IO_UNIFIED_NET_RX_NEW_CONN	(1u << 1)	/* accepted on listener @user_data */
#define IO_UNIFIED_NET_RX_EOF		(1u << 2)	/* the peer closed: last entry of @conn */
#define IO_UNIFIED_NET_RX_ERROR		(1u << 3)	/* @error: last of @conn, or bad FILL */
#define IO_UNIFIED_NET_RX_TRUNC		(1u << 4)	/* UDP: datagram longer than the buffer */
#define IO_UNIFIED_NET_RX_CLOSED	(1u << 5)	/* by unified_net_close(): last entry */

#define IO_UNIFIED_NET_TX_MASK		0u		/* no TX flags yet */

/* NVMe opcodes the engines know by name (others pass through on NVMe). */
#define IO_UNIFIED_NVME_CMD_FLUSH	0x00
#define IO_UNIFIED_NVME_CMD_WRITE	0x01
#define IO_UNIFIED_NVME_CMD_READ	0x02
#define IO_UNIFIED_NVME_CMD_COMPARE	0x05
#define IO_UNIFIED_NVME_CMD_WRITE_ZEROES 0x08
#define IO_UNIFIED_NVME_CMD_DSM		0x09
#define IO_UNIFIED_NVME_ADMIN_GET_LOG_PAGE 0x02
#define IO_UNIFIED_NVME_ADMIN_IDENTIFY	0x06
#define IO_UNIFIED_NVME_ADMIN_SET_FEATURES 0x09
#define IO_UNIFIED_NVME_ADMIN_GET_FEATURES 0x0a

#ifdef __cplusplus
}
#endif
#endif /* IO_UNIFIED_H */
