// File: libhafs/meta/meta_store.h
// -----------------------------------------------------------------------------
// MetaStore: the on-disk metadata of one replicated volume on a BlockDevice:
// superblock (generation identifiers, flags), quick-sync bitmap and activity
// log. It is the runtime around the pure ActivityLog core: it writes AL
// transactions and bitmap pages in the required order.
//
// Lifecycle (drbdmeta verbs in parentheses)
//   Create (create-md): lays out metadata, zeroes the AL ring, writes an
//     all-clear bitmap and both superblock slots.
//   Open (attach + apply-al): reads the newest valid superblock, the bitmap
//     (an unreadable page counts as all set) and, unless the last shutdown was
//     clean, the AL ring; merges every recovered hot extent into the bitmap,
//     makes the bitmap durable, then advances the AL floor. After Open the AL
//     is empty and "may differ from the peer" = bitmap. If the AL cannot be
//     rebuilt completely, the whole bitmap is set (full sync). What was
//     dropped or distrusted is in the RecoveryReport.
//   Close (down): flushes data and bitmap, writes al-clean.
//
// Crash model: at any instant, every block whose content may differ between
// this (primary) disk and the peer is inside a durable AL extent or has its
// bit set in the durable bitmap, provided the caller
//   * calls BeginWrite before issuing a data write and issues it only once
//     admitted (immediately, or when on_ready runs with OK);
//   * sets bitmap bits for blocks the peer did not acknowledge before
//     EndWrite for that write.
// Evicting an extent persists its bitmap pages and flushes completed data
// writes first, then writes the AL transaction with FUA.
//
// Thread-safety: none; the owner's event loop drives it. Asynchronous AL I/O
// completes from the device's Poll(); the synchronous calls (Open, Close,
// FlushBitmap, UpdateSuperblock) poll the device themselves.
//
// Example:
//   HAFS_RETURN_IF_ERROR(MetaStore::Create(dev, {.al_extents = 1237}).status());
//   RecoveryReport rep;
//   HAFS_ASSIGN_OR_RETURN(auto md, MetaStore::Open(dev, {}, &rep));
//   auto r = md->BeginWrite(off, len, [&](absl::Status s) { Issue(); });
//   ... md->EndWrite(off, len);
//   HAFS_RETURN_IF_ERROR(md->Close());
#ifndef HAFS_LIBHAFS_META_META_STORE_H_
#define HAFS_LIBHAFS_META_META_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libhafs/io/block_device.h"
#include "libhafs/meta/activity_log.h"
#include "libhafs/meta/bitmap.h"
#include "libhafs/meta/superblock.h"

namespace hafs::meta {

struct MetaCreateOptions {
  MdKind kind = MdKind::kInternal;
  int32_t external_index = -1;  // external only
  uint64_t data_bytes = 0;      // external only: the data device's size
  uint32_t al_extents = 1237;
  uint32_t al_ring_blocks = 8;
  uint32_t node_id = 0;
  uint64_t device_uuid = 0;     // 0: random
  GenerationIds gi;             // current = kJustCreated by default
  uint32_t flags = 0;
  bool force = false;           // overwrite existing metadata
};

struct MetaOpenOptions {
  MdKind kind = MdKind::kInternal;
  int32_t external_index = -1;
  std::optional<uint32_t> expect_node_id;
  std::optional<uint64_t> expect_data_bytes;
  std::optional<uint64_t> expect_uuid;
  // Inspect only (dump-md, show-gi): no apply-al, nothing is written; the AL
  // core holds the recovered hot set. Close() is then a no-op.
  bool read_only = false;
  // Start an AL transaction only when this many cold extents are wanted, or
  // when Kick(/*force=*/true) is called (the runtime does that when no data
  // I/O is in flight). 1 = as soon as one write waits.
  uint32_t al_batch_min = 1;
  // DRBD's md-flushes: false for a device with a battery-backed (non-volatile)
  // write cache. Then no flush before an AL transaction that evicts extents
  // or after bitmap write-out, and AL and superblock writes without FUA: the
  // cache makes every completed write durable. On a volatile cache this loses
  // metadata in a power cut; the default (true) is right for everything else.
  bool md_flushes = true;
};

// What Open found and what it did about it.
struct RecoveryReport {
  int superblock_slot = -1;
  uint64_t superblock_sequence = 0;
  std::vector<std::string> superblock_dropped;
  bool was_clean = false;                   // al-clean at open
  uint64_t al_transactions_replayed = 0;
  std::vector<uint32_t> al_extents_recovered;
  bool al_complete = true;
  std::vector<std::string> al_dropped;
  uint64_t bitmap_pages_bad = 0;            // set to all ones
  std::vector<std::string> bitmap_dropped;
  uint64_t bits_set_by_al = 0;              // newly set by apply-al
  bool full_sync_forced = false;            // AL untrusted: all bits set
  std::string ToString() const;
};

class MetaStore {
 public:
  struct Stats {
    uint64_t al_writes = 0;       // AL transaction blocks written
    uint64_t bitmap_writes = 0;   // bitmap pages written
    uint64_t flushes = 0;
    uint64_t superblock_writes = 0;
  };
  enum class WriteAdmit { kReady, kWait };

