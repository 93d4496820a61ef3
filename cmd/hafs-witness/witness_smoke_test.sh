#!/bin/bash
# hafs-witness binary smoke test: starts on 127.0.0.1:0, checks the banner,
# that a bad authkeys mode is refused, and that SIGTERM exits 0.
set -u
BIN="$(realpath "$1")"
T="$(mktemp -d /tmp/hafs-witness-smoke.XXXXXX)"
PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
printf 'key 1 hmac-sha256 hex:%s\nsign 1\n' "$(printf '%064d' 7)" > "$T/authkeys"
chmod 644 "$T/authkeys"
if "$BIN" --cluster nfs --authkeys "$T/authkeys" --state "$T/s" --listen 127.0.0.1:0 >"$T/out" 2>&1; then
  fail "group-readable authkeys accepted"
fi
grep -q "chmod 600" "$T/out" || fail "no hint for authkeys mode: $(cat "$T/out")"
chmod 600 "$T/authkeys"
"$BIN" --cluster nfs --authkeys "$T/authkeys" --state "$T/s" --listen 127.0.0.1:0 >"$T/out" 2>&1 &
PID=$!
for _ in $(seq 50); do grep -q "listening on" "$T/out" && break; sleep 0.1; done
grep -q "hafs-witness: listening on 127.0.0.1:[1-9]" "$T/out" || fail "no banner: $(cat "$T/out")"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ "$rc" = 0 ] || fail "exit $rc after SIGTERM"
echo PASS
