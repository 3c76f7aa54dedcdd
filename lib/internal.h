/* SPDX-License-Identifier: MIT */
/*
 * libunified private definitions.
 *
 * The user engine is split by concern, one file each:
 *   validate.c  the trust boundary: every rule an SQE must satisfy
 *   sq.c        SQ consumption (copy, validate, hand to the target)
 *   cq.c        CQ publication (CQ slot reservation, CQE writing, publish)
 *   uring.c     the io_uring glue (setup, SQE allocation, submit, reap)
 *   wake.c      the engine thread and its sleep/wake protocol
 *   enter.c     the engine pass, unified_kick(), unified_enter(), drain
 *   engine.c    engine start and stop
 * Targets (target.c opens and dispatches; target_{file,block,nvme}.c and
 * nvme_emul.c) see the engine only through the few calls declared under
 * "target interface" below.
 */
#ifndef UNIFIED_INTERNAL_H
#define UNIFIED_INTERNAL_H

/* The release, from the Makefile's VERSION (one place for the file name
 * libunified.so.VERSION, the .pc file, unified_version() and the emulated
 * controller's firmware revision). */
#ifndef UNIFIED_VERSION_STR
#error "UNIFIED_VERSION_STR must come from the build (Makefile: VERSION)"
#endif

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <liburing.h>
#include "libunified.h"
#include "abi_asserts.h"
#include "uapi_compat.h"
#include "net.h"

#define UNIFIED_EXPORT __attribute__((visibility("default")))

/* Fixed-buffer chunks: io_uring limits one registered buffer to 1 GiB. */
#define UNIFIED_FIXED_CHUNK	(1ull << 30)
/* Most registered buffers an io_uring takes (IORING_MAX_REG_BUFFERS). */
#define UNIFIED_MAX_WINDOWS	16384u

/* Emulated targets: largest transfer (reported as MDTS). */
#define UNIFIED_EMUL_MAX_XFER	(1u << 20)

/* Thread mode: longest busy-poll before sleeping, and the default bounds. */
#define UNIFIED_MAX_SPIN_US	1000000u
#define UNIFIED_DRAIN_TIMEOUT_MS 30000u
/* The engine thread re-checks a full CQ this often (see wake.c). */
#define UNIFIED_CQ_FULL_POLL_NS	(1000ull * 1000)

/* Statistics are written by one thread and may be read by another. */
#define STAT_ADD(field, n) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)

/* Records a sentence for unified_errmsg() and returns -err. */
int unified_set_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void unified_clear_err(void);
uint64_t unified_now_ns(void);
/* Keep @p allocated (and reachable) for the life of the process. */
void unified_keep(void *p);

struct unified_engine;
struct unified_target;

/* One command between SQE consumption and CQE publication. */
struct unified_cmd {
	uint64_t user_data;
	uint64_t result;
	/* Not next to user_data: copied from the SQE snapshot as one 16-byte
	 * load, the pair straddles two stores of the snapshot copy and the
	 * failed store forwarding was 1.5 % of a CPU-bound run (issue 7). */
	uint64_t buf_offset;
	uint32_t len;		/* bytes reported on success */
	uint32_t pending;	/* io_uring operations still outstanding */
	int32_t res;		/* first host errno, 0 if none */
	uint16_t status;	/* NVMe status so far */
	uint16_t cqe_flags;
	uint8_t opcode;
	uint8_t admin;
	int16_t tgt_slot;	/* a target resource held by the command, -1 if none;
				 * the target's release() runs when it is >= 0 */
	uint8_t net_held;	/* counted in the network's nvme_refs (net.c) */
	uint32_t net_len;	/* the buffer range counted there */
	uint32_t next_free;
};

