// File: libhafs/witness/witness_service.h
// -----------------------------------------------------------------------------
// hafs-witness: the gRPC service around the pure WitnessArbiter
// (libhafs/cluster/witness.h), and the client hafsd uses to ask for the vote.
//
// WitnessCore (no gRPC; unit-testable): verifies each request Envelope with
// cluster::EnvelopeVerifier (authkeys HMAC, cluster name, receiver = witness
// id, per-node incarnation/sequence replay window), then additionally refuses
// any (incarnation, seq) not above the highest one accepted from that node,
// persisted in the state file so that a replay is refused after a witness
// restart too. Accepted requests go to the arbiter; the caller blocks until
// its decision (the arbiter collects competing requests for its decision
// window) and gets a signed reply Envelope.
// State file (docs/cluster.md "Witness state file v1"): term, last holder,
// each node's latest term and replay high-water marks; written to
// <path>.tmp, fsync'ed, renamed over <path> (then the directory fsync'ed)
// whenever it changes; an XXH3-64 checksum line guards it. A restarted
// witness loads it and keeps its term sequence; the arbiter stays quiet for
// one lease after start (grants of its previous life have expired by then).
//
// Thread-safety: WitnessCore::Handle may be called from many threads (one
// mutex); WitnessClient::Ask from one thread at a time.
//
// Example (server):
//   HAFS_ASSIGN_OR_RETURN(auto core, WitnessCore::Create(opts, keys, Clock::System()));
//   HAFS_ASSIGN_OR_RETURN(auto server, WitnessServer::Start("0.0.0.0:7790", core.get()));
// Example (node):
//   WitnessClient c(address, keys, "nfs", /*self=*/1, incarnation, /*witness_id=*/100);
//   HAFS_ASSIGN_OR_RETURN(cluster::wire::WitnessReply r, c.Ask(req, absl::Seconds(2)));
#ifndef HAFS_LIBHAFS_WITNESS_WITNESS_SERVICE_H_
#define HAFS_LIBHAFS_WITNESS_WITNESS_SERVICE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libhafs/auth/keyring.h"
#include "libhafs/base/clock.h"
#include "libhafs/cluster/auth.h"
#include "libhafs/cluster/heartbeat.pb.h"
#include "libhafs/cluster/witness.h"

namespace grpc {
class Server;
class Channel;
}  // namespace grpc

namespace hafs::witness {

inline constexpr uint32_t kDefaultWitnessId = 100;

// Everything the witness persists.
struct PersistedState {
  cluster::WitnessState arbiter;
  struct Seen {
    uint64_t incarnation = 0;
    uint64_t seq = 0;
  };
  std::map<uint32_t, Seen> seen;  // per node: highest accepted (incarnation, seq)
};
std::string SerializeState(const PersistedState& s);
// kDataLoss on a bad checksum / version / syntax, naming the line.
absl::StatusOr<PersistedState> ParseState(const std::string& text);
// Missing file = empty state.
absl::StatusOr<PersistedState> LoadStateFile(const std::string& path);
absl::Status SaveStateFile(const std::string& path, const PersistedState& s);

struct WitnessCoreOptions {
  std::string cluster_name;
  uint32_t witness_id = kDefaultWitnessId;
  cluster::WitnessOptions arbiter;
  std::string state_file;  // required
  // Longest a request waits for its decision (the RPC deadline may cut it).
  absl::Duration max_wait = absl::Seconds(30);
};

class WitnessCore {
 public:
  static absl::StatusOr<std::unique_ptr<WitnessCore>> Create(const WitnessCoreOptions& opts,
                                                              const auth::KeyRing& keys,
                                                              Clock* clock);
  // Envelope in, signed reply Envelope out; a Status when refused (nothing
  // of a refused request reaches the arbiter). `wait_limit`: the caller's
  // deadline (kDeadlineExceeded if no decision by then).
  absl::StatusOr<std::string> Handle(const std::string& envelope_bytes,
                                     absl::Duration wait_limit);

  uint64_t term();
  void set_keys(const auth::KeyRing& keys);

 private:
  WitnessCore(const WitnessCoreOptions& opts, const auth::KeyRing& keys, Clock* clock,
              PersistedState st);
  void Deliver(const std::vector<cluster::WitnessDecision>& ds) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Persist() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  WitnessCoreOptions opts_;
  Clock* clock_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  cluster::EnvelopeVerifier verifier_ ABSL_GUARDED_BY(mu_);
  cluster::EnvelopeSigner signer_ ABSL_GUARDED_BY(mu_);
  cluster::WitnessArbiter arbiter_ ABSL_GUARDED_BY(mu_);
  PersistedState persisted_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<uint32_t, uint64_t>, cluster::WitnessDecision> decided_ ABSL_GUARDED_BY(mu_);
};

// The gRPC server (insecure transport: the envelopes carry the
// authentication; run it on a management network).
class WitnessServer {
 public:
  // `address` "host:port" (port 0 = pick one; see port()).
  static absl::StatusOr<std::unique_ptr<WitnessServer>> Start(const std::string& address,
                                                              WitnessCore* core);
  ~WitnessServer();
  int port() const { return port_; }
  void Shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

class WitnessClient {
 public:
  WitnessClient(const std::string& address, const auth::KeyRing& keys, std::string cluster_name,
                uint32_t self, uint64_t incarnation, uint32_t witness_id = kDefaultWitnessId);
  ~WitnessClient();
  // Sends the request, verifies the reply (signature, receiver, request seq).
  // gRPC failures come back as the matching absl code with the server's reason.
  absl::StatusOr<cluster::wire::WitnessReply> Ask(const cluster::wire::WitnessRequest& req,
                                                  absl::Duration timeout);
  // The raw envelope of the last request (for replay tests).
  const std::string& last_request() const { return last_request_; }
  // Sends raw bytes (tests: replays, tampering).
  absl::StatusOr<std::string> SendRaw(const std::string& envelope, absl::Duration timeout);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  cluster::EnvelopeSigner signer_;
  cluster::EnvelopeVerifier verifier_;
  uint32_t witness_id_;
  std::string last_request_;
};

}  // namespace hafs::witness

#endif  // HAFS_LIBHAFS_WITNESS_WITNESS_SERVICE_H_
