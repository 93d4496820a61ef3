#!/usr/bin/env bash
# hafsctl selfcheck: passes on a temporary file, removes it, and refuses bad input.
set -euo pipefail
HAFSCTL="$1"
dir="${TEST_TMPDIR:-/tmp}"
out="$("$HAFSCTL" selfcheck --file "$dir/selfcheck.img" --size 4194304)"
echo "$out"
[[ "$out" == "io_uring O_DIRECT: ok, 1024 blocks written and verified"* ]] || { echo "FAIL: unexpected report"; exit 1; }
[[ ! -e "$dir/selfcheck.img" ]] || { echo "FAIL: file left behind"; exit 1; }
touch "$dir/exists.img"
if "$HAFSCTL" selfcheck --file "$dir/exists.img" 2>"$dir/err.txt"; then echo "FAIL: overwrote an existing file"; exit 1; fi
grep -q "already exists" "$dir/err.txt" || { cat "$dir/err.txt"; echo "FAIL: no precise error"; exit 1; }
rc=0; "$HAFSCTL" selfcheck --size 1000 2>/dev/null || rc=$?
[[ $rc == 64 ]] || { echo "FAIL: bad --size gave exit $rc, want 64"; exit 1; }
echo PASS
