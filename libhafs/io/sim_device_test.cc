#include "libhafs/io/sim_device.h"

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/clock.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::io {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

constexpr uint64_t kDevSize = 64 * kBlockSize;
constexpr uint64_t kSectors = kDevSize / kSectorSize;

AlignedBuffer Filled(size_t size, char c) {
  AlignedBuffer b(size);
  std::memset(b.data(), c, size);
  return b;
}

std::string Slice(const std::string& image, uint64_t offset, uint64_t len) {
  return image.substr(offset, len);
}

TEST(SimDeviceTest, WriteIsVisibleButNotDurableUntilFlush) {
  SimDevice dev({.size_bytes = kDevSize});
  AlignedBuffer a = Filled(kBlockSize, 'a');
  ASSERT_OK(dev.Write(8192, a.span()));
  AlignedBuffer r(kBlockSize);
  ASSERT_OK(dev.Read(8192, r.span()));
  EXPECT_EQ(r.view(), a.view());
  EXPECT_EQ(Slice(dev.durable_contents(), 8192, kBlockSize),
            std::string(kBlockSize, '\0'));
  EXPECT_EQ(dev.unsynced_writes(), 1u);
  ASSERT_OK(dev.Flush());
  EXPECT_EQ(dev.unsynced_writes(), 0u);
  EXPECT_EQ(Slice(dev.durable_contents(), 8192, kBlockSize), a.view());
}

TEST(SimDeviceTest, FuaWriteIsDurableOnCompletion) {
  SimDevice dev({.size_bytes = kDevSize});
  AlignedBuffer old = Filled(kBlockSize, 'o');
  AlignedBuffer fua = Filled(kBlockSize, 'f');
  ASSERT_OK(dev.Write(0, old.span()));  // unsynced
  ASSERT_OK(dev.Write(0, fua.span(), /*fua=*/true));
  EXPECT_EQ(dev.unsynced_writes(), 0u);  // superseded by the FUA write
  EXPECT_EQ(Slice(dev.durable_contents(), 0, kBlockSize), fua.view());
  // A crash can never bring the older unsynced data back over the FUA data.
  for (uint64_t seed = 0; seed < 20; ++seed) {
    dev.Crash(seed);
    EXPECT_EQ(Slice(dev.contents(), 0, kBlockSize), fua.view()) << "seed=" << seed;
  }
}

TEST(SimDeviceTest, DiscardZeroesAndIsUnsyncedUntilFlush) {
  SimDevice dev({.size_bytes = kDevSize});
  AlignedBuffer a = Filled(2 * kBlockSize, 'a');
  ASSERT_OK(dev.Write(0, a.span()));
  ASSERT_OK(dev.Flush());
  ASSERT_OK(dev.Discard(0, kBlockSize));
  EXPECT_EQ(Slice(dev.contents(), 0, kBlockSize), std::string(kBlockSize, '\0'));
  EXPECT_EQ(Slice(dev.durable_contents(), 0, kBlockSize), a.view().substr(0, kBlockSize));
  ASSERT_OK(dev.Flush());
  EXPECT_EQ(Slice(dev.durable_contents(), 0, kBlockSize), std::string(kBlockSize, '\0'));
}

TEST(SimDeviceTest, FlushCoversOnlyWritesCompletedBeforeItWasSubmitted) {
  SimDevice dev({.size_bytes = kDevSize});
  AlignedBuffer a = Filled(kBlockSize, 'a');
  IoRequest w{.op = IoOp::kWrite, .offset = 0, .length = kBlockSize, .data = a.data()};
  IoRequest f{.op = IoOp::kFlush};
  std::vector<std::string> order;
  w.done = [&](absl::Status s) { EXPECT_OK(s); order.push_back("w"); };
  f.done = [&](absl::Status s) { EXPECT_OK(s); order.push_back("f"); };
  ASSERT_OK(dev.Submit(&w));
  ASSERT_OK(dev.Submit(&f));  // w has not completed yet
  EXPECT_EQ(dev.in_flight(), 2);
  ASSERT_THAT(dev.Poll(2, absl::InfiniteDuration()), hafs::testing::IsOkAndHolds(2));
  EXPECT_EQ(order, (std::vector<std::string>{"w", "f"}));
  EXPECT_EQ(dev.unsynced_writes(), 1u);
  EXPECT_EQ(Slice(dev.durable_contents(), 0, kBlockSize), std::string(kBlockSize, '\0'));
}

TEST(SimDeviceTest, BarrierHoldsLaterRequestsUntilItCompleted) {
  SimClock clock;
  SimDevice dev({.size_bytes = 64 * kBlockSize, .seed = 3, .clock = &clock,
                 .write_latency = absl::Microseconds(100),
                 .flush_latency = absl::Microseconds(50)});
  AlignedBuffer a = Filled(kBlockSize, 'a'), c = Filled(kBlockSize, 'c');
  std::vector<std::string> order;
  auto note = [&order](std::string n) {
    return [&order, n](absl::Status s) {
      EXPECT_OK(s);
      order.push_back(n);
    };
  };
  IoRequest w1{.op = IoOp::kWrite, .offset = 0, .length = kBlockSize, .data = a.data()};
  w1.done = note("w1");
  IoRequest b{.op = IoOp::kFlush, .barrier = true};
  b.done = note("b");
  IoRequest w2{.op = IoOp::kWrite, .offset = kBlockSize, .length = kBlockSize, .data = c.data()};
  w2.done = note("w2");
  const absl::Time start = clock.Now();
  ASSERT_OK(dev.Submit(&w1));
  ASSERT_OK(dev.Submit(&b));
  ASSERT_OK(dev.Submit(&w2));
  // w2 would be due at +100us if it had started with w1; it starts only after
  // the barrier: w1 at +100, b at +150, w2 at +250.
  EXPECT_THAT(dev.Poll(3, absl::InfiniteDuration()), hafs::testing::IsOkAndHolds(3));
  EXPECT_EQ(order, (std::vector<std::string>{"w1", "b", "w2"}));
  EXPECT_EQ(clock.Now() - start, absl::Microseconds(250));
  // The barrier flush covered w1 (submitted before it, completed after).
  EXPECT_EQ(Slice(dev.durable_contents(), 0, kBlockSize), std::string(kBlockSize, 'a'));
  EXPECT_EQ(dev.unsynced_writes(), 1u);  // w2
}

TEST(SimDeviceTest, BarrierSubmittedFromACallbackWaitsForTheWholeRound) {
  // w1 and w2 complete in the same Poll round; w1's callback submits a
  // barrier flush and w3 behind it. The flush must cover w2 as well, and w3
  // must start only after it.
  SimDevice dev({.size_bytes = 64 * kBlockSize, .seed = 5});
  AlignedBuffer a = Filled(kBlockSize, 'a'), b2 = Filled(kBlockSize, 'b'),
                c = Filled(kBlockSize, 'c');
  std::vector<std::string> order;
  IoRequest w1{.op = IoOp::kWrite, .offset = 0, .length = kBlockSize, .data = a.data()};
  IoRequest w2{.op = IoOp::kWrite, .offset = kBlockSize, .length = kBlockSize,
               .data = b2.data()};
  IoRequest bf{.op = IoOp::kFlush, .barrier = true};
  IoRequest w3{.op = IoOp::kWrite, .offset = 2 * kBlockSize, .length = kBlockSize,
               .data = c.data()};
  w1.done = [&](absl::Status s) {
    EXPECT_OK(s);
    order.push_back("w1");
    ASSERT_OK(dev.Submit(&bf));
    ASSERT_OK(dev.Submit(&w3));
  };
  w2.done = [&](absl::Status) { order.push_back("w2"); };
  bf.done = [&](absl::Status) {
    order.push_back("b");
    // Everything before the barrier is durable now, w3 has not started.
    EXPECT_EQ(Slice(dev.durable_contents(), kBlockSize, kBlockSize),
              std::string(kBlockSize, 'b'));
  };
  w3.done = [&](absl::Status) { order.push_back("w3"); };
  ASSERT_OK(dev.Submit(&w1));
  ASSERT_OK(dev.Submit(&w2));
  EXPECT_THAT(dev.Poll(4, absl::InfiniteDuration()), hafs::testing::IsOkAndHolds(4));
  EXPECT_EQ(order, (std::vector<std::string>{"w1", "w2", "b", "w3"}));
}

TEST(SimDeviceCrashTest, WritesHeldBehindABarrierNeverReachTheMedia) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    SimClock clock;
    SimDevice dev({.size_bytes = 64 * kBlockSize, .seed = seed, .clock = &clock,
                   .write_latency = absl::Microseconds(100),
                   .flush_latency = absl::Microseconds(50)});
    AlignedBuffer a = Filled(kBlockSize, 'a'), c = Filled(kBlockSize, 'c');
    IoRequest w1{.op = IoOp::kWrite, .offset = 0, .length = kBlockSize, .data = a.data()};
    IoRequest b{.op = IoOp::kFlush, .barrier = true};
    IoRequest w2{.op = IoOp::kWrite, .offset = kBlockSize, .length = kBlockSize,
                 .data = c.data()};
    for (IoRequest* r : {&w1, &b, &w2}) {
      r->done = [](absl::Status) {};
      ASSERT_OK(dev.Submit(r));
    }
    // Power fails while w1 is in flight (and maybe after it completed).
    if (seed % 2 == 0) {
      EXPECT_THAT(dev.Poll(1, absl::InfiniteDuration()), hafs::testing::IsOkAndHolds(1));
    }
    SimDevice::CrashReport r = dev.Crash(seed);
    EXPECT_EQ(r.requests_abandoned, seed % 2 == 0 ? 2u : 3u) << "seed " << seed;
    EXPECT_EQ(Slice(dev.durable_contents(), kBlockSize, kBlockSize),
              std::string(kBlockSize, '\0'))
        << "seed " << seed << ": a write held behind the barrier reached the media";
  }
}

