#include "libhafs/meta/meta_store.h"

#include <algorithm>
#include <deque>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/meta/al_format.h"

namespace hafs::meta {
namespace {

constexpr uint64_t kChunkPages = 256;  // 1 MiB per bitmap read/write

absl::Status Annotate(const absl::Status& s, absl::string_view what) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

uint64_t RandomUuid() {
  std::random_device rd;
  uint64_t v = 0;
  while (v == 0) v = (uint64_t{rd()} << 32) ^ rd();
  return v;
}

absl::StatusOr<PickedSuperblock> ReadSuperblock(io::BlockDevice* dev, uint64_t sb_offset) {
  io::AlignedBuffer buf(kSuperblockAreaBytes);
  HAFS_RETURN_IF_ERROR(Annotate(dev->Read(sb_offset, buf.span()), "reading the superblock"));
  return PickSuperblock(absl::string_view(buf.data(), kMetaBlockBytes),
                        absl::string_view(buf.data() + kMetaBlockBytes, kMetaBlockBytes),
                        sb_offset);
}

}  // namespace

std::string RecoveryReport::ToString() const {
  std::string out = absl::StrCat(
      "superblock slot ", superblock_slot, " (sequence ", superblock_sequence, "); ",
      was_clean ? "clean shutdown" : "unclean shutdown", "; AL: ", al_transactions_replayed,
      " transactions replayed, ", al_extents_recovered.size(), " hot extents",
      al_complete ? "" : " (INCOMPLETE: full sync forced)", ", ", bits_set_by_al,
      " bits set by apply-al; bitmap: ", bitmap_pages_bad, " bad pages");
  for (const auto* list : {&superblock_dropped, &al_dropped, &bitmap_dropped}) {
    for (const std::string& d : *list) absl::StrAppend(&out, "\n  dropped: ", d);
  }
  return out;
}

struct MetaStore::TxIo {
  ActivityLog::Transaction tr;
  int stage = 0;  // 0: bitmap pages, 1: flush, 2: AL block, 3: done
  std::vector<uint64_t> pages;
  std::deque<io::AlignedBuffer> bufs;
  std::deque<io::IoRequest> reqs;
  int outstanding = 0;
  absl::Status error;
};

MetaStore::MetaStore(io::BlockDevice* dev, const Superblock& sb,
                     const MetaOpenOptions& options, Bitmap bitmap,
                     const std::vector<uint32_t>& slots, uint64_t next_tr, uint32_t next_ctx)
    : dev_(dev),
      sb_(sb),
      options_(options),
      bitmap_(std::move(bitmap)),
      al_(AlGeometry{sb.al_extents, sb.al_ring_blocks, sb.device_uuid, sb.data_extents()},
          slots, next_tr, next_ctx) {}

MetaStore::~MetaStore() {
  if (!closed_ && !options_.read_only) {
    HAFS_LOG(WARNING) << "metadata store of uuid 0x" << absl::StrCat(absl::Hex(sb_.device_uuid))
                      << " destroyed without Close(): the next Open replays the AL";
  }
}

absl::StatusOr<Superblock> MetaStore::Create(io::BlockDevice* dev,
                                             const MetaCreateOptions& o) {
  LayoutRequest req;
  req.kind = o.kind;
  req.md_device_bytes = dev->size_bytes();
  req.data_bytes = o.data_bytes;
  req.external_index = o.external_index;
  req.al_extents = o.al_extents;
  req.al_ring_blocks = o.al_ring_blocks;
  HAFS_ASSIGN_OR_RETURN(Superblock sb, ComputeLayout(req));
  if (!o.force) {
    absl::StatusOr<PickedSuperblock> old = ReadSuperblock(dev, sb.sb_offset);
    if (old.ok() || old.status().code() == absl::StatusCode::kFailedPrecondition) {
      return absl::AlreadyExistsError(absl::StrCat(
          "metadata already present at byte ", sb.sb_offset,
          old.ok() ? absl::StrCat(" (uuid 0x", absl::Hex(old->sb.device_uuid), ", node ",
                                  old->sb.node_id, ")")
                   : std::string(" (other format version)"),
          " (hint: wipe-md first, or --force)"));
    }
    if (old.status().code() != absl::StatusCode::kNotFound &&
        old.status().code() != absl::StatusCode::kDataLoss) {
      return old.status();
    }
  }
  sb.device_uuid = o.device_uuid != 0 ? o.device_uuid : RandomUuid();
  sb.node_id = o.node_id;
  sb.gi = o.gi;
  sb.flags = (o.flags | kMdAlClean) & kMdAllFlags;
  sb.al_floor_tr = 1;
  // AL ring: zeros.
  {
    io::AlignedBuffer ring(uint64_t{sb.al_ring_blocks} * kMetaBlockBytes);
    HAFS_RETURN_IF_ERROR(Annotate(dev->Write(sb.al_offset, ring.span()), "zeroing the AL"));
  }
  // Bitmap: every page valid and clear.
  Bitmap bm(sb.data_blocks());
  io::AlignedBuffer chunk(kChunkPages * kMetaBlockBytes);
  for (uint64_t p = 0; p < bm.num_pages(); p += kChunkPages) {
    const uint64_t n = std::min(kChunkPages, bm.num_pages() - p);
    for (uint64_t i = 0; i < n; ++i) {
      bm.EncodePage(p + i, sb.device_uuid, chunk.data() + i * kMetaBlockBytes);
    }
    HAFS_RETURN_IF_ERROR(Annotate(
        dev->Write(sb.bitmap_offset + p * kMetaBlockBytes,
                   absl::MakeConstSpan(chunk.data(), n * kMetaBlockBytes)),
        "writing the bitmap"));
  }
  HAFS_RETURN_IF_ERROR(Annotate(dev->Flush(), "flushing new metadata"));
  // Both superblock slots (sequence 0 and 1): no older copy can outrank them.
  io::AlignedBuffer sbuf(kSuperblockAreaBytes);
  sb.sequence = 0;
  EncodeSuperblock(sb, 0, sbuf.data());
  sb.sequence = 1;
  EncodeSuperblock(sb, 1, sbuf.data() + kMetaBlockBytes);
  HAFS_RETURN_IF_ERROR(Annotate(dev->Write(sb.sb_offset, sbuf.span(), /*fua=*/true),
                                "writing the superblock"));
  return sb;
}

absl::Status MetaStore::Wipe(io::BlockDevice* dev, MdKind kind, int32_t external_index,
                             bool force) {
  HAFS_ASSIGN_OR_RETURN(uint64_t off,
                        SuperblockOffset(kind, external_index, dev->size_bytes()));
  absl::StatusOr<PickedSuperblock> old = ReadSuperblock(dev, off);
  if (!old.ok() && old.status().code() == absl::StatusCode::kNotFound && !force) {
    return old.status();
  }
  io::AlignedBuffer zero(kSuperblockAreaBytes);
  if (old.ok()) {
    io::AlignedBuffer ring(uint64_t{old->sb.al_ring_blocks} * kMetaBlockBytes);
    HAFS_RETURN_IF_ERROR(Annotate(dev->Write(old->sb.al_offset, ring.span()), "wiping the AL"));
  }
  HAFS_RETURN_IF_ERROR(
      Annotate(dev->Write(off, zero.span(), /*fua=*/true), "wiping the superblock"));
  return Annotate(dev->Flush(), "flushing");
}

absl::StatusOr<std::unique_ptr<MetaStore>> MetaStore::Open(io::BlockDevice* dev,
                                                           const MetaOpenOptions& o,
                                                           RecoveryReport* report) {
  RecoveryReport local;
  RecoveryReport& rep = report != nullptr ? *report : local;
  rep = RecoveryReport{};
  HAFS_ASSIGN_OR_RETURN(uint64_t off,
                        SuperblockOffset(o.kind, o.external_index, dev->size_bytes()));
  absl::StatusOr<PickedSuperblock> picked = ReadSuperblock(dev, off);
  if (!picked.ok()) return picked.status();
  Superblock sb = picked->sb;
  rep.superblock_slot = picked->slot;
  rep.superblock_sequence = sb.sequence;
  rep.superblock_dropped = picked->dropped;

  if (sb.kind != o.kind || (o.kind == MdKind::kExternal && sb.external_index != o.external_index)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "metadata here is ", MdKindName(sb.kind), " (index ", sb.external_index,
        "), not ", MdKindName(o.kind), " (index ", o.external_index, ")"));
  }
  if (sb.md_device_bytes != dev->size_bytes()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "wrong device: metadata was created on a ", sb.md_device_bytes,
        "-byte device, this one has ", dev->size_bytes(),
        " bytes (hint: resized or a different device?)"));
  }
  if (o.expect_node_id.has_value() && *o.expect_node_id != sb.node_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "metadata belongs to node ", sb.node_id, ", not node ", *o.expect_node_id,
        " (hint: wrong device, or create-md with the right --node-id)"));
  }
  if (o.expect_data_bytes.has_value() && *o.expect_data_bytes != sb.data_bytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        "wrong device: metadata describes ", sb.data_bytes, " bytes of data, expected ",
        *o.expect_data_bytes));
  }
  if (o.expect_uuid.has_value() && *o.expect_uuid != sb.device_uuid) {
    return absl::FailedPreconditionError(
        absl::StrCat("wrong device: metadata uuid is 0x", absl::Hex(sb.device_uuid),
                     ", expected 0x", absl::Hex(*o.expect_uuid)));
  }

  // Bitmap.
  Bitmap bm(sb.data_blocks());
  {
    io::AlignedBuffer chunk(kChunkPages * kMetaBlockBytes);
    for (uint64_t p = 0; p < bm.num_pages(); p += kChunkPages) {
      const uint64_t n = std::min(kChunkPages, bm.num_pages() - p);
      HAFS_RETURN_IF_ERROR(Annotate(
          dev->Read(sb.bitmap_offset + p * kMetaBlockBytes,
                    absl::MakeSpan(chunk.data(), n * kMetaBlockBytes)),
          "reading the bitmap"));
      for (uint64_t i = 0; i < n; ++i) {
        absl::Status s = bm.DecodePage(
            p + i, sb.device_uuid,
            absl::string_view(chunk.data() + i * kMetaBlockBytes, kMetaBlockBytes));
        if (!s.ok()) {
          bm.SetPage(p + i);  // never trust less than the page may have held
          ++rep.bitmap_pages_bad;
          rep.bitmap_dropped.push_back(
              absl::StrCat(s.message(), "; all its bits are set"));
        }
      }
    }
    // Pages loaded from disk stay clean (DecodePage does not dirty them);
    // the bad ones were dirtied by SetPage and are rewritten below.
  }

  // AL ring.
  rep.was_clean = sb.has_flag(kMdAlClean);
  AlRecovery rec;
  if (rep.was_clean) {
    rec.slots.assign(sb.al_extents, kAlEmptyExtent);
    rec.next_tr = sb.al_floor_tr;
  } else {
    io::AlignedBuffer ring(uint64_t{sb.al_ring_blocks} * kMetaBlockBytes);
    HAFS_RETURN_IF_ERROR(Annotate(dev->Read(sb.al_offset, ring.span()), "reading the AL"));
    std::vector<absl::string_view> blocks;
    for (uint32_t i = 0; i < sb.al_ring_blocks; ++i) {
      blocks.emplace_back(ring.data() + i * kMetaBlockBytes, kMetaBlockBytes);
    }
    rec = RecoverAlRing(blocks, sb.device_uuid, sb.al_extents, sb.al_floor_tr);
  }
  rep.al_transactions_replayed = rec.applied;
  rep.al_extents_recovered = rec.HotExtents();
  rep.al_complete = rec.complete;
  rep.al_dropped = rec.dropped;

  if (o.read_only) {
    // Keep what is on disk; the bad pages are already set in memory.
    std::unique_ptr<MetaStore> ms(new MetaStore(dev, sb, o, std::move(bm), rec.slots,
                                                rec.next_tr, rec.next_context_start));
    return ms;
  }

  // apply-al: the AL's extents join the bitmap; an untrusted AL sets all.
  for (uint32_t e : rep.al_extents_recovered) {
    const uint64_t first = (uint64_t{e} << kAlExtentShift) >> kBitmapBlockShift;
    rep.bits_set_by_al +=
        bm.SetRange(first, first + (kAlExtentBytes >> kBitmapBlockShift));
  }
  if (!rec.complete) {
    rep.full_sync_forced = true;
    rep.bits_set_by_al += bm.SetRange(0, bm.size());
  }
  std::unique_ptr<MetaStore> ms(new MetaStore(dev, sb, o, std::move(bm),
                                              std::vector<uint32_t>(sb.al_extents, kAlEmptyExtent),
                                              rec.next_tr, 0));
  HAFS_RETURN_IF_ERROR(ms->FlushBitmap());
  const uint64_t floor = rec.next_tr;
  HAFS_RETURN_IF_ERROR(ms->UpdateSuperblock([&](Superblock& s) {
    s.al_floor_tr = floor;
    s.flags &= ~kMdAlClean;
  }));
  return ms;
}

