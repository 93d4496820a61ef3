#include "libhafs/cluster/auth.h"

#include <map>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::cluster {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

const std::string kK1 = "0123456789abcdef-one";
const std::string kK2 = "0123456789abcdef-two";

auth::KeyRing Keys(std::map<uint32_t, std::string> k, uint32_t sign) {
  std::vector<auth::Key> keys;
  for (auto& [id, secret] : k) keys.push_back({id, secret});
  auto a = auth::KeyRing::Create(std::move(keys), sign);
  EXPECT_OK(a);
  return *a;
}

wire::Body Hb(uint32_t receiver = 2) {
  wire::Body b;
  b.set_receiver(receiver);
  b.mutable_heartbeat()->set_echo_seq(7);
  return b;
}

TEST(EnvelopeTest, RoundTrip) {
  auth::KeyRing k = Keys({{1, kK1}}, 1);
  EnvelopeSigner s(k, "nfs", 1, 100);
  EnvelopeVerifier v(k, "nfs", 2);
  auto b = v.Open(s.Seal(Hb()));
  ASSERT_OK(b);
  EXPECT_EQ(b->sender(), 1u);
  EXPECT_EQ(b->incarnation(), 100u);
  EXPECT_EQ(b->seq(), 1u);
  EXPECT_EQ(b->heartbeat().echo_seq(), 7u);
  EXPECT_EQ(b->cluster_name(), "nfs");
}

TEST(EnvelopeTest, EveryFlippedBitIsRefused) {
  auth::KeyRing k = Keys({{1, kK1}}, 1);
  EnvelopeSigner s(k, "nfs", 1, 100);
  std::string bytes = s.Seal(Hb());
  for (size_t i = 0; i < bytes.size() * 8; ++i) {
    EnvelopeVerifier v(k, "nfs", 2);
    std::string bad = bytes;
    bad[i / 8] ^= static_cast<char>(1 << (i % 8));
    EXPECT_FALSE(v.Open(bad).ok()) << "bit " << i;
  }
}

TEST(EnvelopeTest, UnknownKeyWrongSecretAndVersionAreRefused) {
  EnvelopeSigner s2(Keys({{2, kK2}}, 2), "nfs", 1, 1);
  EnvelopeVerifier v1(Keys({{1, kK1}}, 1), "nfs", 2);
  EXPECT_THAT(v1.Open(s2.Seal(Hb())),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown key id 2")));
  EnvelopeSigner wrong(Keys({{1, kK2}}, 1), "nfs", 1, 1);
  EXPECT_THAT(v1.Open(wrong.Seal(Hb())),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("HMAC mismatch")));
  EXPECT_THAT(v1.Open("garbage\xff"), StatusIs(absl::StatusCode::kInvalidArgument));
  wire::Envelope env;
  env.ParseFromString(EnvelopeSigner(Keys({{1, kK1}}, 1), "nfs", 1, 1).Seal(Hb()));
  env.set_version(2);
  EXPECT_THAT(v1.Open(env.SerializeAsString()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("version 2")));
}

TEST(EnvelopeTest, KeyRotation) {
  // Step 1: everyone accepts {1,2}, signs with 1. Step 2: sign with 2.
  // Step 3: drop 1. Messages keep flowing in every step.
  EnvelopeVerifier v(Keys({{1, kK1}, {2, kK2}}, 1), "nfs", 2);
  EnvelopeSigner s(Keys({{1, kK1}, {2, kK2}}, 1), "nfs", 1, 1);
  EXPECT_OK(v.Open(s.Seal(Hb())));
  s.set_keys(Keys({{1, kK1}, {2, kK2}}, 2));
  EXPECT_OK(v.Open(s.Seal(Hb())));
  v.set_keys(Keys({{2, kK2}}, 2));
  EXPECT_OK(v.Open(s.Seal(Hb())));
  EnvelopeSigner old(Keys({{1, kK1}}, 1), "nfs", 1, 1);
  EXPECT_THAT(v.Open(old.Seal(Hb())), StatusIs(absl::StatusCode::kNotFound));
}

