// Runs testdata/handshake_table.txt: every numbered rule and every policy
// value, in a readable text table (format described at the top of the file).
// Each case is also run mirrored (self and peer swapped, tie bit flipped) and
// the two decisions must be complementary.
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/splitbrain/generation_ids.h"
#include "libhafs/splitbrain/handshake.h"
#include "libhafs/splitbrain/policy.h"

namespace hafs::splitbrain {
namespace {

struct Case {
  std::string name;
  int line = 0;
  NodeState self, peer;
  bool self_tie = false;
  SplitBrainPolicy policy;
  std::map<std::string, std::string> expect;
  std::vector<std::string> explain;
  bool mirror = true;
};

std::string ReadTable() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  std::string path = "libhafs/splitbrain/testdata/handshake_table.txt";
  if (srcdir != nullptr && ws != nullptr) {
    path = absl::StrCat(srcdir, "/", ws, "/", path);
  }
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

DiskState ParseDisk(absl::string_view s) {
  static const std::map<std::string, DiskState, std::less<>> kMap = {
      {"diskless", DiskState::kDiskless},
      {"attaching", DiskState::kAttaching},
      {"failed", DiskState::kFailed},
      {"negotiating", DiskState::kNegotiating},
      {"inconsistent", DiskState::kInconsistent},
      {"outdated", DiskState::kOutdated},
      {"dunknown", DiskState::kDUnknown},
      {"consistent", DiskState::kConsistent},
      {"uptodate", DiskState::kUpToDate},
  };
  auto it = kMap.find(s);
  EXPECT_TRUE(it != kMap.end()) << "bad disk state " << s;
  return it == kMap.end() ? DiskState::kUpToDate : it->second;
}

bool ParseYesNo(absl::string_view s) {
  EXPECT_TRUE(s == "yes" || s == "no") << "expected yes/no, got " << s;
  return s == "yes";
}

void ParseNode(absl::string_view args, NodeState& n, int line) {
  for (absl::string_view kv : absl::StrSplit(args, ' ', absl::SkipEmpty())) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, '=');
    const std::string& k = p.first;
    const std::string& v = p.second;
    if (k == "gi") {
      auto gi = GenerationIds::Parse(v);
      EXPECT_TRUE(gi.ok()) << "line " << line << ": " << gi.status();
      if (gi.ok()) n.gi = *gi;
    } else if (k == "role") {
      EXPECT_TRUE(v == "primary" || v == "secondary") << "line " << line;
      n.role = v == "primary" ? Role::kPrimary : Role::kSecondary;
    } else if (k == "disk") {
      n.disk = ParseDisk(v);
    } else if (k == "crashed") {
      n.crashed_primary = ParseYesNo(v);
    } else if (k == "bits") {
      EXPECT_TRUE(absl::SimpleAtoi(v, &n.bitmap_bits)) << "line " << line;
    } else if (k == "discard-my-data") {
      n.discard_my_data = ParseYesNo(v);
    } else if (k == "dry-run") {
      n.dry_run = ParseYesNo(v);
    } else if (k == "can-demote") {
      n.can_demote = ParseYesNo(v);
    } else if (k == "name") {
      n.name = v;
    } else {
      ADD_FAILURE() << "line " << line << ": unknown node key " << k;
    }
  }
}

std::vector<Case> ParseTable(const std::string& text) {
  std::vector<Case> cases;
  Case* cur = nullptr;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    std::pair<absl::string_view, absl::string_view> kw =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (kw.first == "case") {
      cases.emplace_back();
      cur = &cases.back();
      cur->name = std::string(kw.second);
      cur->line = line_no;
      continue;
    }
    if (cur == nullptr) {
      ADD_FAILURE() << "line " << line_no << ": expected 'case NAME'";
      continue;
    }
    if (kw.first == "self") {
      ParseNode(kw.second, cur->self, line_no);
    } else if (kw.first == "peer") {
      ParseNode(kw.second, cur->peer, line_no);
    } else if (kw.first == "tie") {
      EXPECT_TRUE(kw.second == "self" || kw.second == "peer") << line_no;
      cur->self_tie = kw.second == "self";
    } else if (kw.first == "policy") {
      for (absl::string_view kv :
           absl::StrSplit(kw.second, ' ', absl::SkipEmpty())) {
        std::pair<std::string, std::string> p = absl::StrSplit(kv, '=');
        absl::Status s = cur->policy.Set(p.first, p.second);
        EXPECT_TRUE(s.ok()) << "line " << line_no << ": " << s;
      }
    } else if (kw.first == "expect") {
      for (absl::string_view kv :
           absl::StrSplit(kw.second, ' ', absl::SkipEmpty())) {
        std::pair<std::string, std::string> p = absl::StrSplit(kv, '=');
        cur->expect[p.first] = p.second;
      }
    } else if (kw.first == "explain") {
      absl::string_view q = kw.second;
      EXPECT_TRUE(absl::ConsumePrefix(&q, "\"") && absl::ConsumeSuffix(&q, "\""))
          << "line " << line_no << ": explain needs a quoted string";
      cur->explain.push_back(absl::StrReplaceAll(q, {{"\\\"", "\""}}));
    } else if (kw.first == "nomirror") {
      cur->mirror = false;
    } else {
      ADD_FAILURE() << "line " << line_no << ": unknown keyword " << kw.first;
    }
  }
  return cases;
}

