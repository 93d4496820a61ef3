// File: libhafs/exports/match.h
// -----------------------------------------------------------------------------
// Which export entries apply to a client, with knfsd/mountd precedence: for
// each path, the first matching entry in the order single host > subnet >
// wildcard > netgroup > anonymous (gss/* names never match an address);
// within a kind, file order. This is the order of the export table
// (ExportTable::exports), which reproduces nfs-utils' export list.
//
// The matcher does no DNS: the client's reverse name (for wildcards and host
// names) and its netgroups are inputs.
//
// Thread-safety: Matcher is immutable after construction; Match() may be
// called concurrently.
//
// Example:
//   Matcher m(table);
//   MatchQuery q; q.addr = *ParseIp("10.0.0.7"); q.hostname = "n7.lab";
//   for (const PathMatch& pm : m.Match(q)) ...  // pm.winner, pm.shadowed
#ifndef HAFS_LIBHAFS_EXPORTS_MATCH_H_
#define HAFS_LIBHAFS_EXPORTS_MATCH_H_

#include <string>
#include <unordered_map>
#include <vector>

#include "libhafs/exports/table.h"

namespace hafs::exports {

struct MatchQuery {
  std::optional<IpAddr> addr;
  std::string hostname;                 // reverse name, may be empty
  std::vector<std::string> netgroups;   // names without '@'
};

struct PathMatch {
  std::string path;
  int winner = -1;             // index into table.exports
  std::vector<int> shadowed;   // other matching entries, in precedence order
};

// Shell-style wildcard match as nfs-utils' wildmat (* ? [set] [!set] [^set],
// '*' also matches dots), case-insensitive.
bool WildMatch(absl::string_view text, absl::string_view pattern);

class Matcher {
 public:
  explicit Matcher(const ExportTable& table);
  // Paths (in first-appearance order of the table) with at least one match.
  std::vector<PathMatch> Match(const MatchQuery& q) const;
  // The winning entry index for one path, or -1.
  int MatchPath(const std::string& path, const MatchQuery& q) const;
  bool ClientMatches(int client, const MatchQuery& q) const;

 private:
  const ExportTable& table_;
  std::vector<std::string> paths_;
  std::unordered_map<std::string, std::vector<int>> by_path_;  // precedence order
};

}  // namespace hafs::exports

#endif  // HAFS_LIBHAFS_EXPORTS_MATCH_H_
