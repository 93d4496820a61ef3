// failover_detect: failure-detection time of the cluster runtime (ClusterNode)
// between two processes on loopback, real gRPC PeerServers and UDP sockets.
// Run through benchmarks/failover_detect.sh (which also loads the CPUs).
//
//   --mode=node   one node (the "peer" process); runs until SIGTERM/SIGKILL.
//   --mode=trials this process is the survivor (alpha); it starts the peer
//                 (bravo, this binary in --mode=node), then N times kills
//                 (SIGKILL) or pauses (SIGSTOP) it, alternating, and measures
//                 the time from the signal to the survivor's node-dead event.
//                 Then the peer is killed and restarted (new incarnation; a
//                 paused peer is not resumed: without fencing or a witness it
//                 would promote itself on waking, a split brain), and the next
//                 trial waits until it is alive again and 1 s has passed.
//   --mode=soak   survivor + peer for --seconds; counts node-dead, link-dead,
//                 link-late and role changes after the start-up election
//                 (a "false failover" is any node-dead / promote / demote).
// The peer runs with standby on, so alpha stays the primary throughout.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "libhafs/auth/keyring.h"
#include "libhafs/base/logging.h"
#include "libhafs/cluster/runtime/cluster_node.h"
#include "libhafs/peer/grpc_transport.h"

namespace hafs::cluster {
namespace {

struct Flags {
  std::string mode = "trials";
  int index = 0;
  std::string dir;
  std::string secret = "failover-detect-bench-secret-0123";
  int keepalive_ms = 100;
  int deadtime_ms = 500;
  int trials = 50;
  int seconds = 600;
  int grpc_port[2] = {0, 0};
  int udp_port[2] = {0, 0};
  bool verbose = false;
};

int FreePort(int type) {
  int fd = ::socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

class QuietSink : public LogSink {
 public:
  explicit QuietSink(bool verbose) : verbose_(verbose) {}
  void Send(LogSeverity severity, absl::string_view line) override {
    if (verbose_ || severity >= LogSeverity::kError) {
      fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
    }
  }

 private:
  bool verbose_;
};

struct Running {
  std::unique_ptr<peer::PeerServer> server;
  std::unique_ptr<ClusterNode> node;
};

absl::StatusOr<Running> StartNode(const Flags& f, int i) {
  auto ring = auth::KeyRing::Create({{1, f.secret}}, 1);
  if (!ring.ok()) return ring.status();
  auto keys = std::make_shared<const auth::KeyRing>(*std::move(ring));
  peer::PeerServiceOptions po;
  po.auth.cluster_name = "bench";
  po.auth.node_id = i;
  po.auth.node_name = i == 0 ? "alpha" : "bravo";
  po.auth.incarnation = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  po.auth.expected_peer_node_id = 1 - i;
  po.auth.keys = keys;
  Running r;
  absl::StatusOr<std::unique_ptr<peer::PeerServer>> server;
  for (int attempt = 0; attempt < 50; ++attempt) {  // a killed peer's port may linger
    server = peer::PeerServer::Start(po, absl::StrCat("127.0.0.1:", f.grpc_port[i]));
    if (server.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (!server.ok()) return server.status();
  r.server = *std::move(server);
  ClusterNodeOptions o;
  o.cluster_name = "bench";
  o.self = i + 1;
  o.peer = 2 - i;
  o.self_name = i == 0 ? "alpha" : "bravo";
  o.peer_name = i == 0 ? "bravo" : "alpha";
  o.peer_server = r.server.get();
  o.peer_grpc_address = absl::StrCat("127.0.0.1:", f.grpc_port[1 - i]);
  o.udp_address = absl::StrCat("127.0.0.1:", f.udp_port[i]);
  o.peer_udp_address = absl::StrCat("127.0.0.1:", f.udp_port[1 - i]);
  o.timing.keepalive = absl::Milliseconds(f.keepalive_ms);
  o.timing.deadtime = absl::Milliseconds(f.deadtime_ms);
  o.timing.initdead = absl::Milliseconds(std::max(2 * f.deadtime_ms, 2000));
  o.quorum.mode = QuorumMode::kTwoNode;
  o.keys = keys;
  o.state_dir = absl::StrCat(f.dir, "/", o.self_name);
  ::mkdir(o.state_dir.c_str(), 0700);
  for (int attempt = 0;; ++attempt) {
    auto n = ClusterNode::Create(o);
    if (n.ok()) {
      r.node = *std::move(n);
      break;
    }
    if (attempt >= 50) return n.status();
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (i == 1) r.node->Standby(true);
  absl::Status s = r.node->Start();
  if (!s.ok()) return s;
  return r;
}

std::atomic<bool> g_stop{false};

int RunNode(const Flags& f) {
  signal(SIGTERM, [](int) { g_stop = true; });
  signal(SIGINT, [](int) { g_stop = true; });
  auto r = StartNode(f, f.index);
  if (!r.ok()) {
    fprintf(stderr, "node: %s\n", r.status().ToString().c_str());
    return 1;
  }
  while (!g_stop) {
    for (const ClusterDecision& d : r->node->WaitDecisions(absl::Milliseconds(200))) {
      if (f.verbose) fprintf(stderr, "bravo: %s\n", DebugString(d).c_str());
    }
  }
  return 0;
}

pid_t SpawnPeer(const Flags& f) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<std::string> args = {
        "/proc/self/exe", "--mode=node", "--index=1", absl::StrCat("--dir=", f.dir),
        absl::StrCat("--secret=", f.secret), absl::StrCat("--keepalive_ms=", f.keepalive_ms),
        absl::StrCat("--deadtime_ms=", f.deadtime_ms),
        absl::StrCat("--grpc_ports=", f.grpc_port[0], ",", f.grpc_port[1]),
        absl::StrCat("--udp_ports=", f.udp_port[0], ",", f.udp_port[1])};
    if (f.verbose) args.push_back("--verbose");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  return pid;
}

// Drains decisions until `pred` returns true or `timeout` passes.
bool WaitFor(ClusterNode& n, absl::Duration timeout,
             const std::function<bool(const ClusterDecision&)>& pred,
             std::vector<ClusterDecision>* all = nullptr) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    for (const ClusterDecision& d : n.WaitDecisions(std::min(end - absl::Now(),
                                                             absl::Milliseconds(100)))) {
      if (all) all->push_back(d);
      if (pred(d)) return true;
    }
  }
  return false;
}

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * v.size())) ;
  if (i > 0) --i;
  return v[std::min(i, v.size() - 1)];
}

