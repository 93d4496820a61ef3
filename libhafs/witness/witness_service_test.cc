#include "libhafs/witness/witness_service.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::witness {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;
namespace cw = ::hafs::cluster::wire;

auth::KeyRing Keys(char fill, uint32_t id = 1) {
  return *auth::KeyRing::Create({{id, std::string(32, fill)}}, id);
}

class WitnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hafs-witness-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    opts_.cluster_name = "nfs";
    opts_.state_file = dir_ + "/witness.state";
    opts_.arbiter.lease = absl::Seconds(1);
    opts_.arbiter.decision_window = absl::Milliseconds(150);
  }
  void TearDown() override {
    server_.reset();
    core_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }
  void StartWitness() {
    auto c = WitnessCore::Create(opts_, Keys('k'), Clock::System());
    ASSERT_OK(c.status());
    core_ = *std::move(c);
    auto s = WitnessServer::Start("127.0.0.1:0", core_.get());
    ASSERT_OK(s.status());
    server_ = *std::move(s);
    address_ = absl::StrCat("127.0.0.1:", server_->port());
  }
  void StopWitness() {
    server_.reset();
    core_.reset();
  }
  static cw::WitnessRequest Req(uint32_t self, bool primary = false) {
    cw::WitnessRequest r;
    r.add_partition(self);
    r.set_primary(primary);
    return r;
  }

  std::string dir_;
  WitnessCoreOptions opts_;
  std::unique_ptr<WitnessCore> core_;
  std::unique_ptr<WitnessServer> server_;
  std::string address_;
};

// A second witness on a port in use fails (gRPC's default SO_REUSEPORT would
// let it start and answer some of the nodes' calls from its own state).
TEST_F(WitnessTest, APortInUseIsRefused) {
  StartWitness();
  EXPECT_THAT(WitnessServer::Start(address_, core_.get()),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot listen on")));
}

TEST_F(WitnessTest, PartitionRaceExactlyOneWins) {
  ASSERT_NO_FATAL_FAILURE(StartWitness());
  // A fresh witness has no previous life (no state file): still, it is quiet
  // for one lease after start; both requests wait it out and compete.
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    WitnessClient n1(address_, Keys('k'), "nfs", 1, 1000 + round);
    WitnessClient n2(address_, Keys('k'), "nfs", 2, 1000 + round);
    absl::StatusOr<cw::WitnessReply> r1, r2;
    std::thread t1([&] { r1 = n1.Ask(Req(1), absl::Seconds(5)); });
    std::thread t2([&] { r2 = n2.Ask(Req(2), absl::Seconds(5)); });
    t1.join();
    t2.join();
    ASSERT_OK(r1.status());
    ASSERT_OK(r2.status());
    EXPECT_NE(r1->granted(), r2->granted()) << r1->reason() << " / " << r2->reason();
    const cw::WitnessReply& loser = r1->granted() ? *r2 : *r1;
    uint32_t winner = r1->granted() ? 1 : 2;
    EXPECT_EQ(loser.holder(), winner);
    EXPECT_FALSE(loser.reason().empty());
    // The loser asking again while the lease runs is still refused; the
    // winner renews in the same term.
    WitnessClient& lose_client = winner == 1 ? n2 : n1;
    WitnessClient& win_client = winner == 1 ? n1 : n2;
    auto again = lose_client.Ask(Req(winner == 1 ? 2 : 1), absl::Seconds(5));
    ASSERT_OK(again.status());
    EXPECT_FALSE(again->granted());
    auto renew = win_client.Ask(Req(winner), absl::Seconds(5));
    ASSERT_OK(renew.status());
    EXPECT_TRUE(renew->granted());
    EXPECT_EQ(renew->term(), (r1->granted() ? *r1 : *r2).term());
    absl::SleepFor(absl::Milliseconds(1100));  // let the lease expire
  }
}

