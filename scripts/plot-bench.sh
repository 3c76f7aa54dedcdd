#!/bin/bash
# Pictures of benchmark figures, PNG, drawn by gnuplot (pngcairo, else png);
# python3 reads the input and writes gnuplot's data files and commands.
#
#   scripts/plot-bench.sh IN.json OUTDIR
#       IN.json is the output of `unified-bench --json` (with lat_pct_us and
#       iops_series in its runs).  Writes OUTDIR/NAME-lat.png, the latency
#       percentiles on a "nines" scale (x = -log10(1 - p/100): 90, 99, 99.9
#       evenly spaced), one line per engine; and OUTDIR/NAME-iops.png, each
#       engine's IOPS over time, one line per engine, broken between its
#       slices (the gaps are the other engines' slices).  NAME is IN's file
#       name without .json.
#
#   scripts/plot-bench.sh --tables BENCHMARKS.md OUTDIR
#       Bar charts of the tables of docs/benchmarks.md, read from the
#       markdown itself (each table is found by the heading or line above
#       it), so a chart shows only what the document records: kernel-engine-
#       iops and -syscalls ("After the fix" and "Before the fix"), nvme-
#       passthrough-iops, file-loop-ratios ("Before the review fixes"),
#       ingest-cpu-per-msg, netbench-throughput and -cpu (plot_tables()).
#
# Prints the PNGs written, one per line.  Exit status 0 on success, 1 if an
# input is missing or invalid or gnuplot failed, 2 for bad usage.
set -euo pipefail

usage() {
	echo "usage: $0 IN.json OUTDIR" >&2
	echo "       $0 --tables BENCHMARKS.md OUTDIR" >&2
	exit 2
}

mode=json
if [[ ${1:-} == --tables ]]; then
	mode=tables
	shift
