/* SPDX-License-Identifier: MIT */
/*
 * libunified: user-space library for the io_unified interface.
 *
 * An application registers a unified region (io_unified.h), then produces
 * NVMe commands into the SQ ring and consumes completions from the CQ ring
 * with the inline AF_XDP-style helpers below.  An engine serves the rings:
 * the kernel engine on a kernel with IORING_REGISTER_UNIFIED_IFQ, otherwise
 * libunified's user engine on a stock io_uring (Linux 6.1 and newer).
 *
 * Conventions:
 *  - Every function that can fail returns a negative errno (or NULL) and
 *    leaves no half state behind.  unified_errmsg() then gives a sentence
 *    that says what was wrong, for the calling thread.
 *    Errors the engine meets while serving the rings (an io_uring
 *    submission the kernel refuses) are reported by the next
 *    unified_kick() or unified_enter().
 *  - A unified_ctx is not thread safe: one thread produces SQEs and consumes
 *    CQEs (it may be a different thread from the engine thread).  The ring
 *    helpers are single-producer/single-consumer.
 *  - A unified_ctx belongs to the process that registered it, as an
 *    io_uring does.  A child made by fork() gets -EPERM from every call
 *    on an inherited context except unified_unregister(), which there only
 *    releases the child's own copies (descriptors, memory) and never
 *    touches the parent's rings or I/O.  Regions the library maps are
 *    MADV_DONTFORK: a child does not see them at all.
 *  - The ring helpers trust nothing the other side wrote: an index that
 *    moved backwards or by more than the ring holds reads as "no entries"
 *    / "no free slots", never as more than the ring size.
 */
#ifndef LIBUNIFIED_H
#define LIBUNIFIED_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include "io_unified.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UNIFIED_INLINE static inline

/* The original design's spellings of the two common opcodes (kept out of
 * the ABI header, where they could collide with other NVMe headers). */
#ifndef NVME_CMD_READ
#define NVME_CMD_READ			IO_UNIFIED_NVME_CMD_READ
#endif
#ifndef NVME_CMD_WRITE
#define NVME_CMD_WRITE			IO_UNIFIED_NVME_CMD_WRITE
#endif

/* ------------------------------------------------------------------------
 * Memory ordering.  Producer: write entries, then store-release the producer
 * index.  Consumer: load-acquire the producer index, then read entries; after
 * reading, store-release the consumer index so the producer may reuse them.
 */
#define unified_load_acquire(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define unified_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define unified_load_relaxed(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define unified_smp_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)

/* A producer-side or consumer-side view of a ring, with cached indices. */
struct unified_ring_view {
	uint32_t cached_prod;
	uint32_t cached_cons;
	uint32_t mask;
	uint32_t size;
	uint32_t *producer;
	uint32_t *consumer;
	uint32_t *flags;
	void *entries;
};

/* The application's view of the submission ring (it produces). */
struct unified_sq {
	struct unified_ring_view r;
};

/* The application's view of the completion ring (it consumes). */
struct unified_cq {
	struct unified_ring_view r;
};

/* ------------------------------------------------------------------------
 * Producer helpers (application on the SQ).
 */

/**
 * unified_sq_nb_free() - number of free SQ slots, at least @nb if possible.
 * Refreshes the cached consumer index only when the cache says fewer than
 * @nb are free.
 */
UNIFIED_INLINE uint32_t unified_sq_nb_free(struct unified_sq *sq, uint32_t nb)
{
	uint32_t free_entries = sq->r.cached_cons - sq->r.cached_prod;

	if (free_entries >= nb && free_entries <= sq->r.size)
		return free_entries;
	/* Acquire pairs with the engine's store-release of the consumer index:
	 * once we see the slot as free, the engine has finished reading it. */
	sq->r.cached_cons = unified_load_acquire(sq->r.consumer) + sq->r.size;
	free_entries = sq->r.cached_cons - sq->r.cached_prod;
	if (free_entries > sq->r.size) {
		/* The consumer is ahead of what we produced, or went back:
		 * corrupt.  Report a full ring rather than trust it. */
		sq->r.cached_cons = sq->r.cached_prod;
		return 0;
	}
	return free_entries;
}

/**
 * unified_sq_reserve() - reserve @nb consecutive SQ slots.
 * Returns @nb and stores the first index in *@idx, or 0 if fewer than @nb
 * slots are free (nothing is reserved then: all or nothing, like AF_XDP).
 * Never more than the ring size, whatever the shared consumer index says.
 */
UNIFIED_INLINE uint32_t unified_sq_reserve(struct unified_sq *sq, uint32_t nb, uint32_t *idx)
{
	if (unified_sq_nb_free(sq, nb) < nb)
		return 0;
	*idx = sq->r.cached_prod;
	sq->r.cached_prod += nb;
	return nb;
}

/** unified_sq_entry() - the SQE at ring index @idx (as given by reserve). */
UNIFIED_INLINE struct io_unified_sqe *unified_sq_entry(struct unified_sq *sq, uint32_t idx)
{
	return &((struct io_unified_sqe *)sq->r.entries)[idx & sq->r.mask];
}

/**
 * unified_sq_submit() - publish @nb reserved and filled SQEs to the engine.
 * Does not wake a sleeping engine: call unified_kick() when
 * unified_sq_needs_wakeup() says so (or always, in kick mode).
 */
