// Control service round trips over a real Unix socket with a fake target.
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/control/client.h"
#include "libhafs/control/events.h"
#include "libhafs/control/fake_target.h"
#include "libhafs/control/server.h"

namespace hafs::control {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Short paths: sun_path holds 107 bytes, Bazel's TEST_TMPDIR can be longer.
    char tmpl[] = "/tmp/hafs-ctl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/run/alpha.sock";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<ControlServer> StartServer() {
    auto s = ControlServer::Start(&target_, {.socket_path = path_});
    EXPECT_OK(s.status());
    return s.ok() ? *std::move(s) : nullptr;
  }
  std::unique_ptr<ControlClient> Client() {
    auto c = ControlClient::Connect(path_);
    EXPECT_OK(c.status());
    return c.ok() ? *std::move(c) : nullptr;
  }

  std::string dir_, path_;
  FakeControlTarget target_{SampleStatus()};
};

TEST_F(ControlServerTest, SocketIsPrivateAndRemovedOnShutdown) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  struct stat st;
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());
  EXPECT_TRUE(std::filesystem::exists(path_ + ".lock"));
  server->Shutdown();
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_FALSE(std::filesystem::exists(path_ + ".lock"));
  server->Shutdown();  // idempotent
}

TEST_F(ControlServerTest, StatusRoundTrip) {
  auto server = StartServer();
  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto s = client->GetStatus();
  ASSERT_OK(s.status());
  EXPECT_EQ(*s, SampleStatus());
}

TEST_F(ControlServerTest, EveryCommandReachesTheTarget) {
  auto server = StartServer();
  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto r = client->Primary(true);
  ASSERT_OK(r.status());
  EXPECT_EQ(*r, "r0: now Primary");
  EXPECT_EQ(client->GetStatus()->volumes[0].role, "Primary");
  EXPECT_OK(client->Secondary().status());
  EXPECT_OK(client->ConnectPeer({.discard_my_data = true, .tentative = false}).status());
  EXPECT_OK(client->ConnectPeer({.discard_my_data = false, .tentative = true}).status());
  auto d = client->Disconnect();
  ASSERT_OK(d.status());
  EXPECT_EQ(*d, "");
  EXPECT_OK(client->Verify().status());
  EXPECT_EQ(*client->Resync(true), "r0: full resync started");
  EXPECT_OK(client->Resync(false).status());
  EXPECT_OK(client->Standby().status());
  EXPECT_OK(client->Takeover().status());
  EXPECT_EQ(*client->Cleanup(), "resource failures forgotten");
  EXPECT_THAT(target_.calls(),
              ::testing::ElementsAre("primary force=1", "status", "secondary",
                                     "connect discard=1 tentative=0",
                                     "connect discard=0 tentative=1", "disconnect",
                                     "verify", "resync full=1", "resync full=0",
                                     "standby", "takeover", "cleanup"));
}

TEST_F(ControlServerTest, ErrorsMapOneToOne) {
  auto server = StartServer();
  auto client = Client();
  ASSERT_NE(client, nullptr);
  const std::vector<absl::Status> errors = {
      absl::FailedPreconditionError(
          "primary: r0: local disk is Inconsistent; hint: --force"),
      absl::UnavailableError("connect: r0: peer bravo unreachable"),
      absl::InvalidArgumentError("resync: bad"),
      absl::AlreadyExistsError("verify: r0: already running"),
      absl::PermissionDeniedError("takeover: quorum"),
      absl::InternalError("standby: boom"),
  };
  for (const absl::Status& want : errors) {
    SCOPED_TRACE(want.ToString());
    target_.FailNext("primary", want);
    absl::Status got = client->Primary(false).status();
    EXPECT_EQ(got.code(), want.code());
    EXPECT_EQ(got.message(), want.message());
    EXPECT_FALSE(IsTransportError(got));
  }
  target_.FailNext("status", absl::UnavailableError("status: volume busy"));
  absl::Status st = client->GetStatus().status();
  EXPECT_THAT(st, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(st.message(), "status: volume busy");
  EXPECT_FALSE(IsTransportError(st));  // the daemon said it, not the transport
  for (const char* verb : {"secondary", "connect", "disconnect", "verify", "resync",
                           "standby", "takeover"}) {
    SCOPED_TRACE(verb);
    target_.FailNext(verb, absl::FailedPreconditionError(std::string(verb) + ": no"));
  }
  EXPECT_EQ(client->Secondary().status().message(), "secondary: no");
  EXPECT_EQ(client->ConnectPeer({}).status().message(), "connect: no");
  EXPECT_EQ(client->Disconnect().status().message(), "disconnect: no");
  EXPECT_EQ(client->Verify().status().message(), "verify: no");
  EXPECT_EQ(client->Resync(false).status().message(), "resync: no");
  EXPECT_EQ(client->Standby().status().message(), "standby: no");
  EXPECT_EQ(client->Takeover().status().message(), "takeover: no");
}

TEST_F(ControlServerTest, NoDaemonIsATransportErrorWithErrno) {
  auto c = ControlClient::Connect(path_);
  EXPECT_THAT(c.status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(IsTransportError(c.status()));
  EXPECT_EQ(c.status().message(),
            "cannot reach hafsd at " + path_ + ": no such file or directory");
}

// A socket file nobody listens on, like one left by a killed daemon.
void MakeStaleSocket(const std::string& path) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);
}

