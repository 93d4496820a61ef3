// File: libhafs/peer/grpc_transport.h
// -----------------------------------------------------------------------------
// The real PeerService over gRPC 1.51's asynchronous API:
//
//   * PeerServer: one per node. Serves `Replicate` (bidi stream of Frame: the
//     authentication exchange, then MirrorBatch frames) and `Heartbeat` (unary;
//     the HeartbeatFrame is handed to a registered handler, the cluster
//     component's, and its answer is returned).
//   * GrpcTransport: the Transport port (transport.h) over one Replicate
//     stream. Who dials: the node with the lower node id dials the peer's
//     PeerServer; the higher one accepts the stream through its own PeerServer
//     (routed by Hello.channel). A new authenticated stream replaces an older
//     one on the accepting side (the dialer only dials when it has none, so
//     the old one is dead). The dialer retries every
//     TransportOptions::connect_interval (DRBD's connect-int) after a failed
//     attempt or a drop.
//   * Batching: queued MirrorMessages are coalesced into one MirrorBatch per
//     gRPC write, up to `max_batch_bytes` (at least one message per batch).
//     One write is in flight per stream; the next batch is formed when it
//     completes, so batches grow under load and stay single under light load.
//   * Back-pressure: bytes queued plus the batch being written count against
//     TransportOptions::max_queued_bytes (transport.h).
//   * PeerClient: an authenticated channel to the peer's PeerServer for unary
//     Heartbeat calls (the cluster component's gRPC heartbeat path).
//   * Threads: every call of a node (the streams it accepts and dials, the
//     heartbeats it serves and sends) completes on its PeerServer's one
//     completion queue, polled by one thread that runs the streams' reactions
//     and the owners' wake-up callbacks. gRPC hands a network event to
//     another thread whenever a second thread polls (its callback API runs
//     two), which cost a QD1 write tens of microseconds per message
//     (docs/benchmarks.md "Session 8"); nothing here uses that API.
//
// Authentication (handshake.h, docs/wire.md): HMAC challenge/response with the
// node's KeyRing, or mTLS (grpc::SslServerCredentials requiring and verifying
// a client certificate; the peer's certificate must name its node_name in CN
// or SAN). A refused peer gets AuthResult{ok=false, reason}; the refusing side
// logs one WARNING with peer address, claimed node and reason.
//
// Thread-safety: all public methods are thread-safe. Destructors block until
// their gRPC completions have run; never destroy from a wake-up callback or
// a heartbeat handler. Wake-up callbacks and heartbeat handlers run on the
// polling thread and must not block: while they run, no other call of the
// node makes progress.
//
// Example (node 0 dials node 1):
//   PeerServiceOptions o{.auth = auth_config};
//   HAFS_ASSIGN_OR_RETURN(auto server, PeerServer::Start(o, "[::]:7788"));
//   server->SetHeartbeatHandler(
//       [&](const HeartbeatFrame& in, const std::string& from) { return cluster.Handle(in); });
//   HAFS_ASSIGN_OR_RETURN(auto transport, GrpcTransport::Create(
//       server.get(), {.channel = "r0", .peer_address = "node1:7788"}));
//   transport->Connect();
#ifndef HAFS_LIBHAFS_PEER_GRPC_TRANSPORT_H_
#define HAFS_LIBHAFS_PEER_GRPC_TRANSPORT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libhafs/base/clock.h"
#include "libhafs/peer/handshake.h"
#include "libhafs/peer/peer.grpc.pb.h"
#include "libhafs/peer/peer.pb.h"
#include "libhafs/peer/transport.h"

namespace grpc {
template <class RequestType, class ResponseType>
class TemplatedGenericStub;
class ByteBuffer;
typedef TemplatedGenericStub<ByteBuffer, ByteBuffer> GenericStub;
class Channel;
class ChannelCredentials;
class ClientContext;
class CompletionQueue;
class Server;
class ServerCompletionQueue;
class ServerCredentials;
}  // namespace grpc

