# hafs: shell functions that set up, start, check and stop a local HA pair (two hafsd nodes,
# "alpha" and "bravo", on one machine). Used by tools/run.sh (the main job) and by the
# end-to-end test tests/e2e/pair_test.sh. Source it, then set:
#   STATE    directory for the configuration, authkeys, backing files, logs, mount point
#   HAFSD, HAFSCTL  the binaries
#   PAIR_SOCKDIR (optional)  control sockets go there (default: hafsd's /run/hafs/<node>.sock)
#   PAIR_RUNDIR  (optional)  per-node runtime directories (default: hafsd's /run/hafs/<node>)
#   PAIR_SED     (optional)  sed expression applied to the default configuration (ports, VIP)
#   PAIR_WRAP    (optional)  command words hafsd is started under; it must exec hafsd (e.g.
#                            "unshare --mount --propagation private": one mount namespace per node)
PAIR_NODES=(alpha bravo)

pair_ctl() {  # pair_ctl <node> <hafsctl args...>
  local n="$1"; shift
  if [[ -n "${PAIR_SOCKDIR:-}" ]]; then
    "$HAFSCTL" --socket "$PAIR_SOCKDIR/$n.sock" "$@"
  else
    "$HAFSCTL" --node "$n" "$@"
  fi
}

# Configuration, authkeys and metadata, created once. Sets PAIR_FRESH=1 when new.
pair_init() {
  mkdir -p "$STATE/mnt"
  if [[ ! -f "$STATE/hafs.conf" ]]; then
    "$HAFSD" --print-default-config --state-dir "$STATE" |
      sed -e "${PAIR_SED:-s/^//}" >"$STATE/hafs.conf"
  fi
  if [[ ! -f "$STATE/authkeys" ]]; then
    (umask 077
     printf 'key 1 hmac-sha256 hex:%s\nsign 1\n' \
       "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >"$STATE/authkeys")
  fi
  PAIR_FRESH=0
  local i
  for i in 0 1; do
    local n=${PAIR_NODES[$i]}
    if [[ ! -f "$STATE/$n.img" ]]; then
      "$HAFSCTL" create-md "$STATE/$n.img" --size 256M --node-id "$i" --al-extents 67 >/dev/null
      PAIR_FRESH=1
    fi
  done
}

# The pid in $STATE/<node>.pid if it is still that node's hafsd (a stale file
# may name an unrelated process after a reboot).
pair_pid() {
  local n="$1" pid
  [[ -f "$STATE/$n.pid" ]] || return 1
  pid=$(cat "$STATE/$n.pid")
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "hafsd .*--node $n" || return 1
  echo "$pid"
}

pair_start_node() {
  local n="$1"
  if pair_pid "$n" >/dev/null; then return 0; fi
  local args=(--config "$STATE/hafs.conf" --node "$n" --log-file "$STATE/$n.log" --foreground
              --state-dir "$STATE/state")
  [[ -n "${PAIR_SOCKDIR:-}" ]] && args+=(--socket "$PAIR_SOCKDIR/$n.sock")
  [[ -n "${PAIR_RUNDIR:-}" ]] && args+=(--run-dir "$PAIR_RUNDIR/$n")
  # shellcheck disable=SC2086  # PAIR_WRAP is a list of words
  ${PAIR_WRAP:-} "$HAFSD" "${args[@]}" >>"$STATE/$n.log" 2>&1 &
  echo $! >"$STATE/$n.pid"
}

pair_start() {
  local n
  for n in "${PAIR_NODES[@]}"; do pair_start_node "$n"; done
}

pair_stop_node() {  # SIGTERM: hafsd stops the resources, closes the volume cleanly
  local n="$1" pid _
  if ! pid=$(pair_pid "$n"); then rm -f "$STATE/$n.pid"; return 0; fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "pair: $n's hafsd did not stop within 120 s; killing it (check mounts, loop" \
      "devices and Ganesha under $STATE)" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/$n.pid"
}

pair_stop() {
  # The Secondary first: a Primary stopped while its peer runs hands the service over.
  if pair_status_has alpha 'ro:Primary/'; then
    pair_stop_node bravo
    pair_stop_node alpha
  else
    pair_stop_node alpha
    pair_stop_node bravo
  fi
}

pair_wait() {  # pair_wait <seconds> <description> <command...>
  local secs="$1" what="$2"; shift 2
  local _
  for _ in $(seq $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "pair: timed out after ${secs}s waiting for $what; logs: $STATE/alpha.log $STATE/bravo.log" >&2
  return 1
}

pair_status_has() {  # pair_status_has <node> <extended regexp>  (status --verbose)
  # Not a pipe into grep -q: with pipefail, hafsctl's SIGPIPE would turn a match into a miss.
  local out
  out=$(pair_ctl "$1" status --verbose 2>/dev/null) || return 1
  grep -Eq -- "$2" <<<"$out"
}

pair_wait_connected() {
  pair_wait 60 "both nodes to answer" pair_ctl alpha status &&
    pair_wait 60 "both nodes to answer" pair_ctl bravo status &&
    pair_wait 60 "the nodes to connect" pair_status_has alpha ' cs:(Connected|SyncSource|SyncTarget)'
}

pair_wait_serving() {  # pair_wait_serving <node>: the whole resource group runs there
  pair_wait 180 "the NFS service on $1" pair_status_has "$1" 'vip0:started'
}

pair_wait_in_sync() {
  pair_wait 300 "the resync to finish" pair_status_has alpha 'cs:Connected ro:.* ds:UpToDate/UpToDate'
}

# nfs_ls <url>: lists with libnfs, retrying while the server is in grace (libnfs does not).
nfs_ls_retry() {
  local url="$1" _
  for _ in $(seq 60); do
    if nfs-ls "$url" 2>"$STATE/nfs-ls.err"; then return 0; fi
    sleep 1
  done
  echo "pair: $url did not answer: $(cat "$STATE/nfs-ls.err")" >&2
  return 1
}
