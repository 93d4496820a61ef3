#include "libhafs/peer/handshake.h"

#include <openssl/rand.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "libhafs/base/logging.h"

namespace hafs::peer {

bool ChallengeRegistry::Register(const std::string& challenge) {
  absl::MutexLock l(&mu_);
  if (!seen_.insert(challenge).second) return false;
  order_.push_back(challenge);
  while (order_.size() > capacity_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

std::string RandomChallenge() {
  std::string c(kChallengeBytes, '\0');
  HAFS_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(c.data()),
                       static_cast<int>(c.size())) == 1)
      << "OpenSSL RAND_bytes failed";
  return c;
}

namespace {

std::string CanonicalBytes(const Hello& hello) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    hello.SerializeToCodedStream(&cos);
  }
  return out;
}

std::string ProofInput(const std::string& challenge, const std::string& hello_bytes) {
  return absl::StrCat(kAuthLabel, challenge, hello_bytes);
}

Frame ResultFrame(bool ok, const std::string& reason, uint32_t version) {
  Frame f;
  AuthResult* r = f.mutable_auth_result();
  r->set_ok(ok);
  r->set_reason(reason);
  r->set_protocol_version(version);
  return f;
}

}  // namespace

Handshake::Handshake(const PeerAuthConfig& config, ChallengeRegistry* registry,
                     std::string challenge, std::string peer_address,
                     std::string channel,
                     std::function<bool(const std::string&)> accept_channel)
    : config_(config),
      registry_(registry),
      peer_address_(std::move(peer_address)),
      accept_channel_(std::move(accept_channel)) {
  own_hello_.set_protocol_version_min(config_.version_min);
  own_hello_.set_protocol_version_max(config_.version_max);
  own_hello_.set_cluster_name(config_.cluster_name);
  own_hello_.set_node_id(config_.node_id);
  own_hello_.set_node_name(config_.node_name);
  own_hello_.set_challenge(challenge);
  own_hello_.set_incarnation(config_.incarnation);
  own_hello_.set_channel(std::move(channel));
  own_hello_bytes_ = CanonicalBytes(own_hello_);
  // Our own challenge counts as seen: a peer echoing it back (reflection) is refused.
  if (registry_ != nullptr) registry_->Register(challenge);
}

Frame Handshake::Start() {
  HAFS_CHECK(!started_) << "Handshake::Start called twice";
  started_ = true;
  Frame f;
  *f.mutable_hello() = own_hello_;
  return f;
}

std::string Handshake::RefusalLogLine() const {
  return absl::StrCat("peer ", peer_address_, " refused: claimed node ",
                      have_peer_hello_ ? absl::StrCat(peer_hello_.node_id(), " ('",
                                                      absl::CHexEscape(peer_hello_.node_name()),
                                                      "')")
                                       : std::string("<no Hello yet>"),
                      " of cluster '",
                      have_peer_hello_ ? absl::CHexEscape(peer_hello_.cluster_name()) : "",
                      "': ", reason_);
}

std::vector<Frame> Handshake::Refuse(std::string reason) {
  state_ = State::kRefused;
  reason_ = std::move(reason);
  return {ResultFrame(false, reason_, 0)};
}

std::string Handshake::CheckHello(const Hello& h) {
  if (h.cluster_name() != config_.cluster_name) {
    return absl::StrCat("wrong cluster: peer is in cluster '",
                        absl::CHexEscape(h.cluster_name()), "', we are in '",
                        config_.cluster_name, "'");
  }
  if (h.node_id() != config_.expected_peer_node_id) {
    return absl::StrCat("unexpected node id ", h.node_id(), ": expected the peer node ",
                        config_.expected_peer_node_id);
  }
  uint32_t lo = std::max(h.protocol_version_min(), config_.version_min);
  uint32_t hi = std::min(h.protocol_version_max(), config_.version_max);
  if (h.protocol_version_min() > h.protocol_version_max() || lo > hi) {
    return absl::StrCat("version mismatch: peer speaks ", h.protocol_version_min(), "..",
                        h.protocol_version_max(), ", we speak ", config_.version_min, "..",
                        config_.version_max);
  }
  if (h.challenge().size() != kChallengeBytes) {
    return absl::StrCat("bad challenge: ", h.challenge().size(), " bytes, expected ",
                        kChallengeBytes);
  }
  if (registry_ != nullptr && !registry_->Register(h.challenge())) {
    return "challenge reused: the peer's challenge was seen before (replay or reflection)";
  }
  if (config_.mode == AuthMode::kMtls &&
      std::find(tls_peer_names_.begin(), tls_peer_names_.end(), h.node_name()) ==
          tls_peer_names_.end()) {
    return absl::StrCat("certificate does not name node '", absl::CHexEscape(h.node_name()),
                        "' (verified names: ", tls_peer_names_.size(), ")");
  }
  if (accept_channel_ && !accept_channel_(h.channel())) {
    return absl::StrCat("unknown channel '", absl::CHexEscape(h.channel()), "'");
  }
  return "";
}

