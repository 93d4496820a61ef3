#include "libhafs/peer/sim_transport.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::peer {
namespace {

using ::hafs::testing::StatusIs;
using Kind = TransportEvent::Kind;

MirrorMessage DataMsg(uint64_t seq, size_t bytes = 16) {
  MirrorMessage m;
  m.mutable_data()->set_seq(seq);
  m.mutable_data()->set_data(std::string(bytes, 'x'));
  return m;
}

PeerInfo Node(uint32_t id) {
  PeerInfo p;
  p.node_id = id;
  p.node_name = absl::StrCat("n", id);
  p.incarnation = 1000 + id;
  return p;
}

struct Fixture {
  explicit Fixture(uint64_t seed, SimNetworkOptions o = {}, TransportOptions t = {})
      : net(&clock, seed, o, Node(0), Node(1), t) {}
  SimClock clock;
  SimNetwork net;
  SimTransport* a() { return net.endpoint(0); }
  SimTransport* b() { return net.endpoint(1); }
  void ConnectBoth() {
    a()->Connect();
    b()->Connect();
    clock.AdvanceBy(absl::Milliseconds(2));
  }
};

std::vector<Kind> Kinds(const std::vector<TransportEvent>& events) {
  std::vector<Kind> k;
  for (const auto& e : events) k.push_back(e.kind);
  return k;
}

TEST(SimTransportTest, ConnectsAndDeliversInOrderBothWays) {
  Fixture f(1);
  f.ConnectBoth();
  auto ea = f.a()->TakeEvents();
  auto eb = f.b()->TakeEvents();
  ASSERT_THAT(Kinds(ea), ::testing::ElementsAre(Kind::kConnected));
  ASSERT_THAT(Kinds(eb), ::testing::ElementsAre(Kind::kConnected));
  EXPECT_EQ(ea[0].peer.node_id, 1u);
  EXPECT_EQ(ea[0].peer.node_name, "n1");
  EXPECT_EQ(ea[0].peer.incarnation, 1001u);
  EXPECT_EQ(eb[0].peer.node_id, 0u);
  const ConnectionId ca = ea[0].connection, cb = eb[0].connection;
  for (uint64_t i = 0; i < 2000; ++i) {
    ASSERT_OK(f.a()->Send(ca, DataMsg(i)));
    ASSERT_OK(f.b()->Send(cb, DataMsg(i + 1000000)));
    if (i % 10 == 0) f.clock.AdvanceBy(absl::Microseconds(100));
  }
  f.clock.AdvanceBy(absl::Milliseconds(10));
  uint64_t next_b = 0, next_a = 1000000;
  for (const auto& e : f.b()->TakeEvents()) {
    ASSERT_EQ(e.kind, Kind::kMessage);
    ASSERT_EQ(e.message.data().seq(), next_b++);
    EXPECT_EQ(e.connection, cb);
  }
  for (const auto& e : f.a()->TakeEvents()) {
    ASSERT_EQ(e.message.data().seq(), next_a++);
  }
  EXPECT_EQ(next_b, 2000u);
  EXPECT_EQ(next_a, 1002000u);
  EXPECT_EQ(f.a()->QueuedBytes(), 0u);
}

// A trace of everything both endpoints observed, with simulated times.
std::string RunChaos(uint64_t seed) {
  SimNetworkOptions o;
  o.drop_probability = 0.002;
  TransportOptions t;
  t.connect_interval = absl::Milliseconds(50);
  Fixture f(seed, o, t);
  Random rng(seed * 7 + 1);
  std::string trace;
  f.a()->Connect();
  f.b()->Connect();
  uint64_t seq = 0;
  std::vector<uint64_t> received;  // per connection, must be a prefix of what was sent
  std::vector<uint64_t> sent_on_conn;
  for (int step = 0; step < 3000; ++step) {
    if (ConnectionId c = f.a()->connection(); c != 0 && rng.OneIn(2)) {
      if (f.a()->Send(c, DataMsg(seq)).ok()) sent_on_conn.push_back(seq);
      ++seq;
    }
    if (rng.OneIn(500)) f.net.SetBlocked(true, true);
    if (rng.OneIn(200)) f.net.Heal();
    f.clock.AdvanceBy(absl::Microseconds(rng.Range(10, 2000)));
    for (const auto& e : f.a()->TakeEvents()) {
      absl::StrAppend(&trace, absl::FormatTime(f.clock.Now()), " a ", KindName(e.kind), " ",
                      e.connection, "\n");
      if (e.kind == Kind::kConnected) sent_on_conn.clear();
    }
    for (const auto& e : f.b()->TakeEvents()) {
      absl::StrAppend(&trace, absl::FormatTime(f.clock.Now()), " b ", KindName(e.kind), " ",
                      e.connection, " ",
                      e.kind == Kind::kMessage ? e.message.data().seq() : 0, "\n");
      if (e.kind == Kind::kConnected) received.clear();
      if (e.kind == Kind::kMessage) {
        received.push_back(e.message.data().seq());
        // FIFO, no loss inside a connection: received is a prefix of sent_on_conn.
        EXPECT_LE(received.size(), sent_on_conn.size()) << "seed=" << seed;
        if (received.size() <= sent_on_conn.size()) {
          EXPECT_EQ(received.back(), sent_on_conn[received.size() - 1]) << "seed=" << seed;
        }
      }
    }
  }
  absl::StrAppend(&trace, "stats ", f.net.stats().connections, " ", f.net.stats().breaks, " ",
                  f.net.stats().delivered, " ", f.net.stats().lost);
  return trace;
}

TEST(SimTransportTest, DeterministicPerSeed) {
  for (uint64_t seed : {1, 2, 3, 42}) {
    SCOPED_TRACE(absl::StrCat("seed=", seed));
    std::string t1 = RunChaos(seed);
    std::string t2 = RunChaos(seed);
    EXPECT_EQ(t1, t2);
    EXPECT_NE(t1, RunChaos(seed + 100));
    EXPECT_THAT(t1, ::testing::HasSubstr("Disconnected"));
  }
}

TEST(SimTransportTest, BreakLosesInFlightAndReconnects) {
  TransportOptions t;
  t.connect_interval = absl::Milliseconds(100);
  Fixture f(3, {}, t);
  f.ConnectBoth();
  ConnectionId c1 = f.a()->TakeEvents().at(0).connection;
  f.b()->TakeEvents();
  ASSERT_OK(f.a()->Send(c1, DataMsg(1)));
  f.net.BreakConnection();
  EXPECT_THAT(f.a()->Send(c1, DataMsg(2)), StatusIs(absl::StatusCode::kUnavailable));
  auto ea = f.a()->TakeEvents();
  auto eb = f.b()->TakeEvents();
  ASSERT_THAT(Kinds(ea), ::testing::ElementsAre(Kind::kDisconnected));
  ASSERT_THAT(Kinds(eb), ::testing::ElementsAre(Kind::kDisconnected));
  EXPECT_THAT(ea[0].reason, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(f.net.stats().lost, 1u);
  f.clock.AdvanceBy(absl::Milliseconds(99));
  EXPECT_TRUE(f.a()->TakeEvents().empty());
  f.clock.AdvanceBy(absl::Milliseconds(1));
  ea = f.a()->TakeEvents();
  ASSERT_THAT(Kinds(ea), ::testing::ElementsAre(Kind::kConnected));
  ConnectionId c2 = ea[0].connection;
  EXPECT_GT(c2, c1);
  ASSERT_OK(f.a()->Send(c2, DataMsg(3)));
  f.clock.AdvanceBy(absl::Milliseconds(1));
  eb = f.b()->TakeEvents();
  ASSERT_THAT(Kinds(eb), ::testing::ElementsAre(Kind::kConnected, Kind::kMessage));
  EXPECT_EQ(eb[1].message.data().seq(), 3u);
}

TEST(SimTransportTest, DisconnectStopsReconnecting) {
  TransportOptions t;
  t.connect_interval = absl::Milliseconds(10);
  Fixture f(4, {}, t);
  f.ConnectBoth();
  f.a()->TakeEvents();
  f.b()->TakeEvents();
  f.a()->Disconnect();
  auto ea = f.a()->TakeEvents();
  auto eb = f.b()->TakeEvents();
  ASSERT_EQ(ea.size(), 1u);
  EXPECT_THAT(ea[0].reason, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(eb[0].reason, StatusIs(absl::StatusCode::kUnavailable));
  f.clock.AdvanceBy(absl::Seconds(1));
  EXPECT_TRUE(f.a()->TakeEvents().empty());
  EXPECT_FALSE(f.net.connected());
  f.a()->Connect();
  f.clock.AdvanceBy(absl::Milliseconds(20));
  EXPECT_THAT(Kinds(f.a()->TakeEvents()), ::testing::ElementsAre(Kind::kConnected));
}

TEST(SimTransportTest, ShortAsymmetricPartitionDelaysButKeepsConnection) {
  SimNetworkOptions o;
  o.connection_timeout = absl::Seconds(2);
  Fixture f(5, o);
  f.ConnectBoth();
  ConnectionId ca = f.a()->TakeEvents().at(0).connection;
  ConnectionId cb = f.b()->TakeEvents().at(0).connection;
  f.net.SetBlocked(/*from0to1=*/true, /*from1to0=*/false);
  ASSERT_OK(f.a()->Send(ca, DataMsg(1)));
  ASSERT_OK(f.a()->Send(ca, DataMsg(2)));
  ASSERT_OK(f.b()->Send(cb, DataMsg(7)));
  f.clock.AdvanceBy(absl::Seconds(1));
  EXPECT_TRUE(f.b()->TakeEvents().empty());  // held
  auto ea = f.a()->TakeEvents();              // the open direction works
  ASSERT_THAT(Kinds(ea), ::testing::ElementsAre(Kind::kMessage));
  f.net.Heal();
  f.clock.AdvanceBy(absl::Seconds(5));
  auto eb = f.b()->TakeEvents();
  ASSERT_THAT(Kinds(eb), ::testing::ElementsAre(Kind::kMessage, Kind::kMessage));
  EXPECT_EQ(eb[0].message.data().seq(), 1u);
  EXPECT_EQ(eb[1].message.data().seq(), 2u);
  EXPECT_TRUE(f.net.connected());
}

TEST(SimTransportTest, AsymmetricPartitionTimesOutAndBlocksReconnect) {
  SimNetworkOptions o;
  o.connection_timeout = absl::Seconds(2);
  TransportOptions t;
  t.connect_interval = absl::Milliseconds(500);
  Fixture f(6, o, t);
  f.ConnectBoth();
  f.a()->TakeEvents();
  f.b()->TakeEvents();
  f.net.SetBlocked(false, true);
  f.clock.AdvanceBy(absl::Milliseconds(1999));
  EXPECT_TRUE(f.net.connected());
  f.clock.AdvanceBy(absl::Milliseconds(1));
  EXPECT_FALSE(f.net.connected());
  auto ea = f.a()->TakeEvents();
  ASSERT_THAT(Kinds(ea), ::testing::ElementsAre(Kind::kDisconnected));
  EXPECT_THAT(ea[0].reason, StatusIs(absl::StatusCode::kDeadlineExceeded,
                                     ::testing::HasSubstr("node1 -> node0")));
  f.clock.AdvanceBy(absl::Seconds(5));  // attempts fail while one direction is blocked
  EXPECT_TRUE(f.a()->TakeEvents().empty());
  f.net.Heal();
  f.clock.AdvanceBy(absl::Milliseconds(500));
  EXPECT_THAT(Kinds(f.a()->TakeEvents()), ::testing::ElementsAre(Kind::kConnected));
}

TEST(SimTransportTest, BackPressureAndWritable) {
  TransportOptions t;
  t.max_queued_bytes = 10000;
  SimNetworkOptions o;
  o.bandwidth_bytes_per_s = 1e6;  // 1 MB/s: 1000 bytes take 1 ms
  Fixture f(7, o, t);
  f.ConnectBoth();
  ConnectionId c = f.a()->TakeEvents().at(0).connection;
  int accepted = 0;
  absl::Status s;
  while ((s = f.a()->Send(c, DataMsg(accepted, 1000))).ok()) ++accepted;
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kResourceExhausted,
                          ::testing::HasSubstr("max_queued_bytes 10000")));
  EXPECT_GE(accepted, 8);
  EXPECT_LE(accepted, 10);
  EXPECT_GT(f.a()->QueuedBytes(), 8000u);
  f.clock.AdvanceBy(absl::Milliseconds(100));
  auto ea = f.a()->TakeEvents();
  ASSERT_THAT(Kinds(ea), ::testing::ElementsAre(Kind::kWritable));
  EXPECT_OK(f.a()->Send(c, DataMsg(99, 1000)));
  // An oversized message goes through when the queue is empty.
  f.clock.AdvanceBy(absl::Milliseconds(100));
  EXPECT_OK(f.a()->Send(c, DataMsg(100, 50000)));
}

TEST(SimTransportTest, ProtocolViolationModeDuplicatesAndReorders) {
  SimNetworkOptions o;
  o.protocol_violations = true;
  o.duplicate_probability = 0.05;
  o.reorder_probability = 0.05;
  Fixture f(8, o);
  f.ConnectBoth();
  ConnectionId c = f.a()->TakeEvents().at(0).connection;
  f.b()->TakeEvents();
  for (uint64_t i = 0; i < 1000; ++i) {
    ASSERT_OK(f.a()->Send(c, DataMsg(i)));
    f.clock.AdvanceBy(absl::Microseconds(200));
  }
  f.clock.AdvanceBy(absl::Milliseconds(50));
  int dups = 0, inversions = 0;
  std::vector<int> count(1000, 0);
  uint64_t prev = 0;
  bool first = true;
  for (const auto& e : f.b()->TakeEvents()) {
    uint64_t s = e.message.data().seq();
    if (++count[s] == 2) ++dups;
    if (!first && s < prev) ++inversions;
    prev = s;
    first = false;
  }
  EXPECT_GT(dups, 10);
  EXPECT_GT(inversions, 10);
  for (int n : count) EXPECT_GE(n, 1);  // nothing lost
  EXPECT_GT(f.net.stats().duplicated, 0u);
  EXPECT_GT(f.net.stats().reordered, 0u);
}

}  // namespace
}  // namespace hafs::peer