TEST(EnvelopeTest, ClusterReceiverAndReflectionChecks) {
  auth::KeyRing k = Keys({{1, kK1}}, 1);
  EnvelopeVerifier v(k, "nfs", 2);
  EXPECT_THAT(v.Open(EnvelopeSigner(k, "other", 1, 1).Seal(Hb())),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("cluster 'other'")));
  EXPECT_THAT(v.Open(EnvelopeSigner(k, "nfs", 1, 1).Seal(Hb(/*receiver=*/3))),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("addressed to node 3")));
  EXPECT_THAT(v.Open(EnvelopeSigner(k, "nfs", 2, 1).Seal(Hb())),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("reflected")));
  EXPECT_OK(v.Open(EnvelopeSigner(k, "nfs", 1, 1).Seal(Hb(/*receiver=*/0))));
}

TEST(EnvelopeTest, ReplayAndReorderWindow) {
  auth::KeyRing k = Keys({{1, kK1}}, 1);
  EnvelopeSigner s(k, "nfs", 1, 5);
  EnvelopeVerifier v(k, "nfs", 2, /*replay_window=*/4);
  std::vector<std::string> m;
  for (int i = 0; i < 8; ++i) m.push_back(s.Seal(Hb()));  // seq 1..8
  EXPECT_OK(v.Open(m[2]));  // 3
  EXPECT_OK(v.Open(m[0]));  // 1: reordered but within the window
  EXPECT_THAT(v.Open(m[0]), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(v.Open(m[2]), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_OK(v.Open(m[6]));  // 7
  EXPECT_THAT(v.Open(m[2]), StatusIs(absl::StatusCode::kOutOfRange));  // 7-3 >= 4
  EXPECT_OK(v.Open(m[3]));  // 4 is within (3, 7]
  EXPECT_OK(v.Open(m[4]));
  EXPECT_THAT(v.Open(m[4]), StatusIs(absl::StatusCode::kAlreadyExists));
  // A new boot is accepted; the previous boot's messages are not.
  EnvelopeSigner reboot(k, "nfs", 1, 6);
  EXPECT_OK(v.Open(reboot.Seal(Hb())));
  EXPECT_THAT(v.Open(m[7]), StatusIs(absl::StatusCode::kOutOfRange,
                                     HasSubstr("previous boot")));
}

TEST(EnvelopeTest, RefusedMessagesDoNotAdvanceReplayState) {
  auth::KeyRing k = Keys({{1, kK1}}, 1);
  EnvelopeSigner s(k, "nfs", 1, 5);
  EnvelopeVerifier v(k, "nfs", 2, 4);
  std::string m1 = s.Seal(Hb());
  for (int i = 0; i < 10; ++i) s.Seal(Hb());
  std::string m12 = s.Seal(Hb());
  std::string forged = m12;
  forged[forged.size() - 1] ^= 1;  // last byte of the MAC
  EXPECT_THAT(v.Open(forged), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_OK(v.Open(m1));  // the forged seq 12 did not move the window
}

TEST(EnvelopeTest, RandomizedReorderAcceptsEachSeqAtMostOnce) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    Random rng(seed);
    auth::KeyRing k = Keys({{1, kK1}}, 1);
    EnvelopeSigner s(k, "nfs", 1, 1);
    EnvelopeVerifier v(k, "nfs", 2, 16);
    std::vector<std::string> msgs;
    for (int i = 0; i < 200; ++i) msgs.push_back(s.Seal(Hb()));
    std::vector<int> order;
    for (int i = 0; i < 200; ++i) {
      order.push_back(i);
      if (rng.OneIn(3)) order.push_back(i);  // duplicated over the 2nd link
    }
    for (size_t i = 0; i + 1 < order.size(); ++i) {  // local reordering
      if (rng.OneIn(4)) std::swap(order[i], order[i + 1]);
    }
    std::set<int> accepted;
    for (int i : order) {
      if (v.Open(msgs[i]).ok()) {
        EXPECT_TRUE(accepted.insert(i).second) << "seq " << i + 1 << " accepted twice";
      }
    }
    EXPECT_GE(accepted.size(), 195u);
  }
}

}  // namespace
}  // namespace hafs::cluster
