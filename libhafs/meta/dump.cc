#include "libhafs/meta/dump.h"

#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/meta/al_format.h"
#include "libhafs/meta/meta_store.h"

namespace hafs::meta {
namespace {

std::string Hex(uint64_t v) { return absl::StrCat("0x", absl::Hex(v, absl::kZeroPad16)); }

// name -> value lines, in a fixed order (shared by text and JSON).
std::vector<std::pair<std::string, std::string>> Fields(const Superblock& sb) {
  std::vector<std::string> hist;
  for (uint64_t h : sb.gi.history) hist.push_back(Hex(h));
  return {
      {"format-version", absl::StrCat(sb.format_version)},
      {"sequence", absl::StrCat(sb.sequence)},
      {"uuid", Hex(sb.device_uuid)},
      {"kind", std::string(MdKindName(sb.kind))},
      {"external-index", absl::StrCat(sb.external_index)},
      {"md-device-bytes", absl::StrCat(sb.md_device_bytes)},
      {"data-bytes", absl::StrCat(sb.data_bytes)},
      {"md-offset", absl::StrCat(sb.md_offset)},
      {"md-bytes", absl::StrCat(sb.md_bytes)},
      {"sb-offset", absl::StrCat(sb.sb_offset)},
      {"al-offset", absl::StrCat(sb.al_offset)},
      {"bitmap-offset", absl::StrCat(sb.bitmap_offset)},
      {"bitmap-bytes", absl::StrCat(sb.bitmap_bytes)},
      {"al-ring-blocks", absl::StrCat(sb.al_ring_blocks)},
      {"al-extents", absl::StrCat(sb.al_extents)},
      {"al-extent-shift", absl::StrCat(sb.al_extent_shift)},
      {"bm-block-shift", absl::StrCat(sb.bm_block_shift)},
      {"node-id", absl::StrCat(sb.node_id)},
      {"flags", FlagsToString(sb.flags)},
      {"gi-current", Hex(sb.gi.current)},
      {"gi-bitmap", Hex(sb.gi.bitmap)},
      {"gi-history", absl::StrJoin(hist, " ")},
      {"al-floor", absl::StrCat(sb.al_floor_tr)},
  };
}

absl::StatusOr<uint32_t> ParseFlags(absl::string_view s) {
  if (s == "none") return 0u;
  uint32_t f = 0;
  for (absl::string_view part : absl::StrSplit(s, '|')) {
    if (part == "consistent") f |= kMdConsistent;
    else if (part == "was-up-to-date") f |= kMdWasUpToDate;
    else if (part == "crashed-primary") f |= kMdCrashedPrimary;
    else if (part == "al-clean") f |= kMdAlClean;
    else if (part == "peer-outdated") f |= kMdPeerOutdated;
    else if (part == "full-sync") f |= kMdFullSync;
    else return absl::InvalidArgumentError(absl::StrCat("unknown flag '", part, "'"));
  }
  return f;
}

}  // namespace

std::string DumpText(const Superblock& sb, const Bitmap& bm,
                     const std::vector<uint32_t>& al_hot) {
  std::string out = absl::StrCat("# hafs on-disk metadata dump (hafsctl restore-md reads it)\n",
                                 "hafs-md-dump ", kDumpFormatVersion, "\n");
  for (const auto& [k, v] : Fields(sb)) absl::StrAppend(&out, k, " ", v, "\n");
  absl::StrAppend(&out, "al-hot", al_hot.empty() ? "" : " ", absl::StrJoin(al_hot, " "), "\n");
  absl::StrAppend(&out, "bitmap-bits ", bm.size(), "\n", "bitmap-set ", bm.Count(), "\n");
  bm.ForEachRun(0, bm.size(), [&](Bitmap::Run r) {
    absl::StrAppend(&out, "bitmap-run ", r.start, " ", r.length, "\n");
  });
  absl::StrAppend(&out, "end\n");
  return out;
}

std::string DumpJson(const Superblock& sb, const Bitmap& bm,
                     const std::vector<uint32_t>& al_hot) {
  std::string out = absl::StrCat("{\n  \"dump-format\": ", kDumpFormatVersion, ",\n");
  for (const auto& [k, v] : Fields(sb)) {
    if (k == "gi-history") {
      std::vector<std::string> q;
      for (absl::string_view h : absl::StrSplit(v, ' ')) q.push_back(absl::StrCat("\"", h, "\""));
      absl::StrAppend(&out, "  \"", k, "\": [", absl::StrJoin(q, ", "), "],\n");
    } else if (k == "kind" || k == "flags" || k == "uuid" || k.rfind("gi-", 0) == 0) {
      absl::StrAppend(&out, "  \"", k, "\": \"", v, "\",\n");
    } else {
      absl::StrAppend(&out, "  \"", k, "\": ", v, ",\n");
    }
  }
  absl::StrAppend(&out, "  \"al-hot\": [", absl::StrJoin(al_hot, ", "), "],\n");
  absl::StrAppend(&out, "  \"bitmap-bits\": ", bm.size(), ",\n  \"bitmap-set\": ", bm.Count(),
                  ",\n  \"bitmap-runs\": [");
  bool first = true;
  bm.ForEachRun(0, bm.size(), [&](Bitmap::Run r) {
    absl::StrAppend(&out, first ? "" : ", ", "[", r.start, ", ", r.length, "]");
    first = false;
  });
  absl::StrAppend(&out, "]\n}\n");
  return out;
}

std::string ShowGi(const Superblock& sb) {
  std::string out = absl::StrCat("current ", Hex(sb.gi.current),
                                 (sb.gi.current & GenerationIds::kPrimaryMarker) ? " (primary)" : "",
                                 "\nbitmap  ", Hex(sb.gi.bitmap), "\nhistory");
  for (uint64_t h : sb.gi.history) absl::StrAppend(&out, " ", Hex(h));
  absl::StrAppend(&out, "\nflags   ", FlagsToString(sb.flags), "\nnode-id ", sb.node_id, "\n");
  return out;
}

absl::StatusOr<MetaDump> ParseDump(absl::string_view text) {
  MetaDump d;
  bool header = false, end = false;
  int line_no = 0;
  std::vector<bool> seen(32, false);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto err = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat("dump line ", line_no, ": ", what, ": '",
                                                     line, "'"));
    };
    if (end) return err("text after 'end'");
    std::vector<absl::string_view> w = absl::StrSplit(line, ' ', absl::SkipEmpty());
    const absl::string_view key = w[0];
    auto u64 = [&](size_t i, uint64_t* out) -> bool {
      if (i >= w.size()) return false;
      absl::string_view s = w[i];
      if (absl::ConsumePrefix(&s, "0x")) {
        return absl::SimpleHexAtoi(s, out);
      }
      return absl::SimpleAtoi(s, out);
    };
    uint64_t v = 0;
    if (!header) {
      if (key != "hafs-md-dump") return err("expected 'hafs-md-dump 1' first");
      if (!u64(1, &v) || v != kDumpFormatVersion) {
        return err(absl::StrCat("unsupported dump format (this build reads ",
                                kDumpFormatVersion, ")"));
      }
      header = true;
      continue;
    }
    Superblock& sb = d.sb;
    if (key == "end") {
      end = true;
    } else if (key == "kind") {
      if (w.size() != 2) return err("expected 'kind internal|external'");
      if (w[1] == "internal") sb.kind = MdKind::kInternal;
      else if (w[1] == "external") sb.kind = MdKind::kExternal;
      else return err("unknown kind");
    } else if (key == "external-index") {
      int32_t i;
      if (w.size() != 2 || !absl::SimpleAtoi(w[1], &i)) return err("bad index");
      sb.external_index = i;
    } else if (key == "flags") {
      if (w.size() != 2) return err("expected 'flags a|b'");
      auto f = ParseFlags(w[1]);
      if (!f.ok()) return err(f.status().message());
      sb.flags = *f;
    } else if (key == "gi-history") {
      if (w.size() != 1 + kHistoryGis) return err(absl::StrCat("expected ", kHistoryGis, " values"));
      for (int i = 0; i < kHistoryGis; ++i) {
        if (!u64(1 + i, &sb.gi.history[i])) return err("bad number");
      }
    } else if (key == "al-hot") {
      for (size_t i = 1; i < w.size(); ++i) {
        if (!u64(i, &v) || v >= kAlEmptyExtent) return err("bad extent");
        d.al_hot.push_back(static_cast<uint32_t>(v));
      }
    } else if (key == "bitmap-run") {
      Bitmap::Run r;
      if (w.size() != 3 || !u64(1, &r.start) || !u64(2, &r.length)) {
        return err("expected 'bitmap-run START LENGTH'");
      }
      d.runs.push_back(r);
    } else {
      if (w.size() != 2 || !u64(1, &v)) return err("expected 'key number'");
      if (key == "format-version") sb.format_version = static_cast<uint32_t>(v);
      else if (key == "sequence") sb.sequence = v;
      else if (key == "uuid") sb.device_uuid = v;
      else if (key == "md-device-bytes") sb.md_device_bytes = v;
      else if (key == "data-bytes") sb.data_bytes = v;
      else if (key == "md-offset") sb.md_offset = v;
      else if (key == "md-bytes") sb.md_bytes = v;
      else if (key == "sb-offset") sb.sb_offset = v;
      else if (key == "al-offset") sb.al_offset = v;
      else if (key == "bitmap-offset") sb.bitmap_offset = v;
      else if (key == "bitmap-bytes") sb.bitmap_bytes = v;
      else if (key == "al-ring-blocks") sb.al_ring_blocks = static_cast<uint32_t>(v);
      else if (key == "al-extents") sb.al_extents = static_cast<uint32_t>(v);
      else if (key == "al-extent-shift") sb.al_extent_shift = static_cast<uint32_t>(v);
      else if (key == "bm-block-shift") sb.bm_block_shift = static_cast<uint32_t>(v);
      else if (key == "node-id") sb.node_id = static_cast<uint32_t>(v);
      else if (key == "gi-current") sb.gi.current = v;
      else if (key == "gi-bitmap") sb.gi.bitmap = v;
      else if (key == "al-floor") sb.al_floor_tr = v;
      else if (key == "bitmap-bits" || key == "bitmap-set") {
        if (key == "bitmap-set") d.bits_set = v;
      } else {
        return err("unknown key");
      }
    }
  }
  if (!header) return absl::InvalidArgumentError("not a hafs metadata dump (empty)");
  if (!end) return absl::InvalidArgumentError("dump is truncated: no 'end' line");
  if (d.sb.format_version != kMetaFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dump is of metadata format ", d.sb.format_version, "; this build writes ",
        kMetaFormatVersion));
  }
  if (absl::Status s = ValidateLayout(d.sb); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("dump: ", s.message()));
  }
  uint64_t total = 0;
  for (const Bitmap::Run& r : d.runs) {
    if (r.start > d.sb.data_blocks() || r.length > d.sb.data_blocks() - r.start) {
      return absl::InvalidArgumentError(absl::StrCat("dump: bitmap run ", r.start, "+", r.length,
                                                     " past ", d.sb.data_blocks(), " blocks"));
    }
    total += r.length;
  }
  if (total != d.bits_set) {
    return absl::InvalidArgumentError(absl::StrCat("dump: runs hold ", total,
                                                   " bits but bitmap-set says ", d.bits_set));
  }
  return d;
}

