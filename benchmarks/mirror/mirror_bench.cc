// mirror_bench: node 0 of a benchmark mirror pair (the Primary, in this
// process) against a mirror_node process (node 1) on loopback. Phases:
//   seq:    protocol C, sequential 1 MiB writes at QD16 (time-based);
//   lat:    4 KiB writes at QD1 (write, and write+flush) vs the local
//           UringDevice write+flush on a file on the same disk;
//   resync: disconnect, D MiB of scattered 64 KiB writes, reconnect; bytes the
//           SyncSource sent and resync throughput.
// Prints one "key=value" line per figure (benchmarks/mirror_bench.sh parses them).
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <random>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "benchmarks/mirror/common.h"
#include "libhafs/base/logging.h"
#include "libhafs/io/uring_device.h"

namespace hafs::mirror::bench {
namespace {

constexpr uint64_t kMiB = 1 << 20;

void Die(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::cerr << what << ": " << s << "\n";
  std::exit(1);
}

bool WaitFor(const std::function<bool()>& pred, absl::Duration limit) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return pred();
}

bool InSync(Volume& v) {
  Status s = v.status().replication;
  return s.conn == ConnState::kConnected && s.repl == ReplState::kEstablished &&
         s.disk == DiskState::kUpToDate && s.peer_disk == DiskState::kUpToDate &&
         s.counters.oos == 0;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

void Print(const char* key, double value) { std::printf("%s=%.3f\n", key, value); }

// Writes `count` buffers at `offsets` with `qd` in flight; returns seconds.
double RunWrites(Volume& v, const std::vector<uint64_t>& offsets, uint64_t bytes, int qd,
                 absl::Duration limit = absl::InfiniteDuration()) {
  auto buf = std::make_shared<io::AlignedBuffer>(bytes);
  std::mt19937_64 rng(7);
  for (size_t i = 0; i < bytes; i += 8) {
    const uint64_t x = rng();
    std::memcpy(buf->data() + i, &x, 8);
  }
  absl::Mutex mu;
  size_t next = 0, done = 0, issued = 0;
  bool failed = false;
  const absl::Time start = absl::Now();
  const absl::Time stop = limit == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                            : start + limit;
  std::function<void()> issue;
  issue = [&] {
    uint64_t off;
    {
      absl::MutexLock l(&mu);
      if (next >= offsets.size() || absl::Now() >= stop) return;
      off = offsets[next++];
      ++issued;
    }
    v.WriteAsync(off, buf, false, [&](absl::Status s) {
      {
        absl::MutexLock l(&mu);
        ++done;
        if (!s.ok() && !failed) {
          failed = true;
          std::cerr << "write failed: " << s << "\n";
        }
      }
      issue();
    });
  };
  for (int i = 0; i < qd; ++i) issue();
  absl::MutexLock l(&mu);
  // Until nothing more is to be issued and the in-flight tail has finished.
  while (true) {
    const bool more = next < offsets.size() && absl::Now() < stop;
    if (!more && done == issued) break;
    mu.Unlock();
    absl::SleepFor(absl::Microseconds(200));
    mu.Lock();
  }
  if (failed) std::exit(1);
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  Print("_writes_done", static_cast<double>(done));
  return secs;
}

std::vector<double> Qd1Latencies(const std::function<absl::Status(uint64_t)>& op, int n,
                                 uint64_t range_blocks) {
  std::mt19937_64 rng(11);
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n; ++i) {
    const uint64_t off = (rng() % range_blocks) * 4096;
    const absl::Time t = absl::Now();
    Die(op(off), "qd1 write");
    us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
  }
  return us;
}

}  // namespace
}  // namespace hafs::mirror::bench

