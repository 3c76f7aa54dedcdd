/* SPDX-License-Identifier: MIT */
/*
 * ABI struct layout, region layout for several geometries, and every
 * invalid registration: exact errno, reg/desc left untouched, nothing left
 * mapped.  Also the region backings: 2 MiB huge pages (with and without
 * pages reserved), a NUMA node, caller-provided memory.
 */
#include <stddef.h>
#include <sys/mman.h>
#include <linux/nvme_ioctl.h>
#include "helpers.h"

#define PAGE 4096ull
#define HUGE (2ull << 20)
#define NR_HUGE "/proc/sys/vm/nr_hugepages"
#define NR_OVERCOMMIT_HUGE "/proc/sys/vm/nr_overcommit_hugepages"

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

#define OFF(type, field, want) \
	CHECK(offsetof(type, field) == (want), #type "." #field " at %zu, want %d", \
	      offsetof(type, field), (int)(want))
#define SIZE(type, want) \
	CHECK(sizeof(type) == (want), "sizeof(" #type ") = %zu, want %d", sizeof(type), (int)(want))

static void t_abi_struct_sizes(void)
{
	SIZE(struct io_unified_ring, 192);
	OFF(struct io_unified_ring, producer, 0);
	OFF(struct io_unified_ring, consumer, 64);
	OFF(struct io_unified_ring, flags, 128);
	OFF(struct io_unified_ring, ring_mask, 132);
	OFF(struct io_unified_ring, ring_entries, 136);
	OFF(struct io_unified_ring, __resv, 140);

	SIZE(struct io_unified_nvme_cmd, 72);
	OFF(struct io_unified_nvme_cmd, opcode, 0);
	OFF(struct io_unified_nvme_cmd, flags, 1);
	OFF(struct io_unified_nvme_cmd, rsvd1, 2);
	OFF(struct io_unified_nvme_cmd, nsid, 4);
	OFF(struct io_unified_nvme_cmd, cdw2, 8);
	OFF(struct io_unified_nvme_cmd, cdw3, 12);
	OFF(struct io_unified_nvme_cmd, metadata, 16);
	OFF(struct io_unified_nvme_cmd, addr, 24);
	OFF(struct io_unified_nvme_cmd, metadata_len, 32);
	OFF(struct io_unified_nvme_cmd, data_len, 36);
	OFF(struct io_unified_nvme_cmd, cdw10, 40);
	OFF(struct io_unified_nvme_cmd, cdw11, 44);
	OFF(struct io_unified_nvme_cmd, cdw12, 48);
	OFF(struct io_unified_nvme_cmd, cdw13, 52);
	OFF(struct io_unified_nvme_cmd, cdw14, 56);
	OFF(struct io_unified_nvme_cmd, cdw15, 60);
	OFF(struct io_unified_nvme_cmd, timeout_ms, 64);
	OFF(struct io_unified_nvme_cmd, rsvd2, 68);
	/* Byte for byte the kernel's passthrough command. */
	SIZE(struct nvme_uring_cmd, 72);
	CHECK(offsetof(struct nvme_uring_cmd, nsid) == offsetof(struct io_unified_nvme_cmd, nsid), "nsid");
	CHECK(offsetof(struct nvme_uring_cmd, metadata) == offsetof(struct io_unified_nvme_cmd, metadata),
	      "metadata");
	CHECK(offsetof(struct nvme_uring_cmd, addr) == offsetof(struct io_unified_nvme_cmd, addr), "addr");
	CHECK(offsetof(struct nvme_uring_cmd, data_len) == offsetof(struct io_unified_nvme_cmd, data_len),
	      "data_len");
	CHECK(offsetof(struct nvme_uring_cmd, cdw10) == offsetof(struct io_unified_nvme_cmd, cdw10), "cdw10");
	CHECK(offsetof(struct nvme_uring_cmd, timeout_ms) ==
	      offsetof(struct io_unified_nvme_cmd, timeout_ms), "timeout_ms");

	SIZE(struct io_unified_sqe, 128);
	OFF(struct io_unified_sqe, nvme_cmd, 0);
	OFF(struct io_unified_sqe, user_data, 72);
	OFF(struct io_unified_sqe, buf_offset, 80);
	OFF(struct io_unified_sqe, len, 88);
	OFF(struct io_unified_sqe, flags, 92);
	OFF(struct io_unified_sqe, __resv, 96);

	SIZE(struct io_unified_cqe, 64);
	OFF(struct io_unified_cqe, user_data, 0);
	OFF(struct io_unified_cqe, result, 8);
	OFF(struct io_unified_cqe, dma_addr, 16);
	OFF(struct io_unified_cqe, len, 24);
	OFF(struct io_unified_cqe, status, 28);
	OFF(struct io_unified_cqe, flags, 30);
	OFF(struct io_unified_cqe, res, 32);
	OFF(struct io_unified_cqe, __resv0, 36);
	OFF(struct io_unified_cqe, __resv, 40);

	SIZE(struct io_unified_region_desc, 64);
	OFF(struct io_unified_region_desc, user_addr, 0);
	OFF(struct io_unified_region_desc, size, 8);
	OFF(struct io_unified_region_desc, flags, 16);
	OFF(struct io_unified_region_desc, numa_node, 20);
	OFF(struct io_unified_region_desc, mmap_offset, 24);
	OFF(struct io_unified_region_desc, __resv, 32);

	SIZE(struct io_unified_offsets, 64);
	OFF(struct io_unified_offsets, sq_ring, 0);
	OFF(struct io_unified_offsets, cq_ring, 8);
	OFF(struct io_unified_offsets, sq_entries, 16);
	OFF(struct io_unified_offsets, cq_entries, 24);
	OFF(struct io_unified_offsets, buffers, 32);
	OFF(struct io_unified_offsets, net, 40);
	OFF(struct io_unified_offsets, __resv, 48);

	SIZE(struct io_unified_reg, 136);
	OFF(struct io_unified_reg, region_ptr, 0);
	OFF(struct io_unified_reg, nvme_dev_path, 8);
	OFF(struct io_unified_reg, sq_entries, 16);
	OFF(struct io_unified_reg, cq_entries, 20);
	OFF(struct io_unified_reg, buffer_entries, 24);
	OFF(struct io_unified_reg, buffer_entry_size, 28);
	OFF(struct io_unified_reg, flags, 32);
	OFF(struct io_unified_reg, __resv0, 36);
	OFF(struct io_unified_reg, offsets, 40);
	OFF(struct io_unified_reg, net_ptr, 104);
	OFF(struct io_unified_reg, __resv, 112);

	/* ABI 2: the network part */
	SIZE(struct io_unified_net_reg, 112);
	OFF(struct io_unified_net_reg, fill_entries, 0);
	OFF(struct io_unified_net_reg, max_conns, 16);
	OFF(struct io_unified_net_reg, flags, 20);
	OFF(struct io_unified_net_reg, __resv, 24);
	OFF(struct io_unified_net_reg, fill_ring, 48);
	OFF(struct io_unified_net_reg, comp_desc, 104);
	SIZE(struct io_unified_net_desc, 64);
	OFF(struct io_unified_net_desc, addr, 0);
	OFF(struct io_unified_net_desc, len, 8);
	OFF(struct io_unified_net_desc, conn, 12);
	OFF(struct io_unified_net_desc, user_data, 16);
	OFF(struct io_unified_net_desc, flags, 24);
	OFF(struct io_unified_net_desc, error, 28);
	OFF(struct io_unified_net_desc, peer_family, 32);
	OFF(struct io_unified_net_desc, peer_port, 34);
	OFF(struct io_unified_net_desc, __resv0, 36);
	OFF(struct io_unified_net_desc, peer_addr, 40);
	OFF(struct io_unified_net_desc, __resv1, 56);
	SIZE(struct io_unified_net_comp, 16);
	OFF(struct io_unified_net_comp, addr, 0);
	OFF(struct io_unified_net_comp, len, 8);
	OFF(struct io_unified_net_comp, error, 12);

	CHECK(IO_UNIFIED_STATUS(IO_UNIFIED_SCT_GENERIC, IO_UNIFIED_SC_INVALID_FIELD) == 0x0002, "status");
	CHECK(IO_UNIFIED_STATUS(IO_UNIFIED_SCT_MEDIA, IO_UNIFIED_SC_COMPARE_FAILED) == 0x0285, "status");
	CHECK(IO_UNIFIED_STATUS_SCT(0x4285) == 2 && IO_UNIFIED_STATUS_SC(0x4285) == 0x85, "status split");
}

/* Check the region of an open context against the documented layout. */
static void check_layout(struct th_ctx *t, const struct th_opts *g, int check_abs_align)
{
	const struct io_unified_offsets *o = &t->reg.offsets;
	uint32_t cq = g->cq ? g->cq : 2 * g->sq;
	uint64_t want_cqe = align_up(2 * PAGE + (uint64_t)g->sq * 128, PAGE);
	uint64_t want_buf = align_up(want_cqe + (uint64_t)cq * 64, PAGE);
	uint8_t *region = unified_region(t->ctx);
	struct io_unified_ring *sqr, *cqr;

	if (g->bufsz > PAGE)
		want_buf = align_up(want_buf, g->bufsz);
	CHECK(t->reg.cq_entries == cq, "reg.cq_entries %u, want %u", t->reg.cq_entries, cq);
	CHECK(o->sq_ring == 0, "sq_ring at %" PRIu64, (uint64_t)o->sq_ring);
	CHECK(o->cq_ring == PAGE, "cq_ring at %" PRIu64, (uint64_t)o->cq_ring);
	CHECK(o->sq_entries == 2 * PAGE, "sq_entries at %" PRIu64, (uint64_t)o->sq_entries);
	CHECK(o->cq_entries == want_cqe, "cq_entries at %" PRIu64 ", want %" PRIu64,
	      (uint64_t)o->cq_entries, want_cqe);
	CHECK(o->buffers == want_buf, "buffers at %" PRIu64 ", want %" PRIu64, (uint64_t)o->buffers,
	      want_buf);
	CHECK(o->sq_ring < o->cq_ring && o->cq_ring < o->sq_entries && o->sq_entries < o->cq_entries &&
	      o->cq_entries < o->buffers, "parts out of the documented order");
	CHECK(!(o->cq_ring % PAGE) && !(o->sq_entries % PAGE) && !(o->cq_entries % PAGE) &&
	      !(o->buffers % PAGE), "an offset is not page aligned");
	CHECK(o->cq_entries >= o->sq_entries + (uint64_t)g->sq * 128, "SQEs overlap the CQEs");
	CHECK(o->buffers >= o->cq_entries + (uint64_t)cq * 64, "CQEs overlap the buffers");
	CHECK(!o->__resv[0] && !o->__resv[1] && !o->net, "offsets reserved or net set");
	if (g->bufsz > PAGE)
		CHECK(o->buffers % g->bufsz == 0, "buffers offset %" PRIu64 " not %u aligned",
		      (uint64_t)o->buffers, g->bufsz);
	CHECK(region && (uintptr_t)region == t->desc.user_addr, "desc.user_addr 0x%" PRIx64
	      " != region %p", (uint64_t)t->desc.user_addr, (void *)region);
	CHECK(t->desc.size == unified_region_size(t->ctx), "desc.size %" PRIu64 " != %zu",
	      (uint64_t)t->desc.size, unified_region_size(t->ctx));
	CHECK(t->desc.size >= o->buffers + (uint64_t)g->nbuf * g->bufsz, "region too small");
	CHECK((uintptr_t)region % PAGE == 0, "region %p not page aligned", (void *)region);
	CHECK(unified_buffers(t->ctx) == region + o->buffers, "unified_buffers() != region + buffers");
	if (check_abs_align && g->bufsz > PAGE)
		CHECK((uintptr_t)unified_buffers(t->ctx) % g->bufsz == 0,
		      "buffer area %p not naturally aligned to %u", unified_buffers(t->ctx), g->bufsz);
	if (!region)
		return;
	sqr = (void *)(region + o->sq_ring);
	cqr = (void *)(region + o->cq_ring);
	CHECK(sqr->ring_entries == g->sq && sqr->ring_mask == g->sq - 1, "SQ header %u/%u",
	      sqr->ring_entries, sqr->ring_mask);
	CHECK(cqr->ring_entries == cq && cqr->ring_mask == cq - 1, "CQ header %u/%u",
	      cqr->ring_entries, cqr->ring_mask);
	CHECK(!sqr->producer && !sqr->consumer && !sqr->flags && !cqr->producer && !cqr->consumer &&
	      !cqr->flags, "ring indices not zero");
	CHECK(t->sq.r.size == g->sq && t->sq.r.mask == g->sq - 1 &&
	      t->sq.r.entries == region + o->sq_entries && t->sq.r.producer == &sqr->producer,
	      "unified_sq_init view");
	CHECK(t->cq.r.size == cq && t->cq.r.mask == cq - 1 &&
	      t->cq.r.entries == region + o->cq_entries && t->cq.r.consumer == &cqr->consumer,
	      "unified_cq_init view");
}

/* Write a pattern through buffer 0, read it back into the last buffer. */
static void check_io(struct th_ctx *t)
{
	struct io_unified_cqe c;
	uint32_t bs = t->reg.buffer_entry_size, lba = t->info.lba_size;
	uint32_t n = bs < lba ? 1 : bs / lba, bytes = n * lba, i;
	uint64_t area = (uint64_t)t->reg.buffer_entries * bs, last;

	if (bytes > t->info.max_xfer)
		bytes = t->info.max_xfer, n = bytes / lba;
	if ((uint64_t)bytes > area / 2)
		return;		/* no room for two separate transfers */
	last = (area - bytes) / bs * bs;
	for (i = 0; i < bytes; i++)
		t->buf[i] = (uint8_t)(i * 13 + 5);
	memset(t->buf + last, 0xee, bytes);
	REQUIRE(th_rw(t, IO_UNIFIED_NVME_CMD_WRITE, 3, n, 0, &c) == 0, "write did not complete");
	CHECK(c.status == 0 && c.len == bytes, "write: status 0x%x len %u", c.status, c.len);
	REQUIRE(th_rw(t, IO_UNIFIED_NVME_CMD_READ, 3, n, last, &c) == 0, "read did not complete");
	CHECK(c.status == 0 && c.len == bytes && c.dma_addr == last, "read: status 0x%x len %u",
	      c.status, c.len);
	CHECK(!memcmp(t->buf, t->buf + last, bytes), "data did not round-trip");
}

static void t_layout_geometries(void)
{
	static const struct th_opts geoms[] = {
		{ .sq = 1, .cq = 0, .nbuf = 1, .bufsz = 512 },
		{ .sq = 1, .cq = 1, .nbuf = 2, .bufsz = 4096 },
		{ .sq = 64, .cq = 128, .nbuf = 64, .bufsz = 4096 },
		{ .sq = 256, .cq = 0, .nbuf = 1024, .bufsz = 4096 },
		{ .sq = 8, .cq = 16, .nbuf = 4, .bufsz = 8192 },
		{ .sq = 32, .cq = 32, .nbuf = 8, .bufsz = 65536 },
		{ .sq = 4, .cq = 0, .nbuf = 3, .bufsz = 1u << 20 },
		{ .sq = 16, .cq = 64, .nbuf = 3, .bufsz = 2u << 20 },
		{ .sq = 32768, .cq = 32768, .nbuf = 2, .bufsz = 4096 },
		{ .sq = 128, .cq = 0, .nbuf = 4096, .bufsz = 512 },
	};
	size_t i;

	for (i = 0; i < sizeof(geoms) / sizeof(geoms[0]); i++) {
		struct th_ctx t;
		int ret = th_open(&t, &geoms[i]);

		CHECK(ret == 0, "geometry %zu (sq %u cq %u %u x %u): %d", i, geoms[i].sq, geoms[i].cq,
		      geoms[i].nbuf, geoms[i].bufsz, ret);
		if (ret)
			continue;
		check_layout(&t, &geoms[i], 1);
		check_io(&t);
		CHECK(unified_buf_count(t.ctx) == geoms[i].nbuf, "buf_count %u", unified_buf_count(t.ctx));
		th_close(&t);
	}
}

/* unified_region_layout(): the same offsets and size as a registration of
 * the same geometry, for every geometry above and with network rings;
 * refusals write nothing. */
static void t_region_layout_matches_register(void)
{
	static const struct th_opts geoms[] = {
		{ .sq = 1, .cq = 0, .nbuf = 1, .bufsz = 512 },
		{ .sq = 64, .cq = 128, .nbuf = 64, .bufsz = 4096 },
		{ .sq = 8, .cq = 16, .nbuf = 4, .bufsz = 8192 },
		{ .sq = 4, .cq = 0, .nbuf = 3, .bufsz = 1u << 20 },
		{ .sq = 16, .cq = 64, .nbuf = 3, .bufsz = 2u << 20 },
		{ .sq = 32768, .cq = 32768, .nbuf = 2, .bufsz = 4096 },
	};
	struct io_unified_reg reg, before;
	uint64_t size = 7;
	size_t i;

	for (i = 0; i <= sizeof(geoms) / sizeof(geoms[0]); i++) {
		struct io_unified_net_reg net = { .fill_entries = 64, .rx_entries = 128 }, lnet = net;
		struct th_opts g = i < sizeof(geoms) / sizeof(geoms[0]) ? geoms[i] : geoms[1];
		struct th_ctx t;
		int ret;

		if (i == sizeof(geoms) / sizeof(geoms[0]))
			g.net = &net;	/* the last round: network rings too */
		memset(&reg, 0, sizeof(reg));
		reg.sq_entries = g.sq;
		reg.cq_entries = g.cq;
		reg.buffer_entries = g.nbuf;
		reg.buffer_entry_size = g.bufsz;
		if (g.net)
			reg.net_ptr = (uintptr_t)&lnet;
		CHECK(unified_region_layout(&reg, &size) == 0, "layout %zu: %s", i, unified_errmsg());
		ret = th_open(&t, &g);
		CHECK(ret == 0, "geometry %zu: register: %d", i, ret);	/* nothing compared is a failure */
		if (ret)
			continue;
		CHECK(!memcmp(&reg.offsets, &t.reg.offsets, sizeof(reg.offsets)),
		      "geometry %zu: offsets differ from the registration's (buffers %" PRIu64 " vs %"
		      PRIu64 ")", i, (uint64_t)reg.offsets.buffers, (uint64_t)t.reg.offsets.buffers);
		CHECK(reg.cq_entries == t.reg.cq_entries, "geometry %zu: cq_entries %u vs %u", i,
		      reg.cq_entries, t.reg.cq_entries);
		CHECK(size == unified_region_size(t.ctx), "geometry %zu: size %" PRIu64 " vs %zu", i,
		      size, unified_region_size(t.ctx));
		CHECK(reg.offsets.buffers % PAGE == 0, "geometry %zu: buffers not 4 KiB aligned", i);
		if (g.net)
			CHECK(!memcmp(&lnet, &net, sizeof(net)), "network ring offsets differ");
		th_close(&t);
	}
	/* Refusals: -EINVAL, *reg and *size untouched. */
	memset(&reg, 0, sizeof(reg));
	reg.sq_entries = 3;	/* not a power of two */
	reg.buffer_entries = 1;
	reg.buffer_entry_size = 4096;
	before = reg;
	size = 7;
	CHECK(unified_region_layout(&reg, &size) == -EINVAL, "sq_entries 3 accepted");
	CHECK(!memcmp(&reg, &before, sizeof(reg)) && size == 7, "a refused layout wrote");
	reg.sq_entries = 4;
	reg.__resv[1] = 1;
	before = reg;
	CHECK(unified_region_layout(&reg, &size) == -EINVAL, "reserved field accepted");
	CHECK(!memcmp(&reg, &before, sizeof(reg)) && size == 7, "a refused layout wrote");
	reg.__resv[1] = 0;
	CHECK(unified_region_layout(NULL, &size) == -EINVAL, "NULL reg");
	CHECK(unified_region_layout(&reg, NULL) == -EINVAL, "NULL size");
}

static void t_default_target_env(void)
{
	struct io_unified_region_desc desc = { 0 };
	struct io_unified_reg reg = { .region_ptr = (uintptr_t)&desc, .sq_entries = 8,
				      .buffer_entries = 8, .buffer_entry_size = 4096 };
	const char *path = th_path("default.img");
	struct unified_target_info info;
	struct unified_ctx *ctx = NULL;
	char got[512];
	struct stat st;
	int ret;

	NEED(th_need_tmpdir());
	setenv("UNIFIED_DEFAULT_FILE", path, 1);
	CHECK(unified_default_path(got, sizeof(got)) == 0 && !strcmp(got, path), "default path %s", got);
	CHECK(unified_default_path(got, 4) == -ENAMETOOLONG, "short buffer accepted");
	ret = unified_register(&reg, NULL, &ctx);
	unsetenv("UNIFIED_DEFAULT_FILE");
	REQUIRE(ret == 0, "register on the default target: %d (%s)", ret, unified_errmsg());
	CHECK(unified_target_info(ctx, &info) == 0, "info");
	CHECK(info.kind == UNIFIED_TARGET_FILE && !strcmp(info.path, path), "kind %u path %s",
	      info.kind, info.path);
	CHECK(info.lba_size == 4096 && info.nsid == 1 && info.nlba == (1ull << 30) / 4096,
	      "lba %u nsid %u nlba %" PRIu64, info.lba_size, info.nsid, info.nlba);
	CHECK(!strcmp(info.engine, "user"), "engine %s", info.engine);
	CHECK(stat(path, &st) == 0 && st.st_size == (1ll << 30), "default file not created at 1 GiB");
	CHECK(reg.cq_entries == 16, "cq default %u", reg.cq_entries);
	CHECK(unified_unregister(ctx) == 0, "unregister");
	unlink(path);
}

/* ------------------------------------------------------------ invalid input */

struct bad_case {
	const char *name;
	int err;			/* expected positive errno */
	void (*mod)(struct io_unified_reg *r, struct io_unified_region_desc *d,
		    struct unified_opts *o, void *user);
};

#define MOD(fn, body) \
	static void fn(struct io_unified_reg *r, struct io_unified_region_desc *d, \
		       struct unified_opts *o, void *user) \
	{ (void)r; (void)d; (void)o; (void)user; body; }

MOD(m_sq0, r->sq_entries = 0)
MOD(m_sq3, r->sq_entries = 3)
MOD(m_sq65536, r->sq_entries = 65536)
MOD(m_sqhuge, r->sq_entries = 0x80000000u)
MOD(m_cq3, r->cq_entries = 3)
MOD(m_cq100, r->cq_entries = 100)
MOD(m_cq65536, r->cq_entries = 65536)
MOD(m_bs256, r->buffer_entry_size = 256)
MOD(m_bs3000, r->buffer_entry_size = 3000)
MOD(m_bs4m, r->buffer_entry_size = 4u << 20)
MOD(m_bs0, r->buffer_entry_size = 0)
MOD(m_nbuf0, r->buffer_entries = 0)
MOD(m_nbufmax, r->buffer_entries = (1u << 24) + 1)
MOD(m_data64g, r->buffer_entry_size = 2u << 20; r->buffer_entries = 32769)
MOD(m_regflag1, r->flags = 1)
MOD(m_regflag31, r->flags = 1u << 31)
MOD(m_resv0, r->__resv0 = 1)
MOD(m_resv_a, r->__resv[0] = 1)
MOD(m_resv_b, r->__resv[1] = 1)
MOD(m_resv_c, r->__resv[2] = 1)
MOD(m_resv_d, r->__resv[2] = 1ull << 63)
MOD(m_noregion, r->region_ptr = 0)
MOD(m_dflag8, d->flags = 1u << 3)
MOD(m_dflag31, d->flags = 1u << 31)
MOD(m_dmmapoff, d->mmap_offset = 4096)
MOD(m_dresv0, d->__resv[0] = 1)
MOD(m_dresv3, d->__resv[3] = 1)
MOD(m_daddr_nouser, d->user_addr = 0x100000)
MOD(m_dsize_nouser, d->size = 1 << 20)
MOD(m_numa_noflag, d->numa_node = 1)
MOD(m_user_huge, d->flags = IO_UNIFIED_REGION_USER | IO_UNIFIED_REGION_HUGE_2M;
    d->user_addr = (uintptr_t)user; d->size = 64 << 20)
MOD(m_user_null, d->flags = IO_UNIFIED_REGION_USER; d->user_addr = 0; d->size = 64 << 20)
MOD(m_user_misaligned, d->flags = IO_UNIFIED_REGION_USER; d->user_addr = (uintptr_t)user + 512;
    d->size = (64 << 20) - 4096)
MOD(m_user_small, d->flags = IO_UNIFIED_REGION_USER; d->user_addr = (uintptr_t)user;
    d->size = 64 << 10)
MOD(m_user_small1, d->flags = IO_UNIFIED_REGION_USER; d->user_addr = (uintptr_t)user;
    d->size = 8192 + 8192 + 16384 + (8u << 20) - 1)
MOD(m_numa999, d->flags = IO_UNIFIED_REGION_NUMA; d->numa_node = 999)
MOD(m_numa_neg, d->flags = IO_UNIFIED_REGION_NUMA; d->numa_node = -1)
MOD(m_opt_mode, o->mode = 2)
MOD(m_opt_mode_big, o->mode = 0xffffffffu)
MOD(m_opt_flag, o->flags |= 1u << 4)
MOD(m_opt_flag31, o->flags |= 1u << 31)
MOD(m_opt_resv0, o->__resv[0] = 1)
MOD(m_opt_resv3, o->__resv[2] = 1)
MOD(m_opt_enter_spin, o->enter_spin_us = 1000001)
MOD(m_opt_spin, o->idle_spin_us = UINT32_MAX)
MOD(m_empty_path, r->nvme_dev_path = (uintptr_t)"")
MOD(m_opt_lba, o->lba_size = 1000)
MOD(m_no_target, r->nvme_dev_path = (uintptr_t)th_path("does-not-exist/x.img"))
MOD(m_target_dir, r->nvme_dev_path = (uintptr_t)th_tmpdir())
MOD(m_target_nocreate, r->nvme_dev_path = (uintptr_t)th_path("absent.img"); o->flags = 0)

static const struct bad_case bad_cases[] = {
	{ "sq_entries 0", EINVAL, m_sq0 },
	{ "sq_entries 3", EINVAL, m_sq3 },
	{ "sq_entries 65536", EINVAL, m_sq65536 },
	{ "sq_entries 2^31", EINVAL, m_sqhuge },
	{ "cq_entries 3", EINVAL, m_cq3 },
	{ "cq_entries 100", EINVAL, m_cq100 },
	{ "cq_entries 65536", EINVAL, m_cq65536 },
	{ "buffer_entry_size 256", EINVAL, m_bs256 },
	{ "buffer_entry_size 3000", EINVAL, m_bs3000 },
	{ "buffer_entry_size 4 MiB", EINVAL, m_bs4m },
	{ "buffer_entry_size 0", EINVAL, m_bs0 },
	{ "buffer_entries 0", EINVAL, m_nbuf0 },
	{ "buffer_entries 2^24+1", EINVAL, m_nbufmax },
	{ "data area > 64 GiB", EINVAL, m_data64g },
	{ "reg.flags bit 0", EINVAL, m_regflag1 },
	{ "reg.flags bit 31", EINVAL, m_regflag31 },
	{ "reg.__resv0", EINVAL, m_resv0 },
	{ "reg.__resv[0]", EINVAL, m_resv_a },
	{ "reg.__resv[1]", EINVAL, m_resv_b },
	{ "reg.__resv[2]", EINVAL, m_resv_c },
	{ "reg.__resv[2] (top bit)", EINVAL, m_resv_d },
	{ "reg.region_ptr 0", EINVAL, m_noregion },
	{ "desc.flags bit 3", EINVAL, m_dflag8 },
	{ "desc.flags bit 31", EINVAL, m_dflag31 },
	{ "desc.mmap_offset", EINVAL, m_dmmapoff },
	{ "desc.__resv[0]", EINVAL, m_dresv0 },
	{ "desc.__resv[3]", EINVAL, m_dresv3 },
	{ "desc.user_addr without USER", EINVAL, m_daddr_nouser },
	{ "desc.size without USER", EINVAL, m_dsize_nouser },
	{ "numa_node without NUMA", EINVAL, m_numa_noflag },
	{ "USER with HUGE_2M", EINVAL, m_user_huge },
	{ "USER address 0", EINVAL, m_user_null },
	{ "USER address misaligned", EINVAL, m_user_misaligned },
	{ "USER memory too small", ENOBUFS, m_user_small },
	{ "USER memory one byte short", ENOBUFS, m_user_small1 },
	{ "NUMA node 999", ENODEV, m_numa999 },
	{ "NUMA node -1", ENODEV, m_numa_neg },
	{ "opts.mode 2", EINVAL, m_opt_mode },
	{ "opts.mode ~0", EINVAL, m_opt_mode_big },
	{ "opts.flags bit 4", EINVAL, m_opt_flag },
	{ "opts.flags bit 31", EINVAL, m_opt_flag31 },
	{ "opts.__resv[0]", EINVAL, m_opt_resv0 },
	{ "opts.__resv[2]", EINVAL, m_opt_resv3 },
	{ "opts.enter_spin_us over 1 s", EINVAL, m_opt_enter_spin },
	{ "opts.idle_spin_us UINT32_MAX (issue 6 item 11)", EINVAL, m_opt_spin },
	{ "nvme_dev_path \"\" (issue 6 item 11)", EINVAL, m_empty_path },
	{ "opts.lba_size 1000", EINVAL, m_opt_lba },
	{ "target path missing", ENOENT, m_no_target },
	{ "target is a directory", EISDIR, m_target_dir },
	{ "target absent without CREATE", ENOENT, m_target_nocreate },
};

/*
 * Geometry used as the base of every invalid case: 8 MiB of data so that a
 * leaked region would show up clearly in /proc/self/maps.  Its exact size
 * is 8 KiB headers + 8 KiB SQEs + 16 KiB CQEs + 8 MiB (see m_user_small1).
 */
static void base_reg(struct io_unified_reg *r, struct io_unified_region_desc *d, struct unified_opts *o)
{
	memset(r, 0, sizeof(*r));
	memset(d, 0, sizeof(*d));
	memset(o, 0, sizeof(*o));
	r->region_ptr = (uintptr_t)d;
	r->nvme_dev_path = (uintptr_t)th_path("target.img");
	r->sq_entries = 64;
	r->cq_entries = 256;
	r->buffer_entries = 2048;
	r->buffer_entry_size = 4096;
	o->flags = UNIFIED_OPT_CREATE;
	o->file_size = 16 << 20;
}

static void t_invalid_registrations(void)
{
	void *user = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct th_maps *before = malloc(sizeof(*before));
	size_t i;

	NEED(th_need_tmpdir());
	REQUIRE(user != MAP_FAILED && before, "no memory");
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct io_unified_reg reg, reg0;
		struct io_unified_region_desc desc, desc0;
		struct unified_opts o, o0;
		struct unified_ctx *ctx = (struct unified_ctx *)(uintptr_t)0x5a5a;
		uint64_t leaked;
		int ret, fds;

		base_reg(&reg, &desc, &o);
		bc->mod(&reg, &desc, &o, user);
		reg0 = reg;
		desc0 = desc;
		o0 = o;
		memset(user, 0x77, 8192);
		fds = th_count_fds();
		th_maps_read(before);
		ret = unified_register(&reg, &o, &ctx);
		CHECK(ret == -bc->err, "%s: returned %d (%s), want %d", bc->name, ret, unified_errmsg(),
		      -bc->err);
		if (ret == 0) {
			unified_unregister(ctx);
			continue;
		}
		CHECK(unified_errmsg()[0], "%s: no error message", bc->name);
		CHECK(ctx == (struct unified_ctx *)(uintptr_t)0x5a5a, "%s: *ctxp written", bc->name);
		CHECK(!memcmp(&reg, &reg0, sizeof(reg)), "%s: reg changed", bc->name);
		CHECK(!memcmp(&desc, &desc0, sizeof(desc)), "%s: region desc changed", bc->name);
		CHECK(!memcmp(&o, &o0, sizeof(o)), "%s: opts changed", bc->name);
		leaked = th_maps_new_bytes(before, 8 << 20);
		CHECK(!leaked, "%s: a %" PRIu64 "-byte mapping was left behind", bc->name, leaked);
		CHECK(th_count_fds() == fds, "%s: %d fds before, %d after", bc->name, fds, th_count_fds());
		CHECK(((uint8_t *)user)[0] == 0x77 && ((uint8_t *)user)[4095] == 0x77,
		      "%s: caller memory written", bc->name);
	}
	/* The one-byte-short case's neighbour: exactly big enough works. */
	{
		struct io_unified_reg reg;
		struct io_unified_region_desc desc;
		struct unified_opts o;
		struct unified_ctx *ctx = NULL;
		int ret;

		base_reg(&reg, &desc, &o);
		m_user_small1(&reg, &desc, &o, user);
		desc.size++;
		ret = unified_register(&reg, &o, &ctx);
		CHECK(ret == 0, "USER memory of exactly the layout size: %d (%s)", ret, unified_errmsg());
		if (!ret)
			unified_unregister(ctx);
	}
	CHECK(unified_register(NULL, NULL, NULL) == -EINVAL, "NULL reg");
	{
		struct io_unified_reg reg;
		struct io_unified_region_desc desc;
		struct unified_opts o;

		base_reg(&reg, &desc, &o);
		CHECK(unified_register(&reg, &o, NULL) == -EINVAL, "NULL ctxp");
	}
	free(before);
	munmap(user, 64 << 20);
}