TEST_F(WitnessTest, BadKeysAndReplaysAreRefusedWithAReason) {
  ASSERT_NO_FATAL_FAILURE(StartWitness());
  WitnessClient wrong_secret(address_, Keys('x'), "nfs", 1, 1);
  EXPECT_THAT(wrong_secret.Ask(Req(1), absl::Seconds(5)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("HMAC mismatch")));
  WitnessClient unknown_key(address_, Keys('k', 7), "nfs", 1, 1);
  EXPECT_THAT(unknown_key.Ask(Req(1), absl::Seconds(5)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown key id 7")));
  WitnessClient other_cluster(address_, Keys('k'), "db", 1, 1);
  EXPECT_THAT(other_cluster.Ask(Req(1), absl::Seconds(5)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("cluster 'db'")));
  WitnessClient wrong_witness(address_, Keys('k'), "nfs", 1, 1, /*witness_id=*/55);
  EXPECT_THAT(wrong_witness.Ask(Req(1), absl::Seconds(5)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("addressed to")));
  EXPECT_EQ(core_->term(), 0u) << "a refused request reached the arbiter";

  WitnessClient good(address_, Keys('k'), "nfs", 1, 5);
  auto r = good.Ask(Req(1), absl::Seconds(5));
  ASSERT_OK(r.status());
  EXPECT_TRUE(r->granted());
  std::string old = good.last_request();
  EXPECT_THAT(good.SendRaw(old, absl::Seconds(5)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("replay")));
  // Tampered bytes: flip one byte of the body.
  std::string bad = old;
  bad[bad.size() / 2] ^= 0x01;
  auto t = good.SendRaw(bad, absl::Seconds(5));
  EXPECT_FALSE(t.ok());
}

TEST_F(WitnessTest, RestartKeepsTermAndReplayStateAndStaysQuiet) {
  ASSERT_NO_FATAL_FAILURE(StartWitness());
  WitnessClient n1(address_, Keys('k'), "nfs", 1, 10);
  auto g = n1.Ask(Req(1, /*primary=*/true), absl::Seconds(5));
  ASSERT_OK(g.status());
  ASSERT_TRUE(g->granted());
  uint64_t term = g->term();
  std::string old = n1.last_request();
  StopWitness();

  // State file: versioned, checksummed.
  std::ifstream in(opts_.state_file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("hafs-witness-state 1\n"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("term ", term, "\n")));
  EXPECT_THAT(text, HasSubstr("checksum "));

  ASSERT_NO_FATAL_FAILURE(StartWitness());
  WitnessClient c1(address_, Keys('k'), "nfs", 1, 10);
  // The old request replayed to the new witness: refused (persisted mark).
  EXPECT_THAT(c1.SendRaw(old, absl::Seconds(5)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("not above")));
  // Node 2 asks at once: the restarted witness decides nothing for one lease
  // (node 1's grant from its previous life may still run).
  WitnessClient n2(address_, Keys('k'), "nfs", 2, 20);
  absl::Time t0 = absl::Now();
  auto r2 = n2.Ask(Req(2), absl::Seconds(5));
  absl::Duration waited = absl::Now() - t0;
  ASSERT_OK(r2.status());
  EXPECT_GE(waited, absl::Milliseconds(800)) << "decided inside the quiet period";
  EXPECT_TRUE(r2->granted());
  EXPECT_EQ(r2->term(), term + 1) << "term sequence restarted";
  EXPECT_EQ(r2->other_holder(), 1u);
  EXPECT_EQ(r2->other_term(), term);
}

TEST(WitnessStateTest, RoundTripAndDamage) {
  PersistedState s;
  s.arbiter.term = 7;
  s.arbiter.last_holder = 2;
  s.arbiter.last_terms = {{1, 5}, {2, 7}};
  s.seen[1] = {100, 42};
  std::string text = SerializeState(s);
  auto p = ParseState(text);
  ASSERT_OK(p.status());
  EXPECT_EQ(p->arbiter.term, 7u);
  EXPECT_EQ(p->arbiter.last_holder, 2u);
  EXPECT_EQ(p->arbiter.last_terms.at(1), 5u);
  EXPECT_EQ(p->seen.at(1).seq, 42u);
  std::string bad = text;
  bad[text.find("term 7") + 5] = '8';
  EXPECT_THAT(ParseState(bad), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("checksum")));
  EXPECT_THAT(ParseState(text.substr(0, 20)), StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace hafs::witness
