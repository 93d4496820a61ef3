#include "libhafs/cluster/auth.h"


#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hafs::cluster {
namespace {

constexpr absl::string_view kDomain = "hafs-hb-v1";

std::string MacInput(uint32_t key_id, absl::string_view body) {
  std::string in(kDomain);
  for (int shift = 24; shift >= 0; shift -= 8) {
    in.push_back(static_cast<char>((key_id >> shift) & 0xff));
  }
  in.append(body.data(), body.size());
  return in;
}

}  // namespace

EnvelopeSigner::EnvelopeSigner(const auth::KeyRing& keys, std::string cluster_name,
                               uint32_t self, uint64_t incarnation)
    : keys_(keys),
      cluster_(std::move(cluster_name)),
      self_(self),
      incarnation_(incarnation) {}

std::string EnvelopeSigner::Seal(wire::Body body) {
  body.set_cluster_name(cluster_);
  body.set_sender(self_);
  body.set_incarnation(incarnation_);
  body.set_seq(++seq_);
  wire::Envelope env;
  env.set_version(kEnvelopeVersion);
  env.set_key_id(keys_.signing_key_id());
  std::string serialized = body.SerializeAsString();
  env.set_mac(keys_.Sign(MacInput(env.key_id(), serialized)));
  env.set_body(std::move(serialized));
  return env.SerializeAsString();
}

EnvelopeVerifier::EnvelopeVerifier(const auth::KeyRing& keys, std::string cluster_name,
                                   uint32_t self, uint32_t replay_window)
    : keys_(keys),
      cluster_(std::move(cluster_name)),
      self_(self),
      window_(std::clamp<uint32_t>(replay_window, 1, 1024)) {}

absl::StatusOr<wire::Body> EnvelopeVerifier::Open(absl::string_view bytes) {
  wire::Envelope env;
  if (!env.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("envelope: not a valid Envelope (", bytes.size(), " bytes)"));
  }
  if (env.version() != kEnvelopeVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "envelope: version ", env.version(), " not supported (expected ",
        kEnvelopeVersion, ")"));
  }
  if (!keys_.Has(env.key_id())) {
    return absl::NotFoundError(absl::StrCat(
        "envelope: unknown key id ", env.key_id(),
        "; hint: authkeys files differ between nodes (rotation in progress?)"));
  }
  if (!keys_.Verify(env.key_id(), MacInput(env.key_id(), env.body()), env.mac()).ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "envelope: HMAC mismatch with key id ", env.key_id(),
        "; hint: the nodes' secrets for this key differ, or the message was altered"));
  }
  wire::Body body;
  if (!body.ParseFromString(env.body())) {
    return absl::InvalidArgumentError("envelope: authenticated body does not parse");
  }
  if (body.cluster_name() != cluster_) {
    return absl::PermissionDeniedError(absl::StrCat(
        "envelope: cluster '", body.cluster_name(), "' is not ours ('", cluster_, "')"));
  }
  if (body.sender() == self_) {
    return absl::PermissionDeniedError(
        absl::StrCat("envelope: sender is this node (", self_, "): reflected message"));
  }
  if (body.receiver() != 0 && body.receiver() != self_) {
    return absl::PermissionDeniedError(absl::StrCat(
        "envelope: addressed to node ", body.receiver(), ", not ", self_));
  }
  if (body.seq() == 0) {
    return absl::InvalidArgumentError("envelope: sequence 0 is invalid");
  }
  // Replay check; state changes only once everything passed.
  Replay& r = replay_[body.sender()];
  if (body.incarnation() < r.incarnation) {
    return absl::OutOfRangeError(absl::StrCat(
        "envelope: node ", body.sender(), " incarnation ", body.incarnation(),
        " is older than the current ", r.incarnation, " (replay of a previous boot)"));
  }
  if (body.incarnation() > r.incarnation) {
    r.incarnation = body.incarnation();
    r.highest = 0;
    r.seen.assign(window_, false);
  }
  uint64_t s = body.seq();
  if (s > r.highest) {
    uint64_t shift = s - r.highest;
    if (shift >= window_) {
      r.seen.assign(window_, false);
    } else {
      for (uint64_t x = r.highest + 1; x < s; ++x) r.seen[x % window_] = false;
    }
    r.highest = s;
    r.seen[s % window_] = true;
    return body;
  }
  if (r.highest - s >= window_) {
    return absl::OutOfRangeError(absl::StrCat(
        "envelope: node ", body.sender(), " seq ", s, " is older than the replay window (highest ",
        r.highest, ", window ", window_, ")"));
  }
  if (r.seen[s % window_]) {
    return absl::AlreadyExistsError(absl::StrCat(
        "envelope: node ", body.sender(), " seq ", s, " already accepted (replay)"));
  }
  r.seen[s % window_] = true;
  return body;
}

}  // namespace hafs::cluster
