#include "libhafs/auth/keyring.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::auth {
namespace {

using ::hafs::testing::IsOk;
using ::hafs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHex32[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST(HmacTest, Rfc4231TestCase2) {
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  EXPECT_EQ(absl::BytesToHexString(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HmacTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(KeyRingTest, ParsesKeysAndSigningKey) {
  std::string text = std::string("# rotation in progress\n\n") +
                     "key 1 hmac-sha256 hex:" + kHex32 + "\n" +
                     "key 2 hmac-sha256 base64:" +
                     absl::Base64Escape("0123456789abcdef0123") +
                     "   # new key\n" + "sign 2\n";
  absl::StatusOr<KeyRing> ring = KeyRing::Parse(text, "ak");
  ASSERT_OK(ring);
  EXPECT_EQ(ring->signing_key_id(), 2u);
  EXPECT_THAT(ring->key_ids(), ElementsAre(1u, 2u));
  std::string mac = ring->Sign("hello");
  EXPECT_EQ(mac, HmacSha256("0123456789abcdef0123", "hello"));
  EXPECT_OK(ring->Verify(2, "hello", mac));
  EXPECT_THAT(ring->Verify(1, "hello", mac), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(ring->Verify(3, "hello", mac),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown key id 3")));
  EXPECT_THAT(ring->Mac(1, "x"), IsOk());
}

struct BadCase {
  std::string text;
  std::string error;
};

TEST(KeyRingTest, ErrorsNameFileAndLine) {
  const std::string good = std::string("key 1 hmac-sha256 hex:") + kHex32 + "\n";
  const BadCase cases[] = {
      {"", "ak: no `key` lines"},
      {good, "ak: no `sign <id>` line"},
      {good + "sign 9\n", "ak:2: `sign 9` names an undefined key"},
      {good + "sign 1\nsign 1\n", "ak:3: second `sign` line (first at line 2)"},
      {"\nkey 0 hmac-sha256 hex:" + std::string(kHex32) + "\n", "ak:2: bad key id '0'"},
      {"key x hmac-sha256 hex:00\n", "ak:1: bad key id 'x'"},
      {"key 1 sha1 hex:" + std::string(kHex32) + "\n", "ak:1: unsupported algorithm 'sha1'"},
      {"key 1 hmac-sha256 hex:0g\n", "ak:1: key 1: secret after 'hex:' is not"},
      {"key 1 hmac-sha256 hex:0011\n", "ak:1: key 1: secret is 2 bytes"},
      {"key 1 hmac-sha256 base64:!!!!\n", "ak:1: key 1: secret after 'base64:'"},
      {"key 1 hmac-sha256 " + std::string(kHex32) + "\n", "must start with 'hex:'"},
      {good + good, "ak:2: key id 1 already defined at line 1"},
      {"auth 1\n", "ak:1: unknown directive 'auth'"},
      {"key 1 hmac-sha256\n", "ak:1: expected `key <id>"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<KeyRing> ring = KeyRing::Parse(c.text, "ak");
    EXPECT_THAT(ring, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.error)));
    // Secrets never appear in messages.
    EXPECT_THAT(ring.status().message(), Not(HasSubstr(kHex32)));
  }
}

TEST(KeyRingTest, CreateValidates) {
  EXPECT_THAT(KeyRing::Create({{1, std::string(16, 'a')}}, 1), IsOk());
  EXPECT_THAT(KeyRing::Create({{1, std::string(15, 'a')}}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("15 bytes")));
  EXPECT_THAT(KeyRing::Create({{1, std::string(16, 'a')}}, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signing key id 2")));
  EXPECT_THAT(KeyRing::Create({{1, std::string(16, 'a')}, {1, std::string(16, 'b')}}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
}

TEST(KeyRingTest, LoadFileChecksModeAndExistence) {
  std::string dir = ::testing::TempDir();
  std::string path = dir + "/authkeys_test";
  {
    std::ofstream out(path);
    out << "key 7 hmac-sha256 hex:" << kHex32 << "\nsign 7\n";
  }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_THAT(KeyRing::LoadFile(path),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("chmod 600")));
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  absl::StatusOr<KeyRing> ring = KeyRing::LoadFile(path);
  ASSERT_OK(ring);
  EXPECT_EQ(ring->signing_key_id(), 7u);
  EXPECT_THAT(KeyRing::LoadFile(dir + "/does_not_exist"),
              StatusIs(absl::StatusCode::kNotFound));
  {
    std::ofstream out(path);
    out << "sign 7\nkey 7 hmac-sha256 hex:zz\n";
  }
  EXPECT_THAT(KeyRing::LoadFile(path),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(path + ":2:")));
}

}  // namespace
}  // namespace hafs::auth
