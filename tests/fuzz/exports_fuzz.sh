#!/bin/bash
# Build the exports libFuzzer target with clang (outside Bazel: its toolchain
# is gcc) and run it.
#   tests/fuzz/exports_fuzz.sh [SECONDS] [--merge]
# SECONDS (default 60): fuzzing time. New inputs go to a scratch corpus dir;
# --merge minimizes scratch+committed corpus into the committed one
# (libhafs/exports/testdata/fuzz_corpus, kept < 500 files).
set -eu
cd "$(dirname "$0")/../.."
SECS="${1:-60}"
MERGE="${2:-}"
OUT="${FUZZ_OUT:-/tmp/hafs-exports-fuzz}"
CORPUS=libhafs/exports/testdata/fuzz_corpus
mkdir -p "$OUT/new" "$CORPUS"
ABSL_LIBS="-labsl_str_format_internal -labsl_strings -labsl_strings_internal \
  -labsl_status -labsl_statusor -labsl_cord -labsl_cord_internal \
  -labsl_cordz_info -labsl_cordz_handle -labsl_cordz_functions \
  -labsl_crc_cord_state -labsl_crc32c -labsl_crc_internal -labsl_crc_cpu_detect \
  -labsl_exponential_biased -labsl_synchronization -labsl_graphcycles_internal \
  -labsl_stacktrace -labsl_symbolize -labsl_debugging_internal \
  -labsl_demangle_internal -labsl_malloc_internal -labsl_time -labsl_civil_time \
  -labsl_time_zone -labsl_base -labsl_spinlock_wait -labsl_int128 \
  -labsl_throw_delegate -labsl_raw_logging_internal -labsl_log_severity \
  -labsl_strerror"
# Keep only libraries that exist on this system.
LIBS=""
for l in $ABSL_LIBS; do
  n="${l#-l}"
  if ls /usr/lib/*/lib"$n".so >/dev/null 2>&1 || ls /usr/lib/lib"$n".so >/dev/null 2>&1; then
    LIBS="$LIBS $l"
  fi
done
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address -I. \
  libhafs/exports/exports.cc libhafs/exports/table.cc libhafs/exports/lint.cc \
  libhafs/exports/match.cc libhafs/exports/render.cc tests/fuzz/exports_fuzz.cc \
  -o "$OUT/exports_fuzz" $LIBS -lpthread
echo "built $OUT/exports_fuzz"
# Seed the scratch corpus with the differential and lint inputs.
find libhafs/exports/testdata/corpus libhafs/exports/testdata/lint -type f \
  -name '*.exports' -exec cp -t "$OUT/new" {} + 2>/dev/null || true
"$OUT/exports_fuzz" -max_total_time="$SECS" -timeout=5 -rss_limit_mb=2048 \
  -max_len=4096 -print_final_stats=1 "$OUT/new" "$CORPUS" \
  2>&1 | tail -25
if [ "$MERGE" = "--merge" ]; then
  mkdir -p "$OUT/merged"
  rm -rf "$OUT/merged"/*
  "$OUT/exports_fuzz" -merge=1 -max_len=4096 "$OUT/merged" "$CORPUS" "$OUT/new" 2>&1 | tail -3
  # Keep the committed corpus small (< 500 files): the 450 smallest of the
  # minimized set.
  rm -f "$CORPUS"/*
  ls -S -r "$OUT/merged" | head -450 | while read -r f; do cp "$OUT/merged/$f" "$CORPUS"/; done
  echo "corpus: $(ls "$CORPUS" | wc -l) files (of $(ls "$OUT/merged" | wc -l) minimized)"
fi