UNIFIED_INLINE void unified_sq_submit(struct unified_sq *sq, uint32_t nb)
{
	/* Release: the SQE contents become visible before the new producer
	 * index; pairs with the engine's load-acquire of the producer. */
	unified_store_release(sq->r.producer, *sq->r.producer + nb);
}

/** unified_sq_cancel() - give back @nb slots reserved but not submitted. */
UNIFIED_INLINE void unified_sq_cancel(struct unified_sq *sq, uint32_t nb)
{
	sq->r.cached_prod -= nb;
}

/**
 * unified_sq_needs_wakeup() - non-zero if the engine thread is asleep and
 * must be kicked to see new SQEs.  The flag is a hint the engine keeps up to
 * date; the engine's real state is private, so an application that clears
 * the flag only costs itself wake-ups: unified_kick() and unified_enter()
 * always wake a sleeping engine.
 */
UNIFIED_INLINE int unified_sq_needs_wakeup(const struct unified_sq *sq)
{
	/* Full barrier: our producer store must be visible before we read the
	 * flag, or we could miss an engine that went to sleep in between. */
	unified_smp_mb();
	return unified_load_relaxed(sq->r.flags) & IO_UNIFIED_RING_NEED_WAKEUP;
}

/* ------------------------------------------------------------------------
 * Consumer helpers (application on the CQ).
 */

/**
 * unified_cq_peek() - up to @nb completions ready to read.
 * Returns how many (0..@nb, never more than the ring size) and stores the
 * first index in *@idx.  A producer index that went back or jumped by more
 * than the ring holds reads as no completions.
 *
 * Thread mode: when the CQ was full, the engine thread notices released
 * slots by itself within about a millisecond; call
 * unified_kick() after unified_cq_release() to have them reused at once.
 */
UNIFIED_INLINE uint32_t unified_cq_peek(struct unified_cq *cq, uint32_t nb, uint32_t *idx)
{
	uint32_t entries = cq->r.cached_prod - cq->r.cached_cons;

	if (entries == 0 || entries > cq->r.size) {
		/* Acquire pairs with the engine's store-release of the
		 * producer: the CQE contents are visible once the index is. */
		cq->r.cached_prod = unified_load_acquire(cq->r.producer);
		entries = cq->r.cached_prod - cq->r.cached_cons;
		if (entries > cq->r.size) {
			cq->r.cached_prod = cq->r.cached_cons;	/* corrupt: trust nothing */
			return 0;
		}
	}
	if (entries > nb)
		entries = nb;
	if (entries) {
		*idx = cq->r.cached_cons;
		cq->r.cached_cons += entries;
	}
	return entries;
}

/** unified_cq_entry() - the CQE at ring index @idx (as given by peek). */
UNIFIED_INLINE const struct io_unified_cqe *unified_cq_entry(struct unified_cq *cq, uint32_t idx)
{
	return &((const struct io_unified_cqe *)cq->r.entries)[idx & cq->r.mask];
}

/** unified_cq_release() - hand @nb peeked CQEs back to the engine. */
UNIFIED_INLINE void unified_cq_release(struct unified_cq *cq, uint32_t nb)
{
	/* Release: our reads of the CQEs complete before the engine may
	 * overwrite them; pairs with the engine's acquire of the consumer. */
	unified_store_release(cq->r.consumer, *cq->r.consumer + nb);
}

/** unified_cq_cancel() - un-peek @nb CQEs so the next peek returns them again. */
UNIFIED_INLINE void unified_cq_cancel(struct unified_cq *cq, uint32_t nb)
{
	cq->r.cached_cons -= nb;
}

/* ------------------------------------------------------------------------
 * SQE preparation helpers.  They zero the whole entry first, so reserved
 * fields are always zero.  slba/nlb are logical blocks, nlb counted from 1
 * (1..65536); the wire fields are 0-based, so a count of 0 has no encoding.
 * A helper given a count it cannot encode returns -EINVAL and marks the
 * entry with UNIFIED_SQE_F_PREP_ERROR, an SQE flag the engine rejects:
 * submitted anyway, it completes with Invalid Field in Command and touches
 * nothing.  Helpers without counts always succeed.
 */

/* Marks an SQE a prep helper refused (not an ABI flag: always rejected). */
#define UNIFIED_SQE_F_PREP_ERROR	(1u << 31)

UNIFIED_INLINE int unified_prep_refuse(struct io_unified_sqe *sqe)
{
	sqe->flags |= UNIFIED_SQE_F_PREP_ERROR;
	return -EINVAL;
}

typedef uint64_t unified_u64_alias __attribute__((__may_alias__));

/**
 * unified_sqe_zero() - Zero all 128 bytes of @sqe (8-byte aligned, as the
 * type is).  Sixteen plain stores, which compilers merge into vector
 * stores: GCC turns a memset() of this size into `rep stos`, whose
 * start-up cost was 2 % of a CPU-bound run (docs/benchmarks.md, issue 7).
 */
UNIFIED_INLINE void unified_sqe_zero(struct io_unified_sqe *sqe)
{
	unified_u64_alias *w = (unified_u64_alias *)sqe;

	w[0] = 0; w[1] = 0; w[2] = 0; w[3] = 0; w[4] = 0; w[5] = 0; w[6] = 0; w[7] = 0;
	w[8] = 0; w[9] = 0; w[10] = 0; w[11] = 0; w[12] = 0; w[13] = 0; w[14] = 0; w[15] = 0;
}

