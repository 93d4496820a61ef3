#include "libhafs/splitbrain/policy.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hafs::splitbrain {
namespace {

template <typename E>
struct Entry {
  absl::string_view name;
  E value;
};

constexpr Entry<AfterSb0Pri> k0Pri[] = {
    {"disconnect", AfterSb0Pri::kDisconnect},
    {"discard-younger-primary", AfterSb0Pri::kDiscardYoungerPrimary},
    {"discard-older-primary", AfterSb0Pri::kDiscardOlderPrimary},
    {"discard-zero-changes", AfterSb0Pri::kDiscardZeroChanges},
    {"discard-least-changes", AfterSb0Pri::kDiscardLeastChanges},
    {"discard-node-", AfterSb0Pri::kDiscardNode},
};
constexpr Entry<AfterSb1Pri> k1Pri[] = {
    {"disconnect", AfterSb1Pri::kDisconnect},
    {"consensus", AfterSb1Pri::kConsensus},
    {"violently-as0p", AfterSb1Pri::kViolentlyAs0p},
    {"discard-secondary", AfterSb1Pri::kDiscardSecondary},
    {"call-pri-lost-after-sb", AfterSb1Pri::kCallPriLostAfterSb},
};
constexpr Entry<AfterSb2Pri> k2Pri[] = {
    {"disconnect", AfterSb2Pri::kDisconnect},
    {"violently-as0p", AfterSb2Pri::kViolentlyAs0p},
    {"call-pri-lost-after-sb", AfterSb2Pri::kCallPriLostAfterSb},
};
constexpr Entry<RrConflict> kRr[] = {
    {"disconnect", RrConflict::kDisconnect},
    {"retry-connect", RrConflict::kRetryConnect},
    {"violently", RrConflict::kViolently},
    {"call-pri-lost", RrConflict::kCallPriLost},
    {"auto-discard", RrConflict::kAutoDiscard},
};

template <typename E, size_t N>
std::string ValidList(const Entry<E> (&table)[N]) {
  std::vector<std::string> names;
  for (const auto& e : table) {
    names.push_back(absl::EndsWith(e.name, "-") ? absl::StrCat(e.name, "NAME")
                                                : std::string(e.name));
  }
  return absl::StrJoin(names, ", ");
}

template <typename E, size_t N>
absl::StatusOr<E> Lookup(absl::string_view key, absl::string_view text,
                         const Entry<E> (&table)[N]) {
  for (const auto& e : table) {
    if (e.name == text) return e.value;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      key, ": unknown value \"", text, "\"; valid values: ", ValidList(table)));
}

template <typename E, size_t N>
absl::string_view NameOf(E v, const Entry<E> (&table)[N]) {
  for (const auto& e : table) {
    if (e.value == v) return e.name;
  }
  return "?";
}

bool ValidNodeName(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<AfterSb0Pri> ParseAfterSb0Pri(absl::string_view text,
                                             std::string* node) {
  node->clear();
  constexpr absl::string_view kPrefix = "discard-node-";
  if (absl::StartsWith(text, kPrefix)) {
    absl::string_view name = text.substr(kPrefix.size());
    if (!ValidNodeName(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "after-sb-0pri: \"", text,
          "\" needs a node name after \"discard-node-\" made of letters, "
          "digits, '-', '.' or '_' (e.g. discard-node-alpha)"));
    }
    *node = std::string(name);
    return AfterSb0Pri::kDiscardNode;
  }
  if (text == "consensus" || text == "violently-as0p" ||
      text == "discard-secondary" || text == "call-pri-lost-after-sb") {
    return absl::InvalidArgumentError(absl::StrCat(
        "after-sb-0pri: \"", text,
        "\" is only meaningful when a Primary is involved (after-sb-1pri / "
        "after-sb-2pri); valid values: ",
        ValidList(k0Pri)));
  }
  return Lookup("after-sb-0pri", text, k0Pri);
}

absl::StatusOr<AfterSb1Pri> ParseAfterSb1Pri(absl::string_view text) {
  return Lookup("after-sb-1pri", text, k1Pri);
}
absl::StatusOr<AfterSb2Pri> ParseAfterSb2Pri(absl::string_view text) {
  return Lookup("after-sb-2pri", text, k2Pri);
}
absl::StatusOr<RrConflict> ParseRrConflict(absl::string_view text) {
  return Lookup("rr-conflict", text, kRr);
}

