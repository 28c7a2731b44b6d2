#!/usr/bin/env python3
"""scale.render: scripts/render-results on a fixed, hand-made input (no
measurement, so nothing here depends on timing). The input is a sweep of
pi and square on a 2-core machine with workers 1, 2, 4 and the limits of a
micro.json; the test checks the numbers the page derives from it:

- the headline rows are the sweep's points (same median, same interval as
  the scaling table's cell);
- every speedup and efficiency carries its interval, in the tables and as
  error-bar columns of the plot data (kept with --keep-data);
- "% of limit": pi's ns/step/core against the divider, square's GB/s
  against STREAM copy on 2 threads, computed by hand below;
- efficiency above 100%: inside its interval counted as noise, beyond it
  marked with a footnote;
- 4 workers on 2 cores marked oversubscribed (†) and shaded in the plots;
- vs omp is the OpenMP point at the same worker count;
- without hosts.json the simulated-hosts section says why (meta.json's
  reason); with it, its hosts x ranks per host x workers table (marked
  beyond the machine's cores) and 1 host x 2 ranks against 2 hosts x 1
  rank: the ratio of the medians and the rounds two hosts were slower in.

usage: test-render-results.py SOURCE_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def point(kernel, scaling, mode, workers, size, median, speedup=None,
          eff=None, lo=None, hi=None, rate=None):
    s = speedup
    return {"kernel": kernel, "scaling": scaling, "mode": mode,
            "schedule": "static", "chunk": 0, "ranks": 1, "workers": workers,
            "threads_per_worker": 1, "cores": workers, "size": size,
            "repeats": 15, "ok": True, "check": "ok", "median": median,
            "min": median * 0.99, "max": median * 1.02, "q25": median,
            "q75": median, "mean": median, "sd": 0.0, "rel_noise": 0.01,
            "speedup": 1.0 if scaling == "serial" else s,
            "efficiency": 1.0 if scaling == "serial" else eff,
            "karp_flatt": None, "rate": rate if rate else size / median,
            "rate_unit": "GB/s" if kernel == "square" else "steps/s",
            "speedup_lo": lo, "speedup_hi": hi,
            "efficiency_lo": lo / workers if lo else None,
            "efficiency_hi": hi / workers if hi else None,
            "value": None, "launch": None, "rounds": 5}


def fixture(d):
    n = 200000000
    pts = [
        point("pi", "serial", "serial", 1, n, 0.200),
        # 1 worker, 104%: 100% inside its interval (noise)
        point("pi", "strong", "omp", 1, n, 0.1923, 1.04, 1.04, 0.98, 1.10),
        point("pi", "strong", "omp", 2, n, 0.1000, 2.00, 1.00, 1.90, 2.10),
        point("pi", "strong", "omp", 4, n, 0.1010, 1.98, 0.495, 1.90, 2.06),
        # 1 worker, 110% with the whole interval above 100%
        point("pi", "strong", "pool", 1, n, 0.1818, 1.10, 1.10, 1.05, 1.15),
        point("pi", "strong", "pool", 2, n, 0.1250, 1.60, 0.80, 1.50, 1.70),
        point("pi", "strong", "pool", 4, n, 0.1100, 1.82, 0.455, 1.70, 1.95),
        point("square", "serial", "serial", 1, 1 << 24, 0.0250, rate=10.0),
        point("square", "strong", "omp", 2, 1 << 24, 0.0150, 1.667, 0.833,
              1.5, 1.8, rate=16.0),
        point("square", "strong", "pool", 2, 1 << 24, 0.0125, 2.0, 1.0,
              1.8, 2.2, rate=18.0),
    ]
    scaling = {"tool": "mpk-scale", "points": pts,
               "machine": {"cores": 2, "pus": 2, "packages": 1,
                           "numa_nodes": 1, "allowed": "0-1",
                           "cpu_model": "Test CPU"},
               "build": {"simd_isa": "avx2", "mpk": "0.1.0"},
               "config": {"rounds": 5, "repeat": 3, "pi_steps": n,
                          "square_n": 1 << 24}}
    micro = {"benchmarks": [
        {"name": "limit/copy/2/real_time_median",
         "run_name": "limit/copy/2/real_time", "aggregate_name": "median",
         "bytes_per_second": 20e9},
        {"name": "limit/copy/2/real_time_cv",
         "run_name": "limit/copy/2/real_time", "aggregate_name": "cv",
         "bytes_per_second": 0.02},
        {"name": "limit/copy/1/real_time_median",
         "run_name": "limit/copy/1/real_time", "aggregate_name": "median",
         "bytes_per_second": 12e9},
        {"name": "limit/divide_avx2/real_time_median",
         "run_name": "limit/divide_avx2/real_time",
         "aggregate_name": "median", "items_per_second": 2.5e9},
    ]}
    meta = {"commit": "abc1234", "changed": []}
    for name, obj in (("scaling.json", scaling), ("micro.json", micro),
                      ("meta.json", meta)):
        with open(os.path.join(d, name), "w") as f:
            json.dump(obj, f)


def row(text, start):
    lines = [ln for ln in text.split("\n") if ln.startswith(start)]
    assert lines, f"no row starting {start!r}"
    return [c.strip() for c in lines[0].strip("|").split("|")]


def host_point(h, r, w, median, rounds, ok=True):
    s, c = 0.2 / median, h * r * w
    p = point("pi", "strong", "mpi", w, 200000000, median, s, s / c)
    p.update({"hosts": h, "ranks_per_host": r, "ranks": h * r, "cores": c,
              "round_medians": rounds, "ok": ok,
              "check": "ok" if ok else "mpirun exited 1",
              "speedup_lo": 0.95 * s, "speedup_hi": 1.05 * s,
              "efficiency_lo": 0.95 * s / c, "efficiency_hi": 1.05 * s / c})
    return p


def hosts_case(src):
    d = tempfile.mkdtemp(prefix="mpk-render-hosts-")
    try:
        fixture(d)
        out = os.path.join(d, "RESULTS.md")
        cmd = [sys.executable, os.path.join(src, "scripts", "render-results"),
               "--results-dir", d, "--output", out]
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump({"hosts_skipped": "cannot make UTS namespaces"}, f)
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        text = open(out).read()
        assert "## Scaling over simulated hosts\n\nNot measured in this " \
            "run: cannot make UTS namespaces." in text, text[-800:]
        pts = [point("pi", "serial", "serial", 1, 200000000, 0.2),
               host_point(1, 1, 1, 0.200, [0.2, 0.2, 0.2]),
               host_point(1, 2, 1, 0.100, [0.1, 0.1, 0.1]),
               host_point(2, 1, 1, 0.125, [0.13, 0.09, 0.12]),
               host_point(2, 2, 1, 0.300, [0.3, 0.3, 0.3], ok=False)]
        hosts = {"tool": "mpk-scale", "points": pts,
                 "config": {"rounds": 3, "repeat": 3, "pi_steps": 200000000,
                            "host_counts": "1,2", "ranks_per_host": "1,2",
                            "rank_workers": "1",
                            "hosts": [{"name": "nodea", "slots": 2},
                                      {"name": "nodeb", "slots": 2}]}}
        with open(os.path.join(d, "hosts.json"), "w") as f:
            json.dump(hosts, f)
        with open(os.path.join(d, "simulated-hosts"), "w") as f:
            f.write("nodea slots=2\nnodeb slots=2\n")
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        text = open(out).read()
        sec = text[text.index("## Scaling over simulated hosts"):
                   text.index("## Micro-benchmark ratios")]
        assert "TCP over loopback" in sec and "the same 2 cores" in sec, sec
        assert "(nodea, nodeb)" in sec and "nodeb slots=2\n```" in sec, sec
        assert "| 1 x 2 | 100.00 ms · 2.00x [1.90, 2.10] · 100% [95, 105] |" \
            in sec, sec
        assert "| 2 x 2 | mpirun exited 1 † |" in sec, sec
        # 0.125 / 0.100; slower in rounds 0 and 2 of 3
        assert "1.250x the one-host time; two hosts were slower in 2 of 3 " \
            "round(s)" in sec, sec
        # the one-machine ranks x workers section ignores host points
        assert "## Ranks x workers" not in text
    finally:
        shutil.rmtree(d)


def main():
    src = sys.argv[1]
    d = tempfile.mkdtemp(prefix="mpk-render-")
    try:
        fixture(d)
        out = os.path.join(d, "RESULTS.md")
        r = subprocess.run([sys.executable,
                            os.path.join(src, "scripts", "render-results"),
                            "--results-dir", d, "--output", out,
                            "--keep-data"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        text = open(out).read()
        head_pi = text[text.index("## Headline: pi"):
                       text.index("## Headline: square")]
        # headline = the sweep: pool at 2 workers, same numbers as its cell
        pool2 = row(head_pi, "| pool | 2 |")
        assert pool2[2] == "125.00 ms", pool2
        assert pool2[3] == "1.60x [1.50, 1.70]", pool2
        assert pool2[4] == "80% [75, 85]", pool2
        # ns/step/core = 0.125 x 2 / 2e8 x 1e9 = 1.25; divider 0.4 ns/step
        assert pool2[5] == "1.250" and pool2[6] == "32%", pool2
        # vs omp at 2 workers: 0.100 / 0.125
        assert pool2[7] == "0.80x", pool2
        strong = text[text.index("### pi"):]
        assert "125.00 ms · 1.60x [1.50, 1.70] · 80% [75, 85]" in strong
        # oversubscription: 4 workers on 2 cores, marked; not in headline
        assert "| 4 workers † |" in strong, strong[:600]
        assert "| omp | 4 |" not in head_pi
        # efficiency above 100%: one inside its interval, one beyond
        assert "104% [98, 110]" in text and "104% [98, 110] ‡" not in text
        assert "110% [105, 115] ‡" in text
        assert "appears 1 time(s) with 100% inside its interval" in text
        assert "1 point(s), marked **‡**" in text
        # square: GB/s against STREAM copy on 2 threads (20 GB/s)
        sq = row(text[text.index("## Headline: square"):], "| pool | 2 |")
        assert sq[5] == "18.00" and sq[6] == "90%", sq
        assert "lib/, apps/, bench/ and scripts/ equal that commit" in text
        assert "ns/step/core** = median time x cores / steps" in text
        assert "**vs omp** = the OpenMP point's median" in text
        # plots: error bars from the intervals, shading beyond 2 cores
        with open(os.path.join(d, "pi-speedup.dat")) as f:
            rows = [ln.split() for ln in f if ln.strip()]
        assert ["2.0", "1.6", "1.5", "1.7"] in rows, rows
        for kind in ("speedup", "efficiency", "time"):
            with open(os.path.join(d, f"pi-{kind}.png"), "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n", kind
        with open(os.path.join(d, "pi-speedup.gp-args")) as f:
            args = f.read()
        assert "over=1" in args and "phys=2" in args, args
    finally:
        shutil.rmtree(d)
    hosts_case(src)
    print("scale.render: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
