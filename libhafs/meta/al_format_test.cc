// LevelDB log_test-style tests of the AL ring: build a ring with a reference
// writer, corrupt it, and check what recovery keeps and what it reports.
#include "libhafs/meta/al_format.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/meta/superblock.h"

namespace hafs::meta {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr uint64_t kUuid = 0xfeedf00d;

// A reference writer: the table, and a ring of encoded transactions.
class RingWriter {
 public:
  RingWriter(uint32_t extents, uint32_t ring, uint64_t floor = 1)
      : table_(extents, kAlEmptyExtent), ring_(ring, std::string(kMetaBlockBytes, '\0')),
        next_tr_(floor) {}

  // Applies updates and writes one transaction.
  void Commit(const std::vector<std::pair<uint32_t, uint32_t>>& updates) {
    AlTransaction tr;
    tr.tr_number = next_tr_++;
    tr.device_uuid = kUuid;
    tr.al_extents = static_cast<uint32_t>(table_.size());
    tr.updates = updates;
    for (auto [slot, extent] : updates) table_[slot] = extent;
    tr.context_start = ctx_;
    const uint32_t n = std::min<uint32_t>(kAlContextSlots, tr.al_extents - ctx_);
    tr.context.assign(table_.begin() + ctx_, table_.begin() + ctx_ + n);
    ctx_ = (ctx_ + n) % tr.al_extents;
    EncodeAlTransaction(tr, ring_[tr.tr_number % ring_.size()].data());
    last_tr_ = tr.tr_number;
  }

  std::vector<absl::string_view> Blocks() const {
    return std::vector<absl::string_view>(ring_.begin(), ring_.end());
  }
  std::string& block_of(uint64_t tr) { return ring_[tr % ring_.size()]; }
  const std::vector<uint32_t>& table() const { return table_; }
  uint64_t last_tr() const { return last_tr_; }

 private:
  std::vector<uint32_t> table_;
  std::vector<std::string> ring_;
  uint64_t next_tr_;
  uint32_t ctx_ = 0;
  uint64_t last_tr_ = 0;
};

// 2000 slots need 3 transactions of 882 context slots; a ring of 4 holds
// exactly one more than that.
constexpr uint32_t kE = 2000;
constexpr uint32_t kR = 4;

void RandomCommits(RingWriter& w, Random& rng, int n) {
  for (int i = 0; i < n; ++i) {
    std::vector<std::pair<uint32_t, uint32_t>> u;
    const int k = static_cast<int>(rng.Range(1, kAlMaxUpdates));
    for (int j = 0; j < k; ++j) {
      u.emplace_back(static_cast<uint32_t>(rng.Uniform(kE)),
                     static_cast<uint32_t>(rng.Uniform(1u << 20)));
    }
    w.Commit(u);
  }
}

TEST(AlRingTest, BlankRingIsAnEmptyCompleteHotSet) {
  std::vector<std::string> ring(kR, std::string(kMetaBlockBytes, '\0'));
  AlRecovery r = RecoverAlRing({ring.begin(), ring.end()}, kUuid, kE, 1);
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(r.HotExtents().empty());
  EXPECT_TRUE(r.dropped.empty());
  EXPECT_EQ(r.next_tr, 1u);
}

TEST(AlRingTest, NewestTransactionWinsAndRebuildsTheTable) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    Random rng(seed);
    RingWriter w(kE, kR);
    RandomCommits(w, rng, static_cast<int>(rng.Range(1, 20)));
    AlRecovery r = RecoverAlRing(w.Blocks(), kUuid, kE, 1);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.slots, w.table());
    EXPECT_EQ(r.newest_tr, w.last_tr());
    EXPECT_EQ(r.next_tr, w.last_tr() + 1);
    EXPECT_TRUE(r.dropped.empty());
  }
}

TEST(AlRingTest, TornNewestTransactionFallsBackToThePreviousOne) {
  Random rng(5);
  RingWriter w(kE, kR);
  RandomCommits(w, rng, 9);
  const std::vector<uint32_t> before = w.table();
  const std::string old = w.block_of(w.last_tr() + 1);
  RandomCommits(w, rng, 1);
  std::string& b = w.block_of(w.last_tr());
  // Tear: sectors 0..3 new, 4..7 old.
  b.replace(2048, 2048, old.substr(2048));
  AlRecovery r = RecoverAlRing(w.Blocks(), kUuid, kE, 1);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.slots, before);
  EXPECT_EQ(r.newest_tr, w.last_tr() - 1);
  EXPECT_THAT(r.dropped, Contains(HasSubstr("checksum mismatch")));
  // The next transaction reuses the torn one's number (it never became durable).
  EXPECT_EQ(r.next_tr, w.last_tr());
}