TEST(SimDeviceTest, ValidationIsSharedWithEveryDevice) {
  SimDevice dev({.size_bytes = kDevSize});
  AlignedBuffer a(kBlockSize);
  EXPECT_THAT(dev.Write(100, a.span()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not aligned")));
  EXPECT_THAT(dev.Write(kDevSize, a.span()),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("past the device end")));
}

// --- Crash tests (LevelDB fault_injection_test style) -----------------------

// Every 512-byte sector written carries (write id, sector index) so that a
// crashed image tells exactly which write each sector came from.
void Stamp(char* sector, uint64_t write_id, uint64_t sector_index) {
  std::memset(sector, static_cast<char>('A' + write_id % 26), kSectorSize);
  std::memcpy(sector, &write_id, 8);
  std::memcpy(sector + 8, &sector_index, 8);
}

struct SectorModel {
  uint64_t synced = 0;              // write id known durable (0 = zeros)
  std::vector<uint64_t> unsynced;  // completed, not yet covered, in order
};

std::string Expected(uint64_t write_id, uint64_t sector) {
  std::string s(kSectorSize, '\0');
  if (write_id != 0) Stamp(s.data(), write_id, sector);
  return s;
}

// Runs a random history of writes (some FUA), flushes and crashes, checking
// after each crash that every sector holds its synced content or one of the
// writes made to it since (never anything else), and that synced sectors
// without later writes are intact.
void RunCrashHistory(uint64_t seed, SimDevice::CrashReport* total) {
  SCOPED_TRACE(absl::StrCat("seed=", seed));
  Random rng(seed);
  SimDevice dev({.size_bytes = kDevSize, .seed = seed});
  std::vector<SectorModel> model(kSectors);
  uint64_t next_id = 1;
  for (int round = 0; round < 8; ++round) {
    const int ops = static_cast<int>(rng.Range(1, 30));
    for (int i = 0; i < ops; ++i) {
      if (rng.OneIn(6)) {
        ASSERT_OK(dev.Flush());
        for (SectorModel& m : model) {
          if (!m.unsynced.empty()) m.synced = m.unsynced.back();
          m.unsynced.clear();
        }
        continue;
      }
      const uint64_t blocks = rng.Range(1, 4);
      const uint64_t block = rng.Uniform(kDevSize / kBlockSize - blocks + 1);
      const bool fua = rng.OneIn(5);
      const uint64_t id = next_id++;
      AlignedBuffer buf(blocks * kBlockSize);
      const uint64_t first = block * kBlockSize / kSectorSize;
      for (uint64_t s = 0; s < blocks * kBlockSize / kSectorSize; ++s) {
        Stamp(buf.data() + s * kSectorSize, id, first + s);
      }
      ASSERT_OK(dev.Write(block * kBlockSize, buf.span(), fua));
      for (uint64_t s = first; s < first + blocks * kBlockSize / kSectorSize; ++s) {
        if (fua) {
          model[s].synced = id;
          model[s].unsynced.clear();
        } else {
          model[s].unsynced.push_back(id);
        }
      }
    }
    const SimDevice::CrashReport r = dev.Crash(rng.Next64());
    total->writes_dropped += r.writes_dropped;
    total->writes_kept += r.writes_kept;
    total->writes_torn += r.writes_torn;
    ASSERT_EQ(dev.contents(), dev.durable_contents());
    ASSERT_EQ(dev.unsynced_writes(), 0u);
    AlignedBuffer image(kDevSize);
    ASSERT_OK(dev.Read(0, image.span()));  // usable after the crash
    for (uint64_t s = 0; s < kSectors; ++s) {
      const std::string got(image.data() + s * kSectorSize, kSectorSize);
      SectorModel& m = model[s];
      uint64_t now = 0;
      bool ok = false;
      if (got == Expected(m.synced, s)) {
        ok = true;
        now = m.synced;
      }
      for (uint64_t id : m.unsynced) {
        if (got == Expected(id, s)) {
          ok = true;
          now = id;
        }
      }
      ASSERT_TRUE(ok) << "sector " << s << " holds neither its synced write "
                      << m.synced << " nor one of " << m.unsynced.size()
                      << " unsynced writes";
      if (m.unsynced.empty()) {
        ASSERT_EQ(now, m.synced) << "synced sector " << s << " was damaged";
      }
      m.synced = now;  // what survived is now the durable content
      m.unsynced.clear();
    }
  }
}

TEST(SimDeviceCrashTest, SyncedDataSurvivesUnsyncedMayVanishOrTear) {
  SimDevice::CrashReport total;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    RunCrashHistory(seed, &total);
    if (HasFatalFailure()) return;
  }
  // The lottery really exercises all three outcomes.
  EXPECT_GT(total.writes_dropped, 0u);
  EXPECT_GT(total.writes_kept, 0u);
  EXPECT_GT(total.writes_torn, 0u);
}