/*
 * A target: one file implements one of these (the xNVMe way).  The path is
 * opened once by target.c, which picks the ops from fstat() of that very
 * descriptor; init() then reads the geometry from t->fd.
 *
 * submit() either queues io_uring operations for @cmd (setting cmd->pending
 * through unified_engine_get_sqe()) and returns 0, completes @cmd inline
 * (status set, pending 0) and returns 0, or returns -EBUSY, holding nothing,
 * to be called again later with the same SQE (it must then be possible that
 * a completion of a command already in flight frees what was missing).
 * complete() receives each io_uring CQE that belongs to @cmd.  release()
 * (optional) frees what the target held for @cmd once its CQE is written.
 */
struct unified_target_ops {
	const char *name;
	int (*init)(struct unified_target *t, const struct stat *st, const struct unified_opts *o);
	void (*close)(struct unified_target *t);
	int (*submit)(struct unified_engine *e, struct unified_cmd *cmd,
		      const struct io_unified_sqe *sqe);
	void (*complete)(struct unified_engine *e, struct unified_cmd *cmd,
			 const struct io_uring_cqe *cqe);
	void (*release)(struct unified_target *t, struct unified_cmd *cmd);
	/* optional: false if the target does not implement the opcode at
	 * all (it then completes with Invalid Command Opcode before any other
	 * check); NULL passes every opcode on (NVMe passthrough).  Read once
	 * at open into unified_target.opcodes. */
	bool (*supports)(bool admin, uint8_t opcode);
};

struct unified_target {
	const struct unified_target_ops *ops;
	int fd;			/* data path: file, block device or /dev/ngXnY */
	int ctrl_fd;		/* NVMe controller node for admin, -1 if none */
	uint32_t kind;		/* enum unified_target_kind */
	uint32_t nsid;
	uint32_t lba_shift;
	uint32_t max_xfer;
	uint32_t buf_align;	/* required alignment of buf_offset */
	uint32_t ring_flags;	/* io_uring setup flags the target needs */
	uint32_t iopoll;
	uint32_t opt_flags;	/* UNIFIED_OPT_* given at registration */
	uint64_t opcodes[2][4];	/* [admin][opcode / 64]: bit set = implemented */
	/*
	 * Fixed-buffer registration mode.  0: the data area in 1 GiB chunks.
	 * Non-zero: overlapping windows of this many bytes, window k ending at
	 * page k + 1, for kernels before 6.12 whose NVMe passthrough rejects a
	 * registered buffer with more pages left after the I/O start than the
	 * queue's max_segments (block/blk-map.c blk_rq_map_user_bvec).
	 */
	uint32_t fixed_window;
	bool no_fixed;		/* too many windows: pass user addresses instead */
	bool no_punch;		/* block device cannot deallocate: zero instead */
	bool read_only;		/* opened read-only: writes get Write Protected */
	bool thin;		/* capacity is not allocated up front (sparse file) */
	bool created;		/* file target: the file was created by us */
	bool locked;		/* we hold a shared flock on it (target.c) */
	bool committed;		/* registration succeeded: close() undoes nothing */
	int64_t old_size;	/* file target: size before we grew it, or -1 */
	int dir_fd;		/* O_PATH of the target's directory until committed, or -1 */
	char name[256];		/* the target's name in that directory */
	char made_dir[256];	/* the default's directory if this call made it, else "" */
	uint64_t nlba;
	char path[256];
	void *priv;
};

extern const struct unified_target_ops unified_target_file_ops;
extern const struct unified_target_ops unified_target_block_ops;
extern const struct unified_target_ops unified_target_nvme_ops;

/* target.c: open @path once and set up the matching target. */
int unified_target_open(struct unified_target *t, const char *path, bool is_default,
			bool private, const struct unified_opts *o);
int unified_default_path_named(char *buf, size_t len, bool *named);
void unified_target_close(struct unified_target *t);
void unified_target_commit(struct unified_target *t);
/* sysfs and procfs: read one unsigned number (close-on-exec, no stdio). */
int unified_read_u64_file(const char *path, uint64_t *v);