absl::Status MetaStore::UpdateSuperblock(const std::function<void(Superblock&)>& fn) {
  if (options_.read_only) {
    return absl::FailedPreconditionError("metadata opened read-only");
  }
  Superblock next = sb_;
  fn(next);
  next.sequence = sb_.sequence + 1;
  HAFS_CHECK(next.sb_offset == sb_.sb_offset && next.device_uuid == sb_.device_uuid &&
             next.al_offset == sb_.al_offset && next.bitmap_offset == sb_.bitmap_offset)
      << "UpdateSuperblock must not change identity or layout";
  const int slot = static_cast<int>(next.sequence % kSuperblockSlots);
  io::AlignedBuffer buf(kMetaBlockBytes);
  EncodeSuperblock(next, slot, buf.data());
  HAFS_RETURN_IF_ERROR(
      Annotate(dev_->Write(next.slot_offset(slot), buf.span(), /*fua=*/options_.md_flushes),
               "writing the superblock"));
  ++stats_.superblock_writes;
  sb_ = next;
  return absl::OkStatus();
}

absl::Status MetaStore::WritePages(const std::vector<uint64_t>& pages) {
  io::AlignedBuffer buf(kMetaBlockBytes);
  for (uint64_t p : pages) {
    bitmap_.EncodePage(p, sb_.device_uuid, buf.data());
    bitmap_.MarkClean(p);
    absl::Status s = dev_->Write(sb_.bitmap_offset + p * kMetaBlockBytes, buf.span());
    if (!s.ok()) {
      bitmap_.MarkDirty(p);
      return Annotate(s, absl::StrCat("writing bitmap page ", p));
    }
    ++stats_.bitmap_writes;
  }
  return absl::OkStatus();
}