namespace hafs::peer {

// PEM files for mTLS (Security.tls_* in the config).
struct TlsFiles {
  std::string cert_file;  // this node's certificate (chain)
  std::string key_file;   // its private key
  std::string ca_file;    // CA bundle that signed the peer's certificate
  // Expected name in the server certificate when dialing by IP or another
  // name (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG); empty = the dialed host.
  std::string target_name_override;
};

struct PeerServiceOptions {
  PeerAuthConfig auth;
  // Required iff auth.mode == AuthMode::kMtls.
  TlsFiles tls;
  // gRPC's own dead-connection detection (HTTP/2 keepalive pings).
  absl::Duration keepalive_time = absl::Seconds(10);
  absl::Duration keepalive_timeout = absl::Seconds(6);
  // Largest Frame accepted or sent.
  int max_message_bytes = 256 << 20;
};

// Server or channel credentials for `options` (reads the PEM files).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const PeerServiceOptions& options);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const PeerServiceOptions& options);

class GrpcTransport;
class PeerServer;
namespace internal {
class StreamCore;

// The owner's wake-up callback, invoked without any transport lock held (the
// owner may run its whole event step in it, calling back into the transport).
// Set() returns once no other thread runs the previous callback any more, so
// the owner may be destroyed right after SetWakeup(nullptr).
class WakeupSlot {
 public:
  void Set(std::function<void()> fn);
  void Invoke();

 private:
  absl::Mutex mu_;
  std::function<void()> fn_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread::id> running_ ABSL_GUARDED_BY(mu_);  // threads inside fn
};
class ServiceImpl;
class AsyncStream;
class ServerStream;
class ClientStream;
class HeartbeatCall;
template <typename Call>
bool Accepted(bool ok, PeerServer* server);
}  // namespace internal

class PeerServer {
 public:
  // `from` is the caller's address ("ipv4:127.0.0.1:40000").
  using HeartbeatHandler = std::function<absl::StatusOr<HeartbeatFrame>(
      const HeartbeatFrame& in, const std::string& from)>;

  // Listens on `listen_address` ("127.0.0.1:0" picks a free port; see port()).
  static absl::StatusOr<std::unique_ptr<PeerServer>> Start(PeerServiceOptions options,
                                                           const std::string& listen_address);
  ~PeerServer();  // Shutdown()

  // The bound port.
  int port() const { return port_; }
  const PeerServiceOptions& options() const { return options_; }
  ChallengeRegistry* challenges() { return &challenges_; }

  // Installs (or with nullptr removes) the handler for Heartbeat calls.
  void SetHeartbeatHandler(HeartbeatHandler handler);

  // Cancels all streams and calls (also the ones this node made through its
  // transports and PeerClients) and stops serving. Idempotent. Blocks until
  // every call has completed and the polling thread has ended; never call it
  // from that thread (a wake-up callback or a heartbeat handler).
  void Shutdown();

 private:
  friend class GrpcTransport;
  friend class PeerClient;
  friend class internal::StreamCore;
  friend class internal::AsyncStream;
  friend class internal::ServerStream;
  friend class internal::ClientStream;
  friend class internal::HeartbeatCall;
  template <typename Call>
  friend bool internal::Accepted(bool ok, PeerServer* server);
  PeerServer(PeerServiceOptions options);

  // The polling thread: runs every completion of every call of this node.
  void Poll();
  grpc::CompletionQueue* cq();
  internal::ServiceImpl* service() { return service_.get(); }
  // Runs `request` (which asks gRPC for the next incoming call) with the
  // completion queue, unless shut down (then returns false).
  bool RequestCall(absl::FunctionRef<void(grpc::ServerCompletionQueue*)> request);
  // A call starts (false once shut down: start nothing) and ends after its
  // last completion; `client` is the context of a call we make, cancelled
  // by Shutdown, or nullptr for a call we serve.
  bool BeginCall(grpc::ClientContext* client);
  void EndCall(grpc::ClientContext* client);

