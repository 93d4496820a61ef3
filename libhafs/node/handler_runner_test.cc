#include "libhafs/node/handler_runner.h"

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hafs::node {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class Reports {
 public:
  std::function<void(const std::string&)> Sink() {
    return [this](const std::string& s) {
      absl::MutexLock l(&mu_);
      lines_.push_back(s);
    };
  }
  // Waits until `n` lines arrived (the runner's thread reports).
  std::vector<std::string> Wait(size_t n) {
    absl::MutexLock l(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return lines_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
    return lines_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

TEST(HandlerRunnerTest, RunsTheCommandWithTheHandlerAndItsEnvironment) {
  resources::FakeProcessRunner fake;
  resources::ProcessResult ok;
  ok.exit_code = 0;
  ok.output = "mailed ops\nsecond line";
  fake.Push(ok);
  resources::ProcessResult failed;
  failed.exit_code = 3;
  fake.Push(failed);
  Reports reports;
  {
    HandlerRunner h(&fake, {.resource = "r0", .node_name = "alpha", .peer_name = "bravo"},
                    reports.Sink());
    h.Call("split-brain", "/usr/local/sbin/notify --mail ops");
    h.Call("pri-lost-after-sb", "/usr/local/sbin/reboot-me");
    h.Call("split-brain", "");  // none configured: nothing runs
    EXPECT_THAT(reports.Wait(2),
                ElementsAre("handler split-brain (/usr/local/sbin/notify): exit code 0: "
                            "mailed ops",
                            "handler pri-lost-after-sb (/usr/local/sbin/reboot-me): exit code 3"));
  }
  std::vector<resources::ProcessSpec> calls = fake.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_THAT(calls[0].argv, ElementsAre("/usr/local/sbin/notify", "--mail", "ops", "split-brain"));
  EXPECT_EQ(calls[0].env.at("HAFS_RESOURCE"), "r0");
  EXPECT_EQ(calls[0].env.at("DRBD_RESOURCE"), "r0");
  EXPECT_EQ(calls[0].env.at("HAFS_HANDLER"), "split-brain");
  EXPECT_EQ(calls[0].env.at("DRBD_PEER"), "bravo");
  EXPECT_EQ(calls[0].timeout, absl::Seconds(60));
}

TEST(HandlerRunnerTest, FailuresAndOverflowAreReported) {
  resources::FakeProcessRunner fake;  // nothing queued: Run fails
  Reports reports;
  {
    HandlerRunner h(&fake, {.resource = "r0", .max_queued = 0}, reports.Sink());
    h.Call("split-brain", "/bin/true");
    EXPECT_THAT(reports.Wait(1), ElementsAre(HasSubstr("not run (0 handler calls already queued")));
  }
  Reports more;
  {
    HandlerRunner h(&fake, {.resource = "r0"}, more.Sink());
    h.Call("split-brain", "/bin/true");
    EXPECT_THAT(more.Wait(1),
                ElementsAre(HasSubstr("handler split-brain (/bin/true): did not run")));
  }
}

}  // namespace
}  // namespace hafs::node
