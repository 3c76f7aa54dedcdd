#!/bin/sh
# Runs inside the guests of the patched kernel, the plain one and the debug
# one (KASAN, lockdep, KFENCE, DEBUG_ATOMIC_SLEEP, whose log
# tests/kernel/run.sh scans afterwards): the series' selftest on both
# emulated namespaces (512 B and 4 KiB LBAs) with its hostile cases (bad
# registrations, a non-root caller, a wrong device type, registering twice,
# jumping and backwards ring indices, every reserved field, offsets and
# lengths out of range, a random-byte SQE storm, unregister and ring close
# with I/O in flight, a region unmapped while registered, SQPOLL, IOPOLL,
# eventfd), then the library's whole NVMe guest suite with the kernel engine
# (UNIFIED_TEST_ENGINE=kernel: a case the kernel engine serves fails if the
# library did not choose it; its storm sends 5000 random SQEs).  Prints
# PASS:/FAIL:/SKIP: lines; exit 1 on a failure.
rc=0
mkdir -p /tmp && cd /tmp || exit 1

# selftest NG: the TAP lines of unified-nvme-test on NG as PASS/FAIL lines.
selftest() {
	{ /bin/t/unified-nvme-test "$1" 2>&1; echo "__rc=$?"; } | awk -v ng="$1" '
	/^__rc=/ { rc = substr($0, 6) + 0; next }
	/^not ok [0-9]+/ { d = $0; sub(/^not ok [0-9]+ */, "", d); print "FAIL: selftest " ng ": " d; f++; next }
	/^ok [0-9]+/ { d = $0; sub(/^ok [0-9]+ */, "", d)
		if (d ~ /# *SKIP/) print "SKIP: selftest " ng ": " d; else print "PASS: selftest " ng ": " d
		n++; next }
	{ print }
	END { if (rc != 0 && !f) print "FAIL: selftest " ng ": exit status " rc
	      if (!n && !f) print "FAIL: selftest " ng ": no test ran"
	      exit (rc != 0 || f || !n) }'
}

for ng in /dev/ng0n1 /dev/ng0n2; do
	selftest "$ng" || rc=1
done
UNIFIED_TEST_ENGINE=kernel /bin/t/nvme_target || rc=1
exit $rc
