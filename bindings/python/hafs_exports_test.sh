#!/usr/bin/env bash
# Runs hafs_exports_test.py against the built extension with Debian's
# /usr/bin/python3 (the interpreter whose headers it was compiled against; the
# python3 on PATH may be another one, e.g. pyenv's).
set -euo pipefail
so="$1"
test_py="$2"
export PYTHONPATH="$(cd "$(dirname "$so")" && pwd)"
export PYTHONDONTWRITEBYTECODE=1
# -s: no user site-packages; the test imports hafs_exports from PYTHONPATH.
exec /usr/bin/python3 -s "$test_py"
