#include "libhafs/witness/witness_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "grpcpp/grpcpp.h"
#include "libhafs/base/checksum.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/witness/witness.grpc.pb.h"

namespace hafs::witness {
namespace {

constexpr absl::string_view kStateHeader = "hafs-witness-state 1";

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::Status FromGrpc(const grpc::Status& s, absl::string_view where) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(where, ": ", s.error_message()));
}

}  // namespace

// ---- state file ----

std::string SerializeState(const PersistedState& s) {
  std::string t = absl::StrCat(kStateHeader, "\n");
  absl::StrAppend(&t, "term ", s.arbiter.term, "\n");
  absl::StrAppend(&t, "last_holder ", s.arbiter.last_holder, "\n");
  for (const auto& [node, term] : s.arbiter.last_terms) {
    absl::StrAppend(&t, "last_term ", node, " ", term, "\n");
  }
  for (const auto& [node, seen] : s.seen) {
    absl::StrAppend(&t, "seen ", node, " ", seen.incarnation, " ", seen.seq, "\n");
  }
  absl::StrAppend(&t, "checksum ", absl::StrFormat("%016x", Checksum64(t)), "\n");
  return t;
}

absl::StatusOr<PersistedState> ParseState(const std::string& text) {
  size_t pos = text.rfind("checksum ");
  if (pos == std::string::npos) {
    return absl::DataLossError("witness state: no checksum line (truncated file?)");
  }
  uint64_t want = 0;
  std::string hex(absl::StripAsciiWhitespace(absl::string_view(text).substr(pos + 9)));
  if (!absl::SimpleHexAtoi(hex, &want) || Checksum64(absl::string_view(text).substr(0, pos)) != want) {
    return absl::DataLossError("witness state: checksum mismatch (file damaged)");
  }
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(text).substr(0, pos), '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kStateHeader) {
    return absl::DataLossError(absl::StrCat("witness state: line 1: expected '", kStateHeader,
                                            "' (unknown version)"));
  }
  PersistedState s;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<absl::string_view> f = absl::StrSplit(lines[i], ' ');
    std::vector<uint64_t> n(f.size(), 0);
    bool ok = true;
    for (size_t k = 1; k < f.size(); ++k) ok = ok && absl::SimpleAtoi(f[k], &n[k]);
    if (ok && f[0] == "term" && f.size() == 2) {
      s.arbiter.term = n[1];
    } else if (ok && f[0] == "last_holder" && f.size() == 2) {
      s.arbiter.last_holder = static_cast<cluster::NodeId>(n[1]);
    } else if (ok && f[0] == "last_term" && f.size() == 3) {
      s.arbiter.last_terms[static_cast<cluster::NodeId>(n[1])] = n[2];
    } else if (ok && f[0] == "seen" && f.size() == 4) {
      s.seen[static_cast<uint32_t>(n[1])] = {n[2], n[3]};
    } else {
      return absl::DataLossError(
          absl::StrCat("witness state: line ", i + 1, ": cannot parse '", lines[i], "'"));
    }
  }
  return s;
}

absl::StatusOr<PersistedState> LoadStateFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return PersistedState{};
    return absl::PermissionDeniedError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<PersistedState> s = ParseState(ss.str());
  if (!s.ok()) {
    return absl::Status(s.status().code(), absl::StrCat(path, ": ", s.status().message()));
  }
  return s;
}

absl::Status SaveStateFile(const std::string& path, const PersistedState& s) {
  std::string text = SerializeState(s);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", tmp, ": ", std::strerror(errno)));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  int e = errno;
  ::close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("write ", tmp, ": ", std::strerror(e)));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename ", tmp, ": ", std::strerror(errno)));
  }
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

// ---- core ----

absl::StatusOr<std::unique_ptr<WitnessCore>> WitnessCore::Create(const WitnessCoreOptions& opts,
                                                                  const auth::KeyRing& keys,
                                                                  Clock* clock) {
  if (opts.cluster_name.empty()) return absl::InvalidArgumentError("witness: cluster name is empty");
  if (opts.state_file.empty()) return absl::InvalidArgumentError("witness: state file is required");
  HAFS_ASSIGN_OR_RETURN(PersistedState st, LoadStateFile(opts.state_file));
  return std::unique_ptr<WitnessCore>(new WitnessCore(opts, keys, clock, std::move(st)));
}

