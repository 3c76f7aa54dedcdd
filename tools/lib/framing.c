/* SPDX-License-Identifier: MIT */
/* RFC 6587 framing, piece by piece, without copying (framing.h). */
#include <errno.h>
#include <string.h>
#include "framing.h"

enum {
	ST_FRAME,	/* between frames */
	ST_LEN,		/* octet counting: in MSG-LEN */
	ST_BODY,	/* octet counting: in SYSLOG-MSG, len bytes left */
	ST_LINE,	/* LF framing: in the message */
	ST_BAD,		/* refused */
};

#define MAX_DIGITS 10	/* MSG-LEN digits: above, the value could overflow 32 bits */

void unified_framer_init(struct unified_framer *f, uint32_t max_msg)
{
	memset(f, 0, sizeof(*f));
	f->max_msg = max_msg ? max_msg : 1;
	f->state = ST_FRAME;
}

int unified_framer_idle(const struct unified_framer *f)
{
	return f->state == ST_FRAME;
}

int unified_framer_partial(const struct unified_framer *f, uint64_t *msg_off)
{
	if (f->state != ST_BODY && f->state != ST_LINE)
		return 0;
	*msg_off = f->msg_off;
	return 1;
}

static int refuse(struct unified_framer *f, const char *why, uint64_t at)
{
	f->state = ST_BAD;
	f->err = why;
	f->err_off = at;
	return -EBADMSG;
}

int unified_framer_feed(struct unified_framer *f, const uint8_t *p, uint32_t n, uint64_t off,
			unified_framer_emit emit, void *arg)
{
	uint32_t i = 0;

	while (i < n) {
		uint8_t c = p[i];

		switch (f->state) {
		case ST_BAD:
			return -EBADMSG;
		case ST_FRAME:
			if (c >= '1' && c <= '9') {
				f->state = ST_LEN;
				f->len = (uint32_t)(c - '0');
				f->digits = 1;
			} else if (c == '<') {
				f->state = ST_LINE;
				f->msg_off = off + i;
				f->len = 1;
			} else if (c == '\n') {
				/* an empty line between LF-framed messages: skip it */
			} else {
				return refuse(f, c == '0' ? "octet count with a leading zero or of zero" :
					      "a frame starts with neither a length nor '<' (not syslog)",
					      off + i);
			}
			i++;
			break;
		case ST_LEN:
			if (c >= '0' && c <= '9') {
				uint64_t v = (uint64_t)f->len * 10 + (uint64_t)(c - '0');

				if (++f->digits > MAX_DIGITS || v > f->max_msg)
					return refuse(f, "octet count larger than the longest message accepted",
						      off + i);
				f->len = (uint32_t)v;
			} else if (c == ' ') {
				if (f->len > f->max_msg)
					return refuse(f, "octet count larger than the longest message accepted",
						      off + i);
				f->state = ST_BODY;
				f->msg_off = off + i + 1;
			} else {
				return refuse(f, "octet count not followed by a space (non-numeric length?)",
					      off + i);
			}
			i++;
			break;
		case ST_BODY: {
			/* the message's bytes are not looked at: they are the payload */
			uint64_t left = f->msg_off + f->len - (off + i);
			uint32_t take = left < n - i ? (uint32_t)left : n - i;

			i += take;
			if (take == left) {
				if (emit)
					emit(arg, f->msg_off, f->len);
				f->state = ST_FRAME;
			}
			break;
		}
		case ST_LINE: {
			const uint8_t *lf = memchr(p + i, '\n', n - i);
			uint32_t upto = lf ? (uint32_t)(lf - p) : n;
			uint64_t len = off + upto - f->msg_off;

			if (len > f->max_msg)
				return refuse(f, "line longer than the longest message accepted",
					      f->msg_off + f->max_msg);
			if (!lf) {
				i = n;
				break;
			}
			if (emit)
				emit(arg, f->msg_off, (uint32_t)len);
			f->state = ST_FRAME;
			i = upto + 1;
			break;
		}
		}
	}
	return f->state == ST_BAD ? -EBADMSG : 0;
}
