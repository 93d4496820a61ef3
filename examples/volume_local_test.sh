#!/usr/bin/env bash
# Runs //examples:volume_local in a fresh directory under /var/tmp (O_DIRECT
# needs a real file system; TEST_TMPDIR may be tmpfs) and checks its output:
# StandAlone Inconsistent after create-md, Primary UpToDate after --force,
# read-back matches, unaligned I/O refused, 68 KiB written and out of sync,
# clean close, UpToDate on re-attach with the bitmap kept; and that it
# removed its temporary files.
set -uo pipefail
bin="$1"
dir="$(mktemp -d /var/tmp/hafs_volume_local_test.XXXXXX)"
trap 'rm -rf "$dir"' EXIT

out="$("$bin" "$dir" 2>"$dir.stderr")"
rc=$?
fail=0
if [[ $rc -ne 0 ]]; then echo "FAIL: exit $rc"; cat "$dir.stderr"; fail=1; fi
rm -f "$dir.stderr"
check() {  # check PATTERN DESCRIPTION
  if ! grep -qE -- "$1" <<<"$out"; then echo "FAIL: $2 (pattern: $1)"; fail=1; fi
}
check '^attached:  r0: cs:StandAlone/Off ro:Secondary/Unknown ds:Inconsistent/DUnknown$' "fresh metadata attaches Inconsistent, StandAlone"
check '^promoted:  r0: cs:StandAlone/Off ro:Primary/Unknown ds:UpToDate/DUnknown$' "--force makes it Primary UpToDate"
check '^unaligned write refused: INVALID_ARGUMENT: .*not 4096-byte aligned' "unaligned write refused"
check '^status:    r0: cs:StandAlone/Off ro:Primary/Unknown ds:UpToDate/DUnknown$' "status line"
check '^    ns:0 nr:0 dw:68 dr:68 .* oos:68$' "68 KiB written, read and out of sync, nothing sent"
check '^closed:    r0: .*ro:Secondary/Unknown ds:UpToDate/DUnknown \(closed\)$' "Close demotes"
check '^reattached: r0: cs:StandAlone/Off ro:Secondary/Unknown ds:UpToDate/DUnknown$' "re-attach is UpToDate"
check '^    ns:0 nr:0 dw:0 dr:0 .* oos:68$' "bitmap survives Close/Open"
if [[ "$(grep -c '^read-back: 17 blocks match$' <<<"$out")" != 2 ]]; then
  echo "FAIL: read-back did not match twice"; fail=1
fi
check '^done$' "finished"
if [[ -n "$(ls -A "$dir")" ]]; then echo "FAIL: left files in $dir: $(ls -A "$dir")"; fail=1; fi

"$bin" /nonexistent-dir-for-hafs >/dev/null 2>&1
if [[ $? -ne 1 ]]; then echo "FAIL: a missing DIR should exit 1"; fail=1; fi

if [[ $fail -ne 0 ]]; then echo "--- output ---"; echo "$out"; exit 1; fi
echo PASS
