#include "libhafs/peer/grpc_transport.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <algorithm>
#include <deque>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/io/buffer_pool.h"
#include "libhafs/peer/frame_codec.h"

namespace hafs::peer {

namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("mTLS: no ", what, " file configured (security.tls_", what, "_file)"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("mTLS: cannot read ", what, " file ", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("mTLS: ", what, " file ", path, " contains no PEM block"));
  }
  return ss.str();
}

int Ms(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

grpc::ChannelArguments ChannelArgs(const PeerServiceOptions& o, absl::Duration reconnect) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(o.max_message_bytes);
  args.SetMaxSendMessageSize(o.max_message_bytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, Ms(o.keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Ms(o.keepalive_timeout));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  int r = std::max(1, Ms(reconnect));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, r);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, r);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, r);
  // A private subchannel per channel, so that one transport's reconnects do not
  // share state with another's.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (o.auth.mode == AuthMode::kMtls && !o.tls.target_name_override.empty()) {
    args.SetSslTargetNameOverride(o.tls.target_name_override);
  }
  return args;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const PeerServiceOptions& o) {
  if (o.auth.mode != AuthMode::kMtls) return grpc::InsecureServerCredentials();
  HAFS_ASSIGN_OR_RETURN(std::string cert, ReadPem(o.tls.cert_file, "cert"));
  HAFS_ASSIGN_OR_RETURN(std::string key, ReadPem(o.tls.key_file, "key"));
  HAFS_ASSIGN_OR_RETURN(std::string ca, ReadPem(o.tls.ca_file, "ca"));
  grpc::SslServerCredentialsOptions ssl(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = ca;
  ssl.pem_key_cert_pairs.push_back({key, cert});
  return grpc::SslServerCredentials(ssl);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const PeerServiceOptions& o) {
  if (o.auth.mode != AuthMode::kMtls) return grpc::InsecureChannelCredentials();
  HAFS_ASSIGN_OR_RETURN(std::string cert, ReadPem(o.tls.cert_file, "cert"));
  HAFS_ASSIGN_OR_RETURN(std::string key, ReadPem(o.tls.key_file, "key"));
  HAFS_ASSIGN_OR_RETURN(std::string ca, ReadPem(o.tls.ca_file, "ca"));
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca;
  ssl.pem_private_key = key;
  ssl.pem_cert_chain = cert;
  return grpc::SslCredentials(ssl);
}

namespace internal {

std::vector<std::string> TlsNames(const std::shared_ptr<const grpc::AuthContext>& ctx) {
  std::vector<std::string> names;
  if (ctx == nullptr) return names;
  for (const char* prop : {"x509_common_name", "x509_subject_alternative_name"}) {
    for (const grpc::string_ref& v : ctx->FindPropertyValues(prop)) {
      names.emplace_back(v.data(), v.size());
    }
  }
  return names;
}

// The reactor side of a stream (client or server).
class StreamIo {
 public:
  virtual ~StreamIo() = default;
  virtual void IoWrite(const grpc::ByteBuffer* f) = 0;
  virtual void IoWritesDone() = 0;  // client graceful close; server: no-op (Finish follows)
  virtual void IoRead(grpc::ByteBuffer* f) = 0;
  virtual void IoCancel() = 0;
  virtual void IoFinal(const absl::Status& status) = 0;  // client RemoveHold / server Finish
  virtual bool IsClient() const = 0;
  virtual std::vector<std::string> TlsPeerNames() = 0;
};

// Transport-independent half of one Replicate stream: handshake, batching,
// back-pressure and the close protocol. See the file comment of the header.
class StreamCore : public std::enable_shared_from_this<StreamCore> {
 public:
  enum class Phase { kHandshake, kOpen, kClosing, kDone };

  StreamCore(PeerServer* server, std::string peer_address, std::string channel,
             bool is_client, size_t max_batch_bytes, size_t max_queued_bytes,
             Clock* clock, absl::Duration handshake_timeout)
      : server_(server),
        peer_address_(peer_address),
        max_batch_bytes_(max_batch_bytes),
        max_queued_bytes_(max_queued_bytes),
        clock_(clock),
        handshake_timeout_(handshake_timeout),
        hs_(server->options().auth, server->challenges(), RandomChallenge(),
            std::move(peer_address), std::move(channel),
            is_client ? std::function<bool(const std::string&)>(nullptr)
                      : [this](const std::string& ch) {
                          return server_->AcceptChannel(ch, this);
                        }) {}

  void SetIo(StreamIo* io) { io_ = io; }

  void BindOwner(GrpcTransport* owner) {
    absl::WriterMutexLock l(&owner_mu_);
    owner_ = owner;
    if (owner_ != nullptr) owner_->StreamStarted(this);
  }
  void Detach() {
    absl::WriterMutexLock l(&owner_mu_);
    owner_ = nullptr;
  }

  // Called by the reactor's constructor, before any reaction can run.
  void Start() {
    const grpc::ByteBuffer* w = nullptr;
    {
      absl::MutexLock l(&mu_);
      control_.push_back(hs_.Start());
      w = PrepareWriteLocked();
    }
    io_->IoRead(&read_bytes_);
    if (w != nullptr) io_->IoWrite(w);
    std::weak_ptr<StreamCore> weak = weak_from_this();
    clock_->ScheduleAfter(handshake_timeout_, [weak, t = handshake_timeout_] {
      if (auto core = weak.lock()) {
        bool stuck;
        {
          absl::MutexLock l(&core->mu_);
          stuck = core->phase_ == Phase::kHandshake || core->phase_ == Phase::kClosing;
        }
        if (stuck) {
          core->Abort(absl::DeadlineExceededError(absl::StrCat(
              "peer ", core->peer_address_, ": authentication not completed within ",
              absl::FormatDuration(t))));
        }
      }
    });
  }

  // Transport::SendBatch on this stream: everything accepted is queued
  // before the next write starts, so it leaves in one frame where it fits.
  absl::Status Enqueue(std::deque<MirrorMessage>* messages) {
    const grpc::ByteBuffer* w = nullptr;
    absl::Status s;
    {
      absl::MutexLock l(&mu_);
      if (phase_ != Phase::kOpen) {
        return absl::UnavailableError(
            absl::StrCat("stream to ", peer_address_, " is closing"));
      }
      while (!messages->empty()) {
        MirrorMessage& m = messages->front();
        const size_t bytes = m.ByteSizeLong();
        const size_t queued = queued_bytes_ + writing_bytes_;
        if (queued > 0 && queued + bytes > max_queued_bytes_) {
          refused_ = true;
          s = absl::ResourceExhaustedError(absl::StrCat(
              "send queue full: ", queued, " bytes queued + ", bytes, " > max_queued_bytes ",
              max_queued_bytes_, "; retry after a Writable event"));
          break;
        }
        queued_bytes_ += bytes;
        data_.push_back({std::move(m), bytes});
        messages->pop_front();
      }
      w = PrepareWriteLocked();
      if (w != nullptr) ++external_ops_;
    }
    if (w != nullptr) {
      io_->IoWrite(w);
      EndExternal();
    }
    return s;
  }

  uint64_t batches() {
    absl::MutexLock l(&mu_);
    return batches_;
  }

  size_t QueuedBytes() {
    absl::MutexLock l(&mu_);
    return queued_bytes_ + writing_bytes_;
  }

  // Closes now: cancels the RPC (pending writes fail) and finishes.
  void Abort(absl::Status why) {
    {
      absl::MutexLock l(&mu_);
      if (phase_ == Phase::kDone || final_done_ || cancelled_) return;
      if (phase_ != Phase::kClosing) close_status_ = why;
      phase_ = Phase::kClosing;
      cancelled_ = true;
      data_.clear();
      control_.clear();
      queued_bytes_ = 0;
      ++external_ops_;
    }
    io_->IoCancel();
    EndExternal();
  }

  // --- reactions ---

  void OnWriteDone(bool ok) {
    const grpc::ByteBuffer* w = nullptr;
    bool writable = false, writes_done = false, final = false;
    absl::Status final_status;
    {
      absl::MutexLock l(&mu_);
      write_in_flight_ = false;
      writing_bytes_ = 0;
      if (!ok && phase_ != Phase::kClosing) {
        phase_ = Phase::kClosing;
        close_status_ = absl::UnavailableError(
            absl::StrCat("write to peer ", peer_address_, " failed (stream broken)"));
      }
      if (refused_ && phase_ == Phase::kOpen && queued_bytes_ <= max_queued_bytes_ / 2) {
        refused_ = false;
        writable = true;
      }
      w = PrepareWriteLocked();
      if (w == nullptr) writes_done = WantWritesDoneLocked();
      if (w == nullptr && !writes_done) final = WantFinalLocked(&final_status);
    }
    std::shared_ptr<WakeupSlot> wake;
    if (writable) wake = CallOwner([&](GrpcTransport* o) { return o->OnStreamWritable(this); });
    if (w != nullptr) io_->IoWrite(w);
    if (writes_done) io_->IoWritesDone();
    if (final) io_->IoFinal(final_status);
    WakeOwner(wake);
  }

  void OnReadDone(bool ok) {
    if (!ok) {
      {
        absl::MutexLock l(&mu_);
        read_finished_ = true;
        if (phase_ != Phase::kClosing) {
          close_status_ = absl::UnavailableError(
              absl::StrCat("stream closed by peer ", peer_address_));
        }
      }
      Abort(absl::UnavailableError("stream closed by peer"));
      MaybeFinal();
      return;
    }
    // The frame is decoded before any lock is taken (the payloads' one copy).
    // read_buf_ and read_bytes_ belong to the one read in flight.
    const absl::Status decoded =
        DecodeFrame(&read_bytes_, &payload_pool_, &read_buf_, &read_payloads_);
    std::vector<Received> messages;
    bool authenticated = false;
    std::optional<absl::Status> refused;  // we refused the peer, or it refused us
    std::string refused_channel;          // the channel the peer's Hello named
    PeerInfo peer;
    const grpc::ByteBuffer* w = nullptr;
    bool abort = false;
    bool reread = true;
    {
      absl::MutexLock l(&mu_);
      if (!decoded.ok()) {
        HAFS_LOG(WARNING) << "peer " << peer_address_ << ": " << decoded.message()
                          << "; closing the stream";
        if (phase_ != Phase::kClosing) {
          close_status_ =
              absl::InternalError(absl::StrCat("protocol violation by peer: ", decoded.message()));
        }
        abort = true;
      } else if (phase_ == Phase::kHandshake) {
        if (read_buf_.has_hello() && server_->options().auth.mode == AuthMode::kMtls) {
          hs_.SetTlsPeerNames(io_->TlsPeerNames());
        }
        for (Frame& f : hs_.OnFrame(read_buf_)) control_.push_back(std::move(f));
        switch (hs_.state()) {
          case Handshake::State::kPending:
            break;
          case Handshake::State::kAuthenticated:
            phase_ = Phase::kOpen;
            authenticated = true;
            authenticated_ = true;
            peer = hs_.peer();
            break;
          case Handshake::State::kRefused:
            HAFS_LOG(WARNING) << hs_.RefusalLogLine();
            phase_ = Phase::kClosing;
            close_status_ = absl::PermissionDeniedError(hs_.reason());
            refused = close_status_;
            refused_channel = hs_.peer_hello().channel();
            break;
          case Handshake::State::kRefusedByPeer:
            HAFS_LOG(WARNING) << hs_.reason();
            phase_ = Phase::kClosing;
            close_status_ = absl::UnauthenticatedError(hs_.reason());
            refused = close_status_;
            refused_channel = hs_.peer_hello().channel();
            break;
        }
      } else if (phase_ == Phase::kOpen) {
        if (read_buf_.has_batch()) {
          MirrorBatch* b = read_buf_.mutable_batch();
          messages.reserve(b->messages_size());
          for (int i = 0; i < b->messages_size(); ++i) {
            messages.push_back({std::move(*b->mutable_messages(i)), std::move(read_payloads_[i])});
          }
        } else {
          HAFS_LOG(WARNING) << "peer " << peer_address_
                            << ": protocol violation: frame case " << read_buf_.body_case()
                            << " after authentication; closing the stream";
          close_status_ = absl::InternalError("protocol violation by peer");
          abort = true;
        }
      }
      reread = phase_ != Phase::kDone && !abort;
      w = PrepareWriteLocked();
      if (w != nullptr) ++external_ops_;
      ++external_ops_;  // the RPC is not finished before the next read starts
    }
    if (w != nullptr) {
      io_->IoWrite(w);
      EndExternal();
    }
    // Events are queued before the next read is started (so they stay in
    // order).
    std::shared_ptr<WakeupSlot> wake;
    if (authenticated) {
      std::shared_ptr<StreamCore> self = shared_from_this();
      GrpcTransport::AuthOutcome out;
      wake = CallOwner([&](GrpcTransport* o) {
        out = o->OnStreamAuthenticated(self, peer);
        return out.wake;
      });
      if (out.replaced != nullptr) {
        out.replaced->Abort(absl::AbortedError("replaced by a newer stream"));
      }
      if (out.reject) Abort(absl::CancelledError("transport is not connecting"));
    }
    if (!messages.empty()) {
      std::shared_ptr<WakeupSlot> w = CallOwner(
          [&](GrpcTransport* o) { return o->OnStreamMessages(this, std::move(messages)); });
      if (w != nullptr) wake = std::move(w);
    }
    if (refused.has_value() && !io_->IsClient() && !HasOwner()) {
      // Refused before the stream was bound to a transport (e.g. a Hello from
      // another cluster): tell the transport of the channel it named, so its
      // owner's status says why the peer does not connect.
      wake = server_->ReportRefusedAttempt(
          refused_channel,
          absl::Status(refused->code(), absl::StrCat("a connection from ", peer_address_,
                                                     " was refused: ", refused->message())));
    }
    if (abort) {
      Abort(absl::InternalError("protocol violation by peer"));
      reread = true;  // keep the read side going until the RPC ends
    }
    // The owner runs first (the wake-up usually runs its step on this thread):
    // starting the next read costs this thread 10-20 us inside gRPC, which a
    // waiting application write would otherwise wait for (docs/benchmarks.md
    // "Session 5"). The messages were moved out of read_buf_ above, and the
    // external op taken above keeps the RPC from finishing in between.
    WakeOwner(wake);
    read_buf_.Clear();
    read_payloads_.clear();
    if (reread) io_->IoRead(&read_bytes_);
    EndExternal();
  }

  void OnWritesDoneDone() { OnWriteDone(true); }

  // The RPC is over (reactor's OnDone); `status` is the client's final status
  // (the server passes its own close status).
  void OnDone(const absl::Status& rpc_status) {
    absl::Status s;
    bool authenticated;
    {
      absl::MutexLock l(&mu_);
      phase_ = Phase::kDone;
      s = close_status_.ok() ? rpc_status : close_status_;
      if (s.ok()) s = absl::UnavailableError("stream ended");
      authenticated = authenticated_;
    }
    WakeOwner(CallOwner([&](GrpcTransport* o) { return o->OnStreamDone(this, s, authenticated); }));
  }

  absl::Status close_status() {
    absl::MutexLock l(&mu_);
    return close_status_;
  }
  const std::string& peer_address() const { return peer_address_; }

 private:
  struct Queued {
    MirrorMessage message;
    size_t bytes;
  };
  using Received = GrpcTransport::Received;

  // Runs `fn` (which returns whether the owner wants a wake-up) on the owner
  // and returns the owner's wake-up slot to invoke, or nullptr. Callers
  // invoke it last, with no lock of ours held: the wake-up may run the
  // owner's whole event step, which calls back into this stream.
  bool HasOwner() {
    absl::ReaderMutexLock l(&owner_mu_);
    return owner_ != nullptr;
  }

  template <typename Fn>
  [[nodiscard]] std::shared_ptr<WakeupSlot> CallOwner(Fn fn) {
    absl::ReaderMutexLock l(&owner_mu_);
    if (owner_ != nullptr && fn(owner_)) return owner_->wakeup_slot();
    return nullptr;
  }
  static void WakeOwner(const std::shared_ptr<WakeupSlot>& slot) {
    if (slot != nullptr) slot->Invoke();
  }

  // Picks the next frame to write, if any. Sets write_in_flight_.
  const grpc::ByteBuffer* PrepareWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (write_in_flight_ || final_done_ || phase_ == Phase::kDone) return nullptr;
    if (!control_.empty()) {
      EncodeFrame(&control_.front(), &write_bytes_);
      control_.pop_front();
      write_in_flight_ = true;
      return &write_bytes_;
    }
    if (phase_ != Phase::kOpen || data_.empty()) return nullptr;
    Frame frame;
    MirrorBatch* batch = frame.mutable_batch();
    size_t bytes = 0;
    while (!data_.empty() && (bytes == 0 || bytes + data_.front().bytes <= max_batch_bytes_)) {
      bytes += data_.front().bytes;
      *batch->add_messages() = std::move(data_.front().message);
      data_.pop_front();
    }
    queued_bytes_ -= bytes;
    writing_bytes_ = bytes;
    write_in_flight_ = true;
    ++batches_;
    EncodeFrame(&frame, &write_bytes_);  // moves the payloads into slices: no copy
    return &write_bytes_;
  }

  // Client graceful close: after the refusal AuthResult went out, half-close.
  bool WantWritesDoneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (phase_ != Phase::kClosing || cancelled_ || writes_done_ || write_in_flight_ ||
        !io_->IsClient() || !control_.empty()) {
      return false;
    }
    writes_done_ = true;
    write_in_flight_ = true;
    return true;
  }

  bool WantFinalLocked(absl::Status* status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (phase_ != Phase::kClosing || final_done_ || write_in_flight_ || external_ops_ > 0 ||
        !control_.empty()) {
      return false;
    }
    // The client keeps its hold until the read side ended (the server finished
    // or the call was cancelled), so that Abort() can still cancel.
    if (io_->IsClient() && !read_finished_) return false;
    final_done_ = true;
    *status = close_status_;
    return true;
  }

  void EndExternal() {
    {
      absl::MutexLock l(&mu_);
      --external_ops_;
    }
    MaybeFinal();
  }

  void MaybeFinal() {
    absl::Status s;
    bool final = false, writes_done = false;
    {
      absl::MutexLock l(&mu_);
      writes_done = WantWritesDoneLocked();
      if (!writes_done) final = WantFinalLocked(&s);
    }
    if (writes_done) io_->IoWritesDone();
    if (final) io_->IoFinal(s);
  }

  PeerServer* const server_;
  const std::string peer_address_;
  const size_t max_batch_bytes_;
  const size_t max_queued_bytes_;
  Clock* const clock_;
  const absl::Duration handshake_timeout_;
  StreamIo* io_ = nullptr;

  absl::Mutex owner_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  GrpcTransport* owner_ ABSL_GUARDED_BY(owner_mu_) = nullptr;

  absl::Mutex mu_;
  Handshake hs_ ABSL_GUARDED_BY(mu_);
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kHandshake;
  std::deque<Frame> control_ ABSL_GUARDED_BY(mu_);
  std::deque<Queued> data_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t writing_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool refused_ ABSL_GUARDED_BY(mu_) = false;
  bool authenticated_ ABSL_GUARDED_BY(mu_) = false;  // ever got past authentication
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool final_done_ ABSL_GUARDED_BY(mu_) = false;
  int external_ops_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t batches_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status close_status_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer write_bytes_;  // owned by the one write in flight
  // Owned by the one read in flight: the bytes, then the decoded frame and
  // the payloads of its batch messages (read_payloads_[i]: message i's).
  grpc::ByteBuffer read_bytes_;
  Frame read_buf_;
  std::vector<Payload> read_payloads_;
  io::BufferPool payload_pool_;  // buffers may outlive the stream
};

