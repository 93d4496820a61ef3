#include "libhafs/peer/grpc_transport.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::peer {
namespace {

using ::hafs::testing::IsOk;
using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;
using Kind = TransportEvent::Kind;

const std::string kKeyA(32, 'a');
const std::string kKeyB(32, 'b');

std::shared_ptr<const auth::KeyRing> Ring(std::vector<auth::Key> keys, uint32_t sign) {
  auto r = auth::KeyRing::Create(std::move(keys), sign);
  HAFS_CHECK(r.ok()) << r.status();
  return std::make_shared<const auth::KeyRing>(*std::move(r));
}

PeerServiceOptions Options(uint32_t id, std::shared_ptr<const auth::KeyRing> keys,
                           const std::string& cluster = "c1") {
  PeerServiceOptions o;
  o.auth.cluster_name = cluster;
  o.auth.node_id = id;
  o.auth.node_name = absl::StrCat("node", id);
  o.auth.incarnation = 1000 + id + static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  o.auth.expected_peer_node_id = 1 - id;
  o.auth.keys = std::move(keys);
  return o;
}

// Captures WARNING lines.
class CaptureSink : public LogSink {
 public:
  void Send(LogSeverity severity, absl::string_view line) override {
    absl::MutexLock l(&mu_);
    if (severity >= LogSeverity::kWarning) lines_.emplace_back(line);
  }
  std::string All() {
    absl::MutexLock l(&mu_);
    std::string s;
    for (const auto& l : lines_) absl::StrAppend(&s, l, "\n");
    return s;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_;
};

// Collects events of a transport, with waiting.
class Events {
 public:
  explicit Events(Transport* t) : t_(t) {}
  // Waits until an event of `kind` arrives; returns it (all events up to it
  // are kept in `seen`).
  std::optional<TransportEvent> WaitFor(Kind kind, absl::Duration timeout = absl::Seconds(10)) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      while (next_ < seen.size()) {
        if (seen[next_++].kind == kind) return seen[next_ - 1];
      }
      for (auto& e : t_->TakeEvents()) seen.push_back(std::move(e));
      if (next_ == seen.size()) absl::SleepFor(absl::Milliseconds(1));
    }
    return std::nullopt;
  }
  // Drains for `d` and returns the new events.
  std::vector<TransportEvent> Drain(absl::Duration d) {
    absl::SleepFor(d);
    for (auto& e : t_->TakeEvents()) seen.push_back(std::move(e));
    std::vector<TransportEvent> out(seen.begin() + next_, seen.end());
    next_ = seen.size();
    return out;
  }
  std::vector<TransportEvent> seen;

 private:
  Transport* t_;
  size_t next_ = 0;
};

struct Node {
  std::unique_ptr<PeerServer> server;
  std::unique_ptr<GrpcTransport> transport;
};

GrpcTransportOptions TOpts(int peer_port) {
  GrpcTransportOptions t;
  t.channel = "r0";
  t.peer_address = absl::StrCat("127.0.0.1:", peer_port);
  t.transport.connect_interval = absl::Milliseconds(100);
  t.handshake_timeout = absl::Seconds(3);
  return t;
}

// Node 1 (accepting side) first, then node 0 (dialer) pointing at it.
std::pair<Node, Node> MakePair(PeerServiceOptions o0, PeerServiceOptions o1,
                               GrpcTransportOptions t0 = TOpts(0)) {
  Node n1, n0;
  n1.server = *PeerServer::Start(std::move(o1), "127.0.0.1:0");
  n1.transport = *GrpcTransport::Create(n1.server.get(), TOpts(0));
  n0.server = *PeerServer::Start(std::move(o0), "127.0.0.1:0");
  t0.peer_address = absl::StrCat("127.0.0.1:", n1.server->port());
  n0.transport = *GrpcTransport::Create(n0.server.get(), t0);
  return {std::move(n0), std::move(n1)};
}

MirrorMessage DataMsg(uint64_t seq, size_t bytes = 64) {
  MirrorMessage m;
  m.mutable_data()->set_seq(seq);
  m.mutable_data()->set_data(std::string(bytes, static_cast<char>('a' + seq % 26)));
  return m;
}

