#!/bin/bash
# Failure detection of the cluster runtime (docs/benchmarks.md "Failure detection"), issue 6:
#   two ClusterNode processes on loopback (real gRPC PeerServers + UDP), keepalive 100 ms,
#   deadtime 500 ms, both cores fully loaded (stress-ng --cpu <nproc>, or busy loops when
#   stress-ng is missing); N trials alternating SIGKILL / SIGSTOP of the peer, time from the
#   signal to the survivor's node-dead event; then a soak of S seconds counting false
#   failovers (node-dead or role change while nobody failed).
# Usage: benchmarks/failover_detect.sh [--trials N=50] [--soak-seconds S=600]
#          [--keepalive-ms 100] [--deadtime-ms 500] [--no-load] [--dir /var/tmp]
# Exit status: 0 when no trial was missed and the soak had zero false failovers.
set -euo pipefail
cd "$(dirname "$0")/.."
trials=50 soak=600 keepalive=100 deadtime=500 load=1 base=/var/tmp
while (($#)); do
  case "$1" in
    --trials) trials="$2"; shift 2 ;;
    --soak-seconds) soak="$2"; shift 2 ;;
    --keepalive-ms) keepalive="$2"; shift 2 ;;
    --deadtime-ms) deadtime="$2"; shift 2 ;;
    --no-load) load=0; shift ;;
    --dir) base="$2"; shift 2 ;;
    *) echo "usage: $0 [--trials N] [--soak-seconds S] [--keepalive-ms K] [--deadtime-ms D] [--no-load] [--dir DIR]" >&2; exit 64 ;;
  esac
done
dir=$(mktemp -d "$base/hafs_failover_detect.XXXXXX")
load_pids=()
cleanup() {
  for p in "${load_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${load_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
bazel build -c opt //benchmarks/cluster:failover_detect >/dev/null 2>&1
bin=bazel-bin/benchmarks/cluster/failover_detect
cores=$(nproc)
budget=$((soak + trials * 3 + 120))  # the load never outlives the run
if ((load)); then
  if command -v stress-ng >/dev/null; then
    stress-ng --cpu "$cores" --cpu-method matrixprod --timeout "${budget}s" >/dev/null 2>&1 &
    load_pids+=($!)
    load_desc="stress-ng --cpu $cores"
  else
    for ((i = 0; i < cores; i++)); do
      timeout "${budget}s" sh -c 'while :; do :; done' &
      load_pids+=($!)
    done
    load_desc="$cores busy loops (stress-ng missing: tools/setup.sh installs it)"
  fi
  sleep 1
else
  load_desc="none"
fi
echo "== machine: $cores cores, $(uname -r); load: $load_desc; keepalive ${keepalive} ms, deadtime ${deadtime} ms"
rc=0
if ((trials > 0)); then
  echo "== $trials trials (SIGKILL / SIGSTOP alternating)"
  "$bin" --mode=trials --trials="$trials" --dir="$dir" --keepalive_ms="$keepalive" \
    --deadtime_ms="$deadtime" || rc=$?
fi
if ((soak > 0)); then
  echo "== soak ${soak} s"
  mkdir -p "$dir/soak"  # fresh state: the trials leave diverged generations behind
  "$bin" --mode=soak --seconds="$soak" --dir="$dir/soak" --keepalive_ms="$keepalive" \
    --deadtime_ms="$deadtime" | grep -v " link-up" || rc=$?
fi
exit "$rc"
