// Helpers shared by the two floor programs under the mirror's figures
// (raw_mirror: bare TCP; grpc_rtt_floor: gRPC's sync API): O_DIRECT files,
// aligned 4 KiB-multiple buffers, CPU pinning, medians, fatal errors.
// testonly benchmark code (docs/benchmarks.md "Block mirror").
#ifndef HAFS_BENCHMARKS_MIRROR_FLOOR_UTIL_H_
#define HAFS_BENCHMARKS_MIRROR_FLOOR_UTIL_H_

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace hafs::mirror::floor {

inline constexpr size_t kBlock = 4096;

// Prints "<program>: <what>: <errno text>" and exits 1.
[[noreturn]] inline void Fail(const char* program, const std::string& what) {
  std::fprintf(stderr, "%s: %s: %s\n", program, what.c_str(), std::strerror(errno));
  std::_Exit(1);
}

inline int OpenDirect(const char* program, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0) Fail(program, "open " + path);
  return fd;
}

// `n` bytes, 4 KiB aligned (O_DIRECT), filled with 0x5a.
inline char* Aligned(const char* program, size_t n) {
  void* p = nullptr;
  if (posix_memalign(&p, kBlock, n) != 0) Fail(program, "posix_memalign");
  std::memset(p, 0x5a, n);
  return static_cast<char*>(p);
}

// This process (and the threads it starts afterwards) on `cpu` only.
inline void PinTo(const char* program, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) Fail(program, "sched_setaffinity");
}

inline double P50(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace hafs::mirror::floor

#endif  // HAFS_BENCHMARKS_MIRROR_FLOOR_UTIL_H_
