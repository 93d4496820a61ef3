#include "libhafs/resources/nfs_server_agent.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/clock.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/resources/process_runner.h"

namespace hafs::resources {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

std::string TempDir() {
  char tmpl[] = "/tmp/hafs-nfs-test.XXXXXX";
  char* d = ::mkdtemp(tmpl);
  return d ? d : "";
}

ResourceSpec NfsSpec(const std::string& mp, const std::string& exports) {
  ResourceSpec s;
  s.name = "nfs";
  s.kind = AgentKind::kNfsServer;
  s.params = {{"mount_point", mp}, {"exports", exports}, {"server_scope", "hafs-test"}};
  return s;
}

TEST(GaneshaConfTest, RendersTheHaSettings) {
  GaneshaSettings s;
  s.bind_addr = "192.0.2.10";
  s.port = 2049;
  s.lease_s = 10;
  s.grace_s = 15;
  s.server_scope = "hafs-pair";
  s.recovery_root = "/srv/nfs/.hafs/ganesha-recovery";
  s.export_blocks = "EXPORT { Export_Id = 1; }\n";
  std::string c = RenderGaneshaConf(s);
  for (const char* want :
       {"Protocols = 4;", "Bind_addr = 192.0.2.10;", "NFS_Port = 2049;", "Enable_NLM = false;",
        "Enable_RQUOTA = false;", "Enable_UDP = false;", "Clustered = false;",
        "RecoveryBackend = fs;", "RecoveryRoot = \"/srv/nfs/.hafs/ganesha-recovery\";",
        "Grace_Period = 15;", "Lease_Lifetime = 10;", "Server_Scope = \"hafs-pair\";",
        "Server_Owner = \"hafs-pair\";", "Only_Numeric_Owners = true;",
        "EXPORT { Export_Id = 1; }"}) {
    EXPECT_THAT(c, HasSubstr(want));
  }
}

TEST(GaneshaConfTest, ExportBlocksComeFromTheExportsRenderer) {
  std::string d = TempDir();
  ASSERT_FALSE(d.empty());
  auto blocks = RenderExportBlocks(d + " *(rw,fsid=0,no_root_squash,sync,no_subtree_check)\n");
  ASSERT_OK(blocks.status());
  EXPECT_THAT(*blocks, HasSubstr("EXPORT"));
  EXPECT_THAT(*blocks, HasSubstr(absl::StrCat("Path = \"", d, "\"")));
  EXPECT_THAT(RenderExportBlocks(d + "/missing *(rw,no_subtree_check)\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exports:1:")));
  std::system(("rm -rf " + d).c_str());
}

