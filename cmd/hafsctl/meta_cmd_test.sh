#!/bin/bash
# Verb tests for hafsctl create-md / dump-md / restore-md / show-gi / apply-al /
# wipe-md on temporary files (real UringDevice I/O), including the error cases.
set -u
HAFSCTL="$1"
source "$2"  # tools/testlib.sh: expect
T="${TEST_TMPDIR:-$(mktemp -d)}/meta_cmd"
mkdir -p "$T"
fail=0
grep_out() {  # grep_out <pattern> <file> <description>
  if ! grep -q -- "$1" "$2"; then echo "FAIL: $3: '$1' not in:"; cat "$2"; fail=1; fi
}

A="$T/a.img"; B="$T/b.img"; C="$T/c.img"; X="$T/ext.img"
rm -f "$A" "$B" "$C" "$X"
expect 0 "create-md internal" "$HAFSCTL" create-md "$A" --size 64M --node-id 1 --al-extents 67 --uuid 1234abcd
grep_out "uuid 0x1234abcd, node 1" "$T/out" "create-md output"
expect 3 "create-md refuses existing metadata" "$HAFSCTL" create-md "$A" --node-id 1
grep_out "wipe-md first" "$T/err" "existing-metadata hint"
expect 0 "show-gi" "$HAFSCTL" show-gi "$A" --node-id 1
grep_out "current 0x0000000000000004" "$T/out" "just-created current GI"
expect 3 "metadata of another node" "$HAFSCTL" show-gi "$A" --node-id 2
grep_out "belongs to node 1, not node 2" "$T/err" "other-node message"
expect 0 "apply-al" "$HAFSCTL" apply-al "$A"
grep_out "clean shutdown" "$T/out" "apply-al report"
expect 0 "dump-md text" "$HAFSCTL" dump-md "$A"
cp "$T/out" "$T/dump.txt"
grep_out "hafs-md-dump 1" "$T/dump.txt" "dump header"
grep_out "uuid 0x000000001234abcd" "$T/dump.txt" "dump uuid"
expect 0 "dump-md --json" "$HAFSCTL" dump-md "$A" --json
grep_out '"al-extents": 67' "$T/out" "json field"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" || { echo "FAIL: invalid JSON"; fail=1; }

# restore-md round trip onto a second device of the same size.
truncate -s 64M "$B"
expect 2 "no metadata" "$HAFSCTL" dump-md "$B"
grep_out "no hafs metadata" "$T/err" "no-metadata message"
expect 0 "restore-md" "$HAFSCTL" restore-md "$B" --from "$T/dump.txt"
expect 0 "dump-md of the restored device" "$HAFSCTL" dump-md "$B"
# Identical except the superblock sequence.
if ! diff <(grep -v '^sequence' "$T/dump.txt") <(grep -v '^sequence' "$T/out") >"$T/diff"; then
  echo "FAIL: restore-md round trip differs:"; cat "$T/diff"; fail=1
else
  echo "ok: restore-md round trip"
fi
truncate -s 65M "$C"
expect 3 "restore-md onto a device of another size" "$HAFSCTL" restore-md "$C" --from "$T/dump.txt"
grep_out "wrong device" "$T/err" "wrong-device message"
sed 's/^hafs-md-dump 1/hafs-md-dump 9/' "$T/dump.txt" >"$T/bad.txt"
expect 1 "restore-md of an unknown dump format" "$HAFSCTL" restore-md "$C" --from "$T/bad.txt"

# Wrong metadata version: patch the version field (byte 8) of both slots.
cp "$A" "$T/v.img"
size=$(stat -c %s "$T/v.img")
for off in $((size - 8192 + 8)) $((size - 4096 + 8)); do
  printf '\x02' | dd of="$T/v.img" bs=1 seek="$off" conv=notrunc status=none
done
expect 3 "wrong format version" "$HAFSCTL" dump-md "$T/v.img"
grep_out "version 2" "$T/err" "version message"

# Device too small.
truncate -s 1M "$T/tiny.img"
expect 4 "device too small" "$HAFSCTL" create-md "$T/tiny.img"
grep_out "device too small" "$T/err" "too-small message"

# External metadata with an index.
expect 0 "create-md external" "$HAFSCTL" create-md "$X" --external --index 1 --size 384M --data-size 100G --node-id 2
expect 2 "external: wrong index" "$HAFSCTL" show-gi "$X" --external --index 0
expect 0 "external: dump" "$HAFSCTL" dump-md "$X" --external --index 1
grep_out "data-bytes 107374182400" "$T/out" "external data size"

# wipe-md.
expect 0 "wipe-md" "$HAFSCTL" wipe-md "$A"
expect 2 "wiped: no metadata" "$HAFSCTL" show-gi "$A"
expect 2 "wipe-md twice" "$HAFSCTL" wipe-md "$A"
expect 64 "usage error" "$HAFSCTL" create-md

exit $fail