fi
[[ $# -eq 2 ]] || usage
in=$1 outdir=$2
die() { echo "plot-bench.sh: $*" >&2; exit 1; }
[[ -e $in ]] || die "$in: no such file"
[[ -f $in && -r $in ]] || die "$in: not a readable file"
command -v python3 >/dev/null || die "python3 not found"

# The input is checked first, so a bad one is reported as such without gnuplot too.
if command -v gnuplot >/dev/null && gnuplot -e 'set terminal pngcairo' 2>/dev/null; then
	term='pngcairo enhanced font "DejaVu Sans,10"'
else
	term='png font "DejaVu Sans" 10'
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/plot-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Writes $work/plot.gp (and its data files) and $work/pngs, or says why not.
# (Exit status 1: it said why; anything else: python3 itself failed.)
python3 - "$mode" "$in" "$outdir" "$work" "$term" <<'PY' || { rc=$?; ((rc == 1)) || die "python3 failed (exit status $rc)"; exit 1; }
import json, math, os, re, sys, textwrap

mode, src, outdir, work, term = sys.argv[1:6]


def fail(msg):
    sys.stderr.write("plot-bench.sh: %s: %s\n" % (src, msg))
    sys.exit(1)


def gp_str(s):
    """A gnuplot double-quoted string."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dat_str(s):
    """A double-quoted string in a data file (a newline as \\n)."""
    return gp_str(s).replace("\n", "\\n")


gp = []        # gnuplot commands
pngs = []      # the files they write


def begin(name, title, width=800, height=480):
    path = os.path.join(outdir, name)
    pngs.append(path)
    gp.append("reset")
    gp.append("set terminal %s size %d,%d" % (term, width, height))
    gp.append("set output %s" % gp_str(path))
    gp.append("set title %s noenhanced" % gp_str(title))
    gp.append("set grid ytics lc rgb '#dddddd'")
    gp.append("set key noenhanced")


def number(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        fail("%s is not a number: %r" % (what, v))
    return float(v)


def si(v):
    for f, s in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= f:
            return "%g%s" % (round(v / f, 1), s)
    return "%g" % v


# ------------------------------------------------------------ unified-bench --json
def plot_json():
    try:
        with open(src) as f:
            d = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        fail("not valid JSON: %s" % e)
    if not isinstance(d, dict) or not isinstance(d.get("runs"), list) or not d["runs"]:
        fail("not unified-bench --json output: no \"runs\" list")
    runs = []
    for i, r in enumerate(d["runs"]):
        if not isinstance(r, dict) or not isinstance(r.get("engine"), str):
            fail("runs[%d] has no engine" % i)
        name = r["engine"] + (" " + r["mode"] if r.get("mode") else "")
        if r.get("unified_engine"):
            name += " (%s engine)" % r["unified_engine"]
        pct, ser = r.get("lat_pct_us"), r.get("iops_series")
        if not isinstance(pct, list) or not isinstance(ser, dict):
            fail("runs[%d] (%s) has no lat_pct_us/iops_series: made by an older unified-bench?"
                 % (i, name))
        pts = []
        for p in pct:
            if not isinstance(p, list) or len(p) != 2:
                fail("runs[%d].lat_pct_us: %r is not a [percentile, us] pair" % (i, p))
            q, us = number(p[0], "a percentile"), number(p[1], "a latency")
            if not 0 < q < 100:
                fail("runs[%d].lat_pct_us: percentile %g is not in (0, 100)" % (i, q))
            pts.append((q, us))
        cols = {}
        for k in ("t_s", "dur_s", "iops", "slice"):
            if not isinstance(ser.get(k), list):
                fail("runs[%d].iops_series has no %s list" % (i, k))
            cols[k] = [number(v, "iops_series.%s" % k) for v in ser[k]]
        if len({len(v) for v in cols.values()}) != 1:
            fail("runs[%d].iops_series: t_s, dur_s, iops and slice differ in length" % i)
        runs.append((name, pts, cols))
    if not any(pts for _, pts, _ in runs):
        fail("no run has latency percentiles (did every run fail?)")

    base = os.path.basename(src)
    base = base[:-5] if base.endswith(".json") else base
    bs = d.get("bs", 0)
    what = "%s %s QD %s, %s %s" % (d.get("rw", "?"), "%dk" % (bs // 1024) if bs % 1024 == 0
                                   else str(bs), d.get("qd", "?"), d.get("target_kind", "?"),
                                   os.path.basename(str(d.get("target", "?"))))
    if d.get("interleave", 1) > 1:
        what += ", %d slices each" % d["interleave"]

    # Latency percentiles: one data block per engine (index i).
    nines = lambda q: -math.log10(1 - q / 100.0)
    with open(os.path.join(work, "lat.dat"), "w") as f:
        for name, pts, _ in runs:
            f.write("# %s\n" % name)
            for q, us in pts:
                f.write("%.6f %g %g\n" % (nines(q), us, q))
            f.write("\n\n")
    allq = sorted({q for _, pts, _ in runs for q, _ in pts})
    allus = [us for _, pts, _ in runs for _, us in pts if us > 0]
    begin(base + "-lat.png", "latency percentiles, " + what)
    gp.append("set xlabel 'percentile (nines scale)'")
    gp.append("set ylabel 'latency, submit to reap (µs)'")
    gp.append("set xtics (%s)" % ", ".join('"%g" %.6f' % (q, nines(q)) for q in allq
                                           if q >= 50 and q not in (75, 95, 99.5)))
    gp.append("set xrange [0:%.3f]" % (nines(allq[-1]) + 0.15))
    if allus and max(allus) / min(allus) > 20:
        gp.append("set logscale y")
    else:
        gp.append("set yrange [0:*]")
    gp.append("set key top left")
    gp.append("plot " + ", ".join("'%s' index %d using 1:2 with linespoints lw 2 pt 7 ps 0.8 "
                                  "title %s" % (os.path.join(work, "lat.dat"), i, gp_str(n))
                                  for i, (n, _, _) in enumerate(runs)))

    # IOPS over time: a blank line between slices breaks the line.
    with open(os.path.join(work, "iops.dat"), "w") as f:
        for name, _, c in runs:
            f.write("# %s\n" % name)
            last = None
            for t, dur, iops, sl in zip(c["t_s"], c["dur_s"], c["iops"], c["slice"]):
                if last is not None and sl != last:
                    f.write("\n")
                f.write("%.6f %g\n" % (t + dur / 2, iops))
                last = sl
            f.write("\n\n")
    ivl = next((r["iops_series"].get("interval_ms") for r in d["runs"]), None)
    begin(base + "-iops.png", "IOPS over time, " + what)
    gp.append("set xlabel 'time since the first slice began (s); a point per %s interval'"
              % ("%g ms" % ivl if isinstance(ivl, (int, float)) else "series"))
    gp.append("set ylabel 'IOPS'")
    gp.append("set format y '%.1s%c'")
    gp.append("set yrange [0:*]")
    gp.append("set key bottom right")
    gp.append("plot " + ", ".join("'%s' index %d using 1:2 with linespoints lw 2 pt 7 ps 0.5 "
                                  "title %s" % (os.path.join(work, "iops.dat"), i, gp_str(n))
                                  for i, (n, _, _) in enumerate(runs)))


# ------------------------------------------------------------ docs/benchmarks.md tables
def table_after(lines, marker):
    """The first markdown table after the first line containing @marker:
    (header cells, rows of cells), bold marks removed."""
    start = next((i for i, l in enumerate(lines) if marker in l), None)
    if start is None:
        fail("no line with %r (the charts follow the document's headings)" % marker)
    i = start + 1
    while i < len(lines) and not lines[i].startswith("|"):
        i += 1
    rows = []
    while i < len(lines) and lines[i].startswith("|"):
        cells = [c.strip().replace("**", "") for c in lines[i].strip().strip("|").split("|")]
        if not all(re.fullmatch(r":?-+:?", c) for c in cells):
            rows.append(cells)
        i += 1
    if len(rows) < 2:
        fail("no table after %r" % marker)
    return rows[0], rows[1:]


def col(header, name, marker):
    for i, h in enumerate(header):
        if h.startswith(name):
            return i
    fail("the table after %r has no column %r" % (marker, name))


def value(cell, what):
    """The number a cell starts with (k/M suffixes count) and its text."""
    m = re.match(r"\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([kM]?)", cell)
    if not m:
        fail("%s: %r does not start with a number" % (what, cell))
    return (float(m.group(1).replace(",", "")) * {"": 1, "k": 1e3, "M": 1e6}[m.group(2)],
            m.group(1) + m.group(2))


def bar_chart(name, title, ylabel, groups, series, vals, logy=False, fmt=None, height=440,
              width=860, hline=None, xfont=""):
    """Clustered bars: one cluster per group, one bar per series;
    vals[(group, series)] = (value, its text in the table), missing: no
    bar; each bar is labelled with the text."""
    dat = os.path.join(work, name + ".dat")
    with open(dat, "w") as f:
        f.write("group " + " ".join(dat_str(s) for s in series) + "\n")
        for g in groups:
            v = [vals.get((g, s)) for s in series]
            f.write(" ".join([dat_str(g)] + ["%g" % x[0] if x else "NaN" for x in v] +
                             [dat_str(x[1] if x else "") for x in v]) + "\n")
    n = len(series)
    begin(name, title, width, height)
    gp.append("set style data histogram")
    gp.append("set style histogram cluster gap 1")
    gp.append("set style fill solid 0.85 border -1")
    gp.append("set boxwidth 0.9")
    gp.append("set ylabel %s" % gp_str(ylabel))
    gp.append("set xtics nomirror noenhanced font %s" % gp_str(xfont))
    gp.append("set key above horizontal noenhanced")
    gp.append("set bmargin %d" % (3 + max(g.count("\n") for g in groups)))
    gp.append("set offsets 0, 0, graph 0.1, 0")
    if logy:
        gp.append("set logscale y")
        gp.append("set yrange [*:*]")
    else:
        gp.append("set yrange [0:*]")
    if fmt:
        gp.append("set format y %s" % gp_str(fmt))
    if hline is not None:
        gp.append("set arrow from graph 0, first %g to graph 1, first %g nohead dt 2 lc rgb '#555555'"
                  % (hline, hline))
    plots = ["'%s' using %d:xtic(1) title columnheader" % (dat, k + 2) for k in range(n)]
    # The value above each bar: cluster i spans n + 1 bar widths (gap 1).
    w = 1.0 / (n + 1)
    for k in range(n):
        plots.append("'%s' skip 1 using ($0 + %.4f):%d:(stringcolumn(%d)) with labels "
                     "rotate by 90 left offset 0,0.4 font ',8' notitle"
                     % (dat, (k - (n - 1) / 2.0) * w, k + 2, n + k + 2))
    gp.append("plot " + ", ".join(plots))


def plot_tables():
    with open(src, encoding="utf-8") as f:
        lines = f.read().splitlines()

    # Kernel engine (issue 10): IOPS and syscalls per I/O, after the fix;
    # syscalls per I/O before it for the kernel engine.
    mk = "**After the fix"
    h, rows = table_after(lines, mk)
    cq, cc, ce = col(h, "QD", mk), col(h, "completions", mk), col(h, "engine", mk)
    ci, cs = col(h, "IOPS", mk), col(h, "syscalls / I/O", mk)
    groups, series, iops, sysc = [], [], {}, {}
    for r in rows:
        g = "QD %s\n%s" % (r[cq], r[cc])
        groups += [g] if g not in groups else []
        series += [r[ce]] if r[ce] not in series else []
        iops[(g, r[ce])] = value(r[ci], "IOPS")
        sysc[(g, r[ce])] = value(r[cs], "syscalls / I/O")
    bar_chart("kernel-engine-iops.png", "Kernel engine, user engine, liburing, fio: 4k randread "
              "IOPS (QEMU TCG guest, after the fix)", "IOPS", groups, series, iops, fmt="%.0s%c")
    mk = "**Before the fix**"
    h, rows = table_after(lines, mk)
    cq, cc, ce = col(h, "QD", mk), col(h, "completions", mk), col(h, "engine", mk)
    cs = col(h, "syscalls / I/O", mk)
    before = "kernel engine, before the fix"
    for r in rows:
        if r[ce] == "kernel engine":
            sysc[("QD %s\n%s" % (r[cq], r[cc]), before)] = value(r[cs], "syscalls / I/O")
    bar_chart("kernel-engine-syscalls.png", "System calls per I/O (QEMU TCG guest; log scale)",
              "system calls per I/O", groups, [before] + series, sysc, logy=True)

    # fio's engines on one job (issue 11): io_uring, io_uring_cmd, ours.
    mk = "### fio: io_uring, io_uring_cmd and libunified-fio"
    h, rows = table_after(lines, mk)
    cq, cc, cj, ci = col(h, "QD", mk), col(h, "completions", mk), col(h, "fio job", mk), col(h, "IOPS", mk)
    groups, series, vals = [], [], {}
    for r in rows:
        g = "QD %s\n%s" % (r[cq], r[cc])
        sname = r[cj] if r[cj] in ("io_uring", "io_uring_cmd") else \
            "libunified-fio" + (" user engine" if "user" in r[cj] else " default")
        groups += [g] if g not in groups else []
        series += [sname] if sname not in series else []
        vals[(g, sname)] = value(r[ci], "IOPS")
    bar_chart("fio-engines-iops.png", "fio 3.33, one job: 4k randread IOPS by ioengine "
              "(QEMU TCG guest, patched 6.12)", "IOPS", groups, series, vals, fmt="%.0s%c")

    # NVMe passthrough, QEMU guest: ours, liburing, fio io_uring_cmd.
    mk = "### NVMe passthrough (QEMU guest)"
    h, rows = table_after(lines, mk)
    cq, cc = col(h, "QD", mk), col(h, "completions", mk)
    cols = [("ours", col(h, "ours IOPS", mk)),
            ("liburing URING_CMD", col(h, "liburing IOPS", mk)),
            ("fio io_uring_cmd", col(h, "fio io_uring_cmd IOPS", mk))]
    groups, vals = [], {}
    for r in rows:
        g = "QD %s\n%s" % (r[cq], r[cc])
        groups.append(g)
        for s, c in cols:
            vals[(g, s)] = value(r[c], "IOPS")
    bar_chart("nvme-passthrough-iops.png", "NVMe passthrough /dev/ng0n1, 4k randread IOPS "
              "(QEMU TCG, Debian 6.1)", "IOPS", groups, [s for s, _ in cols], vals, fmt="%.0s%c")

    # The file and loop device runs before the review fixes: ours / liburing
    # of each invocation ("= 0.96x" in a run cell; fio rows have none).
    mk = "### Before the review fixes"
    h, rows = table_after(lines, mk)
    ct, cq, cm = col(h, "target", mk), col(h, "QD", mk), col(h, "ours mode", mk)
    runs = [c for c in range(len(h)) if h[c].startswith("run ")]
    groups, vals = [], {}
    for r in rows:
        got = [(h[c], re.search(r"=\s*([0-9.]+x)", r[c])) for c in runs]
        if not any(m for _, m in got):
            continue
        # "kick, `--interleave 10`, old 50 µs spin default" -> 3 short lines
        parts = [x.strip() for x in r[cm].replace("`", "").split(",")]
        parts[1:2] = ["interleaved"] if "interleave" in parts[1] else parts[1:2]
        g = "%s QD %s\n%s" % (r[ct], r[cq], "\n".join(textwrap.fill(x.split(" (")[0], 13)
                                                      for x in parts))
        groups.append(g)
        for run, m in got:
            if m:
                vals[(g, run)] = value(m.group(1), "ratio")
    bar_chart("file-loop-ratios.png", "ours / liburing IOPS, 4k randread, file and loop device "
              "(before the review fixes), one bar per invocation", "ours / liburing", groups,
              [h[c] for c in runs], vals, height=500, width=1100, hline=1.0, xfont=",8")

    # unified-ingest against rsyslog: CPU per message (a blank first cell
    # repeats the row above).
    mk = "### unified-ingest against rsyslog"
    h, rows = table_after(lines, mk)
    cm, cv, cu = col(h, "messages", mk), col(h, "server", mk), col(h, "CPU µs/msg", mk)
    groups, series, vals, last = [], [], {}, None
    for r in rows:
        g = (r[cm] or last).replace(" × ", " × \n")
        last = r[cm] or last
        groups += [g] if g not in groups else []
        series += [r[cv]] if r[cv] not in series else []
        vals[(g, r[cv])] = value(r[cu], "CPU µs/msg")
    bar_chart("ingest-cpu-per-msg.png", "Server CPU per message (µs, lower is better; "
              "log scale)", "CPU µs per message", groups, series, vals, logy=True)

    # unified-netbench: mean MB/s and receiver CPU per GiB, per way.
    mk = "### Network to storage"
    h, rows = table_after(lines, mk)
    cp, cw = col(h, "path", mk), col(h, "way", mk)
    cmean, ccpu = col(h, "mean", mk), col(h, "receiver CPU-s/GiB", mk)
    ways = [("unified", "unified"), ("recv + memcpy", "recv + memcpy + pwrite"),
            ("recv(MSG_WAITALL)", "recv(MSG_WAITALL) + pwrite"), ("splice", "splice")]
    groups, mbs, cpu = [], {}, {}
    for r in rows:
        s = next((label for pre, label in ways if r[cw].startswith(pre)), None)
        if s is None:
            fail("netbench table: way %r is not one of the charted ways" % r[cw])
        groups += [r[cp]] if r[cp] not in groups else []
        mbs[(r[cp], s)] = value(r[cmean], "MB/s")
        cpu[(r[cp], s)] = value(r[ccpu], "CPU-s/GiB")
    bar_chart("netbench-throughput.png", "1 GiB over TCP into a file: MB/s (mean of 3 runs)",
              "MB/s", groups, [l for _, l in ways], mbs, height=400)
    bar_chart("netbench-cpu.png", "1 GiB over TCP into a file: receiver CPU-s per GiB "
              "(lower is better)", "CPU seconds per GiB", groups, [l for _, l in ways], cpu,
              height=400)


plot_tables() if mode == "tables" else plot_json()
with open(os.path.join(work, "plot.gp"), "w") as f:
    f.write("\n".join(gp) + "\n")
with open(os.path.join(work, "pngs"), "w") as f:
    f.write("\n".join(pngs) + "\n")
PY

command -v gnuplot >/dev/null || die "gnuplot not found (Debian: apt-get install gnuplot-nox)"
mkdir -p "$outdir" || die "$outdir: cannot create the directory"
gnuplot "$work/plot.gp" 2>"$work/gnuplot.err" || die "gnuplot failed: $(head -5 "$work/gnuplot.err")"
# gnuplot warns (e.g. of an empty range) and still exits 0: show it.
[[ -s $work/gnuplot.err ]] && sed 's/^/plot-bench.sh: gnuplot: /' "$work/gnuplot.err" >&2
while read -r png; do
	[[ -s $png ]] || die "$png was not written"
	echo "$png"
done <"$work/pngs"