int main(int argc, char** argv) {
  using namespace hafs::mirror;
  using namespace hafs::mirror::bench;
  CLI::App app{"mirror_bench: node 0 of a benchmark mirror pair"};
  std::string path, peer, local_path, phases = "seq,lat,resync";
  std::string key(32, 'k');
  uint64_t size_mib = 4096, resync_mib = 256, resync_rate_mib = 0;
  double seq_seconds = 5;
  int qd1_writes = 2000;
  app.add_option("--path", path)->required();
  app.add_option("--peer", peer)->required();
  app.add_option("--local_path", local_path, "file for the local UringDevice baseline");
  app.add_option("--size_mib", size_mib);
  app.add_option("--key", key);
  app.add_option("--phases", phases);
  app.add_option("--seq_seconds", seq_seconds);
  app.add_option("--qd1_writes", qd1_writes);
  app.add_option("--resync_mib", resync_mib);
  app.add_option("--resync_rate_mib", resync_rate_mib,
                 "the rate node 1 (the SyncTarget, which paces) was started with; reported only");
  ControlFlags control_flags;
  AddControlFlags(app, &control_flags);
  CLI11_PARSE(app, argc, argv);
  TuneAllocator();
  hafs::SetMinLogSeverity(hafs::LogSeverity::kWarning);
  auto want = [&](const char* p) { return phases.find(p) != std::string::npos; };

  Die(CreatePresynced(path, size_mib, 0), "create-md");
  absl::StatusOr<Net> net = StartNet(0, "127.0.0.1:0", peer, key);
  Die(net.status(), "network");
  absl::StatusOr<std::shared_ptr<bench::Control>> control = bench::StartControl(control_flags);
  if (!control.ok()) {
    std::cerr << "control: " << control.status() << "\n";
    return 1;
  }
  CountingTransport counting(net->transport.get());
  VolumeOptions o = BaseOptions(0, path, &counting, resync_rate_mib);
  absl::StatusOr<std::unique_ptr<Volume>> vo = Volume::Open(o);
  Die(vo.status(), "open");
  Volume& v = **vo;
  if (!WaitFor([&] { return InSync(v); }, absl::Seconds(30))) {
    std::cerr << "pair did not come up in sync: " << v.status().ToString() << "\n";
    return 1;
  }
  Die(v.Promote(false), "promote");
  const uint64_t size = v.size_bytes();

  if (want("seq")) {
    std::vector<uint64_t> offs;
    // Enough 1 MiB offsets for the time limit, wrapping over the volume.
    for (uint64_t i = 0; i < 200000; ++i) offs.push_back((i * kMiB) % (size - kMiB + 1) / kMiB * kMiB);
    const uint64_t ns0 = v.status().replication.counters.ns;
    const double secs = RunWrites(v, offs, kMiB, 16, absl::Seconds(seq_seconds));
    const uint64_t ns = v.status().replication.counters.ns - ns0;  // KiB
    Print("seq_mib_per_s", ns / 1024.0 / secs);
    Print("seq_seconds", secs);
    Print("al_transactions", static_cast<double>(v.status().al));
  }

  if (want("lat")) {
    auto buf = std::make_shared<hafs::io::AlignedBuffer>(4096);
    std::memset(buf->data(), 0x5a, 4096);
    const uint64_t range = 64 * kMiB / 4096;  // hot AL extents after warm-up
    // Warm the AL for the range.
    (void)Qd1Latencies([&](uint64_t off) { return v.Write(off, buf->span()); }, 200, range);
    // Every measured write must be replicated: a dropped connection would
    // turn this into a local-disk measurement.
    const uint64_t lat_ns0 = v.status().replication.counters.ns;
    std::vector<double> w = Qd1Latencies(
        [&](uint64_t off) { return v.Write(off, buf->span()); }, qd1_writes, range);
    std::vector<double> wf = Qd1Latencies(
        [&](uint64_t off) {
          absl::Status s = v.Write(off, buf->span());
          return s.ok() ? v.Flush() : s;
        },
        qd1_writes, range);
    const uint64_t lat_ns = v.status().replication.counters.ns - lat_ns0;  // KiB
    if (!InSync(v) || lat_ns != 2 * static_cast<uint64_t>(qd1_writes) * 4) {
      std::cerr << "QD1 phase: " << lat_ns << " KiB replicated, expected "
                << 2 * qd1_writes * 4 << " (connection lost?): " << v.status().ToString() << "\n";
      return 1;
    }
    Print("mirror_write_p50_us", Percentile(w, 0.5));
    Print("mirror_write_p99_us", Percentile(w, 0.99));
    Print("mirror_write_flush_p50_us", Percentile(wf, 0.5));
    Print("mirror_write_flush_p99_us", Percentile(wf, 0.99));
    if (!local_path.empty()) {
      hafs::io::UringDeviceOptions d;
      d.path = local_path;
      d.create = true;
      d.size_bytes = 64 * kMiB;
      absl::StatusOr<std::unique_ptr<hafs::io::UringDevice>> dev =
          hafs::io::UringDevice::Open(d);
      Die(dev.status(), "local device");
      hafs::io::UringDevice& ld = **dev;
      (void)Qd1Latencies([&](uint64_t off) { return ld.Write(off, buf->span()); }, 200, range);
      std::vector<double> lw = Qd1Latencies(
          [&](uint64_t off) { return ld.Write(off, buf->span()); }, qd1_writes, range);
      std::vector<double> lwf = Qd1Latencies(
          [&](uint64_t off) {
            absl::Status s = ld.Write(off, buf->span());
            return s.ok() ? ld.Flush() : s;
          },
          qd1_writes, range);
      Print("local_write_p50_us", Percentile(lw, 0.5));
      Print("local_write_flush_p50_us", Percentile(lwf, 0.5));
      Print("local_write_flush_p99_us", Percentile(lwf, 0.99));
    }
  }

  if (want("resync")) {
    Die(v.Disconnect(), "disconnect");
    if (!WaitFor([&] { return v.status().replication.conn == ConnState::kStandAlone; },
                 absl::Seconds(10))) {
      std::cerr << "disconnect did not happen\n";
      return 1;
    }
    // D MiB as distinct random 64 KiB slots over the whole volume.
    const uint64_t slot = 64 * 1024;
    std::vector<uint64_t> slots(size / slot);
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), std::mt19937_64(3));
    slots.resize(resync_mib * kMiB / slot);
    for (uint64_t& s : slots) s *= slot;
    std::sort(slots.begin(), slots.end());
    const double wsecs = RunWrites(v, slots, slot, 16);
    Print("degraded_write_mib_per_s", resync_mib / wsecs);
    const uint64_t oos_kib = v.status().replication.counters.oos;
    Print("resync_marked_mib", oos_kib / 1024.0);
    // The resync starts on a quiet disk: the degraded writes are written out.
    Die(v.Flush(), "flush after the degraded writes");
    const uint64_t bytes0 = counting.bytes(), payload0 = counting.resync_payload();
    const absl::Time t0 = absl::Now();
    Die(v.Connect(), "connect");
    if (!WaitFor([&] { return InSync(v); }, absl::Seconds(600))) {
      std::cerr << "resync did not finish: " << v.status().ToString() << "\n";
      return 1;
    }
    const double secs = absl::ToDoubleSeconds(absl::Now() - t0);
    const double sent = (counting.bytes() - bytes0) / double(kMiB);
    Print("resync_d_mib", static_cast<double>(resync_mib));
    Print("resync_sent_mib", sent);
    Print("resync_payload_mib", (counting.resync_payload() - payload0) / double(kMiB));
    Print("resync_sent_ratio", sent / resync_mib);
    Print("resync_seconds", secs);
    Print("resync_mib_per_s", resync_mib / secs);
    Print("resync_total_blocks", static_cast<double>(v.status().replication.resync_total_blocks));
    Print("resync_rate_mib_configured", static_cast<double>(resync_rate_mib));
  }
  std::cerr << v.status().ToString() << "\n";
  Die(v.Close(), "close");
  return 0;
}
