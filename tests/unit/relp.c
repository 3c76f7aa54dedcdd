/* SPDX-License-Identifier: MIT */
/*
 * RELP frames (tools/lib/relp.c, for unified-ingest): the frames librelp
 * sends found with the right transaction number, command and DATA offset
 * whatever the pieces the stream arrives in, and every malformed header
 * refused at the offending byte, for good.
 */
#include "helpers.h"
#include "relp.h"

struct frame {
	uint32_t txnr;
	enum relp_cmd cmd;
	uint64_t off;
	uint32_t len;
};

struct got {
	struct frame f[64];
	uint32_t n;
};

static void collect(void *arg, uint32_t txnr, enum relp_cmd cmd, uint64_t off, uint32_t len)
{
	struct got *g = arg;

	if (g->n < 64)
		g->f[g->n] = (struct frame){ txnr, cmd, off, len };
	g->n++;
}

static const char session[] =
	"1 open 86 relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n"
	"2 syslog 5 hello\n"
	"3 syslog 12 line1\nline2\n\n"	/* DATA may hold LFs */
	"4 foo 0\n"
	"999999999 close 0\n";

static void check_session(const struct got *g)
{
	static const struct frame want[] = {
		{ 1, RELP_OPEN, 10, 86 },
		{ 2, RELP_SYSLOG, 108, 5 },
		{ 3, RELP_SYSLOG, 126, 12 },
		{ 4, RELP_OTHER, 146, 0 },	/* no DATA: the offset of its LF */
		{ 999999999, RELP_CLOSE, 164, 0 },
	};

	CHECK(g->n == 5, "%u frames, want 5", g->n);
	for (uint32_t i = 0; i < 5 && i < g->n; i++)
		CHECK(g->f[i].txnr == want[i].txnr && g->f[i].cmd == want[i].cmd &&
		      g->f[i].off == want[i].off && g->f[i].len == want[i].len,
		      "frame %u: txnr %u cmd %d off %" PRIu64 " len %u, want %u %d %" PRIu64 " %u", i,
		      g->f[i].txnr, g->f[i].cmd, g->f[i].off, g->f[i].len, want[i].txnr, want[i].cmd,
		      want[i].off, want[i].len);
	CHECK(!memcmp(session + g->f[1].off, "hello", 5) &&
	      !memcmp(session + g->f[2].off, "line1\nline2\n", 12), "DATA offsets point elsewhere");
}

static void t_session_in_any_pieces(void)
{
	uint32_t n = sizeof(session) - 1;

	for (uint32_t piece = 1; piece <= n; piece = piece < 8 ? piece + 1 : piece * 2) {
		struct relp_parser p;
		struct got g = { .n = 0 };
		int ret = 0;

		relp_init(&p, 1000);
		for (uint32_t at = 0; at < n && !ret; at += piece)
			ret = relp_feed(&p, (const uint8_t *)session + at, at + piece > n ? n - at : piece,
					at, collect, &g);
		CHECK(!ret, "pieces of %u: refused: %s", piece, p.err);
		check_session(&g);
		CHECK(relp_idle(&p), "pieces of %u: not idle at the end", piece);
	}
}

static void t_malformed_refused(void)
{
	static const struct {
		const char *s;
		uint32_t at;	/* offset of the byte refused */
	} bad[] = {
		{ "x syslog 1 a\n", 0 },		/* no transaction number */
		{ "1234567890 syslog 1 a\n", 9 },	/* 10 digits */
		{ "1 sys1og 1 a\n", 5 },		/* command not a word */
		{ "1 syslog 1x a\n", 10 },		/* DATALEN not a number */
		{ "1 syslog 2001 ", 12 },		/* DATALEN over the limit */
		{ "1 syslog 3 abcX", 14 },		/* no LF after DATA */
		{ "1  syslog 1 a\n", 2 },		/* empty command */
		{ "1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 0\n", 34 },	/* command over 32 letters */
	};

	for (uint32_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct relp_parser p;
		struct got g = { .n = 0 };
		int ret;

		relp_init(&p, 2000);
		ret = relp_feed(&p, (const uint8_t *)bad[i].s, (uint32_t)strlen(bad[i].s), 0, collect, &g);
		CHECK(ret == -EBADMSG && p.err && p.err_off == bad[i].at && !g.n,
		      "'%s': ret %d, refused at %" PRIu64 " (%s), want %u", bad[i].s, ret, p.err_off,
		      p.err ? p.err : "-", bad[i].at);
		ret = relp_feed(&p, (const uint8_t *)"1 syslog 1 a\n", 13, 100, collect, &g);
		CHECK(ret == -EBADMSG && !g.n, "'%s': a refused stream took more frames", bad[i].s);
	}
}

int main(int argc, char **argv)
{
	harness_args(argc, argv);
	RUN(t_session_in_any_pieces);
	RUN(t_malformed_refused);
	return harness_done();
}