/** unified_prep_nvme() - generic I/O command: opcode, namespace, buffer. */
UNIFIED_INLINE void unified_prep_nvme(struct io_unified_sqe *sqe, uint8_t opcode, uint32_t nsid,
				      uint64_t buf_offset, uint32_t len, uint64_t user_data)
{
	unified_sqe_zero(sqe);
	sqe->nvme_cmd.opcode = opcode;
	sqe->nvme_cmd.nsid = nsid;
	sqe->buf_offset = buf_offset;
	sqe->len = len;
	sqe->user_data = user_data;
}

/**
 * unified_prep_rw() - Read, Write, Compare (or Write Zeroes, with no
 * buffer) of @nlb blocks (1..65536) at @slba.  Return 0, or -EINVAL for an
 * @nlb of 0 or over 65536 (the entry is then marked to fail, see above).
 */
UNIFIED_INLINE int unified_prep_rw(struct io_unified_sqe *sqe, uint8_t opcode, uint32_t nsid,
				   uint64_t slba, uint32_t nlb, uint64_t buf_offset, uint32_t len,
				   uint64_t user_data)
{
	unified_prep_nvme(sqe, opcode, nsid, buf_offset, len, user_data);
	sqe->nvme_cmd.cdw10 = (uint32_t)slba;
	sqe->nvme_cmd.cdw11 = (uint32_t)(slba >> 32);
	if (nlb == 0 || nlb > 65536)
		return unified_prep_refuse(sqe);
	sqe->nvme_cmd.cdw12 = nlb - 1;
	return 0;
}

/** unified_prep_read() - Read @nlb blocks at @slba into the buffer area (see unified_prep_rw()). */
UNIFIED_INLINE int unified_prep_read(struct io_unified_sqe *sqe, uint32_t nsid, uint64_t slba,
				     uint32_t nlb, uint64_t buf_offset, uint32_t len,
				     uint64_t user_data)
{
	return unified_prep_rw(sqe, IO_UNIFIED_NVME_CMD_READ, nsid, slba, nlb, buf_offset, len,
			       user_data);
}

/** unified_prep_write() - Write @nlb blocks at @slba from the buffer area (see unified_prep_rw()). */
UNIFIED_INLINE int unified_prep_write(struct io_unified_sqe *sqe, uint32_t nsid, uint64_t slba,
				      uint32_t nlb, uint64_t buf_offset, uint32_t len,
				      uint64_t user_data)
{
	return unified_prep_rw(sqe, IO_UNIFIED_NVME_CMD_WRITE, nsid, slba, nlb, buf_offset, len,
			       user_data);
}

/** unified_prep_flush() - Flush the namespace's volatile write cache. */
UNIFIED_INLINE void unified_prep_flush(struct io_unified_sqe *sqe, uint32_t nsid, uint64_t user_data)
{
	unified_prep_nvme(sqe, IO_UNIFIED_NVME_CMD_FLUSH, nsid, 0, 0, user_data);
}

/**
 * unified_prep_write_zeroes() - Write Zeroes over @nlb blocks (1..65536) at
 * @slba.  Return 0, or -EINVAL for an @nlb of 0 or over 65536 (the entry is
 * then marked to fail: before this rule, 0 zeroed 65536 blocks).
 */
UNIFIED_INLINE int unified_prep_write_zeroes(struct io_unified_sqe *sqe, uint32_t nsid,
					     uint64_t slba, uint32_t nlb, uint64_t user_data)
{
	return unified_prep_rw(sqe, IO_UNIFIED_NVME_CMD_WRITE_ZEROES, nsid, slba, nlb, 0, 0,
			       user_data);
}

/**
 * unified_prep_dsm_deallocate() - Dataset Management (deallocate) of @nr
 * ranges (1..256) that the caller wrote as 16-byte NVMe range entries into
 * the buffer at @buf_offset.  Return 0, or -EINVAL for an @nr of 0 or over
 * 256 (the entry is then marked to fail).
 */
UNIFIED_INLINE int unified_prep_dsm_deallocate(struct io_unified_sqe *sqe, uint32_t nsid,
					       uint32_t nr, uint64_t buf_offset,
					       uint64_t user_data)
{
	unified_prep_nvme(sqe, IO_UNIFIED_NVME_CMD_DSM, nsid, buf_offset, nr * 16u, user_data);
	sqe->nvme_cmd.cdw11 = 1u << 2;	/* AD: attribute deallocate */
	if (nr == 0 || nr > 256)
		return unified_prep_refuse(sqe);
	sqe->nvme_cmd.cdw10 = nr - 1;
	return 0;
}

/** unified_prep_identify() - admin Identify with @cns into a 4 KiB buffer. */
UNIFIED_INLINE void unified_prep_identify(struct io_unified_sqe *sqe, uint8_t cns, uint32_t nsid,
					  uint64_t buf_offset, uint64_t user_data)
{
	unified_prep_nvme(sqe, IO_UNIFIED_NVME_ADMIN_IDENTIFY, nsid, buf_offset, 4096, user_data);
	sqe->nvme_cmd.cdw10 = cns;
	sqe->flags = IO_UNIFIED_SQE_F_ADMIN;
}

/* DSM range entry as it is laid out in the data buffer. */
struct unified_dsm_range {
	uint32_t cattr;
	uint32_t nlb;		/* number of blocks, counted from 1 */
	uint64_t slba;
};

/* ------------------------------------------------------------------------
 * Registration and engine.
 */

struct unified_ctx;

/* Engine modes. */
enum unified_engine_mode {
	UNIFIED_MODE_KICK = 0,	/* the application drives the engine (unified_kick/enter) */
	UNIFIED_MODE_THREAD = 1, /* an engine thread polls the SQ, sleeps with NEED_WAKEUP */
};

