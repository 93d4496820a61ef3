#include "libhafs/peer/handshake.h"

#include <deque>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::peer {
namespace {

using ::testing::HasSubstr;
using State = Handshake::State;

std::shared_ptr<const auth::KeyRing> Ring(std::vector<auth::Key> keys, uint32_t sign) {
  auto ring = auth::KeyRing::Create(std::move(keys), sign);
  HAFS_CHECK(ring.ok()) << ring.status();
  return std::make_shared<const auth::KeyRing>(*std::move(ring));
}

const std::string kOld(32, 'o');
const std::string kNew(32, 'n');

PeerAuthConfig Config(uint32_t id, uint32_t peer, std::shared_ptr<const auth::KeyRing> keys) {
  PeerAuthConfig c;
  c.cluster_name = "c1";
  c.node_id = id;
  c.node_name = "node" + std::to_string(id);
  c.incarnation = 100 + id;
  c.expected_peer_node_id = peer;
  c.keys = std::move(keys);
  return c;
}

// Runs two handshakes against each other until neither has anything to send.
void Pump(Handshake& a, Handshake& b) {
  std::deque<Frame> to_a, to_b;
  to_b.push_back(a.Start());
  to_a.push_back(b.Start());
  while (!to_a.empty() || !to_b.empty()) {
    if (!to_b.empty()) {
      for (Frame& f : b.OnFrame(to_b.front())) to_a.push_back(std::move(f));
      to_b.pop_front();
    }
    if (!to_a.empty()) {
      for (Frame& f : a.OnFrame(to_a.front())) to_b.push_back(std::move(f));
      to_a.pop_front();
    }
  }
}

std::string Challenge(char c) { return std::string(kChallengeBytes, c); }

TEST(HandshakeTest, GoodKeyAuthenticatesBothSides) {
  ChallengeRegistry ra, rb;
  auto ring = Ring({{1, kOld}}, 1);
  Handshake a(Config(0, 1, ring), &ra, Challenge('a'), "B");
  Handshake b(Config(1, 0, ring), &rb, Challenge('b'), "A", "", [](const std::string& ch) {
    return ch.empty();
  });
  Pump(a, b);
  ASSERT_EQ(a.state(), State::kAuthenticated) << a.reason();
  ASSERT_EQ(b.state(), State::kAuthenticated) << b.reason();
  EXPECT_EQ(a.peer().node_id, 1u);
  EXPECT_EQ(a.peer().node_name, "node1");
  EXPECT_EQ(a.peer().incarnation, 101u);
  EXPECT_EQ(b.peer().protocol_version, 1u);
}

TEST(HandshakeTest, RotationAcceptsOldAndNewSignsWithNew) {
  ChallengeRegistry ra, rb;
  // a already rotated (signs with 2, accepts 1 and 2); b still only knows key 1 → b refuses.
  {
    Handshake a(Config(0, 1, Ring({{1, kOld}, {2, kNew}}, 2)), &ra, Challenge('a'), "B");
    Handshake b(Config(1, 0, Ring({{1, kOld}}, 1)), &rb, Challenge('b'), "A");
    Pump(a, b);
    EXPECT_EQ(b.state(), State::kRefused);
    EXPECT_THAT(b.reason(), HasSubstr("wrong key id 2"));
    EXPECT_EQ(a.state(), State::kRefusedByPeer);
  }
  // b accepts both, signs with 1: works in both directions.
  {
    Handshake a(Config(0, 1, Ring({{1, kOld}, {2, kNew}}, 2)), &ra, Challenge('c'), "B");
    Handshake b(Config(1, 0, Ring({{1, kOld}, {2, kNew}}, 1)), &rb, Challenge('d'), "A");
    Pump(a, b);
    EXPECT_EQ(a.state(), State::kAuthenticated) << a.reason();
    EXPECT_EQ(b.state(), State::kAuthenticated) << b.reason();
  }
}

struct RefusalCase {
  const char* name;
  std::function<void(PeerAuthConfig& a, PeerAuthConfig& b)> mutate;
  const char* reason;  // seen by b (the refusing side)
};

TEST(HandshakeTest, RefusalReasons) {
  const RefusalCase cases[] = {
      {"wrong key", [](PeerAuthConfig& a, PeerAuthConfig&) { a.keys = Ring({{1, kNew}}, 1); },
       "bad MAC under key id 1"},
      {"unknown key id", [](PeerAuthConfig& a, PeerAuthConfig&) { a.keys = Ring({{9, kOld}}, 9); },
       "wrong key id 9"},
      {"wrong cluster", [](PeerAuthConfig& a, PeerAuthConfig&) { a.cluster_name = "other"; },
       "wrong cluster: peer is in cluster 'other'"},
      {"unexpected node", [](PeerAuthConfig& a, PeerAuthConfig&) { a.node_id = 5; },
       "unexpected node id 5"},
      {"version", [](PeerAuthConfig& a, PeerAuthConfig&) { a.version_min = a.version_max = 2; },
       "version mismatch: peer speaks 2..2"},
      {"mtls-only peer", [](PeerAuthConfig& a, PeerAuthConfig&) { a.keys = nullptr; },
       "wrong key id 0"},
  };
  char next = 'A';
  for (const RefusalCase& c : cases) {
    SCOPED_TRACE(c.name);
    ChallengeRegistry ra, rb;
    auto ring = Ring({{1, kOld}}, 1);
    PeerAuthConfig ca = Config(0, 1, ring), cb = Config(1, 0, ring);
    c.mutate(ca, cb);
    if (ca.keys == nullptr) ca.mode = AuthMode::kMtls;
    Handshake a(ca, &ra, Challenge(next++), "addr-a");
    Handshake b(cb, &rb, Challenge(next++), "addr-b");
    if (ca.keys == nullptr) a.SetTlsPeerNames({"node1"});
    Pump(a, b);
    EXPECT_EQ(b.state(), State::kRefused);
    EXPECT_THAT(b.reason(), HasSubstr(c.reason));
    EXPECT_THAT(b.RefusalLogLine(), HasSubstr("peer addr-b refused: claimed node"));
    EXPECT_NE(a.state(), State::kAuthenticated);
  }
}

TEST(HandshakeTest, ReplayedChallengeIsRefused) {
  ChallengeRegistry ra, rb;
  auto ring = Ring({{1, kOld}}, 1);
  {
    Handshake a(Config(0, 1, ring), &ra, Challenge('x'), "B");
    Handshake b(Config(1, 0, ring), &rb, Challenge('y'), "A");
    Pump(a, b);
    ASSERT_EQ(b.state(), State::kAuthenticated);
  }
  // An attacker replays a's recorded Hello (same challenge 'x') to b.
  Handshake a2(Config(0, 1, ring), nullptr, Challenge('x'), "B");
  Handshake b2(Config(1, 0, ring), &rb, Challenge('z'), "A");
  Pump(a2, b2);
  EXPECT_EQ(b2.state(), State::kRefused);
  EXPECT_THAT(b2.reason(), HasSubstr("challenge reused"));
  // Reflection: the peer echoes b's own challenge.
  Handshake a3(Config(0, 1, ring), nullptr, Challenge('w'), "B");
  Handshake b3(Config(1, 0, ring), &rb, Challenge('w'), "A");
  Pump(a3, b3);
  EXPECT_EQ(b3.state(), State::kRefused);
  EXPECT_THAT(b3.reason(), HasSubstr("challenge reused"));
}

TEST(HandshakeTest, ReplayedProofFailsAgainstFreshChallenge) {
  ChallengeRegistry ra, rb;
  auto ring = Ring({{1, kOld}}, 1);
  Handshake a(Config(0, 1, ring), &ra, Challenge('p'), "B");
  Handshake b(Config(1, 0, ring), &rb, Challenge('q'), "A");
  Frame hello_a = a.Start();
  Frame hello_b = b.Start();
  std::vector<Frame> proof = a.OnFrame(hello_b);
  ASSERT_EQ(proof.size(), 1u);
  // Replay a's hello with a different (fresh) challenge field is impossible without the key;
  // replaying its proof to a new b with a different challenge fails the MAC.
  Handshake b2(Config(1, 0, ring), &rb, Challenge('r'), "A");
  b2.Start();
  Frame hello_a_fresh = hello_a;
  hello_a_fresh.mutable_hello()->set_challenge(Challenge('s'));
  b2.OnFrame(hello_a_fresh);
  std::vector<Frame> out = b2.OnFrame(proof[0]);
  EXPECT_EQ(b2.state(), State::kRefused);
  EXPECT_THAT(b2.reason(), HasSubstr("bad MAC"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].auth_result().ok());
}

TEST(HandshakeTest, MirrorMessagesBeforeAuthAreAViolation) {
  ChallengeRegistry r;
  Handshake b(Config(1, 0, Ring({{1, kOld}}, 1)), &r, Challenge('m'), "A");
  b.Start();
  Frame f;
  f.mutable_batch();
  b.OnFrame(f);
  EXPECT_EQ(b.state(), State::kRefused);
  EXPECT_THAT(b.reason(), HasSubstr("before authentication"));
}

TEST(HandshakeTest, MtlsChecksCertificateNames) {
  ChallengeRegistry ra, rb;
  PeerAuthConfig ca = Config(0, 1, nullptr), cb = Config(1, 0, nullptr);
  ca.mode = cb.mode = AuthMode::kMtls;
  Handshake a(ca, &ra, Challenge('1'), "B");
  Handshake b(cb, &rb, Challenge('2'), "A");
  a.SetTlsPeerNames({"node1"});
  b.SetTlsPeerNames({"node7", "other"});
  Pump(a, b);
  EXPECT_EQ(b.state(), State::kRefused);
  EXPECT_THAT(b.reason(), HasSubstr("certificate does not name node 'node0'"));
  Handshake a2(ca, &ra, Challenge('3'), "B");
  Handshake b2(cb, &rb, Challenge('4'), "A");
  a2.SetTlsPeerNames({"node1"});
  b2.SetTlsPeerNames({"node0"});
  Pump(a2, b2);
  EXPECT_EQ(a2.state(), State::kAuthenticated) << a2.reason();
  EXPECT_EQ(b2.state(), State::kAuthenticated) << b2.reason();
}

}  // namespace
}  // namespace hafs::peer
