/* SPDX-License-Identifier: MIT */
/*
 * RELP frames (rsyslog's Reliable Event Logging Protocol, as librelp 1.11
 * speaks it), for unified-ingest: "TXNR SP COMMAND SP DATALEN [SP DATA] LF".
 * Like framing.h it reads the stream in the pieces it arrives in and never
 * copies DATA: each frame is reported as its transaction number, its
 * command and the (stream offset, length) of DATA.  Only the command name
 * (at most 32 letters, protocol, not payload) is kept.  Every number is
 * checked against its limit before it is trusted.
 */
#ifndef UNIFIED_RELP_H
#define UNIFIED_RELP_H

#include <stdint.h>

enum relp_cmd {
	RELP_OTHER = 0,		/* a command this server does not implement */
	RELP_OPEN,
	RELP_SYSLOG,
	RELP_CLOSE,
	RELP_RSP,
};

#define RELP_MAX_TXNR	999999999u	/* 9 digits */
#define RELP_CMD_MAX	32u

struct relp_parser {
	uint32_t max_data;	/* longest DATA accepted, bytes */
	/* private */
	uint8_t state;
	uint8_t digits;
	uint8_t cmd_len;
	char cmd[RELP_CMD_MAX + 1];
	uint32_t txnr;
	uint32_t len;
	uint64_t data_off;
	const char *err;	/* why the stream was refused, or NULL */
	uint64_t err_off;
};

/* One complete frame: DATA is @len bytes at stream offset @data_off. */
typedef void (*relp_emit)(void *arg, uint32_t txnr, enum relp_cmd cmd, uint64_t data_off,
			  uint32_t len);

void relp_init(struct relp_parser *p, uint32_t max_data);

/* As unified_framer_feed(): 0, or -EBADMSG once the stream is malformed
 * (p->err, p->err_off), and for every later call. */
int relp_feed(struct relp_parser *p, const uint8_t *buf, uint32_t n, uint64_t off, relp_emit emit,
	      void *arg);

/* True between frames. */
int relp_idle(const struct relp_parser *p);

/* True inside a frame's DATA or waiting for its trailer, with the stream
 * offset of DATA in *@data_off (bytes a frame not yet emitted needs). */
int relp_partial(const struct relp_parser *p, uint64_t *data_off);

#endif
