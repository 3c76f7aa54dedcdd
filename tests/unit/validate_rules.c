/* SPDX-License-Identifier: MIT */
/*
 * The trust boundary's rule table (lib/validate.c, docs/security.md),
 * checked directly on the validator as an NVMe passthrough target sees it:
 * every opcode the table knows, with a buffer of exactly the size the
 * command defines (accepted), one byte less (Invalid Field), and none
 * (Invalid Field, or accepted where the command may move nothing); the
 * admin classes with and without UNIFIED_OPT_ADMIN_DESTRUCTIVE.  On the
 * real controller the same rules are exercised by tests/nvme/nvme_target.c.
 * This links the library's internal validator (hidden from the shared
 * library, present in the static one).
 */
#include "helpers.h"
#include "internal.h"

static struct unified_engine E;

static void setup(uint32_t opt_flags)
{
	memset(&E, 0, sizeof(E));
	E.tgt.ops = &unified_target_nvme_ops;
	E.tgt.kind = UNIFIED_TARGET_NVME;
	E.tgt.nsid = 1;
	E.tgt.lba_shift = 12;
	E.tgt.max_xfer = 1u << 20;
	E.tgt.buf_align = 4;
	E.tgt.opt_flags = opt_flags;
	memset(E.tgt.opcodes, 0xff, sizeof(E.tgt.opcodes));	/* passthrough: every opcode */
	E.data_size = 4u << 20;
}

/* Validate: 0 if accepted, else the status. */
static uint16_t check(bool admin, uint8_t op, uint32_t nsid, uint32_t len, const uint32_t cdw[6])
{
	struct io_unified_sqe s;
	struct unified_cmd cmd;

	memset(&s, 0, sizeof(s));
	memset(&cmd, 0, sizeof(cmd));
	s.nvme_cmd.opcode = op;
	s.nvme_cmd.nsid = nsid;
	s.len = len;
	s.flags = admin ? IO_UNIFIED_SQE_F_ADMIN : 0;
	s.nvme_cmd.cdw10 = cdw[0];
	s.nvme_cmd.cdw11 = cdw[1];
	s.nvme_cmd.cdw12 = cdw[2];
	s.nvme_cmd.cdw13 = cdw[3];
	return unified_validate(&E, &cmd, &s) ? cmd.status : 0;
}

struct sized {
	const char *name;
	bool admin;
	uint8_t op;
	uint32_t cdw[6];
	uint32_t bytes;		/* what the command moves */
	bool optional;		/* may also carry no buffer */
};

/* Destructive admin commands are given UNIFIED_OPT_ADMIN_DESTRUCTIVE here. */
static const struct sized sized[] = {
	{ "Read 8 blocks", 0, 0x02, { 0, 0, 7 }, 8 * 4096, 0 },
	{ "Write 1 block", 0, 0x01, { 0, 0, 0 }, 4096, 0 },
	{ "Compare 2 blocks", 0, 0x05, { 0, 0, 1 }, 2 * 4096, 0 },
	{ "Zone Append 4 blocks", 0, 0x7d, { 0, 0, 3 }, 4 * 4096, 0 },
	{ "DSM 3 ranges", 0, 0x09, { 2, 4 }, 48, 0 },
	{ "Copy 2 ranges, format 0", 0, 0x19, { 0, 0, 1 }, 64, 0 },
	{ "Copy 2 ranges, format 1", 0, 0x19, { 0, 0, 1 | 1u << 8 }, 80, 0 },
	{ "Reservation Register", 0, 0x0d, { 0 }, 16, 0 },
	{ "Reservation Acquire", 0, 0x11, { 0 }, 16, 0 },
	{ "Reservation Release", 0, 0x15, { 0 }, 8, 0 },
	{ "Reservation Report NUMD 1023", 0, 0x0e, { 1023 }, 4096, 0 },
	{ "Zone Management Receive NUMD 255", 0, 0x7a, { 0, 0, 255 }, 1024, 0 },
	{ "Zone Management Send ZSA 10h", 0, 0x79, { 0, 0, 0, 0x10 }, 64, 0 },
	{ "I/O Management Receive NUMD 1023", 0, 0x12, { 0, 1023 }, 4096, 0 },
	{ "I/O Management Send MO 1h, 128 handles", 0, 0x1d, { 1 | 127u << 16 }, 256, 0 },
	{ "Identify", 1, 0x06, { 1 }, 4096, 0 },
	{ "Get Log Page NUMDL 127", 1, 0x02, { 127u << 16 | 2 }, 512, 0 },
	{ "Get Log Page NUMDU 1", 1, 0x02, { 2, 1 }, (65536 + 1) * 4, 0 },
	{ "Get Features LBA Range Type", 1, 0x0a, { 0x03 }, 4096, 0 },
	{ "Get Features Timestamp", 1, 0x0a, { 0x0e }, 8, 0 },
	{ "Get Features Number of Queues", 1, 0x0a, { 0x07 }, 0, 1 },
	{ "Firmware Image Download NUMD 255", 1, 0x11, { 255 }, 1024, 0 },
	{ "Directive Receive NUMD 3", 1, 0x1a, { 3 }, 16, 0 },
	{ "Directive Send NUMD 1023", 1, 0x19, { 1023 }, 4096, 0 },
	{ "Security Receive AL 512", 1, 0x82, { 0, 512 }, 512, 0 },
	{ "Security Send TL 100", 1, 0x81, { 0, 100 }, 100, 0 },
	{ "Get LBA Status MNDW 15", 1, 0x86, { 0, 0, 15 }, 64, 0 },
	{ "Namespace Attachment", 1, 0x15, { 0 }, 4096, 0 },
	{ "Namespace Management create", 1, 0x0d, { 0 }, 4096, 0 },
};

