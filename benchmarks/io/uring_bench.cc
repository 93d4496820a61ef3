// uring_bench: UringDevice throughput and latency on a given file, in the two
// workloads benchmarks/io_bench.sh also runs with fio (same file, same run):
//
//   seq    sequential 1 MiB writes at queue depth 16 (MiB/s)
//   flush  4 KiB random writes, each followed by a flush, at queue depth 1
//          (latency percentiles of write, flush and write+flush)
//
// Usage: uring_bench --file=/var/tmp/hafs-bench.img [--seq_bytes=N]
//                    [--flush_seconds=10] [--workload=seq|flush|all]
// The file must exist (its size is the device size) on an O_DIRECT-capable
// filesystem. Prints human-readable results and "RESULT key=value" lines.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libhafs/base/random.h"
#include "libhafs/io/block_device.h"
#include "libhafs/io/uring_device.h"

ABSL_FLAG(std::string, file, "", "file (or block device) to benchmark on");
ABSL_FLAG(std::string, workload, "all", "seq, flush or all");
ABSL_FLAG(uint64_t, seq_bytes, 0, "bytes for the seq workload (0: file size)");
ABSL_FLAG(int, seq_qd, 16, "queue depth of the seq workload");
ABSL_FLAG(uint64_t, seq_bs, 1 << 20, "block size of the seq workload");
ABSL_FLAG(double, flush_seconds, 10, "duration of the flush workload");
ABSL_FLAG(uint64_t, seed, 1, "seed for offsets and data");

namespace hafs::io {
namespace {

int Fail(const absl::Status& s) {
  std::cerr << "uring_bench: " << s << "\n";
  return 1;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()));
  return v[i];
}

int RunSeq(UringDevice& dev) {
  const int qd = absl::GetFlag(FLAGS_seq_qd);
  const uint64_t bs = absl::GetFlag(FLAGS_seq_bs);
  uint64_t total = absl::GetFlag(FLAGS_seq_bytes);
  if (total == 0) total = dev.size_bytes() / bs * bs;
  const uint64_t span = dev.size_bytes() / bs * bs;
  Random rng(absl::GetFlag(FLAGS_seed));
  std::vector<AlignedBuffer> bufs;
  std::vector<IoRequest> reqs(qd);
  for (int i = 0; i < qd; ++i) {
    bufs.emplace_back(bs);
    rng.Fill(bufs.back().span());
  }
  uint64_t next = 0, issued = 0, completed = 0;
  absl::Status error;
  std::function<void(IoRequest*)> issue = [&](IoRequest* r) {
    r->op = IoOp::kWrite;
    r->offset = next;
    r->length = bs;
    next = (next + bs) % span;
    issued += bs;
    if (absl::Status s = dev.Submit(r); !s.ok()) error = s;
  };
  for (int i = 0; i < qd && issued < total; ++i) {
    reqs[i].data = bufs[i].data();
    IoRequest* r = &reqs[i];
    r->done = [&, r](absl::Status s) {
      if (!s.ok()) error = s;
      completed += bs;
      if (issued < total && error.ok()) issue(r);
    };
    issue(r);
  }
  const absl::Time start = absl::Now();
  while (completed < issued && error.ok()) {
    absl::StatusOr<int> n = dev.Poll(1, absl::InfiniteDuration());
    if (!n.ok()) return Fail(n.status());
  }
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  if (!error.ok()) return Fail(error);
  const double mibps = completed / secs / (1 << 20);
  std::cout << absl::StrFormat(
      "seq write: %d x %d KiB at QD%d in %.3f s: %.1f MiB/s (%llu enter calls)\n",
      completed / bs, bs / 1024, qd, secs, mibps, dev.stats().enter_calls);
  std::cout << absl::StrFormat("RESULT seq_mibps=%.1f\n", mibps);
  return 0;
}

int RunFlush(UringDevice& dev) {
  const absl::Duration duration =
      absl::Seconds(absl::GetFlag(FLAGS_flush_seconds));
  Random rng(absl::GetFlag(FLAGS_seed) + 1);
  AlignedBuffer buf(kBlockSize);
  const uint64_t blocks = dev.size_bytes() / kBlockSize;
  std::vector<double> write_us, flush_us, pair_us;
  const absl::Time start = absl::Now();
  while (absl::Now() - start < duration) {
    rng.Fill(buf.span().subspan(0, 64));
    const uint64_t off = rng.Uniform(blocks) * kBlockSize;
    const absl::Time t0 = absl::Now();
    if (absl::Status s = dev.Write(off, buf.span()); !s.ok()) return Fail(s);
    const absl::Time t1 = absl::Now();
    if (absl::Status s = dev.Flush(); !s.ok()) return Fail(s);
    const absl::Time t2 = absl::Now();
    write_us.push_back(absl::ToDoubleMicroseconds(t1 - t0));
    flush_us.push_back(absl::ToDoubleMicroseconds(t2 - t1));
    pair_us.push_back(absl::ToDoubleMicroseconds(t2 - t0));
  }
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  std::cout << absl::StrFormat(
      "4k randwrite+flush QD1: %zu pairs in %.2f s (%.0f pairs/s)\n"
      "  write  p50 %.1f us  p99 %.1f us\n"
      "  flush  p50 %.1f us  p99 %.1f us\n"
      "  pair   p50 %.1f us  p99 %.1f us\n",
      pair_us.size(), secs, pair_us.size() / secs, Percentile(write_us, 50),
      Percentile(write_us, 99), Percentile(flush_us, 50),
      Percentile(flush_us, 99), Percentile(pair_us, 50), Percentile(pair_us, 99));
  std::cout << absl::StrFormat(
      "RESULT flush_write_p50_us=%.1f flush_write_p99_us=%.1f "
      "flush_flush_p50_us=%.1f flush_flush_p99_us=%.1f flush_pair_p50_us=%.1f "
      "flush_pair_p99_us=%.1f flush_pairs_per_s=%.0f\n",
      Percentile(write_us, 50), Percentile(write_us, 99),
      Percentile(flush_us, 50), Percentile(flush_us, 99),
      Percentile(pair_us, 50), Percentile(pair_us, 99), pair_us.size() / secs);
  return 0;
}

}  // namespace
}  // namespace hafs::io

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string file = absl::GetFlag(FLAGS_file);
  if (file.empty()) {
    std::cerr << "uring_bench: --file is required\n";
    return 64;
  }
  const std::string workload = absl::GetFlag(FLAGS_workload);
  auto dev = hafs::io::UringDevice::Open(
      {.path = file, .queue_depth = std::max(16, absl::GetFlag(FLAGS_seq_qd))});
  if (!dev.ok()) return hafs::io::Fail(dev.status());
  int rc = 0;
  if (workload == "seq" || workload == "all") rc |= hafs::io::RunSeq(**dev);
  if (workload == "flush" || workload == "all") rc |= hafs::io::RunFlush(**dev);
  return rc;
}
