/* SPDX-License-Identifier: MIT */
/* CRC32C against published values (RFC 3720 appendix B.4, and the usual
 * "123456789" check value), whole and in pieces at odd alignments. */
#include "helpers.h"
#include "crc32c.h"

static void t_known_values(void)
{
	uint8_t b[32];
	uint32_t i;

	if (!unified_crc32c_available())
		SKIP("this CPU has no CRC32C instruction");
	CHECK(unified_crc32c(0, "123456789", 9) == 0xE3069283u, "check value");
	memset(b, 0, 32);
	CHECK(unified_crc32c(0, b, 32) == 0x8A9136AAu, "32 zero bytes: %#x", unified_crc32c(0, b, 32));
	memset(b, 0xff, 32);
	CHECK(unified_crc32c(0, b, 32) == 0x62A8AB43u, "32 0xff bytes: %#x", unified_crc32c(0, b, 32));
	for (i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	CHECK(unified_crc32c(0, b, 32) == 0x46DD794Eu, "0..31: %#x", unified_crc32c(0, b, 32));
	for (i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	CHECK(unified_crc32c(0, b, 32) == 0x113FDB5Cu, "31..0: %#x", unified_crc32c(0, b, 32));
}

static void t_pieces_and_alignment(void)
{
	static uint8_t buf[9000];
	uint64_t rs = th_seed;
	uint32_t whole, i;

	if (!unified_crc32c_available())
		SKIP("this CPU has no CRC32C instruction");
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)th_rand_next(&rs);
	for (uint32_t start = 0; start < 9; start++) {
		uint32_t n = (uint32_t)sizeof(buf) - 9, c = 0, at = 0;

		whole = unified_crc32c(0, buf + start, n);
		while (at < n) {
			uint32_t piece = 1 + (uint32_t)(th_rand_next(&rs) % 100);

			if (piece > n - at)
				piece = n - at;
			c = unified_crc32c(c, buf + start + at, piece);
			at += piece;
		}
		CHECK(c == whole, "start %u: pieces %#x, whole %#x", start, c, whole);
	}
	whole = unified_crc32c(0, buf, sizeof(buf));
	buf[100] ^= 1;
	CHECK(unified_crc32c(0, buf, sizeof(buf)) != whole, "a flipped bit is not seen");
}

int main(int argc, char **argv)
{
	harness_args(argc, argv);
	RUN(t_known_values);
	RUN(t_pieces_and_alignment);
	return harness_done();
}