/* unified_opts.flags */
#define UNIFIED_OPT_USER_ENGINE	(1u << 0)	/* never probe or use the kernel engine */
#define UNIFIED_OPT_IOPOLL	(1u << 1)	/* NVMe target: IOPOLL ring (if poll queues exist) */
/* File target: create the file, or grow an existing one.  An existing path
 * must then be a regular file owned by the caller with one link, not a
 * symbolic link, and owner-writable (else -EPERM / -ELOOP / -EACCES). */
#define UNIFIED_OPT_CREATE	(1u << 2)
/* Admin commands that can destroy data or change the controller (Format
 * NVM, Sanitize, namespace management, firmware, Security Send, vendor
 * admin opcodes...) and admin commands on other namespaces.  Without it
 * they complete with Access Denied (docs/security.md). */
#define UNIFIED_OPT_ADMIN_DESTRUCTIVE (1u << 3)
#define UNIFIED_OPT_MASK	(UNIFIED_OPT_USER_ENGINE | UNIFIED_OPT_IOPOLL | UNIFIED_OPT_CREATE | \
				 UNIFIED_OPT_ADMIN_DESTRUCTIVE)

/* Library-level options for unified_register(); NULL means all defaults. */
struct unified_opts {
	uint32_t mode;		/* enum unified_engine_mode */
	uint32_t flags;		/* UNIFIED_OPT_* */
	uint32_t lba_size;	/* file target: LBA size (512 or 4096); 0 = 4096 */
	uint32_t idle_spin_us;	/* thread mode: the engine thread busy-polls this
				 * long before sleeping; 0 = 50, or on machines with
				 * two CPUs or fewer 10 with nothing in flight and 2
				 * with I/O in flight; at most 1000000 (1 s) */
	uint64_t file_size;	/* file target with CREATE: size in bytes; 0 = 1 GiB */
	const char *ctrl_path;	/* NVMe: controller node for admin; NULL = derive from ng path */
	uint32_t drain_timeout_ms; /* bound of unified_drain()/unified_unregister();
				    * 0 = 30000 (30 s) */
	uint32_t enter_spin_us;	/* thread mode: unified_enter() polls the CQ at most
				 * this long while the engine thread is awake, before
				 * it sleeps; 0 = 50; at most 1000000 (1 s) */
	uint64_t __resv[3];	/* must be zero */
};

/* What the registered target is. */
enum unified_target_kind {
	UNIFIED_TARGET_FILE = 1,
	UNIFIED_TARGET_BLOCK = 2,
	UNIFIED_TARGET_NVME = 3,
};

/* Geometry and identity of the registered target. */
struct unified_target_info {
	uint32_t kind;		/* enum unified_target_kind */
	uint32_t nsid;		/* namespace id to put in I/O commands */
	uint32_t lba_size;	/* bytes */
	uint32_t lba_shift;
	uint64_t nlba;		/* capacity in logical blocks */
	uint32_t max_xfer;	/* largest data transfer in bytes (MDTS) */
	uint32_t iopoll;	/* 1 if I/O completions are polled */
	char path[256];		/* the target path that was opened */
	char engine[16];	/* "user" or "kernel" (unified_register(): which serves it) */
};

/* Counters of one context. */
struct unified_stats {
	uint64_t sqes;		/* SQEs consumed */
	uint64_t cqes;		/* CQEs produced */
	uint64_t errors;	/* CQEs with a non-zero status */
	uint64_t aborted;	/* CQEs completed by teardown with ABORT_REQUESTED */
	uint64_t kicks;		/* engine passes run by unified_kick/enter */
	uint64_t sleeps;	/* times the engine thread slept */
	uint64_t ring_errors;	/* producer/consumer indices found corrupt */
};

/**
 * unified_register() - create the region and attach an engine to a target.
 * @reg:  geometry in (sq/cq entries, buffers); offsets out.  reg->region_ptr
 *        points to a struct io_unified_region_desc that says how to back the
 *        region (anonymous, 2 MiB huge pages, NUMA node, caller memory); its
 *        user_addr and size are filled in.  reg->nvme_dev_path names the
 *        target: /dev/ngXnY (NVMe passthrough), a block device or a regular
 *        file (NVMe emulated); 0 selects the embedded default, a sparse file
 *        named by unified_default_path().
 * @opts: library options or NULL.
 * @ctxp: receives the context.
 *
 * Engine: on a kernel with IORING_REGISTER_UNIFIED_IFQ the kernel serves
 * the rings (unified_kick() is one io_uring_enter(IORING_ENTER_UNIFIED))
 * unless UNIFIED_OPT_USER_ENGINE is set, for an NVMe generic node in kick
 * mode without IOPOLL, network rings, ADMIN_DESTRUCTIVE or ctrl_path and a
 * data area under 4 GiB, if the kernel accepts (CAP_SYS_ADMIN); otherwise
 * the library's engine does.  unified_target_info() says which
 * (unified_register(3), docs/unified-nvme-interface.rst).
 *
 * Nothing is left behind on failure: a target file the call created (or
 * grew) is removed (or shrunk back), caller memory is not written, and
 * *reg and the region descriptor are restored.  The default namespace
 * lives in a private per-user directory (see unified_default_path()).
 * The context belongs to the calling process (see the conventions above).
 *
 * Return: 0, or -EINVAL (bad geometry, reserved field or flag, NUMA with
 * USER memory, idle_spin_us over 1 s, an empty nvme_dev_path, an LBA size
 * below the file system's direct-I/O alignment), -ENOMEM (memory, or no
 * huge pages reserved), -ENOBUFS (USER memory smaller than the layout),
 * -EFAULT (USER memory not all mapped readable and writable),
 * -ENOENT/-EACCES/-EISDIR (target; -EACCES also for NVMe passthrough
 * without CAP_SYS_ADMIN on 6.1, and UNIFIED_OPT_CREATE on a file its owner
 * cannot write), -EPERM/-ELOOP (UNIFIED_OPT_CREATE on a file that is not the
 * caller's, has several links, or is a symbolic link; a default-namespace
 * directory that is not private), -ENODEV (NUMA node or device kind),
 * -EOPNOTSUPP (target cannot do it, e.g. an NVMe namespace with metadata;
 * or UNIFIED_REQUIRE_KERNEL_ENGINE=1 in the environment and the kernel
 * engine will not serve this registration), -EMFILE (out of descriptors),
 * -ENAMETOOLONG (a target path of 256 bytes or more), -EBUSY (the target
 * file is locked exclusively by another open), -EAGAIN (the target file
 * kept being replaced while it was opened), -EPROTO (the kernel engine laid
 * the region out differently: a library/kernel ABI mismatch), or the
 * -errno of io_uring_setup(2) / io_uring_register(2) (e.g. -ENOMEM for
 * RLIMIT_MEMLOCK) as the kernel returned it.
 */
