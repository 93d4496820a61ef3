#include "libhafs/frontend/fuse_export.h"

#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libhafs/base/logging.h"
#include "libhafs/io/block_device.h"
#include "libhafs/io/io_status.h"

extern char** environ;

namespace hafs::frontend {
namespace {

constexpr fuse_ino_t kRootIno = FUSE_ROOT_ID;
constexpr fuse_ino_t kFileIno = 2;
// The file never changes size and nothing else appears in the directory, so
// the kernel may cache attributes and names for long.
constexpr double kAttrTimeout = 60.0;

// A per-thread 4 KiB-aligned buffer for read replies.
absl::Span<char> ReplyBuffer(size_t size) {
  thread_local std::unique_ptr<io::AlignedBuffer> buffer;
  if (buffer == nullptr || buffer->size() < size) {
    buffer = std::make_unique<io::AlignedBuffer>(size);
  }
  return buffer->span().subspan(0, size);
}

timespec ToTimespec(int64_t ns) {
  timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  return ts;
}

// Runs `argv` (argv[0] looked up in PATH) and waits; returns its exit status
// or -1 when it could not be started.
int RunQuietly(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) {
    return -1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

int StatusToErrno(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return EINVAL;
    case absl::StatusCode::kResourceExhausted:
      return ENOSPC;
    case absl::StatusCode::kFailedPrecondition:
      return EROFS;
    case absl::StatusCode::kPermissionDenied:
      return EACCES;
    case absl::StatusCode::kUnimplemented:
      return EOPNOTSUPP;
    case absl::StatusCode::kDeadlineExceeded:
      return ETIMEDOUT;
    default:  // kDataLoss, kUnavailable, kInternal, ...
      return EIO;
  }
}

// The libfuse low-level callbacks. Each finds its FuseExport through the
// session's userdata.
class FuseExport::Ops {
 public:
  static fuse_lowlevel_ops Table() {
    fuse_lowlevel_ops ops;
    std::memset(&ops, 0, sizeof(ops));
    ops.init = &Init;
    ops.lookup = &Lookup;
    ops.getattr = &GetAttr;
    ops.setattr = &SetAttr;
    ops.open = &Open;
    ops.read = &Read;
    ops.write = &Write;
    ops.flush = &Flush;
    ops.release = &Release;
    ops.fsync = &Fsync;
    ops.fallocate = &Fallocate;
    ops.opendir = &OpenDir;
    ops.readdir = &ReadDir;
    ops.releasedir = &ReleaseDir;
    ops.statfs = &StatFs;
    return ops;
  }

 private:
  static FuseExport* Self(fuse_req_t req) {
    return static_cast<FuseExport*>(fuse_req_userdata(req));
  }

  static struct stat DirAttr(const FuseExport* self) {
    struct stat st;
    std::memset(&st, 0, sizeof(st));
    st.st_ino = kRootIno;
    st.st_mode = S_IFDIR | 0755;
    st.st_nlink = 2;
    st.st_uid = geteuid();
    st.st_gid = getegid();
    st.st_size = 4096;
    st.st_blksize = io::kBlockSize;
    st.st_atim = st.st_mtim = st.st_ctim = ToTimespec(self->start_time_ns_);
    return st;
  }

  static struct stat FileAttr(const FuseExport* self) {
    struct stat st;
    std::memset(&st, 0, sizeof(st));
    st.st_ino = kFileIno;
    st.st_mode = S_IFREG | (self->options_.file_mode & 07777);
    st.st_nlink = 1;
    st.st_uid = geteuid();
    st.st_gid = getegid();
    st.st_size = static_cast<off_t>(self->volume_->size_bytes());
    st.st_blksize = io::kBlockSize;
    st.st_blocks = static_cast<blkcnt_t>(self->volume_->size_bytes() / 512);
    st.st_atim = st.st_ctim = ToTimespec(self->start_time_ns_);
    st.st_mtim = ToTimespec(self->mtime_ns_.load());
    return st;
  }

  // Answers with the errno for `status` (0 for OK) and logs failures.
  static void ReplyStatus(fuse_req_t req, FuseExport* self, const char* op,
                          const absl::Status& status) {
    if (!status.ok()) Fail(self, op, status);
    fuse_reply_err(req, StatusToErrno(status));
  }

