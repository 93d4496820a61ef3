// File: libhafs/meta/dump.h
// -----------------------------------------------------------------------------
// dump-md / restore-md: a line-oriented text form (and a JSON form for tools)
// of a volume's metadata: superblock fields, generation identifiers, the AL
// hot set and the bitmap as runs of set bits. Format "hafs-md-dump 1" is
// documented in docs/formats.md. Restoring merges the dumped AL hot set into
// the bitmap (the restored AL is empty and clean).
//
// Thread-safety: pure functions, except RestoreDump (uses the device).
//
// Example:
//   std::string text = DumpText(md->superblock(), md->bitmap(), hot);
//   HAFS_ASSIGN_OR_RETURN(MetaDump d, ParseDump(text));
//   HAFS_RETURN_IF_ERROR(RestoreDump(dev, d, /*force=*/true));
#ifndef HAFS_LIBHAFS_META_DUMP_H_
#define HAFS_LIBHAFS_META_DUMP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libhafs/io/block_device.h"
#include "libhafs/meta/bitmap.h"
#include "libhafs/meta/superblock.h"

namespace hafs::meta {

inline constexpr int kDumpFormatVersion = 1;

struct MetaDump {
  Superblock sb;
  std::vector<uint32_t> al_hot;
  std::vector<Bitmap::Run> runs;
  uint64_t bits_set = 0;
};

std::string DumpText(const Superblock& sb, const Bitmap& bm,
                     const std::vector<uint32_t>& al_hot);
std::string DumpJson(const Superblock& sb, const Bitmap& bm,
                     const std::vector<uint32_t>& al_hot);
// "current 0x... bitmap 0x... history 0x... ..." plus flags, one line each.
std::string ShowGi(const Superblock& sb);

// Parses DumpText output. kInvalidArgument with "line N: ..." on errors.
absl::StatusOr<MetaDump> ParseDump(absl::string_view text);

// Writes metadata equal to the dump onto `dev` (same layout, uuid, node id,
// GIs, flags; bitmap = runs + AL hot extents; AL empty, al-clean).
// kFailedPrecondition if the device size differs from the dump's
// ("wrong device"); kAlreadyExists if metadata of another uuid is present and
// !force.
absl::Status RestoreDump(io::BlockDevice* dev, const MetaDump& dump, bool force);

}  // namespace hafs::meta

#endif  // HAFS_LIBHAFS_META_DUMP_H_