int unified_register(struct io_unified_reg *reg, const struct unified_opts *opts,
		     struct unified_ctx **ctxp);

/**
 * unified_unregister() - stop the engine and free everything.  It first
 * drains like unified_drain(): SQEs still queued complete with
 * ABORT_REQUESTED and in-flight commands are waited for, at most
 * unified_opts.drain_timeout_ms (cancelled through io_uring at half of it).
 * Callers that want to read those last CQEs call unified_drain() first,
 * consume the CQ, then unregister.  In a child of fork() it only releases
 * the child's copies and returns 0 (the parent's I/O is untouched).
 * Return: 0; -ETIMEDOUT if commands were still in flight at the bound (the
 * context is freed, scratch memory they may write is kept, and the device
 * may still write the data area until they end); or the first -errno the
 * engine met.  The context is freed in every case.
 */
int unified_unregister(struct unified_ctx *ctx);

/**
 * unified_drain() - stop accepting SQEs: every queued SQE completes with
 * ABORT_REQUESTED, in-flight ones complete normally.  Waits until nothing
 * is in flight, at most unified_opts.drain_timeout_ms (default 30 s).  The
 * CQ must have room (the engine reserves it), so drain never loses an entry.
 * Thread mode ends: the context is in kick mode afterwards.
 * Return: number of SQEs aborted; -ETIMEDOUT with commands still in flight
 * (NVMe passthrough cannot be cancelled; they complete later and may be
 * drained again); -EPERM in a child of fork(); -EINVAL for NULL.
 */
int unified_drain(struct unified_ctx *ctx);

/**
 * unified_region_layout() - compute the region layout without registering.
 * @reg:  geometry in, exactly as for unified_register() (sq_entries,
 *        cq_entries, buffer_entries, buffer_entry_size, flags, net_ptr;
 *        region_ptr and nvme_dev_path are not read).  On success
 *        reg->offsets and reg->cq_entries (0 = the default, twice the SQ)
 *        are filled in, and with net_ptr the network ring offsets of the
 *        struct io_unified_net_reg it points to; nothing is written on
 *        failure.
 * @size: receives the region size in bytes: offsets.buffers plus the data
 *        area (plus the network rings), the least a caller must provide
 *        with IO_UNIFIED_REGION_USER (whose address must be 4 KiB aligned).
 *
 * The layout is the one unified_register() uses for the same geometry:
 * the buffer area starts at reg->offsets.buffers, 4 KiB aligned, and
 * aligned to buffer_entry_size when that is larger.  Use it to size
 * caller memory (IO_UNIFIED_REGION_USER) or to learn where the buffers
 * will be before the target exists (the fio ioengine does).  No system
 * call, no allocation.
 *
 * Return: 0, or -EINVAL (NULL argument, a geometry or reserved field that
 * unified_register() would refuse with -EINVAL).  unified_errmsg() says
 * which.  Since LIBUNIFIED_0.3.
 */
int unified_region_layout(struct io_unified_reg *reg, uint64_t *size);

/** unified_region() - base address of the region mapping. */
void *unified_region(const struct unified_ctx *ctx);

/** unified_region_size() - size in bytes of the region mapping. */
size_t unified_region_size(const struct unified_ctx *ctx);

/** unified_buffers() - base address of the data buffer area. */
void *unified_buffers(const struct unified_ctx *ctx);

/** unified_sq_init() - fill @sq with the application's view of the SQ. */
int unified_sq_init(struct unified_ctx *ctx, struct unified_sq *sq);

/** unified_cq_init() - fill @cq with the application's view of the CQ. */
int unified_cq_init(struct unified_ctx *ctx, struct unified_cq *cq);