WitnessCore::WitnessCore(const WitnessCoreOptions& opts, const auth::KeyRing& keys, Clock* clock,
                         PersistedState st)
    : opts_(opts),
      clock_(clock),
      verifier_(keys, opts.cluster_name, opts.witness_id),
      // Incarnation: boot time in microseconds, so replies of a restarted
      // witness are never taken for replays.
      signer_(keys, opts.cluster_name, opts.witness_id,
              static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()))),
      arbiter_(opts.arbiter, clock->Now(), st.arbiter),
      persisted_(std::move(st)) {}

uint64_t WitnessCore::term() {
  absl::MutexLock l(&mu_);
  return arbiter_.term();
}

void WitnessCore::set_keys(const auth::KeyRing& keys) {
  absl::MutexLock l(&mu_);
  verifier_.set_keys(keys);
  signer_.set_keys(keys);
}

void WitnessCore::Deliver(const std::vector<cluster::WitnessDecision>& ds) {
  for (const cluster::WitnessDecision& d : ds) {
    // Only the newest decision per node is kept.
    for (auto it = decided_.begin(); it != decided_.end();) {
      it = it->first.first == d.node && it->first.second < d.request_seq ? decided_.erase(it)
                                                                          : std::next(it);
    }
    decided_[{d.node, d.request_seq}] = d;
  }
  if (!ds.empty()) cv_.SignalAll();
}

absl::Status WitnessCore::Persist() {
  persisted_.arbiter = arbiter_.state();
  absl::Status s = SaveStateFile(opts_.state_file, persisted_);
  if (!s.ok()) HAFS_LOG(ERROR) << "witness: cannot persist state: " << s;
  return s;
}

absl::StatusOr<std::string> WitnessCore::Handle(const std::string& envelope_bytes,
                                                absl::Duration wait_limit) {
  absl::MutexLock l(&mu_);
  absl::StatusOr<cluster::wire::Body> body = verifier_.Open(envelope_bytes);
  if (!body.ok()) {
    HAFS_LOG(WARNING) << "witness: refused request: " << body.status();
    return body.status();
  }
  if (!body->has_witness_request()) {
    return absl::InvalidArgumentError("witness: the envelope carries no witness_request");
  }
  if (body->receiver() != opts_.witness_id) {
    return absl::PermissionDeniedError(absl::StrCat(
        "witness: request addressed to ", body->receiver(), ", this witness is ", opts_.witness_id));
  }
  const uint32_t node = body->sender();
  const uint64_t seq = body->seq();
  PersistedState::Seen& seen = persisted_.seen[node];
  if (body->incarnation() < seen.incarnation ||
      (body->incarnation() == seen.incarnation && seq <= seen.seq)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "witness: node ", node, " request (incarnation ", body->incarnation(), ", seq ", seq,
        ") is not above the highest accepted (", seen.incarnation, ", ", seen.seq,
        "): replayed or reordered"));
  }
  seen = {body->incarnation(), seq};
  const cluster::wire::WitnessRequest& w = body->witness_request();
  cluster::WitnessRequest req;
  req.node = node;
  req.request_seq = seq;
  req.partition.assign(w.partition().begin(), w.partition().end());
  req.score = w.score();
  req.primary = w.primary();
  req.fresh = w.fresh();
  Deliver(arbiter_.OnRequest(req, clock_->Now()));
  HAFS_RETURN_IF_ERROR(Persist());
  cv_.SignalAll();  // an older waiter of this node is superseded

  const std::pair<uint32_t, uint64_t> key{node, seq};
  absl::Time deadline = clock_->Now() + std::min(wait_limit, opts_.max_wait);
  while (decided_.count(key) == 0) {
    if (persisted_.seen[node].incarnation != body->incarnation() ||
        persisted_.seen[node].seq != seq) {
      return absl::AbortedError(absl::StrCat("witness: node ", node, " request seq ", seq,
                                             " superseded by a newer request"));
    }
    absl::Time now = clock_->Now();
    if (now >= arbiter_.NextDeadline()) {
      uint64_t before = arbiter_.term();
      Deliver(arbiter_.Tick(now));
      if (arbiter_.term() != before) HAFS_RETURN_IF_ERROR(Persist());
      continue;
    }
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "witness: no decision for node ", node, " within ", absl::FormatDuration(wait_limit),
          " (restart quiet period or decision window longer than the RPC deadline)"));
    }
    cv_.WaitWithTimeout(&mu_, std::min(deadline, arbiter_.NextDeadline()) - now);
  }
  cluster::WitnessDecision d = decided_[key];
  decided_.erase(key);
  if (d.granted) HAFS_LOG(INFO) << "witness: vote to node " << node << " term " << d.term;
  cluster::wire::Body reply;
  reply.set_receiver(node);
  cluster::wire::WitnessReply* r = reply.mutable_witness_reply();
  r->set_granted(d.granted);
  r->set_term(d.term);
  r->set_lease_ms(absl::ToInt64Milliseconds(d.lease));
  r->set_request_seq(seq);
  r->set_holder(d.holder);
  r->set_reason(d.reason);
  r->set_other_holder(d.other_holder);
  r->set_other_term(d.other_term);
  return signer_.Seal(std::move(reply));
}

