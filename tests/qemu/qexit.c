/*
 * qexit: end the QEMU guest with a status code, through the isa-debug-exit
 * device (-device isa-debug-exit,iobase=0xf4,iosize=0x04).
 *
 * Usage: qexit [CODE]      (CODE defaults to 0)
 *
 * QEMU exits at once with status (CODE << 1) | 1, so 0 gives 1 and a
 * test failure count N gives 2N+1. The process exit status is only 8 bits,
 * so CODE is clamped to 0..127 to keep every failure distinct from a pass.
 * If the device is missing (or ioperm fails) the program returns 1 and the
 * caller should power off by other means.
 *
 * Build: gcc -O2 -static -o qexit qexit.c
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>

#define DEBUG_EXIT_PORT 0xf4

int main(int argc, char **argv)
{
	long code = 0;

	if (argc > 1) {
		char *end;

		code = strtol(argv[1], &end, 0);
		if (*argv[1] == '\0' || *end != '\0') {
			fprintf(stderr, "qexit: bad code '%s'\n", argv[1]);
			code = 127;
		}
	}
	if (code < 0 || code > 127)
		code = 127;

	if (ioperm(DEBUG_EXIT_PORT, 4, 1) != 0) {
		fprintf(stderr, "qexit: ioperm(0x%x): %s\n", DEBUG_EXIT_PORT,
			strerror(errno));
		return 1;
	}
	outl((unsigned int)code, DEBUG_EXIT_PORT);

	/* Only reached without an isa-debug-exit device at that port. */
	fprintf(stderr, "qexit: no isa-debug-exit device at 0x%x\n",
		DEBUG_EXIT_PORT);
	return 1;
}
