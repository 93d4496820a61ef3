#include "libhafs/resources/agent.h"

#include <sys/stat.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/resources/process_runner.h"

namespace hafs::resources {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using C = AgentOutcome;

ResourceSpec Spec(const std::string& script) {
  ResourceSpec s;
  s.name = "svc";
  s.kind = AgentKind::kCommand;
  s.params["script"] = script;
  s.params["env.MODE"] = "test";
  return s;
}

ProcessResult Exit(int code) {
  ProcessResult r;
  r.exit_code = code;
  return r;
}

TEST(CommandAgentTest, ValidateNeedsAbsoluteScript) {
  EXPECT_OK(CommandAgent::Validate(Spec("/etc/init.d/x")));
  EXPECT_THAT(CommandAgent::Validate(Spec("x")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("script=")));
  ResourceSpec s = Spec("/x");
  s.kind = AgentKind::kVirtualIp;
  EXPECT_THAT(CommandAgent::Validate(s), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CommandAgentTest, LsbExitCodeMapping) {
  struct Case {
    const char* op;
    int exit;
    C::Code want;
  } cases[] = {
      {"start", 0, C::kOk},         {"start", 1, C::kFailed},
      {"start", 2, C::kFailed},     {"start", 4, C::kFailed},
      {"start", 5, C::kFatal},      {"start", 6, C::kFatal},
      {"start", 7, C::kFailed},     {"stop", 0, C::kOk},
      {"stop", 7, C::kOk},          {"stop", 5, C::kOk},
      {"stop", 1, C::kStopFailed},  {"stop", 6, C::kStopFailed},
      {"status", 0, C::kOk},        {"status", 3, C::kNotRunning},
      {"status", 1, C::kFailed},    {"status", 2, C::kFailed},
      {"status", 4, C::kFailed},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.op << " exit " << c.exit);
    FakeProcessRunner fake;
    fake.Push(Exit(c.exit));
    CommandAgent a(Spec("/etc/init.d/svc"), &fake);
    std::string op = c.op;
    AgentOutcome o = op == "start" ? a.Start(absl::Seconds(1))
                     : op == "stop" ? a.Stop(absl::Seconds(1))
                                    : a.Monitor(absl::Seconds(1));
    EXPECT_EQ(o.code, c.want) << o.message;
    EXPECT_THAT(o.message, HasSubstr(absl::StrCat("exit ", c.exit)));
    ASSERT_EQ(fake.calls().size(), 1u);
    EXPECT_THAT(fake.calls()[0].argv, ElementsAre("/etc/init.d/svc", op));
    EXPECT_EQ(fake.calls()[0].env.at("MODE"), "test");
    EXPECT_EQ(fake.calls()[0].env.at("HAFS_RESOURCE"), "svc");
  }
}

TEST(CommandAgentTest, TimeoutsAndRunnerErrors) {
  FakeProcessRunner fake;
  ProcessResult t;
  t.timed_out = true;
  for (int i = 0; i < 3; ++i) fake.Push(t);
  fake.Push(absl::InternalError("fork failed"));
  CommandAgent a(Spec("/x"), &fake);
  EXPECT_EQ(a.Start(absl::Seconds(1)).code, C::kFailed);
  EXPECT_EQ(a.Stop(absl::Seconds(1)).code, C::kStopFailed);
  EXPECT_EQ(a.Monitor(absl::Seconds(1)).code, C::kFailed);
  EXPECT_EQ(a.Stop(absl::Seconds(1)).code, C::kStopFailed);
}

std::string WriteScript(const std::string& name, const std::string& body) {
  std::string path = std::string(::testing::TempDir()) + "/" + name;
  {
    std::ofstream f(path);
    f << "#!/bin/sh\n" << body;
  }
  ::chmod(path.c_str(), 0755);
  return path;
}

TEST(SystemProcessRunnerTest, RunsScriptsWithEnvAndExitCodes) {
  std::string s = WriteScript("lsb.sh",
                              "case \"$1\" in\n"
                              "  start) echo \"starting $HAFS_RESOURCE $MODE\"; exit 0;;\n"
                              "  stop) exit 7;;\n"
                              "  status) exit 3;;\n"
                              "esac\nexit 2\n");
  CommandAgent a(Spec(s), ProcessRunner::System());
  AgentOutcome o = a.Start(absl::Seconds(10));
  EXPECT_EQ(o.code, C::kOk) << o.message;
  EXPECT_EQ(a.Stop(absl::Seconds(10)).code, C::kOk);
  EXPECT_EQ(a.Monitor(absl::Seconds(10)).code, C::kNotRunning);
  auto r = ProcessRunner::System()->Run({.argv = {s, "start"}, .env = {{"MODE", "m"}}});
  ASSERT_OK(r);
  EXPECT_EQ(r->output, "starting  m\n");
  EXPECT_EQ(r->exit_code, 0);
}

TEST(SystemProcessRunnerTest, TimeoutKillsTheProcessGroup) {
  std::string s = WriteScript("hang.sh", "trap '' TERM\nsleep 30 &\nwait\n");
  absl::Time start = absl::Now();
  auto r = ProcessRunner::System()->Run(
      {.argv = {s}, .timeout = absl::Milliseconds(200), .kill_grace = absl::Milliseconds(200)});
  ASSERT_OK(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->signal, SIGKILL);  // TERM was ignored
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(SystemProcessRunnerTest, BadSpecsAreRefused) {
  EXPECT_THAT(ProcessRunner::System()->Run({}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ProcessRunner::System()->Run({.argv = {"sh"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("absolute")));
  auto r = ProcessRunner::System()->Run({.argv = {"/nonexistent/x"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 127);
}

}  // namespace
}  // namespace hafs::resources