int RunTrials(const Flags& f) {
  auto alpha = StartNode(f, 0);
  if (!alpha.ok()) {
    fprintf(stderr, "alpha: %s\n", alpha.status().ToString().c_str());
    return 1;
  }
  ClusterNode& n = *alpha->node;
  pid_t peer = SpawnPeer(f);
  std::vector<double> kill_ms, stop_ms, all_ms;
  int false_dead = 0, missed = 0;
  for (int t = 0; t < f.trials; ++t) {
    // Alive and settled.
    if (n.Status().peer_state != NodeState::kAlive &&
        !WaitFor(n, absl::Seconds(30),
                 [](const ClusterDecision& d) { return d.type == ClusterDecision::Type::kNodeAlive; })) {
      fprintf(stderr, "trial %d: peer did not come up\n", t);
      missed++;
      continue;
    }
    std::vector<ClusterDecision> seen;
    WaitFor(n, absl::Milliseconds(1000) + absl::Microseconds(rand() % (f.keepalive_ms * 1000)),
            [](const ClusterDecision&) { return false; }, &seen);
    for (const auto& d : seen) {
      if (d.type == ClusterDecision::Type::kNodeDead) false_dead++;
    }
    bool do_kill = t % 2 == 0;
    ::kill(peer, do_kill ? SIGKILL : SIGSTOP);
    absl::Time t0 = absl::Now();
    absl::Time dead_at = absl::InfinitePast();
    bool ok = WaitFor(n, absl::Seconds(30), [&](const ClusterDecision& d) {
      if (d.type != ClusterDecision::Type::kNodeDead) return false;
      dead_at = d.at;
      return true;
    });
    if (!ok) {
      fprintf(stderr, "trial %d: no node-dead within 30 s\n", t);
      missed++;
    } else {
      double ms = absl::ToDoubleMilliseconds(dead_at - t0);
      (do_kill ? kill_ms : stop_ms).push_back(ms);
      all_ms.push_back(ms);
      printf("trial %d %s detect_ms=%.1f\n", t, do_kill ? "SIGKILL" : "SIGSTOP", ms);
      fflush(stdout);
    }
    // A paused peer is killed and restarted too: resumed, it would process
    // its expired timers first and (two_node, no fencing) promote itself.
    if (!do_kill) ::kill(peer, SIGKILL);
    ::waitpid(peer, nullptr, 0);
    peer = SpawnPeer(f);
  }
  ::kill(peer, SIGTERM);
  ::waitpid(peer, nullptr, 0);
  auto line = [](const char* name, const std::vector<double>& v) {
    if (v.empty()) return;
    printf("%s n=%zu p50=%.1f p90=%.1f p99=%.1f max=%.1f min=%.1f (ms)\n", name, v.size(),
           Pct(v, 50), Pct(v, 90), Pct(v, 99), *std::max_element(v.begin(), v.end()),
           *std::min_element(v.begin(), v.end()));
  };
  printf("keepalive_ms=%d deadtime_ms=%d trials=%d missed=%d false_node_dead_between_trials=%d\n",
         f.keepalive_ms, f.deadtime_ms, f.trials, missed, false_dead);
  line("all", all_ms);
  line("sigkill", kill_ms);
  line("sigstop", stop_ms);
  return missed == 0 && false_dead == 0 ? 0 : 2;
}