TEST(SimDeviceCrashTest, NonVolatileCacheKeepsEveryCompletedWrite) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SimDevice dev({.size_bytes = kDevSize, .nonvolatile_cache = true});
    AlignedBuffer a = Filled(kBlockSize, 'a');
    AlignedBuffer z = Filled(kBlockSize, '\0');
    ASSERT_OK(dev.Write(0, a.span()));  // no flush
    ASSERT_OK(dev.Write(kBlockSize, a.span()));
    IoRequest discard{.op = IoOp::kDiscard, .offset = kBlockSize, .length = kBlockSize};
    discard.done = [](absl::Status s) { ASSERT_OK(s); };
    ASSERT_OK(dev.Submit(&discard));
    ASSERT_OK(dev.Poll(1, absl::InfiniteDuration()).status());
    dev.Crash(seed);
    EXPECT_EQ(std::memcmp(dev.contents().data(), a.data(), kBlockSize), 0) << "seed " << seed;
    EXPECT_EQ(std::memcmp(dev.contents().data() + kBlockSize, z.data(), kBlockSize), 0)
        << "seed " << seed;
  }
}

TEST(SimDeviceCrashTest, TornWriteMixesOldAndNewSectors) {
  bool saw_mixed = false;
  for (uint64_t seed = 0; seed < 50 && !saw_mixed; ++seed) {
    SimDevice dev({.size_bytes = kDevSize});
    AlignedBuffer a = Filled(kBlockSize, 'n');
    ASSERT_OK(dev.Write(0, a.span()));
    dev.Crash(seed);
    int fresh = 0;
    for (uint64_t s = 0; s < kBlockSize / kSectorSize; ++s) {
      if (dev.contents()[s * kSectorSize] == 'n') ++fresh;
    }
    saw_mixed = fresh > 0 && fresh < static_cast<int>(kBlockSize / kSectorSize);
  }
  EXPECT_TRUE(saw_mixed) << "no seed in [0,50) tore a write";
}

