#!/bin/bash
# hafs-fuse-volume end to end: serve an image, mkfs+mount ext4 on the loop
# device, clean stop on SIGTERM; then a crash (SIGKILL) and the documented
# operator cleanup (umount -l). Needs root, /dev/fuse, /dev/loop-control and
# e2fsprogs; prints SKIP and passes otherwise.
set -euo pipefail
BIN=$(readlink -f "$1")
if [[ $(id -u) != 0 ]]; then echo "SKIP: needs root"; exit 0; fi
for d in /dev/fuse /dev/loop-control; do
  [[ -e $d ]] || { echo "SKIP: $d missing"; exit 0; }
done
PATH=/usr/sbin:/sbin:$PATH
command -v mkfs.ext4 >/dev/null || { echo "SKIP: mkfs.ext4 missing"; exit 0; }

T=$(mktemp -d /tmp/hafs-frontend-test.XXXXXX)
mkdir "$T/fuse" "$T/ext4"
PID=
cleanup() {
  [[ -n "$PID" ]] && kill -KILL "$PID" 2>/dev/null || true
  umount -l "$T/ext4" 2>/dev/null || true
  umount -l "$T/fuse" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; cat "$T/err" >&2 || true; exit 1; }

start() {
  # The background child truncates $T/out only when it runs; remove the old
  # file first so the wait below cannot see the previous run's "ready".
  rm -f "$T/out"
  "$BIN" --image "$T/img" --size 64M --mountpoint "$T/fuse" --loop >"$T/out" 2>"$T/err" &
  PID=$!
  for _ in $(seq 100); do grep -q '^ready' "$T/out" 2>/dev/null && return 0; sleep 0.1; done
  fail "hafs-fuse-volume did not become ready"
}

# 1. Serve, mkfs, mount, write, umount, clean stop.
start
LOOP=$(sed -n 's/^loop=//p' "$T/out")
[[ -b $LOOP ]] || fail "no loop device printed"
grep -q '^loop_direct_io=1' "$T/out" || fail "loop device without direct I/O"
[[ $(stat -c %s "$T/fuse/volume") == 67108864 ]] || fail "wrong file size"
mkfs.ext4 -q -F "$LOOP" || fail "mkfs.ext4"
mount "$LOOP" "$T/ext4" || fail "mount"
head -c 3000000 /dev/urandom >"$T/data"
cp "$T/data" "$T/ext4/data"
umount "$T/ext4"
fsck.ext4 -n -f "$LOOP" >/dev/null || fail "fsck.ext4 -n found problems"
kill -TERM "$PID"
rc=0; wait "$PID" || rc=$?
PID=
[[ $rc == 0 ]] || fail "exit status $rc after SIGTERM"
grep -q " $T/fuse " /proc/mounts && fail "FUSE still mounted after SIGTERM"
losetup -a | grep -q "$T" && fail "loop device still attached after SIGTERM"
# The ext4 superblock magic 0xEF53 (little endian) at byte 1080 of the image.
[[ $(od -An -tx1 -j1080 -N2 "$T/img" | tr -d ' ') == 53ef ]] || fail "no ext4 magic in the image"

# 2. Crash: SIGKILL leaves a dead mount (ENOTCONN); autoclear removes the
#    loop device (nothing else had it open); umount -l cleans the mountpoint.
start
LOOP=$(sed -n 's/^loop=//p' "$T/out")
kill -KILL "$PID"; wait "$PID" 2>/dev/null || true
PID=
if stat "$T/fuse/volume" 2>"$T/stat.err"; then fail "mount still answers after SIGKILL"; fi
grep -q "not connected" "$T/stat.err" || fail "expected ENOTCONN, got: $(cat "$T/stat.err")"
for _ in $(seq 50); do losetup -a | grep -q "$T" || break; sleep 0.1; done
losetup -a | grep -q "$T" && fail "loop device not autocleared after SIGKILL"
# Serving again on the dead mountpoint is refused with the hint.
rc=0; timeout -s KILL 10 "$BIN" --image "$T/img" --mountpoint "$T/fuse" >/dev/null 2>"$T/err2" || rc=$?
[[ $rc == 1 ]] || fail "start on a dead mount: exit $rc"
grep -q "umount -l" "$T/err2" || fail "no umount -l hint: $(cat "$T/err2")"
umount -l "$T/fuse"
# 3. The same mountpoint serves again, and the data survived.
start
LOOP=$(sed -n 's/^loop=//p' "$T/out")
mount -o ro "$LOOP" "$T/ext4" || fail "mount after restart"
cmp "$T/data" "$T/ext4/data" || fail "data differs after restart"
umount "$T/ext4"
kill -TERM "$PID"; rc=0; wait "$PID" || rc=$?; PID=
[[ $rc == 0 ]] || fail "exit status $rc after second SIGTERM"
echo PASS
