#!/bin/bash
# Peer transport loopback throughput vs iperf3 on the same loopback, same run.
# Usage: benchmarks/peer_bench.sh [seconds]   (docs/benchmarks.md "Peer transport")
# Built with the repository defaults (.bazelrc: -O2).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
bazel build //benchmarks/peer:peer_throughput >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iperf3 -s -1 -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
srv=$!
sleep 0.5
echo "iperf3 -c 127.0.0.1 -p $port -t $secs:"
iperf3 -c 127.0.0.1 -p "$port" -t "$secs" | grep -E "sender|receiver"
wait "$srv" || true
bazel-bin/benchmarks/peer/peer_throughput --seconds="$secs"