// Sends `n` messages starting at `first`, honouring back-pressure.
void SendAll(Transport* t, Events& ev, ConnectionId c, uint64_t first, uint64_t n,
             size_t bytes, int* refusals = nullptr) {
  for (uint64_t i = first; i < first + n;) {
    absl::Status s = t->Send(c, DataMsg(i, bytes));
    if (s.ok()) {
      ++i;
      continue;
    }
    ASSERT_THAT(s, StatusIs(absl::StatusCode::kResourceExhausted));
    if (refusals != nullptr) ++*refusals;
    ASSERT_TRUE(ev.WaitFor(Kind::kWritable).has_value()) << "no Writable after refusal";
  }
}

TEST(GrpcTransportTest, ConnectsAndExchangesThousandsInOrder) {
  auto ring = Ring({{1, kKeyA}}, 1);
  auto [n0, n1] = MakePair(Options(0, ring), Options(1, ring));
  EXPECT_TRUE(n0.transport->dialer());
  EXPECT_FALSE(n1.transport->dialer());
  Events e0(n0.transport.get()), e1(n1.transport.get());
  n1.transport->Connect();
  n0.transport->Connect();
  auto c0 = e0.WaitFor(Kind::kConnected);
  auto c1 = e1.WaitFor(Kind::kConnected);
  ASSERT_TRUE(c0 && c1);
  EXPECT_EQ(c0->peer.node_id, 1u);
  EXPECT_EQ(c0->peer.node_name, "node1");
  EXPECT_EQ(c1->peer.node_id, 0u);
  EXPECT_EQ(c1->peer.protocol_version, 1u);
  EXPECT_THAT(c1->peer.address, HasSubstr("127.0.0.1"));

  // Small payloads one way, large ones (sent from their own slices,
  // frame_codec.h) the other; every payload arrives aligned, apart from the
  // message, with its bytes.
  constexpr uint64_t kN = 5000, kLarge = 300;
  constexpr size_t kLargeBytes = 64 << 10;
  SendAll(n0.transport.get(), e0, c0->connection, 0, kN, 100);
  SendAll(n1.transport.get(), e1, c1->connection, 1000000, kLarge, kLargeBytes);
  uint64_t next1 = 0, next0 = 1000000;
  auto check = [](const TransportEvent& e, uint64_t seq, size_t bytes) {
    ASSERT_EQ(e.message.data().seq(), seq) << "out of order";
    ASSERT_NE(e.payload, nullptr);
    EXPECT_TRUE(e.message.data().data().empty());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(e.payload->data()) % 4096, 0u);
    ASSERT_EQ(BulkBytes(e), DataMsg(seq, bytes).data().data());
  };
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((next1 < kN || next0 < 1000000 + kLarge) && absl::Now() < deadline) {
    for (const auto& e : e1.Drain(absl::Milliseconds(1))) {
      if (e.kind != Kind::kMessage) continue;
      ASSERT_NO_FATAL_FAILURE(check(e, next1, 100));
      ++next1;
    }
    for (const auto& e : e0.Drain(absl::Milliseconds(0))) {
      if (e.kind != Kind::kMessage) continue;
      ASSERT_NO_FATAL_FAILURE(check(e, next0, kLargeBytes));
      ++next0;
    }
  }
  EXPECT_EQ(next1, kN);
  EXPECT_EQ(next0, 1000000 + kLarge);
  // Coalescing: far fewer writes than messages.
  EXPECT_LT(n0.transport->BatchesSent(), kN);
  EXPECT_GE(n0.transport->BatchesSent(), 1u);
  EXPECT_EQ(n0.transport->QueuedBytes(), 0u);
}

