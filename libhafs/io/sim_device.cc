#include "libhafs/io/sim_device.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libhafs/base/logging.h"
#include "libhafs/io/io_status.h"

namespace hafs::io {

SimFault SimFault::FailNext(IoOp op, int64_t n, int err) {
  SimFault f;
  f.op = op;
  f.error = err;
  f.count = n;
  return f;
}

SimFault SimFault::FailWithProbability(IoOp op, double p, int err) {
  SimFault f;
  f.op = op;
  f.error = err;
  f.probability = p;
  return f;
}

SimFault SimFault::FailPastOffset(IoOp op, uint64_t offset, int err) {
  SimFault f;
  f.op = op;
  f.error = err;
  f.offset_begin = offset;
  return f;
}

SimFault SimFault::MisdirectNextWrite(uint64_t to) {
  SimFault f;
  f.op = IoOp::kWrite;
  f.kind = Kind::kMisdirect;
  f.count = 1;
  f.misdirect_to = to;
  return f;
}

SimDevice::SimDevice(const SimDeviceOptions& options)
    : options_(options),
      rng_(options.seed),
      volatile_(options.size_bytes, '\0'),
      durable_(options.size_bytes, '\0') {
  HAFS_CHECK(options.size_bytes % kBlockSize == 0)
      << "SimDevice size " << options.size_bytes << " is not a multiple of "
      << kBlockSize;
}

void SimDevice::SetLatency(IoOp op, absl::Duration latency) {
  switch (op) {
    case IoOp::kRead:
      options_.read_latency = latency;
      break;
    case IoOp::kWrite:
      options_.write_latency = latency;
      break;
    case IoOp::kFlush:
      options_.flush_latency = latency;
      break;
    case IoOp::kDiscard:
      options_.discard_latency = latency;
      break;
  }
}

absl::Duration SimDevice::LatencyOf(IoOp op) const {
  switch (op) {
    case IoOp::kRead:
      return options_.read_latency;
    case IoOp::kWrite:
      return options_.write_latency;
    case IoOp::kFlush:
      return options_.flush_latency;
    case IoOp::kDiscard:
      return options_.discard_latency;
  }
  return absl::ZeroDuration();
}

int SimDevice::AddFault(const SimFault& fault) {
  const int id = next_fault_id_++;
  faults_.emplace(id, fault);
  return id;
}

void SimDevice::RemoveFault(int id) { faults_.erase(id); }
void SimDevice::ClearFaults() { faults_.clear(); }

const SimFault* SimDevice::MatchFault(const IoRequest& req) {
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    SimFault& f = it->second;
    if (f.op != req.op || f.count == 0) continue;
    if (req.op != IoOp::kFlush &&
        (req.offset + req.length <= f.offset_begin ||
         req.offset >= f.offset_end)) {
      continue;
    }
    if (f.probability < 1.0 && !rng_.Bernoulli(f.probability)) continue;
    if (f.count > 0) --f.count;
    return &f;
  }
  return nullptr;
}

absl::Status SimDevice::Submit(IoRequest* req) {
  if (absl::Status s = Validate(*req); !s.ok()) return s;
  Pending p;
  p.req = req;
  p.op = req->op;
  p.barrier = req->barrier;
  p.submit_seq = next_submit_seq_++;
  p.land_offset = req->offset;
  if (const SimFault* f = MatchFault(*req); f != nullptr) {
    if (f->kind == SimFault::Kind::kError) {
      p.error = f->error;
    } else if (req->op == IoOp::kWrite && req->length < size_bytes()) {
      const uint64_t slots = (size_bytes() - req->length) / kBlockSize + 1;
      uint64_t to;
      if (f->misdirect_to == SimFault::kRandomBlock) {
        // A random block-aligned start other than the intended one.
        const uint64_t intended = req->offset / kBlockSize;
        uint64_t slot = rng_.Uniform(slots - 1);
        if (slot >= intended) ++slot;
        to = slot * kBlockSize;
      } else {
        to = std::min(f->misdirect_to / kBlockSize, slots - 1) * kBlockSize;
      }
      p.land_offset = to;
      p.misdirected = to != req->offset;
    }
  }
  pending_.push_back(p);
  StartEligible();
  return absl::OkStatus();
}

void SimDevice::StartEligible() {
  bool earlier_pending = false;
  bool barrier_ahead = false;
  for (Pending& p : pending_) {  // submission order
    if (!p.started && !barrier_ahead && !(p.barrier && earlier_pending)) {
      p.started = true;
      if (options_.clock != nullptr) {
        p.ready = options_.clock->Now() + LatencyOf(p.op);
      }
      if (p.op == IoOp::kFlush) p.flush_covers = writes_completed_;
    }
    if (p.barrier) barrier_ahead = true;
    earlier_pending = true;
  }
}

void SimDevice::ApplySectors(std::string& image, uint64_t offset,
                             const std::string& data,
                             const std::vector<bool>& mask) {
  for (size_t s = 0; s < mask.size(); ++s) {
    if (!mask[s]) continue;
    std::memcpy(image.data() + offset + s * kSectorSize,
                data.data() + s * kSectorSize, kSectorSize);
  }
}

void SimDevice::Supersede(uint64_t offset, uint64_t length) {
  for (Unsynced& u : unsynced_) {
    const uint64_t begin = std::max(offset, u.offset);
    const uint64_t end = std::min(offset + length, u.offset + u.data.size());
    for (uint64_t b = begin; b < end; b += kSectorSize) {
      u.live[(b - u.offset) / kSectorSize] = false;
    }
  }
  unsynced_.erase(
      std::remove_if(unsynced_.begin(), unsynced_.end(),
                     [](const Unsynced& u) {
                       return std::none_of(u.live.begin(), u.live.end(),
                                           [](bool b) { return b; });
                     }),
      unsynced_.end());
}