int RunSoak(const Flags& f) {
  auto alpha = StartNode(f, 0);
  if (!alpha.ok()) {
    fprintf(stderr, "alpha: %s\n", alpha.status().ToString().c_str());
    return 1;
  }
  ClusterNode& n = *alpha->node;
  pid_t peer = SpawnPeer(f);
  // Start-up: the peer comes up and alpha becomes primary. The status is
  // looked at between decisions too: it may change after the last decision
  // (the role once the promotion it decided has run).
  bool up = false;
  for (const absl::Time end = absl::Now() + absl::Seconds(30); !up && absl::Now() < end;) {
    (void)n.WaitDecisions(absl::Milliseconds(100));
    const ClusterStatus s = n.Status();
    up = s.peer_state == NodeState::kAlive && s.role == Role::kPrimary;
  }
  if (!up) {
    fprintf(stderr, "soak: no election within 30 s\n%s", FormatClusterStatus(n.Status()).c_str());
    ::kill(peer, SIGTERM);
    return 1;
  }
  absl::Time start = absl::Now();
  absl::Time end = start + absl::Seconds(f.seconds);
  // role_changes: promotions and demotions; io_actions: I/O suspended or failed
  // (a quorum-loss demotion is one of each).
  int node_dead = 0, link_dead = 0, link_late = 0, role_changes = 0, io_actions = 0,
      quorum_lost = 0;
  absl::Time next_report = start + absl::Seconds(60);
  while (absl::Now() < end) {
    for (const ClusterDecision& d : n.WaitDecisions(absl::Milliseconds(200))) {
      using T = ClusterDecision::Type;
      switch (d.type) {
        case T::kNodeDead: node_dead++; break;
        case T::kLinkDead: link_dead++; break;
        case T::kLinkLate: link_late++; break;
        case T::kPromote:
        case T::kDemote:
          role_changes++;
          break;
        case T::kSuspendIo:
        case T::kFailIo:
          io_actions++;
          break;
        case T::kQuorumLost: quorum_lost++; break;
        default: break;
      }
      if (d.type != T::kLinkUp) {
        printf("t=%.1fs %s\n", absl::ToDoubleSeconds(absl::Now() - start), DebugString(d).c_str());
      }
    }
    if (absl::Now() >= next_report) {
      printf("t=%.0fs node_dead=%d link_dead=%d link_late=%d role_changes=%d\n",
             absl::ToDoubleSeconds(absl::Now() - start), node_dead, link_dead, link_late,
             role_changes);
      fflush(stdout);
      next_report += absl::Seconds(60);
    }
  }
  ClusterStatus s = n.Status();
  ::kill(peer, SIGTERM);
  ::waitpid(peer, nullptr, 0);
  printf("%s", FormatClusterStatus(s).c_str());
  int false_failovers = node_dead + role_changes;
  printf(
      "soak_seconds=%d keepalive_ms=%d deadtime_ms=%d false_failovers=%d node_dead=%d "
      "role_changes=%d io_actions=%d quorum_lost=%d link_dead=%d link_late=%d\n",
      f.seconds, f.keepalive_ms, f.deadtime_ms, false_failovers, node_dead, role_changes,
      io_actions, quorum_lost, link_dead, link_late);
  return false_failovers + io_actions == 0 ? 0 : 2;
}

}  // namespace
}  // namespace hafs::cluster

int main(int argc, char** argv) {
  using hafs::cluster::Flags;
  Flags f;
  std::vector<int> grpc_ports, udp_ports;
  CLI::App app{"failover_detect: failure-detection time of the cluster runtime"};
  app.add_option("--mode", f.mode, "trials | soak | node")
      ->check(CLI::IsMember({"trials", "soak", "node"}));
  app.add_option("--index", f.index, "node index (mode=node)");
  app.add_option("--dir", f.dir, "state directory")->required();
  app.add_option("--secret", f.secret, "authkeys secret");
  app.add_option("--keepalive_ms", f.keepalive_ms);
  app.add_option("--deadtime_ms", f.deadtime_ms);
  app.add_option("--trials", f.trials);
  app.add_option("--seconds", f.seconds, "soak duration");
  app.add_option("--grpc_ports", grpc_ports)->delimiter(',');
  app.add_option("--udp_ports", udp_ports)->delimiter(',');
  app.add_flag("--verbose", f.verbose);
  CLI11_PARSE(app, argc, argv);
  hafs::cluster::QuietSink sink(f.verbose);
  hafs::SetLogSink(&sink);
  if (grpc_ports.size() == 2 && udp_ports.size() == 2) {
    for (int i = 0; i < 2; ++i) {
      f.grpc_port[i] = grpc_ports[i];
      f.udp_port[i] = udp_ports[i];
    }
  } else {
    for (int i = 0; i < 2; ++i) {
      f.grpc_port[i] = hafs::cluster::FreePort(SOCK_STREAM);
      f.udp_port[i] = hafs::cluster::FreePort(SOCK_DGRAM);
    }
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  int rc = f.mode == "node"     ? hafs::cluster::RunNode(f)
           : f.mode == "soak"   ? hafs::cluster::RunSoak(f)
                                : hafs::cluster::RunTrials(f);
  hafs::SetLogSink(nullptr);
  return rc;
}
