/* SPDX-License-Identifier: MIT */
/* CRC32C with the CPU instruction (crc32c.h). */
#include <string.h>
#include "crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>

int unified_crc32c_available(void)
{
	return __builtin_cpu_supports("sse4.2");
}

__attribute__((target("sse4.2")))
uint32_t unified_crc32c(uint32_t crc, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t c = ~crc;

	while (len >= 8) {
		uint64_t w;

		memcpy(&w, b, 8);	/* any alignment */
		c = _mm_crc32_u64(c, w);
		b += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *b++);
	return ~(uint32_t)c;
}
#elif defined(__aarch64__)
#include <arm_acle.h>
#include <sys/auxv.h>
#include <asm/hwcap.h>

int unified_crc32c_available(void)
{
	return !!(getauxval(AT_HWCAP) & HWCAP_CRC32);
}

__attribute__((target("+crc")))
uint32_t unified_crc32c(uint32_t crc, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t c = ~crc;

	while (len >= 8) {
		uint64_t w;

		memcpy(&w, b, 8);
		c = __crc32cd(c, w);
		b += 8;
		len -= 8;
	}
	while (len--)
		c = __crc32cb(c, *b++);
	return ~c;
}
#else
#error "CRC32C needs the CPU instruction: x86-64 (SSE4.2) or arm64 (CRC32)"
#endif
