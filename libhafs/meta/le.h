// File: libhafs/meta/le.h
// -----------------------------------------------------------------------------
// Explicit little-endian encoding helpers for the on-disk metadata formats
// (docs/formats.md). No struct memcpy: every field is put/got byte by byte, so
// the format does not depend on the host's endianness, padding or alignment.
// Thread-safety: pure functions.
//
// Example:
//   PutLe64(block + 16, sb.sequence);
//   uint64_t seq = GetLe64(block + 16);
#ifndef HAFS_LIBHAFS_META_LE_H_
#define HAFS_LIBHAFS_META_LE_H_

#include <cstdint>

namespace hafs::meta {

inline void PutLe32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
inline void PutLe64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
inline uint32_t GetLe32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline uint64_t GetLe64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace hafs::meta

#endif  // HAFS_LIBHAFS_META_LE_H_