static void t_command_defined_sizes(void)
{
	size_t i;

	for (i = 0; i < sizeof(sized) / sizeof(sized[0]); i++) {
		const struct sized *c = &sized[i];
		uint32_t ns = c->admin ? 0 : 1;
		uint16_t st;

		setup(UNIFIED_OPT_ADMIN_DESTRUCTIVE);
		if (c->bytes) {
			st = check(c->admin, c->op, ns, c->bytes, c->cdw);
			CHECK(st == 0, "%s with %u bytes: status 0x%x, want accepted", c->name, c->bytes, st);
			st = check(c->admin, c->op, ns, c->bytes - 1, c->cdw);
			CHECK(st == 0x4002, "%s with %u bytes (one short): status 0x%x, want Invalid Field",
			      c->name, c->bytes - 1, st);
		}
		st = check(c->admin, c->op, ns, 0, c->cdw);
		/* len 0: derived from the command (accepted) where a size is
		 * defined; accepted with no data where it may move nothing */
		CHECK(st == 0, "%s with len 0 (derived): status 0x%x, want accepted", c->name, st);
	}
}

static void t_data_direction(void)
{
	static const uint32_t z[6];
	static const uint8_t nodata[] = { 0x00, 0x04, 0x08, 0x0c, 0x10, 0x80, 0x84 };
	size_t i;

	setup(0);
	for (i = 0; i < sizeof(nodata); i++)
		CHECK(check(0, nodata[i], 1, 4096, z) == 0x4002, "I/O opcode 0x%02x (no data) with a buffer",
		      nodata[i]);
	/* data-moving opcodes the table does not know: a buffer is required */
	CHECK(check(0, 0x81, 1, 0, z) == 0x4002, "vendor 81h without a buffer");
	CHECK(check(0, 0x82, 1, 0, z) == 0x4002, "vendor 82h without a buffer");
	CHECK(check(0, 0x83, 1, 0, z) == 0x4002, "vendor 83h without a buffer");
	CHECK(check(0, 0x81, 1, 512, z) == 0, "vendor 81h with a buffer");
	CHECK(check(0, 0x7c, 1, 0, z) == 0, "a no-data opcode without a buffer");
}

static void t_admin_policy(void)
{
	static const uint32_t z[6];
	uint32_t c[6] = { 0 };
	static const uint8_t destructive[] = { 0x80, 0x84, 0x10, 0x11, 0x14, 0x1c, 0x1d, 0x81,
					       0x19, 0x0d, 0x15, 0xc0, 0xff };
	static const uint8_t driver[] = { 0x00, 0x01, 0x04, 0x05, 0x08, 0x0c, 0x7c };
	size_t i;

	for (i = 0; i < sizeof(destructive); i++) {
		setup(0);
		CHECK(check(1, destructive[i], 0, 4096, z) == 0x4286, "admin 0x%02x without the option",
		      destructive[i]);
		setup(UNIFIED_OPT_ADMIN_DESTRUCTIVE);
		CHECK(check(1, destructive[i], 0, 4096, z) != 0x4286, "admin 0x%02x with the option",
		      destructive[i]);
	}
	for (i = 0; i < sizeof(driver); i++) {
		setup(UNIFIED_OPT_ADMIN_DESTRUCTIVE);
		CHECK(check(1, driver[i], 0, 0, z) == 0x4286, "driver-owned admin 0x%02x", driver[i]);
	}
	/* Set Features: harmless, controller-wide, driver-owned, Save */
	setup(0);
	c[0] = 0x04;
	CHECK(check(1, 0x09, 0, 0, c) == 0, "Set Features Temperature Threshold");
	c[0] = 0x0e;
	CHECK(check(1, 0x09, 0, 8, c) == 0, "Set Features Timestamp");
	c[0] = 0x06;
	CHECK(check(1, 0x09, 0, 0, c) == 0x4286, "Set Features VWC without the option");
	c[0] = 0x04 | 1u << 31;
	CHECK(check(1, 0x09, 0, 0, c) == 0x4286, "Set Features with Save without the option");
	setup(UNIFIED_OPT_ADMIN_DESTRUCTIVE);
	c[0] = 0x06;
	CHECK(check(1, 0x09, 0, 0, c) == 0, "Set Features VWC with the option");
	c[0] = 0x0d;
	CHECK(check(1, 0x09, 0, 4096, c) == 0x4286, "Set Features Host Memory Buffer");
	c[0] = 0x07;
	CHECK(check(1, 0x09, 0, 0, c) == 0x4286, "Set Features Number of Queues (the driver's)");
	/* an emulated controller has no driver: its Number of Queues answers */
	E.tgt.kind = UNIFIED_TARGET_FILE;
	CHECK(check(1, 0x09, 0, 0, c) == 0, "emulated Set Features Number of Queues");
	/* namespaces */
	setup(0);
	c[0] = 127u << 16 | 2;
	CHECK(check(1, 0x02, 1, 512, c) == 0, "SMART log of our namespace");
	CHECK(check(1, 0x02, 0xffffffffu, 512, c) == 0, "SMART log of all namespaces");
	CHECK(check(1, 0x02, 2, 512, c) == 0x4286, "SMART log of another namespace");
	c[0] = 0;
	CHECK(check(1, 0x06, 7, 4096, c) == 0, "Identify of any namespace");
	c[0] = 0x04;
	CHECK(check(1, 0x09, 0xffffffffu, 0, c) == 0x4286, "Set Features on all namespaces");
}

int main(void)
{
	RUN(t_command_defined_sizes);
	RUN(t_data_direction);
	RUN(t_admin_policy);
	return harness_done();
}
