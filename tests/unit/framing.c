/* SPDX-License-Identifier: MIT */
/*
 * RFC 6587 framing (tools/lib/framing.c, for unified-ingest): messages
 * found at the right stream offsets whatever the pieces the stream arrives
 * in, both framings mixed, and every malformed header refused at the
 * offending byte, for good.
 */
#include "helpers.h"
#include "framing.h"

struct got {
	uint64_t off[8192];
	uint32_t len[8192];
	uint32_t n;
};

static void collect(void *arg, uint64_t off, uint32_t len)
{
	struct got *g = arg;

	if (g->n < 8192) {
		g->off[g->n] = off;
		g->len[g->n] = len;
	}
	g->n++;
}

/* Feed @s (@n bytes) in pieces of 1..@maxpiece bytes (0: all at once). */
static int feed(struct unified_framer *f, const uint8_t *s, uint32_t n, uint32_t maxpiece,
		uint64_t *rs, struct got *g)
{
	uint32_t at = 0;
	int ret = 0;

	while (at < n && !ret) {
		uint32_t piece = maxpiece ? 1 + (uint32_t)(th_rand_next(rs) % maxpiece) : n;

		if (piece > n - at)
			piece = n - at;
		ret = unified_framer_feed(f, s + at, piece, at, collect, g);
		at += piece;
	}
	return ret;
}

/* A stream of @count messages of 1..2000 bytes, octet-counted or
 * LF-terminated at random; the messages' offsets and lengths in @want. */
static uint32_t make_stream(uint8_t *s, uint32_t cap, uint32_t count, struct got *want, uint64_t *rs)
{
	uint32_t at = 0, k;

	want->n = 0;
	for (k = 0; k < count; k++) {
		uint32_t len = 1 + (uint32_t)(th_rand_next(rs) % 2000), i;
		bool octet = th_rand_next(rs) & 1;

		if (at + len + 16 > cap)
			break;
		if (octet) {
			at += (uint32_t)sprintf((char *)s + at, "%u ", len);
			want->off[want->n] = at;
			for (i = 0; i < len; i++)	/* any byte, LF included */
				s[at + i] = (uint8_t)th_rand_next(rs);
		} else {
			want->off[want->n] = at;
			s[at] = '<';
			for (i = 1; i < len; i++) {
				uint8_t c = (uint8_t)(32 + th_rand_next(rs) % 95);

				s[at + i] = c;
			}
		}
		want->len[want->n++] = len;
		at += len;
		if (!octet)
			s[at++] = '\n';
	}
	return at;
}

static void t_pieces_do_not_matter(void)
{
	static uint8_t s[4 << 20];
	static struct got want, got;
	uint64_t rs = th_seed;
	uint32_t n = make_stream(s, sizeof(s), 3000, &want, &rs), pieces[] = { 0, 1, 7, 300, 65536 };

	for (uint32_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
		struct unified_framer f;

		unified_framer_init(&f, 4096);
		got.n = 0;
		REQUIRE(feed(&f, s, n, pieces[p], &rs, &got) == 0, "pieces of %u: refused: %s at %" PRIu64,
			pieces[p], f.err ? f.err : "", f.err_off);
		REQUIRE(got.n == want.n, "pieces of %u: %u messages, %u sent", pieces[p], got.n, want.n);
		for (uint32_t i = 0; i < want.n; i++)
			REQUIRE(got.off[i] == want.off[i] && got.len[i] == want.len[i],
				"pieces of %u, message %u: at %" PRIu64 " len %u, sent at %" PRIu64 " len %u",
				pieces[p], i, got.off[i], got.len[i], want.off[i], want.len[i]);
		CHECK(unified_framer_idle(&f), "not idle after whole messages");
	}
}

static void t_examples(void)
{
	struct unified_framer f;
	struct got g = { .n = 0 };
	const char *s = "11 <13>1 hello\n<14>plain line\n\n<15>crlf\r\n";

	unified_framer_init(&f, 100);
	REQUIRE(unified_framer_feed(&f, (const uint8_t *)s, (uint32_t)strlen(s), 0, collect, &g) == 0,
		"refused: %s", f.err);
	REQUIRE(g.n == 3, "%u messages", g.n);
	CHECK(g.off[0] == 3 && g.len[0] == 11, "octet-counted message at %" PRIu64 " len %u", g.off[0],
	      g.len[0]);
	CHECK(!memcmp(s + g.off[1], "<14>plain line", g.len[1]) && g.len[1] == 14, "LF message");
	CHECK(g.len[2] == 9 && s[g.off[2] + 8] == '\r', "the CR before LF stays in the message");
	/* half a frame: not idle, nothing emitted yet */
	g.n = 0;
	REQUIRE(unified_framer_feed(&f, (const uint8_t *)"20 <1>", 6, 100, collect, &g) == 0, "piece");
	CHECK(g.n == 0 && !unified_framer_idle(&f), "a partial frame");
}

static void t_malformed_refused(void)
{
	static const struct { const char *in; uint32_t at; const char *why; } bad[] = {
		{ "abc", 0, "neither a length" },
		{ "\x00\x01\x02", 0, "neither a length" },
		{ "0 x", 0, "leading zero" },
		{ "012 hello", 0, "leading zero" },
		{ "12x hello", 2, "not followed by a space" },
		{ "12345678901 ", 4, "larger than" },	/* over max 4096 at the 5th digit */
		{ "5000 xx", 3, "larger than" },
		{ "4097 ", 3, "larger than" },
	};
	uint32_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct unified_framer f;
		struct got g = { .n = 0 };
		uint32_t n = (uint32_t)(strlen(bad[i].in) ? strlen(bad[i].in) : 3);
		int ret;

		unified_framer_init(&f, 4096);
		ret = unified_framer_feed(&f, (const uint8_t *)bad[i].in, n, 0, collect, &g);
		CHECK(ret == -EBADMSG && f.err && strstr(f.err, bad[i].why) && f.err_off == bad[i].at &&
		      !g.n, "'%s': %d, '%s' at %" PRIu64 ", want '%s' at %u", bad[i].in, ret,
		      f.err ? f.err : "", f.err_off, bad[i].why, bad[i].at);
		/* refused for good */
		CHECK(unified_framer_feed(&f, (const uint8_t *)"5 hello", 7, n, collect, &g) == -EBADMSG &&
		      !g.n, "'%s': accepted bytes after a refusal", bad[i].in);
	}
}

static void t_line_too_long(void)
{
	static uint8_t s[10000];
	struct unified_framer f;
	struct got g = { .n = 0 };
	uint64_t rs = 1;

	memset(s, 'x', sizeof(s));
	s[0] = '<';
	unified_framer_init(&f, 4096);
	CHECK(feed(&f, s, sizeof(s), 333, &rs, &g) == -EBADMSG && f.err && strstr(f.err, "line longer") &&
	      !g.n, "a 10000-byte line with a 4096-byte limit: %s", f.err ? f.err : "accepted");
	/* exactly the limit is fine */
	unified_framer_init(&f, 4096);
	s[4096] = '\n';
	CHECK(unified_framer_feed(&f, s, 4097, 0, collect, &g) == 0 && g.n == 1 && g.len[0] == 4096,
	      "a 4096-byte line: %s", f.err ? f.err : "");
}

int main(int argc, char **argv)
{
	harness_args(argc, argv);
	RUN(t_examples);
	RUN(t_pieces_do_not_matter);
	RUN(t_malformed_refused);
	RUN(t_line_too_long);
	return harness_done();
}