absl::Status RestoreDump(io::BlockDevice* dev, const MetaDump& d, bool force) {
  if (dev->size_bytes() != d.sb.md_device_bytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        "wrong device: the dump is of a ", d.sb.md_device_bytes, "-byte device, this one has ",
        dev->size_bytes(), " bytes"));
  }
  MetaOpenOptions oo;
  oo.kind = d.sb.kind;
  oo.external_index = d.sb.external_index;
  oo.read_only = true;
  auto existing = MetaStore::Open(dev, oo, nullptr);
  if (existing.ok() && (*existing)->superblock().device_uuid != d.sb.device_uuid && !force) {
    return absl::AlreadyExistsError(absl::StrCat(
        "the device holds metadata of another instance (uuid 0x",
        absl::Hex((*existing)->superblock().device_uuid), ") (hint: --force)"));
  }
  if (existing.ok()) existing->reset();
  MetaCreateOptions co;
  co.kind = d.sb.kind;
  co.external_index = d.sb.external_index;
  co.data_bytes = d.sb.data_bytes;
  co.al_extents = d.sb.al_extents;
  co.al_ring_blocks = d.sb.al_ring_blocks;
  co.node_id = d.sb.node_id;
  co.device_uuid = d.sb.device_uuid;
  co.gi = d.sb.gi;
  co.flags = d.sb.flags;
  co.force = true;
  HAFS_ASSIGN_OR_RETURN(Superblock created, MetaStore::Create(dev, co));
  if (created.data_bytes != d.sb.data_bytes || created.bitmap_offset != d.sb.bitmap_offset) {
    return absl::FailedPreconditionError(
        "wrong device: the dump's layout does not match this device's");
  }
  oo.read_only = false;
  HAFS_ASSIGN_OR_RETURN(std::unique_ptr<MetaStore> ms, MetaStore::Open(dev, oo, nullptr));
  for (const Bitmap::Run& r : d.runs) ms->bitmap().SetRange(r.start, r.end());
  for (uint32_t e : d.al_hot) {
    const uint64_t first = (uint64_t{e} << kAlExtentShift) >> kBitmapBlockShift;
    ms->bitmap().SetRange(first, first + (kAlExtentBytes >> kBitmapBlockShift));
  }
  return ms->Close();
}

}  // namespace hafs::meta