/* Private mirror of a ring the engine serves; never trusts shared fields. */
struct unified_engine_ring {
	uint32_t *producer;
	uint32_t *consumer;
	uint32_t *flags;	/* shared hint only, never read back for decisions */
	uint32_t mask;
	uint32_t size;
	uint32_t cached_prod;	/* SQ: last sane producer; CQ: next slot to write */
	uint32_t cached_cons;	/* SQ: next to consume; CQ: last consumer seen */
};

#define UNIFIED_CACHELINE 64

struct unified_engine {
	struct io_uring ring;
	bool ring_ready;
	bool rings_live;	/* the region's rings were initialised: drain them */
	bool kern;		/* the kernel engine serves the rings (kernel_engine.c) */
	bool kern_unreg;	/* ... and was unregistered: its commands still finish */
	uint32_t kern_sqes, kern_cqes;	/* what it took and completed, once it let go */
	struct unified_target tgt;
	struct unified_engine_ring sq;
	struct unified_engine_ring cq;
	struct io_unified_sqe *sqes;
	struct io_unified_cqe *cqes;
	uint8_t *data;		/* start of the buffer area */
	uint64_t data_size;

	struct unified_cmd *cmds;
	uint32_t ncmds;
	uint32_t free_head;	/* free list of cmds, UINT32_MAX = empty */
	uint32_t inflight;	/* consumed, CQE not yet written */
	uint32_t cq_unpublished; /* CQEs written past the published producer */
	uint32_t *done;		/* finished cmds waiting for CQ room (FIFO) */
	uint32_t done_head, done_count;
	bool sq_blocked;	/* the target said -EBUSY; wait for a completion */
	bool cq_blocked;	/* SQEs or CQEs wait for CQ room */

	/* Thread mode (wake.c), engine side. */
	pthread_t thread;
	int doorbell_fd;	/* eventfd read armed in the ring to wake the thread */
	uint64_t doorbell_val;
	bool doorbell_armed;
	uint32_t idle_spin_us;	/* spin with nothing in flight before sleeping */
	uint32_t busy_spin_us;	/* the same with I/O in flight (waiting for the device) */
	uint32_t drain_timeout_ms;
	int first_err;		/* the first engine error, for unified_unregister() */

	struct unified_stats stats;	/* written by whoever runs passes */
	struct unified_net *net;	/* the network rings, NULL without them (net.c) */

	/*
	 * The words both threads touch, on a cache line of their own: private
	 * memory (the shared ring flags are hints for the application, never
	 * inputs), written rarely (a sleep, a wake-up, an error).  Keeping
	 * what the application polls off the lines the engine writes per
	 * command is what thread mode's speed rests on: each of those shared
	 * lines costs a cross-core transfer per write (issue 7).
	 */
	struct {
		uint32_t mode;
		bool thread_running;
		int stop;		/* atomic */
		int draining;		/* atomic: abort queued SQEs */
		uint32_t sleeping;	/* atomic: the engine thread is (about to be) asleep */
		uint32_t kick_seq;	/* atomic: bumped by every wake-up; futex word */
		uint32_t app_waiting;	/* atomic: unified_enter() sleeps on cq_seq */
		uint32_t cq_seq;	/* atomic: bumped by a CQ publication that wakes; futex word */
		uint32_t gate;		/* atomic: 0 = wait, 1 = run, 2 = exit (thread start) */
		int pending_err;	/* atomic: engine error not yet reported to a caller */
	} __attribute__((aligned(UNIFIED_CACHELINE)));

	/* The application's side (enter.c): written by unified_enter() and
	 * unified_kick(), never by the engine thread. */
	struct {
		uint32_t *app_cq_producer;	/* copies of e->cq's, read-only */
		uint32_t *app_cq_consumer;
		uint32_t app_cq_size;
		uint32_t app_spin_us;	/* cap of unified_enter()'s polling before it sleeps */
		uint32_t app_spin_credit, app_waits;	/* when to poll */
		uint64_t app_kicks;	/* unified_kick() calls in thread mode (stats.kicks) */
	} __attribute__((aligned(UNIFIED_CACHELINE)));
};

