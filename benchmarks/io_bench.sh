#!/usr/bin/env bash
# io_bench.sh: UringDevice (benchmarks/io:uring_bench) against fio on the same
# file in the same run, with the ratios the Foundation issue sets as goals:
#   seq    sequential 1 MiB writes at QD16          goal: ours >= 0.90 x fio MiB/s
#   flush  4 KiB random writes + fdatasync at QD1   goal: ours p50 <= 1.1 x fio p50
# fio's equivalent of "write then flush" is --fdatasync=1 with ioengine=io_uring,
# which issues IORING_OP_FSYNC with IORING_FSYNC_DATASYNC, exactly what
# UringDevice::Flush submits. fio reports write and sync latencies separately
# and has no per-pair latency, so two comparisons are printed:
#   p50:  hafs pair p50 (wall clock, write submit to flush completion) against
#         fio write p50 + sync p50 (fio's own timers, which leave out fio's
#         time between one op's completion and the next op's submission);
#   mean: wall-clock time per pair (run time / pairs) of each tool.
#
# Usage: benchmarks/io_bench.sh [FILE] [SIZE]
#   FILE  default /var/tmp/hafs-io-bench.img (removed afterwards; must be on a
#         filesystem with O_DIRECT, not tmpfs/ramfs)
#   SIZE  default 1G
# Env: ROUNDS (default 3; the workloads alternate fio/ours each round and the
# median round is reported), FLUSH_SECONDS (default 10).
set -euo pipefail

cd "$(dirname "$0")/.."
FILE="${1:-/var/tmp/hafs-io-bench.img}"
SIZE="${2:-1G}"
ROUNDS="${ROUNDS:-3}"
FLUSH_SECONDS="${FLUSH_SECONDS:-10}"

command -v fio >/dev/null || { echo "io_bench: fio is not installed (apt-get install fio)" >&2; exit 1; }
bazel build //benchmarks/io:uring_bench >/dev/null 2>&1 || bazel build //benchmarks/io:uring_bench
BENCH="$(bazel info bazel-bin 2>/dev/null)/benchmarks/io/uring_bench"

created=0
cleanup() { if [[ $created == 1 ]]; then rm -f "$FILE"; fi; rm -f "$TMPJSON"; }
TMPJSON="$(mktemp)"
trap cleanup EXIT
if [[ ! -e "$FILE" ]]; then created=1; fi
fallocate -l "$SIZE" "$FILE"
# Fill the file once so neither side pays for allocating/converting extents.
fio --name=fill --filename="$FILE" --size="$SIZE" --rw=write --bs=1M --iodepth=16 \
    --ioengine=io_uring --direct=1 --output-format=terse >/dev/null

COMMON=(--filename="$FILE" --size="$SIZE" --ioengine=io_uring --direct=1 --output-format=json)

fio_seq() {
  fio --name=seq "${COMMON[@]}" --rw=write --bs=1M --iodepth=16 >"$TMPJSON"
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print("%.1f" % (j["write"]["bw_bytes"]/1048576))' "$TMPJSON"
}
fio_flush() {
  fio --name=flush "${COMMON[@]}" --rw=randwrite --bs=4k --iodepth=1 --fdatasync=1 \
      --lat_percentiles=1 --runtime="$FLUSH_SECONDS" --time_based --randrepeat=0 >"$TMPJSON"
  python3 - "$TMPJSON" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
w = j["write"]["lat_ns"]["percentile"]; s = j["sync"]["lat_ns"]["percentile"]
pairs = j["write"]["total_ios"]; secs = j["job_runtime"] / 1000.0
print("%.1f %.1f %.1f %.1f %.1f %.1f" % (w["50.000000"]/1e3, w["99.000000"]/1e3,
      s["50.000000"]/1e3, s["99.000000"]/1e3,
      (w["50.000000"] + s["50.000000"])/1e3, 1e6 * secs / pairs))
PY
}
ours() { "$BENCH" --file="$FILE" "$@" | tee /dev/stderr | sed -n 's/^RESULT //p'; }
val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== machine: $(nproc) cores, $(uname -r), $(df -T "$(dirname "$FILE")" | awk 'NR==2{print $2" on "$1}')"
echo "== fio $(fio --version), file $FILE ($SIZE), $ROUNDS rounds"
seq_ratios=(); flush_ratios=(); mean_ratios=()
for r in $(seq 1 "$ROUNDS"); do
  f_seq=$(fio_seq)
  o=$(ours --workload=seq 2>/dev/null); o_seq=$(val "$o" seq_mibps)
  read -r fw50 fw99 fs50 fs99 fpair50 fmean < <(fio_flush)
  o=$(ours --workload=flush --flush_seconds="$FLUSH_SECONDS" 2>/dev/null)
  opair50=$(val "$o" flush_pair_p50_us); opair99=$(val "$o" flush_pair_p99_us)
  ow50=$(val "$o" flush_write_p50_us); ofl50=$(val "$o" flush_flush_p50_us)
  omean=$(awk -v p="$(val "$o" flush_pairs_per_s)" 'BEGIN{printf "%.1f", 1e6/p}')
  sr=$(awk -v a="$o_seq" -v b="$f_seq" 'BEGIN{printf "%.3f", a/b}')
  fr=$(awk -v a="$opair50" -v b="$fpair50" 'BEGIN{printf "%.3f", a/b}')
  mr=$(awk -v a="$omean" -v b="$fmean" 'BEGIN{printf "%.3f", a/b}')
  seq_ratios+=("$sr"); flush_ratios+=("$fr"); mean_ratios+=("$mr")
  echo "round $r: seq 1MiB QD16: fio $f_seq MiB/s, hafs $o_seq MiB/s, ratio $sr"
  echo "round $r: 4k write+fdatasync QD1: fio write p50 $fw50 us + sync p50 $fs50 us = $fpair50 us" \
       "(p99 $fw99 + $fs99), mean pair $fmean us;" \
       "hafs write p50 $ow50 + flush p50 $ofl50, pair p50 $opair50 us (p99 $opair99), mean pair $omean us;" \
       "p50 ratio $fr, mean ratio $mr"
done
S=$(printf '%s\n' "${seq_ratios[@]}" | median)
F=$(printf '%s\n' "${flush_ratios[@]}" | median)
M=$(printf '%s\n' "${mean_ratios[@]}" | median)
echo "== RESULT (median of $ROUNDS rounds)"
echo "seq 1MiB QD16 throughput, hafs/fio: $S (goal >= 0.90) $(awk -v x="$S" 'BEGIN{print (x>=0.90)?"MET":"MISSED"}')"
echo "4k write+flush QD1 p50 latency, hafs/fio: $F (goal <= 1.10) $(awk -v x="$F" 'BEGIN{print (x<=1.10)?"MET":"MISSED"}')"
echo "4k write+flush QD1 mean pair wall time, hafs/fio: $M (goal <= 1.10) $(awk -v x="$M" 'BEGIN{print (x<=1.10)?"MET":"MISSED"}')"
