// File: libhafs/auth/keyring.h
// -----------------------------------------------------------------------------
// Shared-secret keys for peer and heartbeat authentication, in the spirit of
// Heartbeat's authkeys file: several keys identified by a numeric id are
// accepted (rotation), exactly one of them signs. HMAC-SHA256 via OpenSSL 3.
//
// authkeys file format (documented in docs/wire.md "authkeys"), one directive
// per line; '#' starts a comment; blank lines are ignored:
//
//   key <id> hmac-sha256 hex:<hex secret>       # or base64:<base64 secret>
//   sign <id>
//
// Ids are decimal 1..4294967295 (0 is reserved: "no key", used by mTLS mode).
// Secrets are at least 16 bytes (128 bits) after decoding, at most 1024.
// Exactly one `sign` line naming a defined key. The file must not be readable
// by group or others (like Heartbeat's authkeys, mode 600). Errors name
// file:line and never echo secret material.
//
// Thread-safety: a KeyRing is immutable after construction; all const methods
// may be called concurrently.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(KeyRing ring, KeyRing::LoadFile("/etc/hafs/authkeys"));
//   std::string mac = ring.Sign(data);                    // key ring.signing_key_id()
//   HAFS_RETURN_IF_ERROR(ring.Verify(key_id, data, mac));  // kNotFound / kUnauthenticated
#ifndef HAFS_LIBHAFS_AUTH_KEYRING_H_
#define HAFS_LIBHAFS_AUTH_KEYRING_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hafs::auth {

inline constexpr size_t kHmacSha256Bytes = 32;
inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kMaxSecretBytes = 1024;

// HMAC-SHA256(key, data): 32 raw bytes.
std::string HmacSha256(absl::string_view key, absl::string_view data);

// Compares in time that depends only on the lengths (CRYPTO_memcmp).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

struct Key {
  uint32_t id = 0;
  std::string secret;  // raw bytes
};

class KeyRing {
 public:
  // Validates ids (non-zero, distinct), secret sizes and that `signing_id` is
  // one of `keys`. kInvalidArgument otherwise.
  static absl::StatusOr<KeyRing> Create(std::vector<Key> keys,
                                        uint32_t signing_id);

  // Parses authkeys text; `filename` prefixes error messages ("file:line: ...").
  static absl::StatusOr<KeyRing> Parse(absl::string_view text,
                                       absl::string_view filename = "authkeys");

  // Reads and parses a file. kNotFound if missing, kPermissionDenied if it is
  // readable by group or others (hint: chmod 600), parse errors as Parse.
  static absl::StatusOr<KeyRing> LoadFile(const std::string& path);

  uint32_t signing_key_id() const { return signing_id_; }
  bool Has(uint32_t id) const { return keys_.count(id) != 0; }
  std::vector<uint32_t> key_ids() const;

  // HMAC-SHA256 of `data` with the signing key.
  std::string Sign(absl::string_view data) const;

  // HMAC-SHA256 of `data` with key `id`; kNotFound if the id is unknown.
  absl::StatusOr<std::string> Mac(uint32_t id, absl::string_view data) const;

  // OK iff `mac` is the HMAC of `data` under key `id` (constant-time compare).
  // kNotFound: unknown key id; kUnauthenticated: the MAC does not match.
  absl::Status Verify(uint32_t id, absl::string_view data,
                      absl::string_view mac) const;

 private:
  KeyRing() = default;
  std::map<uint32_t, std::string> keys_;
  uint32_t signing_id_ = 0;
};

}  // namespace hafs::auth

#endif  // HAFS_LIBHAFS_AUTH_KEYRING_H_