struct unified_ctx {
	void *region;
	size_t region_size;
	bool region_owned;	/* we mmap'ed it */
	bool leak_on_free;	/* a timed-out drain left I/O in flight */
	int kernel_engine;	/* the probe's answer (1: the kernel has it) */
	uint64_t token;		/* owner token at registration (register.c) */
	pid_t owner;
	struct io_unified_offsets off;
	struct io_unified_net_reg net_reg;	/* private copy of *reg.net_ptr (read once) */
	uint32_t sq_entries, cq_entries, buf_entries, buf_size;
	uint8_t *buffers;
	uint64_t data_size;

	/* Buffer allocator: a stack of free buffer indices + a bitmap. */
	uint32_t *buf_stack;
	uint32_t buf_top;
	uint64_t *buf_used;

	struct unified_engine eng;
	struct unified_target_info info;
};

/* register.c: the rule that a context belongs to the process that made it. */
int unified_ctx_check(const struct unified_ctx *ctx, const char *fn);

/* region.c */
int unified_layout(struct io_unified_reg *reg, struct io_unified_net_reg *net, uint64_t *total);
int unified_region_map(struct unified_ctx *ctx, struct io_unified_reg *reg,
		       struct io_unified_region_desc *desc);
void unified_region_unmap(struct unified_ctx *ctx);
void unified_region_init_rings(struct unified_ctx *ctx);

/* buffers.c */
int unified_buffers_init(struct unified_ctx *ctx);
void unified_buffers_fini(struct unified_ctx *ctx);

/* engine.c */
int unified_engine_start(struct unified_ctx *ctx, const struct unified_opts *o);
void unified_engine_stop(struct unified_ctx *ctx);

/* validate.c: 0 if @cmd may go to the target, else its status is set. */
int unified_validate(const struct unified_engine *e, struct unified_cmd *cmd,
		     const struct io_unified_sqe *s);

/* sq.c */
int unified_sq_ready(struct unified_engine *e);
int unified_sq_consume(struct unified_engine *e, uint32_t *taken, uint32_t max);
/* Thread mode: SQEs per submit-reap-publish round, so completions are
 * published while later SQEs are still being issued. */
#define UNIFIED_THREAD_CHUNK 8

/* cq.c */
uint32_t unified_cq_free(struct unified_engine *e, uint32_t need);
void unified_cq_flush_done(struct unified_engine *e);
bool unified_cq_publish(struct unified_engine *e);

/* uring.c */
int unified_uring_setup(struct unified_ctx *ctx);

/* kernel_engine.c: the client of IORING_REGISTER_UNIFIED_IFQ. */
int unified_kern_register(struct unified_ctx *ctx, const struct unified_opts *o, bool has_net);
int unified_kern_kick(struct unified_engine *e);
int unified_kern_enter(struct unified_engine *e, uint32_t min_complete, uint64_t deadline);
int unified_kern_takeover(struct unified_engine *e);
/* enter.c: -EBADMSG and -EINTR from an engine pass, explained. */
int unified_pass_err(int ret);
struct io_uring_sqe *unified_uring_sqe(struct unified_engine *e);
int unified_uring_submit(struct unified_engine *e, uint32_t wait_nr,
			 struct __kernel_timespec *ts);
uint32_t unified_uring_reap(struct unified_engine *e);
void unified_uring_arm_doorbell(struct unified_engine *e);
void unified_engine_note_err(struct unified_engine *e, int err, bool sticky);
void unified_uring_cancel_all(struct unified_engine *e);

/* net.c: NVMe commands and the network's buffer ownership */
int unified_net_nvme_take(struct unified_engine *e, struct unified_cmd *cmd);
void unified_net_nvme_put(struct unified_engine *e, struct unified_cmd *cmd);

