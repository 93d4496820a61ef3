#include "libhafs/io/uring_device.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::io {
namespace {

using ::hafs::testing::IsOkAndHolds;
using ::hafs::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TempDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t != nullptr ? t : "/tmp";
}

// A fresh file path under the test temp dir, removed at the end of the test.
class TempFile {
 public:
  TempFile() {
    std::string tmpl = TempDir() + "/uring_device_test.XXXXXX";
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) std::abort();
    ::close(fd);
    ::unlink(tmpl.c_str());
    path_ = tmpl;
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Opens a device or skips the test when this filesystem has no O_DIRECT.
#define OPEN_OR_SKIP(dev, opts)                                              \
  auto dev##_or = UringDevice::Open(opts);                                   \
  if (dev##_or.status().code() == absl::StatusCode::kFailedPrecondition) {   \
    GTEST_SKIP() << dev##_or.status();                                       \
  }                                                                          \
  ASSERT_OK(dev##_or);                                                       \
  std::unique_ptr<UringDevice> dev = std::move(*dev##_or)

void Pattern(AlignedBuffer& b, uint64_t tag) {
  Random rng(tag);
  rng.Fill(b.span());
}

TEST(UringDeviceTest, WriteReadFlushFuaDiscardRoundTrip) {
  TempFile f;
  OPEN_OR_SKIP(dev, (UringDeviceOptions{.path = f.path(), .create = true,
                                        .size_bytes = 1 << 20}));
  EXPECT_EQ(dev->size_bytes(), 1u << 20);
  EXPECT_FALSE(dev->is_block_device());
  AlignedBuffer w(64 * 1024);
  Pattern(w, 1);
  ASSERT_OK(dev->Write(128 * 1024, w.span()));
  AlignedBuffer fua(kBlockSize);
  Pattern(fua, 2);
  ASSERT_OK(dev->Write(0, fua.span(), /*fua=*/true));
  ASSERT_OK(dev->Flush());
  AlignedBuffer r(64 * 1024);
  ASSERT_OK(dev->Read(128 * 1024, r.span()));
  EXPECT_EQ(r.view(), w.view());
  AlignedBuffer r2(kBlockSize);
  ASSERT_OK(dev->Read(0, r2.span()));
  EXPECT_EQ(r2.view(), fua.view());
  // Discard punches a hole: the range reads back as zeros, the rest stays.
  ASSERT_OK(dev->Discard(128 * 1024, 16 * 1024));
  ASSERT_OK(dev->Read(128 * 1024, r.span()));
  EXPECT_EQ(r.view().substr(0, 16 * 1024), std::string(16 * 1024, '\0'));
  EXPECT_EQ(r.view().substr(16 * 1024), w.view().substr(16 * 1024));
  EXPECT_EQ(dev->in_flight(), 0);

  // The data is in the file, as seen by a second, buffered open.
  dev.reset();
  std::string file(4096, '\0');
  const int fd = ::open(f.path().c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pread(fd, file.data(), 4096, 0), 4096);
  ::close(fd);
  EXPECT_EQ(file, fua.view());
}

TEST(UringDeviceTest, MoreRequestsThanTheRingCompleteInBatches) {
  TempFile f;
  constexpr int kBlocks = 200;
  OPEN_OR_SKIP(dev, (UringDeviceOptions{.path = f.path(), .queue_depth = 8,
                                        .create = true,
                                        .size_bytes = kBlocks * kBlockSize}));
  std::vector<AlignedBuffer> bufs;
  std::vector<IoRequest> reqs(kBlocks);
  int ok = 0;
  for (int i = 0; i < kBlocks; ++i) {
    bufs.emplace_back(kBlockSize);
    Pattern(bufs.back(), 100 + i);
  }
  for (int i = 0; i < kBlocks; ++i) {
    reqs[i] = IoRequest{.op = IoOp::kWrite, .offset = i * kBlockSize,
                        .length = kBlockSize, .data = bufs[i].data(),
                        .fua = i % 10 == 0};
    reqs[i].done = [&ok](absl::Status s) {
      EXPECT_OK(s);
      ++ok;
    };
    ASSERT_OK(dev->Submit(&reqs[i]));
  }
  EXPECT_EQ(dev->in_flight(), kBlocks);
  int reaped = 0;
  while (reaped < kBlocks) {
    absl::StatusOr<int> n = dev->Poll(1, absl::Seconds(30));
    ASSERT_OK(n);
    ASSERT_GT(*n, 0) << "no progress";
    EXPECT_LE(dev->in_flight(), kBlocks - reaped);
    reaped += *n;
  }
  EXPECT_EQ(ok, kBlocks);
  EXPECT_EQ(dev->in_flight(), 0);
  // Read everything back at QD 8 too.
  std::vector<AlignedBuffer> rbufs;
  for (int i = 0; i < kBlocks; ++i) rbufs.emplace_back(kBlockSize);
  for (int i = 0; i < kBlocks; ++i) {
    reqs[i] = IoRequest{.op = IoOp::kRead, .offset = i * kBlockSize,
                        .length = kBlockSize, .data = rbufs[i].data()};
    reqs[i].done = [](absl::Status s) { EXPECT_OK(s); };
    ASSERT_OK(dev->Submit(&reqs[i]));
  }
  EXPECT_THAT(dev->Poll(kBlocks, absl::InfiniteDuration()), IsOkAndHolds(kBlocks));
  for (int i = 0; i < kBlocks; ++i) {
    ASSERT_EQ(rbufs[i].view(), bufs[i].view()) << "block " << i;
  }
  EXPECT_EQ(dev->stats().sqes_submitted, 2u * kBlocks);
  EXPECT_LT(dev->stats().enter_calls, 2u * kBlocks) << "submission is batched";
}

TEST(UringDeviceTest, FlushWaitsForWritesSubmittedBeforeIt) {
  TempFile f;
  OPEN_OR_SKIP(dev, (UringDeviceOptions{.path = f.path(), .queue_depth = 4,
                                        .create = true, .size_bytes = 1 << 20}));
  AlignedBuffer b(64 * 1024);
  Pattern(b, 3);
  std::vector<IoRequest> writes(12);
  std::vector<std::string> order;
  for (int i = 0; i < 12; ++i) {
    writes[i] = IoRequest{.op = IoOp::kWrite, .offset = i * 64 * 1024ull,
                          .length = 64 * 1024, .data = b.data()};
    writes[i].done = [&order, i](absl::Status s) {
      EXPECT_OK(s);
      order.push_back(absl::StrCat("w", i));
    };
    ASSERT_OK(dev->Submit(&writes[i]));
  }
  IoRequest flush{.op = IoOp::kFlush};
  flush.done = [&order](absl::Status s) {
    EXPECT_OK(s);
    order.push_back("flush");
  };
  ASSERT_OK(dev->Submit(&flush));
  EXPECT_THAT(dev->Poll(13, absl::InfiniteDuration()), IsOkAndHolds(13));
  ASSERT_EQ(order.size(), 13u);
  EXPECT_EQ(order.back(), "flush");
  EXPECT_EQ(dev->stats().flushes_held, 1u);
}

TEST(UringDeviceTest, BarrierRunsAfterEverythingBeforeItAndBeforeEverythingAfter) {
  TempFile f;
  OPEN_OR_SKIP(dev, (UringDeviceOptions{.path = f.path(), .queue_depth = 8,
                                        .create = true, .size_bytes = 4 << 20}));
  AlignedBuffer b(256 * 1024);
  Pattern(b, 5);
  // Two epochs of writes with a barrier flush between them, a plain flush
  // and another barrier behind, all submitted at once (more than the ring).
  std::vector<IoRequest> reqs(16);
  std::vector<std::string> order;
  std::vector<std::string> names;
  for (int i = 0; i < 16; ++i) {
    IoRequest& r = reqs[i];
    if (i == 6 || i == 15) {
      r = IoRequest{.op = IoOp::kFlush, .barrier = true};
      names.push_back(absl::StrCat("B", i));
    } else if (i == 11) {
      r = IoRequest{.op = IoOp::kFlush};
      names.push_back(absl::StrCat("F", i));
    } else {
      r = IoRequest{.op = IoOp::kWrite, .offset = (i % 8) * 256 * 1024ull,
                    .length = 256 * 1024, .data = b.data()};
      names.push_back(absl::StrCat("w", i));
    }
    r.done = [&order, &names, i](absl::Status s) {
      EXPECT_OK(s) << names[i];
      order.push_back(names[i]);
    };
    ASSERT_OK(dev->Submit(&r));
  }
  // A discard cannot be ordered (it is not a ring op): refused while a
  // barrier is outstanding.
  IoRequest discard{.op = IoOp::kDiscard, .offset = 0, .length = kBlockSize};
  EXPECT_THAT(dev->Submit(&discard),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("barrier")));
  EXPECT_THAT(dev->Poll(16, absl::InfiniteDuration()), IsOkAndHolds(16));
  ASSERT_EQ(order.size(), 16u);
  auto pos = [&](const std::string& n) {
    return std::find(order.begin(), order.end(), n) - order.begin();
  };
  for (int i = 0; i < 6; ++i) EXPECT_LT(pos(names[i]), pos("B6")) << names[i];
  for (int i = 7; i < 15; ++i) EXPECT_GT(pos(names[i]), pos("B6")) << names[i];
  for (int i = 0; i < 15; ++i) EXPECT_LT(pos(names[i]), pos("B15")) << names[i];
  EXPECT_OK(dev->Discard(0, kBlockSize));  // fine again once nothing is pending
}

TEST(UringDeviceTest, RejectsBadRequestsWithPreciseErrors) {
  TempFile f;
  OPEN_OR_SKIP(dev, (UringDeviceOptions{.path = f.path(), .create = true,
                                        .size_bytes = 64 * 1024}));
  AlignedBuffer b(2 * kBlockSize);
  EXPECT_THAT(dev->Write(1000, b.span()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("offset 1000 is not aligned")));
  EXPECT_THAT(dev->Read(0, absl::MakeSpan(b.data() + 512, kBlockSize)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("buffer address is not 4096-byte aligned")));
  EXPECT_THAT(dev->Read(60 * 1024, b.span()),
              StatusIs(absl::StatusCode::kOutOfRange,
                       HasSubstr("ends past the device end (65536 bytes)")));
  EXPECT_THAT(dev->Discard(0, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(dev->in_flight(), 0);
}

TEST(UringDeviceTest, ReadOnlyOpenRejectsWrites) {
  TempFile f;
  {
    OPEN_OR_SKIP(dev, (UringDeviceOptions{.path = f.path(), .create = true,
                                          .size_bytes = 64 * 1024}));
    AlignedBuffer b(kBlockSize);
    Pattern(b, 9);
    ASSERT_OK(dev->Write(kBlockSize, b.span(), true));
  }
  OPEN_OR_SKIP(ro, (UringDeviceOptions{.path = f.path(), .read_only = true}));
  AlignedBuffer b(kBlockSize);
  EXPECT_THAT(ro->Write(0, b.span()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(f.path()), HasSubstr("read-only"))));
  EXPECT_THAT(ro->Discard(0, kBlockSize),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK(ro->Read(kBlockSize, b.span()));
  AlignedBuffer want(kBlockSize);
  Pattern(want, 9);
  EXPECT_EQ(b.view(), want.view());
}

TEST(UringDeviceTest, OpenErrors) {
  TempFile f;
  EXPECT_THAT(UringDevice::Open({.path = f.path()}),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr(f.path()), HasSubstr("ENOENT"))));
  EXPECT_THAT(UringDevice::Open({.path = f.path(), .create = true}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("size_bytes")));
  EXPECT_THAT(UringDevice::Open({.path = f.path(), .queue_depth = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("queue_depth 0")));
  EXPECT_THAT(UringDevice::Open({.path = ""}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(UringDeviceTest, SizeIsRoundedDownToWholeBlocks) {
  TempFile f;
  const int fd = ::open(f.path().c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 3 * kBlockSize + 100), 0);
  ::close(fd);
  OPEN_OR_SKIP(dev, (UringDeviceOptions{.path = f.path()}));
  EXPECT_EQ(dev->size_bytes(), 3 * kBlockSize);
  ASSERT_EQ(::truncate(f.path().c_str(), 100), 0);
  EXPECT_THAT(UringDevice::Open({.path = f.path()}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("smaller than one 4096-byte block")));
}

// A file that shrinks under an open device: the read comes back short, the
// device resubmits the remainder, which hits end of file.
TEST(UringDeviceTest, ShortReadIsResubmittedAndEofIsDataLoss) {
  TempFile f;
  OPEN_OR_SKIP(dev, (UringDeviceOptions{.path = f.path(), .create = true,
                                        .size_bytes = 8 * kBlockSize}));
  AlignedBuffer w(8 * kBlockSize);
  Pattern(w, 5);
  ASSERT_OK(dev->Write(0, w.span()));
  ASSERT_EQ(::truncate(f.path().c_str(), 2 * kBlockSize), 0);
  AlignedBuffer r(4 * kBlockSize);
  EXPECT_THAT(dev->Read(0, r.span()),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("read of 16384 bytes at offset 0 on"),
                             HasSubstr("end of file after 8192 bytes"))));
  EXPECT_GE(dev->stats().short_ios, 1u);
  EXPECT_EQ(r.view().substr(0, 2 * kBlockSize), w.view().substr(0, 2 * kBlockSize));
  // Writes past the new end of file grow it again.
  ASSERT_OK(dev->Write(6 * kBlockSize, w.span().subspan(0, kBlockSize)));
  ASSERT_OK(dev->Read(6 * kBlockSize, r.span().subspan(0, kBlockSize)));
}

TEST(UringDeviceTest, PollWithNothingInFlightReturnsAtOnce) {
  TempFile f;
  OPEN_OR_SKIP(dev, (UringDeviceOptions{.path = f.path(), .create = true,
                                        .size_bytes = 64 * 1024}));
  EXPECT_THAT(dev->Poll(1, absl::InfiniteDuration()), IsOkAndHolds(0));
  EXPECT_THAT(dev->Poll(0, absl::ZeroDuration()), IsOkAndHolds(0));
}

[[noreturn]] void RamfsChild(const std::string& dir) {
        if (::unshare(CLONE_NEWNS) != 0 ||
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount("none", dir.c_str(), "ramfs", 0, nullptr) != 0) {
          std::cerr << "SETUP: " << std::strerror(errno);
          std::_Exit(77);
        }
        const std::string path = dir + "/vol.img";
        absl::StatusOr<std::unique_ptr<UringDevice>> dev =
            UringDevice::Open({.path = path, .create = true, .size_bytes = 1 << 20});
        struct stat st;
        const bool left_behind = ::stat(path.c_str(), &st) == 0;
        std::cerr << dev.status() << (left_behind ? " [file left behind]" : "");
        std::_Exit(dev.status().code() == absl::StatusCode::kFailedPrecondition &&
                           !left_behind
                       ? 0
                       : 1);
      }

[[noreturn]] void NoUringChild(const std::string& path) {
        struct sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {
            .len = static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])),
            .filter = filter};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
          std::cerr << "SETUP: " << std::strerror(errno);
          std::_Exit(77);
        }
        absl::StatusOr<std::unique_ptr<UringDevice>> dev =
            UringDevice::Open({.path = path});
        std::cerr << dev.status();
        std::_Exit(dev.status().code() == absl::StatusCode::kUnavailable ? 0 : 1);
      }

// O_DIRECT refused: ramfs has no direct I/O (tmpfs has it since Linux 6.6).
// Mounted in a private mount namespace of a child process, so the mount
// vanishes with the child whatever happens.
TEST(UringDeviceTest, FilesystemWithoutODirectIsAFailedPrecondition) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount ramfs";
  std::string dir = TempDir() + "/ramfs.XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  EXPECT_EXIT(RamfsChild(dir), 
      ::testing::ExitedWithCode(0), "O_DIRECT.*refuses direct I/O.*hint");
  ::rmdir(dir.c_str());
}

// io_uring unavailable: a child process forbids io_uring_setup with seccomp
// (EPERM, as kernel.io_uring_disabled=2 does) and opens a device.
TEST(UringDeviceTest, IoUringUnavailableIsReportedWithAHint) {
  TempFile f;
  {
    OPEN_OR_SKIP(dev, (UringDeviceOptions{.path = f.path(), .create = true,
                                          .size_bytes = 64 * 1024}));
  }
  EXPECT_EXIT(NoUringChild(f.path()),
      ::testing::ExitedWithCode(0), "io_uring_queue_init.*io_uring_disabled");
}

}  // namespace
}  // namespace hafs::io
