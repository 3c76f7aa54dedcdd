/* SPDX-License-Identifier: MIT */
/* RELP frames, piece by piece, without copying DATA (relp.h). */
#include <errno.h>
#include <string.h>
#include "relp.h"

enum {
	ST_TXNR0,	/* before the first digit of TXNR */
	ST_TXNR,
	ST_CMD,
	ST_LEN0,
	ST_LEN,
	ST_DATA,
	ST_TRAILER,	/* the LF after DATA (or after DATALEN 0) */
	ST_BAD,
};

void relp_init(struct relp_parser *p, uint32_t max_data)
{
	memset(p, 0, sizeof(*p));
	p->max_data = max_data;
	p->state = ST_TXNR0;
}

int relp_idle(const struct relp_parser *p)
{
	return p->state == ST_TXNR0;
}

int relp_partial(const struct relp_parser *p, uint64_t *data_off)
{
	if (p->state != ST_DATA && (p->state != ST_TRAILER || !p->len))
		return 0;
	*data_off = p->data_off;
	return 1;
}

static int refuse(struct relp_parser *p, const char *why, uint64_t at)
{
	p->state = ST_BAD;
	p->err = why;
	p->err_off = at;
	return -EBADMSG;
}

static enum relp_cmd cmd_of(const char *s)
{
	if (!strcmp(s, "syslog"))
		return RELP_SYSLOG;
	if (!strcmp(s, "open"))
		return RELP_OPEN;
	if (!strcmp(s, "close"))
		return RELP_CLOSE;
	if (!strcmp(s, "rsp"))
		return RELP_RSP;
	return RELP_OTHER;
}

int relp_feed(struct relp_parser *p, const uint8_t *buf, uint32_t n, uint64_t off, relp_emit emit,
	      void *arg)
{
	uint32_t i = 0;

	while (i < n) {
		uint8_t c = buf[i];

		switch (p->state) {
		case ST_BAD:
			return -EBADMSG;
		case ST_TXNR0:
		case ST_TXNR:
			if (c >= '0' && c <= '9') {
				uint64_t v = (uint64_t)p->txnr * 10 + (uint64_t)(c - '0');

				if (p->state == ST_TXNR0) {
					p->txnr = 0;
					p->digits = 0;
					v = (uint64_t)(c - '0');
				}
				if (++p->digits > 9 || v > RELP_MAX_TXNR)
					return refuse(p, "RELP transaction number over 9 digits", off + i);
				p->txnr = (uint32_t)v;
				p->state = ST_TXNR;
			} else if (c == ' ' && p->state == ST_TXNR) {
				p->state = ST_CMD;
				p->cmd_len = 0;
			} else {
				return refuse(p, "RELP frame does not start with a transaction number",
					      off + i);
			}
			i++;
			break;
		case ST_CMD:
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
				if (p->cmd_len >= RELP_CMD_MAX)
					return refuse(p, "RELP command name too long", off + i);
				p->cmd[p->cmd_len++] = (char)c;
			} else if (c == ' ' && p->cmd_len) {
				p->cmd[p->cmd_len] = 0;
				p->state = ST_LEN0;
				p->len = 0;
				p->digits = 0;
			} else {
				return refuse(p, "RELP command is not a word followed by a space", off + i);
			}
			i++;
			break;
		case ST_LEN0:
		case ST_LEN:
			if (c >= '0' && c <= '9') {
				uint64_t v = (uint64_t)p->len * 10 + (uint64_t)(c - '0');

				if (++p->digits > 10 || v > p->max_data)
					return refuse(p, "RELP DATALEN larger than the longest message accepted",
						      off + i);
				p->len = (uint32_t)v;
				p->state = ST_LEN;
			} else if (p->state == ST_LEN && c == ' ') {
				p->data_off = off + i + 1;
				p->state = p->len ? ST_DATA : ST_TRAILER;
			} else if (p->state == ST_LEN && c == '\n' && !p->len) {
				if (emit)
					emit(arg, p->txnr, cmd_of(p->cmd), off + i, 0);
				p->state = ST_TXNR0;
			} else {
				return refuse(p, "RELP DATALEN is not a number followed by a space or LF",
					      off + i);
			}
			i++;
			break;
		case ST_DATA: {
			uint64_t left = p->data_off + p->len - (off + i);
			uint32_t take = left < n - i ? (uint32_t)left : n - i;

			i += take;	/* DATA is payload: not looked at */
			if (take == left)
				p->state = ST_TRAILER;
			break;
		}
		case ST_TRAILER:
			if (c != '\n')
				return refuse(p, "RELP frame not ended by LF after DATALEN bytes", off + i);
			if (emit)
				emit(arg, p->txnr, cmd_of(p->cmd), p->data_off, p->len);
			p->state = ST_TXNR0;
			i++;
			break;
		}
	}
	return p->state == ST_BAD ? -EBADMSG : 0;
}