TEST(NfsServerValidateTest, PreciseErrors) {
  EXPECT_OK(NfsServerAgent::Validate(NfsSpec("/srv/nfs", "/srv/nfs *(rw)")));
  ResourceSpec s = NfsSpec("/srv/nfs", "/srv/nfs *(rw)");
  s.params.erase("server_scope");
  EXPECT_THAT(NfsServerAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("server_scope is required")));
  s = NfsSpec("/srv/nfs", "/srv/nfs *(rw)");
  s.params["lease_s"] = "60";
  s.params["grace_s"] = "30";
  EXPECT_THAT(NfsServerAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shorter than lease_s")));
  s = NfsSpec("/srv/nfs", "/srv/nfs *(rw)");
  s.params["exports_file"] = "/etc/exports";
  EXPECT_THAT(NfsServerAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exactly one of exports")));
  s = NfsSpec("/srv/nfs", "/srv/nfs *(rw)");
  s.params["bind_addr"] = "nfs.example";
  EXPECT_THAT(NfsServerAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("numeric IP")));
  s = NfsSpec("/srv/nfs", "/srv/nfs *(rw)");
  s.params["server_scope"] = "a;b";
  EXPECT_THAT(NfsServerAgent::Validate(s), StatusIs(absl::StatusCode::kInvalidArgument));
  s = NfsSpec("/srv/nfs", "/srv/nfs *(rw)");
  s.params["port"] = "70000";
  EXPECT_THAT(NfsServerAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1..65535")));
}

TEST(NfsServerAgentTest, MissingBinaryIsFatal) {
  std::string d = TempDir();
  ResourceSpec s = NfsSpec(d, d + " *(rw,fsid=0,no_subtree_check)");
  s.params["ganesha_path"] = "/nonexistent/ganesha.nfsd";
  s.params["state_dir"] = d + "/state";
  NfsServerAgent a(s, Clock::System());
  AgentOutcome o = a.Start(absl::Seconds(5));
  EXPECT_EQ(o.code, AgentOutcome::kFatal);
  EXPECT_THAT(o.message, HasSubstr("nfs-ganesha installed?"));
  EXPECT_EQ(a.Monitor(absl::Seconds(1)).code, AgentOutcome::kNotRunning);
  std::system(("rm -rf " + d).c_str());
}

// ---- the real Ganesha (root) ----

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class GaneshaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (ganesha.nfsd)";
    for (const char* b : {"/usr/bin/ganesha.nfsd", "/usr/bin/nfs-ls"}) {
      if (::access(b, X_OK) != 0) GTEST_SKIP() << b << " not installed (tools/setup.sh)";
    }
    dir_ = TempDir();
    ASSERT_FALSE(dir_.empty());
    vol_ = dir_ + "/vol";
    exp_ = dir_ + "/export";
    ASSERT_EQ(::mkdir(vol_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(exp_.c_str(), 0755), 0);
    std::ofstream(exp_ + "/hello-hafs.txt") << "hi\n";
    ASSERT_EQ(::mkdir((exp_ + "/sub").c_str(), 0755), 0);
    std::ofstream(exp_ + "/sub/inner.txt") << "inner text\n";
    port_ = FreePort();
  }
  void TearDown() override {
    if (agent_) {
      AgentOutcome o = agent_->Stop(absl::Seconds(10));
      if (o.code != AgentOutcome::kOk) ADD_FAILURE() << o.message;
    }
    if (!dir_.empty()) {
      // Belt and braces: a pid file left behind means a live ganesha.
      std::ifstream pf(dir_ + "/state/ganesha.pid");
      pid_t p = 0;
      if (pf >> p && p > 0) ::kill(p, SIGKILL);
      std::system(("rm -rf " + dir_).c_str());
    }
  }
  std::string Exports(const std::string& client) {
    return absl::StrCat(exp_, " ", client, "(rw,fsid=0,no_root_squash,sync,no_subtree_check)\n");
  }
  // nfs-ls the root; retries NFS4ERR_GRACE / refused connections for up to
  // `budget`. Returns the last output and sets *ok.
  std::string NfsLs(absl::Duration budget, bool* ok, bool retry_any = false,
                    const std::string& tool = "/usr/bin/nfs-ls", const std::string& path = "/") {
    std::string url = absl::StrCat("nfs://127.0.0.1", path, "?version=4&nfsport=", port_);
    absl::Time end = absl::Now() + budget;
    std::string out;
    for (;;) {
      auto r = ProcessRunner::System()->Run({.argv = {tool, url},
                                             .timeout = absl::Seconds(10)});
      *ok = r.ok() && !r->timed_out && r->exit_code == 0;
      out = r.ok() ? r->output : r.status().ToString();
      std::cout << tool << " " << url << " -> " << (*ok ? "ok" : "failed") << ": " << out << "\n";
      if (*ok) return out;
      bool transient = retry_any || absl::StrContains(out, "GRACE") ||
                       absl::StrContains(out, "grace") || absl::StrContains(out, "refused");
      if (!transient || absl::Now() >= end) return out;
      absl::SleepFor(absl::Milliseconds(500));
    }
  }

  std::string dir_, vol_, exp_;
  int port_ = 0;
  std::unique_ptr<NfsServerAgent> agent_;
};