// --- the streams on gRPC's asynchronous API ---
//
// Every call of a PeerServer (the Replicate streams it accepts and dials, the
// Heartbeat calls it serves and makes) completes on the server's one
// completion queue, polled by its one thread (PeerServer::Poll), which runs
// the reactions. One polling thread per process is what keeps a QD1 write
// cheap: with gRPC's callback API (two "nexting" threads) or a second
// polling thread, each network event is handed from the thread that polled
// it to another one (docs/benchmarks.md "Session 8").

// The PeerService with both methods on the asynchronous API; Replicate raw
// (frame_codec.h).
class ServiceImpl final : public PeerService::WithRawMethod_Replicate<
                              PeerService::WithAsyncMethod_Heartbeat<PeerService::Service>> {};

// A completion-queue tag: the polling thread calls Proceed(ok).
class CqTag {
 public:
  virtual void Proceed(bool ok) = 0;

 protected:
  ~CqTag() = default;
};

// A tag that calls `fn` of its owner.
template <typename T>
class MemberTag final : public CqTag {
 public:
  MemberTag(T* owner, void (T::*fn)(bool)) : owner_(owner), fn_(fn) {}
  void Proceed(bool ok) override { (owner_->*fn_)(ok); }

 private:
  T* const owner_;
  void (T::*const fn_)(bool);
};