TEST(GrpcTransportTest, BackPressureRefusesAndRecovers) {
  auto ring = Ring({{1, kKeyA}}, 1);
  GrpcTransportOptions t0 = TOpts(0);
  t0.transport.max_queued_bytes = 2 << 20;
  t0.max_batch_bytes = 512 << 10;
  auto [n0, n1] = MakePair(Options(0, ring), Options(1, ring), t0);
  Events e0(n0.transport.get()), e1(n1.transport.get());
  n1.transport->Connect();
  n0.transport->Connect();
  auto c0 = e0.WaitFor(Kind::kConnected);
  ASSERT_TRUE(c0 && e1.WaitFor(Kind::kConnected));
  // Without waiting, the queue must fill up.
  int accepted = 0;
  absl::Status s;
  while ((s = n0.transport->Send(c0->connection, DataMsg(accepted, 256 << 10))).ok()) {
    ++accepted;
    ASSERT_LT(accepted, 10000) << "never refused";
  }
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("max_queued_bytes")));
  EXPECT_LE(n0.transport->QueuedBytes(), size_t{2} << 20);
  ASSERT_TRUE(e0.WaitFor(Kind::kWritable).has_value());
  int refusals = 0;
  SendAll(n0.transport.get(), e0, c0->connection, accepted, 40, 256 << 10, &refusals);
  uint64_t got = 0;
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (got < static_cast<uint64_t>(accepted) + 40 && absl::Now() < deadline) {
    for (const auto& e : e1.Drain(absl::Milliseconds(2))) {
      if (e.kind == Kind::kMessage) {
        ASSERT_EQ(e.message.data().seq(), got++);
      }
    }
  }
  EXPECT_EQ(got, static_cast<uint64_t>(accepted) + 40);
}

TEST(GrpcTransportTest, DisconnectAndReconnect) {
  auto ring = Ring({{1, kKeyA}}, 1);
  auto [n0, n1] = MakePair(Options(0, ring), Options(1, ring));
  Events e0(n0.transport.get()), e1(n1.transport.get());
  n1.transport->Connect();
  n0.transport->Connect();
  auto c0 = e0.WaitFor(Kind::kConnected);
  auto c1 = e1.WaitFor(Kind::kConnected);
  ASSERT_TRUE(c0 && c1);
  // The accepting side disconnects: both see it; the dialer keeps retrying.
  n1.transport->Disconnect();
  auto d1 = e1.WaitFor(Kind::kDisconnected);
  auto d0 = e0.WaitFor(Kind::kDisconnected);
  ASSERT_TRUE(d0 && d1);
  EXPECT_THAT(d1->reason, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(d0->connection, c0->connection);
  EXPECT_THAT(n0.transport->Send(c0->connection, DataMsg(1)),
              StatusIs(absl::StatusCode::kUnavailable));
  // While node 1 does not want a connection, the dialer is refused; nothing connects.
  EXPECT_TRUE(e0.Drain(absl::Milliseconds(300)).empty() ||
              !e0.WaitFor(Kind::kConnected, absl::Milliseconds(1)).has_value());
  n1.transport->Connect();
  auto c0b = e0.WaitFor(Kind::kConnected);
  auto c1b = e1.WaitFor(Kind::kConnected);
  ASSERT_TRUE(c0b && c1b);
  EXPECT_GT(c0b->connection, c0->connection);
  ASSERT_OK(n0.transport->Send(c0b->connection, DataMsg(42)));
  auto m = e1.WaitFor(Kind::kMessage);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->message.data().seq(), 42u);
  EXPECT_EQ(m->connection, c1b->connection);
  // The dialer disconnects: stays down.
  n0.transport->Disconnect();
  ASSERT_TRUE(e1.WaitFor(Kind::kDisconnected).has_value());
  EXPECT_FALSE(e1.WaitFor(Kind::kConnected, absl::Milliseconds(400)).has_value());
}

