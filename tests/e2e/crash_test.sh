#!/bin/bash
# End to end: the Primary's machine crashes while an application writes, and no write it
# was told was durable is lost; crashed during the initial resync, the Inconsistent peer is
# not promoted. Each node runs in its own mount namespace (as on two
# machines: its FUSE volume, ext4 mount and Ganesha are its own); alpha serves while a
# writer in alpha's namespace creates files one by one, each acknowledged only after
# fsync(2) of the file and of its directory returned. Then alpha "crashes": every process
# in its namespace gets SIGKILL at once (hafsd, Ganesha, the writer) and its VIP goes
# away — what a power cut does; nothing is stopped cleanly. (A sleeping process holds each
# namespace until its node's processes are gone: were hafsd the last process, the kernel would
# unmount ext4 from inside hafsd's own exit, before the exit closes /dev/fuse, and the
# journal commit would wait forever on hafsd's FUSE server.) bravo must notice the dead
# peer, promote its replica, mount it (ext4 journal replay) and serve NFSv4 on the VIP,
# with every acknowledged file present and intact. alpha then comes back, resyncs from
# bravo (the writes it may have made alone are overwritten), and an online verify finds
# the two replicas identical. (This machine keeps running, so the killed node's page cache
# is not lost: what is checked is that acknowledged writes are on the survivor and that
# the returning node is made identical — not the crashed disk's own durability, which the
# simulators' crash models cover.) Before that, the same crash during the initial full resync
# (slowed down by c_max_rate): bravo, Inconsistent, must refuse to take over and say why;
# alpha's return resumes the resync and alpha serves again with its acknowledged files.
# Everything the test creates is removed on every exit path.
set -u
E2E_NAME=cr
VIP=127.0.0.104
PORT=20494
PORT_BASE=24700
PAIR_WRAP="unshare --mount --propagation private"
source "$(realpath "$4")"

