#!/bin/bash
# hafsd: starts with the embedded default configuration and answers
# `hafsctl status` honestly (volume not attached yet), refuses commands,
# exits 2 on a bad configuration with file:line:col, removes its socket on
# SIGTERM/SIGINT, replaces a stale socket, refuses a second daemon on the same
# socket, and goes to the background only once it serves.
set -u
HAFSD="$1"
HAFSCTL="$2"
source "$3"  # tools/testlib.sh: expect, same
T="$(mktemp -d /tmp/hafsd-test-XXXXXX)"  # short: socket paths <= 107 bytes
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail=0
grep_out() {
  if ! grep -qF -- "$1" "$2"; then echo "FAIL: $3: '$1' not in:"; cat "$2"; fail=1; fi
}
wait_socket() {  # wait_socket <path>: up to 10 s
  for _ in $(seq 100); do [[ -S "$1" ]] && return 0; sleep 0.1; done
  echo "FAIL: no socket $1"; fail=1; return 1
}

C="$T/hafs.conf"
S="$T/alpha.sock"
expect 0 "--print-default-config" "$HAFSD" --print-default-config --state-dir "$T/state"
cp "$T/out" "$C"
grep_out "backing_device: \"$T/state/alpha.img\"" "$C" "state dir in the default config"

# --- Usage and configuration errors. ---
expect 64 "no --config" "$HAFSD" --node alpha
expect 64 "unknown flag" "$HAFSD" --config "$C" --node alpha --bogus
sed 's/protocol: "C"/protocol: "C" bogus_field: 3/' "$C" >"$T/bad.conf"
# (a valid file would start a daemon in the foreground and hang the test)
grep -q bogus_field "$T/bad.conf" || { echo "FAIL: could not plant a bad field"; exit 1; }
expect 2 "unknown field" "$HAFSD" --config "$T/bad.conf" --node alpha --foreground --socket "$S"
LINE=$(grep -n bogus_field "$T/bad.conf" | cut -d: -f1)
grep_out "hafsd: $T/bad.conf:$LINE:" "$T/err" "file:line:col of the bad field"
grep_out 'has no field named "bogus_field"' "$T/err" "what is wrong"
sed 's/id: 1/id: 0/' "$C" >"$T/dup.conf"
expect 2 "duplicate node id" "$HAFSD" --config "$T/dup.conf" --node alpha --foreground --socket "$S"
grep_out "node[1].id: duplicate node id 0; hint:" "$T/err" "validation message"
expect 2 "unknown node" "$HAFSD" --config "$C" --node gamma --foreground --socket "$S"
same "$T/err" "hafsd: $C: no node named \"gamma\" (configured: \"alpha\", \"bravo\"); hint: --node must be one of them" "unknown node message"
expect 2 "missing config file" "$HAFSD" --config "$T/none.conf" --node alpha --foreground
[[ ! -e "$S" ]] || { echo "FAIL: socket created despite a bad config"; fail=1; }

# --- Start in the foreground; status is honest; commands are refused. ---
"$HAFSD" --config "$C" --node alpha --socket "$S" --foreground 2>"$T/hafsd.log" &
HPID=$!; PIDS+=("$HPID")
wait_socket "$S"
[[ "$(stat -c %a "$S")" == 600 ]] || { echo "FAIL: socket mode $(stat -c %a "$S")"; fail=1; }
expect 0 "status" "$HAFSCTL" --socket "$S" status
# No authkeys and no backing file in $T/state: the node cannot attach and says why.
grep_out "r0 role:Secondary" "$T/out" "status text: role"
grep_out "  disk:Diskless (volume not attached: authkeys: authkeys file $T/state/authkeys: does not exist)" \
  "$T/out" "status text: why the volume is not attached"