absl::Status MetaStore::FlushBitmap() {
  if (options_.read_only) return absl::FailedPreconditionError("metadata opened read-only");
  HAFS_RETURN_IF_ERROR(WritePages(bitmap_.DirtyPages()));
  if (!options_.md_flushes) return absl::OkStatus();
  ++stats_.flushes;
  return Annotate(dev_->Flush(), "flushing the bitmap");
}

absl::StatusOr<MetaStore::WriteAdmit> MetaStore::BeginWrite(
    uint64_t offset, uint64_t length, std::function<void(absl::Status)> on_ready) {
  if (closed_ || options_.read_only) {
    return absl::FailedPreconditionError("metadata store is closed or read-only");
  }
  if (length == 0 || offset > sb_.data_bytes || length > sb_.data_bytes - offset) {
    return absl::OutOfRangeError(absl::StrCat("write of ", length, " bytes at ", offset,
                                              " is outside the ", sb_.data_bytes,
                                              "-byte data area"));
  }
  const uint64_t id = next_write_id_++;
  HAFS_ASSIGN_OR_RETURN(ActivityLog::Admit a,
                        al_.Begin(id, ExtentOf(offset), ExtentOf(offset + length - 1)));
  if (a == ActivityLog::Admit::kReady) return WriteAdmit::kReady;
  waiters_[id] = std::move(on_ready);
  Kick(false);
  return WriteAdmit::kWait;
}

