# Assertions shared by the shell tests (sourced). They use the caller's $T
# (a scratch directory) and set the caller's `fail=1` on a mismatch, so a test
# runs every check and exits with `exit $fail` at the end.

expect() {  # expect <exit code> <description> <command...>; output in $T/out, $T/err
  local want="$1" what="$2"; shift 2
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  if [[ "$got" != "$want" ]]; then
    echo "FAIL: $what: exit $got, want $want"; cat "$T/out" "$T/err"; fail=1
  else
    echo "ok: $what"
  fi
}

same() {  # same <file> <expected text> <description>
  if [[ "$(cat "$1")" != "$2" ]]; then
    echo "FAIL: $3: got:"; cat "$1"; echo "--- want:"; echo "$2"; fail=1
  fi
}
