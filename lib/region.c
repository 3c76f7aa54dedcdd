/* SPDX-License-Identifier: MIT */
/* The unified region: layout, checks and backing memory. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include "internal.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define UNIFIED_MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#define UNIFIED_MPOL_BIND 2
#define UNIFIED_MPOL_MF_STRICT (1 << 0)
#define UNIFIED_MPOL_MF_MOVE (1 << 1)

#define PAGE_4K 4096ull
#define HUGE_2M (2ull << 20)

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/*
 * Check the geometry in @reg and compute the offsets of every region part.
 * Nothing is written to @reg unless every check passes.
 */
static int net_ring_entries(uint32_t *v, uint32_t def, const char *name)
{
	if (!*v)
		*v = def;
	if (!is_pow2(*v) || *v > IO_UNIFIED_MAX_ENTRIES)
		return unified_set_err(EINVAL, "net %s %u must be a power of two in 1..%u", name, *v,
				       IO_UNIFIED_MAX_ENTRIES);
	return 0;
}

/* Check the network geometry in @net and place its rings from @start. */
static int net_layout(struct io_unified_net_reg *net, uint64_t start, uint64_t *end)
{
	uint64_t o;
	int ret;

	if (net->flags & ~IO_UNIFIED_NET_F_MASK)
		return unified_set_err(EINVAL, "net flags 0x%x have unknown bits", net->flags);
	if (net->__resv[0] || net->__resv[1] || net->__resv[2])
		return unified_set_err(EINVAL, "io_unified_net_reg reserved fields must be zero");
	if ((ret = net_ring_entries(&net->fill_entries, 1024, "fill_entries")) ||
	    (ret = net_ring_entries(&net->rx_entries, 1024, "rx_entries")) ||
	    (ret = net_ring_entries(&net->tx_entries, 1024, "tx_entries")) ||
	    (ret = net_ring_entries(&net->comp_entries, 1024, "comp_entries")))
		return ret;
	if (!net->max_conns)
		net->max_conns = 1024;
	if (net->max_conns > 65536)
		return unified_set_err(EINVAL, "net max_conns %u is over 65536", net->max_conns);
	o = align_up(start, PAGE_4K);
	net->fill_ring = o;
	net->rx_ring = o + IO_UNIFIED_RING_HDR_SIZE;
	net->tx_ring = o + 2 * IO_UNIFIED_RING_HDR_SIZE;
	net->comp_ring = o + 3 * IO_UNIFIED_RING_HDR_SIZE;
	o += 4 * IO_UNIFIED_RING_HDR_SIZE;
	net->fill_desc = o;
	o = align_up(o + (uint64_t)net->fill_entries * sizeof(__u64), PAGE_4K);
	net->rx_desc = o;
	o = align_up(o + (uint64_t)net->rx_entries * sizeof(struct io_unified_net_desc), PAGE_4K);
	net->tx_desc = o;
	o = align_up(o + (uint64_t)net->tx_entries * sizeof(struct io_unified_net_desc), PAGE_4K);
	net->comp_desc = o;
	o = align_up(o + (uint64_t)net->comp_entries * sizeof(struct io_unified_net_comp), PAGE_4K);
	*end = o;
	return 0;
}