void SimDevice::Complete(Pending& p) {
  IoRequest* req = p.req;
  if (p.error != 0) {
    ++stats_.injected_errors;
    const std::string what =
        req->op == IoOp::kFlush
            ? std::string("sim device: flush")
            : absl::StrCat("sim device: ", IoOpName(req->op), " of ",
                           req->length, " bytes at offset ", req->offset);
    req->done(IoErrnoStatus(p.error, absl::StrCat(what, " (injected)")));
    return;
  }
  switch (req->op) {
    case IoOp::kRead:
      std::memcpy(req->data, volatile_.data() + req->offset, req->length);
      ++stats_.reads;
      break;
    case IoOp::kWrite:
    case IoOp::kDiscard: {
      std::string data = req->op == IoOp::kWrite
                             ? std::string(req->data, req->length)
                             : std::string(req->length, '\0');
      const uint64_t at = p.land_offset;
      std::memcpy(volatile_.data() + at, data.data(), data.size());
      if (req->op == IoOp::kWrite) {
        ++stats_.writes;
        if (p.misdirected) ++stats_.misdirected_writes;
      } else {
        ++stats_.discards;
      }
      ++writes_completed_;
      if ((req->op == IoOp::kWrite && req->fua) || options_.nonvolatile_cache) {
        std::memcpy(durable_.data() + at, data.data(), data.size());
        Supersede(at, data.size());
      } else {
        Unsynced u;
        u.number = writes_completed_;
        u.offset = at;
        u.live.assign(data.size() / kSectorSize, true);
        u.data = std::move(data);
        unsynced_.push_back(std::move(u));
      }
      break;
    }
    case IoOp::kFlush:
      while (!unsynced_.empty() && unsynced_.front().number <= p.flush_covers) {
        const Unsynced& u = unsynced_.front();
        ApplySectors(durable_, u.offset, u.data, u.live);
        unsynced_.pop_front();
      }
      ++stats_.flushes;
      break;
  }
  req->done(absl::OkStatus());
}

absl::StatusOr<int> SimDevice::Poll(int min_complete, absl::Duration timeout) {
  Clock* clock = options_.clock;
  const absl::Time deadline =
      clock == nullptr ? absl::InfiniteFuture() : clock->Now() + timeout;
  int n = 0;
  while (!pending_.empty()) {
    // Every request that is ready now. Each stays pending until its callback
    // has returned (callbacks may submit more, and an ordering barrier
    // submitted there must wait for the rest of this round too).
    std::vector<uint64_t> ready;
    const absl::Time now = clock == nullptr ? absl::InfinitePast() : clock->Now();
    StartEligible();  // completions of the previous round may release some
    for (const Pending& p : pending_) {
      if (p.started && (clock == nullptr || p.ready <= now)) ready.push_back(p.submit_seq);
    }
    if (options_.reorder_completions) {
      for (size_t i = ready.size(); i > 1; --i) {
        std::swap(ready[i - 1], ready[rng_.Uniform(i)]);
      }
    }
    auto find = [this](uint64_t seq) {
      return std::find_if(pending_.begin(), pending_.end(),
                          [seq](const Pending& p) { return p.submit_seq == seq; });
    };
    for (uint64_t seq : ready) {
      auto it = find(seq);
      it->completing = true;
      Pending p = *it;  // a copy: pending_ may grow in the callback
      Complete(p);
      // (Gone already if the callback crashed the device.)
      if (auto done = find(seq); done != pending_.end()) pending_.erase(done);
      ++n;
    }
    if (n >= min_complete || pending_.empty()) break;
    if (!ready.empty()) continue;  // callbacks may have queued ready requests
    // Nothing is ready: wait (on the device's clock) for the earliest one.
    absl::Time next = absl::InfiniteFuture();
    for (const Pending& p : pending_) {
      if (p.started) next = std::min(next, p.ready);
    }
    const absl::Time until = std::min(next, deadline);
    if (until <= now) break;  // timeout reached
    clock->SleepFor(until - now);
  }
  return n;
}

SimDevice::CrashReport SimDevice::Crash(uint64_t seed) {
  Random rng(seed);
  CrashReport report;
  auto lottery = [&](uint64_t offset, const std::string& data,
                     std::vector<bool> mask) {
    switch (rng.Uniform(3)) {
      case 0:
        ++report.writes_dropped;
        return;
      case 1:
        ++report.writes_kept;
        break;
      default:
        ++report.writes_torn;
        for (size_t s = 0; s < mask.size(); ++s) {
          if (mask[s] && !rng.OneIn(2)) mask[s] = false;
        }
        break;
    }
    report.sectors_applied += std::count(mask.begin(), mask.end(), true);
    ApplySectors(durable_, offset, data, mask);
  };
  for (const Unsynced& u : unsynced_) lottery(u.offset, u.data, u.live);
  unsynced_.clear();
  std::sort(pending_.begin(), pending_.end(),
            [](const Pending& a, const Pending& b) {
              return a.submit_seq < b.submit_seq;
            });
  for (const Pending& p : pending_) {
    if (p.completing) continue;  // done (its effects are in the images already)
    ++report.requests_abandoned;
    const IoRequest& req = *p.req;
    if (p.error != 0 || !p.started) continue;  // would have failed / never began
    if (req.op == IoOp::kWrite || req.op == IoOp::kDiscard) {
      const std::string data = req.op == IoOp::kWrite
                                   ? std::string(req.data, req.length)
                                   : std::string(req.length, '\0');
      lottery(p.land_offset, data,
              std::vector<bool>(req.length / kSectorSize, true));
    }
  }
  pending_.clear();
  volatile_ = durable_;
  return report;
}

}  // namespace hafs::io
