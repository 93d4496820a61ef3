// hafsctl selfcheck: proves the local block I/O path works on this machine:
// io_uring + O_DIRECT on a temporary file, writes at QD>1 (some FUA), a flush,
// read-back verification, and rejection of a misaligned request.
//
// Exit status: 0 all checks passed; 1 a check failed (the message says which
// and why); 64 usage error.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cmd/hafsctl/commands.h"
#include "libhafs/io/block_device.h"
#include "libhafs/io/uring_device.h"

namespace hafs::cli {
namespace {

using ::hafs::io::AlignedBuffer;
using ::hafs::io::IoOp;
using ::hafs::io::IoRequest;
using ::hafs::io::kBlockSize;
using ::hafs::io::UringDevice;

constexpr int kQueueDepth = 32;
constexpr uint64_t kChunk = 16 * kBlockSize;  // 64 KiB per request

// The pattern of block `b`: its index and a per-run nonce, then filler, so a
// misplaced or stale block is caught as well as a corrupt one.
void FillBlock(char* p, uint64_t block, uint64_t nonce) {
  uint64_t x = block * 0x9e3779b97f4a7c15ULL ^ nonce;
  for (uint64_t i = 0; i < kBlockSize; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(p + i, &x, 8);
  }
  std::memcpy(p, &block, 8);
  std::memcpy(p + 8, &nonce, 8);
}

// Runs `count` chunk requests of `op` over the device at kQueueDepth.
absl::Status RunPass(UringDevice& dev, IoOp op, uint64_t nonce,
                     uint64_t* verified_blocks) {
  const uint64_t chunks = dev.size_bytes() / kChunk;
  std::vector<AlignedBuffer> bufs;
  std::vector<IoRequest> reqs(kQueueDepth);
  for (int i = 0; i < kQueueDepth; ++i) bufs.emplace_back(kChunk);
  uint64_t next = 0, done = 0;
  absl::Status error;
  AlignedBuffer expect(kBlockSize);
  auto issue = [&](int slot) {
    IoRequest& r = reqs[slot];
    const uint64_t chunk = next++;
    r.op = op;
    r.offset = chunk * kChunk;
    r.length = kChunk;
    r.data = bufs[slot].data();
    r.fua = op == IoOp::kWrite && chunk % 8 == 0;  // every 8th write is FUA
    if (op == IoOp::kWrite) {
      for (uint64_t b = 0; b < kChunk / kBlockSize; ++b) {
        FillBlock(r.data + b * kBlockSize, r.offset / kBlockSize + b, nonce);
      }
    }
    if (absl::Status s = dev.Submit(&r); !s.ok()) error.Update(s);
  };
  for (int slot = 0; slot < kQueueDepth; ++slot) {
    reqs[slot].done = [&, slot](absl::Status s) {
      ++done;
      if (!s.ok()) {
        error.Update(s);
        return;
      }
      IoRequest& r = reqs[slot];
      if (op == IoOp::kRead) {
        for (uint64_t b = 0; b < kChunk / kBlockSize; ++b) {
          const uint64_t block = r.offset / kBlockSize + b;
          FillBlock(expect.data(), block, nonce);
          if (std::memcmp(expect.data(), r.data + b * kBlockSize, kBlockSize) != 0) {
            error.Update(absl::DataLossError(absl::StrCat(
                "block ", block, " (offset ", block * kBlockSize,
                ") read back different data than was written")));
            return;
          }
          ++*verified_blocks;
        }
      }
      if (next < chunks && error.ok()) issue(slot);
    };
    if (next < chunks) issue(slot);
  }
  while (done < next && error.ok()) {
    absl::StatusOr<int> n = dev.Poll(1, absl::Seconds(60));
    if (!n.ok()) return n.status();
    if (*n == 0) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no I/O completed within 60 s (", dev.in_flight(), " in flight)"));
    }
  }
  // Drain whatever is still in flight after an error.
  while (dev.in_flight() > 0) {
    if (!dev.Poll(1, absl::Seconds(60)).ok()) break;
  }
  return error;
}

absl::Status SelfCheck(const std::string& path, uint64_t size, std::string* report) {
  const uint64_t nonce = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  absl::StatusOr<std::unique_ptr<UringDevice>> dev = UringDevice::Open(
      {.path = path, .queue_depth = kQueueDepth, .create = true, .size_bytes = size});
  if (!dev.ok()) return dev.status();
  UringDevice& d = **dev;
  const absl::Time start = absl::Now();
  if (absl::Status s = RunPass(d, IoOp::kWrite, nonce, nullptr); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("write pass: ", s.message()));
  }
  if (absl::Status s = d.Flush(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("flush: ", s.message()));
  }
  uint64_t verified = 0;
  if (absl::Status s = RunPass(d, IoOp::kRead, nonce, &verified); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("read-back pass: ", s.message()));
  }
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  // The device must refuse what O_DIRECT would refuse, before the kernel.
  AlignedBuffer buf(2 * kBlockSize);
  absl::Status mis = d.Write(512, buf.span().subspan(0, kBlockSize));
  if (mis.code() != absl::StatusCode::kInvalidArgument) {
    return absl::InternalError(absl::StrCat(
        "a write at offset 512 was not rejected as misaligned (got: ",
        mis.ToString(), ")"));
  }
  *report = absl::StrCat(
      "io_uring O_DIRECT: ok, ", verified, " blocks written and verified (",
      d.size_bytes() >> 20, " MiB at QD ", kQueueDepth, ", every 8th write FUA, ",
      static_cast<int>(2 * d.size_bytes() / (1 << 20) / secs), " MiB/s), flush ok, "
      "misaligned request rejected");
  return absl::OkStatus();
}

}  // namespace

void RegisterSelfcheckCommand(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand(
      "selfcheck",
      "check the local block I/O path (io_uring, O_DIRECT, FUA, flush) on a "
      "temporary file; exit 0 if it works, 1 with the reason if not");
  auto file = std::make_shared<std::string>();
  auto size = std::make_shared<uint64_t>(64ull << 20);
  cmd->add_option("--file", *file,
                  "file to create and test (removed afterwards; default: a new "
                  "file in /var/tmp)");
  cmd->add_option("--size", *size, "file size in bytes (default 64 MiB)")
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 40));
  cmd->callback([exit_code, file, size] {
    if (*size % kChunk != 0) {
      std::cerr << "hafsctl: selfcheck: --size " << *size
                << " is not a multiple of " << kChunk << " bytes\n";
      *exit_code = 64;
      return;
    }
    std::string path = *file;
    if (path.empty()) {
      std::string tmpl = "/var/tmp/hafs-selfcheck.XXXXXX";
      const int fd = ::mkstemp(tmpl.data());
      if (fd < 0) {
        std::cerr << "hafsctl: selfcheck: cannot create a file in /var/tmp: "
                  << std::strerror(errno) << " (hint: pass --file PATH)\n";
        *exit_code = 1;
        return;
      }
      ::close(fd);
      path = tmpl;
    } else if (::access(path.c_str(), F_OK) == 0) {
      std::cerr << "hafsctl: selfcheck: " << path
                << " already exists (hint: name a new file; selfcheck "
                   "overwrites and removes it)\n";
      *exit_code = 1;
      return;
    }
    std::string report;
    const absl::Status s = SelfCheck(path, *size, &report);
    ::unlink(path.c_str());
    if (!s.ok()) {
      std::cerr << "hafsctl: selfcheck on " << path << ": " << s << "\n";
      *exit_code = 1;
      return;
    }
    std::cout << report << "\n";
    *exit_code = 0;
  });
}

}  // namespace hafs::cli
