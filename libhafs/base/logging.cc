#include "libhafs/base/logging.h"

#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace hafs {
namespace {

class StderrSink : public LogSink {
 public:
  void Send(LogSeverity, absl::string_view line) override {
    absl::MutexLock l(&mu_);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  absl::Mutex mu_;
};

StderrSink& DefaultSink() {
  static StderrSink* sink = new StderrSink();
  return *sink;
}

std::atomic<LogSink*> g_sink{nullptr};
std::atomic<int> g_min_severity{0};

const char* Basename(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash == nullptr ? path : slash + 1;
}

}  // namespace

LogSink* SetLogSink(LogSink* sink) { return g_sink.exchange(sink); }

void SetMinLogSeverity(LogSeverity min) {
  g_min_severity.store(static_cast<int>(min));
}

LogSeverity MinLogSeverity() {
  return static_cast<LogSeverity>(g_min_severity.load());
}

namespace internal {

LogMessage::LogMessage(const char* file, int line, LogSeverity severity)
    : file_(file), line_(line), severity_(severity) {}

LogMessage::~LogMessage() {
  if (static_cast<int>(severity_) >= g_min_severity.load() ||
      severity_ == LogSeverity::kFatal) {
    // Log lines carry wall-clock time: this is the one place outside the
    // Clock port that reads it, for operators only; nothing decides on it.
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    static constexpr char kLetters[] = "IWEF";
    std::string out = absl::StrFormat(
        "%c%02d%02d %02d:%02d:%02d.%06d %d %s:%d] %s",
        kLetters[static_cast<int>(severity_)], tm.tm_mon + 1, tm.tm_mday,
        tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(tv.tv_usec),
        static_cast<int>(getpid()), Basename(file_), line_, stream_.str());
    LogSink* sink = g_sink.load();
    (sink != nullptr ? *sink : DefaultSink()).Send(severity_, out);
    if (severity_ == LogSeverity::kFatal && sink != nullptr) {
      DefaultSink().Send(severity_, out);
    }
  }
  if (severity_ == LogSeverity::kFatal) std::abort();
}

}  // namespace internal
}  // namespace hafs