  static void Fail(FuseExport* self, const char* op,
                   const absl::Status& status) {
    uint64_t n;
    {
      absl::MutexLock l(&self->stats_mu_);
      n = ++self->stats_.errors;
    }
    // Rate-limited: the first 10, then every power of two.
    if (n <= 10 || (n & (n - 1)) == 0) {
      HAFS_LOG(WARNING) << "fuse " << op << " on " << self->file_path_
                        << " failed (error #" << n << "): " << status;
    }
  }

  static void Init(void* userdata, fuse_conn_info* conn) {
    auto* self = static_cast<FuseExport*>(userdata);
    // No write-back cache: a write must reach the VolumeIo before it is
    // acknowledged, or fsync/FUA semantics would be the kernel's, not ours.
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    // Let the kernel issue the loop driver's async direct I/O as parallel
    // requests.
    if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
    conn->max_write = self->options_.max_io_bytes;
    conn->max_readahead = 0;
  }

  static void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    FuseExport* self = Self(req);
    if (parent != kRootIno) {
      fuse_reply_err(req, ENOTDIR);
      return;
    }
    if (self->options_.file_name != name) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    fuse_entry_param e;
    std::memset(&e, 0, sizeof(e));
    e.ino = kFileIno;
    e.generation = 1;
    e.attr = FileAttr(self);
    e.attr_timeout = kAttrTimeout;
    e.entry_timeout = kAttrTimeout;
    fuse_reply_entry(req, &e);
  }

  static void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    FuseExport* self = Self(req);
    if (ino == kRootIno) {
      struct stat st = DirAttr(self);
      fuse_reply_attr(req, &st, kAttrTimeout);
    } else if (ino == kFileIno) {
      struct stat st = FileAttr(self);
      fuse_reply_attr(req, &st, kAttrTimeout);
    } else {
      fuse_reply_err(req, ENOENT);
    }
  }