/**
 * unified_kick() - tell the engine that new SQEs are there (AF_XDP's
 * sendto()).  Kick mode: runs one engine pass in the caller: issues queued
 * SQEs, publishes finished completions, does not wait for I/O (one
 * exception: admin commands of an IOPOLL context run synchronously, see
 * docs/interface.md).  Thread mode: wakes the engine thread if it sleeps;
 * call it also after releasing CQEs from a full CQ, since the engine
 * thread re-checks a full CQ only every millisecond on its own).
 * Return: 0 or -errno: -EBADMSG if the SQ producer index is corrupt
 * (nothing is consumed until it is sane again); an error the engine met
 * submitting to io_uring since the last call (e.g. -EIO, reported once);
 * -EPERM in a child of fork(); -EINVAL for NULL.
 */
int unified_kick(struct unified_ctx *ctx);

/**
 * unified_enter() - kick, then wait until at least @min_complete CQEs are
 * ready in the CQ or @timeout_ms passes (-1 = forever).  In kick mode it
 * returns early, with fewer, when nothing is in flight or queued (waiting
 * could never end).  Return: number of CQEs ready (at most the CQ size),
 * -ETIME on timeout, -EINTR when a signal interrupted the wait (as
 * io_uring_enter(2)), or an error as for unified_kick().
 */
int unified_enter(struct unified_ctx *ctx, uint32_t min_complete, int timeout_ms);

/** unified_target_info() - geometry of the registered target. */
int unified_target_info(const struct unified_ctx *ctx, struct unified_target_info *info);

/** unified_get_stats() - copy the context's counters into @st. */
int unified_get_stats(const struct unified_ctx *ctx, struct unified_stats *st);

/**
 * unified_buf_alloc() - take one free data buffer; its offset in the buffer
 * area goes to *@off.  Return 0, or -ENOBUFS when all are in use.
 */
int unified_buf_alloc(struct unified_ctx *ctx, uint64_t *off);

/**
 * unified_buf_free() - return the buffer at @off.  Return 0, or -EINVAL if
 * @off is not the start of a buffer, -EALREADY if it is already free.
 */
int unified_buf_free(struct unified_ctx *ctx, uint64_t off);

/** unified_buf_ptr() - pointer to @off in the buffer area; NULL if @off is out
 * of range, @ctx is NULL or belongs to another process (after fork). */
void *unified_buf_ptr(const struct unified_ctx *ctx, uint64_t off);

/**
 * unified_buf_off() - buffer-area offset of @ptr.  Return 0 with *@off set,
 * or -EFAULT if @ptr is outside the buffer area.
 */
int unified_buf_off(const struct unified_ctx *ctx, const void *ptr, uint64_t *off);

/** unified_buf_count() - number of buffers currently free. */
uint32_t unified_buf_count(const struct unified_ctx *ctx);

/**
 * unified_errmsg() - human-readable reason for the calling thread's last
 * libunified failure ("" if none).
 */
const char *unified_errmsg(void);

/**
 * unified_status_str() - short name of an NVMe status field value, such as
 * "LBA Out of Range" (never NULL).
 */
const char *unified_status_str(uint16_t status);

/**
 * unified_default_path() - path of the embedded default namespace file:
 * $UNIFIED_DEFAULT_FILE if set, else "unified-<euid>/default.img" in $TMPDIR
 * (or /var/tmp); the environment is read with secure_getenv().  The
 * directory is created 0700 at registration and must be private to the
 * caller.  Writes at most @len bytes.  Return 0, -EINVAL (NULL or 0 @len)
 * or -ENAMETOOLONG.
 */
int unified_default_path(char *buf, size_t len);

/**
 * unified_kernel_engine_available() - 1 if the running kernel implements
 * IORING_REGISTER_UNIFIED_IFQ (it answers the IO_UNIFIED_REG_F_PROBE call
 * with IO_UNIFIED_ABI_VERSION), 0 if not (any other answer), -errno if
 * io_uring itself is unusable.
 */
int unified_kernel_engine_available(void);

/** unified_version() - library version string, such as "0.1.0". */
const char *unified_version(void);

/* ------------------------------------------------------------------------
 * The network rings (ABI 2; docs/network.md).  Registered with reg.net_ptr
 * pointing to a struct io_unified_net_reg.  The application produces FILL
 * and TX and consumes RX and COMPLETION, with the same helpers' rules as
 * the NVMe rings (reserve, fill, submit; peek, read, release).  The library
 * serves them in its engine passes: in kick mode during unified_kick() and
 * unified_enter(), in thread mode on the engine thread (call unified_kick()
 * after producing FILL or TX entries, as after SQEs).  With the network
 * rings, unified_enter() also returns as soon as RX or COMPLETION entries
 * are waiting, and waits for network events when no NVMe command is in
 * flight.
 */

/* The application's views of the four rings. */
struct unified_net_rings {
	struct unified_ring_view fill;	/* we produce: __u64 buffer offsets */
	struct unified_ring_view rx;	/* we consume: struct io_unified_net_desc */
	struct unified_ring_view tx;	/* we produce: struct io_unified_net_desc */
	struct unified_ring_view comp;	/* we consume: struct io_unified_net_comp */
};

/* Network counters (unified_net_get_stats()). */
struct unified_net_stats {
	uint64_t rx_bytes;	/* bytes announced on RX */
	uint64_t tx_bytes;	/* bytes sent */
	uint64_t tx_zc_bytes;	/* of those handed to IORING_OP_SEND_ZC (TCP sends >= 16 KiB) */
	uint64_t accepted;	/* connections accepted */
	uint64_t udp_dropped;	/* datagrams the open UDP sockets' queues dropped */
	uint64_t fill_refused;	/* FILL entries refused (RX error entries) */
	uint64_t tx_refused;	/* TX entries refused (COMPLETION errors) */
	uint64_t copied_bytes;	/* payload bytes the library copied: always 0 */
	uint32_t conns;		/* open connections and listeners */
	uint32_t fill_buffers;	/* FILL buffers not yet given to a connection */
	const char *provider;	/* "io_uring sockets" */
	const char *tcp_receive;	/* how TCP receives: incremental buffer rings (6.12+) or plain */
};

