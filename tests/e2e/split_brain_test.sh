#!/bin/bash
# End to end: a split brain between two hafsd nodes, made the way operators make them
# (the replication link is cut while the cluster still talks, the Primary keeps writing,
# the service is then moved to the other node, which writes too), is detected when the
# volumes reconnect, runs the configured split-brain handler on both nodes with DRBD's
# environment, is refused automatic resolution under the default policy (both stay
# StandAlone, nothing is synced, both sides keep their data), and is resolved the way
# DRBD documents it: the victim reconnects with --discard-my-data and resyncs from the
# survivor. Everything the test creates is removed on every exit path.
set -u
E2E_NAME=sb
VIP=127.0.0.102
PORT=20492
PORT_BASE=27700
source "$(realpath "$4")"

# The split-brain handler records what it was called with, per node.
cat >"$STATE/sb-handler" <<EOF
#!/bin/sh
{ echo "args: \$*"; env | grep -E '^(HAFS|DRBD)_' | sort; } >"$STATE/sb-\$HAFS_NODE.called"
EOF
chmod 755 "$STATE/sb-handler"

pair_init
echo "split_brain { split_brain_handler: \"$STATE/sb-handler\" }" >>"$STATE/hafs.conf"
e2e_start_alpha_serving
echo "before the split" >"$STATE/mnt/common.txt"
sync
pair_wait 60 "the write to replicate" pair_status_has alpha 'oos:0' || fail "not replicated"
echo "ok: alpha serves, bravo in sync"

# Cut the replication link on both sides (the cluster's heartbeats still flow).
pair_ctl alpha disconnect >/dev/null || fail "alpha disconnect"
pair_ctl bravo disconnect >/dev/null || fail "bravo disconnect"
pair_wait 30 "alpha StandAlone" pair_status_has alpha 'cs:StandAlone' || fail "alpha not StandAlone"
echo "alpha alone" >"$STATE/mnt/alpha-only.txt"
sync
# Move the service: alpha stops it (unmount, demote), bravo starts it on its own copy.
pair_ctl bravo takeover >"$STATE/takeover.out" 2>&1 || fail "takeover: $(cat "$STATE/takeover.out")"
pair_wait 120 "alpha to give the group up" pair_status_has alpha 'ro:Secondary/' || fail "alpha still Primary"
pair_wait_serving bravo || fail "bravo does not serve"
[[ -f "$STATE/mnt/common.txt" ]] || fail "bravo's copy lacks the replicated file"
[[ ! -e "$STATE/mnt/alpha-only.txt" ]] || fail "bravo's copy has a file written after the cut"
echo "bravo alone" >"$STATE/mnt/bravo-only.txt"
sync
echo "ok: both nodes wrote while disconnected"

# Reconnect: both sides see the split brain; the default policy (disconnect) refuses to
# pick a victim, so both go StandAlone again and each runs the handler.
pair_ctl alpha connect >/dev/null || fail "alpha connect"
pair_ctl bravo connect >/dev/null || fail "bravo connect"
for n in alpha bravo; do
  pair_wait 60 "$n's split-brain handler" test -s "$STATE/sb-$n.called" ||
    fail "$n did not run the split-brain handler"
  grep -q "^args: split-brain$" "$STATE/sb-$n.called" || fail "$n handler args: $(cat "$STATE/sb-$n.called")"
  for v in HAFS_RESOURCE=r0 DRBD_RESOURCE=r0 HAFS_HANDLER=split-brain "HAFS_NODE=$n"; do
    grep -qx "$v" "$STATE/sb-$n.called" || fail "$n handler env lacks $v: $(cat "$STATE/sb-$n.called")"
  done
  pair_wait 30 "$n to report the split brain" pair_status_has "$n" 'split.brain' ||
    fail "$n's status does not mention the split brain: $(pair_ctl "$n" status --verbose)"
  pair_status_has "$n" 'cs:StandAlone' || fail "$n is not StandAlone: $(pair_ctl "$n" status --verbose)"
done
for n in alpha bravo; do
  pair_wait 30 "$n to log the handler's outcome" \
    grep -q "r0: handler split-brain ($STATE/sb-handler): exit code 0" "$STATE/$n.log" ||
    fail "$n did not log the handler's exit code"
done
pair_status_has bravo 'vip0:started' || fail "bravo stopped serving during the split brain"
echo "ok: split brain detected on both nodes, handler ran, nothing synced"

# Resolve: alpha is the victim (its write after the cut is discarded).
pair_ctl alpha connect --discard-my-data >"$STATE/discard.out" 2>&1 ||
  fail "alpha connect --discard-my-data: $(cat "$STATE/discard.out")"
pair_ctl bravo connect >/dev/null 2>&1
pair_wait 120 "the resync from bravo" pair_status_has bravo 'cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate' ||
  fail "no resync after --discard-my-data: $(pair_ctl bravo status --verbose)"
[[ -f "$STATE/mnt/bravo-only.txt" && -f "$STATE/mnt/common.txt" ]] || fail "bravo lost data"
# The survivor's data is now on alpha too: move the service back and look.
pair_ctl alpha takeover >/dev/null || fail "takeover back to alpha"
pair_wait 120 "bravo to give the group up" pair_status_has bravo 'ro:Secondary/' || fail "bravo still Primary"
pair_wait_serving alpha || fail "alpha does not serve after the resolution"
[[ -f "$STATE/mnt/bravo-only.txt" ]] || fail "alpha's copy lacks the survivor's file after the resync"
[[ ! -e "$STATE/mnt/alpha-only.txt" ]] || fail "alpha's discarded write survived"
echo "ok: resolved with --discard-my-data; the survivor's data is on both nodes"
echo "PASS"