TEST(SimDeviceCrashTest, CrashIsDeterministicPerSeed) {
  auto run = [](uint64_t seed) {
    SimDevice dev({.size_bytes = kDevSize});
    Random rng(7);
    for (int i = 0; i < 40; ++i) {
      AlignedBuffer b(kBlockSize);
      rng.Fill(b.span());
      EXPECT_OK(dev.Write(rng.Uniform(kDevSize / kBlockSize) * kBlockSize, b.span()));
    }
    dev.Crash(seed);
    return dev.contents();
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(SimDeviceCrashTest, InFlightRequestsAreAbandonedAndTakePartInTheLottery) {
  SimDevice dev({.size_bytes = kDevSize});
  AlignedBuffer a = Filled(kBlockSize, 'a');
  bool called = false;
  IoRequest w{.op = IoOp::kWrite, .offset = 0, .length = kBlockSize, .data = a.data()};
  w.done = [&](absl::Status) { called = true; };
  ASSERT_OK(dev.Submit(&w));
  const SimDevice::CrashReport r = dev.Crash(3);
  EXPECT_EQ(r.requests_abandoned, 1u);
  EXPECT_EQ(r.writes_dropped + r.writes_kept + r.writes_torn, 1u);
  EXPECT_EQ(dev.in_flight(), 0);
  ASSERT_THAT(dev.Poll(0, absl::ZeroDuration()), hafs::testing::IsOkAndHolds(0));
  EXPECT_FALSE(called);
}

// --- Error injection --------------------------------------------------------

TEST(SimDeviceFaultTest, FailNextWritesWithEio) {
  SimDevice dev({.size_bytes = kDevSize});
  dev.AddFault(SimFault::FailNext(IoOp::kWrite, 2, EIO));
  AlignedBuffer a = Filled(kBlockSize, 'a');
  EXPECT_THAT(dev.Write(4096, a.span()),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("write of 4096 bytes at offset 4096")));
  EXPECT_THAT(dev.Write(4096, a.span()),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("errno 5 EIO")));
  EXPECT_EQ(Slice(dev.contents(), 4096, kBlockSize), std::string(kBlockSize, '\0'))
      << "a failed write must write nothing";
  EXPECT_OK(dev.Write(4096, a.span()));
  EXPECT_EQ(dev.stats().injected_errors, 2u);
  EXPECT_OK(dev.Read(4096, a.span()));  // reads unaffected
}

