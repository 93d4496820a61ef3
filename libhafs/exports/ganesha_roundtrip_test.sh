#!/bin/bash
# Ganesha round trip: render an exports file with `hafsctl exports ganesha`,
# start ganesha.nfsd NFSv4-only on 127.0.0.1:<free port> (no rpcbind, no
# dbus: Protocols=4, Enable_NLM/RQUOTA/UDP=false, Graceless), and check with
# libnfs (nfs-ls / nfs-cp, NFSv4) that:
#   - the permitted client (127.0.0.1) lists a read-only export,
#   - a read-write export accepts a write,
#   - the read-only export refuses a write,
#   - an export whose only client is another subnet is refused.
# Everything lives in a temp dir; ganesha is killed on every exit path.
set -u
HAFSCTL="$(realpath "$1")"
GANESHA=/usr/bin/ganesha.nfsd

if [ "$(id -u)" != 0 ]; then
  if [ -n "${CI:-}" ]; then echo "FAIL: needs root (CI is set)" >&2; exit 1; fi
  echo "SKIP: ganesha round trip needs root" >&2; exit 0
fi
for t in "$GANESHA" nfs-ls nfs-cp python3; do
  command -v "$t" >/dev/null || { echo "FAIL: $t not installed" >&2; exit 1; }
done

T="$(mktemp -d /tmp/hafs-ganesha-rt.XXXXXX)"
GPID=""
cleanup() {
  if [ -n "$GPID" ] && kill -0 "$GPID" 2>/dev/null; then
    kill "$GPID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$GPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$GPID" 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*" >&2; echo "--- ganesha log:" >&2; tail -30 "$T/ganesha.log" >&2; exit 1; }

R="$T/root"
mkdir -p "$R/pub" "$R/rw" "$R/deny" "$T/recov"
echo hello > "$R/pub/hello.txt"
echo data > "$T/local.txt"
cat > "$T/exports" <<EXP
# The fsid=0 export is the NFSv4 root; Pseudo paths are relative to it.
$R 127.0.0.1(ro,fsid=0,insecure,no_root_squash,no_subtree_check)
$R/pub 10.99.0.0/16(rw,no_subtree_check) 127.0.0.1(ro,insecure,no_root_squash,no_subtree_check,fsid=11)
$R/rw 127.0.0.0/8(rw,insecure,no_root_squash,no_subtree_check,fsid=12)
$R/deny 10.99.0.0/16(rw,insecure,no_subtree_check,fsid=13)
EXP
"$HAFSCTL" exports ganesha "$T/exports" > "$T/exports.conf" 2>"$T/render.err" \
  || fail "hafsctl exports ganesha failed: $(cat "$T/render.err")"
grep -q 'Pseudo = "/pub";' "$T/exports.conf" || fail "no /pub pseudo in $(cat "$T/exports.conf")"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$T/ganesha.conf" <<CONF
NFS_CORE_PARAM {
  Protocols = 4; Bind_addr = 127.0.0.1; NFS_Port = $PORT;
  Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false;
}
NFSv4 {
  Graceless = true; RecoveryBackend = fs; RecoveryRoot = "$T/recov";
  Only_Numeric_Owners = true;
}
%include "$T/exports.conf"
CONF
"$GANESHA" -F -L "$T/ganesha.log" -f "$T/ganesha.conf" -p "$T/ganesha.pid" &
GPID=$!
up=0
for _ in $(seq 100); do
  if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$PORT)))" 2>/dev/null; then up=1; break; fi
  kill -0 "$GPID" 2>/dev/null || fail "ganesha exited"
  sleep 0.2
done
[ "$up" = 1 ] || fail "ganesha did not listen on $PORT"

url() { echo "nfs://127.0.0.1$1?version=4&nfsport=$PORT"; }
# libnfs does not retry NFS4ERR_GRACE: retry for up to ~20 s.
retry() {
  local out
  for _ in $(seq 40); do
    if out="$("$@" 2>&1)"; then echo "$out"; return 0; fi
    case "$out" in *GRACE*|*grace*|*"Connection refused"*) sleep 0.5;; *) echo "$out"; return 1;; esac
  done
  echo "$out"; return 1
}

ls_out="$(retry nfs-ls "$(url /pub)")" || fail "nfs-ls /pub: $ls_out"
echo "$ls_out" | grep -q hello.txt || fail "hello.txt not listed: $ls_out"
echo "ok: permitted client lists /pub"

cp_out="$(retry nfs-cp "$T/local.txt" "$(url /rw/new.txt)")" || fail "write to rw export failed: $cp_out"
[ "$(cat "$R/rw/new.txt" 2>/dev/null)" = data ] || fail "rw write not on disk"
echo "ok: rw export accepts a write"

if nfs-cp "$T/local.txt" "$(url /pub/new.txt)" >"$T/ro.out" 2>&1; then
  fail "write to read-only export succeeded"
fi
[ -e "$R/pub/new.txt" ] && fail "read-only export was written"
echo "ok: ro export refuses a write ($(head -c 120 "$T/ro.out"))"

if nfs-ls "$(url /deny)" >"$T/deny.out" 2>&1; then
  fail "client not in the CLIENT list could list /deny: $(cat "$T/deny.out")"
fi
echo "ok: /deny refused for 127.0.0.1"
echo PASS