  // Accepting transports, by channel.
  void Register(const std::string& channel, GrpcTransport* t);
  void Unregister(const std::string& channel, GrpcTransport* t);
  // Called from a stream's handshake: the accepting transport for `channel`,
  // or nullptr (refused). Binds the stream to it.
  bool AcceptChannel(const std::string& channel, internal::StreamCore* core);
  // Called from a stream refused before it was bound to a transport (e.g. a
  // Hello from another cluster): the transport of the channel the Hello named
  // reports a failed attempt. Returns its owner's wake-up slot, to invoke with
  // no lock held, or nullptr.
  std::shared_ptr<internal::WakeupSlot> ReportRefusedAttempt(const std::string& channel,
                                                             const absl::Status& why);
  absl::StatusOr<HeartbeatFrame> HandleHeartbeat(const HeartbeatFrame& in,
                                                 const std::string& from);

  const PeerServiceOptions options_;
  ChallengeRegistry challenges_;
  std::unique_ptr<internal::ServiceImpl> service_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<grpc::Server> server_;
  std::thread poller_;
  int port_ = 0;
  absl::Mutex mu_;
  int live_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<grpc::ClientContext*> client_calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, GrpcTransport*> channels_ ABSL_GUARDED_BY(mu_);
  HeartbeatHandler heartbeat_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

// An authenticated channel to a peer's PeerServer for unary calls.
class PeerClient {
 public:
  // `reconnect` bounds gRPC's reconnect backoff of the channel.
  // `server` is this node's (it must outlive the client): its identity and
  // credentials, and its polling thread runs the calls' completions.
  static absl::StatusOr<std::unique_ptr<PeerClient>> Create(
      PeerServer* server, const std::string& address, absl::Duration reconnect = absl::Seconds(1));
  ~PeerClient();
  // Sends one heartbeat; `done` runs on the server's polling thread with the
  // peer's answer or the gRPC error mapped to absl::Status (kDeadlineExceeded
  // after `timeout`, kUnavailable when the peer is unreachable). Once this
  // node's PeerServer is shut down, `done` runs at once, on this thread, with
  // kUnavailable.
  void Heartbeat(const HeartbeatFrame& frame, absl::Duration timeout,
                 std::function<void(absl::StatusOr<HeartbeatFrame>)> done);
  // Blocking convenience wrapper (not for the polling thread).
  absl::StatusOr<HeartbeatFrame> HeartbeatSync(const HeartbeatFrame& frame,
                                              absl::Duration timeout);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  PeerService::Stub* stub() { return stub_.get(); }
  // For the Replicate stream, whose frames frame_codec.h (de)serializes.
  grpc::GenericStub* generic_stub() { return generic_stub_.get(); }

 private:
  explicit PeerClient(PeerServer* server);
  PeerServer* const server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<PeerService::Stub> stub_;
  std::unique_ptr<grpc::GenericStub> generic_stub_;
};

struct GrpcTransportOptions {
  TransportOptions transport;
  // Hello.channel of this stream (e.g. the volume name); both nodes must use
  // the same value.
  std::string channel;
  // Where the peer's PeerServer listens; required on the dialing node (the
  // lower node id), ignored on the accepting one.
  std::string peer_address;
  // Upper bound of one MirrorBatch (a single larger message is sent alone).
  size_t max_batch_bytes = 1 << 20;
  // A stream not authenticated within this time is closed.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // For timers (reconnect, handshake timeout); nullptr = Clock::System().
  Clock* clock = nullptr;
};

class GrpcTransport final : public Transport {
 public:
  // `server` is this node's PeerServer (must outlive the transport); it
  // provides the identity, keys and credentials. Dials iff our node id is
  // lower than the expected peer's.
  static absl::StatusOr<std::unique_ptr<GrpcTransport>> Create(PeerServer* server,
                                                               GrpcTransportOptions options);
  ~GrpcTransport() override;

