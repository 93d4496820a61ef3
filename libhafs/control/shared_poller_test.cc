// ControlServerOptions::share_poller: the control socket is served by another
// gRPC server's polling thread. A binary of its own: the first test needs a
// process in which no thread polls gRPC yet.
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libhafs/auth/keyring.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/control/client.h"
#include "libhafs/control/fake_target.h"
#include "libhafs/control/server.h"
#include "libhafs/peer/grpc_transport.h"

namespace hafs::control {
namespace {

using ::hafs::testing::StatusIs;

class SharedPollerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hafs-ctl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/alpha.sock";
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    std::filesystem::remove_all(dir_);
  }

  // Connects to the socket without gRPC (a gRPC client would poll itself)
  // and sends HTTP/2's client preface and an empty SETTINGS frame.
  void RawConnect() {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    ASSERT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
        << std::strerror(errno);
    static constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    std::string out(kPreface, sizeof(kPreface) - 1);
    out.append(std::string("\0\0\0\x04\0\0\0\0\0", 9));  // SETTINGS, no parameters
    ASSERT_EQ(write(fd_, out.data(), out.size()), static_cast<ssize_t>(out.size()));
  }
  // True once the server has answered (its SETTINGS frame).
  bool Answered(absl::Duration within) {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(within))) == 1;
  }

  static peer::PeerServiceOptions PeerOptions() {
    auto ring = auth::KeyRing::Create({{1, std::string(32, 'a')}}, 1);
    HAFS_CHECK(ring.ok()) << ring.status();
    peer::PeerServiceOptions o;
    o.auth.cluster_name = "c1";
    o.auth.node_id = 0;
    o.auth.node_name = "alpha";
    o.auth.incarnation = 1;
    o.auth.expected_peer_node_id = 1;
    o.auth.keys = std::make_shared<const auth::KeyRing>(*std::move(ring));
    return o;
  }

  std::string dir_, path_;
  int fd_ = -1;
  FakeControlTarget target_{SampleStatus()};
};

TEST_F(SharedPollerTest, TheSocketIsServedByAnotherServersPollingThread) {
  auto server = ControlServer::Start(&target_, {.socket_path = path_, .share_poller = true});
  ASSERT_OK(server.status());
  ASSERT_TRUE((*server)->shares_poller());  // the tests run with gRPC's epoll1
  // No thread of the control server polls: the kernel accepts the
  // connection, and nobody in gRPC reads it.
  RawConnect();
  EXPECT_FALSE(Answered(absl::Milliseconds(300)));
  // The peer service's polling thread starts, and serves it.
  auto peer = peer::PeerServer::Start(PeerOptions(), "127.0.0.1:0");
  ASSERT_OK(peer.status());
  EXPECT_TRUE(Answered(absl::Seconds(10)));

  // The RPCs: unary ones, and an events stream ended by Shutdown.
  auto client = ControlClient::Connect(path_);
  ASSERT_OK(client.status());
  auto s = (*client)->GetStatus();
  ASSERT_OK(s.status());
  EXPECT_EQ(*s, SampleStatus());
  ASSERT_OK((*client)->Primary(false).status());
  absl::Status result;
  std::atomic<int> lines{0};
  std::thread reader([&] {
    result = (*client)->Events(false, [&](const std::string&) {
      ++lines;
      return true;
    });
  });
  for (int i = 0; i < 500 && target_.events()->subscriber_count() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(target_.events()->subscriber_count(), 1u);
  target_.SetStatus(SampleStatus());  // publishes a line
  for (int i = 0; i < 500 && lines.load() == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  (*server)->Shutdown();
  reader.join();
  EXPECT_GT(lines.load(), 0);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_FALSE(std::filesystem::exists(path_));
  (*peer)->Shutdown();
}

// The check above is not vacuous: a server with its own polling thread
// answers the same bytes at once.
TEST_F(SharedPollerTest, WithoutTheOptionTheServerPollsOnItsOwn) {
  auto server = ControlServer::Start(&target_, {.socket_path = path_});
  ASSERT_OK(server.status());
  EXPECT_FALSE((*server)->shares_poller());
  RawConnect();
  EXPECT_TRUE(Answered(absl::Seconds(10)));
}

}  // namespace
}  // namespace hafs::control
