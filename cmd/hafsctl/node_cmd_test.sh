#!/bin/bash
# hafsctl's daemon verbs against fake_hafsd (a control server with a scripted
# fake target): status text/--json/--verbose, every command, events --now, and
# the exit codes (0 ok, 1 refused by the daemon, 3 daemon unreachable, 64 usage).
set -u
HAFSCTL="$1"
FAKE="$2"
source "$3"  # tools/testlib.sh: expect, same
# Short directory: a Unix socket path has at most 107 bytes.
T="$(mktemp -d /tmp/hafsctl-test-XXXXXX)"
FAKE_PID=""
EV_PID=""
cleanup() {
  [[ -n "$EV_PID" ]] && kill "$EV_PID" 2>/dev/null
  [[ -n "$FAKE_PID" ]] && kill "$FAKE_PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail=0
grep_out() {  # grep_out <fixed string> <file> <description>
  if ! grep -qF -- "$1" "$2"; then echo "FAIL: $3: '$1' not in:"; cat "$2"; fail=1; fi
}
wait_for() {  # wait_for <fixed string> <file>: up to 10 s
  for _ in $(seq 100); do grep -qF -- "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
  echo "FAIL: timed out waiting for '$1' in $2:"; cat "$2"; fail=1; return 1
}

S="$T/alpha.sock"
HINT='(is hafsd running? start it with `hafsd --config FILE --node NAME`)'

# --- No daemon: exit 3 with the errno of the socket. ---
expect 3 "no socket" "$HAFSCTL" --socket "$S" status
same "$T/err" "hafsctl: cannot reach hafsd at $S: no such file or directory $HINT" "no-socket message"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()' "$S"
expect 3 "stale socket" "$HAFSCTL" primary --socket "$S"
same "$T/err" "hafsctl: cannot reach hafsd at $S: connection refused $HINT" "stale-socket message"
rm -f "$S"

# --- Usage errors: exit 64. ---
expect 64 "unknown option" "$HAFSCTL" --socket "$S" primary --bogus
expect 64 "missing --socket value" "$HAFSCTL" status --socket
expect 64 "connect takes no argument" "$HAFSCTL" --socket "$S" connect extra

# --- A daemon (fake target) that refuses the first primary. ---
REASON='primary: r0: local disk is Inconsistent; hint: `hafsctl primary --force` if this node has the data to keep'
"$FAKE" "$S" "primary=$REASON" >"$T/fake.out" 2>"$T/fake.err" &
FAKE_PID=$!
wait_for ready "$T/fake.out"

expect 0 "status" "$HAFSCTL" --socket "$S" status
same "$T/out" "r0 role:Secondary
  disk:UpToDate
  bravo role:Secondary
    replication:SyncSource peer-disk:Inconsistent done:50.00
cluster hafs-test node:alpha id:0
  bravo state:Alive links:grpc=Up,udp=Late
  quorum:yes mode:two_node" "status text"

expect 0 "status --verbose" "$HAFSCTL" status --verbose --socket "$S"
grep_out "  0: cs:SyncSource ro:Secondary/Secondary ds:UpToDate/Inconsistent C" "$T/out" "verbose cs line"
grep_out "     ns:101 nr:102 dw:103 dr:104 al:105 bm:106 lo:7 pe:8 ua:9 ap:10 oos:4096" "$T/out" "verbose counters"
grep_out "sync'ed: 50.0% (4096/8192)K finish: 5:27:02 speed: 40480 K/sec" "$T/out" "verbose resync"
grep_out "last handshake: rule 70: bitmap sync, this node is SyncSource" "$T/out" "verbose handshake"

expect 0 "status --json" "$HAFSCTL" --socket "$S" status --json
python3 - "$T/out" <<'PY' || { echo "FAIL: status --json content"; cat "$T/out"; fail=1; }
import json, sys
d = json.load(open(sys.argv[1]))
assert d["control_version"] == 1, d
assert d["node_name"] == "alpha"
v = d["volumes"][0]
assert v["name"] == "r0" and v["attached"] is True and v["disk"] == "UpToDate"
assert v["counters"]["oos"] == "4096"  # proto3 JSON: 64-bit integers are strings
assert v["resync"]["done_percent"] == 50.0
assert d["cluster"]["links"][1] == {"name": "udp", "state": "Late"}
PY

# --- Refused by the daemon: exit 1 with its reason, verbatim. ---
expect 1 "primary refused" "$HAFSCTL" --socket "$S" primary
same "$T/err" "hafsctl: $REASON" "refusal message"
expect 0 "primary --force" "$HAFSCTL" --socket "$S" primary --force
same "$T/out" "r0: now Primary" "primary reply"

# --- events --now: the snapshot, then changes as they happen. ---
"$HAFSCTL" --socket "$S" events --now >"$T/events" 2>"$T/events.err" &
EV_PID=$!
wait_for "exists -" "$T/events"
grep_out "exists resource name:r0 role:Primary" "$T/events" "snapshot shows the promotion"
expect 0 "secondary" "$HAFSCTL" --socket "$S" secondary
wait_for "change resource name:r0 role:Secondary" "$T/events"
expect 0 "disconnect" "$HAFSCTL" --socket "$S" disconnect
wait_for "change connection name:r0 conn-name:bravo connection:StandAlone role:Unknown" "$T/events"
kill "$EV_PID"; wait "$EV_PID" 2>/dev/null; EV_PID=""

# --- The other verbs reach the daemon. ---
expect 0 "connect" "$HAFSCTL" --socket "$S" connect --discard-my-data --tentative
same "$T/out" "r0: connecting to bravo" "connect reply"
expect 0 "verify" "$HAFSCTL" --socket "$S" verify
expect 0 "resync --full" "$HAFSCTL" --socket "$S" resync --full
same "$T/out" "r0: full resync started" "resync reply"
expect 0 "standby" "$HAFSCTL" --socket "$S" standby
expect 0 "takeover" "$HAFSCTL" --socket "$S" takeover
expect 0 "cleanup" "$HAFSCTL" --socket "$S" cleanup
same "$T/out" "resource failures forgotten" "cleanup reply"

# --- The daemon stops: a running events stream ends with exit 3. ---
"$HAFSCTL" --socket "$S" events >"$T/events2" 2>"$T/events2.err" &
EV_PID=$!
sleep 0.3
kill "$FAKE_PID"; wait "$FAKE_PID"; FAKE_PID=""
wait "$EV_PID"; rc=$?; EV_PID=""
[[ $rc == 3 ]] || { echo "FAIL: events after shutdown: exit $rc, want 3"; cat "$T/events2.err"; fail=1; }
grep_out "hafsctl: events: hafsd is shutting down" "$T/events2.err" "events shutdown message"
[[ ! -e "$S" ]] || { echo "FAIL: socket left behind"; fail=1; }
expect 3 "status after shutdown" "$HAFSCTL" --socket "$S" status

if [[ $fail != 0 ]]; then echo "FAILED"; exit 1; fi
echo PASS