// The Replicate method, as the generic stub names it (the stream carries
// ByteBuffers: frame_codec.h does the (de)serialization).
std::string ReplicateMethod() {
  return absl::StrCat("/", PeerService::service_full_name(), "/Replicate");
}

using Bytes = grpc::ByteBuffer;

// One Replicate call, the StreamIo of its StreamCore. Counts its operations in
// flight; once the call is finished and the last one completed it tells the
// core (OnDone) and the server (EndCall) and deletes itself. Operations begin
// on any thread and end on the polling thread; a reaction that starts the
// next operation does so before its own one ends, so the count cannot reach
// zero while the core still has work for the call.
class AsyncStream : public StreamIo {
 protected:
  explicit AsyncStream(PeerServer* server) : server_(server) {}
  virtual ~AsyncStream() = default;
  // The client's context, which the server cancels at shutdown; nullptr on
  // the server side (the gRPC server cancels those calls).
  virtual grpc::ClientContext* client_context() { return nullptr; }

  void BeginOp() {
    absl::MutexLock l(&mu_);
    ++ops_;
  }
  void EndOp() {
    {
      absl::MutexLock l(&mu_);
      if (--ops_ > 0 || !finished_) return;
    }
    core_->OnDone(final_status_);
    server_->EndCall(client_context());
    delete this;
  }
  // The Finish operation completed with `status` (ends it).
  void Finished(absl::Status status) {
    {
      absl::MutexLock l(&mu_);
      finished_ = true;
    }
    final_status_ = std::move(status);
    EndOp();
  }

