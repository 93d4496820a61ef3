// hafs-fuse-volume: test/operator tool for the volume front end. Exposes a
// file (or block device) through io_uring (UringDevice) as a single-file FUSE
// filesystem, optionally attaches a loop device to that file, prints what it
// made, and serves until SIGINT/SIGTERM; then detaches and unmounts.
//
//   hafs-fuse-volume --image /var/tmp/vol.img --size 1G
//                    --mountpoint /run/hafs/vol0 --loop
//   file=/run/hafs/vol0/volume
//   loop=/dev/loop3
//   ready
//
// Stop order for a clean exit: umount the filesystem on /dev/loopN first,
// then send SIGTERM. If the loop device is still in use at exit, its I/O is
// aborted (the FUSE connection is forced down) and the tool says so.
//
// Exit status: 0 clean stop; 1 error (or forced stop); 64 usage error.
#include <signal.h>

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libhafs/frontend/fuse_export.h"
#include "libhafs/frontend/loop_device.h"
#include "libhafs/frontend/volume_io.h"
#include "libhafs/io/uring_device.h"

namespace {

// "4096", "64M", "1G", "512K" -> bytes.
bool ParseSize(std::string text, uint64_t* out) {
  text = absl::AsciiStrToUpper(text);
  uint64_t mult = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'K': mult = 1ULL << 10; break;
      case 'M': mult = 1ULL << 20; break;
      case 'G': mult = 1ULL << 30; break;
      case 'T': mult = 1ULL << 40; break;
      default: break;
    }
    if (mult != 1) text.pop_back();
  }
  uint64_t n;
  if (!absl::SimpleAtoi(text, &n) || n > UINT64_MAX / mult) return false;
  *out = n * mult;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "hafs-fuse-volume: serve a file as a single-file FUSE volume (+ loop "
      "device) until SIGINT/SIGTERM",
      "hafs-fuse-volume"};
  std::string image, mountpoint, size_text, file_name = "volume";
  bool attach_loop = false, no_fuse_direct_io = false, no_loop_direct_io = false;
  bool read_only = false, no_discard = false;
  int queue_depth = 64;
  app.add_option("--image", image, "backing file or block device")->required();
  app.add_option("--size", size_text,
                 "create/extend the image to this size (e.g. 64M, 1G); a "
                 "multiple of 4096");
  app.add_option("--mountpoint", mountpoint, "existing empty directory")
      ->required();
  app.add_option("--file-name", file_name, "name of the file in the mount");
  app.add_flag("--loop", attach_loop, "attach a loop device and print it");
  app.add_flag("--no-fuse-direct-io", no_fuse_direct_io,
               "let the kernel cache the FUSE file in its page cache");
  app.add_flag("--no-loop-direct-io", no_loop_direct_io,
               "attach the loop device with buffered I/O");
  app.add_flag("--read-only", read_only, "refuse writes");
  app.add_flag("--no-discard", no_discard,
               "fail fallocate(PUNCH_HOLE/ZERO_RANGE) with EOPNOTSUPP");
  app.add_option("--queue-depth", queue_depth, "io_uring queue depth")
      ->check(CLI::Range(1, 4096));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 64;
  }
  uint64_t size = 0;
  if (!size_text.empty() && (!ParseSize(size_text, &size) || size == 0 ||
                             size % hafs::io::kBlockSize != 0)) {
    std::cerr << "hafs-fuse-volume: --size " << size_text
              << " is not a positive multiple of 4096 bytes (e.g. 64M)\n";
    return 64;
  }

  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<hafs::io::UringDevice>> dev =
      hafs::io::UringDevice::Open({.path = image,
                                   .queue_depth = queue_depth,
                                   .create = size != 0,
                                   .size_bytes = size,
                                   .read_only = read_only});
  if (!dev.ok()) {
    std::cerr << "hafs-fuse-volume: " << dev.status() << "\n";
    return 1;
  }
  hafs::frontend::BlockDeviceVolumeIo volume(
      dev->get(), {.discard_zeroes = !(*dev)->is_block_device()});
  absl::StatusOr<std::unique_ptr<hafs::frontend::FuseExport>> fuse =
      hafs::frontend::FuseExport::Start(
          &volume, {.mountpoint = mountpoint,
                    .file_name = file_name,
                    .direct_io = !no_fuse_direct_io,
                    .read_only = read_only,
                    .enable_discard = !no_discard});
  if (!fuse.ok()) {
    std::cerr << "hafs-fuse-volume: " << fuse.status() << "\n";
    return 1;
  }
  std::cout << "file=" << (*fuse)->file_path() << std::endl;
  std::unique_ptr<hafs::frontend::LoopDevice> loop;
  if (attach_loop) {
    absl::StatusOr<std::unique_ptr<hafs::frontend::LoopDevice>> l =
        hafs::frontend::LoopDevice::Attach(
            {.backing_file = (*fuse)->file_path(),
             .direct_io = !no_loop_direct_io,
             .read_only = read_only});
    if (!l.ok()) {
      std::cerr << "hafs-fuse-volume: " << l.status() << "\n";
      return 1;  // the FuseExport destructor unmounts
    }
    loop = *std::move(l);
    std::cout << "loop=" << loop->path() << std::endl;
    std::cout << "loop_direct_io=" << (loop->direct_io() ? 1 : 0) << std::endl;
  }
  std::cout << "ready" << std::endl;

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "hafs-fuse-volume: got signal " << sig << ", stopping\n";

  int rc = 0;
  if (loop != nullptr) {
    if (absl::Status s = loop->Close(); !s.ok()) {
      std::cerr << "hafs-fuse-volume: " << s << "\n";
      rc = 1;
    }
  }
  if (absl::Status s = (*fuse)->Stop(); !s.ok()) {
    std::cerr << "hafs-fuse-volume: " << s
              << "\nhafs-fuse-volume: forcing the FUSE connection down; I/O "
                 "on the file (and the loop device) now fails\n";
    rc = 1;
    if (absl::Status f = (*fuse)->Stop(/*force=*/true); !f.ok()) {
      std::cerr << "hafs-fuse-volume: " << f << "\n";
    }
  }
  if (absl::Status s = volume.Flush(); !s.ok()) {
    std::cerr << "hafs-fuse-volume: final flush: " << s << "\n";
    rc = 1;
  }
  return rc;
}
