#include "libhafs/meta/activity_log.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/meta/superblock.h"

namespace hafs::meta {
namespace {

using ::hafs::testing::IsOkAndHolds;
using ::hafs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAreArray;

constexpr uint64_t kUuid = 77;

AlGeometry Geo(uint32_t e, uint32_t r = 4, uint64_t data_extents = 1000) {
  return AlGeometry{e, r, kUuid, data_extents};
}

std::vector<uint32_t> Empty(uint32_t e) { return std::vector<uint32_t>(e, kAlEmptyExtent); }

TEST(ActivityLogTest, HotWritesAreReadyColdWritesWaitForTheTransaction) {
  ActivityLog al(Geo(4), Empty(4), 1, 0);
  EXPECT_THAT(al.Begin(1, 10, 10), IsOkAndHolds(ActivityLog::Admit::kWait));
  EXPECT_THAT(al.Begin(2, 11, 12), IsOkAndHolds(ActivityLog::Admit::kWait));
  EXPECT_THAT(al.Begin(3, 10, 10), IsOkAndHolds(ActivityLog::Admit::kWait));
  auto tr = al.PrepareTransaction();
  ASSERT_TRUE(tr.has_value());
  // Activations that arrived together share one transaction.
  EXPECT_THAT(tr->activated, ElementsAre(10, 11, 12));
  EXPECT_TRUE(tr->evicted.empty());
  EXPECT_EQ(tr->tr_number, 1u);
  EXPECT_EQ(tr->ring_index, 1u);
  EXPECT_FALSE(al.PrepareTransaction().has_value());  // one in flight at a time
  // Not durable yet: still waiting, and a new write to 10 waits too.
  EXPECT_THAT(al.Begin(4, 10, 10), IsOkAndHolds(ActivityLog::Admit::kWait));
  EXPECT_THAT(al.CommitTransaction(), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(al.Begin(5, 12, 12), IsOkAndHolds(ActivityLog::Admit::kReady));
  EXPECT_EQ(al.refs(10), 3u);
  EXPECT_EQ(al.stats().transactions, 1u);
  EXPECT_EQ(al.stats().activations, 3u);
}

TEST(ActivityLogTest, ReferencedExtentsAreNeverEvictedLruOtherwise) {
  ActivityLog al(Geo(2), Empty(2), 1, 0);
  ASSERT_THAT(al.Begin(1, 0, 0), IsOkAndHolds(ActivityLog::Admit::kWait));
  ASSERT_THAT(al.Begin(2, 1, 1), IsOkAndHolds(ActivityLog::Admit::kWait));
  ASSERT_TRUE(al.PrepareTransaction().has_value());
  al.CommitTransaction();
  al.End(0, 0);  // extent 0 idle (older), extent 1 still referenced
  ASSERT_THAT(al.Begin(3, 5, 5), IsOkAndHolds(ActivityLog::Admit::kWait));
  auto tr = al.PrepareTransaction();
  ASSERT_TRUE(tr.has_value());
  EXPECT_THAT(tr->evicted, ElementsAre(0));
  al.CommitTransaction();
  // Now 1 and 5 are referenced: a third extent must wait for an End.
  ASSERT_THAT(al.Begin(4, 6, 6), IsOkAndHolds(ActivityLog::Admit::kWait));
  EXPECT_FALSE(al.PrepareTransaction().has_value());
  al.End(1, 1);
  tr = al.PrepareTransaction();
  ASSERT_TRUE(tr.has_value());
  EXPECT_THAT(tr->evicted, ElementsAre(1));
  EXPECT_THAT(al.CommitTransaction(), ElementsAre(4));
  EXPECT_THAT(al.HotExtents(), ElementsAre(5, 6));
}

// Two waiting writes that each span two extents, in an AL of two: each has
// one extent hot and wants the other. Evicting the oldest write's hot extent
// for the younger one let them take each other's extents away forever (found
// by the mirror simulator, seed 3231662400). The oldest now keeps its own.
TEST(ActivityLogTest, WritesSpanningExtentsInASmallAlAllGetAdmitted) {
  ActivityLog al(Geo(2), Empty(2), 1, 0);
  ASSERT_THAT(al.Begin(1, 0, 0), IsOkAndHolds(ActivityLog::Admit::kWait));
  ASSERT_THAT(al.Begin(2, 2, 2), IsOkAndHolds(ActivityLog::Admit::kWait));
  ASSERT_TRUE(al.PrepareTransaction().has_value());
  ASSERT_THAT(al.CommitTransaction(), ElementsAre(1, 2));
  al.End(0, 0);
  al.End(2, 2);
  // Extents 0 and 2 hot and idle; write 3 wants 0-1, write 4 wants 2-3.
  ASSERT_THAT(al.Begin(3, 0, 1), IsOkAndHolds(ActivityLog::Admit::kWait));
  ASSERT_THAT(al.Begin(4, 2, 3), IsOkAndHolds(ActivityLog::Admit::kWait));
  std::set<uint64_t> admitted;
  for (int i = 0; i < 10 && admitted.size() < 2; ++i) {
    if (!al.PrepareTransaction().has_value()) break;
    for (uint64_t id : al.CommitTransaction()) {
      admitted.insert(id);
      if (id == 3) al.End(0, 1);  // the write completes
      if (id == 4) al.End(2, 3);
    }
  }
  EXPECT_THAT(admitted, ::testing::ElementsAre(3, 4));
}

TEST(ActivityLogTest, AbortRollsBack) {
  ActivityLog al(Geo(1), Empty(1), 1, 0);
  ASSERT_THAT(al.Begin(1, 3, 3), IsOkAndHolds(ActivityLog::Admit::kWait));
  ASSERT_TRUE(al.PrepareTransaction().has_value());
  EXPECT_TRUE(al.AbortTransaction().empty());
  EXPECT_TRUE(al.HotExtents().empty());
  auto tr = al.PrepareTransaction();  // retried with the same number
  ASSERT_TRUE(tr.has_value());
  EXPECT_EQ(tr->tr_number, 1u);
  EXPECT_THAT(al.CommitTransaction(), ElementsAre(1));
}

TEST(ActivityLogTest, BadRanges) {
  ActivityLog al(Geo(2, 4, 10), Empty(2), 1, 0);
  EXPECT_THAT(al.Begin(1, 5, 4), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(al.Begin(1, 9, 10), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(al.Begin(1, 0, 2), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Random schedules against a model: writes are admitted only when all their
// extents are in the committed table, referenced extents are never evicted,
// the ring always recovers the committed table, and everything finishes.
TEST(ActivityLogTest, RandomSchedulesKeepTheInvariants) {
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    Random rng(seed);
    const uint32_t e = static_cast<uint32_t>(rng.Range(2, 40));
    const uint32_t r = static_cast<uint32_t>(rng.Range(2, 5));
    const uint64_t data_extents = rng.Range(e, 3 * e + 5);
    ActivityLog al(Geo(e, r, data_extents), Empty(e), 1, 0);
    std::vector<std::string> ring(r, std::string(kMetaBlockBytes, '\0'));
    std::map<uint64_t, std::pair<uint32_t, uint32_t>> waiting, running;
    std::optional<ActivityLog::Transaction> tr;
    uint64_t next_id = 1;
    auto admitted = [&](const std::vector<uint64_t>& ids) {
      std::vector<uint32_t> hot = al.HotExtents();
      std::set<uint32_t> hotset(hot.begin(), hot.end());
      for (uint64_t id : ids) {
        ASSERT_TRUE(waiting.contains(id)) << id;
        auto [f, l] = waiting[id];
        for (uint32_t x = f; x <= l; ++x) {
          ASSERT_TRUE(hotset.contains(x)) << "write " << id << " admitted, extent " << x
                                          << " not in the durable table";
        }
        running[id] = waiting[id];
        waiting.erase(id);
      }
    };
    for (int step = 0; step < 400; ++step) {
      const uint64_t c = rng.Uniform(10);
      if (c < 4 && next_id < 300) {
        const uint32_t f = static_cast<uint32_t>(rng.Uniform(data_extents));
        const uint32_t l = std::min<uint32_t>(f + (rng.OneIn(4) ? 1 : 0),
                                              static_cast<uint32_t>(data_extents - 1));
        const uint64_t id = next_id++;
        auto a = al.Begin(id, f, l);
        ASSERT_TRUE(a.ok()) << a.status();
        waiting[id] = {f, l};
        if (*a == ActivityLog::Admit::kReady) admitted({id});
      } else if (c < 7 && !running.empty()) {
        auto it = std::next(running.begin(), rng.Uniform(running.size()));
        al.End(it->second.first, it->second.second);
        running.erase(it);
      } else if (c < 8 && !tr.has_value()) {
        tr = al.PrepareTransaction();
        if (tr.has_value()) {
          for (uint32_t v : tr->evicted) ASSERT_EQ(al.refs(v), 0u) << "evicting " << v;
          ASSERT_LE(tr->activated.size(), kAlMaxUpdates);
        }
      } else if (tr.has_value()) {
        if (rng.OneIn(8)) {
          admitted(al.AbortTransaction());
        } else {
          ring[tr->ring_index] = tr->block;
          admitted(al.CommitTransaction());
          std::vector<absl::string_view> blocks(ring.begin(), ring.end());
          AlRecovery rec = RecoverAlRing(blocks, kUuid, e, 1);
          ASSERT_TRUE(rec.complete);
          ASSERT_EQ(rec.slots, al.slots());
          ASSERT_EQ(rec.next_tr, al.next_tr());
        }
        tr.reset();
      }
      // Every referenced extent is durable-hot.
      std::vector<uint32_t> hot = al.HotExtents();
      ASSERT_LE(hot.size(), e);
      ASSERT_TRUE(std::adjacent_find(hot.begin(), hot.end()) == hot.end()) << "duplicate";
      std::set<uint32_t> hotset(hot.begin(), hot.end());
      for (auto& [id, rg] : running) {
        for (uint32_t x = rg.first; x <= rg.second; ++x) ASSERT_TRUE(hotset.contains(x));
      }
    }
    // Drain: finish everything; every waiting write must get admitted.
    for (int guard = 0; guard < 10000 && (!waiting.empty() || !running.empty() || tr); ++guard) {
      for (auto& [id, rg] : running) al.End(rg.first, rg.second);
      running.clear();
      if (!tr.has_value()) tr = al.PrepareTransaction();
      if (tr.has_value()) {
        ring[tr->ring_index] = tr->block;
        admitted(al.CommitTransaction());
        tr.reset();
      }
    }
    EXPECT_TRUE(waiting.empty()) << waiting.size() << " writes never admitted";
  }
}

}  // namespace
}  // namespace hafs::meta
