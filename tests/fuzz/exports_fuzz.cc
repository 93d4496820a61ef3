// libFuzzer target for the exports parser and everything built on it.
// Build and run with tests/fuzz/exports_fuzz.sh (clang -fsanitize=fuzzer,address).
#include <cstddef>
#include <cstdint>

#include "libhafs/exports/fuzz_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hafs::exports::FuzzExportsOnce(data, size);
  return 0;
}