  static void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr,
                      int to_set, fuse_file_info*) {
    FuseExport* self = Self(req);
    if (ino != kFileIno && ino != kRootIno) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
      fuse_reply_err(req, EPERM);
      return;
    }
    if (to_set & FUSE_SET_ATTR_SIZE) {
      // The volume's size is fixed: only a no-op "truncate" is allowed.
      if (ino != kFileIno ||
          static_cast<uint64_t>(attr->st_size) != self->volume_->size_bytes()) {
        fuse_reply_err(req, EPERM);
        return;
      }
    }
    if (ino == kFileIno) {
      if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
        self->mtime_ns_.store(absl::GetCurrentTimeNanos());
      } else if (to_set & FUSE_SET_ATTR_MTIME) {
        self->mtime_ns_.store(
            static_cast<int64_t>(attr->st_mtim.tv_sec) * 1000000000 +
            attr->st_mtim.tv_nsec);
      }
    }
    struct stat st = ino == kFileIno ? FileAttr(self) : DirAttr(self);
    fuse_reply_attr(req, &st, kAttrTimeout);
  }

  static void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    FuseExport* self = Self(req);
    if (ino == kRootIno) {
      fuse_reply_err(req, EISDIR);
      return;
    }
    if (ino != kFileIno) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    if (self->options_.read_only && (fi->flags & O_ACCMODE) != O_RDONLY) {
      fuse_reply_err(req, EROFS);
      return;
    }
    if (fi->flags & O_TRUNC) {
      fuse_reply_err(req, EPERM);
      return;
    }
    fi->direct_io = self->options_.direct_io ? 1 : 0;
    fi->keep_cache = 0;
    fi->fh = static_cast<uint64_t>(fi->flags);
    self->open_handles_.fetch_add(1);
    if (fuse_reply_open(req, fi) != 0) {
      // The open was interrupted; the kernel will not send a release.
      self->open_handles_.fetch_sub(1);
    }
  }

  static void Release(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
    FuseExport* self = Self(req);
    self->open_handles_.fetch_sub(1);
    fuse_reply_err(req, 0);
  }

  static void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   fuse_file_info*) {
    FuseExport* self = Self(req);
    if (ino != kFileIno) {
      fuse_reply_err(req, EISDIR);
      return;
    }
    const uint64_t volume_size = self->volume_->size_bytes();
    if (off < 0) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    if (static_cast<uint64_t>(off) >= volume_size || size == 0) {
      fuse_reply_buf(req, nullptr, 0);  // end of file
      return;
    }
    const size_t n =
        std::min<uint64_t>(size, volume_size - static_cast<uint64_t>(off));
    absl::Span<char> buf = ReplyBuffer(n);
    absl::Status s = self->bytes_.Read(static_cast<uint64_t>(off), buf);
    if (!s.ok()) {
      ReplyStatus(req, self, "read", s);
      return;
    }
    self->Count(&Stats::reads);
    self->Count(&Stats::bytes_read, n);
    fuse_reply_buf(req, buf.data(), n);
  }

  static void Write(fuse_req_t req, fuse_ino_t ino, const char* buf,
                    size_t size, off_t off, fuse_file_info* fi) {
    FuseExport* self = Self(req);
    if (ino != kFileIno) {
      fuse_reply_err(req, EISDIR);
      return;
    }
    if (self->options_.read_only) {
      fuse_reply_err(req, EROFS);
      return;
    }
    const uint64_t volume_size = self->volume_->size_bytes();
    if (off < 0) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    if (size == 0) {
      fuse_reply_write(req, 0);
      return;
    }
    if (static_cast<uint64_t>(off) >= volume_size) {
      fuse_reply_err(req, ENOSPC);  // the file cannot grow
      return;
    }
    const size_t n =
        std::min<uint64_t>(size, volume_size - static_cast<uint64_t>(off));
    // fi->flags are the file's open flags plus O_DSYNC/O_SYNC for RWF_DSYNC
    // and RWF_SYNC writes.
    const bool fua = (fi->flags & O_DSYNC) != 0;
    absl::Status s = self->bytes_.Write(static_cast<uint64_t>(off),
                                        absl::MakeConstSpan(buf, n), fua);
    if (!s.ok()) {
      ReplyStatus(req, self, "write", s);
      return;
    }
    self->Count(&Stats::writes);
    if (fua) self->Count(&Stats::fua_writes);
    self->Count(&Stats::bytes_written, n);
    self->mtime_ns_.store(absl::GetCurrentTimeNanos());
    fuse_reply_write(req, n);
  }

  static void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    FuseExport* self = Self(req);
    const bool writable = (static_cast<int>(fi->fh) & O_ACCMODE) != O_RDONLY;
    if (ino != kFileIno || !writable || !self->options_.flush_on_close ||
        self->options_.read_only) {
      fuse_reply_err(req, 0);
      return;
    }
    self->Count(&Stats::close_flushes);
    ReplyStatus(req, self, "flush (close)", self->volume_->Flush());
  }

  static void Fsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
    FuseExport* self = Self(req);
    if (ino != kFileIno) {
      fuse_reply_err(req, 0);
      return;
    }
    self->Count(&Stats::fsyncs);
    ReplyStatus(req, self, "fsync", self->volume_->Flush());
  }

  static void Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
                        off_t length, fuse_file_info*) {
    FuseExport* self = Self(req);
    if (ino != kFileIno) {
      fuse_reply_err(req, EISDIR);
      return;
    }
    if (self->options_.read_only) {
      fuse_reply_err(req, EROFS);
      return;
    }
    if (offset < 0 || length <= 0) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    const uint64_t volume_size = self->volume_->size_bytes();
    const uint64_t begin = static_cast<uint64_t>(offset);
    const uint64_t end = begin + static_cast<uint64_t>(length);
    const bool keep_size = (mode & FALLOC_FL_KEEP_SIZE) != 0;
    const int zeroing = mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE);
    if ((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
                  FALLOC_FL_ZERO_RANGE)) != 0 ||
        zeroing == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
      fuse_reply_err(req, EOPNOTSUPP);  // collapse/insert range, unshare, ...
      return;
    }
    if (!keep_size && end > volume_size) {
      fuse_reply_err(req, ENOSPC);  // would have to grow the file
      return;
    }
    if (zeroing == 0) {
      fuse_reply_err(req, 0);  // allocation: the volume is preallocated
      return;
    }
    if (!self->options_.enable_discard) {
      fuse_reply_err(req, EOPNOTSUPP);
      return;
    }
    if (begin >= volume_size) {
      fuse_reply_err(req, 0);
      return;
    }
    const uint64_t clipped_end = std::min(end, volume_size);
    self->Count(&Stats::zeroes);
    ReplyStatus(req, self, "fallocate (zero)",
                self->bytes_.Zero(begin, clipped_end - begin));
  }

  static void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (ino != kRootIno) {
      fuse_reply_err(req, ENOTDIR);
      return;
    }
    fuse_reply_open(req, fi);
  }

  static void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                      fuse_file_info*) {
    FuseExport* self = Self(req);
    if (ino != kRootIno) {
      fuse_reply_err(req, ENOTDIR);
      return;
    }
    struct Ent {
      const char* name;
      fuse_ino_t ino;
      mode_t mode;
    };
    const Ent ents[] = {{".", kRootIno, S_IFDIR},
                        {"..", kRootIno, S_IFDIR},
                        {self->options_.file_name.c_str(), kFileIno, S_IFREG}};
    std::string buf(size, '\0');
    size_t used = 0;
    for (off_t i = off; i < 3; ++i) {
      struct stat st;
      std::memset(&st, 0, sizeof(st));
      st.st_ino = ents[i].ino;
      st.st_mode = ents[i].mode;
      const size_t need = fuse_add_direntry(req, buf.data() + used, size - used,
                                            ents[i].name, &st, i + 1);
      if (need > size - used) break;
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
  }

  static void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
    fuse_reply_err(req, 0);
  }

  static void StatFs(fuse_req_t req, fuse_ino_t) {
    FuseExport* self = Self(req);
    struct statvfs st;
    std::memset(&st, 0, sizeof(st));
    st.f_bsize = io::kBlockSize;
    st.f_frsize = io::kBlockSize;
    st.f_blocks = self->volume_->size_bytes() / io::kBlockSize;
    st.f_files = 2;
    st.f_namemax = 255;
    fuse_reply_statfs(req, &st);
  }
};