TEST(GrpcTransportTest, SurvivesServerRestart) {
  auto ring = Ring({{1, kKeyA}}, 1);
  auto [n0, n1] = MakePair(Options(0, ring), Options(1, ring));
  const int port = n1.server->port();
  Events e0(n0.transport.get());
  {
    Events e1(n1.transport.get());
    n1.transport->Connect();
    n0.transport->Connect();
    ASSERT_TRUE(e0.WaitFor(Kind::kConnected) && e1.WaitFor(Kind::kConnected));
  }
  const uint64_t old_incarnation = e0.seen.front().peer.incarnation;
  n1.transport.reset();
  n1.server.reset();
  auto d0 = e0.WaitFor(Kind::kDisconnected);
  ASSERT_TRUE(d0.has_value());
  // Restart node 1 on the same port.
  auto o1 = Options(1, ring);
  absl::StatusOr<std::unique_ptr<PeerServer>> s;
  for (int i = 0; i < 50; ++i) {
    s = PeerServer::Start(o1, absl::StrCat("127.0.0.1:", port));
    if (s.ok()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_OK(s);
  n1.server = *std::move(s);
  n1.transport = *GrpcTransport::Create(n1.server.get(), TOpts(0));
  Events e1(n1.transport.get());
  n1.transport->Connect();
  auto c0 = e0.WaitFor(Kind::kConnected);
  ASSERT_TRUE(c0.has_value());
  EXPECT_NE(c0->peer.incarnation, old_incarnation);
  ASSERT_TRUE(e1.WaitFor(Kind::kConnected).has_value());
  ASSERT_OK(n0.transport->Send(c0->connection, DataMsg(7)));
  auto m = e1.WaitFor(Kind::kMessage);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->message.data().seq(), 7u);
}

// The dialer's stream and heartbeats complete on the dialer's own PeerServer
// (its completion queue and polling thread): shutting that server down
// cancels them, ends the stream on both sides and refuses new calls at once.
TEST(GrpcTransportTest, ShuttingDownTheDialersServerEndsItsOwnCalls) {
  auto ring = Ring({{1, kKeyA}}, 1);
  auto [n0, n1] = MakePair(Options(0, ring), Options(1, ring));
  Events e0(n0.transport.get()), e1(n1.transport.get());
  n1.transport->Connect();
  n0.transport->Connect();
  auto c0 = e0.WaitFor(Kind::kConnected);
  ASSERT_TRUE(c0.has_value() && e1.WaitFor(Kind::kConnected).has_value());
  // A heartbeat the peer answers late is still in flight at the shutdown.
  absl::Notification in_handler, release;
  n1.server->SetHeartbeatHandler(
      [&](const HeartbeatFrame& f, const std::string&) -> absl::StatusOr<HeartbeatFrame> {
        in_handler.Notify();
        release.WaitForNotificationWithTimeout(absl::Seconds(10));
        return f;
      });
  auto client = *PeerClient::Create(n0.server.get(), absl::StrCat("127.0.0.1:", n1.server->port()));
  absl::Notification answered;
  absl::Status late;
  client->Heartbeat(HeartbeatFrame(), absl::Seconds(30), [&](absl::StatusOr<HeartbeatFrame> r) {
    late = r.status();
    answered.Notify();
  });
  ASSERT_TRUE(in_handler.WaitForNotificationWithTimeout(absl::Seconds(10)));

  const absl::Time t0 = absl::Now();
  n0.server->Shutdown();  // returns once every call of node 0 has completed
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  ASSERT_TRUE(answered.HasBeenNotified());
  EXPECT_THAT(late, StatusIs(absl::StatusCode::kCancelled));
  release.Notify();
  auto d0 = e0.WaitFor(Kind::kDisconnected);
  ASSERT_TRUE(d0.has_value());
  EXPECT_EQ(d0->connection, c0->connection);
  EXPECT_TRUE(e1.WaitFor(Kind::kDisconnected).has_value());
  EXPECT_FALSE(n0.transport->Send(c0->connection, DataMsg(1)).ok());

  // New calls are refused on the calling thread, without waiting.
  bool refused = false;
  client->Heartbeat(HeartbeatFrame(), absl::Seconds(30), [&](absl::StatusOr<HeartbeatFrame> r) {
    refused = true;
    EXPECT_THAT(r.status(),
                StatusIs(absl::StatusCode::kUnavailable, HasSubstr("PeerService is shut down")));
  });
  EXPECT_TRUE(refused);
}

// Both nodes torn down, in either order, while a thread keeps sending and
// heartbeats are in flight both ways: every call ends, nothing hangs or
// crashes (run under --config=asan too), and each Shutdown returns promptly.
TEST(GrpcTransportTest, TearDownUnderLoad) {
  auto ring = Ring({{1, kKeyA}}, 1);
  for (int round = 0; round < 6; ++round) {
    auto [n0, n1] = MakePair(Options(0, ring), Options(1, ring));
    Events e0(n0.transport.get()), e1(n1.transport.get());
    n1.transport->Connect();
    n0.transport->Connect();
    auto c0 = e0.WaitFor(Kind::kConnected);
    ASSERT_TRUE(c0.has_value() && e1.WaitFor(Kind::kConnected).has_value());
    for (Node* n : {&n0, &n1}) {
      n->server->SetHeartbeatHandler(
          [](const HeartbeatFrame& f, const std::string&) -> absl::StatusOr<HeartbeatFrame> {
            return f;
          });
    }
    auto client0 =
        *PeerClient::Create(n0.server.get(), absl::StrCat("127.0.0.1:", n1.server->port()));
    auto client1 =
        *PeerClient::Create(n1.server.get(), absl::StrCat("127.0.0.1:", n0.server->port()));
    std::atomic<bool> stop{false};
    std::atomic<int> answered{0};
    std::thread sender([&, t = n0.transport.get(), c = c0->connection] {
      for (uint64_t i = 0; !stop.load(); ++i) {
        if (!t->Send(c, DataMsg(i, 64 << 10)).ok()) absl::SleepFor(absl::Microseconds(200));
      }
    });
    for (int i = 0; i < 20; ++i) {
      for (PeerClient* c : {client0.get(), client1.get()}) {
        c->Heartbeat(HeartbeatFrame(), absl::Seconds(30),
                     [&](absl::StatusOr<HeartbeatFrame>) { answered.fetch_add(1); });
      }
    }
    absl::SleepFor(absl::Milliseconds(5 * round));
    // Even rounds: the accepting node goes first; odd rounds: the dialer.
    Node& first = round % 2 == 0 ? n1 : n0;
    Node& second = round % 2 == 0 ? n0 : n1;
    const absl::Time t0 = absl::Now();
    first.server->Shutdown();
    second.server->Shutdown();
    EXPECT_LT(absl::Now() - t0, absl::Seconds(5)) << "round " << round;
    EXPECT_EQ(answered.load(), 40) << "every heartbeat's callback ran, round " << round;
    stop.store(true);
    sender.join();
    EXPECT_TRUE(e0.WaitFor(Kind::kDisconnected).has_value()) << "round " << round;
    EXPECT_TRUE(e1.WaitFor(Kind::kDisconnected).has_value()) << "round " << round;
    client0.reset();
    client1.reset();
    n0.transport.reset();
    n1.transport.reset();
  }
}

// A second server on a port in use fails with a precise error (gRPC would
// share it through SO_REUSEPORT, splitting the peer's connections between
// two processes), and its destruction after the failed start is clean.
TEST(GrpcTransportTest, APortInUseIsRefused) {
  auto ring = Ring({{1, kKeyA}}, 1);
  auto first = *PeerServer::Start(Options(1, ring), "127.0.0.1:0");
  absl::StatusOr<std::unique_ptr<PeerServer>> second =
      PeerServer::Start(Options(1, ring), absl::StrCat("127.0.0.1:", first->port()));
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot listen on")));
}

TEST(GrpcTransportTest, UnreachablePeerIsReportedAsAFailedAttempt) {
  auto ring = Ring({{1, kKeyA}}, 1);
  // A port nobody listens on: bind one, then let it go.
  int port;
  {
    auto probe = *PeerServer::Start(Options(1, ring), "127.0.0.1:0");
    port = probe->port();
  }
  auto server = *PeerServer::Start(Options(0, ring), "127.0.0.1:0");
  GrpcTransportOptions t = TOpts(port);
  auto transport = *GrpcTransport::Create(server.get(), t);
  Events e(transport.get());
  transport->Connect();
  std::optional<TransportEvent> f = e.WaitFor(Kind::kConnectFailed);
  ASSERT_TRUE(f.has_value());
  EXPECT_THAT(f->reason, StatusIs(absl::StatusCode::kUnavailable));
  // It keeps trying (connect_interval 100 ms) and keeps saying so.
  EXPECT_TRUE(e.WaitFor(Kind::kConnectFailed).has_value());
  EXPECT_FALSE(e.WaitFor(Kind::kConnected, absl::Milliseconds(1)).has_value());
}

struct AuthCase {
  const char* name;
  std::shared_ptr<const auth::KeyRing> ring0, ring1;
  std::string cluster0;
  bool ok;
  const char* log;  // expected in node 1's (the refusing acceptor's) WARNING log
};

TEST(GrpcTransportTest, Authentication) {
  const AuthCase cases[] = {
      {"good key", Ring({{1, kKeyA}}, 1), Ring({{1, kKeyA}}, 1), "c1", true, ""},
      {"wrong key", Ring({{1, kKeyB}}, 1), Ring({{1, kKeyA}}, 1), "c1", false,
       "bad MAC under key id 1"},
      {"unknown key id", Ring({{5, kKeyA}}, 5), Ring({{1, kKeyA}}, 1), "c1", false,
       "wrong key id 5"},
      {"wrong cluster", Ring({{1, kKeyA}}, 1), Ring({{1, kKeyA}}, 1), "other", false,
       "wrong cluster: peer is in cluster 'other'"},
      {"rotation", Ring({{1, kKeyA}, {2, kKeyB}}, 2), Ring({{1, kKeyA}, {2, kKeyB}}, 1), "c1",
       true, ""},
  };
  for (const AuthCase& c : cases) {
    SCOPED_TRACE(c.name);
    CaptureSink sink;
    LogSink* prev = SetLogSink(&sink);
    {
      auto [n0, n1] = MakePair(Options(0, c.ring0, c.cluster0), Options(1, c.ring1));
      Events e0(n0.transport.get()), e1(n1.transport.get());
      n1.transport->Connect();
      n0.transport->Connect();
      if (c.ok) {
        EXPECT_TRUE(e0.WaitFor(Kind::kConnected).has_value());
        EXPECT_TRUE(e1.WaitFor(Kind::kConnected).has_value());
      } else {
        EXPECT_FALSE(e0.WaitFor(Kind::kConnected, absl::Milliseconds(500)).has_value());
        EXPECT_FALSE(e1.WaitFor(Kind::kConnected, absl::Milliseconds(1)).has_value());
        std::string log = sink.All();
        EXPECT_THAT(log, HasSubstr(c.log));
        EXPECT_THAT(log, HasSubstr("refused: claimed node 0 ('node0')"));
        EXPECT_THAT(log, HasSubstr("peer ipv4:127.0.0.1:"));
        // Both sides check independently; the dialer refuses too (it logs the target).
        EXPECT_THAT(log, HasSubstr("refused: claimed node 1 ('node1')"));
        // And both transports tell their owners why the attempt failed (the
        // acceptor also for a Hello refused before the stream was bound to
        // it, e.g. one from another cluster).
        for (Events* e : {&e0, &e1}) {
          std::optional<TransportEvent> f = e->WaitFor(Kind::kConnectFailed);
          ASSERT_TRUE(f.has_value());
          EXPECT_FALSE(f->reason.ok());
          EXPECT_NE(f->reason.message(), "");
          if (e == &e1 && std::string(c.name) == "wrong cluster") {
            EXPECT_THAT(f->reason.message(), HasSubstr("a connection from ipv4:127.0.0.1:"));
            EXPECT_THAT(f->reason.message(), HasSubstr("wrong cluster"));
          }
        }
      }
    }
    SetLogSink(prev);
  }
}

TEST(GrpcTransportTest, ReplayedHelloIsRefused) {
  auto ring = Ring({{1, kKeyA}}, 1);
  auto o1 = Options(1, ring);
  auto server = *PeerServer::Start(o1, "127.0.0.1:0");
  auto t1 = *GrpcTransport::Create(server.get(), TOpts(0));
  t1->Connect();
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = PeerService::NewStub(channel);
  Frame hello;
  Hello* h = hello.mutable_hello();
  h->set_protocol_version_min(1);
  h->set_protocol_version_max(1);
  h->set_cluster_name("c1");
  h->set_node_id(0);
  h->set_node_name("node0");
  h->set_challenge(std::string(32, 'R'));
  h->set_channel("r0");
  auto exchange = [&]() -> Frame {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto stream = stub->Replicate(&ctx);
    EXPECT_TRUE(stream->Write(hello));
    Frame f, last;
    while (stream->Read(&f)) last = f;  // server Hello, proof or result, until it finishes
    stream->WritesDone();
    ctx.TryCancel();
    stream->Finish();
    return last;
  };
  CaptureSink sink;
  LogSink* prev = SetLogSink(&sink);
  // First use: the server answers with its proof and waits for ours; the stream ends
  // when the handshake deadline or our cancel ends it. Not refused for the challenge.
  {
    grpc::ClientContext ctx;
    auto stream = stub->Replicate(&ctx);
    ASSERT_TRUE(stream->Write(hello));
    Frame f;
    ASSERT_TRUE(stream->Read(&f));
    EXPECT_TRUE(f.has_hello());
    ASSERT_TRUE(stream->Read(&f));
    EXPECT_TRUE(f.has_auth_proof());
    ctx.TryCancel();
    stream->Finish();
  }
  Frame r = exchange();
  SetLogSink(prev);
  ASSERT_TRUE(r.has_auth_result());
  EXPECT_FALSE(r.auth_result().ok());
  EXPECT_THAT(r.auth_result().reason(), HasSubstr("challenge reused"));
  EXPECT_THAT(sink.All(), HasSubstr("challenge reused"));
}

TEST(GrpcTransportTest, HeartbeatForwarding) {
  auto ring = Ring({{1, kKeyA}}, 1);
  auto server = *PeerServer::Start(Options(1, ring), "127.0.0.1:0");
  auto client_server = *PeerServer::Start(Options(0, ring), "127.0.0.1:0");
  auto client =
      *PeerClient::Create(client_server.get(), absl::StrCat("127.0.0.1:", server->port()));
  HeartbeatFrame in;
  in.set_envelope("ping-bytes");
  EXPECT_THAT(client->HeartbeatSync(in, absl::Seconds(5)),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("no heartbeat handler")));
  std::string from_seen;
  server->SetHeartbeatHandler(
      [&](const HeartbeatFrame& f, const std::string& from) -> absl::StatusOr<HeartbeatFrame> {
        from_seen = from;
        if (f.envelope() == "bad") return absl::UnauthenticatedError("bad envelope MAC");
        HeartbeatFrame out;
        out.set_envelope("pong:" + f.envelope());
        return out;
      });
  absl::StatusOr<HeartbeatFrame> r = client->HeartbeatSync(in, absl::Seconds(5));
  ASSERT_OK(r);
  EXPECT_EQ(r->envelope(), "pong:ping-bytes");
  EXPECT_THAT(from_seen, HasSubstr("127.0.0.1"));
  in.set_envelope("bad");
  EXPECT_THAT(client->HeartbeatSync(in, absl::Seconds(5)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("bad envelope MAC")));
  server->Shutdown();
  absl::StatusCode down = client->HeartbeatSync(in, absl::Milliseconds(500)).status().code();
  EXPECT_TRUE(down == absl::StatusCode::kUnavailable ||
              down == absl::StatusCode::kDeadlineExceeded)
      << down;
}

