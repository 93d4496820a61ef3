// Table-driven planner regression tests in the spirit of Pacemaker's
// cts-scheduler: every testdata/*.txt holds a scenario (group definition,
// resource states, role decision, time) above a `----` line and the expected
// actions below it. Format: docs/cluster.md "Planner corpus".
//
// To regenerate the expected sections after an intended change:
//   HAFS_REWRITE_GOLDEN=1 bazel run //libhafs/resources:planner_corpus_test
// (bazel run sets BUILD_WORKSPACE_DIRECTORY, so the files in the source tree
// are rewritten); then review the diff.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "libhafs/resources/planner.h"

namespace hafs::resources {
namespace {

constexpr char kDir[] = "libhafs/resources/testdata";

struct Scenario {
  GroupSpec group;
  PlannerInput input;
  std::string head;  // everything up to and including the ---- line
  std::string expected;
};

absl::Status Err(const std::string& file, int line, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", line, ": ", what));
}

bool ParseDur(absl::string_view s, absl::Duration* d) {
  return absl::ParseDuration(std::string(s), d);
}

absl::StatusOr<Scenario> ParseScenario(const std::string& file, const std::string& text) {
  Scenario sc;
  sc.input.now = absl::UnixEpoch();
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  size_t i = 0;
  bool sep = false;
  for (; i < lines.size(); ++i) {
    const std::string& raw = lines[i];
    int ln = static_cast<int>(i) + 1;
    absl::StrAppend(&sc.head, raw, "\n");
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line == "----") {
      sep = true;
      ++i;
      break;
    }
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    const std::string& kw = f[0];
    if (kw == "group" && f.size() >= 2) {
      sc.group.name = f[1];
      for (size_t j = 2; j < f.size(); ++j) {
        if (f[j] == "start_failure_is_fatal=no") sc.group.start_failure_is_fatal = false;
        else if (f[j] == "start_failure_is_fatal=yes") sc.group.start_failure_is_fatal = true;
        else return Err(file, ln, "unknown group option " + f[j]);
      }
    } else if (kw == "resource" && f.size() >= 3) {
      ResourceSpec r;
      r.name = f[1];
      if (!ParseAgentKind(f[2], &r.kind)) return Err(file, ln, "unknown agent " + f[2]);
      for (size_t j = 3; j < f.size(); ++j) {
        std::pair<std::string, std::string> kv = absl::StrSplit(f[j], absl::MaxSplits('=', 1));
        bool ok = true;
        if (kv.first == "start_timeout") ok = ParseDur(kv.second, &r.start_timeout);
        else if (kv.first == "stop_timeout") ok = ParseDur(kv.second, &r.stop_timeout);
        else if (kv.first == "monitor_timeout") ok = ParseDur(kv.second, &r.monitor_timeout);
        else if (kv.first == "monitor_interval") ok = ParseDur(kv.second, &r.monitor_interval);
        else if (kv.first == "failure_timeout") ok = ParseDur(kv.second, &r.failure_timeout);
        else if (kv.first == "migration_threshold") ok = absl::SimpleAtoi(kv.second, &r.migration_threshold);
        else return Err(file, ln, "unknown resource option " + kv.first);
        if (!ok) return Err(file, ln, "bad value in " + f[j]);
      }
      sc.group.resources.push_back(std::move(r));
    } else if (kw == "now" && f.size() == 2) {
      absl::Duration d;
      if (!ParseDur(f[1], &d)) return Err(file, ln, "bad time " + f[1]);
      sc.input.now = absl::UnixEpoch() + d;
    } else if (kw == "run" && f.size() == 2 && (f[1] == "yes" || f[1] == "no")) {
      sc.input.should_run = f[1] == "yes";
    } else if (kw == "status" && f.size() >= 3) {
      ResourceStatus s;
      bool found = false;
      for (ResourceState st : {ResourceState::kUnknown, ResourceState::kStopped,
                               ResourceState::kStarted, ResourceState::kFailed,
                               ResourceState::kStopFailed}) {
        if (f[2] == ResourceStateName(st)) {
          s.state = st;
          found = true;
        }
      }
      if (!found) return Err(file, ln, "unknown state " + f[2]);
      for (size_t j = 3; j < f.size(); ++j) {
        absl::string_view v = f[j];
        if (!absl::ConsumePrefix(&v, "failures=")) {
          return Err(file, ln, "unknown status option " + f[j]);
        }
        for (absl::string_view one : absl::StrSplit(v, ',')) {
          std::pair<std::string, std::string> opt = absl::StrSplit(one, '@');
          Failure fl;
          if (opt.first == "start") fl.op = Failure::Op::kStart;
          else if (opt.first == "monitor") fl.op = Failure::Op::kMonitor;
          else return Err(file, ln, "failure op must be start|monitor: " + std::string(one));
          absl::Duration d;
          if (!ParseDur(opt.second, &d)) return Err(file, ln, "bad failure time");
          fl.at = absl::UnixEpoch() + d;
          s.failures.push_back(fl);
        }
      }
      sc.input.status[f[1]] = std::move(s);
    } else {
      return Err(file, ln, "cannot parse: " + std::string(line));
    }
  }
  if (!sep) return Err(file, static_cast<int>(lines.size()), "missing ---- separator");
  std::vector<std::string> exp;
  for (; i < lines.size(); ++i) {
    absl::string_view l = absl::StripAsciiWhitespace(lines[i]);
    if (!l.empty()) exp.emplace_back(l);
  }
  sc.expected = absl::StrJoin(exp, "\n");
  return sc;
}

std::string Render(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& a : p.actions) out.push_back(FormatAction(a));
  return absl::StrJoin(out, "\n");
}

TEST(PlannerCorpusTest, AllScenarios) {
  const char* rewrite = std::getenv("HAFS_REWRITE_GOLDEN");
  const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(kDir)) {
    if (e.path().extension() == ".txt") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 10u) << "testdata not found under " << kDir;
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto sc = ParseScenario(path.filename().string(), ss.str());
    ASSERT_TRUE(sc.ok()) << sc.status();
    ASSERT_TRUE(ValidateGroup(sc->group).ok()) << ValidateGroup(sc->group);
    std::string got = Render(PlanGroup(sc->group, sc->input));
    if (rewrite != nullptr && std::string(rewrite) == "1") {
      ASSERT_NE(ws, nullptr) << "use `bazel run` so BUILD_WORKSPACE_DIRECTORY is set";
      std::ofstream o(std::filesystem::path(ws) / kDir / path.filename());
      o << sc->head << got << (got.empty() ? "" : "\n");
      continue;
    }
    EXPECT_EQ(got, sc->expected) << "\n--- got:\n" << got << "\n--- expected:\n"
                                 << sc->expected;
  }
}

TEST(PlannerCorpusTest, ParserReportsFileAndLine) {
  auto sc = ParseScenario("x.txt", "group g\nresource a Bogus\n----\n");
  EXPECT_FALSE(sc.ok());
  EXPECT_NE(sc.status().message().find("x.txt:2: unknown agent Bogus"), std::string::npos)
      << sc.status();
}

}  // namespace
}  // namespace hafs::resources
