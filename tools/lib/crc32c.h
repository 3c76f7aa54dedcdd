/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli, the iSCSI/ext4/NVMe polynomial 0x1EDC6F41) with the
 * CPU's instruction: SSE4.2 crc32 on x86-64, the ARMv8 CRC32C instructions
 * on arm64.  unified-ingest checks its journal records with it.
 */
#ifndef UNIFIED_CRC32C_H
#define UNIFIED_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* 1 if this CPU has the instruction (else crc32c() must not be called). */
int unified_crc32c_available(void);

/* CRC32C of @len bytes at @p, continuing from @crc (0 to start): the
 * standard value (initial ~0, final xor ~0), so crc32c(0, "123456789", 9)
 * is 0xE3069283 and a buffer may be checked in pieces. */
uint32_t unified_crc32c(uint32_t crc, const void *p, size_t len);

#endif