/* wake.c */
int unified_thread_prepare(struct unified_engine *e);
void unified_thread_go(struct unified_engine *e);
void unified_thread_stop(struct unified_engine *e);
void unified_thread_wake(struct unified_engine *e);
void unified_app_wake(struct unified_engine *e);
int unified_app_wait(struct unified_engine *e, uint32_t seen, uint64_t deadline);

/* enter.c */
int unified_engine_pass(struct unified_engine *e, uint32_t want, struct __kernel_timespec *ts);
int unified_engine_pass_chunked(struct unified_engine *e);
int unified_engine_drain(struct unified_engine *e);

/* ---- target interface: what a target may call on the engine ---- */
void unified_cmd_finish(struct unified_engine *e, struct unified_cmd *cmd);
struct io_uring_sqe *unified_engine_get_sqe(struct unified_engine *e, struct unified_cmd *cmd);
/* Make room for @n io_uring SQEs (submitting what is queued if needed). */
void unified_engine_sq_room(struct unified_engine *e, unsigned n);
uint16_t unified_fixed_index(const struct unified_engine *e, uint64_t off, uint32_t len);

/* The data area at @off: only for a command whose buffer validate() checked
 * (len > 0); other offsets are the application's and may be anything. */
static inline uint8_t *unified_engine_data(const struct unified_engine *e, uint64_t off)
{
	return e->data + off;
}

/* In a polling loop: tell the CPU (and a sibling hyperthread) we spin. */
static inline void unified_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Transient host conditions: a retry may succeed, so no DNR. */
static inline bool unified_err_transient(int err)
{
	return err == -EAGAIN || err == -EBUSY || err == -EINTR || err == -ENOMEM ||
	       err == -ETIMEDOUT || err == -ECANCELED;
}

static inline void unified_cmd_status(struct unified_cmd *cmd, uint8_t sct, uint8_t sc, int err)
{
	if (cmd->status)
		return;		/* keep the first failure */
	cmd->status = IO_UNIFIED_STATUS(sct, sc);
	if (!unified_err_transient(err))
		cmd->status |= IO_UNIFIED_STATUS_DNR;
	cmd->cqe_flags |= IO_UNIFIED_CQE_F_HOST;
	if (err) {
		cmd->res = err;
		cmd->cqe_flags |= IO_UNIFIED_CQE_F_ERRNO;
	}
}

/* target_file.c, also used by target_block.c: the direct-I/O alignment
 * (statx STATX_DIOALIGN, else the device's logical block size) and the
 * one the kernel really accepts for fixed buffers (a bounded probe read). */
int unified_dio_align(int fd, const struct stat *st, uint32_t *mem, uint32_t *off);
uint32_t unified_dio_probe(int fd, uint32_t mem, uint32_t off);

/* nvme_emul.c: NVMe semantics over a file or block device. */
int unified_emul_init(struct unified_target *t);
void unified_emul_fini(struct unified_target *t);
int unified_emul_submit(struct unified_engine *e, struct unified_cmd *cmd,
			const struct io_unified_sqe *sqe);
void unified_emul_complete(struct unified_engine *e, struct unified_cmd *cmd,
			   const struct io_uring_cqe *cqe);
void unified_emul_release(struct unified_target *t, struct unified_cmd *cmd);
bool unified_emul_supports(bool admin, uint8_t opcode);
void unified_emul_identify(const struct unified_target *t, uint8_t cns, uint32_t nsid, uint8_t *out);

/* Length in bytes of Read/Write/Compare from NLB, or 0. */
static inline uint64_t unified_rw_bytes(const struct io_unified_sqe *sqe, uint32_t lba_shift)
{
	return ((uint64_t)(sqe->nvme_cmd.cdw12 & 0xffff) + 1) << lba_shift;
}

static inline uint64_t unified_rw_slba(const struct io_unified_sqe *sqe)
{
	return ((uint64_t)sqe->nvme_cmd.cdw11 << 32) | sqe->nvme_cmd.cdw10;
}

#endif
