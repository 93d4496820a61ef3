#include "libhafs/meta/bitmap.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "libhafs/base/checksum.h"
#include "libhafs/base/logging.h"
#include "libhafs/meta/le.h"

namespace hafs::meta {
namespace {

// "HBMP" little-endian.
constexpr uint32_t kPageMagic = 0x504d4248;
constexpr size_t kOffTrailer = kBitmapWordsPerPage * 8;  // 4064
constexpr size_t kOffPageMagic = kOffTrailer;
constexpr size_t kOffPageVersion = kOffTrailer + 4;
constexpr size_t kOffPageIndex = kOffTrailer + 8;
constexpr size_t kOffPageUuid = kOffTrailer + 16;
constexpr size_t kOffPageChecksum = kOffTrailer + 24;
static_assert(kOffPageChecksum + 8 == kMetaBlockBytes);

// Bits [lo, hi) of a word, 0 <= lo < hi <= 64.
inline uint64_t MaskBits(unsigned lo, unsigned hi) {
  const uint64_t upper = hi == 64 ? ~uint64_t{0} : (uint64_t{1} << hi) - 1;
  return upper & ~((uint64_t{1} << lo) - 1);
}

}  // namespace

Bitmap::Bitmap(uint64_t num_bits)
    : num_bits_(num_bits),
      num_pages_(BitmapPagesFor(num_bits)),
      words_(num_pages_ * kBitmapWordsPerPage, 0),
      dirty_((num_pages_ + 63) / 64, 0) {}

bool Bitmap::Test(uint64_t bit) const {
  HAFS_CHECK(bit < num_bits_) << "bit " << bit << " >= " << num_bits_;
  return (words_[bit / 64] >> (bit % 64)) & 1;
}

bool Bitmap::Set(uint64_t bit) {
  HAFS_CHECK(bit < num_bits_) << "bit " << bit << " >= " << num_bits_;
  return Apply<true>(bit, bit + 1) != 0;
}

bool Bitmap::Clear(uint64_t bit) {
  HAFS_CHECK(bit < num_bits_) << "bit " << bit << " >= " << num_bits_;
  return Apply<false>(bit, bit + 1) != 0;
}

uint64_t Bitmap::SetRange(uint64_t begin, uint64_t end) { return Apply<true>(begin, end); }
uint64_t Bitmap::ClearRange(uint64_t begin, uint64_t end) {
  return Apply<false>(begin, end);
}

template <bool kSet>
uint64_t Bitmap::Apply(uint64_t begin, uint64_t end) {
  end = std::min(end, num_bits_);
  if (begin >= end) return 0;
  uint64_t changed = 0;
  const uint64_t wb = begin / 64, we = (end - 1) / 64;
  uint64_t last_dirty_page = ~uint64_t{0};
  for (uint64_t w = wb; w <= we; ++w) {
    const unsigned lo = w == wb ? begin % 64 : 0;
    const unsigned hi = w == we ? (end - 1) % 64 + 1 : 64;
    const uint64_t m = MaskBits(lo, hi);
    const uint64_t old = words_[w];
    const uint64_t nw = kSet ? (old | m) : (old & ~m);
    if (nw != old) {
      changed += std::popcount(nw ^ old);
      words_[w] = nw;
      const uint64_t page = w / kBitmapWordsPerPage;
      if (page != last_dirty_page) {
        MarkDirty(page);
        last_dirty_page = page;
      }
    }
  }
  if (kSet) {
    count_ += changed;
  } else {
    count_ -= changed;
  }
  return changed;
}

uint64_t Bitmap::CountRange(uint64_t begin, uint64_t end) const {
  end = std::min(end, num_bits_);
  if (begin >= end) return 0;
  uint64_t n = 0;
  const uint64_t wb = begin / 64, we = (end - 1) / 64;
  for (uint64_t w = wb; w <= we; ++w) {
    const unsigned lo = w == wb ? begin % 64 : 0;
    const unsigned hi = w == we ? (end - 1) % 64 + 1 : 64;
    n += std::popcount(words_[w] & MaskBits(lo, hi));
  }
  return n;
}

uint64_t Bitmap::FindNextSet(uint64_t from) const {
  if (from >= num_bits_) return num_bits_;
  uint64_t w = from / 64;
  uint64_t cur = words_[w] & (~uint64_t{0} << (from % 64));
  const uint64_t nwords = (num_bits_ + 63) / 64;
  while (true) {
    if (cur != 0) {
      const uint64_t bit = w * 64 + std::countr_zero(cur);
      return std::min(bit, num_bits_);
    }
    if (++w >= nwords) return num_bits_;
    cur = words_[w];
  }
}

uint64_t Bitmap::FindNextClear(uint64_t from) const {
  if (from >= num_bits_) return num_bits_;
  uint64_t w = from / 64;
  uint64_t cur = ~words_[w] & (~uint64_t{0} << (from % 64));
  const uint64_t nwords = (num_bits_ + 63) / 64;
  while (true) {
    if (cur != 0) {
      const uint64_t bit = w * 64 + std::countr_zero(cur);
      return std::min(bit, num_bits_);
    }
    if (++w >= nwords) return num_bits_;
    cur = ~words_[w];
  }
}

Bitmap::Run Bitmap::NextRun(uint64_t from) const {
  const uint64_t s = FindNextSet(from);
  if (s >= num_bits_) return Run{num_bits_, 0};
  return Run{s, FindNextClear(s) - s};
}

void Bitmap::ForEachRun(uint64_t begin, uint64_t end,
                        const std::function<void(Run)>& fn) const {
  end = std::min(end, num_bits_);
  uint64_t at = begin;
  while (at < end) {
    const uint64_t s = FindNextSet(at);
    if (s >= end) return;
    const uint64_t e = std::min(FindNextClear(s), end);
    fn(Run{s, e - s});
    at = e;
  }
}

uint64_t Bitmap::Merge(const Bitmap& other) {
  HAFS_CHECK(other.num_bits_ == num_bits_)
      << "merging bitmaps of " << other.num_bits_ << " and " << num_bits_ << " bits";
  uint64_t changed = 0;
  for (uint64_t w = 0; w < words_.size(); ++w) {
    const uint64_t nw = words_[w] | other.words_[w];
    if (nw != words_[w]) {
      changed += std::popcount(nw ^ words_[w]);
      words_[w] = nw;
      MarkDirty(w / kBitmapWordsPerPage);
    }
  }
  count_ += changed;
  return changed;
}

bool Bitmap::IsDirty(uint64_t page) const {
  return page < num_pages_ && ((dirty_[page / 64] >> (page % 64)) & 1);
}

std::vector<uint64_t> Bitmap::DirtyPages() const {
  std::vector<uint64_t> out;
  out.reserve(dirty_count_);
  for (uint64_t i = 0; i < dirty_.size(); ++i) {
    uint64_t w = dirty_[i];
    while (w != 0) {
      out.push_back(i * 64 + std::countr_zero(w));
      w &= w - 1;
    }
  }
  return out;
}

void Bitmap::MarkDirty(uint64_t page) {
  HAFS_CHECK(page < num_pages_) << "page " << page;
  uint64_t& w = dirty_[page / 64];
  const uint64_t m = uint64_t{1} << (page % 64);
  if (!(w & m)) {
    w |= m;
    ++dirty_count_;
  }
}

void Bitmap::MarkAllDirty() {
  for (uint64_t p = 0; p < num_pages_; ++p) MarkDirty(p);
}

void Bitmap::MarkClean(uint64_t page) {
  HAFS_CHECK(page < num_pages_) << "page " << page;
  uint64_t& w = dirty_[page / 64];
  const uint64_t m = uint64_t{1} << (page % 64);
  if (w & m) {
    w &= ~m;
    --dirty_count_;
  }
}

std::pair<uint64_t, uint64_t> Bitmap::PagesOf(uint64_t begin, uint64_t end) const {
  end = std::min(end, num_bits_);
  if (begin >= end) return {0, 0};
  return {begin / kBitmapBitsPerPage, (end - 1) / kBitmapBitsPerPage + 1};
}

void Bitmap::EncodePage(uint64_t page, uint64_t device_uuid, char* out) const {
  HAFS_CHECK(page < num_pages_) << "page " << page;
  const uint64_t* w = words_.data() + page * kBitmapWordsPerPage;
  for (uint64_t i = 0; i < kBitmapWordsPerPage; ++i) PutLe64(out + 8 * i, w[i]);
  PutLe32(out + kOffPageMagic, kPageMagic);
  PutLe32(out + kOffPageVersion, kMetaFormatVersion);
  PutLe64(out + kOffPageIndex, page);
  PutLe64(out + kOffPageUuid, device_uuid);
  PutLe64(out + kOffPageChecksum,
          Checksum64(absl::string_view(out, kOffPageChecksum)));
}

absl::Status Bitmap::DecodePage(uint64_t page, uint64_t device_uuid,
                                absl::string_view block) {
  HAFS_CHECK(page < num_pages_) << "page " << page;
  HAFS_CHECK(block.size() == kMetaBlockBytes) << block.size();
  const char* p = block.data();
  if (GetLe32(p + kOffPageMagic) != kPageMagic) {
    return absl::DataLossError(absl::StrCat("bitmap page ", page, ": bad magic"));
  }
  if (GetLe32(p + kOffPageVersion) != kMetaFormatVersion) {
    return absl::DataLossError(absl::StrCat("bitmap page ", page, ": format version ",
                                            GetLe32(p + kOffPageVersion)));
  }
  const uint64_t want = GetLe64(p + kOffPageChecksum);
  if (want != Checksum64(absl::string_view(p, kOffPageChecksum))) {
    return absl::DataLossError(
        absl::StrCat("bitmap page ", page, ": checksum mismatch (torn or corrupted)"));
  }
  if (GetLe64(p + kOffPageIndex) != page) {
    return absl::DataLossError(absl::StrCat("bitmap page ", page, " holds page ",
                                            GetLe64(p + kOffPageIndex),
                                            ": misdirected write"));
  }
  if (GetLe64(p + kOffPageUuid) != device_uuid) {
    return absl::DataLossError(absl::StrCat(
        "bitmap page ", page, " belongs to metadata uuid 0x",
        absl::Hex(GetLe64(p + kOffPageUuid)), ", not 0x", absl::Hex(device_uuid),
        ": stale"));
  }
  uint64_t* w = words_.data() + page * kBitmapWordsPerPage;
  const uint64_t first_bit = page * kBitmapBitsPerPage;
  for (uint64_t i = 0; i < kBitmapWordsPerPage; ++i) {
    uint64_t v = GetLe64(p + 8 * i);
    const uint64_t bit0 = first_bit + i * 64;
    if (bit0 >= num_bits_) {
      v = 0;
    } else if (num_bits_ - bit0 < 64) {
      v &= MaskBits(0, static_cast<unsigned>(num_bits_ - bit0));
    }
    count_ += std::popcount(v);
    count_ -= std::popcount(w[i]);
    w[i] = v;
  }
  return absl::OkStatus();
}

void Bitmap::SetPage(uint64_t page) {
  HAFS_CHECK(page < num_pages_) << "page " << page;
  SetRange(page * kBitmapBitsPerPage, (page + 1) * kBitmapBitsPerPage);
}

}  // namespace hafs::meta
