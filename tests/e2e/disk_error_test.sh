#!/bin/bash
# End to end: the Primary's backing disk fails under a running NFS service (DRBD's
# on-io-error detach, the default). alpha's backing file lives on a file system of its own
# (ext4 on a loop device) that the test shuts down (FS_IOC_SHUTDOWN): from then on every read
# and write of alpha's disk — data and metadata — fails with EIO, as a dying disk's would.
# alpha must detach (Diskless) without failing the application, then hand the service to
# bravo, whose disk is UpToDate (as the DRBD resource agent does for Pacemaker: a Diskless
# node loses its master score). Files written before the failure, the fsync'ed write that
# met the dead disk, and files written after the hand-over read back from bravo's copy,
# NFSv4 is served by bravo, and status and log say what happened. Everything the test creates is removed on every exit path.
set -u
E2E_NAME=de
VIP=127.0.0.105
PORT=20495
PORT_BASE=25700
source "$(realpath "$4")"

disk="$STATE/alpha-disk"
disk_cleanup() {
  pair_stop
  umount -l "$STATE/mnt" 2>/dev/null
  umount -l "$disk" 2>/dev/null
  e2e_cleanup
}
trap disk_cleanup EXIT
content() { yes "$1 of the disk error test" | head -c $((8192 + ${#1} * 4096)); }
write_files() {  # write_files <prefix>: <prefix>0..9, each fsync'ed with its directory
  local i
  for i in $(seq 0 9); do
    content "$1$i" | dd of="$STATE/mnt/$1$i" bs=64k conv=fsync status=none || return 1
  done
  sync "$STATE/mnt"
}
check_files() {  # check_files <prefix>
  local i
  for i in $(seq 0 9); do
    cmp -s <(content "$1$i") "$STATE/mnt/$1$i" || { echo "$1$i differs or is missing"; return 1; }
  done
}

# alpha's backing file goes onto a small ext4 of its own.
pair_init
truncate -s 400M "$STATE/alpha-disk.ext4"
mkfs.ext4 -q -F "$STATE/alpha-disk.ext4" || fail "mkfs.ext4 for alpha's disk"
mkdir -p "$disk"
mount -o loop "$STATE/alpha-disk.ext4" "$disk" || fail "mounting alpha's disk"
mv "$STATE/alpha.img" "$disk/alpha.img"
sed -i "s|backing_device: \"$STATE/alpha.img\"|backing_device: \"$disk/alpha.img\"|" "$STATE/hafs.conf"
grep -q "backing_device: \"$disk/alpha.img\"" "$STATE/hafs.conf" || fail "could not move alpha's backing file"
e2e_start_alpha_serving
write_files before || fail "writing before the failure"
echo "ok: alpha serves from a disk the test can break, bravo in sync"

# The disk dies.
python3 -c 'import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.ioctl(fd, 0x8004587D, struct.pack("I", 2))  # FS_IOC_SHUTDOWN, no log flush' "$disk" ||
  fail "could not shut alpha's disk down"
# The application writes on: the first I/O to hit the disk makes alpha detach, and this
# write must still succeed (it lands on bravo's disk).
content during | dd of="$STATE/mnt/during" bs=64k conv=fsync status=none &&
  sync "$STATE/mnt" || fail "a write failed when alpha's disk died: $(pair_ctl alpha status --verbose)"
pair_wait 30 "alpha to detach" pair_status_has alpha 'ds:Diskless/UpToDate' ||
  fail "alpha did not detach: $(pair_ctl alpha status --verbose)"
pair_status_has alpha 'disk:Diskless \(detached after a local I/O error: .*Input/output error.*; hint: replace the disk' ||
  fail "alpha's status does not say why its disk is Diskless: $(pair_ctl alpha status)"
grep -q "disk: Diskless (on-io-error detach)" "$STATE/alpha.log" ||
  fail "alpha's log does not say it detached"
echo "ok: alpha detached: $(grep -m1 -o "local I/O error: .*" "$STATE/alpha.log" | head -c 160)"

pair_wait_serving bravo || fail "the service did not move to bravo"
pair_status_has alpha 'ro:Secondary/Primary ds:Diskless/UpToDate' ||
  fail "alpha's state after the hand-over: $(pair_ctl alpha status --verbose)"
grep -q "local disk is Diskless: handing over to the peer" "$STATE/alpha.log" ||
  fail "alpha's log does not say why it handed over"
write_files after || fail "writes on bravo failed"
check_files before || fail "a file written before the failure is lost"
cmp -s <(content during) "$STATE/mnt/during" || fail "the write made as the disk died is lost"
check_files after || fail "a file written after the hand-over is lost"
nfs_ls_retry "$URL" >"$STATE/ls" || fail "NFS listing after the failure"
grep -qw "after9" "$STATE/ls" || fail "after9 not listed over NFS: $(cat "$STATE/ls")"
echo "ok: bravo serves every file written before, during and after the failure, over NFSv4 too"
echo "PASS"