  void OnWrite(bool ok) {
    core_->OnWriteDone(ok);
    EndOp();
  }
  void OnRead(bool ok) {
    core_->OnReadDone(ok);
    EndOp();
  }

  PeerServer* const server_;
  std::shared_ptr<StreamCore> core_;
  MemberTag<AsyncStream> read_tag_{this, &AsyncStream::OnRead};
  MemberTag<AsyncStream> write_tag_{this, &AsyncStream::OnWrite};
  absl::Status final_status_;  // written by the Finish tag's reaction

 private:
  absl::Mutex mu_;
  int ops_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// The dialing side.
class ClientStream final : public AsyncStream {
 public:
  // Dials: the stream deletes itself when the call is over. If the server is
  // shut down, the core is told at once (OnDone) and nothing is started.
  static void Start(std::shared_ptr<StreamCore> core, PeerServer* server, grpc::GenericStub* stub) {
    auto* s = new ClientStream(server);
    if (!server->BeginCall(&s->context_)) {
      core->OnDone(absl::UnavailableError("this node's PeerService is shut down"));
      delete s;
      return;
    }
    s->core_ = std::move(core);
    s->core_->SetIo(s);
    // The call's initial metadata leaves with the first write (the Hello),
    // which the core starts at once: StartCall alone would need the write
    // slot, which one write at a time leaves no room for.
    s->context_.set_initial_metadata_corked(true);
    s->call_ = stub->PrepareCall(&s->context_, ReplicateMethod(), server->cq());
    s->call_->StartCall(nullptr);  // corked: no operation, no completion
    s->core_->Start();
  }

