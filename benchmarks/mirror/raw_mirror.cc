// raw_mirror: the floor under the block mirror's benchmark figures on this
// machine — the simplest protocol-C mirror that can be written, with no
// framework at all: two processes (fork), one loopback TCP connection with
// TCP_NODELAY, blocking syscalls, O_DIRECT pwrite on the two backing files.
// No metadata, no activity log, no checksums, no gRPC, no protobuf, no
// authentication, no resync: what is left is the kernel's and the disk's
// share, which no replication design on this machine can go below.
//
//   lat: 4 KiB writes at QD1 at random offsets in the first 64 MiB. The
//        primary sends the block, writes it locally, waits for the ack. The
//        secondary receives, writes, acks. Measured twice: without and with
//        DRBD's write ordering on the secondary (an epoch per write at QD1:
//        before the next write, the secondary drains and flushes, as
//        drbd 8.4's receive_Barrier does with write-ordering "flush"). Then
//        the local write and write+flush (pwrite + fdatasync) for the ratio.
//   seq: 1 MiB sequential writes, 16 in flight: a sender thread and 4 local
//        writer threads on the primary, a receiver and 4 writer threads on the
//        secondary; a write is done when written locally and acked.
//
//   raw_mirror --primary=/var/tmp/n0.img --secondary=/var/tmp/n1.img
//       [--qd1_writes=2000] [--seq_mib=4096] [--phases=lat,seq] [--pin]
// (the seq phase wraps around inside the primary's file; both files the same size)
// Prints key=value lines (benchmarks/mirror_bench.sh reads them).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "benchmarks/mirror/floor_util.h"

namespace {

namespace fu = hafs::mirror::floor;
using fu::kBlock;
using fu::P50;
constexpr uint64_t kSeqChunk = 1 << 20;
constexpr int kSeqDepth = 16;
constexpr int kWriters = 4;

constexpr char kProgram[] = "raw_mirror";
[[noreturn]] void Fail(const std::string& what) { fu::Fail(kProgram, what); }

// Message header: offset, length and flags; the secondary answers with the
// header alone once the data is written.
struct Header {
  uint64_t offset;
  uint32_t length;  // 0: end of phase
  uint32_t flags;   // kFlushAfter
};
constexpr uint32_t kFlushAfter = 1;

void ReadFull(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r == 0) {
      errno = ECONNRESET;
      Fail("peer closed");
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      Fail("read");
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
}

void WriteFull(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t r = ::write(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      Fail("write");
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
}

void PwriteFull(int fd, const char* buf, size_t n, uint64_t off) {
  if (::pwrite(fd, buf, n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) Fail("pwrite");
}

void NoDelay(int fd) {
  int one = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) Fail("TCP_NODELAY");
}

// A bounded queue of indexes, for the writer threads.
class Queue {
 public:
  void Push(int v) {
    std::lock_guard<std::mutex> l(mu_);
    q_.push_back(v);
    cv_.notify_one();
  }
  int Pop() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !q_.empty(); });
    const int v = q_.front();
    q_.pop_front();
    return v;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int> q_;
};

// kWriters threads that run `write(slot)` for every slot pushed to `q`, until
// StopWriters.
std::vector<std::thread> StartWriters(Queue& q, std::function<void(int)> write) {
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&q, write] {
      for (int i = q.Pop(); i >= 0; i = q.Pop()) write(i);
    });
  }
  return threads;
}

void StopWriters(Queue& q, std::vector<std::thread>& threads) {
  for (size_t w = 0; w < threads.size(); ++w) q.Push(-1);
  for (std::thread& t : threads) t.join();
}

// The secondary: serves both phases until the primary closes the connection.
void Secondary(int conn, const std::string& path) {
  const int fd = fu::OpenDirect(kProgram, path);
  std::vector<char*> bufs(kSeqDepth);
  std::vector<Header> hdrs(kSeqDepth);
  for (char*& b : bufs) b = fu::Aligned(kProgram, kSeqChunk);
  Queue work, free_slots;
  for (int i = 0; i < kSeqDepth; ++i) free_slots.Push(i);
  std::mutex send_mu;
  std::vector<std::thread> writers = StartWriters(work, [&](int i) {
    PwriteFull(fd, bufs[i], hdrs[i].length, hdrs[i].offset);
    {
      std::lock_guard<std::mutex> l(send_mu);
      WriteFull(conn, &hdrs[i], sizeof(Header));
    }
    free_slots.Push(i);
  });
  for (;;) {
    Header h;
    ReadFull(conn, &h, sizeof h);
    if (h.length == 0) break;
    if (h.length == kBlock) {  // QD1 phase: write, ack, flush inline
      ReadFull(conn, bufs[0], kBlock);
      PwriteFull(fd, bufs[0], kBlock, h.offset);
      WriteFull(conn, &h, sizeof h);
      if ((h.flags & kFlushAfter) != 0 && ::fdatasync(fd) != 0) Fail("fdatasync");
      continue;
    }
    const int i = free_slots.Pop();
    hdrs[i] = h;
    ReadFull(conn, bufs[i], h.length);
    work.Push(i);
  }
  StopWriters(work, writers);
  ::close(fd);
}

void Print(const char* key, double value) { std::printf("%s=%.3f\n", key, value); }