std::string Recov(Recovery r) {
  switch (r) {
    case Recovery::kNone: return "none";
    case Recovery::kAutomatic: return "automatic";
    case Recovery::kDiscardMyData: return "discard-my-data";
    case Recovery::kDiskStates: return "disk-states";
  }
  return "?";
}

std::string Handlers(const HandshakeDecision& d) {
  if (d.handlers.empty()) return "-";
  std::vector<std::string> names;
  for (Handler h : d.handlers) names.push_back(std::string(HandlerName(h)));
  return absl::StrJoin(names, ",");
}

// Complementary decisions of the two ends of one connection.
void ExpectComplementary(const HandshakeDecision& a, const HandshakeDecision& b) {
  EXPECT_FALSE(a.is_sync_source() && b.is_sync_source());
  EXPECT_FALSE(a.is_sync_target() && b.is_sync_target());
  EXPECT_EQ(a.dry_run, b.dry_run);
  // In dry-run mode `outcome` still says what a real connect would do.
  const bool a_go = a.outcome <= Outcome::kFullSyncTarget;
  const bool b_go = b.outcome <= Outcome::kFullSyncTarget;
  if (a_go && b_go) {
    EXPECT_EQ(a.result, -b.result);
    EXPECT_EQ(a.is_full_sync(), b.is_full_sync());
    EXPECT_EQ(a.outcome == Outcome::kNoSync, b.outcome == Outcome::kNoSync);
  }
}

TEST(HandshakeTable, EveryCase) {
  std::vector<Case> cases = ParseTable(ReadTable());
  ASSERT_GE(cases.size(), 60u);
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("case ", c.name, " (line ", c.line, ")"));
    ASSERT_TRUE(c.expect.count("outcome") && c.expect.count("rule") &&
                c.expect.count("compare") && c.expect.count("handlers"))
        << "every case needs expect outcome=, rule=, compare=, handlers=";
    HandshakeDecision d = SyncHandshake(c.self, c.peer, c.self_tie, c.policy);
    SCOPED_TRACE(d.explanation);
    for (const auto& [k, v] : c.expect) {
      if (k == "outcome") {
        EXPECT_EQ(OutcomeName(d.outcome), v);
      } else if (k == "rule") {
        EXPECT_EQ(absl::StrCat(d.rule), v);
      } else if (k == "compare") {
        EXPECT_EQ(absl::StrCat(d.compare_result), v);
      } else if (k == "result") {
        EXPECT_EQ(absl::StrCat(d.result), v);
      } else if (k == "handlers") {
        EXPECT_EQ(Handlers(d), v);
      } else if (k == "demote") {
        EXPECT_EQ(d.demote_self, v == "yes");
      } else if (k == "dry-run") {
        EXPECT_EQ(d.dry_run, v == "yes");
        if (d.dry_run) {
          EXPECT_FALSE(d.connects());
        }
      } else if (k == "recovery") {
        EXPECT_EQ(Recov(d.recovery), v);
      } else if (k == "primaries") {
        EXPECT_EQ(absl::StrCat(d.primaries), v);
      } else if (k == "split-brain") {
        EXPECT_EQ(d.split_brain, v == "yes");
      } else if (k == "self-fixed") {
        ASSERT_TRUE(d.self_fixed.has_value());
        EXPECT_EQ(d.self_fixed->DebugString(),
                  GenerationIds::Parse(v).value().DebugString());
      } else if (k == "peer-fixed") {
        ASSERT_TRUE(d.peer_fixed.has_value());
        EXPECT_EQ(d.peer_fixed->DebugString(),
                  GenerationIds::Parse(v).value().DebugString());
      } else {
        ADD_FAILURE() << "unknown expect key " << k;
      }
    }
    if (!c.expect.count("self-fixed")) {
      EXPECT_FALSE(d.self_fixed.has_value());
    }
    if (!c.expect.count("peer-fixed")) {
      EXPECT_FALSE(d.peer_fixed.has_value());
    }
    for (const std::string& s : c.explain) {
      EXPECT_THAT(d.explanation, ::testing::HasSubstr(s));
    }
    if (c.mirror) {
      HandshakeDecision m = SyncHandshake(c.peer, c.self, !c.self_tie, c.policy);
      SCOPED_TRACE(absl::StrCat("mirrored: ", OutcomeName(m.outcome), " rule ",
                                m.rule, ": ", m.explanation));
      ExpectComplementary(d, m);
    }
  }
}

}  // namespace
}  // namespace hafs::splitbrain
