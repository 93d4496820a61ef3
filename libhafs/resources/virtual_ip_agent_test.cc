#include "libhafs/resources/virtual_ip_agent.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/clock.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/resources/netlink.h"

namespace hafs::resources {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

ResourceSpec VipSpec(const std::string& ip, const std::string& ifname) {
  ResourceSpec s;
  s.name = "vip";
  s.kind = AgentKind::kVirtualIp;
  s.params = {{"ip", ip}, {"interface", ifname}};
  return s;
}

// ---- pure parts (no privileges) ----

TEST(IpPrefixTest, ParsesAndFormats) {
  auto p_or = net::ParseIpPrefix("192.0.2.10/24");
  ASSERT_OK(p_or.status());
  net::IpPrefix p = *p_or;
  EXPECT_EQ(p.family, AF_INET);
  EXPECT_EQ(p.ToString(), "192.0.2.10/24");
  auto q_or = net::ParseIpPrefix("2001:db8::10/64");
  ASSERT_OK(q_or.status());
  net::IpPrefix q = *q_or;
  EXPECT_EQ(q.family, AF_INET6);
  EXPECT_EQ(q.ToString(), "2001:db8::10/64");
  EXPECT_THAT(net::ParseIpPrefix("192.0.2.10"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                         HasSubstr("no prefix length")));
  EXPECT_THAT(net::ParseIpPrefix("192.0.2.10/33"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0..32")));
  EXPECT_THAT(net::ParseIpPrefix("2001:db8::1/129"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0..128")));
  EXPECT_THAT(net::ParseIpPrefix("host/24"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an IPv4 or IPv6")));
}

TEST(FrameTest, GratuitousArpLayout) {
  std::array<uint8_t, 6> mac = {2, 0, 0, 0, 0, 1};
  net::IpPrefix p = *net::ParseIpPrefix("192.0.2.10/24");
  std::string req = net::BuildGratuitousArp(mac, p, 1);
  ASSERT_EQ(req.size(), 60u);
  EXPECT_EQ(req.substr(0, 6), std::string(6, '\xff'));
  EXPECT_EQ(static_cast<uint8_t>(req[12]), 0x08);
  EXPECT_EQ(static_cast<uint8_t>(req[13]), 0x06);
  EXPECT_EQ(static_cast<uint8_t>(req[21]), 1);                   // op request
  EXPECT_EQ(req.substr(28, 4), std::string("\xc0\x00\x02\x0a", 4));  // sender IP
  EXPECT_EQ(req.substr(38, 4), std::string("\xc0\x00\x02\x0a", 4));  // target IP
  std::string rep = net::BuildGratuitousArp(mac, p, 2);
  EXPECT_EQ(static_cast<uint8_t>(rep[21]), 2);
}

TEST(FrameTest, NeighbourAdvertisementChecksumVerifies) {
  std::array<uint8_t, 6> mac = {2, 0, 0, 0, 0, 1};
  net::IpPrefix p = *net::ParseIpPrefix("2001:db8::10/64");
  std::string f = net::BuildUnsolicitedNa(mac, p);
  ASSERT_EQ(f.size(), 14u + 40u + 32u);
  EXPECT_EQ(static_cast<uint8_t>(f[20]), 58);   // next header ICMPv6
  EXPECT_EQ(static_cast<uint8_t>(f[21]), 255);  // hop limit
  absl::string_view icmp = absl::string_view(f).substr(54);
  EXPECT_EQ(static_cast<uint8_t>(icmp[0]), 136);
  EXPECT_EQ(static_cast<uint8_t>(icmp[4]), 0x20);  // Override only
  // A correct checksum makes the one's-complement sum over everything 0xffff,
  // i.e. recomputing over the filled-in message yields 0.
  EXPECT_EQ(net::Icmp6Checksum(reinterpret_cast<const uint8_t*>(f.data()) + 22,
                               reinterpret_cast<const uint8_t*>(f.data()) + 38, icmp),
            0);
}

TEST(VirtualIpValidateTest, PreciseErrors) {
  EXPECT_OK(VirtualIpAgent::Validate(VipSpec("192.0.2.10/24", "eth0")));
  EXPECT_THAT(VirtualIpAgent::Validate(VipSpec("", "eth0")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("parameter ip is required")));
  EXPECT_THAT(VirtualIpAgent::Validate(VipSpec("192.0.2.10", "eth0")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no prefix length")));
  EXPECT_THAT(VirtualIpAgent::Validate(VipSpec("192.0.2.10/24", "")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("interface is required")));
  ResourceSpec s = VipSpec("192.0.2.10/24", "eth0");
  s.params["arp_count"] = "0";
  EXPECT_THAT(VirtualIpAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("arp_count='0'")));
  s = VipSpec("192.0.2.10/24", "eth0");
  s.params["arp_cuont"] = "3";
  EXPECT_THAT(VirtualIpAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown parameter 'arp_cuont'")));
}

TEST(VirtualIpAgentTest, MissingInterfaceIsFatal) {
  SimClock clock;
  VirtualIpAgent a(VipSpec("192.0.2.10/24", "hafsnope0"), &clock);
  AgentOutcome o = a.Start(absl::Seconds(5));
  EXPECT_EQ(o.code, AgentOutcome::kFatal) << o.message;
  EXPECT_THAT(o.message, HasSubstr("does not exist"));
  EXPECT_EQ(a.Monitor(absl::Seconds(5)).code, AgentOutcome::kNotRunning);
  EXPECT_EQ(a.Stop(absl::Seconds(5)).code, AgentOutcome::kOk);
}

// ---- real network namespaces (root) ----

int Sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// Two namespaces joined by a veth pair: the agent runs in `a` (device va),
// the capture socket lives in `b` (device vb). The test thread enters `a`
// for the agent's calls and always returns to its own namespace.
class NetnsFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, AF_PACKET)";
    ::setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);  // Bazel's PATH lacks sbin
    if (Sh("ip -V") != 0) GTEST_SKIP() << "iproute2 'ip' not installed (test fixture only)";
    ns_a_ = absl::StrCat("hafsvipa", ::getpid());
    ns_b_ = absl::StrCat("hafsvipb", ::getpid());
    Sh("ip netns del " + ns_a_);
    Sh("ip netns del " + ns_b_);
    created_ = true;
    ASSERT_EQ(Sh("ip netns add " + ns_a_), 0);
    ASSERT_EQ(Sh("ip netns add " + ns_b_), 0);
    ASSERT_EQ(Sh(absl::StrCat("ip link add va netns ", ns_a_, " type veth peer name vb netns ",
                              ns_b_)),
              0);
    ASSERT_EQ(Sh(absl::StrCat("ip -n ", ns_a_, " link set va up")), 0);
    ASSERT_EQ(Sh(absl::StrCat("ip -n ", ns_b_, " link set vb up")), 0);
    self_fd_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    a_fd_ = ::open(("/run/netns/" + ns_a_).c_str(), O_RDONLY | O_CLOEXEC);
    b_fd_ = ::open(("/run/netns/" + ns_b_).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(self_fd_, 0);
    ASSERT_GE(a_fd_, 0);
    ASSERT_GE(b_fd_, 0);
    // Capture socket in b, bound to vb.
    ASSERT_EQ(::setns(b_fd_, CLONE_NEWNET), 0);
    cap_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
    int vb = static_cast<int>(::if_nametoindex("vb"));
    ASSERT_EQ(::setns(self_fd_, CLONE_NEWNET), 0);
    ASSERT_GE(cap_, 0);
    ASSERT_GT(vb, 0);
    struct sockaddr_ll sll = {};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = vb;
    ASSERT_EQ(::bind(cap_, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)), 0);
  }

  void TearDown() override {
    if (self_fd_ >= 0) {
      ::setns(self_fd_, CLONE_NEWNET);
      ::close(self_fd_);
    }
    for (int fd : {a_fd_, b_fd_, cap_}) {
      if (fd >= 0) ::close(fd);
    }
    if (created_) {
      Sh("ip netns del " + ns_a_);  // also deletes the veth pair
      Sh("ip netns del " + ns_b_);
    }
  }

  void EnterA() { ASSERT_EQ(::setns(a_fd_, CLONE_NEWNET), 0); }
  void Leave() { ASSERT_EQ(::setns(self_fd_, CLONE_NEWNET), 0); }

  // Frames on vb within `wait` that announce `p` (ARP: sender IP = target IP;
  // NA: target = p, Override set, valid checksum).
  int CountAnnouncements(const net::IpPrefix& p, absl::Duration wait) {
    int n = 0;
    absl::Time end = absl::Now() + wait;
    char buf[2048];
    while (absl::Now() < end) {
      struct pollfd pfd = {cap_, POLLIN, 0};
      ::poll(&pfd, 1, 50);
      for (;;) {
        ssize_t r = ::recv(cap_, buf, sizeof(buf), 0);
        if (r <= 0) break;
        absl::string_view f(buf, static_cast<size_t>(r));
        if (p.family == AF_INET && f.size() >= 42 && f.substr(12, 2) == "\x08\x06") {
          if (f.substr(28, 4) == absl::string_view(reinterpret_cast<const char*>(p.addr.data()), 4) &&
              f.substr(38, 4) == absl::string_view(reinterpret_cast<const char*>(p.addr.data()), 4)) {
            ++n;
          }
        } else if (p.family == AF_INET6 && f.size() >= 54 + 24 && f.substr(12, 2) == "\x86\xdd" &&
                   static_cast<uint8_t>(f[20]) == 58 && static_cast<uint8_t>(f[54]) == 136) {
          absl::string_view icmp = f.substr(54);
          bool target = icmp.substr(8, 16) ==
                        absl::string_view(reinterpret_cast<const char*>(p.addr.data()), 16);
          bool override = (static_cast<uint8_t>(icmp[4]) & 0x20) != 0;
          bool csum = net::Icmp6Checksum(reinterpret_cast<const uint8_t*>(f.data()) + 22,
                                         reinterpret_cast<const uint8_t*>(f.data()) + 38,
                                         icmp) == 0;
          if (target && override && csum) ++n;
        }
      }
    }
    return n;
  }

  bool Present(const net::IpPrefix& p) {
    auto addrs = net::DumpAddresses(AF_UNSPEC);
    EXPECT_OK(addrs.status());
    int va = static_cast<int>(::if_nametoindex("va"));
    if (!addrs.ok()) return false;
    for (const auto& e : *addrs) {
      if (e.ifindex == va && e.prefix == p) return true;
    }
    return false;
  }

  std::string ns_a_, ns_b_;
  bool created_ = false;
  int self_fd_ = -1, a_fd_ = -1, b_fd_ = -1, cap_ = -1;
};

TEST_F(NetnsFixture, StartAnnouncesMonitorStopIPv4AndIPv6) {
  for (const char* ip : {"192.0.2.10/24", "2001:db8::10/64"}) {
    SCOPED_TRACE(ip);
    net::IpPrefix p = *net::ParseIpPrefix(ip);
    SimClock clock;
    ResourceSpec spec = VipSpec(ip, "va");
    spec.params["arp_count"] = "3";
    spec.params["arp_repeat_delay_ms"] = "2000";
    VirtualIpAgent agent(spec, &clock);

    EnterA();
    EXPECT_EQ(agent.Monitor(absl::Seconds(5)).code, AgentOutcome::kNotRunning);
    AgentOutcome o = agent.Start(absl::Seconds(5));
    ASSERT_EQ(o.code, AgentOutcome::kOk) << o.message;
    EXPECT_TRUE(Present(p)) << "netlink dump does not show " << ip;
    AgentOutcome m = agent.Monitor(absl::Seconds(5));
    EXPECT_EQ(m.code, AgentOutcome::kOk) << m.message;
    // Idempotent start.
    AgentOutcome again = agent.Start(absl::Seconds(5));
    EXPECT_EQ(again.code, AgentOutcome::kOk) << again.message;
    EXPECT_THAT(again.message, HasSubstr("already present"));
    Leave();

    int per_burst = p.family == AF_INET ? 2 * 3 : 3;
    // Two immediate bursts (start + idempotent start).
    EXPECT_EQ(CountAnnouncements(p, absl::Milliseconds(300)), 2 * per_burst);
    EXPECT_EQ(agent.bursts_sent(), 2);

    // The delayed burst runs on the clock (SimClock: on this thread).
    EnterA();
    clock.AdvanceBy(absl::Milliseconds(1999));
    EXPECT_EQ(agent.bursts_sent(), 2);
    clock.AdvanceBy(absl::Milliseconds(1));
    EXPECT_EQ(agent.bursts_sent(), 3);
    Leave();
    EXPECT_EQ(CountAnnouncements(p, absl::Milliseconds(300)), per_burst);

    EnterA();
    AgentOutcome s = agent.Stop(absl::Seconds(5));
    EXPECT_EQ(s.code, AgentOutcome::kOk) << s.message;
    EXPECT_FALSE(Present(p));
    EXPECT_EQ(agent.Monitor(absl::Seconds(5)).code, AgentOutcome::kNotRunning);
    AgentOutcome s2 = agent.Stop(absl::Seconds(5));
    EXPECT_EQ(s2.code, AgentOutcome::kOk);
    EXPECT_THAT(s2.message, HasSubstr("was not present"));
    Leave();
  }
}

TEST_F(NetnsFixture, StopCancelsTheDelayedBurst) {
  net::IpPrefix p = *net::ParseIpPrefix("192.0.2.11/24");
  SimClock clock;
  VirtualIpAgent agent(VipSpec("192.0.2.11/24", "va"), &clock);
  EnterA();
  ASSERT_EQ(agent.Start(absl::Seconds(5)).code, AgentOutcome::kOk);
  ASSERT_EQ(agent.Stop(absl::Seconds(5)).code, AgentOutcome::kOk);
  clock.AdvanceBy(absl::Seconds(10));
  Leave();
  EXPECT_EQ(agent.bursts_sent(), 1);
  EXPECT_EQ(clock.PendingTimers(), 0u);
  EXPECT_EQ(CountAnnouncements(p, absl::Milliseconds(200)), 5 * 2);
}

TEST_F(NetnsFixture, WrongPrefixIsAMonitorFailure) {
  EnterA();
  ASSERT_OK(net::AddAddress(static_cast<int>(::if_nametoindex("va")),
                            *net::ParseIpPrefix("192.0.2.12/25"), 0));
  SimClock clock;
  VirtualIpAgent agent(VipSpec("192.0.2.12/24", "va"), &clock);
  AgentOutcome m = agent.Monitor(absl::Seconds(5));
  Leave();
  EXPECT_EQ(m.code, AgentOutcome::kFailed);
  EXPECT_THAT(m.message, HasSubstr("prefix /25"));
}

}  // namespace
}  // namespace hafs::resources
