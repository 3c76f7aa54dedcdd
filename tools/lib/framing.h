/* SPDX-License-Identifier: MIT */
/*
 * Syslog over TCP framing (RFC 6587), for unified-ingest: octet counting
 * ("MSG-LEN SP SYSLOG-MSG", section 3.4.1) and non-transparent framing
 * (messages ended by LF, section 3.4.2), detected frame by frame as
 * rsyslog does: a frame starting with a digit is octet-counted, one
 * starting with '<' (a PRI) is LF-terminated, anything else is refused.
 *
 * The framer reads the stream in the pieces it arrives in (receive
 * buffers, in stream order) and never copies a message: it reports each
 * one as a (stream offset, length) pair, so the bytes stay where the
 * network put them.  It keeps only a few integers across pieces, so a
 * header or a message may span any number of pieces.  Everything it reads
 * is the network's: every length is checked against the limit before it
 * is trusted.
 */
#ifndef UNIFIED_FRAMING_H
#define UNIFIED_FRAMING_H

#include <stdint.h>

struct unified_framer {
	uint32_t max_msg;	/* longest message accepted, bytes (1..1e9) */
	/* private */
	uint8_t state;
	uint8_t digits;		/* octet counting: length digits seen */
	uint32_t len;		/* octet counting: the length; LF: bytes so far */
	uint64_t msg_off;	/* stream offset of the message being read */
	const char *err;	/* why the stream was refused, or NULL */
	uint64_t err_off;	/* stream offset of the offending byte */
};

/* Called for each complete message: its first byte's stream offset and
 * its length (LF framing: without the LF; a CR before it is kept). */
typedef void (*unified_framer_emit)(void *arg, uint64_t msg_off, uint32_t msg_len);

/* A framer for a new connection (stream offset 0 next); @max_msg bytes
 * is the longest message accepted (RFC 5425 asks for at least 2048). */
void unified_framer_init(struct unified_framer *f, uint32_t max_msg);

/*
 * Parse the stream's next @n bytes, @p, which start at stream offset @off
 * (the end of what was fed before).  @emit runs once per message that
 * ends in them.  Returns 0, or -EBADMSG once the stream is malformed
 * (f->err says why, f->err_off where; the connection should be closed:
 * nothing after that point can be framed), and -EBADMSG again for any
 * later call.
 */
int unified_framer_feed(struct unified_framer *f, const uint8_t *p, uint32_t n, uint64_t off,
			unified_framer_emit emit, void *arg);

/* True between frames: no message is partly read (for a clean close). */
int unified_framer_idle(const struct unified_framer *f);

/* True inside a message's bytes (its header read), with the stream offset
 * of its first byte in *@msg_off: the bytes a message not yet emitted
 * may still need. */
int unified_framer_partial(const struct unified_framer *f, uint64_t *msg_off);

#endif