in_ns() {  # in_ns <node> <command...>: run in the node's mount namespace
  local n="$1" pid; shift
  pid=$(pair_pid "$n") || return 1
  nsenter --mount="/proc/$pid/ns/mnt" -- "$@"
}
ns_pids() {  # every process in the mount namespace of the node's hafsd
  local ns p
  ns=$(readlink "/proc/$1/ns/mnt") || return 0
  for p in /proc/[0-9]*; do
    [[ "$(readlink "$p/ns/mnt" 2>/dev/null)" == "$ns" ]] && echo "${p#/proc/}"
  done
}
declare -A HOLDER
hold_ns() {  # hold_ns <node>: a process that keeps the node's namespace until ns_crash ends
  local pid
  pid=$(pair_pid "$1") || return 1
  nsenter --mount="/proc/$pid/ns/mnt" -- sleep infinity &  # nsenter execs sleep: $! is it
  HOLDER[$1]=$!
}
ns_crash() {  # ns_crash <node>: SIGKILL to every process in its namespace (CRASHED = how many)
  local n="$1" pid victims
  CRASHED=0
  pid=$(pair_pid "$n") || return 0
  mapfile -t victims < <(ns_pids "$pid" | grep -vx "${HOLDER[$n]:-none}")
  kill -9 "${victims[@]}" 2>/dev/null
  wait "$pid" 2>/dev/null  # hafsd is gone, and with it its FUSE connection
  if [[ -n "${HOLDER[$n]:-}" ]]; then
    pkill -9 -P "${HOLDER[$n]}" 2>/dev/null
    kill -9 "${HOLDER[$n]}" 2>/dev/null
    wait "${HOLDER[$n]}" 2>/dev/null
  fi
  rm -f "$STATE/$n.pid"
  CRASHED=${#victims[@]}
}
content() { yes "file $1 of the crash test" | head -c $((4096 + ($1 % 7) * 4096)); }
export -f content

# On every exit path: running nodes stop cleanly, then the holders go (and the namespaces).
crash_cleanup() {
  local n h pid f
  for f in "$STATE"/acked*; do touch "$f.stop"; done  # writers stop at their next file
  for n in alpha bravo; do pid=$(pair_pid "$n") && kill -CONT "$pid"; done  # a frozen one too
  pair_stop  # a node that still runs stops cleanly
  for n in alpha bravo; do ns_crash "$n"; done  # whatever did not
  for h in "${HOLDER[@]}"; do kill -9 "$h" 2>/dev/null; wait "$h" 2>/dev/null; done
  e2e_cleanup
}
trap crash_cleanup EXIT

# The writer, in <node>'s namespace: file i in <dir> is acknowledged (its number appended
# to <acked>, outside the volume) once it and its directory entry are durable. It stops when
# it fails or <acked>.stop exists.
start_writer() {  # start_writer <node> <dir> <acked>; sets WRITER
  : >"$3"
  in_ns "$1" bash -c '
    mkdir -p "$1" && sync "$(dirname "$1")"
    for ((i = 0; ; i++)); do
      [[ -e "$2.stop" ]] && exit 0
      content $i | dd of="$1/f$i" bs=64k conv=fsync status=none 2>/dev/null || exit 0
      sync "$1" 2>/dev/null || exit 0
      echo $i >>"$2"
    done' writer "$2" "$3" &
  WRITER=$!
}
acked_at_least() { (( $(wc -l <"$2") >= $1 )); }
crash_alpha_while_writing() {  # the writer runs; alpha's machine dies; sets N_ACKED
  ns_crash alpha
  ip addr del "$VIP/32" dev lo 2>/dev/null
  wait "$WRITER" 2>/dev/null
  (( CRASHED >= 3 )) || fail "expected hafsd, Ganesha and the writer in alpha's namespace, killed $CRASHED"
  N_ACKED=$(wc -l <"$1")
}
check_acked() {  # check_acked <node> <dir> <acked>: every acknowledged file intact there
  local i missing=0
  while read -r i; do
    in_ns "$1" bash -c 'cmp -s <(content "$1") "$2"' check "$i" "$2/f$i" ||
      { echo "acknowledged file $2/f$i lost or damaged on $1"; missing=$((missing + 1)); }
  done <"$3"
  (( missing == 0 )) || fail "$missing of $(wc -l <"$3") acknowledged files lost in the crash"
}

verify_identical() {  # online verify from bravo (the Primary) finds no difference
  local before
  before=$(grep -c "online verify finished" "$STATE/bravo.log")
  pair_ctl bravo verify >/dev/null || fail "verify did not start"
  more_verified() { (( $(grep -c "online verify finished" "$STATE/bravo.log") > before )); }
  pair_wait 120 "the online verify to finish" more_verified || fail "verify did not finish"
  grep "online verify finished" "$STATE/bravo.log" | tail -1 | grep -q ", 0 4k blocks out of sync" ||
    fail "the replicas differ: $(grep "online verify finished" "$STATE/bravo.log" | tail -1)"
}

# ---- 1. A crash during the initial full resync (slowed to 4 MiB/s: ~60 s for 256 MiB).
pair_init
sed -i 's/c_fill_target_kib: 8192 }/c_fill_target_kib: 8192 c_max_rate_kib_per_s: 4096 }/' "$STATE/hafs.conf"
grep -q "c_max_rate_kib_per_s: 4096" "$STATE/hafs.conf" || fail "could not slow the resync down in the config"
pair_start
pair_wait_connected || fail "nodes did not connect"
hold_ns alpha || fail "alpha's hafsd is not running"
hold_ns bravo || fail "bravo's hafsd is not running"
pair_ctl alpha primary --force >/dev/null || fail "primary --force"
pair_wait_serving alpha || fail "alpha does not serve"
in_ns alpha test -d "$STATE/mnt/lost+found" || fail "alpha's file system is not mounted in its namespace"
[[ -d "$STATE/mnt/lost+found" ]] && fail "alpha's mount leaked out of its namespace"
start_writer alpha "$STATE/mnt/early" "$STATE/acked-early"
pair_wait 60 "10 acknowledged files" acked_at_least 10 "$STATE/acked-early" || fail "the writer is too slow"
pair_status_has alpha 'cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent' ||
  fail "the resync is not running any more: $(pair_ctl alpha status --verbose)"
crash_alpha_while_writing "$STATE/acked-early"
echo "ok: alpha crashed during the initial resync ($CRASHED processes, $N_ACKED acknowledged files)"
pair_wait 60 "bravo to see alpha dead" pair_status_has bravo 'alpha state:dead' ||
  fail "bravo still sees alpha: $(pair_ctl bravo status)"
sleep 3  # deadtime is 1 s: a promotion would have happened by now
pair_status_has bravo 'ro:Secondary/[A-Za-z]+ ds:Inconsistent/' ||
  fail "bravo's state after alpha's crash: $(pair_ctl bravo status --verbose)"
pair_status_has bravo 'local disk is Inconsistent' ||
  fail "bravo's status does not say why it does not take over: $(pair_ctl bravo status --verbose)"
echo "ok: bravo (Inconsistent) does not take over, and says why"

# alpha returns; the resync (now unlimited) resumes and alpha, the only UpToDate node, serves.
sed -i 's/ c_max_rate_kib_per_s: 4096 }/ c_max_rate_kib_per_s: 0 }/' "$STATE/hafs.conf"
kill -HUP "$(pair_pid bravo)"
pair_start_node alpha
pair_wait 60 "alpha to answer" pair_ctl alpha status || fail "alpha does not answer after the restart"
hold_ns alpha || fail "alpha's hafsd is not running"
pair_wait_serving alpha || fail "alpha does not serve after its return"
pair_wait_in_sync || fail "the resync did not finish after alpha's return"
check_acked alpha "$STATE/mnt/early" "$STATE/acked-early"
echo "ok: alpha serves again with all $N_ACKED acknowledged files; bravo in sync"

# ---- 2. A crash with the pair in sync: bravo takes over.
acked="$STATE/acked"
start_writer alpha "$STATE/mnt/w" "$acked"
pair_wait 120 "40 acknowledged files" acked_at_least 40 "$acked" || fail "the writer is too slow"
crash_alpha_while_writing "$acked"
n_acked=$N_ACKED
echo "ok: alpha crashed with $CRASHED processes after $n_acked acknowledged files"

pair_wait 60 "bravo to see alpha dead" pair_status_has bravo 'alpha state:dead' ||
  fail "bravo still sees alpha: $(pair_ctl bravo status)"
pair_wait_serving bravo || fail "bravo did not take over"
grep -q "ro:Primary/" <(pair_ctl bravo status --verbose) || fail "bravo is not Primary"
check_acked bravo "$STATE/mnt/w" "$acked"
check_acked bravo "$STATE/mnt/early" "$STATE/acked-early"
nfs_ls_retry "nfs://$VIP/w?version=4&nfsport=$PORT" >"$STATE/ls" || fail "NFS listing on bravo"
grep -qw "f$(tail -1 "$acked")" "$STATE/ls" || fail "the last acknowledged file is not listed over NFS"
echo "ok: bravo took over and serves all $n_acked acknowledged files"

# alpha comes back (no failback: auto_failback is off) and takes bravo's data.
pair_start_node alpha
pair_wait 60 "alpha to answer" pair_ctl alpha status || fail "alpha does not answer after the restart"
hold_ns alpha || fail "alpha's hafsd is not running"
pair_wait 120 "alpha to resync from bravo" \
  pair_status_has bravo 'cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate' ||
  fail "alpha did not come back in sync: $(pair_ctl bravo status --verbose)"
pair_status_has alpha 'ro:Secondary/Primary' || fail "alpha took the service back"
verify_identical
echo "ok: alpha resynced; online verify finds the replicas identical"
# Both nodes share this machine's lo: alpha's start-up probe found bravo's VIP "on its own
# interface" and removed it (two hosts would not see each other's address); bravo's monitor
# puts it back, and the service goes on.
nfs_ls_retry "nfs://$VIP/w?version=4&nfsport=$PORT" >"$STATE/ls2" || fail "NFS listing after alpha's return"
grep -qw "f$(tail -1 "$acked")" "$STATE/ls2" || fail "the last acknowledged file is not listed after alpha's return"
echo "ok: bravo still serves after alpha's return"

# ---- 3. The Secondary hangs (SIGSTOP, its TCP connections stay open): bravo's writes stall
# only until the replication timeouts (ping-int, ping-timeout) drop the silent peer; they go
# on degraded. When alpha runs again, its own pause does not count as bravo's silence (no
# self-promotion, no split brain), and it resyncs what it missed.
late="$STATE/acked-late"
start_writer bravo "$STATE/mnt/late" "$late"
pair_wait 60 "10 acknowledged files" acked_at_least 10 "$late" || fail "the writer is too slow"
apid=$(pair_pid alpha) || fail "alpha's hafsd is not running"
pauses=$(grep -c "cluster: this node did not run for" "$STATE/alpha.log")
kill -STOP "$apid"
frozen=$(date +%s)
n0=$(wc -l <"$late")
pair_wait 60 "bravo's writes to go on without alpha" acked_at_least $((n0 + 10)) "$late" ||
  { kill -CONT "$apid"; fail "bravo's writes hang while alpha is frozen: $(pair_ctl bravo status --verbose)"; }
stalled=$(( $(date +%s) - frozen ))
pair_status_has bravo 'ds:UpToDate/DUnknown' ||
  { kill -CONT "$apid"; fail "bravo still counts on alpha: $(pair_ctl bravo status --verbose)"; }
reason=$(grep -h "r0: connection lost" "$STATE/bravo.log" | tail -1)
kill -CONT "$apid"
echo "ok: with alpha frozen, bravo's writes went on after ${stalled}s (${reason#*] })"
pair_wait 120 "alpha to resync after it was frozen" \
  pair_status_has bravo 'cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate' ||
  fail "alpha did not come back in sync after SIGCONT: $(pair_ctl bravo status --verbose)"
(( $(grep -c "cluster: this node did not run for" "$STATE/alpha.log") > pauses )) ||
  fail "alpha did not notice its own pause: $(grep "cluster:" "$STATE/alpha.log" | tail -5)"
grep -Eq "handler split-brain|decision split-brain" "$STATE/alpha.log" "$STATE/bravo.log" &&
  fail "a split brain after the freeze: $(grep -Eh "handler split-brain|decision split-brain" "$STATE"/*.log | head -3)"
touch "$late.stop"
wait "$WRITER"
check_acked bravo "$STATE/mnt/late" "$late"
verify_identical
echo "ok: alpha resynced after the freeze; online verify finds the replicas identical"
echo "PASS"
