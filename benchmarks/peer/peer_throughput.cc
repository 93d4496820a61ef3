// peer_throughput: loopback throughput of GrpcTransport with 1 MiB Data
// messages (HMAC-authenticated, insecure channel; the mirror's replication
// path). Two PeerServers in one process on 127.0.0.1; node 0 sends for
// --seconds, node 1 receives; reports MiB/s measured at the receiver.
//
// Usage: peer_throughput [--seconds=5] [--message_kib=1024] [--max_queued_mib=64]
//        [--max_batch_kib=1024]
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libhafs/auth/keyring.h"
#include "libhafs/base/logging.h"
#include "libhafs/peer/grpc_transport.h"

namespace hafs::peer {
namespace {

int Flag(int argc, char** argv, const char* name, int def) {
  std::string prefix = absl::StrCat("--", name, "=");
  for (int i = 1; i < argc; ++i) {
    absl::string_view a(argv[i]);
    int v;
    if (absl::ConsumePrefix(&a, prefix) && absl::SimpleAtoi(a, &v)) return v;
  }
  return def;
}

int Main(int argc, char** argv) {
  const int seconds = Flag(argc, argv, "seconds", 5);
  const size_t message_bytes = size_t(Flag(argc, argv, "message_kib", 1024)) << 10;
  const size_t max_queued = size_t(Flag(argc, argv, "max_queued_mib", 64)) << 20;
  const size_t max_batch = size_t(Flag(argc, argv, "max_batch_kib", 1024)) << 10;

  auto ring = std::make_shared<const auth::KeyRing>(
      *auth::KeyRing::Create({{1, std::string(32, 'k')}}, 1));
  auto options = [&](uint32_t id) {
    PeerServiceOptions o;
    o.auth.cluster_name = "bench";
    o.auth.node_id = id;
    o.auth.node_name = absl::StrCat("node", id);
    o.auth.expected_peer_node_id = 1 - id;
    o.auth.keys = ring;
    return o;
  };
  auto s1 = PeerServer::Start(options(1), "127.0.0.1:0");
  auto s0 = PeerServer::Start(options(0), "127.0.0.1:0");
  HAFS_CHECK(s0.ok() && s1.ok()) << s0.status() << " " << s1.status();
  GrpcTransportOptions t;
  t.channel = "bench";
  t.transport.max_queued_bytes = max_queued;
  t.max_batch_bytes = max_batch;
  auto t1 = GrpcTransport::Create(s1->get(), t);
  t.peer_address = absl::StrCat("127.0.0.1:", (*s1)->port());
  auto t0 = GrpcTransport::Create(s0->get(), t);
  HAFS_CHECK(t0.ok() && t1.ok());
  Transport* tx = t0->get();
  Transport* rx = t1->get();
  rx->Connect();
  tx->Connect();
  ConnectionId conn = 0;
  while (conn == 0) {
    for (auto& e : tx->TakeEvents()) {
      if (e.kind == TransportEvent::Kind::kConnected) conn = e.connection;
    }
    absl::SleepFor(absl::Milliseconds(1));
  }

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> received_bytes{0}, received_msgs{0};
  std::thread receiver([&] {
    while (!stop.load()) {
      auto events = rx->TakeEvents();
      if (events.empty()) {
        absl::SleepFor(absl::Microseconds(100));
        continue;
      }
      for (auto& e : events) {
        if (e.kind == TransportEvent::Kind::kMessage) {
          received_bytes += BulkBytes(e).size();
          ++received_msgs;
        }
      }
    }
  });

  MirrorMessage m;
  m.mutable_data()->set_data(std::string(message_bytes, 'd'));
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(seconds);
  uint64_t seq = 0, refusals = 0;
  // Warm-up excluded: count from the first second on at the receiver.
  uint64_t base_bytes = 0;
  absl::Time measure_from = start + absl::Seconds(1);
  bool measuring = false;
  while (absl::Now() < end) {
    if (!measuring && absl::Now() >= measure_from) {
      base_bytes = received_bytes.load();
      measure_from = absl::Now();
      measuring = true;
    }
    m.mutable_data()->set_seq(seq);
    absl::Status s = tx->Send(conn, m);
    if (s.ok()) {
      ++seq;
      continue;
    }
    HAFS_CHECK(absl::IsResourceExhausted(s)) << s;
    ++refusals;
    bool writable = false;
    while (!writable && absl::Now() < end) {
      for (auto& e : tx->TakeEvents()) {
        writable |= e.kind == TransportEvent::Kind::kWritable;
        HAFS_CHECK(e.kind != TransportEvent::Kind::kDisconnected) << e.reason;
      }
      if (!writable) absl::SleepFor(absl::Microseconds(50));
    }
  }
  const uint64_t bytes = received_bytes.load() - base_bytes;
  const double secs = absl::ToDoubleSeconds(absl::Now() - measure_from);
  stop = true;
  receiver.join();
  std::printf(
      "peer_throughput: message=%zu KiB max_batch=%zu KiB max_queued=%zu MiB: "
      "%.1f MiB/s (%.2f Gbit/s) over %.1f s at the receiver; %llu messages sent, "
      "%llu back-pressure refusals, %llu batches\n",
      message_bytes >> 10, max_batch >> 10, max_queued >> 20, bytes / secs / (1 << 20),
      bytes * 8 / secs / 1e9, secs, static_cast<unsigned long long>(seq),
      static_cast<unsigned long long>(refusals),
      static_cast<unsigned long long>((*t0)->BatchesSent()));
  tx->Disconnect();
  return 0;
}

}  // namespace
}  // namespace hafs::peer

int main(int argc, char** argv) { return hafs::peer::Main(argc, argv); }