FuseExport::FuseExport(VolumeIo* volume, FuseExportOptions options)
    : volume_(volume),
      options_(std::move(options)),
      file_path_(absl::StrCat(options_.mountpoint,
                              absl::EndsWith(options_.mountpoint, "/") ? "" : "/",
                              options_.file_name)),
      bytes_(volume),
      start_time_ns_(absl::GetCurrentTimeNanos()),
      mtime_ns_(start_time_ns_) {}

absl::StatusOr<std::unique_ptr<FuseExport>> FuseExport::Start(
    VolumeIo* volume, FuseExportOptions options) {
  if (options.mountpoint.empty()) {
    return absl::InvalidArgumentError(
        "fuse export: no mountpoint (hint: set FuseExportOptions.mountpoint "
        "to an existing empty directory)");
  }
  const std::string& name = options.file_name;
  if (name.empty() || name == "." || name == ".." ||
      name.find('/') != std::string::npos || name.size() > 255) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fuse export: bad file name '", name,
        "' (hint: one path component, not '.' or '..', at most 255 bytes)"));
  }
  if (options.max_io_bytes < io::kBlockSize || options.max_io_bytes > (1u << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("fuse export: max_io_bytes ", options.max_io_bytes,
                     " is outside [4096, 1048576]"));
  }
  if (volume->size_bytes() == 0) {
    return absl::InvalidArgumentError("fuse export: the volume has size 0");
  }
  struct stat st;
  if (stat(options.mountpoint.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(
          "fuse export: mountpoint ", options.mountpoint,
          " does not exist (hint: mkdir -p ", options.mountpoint, ")"));
    }
    if (err == ENOTCONN) {
      return absl::FailedPreconditionError(absl::StrCat(
          "fuse export: mountpoint ", options.mountpoint,
          " is a dead FUSE mount (its server died; hint: umount -l ",
          options.mountpoint, ")"));
    }
    return io::IoErrnoStatus(
        err, absl::StrCat("fuse export: stat of mountpoint ", options.mountpoint));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "fuse export: mountpoint ", options.mountpoint, " is not a directory"));
  }
  // The root of a dead FUSE mount (its server died) still stats fine from
  // cached attributes, but statfs has to ask the server.
  struct statvfs vfs;
  if (statvfs(options.mountpoint.c_str(), &vfs) != 0 && errno == ENOTCONN) {
    return absl::FailedPreconditionError(absl::StrCat(
        "fuse export: mountpoint ", options.mountpoint,
        " is a dead FUSE mount (its server died; hint: umount -l ",
        options.mountpoint, ")"));
  }
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "fuse export: /dev/fuse is not usable (", std::strerror(errno),
        "; hint: modprobe fuse, and in containers pass --device /dev/fuse)"));
  }
  std::unique_ptr<FuseExport> self(new FuseExport(volume, std::move(options)));
  if (absl::Status s = self->Mount(); !s.ok()) return s;
  return self;
}

