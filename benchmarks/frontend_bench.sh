#!/bin/bash
# Volume front end throughput: sequential 1 MiB O_DIRECT writes (fio, libaio)
# directly on a backing file vs through hafs-fuse-volume's FUSE file vs
# through its loop device (loop -> FUSE -> UringDevice -> the same file).
# Needs root, /dev/fuse, /dev/loop-control and fio. Results: docs/benchmarks.md
# section "Volume front end".
#
#   benchmarks/frontend_bench.sh [image=/var/tmp/hafs-frontend-bench.img] [size=1G] [rounds=3]
set -euo pipefail
IMG=${1:-/var/tmp/hafs-frontend-bench.img}
SIZE=${2:-1G}
ROUNDS=${3:-3}
cd "$(dirname "$0")/.."
bazel build //cmd/hafs-fuse-volume 2>/dev/null
BIN=bazel-bin/cmd/hafs-fuse-volume/hafs-fuse-volume
MNT=$(mktemp -d /tmp/hafs-frontend-bench.XXXXXX)
PID=
cleanup() {
  if [[ -n "$PID" ]]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  umount -l "$MNT" 2>/dev/null || true
  rmdir "$MNT" 2>/dev/null || true
  rm -f "$IMG" "$MNT.out"
}
trap cleanup EXIT
fallocate -l "$SIZE" "$IMG"
"$BIN" --image "$IMG" --mountpoint "$MNT" --loop >"$MNT.out" &
PID=$!
for _ in $(seq 100); do grep -q '^ready' "$MNT.out" && break; sleep 0.1; done
grep -q '^ready' "$MNT.out" || { echo "hafs-fuse-volume did not start" >&2; exit 1; }
LOOP=$(sed -n 's/^loop=//p' "$MNT.out")
echo "loop device $LOOP, $(grep loop_direct_io "$MNT.out")"
run() {  # $1 target, $2 iodepth -> MiB/s
  fio --output-format=terse --terse-version=3 --name=seq --rw=write --bs=1M \
      --size="$SIZE" --direct=1 --ioengine=libaio --iodepth="$2" --end_fsync=1 \
      --filename="$1" | awk -F';' '{printf "%.0f", $48/1024}'
}
for qd in 1 8; do
  for target in file fuse loop; do
    case $target in file) f=$IMG ;; fuse) f=$MNT/volume ;; loop) f=$LOOP ;; esac
    res=()
    for _ in $(seq "$ROUNDS"); do res+=("$(run "$f" "$qd")"); done
    echo "$target QD$qd MiB/s: ${res[*]}"
  done
done
