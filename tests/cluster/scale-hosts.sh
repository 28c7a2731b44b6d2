#!/bin/sh
# cluster.scale-hosts: sh scale-hosts.sh MPK_SCALE MPIRUN_CLUSTER PYTHON
# mpk-scale --hosts over 2 simulated hosts (tests/cluster/mpirun-cluster as
# the launcher, a hostfile naming nodea and nodeb): 1 and 2 hosts x 1 and 2
# ranks per host x 1 worker. Every point is a record with its hosts, ranks
# per host, ranks, workers and cores (JSON, CSV, the table on stdout), its
# launch names the first H hosts, -np H x R and ppr:R:node, the ranks ran
# on H nodes (mpk-scale checks mpk-pi's "nodes"), and pi has the bits of
# the sweep's one-process pool at every layout. The hosts have 1 slot
# each, so 1 rank per host is placed with PE=1 and bound, 2 ranks per host
# oversubscribed and unbound. Then a sweep of 2 hosts
# only, compared with the first: the other host counts are noted, the
# 2-host points compared by their hosts (its 2 rounds are child processes,
# which get the --hosts options). Nothing here depends on timing.
set -u
scale=$1 run=$2 py=$3
"$run" --check || exit 77
d=cluster-scale-hosts
rm -rf $d
mkdir -p $d
slots=1
printf 'nodea slots=%s\nnodeb slots=%s\n' "$slots" "$slots" >$d/hosts
a="--kernels pi --modes pool --workers 1 --scaling strong --pi-steps 123457 --repeat 2 --rank-workers 1 --mpirun $run --out $d"
# shellcheck disable=SC2086 # a: words
"$scale" $a --hosts $d/hosts --host-counts 1,2 --ranks-per-host 1,2 \
  --name h >$d/table.txt
s=$?
cat $d/table.txt
[ $s -eq 0 ] || { echo "mpk-scale --hosts: exit $s"; exit 1; }
"$py" - $d "$slots" <<'EOF' || exit 1
import csv, json, math, sys
d, slots = sys.argv[1], int(sys.argv[2])
j = json.load(open(d + "/h.json"))
pts = j["points"]
assert all(p["ok"] and p["check"] == "ok" for p in pts), [p["check"] for p in pts]
pool = [p for p in pts if p["mode"] == "pool"]
mpi = [p for p in pts if p["mode"] == "mpi"]
assert len(pts) == 6 and len(pool) == 1 and len(mpi) == 4, len(pts)
assert all(p["hosts"] is None and p["ranks_per_host"] is None
           for p in pts if p["mode"] != "mpi"), pts
got = sorted((p["hosts"], p["ranks_per_host"], p["ranks"], p["workers"],
              p["cores"]) for p in mpi)
assert got == [(1, 1, 1, 1, 1), (1, 2, 2, 1, 2), (2, 1, 2, 1, 2),
               (2, 2, 4, 1, 4)], got
for p in mpi:
    h, r = p["hosts"], p["ranks_per_host"]
    hl = ",".join(f"node{c}:{slots}" for c in "ab"[:h])
    fits = r * p["workers"] <= slots
    place = (f" -np {h * r} --host {hl} --map-by ppr:{r}:node:PE=1 "
             "--bind-to core " if fits else
             f" -np {h * r} --host {hl} --map-by ppr:{r}:node "
             "--oversubscribe --bind-to none ")
    assert place in p["launch"], p
    assert p["launch"].endswith(" --bind " + ("compact" if fits else "none")
                                + " --json"), p
    # the bits of the one-process pool, at every layout
    assert p["value"] == pool[0]["value"], (p["value"], pool[0]["value"])
    # and pi within the midpoint rule's error
    assert abs(p["value"] - math.pi) <= 1 / p["size"] ** 2 + 1e-12, p
c = j["config"]
assert c["hosts"] == [{"name": "nodea", "slots": slots},
                      {"name": "nodeb", "slots": slots}], c
assert c["host_counts"] == "1,2" and c["ranks_per_host"] == "1,2", c
rows = list(csv.DictReader(open(d + "/h.csv")))
assert sorted((r["hosts"], r["ranks_per_host"], r["ranks"], r["workers"])
              for r in rows if r["mode"] == "mpi") == \
    [("1", "1", "1", "1"), ("1", "2", "2", "1"), ("2", "1", "2", "1"),
     ("2", "2", "4", "1")], rows
assert all(r["hosts"] == "" for r in rows if r["mode"] != "mpi"), rows
t = open(d + "/table.txt").read().splitlines()
assert t[0].split()[:5] == ["scaling", "hosts", "ranks/host", "ranks",
                            "workers"], t
assert sorted(tuple(x.split()[1:5]) for x in t[1:]) == \
    [("1", "1", "1", "1"), ("1", "2", "2", "1"), ("2", "1", "2", "1"),
     ("2", "2", "4", "1")], t
assert all(x.split()[-1] == "ok" for x in t[1:]), t
EOF
# 2 hosts only, against the first run as the baseline
# shellcheck disable=SC2086 # a: words
"$scale" $a --hosts $d/hosts --host-counts 2 --rounds 2 --name h2 \
  --baseline $d/h.json >$d/cmp.txt
s=$?
cat $d/cmp.txt
[ $s -eq 0 ] || { echo "mpk-scale --baseline: exit $s"; exit 1; }
grep -q '^note: host counts of the points over hosts: baseline 1,2, candidate 2 ' $d/cmp.txt &&
  grep -q '^pi strong mpi static hosts=2 ranks/host=1 workers=1 size=123457 ' $d/cmp.txt &&
  ! grep -q 'hosts=1 ' $d/cmp.txt &&
  grep -q '^mpk-scale: 3 points compared, .* 0 without a counterpart, 0 failed$' $d/cmp.txt ||
  { echo "the comparison is not the expected one"; exit 1; }
