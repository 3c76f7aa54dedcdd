/* SPDX-License-Identifier: MIT */
/*
 * SQ consumption.  Each SQE is copied once out of shared memory into a
 * private snapshot before any field is looked at, so a hostile writer
 * cannot change it between checks and use (no double fetch).  An SQE is
 * only taken when a command slot and a CQ slot for its completion are
 * free: entries in always equal completions out.
 */
#include <string.h>
#include "internal.h"

#define NO_CMD UINT32_MAX

/* Entries ready in the SQ, or -EBADMSG if the producer index is corrupt. */
int unified_sq_ready(struct unified_engine *e)
{
	uint32_t prod, n;

	if (e->sq.cached_prod != e->sq.cached_cons)
		return (int)(e->sq.cached_prod - e->sq.cached_cons);
	/* Acquire pairs with the application's store-release in
	 * unified_sq_submit(): the SQE contents are visible once it is. */
	prod = unified_load_acquire(e->sq.producer);
	n = prod - e->sq.cached_cons;
	if (n > e->sq.size) {
		/* Moved backwards or by more than the ring holds: refuse it. */
		STAT_ADD(e->stats.ring_errors, 1);
		return -EBADMSG;
	}
	e->sq.cached_prod = prod;
	return (int)n;
}

static void cmd_init(struct unified_cmd *cmd, const struct io_unified_sqe *s)
{
	cmd->user_data = s->user_data;
	cmd->buf_offset = s->buf_offset;
	cmd->result = 0;
	cmd->len = 0;
	cmd->pending = 0;
	cmd->res = 0;
	cmd->status = 0;
	cmd->cqe_flags = 0;
	cmd->opcode = s->nvme_cmd.opcode;
	cmd->admin = !!(s->flags & IO_UNIFIED_SQE_F_ADMIN);
	cmd->tgt_slot = -1;
	cmd->net_held = 0;
}

/*
 * Ask for the next @n SQEs' cache lines at once.  In thread mode the
 * application's core wrote them, and copying them one by one waited for
 * each transfer in turn (issue 7: this halved unified_sq_consume()'s share
 * of the engine thread's time, 6.9 % -> 3.4 %).
 */
static inline __attribute__((always_inline)) void prefetch_sqes(const struct unified_engine *e,
							      uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		const char *p = (const char *)&e->sqes[(e->sq.cached_cons + i) & e->sq.mask];

		__builtin_prefetch(p);
		__builtin_prefetch(p + 64);
	}
}

/*
 * Take SQEs while a command slot and a reserved CQ slot are available.
 * Sets e->sq_blocked when the target could not take the head SQE now
 * (-EBUSY) and e->cq_blocked when the CQ has no slot to reserve; both
 * clear on the next pass that gets further.  Returns 0 or -EBADMSG.
 */
int unified_sq_consume(struct unified_engine *e, uint32_t *taken, uint32_t max)
{
	bool draining = __atomic_load_n(&e->draining, __ATOMIC_ACQUIRE);
	uint32_t start = e->sq.cached_cons, budget = max < e->sq.size ? max : e->sq.size;
	int ready = 0, ret = 0;

	e->sq_blocked = false;
	e->cq_blocked = false;
	while (budget--) {
		struct io_unified_sqe snap;
		struct unified_cmd *cmd;

		if (!ready) {
			ready = unified_sq_ready(e);
			if (ready <= 0) {
				ret = ready;
				break;
			}
			prefetch_sqes(e, (uint32_t)ready < budget + 1 ? (uint32_t)ready : budget + 1);
		}
		if (e->free_head == NO_CMD)
			break;	/* every slot in flight: a completion frees one */
		/* A CQ slot must stay reserved for every command in flight. */
		if (unified_cq_free(e, e->inflight) <= e->inflight) {
			e->cq_blocked = true;
			break;
		}
		memcpy(&snap, &e->sqes[e->sq.cached_cons & e->sq.mask], sizeof(snap));
		cmd = &e->cmds[e->free_head];
		cmd_init(cmd, &snap);
		if (draining) {
			unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_ABORT_REQUESTED,
					   -ECANCELED);
			STAT_ADD(e->stats.aborted, 1);
		} else if (!unified_validate(e, cmd, &snap)) {
			int r;

			/* With network rings, a buffer the receive side or a
			 * send holds is not the application's to name. */
			if (e->net && cmd->len && unified_net_nvme_take(e, cmd)) {
				unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC,
						   IO_UNIFIED_SC_INVALID_FIELD, -EBUSY);
				goto taken;
			}
			r = e->tgt.ops->submit(e, cmd, &snap);

			if (r == -EBUSY && !cmd->pending) {
				/* Target out of resources: retry this SQE once
				 * a command in flight completes (the retry counts
				 * its buffers again). */
				if (cmd->net_held)
					unified_net_nvme_put(e, cmd);
				e->sq_blocked = true;
				break;
			}
			if (r < 0 && !cmd->status)
				unified_cmd_status(cmd, IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INTERNAL, r);
		}
taken:
		e->free_head = cmd->next_free;
		e->inflight++;
		e->sq.cached_cons++;
		ready--;
		if (!cmd->pending)
			unified_cmd_finish(e, cmd);
	}
	*taken = e->sq.cached_cons - start;
	if (*taken) {
		/* Release: we are done reading those SQEs (they were copied);
		 * pairs with the application's acquire in unified_sq_nb_free(). */
		unified_store_release(e->sq.consumer, e->sq.cached_cons);
		STAT_ADD(e->stats.sqes, *taken);
	}
	return ret;
}
