# The frame shared by the end-to-end pair tests: root and tool checks, a state directory,
# the pair's ports / address / NFS port, the cleanup of everything a test creates (daemons,
# Ganesha, mounts, loop devices, the VIP, files) on every exit path, and `fail`.
# A test is run with the arguments hafsd, hafsctl, tools/pairlib.sh and this file (BUILD);
# it sets E2E_NAME (short: socket paths must stay <= 107 bytes), VIP, PORT (NFS) and
# PORT_BASE (the pair's ports become PORT_BASE+88/+89/+98/+99 instead of 7788/7789/7798/7799),
# then sources this file with `source "$(realpath "$4")"`, which sets HAFSD, HAFSCTL and LIB.
HAFSD="$(realpath "$1")"
HAFSCTL="$(realpath "$2")"
LIB="$(realpath "$3")"
export PATH="/usr/sbin:/sbin:$PATH"
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIPPED: needs root (FUSE, loop devices, mounts, addresses)"
  exit 0
fi
for tool in nfs-ls ganesha.nfsd mkfs.ext4; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (tools/setup.sh installs it)"; exit 1; }
done
[[ -e /dev/fuse ]] || { echo "FAIL: /dev/fuse missing"; exit 1; }

STATE="$(mktemp -d "/tmp/hafs-$E2E_NAME-XXXXXX")" && [[ -d "$STATE" ]] ||
  { echo "FAIL: cannot create a state directory under /tmp"; exit 1; }
PAIR_SOCKDIR="$STATE"
PAIR_RUNDIR="$STATE/run"
PAIR_SED="s/:7788/:$((PORT_BASE + 88))/; s/:7798/:$((PORT_BASE + 98))/; s/:7789/:$((PORT_BASE + 89))/; s/:7799/:$((PORT_BASE + 99))/; s/port: 20490/port: $PORT/; s/127.0.0.100/$VIP/"
URL="nfs://$VIP/?version=4&nfsport=$PORT"
source "$LIB"

e2e_cleanup() {
  pair_stop
  # Whatever a crashed daemon may have left behind.
  pkill -f "ganesha.nfsd.*$STATE" 2>/dev/null
  # ext4 first, then the loop devices (while their backing path still resolves),
  # then the FUSE mounts.
  umount -l "$STATE/mnt" 2>/dev/null
  losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v s="$STATE" 'index($2, s) == 1 {print $1}' |
    xargs -r -n1 losetup -d 2>/dev/null
  grep -F "$STATE" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  ip addr del "$VIP/32" dev lo 2>/dev/null
  rm -rf "$STATE"
}
trap e2e_cleanup EXIT
# Both nodes up, alpha Primary (forced: the metadata is fresh) and serving, bravo in sync.
e2e_start_alpha_serving() {
  pair_start
  pair_wait_connected || fail "nodes did not connect"
  pair_ctl alpha primary --force >/dev/null || fail "primary --force"
  pair_wait_serving alpha || fail "alpha does not serve"
  pair_wait_in_sync || fail "initial resync did not finish"
}
fail() {
  echo "FAIL: $*"
  for n in alpha bravo; do echo "--- $n.log"; tail -40 "$STATE/$n.log"; done
  exit 1
}
