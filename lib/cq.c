/* SPDX-License-Identifier: MIT */
/*
 * CQ publication.  CQEs are written into the ring past the published
 * producer and made visible with one store-release per pass.  A finished
 * command whose CQ slot is not free yet (the application has not released
 * CQEs) waits in a private FIFO; no completion is ever dropped.
 */
#include "internal.h"

/*
 * Free CQ slots as the engine sees them; 0 if the consumer index is corrupt.
 * The application's consumer index is re-read only when the cached view
 * shows no more than @need free slots (AF_XDP's xskq_prod_nb_free() way).
 */
uint32_t unified_cq_free(struct unified_engine *e, uint32_t need)
{
	uint32_t used = e->cq.cached_prod - e->cq.cached_cons;

	if (used > e->cq.size || e->cq.size - used <= need) {
		/* Acquire pairs with the application's release of the consumer:
		 * it has finished reading the CQEs we are about to overwrite. */
		uint32_t cons = unified_load_acquire(e->cq.consumer);

		used = e->cq.cached_prod - cons;
		if (used > e->cq.size) {
			/* The consumer moved backwards or jumped: do not trust it. */
			STAT_ADD(e->stats.ring_errors, 1);
			return 0;
		}
		e->cq.cached_cons = cons;
	}
	return e->cq.size - used;
}

static void cq_write(struct unified_engine *e, const struct unified_cmd *cmd)
{
	struct io_unified_cqe *cqe = &e->cqes[e->cq.cached_prod & e->cq.mask];

	cqe->user_data = cmd->user_data;
	cqe->result = cmd->result;
	cqe->dma_addr = cmd->buf_offset;
	cqe->len = cmd->status ? 0 : cmd->len;
	cqe->status = cmd->status;
	cqe->flags = cmd->cqe_flags;
	cqe->res = cmd->res;
	cqe->__resv0 = 0;
	cqe->__resv[0] = cqe->__resv[1] = cqe->__resv[2] = 0;
	e->cq.cached_prod++;
	e->cq_unpublished++;
	STAT_ADD(e->stats.cqes, 1);
	if (cmd->status)
		STAT_ADD(e->stats.errors, 1);
}

static void cmd_release(struct unified_engine *e, struct unified_cmd *cmd)
{
	if (cmd->tgt_slot >= 0) {	/* the target holds something for it */
		e->tgt.ops->release(&e->tgt, cmd);
		cmd->tgt_slot = -1;
	}
	cmd->next_free = e->free_head;
	e->free_head = (uint32_t)(cmd - e->cmds);
	e->inflight--;
}

/* Write the CQE for a finished command, or queue it until the CQ has room. */
void unified_cmd_finish(struct unified_engine *e, struct unified_cmd *cmd)
{
	if (cmd->net_held)
		unified_net_nvme_put(e, cmd);	/* the device is done with the buffers */
	if (!e->done_count && unified_cq_free(e, 0)) {
		cq_write(e, cmd);
		cmd_release(e, cmd);
		return;
	}
	e->done[(e->done_head + e->done_count) % e->ncmds] = (uint32_t)(cmd - e->cmds);
	e->done_count++;
}

void unified_cq_flush_done(struct unified_engine *e)
{
	while (e->done_count && unified_cq_free(e, 0)) {
		struct unified_cmd *cmd = &e->cmds[e->done[e->done_head]];

		e->done_head = (e->done_head + 1) % e->ncmds;
		e->done_count--;
		cq_write(e, cmd);
		cmd_release(e, cmd);
	}
	if (e->done_count)
		e->cq_blocked = true;
}

/* Make the written CQEs visible; true if there were any (the caller then
 * wakes a waiting application, once per pass: unified_app_wake()). */
bool unified_cq_publish(struct unified_engine *e)
{
	if (!e->cq_unpublished)
		return false;
	e->cq_unpublished = 0;
	/* Release: CQE contents are visible before the new producer index;
	 * pairs with the application's load-acquire in unified_cq_peek(). */
	unified_store_release(e->cq.producer, e->cq.cached_prod);
	return true;
}