TEST(SimDeviceFaultTest, EnospcPastOffset) {
  SimDevice dev({.size_bytes = kDevSize});
  dev.AddFault(SimFault::FailPastOffset(IoOp::kWrite, 32 * kBlockSize, ENOSPC));
  AlignedBuffer a = Filled(2 * kBlockSize, 'a');
  EXPECT_OK(dev.Write(30 * kBlockSize, a.span()));
  EXPECT_THAT(dev.Write(31 * kBlockSize, a.span()),  // crosses the limit
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("ENOSPC")));
  EXPECT_THAT(dev.Write(40 * kBlockSize, a.span()),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(SimDeviceFaultTest, FailedFlushMakesNothingDurable) {
  SimDevice dev({.size_bytes = kDevSize});
  AlignedBuffer a = Filled(kBlockSize, 'a');
  ASSERT_OK(dev.Write(0, a.span()));
  const int id = dev.AddFault(SimFault::FailNext(IoOp::kFlush, -1, EIO));
  EXPECT_THAT(dev.Flush(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("flush")));
  EXPECT_EQ(dev.unsynced_writes(), 1u);
  EXPECT_EQ(Slice(dev.durable_contents(), 0, kBlockSize), std::string(kBlockSize, '\0'));
  dev.RemoveFault(id);
  EXPECT_OK(dev.Flush());
  EXPECT_EQ(Slice(dev.durable_contents(), 0, kBlockSize), a.view());
}

TEST(SimDeviceFaultTest, ReadErrorsByProbabilityAreSeeded) {
  auto count = [](uint64_t seed) {
    SimDevice dev({.size_bytes = kDevSize, .seed = seed});
    dev.AddFault(SimFault::FailWithProbability(IoOp::kRead, 0.25, EIO));
    AlignedBuffer b(kBlockSize);
    int failures = 0;
    for (int i = 0; i < 400; ++i) {
      absl::Status s = dev.Read(0, b.span());
      if (!s.ok()) {
        EXPECT_THAT(s, StatusIs(absl::StatusCode::kDataLoss));
        ++failures;
      }
    }
    return failures;
  };
  const int n = count(11);
  EXPECT_GT(n, 60);
  EXPECT_LT(n, 140);
  EXPECT_EQ(n, count(11));
}

TEST(SimDeviceFaultTest, MisdirectedWriteLandsElsewhereAndReportsSuccess) {
  SimDevice dev({.size_bytes = kDevSize});
  dev.AddFault(SimFault::MisdirectNextWrite(8 * kBlockSize));
  AlignedBuffer a = Filled(kBlockSize, 'm');
  ASSERT_OK(dev.Write(2 * kBlockSize, a.span()));
  EXPECT_EQ(Slice(dev.contents(), 2 * kBlockSize, kBlockSize), std::string(kBlockSize, '\0'));
  EXPECT_EQ(Slice(dev.contents(), 8 * kBlockSize, kBlockSize), a.view());
  EXPECT_EQ(dev.stats().misdirected_writes, 1u);
  ASSERT_OK(dev.Write(2 * kBlockSize, a.span()));  // one-shot
  EXPECT_EQ(Slice(dev.contents(), 2 * kBlockSize, kBlockSize), a.view());

  // Random target: some other block.
  SimDevice dev2({.size_bytes = kDevSize, .seed = 5});
  dev2.AddFault(SimFault::MisdirectNextWrite());
  ASSERT_OK(dev2.Write(0, a.span()));
  EXPECT_EQ(Slice(dev2.contents(), 0, kBlockSize), std::string(kBlockSize, '\0'));
  EXPECT_NE(dev2.contents().find('m'), std::string::npos);
}

// --- Latency and reordering -------------------------------------------------

TEST(SimDeviceTimingTest, CompletionsWaitForTheSimClock) {
  SimClock clock;
  SimDevice dev({.size_bytes = kDevSize, .clock = &clock,
                 .write_latency = absl::Milliseconds(5)});
  AlignedBuffer a = Filled(kBlockSize, 'a');
  bool done = false;
  IoRequest w{.op = IoOp::kWrite, .offset = 0, .length = kBlockSize, .data = a.data()};
  w.done = [&](absl::Status s) { EXPECT_OK(s); done = true; };
  const absl::Time start = clock.Now();
  ASSERT_OK(dev.Submit(&w));
  EXPECT_THAT(dev.Poll(0, absl::ZeroDuration()), hafs::testing::IsOkAndHolds(0));
  clock.AdvanceBy(absl::Milliseconds(4));
  EXPECT_THAT(dev.Poll(1, absl::ZeroDuration()), hafs::testing::IsOkAndHolds(0));
  EXPECT_FALSE(done);
  // A Poll with a timeout shorter than the remaining latency gives up.
  EXPECT_THAT(dev.Poll(1, absl::Microseconds(500)), hafs::testing::IsOkAndHolds(0));
  EXPECT_EQ(clock.Now() - start, absl::Microseconds(4500));
  clock.AdvanceBy(absl::Microseconds(500));
  EXPECT_THAT(dev.Poll(0, absl::ZeroDuration()), hafs::testing::IsOkAndHolds(1));
  EXPECT_TRUE(done);
  // The sync helpers advance simulated time by waiting on the clock.
  dev.SetLatency(IoOp::kFlush, absl::Milliseconds(10));
  const absl::Time before = clock.Now();
  ASSERT_OK(dev.Flush());
  EXPECT_EQ(clock.Now() - before, absl::Milliseconds(10));
}

TEST(SimDeviceTimingTest, ReorderingIsSeededAndDeterministic) {
  auto order = [](uint64_t seed) {
    SimDevice dev({.size_bytes = kDevSize, .seed = seed, .reorder_completions = true});
    std::vector<IoRequest> reqs(16);
    AlignedBuffer b(kBlockSize);
    std::vector<int> out;
    for (int i = 0; i < 16; ++i) {
      reqs[i] = IoRequest{.op = IoOp::kWrite, .offset = i * kBlockSize,
                          .length = kBlockSize, .data = b.data()};
      reqs[i].done = [&out, i](absl::Status s) { out.push_back(i); };
      EXPECT_OK(dev.Submit(&reqs[i]));
    }
    EXPECT_THAT(dev.Poll(16, absl::InfiniteDuration()), hafs::testing::IsOkAndHolds(16));
    return out;
  };
  std::vector<int> in_order(16);
  for (int i = 0; i < 16; ++i) in_order[i] = i;
  EXPECT_NE(order(1), in_order);
  EXPECT_EQ(order(1), order(1));
  EXPECT_NE(order(1), order(2));
}

}  // namespace
}  // namespace hafs::io
