#!/usr/bin/env python3
"""scale.hosts-compare: the regression check on points over hosts, on
hand-made result files with fixed times (no measurement, no MPI, nothing
timed), so every verdict is known:

- a point's identity includes its hosts: the baseline's 1 host x 2 ranks
  and a one-machine 2-rank point (no hosts) are three different points from
  2 hosts x 1 rank, though all have 2 ranks of 1 worker;
- other host counts are reported in a "note:" line, their points never
  compared with another count's; other hostfile hosts are a note too;
- the 2-host point 10% slower is REGRESSED, by its hosts label;
- a file of the format before hosts (no "hosts" field) still matches the
  one-machine point.

usage: scale-hosts-compare.py MPK_SCALE
"""
import copy
import json
import math
import os
import subprocess
import sys
import tempfile

Z = [-1.2, 0.4, 0.9, -0.3, 1.5, -0.8, 0.1, -1.6, 0.7, 0.3]


def point(hosts, rph, ranks, base, factor=1.0):
    times, rounds = [], []
    for r in range(10):
        for j in range(3):
            times.append(base * factor * math.exp(0.01 * Z[r]) *
                         (1 + 0.002 * j))
            rounds.append(r)
    return {"kernel": "pi", "scaling": "strong", "mode": "mpi",
            "schedule": "static", "chunk": 0, "ranks": ranks, "hosts": hosts,
            "ranks_per_host": rph, "workers": 1, "threads_per_worker": 1,
            "cores": ranks, "size": 1000000, "repeats": 30, "ok": True,
            "check": "ok", "value": math.pi, "launch": "mpirun ...",
            "rounds": 10, "times": times, "time_rounds": rounds}


def run_file(points, hosts):
    return {"tool": "mpk-scale", "format": 2,
            "machine": {"cpu_model": "Test CPU", "cores": 2},
            "build": {"build_type": "Release"},
            "config": {"hostfile": "hosts" if hosts else None,
                       "hosts": [{"name": h, "slots": 2} for h in hosts]
                       if hosts else None},
            "points": points}


def main():
    scale = sys.argv[1]
    d = tempfile.mkdtemp(prefix="mpk-hosts-compare-")
    base = run_file([point(None, None, 2, 0.010),  # one machine, 2 ranks
                     point(1, 2, 2, 0.020),        # 1 host x 2 ranks
                     point(2, 1, 2, 0.030)],       # 2 hosts x 1 rank
                    ["nodea", "nodeb"])
    cand = run_file([point(None, None, 2, 0.010),
                     point(2, 1, 2, 0.030, 1.10),  # 10% slower
                     point(3, 1, 3, 0.040)],       # a count base lacks
                    ["nodea", "nodeb", "nodec"])
    old = copy.deepcopy(base)                      # before the hosts field
    old["config"] = {}
    old["points"] = [dict(old["points"][0])]
    del old["points"][0]["hosts"], old["points"][0]["ranks_per_host"]
    files = {}
    for name, doc in (("base", base), ("cand", cand), ("old", old)):
        files[name] = os.path.join(d, name + ".json")
        with open(files[name], "w") as f:
            json.dump(doc, f)

    def compare(c, b):
        r = subprocess.run([scale, "--compare", files[c], "--baseline",
                            files[b]], capture_output=True, text=True,
                           timeout=60)
        print(r.stdout + r.stderr)
        return r.returncode, r.stdout

    rc, out = compare("cand", "base")
    assert rc == 1, rc
    lines = out.splitlines()
    assert ("note: host counts of the points over hosts: baseline 1,2, "
            "candidate 2,3 (a point of a host count only one run has is "
            "not compared)") in lines, lines
    assert ("note: hosts: baseline 'nodea,nodeb', candidate "
            "'nodea,nodeb,nodec'") in lines, lines
    rows = [x for x in lines if x.startswith("pi strong mpi")]
    assert len(rows) == 2, rows
    assert rows[0].startswith("pi strong mpi static workers=2 ranks x 1 "
                              "size=1000000 ") and "unchanged" in rows[0], rows
    assert rows[1].startswith("pi strong mpi static hosts=2 ranks/host=1 "
                              "workers=1 size=1000000 ") and \
        "regressed" in rows[1], rows
    regressed = [x for x in lines if x.startswith("REGRESSED ")]
    assert len(regressed) == 1 and regressed[0].startswith(
        "REGRESSED pi strong mpi static hosts=2 ranks/host=1 workers=1 "
        "size=1000000: +10.0% ["), regressed
    assert "mpk-scale: 2 points compared, 1 regressed, 0 improved, 1 " \
        "unchanged, 0 inconclusive" in out and \
        "; 1 without a counterpart, 0 failed" in out, out

    # the same hosts, the same counts: no note
    rc, out = compare("base", "base")
    assert rc == 0 and "note:" not in out and \
        "3 points compared, 0 regressed, 0 improved, 3 unchanged" in out, out

    # a baseline from before the hosts field: its point is the one-machine
    # point; the candidate's host points have no counterpart, and say so
    rc, out = compare("cand", "old")
    assert rc == 0, rc
    assert "note: host counts of the points over hosts: baseline none, " \
        "candidate 2,3 " in out, out
    assert "1 points compared, 0 regressed, 0 improved, 1 unchanged" in out \
        and "; 2 without a counterpart" in out, out
    return 0


if __name__ == "__main__":
    sys.exit(main())
