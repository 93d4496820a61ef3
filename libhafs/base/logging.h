// File: libhafs/base/logging.h
// -----------------------------------------------------------------------------
// hafs's one logging facility, and HAFS_CHECK for invariants that stay on in
// release builds.
//
// Choice (see docs/dependencies.md): Abseil 20220623 has no absl/log, and glog
// would bring gflags next to absl flags and a second global init. hafs logs
// through a tiny stream API whose output goes to a replaceable `LogSink`
// (stderr by default, one line per message, "I1125 13:14:15.123456 file.cc:42]
// message" like glog/absl so operators' tools parse it). Tests install a
// capturing sink; the daemon can route to a file. Thread-safe.
//
// Example:
//   HAFS_LOG(WARNING) << "peer " << peer << " refused: bad HMAC key id " << id;
//   HAFS_CHECK(extent < al_size) << "extent " << extent;
#ifndef HAFS_LIBHAFS_BASE_LOGGING_H_
#define HAFS_LIBHAFS_BASE_LOGGING_H_

#include <sstream>
#include <string>

#include "absl/strings/string_view.h"

namespace hafs {

enum class LogSeverity { kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

// Receives finished log lines. Implementations must be thread-safe.
class LogSink {
 public:
  virtual ~LogSink() = default;
  // `line` is the formatted message without a trailing newline.
  virtual void Send(LogSeverity severity, absl::string_view line) = 0;
};

// Replaces the process-wide sink; nullptr restores stderr. Returns the previous
// sink (not owned). The sink must outlive its installation.
LogSink* SetLogSink(LogSink* sink);

// Messages below `min` are dropped (default kInfo).
void SetMinLogSeverity(LogSeverity min);
LogSeverity MinLogSeverity();

namespace internal {

class LogMessage {
 public:
  LogMessage(const char* file, int line, LogSeverity severity);
  ~LogMessage();  // Sends the line; aborts after kFatal.
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  const char* file_;
  int line_;
  LogSeverity severity_;
  std::ostringstream stream_;
};

// Lets `HAFS_CHECK(c) << ...` compile to nothing when the check passes.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace internal
}  // namespace hafs

#define HAFS_LOG_SEVERITY_INFO ::hafs::LogSeverity::kInfo
#define HAFS_LOG_SEVERITY_WARNING ::hafs::LogSeverity::kWarning
#define HAFS_LOG_SEVERITY_ERROR ::hafs::LogSeverity::kError
#define HAFS_LOG_SEVERITY_FATAL ::hafs::LogSeverity::kFatal

#define HAFS_LOG(severity)                                     \
  ::hafs::internal::LogMessage(__FILE__, __LINE__,             \
                               HAFS_LOG_SEVERITY_##severity)   \
      .stream()

// Invariant check, always on (TigerBeetle style): logs and aborts on failure.
#define HAFS_CHECK(condition)                                          \
  (condition) ? (void)0                                                \
              : ::hafs::internal::Voidify() &                          \
                    ::hafs::internal::LogMessage(                      \
                        __FILE__, __LINE__, ::hafs::LogSeverity::kFatal) \
                            .stream()                                  \
                        << "Check failed: " #condition " "

#endif  // HAFS_LIBHAFS_BASE_LOGGING_H_
