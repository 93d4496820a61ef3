// transport_rtt: round-trip time of one 4 KiB Data message and a small reply
// over two GrpcTransports on loopback in one process (HMAC auth), QD1. The
// floor under the mirror's protocol-C QD1 write latency (docs/benchmarks.md
// "Block mirror"). Each side waits on its transport's wake-up callback.
#include <algorithm>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "benchmarks/mirror/common.h"
#include "libhafs/base/logging.h"

using namespace hafs;

namespace {
struct Waiter {
  absl::Mutex mu;
  bool signalled = false;
  void Signal() {
    absl::MutexLock l(&mu);
    signalled = true;
  }
  void Wait() {
    absl::MutexLock l(&mu);
    mu.Await(absl::Condition(&signalled));
    signalled = false;
  }
};

peer::TransportEvent Next(peer::Transport* t, Waiter& w, std::vector<peer::TransportEvent>& q) {
  while (q.empty()) {
    for (auto& e : t->TakeEvents()) q.push_back(std::move(e));
    if (q.empty()) w.Wait();
  }
  peer::TransportEvent e = std::move(q.front());
  q.erase(q.begin());
  return e;
}
}  // namespace

int main() {
  SetMinLogSeverity(LogSeverity::kWarning);
  const std::string key(32, 'k');
  auto n1 = mirror::bench::StartNet(1, "127.0.0.1:0", "", key);
  HAFS_CHECK(n1.ok()) << n1.status();
  auto n0 = mirror::bench::StartNet(0, "127.0.0.1:0",
                                    "127.0.0.1:" + std::to_string(n1->server->port()), key);
  HAFS_CHECK(n0.ok()) << n0.status();
  Waiter w0, w1;
  n0->transport->SetWakeup([&] { w0.Signal(); });
  n1->transport->SetWakeup([&] { w1.Signal(); });
  n1->transport->Connect();
  n0->transport->Connect();
  std::vector<peer::TransportEvent> q0, q1;
  peer::TransportEvent c0 = Next(n0->transport.get(), w0, q0);
  peer::TransportEvent c1 = Next(n1->transport.get(), w1, q1);
  HAFS_CHECK(c0.kind == peer::TransportEvent::Kind::kConnected);
  HAFS_CHECK(c1.kind == peer::TransportEvent::Kind::kConnected);
  std::thread echo([&] {
    for (;;) {
      peer::TransportEvent e = Next(n1->transport.get(), w1, q1);
      if (e.kind != peer::TransportEvent::Kind::kMessage) return;
      peer::MirrorMessage a;
      a.mutable_ack()->set_seq(e.message.data().seq());
      if (!n1->transport->Send(c1.connection, a).ok()) return;
    }
  });
  std::vector<double> us;
  for (int i = 0; i < 3000; ++i) {
    peer::MirrorMessage m;
    m.mutable_data()->set_seq(i);
    m.mutable_data()->set_data(std::string(4096, 'x'));
    const absl::Time t = absl::Now();
    HAFS_CHECK(n0->transport->Send(c0.connection, m).ok());
    peer::TransportEvent e = Next(n0->transport.get(), w0, q0);
    HAFS_CHECK(e.kind == peer::TransportEvent::Kind::kMessage);
    if (i >= 500) us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
  }
  std::sort(us.begin(), us.end());
  std::printf("transport_rtt_p50_us=%.1f\ntransport_rtt_p99_us=%.1f\n", us[us.size() / 2],
              us[us.size() * 99 / 100]);
  n0->transport->Disconnect();
  echo.join();
  return 0;
}