// --- mTLS with certificates generated by `openssl` at test time ---

class MtlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/hafs_mtls");
    std::string d = *dir_;
    std::string cmd = absl::StrCat(
        "set -e; rm -rf ", d, "; mkdir -p ", d, "; cd ", d, ";",
        "gen_ca() { openssl req -x509 -newkey rsa:2048 -nodes -keyout $1.key -out $1.pem "
        "-days 2 -subj /CN=$1 >/dev/null 2>&1; };",
        "gen_cert() { openssl req -newkey rsa:2048 -nodes -keyout $1.key -out $1.csr "
        "-subj /CN=$1 >/dev/null 2>&1;",
        " printf 'subjectAltName=DNS:%s,IP:127.0.0.1\\n' $1 > $1.ext;",
        " openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -out $1.pem "
        "-days 2 -extfile $1.ext >/dev/null 2>&1; };",
        "gen_ca ca; gen_ca evil; gen_cert node0 ca; gen_cert node1 ca; gen_cert mallory ca;"
        " mv mallory.pem m.pem; mv mallory.key m.key;",
        " gen_cert node0 evil; mv node0.pem evil0.pem; mv node0.key evil0.key;",
        " gen_cert node0 ca");
    ok_ = std::system(cmd.c_str()) == 0;
  }
  static PeerServiceOptions TlsOptions(uint32_t id, const std::string& cert) {
    PeerServiceOptions o = Options(id, nullptr);
    o.auth.mode = AuthMode::kMtls;
    o.tls.cert_file = *dir_ + "/" + cert + ".pem";
    o.tls.key_file = *dir_ + "/" + cert + ".key";
    o.tls.ca_file = *dir_ + "/ca.pem";
    return o;
  }
  static std::string* dir_;
  static bool ok_;
};
std::string* MtlsTest::dir_ = nullptr;
bool MtlsTest::ok_ = false;

