// File: libhafs/exports/testing.h
// -----------------------------------------------------------------------------
// Test fakes for the exports ports: an in-memory FileSystem. Test-only.
// Thread-safety: not thread-safe (tests mutate it before use).
// Example:
//   FakeFileSystem fs; fs.AddDir("/srv/a"); fs.AddFile("/etc/exports", "...");
#ifndef HAFS_LIBHAFS_EXPORTS_TESTING_H_
#define HAFS_LIBHAFS_EXPORTS_TESTING_H_

#include <cerrno>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "libhafs/exports/table.h"

namespace hafs::exports {

class FakeFileSystem : public FileSystem {
 public:
  void AddDir(const std::string& p) { nodes_[p] = Node{true, ""}; }
  void AddFile(const std::string& p, std::string contents = "") {
    nodes_[p] = Node{false, std::move(contents)};
  }
  std::optional<std::string> RealPath(const std::string& path) const override {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    if (nodes_.count(p)) return p;
    return std::nullopt;
  }
  StatResult Stat(const std::string& path) const override {
    auto it = nodes_.find(path);
    StatResult r;
    if (it == nodes_.end()) {
      r.err = ENOENT;
    } else {
      r.is_dir = it->second.dir;
    }
    return r;
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) const override {
    auto it = nodes_.find(path);
    if (it == nodes_.end() || it->second.dir) {
      return absl::NotFoundError(path + ": No such file or directory");
    }
    return it->second.contents;
  }
  absl::StatusOr<std::vector<DirEntry>> ListDir(
      const std::string& path) const override {
    if (!nodes_.count(path)) return absl::NotFoundError(path);
    std::vector<DirEntry> out;
    for (const auto& [p, n] : nodes_) {
      if (absl::StartsWith(p, path + "/") &&
          p.find('/', path.size() + 1) == std::string::npos) {
        out.push_back(DirEntry{p.substr(path.size() + 1),
                               n.dir ? DirEntry::Type::kOther
                                     : DirEntry::Type::kRegular});
      }
    }
    return out;  // std::map order; tests use names where it equals versionsort
  }

 private:
  struct Node {
    bool dir;
    std::string contents;
  };
  std::map<std::string, Node> nodes_;
};

}  // namespace hafs::exports

#endif  // HAFS_LIBHAFS_EXPORTS_TESTING_H_
