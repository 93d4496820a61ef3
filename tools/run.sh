#!/usr/bin/env bash
# hafs: the main job. A local HA pair serving NFSv4 on the embedded default configuration:
#   * two hafsd nodes, "alpha" and "bravo", on this machine (peer service on loopback ports),
#     each with its own 256 MiB backing file and internal metadata;
#   * the replicated volume exposed through FUSE + a loop device, ext4 on it, NFS-Ganesha
#     serving it NFSv4-only, a virtual IP 127.0.0.100 on lo;
#   * then it shows both nodes' status and lists the export with a real NFSv4 client.
#
# Usage: tools/run.sh [--once]
#   --once   stop the pair and clean up after showing the status (used by the tests);
#            otherwise the pair keeps running and its events are shown until Ctrl-C.
# State lives in $HAFS_DEMO_DIR (default /var/lib/hafs-demo); delete it to start afresh.
# Needs root (FUSE, loop devices, mounts, addresses), like hafsd itself.
set -euo pipefail
cd "$(dirname "$0")/.."

ONCE=0
[[ "${1:-}" == "--once" ]] && ONCE=1
if [[ $(id -u) -ne 0 ]]; then
  echo "run.sh: hafsd needs root (FUSE, loop devices, mounts, addresses); run it with sudo" >&2
  exit 1
fi

bash tools/setup.sh
bazel build //cmd/hafsd //cmd/hafsctl >/dev/null 2>&1 || bazel build //cmd/hafsd //cmd/hafsctl

STATE="${HAFS_DEMO_DIR:-/var/lib/hafs-demo}"
mkdir -p "$STATE/bin"
# Private copies: bazel-bin may point elsewhere after another build.
install -m 0755 bazel-bin/cmd/hafsd/hafsd bazel-bin/cmd/hafsctl/hafsctl "$STATE/bin/"
HAFSD="$STATE/bin/hafsd"
HAFSCTL="$STATE/bin/hafsctl"
CONF="$STATE/hafs.conf"
NODES=(alpha bravo)

if [[ ! -f "$CONF" ]]; then
  "$HAFSD" --print-default-config --state-dir "$STATE" >"$CONF"
fi
if [[ ! -f "$STATE/authkeys" ]]; then
  umask 077
  printf 'key 1 hmac-sha256 hex:%s\nsign 1\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" \
    >"$STATE/authkeys"
  umask 022
fi
fresh=0
for i in 0 1; do
  n=${NODES[$i]}
  if [[ ! -f "$STATE/$n.img" ]]; then
    "$HAFSCTL" create-md "$STATE/$n.img" --size 256M --node-id "$i" --al-extents 67 >/dev/null
    fresh=1
  fi
done
mkdir -p "$STATE/mnt"

stop_pair() {
  for n in "${NODES[@]}"; do
    if [[ -f "$STATE/$n.pid" ]]; then
      kill "$(cat "$STATE/$n.pid")" 2>/dev/null || true
    fi
  done
  for n in "${NODES[@]}"; do
    if [[ -f "$STATE/$n.pid" ]]; then
      local pid
      pid=$(cat "$STATE/$n.pid")
      for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$STATE/$n.pid"
    fi
  done
}

# Start (or keep) both daemons.
for n in "${NODES[@]}"; do
  if [[ -f "$STATE/$n.pid" ]] && kill -0 "$(cat "$STATE/$n.pid")" 2>/dev/null; then
    continue
  fi
  "$HAFSD" --config "$CONF" --node "$n" --log-file "$STATE/$n.log" --foreground \
    >>"$STATE/$n.log" 2>&1 &
  echo $! >"$STATE/$n.pid"
done
if [[ $ONCE -eq 1 ]]; then trap stop_pair EXIT; fi

status_of() { "$HAFSCTL" --node "$1" status 2>/dev/null; }
wait_for() {  # wait_for <seconds> <description> <command...>
  local secs="$1" what="$2"; shift 2
  for _ in $(seq $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "run.sh: timed out waiting for $what; logs: $STATE/alpha.log $STATE/bravo.log" >&2
  return 1
}
wait_for 60 "both nodes to answer" bash -c "'$HAFSCTL' --node alpha status && '$HAFSCTL' --node bravo status"
wait_for 60 "the nodes to connect" bash -c \
  "'$HAFSCTL' --node alpha status --verbose | grep -Eq ' cs:(Connected|SyncSource|SyncTarget)'"

if [[ $fresh -eq 1 ]]; then
  echo "== first start: alpha becomes Primary with --force (initial full sync to bravo)"
  "$HAFSCTL" --node alpha primary --force
else
  "$HAFSCTL" --node alpha primary || true
fi
wait_for 180 "the NFS service on alpha" bash -c \
  "'$HAFSCTL' --node alpha status --verbose | grep -q 'vip0:started'"

echo "== hafsctl --node alpha status --verbose"
"$HAFSCTL" --node alpha status --verbose
echo "== hafsctl --node bravo status"
"$HAFSCTL" --node bravo status

echo "== NFSv4 client: nfs-ls nfs://127.0.0.100/?version=4&nfsport=20490"
date >"$STATE/mnt/hello-from-hafs.txt"
ok=0
for _ in $(seq 60); do  # libnfs does not retry NFS4ERR_GRACE
  if nfs-ls "nfs://127.0.0.100/?version=4&nfsport=20490" 2>"$STATE/nfs-ls.err"; then
    ok=1
    break
  fi
  sleep 1
done
if [[ $ok -ne 1 ]]; then
  echo "run.sh: the NFS export did not answer: $(cat "$STATE/nfs-ls.err")" >&2
  exit 1
fi

if [[ $ONCE -eq 1 ]]; then
  echo "== --once: stopping the pair"
  exit 0
fi
echo
echo "The pair runs. Try: $HAFSCTL --node alpha status | $HAFSCTL --node alpha secondary &&" \
  "$HAFSCTL --node bravo primary (failover by hand)"
echo "Events follow; Ctrl-C stops both nodes."
trap 'stop_pair; exit 0' INT TERM
"$HAFSCTL" --node alpha events --now || true
stop_pair