TEST(AlRingTest, FlippedByteInAnOlderTransactionMakesTheHotSetUntrusted) {
  Random rng(6);
  RingWriter w(kE, kR);
  RandomCommits(w, rng, 12);
  // The window needs transactions last-2..last to cover 2000 slots; break
  // last-1: only "last" remains after the gap.
  w.block_of(w.last_tr() - 1)[1000] ^= 0x01;
  AlRecovery r = RecoverAlRing(w.Blocks(), kUuid, kE, 1);
  EXPECT_FALSE(r.complete);
  EXPECT_THAT(r.dropped, Contains(HasSubstr("cannot be trusted")));
  EXPECT_THAT(r.dropped, Contains(HasSubstr("checksum mismatch")));
}

TEST(AlRingTest, WindowReachingTheFloorIsCompleteEvenIfShort) {
  Random rng(7);
  RingWriter w(kE, kR, /*floor=*/50);
  RandomCommits(w, rng, 1);  // only transaction 50: context covers 882 slots
  AlRecovery r = RecoverAlRing(w.Blocks(), kUuid, kE, 50);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.slots, w.table());
}

TEST(AlRingTest, TransactionsBelowTheFloorAreVoid) {
  Random rng(8);
  RingWriter w(kE, kR);
  RandomCommits(w, rng, 6);
  AlRecovery r = RecoverAlRing(w.Blocks(), kUuid, kE, w.last_tr() + 1);
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(r.HotExtents().empty());
  EXPECT_EQ(r.next_tr, w.last_tr() + 1);
  EXPECT_TRUE(r.dropped.empty());
}

TEST(AlRingTest, TruncatedRingIsNotTrustedUnlessTheFloorIsReached) {
  Random rng(9);
  RingWriter w(kE, kR);
  RandomCommits(w, rng, 10);
  std::vector<absl::string_view> blocks = w.Blocks();
  // The tail of the ring reads back as zeros (e.g. a truncated external file).
  std::string zero(kMetaBlockBytes, '\0');
  for (uint64_t t = w.last_tr() - 3; t < w.last_tr() - 1; ++t) blocks[t % kR] = zero;
  AlRecovery r = RecoverAlRing(blocks, kUuid, kE, 1);
  EXPECT_FALSE(r.complete);
}

TEST(AlRingTest, StaleTransactionsOfAnotherInstanceAreDroppedAndReported) {
  Random rng(10);
  RingWriter w(kE, kR);
  RandomCommits(w, rng, 3);
  AlRecovery r = RecoverAlRing(w.Blocks(), kUuid + 1, kE, 1);
  EXPECT_TRUE(r.complete);  // nothing of ours since the floor
  EXPECT_TRUE(r.HotExtents().empty());
  EXPECT_THAT(r.dropped, Contains(AllOf(HasSubstr("another metadata instance"),
                                        HasSubstr("stale"))));
}

TEST(AlRingTest, MisdirectedTransactionIsReportedAndItsContentKept) {
  Random rng(11);
  RingWriter w(kE, kR);
  RandomCommits(w, rng, 8);
  const uint64_t last = w.last_tr();
  const std::vector<uint32_t> table_before = w.table();
  const std::string prev = w.block_of(last + 1);  // tr last-3 (in the window? no)
  RandomCommits(w, rng, 1);
  // Transaction last+1 landed in the block of last-2 instead of its own.
  const std::string newest = w.block_of(last + 1);
  w.block_of(last + 1) = prev;
  w.block_of(last - 2) = newest;
  AlRecovery r = RecoverAlRing(w.Blocks(), kUuid, kE, 1);
  EXPECT_THAT(r.dropped, Contains(HasSubstr("misdirected")));
  EXPECT_EQ(r.newest_tr, last + 1);
  // last-2 was overwritten: the window last-1..last+1 covers 3 x 882 >= 2000.
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.slots, w.table());
  (void)table_before;
}

TEST(AlRingTest, GarbageBlocksAreReportedNotTrusted) {
  Random rng(12);
  RingWriter w(kE, kR);
  RandomCommits(w, rng, 2);
  std::vector<absl::string_view> blocks = w.Blocks();
  std::string garbage(kMetaBlockBytes, '\0');
  rng.Fill(absl::MakeSpan(garbage));
  blocks[3] = garbage;
  AlRecovery r = RecoverAlRing(blocks, kUuid, kE, 1);
  EXPECT_TRUE(r.complete);  // window 1..2 reaches the floor
  EXPECT_EQ(r.slots, w.table());
  EXPECT_THAT(r.dropped, Contains(HasSubstr("AL block 3")));
}

TEST(AlRingTest, DecodeRejectsOutOfRangeFields) {
  AlTransaction tr;
  tr.tr_number = 3;
  tr.device_uuid = kUuid;
  tr.al_extents = 10;
  tr.updates = {{12, 5}};  // slot 12 of 10
  std::string b(kMetaBlockBytes, '\0');
  EncodeAlTransaction(tr, b.data());
  EXPECT_THAT(DecodeAlTransaction(b),
              ::hafs::testing::StatusIs(absl::StatusCode::kDataLoss, HasSubstr("slot 12")));
}

}  // namespace
}  // namespace hafs::meta
