#!/bin/bash
# End to end: two hafsd nodes on this machine serve NFSv4 from a replicated volume (FUSE +
# loop + ext4 + NFS-Ganesha + a loopback VIP); a file written on the Primary is listed by a
# real NFSv4 client (libnfs), survives a manual failover to the other node (its replica
# took over), and the volume resyncs back. Everything the test creates — daemons, mounts,
# loop devices, Ganesha, the VIP, files — is removed on every exit path.
set -u
E2E_NAME=e2e
VIP=127.0.0.101
PORT=20491
PORT_BASE=17700
source "$(realpath "$4")"

pair_init
[[ $PAIR_FRESH -eq 1 ]] || fail "expected fresh metadata"
# Alone, alpha (the dialing side) keeps trying to reach bravo and its status says why not.
pair_start_node alpha
pair_wait 60 "alpha to answer" pair_ctl alpha status || fail "alpha does not answer"
pair_wait 60 "alpha to report its failed attempts" \
  pair_status_has alpha 'last connection attempt failed [0-9a-z.]+ ago: ' ||
  fail "alpha's status does not say why it is not connected: $(pair_ctl alpha status --verbose)"
echo "ok: a lone node says why it is not connected"
pair_start
pair_wait_connected || fail "nodes did not connect"
pair_ctl bravo primary >"$STATE/out" 2>&1 && fail "bravo (Inconsistent) was promoted without --force"
grep -q "local disk is Inconsistent" "$STATE/out" || fail "refusal reason: $(cat "$STATE/out")"

pair_ctl alpha primary --force >/dev/null || fail "primary --force"
pair_wait_serving alpha || fail "alpha does not serve"
echo "replicated" >"$STATE/mnt/before-failover.txt"
sync
nfs_ls_retry "$URL" >"$STATE/ls1" || fail "NFS listing on alpha"
grep -q "before-failover.txt" "$STATE/ls1" || fail "file not listed: $(cat "$STATE/ls1")"
pair_wait_in_sync || fail "initial resync did not finish"
echo "ok: alpha serves, bravo in sync"

# Manual failover (Heartbeat's hb_takeover): the cluster stops the group on alpha
# (reverse order, demote) and starts it on bravo.
pair_ctl bravo primary >/dev/null || fail "bravo primary (takeover)"
pair_wait 120 "alpha to give the group up" pair_status_has alpha 'ro:Secondary/' || fail "alpha still Primary"
pair_wait_serving bravo || fail "bravo does not serve"
nfs_ls_retry "$URL" >"$STATE/ls2" || fail "NFS listing on bravo"
grep -q "before-failover.txt" "$STATE/ls2" || fail "file lost in failover: $(cat "$STATE/ls2")"
grep -q "^replicated$" "$STATE/mnt/before-failover.txt" || fail "content changed"
echo "ok: manual failover to bravo kept the data"

# Writes on bravo replicate back to alpha.
echo "written on bravo" >"$STATE/mnt/on-bravo.txt"
sync
pair_wait 60 "writes to replicate" pair_status_has bravo 'cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate' ||
  fail "pair not in sync after failover"

# Bravo's hafsd is stopped (SIGTERM): like Heartbeat, it first hands the service to its
# connected peer (standby; alpha starts the group once bravo's stop finished), then exits.
pair_stop_node bravo
grep -q "stop: alpha runs the service now (handed over" "$STATE/bravo.log" ||
  fail "bravo did not hand the service over before stopping"
pair_wait 60 "alpha to take over by itself" pair_status_has alpha 'vip0:started' ||
  fail "no failover to alpha"
nfs_ls_retry "$URL" >"$STATE/ls3" || fail "NFS listing after the hand-over"
grep -q "on-bravo.txt" "$STATE/ls3" || fail "bravo's write lost: $(cat "$STATE/ls3")"
echo "ok: stopping bravo handed the service to alpha, with bravo's writes"

# Exports change at run time: SIGHUP makes hafsd hand the new exports to Ganesha.
sed -i 's|exports: "\([^ ]*\) \*(|exports: "\1 10.99.0.0/16(|' "$STATE/hafs.conf"
grep -q 'exports: ".* 10.99.0.0/16(' "$STATE/hafs.conf" || fail "could not edit the exports in the config"
kill -HUP "$(pair_pid alpha)"
refused=0
for _ in $(seq 30); do
  if ! nfs-ls "$URL" >/dev/null 2>"$STATE/ls4.err"; then refused=1; break; fi
  sleep 0.5
done
[[ $refused -eq 1 ]] || fail "127.0.0.1 still served after the exports moved to 10.99.0.0/16"
grep -q "SIGHUP: new exports handed to the NFS server" "$STATE/alpha.log" || fail "no reload log line"
sed -i 's|exports: "\([^ ]*\) 10.99.0.0/16(|exports: "\1 *(|' "$STATE/hafs.conf"
kill -HUP "$(pair_pid alpha)"
nfs_ls_retry "$URL" >/dev/null || fail "export not back after the second reload"
echo "ok: exports reloaded at run time (SIGHUP)"

# drbdadm adjust: the resync controller applies to the live volume; a heartbeat timer waits
# for a restart, and the log says which and why.
sed -i 's/c_fill_target_kib: 8192/c_fill_target_kib: 4096/; s/warntime_ms: 600/warntime_ms: 700/' "$STATE/hafs.conf"
kill -HUP "$(pair_pid alpha)"
pair_wait 30 "alpha to log the reload" grep -q "modified: volume.c_fill_target_kib: 8192 -> 4096" "$STATE/alpha.log" ||
  fail "no reload line for the adjusted option"
grep "modified: volume.c_fill_target_kib" "$STATE/alpha.log" | grep -q "applied to the volume" ||
  fail "c_fill_target_kib not applied live: $(grep SIGHUP "$STATE/alpha.log" | tail -1)"
grep "modified: heartbeat.warntime_ms: 600 -> 700" "$STATE/alpha.log" | grep -q "not applied, restart hafsd" ||
  fail "warntime_ms not reported as waiting for a restart: $(grep SIGHUP "$STATE/alpha.log" | tail -1)"
# A second SIGHUP: the adjusted option is in force now, the timer still waits.
hups=$(grep -c "hafsd: SIGHUP: " "$STATE/alpha.log")
kill -HUP "$(pair_pid alpha)"
more_hups() { (( $(grep -c "hafsd: SIGHUP: " "$STATE/alpha.log") > hups )); }
pair_wait 30 "alpha to log the second reload" more_hups || fail "no log line for the second SIGHUP"
(( $(grep -c "modified: volume.c_fill_target_kib" "$STATE/alpha.log") == 1 )) ||
  fail "the applied option was reported again: $(grep SIGHUP "$STATE/alpha.log" | tail -1)"
grep "hafsd: SIGHUP: " "$STATE/alpha.log" | tail -1 | grep -q "modified: heartbeat.warntime_ms: 600 -> 700" ||
  fail "the pending timer change is not reported again: $(grep SIGHUP "$STATE/alpha.log" | tail -1)"
echo "ok: SIGHUP applies the resync controller live and names what needs a restart"

# bravo comes back as Secondary and resyncs what it missed.
echo "while bravo was away" >"$STATE/mnt/while-away.txt"
sync
pair_start_node bravo
pair_wait 120 "bravo to resync" pair_status_has alpha 'cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate' ||
  fail "bravo did not resync"
echo "ok: bravo back in sync"
echo "PASS"