  void IoWrite(const Bytes* f) override {
    BeginOp();
    call_->Write(*f, &write_tag_);
  }
  void IoWritesDone() override {
    BeginOp();
    call_->WritesDone(&writes_done_tag_);
  }
  void IoRead(Bytes* f) override {
    BeginOp();
    call_->Read(f, &read_tag_);
  }
  void IoFinal(const absl::Status&) override {
    BeginOp();
    call_->Finish(&status_, &finish_tag_);
  }
  void IoCancel() override { context_.TryCancel(); }
  bool IsClient() const override { return true; }
  std::vector<std::string> TlsPeerNames() override { return TlsNames(context_.auth_context()); }

 private:
  explicit ClientStream(PeerServer* server) : AsyncStream(server) {}
  grpc::ClientContext* client_context() override { return &context_; }

  void OnWritesDone(bool) {
    core_->OnWritesDoneDone();
    EndOp();
  }
  void OnFinish(bool) { Finished(FromGrpc(status_)); }

  grpc::ClientContext context_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  grpc::Status status_;
  MemberTag<ClientStream> writes_done_tag_{this, &ClientStream::OnWritesDone};
  MemberTag<ClientStream> finish_tag_{this, &ClientStream::OnFinish};
};

// A served call's request completed with `ok`: asks for the next call of the
// kind and starts this one. False: drop it (the server is shutting down; the
// context's destruction cancels a call that did arrive).
template <typename Call>
bool Accepted(bool ok, PeerServer* server) {
  if (!ok) return false;  // never matched
  Call::Request(server);
  return server->BeginCall(nullptr);
}

// The accepting side: one is always waiting for the next Replicate call
// (PeerServer::RequestReplicate); when one arrives it becomes its stream.
class ServerStream final : public AsyncStream {
 public:
  // Asks for the next call; nothing once the server is shut down.
  static void Request(PeerServer* server) {
    auto* s = new ServerStream(server);
    if (!server->RequestCall([s](grpc::ServerCompletionQueue* cq) {
          s->server_->service()->RequestReplicate(&s->context_, &s->stream_, cq, cq,
                                                  &s->request_tag_);
        })) {
      delete s;
    }
  }

  void IoWrite(const Bytes* f) override {
    BeginOp();
    stream_.Write(*f, &write_tag_);
  }
  void IoWritesDone() override {}
  void IoRead(Bytes* f) override {
    BeginOp();
    stream_.Read(f, &read_tag_);
  }
  void IoFinal(const absl::Status& s) override {
    BeginOp();
    stream_.Finish(s.ok() ? grpc::Status::OK : ToGrpc(s), &finish_tag_);
  }
  void IoCancel() override { context_.TryCancel(); }
  bool IsClient() const override { return false; }
  std::vector<std::string> TlsPeerNames() override { return TlsNames(context_.auth_context()); }

 private:
  explicit ServerStream(PeerServer* server) : AsyncStream(server) {}

  void OnRequest(bool ok) {
    if (!Accepted<ServerStream>(ok, server_)) {
      delete this;
      return;
    }
    core_ = std::make_shared<StreamCore>(server_, context_.peer(), "", /*is_client=*/false,
                                         size_t{1} << 20, size_t{64} << 20, Clock::System(),
                                         absl::Seconds(10));
    core_->SetIo(this);
    core_->Start();
  }
  void OnFinish(bool) { Finished(absl::UnavailableError("stream ended")); }

  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<Bytes, Bytes> stream_{&context_};
  MemberTag<ServerStream> request_tag_{this, &ServerStream::OnRequest};
  MemberTag<ServerStream> finish_tag_{this, &ServerStream::OnFinish};
};

// One Heartbeat call served: waits for the call, answers it from the
// registered handler (on the polling thread) and deletes itself.
class HeartbeatCall final {
 public:
  static void Request(PeerServer* server) {
    auto* c = new HeartbeatCall(server);
    if (!server->RequestCall([c](grpc::ServerCompletionQueue* cq) {
          c->server_->service()->RequestHeartbeat(&c->context_, &c->request_, &c->responder_, cq,
                                                  cq, &c->request_tag_);
        })) {
      delete c;
    }
  }

 private:
  explicit HeartbeatCall(PeerServer* server) : server_(server) {}

  void OnRequest(bool ok) {
    if (!Accepted<HeartbeatCall>(ok, server_)) {
      delete this;
      return;
    }
    absl::StatusOr<HeartbeatFrame> r = server_->HandleHeartbeat(request_, context_.peer());
    if (r.ok()) {
      responder_.Finish(*r, grpc::Status::OK, &done_tag_);
    } else {
      responder_.FinishWithError(ToGrpc(r.status()), &done_tag_);
    }
  }
  void OnDone(bool) {
    server_->EndCall(nullptr);
    delete this;
  }

  PeerServer* const server_;
  grpc::ServerContext context_;
  HeartbeatFrame request_;
  grpc::ServerAsyncResponseWriter<HeartbeatFrame> responder_{&context_};
  MemberTag<HeartbeatCall> request_tag_{this, &HeartbeatCall::OnRequest};
  MemberTag<HeartbeatCall> done_tag_{this, &HeartbeatCall::OnDone};
};

}  // namespace internal

// ---------------------------------------------------------------------------
// PeerServer

