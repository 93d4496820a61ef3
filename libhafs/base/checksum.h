// File: libhafs/base/checksum.h
// -----------------------------------------------------------------------------
// Checksums for on-disk metadata, wire frames and block digests: XXH3 from
// Debian's libxxhash (0.8). XXH3-64 for records, XXH3-128 for block digests
// (online verify, checksum-based resync), where collisions must be negligible
// across multi-TiB volumes. Both are stable across versions and platforms
// (the XXH3 output is frozen since 0.8.0), so they may be stored on disk.
//
// Example:
//   uint64_t sum = Checksum64(record_bytes);
//   Digest128 d = Digest(block);
#ifndef HAFS_LIBHAFS_BASE_CHECKSUM_H_
#define HAFS_LIBHAFS_BASE_CHECKSUM_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace hafs {

// XXH3-64 of `data` with `seed` (0 by default).
uint64_t Checksum64(absl::string_view data, uint64_t seed = 0);

struct Digest128 {
  uint64_t low = 0;
  uint64_t high = 0;
  friend bool operator==(const Digest128& a, const Digest128& b) {
    return a.low == b.low && a.high == b.high;
  }
  friend bool operator!=(const Digest128& a, const Digest128& b) {
    return !(a == b);
  }
  // 32 lower-case hex digits, high word first.
  std::string ToHex() const;
};

// XXH3-128 of `data`.
Digest128 Digest(absl::string_view data);

// Incremental XXH3-64 over several pieces; equals Checksum64 of their
// concatenation.
class Checksum64Builder {
 public:
  explicit Checksum64Builder(uint64_t seed = 0);
  ~Checksum64Builder();
  Checksum64Builder(const Checksum64Builder&) = delete;
  Checksum64Builder& operator=(const Checksum64Builder&) = delete;
  void Update(absl::string_view data);
  uint64_t Finish() const;

 private:
  void* state_;  // XXH3_state_t*
};

}  // namespace hafs

#endif  // HAFS_LIBHAFS_BASE_CHECKSUM_H_
