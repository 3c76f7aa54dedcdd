#!/bin/bash
# unified-bench's JSON percentiles and IOPS series, and scripts/plot-bench.sh
# on them: a short interleaved run (ours and liburing, 2 s each in 4
# slices) on a sparse temporary file, its lat_pct_us and iops_series
# checked against the run's own totals, then the PNGs plot-bench.sh makes
# from it and from the tables of docs/benchmarks.md (--tables: the command
# the document records) (signature, IHDR dimensions), and plot-bench.sh on
# bad input.
#   tests/plot_check.sh            (about 6 s; needs build/tools/unified-bench)
#   UNIFIED_BENCH=PATH             another unified-bench binary
# Prints PASS:/FAIL:/SKIP: plot: lines (SKIP only for the PNG checks when
# gnuplot is missing); exit status 1 if any check failed.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bench="${UNIFIED_BENCH:-$root/build/tools/unified-bench}"
plot="$root/scripts/plot-bench.sh"
fails=0
pass() { echo "PASS: plot: $*"; }
fail() { echo "FAIL: plot: $*"; fails=$((fails + 1)); }

if [[ ! -x $bench ]]; then
	fail "$bench not built (make)"
	exit 1
fi
command -v python3 >/dev/null || { fail "python3 not found"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/plot_check.XXXXXX") || { fail "mktemp"; exit 1; }
trap 'rm -rf "$tmp"' EXIT

# --- the JSON of a short interleaved run
json="$tmp/run.json"
if ! "$bench" --target "$tmp/target.img" --size 64m --qd 8 --runtime 2 --baseline \
	--interleave 4 --series-ms 50 --json >"$json" 2>"$tmp/bench.err"; then
	fail "unified-bench --json failed: $(head -3 "$tmp/bench.err" | tr '\n' ' ')"
	exit 1
fi
python3 - "$json" <<'PY' || fails=$((fails + 1))
import json, sys

d = json.load(open(sys.argv[1]))
bad = []
n_il = d["interleave"]
spans = []                     # (start, end, engine) of every series point
for r in d["runs"]:
    e = r["engine"]
    # Percentiles: increasing p, non-decreasing latency, within the
    # histogram's bucket error of [min, max], the same as lat_us's.
    pct = r["lat_pct_us"]
    ps, us = [p for p, _ in pct], [v for _, v in pct]
    if len(pct) < 5 or ps != sorted(set(ps)):
        bad.append("%s: lat_pct_us percentiles %s not increasing" % (e, ps))
    if any(b < a for a, b in zip(us, us[1:])):
        bad.append("%s: lat_pct_us latencies decrease: %s" % (e, us))
    lo, hi = r["lat_us"]["min"], r["lat_us"]["max"]
    # a percentile is its bucket's middle: within 1/64 of the value (+ the 0.01 us print)
    if us and (us[0] < lo * (1 - 1 / 64.0) - 0.01 or us[-1] > hi * (1 + 1 / 64.0) + 0.01):
        bad.append("%s: lat_pct_us %s outside min %s .. max %s" % (e, us, lo, hi))
    for p, k in ((50, "p50"), (99, "p99"), (99.9, "p99_9")):
        if dict(pct).get(p) != r["lat_us"][k]:
            bad.append("%s: lat_pct_us %g = %s but lat_us.%s = %s"
                       % (e, p, dict(pct).get(p), k, r["lat_us"][k]))
    # The series: non-empty, its counts add up to the run's.
    s = r["iops_series"]
    n = len(s["t_s"])
    if not n or any(len(s[k]) != n for k in ("dur_s", "ios", "iops", "slice")):
        bad.append("%s: iops_series empty or ragged (%d points)" % (e, n))
        continue
    if sum(s["ios"]) != r["ios"]:
        bad.append("%s: series ios add up to %d, the run counted %d" % (e, sum(s["ios"]), r["ios"]))
    # Each number is printed rounded (t_s, dur_s to 1e-6 s, iops to 0.1):
    # the tolerances come from those roundings over the points of this run.
    tol_s = 1e-6 * (n + 1)
    if abs(sum(s["dur_s"]) - r["seconds"]) > tol_s:
        bad.append("%s: series lasts %.6f s, the run %.6f s (tolerance %.1e)"
                   % (e, sum(s["dur_s"]), r["seconds"], tol_s))
    tol_ios = sum(0.05 * dt + v * 0.5e-6 for dt, v in zip(s["dur_s"], s["iops"])) + 1
    from_iops = sum(v * dt for v, dt in zip(s["iops"], s["dur_s"]))
    if abs(from_iops - r["ios"]) > tol_ios:
        bad.append("%s: sum of iops x dur_s = %.1f, the run counted %d (tolerance %.1f)"
                   % (e, from_iops, r["ios"], tol_ios))
    if abs(from_iops / r["seconds"] - r["iops"]) > tol_ios / r["seconds"] + 0.1:
        bad.append("%s: series mean %.1f IOPS, run %.1f" % (e, from_iops / r["seconds"], r["iops"]))
    if sorted(set(s["slice"])) != list(range(n_il)) or s["slice"] != sorted(s["slice"]):
        bad.append("%s: series slices %s, not 0..%d in order" % (e, sorted(set(s["slice"])), n_il - 1))
    # No more points per slice than the interval allows (+ the last, shorter one).
    ivl = s["interval_ms"] / 1e3
    for k in range(n_il):
        pts = [dt for dt, sl in zip(s["dur_s"], s["slice"]) if sl == k]
        if len(pts) > sum(pts) / ivl + 1 + 1e-9:
            bad.append("%s: slice %d has %d points in %.3f s of %.3f s intervals"
                       % (e, k, len(pts), sum(pts), ivl))
    spans += [(t, t + dt, e) for t, dt in zip(s["t_s"], s["dur_s"])]
# The engines' points never overlap in time: they ran in turn.
spans.sort()
for a, b in zip(spans, spans[1:]):
    if b[0] < a[1] - 2e-6:
        bad.append("points overlap: %s %.6f-%.6f and %s %.6f-%.6f" % (a[2], a[0], a[1], b[2], b[0], b[1]))
        break
if bad:
    print("FAIL: plot: JSON: " + "; ".join(bad[:5]))
    sys.exit(1)
print("PASS: plot: JSON of %d runs: lat_pct_us increasing, iops_series adds up to the runs' ios "
      "(%s) over %d slices, engines' points disjoint in time"
      % (len(d["runs"]), ", ".join(str(r["ios"]) for r in d["runs"]), n_il))
PY

# --- plot-bench.sh on bad input (no gnuplot needed to refuse it)
head -c 300 "$json" >"$tmp/truncated.json"
printf '{"tool":"unified-bench","runs":[{"engine":"x","lat_us":{}}]}\n' >"$tmp/old.json"
for bad in truncated.json old.json missing.json; do
	if "$plot" "$tmp/$bad" "$tmp/bad-out" >/dev/null 2>"$tmp/err"; then
		fail "plot-bench.sh accepted $bad"
	elif ! grep -q "^plot-bench.sh: " "$tmp/err"; then
		fail "plot-bench.sh refused $bad without a message: $(head -2 "$tmp/err")"
	else
		pass "plot-bench.sh refuses $bad: $(head -1 "$tmp/err" | sed "s|$tmp/||g")"
	fi
done

# --- the PNGs
if ! command -v gnuplot >/dev/null; then
	echo "SKIP: plot: PNGs: gnuplot not installed"
	exit $((fails > 0))
fi
if ! "$plot" "$json" "$tmp/out" >"$tmp/pngs" 2>"$tmp/err"; then
	fail "plot-bench.sh failed: $(head -3 "$tmp/err" | tr '\n' ' ')"
	exit 1
fi
[[ -s $tmp/err ]] && fail "plot-bench.sh warned: $(head -3 "$tmp/err" | tr '\n' ' ')"
if ! "$plot" --tables "$root/docs/benchmarks.md" "$tmp/tables" >"$tmp/tables.pngs" 2>"$tmp/err"; then
	fail "plot-bench.sh --tables docs/benchmarks.md failed: $(head -3 "$tmp/err" | tr '\n' ' ')"
elif [[ -s $tmp/err ]]; then
	fail "plot-bench.sh --tables warned: $(head -3 "$tmp/err" | tr '\n' ' ')"
else
	pass "plot-bench.sh --tables docs/benchmarks.md: $(wc -l <"$tmp/tables.pngs") charts"
fi
pngs=("$tmp/out/run-lat.png" "$tmp/out/run-iops.png")
[[ -f $tmp/tables.pngs ]] && mapfile -t -O 2 pngs <"$tmp/tables.pngs"
python3 - "${pngs[@]}" <<'PY' || fails=$((fails + 1))
import struct, sys

bad, ok = [], []
for p in sys.argv[1:]:
    try:
        b = open(p, "rb").read()
    except OSError as e:
        bad.append("%s: %s" % (p, e.strerror))
        continue
    # signature, then the IHDR chunk: length 13, "IHDR", width, height
    if b[:8] != b"\x89PNG\r\n\x1a\n" or b[12:16] != b"IHDR":
        bad.append("%s: not a PNG" % p)
        continue
    w, h = struct.unpack(">II", b[16:24])
    if not (300 <= w <= 4000 and 200 <= h <= 4000) or len(b) < 2000:
        bad.append("%s: %dx%d, %d bytes" % (p, w, h, len(b)))
        continue
    ok.append("%s %dx%d %d bytes" % (p.rsplit("/", 1)[1], w, h, len(b)))
if bad:
    print("FAIL: plot: PNG: " + "; ".join(bad))
    sys.exit(1)
print("PASS: plot: %d PNGs, signature and IHDR: " % len(ok) + ", ".join(ok[:2]) +
      (", ..." if len(ok) > 2 else ""))
PY
exit $((fails > 0))