  // create-md. Returns the superblock written. kAlreadyExists if valid (or
  // other-version) metadata is present and !force; layout errors from
  // ComputeLayout (kOutOfRange "device too small", kInvalidArgument).
  static absl::StatusOr<Superblock> Create(io::BlockDevice* dev,
                                           const MetaCreateOptions& options);
  // wipe-md: destroys both superblock slots and the AL ring. kNotFound if
  // there is no metadata (unless force).
  static absl::Status Wipe(io::BlockDevice* dev, MdKind kind, int32_t external_index,
                           bool force);
  // Attach. Errors: kNotFound (no metadata), kFailedPrecondition (other format
  // version, another node's metadata, wrong device: size or uuid mismatch,
  // internal/external mismatch), kDataLoss (both superblock copies bad),
  // I/O errors.
  static absl::StatusOr<std::unique_ptr<MetaStore>> Open(io::BlockDevice* dev,
                                                         const MetaOpenOptions& options,
                                                         RecoveryReport* report);
  ~MetaStore();
  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  const Superblock& superblock() const { return sb_; }
  // Applies fn to a copy and writes it to the next slot (FUA); sb_ changes
  // only on success. Identity/layout fields must not be changed.
  absl::Status UpdateSuperblock(const std::function<void(Superblock&)>& fn);

  Bitmap& bitmap() { return bitmap_; }
  const Bitmap& bitmap() const { return bitmap_; }
  // Writes every dirty bitmap page, then flushes.
  absl::Status FlushBitmap();

  // The AL for a data write of [offset, offset + length) (bytes inside the
  // data area). kReady: issue now. kWait: issue when on_ready(OK) runs (from a
  // later device Poll); on_ready(error) means the metadata device failed and
  // the write must not be issued. on_ready is not called for kReady.
  absl::StatusOr<WriteAdmit> BeginWrite(uint64_t offset, uint64_t length,
                                        std::function<void(absl::Status)> on_ready);
  // The data write completed (and its bitmap bits, if any, are set).
  void EndWrite(uint64_t offset, uint64_t length);
  // Starts an AL transaction if one is allowed (see al_batch_min).
  void Kick(bool force);
  bool al_busy() const { return al_.transaction_in_flight(); }
  size_t al_waiting() const { return al_.waiting(); }
  const ActivityLog& activity_log() const { return al_; }

  // Clean shutdown. REQUIRES: no AL references, waiting writes or transaction.
  absl::Status Close();

  const Stats& stats() const { return stats_; }
  io::BlockDevice* device() const { return dev_; }

  // Extent numbers of a byte range.
  static uint32_t ExtentOf(uint64_t offset) {
    return static_cast<uint32_t>(offset >> kAlExtentShift);
  }

 private:
  struct TxIo;
  MetaStore(io::BlockDevice* dev, const Superblock& sb, const MetaOpenOptions& options,
            Bitmap bitmap, const std::vector<uint32_t>& slots, uint64_t next_tr,
            uint32_t next_ctx);

  absl::Status WritePages(const std::vector<uint64_t>& pages);
  void StartTransaction();
  void TxStage(TxIo* tx);
  void FinishTransaction(absl::Status status);
  void ReleaseRetired();

  io::BlockDevice* dev_;
  Superblock sb_;
  MetaOpenOptions options_;
  Bitmap bitmap_;
  ActivityLog al_;
  bool closed_ = false;
  uint64_t next_write_id_ = 1;
  absl::flat_hash_map<uint64_t, std::function<void(absl::Status)>> waiters_;
  std::unique_ptr<TxIo> tx_;
  std::vector<std::unique_ptr<TxIo>> retired_;  // finished; freed off-stack
  int callback_depth_ = 0;
  Stats stats_;
};

}  // namespace hafs::meta

#endif  // HAFS_LIBHAFS_META_META_STORE_H_
