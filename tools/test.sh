#!/usr/bin/env bash
# hafs: the whole test suite. Installs what is missing (tools/setup.sh), builds everything and
# runs every test target that is not tagged manual or benchmark, then prints the totals of every
# test case it ran as the last line: "N passed, M failed".
#
# Usage: tools/test.sh [extra bazel test args...]
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

bep="$(mktemp /tmp/hafs-test-bep.XXXXXX.json)"
trap 'rm -f "$bep"' EXIT

# The whole tree must build (binaries, benchmarks and tools included), not only the tests.
bazel build --keep_going //... "$@"
build_rc=$?

bazel test --keep_going //... --build_event_json_file="$bep" "$@"
test_rc=$?

python3 tools/test_summary.py "$bep" $((build_rc != 0))
summary_rc=$?

if [[ $build_rc -ne 0 || $test_rc -ne 0 || $summary_rc -ne 0 ]]; then
  exit 1
fi
exit 0