/* ------------------------------------------------------------ backings */

static int smaps_pagesize_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (in && sscanf(line, "KernelPageSize: %d kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* A /proc/meminfo value (for HugePages_* the unit is pages), or -1. */
static long meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key))) {
			v = strtol(line + strlen(key), NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void t_huge_2m_without_reserved_pages(void)
{
	struct io_unified_reg reg, reg0;
	struct io_unified_region_desc desc, desc0;
	struct unified_opts o;
	struct unified_ctx *ctx = NULL;
	struct th_maps *before;
	long nr = th_read_long(NR_HUGE), over = th_read_long(NR_OVERCOMMIT_HUGE);
	uint64_t leaked;
	int ret;

	if (nr != 0)
		SKIP("%s is %ld, not 0: huge pages are reserved on this machine", NR_HUGE, nr);
	if (over > 0)
		SKIP("%s is %ld: huge pages can be allocated on demand", NR_OVERCOMMIT_HUGE, over);
	NEED(th_need_tmpdir());
	before = malloc(sizeof(*before));
	REQUIRE(before, "no memory");
	base_reg(&reg, &desc, &o);
	desc.flags = IO_UNIFIED_REGION_HUGE_2M;
	reg0 = reg;
	desc0 = desc;
	th_maps_read(before);
	ret = unified_register(&reg, &o, &ctx);
	CHECK(ret == -ENOMEM, "returned %d (%s), want -ENOMEM", ret, unified_errmsg());
	CHECK(strstr(unified_errmsg(), "nr_hugepages") != NULL, "message does not mention nr_hugepages: %s",
	      unified_errmsg());
	CHECK(!memcmp(&reg, &reg0, sizeof(reg)) && !memcmp(&desc, &desc0, sizeof(desc)),
	      "reg/desc changed");
	leaked = th_maps_new_bytes(before, 8 << 20);
	CHECK(!leaked, "a %" PRIu64 "-byte mapping was left behind", leaked);
	if (!ret)
		unified_unregister(ctx);
	free(before);
}

static void t_huge_2m_with_reserved_pages(void)
{
	static const struct th_opts geoms[] = {
		{ .sq = 64, .cq = 128, .nbuf = 64, .bufsz = 4096 },		/* 1 huge page */
		{ .sq = 16, .cq = 0, .nbuf = 4, .bufsz = 2u << 20 },		/* buffers at 2 MiB, 5 huge pages */
	};
	long old = th_read_long(NR_HUGE), got;
	size_t i;

	if (old < 0)
		SKIP("cannot read %s", NR_HUGE);
	if (geteuid() != 0 && old < 16)
		SKIP("not root: cannot reserve huge pages in %s", NR_HUGE);
	if (old < 16 && th_write_long(NR_HUGE, 16))
		SKIP("cannot write %s", NR_HUGE);
	got = th_read_long(NR_HUGE);
	if (got < 16) {
		th_write_long(NR_HUGE, old);
		SKIP("only %ld huge pages could be reserved (memory fragmented?)", got);
	}
	if (meminfo_kb("HugePages_Free:") < 6) {
		long nfree = meminfo_kb("HugePages_Free:");

		if (old < 16)
			th_write_long(NR_HUGE, old);
		SKIP("only %ld of %ld reserved huge pages are free (in use elsewhere)", nfree, got);
	}
	for (i = 0; i < sizeof(geoms) / sizeof(geoms[0]); i++) {
		struct io_unified_region_desc desc = { .flags = IO_UNIFIED_REGION_HUGE_2M };
		struct io_unified_reg reg = {
			.region_ptr = (uintptr_t)&desc,
			.nvme_dev_path = (uintptr_t)th_path("target.img"),
			.sq_entries = geoms[i].sq, .cq_entries = geoms[i].cq,
			.buffer_entries = geoms[i].nbuf, .buffer_entry_size = geoms[i].bufsz,
		};
		struct unified_opts o = { .flags = UNIFIED_OPT_CREATE, .file_size = 16 << 20 };
		struct unified_ctx *ctx = NULL;
		struct th_ctx t;
		int ret;

		if (!th_tmpdir())
			break;
		ret = unified_register(&reg, &o, &ctx);
		CHECK(ret == 0, "HUGE_2M geometry %zu with %ld pages reserved: %d (%s)", i, got, ret,
		      unified_errmsg());
		if (ret)
			continue;
		th_attach(&t, ctx, &reg, &desc);
		check_layout(&t, &geoms[i], 1);
		CHECK(desc.user_addr % HUGE == 0, "region 0x%" PRIx64 " not 2 MiB aligned",
		      (uint64_t)desc.user_addr);
		CHECK(desc.size % HUGE == 0, "region size %" PRIu64 " not a 2 MiB multiple",
		      (uint64_t)desc.size);
		CHECK(smaps_pagesize_kb(unified_region(t.ctx)) == 2048, "region page size %d kB, not 2048",
		      smaps_pagesize_kb(unified_region(t.ctx)));
		check_io(&t);
		th_close(&t);
	}
	if (old < 16)
		CHECK(th_write_long(NR_HUGE, old) == 0 && th_read_long(NR_HUGE) == old,
		      "could not restore %s to %ld", NR_HUGE, old);
}

static void t_numa_node0(void)
{
	struct io_unified_region_desc desc = { .flags = IO_UNIFIED_REGION_NUMA, .numa_node = 0 };
	struct io_unified_reg reg = {
		.region_ptr = (uintptr_t)&desc,
		.nvme_dev_path = (uintptr_t)th_path("target.img"),
		.sq_entries = 32, .buffer_entries = 32, .buffer_entry_size = 4096,
	};
	struct unified_opts o = { .flags = UNIFIED_OPT_CREATE, .file_size = 16 << 20 };
	struct th_opts g = { .sq = 32, .cq = 0, .nbuf = 32, .bufsz = 4096 };
	struct unified_ctx *ctx = NULL;
	struct stat st;
	struct th_ctx t;
	int ret;

	if (stat("/sys/devices/system/node/node0", &st))
		SKIP("no NUMA node 0 in sysfs (kernel without CONFIG_NUMA)");
	NEED(th_need_tmpdir());
	ret = unified_register(&reg, &o, &ctx);
	REQUIRE(ret == 0, "NUMA node 0: %d (%s)", ret, unified_errmsg());
	th_attach(&t, ctx, &reg, &desc);
	check_layout(&t, &g, 1);
	check_io(&t);
	th_close(&t);
}

static void t_user_memory(void)
{
	size_t size = 4 << 20;
	uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct io_unified_region_desc desc = { .flags = IO_UNIFIED_REGION_USER };
	struct io_unified_reg reg = {
		.region_ptr = (uintptr_t)&desc,
		.nvme_dev_path = (uintptr_t)th_path("target.img"),
		.sq_entries = 16, .cq_entries = 64, .buffer_entries = 256, .buffer_entry_size = 4096,
	};
	struct unified_opts o = { .flags = UNIFIED_OPT_CREATE, .file_size = 16 << 20 };
	struct th_opts g = { .sq = 16, .cq = 64, .nbuf = 256, .bufsz = 4096 };
	struct unified_ctx *ctx = NULL;
	struct th_ctx t;
	int ret;

	REQUIRE(mem != MAP_FAILED, "mmap");
	NEED(th_need_tmpdir());
	memset(mem, 0xa5, size);	/* the library must clear the ring part itself */
	desc.user_addr = (uintptr_t)mem;
	desc.size = size;
	ret = unified_register(&reg, &o, &ctx);
	REQUIRE(ret == 0, "USER region: %d (%s)", ret, unified_errmsg());
	th_attach(&t, ctx, &reg, &desc);
	CHECK(unified_region(t.ctx) == mem, "region %p is not the caller's memory %p",
	      unified_region(t.ctx), (void *)mem);
	CHECK(desc.user_addr == (uintptr_t)mem && desc.size == size, "desc changed to 0x%" PRIx64 "/%" PRIu64,
	      (uint64_t)desc.user_addr, (uint64_t)desc.size);
	CHECK(unified_region_size(t.ctx) == size, "region size %zu", unified_region_size(t.ctx));
	check_layout(&t, &g, 0);
	CHECK(t.buf[0] == 0xa5 && t.buf[255 * 4096 + 4095] == 0xa5, "buffer area was modified");
	check_io(&t);
	th_close(&t);
	/* Unregistering must not unmap caller memory. */
	mem[0] = 1;
	mem[size - 1] = 2;
	CHECK(mem[0] == 1 && mem[size - 1] == 2, "caller memory gone");
	munmap(mem, size);
}

static void t_unregister_unmaps(void)
{
	struct th_opts g = { .sq = 64, .cq = 0, .nbuf = 2048, .bufsz = 4096 };
	struct th_maps *before = malloc(sizeof(*before));
	struct th_ctx t;
	uint64_t leaked;
	int fds;

	REQUIRE(before, "no memory");
	fds = th_count_fds();
	th_maps_read(before);
	REQUIRE(th_open(&t, &g) == 0, "register");
	CHECK(th_maps_new_bytes(before, 8 << 20) >= (8u << 20), "region not visible in maps");
	th_close(&t);
	leaked = th_maps_new_bytes(before, 8 << 20);
	CHECK(!leaked, "a %" PRIu64 "-byte mapping is left after unregister", leaked);
	CHECK(th_count_fds() == fds, "%d fds before, %d after", fds, th_count_fds());
	CHECK(unified_unregister(NULL) == -EINVAL, "unregister(NULL)");
	free(before);
}

int main(void)
{
	if (!th_tmpdir())
		printf("note: no temp dir on a disk file system; target cases will be skipped\n");
	RUN(t_abi_struct_sizes);
	RUN(t_layout_geometries);
	RUN(t_region_layout_matches_register);
	RUN(t_default_target_env);
	RUN(t_invalid_registrations);
	RUN(t_unregister_unmaps);
	RUN(t_huge_2m_without_reserved_pages);
	RUN(t_huge_2m_with_reserved_pages);
	RUN(t_numa_node0);
	RUN(t_user_memory);
	return harness_done();
}