/**
 * unified_net_listen() - open a listening TCP socket (@type SOCK_STREAM) or
 * a bound UDP socket (SOCK_DGRAM) on @sa (AF_INET or AF_INET6, @len its
 * size; SO_REUSEADDR is set) with @user_data, which every RX entry of the
 * socket and, for TCP, of each accepted connection carries.  Its id goes to
 * *@conn.  Accepted connections are announced by RX entries with
 * IO_UNIFIED_NET_RX_NEW_CONN.  Return 0, -EINVAL (no network rings, NULL
 * arguments, another @type), -EAFNOSUPPORT, -EMFILE (max_conns open), or
 * the errno of socket(2), bind(2) or listen(2).
 */
int unified_net_listen(struct unified_ctx *ctx, int type, const struct sockaddr *sa, socklen_t len,
		       uint64_t user_data, uint32_t *conn);

/**
 * unified_net_connect() - connect a TCP (SOCK_STREAM) or UDP (SOCK_DGRAM)
 * socket to @sa; it receives like an accepted connection and TX entries
 * send on it.  connect(2) runs in the calling thread.  Return as
 * unified_net_listen(), with connect(2)'s errno.
 */
int unified_net_connect(struct unified_ctx *ctx, int type, const struct sockaddr *sa,
			socklen_t len, uint64_t user_data, uint32_t *conn);

/**
 * unified_net_close() - close connection or listener @conn: no new
 * operations, the ones in flight end, then one last RX entry with
 * IO_UNIFIED_NET_RX_CLOSED (returning a held buffer).  A send still waiting
 * for the peer to make room is cancelled (its COMPLETION entry carries
 * -ECANCELED, or the bytes sent); if only a zero-copy send's notification
 * is left, the socket is reset (RST), dropping what the kernel still held,
 * so that a peer that never reads cannot keep the buffer.  The id stays
 * reserved until that entry is published.  Return 0, or -EBADF for an id
 * that is not open.
 */
int unified_net_close(struct unified_ctx *ctx, uint32_t conn);

/** unified_net_local_addr() - getsockname(2) of @conn.  Return 0, -EBADF (no such
 * connection, or one without a socket: an AF_XDP binding), -EINVAL (NULL
 * @ctx, @sa or @len), -EPERM (another process's context), or getsockname's
 * -errno. */
int unified_net_local_addr(struct unified_ctx *ctx, uint32_t conn, struct sockaddr *sa,
			   socklen_t *len);

/**
 * unified_net_zcrx_probe() - can receive queue @rxq of interface @ifname
 * (in the caller's network namespace) do io_uring zero-copy receive into
 * memory like the data area?  Asks the kernel with a real
 * IORING_REGISTER_ZCRX_IFQ (Linux 6.15+) over a small area of the probe's
 * own (never the data area, which the NIC could then write into), then
 * undoes it.
 * Return -ENODEV (no such interface), -EPERM (needs CAP_NET_ADMIN),
 * -EOPNOTSUPP (the kernel or the driver cannot, or can but the library's
 * zcrx receive path is not written yet: the io_uring socket provider
 * receives), -EINVAL (no network rings, or the kernel found the request
 * malformed); unified_errmsg() says which in one line.  Never 0 for now.
 */
int unified_net_zcrx_probe(struct unified_ctx *ctx, const char *ifname, uint32_t rxq);

/**
 * unified_net_xdp_bind() - receive the UDP datagrams to @udp_port arriving
 * on queue @queue of @ifname through AF_XDP: an XDP program (embedded in
 * the library, attached natively where the driver can, else generically)
 * sends them to an AF_XDP socket whose UMEM is the data area, and every
 * other packet to the kernel.  Frames are buffers: register with
 * buffer_entry_size 4096.  FILL buffers become the socket's frames; each
 * datagram is one RX entry (@conn, the sender in peer_*) whose addr points
 * at the UDP payload inside its buffer, which it returns.  Payloads are at
 * most 3798 bytes at MTU 1500..9000 with this frame size.  Zero-copy is
 * asked for first; unified_net_xdp_mode() says what was granted.  One per
 * context.  Return 0; -EINVAL (no network rings, buffer size, NULL @ifname
 * or @conn, @udp_port 0), -ENODEV, -EBUSY (already bound), -EPERM (needs
 * CAP_NET_ADMIN, CAP_BPF; or another process's context), -ENOMEM,
 * -EMFILE (out of descriptors), -EIO (the XDP program's port map could not
 * be written), -EOPNOTSUPP (built without libxdp), or libxdp's -errno.
 */
int unified_net_xdp_bind(struct unified_ctx *ctx, const char *ifname, uint32_t queue,
			 uint16_t udp_port, uint64_t user_data, uint32_t *conn);

/** unified_net_xdp_mode() - one line on the AF_XDP socket (zero-copy or
 * copy mode, native or generic XDP), or NULL if there is none. */
const char *unified_net_xdp_mode(const struct unified_ctx *ctx);

/** unified_net_rings_init() - views of the four network rings.  Return 0 or -EINVAL. */
int unified_net_rings_init(struct unified_ctx *ctx, struct unified_net_rings *r);

