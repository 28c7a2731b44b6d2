#!/bin/sh
# scale.hosts-bad-CASE: sh scale-hosts-bad.sh CASE MPK_SCALE
# mpk-scale --hosts misuse: a bad hostfile or a bad combination of options
# is exit 2 with one line on stderr that says what is wrong (the expected
# words below), before anything is launched (--mpirun is /bin/false).
set -u
case=$1 scale=$2
d=$(mktemp -d "${TMPDIR:-/tmp}/mpk-hosts-bad.XXXXXX")
trap 'rm -rf "$d"' EXIT
good="$d/good"
printf 'nodea slots=2\nnodeb slots=2 max_slots=4  # a comment\n' >"$good"
f="$d/hosts"
args=""
case $case in
  missing) f="$d/none"; want="cannot read hostfile" ;;
  empty) : >"$f"; want="names no host" ;;
  comments) printf '# only a comment\n\n   \n' >"$f"; want="names no host" ;;
  no-slots) printf 'nodea\n' >"$f"; want="line 1: want 'NAME slots=N'" ;;
  zero-slots) printf 'nodea slots=0\n' >"$f"; want="line 1: want 'NAME slots=N'" ;;
  word-slots) printf '# c\nnodea slots=two\n' >"$f"; want="line 2: want 'NAME slots=N'" ;;
  bad-name) printf 'node_a slots=2\n' >"$f"; want="bad host name 'node_a'" ;;
  bad-max) printf 'nodea slots=2 max_slots=1\n' >"$f"; want="max_slots=M, M >= slots" ;;
  extra-word) printf 'nodea slots=2 max_slots=2 x\n' >"$f"; want="more than NAME" ;;
  twice) printf 'nodea slots=2\nnodeb slots=2\nnodea slots=1\n' >"$f"
    want="line 3: host 'nodea' again" ;;
  fewer) f=$good; args="--host-counts 1,3"; want="--host-counts 3: hostfile '$good' names 2 hosts" ;;
  counts-zero) f=$good; args="--host-counts 0"; want="bad --host-counts" ;;
  rph-zero) f=$good; args="--ranks-per-host 1,0"; want="bad --ranks-per-host" ;;
  with-ranks) f=$good; args="--ranks 2"; want="--ranks and --hosts exclude each other" ;;
  no-pi) f=$good; args="--kernels square"; want="--hosts measures the pi kernel" ;;
  counts-alone) f=""; args="--host-counts 1"; want="--host-counts and --ranks-per-host need --hosts" ;;
  rph-alone) f=""; args="--ranks-per-host 2"; want="--host-counts and --ranks-per-host need --hosts" ;;
  empty-arg) f=""; args="--hosts="; want="empty --hosts" ;;
  *) echo "unknown case $case" >&2; exit 1 ;;
esac
if [ -n "$f" ]; then
  set -- --hosts "$f"
else
  set --
fi
# shellcheck disable=SC2086 # args: words
"$scale" "$@" $args --mpirun /bin/false --out "$d/out" 2>"$d/err" >/dev/null
s=$?
cat "$d/err"
[ "$s" -eq 2 ] || { echo "exit $s, want 2"; exit 1; }
[ "$(wc -l <"$d/err")" -eq 1 ] || { echo "want one line"; exit 1; }
grep -qF -- "$want" "$d/err" || { echo "want: $want"; exit 1; }
[ ! -e "$d/out" ] || { echo "it wrote results"; exit 1; }
