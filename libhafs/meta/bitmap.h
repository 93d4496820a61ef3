// File: libhafs/meta/bitmap.h
// -----------------------------------------------------------------------------
// The quick-sync bitmap: 1 bit per 4 KiB data block, marking blocks that may
// differ from the peer. In memory as 64-bit words (word-at-a-time range
// operations, popcount, a maintained set-bit count), with dirty tracking per
// on-disk bitmap page. A page is 4 KiB on disk: 508 words of bits
// (kBitmapBitsPerPage = 32512 bits, ~127 MiB of data) plus a checksummed
// trailer (docs/formats.md), so a torn or misdirected page write is detected
// and recovery can fall back to "all set" for that page.
//
// Sizes: a 4 TiB volume has 2^30 bits = 128 MiB of bitmap; every operation
// here is O(words touched), never O(bits).
//
// Thread-safety: none (owned by one event loop).
//
// Example:
//   Bitmap bm(num_blocks);
//   bm.SetRange(100, 164);             // 64 blocks out of sync
//   for (uint64_t b = bm.FindNextSet(0); b < bm.size(); b = bm.FindNextSet(r.end))
//   ...
//   for (uint64_t page : bm.DirtyPages()) { bm.EncodePage(page, ...); ... }
#ifndef HAFS_LIBHAFS_META_BITMAP_H_
#define HAFS_LIBHAFS_META_BITMAP_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "libhafs/meta/superblock.h"

namespace hafs::meta {

class Bitmap {
 public:
  // A run of set bits [start, start + length).
  struct Run {
    uint64_t start = 0;
    uint64_t length = 0;
    uint64_t end() const { return start + length; }
    friend bool operator==(const Run&, const Run&) = default;
  };

  explicit Bitmap(uint64_t num_bits);

  uint64_t size() const { return num_bits_; }
  uint64_t num_pages() const { return num_pages_; }
  // Set bits (maintained; O(1)).
  uint64_t Count() const { return count_; }

  bool Test(uint64_t bit) const;
  // Return true iff the bit changed. REQUIRES: bit < size().
  bool Set(uint64_t bit);
  bool Clear(uint64_t bit);
  // [begin, end) clamped to size(); return how many bits changed.
  uint64_t SetRange(uint64_t begin, uint64_t end);
  uint64_t ClearRange(uint64_t begin, uint64_t end);
  void SetAll() { SetRange(0, num_bits_); }
  void ClearAll() { ClearRange(0, num_bits_); }
  // Set bits in [begin, end).
  uint64_t CountRange(uint64_t begin, uint64_t end) const;

  // First set (clear) bit >= from, or size() if none.
  uint64_t FindNextSet(uint64_t from) const;
  uint64_t FindNextClear(uint64_t from) const;
  // The first run of set bits starting at or after `from` (length 0 if none).
  Run NextRun(uint64_t from) const;
  // Calls fn for every maximal run of set bits intersected with [begin, end).
  void ForEachRun(uint64_t begin, uint64_t end,
                  const std::function<void(Run)>& fn) const;

  // this |= other; returns how many bits became set.
  // REQUIRES: other.size() == size().
  uint64_t Merge(const Bitmap& other);

  // Dirty pages: changed in memory since last MarkClean().
  bool IsDirty(uint64_t page) const;
  std::vector<uint64_t> DirtyPages() const;
  uint64_t dirty_page_count() const { return dirty_count_; }
  void MarkDirty(uint64_t page);
  void MarkAllDirty();
  void MarkClean(uint64_t page);
  // Pages holding bits [begin, end) (clamped), as [first, last + 1).
  std::pair<uint64_t, uint64_t> PagesOf(uint64_t begin, uint64_t end) const;

  // On-disk page image (kMetaBlockBytes bytes), bound to `device_uuid` and
  // the page index. Does not change dirty state.
  void EncodePage(uint64_t page, uint64_t device_uuid, char* out) const;
  // Loads a page image. On a bad page (checksum, index or uuid mismatch) the
  // page is left unchanged and kDataLoss names the problem; callers decide
  // (MetaStore sets the whole page: never trust less than a page claims).
  absl::Status DecodePage(uint64_t page, uint64_t device_uuid,
                          absl::string_view block);
  // Sets every bit of `page` (used when its image is unreadable).
  void SetPage(uint64_t page);

  const std::vector<uint64_t>& words() const { return words_; }

 private:
  // Applies op to words in [begin, end) bits; returns changed bits.
  template <bool kSet>
  uint64_t Apply(uint64_t begin, uint64_t end);

  uint64_t num_bits_;
  uint64_t num_pages_;
  std::vector<uint64_t> words_;
  uint64_t count_ = 0;
  std::vector<uint64_t> dirty_;  // one bit per page
  uint64_t dirty_count_ = 0;
};

}  // namespace hafs::meta

#endif  // HAFS_LIBHAFS_META_BITMAP_H_
