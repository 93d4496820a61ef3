// meta_bench: random 4 KiB writes at QD32 through the activity log
// (MetaStore on UringDevice) against raw UringDevice writes, same file, same
// run, rounds alternating raw/AL:
//   hot   writes inside the AL hot set (prewarmed)   goal: AL IOPS >= 0.95 x raw
//   2x    a working set of twice the AL's extents    goal: <= 1 metadata write per
//         32 cold-extent activations (batched); report the IOPS ratio to raw
//
// Usage: meta_bench [--file=PATH] [--al_extents=N] [--seconds=S] [--rounds=R]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/random.h"
#include "libhafs/io/uring_device.h"
#include "libhafs/meta/meta_store.h"

namespace hafs::meta {
namespace {

constexpr int kQd = 32;
constexpr uint64_t kBlocksPerExtent = kAlExtentBytes / io::kBlockSize;

struct Result {
  double iops = 0;
  uint64_t ops = 0;
  uint64_t al_writes = 0, bitmap_writes = 0, flushes = 0, activations = 0, transactions = 0;
  uint64_t cold_writes = 0;  // writes that found their extent cold and waited for a transaction
};

struct Slot {
  io::AlignedBuffer buf{io::kBlockSize};
  io::IoRequest req;
  bool busy = false;
};

// Random 4 KiB writes to blocks of extents [0, extents) for `secs`, at QD32,
// through `ms` (nullptr: raw).
Result RunWrites(io::BlockDevice* dev, MetaStore* ms, uint64_t extents, double secs,
                 uint64_t seed) {
  Random rng(seed);
  std::vector<Slot> slots(kQd);
  for (Slot& s : slots) rng.Fill(s.buf.span());
  uint64_t done = 0, data_in_flight = 0, cold_writes = 0;
  const auto start_stats = ms ? ms->stats() : MetaStore::Stats{};
  const auto start_al = ms ? ms->activity_log().stats() : ActivityLog::Stats{};
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(secs);
  bool stopping = false;
  auto issue = [&](Slot& s) {
    ++data_in_flight;
    HAFS_CHECK(dev->Submit(&s.req).ok());
  };
  while (true) {
    if (!stopping && absl::Now() >= end) stopping = true;
    for (Slot& s : slots) {
      if (s.busy || stopping) continue;
      s.busy = true;
      const uint64_t block = rng.Uniform(extents * kBlocksPerExtent);
      s.req.op = io::IoOp::kWrite;
      s.req.offset = block * io::kBlockSize;
      s.req.length = io::kBlockSize;
      s.req.data = s.buf.data();
      Slot* sp = &s;
      s.req.done = [&, sp](absl::Status st) {
        HAFS_CHECK(st.ok()) << st;
        --data_in_flight;
        if (ms) ms->EndWrite(sp->req.offset, sp->req.length);
        sp->busy = false;
        ++done;
      };
      if (ms == nullptr) {
        issue(s);
        continue;
      }
      auto a = ms->BeginWrite(s.req.offset, s.req.length, [&, sp](absl::Status st) {
        HAFS_CHECK(st.ok()) << st;
        issue(*sp);
      });
      HAFS_CHECK(a.ok()) << a.status();
      if (*a == MetaStore::WriteAdmit::kReady) {
        issue(s);
      } else {
        ++cold_writes;
      }
    }
    // Batch activations: start a transaction once no data write is in flight
    // (every slot waits for the AL) or enough cold extents are wanted.
    if (ms && data_in_flight == 0) ms->Kick(true);
    const bool any_busy = std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return s.busy; });
    if (stopping && !any_busy && dev->in_flight() == 0) break;
    HAFS_CHECK(dev->Poll(1, absl::InfiniteDuration()).ok());
  }
  Result r;
  r.ops = done;
  r.iops = done / absl::ToDoubleSeconds(absl::Now() - start);
  r.cold_writes = cold_writes;
  if (ms) {
    r.al_writes = ms->stats().al_writes - start_stats.al_writes;
    r.bitmap_writes = ms->stats().bitmap_writes - start_stats.bitmap_writes;
    r.flushes = ms->stats().flushes - start_stats.flushes;
    r.activations = ms->activity_log().stats().activations - start_al.activations;
    r.transactions = ms->activity_log().stats().transactions - start_al.transactions;
  }
  return r;
}

// Makes extents [0, extents) the hot set (one write each, activations batched).
void Prewarm(io::BlockDevice* d, MetaStore* ms, uint64_t extents) {
  for (uint64_t e = 0; e < extents; ++e) {
    bool ready = false;
    auto a = ms->BeginWrite(e * kAlExtentBytes, io::kBlockSize, [&](absl::Status) { ready = true; });
    HAFS_CHECK(a.ok());
    if (*a == MetaStore::WriteAdmit::kWait) {
      ms->Kick(true);
      while (!ready) HAFS_CHECK(d->Poll(1, absl::InfiniteDuration()).ok());
    }
    ms->EndWrite(e * kAlExtentBytes, io::kBlockSize);
  }
}

