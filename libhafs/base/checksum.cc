#include "libhafs/base/checksum.h"

#include <xxhash.h>

#include "absl/strings/str_format.h"
#include "libhafs/base/logging.h"

namespace hafs {

uint64_t Checksum64(absl::string_view data, uint64_t seed) {
  return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

Digest128 Digest(absl::string_view data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return Digest128{h.low64, h.high64};
}

std::string Digest128::ToHex() const {
  return absl::StrFormat("%016x%016x", high, low);
}

Checksum64Builder::Checksum64Builder(uint64_t seed) : state_(XXH3_createState()) {
  HAFS_CHECK(state_ != nullptr);
  XXH3_64bits_reset_withSeed(static_cast<XXH3_state_t*>(state_), seed);
}

Checksum64Builder::~Checksum64Builder() {
  XXH3_freeState(static_cast<XXH3_state_t*>(state_));
}

void Checksum64Builder::Update(absl::string_view data) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data.data(),
                     data.size());
}

uint64_t Checksum64Builder::Finish() const {
  return XXH3_64bits_digest(static_cast<XXH3_state_t*>(state_));
}

}  // namespace hafs
