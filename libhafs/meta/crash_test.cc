// The crash-model invariant, checked by brute force: run a seeded random
// sequence of replicated writes through MetaStore on a SimDevice, crash the
// primary's disk after step k for every k, recover (Open = apply-al), and
// check that every block whose content differs between the crashed primary
// and its peer has its bit set in the recovered bitmap.
//
// Peer model: a write the peer "gets" is applied to the peer image when the
// primary issues it (the earliest moment, the worst case for the primary);
// a write the peer does not get is marked in the bitmap when it completes
// locally (before EndWrite), as the mirror does for unacknowledged writes.
#include <map>
#include <memory>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/io/sim_device.h"
#include "libhafs/meta/meta_store.h"

namespace hafs::meta {
namespace {

constexpr uint64_t kDevBytes = uint64_t{24} << 20;

class Run {
 public:
  Run(uint64_t seed, uint32_t al_extents, uint32_t ring)
      : rng_(seed), dev_({.size_bytes = kDevBytes, .seed = seed}) {
    MetaCreateOptions co;
    co.al_extents = al_extents;
    co.al_ring_blocks = ring;
    co.device_uuid = seed + 1;
    auto sb = MetaStore::Create(&dev_, co);
    HAFS_CHECK(sb.ok()) << sb.status();
    auto ms = MetaStore::Open(&dev_, {}, nullptr);
    HAFS_CHECK(ms.ok()) << ms.status();
    ms_ = std::move(*ms);
    blocks_ = ms_->superblock().data_blocks();
  }

  // One random step.
  void Step() {
    const uint64_t c = rng_.Uniform(20);
    if (c < 11) {
      NewWrite();
    } else if (c < 17) {
      auto n = dev_.Poll(0, absl::ZeroDuration());
      HAFS_CHECK(n.ok()) << n.status();
    } else if (c < 18) {
      HAFS_CHECK(ms_->FlushBitmap().ok());
    } else if (c < 19) {
      HAFS_CHECK(dev_.Flush().ok());
    } else {
      ms_->Kick(true);
    }
  }

  // Power loss, then attach: returns the first block that may differ but is
  // not covered, or -1.
  int64_t CrashAndCheck(uint64_t crash_seed, std::string* why) {
    dev_.Crash(crash_seed);
    ms_.reset();  // after the crash: in-flight buffers were still alive
    RecoveryReport rep;
    auto ms = MetaStore::Open(&dev_, {}, &rep);
    if (!ms.ok()) {
      *why = absl::StrCat("Open after crash failed: ", ms.status().ToString());
      return 0;
    }
    const std::string& img = dev_.contents();
    const std::string zero(kBitmapBlockBytes, '\0');
    for (uint64_t b : touched_) {
      const absl::string_view primary(img.data() + b * kBitmapBlockBytes, kBitmapBlockBytes);
      auto it = peer_.find(b);
      const absl::string_view peer = it == peer_.end() ? zero : it->second;
      if (primary != peer && !(*ms)->bitmap().Test(b)) {
        *why = absl::StrCat("block ", b, " (extent ", b / 1024,
                            ") differs from the peer but is neither in the AL nor "
                            "the bitmap; recovery: ",
                            rep.ToString());
        return static_cast<int64_t>(b);
      }
    }
    return -1;
  }

 private:
  struct Write {
    uint64_t block = 0, nblocks = 0;
    bool peer_gets = false;
    io::AlignedBuffer buf{0};
    io::IoRequest req;
  };

  void NewWrite() {
    if (in_flight_.size() >= 6) return;
    const uint64_t nb = rng_.Range(1, 3);
    const uint64_t b = rng_.Uniform(blocks_ - nb);
    for (const auto& [id, w] : in_flight_) {
      if (b < w->block + w->nblocks && w->block < b + nb) return;  // no overlap
    }
    auto w = std::make_unique<Write>();
    w->block = b;
    w->nblocks = nb;
    w->peer_gets = rng_.Bernoulli(0.7);
    w->buf = io::AlignedBuffer(nb * kBitmapBlockBytes);
    rng_.Fill(w->buf.span());
    const uint64_t id = next_id_++;
    Write* raw = w.get();
    in_flight_[id] = std::move(w);
    auto admit = ms_->BeginWrite(b * kBitmapBlockBytes, nb * kBitmapBlockBytes,
                                 [this, id](absl::Status s) {
                                   HAFS_CHECK(s.ok()) << s;
                                   Issue(id);
                                 });
    HAFS_CHECK(admit.ok()) << admit.status();
    if (*admit == MetaStore::WriteAdmit::kReady) Issue(id);
    (void)raw;
  }

  void Issue(uint64_t id) {
    Write* w = in_flight_.at(id).get();
    for (uint64_t i = 0; i < w->nblocks; ++i) touched_.insert(w->block + i);
    if (w->peer_gets) {
      for (uint64_t i = 0; i < w->nblocks; ++i) {
        peer_[w->block + i] =
            std::string(w->buf.data() + i * kBitmapBlockBytes, kBitmapBlockBytes);
      }
    }
    w->req.op = io::IoOp::kWrite;
    w->req.offset = w->block * kBitmapBlockBytes;
    w->req.length = w->nblocks * kBitmapBlockBytes;
    w->req.data = w->buf.data();
    w->req.done = [this, id](absl::Status s) {
      HAFS_CHECK(s.ok()) << s;
      Write* w = in_flight_.at(id).get();
      if (!w->peer_gets) ms_->bitmap().SetRange(w->block, w->block + w->nblocks);
      ms_->EndWrite(w->block * kBitmapBlockBytes, w->nblocks * kBitmapBlockBytes);
      done_.push_back(std::move(in_flight_.at(id)));
      in_flight_.erase(id);
    };
    HAFS_CHECK(dev_.Submit(&w->req).ok());
  }

  Random rng_;
  io::SimDevice dev_;
  std::unique_ptr<MetaStore> ms_;
  uint64_t blocks_ = 0;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Write>> in_flight_;
  std::vector<std::unique_ptr<Write>> done_;  // kept: callbacks may still run
  std::map<uint64_t, std::string> peer_;
  std::set<uint64_t> touched_;
};

void CrashEveryStep(uint64_t first_seed, uint64_t seeds, int steps) {
  for (uint64_t seed = first_seed; seed < first_seed + seeds; ++seed) {
    Random pick(seed);
    const uint32_t e = static_cast<uint32_t>(pick.Range(2, 3));
    const uint32_t r = static_cast<uint32_t>(pick.Range(2, 4));
    for (int k = 0; k <= steps; ++k) {
      Run run(seed, e, r);
      for (int i = 0; i < k; ++i) run.Step();
      std::string why;
      const int64_t bad = run.CrashAndCheck(seed * 1000 + k, &why);
      ASSERT_EQ(bad, -1) << "seed=" << seed << " crash after step " << k
                         << " (al_extents=" << e << ", ring=" << r << "): " << why;
    }
  }
}

TEST(CrashTest, EveryPossiblyDifferingBlockIsCoveredAfterACrashAtEveryStep) {
#ifdef HAFS_CRASH_SOAK
  CrashEveryStep(/*first_seed=*/1000, /*seeds=*/400, /*steps=*/80);
#else
  CrashEveryStep(/*first_seed=*/1, /*seeds=*/12, /*steps=*/40);
#endif
}

}  // namespace
}  // namespace hafs::meta