void MetaStore::EndWrite(uint64_t offset, uint64_t length) {
  ReleaseRetired();
  al_.End(ExtentOf(offset), ExtentOf(offset + length - 1));
  if (al_.waiting() > 0 && !al_.transaction_in_flight()) Kick(false);
}

void MetaStore::Kick(bool force) {
  if (closed_ || options_.read_only || al_.transaction_in_flight() || al_.waiting() == 0) {
    return;
  }
  if (!force && al_.wanted_cold() < options_.al_batch_min && al_.wanted_cold() > 0) return;
  StartTransaction();
}

void MetaStore::ReleaseRetired() {
  if (callback_depth_ == 0) retired_.clear();
}

void MetaStore::StartTransaction() {
  ReleaseRetired();
  std::optional<ActivityLog::Transaction> tr = al_.PrepareTransaction();
  if (!tr.has_value()) return;
  tx_ = std::make_unique<TxIo>();
  tx_->tr = std::move(*tr);
  for (uint32_t v : tx_->tr.evicted) {
    const uint64_t first = (uint64_t{v} << kAlExtentShift) >> kBitmapBlockShift;
    auto [pb, pe] = bitmap_.PagesOf(first, first + (kAlExtentBytes >> kBitmapBlockShift));
    for (uint64_t p = pb; p < pe; ++p) {
      if (bitmap_.IsDirty(p) &&
          std::find(tx_->pages.begin(), tx_->pages.end(), p) == tx_->pages.end()) {
        tx_->pages.push_back(p);
      }
    }
  }
  TxStage(tx_.get());
}

