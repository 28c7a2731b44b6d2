#!/usr/bin/env python3
"""Synthetic result files with known timings for the scale.* tests.

  scale-synth.py run TEMPLATE OUT [options]   an mpk-scale JSON file: the
      points and provenance of TEMPLATE (a real run), every time replaced
  scale-synth.py micro OUT [options]          Google Benchmark JSON

Times are deterministic: point i, round r, repeat j takes
  base_i * factor * exp(noise * Z[(r + shift) % 20]) * (1 + 0.002 j)
with base_i = 0.01 (1 + i) and Z a fixed list of mean 0. Options:
  --rounds R --repeat K --noise SD --shift S
  --factor F [--where PYEXPR]   multiply the points where PYEXPR (over p, the
                                point dict, or name for micro) is true
  --no-rounds                   drop time_rounds (a format 1 file)
  --set SECTION.KEY=VALUE       e.g. machine.cpu_model=Other (JSON value or
                                string)
  --aggregates-only             micro: only the aggregate entries
"""
import argparse
import json
import math

Z = [-1.2, 0.4, 0.9, -0.3, 1.5, -0.8, 0.1, -1.6, 0.7, 0.3,
     0.5, -0.9, 1.1, 0.2, -1.4, 0.8, -0.2, 1.3, -0.6, 0.0]


def times_of(i, a, f):
    base = 0.01 * (1 + i) * f
    t, r_of = [], []
    for r in range(a.rounds):
        for j in range(a.repeat):
            t.append(base * math.exp(a.noise * Z[(r + a.shift) % 20])
                     * (1 + 0.002 * j))
            r_of.append(r)
    return t, r_of


def run(a):
    d = json.load(open(a.template))
    for i, p in enumerate(d["points"]):
        f = a.factor if eval(a.where, {}, {"p": p}) else 1.0
        p["ok"], p["check"] = True, "ok"
        p["times"], rounds = times_of(i, a, f)
        if a.no_rounds:
            p.pop("time_rounds", None)
        else:
            p["time_rounds"] = rounds
        p["repeats"], p["rounds"] = len(p["times"]), a.rounds
    for s in a.set:
        key, val = s.split("=", 1)
        sec, k = key.split(".", 1)
        try:
            d[sec][k] = json.loads(val)
        except ValueError:
            d[sec][k] = val
    json.dump(d, open(a.out, "w"), indent=1)


def micro(a):
    names = ["pool_map/mpk", "pool_map/omp", "queue_put/mpk"]
    out = []
    for i, name in enumerate(names):
        f = a.factor if eval(a.where, {}, {"name": name}) else 1.0
        t, _ = times_of(i, a, f)
        if not a.aggregates_only:
            for r in range(a.rounds):
                out.append({"name": name, "run_name": name,
                            "run_type": "iteration", "repetitions": a.rounds,
                            "repetition_index": r, "iterations": 1000,
                            "real_time": t[r * a.repeat] * 1e9,
                            "cpu_time": t[r * a.repeat] * 1e9,
                            "time_unit": "ns"})
        out.append({"name": name + "_median", "run_name": name,
                    "run_type": "aggregate", "aggregate_name": "median",
                    "real_time": 1.0, "time_unit": "ns"})
    json.dump({"context": {"host_name": "synth", "num_cpus": 2},
               "benchmarks": out}, open(a.out, "w"), indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["run", "micro"])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--shift", type=int, default=0)
    ap.add_argument("--factor", type=float, default=1.0)
    ap.add_argument("--where", default="True")
    ap.add_argument("--no-rounds", action="store_true")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--aggregates-only", action="store_true")
    a = ap.parse_args()
    if a.kind == "run":
        a.template, a.out = a.files
        run(a)
    else:
        (a.out,) = a.files
        micro(a)


if __name__ == "__main__":
    main()
