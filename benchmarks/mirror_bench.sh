#!/bin/bash
# Block mirror benchmark (docs/benchmarks.md "Block mirror"), all ratios from the same run:
#   fio sequential write (1 MiB, QD16, O_DIRECT, io_uring) and 64 KiB random read / write
#   (the resync's I/O) on a file on the same disk, iperf3 loopback, then two mirror processes on loopback (protocol C):
#   node 1 = //benchmarks/mirror:mirror_node, node 0 = //benchmarks/mirror:mirror_bench
#   (sequential 1 MiB QD16, 4 KiB QD1 latency vs local UringDevice, resync after D MiB),
#   on backing files laid out by writing them (as fio lays out its own file); plus the
#   sequential first pass over fallocated backing files next to fio's on a fallocated file.
#   The floor under both: //benchmarks/mirror:raw_mirror, the same writes through a mirror
#   with no framework (blocking TCP + O_DIRECT pwrite, two processes), on the same files.
#   The floor of any gRPC-based mirror: //benchmarks/mirror:grpc_rtt_floor's mirror mode (the
#   same writes over the PeerService stream on gRPC's synchronous API). With two or more cores
#   the QD1 figures are taken again with one core per node (the Secondary's process on CPU 0,
#   the Primary's on CPU 1: the two-host model, no thread of one node runs on the other's core).
# Usage: benchmarks/mirror_bench.sh [dir=/var/tmp] [resync_mib=1024] [resync_rate_mib=100]
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:-/var/tmp}"
resync_mib="${2:-1024}"
rate_mib="${3:-100}"
size_mib=4096
dir=$(mktemp -d "$base/hafs_mirror_bench.XXXXXX")
node_pid=""
cleanup() {
  if [[ -n "$node_pid" ]]; then kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
bazel build //benchmarks/mirror:mirror_node //benchmarks/mirror:mirror_bench \
  //benchmarks/mirror:transport_rtt //benchmarks/mirror:raw_mirror \
  //benchmarks/mirror:grpc_rtt_floor >/dev/null 2>&1
bin=bazel-bin/benchmarks/mirror
key=$(head -c 24 /dev/urandom | base64)
out="$dir/results"
: >"$out"

echo "== machine: $(nproc) cores, $(uname -r), $(df -hT "$base" | awk 'NR==2{print $1" "$2}')"
echo "== fio: 1 MiB sequential write, QD16, direct, io_uring, 5 s"
fio --name=seqw --filename="$dir/fio.img" --size=2G --rw=write --bs=1M --iodepth=16 \
  --direct=1 --ioengine=io_uring --runtime=5 --time_based --output-format=json >"$dir/fio.json"
python3 -c "import json;j=json.load(open('$dir/fio.json'));print('fio_mib_per_s=%.1f'%(j['jobs'][0]['write']['bw_bytes']/2**20))" | tee -a "$out"
rm -f "$dir/fio.img"

echo "== fio: 64 KiB random read and random write, QD16, direct, io_uring, 4 s each (the resync's I/O)"
for rw in randread randwrite; do
  fio --name=$rw --filename="$dir/fio.img" --size=2G --rw=$rw --bs=64k --iodepth=16 \
    --direct=1 --ioengine=io_uring --runtime=4 --time_based --output-format=json >"$dir/fio.json"
  python3 -c "import json;j=json.load(open('$dir/fio.json'))['jobs'][0];print('fio_${rw}64_mib_per_s=%.1f'%((j['read']['bw_bytes']+j['write']['bw_bytes'])/2**20))" | tee -a "$out"
done
rm -f "$dir/fio.img"

echo "== iperf3 loopback, 5 s"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iperf3 -s -1 -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
srv=$!
sleep 0.5
iperf3 -c 127.0.0.1 -p "$port" -t 5 -J >"$dir/iperf.json"
wait "$srv" || true
python3 -c "import json;j=json.load(open('$dir/iperf.json'));print('iperf3_mib_per_s=%.1f'%(j['end']['sum_received']['bits_per_second']/8/2**20))" | tee -a "$out"

start_node() {  # $1 = resync rate MiB/s for node 1 (the SyncTarget paces the resync); $2 = CPU
  rm -f "$dir/port"
  ${2:+taskset -c "$2"} "$bin/mirror_node" --node_id=1 --path="$dir/n1.img" --size_mib=$size_mib \
    --listen=127.0.0.1:0 --port_file="$dir/port" --key="$key" --resync_rate_mib="$1" &
  node_pid=$!
  for _ in $(seq 1 300); do [[ -s "$dir/port" ]] && break; sleep 0.1; done
  [[ -s "$dir/port" ]] || { echo "mirror_node did not start" >&2; exit 1; }
}
stop_node() {
  kill -TERM "$node_pid"; wait "$node_pid" || true; node_pid=""
}

echo "== fallocated backing files (unwritten extents): fio first pass, then mirror seq first pass"
fallocate -l "${size_mib}M" "$dir/fio.img"
fio --name=seqw --filename="$dir/fio.img" --size="${size_mib}M" --rw=write --bs=1M --iodepth=16 \
  --direct=1 --ioengine=io_uring --output-format=json >"$dir/fio.json"
python3 -c "import json;j=json.load(open('$dir/fio.json'));print('falloc_fio_mib_per_s=%.1f'%(j['jobs'][0]['write']['bw_bytes']/2**20))" | tee -a "$out"
rm -f "$dir/fio.img"
start_node 0
"$bin/mirror_bench" --path="$dir/n0.img" --size_mib=$size_mib --peer="127.0.0.1:$(cat "$dir/port")" \
  --key="$key" --phases=seq --seq_seconds=3 | grep '^seq_mib_per_s' | sed 's/^/falloc_/' | tee -a "$out"
stop_node
rm -f "$dir/n0.img" "$dir/n1.img"

# Backing files laid out by writing them, as fio lays out its file and as a
# block device is: the main figures measure replication, not ext4 converting
# unwritten extents (and committing its journal at every epoch flush).
echo "== laying out the backing files (zeros, O_DIRECT)"
for f in n0 n1; do
  dd if=/dev/zero of="$dir/$f.img" bs=4M count=$(( (size_mib + 4) / 4 )) oflag=direct status=none
done
dd if=/dev/zero of="$dir/local.img" bs=4M count=16 oflag=direct status=none

echo "== the floor: a framework-free protocol-C mirror on the same files (raw_mirror)"
"$bin/raw_mirror" --primary="$dir/n0.img" --secondary="$dir/n1.img" --seq_mib=4096 | tee -a "$out"
echo "== the floor of a gRPC mirror: the same QD1 writes over the PeerService stream, gRPC's sync API"
"$bin/grpc_rtt_floor" --primary="$dir/n0.img" --secondary="$dir/n1.img" | tee -a "$out"

echo "== mirror pair, protocol C: seq 1 MiB QD16, 4 KiB QD1, resync of $resync_mib MiB (unlimited rate)"
start_node 0
"$bin/mirror_bench" --path="$dir/n0.img" --size_mib=$size_mib --peer="127.0.0.1:$(cat "$dir/port")" \
  --key="$key" --local_path="$dir/local.img" --resync_mib="$resync_mib" --resync_rate_mib=0 \
  | grep -v '^_' | tee -a "$out"
stop_node

if (( $(nproc) >= 2 )); then
  echo "== 4 KiB QD1 again, one core per node (Secondary on CPU 0, Primary on CPU 1)"
  "$bin/raw_mirror" --primary="$dir/n0.img" --secondary="$dir/n1.img" --phases=lat --pin \
    | sed 's/^/pinned_/' | tee -a "$out"
  "$bin/grpc_rtt_floor" --primary="$dir/n0.img" --secondary="$dir/n1.img" --pin \
    | sed 's/^/pinned_/' | tee -a "$out"
  start_node 0 0
  taskset -c 1 "$bin/mirror_bench" --path="$dir/n0.img" --size_mib=$size_mib \
    --peer="127.0.0.1:$(cat "$dir/port")" --key="$key" --local_path="$dir/local.img" --phases=lat \
    | grep -v '^_' | sed 's/^/pinned_/' | tee -a "$out"
  stop_node
fi

echo "== the transport alone: 4 KiB Data + Ack round trip (the floor under the QD1 write), and gRPC's own"
"$bin/transport_rtt" | tee -a "$out"
"$bin/grpc_rtt_floor" | tee -a "$out"

echo "== resync of $resync_mib MiB at a configured fixed rate of $rate_mib MiB/s"
start_node "$rate_mib"
"$bin/mirror_bench" --path="$dir/n0.img" --size_mib=$size_mib --peer="127.0.0.1:$(cat "$dir/port")" \
  --key="$key" --phases=resync --resync_mib="$resync_mib" --resync_rate_mib="$rate_mib" \
  | grep -v '^_' | sed 's/^resync_/rated_resync_/' | tee -a "$out"
stop_node

echo "== summary"
python3 - "$out" <<'PY'
import sys
r = {}
for line in open(sys.argv[1]):
    k, _, v = line.strip().partition('=')
    if v: r[k] = float(v)
limit = min(r['fio_mib_per_s'] / 2, r['iperf3_mib_per_s'])
print("physical limit min(fio/2, iperf3) = %.0f MiB/s" % limit)
print("seq 1 MiB QD16: %.0f MiB/s = %.2f x limit (goal >= 0.8)" % (r['seq_mib_per_s'], r['seq_mib_per_s'] / limit))
print("  floor: raw_mirror (no framework) %.0f MiB/s = %.2f x limit; the mirror = %.2f x raw_mirror"
      % (r['raw_seq_mib_per_s'], r['raw_seq_mib_per_s'] / limit, r['seq_mib_per_s'] / r['raw_seq_mib_per_s']))
print("  on fallocated backing files, first pass: %.0f MiB/s = %.2f x min(fio first pass on a fallocated file / 2 = %.0f, iperf3)"
      % (r['falloc_seq_mib_per_s'], r['falloc_seq_mib_per_s'] / min(r['falloc_fio_mib_per_s'] / 2, r['iperf3_mib_per_s']),
         r['falloc_fio_mib_per_s'] / 2))
print("4 KiB QD1: mirror write p50 %.0f us, write+flush p50 %.0f us; local write+flush p50 %.0f us"
      % (r['mirror_write_p50_us'], r['mirror_write_flush_p50_us'], r['local_write_flush_p50_us']))
print("  ratio write/local(write+flush) = %.2f, write+flush/local(write+flush) = %.2f (goal <= 1.5)"
      % (r['mirror_write_p50_us'] / r['local_write_flush_p50_us'],
         r['mirror_write_flush_p50_us'] / r['local_write_flush_p50_us']))
print("  floor: raw_mirror (no framework) write p50 %.0f us, with the Secondary's per-epoch flush %.0f us"
      " = %.2f x its local write+flush (%.0f us); the mirror = %.2f x raw_mirror's ordered write"
      % (r['raw_write_p50_us'], r['raw_write_ordered_p50_us'],
         r['raw_write_ordered_p50_us'] / r['raw_local_write_flush_p50_us'], r['raw_local_write_flush_p50_us'],
         r['mirror_write_p50_us'] / r['raw_write_ordered_p50_us']))
def qd1_floors(p):
    print("  floor of any gRPC mirror (sync API, no auth, no framework): ordered write p50 %.0f us"
          " = %.2f x its local write+flush (%.0f us); the mirror = %.2f x this floor"
          % (r[p + 'grpc_floor_write_ordered_p50_us'],
             r[p + 'grpc_floor_write_ordered_p50_us'] / r[p + 'grpc_floor_local_write_flush_p50_us'],
             r[p + 'grpc_floor_local_write_flush_p50_us'],
             r[p + 'mirror_write_p50_us'] / r[p + 'grpc_floor_write_ordered_p50_us']))
qd1_floors('')
if 'pinned_mirror_write_p50_us' in r:
    print("4 KiB QD1, one core per node: mirror write p50 %.0f us = %.2f x local write+flush (%.0f us)"
          % (r['pinned_mirror_write_p50_us'],
             r['pinned_mirror_write_p50_us'] / r['pinned_local_write_flush_p50_us'],
             r['pinned_local_write_flush_p50_us']))
    print("  raw_mirror ordered %.0f us = %.2f x its local write+flush"
          % (r['pinned_raw_write_ordered_p50_us'],
             r['pinned_raw_write_ordered_p50_us'] / r['pinned_raw_local_write_flush_p50_us']))
    qd1_floors('pinned_')
floor = r['transport_rtt_p50_us'] + r['local_write_p50_us']
print("  transport round trip p50 %.0f us = %.2f x gRPC's own floor (sync API, no auth, echo server) %.0f us"
      % (r['transport_rtt_p50_us'], r['transport_rtt_p50_us'] / r['grpc_floor_rtt_p50_us'], r['grpc_floor_rtt_p50_us']))
print("  transport round trip p50 %.0f us + local write p50 %.0f us = %.0f us = %.2f x local write+flush"
      % (r['transport_rtt_p50_us'], r['local_write_p50_us'], floor, floor / r['local_write_flush_p50_us']))
# A scattered resync reads D on the source and writes D on the target, as 64 KiB runs, on
# the same disk: the disk's time is shared, 1/(1/R + 1/W); and the data crosses loopback.
rr, rw = r['fio_randread64_mib_per_s'], r['fio_randwrite64_mib_per_s']
rlimit = min(1 / (1 / rr + 1 / rw), r['iperf3_mib_per_s'])
print("resync (unlimited): sent %.1f MiB for D = %.0f MiB (%.3f x D, goal <= 1.05); %.0f MiB/s = %.2f x resync limit (goal >= 0.8)"
      % (r['resync_sent_mib'], r['resync_d_mib'], r['resync_sent_ratio'], r['resync_mib_per_s'],
         r['resync_mib_per_s'] / rlimit))
print("  resync limit min(1/(1/R + 1/W), iperf3) = %.0f MiB/s with R = fio 64 KiB random read %.0f, W = random write %.0f"
      % (rlimit, rr, rw))
print("  (= %.2f x the sequential limit above)" % (r['resync_mib_per_s'] / limit))
print("resync (rate %.0f MiB/s): sent %.3f x D; %.1f MiB/s = %.2f x configured rate (goal >= 0.8)"
      % (r['rated_resync_rate_mib_configured'], r['rated_resync_sent_ratio'], r['rated_resync_mib_per_s'],
         r['rated_resync_mib_per_s'] / r['rated_resync_rate_mib_configured']))
PY