std::vector<Frame> Handshake::OnFrame(const Frame& frame) {
  if (state_ != State::kPending) return {};
  std::vector<Frame> out;
  switch (frame.body_case()) {
    case Frame::kHello: {
      if (have_peer_hello_) return Refuse("protocol violation: second Hello");
      have_peer_hello_ = true;
      peer_hello_ = frame.hello();
      peer_hello_bytes_ = CanonicalBytes(peer_hello_);
      std::string bad = CheckHello(peer_hello_);
      if (!bad.empty()) return Refuse(std::move(bad));
      Frame proof;
      AuthProof* p = proof.mutable_auth_proof();
      if (config_.keys != nullptr) {
        p->set_key_id(config_.keys->signing_key_id());
        p->set_mac(config_.keys->Sign(ProofInput(peer_hello_.challenge(), own_hello_bytes_)));
      } else {
        p->set_key_id(0);
      }
      out.push_back(std::move(proof));
      return out;
    }
    case Frame::kAuthProof: {
      if (!have_peer_hello_) return Refuse("protocol violation: AuthProof before Hello");
      if (peer_proof_ok_) return Refuse("protocol violation: second AuthProof");
      const AuthProof& p = frame.auth_proof();
      if (config_.keys != nullptr) {
        absl::Status s = config_.keys->Verify(
            p.key_id(), ProofInput(own_hello_.challenge(), peer_hello_bytes_), p.mac());
        if (absl::IsNotFound(s)) {
          return Refuse(absl::StrCat("wrong key id ", p.key_id(),
                                     ": not in our key ring",
                                     p.key_id() == 0 ? " (is the peer in mTLS-only mode?)" : ""));
        }
        if (!s.ok()) return Refuse(absl::StrCat("bad MAC under key id ", p.key_id()));
      } else if (p.key_id() != 0 || !p.mac().empty()) {
        return Refuse(absl::StrCat("wrong key id ", p.key_id(),
                                   ": we authenticate by mTLS only and expect key id 0"));
      }
      peer_proof_ok_ = true;
      uint32_t version = std::min(peer_hello_.protocol_version_max(), config_.version_max);
      peer_.node_id = peer_hello_.node_id();
      peer_.node_name = peer_hello_.node_name();
      peer_.incarnation = peer_hello_.incarnation();
      peer_.protocol_version = version;
      peer_.address = peer_address_;
      out.push_back(ResultFrame(true, "", version));
      std::vector<Frame> more = MaybeFinish();
      out.insert(out.end(), more.begin(), more.end());
      return out;
    }
    case Frame::kAuthResult: {
      const AuthResult& r = frame.auth_result();
      if (!r.ok()) {
        state_ = State::kRefusedByPeer;
        reason_ = absl::StrCat("refused by peer ", peer_address_, ": ",
                               absl::CHexEscape(r.reason()));
        return {};
      }
      if (!peer_proof_ok_) {
        return Refuse("protocol violation: AuthResult{ok} before our check of the peer's proof");
      }
      if (r.protocol_version() != peer_.protocol_version) {
        return Refuse(absl::StrCat("version mismatch: peer agreed on ", r.protocol_version(),
                                   ", we on ", peer_.protocol_version));
      }
      peer_result_ok_ = true;
      return MaybeFinish();
    }
    case Frame::kBatch:
      return Refuse("protocol violation: mirror messages before authentication");
    case Frame::BODY_NOT_SET:
      return Refuse("protocol violation: empty frame");
  }
  return Refuse("protocol violation: unknown frame");
}

std::vector<Frame> Handshake::MaybeFinish() {
  if (peer_proof_ok_ && peer_result_ok_) state_ = State::kAuthenticated;
  return {};
}

}  // namespace hafs::peer
