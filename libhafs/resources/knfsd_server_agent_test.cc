// Tests for KnfsdServerAgent with a scripted exportfs (FakeProcessRunner) and
// temp directories standing in for /etc/exports.d and /proc/fs/nfsd.
#include "libhafs/resources/knfsd_server_agent.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/exports/exports.h"
#include "libhafs/exports/render.h"
#include "libhafs/exports/table.h"
#include "libhafs/resources/process_runner.h"

namespace hafs::resources {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::hafs::testing::StatusIs;

std::string MakeTempDir() {
  std::string tmpl = std::string(::testing::TempDir()) + "/knfsd.XXXXXX";
  char* d = ::mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr);
  char* real = ::realpath(tmpl.c_str(), nullptr);  // as the exports library resolves
  std::string out = real != nullptr ? real : tmpl;
  ::free(real);
  return out;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Put(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// The exports library's own rendering (independent of the agent).
std::string Expected(const std::string& text) {
  namespace ex = hafs::exports;
  ex::RealFileSystem fs;
  ex::NoDnsResolver dns;
  ex::ExportTable t =
      ex::BuildTableFromParsed({ex::ParseExports(text, "exports", {})}, fs, dns, {});
  return ex::RenderKnfsd(t).exports_file;
}

ProcessResult Exit(int code, std::string out = "") {
  ProcessResult r;
  r.exit_code = code;
  r.output = std::move(out);
  return r;
}

class KnfsdAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = MakeTempDir();
    mnt_ = root_ + "/mnt";
    etc_ = root_ + "/exports.d";
    proc_ = root_ + "/proc-nfsd";
    ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((mnt_ + "/a").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((mnt_ + "/b c").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(proc_.c_str(), 0755), 0);
    Put(proc_ + "/threads", "0\n");
    exports_ = mnt_ + "/a 10.0.0.0/8(rw,no_subtree_check,fsid=1) *(ro,no_subtree_check,fsid=1)\n"
               "\"" + mnt_ + "/b c\" 192.168.1.0/24(rw,no_subtree_check,fsid=2)\n";
  }
  ResourceSpec Spec() {
    ResourceSpec s;
    s.name = "nfsd";
    s.kind = AgentKind::kNfsServer;
    s.params["exports"] = exports_;
    s.params["mount_point"] = mnt_;
    s.params["exports_d"] = etc_;
    s.params["proc_nfsd"] = proc_;
    s.params["exportfs_path"] = "/fake/exportfs";
    return s;
  }
  std::vector<std::string> Argv(const ProcessSpec& p) { return p.argv; }
  std::string ExportfsS() {  // what `exportfs -s` prints for exports_
    return mnt_ + "/a  10.0.0.0/8(sync,wdelay,hide,no_subtree_check,fsid=1,sec=sys,rw)\n" +
           mnt_ + "/a  *(sync,wdelay,hide,no_subtree_check,fsid=1,sec=sys,ro)\n" +
           hafs::exports::EscapePath(mnt_ + "/b c") +
           "  192.168.1.0/24(sync,wdelay,hide,no_subtree_check,fsid=2,sec=sys,rw)\n";
  }
  std::string root_, mnt_, etc_, proc_, exports_;
  FakeProcessRunner runner_;
};

TEST_F(KnfsdAgentTest, ValidateRejectsBadInput) {
  EXPECT_OK(KnfsdServerAgent::Validate(Spec()));
  ResourceSpec s = Spec();
  s.params["exports"] = "/srv host(rw,bogus_opt)\n";
  EXPECT_THAT(KnfsdServerAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exports:1:")));
  s = Spec();
  s.params["file_name"] = "hafs.conf";
  EXPECT_THAT(KnfsdServerAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NAME.exports")));
  s = Spec();
  s.params["lease_s"] = "5";
  EXPECT_THAT(KnfsdServerAgent::Validate(s), StatusIs(absl::StatusCode::kInvalidArgument));
  s = Spec();
  s.params["exports_d"] = "relative";
  EXPECT_THAT(KnfsdServerAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("absolute")));
  s = Spec();
  s.params["exportfs"] = "/x";  // typo
  EXPECT_THAT(KnfsdServerAgent::Validate(s), StatusIs(absl::StatusCode::kInvalidArgument));
  s = Spec();
  s.params.erase("exports");
  EXPECT_THAT(KnfsdServerAgent::Validate(s), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(KnfsdAgentTest, NoKernelNfsdIsFatal) {
  ::unlink((proc_ + "/threads").c_str());
  KnfsdServerAgent a(Spec(), &runner_);
  AgentOutcome o = a.Start(absl::Seconds(5));
  EXPECT_EQ(o.code, AgentOutcome::kFatal) << o.message;
  EXPECT_THAT(o.message, HasSubstr("this host has no kernel NFS server"));
  EXPECT_THAT(o.message, HasSubstr("use nfs.server: \"ganesha\""));
  EXPECT_TRUE(runner_.calls().empty());
  EXPECT_FALSE(Exists(etc_ + "/hafs.exports"));
}

TEST_F(KnfsdAgentTest, StartMonitorStop) {
  Put(proc_ + "/unlock_filesystem", "");
  Put(proc_ + "/nfsv4recoverydir", "/var/lib/nfs/v4recovery\n");
  KnfsdServerAgent a(Spec(), &runner_);
  EXPECT_EQ(a.Monitor(absl::Seconds(5)).code, AgentOutcome::kNotRunning);

  runner_.Push(Exit(0));
  AgentOutcome o = a.Start(absl::Seconds(7));
  ASSERT_EQ(o.code, AgentOutcome::kOk) << o.message;
  std::string file = Slurp(etc_ + "/hafs.exports");
  EXPECT_EQ(file, Expected(exports_));
  EXPECT_THAT(file, HasSubstr("/b\\040c 192.168.1.0/24("));
  EXPECT_FALSE(Exists(etc_ + "/.hafs.exports.tmp"));
  ASSERT_EQ(runner_.calls().size(), 1u);
  EXPECT_THAT(runner_.calls()[0].argv, ElementsAre("/fake/exportfs", "-ra"));
  EXPECT_EQ(runner_.calls()[0].timeout, absl::Seconds(7));
  // The recovery directory moved onto the replicated volume.
  EXPECT_EQ(Slurp(proc_ + "/nfsv4recoverydir"), mnt_ + "/.hafs/nfsd-v4recovery\n");
  EXPECT_TRUE(Exists(mnt_ + "/.hafs/nfsd-v4recovery"));

  runner_.Push(Exit(0, ExportfsS()));
  o = a.Monitor(absl::Seconds(5));
  EXPECT_EQ(o.code, AgentOutcome::kOk) << o.message;
  EXPECT_THAT(runner_.calls()[1].argv, ElementsAre("/fake/exportfs", "-s"));

  // One path missing from the kernel's list.
  runner_.Push(Exit(0, mnt_ + "/a  *(ro)\n"));
  o = a.Monitor(absl::Seconds(5));
  EXPECT_EQ(o.code, AgentOutcome::kFailed);
  EXPECT_THAT(o.message, HasSubstr(mnt_ + "/b c"));
  // exportfs itself fails.
  runner_.Push(Exit(1, "exportfs: boom"));
  o = a.Monitor(absl::Seconds(5));
  EXPECT_EQ(o.code, AgentOutcome::kFailed);
  EXPECT_THAT(o.message, HasSubstr("boom"));

  runner_.Push(Exit(0));
  o = a.Stop(absl::Seconds(5));
  ASSERT_EQ(o.code, AgentOutcome::kOk) << o.message;
  EXPECT_FALSE(Exists(etc_ + "/hafs.exports"));
  EXPECT_THAT(runner_.calls().back().argv, ElementsAre("/fake/exportfs", "-ra"));
  EXPECT_EQ(Slurp(proc_ + "/unlock_filesystem"), mnt_ + "\n");
  EXPECT_EQ(a.Monitor(absl::Seconds(5)).code, AgentOutcome::kNotRunning);
  // Stopped: stop again does nothing (no exportfs call queued).
  size_t n = runner_.calls().size();
  EXPECT_EQ(a.Stop(absl::Seconds(5)).code, AgentOutcome::kOk);
  EXPECT_EQ(runner_.calls().size(), n);
}

TEST_F(KnfsdAgentTest, ExportfsFailureIsReported) {
  KnfsdServerAgent a(Spec(), &runner_);
  runner_.Push(Exit(1, "exportfs: /etc/exports:3: unknown keyword \"bogus\"\n"));
  AgentOutcome o = a.Start(absl::Seconds(5));
  EXPECT_EQ(o.code, AgentOutcome::kFailed);
  EXPECT_THAT(o.message, HasSubstr("unknown keyword"));
  EXPECT_THAT(o.message, HasSubstr("status 1"));
  // Stop with a failing exportfs: the exports may still be live.
  runner_.Push(Exit(1, "exportfs: kaputt"));
  o = a.Stop(absl::Seconds(5));
  EXPECT_EQ(o.code, AgentOutcome::kStopFailed);
  EXPECT_THAT(o.message, HasSubstr("kaputt"));
  EXPECT_FALSE(Exists(etc_ + "/hafs.exports"));
  // The runner could not run exportfs at all (nothing queued).
  o = a.Start(absl::Seconds(5));
  EXPECT_EQ(o.code, AgentOutcome::kFailed);
  EXPECT_THAT(o.message, HasSubstr("did not run"));
}

TEST_F(KnfsdAgentTest, MissingPathAtStartIsReported) {
  ResourceSpec s = Spec();
  s.params["exports"] = mnt_ + "/nope *(ro,no_subtree_check)\n";
  ASSERT_OK(KnfsdServerAgent::Validate(s));  // paths are checked at start
  KnfsdServerAgent a(s, &runner_);
  AgentOutcome o = a.Start(absl::Seconds(5));
  EXPECT_EQ(o.code, AgentOutcome::kFatal);
  EXPECT_THAT(o.message, HasSubstr("/nope"));
  EXPECT_TRUE(runner_.calls().empty());
}

TEST_F(KnfsdAgentTest, TimersOnlyWhileNfsdIsStopped) {
  Put(proc_ + "/nfsv4leasetime", "90\n");
  Put(proc_ + "/nfsv4gracetime", "90\n");
  ResourceSpec s = Spec();
  s.params["lease_s"] = "30";
  s.params["grace_s"] = "45";
  {
    KnfsdServerAgent a(s, &runner_);
    runner_.Push(Exit(0));
    AgentOutcome o = a.Start(absl::Seconds(5));
    ASSERT_EQ(o.code, AgentOutcome::kOk) << o.message;
    EXPECT_EQ(Slurp(proc_ + "/nfsv4leasetime"), "30\n");
    EXPECT_EQ(Slurp(proc_ + "/nfsv4gracetime"), "45\n");
  }
  Put(proc_ + "/threads", "8\n");
  Put(proc_ + "/nfsv4leasetime", "90\n");
  KnfsdServerAgent a(s, &runner_);
  runner_.Push(Exit(0));
  AgentOutcome o = a.Start(absl::Seconds(5));
  ASSERT_EQ(o.code, AgentOutcome::kOk) << o.message;  // reported, not failed
  EXPECT_THAT(o.message, HasSubstr("nfsv4leasetime not set to 30"));
  EXPECT_THAT(o.message, HasSubstr("8 threads"));
  EXPECT_EQ(Slurp(proc_ + "/nfsv4leasetime"), "90\n");
}

TEST_F(KnfsdAgentTest, Reload) {
  KnfsdServerAgent a(Spec(), &runner_);
  std::string next = mnt_ + "/a 10.1.0.0/16(rw,no_subtree_check,fsid=1)\n";
  // Stopped: remembered, nothing written, exportfs not run.
  AgentOutcome o = a.Reload(next);
  EXPECT_EQ(o.code, AgentOutcome::kOk) << o.message;
  EXPECT_FALSE(Exists(etc_ + "/hafs.exports"));
  EXPECT_TRUE(runner_.calls().empty());
  runner_.Push(Exit(0));
  ASSERT_EQ(a.Start(absl::Seconds(5)).code, AgentOutcome::kOk);
  EXPECT_EQ(Slurp(etc_ + "/hafs.exports"), Expected(next));

  // Running: rewritten and exportfs -ra.
  o = a.Reload("/srv/nonexistent-xyz host(rw,bogus)\n");
  EXPECT_EQ(o.code, AgentOutcome::kFailed);
  EXPECT_EQ(Slurp(etc_ + "/hafs.exports"), Expected(next));  // kept
  runner_.Push(Exit(0));
  o = a.Reload(exports_);
  EXPECT_EQ(o.code, AgentOutcome::kOk) << o.message;
  EXPECT_EQ(Slurp(etc_ + "/hafs.exports"), Expected(exports_));
  EXPECT_THAT(runner_.calls().back().argv, ElementsAre("/fake/exportfs", "-ra"));
  EXPECT_EQ(runner_.calls().size(), 2u);
  // Monitor now checks the new paths.
  runner_.Push(Exit(0, mnt_ + "/a  10.1.0.0/16(rw)\n"));
  EXPECT_EQ(a.Monitor(absl::Seconds(5)).code, AgentOutcome::kFailed);
}

TEST_F(KnfsdAgentTest, CustomFileName) {
  ResourceSpec s = Spec();
  s.params["file_name"] = "zz-hafs.exports";
  ASSERT_OK(KnfsdServerAgent::Validate(s));
  KnfsdServerAgent a(s, &runner_);
  runner_.Push(Exit(0));
  ASSERT_EQ(a.Start(absl::Seconds(5)).code, AgentOutcome::kOk);
  EXPECT_EQ(Slurp(etc_ + "/zz-hafs.exports"), Expected(exports_));
  EXPECT_EQ(a.exports_file_path(), etc_ + "/zz-hafs.exports");
}

}  // namespace
}  // namespace hafs::resources
