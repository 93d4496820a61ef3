// File: libhafs/cluster/auth.h
// -----------------------------------------------------------------------------
// Authenticated heartbeat / membership envelopes (wire format: heartbeat.proto,
// docs/wire.md "Heartbeat envelope v1") and the authkeys file.
//
//   * `Authkeys`: Heartbeat's authkeys idea adapted to HMAC-SHA256: several
//     numbered keys are accepted, `auth N` picks the one used for signing, so a
//     key is rotated by (1) adding it everywhere, (2) switching `auth`, (3)
//     removing the old one.
//   * `EnvelopeSigner` stamps sender, incarnation and a per-boot sequence and
//     MACs the body with the signing key.
//   * `EnvelopeVerifier` refuses (returns a Status, changes no state) anything
//     with a bad version, unknown key id, wrong MAC (constant-time compare),
//     wrong cluster or receiver, an old incarnation, or a replayed/too-old
//     sequence. Reordering within `replay_window` (e.g. over two links) is
//     accepted once per sequence number. Callers log the Status and drop the
//     message: nothing in a refused message is ever acted on.
//
// Pure: no clocks, no I/O (except LoadAuthkeysFile).
// Thread-safety: none; one owner per object.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(Authkeys keys, LoadAuthkeysFile("/etc/hafs/authkeys"));
//   EnvelopeSigner signer(keys, "nfs", /*self=*/1, incarnation);
//   std::string bytes = signer.Seal(body);          // to the wire
//   EnvelopeVerifier verifier(keys, "nfs", /*self=*/2);
//   absl::StatusOr<wire::Body> b = verifier.Open(bytes);
//   if (!b.ok()) HAFS_LOG(WARNING) << "refused heartbeat: " << b.status();
#ifndef HAFS_LIBHAFS_CLUSTER_AUTH_H_
#define HAFS_LIBHAFS_CLUSTER_AUTH_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libhafs/cluster/heartbeat.pb.h"

namespace hafs::cluster {

inline constexpr uint32_t kEnvelopeVersion = 1;
inline constexpr size_t kMacSize = 32;
inline constexpr size_t kMinKeyBytes = 16;

// HMAC-SHA256(key, data) through OpenSSL 3.
std::string HmacSha256(absl::string_view key, absl::string_view data);

class Authkeys {
 public:
  // Parses the authkeys format (docs/wire.md "authkeys file"):
  //   # comment
  //   auth 2
  //   1 hmac-sha256 <secret of >= 16 bytes, rest of the line>
  //   2 hmac-sha256 hex:<even number of hex digits, >= 16 bytes>
  // Errors are kInvalidArgument "<filename>:<line>: what; hint".
  static absl::StatusOr<Authkeys> Parse(absl::string_view filename,
                                        absl::string_view text);
  // For tests and programmatic use. REQUIRES nothing; validates like Parse.
  static absl::StatusOr<Authkeys> FromKeys(std::map<uint32_t, std::string> keys,
                                           uint32_t signing_key_id);

  uint32_t signing_key_id() const { return signing_; }
  // nullptr if `id` is not an accepted key.
  const std::string* Find(uint32_t id) const;
  size_t size() const { return keys_.size(); }

 private:
  std::map<uint32_t, std::string> keys_;
  uint32_t signing_ = 0;
};

// Reads and parses an authkeys file; refuses (kPermissionDenied) a file that
// group or others can read or write, like Heartbeat (mode must be 0600/0400).
absl::StatusOr<Authkeys> LoadAuthkeysFile(const std::string& path);

class EnvelopeSigner {
 public:
  // `incarnation` must be strictly greater than every previous boot's of this
  // node (e.g. a persisted boot counter or boot-time microseconds).
  EnvelopeSigner(const Authkeys& keys, std::string cluster_name, uint32_t self,
                 uint64_t incarnation);

  // Fills body.cluster_name/sender/incarnation/seq and returns the serialized
  // Envelope. The sequence starts at 1.
  std::string Seal(wire::Body body);
  // Seq the next Seal() will use.
  uint64_t next_seq() const { return seq_ + 1; }
  void set_keys(const Authkeys& keys) { keys_ = keys; }

 private:
  Authkeys keys_;
  std::string cluster_;
  uint32_t self_;
  uint64_t incarnation_;
  uint64_t seq_ = 0;
};

class EnvelopeVerifier {
 public:
  // `replay_window` (1..1024): how far behind the highest seen sequence a
  // message may arrive and still be accepted (once).
  EnvelopeVerifier(const Authkeys& keys, std::string cluster_name, uint32_t self,
                   uint32_t replay_window = 128);

  // Verifies and returns the body; on any refusal returns a Status and changes
  // nothing. Codes: kInvalidArgument (malformed, bad version), kNotFound
  // (unknown key id), kUnauthenticated (MAC mismatch), kPermissionDenied
  // (other cluster / receiver / sender is ourselves), kAlreadyExists (replay:
  // sequence already accepted), kOutOfRange (older than the window or an old
  // incarnation).
  absl::StatusOr<wire::Body> Open(absl::string_view bytes);
  void set_keys(const Authkeys& keys) { keys_ = keys; }

 private:
  struct Replay {
    uint64_t incarnation = 0;
    uint64_t highest = 0;
    std::vector<bool> seen;  // seen[s % window] for s in (highest-window, highest]
  };
  Authkeys keys_;
  std::string cluster_;
  uint32_t self_;
  uint32_t window_;
  std::map<uint32_t, Replay> replay_;
};

}  // namespace hafs::cluster

#endif  // HAFS_LIBHAFS_CLUSTER_AUTH_H_