TEST_F(ControlServerTest, StaleSocketIsRefusedByClientAndReplacedByServer) {
  MakeStaleSocket(path_);
  auto c = ControlClient::Connect(path_);
  EXPECT_TRUE(IsTransportError(c.status()));
  EXPECT_EQ(c.status().message(), "cannot reach hafsd at " + path_ + ": connection refused");
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  EXPECT_OK(client->GetStatus().status());
}

TEST_F(ControlServerTest, SecondServerOnSamePathIsRefused) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  FakeControlTarget other(SampleStatus());
  auto second = ControlServer::Start(&other, {.socket_path = path_});
  EXPECT_THAT(second.status(), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("another hafsd holds"));
  // The first one still serves and still owns its socket.
  auto client = Client();
  ASSERT_NE(client, nullptr);
  EXPECT_OK(client->GetStatus().status());
}

TEST_F(ControlServerTest, PathThatIsNotASocketIsNeverRemoved) {
  std::filesystem::create_directories(dir_ + "/run");
  std::ofstream(path_) << "precious";
  auto s = ControlServer::Start(&target_, {.socket_path = path_});
  EXPECT_THAT(s.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("is not a socket"));
  std::ifstream in(path_);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(ControlServerTest, TooLongPathIsInvalidArgument) {
  auto s = ControlServer::Start(&target_, {.socket_path = "/tmp/" + std::string(120, 'x')});
  EXPECT_THAT(s.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("at most 107"));
}

TEST_F(ControlServerTest, EventsNowThenChanges) {
  auto server = StartServer();
  auto client = Client();
  ASSERT_NE(client, nullptr);
  std::vector<std::string> lines;
  std::thread changer;
  absl::Status s = client->Events(true, [&](const std::string& line) {
    lines.push_back(line);
    if (line == "exists -") {
      // Change state through another connection once the snapshot is in.
      changer = std::thread([this] {
        auto c2 = ControlClient::Connect(path_);
        ASSERT_OK(c2.status());
        ASSERT_OK((*c2)->Primary(false).status());
      });
    }
    return line.rfind("change", 0) != 0;  // stop after the first change line
  });
  changer.join();
  ASSERT_OK(s);
  std::vector<std::string> expected = SnapshotLines(SampleStatus());
  expected.push_back("change resource name:r0 role:Primary");
  EXPECT_EQ(lines, expected);
}

TEST_F(ControlServerTest, ShutdownCancelsStreamWithReason) {
  auto server = StartServer();
  auto client = Client();
  ASSERT_NE(client, nullptr);
  absl::Status result;
  std::thread reader([&] {
    result = client->Events(false, [](const std::string&) { return true; });
  });
  // Wait until the stream is subscribed.
  for (int i = 0; i < 500 && target_.events()->subscriber_count() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(target_.events()->subscriber_count(), 1u);
  server->Shutdown();
  reader.join();
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(result.message(), "events: hafsd is shutting down");
  EXPECT_FALSE(IsTransportError(result));
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(ControlServerTest, ServerGoneMidSessionIsATransportError) {
  auto server = StartServer();
  auto client = Client();
  ASSERT_NE(client, nullptr);
  ASSERT_OK(client->GetStatus().status());
  server->Shutdown();
  absl::Status s = client->Primary(false).status();
  EXPECT_TRUE(IsTransportError(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("lost hafsd at " + path_));
}

}  // namespace
}  // namespace hafs::control