absl::Status FuseExport::Mount() {
  std::string opts = absl::StrCat("fsname=", options_.fsname,
                                  ",subtype=hafs,default_permissions");
  if (options_.allow_other) absl::StrAppend(&opts, ",allow_other");
  if (options_.read_only) absl::StrAppend(&opts, ",ro");
  std::vector<std::string> argv_store = {"hafs-fuse", "-o", opts};
  std::vector<char*> argv;
  for (std::string& a : argv_store) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_lowlevel_ops ops = Ops::Table();
  session_ = fuse_session_new(&args, &ops, sizeof(ops), this);
  fuse_opt_free_args(&args);
  if (session_ == nullptr) {
    return absl::InternalError(absl::StrCat(
        "fuse export: fuse_session_new refused options '", opts,
        "' (libfuse printed why on stderr)"));
  }
  if (fuse_session_mount(session_, options_.mountpoint.c_str()) != 0) {
    fuse_session_destroy(session_);
    session_ = nullptr;
    return absl::InternalError(absl::StrCat(
        "fuse export: mounting FUSE at ", options_.mountpoint,
        " failed (libfuse printed why on stderr; hint: needs root or a "
        "setuid fusermount3, and an existing directory)"));
  }
  loop_thread_ = std::thread([this] {
    fuse_loop_config config;
    std::memset(&config, 0, sizeof(config));
    config.clone_fd = 0;
    config.max_idle_threads = static_cast<unsigned>(options_.max_idle_threads);
    loop_result_ = fuse_session_loop_mt(session_, &config);
    loop_done_.Notify();
  });
  // Wait until the kernel and libfuse have finished INIT and the file is
  // reachable: stat() blocks until then.
  struct stat st;
  if (stat(file_path_.c_str(), &st) != 0) {
    const int err = errno;
    absl::Status stop = Stop(/*force=*/true);
    return io::IoErrnoStatus(
        err, absl::StrCat("fuse export: the new mount does not show ",
                          file_path_, " (cleanup: ", stop.ToString(), ")"));
  }
  if (static_cast<uint64_t>(st.st_size) != volume_->size_bytes()) {
    absl::Status stop = Stop(/*force=*/true);
    return absl::InternalError(absl::StrCat(
        "fuse export: ", file_path_, " has size ", st.st_size,
        " instead of the volume size ", volume_->size_bytes(),
        " (is another filesystem mounted over it?)"));
  }
  if (stat(options_.mountpoint.c_str(), &st) == 0) {
    connection_id_ = (static_cast<uint64_t>(major(st.st_dev)) << 20) |
                     minor(st.st_dev);
  }
  HAFS_LOG(INFO) << "fuse export: serving " << volume_->size_bytes()
                 << " bytes at " << file_path_
                 << (options_.direct_io ? " (direct_io)" : " (page cache)");
  return absl::OkStatus();
}