PeerServer::PeerServer(PeerServiceOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<PeerServer>> PeerServer::Start(PeerServiceOptions options,
                                                              const std::string& listen_address) {
  if (options.auth.mode == AuthMode::kHmac && options.auth.keys == nullptr) {
    return absl::InvalidArgumentError(
        "peer_auth 'hmac' needs a key ring (security.authkeys_file)");
  }
  HAFS_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds,
                        MakeServerCredentials(options));
  std::unique_ptr<PeerServer> s(new PeerServer(std::move(options)));
  s->service_ = std::make_unique<internal::ServiceImpl>();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen_address, creds, &s->port_);
  builder.RegisterService(s->service_.get());
  builder.SetMaxReceiveMessageSize(s->options_.max_message_bytes);
  builder.SetMaxSendMessageSize(s->options_.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Ms(s->options_.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Ms(s->options_.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             std::max(1, Ms(s->options_.keepalive_time) / 2));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // gRPC sets SO_REUSEPORT by default: a second server on the port (another
  // hafsd, a stale one) would start and take some of the peer's connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  s->cq_ = builder.AddCompletionQueue();
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("PeerService: cannot listen on ", listen_address,
                     " (address in use, bad address or bad credentials; see "
                     "gRPC's log above)"));
  }
  s->poller_ = std::thread([p = s.get()] { p->Poll(); });
  internal::ServerStream::Request(s.get());
  internal::HeartbeatCall::Request(s.get());
  return s;
}

PeerServer::~PeerServer() { Shutdown(); }

grpc::CompletionQueue* PeerServer::cq() { return cq_.get(); }

void PeerServer::Poll() {
  void* tag;
  bool ok;
  while (cq_->Next(&tag, &ok)) static_cast<internal::CqTag*>(tag)->Proceed(ok);
}

bool PeerServer::RequestCall(absl::FunctionRef<void(grpc::ServerCompletionQueue*)> request) {
  absl::MutexLock l(&mu_);
  if (shut_down_) return false;
  request(cq_.get());
  return true;
}

bool PeerServer::BeginCall(grpc::ClientContext* client) {
  absl::MutexLock l(&mu_);
  if (shut_down_) return false;
  ++live_calls_;
  if (client != nullptr) client_calls_.insert(client);
  return true;
}

void PeerServer::EndCall(grpc::ClientContext* client) {
  absl::MutexLock l(&mu_);
  --live_calls_;
  if (client != nullptr) client_calls_.erase(client);
}

void PeerServer::Shutdown() {
  if (server_ == nullptr) return;  // Start failed
  {
    absl::MutexLock l(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    // Our own calls to other servers; gRPC cancels the ones it serves.
    for (grpc::ClientContext* c : client_calls_) c->TryCancel();
  }
  server_->Shutdown(std::chrono::system_clock::now());
  {
    // No operation may start on the queue once it is shut down: wait until
    // every call has seen its last completion.
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &live_calls_));
  }
  cq_->Shutdown();
  // The thread ends after the requests' and any other leftover completions;
  // without one (Start failed after building the server) drain them here.
  if (poller_.joinable()) {
    poller_.join();
  } else {
    Poll();
  }
  server_->Wait();
}

void PeerServer::SetHeartbeatHandler(HeartbeatHandler handler) {
  absl::MutexLock l(&mu_);
  heartbeat_ = std::move(handler);
}

absl::StatusOr<HeartbeatFrame> PeerServer::HandleHeartbeat(const HeartbeatFrame& in,
                                                           const std::string& from) {
  HeartbeatHandler h;
  {
    absl::MutexLock l(&mu_);
    h = heartbeat_;
  }
  if (!h) return absl::UnimplementedError("no heartbeat handler registered on this node");
  return h(in, from);
}

void PeerServer::Register(const std::string& channel, GrpcTransport* t) {
  absl::MutexLock l(&mu_);
  channels_[channel] = t;
}

void PeerServer::Unregister(const std::string& channel, GrpcTransport* t) {
  absl::MutexLock l(&mu_);
  auto it = channels_.find(channel);
  if (it != channels_.end() && it->second == t) channels_.erase(it);
}

std::shared_ptr<internal::WakeupSlot> PeerServer::ReportRefusedAttempt(
    const std::string& channel, const absl::Status& why) {
  absl::MutexLock l(&mu_);
  auto it = channels_.find(channel);
  if (it == channels_.end()) return nullptr;
  return it->second->OnRefusedAttempt(why);
}

bool PeerServer::AcceptChannel(const std::string& channel, internal::StreamCore* core) {
  absl::MutexLock l(&mu_);
  auto it = channels_.find(channel);
  if (it == channels_.end() || !it->second->WantsConnection()) return false;
  core->BindOwner(it->second);
  return true;
}

// ---------------------------------------------------------------------------
// PeerClient

absl::StatusOr<std::unique_ptr<PeerClient>> PeerClient::Create(PeerServer* server,
                                                               const std::string& address,
                                                               absl::Duration reconnect) {
  if (server == nullptr) return absl::InvalidArgumentError("PeerClient: null PeerServer");
  if (address.empty()) return absl::InvalidArgumentError("PeerClient: empty peer address");
  const PeerServiceOptions& options = server->options();
  HAFS_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> creds,
                        MakeChannelCredentials(options));
  std::unique_ptr<PeerClient> c(new PeerClient(server));
  c->channel_ = grpc::CreateCustomChannel(address, creds, ChannelArgs(options, reconnect));
  c->stub_ = PeerService::NewStub(c->channel_);
  c->generic_stub_ = std::make_unique<grpc::GenericStub>(c->channel_);
  return c;
}

PeerClient::PeerClient(PeerServer* server) : server_(server) {}
PeerClient::~PeerClient() = default;