/** unified_net_get_stats() - copy the network counters.  Return 0 or -EINVAL. */
int unified_net_get_stats(const struct unified_ctx *ctx, struct unified_net_stats *st);

/* Generic ring helpers for the network rings (same rules as the SQ/CQ ones). */

/** unified_ring_reserve() - producer: @nb consecutive slots or 0 (all or nothing). */
UNIFIED_INLINE uint32_t unified_ring_reserve(struct unified_ring_view *r, uint32_t nb, uint32_t *idx)
{
	uint32_t free_entries = r->cached_cons - r->cached_prod;

	if (free_entries < nb || free_entries > r->size) {
		r->cached_cons = unified_load_acquire(r->consumer) + r->size;
		free_entries = r->cached_cons - r->cached_prod;
		if (free_entries > r->size) {
			r->cached_cons = r->cached_prod;
			return 0;
		}
	}
	if (free_entries < nb)
		return 0;
	*idx = r->cached_prod;
	r->cached_prod += nb;
	return nb;
}

/** unified_ring_submit() - producer: publish @nb reserved and written slots. */
UNIFIED_INLINE void unified_ring_submit(struct unified_ring_view *r, uint32_t nb)
{
	unified_store_release(r->producer, *r->producer + nb);
}

/** unified_ring_peek() - consumer: up to @nb entries ready, first index in *@idx. */
UNIFIED_INLINE uint32_t unified_ring_peek(struct unified_ring_view *r, uint32_t nb, uint32_t *idx)
{
	uint32_t entries = r->cached_prod - r->cached_cons;

	if (entries == 0 || entries > r->size) {
		r->cached_prod = unified_load_acquire(r->producer);
		entries = r->cached_prod - r->cached_cons;
		if (entries > r->size) {
			r->cached_prod = r->cached_cons;
			return 0;
		}
	}
	if (entries > nb)
		entries = nb;
	if (entries) {
		*idx = r->cached_cons;
		r->cached_cons += entries;
	}
	return entries;
}

/** unified_ring_release() - consumer: hand @nb peeked entries back. */
UNIFIED_INLINE void unified_ring_release(struct unified_ring_view *r, uint32_t nb)
{
	unified_store_release(r->consumer, *r->consumer + nb);
}

/** unified_fill_addr() - the FILL slot at @idx. */
UNIFIED_INLINE uint64_t *unified_fill_addr(struct unified_ring_view *r, uint32_t idx)
{
	return &((uint64_t *)r->entries)[idx & r->mask];
}

/** unified_net_desc() - the RX or TX descriptor at @idx. */
UNIFIED_INLINE struct io_unified_net_desc *unified_net_desc(struct unified_ring_view *r, uint32_t idx)
{
	return &((struct io_unified_net_desc *)r->entries)[idx & r->mask];
}

/**
 * unified_net_buffer_of() - the buffer-area offset of the buffer holding
 * @addr (an RX entry's addr), given the registration's @buffer_entry_size
 * (a power of two).  With TCP a returned buffer's bytes start there.
 */
UNIFIED_INLINE uint64_t unified_net_buffer_of(uint64_t addr, uint32_t buffer_entry_size)
{
	return addr & ~(uint64_t)(buffer_entry_size - 1);
}

/**
 * unified_prep_write_rx() - network to NVMe: a Write of the first @bytes
 * of the received buffer at @buf_off (from unified_net_buffer_of()) to
 * @slba, rounded up to whole logical blocks of 1 << @lba_shift bytes (the
 * tail of the last block is whatever the buffer holds past @bytes).  The
 * device reads the very memory the socket wrote: no copy.  Give the buffer
 * back to FILL when the CQE arrives (put @buf_off in @user_data).  Return
 * 0, or -EINVAL (the SQE then fails) for 0 bytes, more than 65536 blocks,
 * a rounded length that does not fit the SQE's 32-bit len, or an
 * @lba_shift outside 9..16 (NVMe LBA sizes of 512 B to 64 KiB).
 */
UNIFIED_INLINE int unified_prep_write_rx(struct io_unified_sqe *sqe, uint32_t nsid, uint64_t slba,
					 uint64_t buf_off, uint32_t bytes, uint32_t lba_shift,
					 uint64_t user_data)
{
	uint64_t nlb, len;

	if (lba_shift < 9 || lba_shift > 16) {
		unified_prep_nvme(sqe, IO_UNIFIED_NVME_CMD_WRITE, nsid, buf_off, 0, user_data);
		return unified_prep_refuse(sqe);
	}
	nlb = ((uint64_t)bytes + (1u << lba_shift) - 1) >> lba_shift;
	len = nlb << lba_shift;
	if (len > UINT32_MAX) {
		unified_prep_nvme(sqe, IO_UNIFIED_NVME_CMD_WRITE, nsid, buf_off, 0, user_data);
		return unified_prep_refuse(sqe);
	}
	return unified_prep_write(sqe, nsid, slba, (uint32_t)nlb, buf_off, (uint32_t)len, user_data);
}

/** unified_comp_entry() - the COMPLETION entry at @idx. */
UNIFIED_INLINE const struct io_unified_net_comp *unified_comp_entry(struct unified_ring_view *r,
								    uint32_t idx)
{
	return &((const struct io_unified_net_comp *)r->entries)[idx & r->mask];
}

#ifdef __cplusplus
}
#endif
#endif /* LIBUNIFIED_H */