int unified_layout(struct io_unified_reg *reg, struct io_unified_net_reg *net, uint64_t *total)
{
	struct io_unified_offsets off = { 0 };
	/* Default CQ: twice the SQ (room for completions while the SQ refills),
	 * capped at the limit so the largest SQ still has a valid default. */
	uint32_t cq = reg->cq_entries ? reg->cq_entries :
		      reg->sq_entries >= IO_UNIFIED_MAX_ENTRIES ? reg->sq_entries : reg->sq_entries * 2;
	uint64_t data;

	if (reg->flags & ~IO_UNIFIED_REG_F_MASK)
		return unified_set_err(EINVAL, "reg.flags 0x%x has unknown bits", reg->flags);
	if (reg->__resv0 || reg->__resv[0] || reg->__resv[1] || reg->__resv[2])
		return unified_set_err(EINVAL, "reg reserved fields must be zero");
	if (!reg->net_ptr != !net)
		return unified_set_err(EINVAL, "reg.net_ptr: internal mismatch");
	if (!is_pow2(reg->sq_entries) || reg->sq_entries > IO_UNIFIED_MAX_ENTRIES)
		return unified_set_err(EINVAL, "sq_entries %u must be a power of two in 1..%u",
				       reg->sq_entries, IO_UNIFIED_MAX_ENTRIES);
	if (!is_pow2(cq) || cq > IO_UNIFIED_MAX_ENTRIES)
		return unified_set_err(EINVAL, "cq_entries %u must be a power of two in 1..%u",
				       cq, IO_UNIFIED_MAX_ENTRIES);
	if (!is_pow2(reg->buffer_entry_size) || reg->buffer_entry_size < IO_UNIFIED_MIN_BUF_SIZE ||
	    reg->buffer_entry_size > IO_UNIFIED_MAX_BUF_SIZE)
		return unified_set_err(EINVAL, "buffer_entry_size %u must be a power of two in %u..%u",
				       reg->buffer_entry_size, IO_UNIFIED_MIN_BUF_SIZE,
				       IO_UNIFIED_MAX_BUF_SIZE);
	if (!reg->buffer_entries || reg->buffer_entries > IO_UNIFIED_MAX_BUF_ENTRIES)
		return unified_set_err(EINVAL, "buffer_entries %u must be in 1..%u",
				       reg->buffer_entries, IO_UNIFIED_MAX_BUF_ENTRIES);
	data = (uint64_t)reg->buffer_entries * reg->buffer_entry_size;
	if (data > IO_UNIFIED_MAX_DATA_BYTES)
		return unified_set_err(EINVAL, "data area of %llu bytes exceeds the %llu-byte limit",
				       (unsigned long long)data,
				       (unsigned long long)IO_UNIFIED_MAX_DATA_BYTES);

	off.sq_ring = 0;
	off.cq_ring = IO_UNIFIED_RING_HDR_SIZE;
	off.sq_entries = 2 * IO_UNIFIED_RING_HDR_SIZE;
	off.cq_entries = align_up(off.sq_entries + (uint64_t)reg->sq_entries *
				  sizeof(struct io_unified_sqe), PAGE_4K);
	off.buffers = align_up(off.cq_entries + (uint64_t)cq * sizeof(struct io_unified_cqe),
			       PAGE_4K);
	/* Buffers larger than a page start on their own size so each one is
	 * naturally aligned (friendly to NVMe PRPs and huge pages). */
	if (reg->buffer_entry_size > PAGE_4K)
		off.buffers = align_up(off.buffers, reg->buffer_entry_size);
	*total = off.buffers + data;
	if (net) {
		struct io_unified_net_reg nl = *net;
		int ret = net_layout(&nl, *total, total);

		if (ret)
			return ret;
		*net = nl;
		off.net = nl.fill_ring;
	}
	reg->cq_entries = cq;
	reg->offsets = off;
	return 0;
}

UNIFIED_EXPORT int unified_region_layout(struct io_unified_reg *reg, uint64_t *size)
{
	struct io_unified_net_reg net;
	struct io_unified_reg r;
	uint64_t total;
	int ret;

	if (!reg || !size)
		return unified_set_err(EINVAL, "reg and size must not be NULL");
	/* Read once into private copies; the caller's memory is written only
	 * on success, as unified_register() does. */
	memcpy(&r, reg, sizeof(r));
	if (r.net_ptr)
		memcpy(&net, (const void *)(uintptr_t)r.net_ptr, sizeof(net));
	ret = unified_layout(&r, r.net_ptr ? &net : NULL, &total);
	if (ret)
		return ret;
	if (r.net_ptr)
		memcpy((void *)(uintptr_t)r.net_ptr, &net, sizeof(net));
	reg->cq_entries = r.cq_entries;
	reg->offsets = r.offsets;
	*size = total;
	return 0;
}

/*
 * Is every byte of [addr, addr + len) mapped readable and writable in this
 * process?  Read from /proc/self/maps, so nothing is touched: caller memory
 * that is PROT_NONE, unmapped or a kernel address gives -EFAULT instead of
 * a crash later.
 */
static int user_memory_ok(uint64_t addr, uint64_t len)
{
	char line[512];
	uint64_t need = addr, end = addr + len;
	FILE *f;

	if (end < addr)
		return 0;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	while (need < end && fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;
		char perms[8];

		if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3)
			continue;
		if (hi <= need)
			continue;
		if (lo > need || perms[0] != 'r' || perms[1] != 'w')
			break;
		need = hi;
	}
	fclose(f);
	return need >= end;
}

