#!/bin/bash
# End to end: Pacemaker's migration-threshold on a real pair. The NFS server on the Primary
# (alpha) is killed again and again; hafsd restarts it in place twice, and at the third
# failure (resources { migration_threshold: 3 }, the default) bans the group from alpha,
# stops it there and the peer (bravo) starts it — only after alpha's stop finished. NFSv4
# clients are then served by bravo; `hafsctl cleanup` lifts the ban on alpha (the service
# stays on bravo: auto_failback is off). Everything the test creates is removed on every exit
# path.
set -u
E2E_NAME=mt
VIP=127.0.0.103
PORT=20493
PORT_BASE=22700
source "$(realpath "$4")"
ganesha_pid() { pgrep -f "ganesha.nfsd .*-f $STATE/run/$1/ganesha/ganesha.conf" | head -1; }
ganesha_restarted() { local p; p=$(ganesha_pid alpha); [[ -n "$p" && "$p" != "$1" ]]; }

pair_init
grep -q "^resources" "$STATE/hafs.conf" && fail "the default config sets resources {}; the test relies on the defaults"
e2e_start_alpha_serving
echo "served by alpha" >"$STATE/mnt/marker.txt"
sync
pair_wait 60 "the write to replicate" pair_status_has alpha 'oos:0' || fail "not replicated"
echo "ok: alpha serves, bravo in sync"

# Two failures: restarted in place.
for i in 1 2; do
  pid=$(ganesha_pid alpha) || true
  [[ -n "$pid" ]] || fail "no Ganesha for alpha before kill $i"
  kill -9 "$pid"
  pair_wait 60 "alpha's Ganesha to be restarted after kill $i" ganesha_restarted "$pid" ||
    fail "Ganesha not restarted on alpha after failure $i"
  pair_wait 60 "alpha to serve again" pair_status_has alpha 'vip0:started' || fail "alpha stopped serving after failure $i"
done
pair_status_has alpha 'banned' && fail "banned after two failures (threshold is 3)"
echo "ok: two failures restarted in place"

# The third failure reaches the threshold: the group moves to bravo.
pid=$(ganesha_pid alpha) || true
[[ -n "$pid" ]] || fail "no Ganesha for alpha before the third kill"
kill -9 "$pid"
pair_wait 120 "bravo to take the group over" pair_status_has bravo 'vip0:started' ||
  fail "the group did not move to bravo: $(pair_ctl alpha status --verbose)"
pair_status_has alpha 'ro:Secondary/' || fail "alpha is still Primary: $(pair_ctl alpha status --verbose)"
pair_status_has alpha 'banned' || fail "alpha's status does not show the ban: $(pair_ctl alpha status --verbose)"
[[ -z "$(ganesha_pid alpha)" ]] || fail "Ganesha still runs for alpha"
nfs_ls_retry "$URL" >"$STATE/ls" || fail "NFS listing on bravo"
grep -q "marker.txt" "$STATE/ls" || fail "data not served by bravo: $(cat "$STATE/ls")"
grep -q "^served by alpha$" "$STATE/mnt/marker.txt" || fail "content changed"
echo "ok: the third failure moved the group to bravo"

pair_ctl alpha cleanup >"$STATE/cleanup.out" 2>&1 || fail "cleanup: $(cat "$STATE/cleanup.out")"
not_banned() { ! pair_status_has alpha 'banned'; }
pair_wait 60 "the ban on alpha to lift" not_banned ||
  fail "the ban stayed after cleanup: $(pair_ctl alpha status --verbose)"
sleep 3
pair_status_has bravo 'vip0:started' || fail "the group moved back although auto_failback is off"
echo "ok: cleanup lifted the ban; the group stays on bravo"
echo "PASS"
