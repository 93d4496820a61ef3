#!/usr/bin/env bash
# hafs set-up: installs the Debian 12 packages that the build, the tests and the demo need.
# Idempotent: runs `apt-get update` at most once per invocation and only when something is
# missing, then installs only what is missing. Safe to run as often as you like.
set -euo pipefail

PACKAGES=(
  # Build: Bazel from Debian, offline, against system libraries.
  bazel-bootstrap bazel-rules-java g++ clang lld
  # Libraries (see docs/dependencies.md for why each one is here).
  libabsl-dev libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  liburing-dev libbenchmark-dev libgtest-dev libgmock-dev libxxhash-dev libssl-dev
  libfuse3-dev fuse3 libcli11-dev
  # Tests and benchmarks: real peers and physical limits.
  fio iperf3 nfs-kernel-server nfs-ganesha nfs-ganesha-vfs libnfs-utils
  iproute2 util-linux e2fsprogs
  # CPU load for benchmarks/failover_detect.sh (failure detection under full load).
  stress-ng
  # Python bindings (bindings/python): Python.h for Debian's python3, pybind11 headers.
  python3-dev python3-pybind11
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# nfs-kernel-server's postinst tries to start services; that is harmless where systemd is absent.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/hafs-setup-apt.log 2>&1 || {
  echo "setup: apt-get install failed; last lines of /tmp/hafs-setup-apt.log:" >&2
  tail -20 /tmp/hafs-setup-apt.log >&2
  exit 1
}
echo "setup: done"