  void Connect() override;
  void Disconnect() override;
  absl::Status Send(ConnectionId connection, MirrorMessage message) override;
  absl::Status SendBatch(ConnectionId connection, std::deque<MirrorMessage>* messages) override;
  std::vector<TransportEvent> TakeEvents() override;
  void SetWakeup(std::function<void()> wakeup) override;
  size_t QueuedBytes() override;

  bool dialer() const { return dialer_; }

  // MirrorBatch frames written on the current connection (for tests/metrics).
  uint64_t BatchesSent();

  // Internal, called by streams (public for the implementation's helper
  // classes; not part of the API). The OnStream* calls queue events and
  // return whether the owner should be woken; the stream invokes
  // wakeup_slot() after it released its own locks.
  // The stream closes itself (`reject`) and the stream it replaced after
  // this returns: aborting a stream takes its lock, which must not be taken
  // under the owner lock held around these calls (the accept path takes the
  // two the other way round).
  struct AuthOutcome {
    bool wake = false;
    bool reject = false;
    std::shared_ptr<internal::StreamCore> replaced;
  };
  AuthOutcome OnStreamAuthenticated(const std::shared_ptr<internal::StreamCore>& core,
                                    const PeerInfo& peer);
  struct Received {
    MirrorMessage message;
    Payload payload;
  };
  bool OnStreamMessages(internal::StreamCore* core, std::vector<Received> messages);
  bool OnStreamWritable(internal::StreamCore* core);
  // `authenticated`: the stream got past authentication (else it was a
  // failed attempt).
  bool OnStreamDone(internal::StreamCore* core, const absl::Status& status, bool authenticated);
  const std::shared_ptr<internal::WakeupSlot>& wakeup_slot() const { return wakeup_; }
  bool WantsConnection();
  // A kConnectFailed for an attempt refused before it reached this transport
  // (while it waits for a connection); returns the wake-up slot or nullptr.
  std::shared_ptr<internal::WakeupSlot> OnRefusedAttempt(const absl::Status& why);
  void StreamStarted(internal::StreamCore* core);

 private:
  GrpcTransport(PeerServer* server, GrpcTransportOptions options, bool dialer);
  void Dial() ABSL_LOCKS_EXCLUDED(mu_);
  void ScheduleRedial() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PushLocked(TransportEvent e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Wake() ABSL_LOCKS_EXCLUDED(mu_);

  PeerServer* const server_;
  const GrpcTransportOptions options_;
  const bool dialer_;
  Clock* const clock_;
  std::unique_ptr<PeerClient> client_;  // dialer only

  absl::Mutex mu_;
  bool wants_ ABSL_GUARDED_BY(mu_) = false;
  bool destroying_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<internal::StreamCore> current_ ABSL_GUARDED_BY(mu_);  // authenticated
  ConnectionId conn_id_ ABSL_GUARDED_BY(mu_) = 0;
  // The dialed stream (dialer only), from the dial until it is done.
  std::shared_ptr<internal::StreamCore> dialed_ ABSL_GUARDED_BY(mu_);
  Clock::TimerId redial_timer_ ABSL_GUARDED_BY(mu_) = 0;
  // Every stream bound to this transport; detached on destruction.
  std::vector<std::weak_ptr<internal::StreamCore>> bound_ ABSL_GUARDED_BY(mu_);
  struct Token {
    absl::Mutex mu;
    GrpcTransport* transport ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<Token> token_;
  std::vector<TransportEvent> events_ ABSL_GUARDED_BY(mu_);
  const std::shared_ptr<internal::WakeupSlot> wakeup_;
};

}  // namespace hafs::peer

#endif  // HAFS_LIBHAFS_PEER_GRPC_TRANSPORT_H_