void PeerClient::Heartbeat(const HeartbeatFrame& frame, absl::Duration timeout,
                           std::function<void(absl::StatusOr<HeartbeatFrame>)> done) {
  // One call on the server's completion queue; deletes itself when done.
  class Call final : public internal::CqTag {
   public:
    explicit Call(PeerServer* server) : server_(server) {}
    std::function<void(absl::StatusOr<HeartbeatFrame>)> done;
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientAsyncResponseReader<HeartbeatFrame>> rpc;
    HeartbeatFrame response;
    grpc::Status status;

    void Proceed(bool) override {
      server_->EndCall(&ctx);
      if (status.ok()) {
        done(std::move(response));
      } else {
        done(FromGrpc(status));
      }
      delete this;
    }

   private:
    PeerServer* const server_;
  };
  auto* call = new Call(server_);
  if (!server_->BeginCall(&call->ctx)) {
    delete call;
    done(absl::UnavailableError("this node's PeerService is shut down"));
    return;
  }
  call->done = std::move(done);
  call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  call->rpc = stub_->PrepareAsyncHeartbeat(&call->ctx, frame, server_->cq());
  call->rpc->StartCall();
  call->rpc->Finish(&call->response, &call->status, call);
}

absl::StatusOr<HeartbeatFrame> PeerClient::HeartbeatSync(const HeartbeatFrame& frame,
                                                         absl::Duration timeout) {
  absl::Mutex mu;
  bool finished = false;
  absl::StatusOr<HeartbeatFrame> result;
  Heartbeat(frame, timeout, [&](absl::StatusOr<HeartbeatFrame> r) {
    absl::MutexLock l(&mu);
    result = std::move(r);
    finished = true;
  });
  absl::MutexLock l(&mu);
  mu.Await(absl::Condition(&finished));
  return result;
}

// ---------------------------------------------------------------------------
// GrpcTransport

absl::StatusOr<std::unique_ptr<GrpcTransport>> GrpcTransport::Create(
    PeerServer* server, GrpcTransportOptions options) {
  if (server == nullptr) return absl::InvalidArgumentError("GrpcTransport: null PeerServer");
  const PeerAuthConfig& auth = server->options().auth;
  if (auth.node_id == auth.expected_peer_node_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GrpcTransport: our node id ", auth.node_id, " equals the peer's; ids must differ"));
  }
  if (options.max_batch_bytes == 0 || options.transport.max_queued_bytes == 0) {
    return absl::InvalidArgumentError("GrpcTransport: max_batch_bytes and max_queued_bytes must be > 0");
  }
  const bool dialer = auth.node_id < auth.expected_peer_node_id;
  std::unique_ptr<GrpcTransport> t(new GrpcTransport(server, std::move(options), dialer));
  if (dialer) {
    if (t->options_.peer_address.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "GrpcTransport: node ", auth.node_id, " has the lower id and dials, but no ",
          "peer_address is configured"));
    }
    HAFS_ASSIGN_OR_RETURN(t->client_, PeerClient::Create(server, t->options_.peer_address,
                                                         t->options_.transport.connect_interval));
  } else {
    server->Register(t->options_.channel, t.get());
  }
  return t;
}

GrpcTransport::GrpcTransport(PeerServer* server, GrpcTransportOptions options, bool dialer)
    : server_(server),
      options_(std::move(options)),
      dialer_(dialer),
      clock_(options_.clock != nullptr ? options_.clock : Clock::System()),
      token_(std::make_shared<Token>()),
      wakeup_(std::make_shared<internal::WakeupSlot>()) {
  absl::MutexLock l(&token_->mu);
  token_->transport = this;
}

GrpcTransport::~GrpcTransport() {
  if (!dialer_) server_->Unregister(options_.channel, this);
  Disconnect();
  {
    absl::MutexLock l(&token_->mu);
    token_->transport = nullptr;
  }
  std::vector<std::weak_ptr<internal::StreamCore>> bound;
  {
    absl::MutexLock l(&mu_);
    destroying_ = true;
    bound.swap(bound_);
  }
  // After Detach no stream calls into this object any more.
  for (auto& w : bound) {
    if (auto core = w.lock()) core->Detach();
  }
}

void internal::WakeupSlot::Set(std::function<void()> fn) {
  absl::MutexLock l(&mu_);
  fn_ = std::move(fn);
  // Wait for other threads still inside the previous callback (not for this
  // one: the owner may replace its callback from inside it).
  const std::thread::id self = std::this_thread::get_id();
  auto others_done = [this, self]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::all_of(running_.begin(), running_.end(),
                       [self](std::thread::id t) { return t == self; });
  };
  mu_.Await(absl::Condition(&others_done));
}

void internal::WakeupSlot::Invoke() {
  std::function<void()> fn;
  const std::thread::id self = std::this_thread::get_id();
  {
    absl::MutexLock l(&mu_);
    if (!fn_) return;
    fn = fn_;
    running_.push_back(self);
  }
  fn();
  absl::MutexLock l(&mu_);
  running_.erase(std::find(running_.begin(), running_.end(), self));
}

void GrpcTransport::Wake() { wakeup_->Invoke(); }

void GrpcTransport::PushLocked(TransportEvent e) { events_.push_back(std::move(e)); }

void GrpcTransport::SetWakeup(std::function<void()> wakeup) { wakeup_->Set(std::move(wakeup)); }

bool GrpcTransport::WantsConnection() {
  absl::MutexLock l(&mu_);
  return wants_ && !destroying_;
}

void GrpcTransport::StreamStarted(internal::StreamCore* core) {
  absl::MutexLock l(&mu_);
  std::erase_if(bound_, [](const std::weak_ptr<internal::StreamCore>& w) { return w.expired(); });
  bound_.push_back(core->weak_from_this());
}

void GrpcTransport::Connect() {
  {
    absl::MutexLock l(&mu_);
    if (wants_) return;
    wants_ = true;
  }
  if (dialer_) Dial();
}

void GrpcTransport::Dial() {
  std::shared_ptr<internal::StreamCore> core;
  {
    absl::MutexLock l(&mu_);
    if (!wants_ || destroying_ || dialed_ != nullptr || current_ != nullptr) return;
    core = std::make_shared<internal::StreamCore>(
        server_, options_.peer_address, options_.channel, /*is_client=*/true,
        options_.max_batch_bytes, options_.transport.max_queued_bytes, clock_,
        options_.handshake_timeout);
    dialed_ = core;
  }
  core->BindOwner(this);
  internal::ClientStream::Start(core, server_, client_->generic_stub());  // deletes itself
}

