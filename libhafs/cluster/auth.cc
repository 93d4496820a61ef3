#include "libhafs/cluster/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libhafs/base/logging.h"

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

absl::Status LineError(absl::string_view file, int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", line, ": ", what));
}

}  // namespace

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  unsigned char* r =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
           &len);
  HAFS_CHECK(r != nullptr && len == kMacSize) << "OpenSSL HMAC-SHA256 failed";
  return std::string(reinterpret_cast<char*>(out), len);
}

absl::StatusOr<Authkeys> Authkeys::FromKeys(std::map<uint32_t, std::string> keys,
                                            uint32_t signing_key_id) {
  for (const auto& [id, secret] : keys) {
    if (id < 1 || id > 255) {
      return absl::InvalidArgumentError(
          absl::StrCat("authkeys: key id ", id, " out of range 1..255"));
    }
    if (secret.size() < kMinKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("authkeys: key ", id, " has ", secret.size(),
                       " bytes; at least ", kMinKeyBytes, " are required"));
    }
  }
  if (keys.find(signing_key_id) == keys.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "authkeys: signing key ", signing_key_id, " is not defined"));
  }
  Authkeys a;
  a.keys_ = std::move(keys);
  a.signing_ = signing_key_id;
  return a;
}

absl::StatusOr<Authkeys> Authkeys::Parse(absl::string_view filename,
                                         absl::string_view text) {
  std::map<uint32_t, std::string> keys;
  std::map<uint32_t, int> key_line;
  uint32_t auth = 0;
  int auth_line = 0;
  int lineno = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++lineno;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::MaxSplits(absl::ByAnyChar(" \t"), 2),
                       absl::SkipEmpty());
    if (f[0] == "auth") {
      if (auth_line != 0) {
        return LineError(filename, lineno,
                         absl::StrCat("second 'auth' directive (first on line ",
                                      auth_line, ")"));
      }
      uint32_t id = 0;
      if (f.size() != 2 || !absl::SimpleAtoi(f[1], &id) || id < 1 || id > 255) {
        return LineError(filename, lineno,
                         "expected 'auth N' with N a key id in 1..255");
      }
      auth = id;
      auth_line = lineno;
      continue;
    }
    uint32_t id = 0;
    if (!absl::SimpleAtoi(f[0], &id) || id < 1 || id > 255) {
      return LineError(filename, lineno,
                       absl::StrCat("expected 'auth N' or 'N hmac-sha256 SECRET' "
                                    "with N in 1..255, got '",
                                    f[0], "'"));
    }
    if (f.size() < 2) {
      return LineError(filename, lineno,
                       absl::StrCat("key ", id, ": missing method and secret"));
    }
    std::string method = absl::AsciiStrToLower(f[1]);
    if (method == "sha1" || method == "md5" || method == "crc") {
      return LineError(
          filename, lineno,
          absl::StrCat("key ", id, ": method '", method,
                       "' is not supported (Heartbeat's crc/md5/sha1 are weak); "
                       "hint: use 'hmac-sha256'"));
    }
    if (method != "hmac-sha256") {
      return LineError(filename, lineno,
                       absl::StrCat("key ", id, ": unknown method '", f[1],
                                    "'; the only method is 'hmac-sha256'"));
    }
    if (f.size() < 3) {
      return LineError(filename, lineno, absl::StrCat("key ", id, ": missing secret"));
    }
    std::string secret(f[2]);
    if (absl::ConsumePrefix(&f[2], "hex:")) {
      absl::string_view hex = f[2];
      bool ok = hex.size() % 2 == 0;
      for (char c : hex) ok = ok && absl::ascii_isxdigit(c);
      if (!ok) {
        return LineError(filename, lineno,
                         absl::StrCat("key ", id,
                                      ": 'hex:' secret must be an even number of "
                                      "hex digits"));
      }
      secret = absl::HexStringToBytes(hex);
    }
    if (secret.size() < kMinKeyBytes) {
      return LineError(filename, lineno,
                       absl::StrCat("key ", id, ": secret has ", secret.size(),
                                    " bytes, at least ", kMinKeyBytes,
                                    " are required; hint: openssl rand -hex 32"));
    }
    if (auto it = key_line.find(id); it != key_line.end()) {
      return LineError(filename, lineno,
                       absl::StrCat("key ", id, " defined twice (first on line ",
                                    it->second, ")"));
    }
    key_line[id] = lineno;
    keys[id] = std::move(secret);
  }
  if (auth_line == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ": no 'auth N' directive choosing the signing key"));
  }
  if (keys.find(auth) == keys.end()) {
    return LineError(filename, auth_line,
                     absl::StrCat("'auth ", auth, "' names a key that is not defined"));
  }
  return FromKeys(std::move(keys), auth);
}

const std::string* Authkeys::Find(uint32_t id) const {
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : &it->second;
}

absl::StatusOr<Authkeys> LoadAuthkeysFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    absl::StatusCode code = e == ENOENT   ? absl::StatusCode::kNotFound
                            : e == EACCES ? absl::StatusCode::kPermissionDenied
                                          : absl::StatusCode::kUnavailable;
    return absl::Status(code, absl::StrCat(path, ": open: ", std::strerror(e)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat(path, ": fstat: ", std::strerror(e)));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return absl::PermissionDeniedError(absl::StrCat(
        path, ": mode ", absl::Hex(st.st_mode & 0777),
        " lets group/others access the keys; hint: chmod 600 ", path));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return absl::UnavailableError(absl::StrCat(path, ": read: ", std::strerror(e)));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1 << 20)) {
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat(path, ": larger than 1 MiB"));
    }
  }
  ::close(fd);
  return Authkeys::Parse(path, text);
}

EnvelopeSigner::EnvelopeSigner(const Authkeys& keys, std::string cluster_name,
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
  const std::string* key = keys_.Find(keys_.signing_key_id());
  HAFS_CHECK(key != nullptr) << "signing key vanished";
  env.set_mac(HmacSha256(*key, MacInput(env.key_id(), serialized)));
  env.set_body(std::move(serialized));
  return env.SerializeAsString();
}

EnvelopeVerifier::EnvelopeVerifier(const Authkeys& keys, std::string cluster_name,
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
  const std::string* key = keys_.Find(env.key_id());
  if (key == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "envelope: unknown key id ", env.key_id(),
        "; hint: authkeys files differ between nodes (rotation in progress?)"));
  }
  std::string expected = HmacSha256(*key, MacInput(env.key_id(), env.body()));
  if (env.mac().size() != kMacSize ||
      CRYPTO_memcmp(expected.data(), env.mac().data(), kMacSize) != 0) {
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