void LatPhase(int conn, int fd, int n) {
  char* buf = fu::Aligned(kProgram, kBlock);
  const uint64_t range_blocks = (64 << 20) / kBlock;
  std::mt19937_64 rng(11);
  auto mirror = [&](uint32_t flags) {
    std::vector<double> us;
    for (int i = 0; i < n + 200; ++i) {  // the first 200 warm up
      Header h{(rng() % range_blocks) * kBlock, static_cast<uint32_t>(kBlock), flags};
      const absl::Time t = absl::Now();
      WriteFull(conn, &h, sizeof h);
      WriteFull(conn, buf, kBlock);
      PwriteFull(fd, buf, kBlock, h.offset);
      ReadFull(conn, &h, sizeof h);
      if (i >= 200) us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
    }
    return P50(us);
  };
  Print("raw_write_p50_us", mirror(0));
  Print("raw_write_ordered_p50_us", mirror(kFlushAfter));
  std::vector<double> w, wf;
  for (int i = 0; i < n; ++i) {
    const uint64_t off = (rng() % range_blocks) * kBlock;
    const absl::Time t = absl::Now();
    PwriteFull(fd, buf, kBlock, off);
    const absl::Time t1 = absl::Now();
    if (::fdatasync(fd) != 0) Fail("fdatasync");
    w.push_back(absl::ToDoubleMicroseconds(t1 - t));
    wf.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
  }
  Print("raw_local_write_p50_us", P50(w));
  Print("raw_local_write_flush_p50_us", P50(wf));
  std::free(buf);
}

void SeqPhase(int conn, int fd, uint64_t total_mib) {
  const int chunks = static_cast<int>(total_mib);
  // Offsets wrap at a multiple of the window, inside the file.
  struct stat st;
  if (::fstat(fd, &st) != 0) Fail("fstat");
  const uint64_t wrap =
      static_cast<uint64_t>(st.st_size) / (kSeqDepth * kSeqChunk) * (kSeqDepth * kSeqChunk);
  if (wrap == 0) {
    errno = EINVAL;
    Fail("the primary's file is smaller than 16 MiB");
  }
  std::vector<char*> bufs(kSeqDepth);
  for (char*& b : bufs) b = fu::Aligned(kProgram, kSeqChunk);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> pending(kSeqDepth, 0);  // per slot: local write + ack outstanding
  int in_flight = 0;
  Queue local;
  std::vector<uint64_t> slot_off(kSeqDepth);
  auto done_one = [&](int slot) {
    std::lock_guard<std::mutex> l(mu);
    if (--pending[slot] == 0) {
      --in_flight;
      cv.notify_all();
    }
  };
  std::vector<std::thread> writers = StartWriters(local, [&](int i) {
    PwriteFull(fd, bufs[i], kSeqChunk, slot_off[i]);
    done_one(i);
  });
  // Acks come back in the secondary's completion order; the header's offset
  // names the slot.
  std::thread acks([&] {
    for (int k = 0; k < chunks; ++k) {
      Header h;
      ReadFull(conn, &h, sizeof h);
      done_one(static_cast<int>((h.offset / kSeqChunk) % kSeqDepth));
    }
  });
  const absl::Time start = absl::Now();
  for (int k = 0; k < chunks; ++k) {
    const int slot = k % kSeqDepth;
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return in_flight < kSeqDepth && pending[slot] == 0; });
      pending[slot] = 2;
      ++in_flight;
    }
    slot_off[slot] = static_cast<uint64_t>(k) * kSeqChunk % wrap;
    local.Push(slot);
    Header h{slot_off[slot], static_cast<uint32_t>(kSeqChunk), 0};
    WriteFull(conn, &h, sizeof h);
    WriteFull(conn, bufs[slot], kSeqChunk);
  }
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return in_flight == 0; });
  }
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  acks.join();
  StopWriters(local, writers);
  Print("raw_seq_mib_per_s", static_cast<double>(chunks) / secs);
  for (char* b : bufs) std::free(b);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"raw_mirror: a framework-free protocol-C mirror, the floor under mirror_bench"};
  std::string primary, secondary, phases = "lat,seq";
  int qd1_writes = 2000;
  uint64_t seq_mib = 4096;
  app.add_option("--primary", primary, "the primary's backing file (laid out)")->required();
  app.add_option("--secondary", secondary, "the secondary's backing file (laid out)")->required();
  app.add_option("--qd1_writes", qd1_writes)->check(CLI::Range(10, 1000000));
  app.add_option("--seq_mib", seq_mib, "MiB written in the seq phase (<= both files)")
      ->check(CLI::Range(16, 1 << 20));
  app.add_option("--phases", phases, "comma-separated: lat, seq");
  bool pin = false;
  app.add_flag("--pin", pin, "the secondary on CPU 0, the primary on CPU 1 (one core per node)");
  CLI11_PARSE(app, argc, argv);

  const int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) Fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(ls, 1) != 0 ||
      ::getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Fail("listen on loopback");
  }
  const pid_t child = ::fork();
  if (child < 0) Fail("fork");
  if (child == 0) {
    if (pin) fu::PinTo(kProgram, 0);
    const int conn = ::accept(ls, nullptr, nullptr);
    if (conn < 0) Fail("accept");
    NoDelay(conn);
    Secondary(conn, secondary);
    std::_Exit(0);
  }
  ::close(ls);
  if (pin) fu::PinTo(kProgram, 1);
  const int conn = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (conn < 0 || ::connect(conn, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Fail("connect");
  }
  NoDelay(conn);
  const int fd = fu::OpenDirect(kProgram, primary);
  if (phases.find("lat") != std::string::npos) LatPhase(conn, fd, qd1_writes);
  if (phases.find("seq") != std::string::npos) SeqPhase(conn, fd, seq_mib);
  const Header end{0, 0, 0};
  WriteFull(conn, &end, sizeof end);
  int status = 0;
  if (::waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "raw_mirror: the secondary process failed (status %d)\n", status);
    return 1;
  }
  ::close(fd);
  return 0;
}