grep_out "  bravo connection:StandAlone" "$T/out" "status text: peer"
grep_out "cluster local node:alpha id:0" "$T/out" "status text: cluster"
expect 0 "status --verbose" "$HAFSCTL" --socket "$S" status --verbose
grep_out "counters: not available (volume not attached: " "$T/out" "no invented counters"
grep_out "config:$C" "$T/out" "config file in verbose status"
expect 0 "status --json" "$HAFSCTL" --socket "$S" status --json
grep_out '"attached": false' "$T/out" "json attached"
expect 1 "primary refused" "$HAFSCTL" --socket "$S" primary --force
grep_out "hafsctl: primary: r0: volume not attached: authkeys: " "$T/err" "refusal"
grep_out "; nothing was changed" "$T/err" "refusal says nothing changed"
expect 1 "takeover refused" "$HAFSCTL" --socket "$S" takeover
grep_out "takeover: heartbeat and quorum not running yet" "$T/err" "takeover refusal"

# --- A second daemon on the same socket is refused (exit 1), the first survives. ---
expect 1 "second hafsd" "$HAFSD" --config "$C" --node alpha --socket "$S" --foreground
grep_out "another hafsd holds $S.lock" "$T/err" "second daemon message"
expect 0 "first still serves" "$HAFSCTL" --socket "$S" status

# --- SIGTERM: clean exit 0, socket removed. ---
kill -TERM "$HPID"; wait "$HPID"; rc=$?
[[ $rc == 0 ]] || { echo "FAIL: hafsd exit $rc after SIGTERM"; cat "$T/hafsd.log"; fail=1; }
[[ ! -e "$S" && ! -e "$S.lock" ]] || { echo "FAIL: socket left after SIGTERM"; fail=1; }
grep_out "SIGTERM: shutting down" "$T/hafsd.log" "shutdown log line"
expect 3 "status after SIGTERM" "$HAFSCTL" --socket "$S" status

# --- kill -9 leaves a stale socket; the next hafsd replaces it; SIGINT is clean. ---
"$HAFSD" --config "$C" --node alpha --socket "$S" --foreground 2>"$T/hafsd2.log" &
HPID=$!; PIDS+=("$HPID")
wait_socket "$S"
kill -KILL "$HPID"; wait "$HPID" 2>/dev/null
[[ -S "$S" ]] || { echo "FAIL: expected a stale socket after kill -9"; fail=1; }
"$HAFSD" --config "$C" --node alpha --socket "$S" --foreground 2>"$T/hafsd3.log" &
HPID=$!; PIDS+=("$HPID")
for _ in $(seq 100); do "$HAFSCTL" --socket "$S" status >/dev/null 2>&1 && break; sleep 0.1; done
expect 0 "status after stale socket" "$HAFSCTL" --socket "$S" status
grep_out "removed a stale socket" "$T/hafsd3.log" "stale socket log line"
kill -INT "$HPID"; wait "$HPID"; rc=$?
[[ $rc == 0 && ! -e "$S" ]] || { echo "FAIL: SIGINT: exit $rc, socket exists: $([[ -e $S ]] && echo yes)"; fail=1; }

# --- Background: the parent returns once the socket serves. ---
expect 0 "background start" "$HAFSD" --config "$C" --node bravo --socket "$T/bravo.sock" --log-file "$T/bravo.log"
grep_out "hafsd: started in the background (pid " "$T/out" "background message"
BPID=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' "$T/out")
PIDS+=("$BPID")
expect 0 "background status (no wait needed)" "$HAFSCTL" --socket "$T/bravo.sock" status
grep_out "cluster local node:bravo id:1" "$T/out" "bravo status"
expect 1 "background start on a busy socket" "$HAFSD" --config "$C" --node bravo --socket "$T/bravo.sock" --log-file "$T/bravo2.log"
grep_out "another hafsd holds" "$T/err" "background failure reaches the parent"
kill -TERM "$BPID"
for _ in $(seq 100); do kill -0 "$BPID" 2>/dev/null || break; sleep 0.1; done
[[ ! -e "$T/bravo.sock" ]] || { echo "FAIL: background socket left"; fail=1; }
grep_out "hafsd: node bravo stopped" "$T/bravo.log" "background log file"

if [[ $fail != 0 ]]; then echo FAILED; exit 1; fi
echo PASS