absl::string_view Name(AfterSb0Pri v) { return NameOf(v, k0Pri); }
absl::string_view Name(AfterSb1Pri v) { return NameOf(v, k1Pri); }
absl::string_view Name(AfterSb2Pri v) { return NameOf(v, k2Pri); }
absl::string_view Name(RrConflict v) { return NameOf(v, kRr); }

absl::Status SplitBrainPolicy::Set(absl::string_view key,
                                   absl::string_view value) {
  if (key == "after-sb-0pri") {
    std::string node;
    auto v = ParseAfterSb0Pri(value, &node);
    if (!v.ok()) return v.status();
    after_sb_0pri = *v;
    discard_node = std::move(node);
    return absl::OkStatus();
  }
  if (key == "after-sb-1pri") {
    auto v = ParseAfterSb1Pri(value);
    if (!v.ok()) return v.status();
    after_sb_1pri = *v;
    return absl::OkStatus();
  }
  if (key == "after-sb-2pri") {
    auto v = ParseAfterSb2Pri(value);
    if (!v.ok()) return v.status();
    after_sb_2pri = *v;
    return absl::OkStatus();
  }
  if (key == "rr-conflict") {
    auto v = ParseRrConflict(value);
    if (!v.ok()) return v.status();
    rr_conflict = *v;
    return absl::OkStatus();
  }
  if (key == "always-asbp") {
    if (value == "yes") {
      always_asbp = true;
    } else if (value == "no") {
      always_asbp = false;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "always-asbp: unknown value \"", value, "\"; valid values: yes, no"));
    }
    return absl::OkStatus();
  }
  if (key == "protocol") {
    if (value == "A") {
      protocol = WireProtocol::kA;
    } else if (value == "B") {
      protocol = WireProtocol::kB;
    } else if (value == "C") {
      protocol = WireProtocol::kC;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "protocol: unknown value \"", value, "\"; valid values: A, B, C"));
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown split-brain option \"", key,
      "\"; valid options: after-sb-0pri, after-sb-1pri, after-sb-2pri, "
      "rr-conflict, always-asbp, protocol"));
}

std::string SplitBrainPolicy::ToConfigString() const {
  const char* proto = protocol == WireProtocol::kA   ? "A"
                      : protocol == WireProtocol::kB ? "B"
                                                     : "C";
  return absl::StrCat("after-sb-0pri ", Name(after_sb_0pri),
                      after_sb_0pri == AfterSb0Pri::kDiscardNode ? discard_node
                                                                 : "",
                      ";\nafter-sb-1pri ", Name(after_sb_1pri),
                      ";\nafter-sb-2pri ", Name(after_sb_2pri),
                      ";\nrr-conflict ", Name(rr_conflict), ";\nalways-asbp ",
                      always_asbp ? "yes" : "no", ";\nprotocol ", proto, ";\n");
}

absl::Status CheckPeerPolicyCompatible(const SplitBrainPolicy& self,
                                       const SplitBrainPolicy& peer) {
  auto differ = [](absl::string_view option, absl::string_view mine,
                   absl::string_view theirs) {
    return absl::FailedPreconditionError(absl::StrCat(
        "incompatible ", option, " settings: this node has \"", mine,
        "\", the peer has \"", theirs,
        "\"; both nodes must use the same split-brain policy"));
  };
  std::string mine0 = absl::StrCat(
      Name(self.after_sb_0pri),
      self.after_sb_0pri == AfterSb0Pri::kDiscardNode ? self.discard_node : "");
  std::string theirs0 = absl::StrCat(
      Name(peer.after_sb_0pri),
      peer.after_sb_0pri == AfterSb0Pri::kDiscardNode ? peer.discard_node : "");
  if (mine0 != theirs0) return differ("after-sb-0pri", mine0, theirs0);
  if (self.after_sb_1pri != peer.after_sb_1pri) {
    return differ("after-sb-1pri", Name(self.after_sb_1pri),
                  Name(peer.after_sb_1pri));
  }
  if (self.after_sb_2pri != peer.after_sb_2pri) {
    return differ("after-sb-2pri", Name(self.after_sb_2pri),
                  Name(peer.after_sb_2pri));
  }
  if (self.protocol != peer.protocol) {
    return absl::FailedPreconditionError(
        "incompatible protocol settings: both nodes must use the same "
        "replication protocol");
  }
  return absl::OkStatus();
}

}  // namespace hafs::splitbrain
