// File: libhafs/cluster/auth.h
// -----------------------------------------------------------------------------
// Authenticated heartbeat / membership envelopes (wire format: heartbeat.proto,
// docs/wire.md "Heartbeat envelope v1") and the authkeys file.
//
//   * Keys come from the node's shared `auth::KeyRing` (libhafs/auth, the
//     authkeys file): several numbered keys are accepted, one signs, so a key
//     is rotated by (1) adding it everywhere, (2) switching the signing key,
//     (3) removing the old one.
//   * `EnvelopeSigner` stamps sender, incarnation and a per-boot sequence and
//     MACs the body with the signing key.
//   * `EnvelopeVerifier` refuses (returns a Status, changes no state) anything
//     with a bad version, unknown key id, wrong MAC (constant-time compare),
//     wrong cluster or receiver, an old incarnation, or a replayed/too-old
//     sequence. Reordering within `replay_window` (e.g. over two links) is
//     accepted once per sequence number. Callers log the Status and drop the
//     message: nothing in a refused message is ever acted on.
//
// Pure: no clocks, no I/O.
// Thread-safety: none; one owner per object.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(auth::KeyRing keys, auth::KeyRing::LoadFile(path));
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
#include "libhafs/auth/keyring.h"
#include "libhafs/cluster/heartbeat.pb.h"

namespace hafs::cluster {

inline constexpr uint32_t kEnvelopeVersion = 1;

class EnvelopeSigner {
 public:
  // `incarnation` must be strictly greater than every previous boot's of this
  // node (e.g. a persisted boot counter or boot-time microseconds).
  EnvelopeSigner(const auth::KeyRing& keys, std::string cluster_name, uint32_t self,
                 uint64_t incarnation);

  // Fills body.cluster_name/sender/incarnation/seq and returns the serialized
  // Envelope. The sequence starts at 1.
  std::string Seal(wire::Body body);
  // Seq the next Seal() will use.
  uint64_t next_seq() const { return seq_ + 1; }
  void set_keys(const auth::KeyRing& keys) { keys_ = keys; }

 private:
  auth::KeyRing keys_;
  std::string cluster_;
  uint32_t self_;
  uint64_t incarnation_;
  uint64_t seq_ = 0;
};

class EnvelopeVerifier {
 public:
  // `replay_window` (1..1024): how far behind the highest seen sequence a
  // message may arrive and still be accepted (once).
  EnvelopeVerifier(const auth::KeyRing& keys, std::string cluster_name, uint32_t self,
                   uint32_t replay_window = 128);

  // Verifies and returns the body; on any refusal returns a Status and changes
  // nothing. Codes: kInvalidArgument (malformed, bad version), kNotFound
  // (unknown key id), kUnauthenticated (MAC mismatch), kPermissionDenied
  // (other cluster / receiver / sender is ourselves), kAlreadyExists (replay:
  // sequence already accepted), kOutOfRange (older than the window or an old
  // incarnation).
  absl::StatusOr<wire::Body> Open(absl::string_view bytes);
  void set_keys(const auth::KeyRing& keys) { keys_ = keys; }

 private:
  struct Replay {
    uint64_t incarnation = 0;
    uint64_t highest = 0;
    std::vector<bool> seen;  // seen[s % window] for s in (highest-window, highest]
  };
  auth::KeyRing keys_;
  std::string cluster_;
  uint32_t self_;
  uint32_t window_;
  std::map<uint32_t, Replay> replay_;
};

}  // namespace hafs::cluster

#endif  // HAFS_LIBHAFS_CLUSTER_AUTH_H_