TEST_F(MtlsTest, GoodCertificatesConnect) {
  ASSERT_TRUE(ok_) << "openssl certificate generation failed in " << *dir_;
  auto [n0, n1] = MakePair(TlsOptions(0, "node0"), TlsOptions(1, "node1"));
  Events e0(n0.transport.get()), e1(n1.transport.get());
  n1.transport->Connect();
  n0.transport->Connect();
  auto c0 = e0.WaitFor(Kind::kConnected);
  ASSERT_TRUE(c0.has_value());
  ASSERT_TRUE(e1.WaitFor(Kind::kConnected).has_value());
  ASSERT_OK(n0.transport->Send(c0->connection, DataMsg(3)));
  auto m = e1.WaitFor(Kind::kMessage);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->message.data().seq(), 3u);
}

TEST_F(MtlsTest, CertificateFromOtherCaIsRejected) {
  ASSERT_TRUE(ok_);
  auto [n0, n1] = MakePair(TlsOptions(0, "evil0"), TlsOptions(1, "node1"));
  Events e0(n0.transport.get()), e1(n1.transport.get());
  n1.transport->Connect();
  n0.transport->Connect();
  EXPECT_FALSE(e0.WaitFor(Kind::kConnected, absl::Milliseconds(700)).has_value());
  EXPECT_FALSE(e1.WaitFor(Kind::kConnected, absl::Milliseconds(1)).has_value());
}

TEST_F(MtlsTest, CertificateForAnotherNodeIsRefused) {
  ASSERT_TRUE(ok_);
  CaptureSink sink;
  LogSink* prev = SetLogSink(&sink);
  {
    // Valid CA, but the certificate names "mallory", who claims to be node0.
    auto [n0, n1] = MakePair(TlsOptions(0, "m"), TlsOptions(1, "node1"));
    Events e0(n0.transport.get()), e1(n1.transport.get());
    n1.transport->Connect();
    n0.transport->Connect();
    EXPECT_FALSE(e0.WaitFor(Kind::kConnected, absl::Milliseconds(700)).has_value());
    EXPECT_FALSE(e1.WaitFor(Kind::kConnected, absl::Milliseconds(1)).has_value());
  }
  SetLogSink(prev);
  EXPECT_THAT(sink.All(), HasSubstr("certificate does not name node 'node0'"));
}

TEST_F(MtlsTest, MissingPemIsAPreciseError) {
  PeerServiceOptions o = TlsOptions(0, "nonexistent");
  EXPECT_THAT(PeerServer::Start(o, "127.0.0.1:0"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nonexistent.pem")));
}

}  // namespace
}  // namespace hafs::peer
