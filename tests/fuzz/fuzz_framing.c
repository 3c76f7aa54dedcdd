/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: unified-ingest's two stream parsers, the RFC 6587
 * framer (tools/lib/framing.c) and the RELP parser (tools/lib/relp.c), on
 * whatever a network peer could send.
 *
 * Input: byte 0 picks the largest piece (1..64 bytes, or 0: everything
 * at once), byte 1 the longest message accepted (1..4096); the rest is
 * the stream.  Each parser reads it twice: in one piece, and in pieces of
 * varying size taken from the stream's own bytes.
 *
 * Oracles:
 *  - the pieces do not matter: both readings give the same messages (or
 *    frames) and refuse at the same offset, for the same reason;
 *  - every message lies inside the bytes fed, after the previous one, and
 *    is at most the longest accepted; an octet-counted one is preceded by
 *    its decimal length and a space, an LF-framed one starts with '<' and
 *    is followed by LF with no LF inside;
 *  - a RELP frame's DATA is followed by LF, its transaction number has at
 *    most 9 digits;
 *  - once refused, a parser takes nothing more.
 */
#include "fuzz_common.h"
#include "framing.h"
#include "relp.h"

#define MAXM 4096u

struct msg { uint64_t off; uint32_t len, txnr; int cmd; };
struct out { struct msg m[MAXM]; uint32_t n; uint64_t frame_end; };

static const uint8_t *S;
static size_t SN;
static uint32_t max_msg;

static void put(struct out *o, uint64_t off, uint32_t len, uint32_t txnr, int cmd)
{
	FZ_CHECK(off + len <= SN, "message [%llu, +%u) past the %zu bytes fed", (unsigned long long)off,
		 len, SN);
	FZ_CHECK(len <= max_msg, "message of %u bytes, the limit is %u", len, max_msg);
	if (o->n) {
		const struct msg *p = &o->m[o->n - 1];

		FZ_CHECK(off >= p->off + p->len, "messages overlap or go back");
	}
	if (o->n < MAXM)
		o->m[o->n] = (struct msg){ off, len, txnr, cmd };
	o->n++;
}

static void emit_frame(void *arg, uint64_t off, uint32_t len)
{
	struct out *o = arg;
	uint64_t at = o->frame_end;
	char num[16];
	int k;

	put(o, off, len, 0, 0);
	while (at < off && S[at] == '\n')	/* empty lines between frames */
		at++;
	k = snprintf(num, sizeof(num), "%u ", len);
	if (at < off) {			/* octet counting: exactly "LEN " before it */
		FZ_CHECK(off - at == (uint64_t)k && !memcmp(S + at, num, (size_t)k),
			 "octet-counted message not preceded by exactly its length");
		o->frame_end = off + len;
	} else {			/* LF framing: from '<' to the LF */
		FZ_CHECK(len && S[off] == '<' && off + len < SN && S[off + len] == '\n' &&
			 !memchr(S + off, '\n', len), "LF-framed message badly delimited");
		o->frame_end = off + len + 1;
	}
}

static void emit_relp(void *arg, uint32_t txnr, enum relp_cmd cmd, uint64_t off, uint32_t len)
{
	struct out *o = arg;

	put(o, off, len, txnr, (int)cmd);
	FZ_CHECK(txnr <= RELP_MAX_TXNR, "transaction number %u", txnr);
	FZ_CHECK(off + len < SN && S[off + len] == '\n', "RELP DATA not followed by LF");
}

static bool same(const struct out *a, const struct out *b)
{
	uint32_t n = a->n < MAXM ? a->n : MAXM;

	return a->n == b->n && !memcmp(a->m, b->m, n * sizeof(a->m[0]));
}

static struct out whole, pieces;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t maxpiece;

	if (size < 2)
		return 0;
	maxpiece = data[0] % 65;
	max_msg = 1 + ((uint32_t)data[1] << 4) % MAXM;
	S = data + 2;
	SN = size - 2;
	for (int parser = 0; parser < 2; parser++) {
		struct unified_framer f1, f2;
		struct relp_parser r1, r2;
		int ret1, ret2 = 0;
		size_t at = 0, k = 0;

		memset(&whole, 0, sizeof(whole));
		memset(&pieces, 0, sizeof(pieces));
		unified_framer_init(&f1, max_msg);
		unified_framer_init(&f2, max_msg);
		relp_init(&r1, max_msg);
		relp_init(&r2, max_msg);
		ret1 = parser ? relp_feed(&r1, S, (uint32_t)SN, 0, emit_relp, &whole) :
				unified_framer_feed(&f1, S, (uint32_t)SN, 0, emit_frame, &whole);
		while (at < SN && !ret2) {
			size_t piece = maxpiece ? 1 + S[k++ % SN] % maxpiece : SN;

			if (piece > SN - at)
				piece = SN - at;
			ret2 = parser ? relp_feed(&r2, S + at, (uint32_t)piece, at, emit_relp, &pieces) :
					unified_framer_feed(&f2, S + at, (uint32_t)piece, at, emit_frame, &pieces);
			at += piece;
		}
		FZ_CHECK(ret1 == ret2 && same(&whole, &pieces),
			 "parser %d: %u messages whole (ret %d), %u in pieces of <= %u (ret %d)", parser,
			 whole.n, ret1, pieces.n, maxpiece, ret2);
		if (ret1) {
			uint32_t before = pieces.n;

			FZ_CHECK(parser ? r1.err_off == r2.err_off && r1.err == r2.err :
					  f1.err_off == f2.err_off && f1.err == f2.err,
				 "parser %d: refused at different places", parser);
			ret2 = parser ? relp_feed(&r2, (const uint8_t *)"1 syslog 1 a\n", 13, SN, emit_relp,
						  &pieces) :
					unified_framer_feed(&f2, (const uint8_t *)"1 a", 3, SN, emit_frame, &pieces);
			FZ_CHECK(ret2 == -EBADMSG && pieces.n == before, "a refused stream took more");
		}
	}
	return 0;
}