int Main(int argc, char** argv) {
  std::string file = "/var/tmp/hafs-meta-bench.img";
  uint64_t al_extents = 64;
  double secs = 5;
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--file=")) file = std::string(a);
    else if (absl::ConsumePrefix(&a, "--al_extents=")) HAFS_CHECK(absl::SimpleAtoi(a, &al_extents));
    else if (absl::ConsumePrefix(&a, "--seconds=")) HAFS_CHECK(absl::SimpleAtod(a, &secs));
    else if (absl::ConsumePrefix(&a, "--rounds=")) HAFS_CHECK(absl::SimpleAtoi(a, &rounds));
    else {
      std::cerr << "usage: meta_bench [--file=PATH] [--al_extents=N] [--seconds=S] [--rounds=R]\n";
      return 64;
    }
  }
  // Data: 2 x AL extents plus room; metadata internal at the end.
  const uint64_t size = (2 * al_extents + 4) * kAlExtentBytes;
  auto dev = io::UringDevice::Open({.path = file, .queue_depth = 64, .create = true, .size_bytes = size});
  if (!dev.ok()) {
    std::cerr << "meta_bench: " << dev.status() << "\n";
    return 1;
  }
  io::BlockDevice* d = dev->get();
  // Fill the working set once so neither side pays for block allocation.
  {
    io::AlignedBuffer chunk(kAlExtentBytes);
    for (uint64_t e = 0; e < 2 * al_extents; ++e) HAFS_CHECK(d->Write(e * kAlExtentBytes, chunk.span()).ok());
    HAFS_CHECK(d->Flush().ok());
  }
  MetaCreateOptions co;
  co.al_extents = static_cast<uint32_t>(al_extents);
  co.force = true;
  auto sb = MetaStore::Create(d, co);
  HAFS_CHECK(sb.ok()) << sb.status();
  MetaOpenOptions oo;
  oo.al_batch_min = kQd;
  auto ms = MetaStore::Open(d, oo, nullptr);
  HAFS_CHECK(ms.ok()) << ms.status();
  printf("meta_bench: %s, %.0f MiB, AL %lu extents (%lu MiB), QD%d, %.1f s per run, %d rounds\n",
         file.c_str(), size / 1048576.0, al_extents, al_extents * 4, kQd, secs, rounds);
  std::vector<double> hot_ratio, wide_ratio;
  for (int r = 0; r < rounds; ++r) {
    Result raw_hot = RunWrites(d, nullptr, al_extents, secs, 100 + r);
    Prewarm(d, ms->get(), al_extents);
    Result al_hot = RunWrites(d, ms->get(), al_extents, secs, 200 + r);
    Result raw_wide = RunWrites(d, nullptr, 2 * al_extents, secs, 300 + r);
    Result al_wide = RunWrites(d, ms->get(), 2 * al_extents, secs, 400 + r);
    hot_ratio.push_back(al_hot.iops / raw_hot.iops);
    wide_ratio.push_back(al_wide.iops / raw_wide.iops);
    const uint64_t md_writes = al_wide.al_writes + al_wide.bitmap_writes;
    printf("round %d\n  hot: raw %.0f IOPS, AL %.0f IOPS, ratio %.3f (AL writes %lu)\n", r,
           raw_hot.iops, al_hot.iops, hot_ratio.back(), al_hot.al_writes);
    printf("  2x:  raw %.0f IOPS, AL %.0f IOPS, ratio %.3f; %lu activations in %lu transactions, "
           "%lu metadata writes (%lu AL + %lu bitmap) + %lu flushes = 1 per %.1f distinct extents "
           "activated = 1 per %.1f cold writes (%lu writes waited for an activation)\n",
           raw_wide.iops, al_wide.iops, wide_ratio.back(), al_wide.activations,
           al_wide.transactions, md_writes, al_wide.al_writes, al_wide.bitmap_writes,
           al_wide.flushes, md_writes ? double(al_wide.activations) / md_writes : 0.0,
           md_writes ? double(al_wide.cold_writes) / md_writes : 0.0, al_wide.cold_writes);
  }
  // The ceiling of "activations per metadata write" at QD32: a transaction
  // can only carry the extents the waiting writes ask for, i.e. the distinct
  // ones among kQd uniform picks from the E cold extents of a 2E working set.
  const double e = static_cast<double>(al_extents);
  printf("2x ceiling: at most %d writes wait on one transaction; expected distinct cold "
         "extents among them = E(1-(1-1/E)^%d) = %.1f activations per transaction\n",
         kQd, kQd, e * (1.0 - std::pow(1.0 - 1.0 / e, kQd)));
  std::sort(hot_ratio.begin(), hot_ratio.end());
  std::sort(wide_ratio.begin(), wide_ratio.end());
  printf("median: hot ratio %.3f (goal >= 0.95), 2x ratio %.3f\n", hot_ratio[hot_ratio.size() / 2],
         wide_ratio[wide_ratio.size() / 2]);
  HAFS_CHECK((*ms)->Close().ok());
  return 0;
}

}  // namespace
}  // namespace hafs::meta

int main(int argc, char** argv) { return hafs::meta::Main(argc, argv); }