absl::Status FuseExport::Stop(bool force) {
  absl::MutexLock l(&stop_mu_);
  if (stopped_ || session_ == nullptr) return absl::OkStatus();

  // The loop driver releases its file asynchronously after LOOP_CLR_FD;
  // give open handles a moment to go away.
  const absl::Time deadline = absl::Now() + options_.stop_timeout;
  while (open_handles_.load() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const int open = open_handles_.load();
  if (open > 0 && !force) {
    return absl::FailedPreconditionError(absl::StrCat(
        "fuse export: ", file_path_, " is still open (", open,
        " handles) after ", absl::FormatDuration(options_.stop_timeout),
        " (hint: detach the loop device first (losetup -j ", file_path_,
        "; losetup -d /dev/loopN) and close other users (fuser -vm ",
        options_.mountpoint, "); or Stop(force=true) to abort their I/O)"));
  }

  fuse_session_exit(session_);
  // Unmount. MNT_DETACH so that a busy mount cannot block us; MNT_FORCE aborts
  // the FUSE connection so that open files (a loop device) get errors instead
  // of hanging forever. When the superblock goes away the kernel aborts the
  // connection, the workers' reads fail with ENODEV and the loop returns.
  int flags = MNT_DETACH | UMOUNT_NOFOLLOW;
  if (open > 0) flags |= MNT_FORCE;
  if (umount2(options_.mountpoint.c_str(), flags) != 0) {
    const int err = errno;
    if (err == EPERM) {
      // Unprivileged: fusermount3 can only detach lazily.
      const int rc = RunQuietly(
          {"fusermount3", "-u", "-q", "-z", "--", options_.mountpoint});
      if (rc != 0) {
        HAFS_LOG(ERROR) << "fuse export: fusermount3 -u -z "
                        << options_.mountpoint << " failed (exit " << rc << ")";
      }
    } else if (err != EINVAL && err != ENOENT) {
      HAFS_LOG(ERROR) << "fuse export: umount of " << options_.mountpoint
                      << " failed: " << std::strerror(err);
    }
    // EINVAL: not mounted any more (someone ran umount); the loop has ended
    // or is ending.
  }
  if (!loop_done_.WaitForNotificationWithTimeout(options_.stop_timeout)) {
    // Something still references the detached filesystem (a process's cwd,
    // an open file on a non-root lazy unmount). Abort the connection through
    // fusectl if it is mounted.
    const std::string abort_path =
        absl::StrCat("/sys/fs/fuse/connections/", connection_id_, "/abort");
    if (connection_id_ != 0) {
      std::ofstream f(abort_path);
      if (f) f << "1";
    }
    if (!loop_done_.WaitForNotificationWithTimeout(options_.stop_timeout)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "fuse export: ", options_.mountpoint,
          " was detached but its FUSE connection is still in use after ",
          absl::FormatDuration(2 * options_.stop_timeout),
          " (hint: echo 1 > ", abort_path,
          " aborts it; mount -t fusectl none /sys/fs/fuse/connections if "
          "missing)"));
    }
  }
  loop_thread_.join();
  // Closes /dev/fuse; no second unmount because the connection is gone.
  fuse_session_unmount(session_);
  fuse_session_destroy(session_);
  session_ = nullptr;
  stopped_ = true;
  if (loop_result_ != 0 && loop_result_ != -ENODEV) {
    HAFS_LOG(WARNING) << "fuse export: session loop for " << options_.mountpoint
                      << " ended with " << loop_result_;
  }
  HAFS_LOG(INFO) << "fuse export: unmounted " << options_.mountpoint;
  return absl::OkStatus();
}

FuseExport::~FuseExport() {
  absl::Status s = Stop(/*force=*/true);
  if (!s.ok()) {
    // The workers still use this object; waiting is the only safe choice.
    HAFS_LOG(ERROR) << "fuse export: " << s
                    << "; waiting for the FUSE connection to end";
    loop_done_.WaitForNotification();
    loop_thread_.join();
    fuse_session_unmount(session_);
    fuse_session_destroy(session_);
  }
}

void FuseExport::Count(uint64_t Stats::*field, uint64_t n) {
  absl::MutexLock l(&stats_mu_);
  stats_.*field += n;
}

FuseExport::Stats FuseExport::stats() const {
  absl::MutexLock l(&stats_mu_);
  return stats_;
}

}  // namespace hafs::frontend