void GrpcTransport::ScheduleRedial() {
  if (redial_timer_ != 0) return;
  std::weak_ptr<Token> weak = token_;
  redial_timer_ = clock_->ScheduleAfter(options_.transport.connect_interval, [weak] {
    std::shared_ptr<Token> token = weak.lock();
    if (token == nullptr) return;
    absl::MutexLock l(&token->mu);
    if (token->transport == nullptr) return;
    {
      absl::MutexLock tl(&token->transport->mu_);
      token->transport->redial_timer_ = 0;
    }
    token->transport->Dial();
  });
}

void GrpcTransport::Disconnect() {
  std::shared_ptr<internal::StreamCore> cur, dialed;
  {
    absl::MutexLock l(&mu_);
    wants_ = false;
    if (redial_timer_ != 0) clock_->Cancel(redial_timer_);
    redial_timer_ = 0;
    cur = std::move(current_);
    current_.reset();
    dialed = dialed_;
    if (cur != nullptr) {
      TransportEvent e;
      e.kind = TransportEvent::Kind::kDisconnected;
      e.connection = conn_id_;
      e.reason = absl::CancelledError("local Disconnect()");
      PushLocked(std::move(e));
    }
  }
  absl::Status why = absl::CancelledError("peer called Disconnect()");
  if (cur != nullptr) cur->Abort(why);
  if (dialed != nullptr && dialed != cur) dialed->Abort(why);
  if (cur != nullptr) Wake();
}

absl::Status GrpcTransport::Send(ConnectionId connection, MirrorMessage message) {
  std::deque<MirrorMessage> one;
  one.push_back(std::move(message));
  return SendBatch(connection, &one);
}

absl::Status GrpcTransport::SendBatch(ConnectionId connection,
                                      std::deque<MirrorMessage>* messages) {
  std::shared_ptr<internal::StreamCore> core;
  {
    absl::MutexLock l(&mu_);
    if (current_ == nullptr || connection != conn_id_) {
      return absl::UnavailableError(absl::StrCat(
          "connection ", connection, " is not established (current ",
          current_ != nullptr ? conn_id_ : 0, ")"));
    }
    core = current_;
  }
  return core->Enqueue(messages);
}

std::vector<TransportEvent> GrpcTransport::TakeEvents() {
  absl::MutexLock l(&mu_);
  std::vector<TransportEvent> out;
  out.swap(events_);
  return out;
}

size_t GrpcTransport::QueuedBytes() {
  std::shared_ptr<internal::StreamCore> core;
  {
    absl::MutexLock l(&mu_);
    core = current_;
  }
  return core != nullptr ? core->QueuedBytes() : 0;
}

uint64_t GrpcTransport::BatchesSent() {
  std::shared_ptr<internal::StreamCore> core;
  {
    absl::MutexLock l(&mu_);
    core = current_;
  }
  return core != nullptr ? core->batches() : 0;
}

GrpcTransport::AuthOutcome GrpcTransport::OnStreamAuthenticated(
    const std::shared_ptr<internal::StreamCore>& core, const PeerInfo& peer) {
  AuthOutcome out;
  {
    absl::MutexLock l(&mu_);
    if (destroying_ || !wants_) {
      out.reject = true;
    } else {
      if (current_ != nullptr && current_ != core) {
        out.replaced = std::move(current_);
        TransportEvent e;
        e.kind = TransportEvent::Kind::kDisconnected;
        e.connection = conn_id_;
        e.reason = absl::AbortedError("replaced by a newer authenticated stream from the peer");
        PushLocked(std::move(e));
      }
      current_ = core;
      ++conn_id_;
      TransportEvent e;
      e.kind = TransportEvent::Kind::kConnected;
      e.connection = conn_id_;
      e.peer = peer;
      PushLocked(std::move(e));
    }
  }
  out.wake = !out.reject;
  return out;
}

bool GrpcTransport::OnStreamMessages(internal::StreamCore* core, std::vector<Received> messages) {
  {
    absl::MutexLock l(&mu_);
    if (current_.get() != core) return false;  // a replaced or closed stream
    for (Received& m : messages) {
      TransportEvent e;
      e.kind = TransportEvent::Kind::kMessage;
      e.connection = conn_id_;
      e.message = std::move(m.message);
      e.payload = std::move(m.payload);
      PushLocked(std::move(e));
    }
  }
  return true;
}

std::shared_ptr<internal::WakeupSlot> GrpcTransport::OnRefusedAttempt(const absl::Status& why) {
  absl::MutexLock l(&mu_);
  if (!wants_ || destroying_ || current_ != nullptr) return nullptr;
  TransportEvent e;
  e.kind = TransportEvent::Kind::kConnectFailed;
  e.reason = why;
  PushLocked(std::move(e));
  return wakeup_;
}

bool GrpcTransport::OnStreamWritable(internal::StreamCore* core) {
  {
    absl::MutexLock l(&mu_);
    if (current_.get() != core) return false;
    TransportEvent e;
    e.kind = TransportEvent::Kind::kWritable;
    e.connection = conn_id_;
    PushLocked(std::move(e));
  }
  return true;
}

bool GrpcTransport::OnStreamDone(internal::StreamCore* core, const absl::Status& status,
                                 bool authenticated) {
  bool wake = false;
  {
    absl::MutexLock l(&mu_);
    if (current_.get() == core) {
      TransportEvent e;
      e.kind = TransportEvent::Kind::kDisconnected;
      e.connection = conn_id_;
      e.reason = status;
      PushLocked(std::move(e));
      current_.reset();
      wake = true;
    } else if (!authenticated && wants_ && !destroying_) {
      // A failed attempt (unreachable, or refused by either side).
      TransportEvent e;
      e.kind = TransportEvent::Kind::kConnectFailed;
      e.reason = status;
      PushLocked(std::move(e));
      wake = true;
    }
    if (dialed_.get() == core) {
      dialed_.reset();
      if (wants_ && !destroying_) ScheduleRedial();
    }
  }
  return wake;
}

}  // namespace hafs::peer
