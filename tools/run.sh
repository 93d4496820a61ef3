#!/usr/bin/env bash
# hafs: the main job. Installs what is missing (tools/setup.sh), builds the binaries and runs
# the smallest real thing end to end. It grows, issue by issue, into the local HA pair serving
# NFSv4 on the embedded default configuration; today it is:
#   1. hafsctl version
#   2. hafsctl selfcheck: io_uring + O_DIRECT write/flush/FUA/read-back on a temporary file
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
bazel build //cmd/hafsctl >/dev/null
HAFSCTL=bazel-bin/cmd/hafsctl/hafsctl

echo "== hafsctl version"
"$HAFSCTL" version
echo "== hafsctl selfcheck"
"$HAFSCTL" selfcheck
