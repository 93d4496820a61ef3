#!/usr/bin/env bash
# hafs: the main job. A local HA pair serving NFSv4 on the embedded default configuration:
#   * two hafsd nodes, "alpha" and "bravo", on this machine (peer service on loopback ports),
#     each with its own 256 MiB backing file and internal metadata;
#   * the replicated volume exposed through FUSE + a loop device, ext4 on it, NFS-Ganesha
#     serving it NFSv4-only, a virtual IP 127.0.0.100 on lo;
#   * then it shows both nodes' status and lists the export with a real NFSv4 client.
#
# Usage: tools/run.sh [--once]
#   --once   stop the pair after showing the status (used by the tests); otherwise the
#            pair keeps running and its events are shown until Ctrl-C.
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
source tools/pairlib.sh

pair_init
if [[ $ONCE -eq 1 ]]; then
  trap pair_stop EXIT
else
  trap 'echo "run.sh: failed; the pair may still run: stop it with kill \$(cat $STATE/*.pid)" >&2' ERR
fi
pair_start
pair_wait_connected

if [[ $PAIR_FRESH -eq 1 ]]; then
  echo "== first start: alpha becomes Primary with --force (initial full sync to bravo)"
  pair_ctl alpha primary --force
else
  pair_ctl alpha primary || true
fi
pair_wait_serving alpha
echo "== waiting for bravo's copy to be in sync (resync progress: hafsctl --node alpha status)"
pair_wait 180 "bravo to be in sync" pair_status_has alpha 'ds:UpToDate/UpToDate' ||
  echo "(still syncing; the status below shows how far)"

echo "== hafsctl --node alpha status --verbose"
pair_ctl alpha status --verbose
echo "== hafsctl --node bravo status"
pair_ctl bravo status

echo "== NFSv4 client: nfs-ls nfs://127.0.0.100/?version=4&nfsport=20490"
date >"$STATE/mnt/hello-from-hafs.txt"
nfs_ls_retry "nfs://127.0.0.100/?version=4&nfsport=20490"

if [[ $ONCE -eq 1 ]]; then
  echo "== --once: stopping the pair"
  exit 0
fi
echo
echo "The pair runs. Try: $HAFSCTL --node alpha status; failover by hand:" \
  "$HAFSCTL --node alpha secondary && $HAFSCTL --node bravo primary"
echo "Events follow; Ctrl-C stops both nodes."
trap 'pair_stop; exit 0' INT TERM
pair_ctl alpha events --now || true
pair_stop
