#include "libhafs/base/logging.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hafs {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

class CaptureSink : public LogSink {
 public:
  void Send(LogSeverity s, absl::string_view line) override {
    lines.emplace_back(line);
  }
  std::vector<std::string> lines;
};

TEST(Logging, GoesToInstalledSinkWithSeverityFilter) {
  CaptureSink sink;
  LogSink* old = SetLogSink(&sink);
  HAFS_LOG(INFO) << "hello " << 42;
  SetMinLogSeverity(LogSeverity::kWarning);
  HAFS_LOG(INFO) << "dropped";
  HAFS_LOG(WARNING) << "kept";
  SetMinLogSeverity(LogSeverity::kInfo);
  SetLogSink(old);
  ASSERT_THAT(sink.lines, SizeIs(2));
  EXPECT_THAT(sink.lines[0], HasSubstr("logging_test.cc:"));
  EXPECT_THAT(sink.lines[0], HasSubstr("] hello 42"));
  EXPECT_EQ(sink.lines[0][0], 'I');
  EXPECT_EQ(sink.lines[1][0], 'W');
}

TEST(LoggingDeathTest, CheckAbortsWithMessage) {
  int x = 3;
  HAFS_CHECK(x == 3) << "not printed";
  EXPECT_DEATH(HAFS_CHECK(x == 4) << "x is " << x, "Check failed: x == 4 x is 3");
}

}  // namespace
}  // namespace hafs