static int numa_node_exists(int node)
{
	char p[64];
	struct stat st;

	snprintf(p, sizeof(p), "/sys/devices/system/node/node%d", node);
	return node >= 0 && node < 1024 && stat(p, &st) == 0;
}

/*
 * mmap @len bytes starting on an @align boundary, so that buffers at
 * @align-multiple offsets are naturally aligned in memory, not just in the
 * region.  Huge-page mappings are already 2 MiB aligned (>= any buffer).
 */
static void *mmap_aligned(uint64_t len, int flags, uint64_t align)
{
	uint8_t *res, *p;
	void *mem;

	if (align <= PAGE_4K || (flags & MAP_HUGETLB))
		return mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	res = mmap(NULL, len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	p = (uint8_t *)(uintptr_t)align_up((uintptr_t)res, align);
	mem = mmap(p, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, -1, 0);
	if (mem == MAP_FAILED) {
		int err = errno;

		munmap(res, len + align);
		errno = err;
		return MAP_FAILED;
	}
	if (p > res)
		munmap(res, (size_t)(p - res));
	if (p + len < res + len + align)
		munmap(p + len, (size_t)(res + align - p));
	return mem;
}

int unified_region_map(struct unified_ctx *ctx, struct io_unified_reg *reg,
		       struct io_unified_region_desc *desc)
{
	uint64_t total;
	void *mem;
	int ret;

	if (desc->flags & ~IO_UNIFIED_REGION_F_MASK)
		return unified_set_err(EINVAL, "region flags 0x%x have unknown bits", desc->flags);
	if (desc->mmap_offset || desc->__resv[0] || desc->__resv[1] || desc->__resv[2] ||
	    desc->__resv[3])
		return unified_set_err(EINVAL, "region descriptor reserved fields must be zero");
	if ((desc->flags & IO_UNIFIED_REGION_USER) && (desc->flags & IO_UNIFIED_REGION_HUGE_2M))
		return unified_set_err(EINVAL, "HUGE_2M applies to memory the library maps, not USER memory");
	if (!(desc->flags & IO_UNIFIED_REGION_NUMA) && desc->numa_node)
		return unified_set_err(EINVAL, "numa_node set without IO_UNIFIED_REGION_NUMA");
	if ((desc->flags & IO_UNIFIED_REGION_USER) && (desc->flags & IO_UNIFIED_REGION_NUMA))
		return unified_set_err(EINVAL, "NUMA applies to memory the library maps; place USER memory "
				       "yourself (mbind) before registering it");
	if ((desc->flags & IO_UNIFIED_REGION_NUMA) && !numa_node_exists(desc->numa_node))
		return unified_set_err(ENODEV, "NUMA node %d does not exist", desc->numa_node);

	ret = unified_layout(reg, reg->net_ptr ? &ctx->net_reg : NULL, &total);
	if (ret)
		return ret;
	if (total > SIZE_MAX / 2)
		return unified_set_err(EINVAL, "a %llu-byte region does not fit this address space",
				       (unsigned long long)total);

	if (desc->flags & IO_UNIFIED_REGION_USER) {
		if (!desc->user_addr || (desc->user_addr & (PAGE_4K - 1)))
			return unified_set_err(EINVAL, "user region address 0x%llx is not 4 KiB aligned",
					       (unsigned long long)desc->user_addr);
		if (desc->size < total)
			return unified_set_err(ENOBUFS, "user region is %llu bytes, the layout needs %llu",
					       (unsigned long long)desc->size,
					       (unsigned long long)total);
		ret = user_memory_ok(desc->user_addr, total);
		if (ret <= 0)
			return unified_set_err(ret < 0 ? -ret : EFAULT, "user region 0x%llx + %llu bytes is "
					       "not all mapped readable and writable in this process",
					       (unsigned long long)desc->user_addr,
					       (unsigned long long)total);
		mem = (void *)(uintptr_t)desc->user_addr;
		ctx->region_owned = false;
		ctx->region_size = desc->size;
		/* Nothing is written to caller memory until registration can no
		 * longer fail (unified_region_init_rings()). */
	} else {
		/* With a NUMA node, pages are populated after mbind() so they
		 * are allocated there, not allocated locally and migrated. */
		int flags = MAP_PRIVATE | MAP_ANONYMOUS |
			    ((desc->flags & IO_UNIFIED_REGION_NUMA) ? 0 : MAP_POPULATE);

		if (desc->user_addr || desc->size)
			return unified_set_err(EINVAL, "user_addr/size are outputs unless REGION_USER is set");
		if (desc->flags & IO_UNIFIED_REGION_HUGE_2M) {
			total = align_up(total, HUGE_2M);
			flags |= MAP_HUGETLB | UNIFIED_MAP_HUGE_2MB;
		}
		mem = mmap_aligned(total, flags, reg->buffer_entry_size);
		if (mem == MAP_FAILED) {
			int err = errno;

			if (desc->flags & IO_UNIFIED_REGION_HUGE_2M)
				return unified_set_err(ENOMEM, "cannot map %llu bytes of 2 MiB huge pages (%s): "
						       "reserve them first, e.g. echo %llu > /proc/sys/vm/nr_hugepages",
						       (unsigned long long)total, strerror(err),
						       (unsigned long long)(total / HUGE_2M));
			return unified_set_err(err, "mmap of %llu bytes failed: %s",
					       (unsigned long long)total, strerror(err));
		}
		ctx->region_owned = true;
		ctx->region_size = total;
	}
	if (desc->flags & IO_UNIFIED_REGION_NUMA) {
		unsigned long mask[16] = { 0 };

		mask[desc->numa_node / (8 * sizeof(long))] |= 1ul << (desc->numa_node % (8 * sizeof(long)));
		if (syscall(SYS_mbind, mem, ctx->region_size, UNIFIED_MPOL_BIND, mask,
			    sizeof(mask) * 8, UNIFIED_MPOL_MF_STRICT | UNIFIED_MPOL_MF_MOVE)) {
			int err = errno;

			if (ctx->region_owned)
				munmap(mem, ctx->region_size);
			return unified_set_err(err, "mbind to NUMA node %d failed: %s",
					       desc->numa_node, strerror(err));
		}
		if (madvise(mem, ctx->region_size, MADV_POPULATE_WRITE)) {
			int err = errno;

			munmap(mem, ctx->region_size);
			return unified_set_err(err, "cannot populate %zu bytes on NUMA node %d: %s",
					       ctx->region_size, desc->numa_node, strerror(err));
		}
	}
	/* A child of fork() must not share or copy the rings (libunified.h). */
	if (ctx->region_owned)
		madvise(mem, ctx->region_size, MADV_DONTFORK);
	ctx->region = mem;
	ctx->off = reg->offsets;
	ctx->sq_entries = reg->sq_entries;
	ctx->cq_entries = reg->cq_entries;
	ctx->buf_entries = reg->buffer_entries;
	ctx->buf_size = reg->buffer_entry_size;
	ctx->buffers = (uint8_t *)mem + reg->offsets.buffers;
	ctx->data_size = (uint64_t)reg->buffer_entries * reg->buffer_entry_size;

	desc->user_addr = (uintptr_t)mem;
	desc->size = ctx->region_size;
	return 0;
}

/*
 * Clear the ring area and write the ring geometry, once registration can
 * no longer fail.  The engine keeps its own copy of the geometry and never
 * trusts these fields again.
 */
void unified_region_init_rings(struct unified_ctx *ctx)
{
	struct io_unified_ring *sq = (void *)((uint8_t *)ctx->region + ctx->off.sq_ring);
	struct io_unified_ring *cq = (void *)((uint8_t *)ctx->region + ctx->off.cq_ring);

	memset(ctx->region, 0, ctx->off.buffers);
	if (ctx->off.net)
		unified_net_init_rings(ctx);
	sq->ring_entries = ctx->sq_entries;
	sq->ring_mask = ctx->sq_entries - 1;
	cq->ring_entries = ctx->cq_entries;
	cq->ring_mask = ctx->cq_entries - 1;
}

void unified_region_unmap(struct unified_ctx *ctx)
{
	if (ctx->region && ctx->region_owned)
		munmap(ctx->region, ctx->region_size);
	ctx->region = NULL;
}
