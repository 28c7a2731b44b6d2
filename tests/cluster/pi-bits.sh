#!/bin/sh
# cluster.pi-bits: sh pi-bits.sh MPIRUN_CLUSTER MPK_PI PYTHON
# mpk-pi's pi at every simulated-cluster layout (2x1, 2x2, 3on2), under
# STATIC and DYNAMIC, has the bits of a one-process pool at the same chunk;
# each --json report names the ranks, 2 nodes and, for DYNAMIC, the
# message-path counter ("msg"; null for STATIC).
set -u
run=$1 pi=$2 py=$3
a='--steps 123457 --chunk 1000 --repeat 2 --json'
out=cluster-pi-bits.txt
pick='import json,sys
r=json.load(sys.stdin)["results"]
assert len(r)==1 and r[0]["repeatable"], r
x=r[0]
if len(sys.argv) > 1:
    np, part = int(sys.argv[1]), sys.argv[2]
    assert x["mode"]=="mpi" and x["ranks"]==np and x["nodes"]==2, x
    want = "msg" if part == "dynamic" else None
    assert x["partition"]==part and x["dynamic_counter"]==want, x
print(repr(x["pi"]))'
{
  "$pi" --mode pool --workers 2 $a | "$py" -c "$pick" || echo pool-failed
  for l in 2x1:2 2x2:4 3on2:3; do
    for part in static dynamic; do
      "$run" "${l%:*}" -- "$pi" --mode mpi --workers 1 --partition $part $a |
        "$py" -c "$pick" "${l#*:}" $part || echo "mpi-failed $l $part"
    done
  done
} >$out
cat $out
test "$(sort -u $out | wc -l)" -eq 1 && test "$(wc -l <$out)" -eq 7
