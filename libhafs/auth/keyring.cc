#include "libhafs/auth/keyring.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hafs::auth {

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // An empty key is legal for HMAC; OpenSSL wants a non-null pointer.
  static const unsigned char kEmpty = 0;
  const void* key_ptr =
      key.empty() ? static_cast<const void*>(&kEmpty) : static_cast<const void*>(key.data());
  unsigned char* r = HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          data.size(), out, &len);
  if (r == nullptr || len != kHmacSha256Bytes) return std::string();
  return std::string(reinterpret_cast<char*>(out), len);
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::StatusOr<KeyRing> KeyRing::Create(std::vector<Key> keys,
                                        uint32_t signing_id) {
  KeyRing ring;
  for (Key& k : keys) {
    if (k.id == 0) {
      return absl::InvalidArgumentError(
          "key id 0 is reserved (it means 'no key', used by mTLS); use 1..4294967295");
    }
    if (k.secret.size() < kMinSecretBytes || k.secret.size() > kMaxSecretBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key ", k.id, ": secret is ", k.secret.size(), " bytes; need ",
          kMinSecretBytes, "..", kMaxSecretBytes,
          " (hint: `openssl rand -hex 32`)"));
    }
    if (!ring.keys_.emplace(k.id, std::move(k.secret)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("key id ", k.id, " is defined twice"));
    }
  }
  if (ring.keys_.empty()) {
    return absl::InvalidArgumentError("no keys defined (need at least one `key` line)");
  }
  if (ring.keys_.count(signing_id) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signing key id ", signing_id, " is not one of the defined keys"));
  }
  ring.signing_id_ = signing_id;
  return ring;
}

namespace {

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::StatusOr<uint32_t> ParseId(absl::string_view word) {
  uint32_t id = 0;
  if (!absl::SimpleAtoi(word, &id) || word.empty() || word[0] == '+' ||
      word[0] == '-' || id == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad key id '", word, "': expected a decimal number 1..4294967295"));
  }
  return id;
}

}  // namespace

absl::StatusOr<KeyRing> KeyRing::Parse(absl::string_view text,
                                       absl::string_view filename) {
  std::vector<Key> keys;
  std::map<uint32_t, int> defined_at;
  uint32_t sign_id = 0;
  int sign_line = 0;
  int line_no = 0;
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(filename, ":", line_no, ": ", what));
  };
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    if (words[0] == "key") {
      if (words.size() != 4) {
        return error(absl::StrCat(
            "expected `key <id> hmac-sha256 hex:<secret>|base64:<secret>`, got ",
            words.size(), " words"));
      }
      absl::StatusOr<uint32_t> id = ParseId(words[1]);
      if (!id.ok()) return error(id.status().message());
      if (words[2] != "hmac-sha256") {
        return error(absl::StrCat("unsupported algorithm '", words[2],
                                  "' for key ", *id, " (supported: hmac-sha256)"));
      }
      std::string secret;
      absl::string_view enc = words[3];
      if (absl::ConsumePrefix(&enc, "hex:")) {
        if (enc.size() % 2 != 0 || !IsHex(enc)) {
          return error(absl::StrCat("key ", *id,
                                    ": secret after 'hex:' is not an even number of hex digits"));
        }
        secret = absl::HexStringToBytes(enc);
      } else if (absl::ConsumePrefix(&enc, "base64:")) {
        if (!absl::Base64Unescape(enc, &secret)) {
          return error(absl::StrCat("key ", *id, ": secret after 'base64:' is not valid base64"));
        }
      } else {
        return error(absl::StrCat("key ", *id,
                                  ": secret must start with 'hex:' or 'base64:'"));
      }
      if (secret.size() < kMinSecretBytes || secret.size() > kMaxSecretBytes) {
        return error(absl::StrCat("key ", *id, ": secret is ", secret.size(),
                                  " bytes; need ", kMinSecretBytes, "..", kMaxSecretBytes,
                                  " (hint: `openssl rand -hex 32`)"));
      }
      auto [it, inserted] = defined_at.emplace(*id, line_no);
      if (!inserted) {
        return error(absl::StrCat("key id ", *id, " already defined at line ",
                                  it->second));
      }
      keys.push_back(Key{*id, std::move(secret)});
    } else if (words[0] == "sign") {
      if (words.size() != 2) return error("expected `sign <id>`");
      absl::StatusOr<uint32_t> id = ParseId(words[1]);
      if (!id.ok()) return error(id.status().message());
      if (sign_line != 0) {
        return error(absl::StrCat("second `sign` line (first at line ", sign_line,
                                  "); exactly one key signs"));
      }
      sign_id = *id;
      sign_line = line_no;
    } else {
      return error(absl::StrCat("unknown directive '", words[0],
                                "' (expected `key` or `sign`)"));
    }
  }
  if (keys.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(filename, ": no `key` lines (need at least one key)"));
  }
  if (sign_line == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ": no `sign <id>` line (name the key used to sign)"));
  }
  if (defined_at.count(sign_id) == 0) {
    line_no = sign_line;
    return error(absl::StrCat("`sign ", sign_id, "` names an undefined key"));
  }
  return Create(std::move(keys), sign_id);
}

absl::StatusOr<KeyRing> KeyRing::LoadFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat("authkeys file ", path, ": does not exist"));
    }
    return absl::PermissionDeniedError(
        absl::StrCat("authkeys file ", path, ": stat: ", std::strerror(err)));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "authkeys file ", path, ": mode ", absl::StrFormat("%03o", st.st_mode & 0777),
        " is readable or writable by group/others; hint: chmod 600 ", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::PermissionDeniedError(
        absl::StrCat("authkeys file ", path, ": cannot open for reading"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return Parse(ss.str(), path);
}

std::vector<uint32_t> KeyRing::key_ids() const {
  std::vector<uint32_t> ids;
  for (const auto& [id, secret] : keys_) ids.push_back(id);
  return ids;
}

std::string KeyRing::Sign(absl::string_view data) const {
  return HmacSha256(keys_.at(signing_id_), data);
}

absl::StatusOr<std::string> KeyRing::Mac(uint32_t id, absl::string_view data) const {
  auto it = keys_.find(id);
  if (it == keys_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown key id ", id));
  }
  return HmacSha256(it->second, data);
}

absl::Status KeyRing::Verify(uint32_t id, absl::string_view data,
                             absl::string_view mac) const {
  auto it = keys_.find(id);
  if (it == keys_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown key id ", id));
  }
  if (!ConstantTimeEquals(HmacSha256(it->second, data), mac)) {
    return absl::UnauthenticatedError(absl::StrCat("bad MAC under key id ", id));
  }
  return absl::OkStatus();
}

}  // namespace hafs::auth
