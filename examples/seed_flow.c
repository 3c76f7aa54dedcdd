/* SPDX-License-Identifier: MIT */
/*
 * The original design's usage flow, step for step: register the unified
 * interface, map the rings from reg.offsets, submit an NVMe command by
 * writing an SQE and bumping the producer, and process the completion.
 *
 *   seed_flow [TARGET]   TARGET: /dev/ngXnY, a block device or a file;
 *                        default: the embedded file-backed namespace.
 *
 * It writes a pattern to LBA 0..7 of the namespace, reads it back into
 * another buffer and compares: exit 0 only if the data round-trips.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "libunified.h"

/*
 * The seed's smp_wmb()/smp_rmb() and index updates, written as the C11
 * atomics they stand for: the producer index is store-released after the
 * SQE is written, the other side's index is load-acquired before entries
 * are read, and the consumer index is store-released after the CQE was
 * read (so the engine may reuse the slot).  Plain "ring->producer++" would
 * be a data race with the engine thread.
 */
#define ring_load_acquire(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ring_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)

static void process_data(const void *data, uint32_t len)
{
	printf("completion: %u bytes, first byte 0x%02x\n", len, *(const uint8_t *)data);
}

static int submit_and_complete(struct unified_ctx *ctx, struct io_unified_ring *sq_ring,
			       struct io_unified_ring *cq_ring, struct io_unified_sqe *sq_entries,
			       struct io_unified_cqe *cq_entries, void *buffers, uint8_t opcode,
			       uint32_t nsid, uint32_t nlb, uint32_t lba_size, uint64_t buffer_offset,
			       uint64_t correlation_id)
{
	/* 3. Submit an NVMe command. */
	uint32_t prod = __atomic_load_n(&sq_ring->producer, __ATOMIC_RELAXED);	/* ours */
	struct io_unified_sqe *sqe = &sq_entries[prod & sq_ring->ring_mask];

	memset(sqe, 0, sizeof(*sqe));
	sqe->nvme_cmd.opcode = opcode;
	sqe->nvme_cmd.nsid = nsid;
	sqe->nvme_cmd.cdw10 = 0;		/* starting LBA, low 32 bits */
	sqe->nvme_cmd.cdw12 = nlb - 1;		/* number of blocks, 0-based */
	sqe->nvme_cmd.addr = (uintptr_t)((char *)buffers + buffer_offset); /* advisory only */
	sqe->buf_offset = buffer_offset;
	sqe->len = nlb * lba_size;
	sqe->user_data = correlation_id;

	ring_store_release(&sq_ring->producer, prod + 1);	/* SQE contents before the index */
	unified_kick(ctx);	/* like AF_XDP's sendto(): tell the engine */

	/* 4. Process the completion. */
	if (unified_enter(ctx, 1, 5000) < 1) {
		fprintf(stderr, "no completion within 5 s\n");
		return -1;
	}
	uint32_t cons = __atomic_load_n(&cq_ring->consumer, __ATOMIC_RELAXED);	/* ours */

	if (ring_load_acquire(&cq_ring->producer) != cons) {	/* index before the CQE */
		struct io_unified_cqe *cqe = &cq_entries[cons & cq_ring->ring_mask];

		if (cqe->user_data != correlation_id) {
			fprintf(stderr, "unexpected user_data %llu\n", (unsigned long long)cqe->user_data);
			return -1;
		}
		if (cqe->status == 0) {
			/* Success: the data is in the buffer. */
			process_data((char *)buffers + cqe->dma_addr, cqe->len);
		} else {
			fprintf(stderr, "NVMe status 0x%x (%s)\n", cqe->status,
				unified_status_str(cqe->status));
			ring_store_release(&cq_ring->consumer, cons + 1);
			return -1;
		}
		ring_store_release(&cq_ring->consumer, cons + 1);	/* done reading the CQE */
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct io_unified_region_desc region_desc = { 0 };
	struct unified_target_info info;
	struct unified_ctx *ctx;
	uint32_t nlb;
	int ret, rc = 1;

	/* 1. Register the unified interface. */
	struct io_unified_reg reg = {
		.region_ptr = (uintptr_t)&region_desc,
		.nvme_dev_path = (uintptr_t)(argc > 1 ? argv[1] : NULL),
		.sq_entries = 256,
		.cq_entries = 256,
		.buffer_entries = 1024,
		.buffer_entry_size = 4096,
	};

	ret = unified_register(&reg, NULL, &ctx);
	if (ret) {
		fprintf(stderr, "unified_register: %s (%s)\n", strerror(-ret), unified_errmsg());
		return 1;
	}
	unified_target_info(ctx, &info);
	printf("target %s: %llu LBAs of %u bytes, nsid %u, engine %s\n", info.path,
	       (unsigned long long)info.nlba, info.lba_size, info.nsid, info.engine);

	/* 2. Map the ring structures. */
	char *region = (char *)(uintptr_t)region_desc.user_addr;
	struct io_unified_ring *sq_ring = (void *)(region + reg.offsets.sq_ring);
	struct io_unified_ring *cq_ring = (void *)(region + reg.offsets.cq_ring);
	struct io_unified_sqe *sq_entries = (void *)(region + reg.offsets.sq_entries);
	struct io_unified_cqe *cq_entries = (void *)(region + reg.offsets.cq_entries);
	void *buffers = region + reg.offsets.buffers;

	/* Write 32 KiB of pattern from buffers 0.., read it back into buffers 16.. */
	nlb = 32768 / info.lba_size;
	for (uint32_t i = 0; i < 32768; i++)
		((uint8_t *)buffers)[i] = (uint8_t)(i * 7 + 3);
	memset((char *)buffers + 16 * 4096, 0, 32768);
	if (submit_and_complete(ctx, sq_ring, cq_ring, sq_entries, cq_entries, buffers,
				NVME_CMD_WRITE, info.nsid, nlb, info.lba_size, 0, 1))
		goto out;
	if (submit_and_complete(ctx, sq_ring, cq_ring, sq_entries, cq_entries, buffers,
				NVME_CMD_READ, info.nsid, nlb, info.lba_size, 16 * 4096, 2))
		goto out;
	if (memcmp(buffers, (char *)buffers + 16 * 4096, 32768)) {
		fprintf(stderr, "data read back differs from data written\n");
		goto out;
	}
	printf("seed flow OK: 32 KiB written and read back identical\n");
	rc = 0;
out:
	unified_unregister(ctx);
	return rc;
}
