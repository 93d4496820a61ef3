// File: libhafs/peer/handshake.h
// -----------------------------------------------------------------------------
// The PeerService authentication exchange as a pure state machine (no I/O, no
// clock): frames in, frames out. Both ends of a Replicate stream run one
// Handshake; see docs/wire.md "Authentication" for the protocol.
//
//   1. Each side sends Hello (fresh 32-byte challenge, cluster, node, versions).
//   2. On the peer's Hello: check cluster name, expected node id, version
//      overlap, challenge freshness (never seen before, not our own) and, with
//      mTLS, that the peer's verified certificate names the claimed node. Then
//      send AuthProof{key_id, HMAC(key, "hafs-peer-auth-v1" || peer challenge
//      || own Hello bytes)} with the signing key.
//   3. On the peer's AuthProof: verify the MAC with the key it names (any key
//      of the ring: rotation) and send AuthResult{ok, agreed version}.
//   4. Authenticated when our check passed and the peer's AuthResult is ok.
// Any failed check sends AuthResult{ok=false, reason} and ends in kRefused;
// the caller logs the refusal (RefusalLogLine) and closes the stream. A peer's
// AuthResult{ok=false} ends in kRefusedByPeer. Anything else before
// authentication (e.g. a MirrorBatch) is a protocol violation (kRefused).
//
// "Own Hello bytes" are the canonical (deterministic, field-number order)
// proto serialization of the Hello as sent; the receiver re-serializes the
// parsed Hello, which yields the same bytes (unknown fields are kept).
//
// Thread-safety: Handshake is not thread-safe (one per stream, driven under the
// stream's lock). ChallengeRegistry is thread-safe and shared per node.
//
// Example:
//   Handshake hs(config, &registry, RandomChallenge(), "ipv4:127.0.0.1:4711");
//   Write(hs.Start());
//   while (hs.state() == Handshake::State::kPending)
//     for (Frame& f : hs.OnFrame(Read())) Write(f);
#ifndef HAFS_LIBHAFS_PEER_HANDSHAKE_H_
#define HAFS_LIBHAFS_PEER_HANDSHAKE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "libhafs/auth/keyring.h"
#include "libhafs/peer/peer.pb.h"
#include "libhafs/peer/transport.h"

namespace hafs::peer {

inline constexpr char kAuthLabel[] = "hafs-peer-auth-v1";
inline constexpr size_t kChallengeBytes = 32;
inline constexpr uint32_t kWireVersionMin = 1;
inline constexpr uint32_t kWireVersionMax = 1;

enum class AuthMode {
  kHmac,  // shared-secret challenge/response with the key ring
  kMtls,  // the TLS layer authenticated the peer's certificate
};

// Node-wide authentication settings, shared by the server and all transports.
struct PeerAuthConfig {
  std::string cluster_name;
  uint32_t node_id = 0;
  std::string node_name;
  uint64_t incarnation = 0;
  // The only node id accepted from the peer.
  uint32_t expected_peer_node_id = 1;
  uint32_t version_min = kWireVersionMin;
  uint32_t version_max = kWireVersionMax;
  AuthMode mode = AuthMode::kHmac;
  // Required for kHmac. With kMtls it is optional: when set, the HMAC proof is
  // required as well (defence in depth); when null, proofs carry key_id 0.
  std::shared_ptr<const auth::KeyRing> keys;
};

// Remembers recent challenges (ours and peers') to refuse reuse. Bounded FIFO.
class ChallengeRegistry {
 public:
  explicit ChallengeRegistry(size_t capacity = 1 << 16) : capacity_(capacity) {}
  // Returns false iff `challenge` was registered before (and still remembered).
  bool Register(const std::string& challenge) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const size_t capacity_;
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> seen_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);
};

// 32 bytes from OpenSSL's CSPRNG.
std::string RandomChallenge();

class Handshake {
 public:
  enum class State { kPending, kAuthenticated, kRefused, kRefusedByPeer };

  // `challenge` must be fresh random bytes (RandomChallenge()); tests pass
  // fixed ones. `peer_address` is only used in messages. `channel`: sent in our
  // Hello (client side). `accept_channel` (server side) is asked about the
  // peer's channel; returning false refuses with "unknown channel".
  Handshake(const PeerAuthConfig& config, ChallengeRegistry* registry,
            std::string challenge, std::string peer_address,
            std::string channel = "",
            std::function<bool(const std::string&)> accept_channel = nullptr);

  // The verified certificate names of the peer (CN and SANs) for kMtls; set
  // before the peer's Hello is processed.
  void SetTlsPeerNames(std::vector<std::string> names) {
    tls_peer_names_ = std::move(names);
  }

  // Our Hello. Call once, first.
  Frame Start();

  // Processes one received frame; returns the frames to send (in order).
  std::vector<Frame> OnFrame(const Frame& frame);

  State state() const { return state_; }
  // Valid in kAuthenticated.
  const PeerInfo& peer() const { return peer_; }
  // The peer's Hello (valid once received), e.g. for its channel.
  const Hello& peer_hello() const { return peer_hello_; }
  // Why we refused (kRefused) or why the peer refused us (kRefusedByPeer).
  const std::string& reason() const { return reason_; }
  // The one WARNING line the refusing side logs: peer address, claimed node
  // and reason.
  std::string RefusalLogLine() const;

 private:
  std::vector<Frame> Refuse(std::string reason);
  std::string CheckHello(const Hello& hello);
  std::vector<Frame> MaybeFinish();

  const PeerAuthConfig config_;
  ChallengeRegistry* const registry_;
  const std::string peer_address_;
  const std::function<bool(const std::string&)> accept_channel_;
  Hello own_hello_;
  std::string own_hello_bytes_;
  std::vector<std::string> tls_peer_names_;

  State state_ = State::kPending;
  bool started_ = false;
  bool have_peer_hello_ = false;
  bool peer_proof_ok_ = false;
  bool peer_result_ok_ = false;
  Hello peer_hello_;
  std::string peer_hello_bytes_;
  PeerInfo peer_;
  std::string reason_;
};

}  // namespace hafs::peer

#endif  // HAFS_LIBHAFS_PEER_HANDSHAKE_H_