void MetaStore::TxStage(TxIo* tx) {
  // Runs each stage's I/O; the last completion of a stage re-enters here.
  while (tx->outstanding == 0) {
    if (!tx->error.ok()) {
      FinishTransaction(tx->error);
      return;
    }
    const int stage = tx->stage++;
    auto submit = [&](io::IoRequest r) {
      tx->reqs.push_back(std::move(r));
      io::IoRequest* req = &tx->reqs.back();
      req->done = [this, tx](absl::Status s) {
        ++callback_depth_;
        if (!s.ok() && tx->error.ok()) tx->error = s;
        if (--tx->outstanding == 0) TxStage(tx);
        --callback_depth_;
      };
      ++tx->outstanding;
      absl::Status s = dev_->Submit(req);
      if (!s.ok()) {
        --tx->outstanding;
        if (tx->error.ok()) tx->error = s;
      }
    };
    if (stage == 0) {
      for (uint64_t p : tx->pages) {
        tx->bufs.emplace_back(kMetaBlockBytes);
        bitmap_.EncodePage(p, sb_.device_uuid, tx->bufs.back().data());
        bitmap_.MarkClean(p);
        io::IoRequest r;
        r.op = io::IoOp::kWrite;
        r.offset = sb_.bitmap_offset + p * kMetaBlockBytes;
        r.length = kMetaBlockBytes;
        r.data = tx->bufs.back().data();
        submit(std::move(r));
        ++stats_.bitmap_writes;
      }
    } else if (stage == 1) {
      if (!tx->tr.evicted.empty() && options_.md_flushes) {
        io::IoRequest r;
        r.op = io::IoOp::kFlush;
        submit(std::move(r));
        ++stats_.flushes;
      }
    } else if (stage == 2) {
      tx->bufs.emplace_back(kMetaBlockBytes);
      std::copy(tx->tr.block.begin(), tx->tr.block.end(), tx->bufs.back().data());
      io::IoRequest r;
      r.op = io::IoOp::kWrite;
      r.offset = sb_.al_offset + uint64_t{tx->tr.ring_index} * kMetaBlockBytes;
      r.length = kMetaBlockBytes;
      r.data = tx->bufs.back().data();
      r.fua = options_.md_flushes;
      submit(std::move(r));
      ++stats_.al_writes;
    } else {
      FinishTransaction(absl::OkStatus());
      return;
    }
    // If the stage submitted I/O, its completion continues; if a submit
    // failed synchronously with nothing outstanding, the loop finishes it.
  }
}

void MetaStore::FinishTransaction(absl::Status status) {
  // tx_ owns the request whose callback may be running: retire it, free later.
  std::unique_ptr<TxIo> tx = std::move(tx_);
  std::vector<uint64_t> ready;
  std::vector<uint64_t> failed;
  if (status.ok()) {
    ready = al_.CommitTransaction();
  } else {
    for (uint64_t p : tx->pages) bitmap_.MarkDirty(p);
    ready = al_.AbortTransaction();
    failed = al_.CancelWaiting();
    HAFS_LOG(ERROR) << "AL transaction " << tx->tr.tr_number << " failed: " << status;
  }
  // Freed once no completion callback is on the stack (ReleaseRetired).
  retired_.push_back(std::move(tx));
  for (uint64_t id : ready) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) continue;
    auto cb = std::move(it->second);
    waiters_.erase(it);
    cb(absl::OkStatus());
  }
  for (uint64_t id : failed) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) continue;
    auto cb = std::move(it->second);
    waiters_.erase(it);
    cb(Annotate(status, "activity log"));
  }
  if (status.ok()) Kick(false);
}

absl::Status MetaStore::Close() {
  if (closed_) return absl::OkStatus();
  if (options_.read_only) {
    closed_ = true;
    return absl::OkStatus();
  }
  if (al_.transaction_in_flight() || al_.waiting() > 0) {
    return absl::FailedPreconditionError(
        "close with AL transactions or waiting writes (hint: drain I/O first)");
  }
  for (uint32_t e : al_.HotExtents()) {
    if (al_.refs(e) > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("close with writes in flight on extent ", e));
    }
  }
  // Bitmap pages, then one flush that also covers every completed data write,
  // then al-clean: the ring is void from here on.
  HAFS_RETURN_IF_ERROR(FlushBitmap());
  const uint64_t floor = al_.next_tr();
  HAFS_RETURN_IF_ERROR(UpdateSuperblock([&](Superblock& s) {
    s.al_floor_tr = floor;
    s.flags |= kMdAlClean;
  }));
  closed_ = true;
  return absl::OkStatus();
}

}  // namespace hafs::meta
