// examples/volume_local.cc
// -----------------------------------------------------------------------------
// The public block-mirror API (libhafs/mirror/volume.h) on one node with no
// peer: what a storage product does to get a crash-consistent local volume
// that can gain a peer later.
//   1. create-md: CreateVolumeMetadata() makes a backing file with internal
//      metadata (superblock, activity log, bitmap at its end);
//   2. attach: Volume::Open() with transport = nullptr (no peer, so the
//      volume stays StandAlone); fresh metadata attaches Inconsistent;
//   3. primary --force: the only way to make fresh data UpToDate;
//   4. application I/O: aligned writes (one with FUA), a flush, read-back;
//   5. status: the DRBD-style /proc/drbd line (VolumeStatus::ToString; sizes
//      in KiB). With no peer every write is also out of sync (oos): the
//      bitmap remembers what a future peer will need, across Close/Open;
//   6. down: Close() demotes, makes the bitmap durable and marks the
//      activity log clean; a second Open() then attaches UpToDate without
//      --force and reads the same bytes back.
// O_DIRECT is required, so the backing file must not be on tmpfs: the
// default directory is /var/tmp. The temporary directory is removed at exit.
//
// Usage:  volume_local [DIR]           (exit 0 iff every step worked)
//   bazel run //examples:volume_local
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "libhafs/io/block_device.h"
#include "libhafs/meta/meta_store.h"
#include "libhafs/mirror/volume.h"

namespace {

namespace mirror = hafs::mirror;
constexpr uint64_t kBlock = hafs::io::kBlockSize;
constexpr uint64_t kFileBytes = 72ull << 20;  // 64 MiB of data + metadata
constexpr uint64_t kBlocks = 16;              // written at offset 0

// Block i of the example's data: byte ('A' + i % 26), with i in the first 8 bytes.
void Fill(hafs::io::AlignedBuffer& b, uint64_t first_block) {
  for (uint64_t i = 0; i < b.size() / kBlock; ++i) {
    char* p = b.data() + i * kBlock;
    std::memset(p, 'A' + (first_block + i) % 26, kBlock);
    const uint64_t n = first_block + i;
    std::memcpy(p, &n, sizeof n);
  }
}

absl::StatusOr<std::unique_ptr<mirror::Volume>> Attach(const std::string& path) {
  mirror::VolumeOptions o;
  o.name = "r0";
  o.backing_path = path;
  o.node_id = 0;
  o.node_name = "alice";
  o.peer_name = "bob";
  o.transport = nullptr;  // no peer: StandAlone
  return mirror::Volume::Open(o);
}

// Reads the example's data back and compares it. `last` is the FUA block.
absl::Status Verify(mirror::Volume& v, uint64_t last) {
  hafs::io::AlignedBuffer want(kBlocks * kBlock), got(kBlocks * kBlock);
  Fill(want, 0);
  if (absl::Status s = v.Read(0, got.span()); !s.ok()) return s;
  hafs::io::AlignedBuffer want1(kBlock), got1(kBlock);
  Fill(want1, last);
  if (absl::Status s = v.Read(last * kBlock, got1.span()); !s.ok()) return s;
  if (std::memcmp(want.data(), got.data(), want.size()) != 0 ||
      std::memcmp(want1.data(), got1.data(), kBlock) != 0) {
    return absl::DataLossError("read-back differs from what was written");
  }
  std::cout << "read-back: " << kBlocks + 1 << " blocks match\n";
  return absl::OkStatus();
}

absl::Status Run(const std::string& path) {
  // 1. create-md.
  hafs::meta::MetaCreateOptions md;
  md.al_extents = 67;
  md.node_id = 0;
  absl::StatusOr<hafs::meta::Superblock> sb =
      mirror::CreateVolumeMetadata(path, kFileBytes, md);
  if (!sb.ok()) return sb.status();
  std::cout << "create-md: " << kFileBytes / (1 << 20)
            << " MiB file, internal metadata\n";

  // 2. attach, no peer.
  absl::StatusOr<std::unique_ptr<mirror::Volume>> v = Attach(path);
  if (!v.ok()) return v.status();
  mirror::Volume& vol = **v;
  std::cout << "attached:  " << vol.status().ToString() << "\n";

  // 3. primary --force (fresh data is Inconsistent).
  if (absl::Status s = vol.Promote(/*force=*/true); !s.ok()) return s;
  std::cout << "promoted:  " << vol.status().ToString() << "\n";

  // 4. I/O: 16 blocks at 0, the last block with FUA, a flush, read-back.
  hafs::io::AlignedBuffer data(kBlocks * kBlock);
  Fill(data, 0);
  if (absl::Status s = vol.Write(0, data.span()); !s.ok()) return s;
  const uint64_t last = vol.size_bytes() / kBlock - 1;
  hafs::io::AlignedBuffer tail(kBlock);
  Fill(tail, last);
  if (absl::Status s = vol.Write(last * kBlock, tail.span(), /*fua=*/true); !s.ok()) {
    return s;
  }
  if (absl::Status s = vol.Flush(); !s.ok()) return s;
  if (absl::Status s = Verify(vol, last); !s.ok()) return s;
  // Unaligned I/O is refused with a precise error, not executed.
  const absl::Status bad = vol.Write(512, tail.span());
  std::cout << "unaligned write refused: " << bad.ToString() << "\n";
  if (bad.code() != absl::StatusCode::kInvalidArgument) {
    return absl::InternalError("unaligned write was not refused");
  }

  // 5. status.
  std::cout << "status:    " << vol.status().ToString() << "\n";

  // 6. down, then attach again: UpToDate without --force, same bytes.
  if (absl::Status s = vol.Close(); !s.ok()) return s;
  std::cout << "closed:    " << vol.status().ToString() << "\n";
  v->reset();
  v = Attach(path);
  if (!v.ok()) return v.status();
  std::cout << "reattached: " << (*v)->status().ToString() << "\n";
  if (absl::Status s = (*v)->Promote(/*force=*/false); !s.ok()) return s;
  if (absl::Status s = Verify(**v, last); !s.ok()) return s;
  return (*v)->Close();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2) {
    std::cerr << "usage: volume_local [DIR]\n";
    return 64;
  }
  std::string tmpl =
      absl::StrCat(argc == 2 ? argv[1] : "/var/tmp", "/hafs_volume_local_XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::cerr << "volume_local: mkdtemp " << tmpl << ": " << strerror(errno) << "\n";
    return 1;
  }
  const absl::Status s = Run(tmpl + "/r0.img");
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
  if (!s.ok()) {
    std::cerr << "volume_local: " << s << "\n";
    return 1;
  }
  std::cout << "done\n";
  return 0;
}