TEST_F(GaneshaTest, StartListReloadStop) {
  ResourceSpec s = NfsSpec(vol_, Exports("*"));
  s.params["bind_addr"] = "127.0.0.1";
  s.params["port"] = absl::StrCat(port_);
  s.params["lease_s"] = "5";
  s.params["grace_s"] = "5";
  s.params["state_dir"] = dir_ + "/state";
  s.params["kill_timeout_ms"] = "5000";
  agent_ = std::make_unique<NfsServerAgent>(s, Clock::System());

  EXPECT_EQ(agent_->Monitor(absl::Seconds(1)).code, AgentOutcome::kNotRunning);
  AgentOutcome o = agent_->Start(absl::Seconds(20));
  ASSERT_EQ(o.code, AgentOutcome::kOk) << o.message;
  EXPECT_THAT(o.message, ::testing::Not(HasSubstr("WARNING")));
  AgentOutcome m = agent_->Monitor(absl::Seconds(2));
  EXPECT_EQ(m.code, AgentOutcome::kOk) << m.message;
  EXPECT_THAT(agent_->Start(absl::Seconds(5)).message, HasSubstr("already running"));

  // Recovery records live on the "replicated volume".
  struct stat st;
  EXPECT_EQ(::stat((vol_ + "/.hafs/ganesha-recovery/v4recov").c_str(), &st), 0)
      << "no v4recov under the recovery root on the volume";

  bool ok = false;
  std::string out = NfsLs(absl::Seconds(20), &ok);
  ASSERT_TRUE(ok) << out << "\nlog tail in " << agent_->log_path();
  EXPECT_THAT(out, HasSubstr("hello-hafs.txt"));

  // Reload: only 10.99.0.0/16 may mount now -> 127.0.0.1 is refused.
  AgentOutcome r = agent_->Reload(Exports("10.99.0.0/16"));
  ASSERT_EQ(r.code, AgentOutcome::kOk) << r.message;
  absl::Time end = absl::Now() + absl::Seconds(10);
  for (;;) {
    out = NfsLs(absl::ZeroDuration(), &ok);
    if (!ok || absl::Now() >= end) break;
    absl::SleepFor(absl::Milliseconds(300));
  }
  EXPECT_FALSE(ok) << "export change not applied by SIGHUP: " << out;
  // And back.
  r = agent_->Reload(Exports("127.0.0.1"));
  ASSERT_EQ(r.code, AgentOutcome::kOk) << r.message;
  out = NfsLs(absl::Seconds(10), &ok, /*retry_any=*/true);
  EXPECT_TRUE(ok) << out;
  EXPECT_THAT(out, HasSubstr("hello-hafs.txt"));
  EXPECT_EQ(agent_->Monitor(absl::Seconds(2)).code, AgentOutcome::kOk);

  // Restart on the same volume: the clients recorded in v4recov may reclaim,
  // so Ganesha enforces grace; libnfs does not retry NFS4ERR_GRACE, we do.
  int records = 0;
  if (DIR* d = ::opendir((vol_ + "/.hafs/ganesha-recovery/v4recov").c_str())) {
    while (struct dirent* e = ::readdir(d)) records += e->d_name[0] != '.';
    ::closedir(d);
  }
  EXPECT_GE(records, 1) << "no client record on the volume";
  ASSERT_EQ(agent_->Stop(absl::Seconds(10)).code, AgentOutcome::kOk);
  o = agent_->Start(absl::Seconds(20));
  ASSERT_EQ(o.code, AgentOutcome::kOk) << o.message;
  absl::Time t0 = absl::Now();
  // nfs-cat OPENs the file, which grace blocks (readdir is not blocked).
  out = NfsLs(absl::Seconds(20), &ok, false, "/usr/bin/nfs-cat", "/sub/inner.txt");
  EXPECT_TRUE(ok) << out;
  EXPECT_THAT(out, HasSubstr("inner text"));
  std::cout << "reading after restart took " << absl::Now() - t0 << "\n";

  pid_t pid = agent_->pid();
  AgentOutcome stop = agent_->Stop(absl::Seconds(10));
  EXPECT_EQ(stop.code, AgentOutcome::kOk) << stop.message;
  EXPECT_NE(::kill(pid, 0), 0) << "ganesha still alive after stop";
  EXPECT_EQ(agent_->Monitor(absl::Seconds(1)).code, AgentOutcome::kNotRunning);
  EXPECT_THAT(agent_->Stop(absl::Seconds(1)).message, HasSubstr("not running"));
}

TEST_F(GaneshaTest, CrashIsAMonitorFailureAndBadConfigFailsWithTheLog) {
  ResourceSpec s = NfsSpec(vol_, Exports("*"));
  s.params["bind_addr"] = "127.0.0.1";
  s.params["port"] = absl::StrCat(port_);
  s.params["lease_s"] = "5";
  s.params["grace_s"] = "5";
  s.params["state_dir"] = dir_ + "/state";
  agent_ = std::make_unique<NfsServerAgent>(s, Clock::System());
  ASSERT_EQ(agent_->Start(absl::Seconds(20)).code, AgentOutcome::kOk);
  ::kill(agent_->pid(), SIGKILL);
  absl::SleepFor(absl::Milliseconds(200));
  AgentOutcome m = agent_->Monitor(absl::Seconds(1));
  EXPECT_EQ(m.code, AgentOutcome::kFailed) << m.message;
  EXPECT_THAT(m.message, HasSubstr("gone"));
  EXPECT_EQ(agent_->Stop(absl::Seconds(1)).code, AgentOutcome::kOk);

  // Port already taken by another listener: ganesha cannot bind and exits.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int busy = FreePort();
  a.sin_port = htons(static_cast<uint16_t>(busy));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  // Not listening: connects are refused, so Start must see ganesha die
  // (bind EADDRINUSE) rather than a false "listening".
  s.params["port"] = absl::StrCat(busy);
  NfsServerAgent other(s, Clock::System());
  AgentOutcome o = other.Start(absl::Seconds(8));
  ::close(fd);
  if (o.code == AgentOutcome::kOk) {
    other.Stop(absl::Seconds(5));
    GTEST_SKIP() << "ganesha started despite the bound port (SO_REUSEADDR?)";
  }
  EXPECT_EQ(o.code, AgentOutcome::kFailed);
  EXPECT_THAT(o.message, HasSubstr("log"));
  EXPECT_EQ(other.Monitor(absl::Seconds(1)).code, AgentOutcome::kNotRunning);
}

}  // namespace
}  // namespace hafs::resources