// ---- gRPC server ----

class WitnessServer::Impl final : public wire::Witness::Service {
 public:
  explicit Impl(WitnessCore* core) : core_(core) {}
  grpc::Status Vote(grpc::ServerContext* ctx, const wire::Frame* req, wire::Frame* resp) override {
    auto left = ctx->deadline() - std::chrono::system_clock::now();
    absl::Duration limit = absl::FromChrono(
        std::chrono::duration_cast<std::chrono::milliseconds>(left));
    if (limit > absl::Hours(1) || limit < absl::ZeroDuration()) limit = absl::Seconds(30);
    absl::StatusOr<std::string> r = core_->Handle(req->envelope(), limit);
    if (!r.ok()) return ToGrpc(r.status());
    resp->set_envelope(*std::move(r));
    return grpc::Status::OK;
  }

 private:
  WitnessCore* core_;
};

absl::StatusOr<std::unique_ptr<WitnessServer>> WitnessServer::Start(const std::string& address,
                                                                    WitnessCore* core) {
  auto s = std::unique_ptr<WitnessServer>(new WitnessServer());
  s->impl_ = std::make_unique<Impl>(core);
  grpc::ServerBuilder b;
  b.AddListeningPort(address, grpc::InsecureServerCredentials(), &s->port_);
  b.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a second witness on the port fails
  b.RegisterService(s->impl_.get());
  s->server_ = b.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("witness: cannot listen on ", address,
                                               " (address in use or not local?)"));
  }
  return s;
}

void WitnessServer::Shutdown() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

WitnessServer::~WitnessServer() { Shutdown(); }

// ---- client ----

WitnessClient::WitnessClient(const std::string& address, const auth::KeyRing& keys,
                             std::string cluster_name, uint32_t self, uint64_t incarnation,
                             uint32_t witness_id)
    : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
      signer_(keys, cluster_name, self, incarnation),
      verifier_(keys, cluster_name, self),
      witness_id_(witness_id) {}

WitnessClient::~WitnessClient() = default;

absl::StatusOr<std::string> WitnessClient::SendRaw(const std::string& envelope,
                                                   absl::Duration timeout) {
  auto stub = wire::Witness::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  wire::Frame req, resp;
  req.set_envelope(envelope);
  grpc::Status s = stub->Vote(&ctx, req, &resp);
  if (!s.ok()) return FromGrpc(s, "witness Vote");
  return resp.envelope();
}

absl::StatusOr<cluster::wire::WitnessReply> WitnessClient::Ask(
    const cluster::wire::WitnessRequest& req, absl::Duration timeout) {
  cluster::wire::Body b;
  b.set_receiver(witness_id_);
  *b.mutable_witness_request() = req;
  uint64_t seq = signer_.next_seq();
  last_request_ = signer_.Seal(std::move(b));
  HAFS_ASSIGN_OR_RETURN(std::string raw, SendRaw(last_request_, timeout));
  HAFS_ASSIGN_OR_RETURN(cluster::wire::Body reply, verifier_.Open(raw));
  if (reply.sender() != witness_id_ || !reply.has_witness_reply()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "witness reply: from node ", reply.sender(), " (expected witness ", witness_id_,
        ") or not a witness_reply"));
  }
  if (reply.witness_reply().request_seq() != seq) {
    return absl::FailedPreconditionError(absl::StrCat(
        "witness reply answers request ", reply.witness_reply().request_seq(), ", not ", seq));
  }
  return reply.witness_reply();
}

}  // namespace hafs::witness
